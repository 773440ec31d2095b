"""`kdsl import` of functional models: graphs, and the Keras Applications round trip.

A model is built with Keras, saved, imported (compact and faithful forms), compiled and
built again: the same parameter count and, layer by layer, the same class and
`get_config()` (names aside in the compact form, which drops positional names); and
importing the rebuilt model gives the same text (a fixed point).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kdsl
from kdsl.train.runner import import_keras, load_script

keras = import_keras()
L = keras.layers


def build(text: str):
    keras.backend.clear_session()
    return load_script(kdsl.compile(text))["build_model"]()


def without_names(config):
    if isinstance(config, dict):
        return {k: without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [without_names(v) for v in config]
    return config


def layers(model) -> list:
    """The model's layers but its inputs (a chain is rebuilt as a Sequential model)."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def assert_same_architecture(original, rebuilt, names: bool) -> None:
    assert original.count_params() == rebuilt.count_params()
    assert [type(x).__name__ for x in layers(original)] == [
        type(x).__name__ for x in layers(rebuilt)
    ]
    for before, after in zip(layers(original), layers(rebuilt), strict=True):
        if names:
            assert before.get_config() == after.get_config(), before.name
        else:
            assert without_names(before.get_config()) == without_names(after.get_config()), (
                before.name
            )


def round_trip(model, tmp_path: Path, compact: bool) -> str:
    saved = tmp_path / "model.keras"
    model.save(saved)
    text = kdsl.import_model(saved, compact=compact)
    assert kdsl.import_model(model.to_json(), compact=compact) == text
    rebuilt = build(text)
    assert_same_architecture(model, rebuilt, names=not compact)
    assert kdsl.import_model(rebuilt.to_json(), compact=compact) == text, "not a fixed point"
    return text


def functional(inputs, outputs, **compile_args):
    model = keras.Model(inputs, outputs)
    if compile_args:
        model.compile(**compile_args)
    return model


def residual_model():
    """A residual (identity branch), a projection shortcut and a three-way fork-join."""
    keras.backend.clear_session()
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = L.Add()([x, L.Conv2D(8, 3, padding="same")(y)])
    shortcut = L.Conv2D(16, 1)(x)
    x = L.Add()([shortcut, L.Conv2D(16, 3, padding="same")(x)])
    x = L.Concatenate()([L.Conv2D(4, 1)(x), L.MaxPooling2D(3, 1, padding="same")(x), x])
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return functional(inputs, outputs, optimizer="adam", loss="categorical_crossentropy")


def long_skip_model():
    """A U-Net's long skips: the encoder's tensors read far below, by name."""
    keras.backend.clear_session()
    inputs = keras.Input((32, 32, 1))
    skips = []
    x = inputs
    for filters in (4, 8):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = L.MaxPooling2D()(x)
    for _ in range(50):  # a long middle
        x = L.Conv2D(8, 1)(x)
    for filters, skip in zip((8, 4), reversed(skips), strict=True):
        x = L.Conv2DTranspose(filters, 2, strides=2)(x)
        x = L.Concatenate()([x, skip])
    outputs = L.Conv2D(1, 1, activation="sigmoid")(x)
    return functional(inputs, outputs, optimizer="adam", loss="binary_crossentropy")


def two_in_two_out_model():
    """Named inputs and outputs, a loss, weight and metrics per output."""
    keras.backend.clear_session()
    title = keras.Input((10,), dtype="int32", name="title")
    tags = keras.Input((12,), name="tags")
    t = L.LSTM(8)(L.Embedding(100, 8)(title))
    x = L.Dense(16, activation="relu")(L.Concatenate()([L.Dense(8)(tags), t]))
    priority = L.Dense(1, activation="sigmoid", name="priority")(x)
    department = L.Dense(4, activation="softmax", name="department")(x)
    return functional(
        [title, tags],
        [priority, department],
        optimizer="adam",
        loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"department": ["accuracy"]},
    )


def attention_model():
    """Self-attention in a residual, cross-attention reading a second input."""
    keras.backend.clear_session()
    tokens = keras.Input((20,), dtype="int32", name="tokens")
    memory = keras.Input((5, 16), name="memory")
    x = L.Embedding(50, 16)(tokens)
    x = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(2, 8)(x, x)]))
    x = L.MultiHeadAttention(2, 8)(x, L.Dense(16)(memory))
    outputs = L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(x))
    return functional(
        [tokens, memory], outputs, optimizer="adam", loss="sparse_categorical_crossentropy"
    )


@pytest.mark.parametrize(
    "make", [residual_model, long_skip_model, two_in_two_out_model, attention_model]
)
@pytest.mark.parametrize("compact", [True, False], ids=["compact", "faithful"])
def test_graphs_round_trip(make, compact: bool, tmp_path: Path) -> None:
    round_trip(make(), tmp_path, compact)


def test_graph_forms() -> None:
    """Groups for fork-joins, `identity` for residuals, labels only for long skips."""
    residual = kdsl.import_model(residual_model().to_json())
    assert "[identity | conv2d 8 3 relu padding=same -> conv2d 8 3 padding=same] -> add" in (
        " ".join(residual.split())
    )
    assert "@" not in residual and ":" not in residual
    unet = kdsl.import_model(long_skip_model().to_json())
    assert unet.count("concatenate @") == 2, unet
    inputs_outputs = kdsl.import_model(two_in_two_out_model().to_json())
    for written in (
        "title: input 10 dtype=int32",
        "tags: input 12",
        "outputs @priority @department",
        "loss @priority binary_crossentropy weight=1.0",
        "loss @department categorical_crossentropy weight=0.2",
        "metrics @department accuracy",
    ):
        assert written in inputs_outputs, inputs_outputs
