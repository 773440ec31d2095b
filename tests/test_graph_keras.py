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
