"""Shape rules over several inputs (issue 13, step 2): merge layers against real Keras.

The language cannot write a merge yet, so each case is a hand-built graph: one input per
shape, the merge layer reading them all. Keras's functional API, given the same inputs, is
the oracle for the output shape and the parameter count; where Keras refuses the inputs,
kdsl gives a diagnostic with a hint, at the merge's place.
"""

from __future__ import annotations

import pytest

from kdsl import ir
from kdsl.ir import Dims
from kdsl.semantics.shapes import infer
from kdsl.source import Span
from kdsl.train.runner import import_keras

SPAN = Span(3, 7, 3, 10)


def _graph(class_name: str, kwargs: dict[str, ir.PyValue], shapes: list[Dims]) -> ir.Model:
    """Inputs `x0`, `x1`, ... of `shapes`, read together by one `class_name` node."""
    inputs = tuple(ir.Input(f"x{i}", shape) for i, shape in enumerate(shapes))
    call = ir.KerasCall(
        "layers", class_name, (), tuple(kwargs.items()), span=SPAN, written=class_name.lower()
    )
    node = ir.Node("merge", call, tuple(source.id for source in inputs))
    adam, mse = ir.CompileArg(shorthand="adam"), ir.CompileArg(shorthand="mse")
    return ir.Model(inputs, (node,), ("merge",), adam, mse, (), (), "mean_squared_error")


AGREED = [
    ("Add", {}, [(4,), (4,)]),
    ("Add", {}, [(4,), (1,)]),
    ("Add", {}, [(None, 4), (5, 4)]),
    ("Add", {}, [(3, 4), (1, 4), (3, 1)]),
    ("Add", {}, [(4,), (3, 4)]),
    ("Add", {}, [(4,)]),
    ("Concatenate", {}, [(3, 4)]),
    ("Add", {}, [(8, 8, 16), (8, 8, 16), (8, 8, 16)]),
    ("Subtract", {}, [(6, 2), (6, 2)]),
    ("Multiply", {}, [(5, 1), (1, 7)]),
    ("Average", {}, [(4, 3), (4, 3), (4, 3)]),
    ("Maximum", {}, [(None, 3), (None, 3)]),
    ("Minimum", {}, [(2, 3, 4), (3, 4)]),
    ("Concatenate", {}, [(None, 4), (5, 3)]),
    ("Concatenate", {}, [(8, 8, 16), (8, 8, 32), (8, 8, 1)]),
    ("Concatenate", {"axis": 1}, [(2, 4), (3, 4)]),
    ("Concatenate", {"axis": -2}, [(None, 4), (3, 4)]),
    ("Concatenate", {"axis": 2}, [(5, 2, 3), (5, 4, 3)]),
    ("Dot", {"axes": -1}, [(4,), (4,)]),
    ("Dot", {"axes": 1}, [(3, 4), (3, 5)]),
    ("Dot", {"axes": 2}, [(3, 4), (5, 4)]),
    ("Dot", {"axes": (1, 2)}, [(3, 4), (5, 3)]),
    ("Dot", {"axes": -1, "normalize": True}, [(7, 4), (None, 4)]),
]

REFUSED = [
    ("Add", {}, [(4,), (3,)], "needs inputs of the same shape", "projection"),
    ("Multiply", {}, [(8, 8, 16), (8, 8, 32)], "same shape", "conv2d N 1"),
    ("Subtract", {}, [(4,), (4,), (4,)], "takes exactly 2 inputs, but gets 3", "two tensors"),
    ("Concatenate", {"axis": 1}, [(2, 4), (3, 5)], "other sizes equal", "concatenate along"),
    ("Concatenate", {}, [(2, 1), (3, 4)], "other sizes equal", "concatenate along"),
    ("Concatenate", {}, [(2, 4), (4,)], "same number of dimensions", "concatenate along"),
    ("Dot", {"axes": 1}, [(3,), (4,)], "which differ (3 and 4)", "choose `axes`"),
    ("Dot", {"axes": 2}, [(3, 4), (3, 5)], "which differ (4 and 5)", "choose `axes`"),
    ("Dot", {"axes": (1, 2, 3)}, [(3, 4), (3, 5)], "one axis or two", "axes=-1"),
    ("Dot", {"axes": -1}, [(3,), (3,), (3,)], "takes exactly 2 inputs", "two tensors"),
]


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _ids(case: tuple) -> str:
    class_name, kwargs, shapes = case[:3]
    return f"{class_name}{kwargs or ''}{shapes}"


@pytest.mark.parametrize("case", AGREED, ids=_ids)
def test_output_shape_and_parameters_equal_keras(keras, case) -> None:
    class_name, kwargs, shapes = case
    layer = getattr(keras.layers, class_name)(**kwargs)
    output = layer([keras.Input(shape) for shape in shapes])
    summary = infer(_graph(class_name, kwargs, shapes))
    assert [d.message for d in summary.diagnostics] == []
    row = summary.row("merge")
    assert row is not None
    assert row.output_shape == tuple(output.shape)
    assert (row.trainable, row.non_trainable) == (0, 0) == (layer.count_params(), 0)


@pytest.mark.parametrize("case", REFUSED, ids=_ids)
def test_what_keras_refuses_is_a_diagnostic_with_a_hint(keras, case) -> None:
    class_name, kwargs, shapes, message, hint = case
    with pytest.raises(ValueError):
        getattr(keras.layers, class_name)(**kwargs)([keras.Input(shape) for shape in shapes])
    summary = infer(_graph(class_name, kwargs, shapes))
    (diagnostic,) = summary.diagnostics
    assert diagnostic.severity == "error"
    assert f"`{class_name.lower()}`" in diagnostic.message and message in diagnostic.message
    assert diagnostic.hint and hint in diagnostic.hint
    assert diagnostic.span == SPAN
    assert summary.row("merge").output_shape is None


def test_dot_needs_axes_and_the_batch_axis_is_refused() -> None:
    """`axes` is required, as Keras's `Dot(axes)` requires it. Keras builds
    `Concatenate(axis=0)`, which would stack two batches into one; kdsl refuses the
    batch axis for a merge."""
    summary = infer(_graph("Dot", {}, [(3,), (3,)]))
    assert [d.message for d in summary.diagnostics] == [
        "`axes` of `dot` must be one axis or two (one per input), not `none`"
    ]
    summary = infer(_graph("Concatenate", {"axis": 0}, [(2,), (2,)]))
    (diagnostic,) = summary.diagnostics
    assert "`axis` of `concatenate` must be an axis between 1 and 1" in diagnostic.message
    assert diagnostic.hint == "e.g. `axis=-1`, the last axis"
