"""The v2 examples against Keras itself: `examples/graphs/` writes four of the Keras
Applications; kdsl's graph must have exactly their parameters and, class by class, their
layers (keras.applications builds them with `weights=None`, 1000 classes)."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from kdsl.errors import Source
from kdsl.language.parser import parse
from kdsl.semantics.checker import analyze

ROOT = Path(__file__).resolve().parent.parent
GRAPHS = ROOT / "examples" / "graphs"

# example → (application, most lines a person writes for it: the limit)
APPLICATIONS = {
    "resnet50.k": ("ResNet50", 20),
    "mobilenetv2.k": ("MobileNetV2", 25),
    "densenet121.k": ("DenseNet121", 20),
    "inceptionv3.k": ("InceptionV3", 60),
}


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(APPLICATIONS))
def test_example_is_the_keras_application(example: str) -> None:
    import keras

    application, most_lines = APPLICATIONS[example]
    text = (GRAPHS / example).read_text()
    written = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(written) <= most_lines
    source = Source(example, text)
    model, summary = analyze(parse(source), source)
    reference = getattr(keras.applications, application)(weights=None)
    assert summary.total() == reference.count_params()
    theirs = collections.Counter(
        type(layer).__name__ for layer in reference.layers if type(layer).__name__ != "InputLayer"
    )
    ours = collections.Counter(node.call.class_name for node in model.nodes)
    assert ours == theirs
    assert summary.output_shape == tuple(reference.output.shape)


def _random_rows(shape: tuple, dtype: str, rows: int, rng) -> object:

    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 10, (rows, *shape)).astype(dtype)
    return rng.normal(size=(rows, *shape)).astype("float32")


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in GRAPHS.glob("*.k")))
def test_example_compiles_builds_and_trains_a_step(example: str) -> None:
    """Each v2 example: its script builds with kdsl's parameter count and trains a step
    on random rows of its inputs' shapes (labels of its outputs' shapes and losses).

    The step runs eagerly: traced as a graph, one step of DenseNet121 or ResNet50 took
    minutes on two cores (TensorFlow tracing and optimizing the step's graph, nothing
    of kdsl's), eagerly about ten seconds: the same layers, loss, gradients and update.
    Fitting v2 models as graphs is proven by tests/test_graph_run.py and
    test_functional.py's two-output training."""
    import numpy as np

    import kdsl

    text = (GRAPHS / example).read_text()
    source = Source(example, text)
    model, summary = analyze(parse(source), source)
    built = kdsl.build(text, example)
    assert built.count_params() == summary.total()
    rng = np.random.default_rng(0)
    rows = 2
    inputs = [_random_rows(i.shape, i.dtype, rows, rng) for i in model.inputs]
    labels = []
    for output, tensor in zip(model.outputs, built.outputs, strict=True):
        shape = tuple(tensor.shape[1:])
        if model.loss_key_of(output).startswith("sparse"):
            labels.append(rng.integers(0, shape[-1], (rows, *shape[:-1])))
        else:
            labels.append(rng.uniform(size=(rows, *shape)).astype("float32"))
    names = model.output_names
    built.run_eagerly = True
    history = built.fit(
        {dict(i.kwargs)["name"]: x for i, x in zip(model.inputs, inputs, strict=True)}
        if len(inputs) > 1
        else inputs[0],
        dict(zip(names, labels, strict=True)) if names else labels[0],
        epochs=1,
        batch_size=rows,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][-1])
