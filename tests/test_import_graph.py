"""`kdsl import` of functional models: graphs, and the Keras Applications round trip.

A model is built with Keras, saved, imported (compact and faithful forms), compiled and
built again: the same parameter count and, layer by layer, the same class and
`get_config()` (names aside in the compact form, which drops positional names); and
importing the rebuilt model gives the same text (a fixed point).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import best_seconds, heavy_imports, kdsl_main

import kdsl
from kdsl.errors import KdslError
from kdsl.train.runner import import_keras, load_script

keras = import_keras()
L = keras.layers


def build(text: str):
    """The model a program builds, in a fresh session (without a full garbage collection,
    0.3-1.3 s with TensorFlow loaded: Python's own collector still runs)."""
    keras.backend.clear_session(free_memory=False)
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
    if not saved.exists():  # one save for both forms
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
    keras.backend.clear_session(free_memory=False)
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
    keras.backend.clear_session(free_memory=False)
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
    keras.backend.clear_session(free_memory=False)
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
    keras.backend.clear_session(free_memory=False)
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


# Every Application of `keras.applications` made only of Keras's own layers, at a small
# input size (their smallest), built one at a time.
APPLICATIONS = {
    "ResNet50": 32,
    "ResNet50V2": 32,
    "MobileNet": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "EfficientNetB0": 32,
    "EfficientNetV2B0": 32,
    "VGG16": 32,
    "DenseNet121": 32,
    "InceptionV3": 75,
    "Xception": 71,
    "NASNetMobile": 32,
}
# How many lines the compact form may take.
MAX_LINES = {"ResNet50": 60, "MobileNetV2": 60}


def application(name: str, **arguments):
    keras.backend.clear_session(free_memory=False)
    size = APPLICATIONS[name]
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), **arguments
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def documented_resnet50() -> str:
    """docs/language.md's ResNet50, as `kdsl import` writes it."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    start = docs.index("```k\ndef block1 ")
    return docs[start + len("```k\n") : docs.index("```", start + 4)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_round_trip(name: str, tmp_path: Path) -> None:
    if name == "MobileNetV3Small":
        with pytest.raises(KdslError, match="applies `keras.ops.add` at `add`"):
            kdsl.import_model(application(name).to_json())
        # Its hard-swish is `x * relu6(x + 3) / 6` written with keras.ops, not with layers:
        # the minimalistic variant (ReLU, no squeeze-excite) is made of layers only.
        model = application(name, minimalistic=True)
    else:
        model = application(name)
    compact = round_trip(model, tmp_path, compact=True)
    assert len(compact.splitlines()) <= MAX_LINES.get(name, 10**6), compact
    if name == "ResNet50":
        assert compact == documented_resnet50().replace("224x224x3", "32x32x3")
    round_trip(model, tmp_path, compact=False)


@pytest.mark.slow
def test_a_class_keras_does_not_ship_is_named(tmp_path: Path, capsys) -> None:
    """ConvNeXtTiny's LayerScale: refused by name, exit 1, no traceback."""
    keras.backend.clear_session(free_memory=False)
    saved = tmp_path / "convnext.keras"
    keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3)).save(saved)
    code, out, err = kdsl_main(["import", saved], capsys)
    assert code == 1 and out == ""
    assert "layer `convnext_tiny_stage_0_block_0_layer_scale` (LayerScale) is a class from " in err
    assert "Traceback" not in err


@keras.saving.register_keras_serializable(package="tests")
class Scale(L.Layer):
    def call(self, x):
        return 2 * x


def halve(x):
    return x / 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda x: L.Add()([x, Scale(name="scale")(x)]),
            "layer `scale` (Scale) is a class from `test_import_graph` that kdsl cannot write",
        ),
        (
            lambda x: L.Add()([x, L.Lambda(halve, name="halve")(x)]),
            "layer `halve` (Lambda) is a Lambda layer, which kdsl refuses",
        ),
        (lambda x: L.Dense(4)(x) * 3.0, "applies `keras.ops.multiply` at `multiply`"),
    ],
    ids=["custom", "lambda", "operation"],
)
def test_what_a_graph_cannot_hold_is_refused(make, message: str, tmp_path: Path, capsys) -> None:
    keras.backend.clear_session(free_memory=False)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, make(inputs))
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    code, out, err = kdsl_main(["import", path], capsys)
    assert (code, out) == (1, "")
    assert message in err, err
    assert "Traceback" not in err


def test_shared_layer_is_a_shared_block() -> None:
    keras.backend.clear_session(free_memory=False)
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    encoder = L.Dense(4, name="encoder")
    outputs = L.Dense(1, activation="sigmoid")(L.Concatenate()([encoder(left), encoder(right)]))
    model = functional([left, right], outputs, optimizer="adam", loss="binary_crossentropy")
    text = kdsl.import_model(model.to_json())
    assert text.startswith("shared encoder { dense 4 }\n"), text
    rebuilt = build(text)
    assert rebuilt.count_params() == model.count_params()


@pytest.mark.parametrize("compact", [True, False], ids=["compact", "faithful"])
def test_nested_models_are_shared_blocks(compact: bool) -> None:
    """A Sequential and a functional model used as layers: `shared` blocks named after
    them, the same parameters, and a fixed point."""
    keras.backend.clear_session(free_memory=False)
    tower = keras.Sequential([keras.Input((8,)), L.Dense(4), L.Dense(4)], name="tower")
    inner_input = keras.Input((4,))
    skip = L.Add()([inner_input, L.Dense(4, activation="relu")(inner_input)])
    residual = keras.Model(inner_input, L.Dense(2)(skip), name="residual")
    inputs = keras.Input((8,))
    model = functional(inputs, residual(tower(inputs)), optimizer="adam", loss="mse")
    text = kdsl.import_model(model.to_json(), compact=compact)
    assert "shared tower {" in text and "shared residual {" in text, text
    if compact:
        assert "shared residual { [identity | dense 4 relu] -> add -> dense 2 }" in " ".join(
            text.split()
        ), text
    rebuilt = build(text)
    assert rebuilt.count_params() == model.count_params()
    assert [layer.name for layer in rebuilt.layers][1:] == ["tower", "residual"]
    assert kdsl.import_model(rebuilt.to_json(), compact=compact) == text


def test_cli_forms(tmp_path: Path, capsys) -> None:
    """`--faithful` keeps the names, `--compact` (the default) folds and drops them."""
    keras.backend.clear_session(free_memory=False)
    inputs = keras.Input((8,))
    x = inputs
    for number in range(1, 4):
        x = L.Add(name=f"block{number}_add")([x, L.Dense(8, name=f"block{number}_dense")(x)])
    model = functional(inputs, L.Dense(1, name="score")(x), optimizer="adam", loss="mse")
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    outputs = {}
    for form in ("--compact", "--faithful", None):
        code, out, _ = kdsl_main(["import", path, *([form] if form else [])], capsys)
        assert code == 0
        outputs[form] = out
    assert outputs[None] == outputs["--compact"]
    assert "[[identity | dense 8] -> add] * 3" in outputs["--compact"]
    assert "block" not in outputs["--compact"] and "name=score" in outputs["--compact"]
    assert "dense 8 name=block3_dense]\n  -> add name=block3_add" in outputs["--faithful"]
    assert build(outputs["--faithful"]).count_params() == build(outputs[None]).count_params()


def residual_tower(blocks: int) -> dict:
    """A config of `blocks` residual blocks, written by hand (no Keras needed)."""
    layers = [{"class_name": "InputLayer", "name": "x", "module": "keras.layers",
               "config": {"batch_shape": [None, 8], "name": "x"}, "inbound_nodes": []}]  # fmt: skip

    def tensor(name: str) -> dict:
        return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}

    last = "x"
    for number in range(blocks):
        inner, add = f"d{number}", f"a{number}"
        layers.append({"class_name": "Dense", "name": inner, "module": "keras.layers",
                       "config": {"name": inner, "units": 8},
                       "inbound_nodes": [{"args": [tensor(last)], "kwargs": {}}]})  # fmt: skip
        layers.append({"class_name": "Add", "name": add, "module": "keras.layers",
                       "config": {"name": add},
                       "inbound_nodes": [{"args": [[tensor(last), tensor(inner)]],
                                          "kwargs": {}}]})  # fmt: skip
        last = add
    return {"class_name": "Functional", "config": {"layers": layers, "input_layers": ["x", 0, 0],
            "output_layers": [last, 0, 0]}}  # fmt: skip


def test_import_is_near_linear() -> None:
    """Reading, grouping and folding: 8 times the layers take far less than 64 times as long."""
    timings = []
    for blocks in (250, 2000):
        config = residual_tower(blocks)
        text = kdsl.import_model(config)
        assert f"[identity | dense 8] -> add] * {blocks}" in text, text
        timings.append(best_seconds(lambda config=config: kdsl.import_model(config), repeat=3))
    assert timings[1] < 20 * timings[0], timings


def test_import_needs_no_tensorflow(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(residual_tower(3)))
    code = f"import kdsl; kdsl.import_model({str(path)!r})"
    assert heavy_imports(code) == []


def test_a_shared_block_after_an_unknown_shape_is_checked() -> None:
    """The checker crashed (exit 70) on a shared block fed by a layer whose shape an error
    left unknown; the importer's fuzzing found it (a mutated `axis`)."""
    text = "shared enc { dense 4 }\ninput 8 -> layernorm axis=() -> enc; adam; mse\n"
    errors = [d.message for d in kdsl.check(text) if d.severity == "error"]
    assert errors == ["`axis` of `layernorm` must be one axis of (None, 8)"], errors


def test_an_input_read_only_by_name_is_refused() -> None:
    keras.backend.clear_session(free_memory=False)
    tokens, memory = keras.Input((5, 8), name="tokens"), keras.Input((3, 8), name="memory")
    model = keras.Model([tokens, memory], L.MultiHeadAttention(2, 4)(tokens, memory))
    with pytest.raises(KdslError, match="reads the input `memory` only as another layer's"):
        kdsl.import_model(model.to_json())


def test_an_input_whose_first_layer_reads_a_later_input_is_written_after_it() -> None:
    keras.backend.clear_session(free_memory=False)
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = functional([a, b], L.Add()([a, L.Dense(4)(b)]), optimizer="adam", loss="mse")
    text = kdsl.import_model(model.to_json())
    assert text.index("b: input 4") < text.index("a: input 4"), text
    assert build(text).count_params() == model.count_params()
