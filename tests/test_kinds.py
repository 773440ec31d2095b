"""Every layer kind in the catalog: a golden program per kind, built and run with Keras.

Each `tests/golden/kinds/KIND.k` is compiled in both styles (test_golden.py checks the
scripts against their golden files); here both scripts build the same model, the model
runs a forward pass on sample input, and kdsl's static shapes agree with Keras's as far
as kdsl has shape rules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from golden_cases import STYLES, kind_programs

from kdsl import check_source, compile_source
from kdsl.errors import Source
from kdsl.ir import SEVERAL_INPUTS
from kdsl.language.parser import parse
from kdsl.semantics.catalog import load
from kdsl.semantics.checker import analyze
from kdsl.train.runner import import_keras

keras = import_keras()
KINDS = kind_programs()

# Keras 3.15 bug: `Sequential.add(Equalization())` fails with "is part of a cycle"
# (the constructor style builds fine). kdsl renders what Keras documents; the day Keras
# fixes it, this strict xfail turns red and can go.
KERAS_BUGS = {("equalization", "add"): "Keras 3.15: Sequential.add(Equalization()) -> cycle"}


def build(program: Path, style: str):
    """Run the kind's whole script, compiled afresh (its golden file keeps only its own
    part; test_golden.py proves the script is that part in the reference's rest).
    The session is cleared without a full garbage collection (0.3-1.3 s with TensorFlow
    loaded; Python's own collector still runs)."""
    namespace: dict = {"__name__": "kind"}
    code = compile_source(program.read_text(), str(program), style=style)
    exec(compile(code, f"{program} ({style})", "exec"), namespace)
    keras.backend.clear_session(free_memory=False)
    return namespace["build_model"]()


def sample(model, dtype: str):
    shape = [2, *[d or 4 for d in model.input_shape[1:]]]
    rng = np.random.default_rng(0)
    if dtype == "string":
        import tensorflow as tf

        return tf.constant(rng.choice(["the cat", "sat", "a", "b"], size=shape))
    if dtype.startswith("int"):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.uniform(0, 255, size=shape).astype("float32")


def test_every_catalog_kind_has_a_program() -> None:
    """Every kind a chain can hold; the merges and attention take several tensors, so
    their programs are graphs, in tests/test_merge_shapes.py and tests/graph_models.py."""
    several = {key for key, e in load().layers.items() if e.class_name in SEVERAL_INPUTS}
    assert several and {p.stem for p in KINDS} == set(load().layers) - several


def _params(program: Path, style: str):
    marks = []
    if (program.stem, style) in KERAS_BUGS:
        marks.append(pytest.mark.xfail(reason=KERAS_BUGS[(program.stem, style)], strict=True))
    return pytest.param(program, style, marks=marks, id=f"{program.stem}-{style}")


@pytest.mark.parametrize(("program", "style"), [_params(p, s) for p in KINDS for s in STYLES])
def test_kind_builds_and_runs(program: Path, style: str) -> None:
    spec = check_source(program.read_text(), str(program))
    model = build(program, style)
    kind = load().layer(program.stem).class_name
    assert kind in {type(layer).__name__ for layer in model.layers}
    dtype = spec.input_node().dtype
    # One batch through Keras's compiled predict step (a traced tf.function, as predict()
    # runs it), without predict()'s tf.data pipeline and callbacks: half the time.
    predictions = model.predict_on_batch(sample(model, dtype))
    assert predictions.shape == (2, 1)
    assert np.all(np.isfinite(predictions))
    if style == "constructor":  # both styles build the same model: compare it once
        assert_shapes_agree_with_keras(program, model)


def assert_shapes_agree_with_keras(program: Path, model) -> None:
    source = Source(str(program), program.read_text())
    summary = analyze(parse(source), source)[1]
    known = [row for row in summary.rows if row.output_shape is not None]
    for row, layer in zip(known, model.layers, strict=False):
        assert row.name == layer.name
        assert row.output_shape == tuple(layer.output.shape), row.name
        assert row.params == layer.count_params(), row.name
    if len(known) == len(summary.rows):
        assert summary.total() == model.count_params()
    else:
        assert summary.notes, "an unknown shape must come with a note"
