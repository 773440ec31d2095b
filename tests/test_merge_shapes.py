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

# Attention layers read (query, value, key), value and key optional as in Keras.
ATTENTION = [
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(5, 8)]),
    ("MultiHeadAttention", {"num_heads": 3, "key_dim": 4}, [(None, 8), (7, 10)]),
    (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 4, "value_dim": 3, "output_shape": 6},
        [(5, 8), (7, 10), (7, 9)],
    ),
    (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 4, "use_bias": False, "output_shape": (2, 3)},
        [(5, 8), (7, 10)],
    ),
    ("MultiHeadAttention", {"num_heads": 4, "key_dim": 16}, [(3, 5, 32)]),
    ("Attention", {}, [(5, 8), (7, 8)]),
    ("Attention", {}, [(5, 8), (7, 6), (7, 8)]),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, [(5, 8), (None, 8)]),
    ("AdditiveAttention", {}, [(5, 8), (7, 8)]),
    ("AdditiveAttention", {"use_scale": False}, [(5, 8), (7, 3), (7, 8)]),
    (
        "GroupQueryAttention",
        {"head_dim": 8, "num_query_heads": 4, "num_key_value_heads": 2},
        [(5, 16)],
    ),
    (
        "GroupQueryAttention",
        {"head_dim": 4, "num_query_heads": 6, "num_key_value_heads": 3, "use_bias": False},
        [(5, 10), (7, 10), (7, 12)],
    ),
    (
        "GroupQueryAttention",
        {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 4, "use_gate": True},
        [(5, 12), (None, 12)],
    ),
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
    (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 4},
        [(5, 8), (7, 10), (6, 9)],
        "value and the key of the same length",
        "same sequence",
    ),
    ("Attention", {}, [(5, 8)], "takes 2 or 3 inputs (query, value, key), but gets 1", "query"),
]


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _ids(case: tuple) -> str:
    class_name, kwargs, shapes = case[:3]
    return f"{class_name}{kwargs or ''}{shapes}"


def _apply(layer, inputs: list):
    """The layer applied as Keras takes it: a list, or (query, value, key) for MHA."""
    if type(layer).__name__ in ("MultiHeadAttention", "GroupedQueryAttention"):
        return layer(inputs[0], *(inputs[1:] or inputs[:1]))
    return layer(inputs)


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


@pytest.mark.parametrize("case", ATTENTION, ids=_ids)
def test_attention_output_shape_and_parameters_equal_keras(keras, case) -> None:
    class_name, kwargs, shapes = case
    layer = getattr(keras.layers, class_name)(**kwargs)
    output = _apply(layer, [keras.Input(shape) for shape in shapes])
    summary = infer(_graph(class_name, kwargs, shapes))
    assert [d.message for d in summary.diagnostics] == []
    row = summary.row("merge")
    assert row is not None
    assert row.output_shape == tuple(output.shape)
    assert (row.trainable, row.non_trainable) == (layer.count_params(), 0)


@pytest.mark.parametrize("case", REFUSED, ids=_ids)
def test_what_keras_refuses_is_a_diagnostic_with_a_hint(keras, case) -> None:
    class_name, kwargs, shapes, message, hint = case
    with pytest.raises(ValueError):
        _apply(getattr(keras.layers, class_name)(**kwargs), [keras.Input(s) for s in shapes])
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


def test_attention_of_query_and_key_of_different_depths_is_refused(keras) -> None:
    """Keras builds `Attention()([query, value])` with depths 8 and 10, and fails when it
    runs (the scores multiply the query by the key); kdsl says so when it checks."""
    import numpy as np

    query, value = keras.Input((5, 8)), keras.Input((7, 10))
    model = keras.Model([query, value], keras.layers.Attention()([query, value]))
    with pytest.raises(Exception):  # noqa: B017 - the backend's own error type
        model([np.zeros((1, 5, 8)), np.zeros((1, 7, 10))])
    summary = infer(_graph("Attention", {}, [(5, 8), (7, 10)]))
    (diagnostic,) = summary.diagnostics
    assert diagnostic.message == (
        "`attention` compares the query with the key, which need the same depth, "
        "but gets query (None, 5, 8) and key (None, 7, 10)"
    )
    assert diagnostic.hint and "dense N" in diagnostic.hint
