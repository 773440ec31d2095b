"""Every golden script runs with real Keras and builds exactly the model the DSL says.

One TensorFlow process serves the whole module; `clear_session()` before each build
resets Keras's layer-name counters so configs compare equal.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from golden_cases import STYLES, case_id, expected_path, programs

from kdsl import check_source, ir
from kdsl.semantics.catalog import load
from kdsl.train.runner import import_keras

keras = import_keras()
CATALOG = load()
KERAS_NUMPY2_NOTE = "__array__ implementation doesn't accept a copy keyword"


def load_script(program: Path, style: str) -> dict:
    """Execute a golden script as a module (not as __main__) and return its namespace."""
    path = expected_path(program, style)
    namespace: dict = {"__name__": f"golden_{program.stem}_{style}", "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def build(program: Path, style: str):
    # Only the name counters need resetting: a full collection (free_memory) costs 0.2 s
    # of CPU a build with TensorFlow loaded, and more on a loaded machine.
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_script(program, style)["build_model"]()
    assert not [str(w.message) for w in caught], "building the model warned"
    return model


def _same(config_value, dsl_value) -> bool:
    """Keras normalizes some arguments (3 → (3, 3), tuples → lists); compare loosely."""
    if isinstance(config_value, list | tuple):
        items = list(config_value)
        if isinstance(dsl_value, int):
            return all(v == dsl_value for v in items)
        if isinstance(dsl_value, tuple):
            return items == [list(v) if isinstance(v, tuple) else v for v in dsl_value]
    return config_value == dsl_value


def _bound_arguments(call: ir.KerasCall) -> dict:
    entry = CATALOG.layers[call.class_name.lower()]
    required = [p.name for p in entry.params if p.required]
    return {**dict(zip(required, call.args, strict=True)), **dict(call.kwargs)}


def _assert_layer(layer, call: ir.KerasCall) -> None:
    assert type(layer).__name__ == call.class_name
    config = layer.get_config()
    for name, value in _bound_arguments(call).items():
        if isinstance(value, ir.KerasCall):  # a wrapped layer
            _assert_layer(getattr(layer, "forward_layer", None) or layer.layer, value)
            continue
        if name.endswith(("_initializer", "_regularizer", "_constraint")):
            assert config[name]["class_name"].lower().replace("_", "") == str(value).replace(
                "_", ""
            )
            continue
        assert _same(config[name], value), f"{call.class_name}.{name}: {config[name]} != {value}"


def _class_of(arg: ir.CompileArg, table: dict, aliases: dict) -> str:
    if arg.call is not None:
        return arg.call.class_name
    return table[aliases.get(arg.shorthand, arg.shorthand)].class_name


CASES = [(p, s) for p in programs() for s in STYLES]


@pytest.mark.parametrize(("program", "style"), CASES, ids=[f"{case_id(p)}-{s}" for p, s in CASES])
def test_script_builds_what_the_dsl_says(program: Path, style: str) -> None:
    spec = check_source(program.read_text(), str(program))
    model = build(program, style)

    assert tuple(model.input_shape[1:]) == spec.input_node().shape
    assert len(model.layers) == len(spec.layers)
    for layer, call in zip(model.layers, spec.layers, strict=True):
        _assert_layer(layer, call)

    assert type(model.optimizer).__name__ == _class_of(spec.optimizer, CATALOG.optimizers, {})
    if spec.optimizer.call is not None:
        optimizer_config = model.optimizer.get_config()
        for name, value in spec.optimizer.call.kwargs:
            assert optimizer_config[name] == pytest.approx(value)

    config = model.get_compile_config()
    if spec.loss.shorthand:
        assert config["loss"] == spec.loss.shorthand
    else:
        assert config["loss"]["class_name"] == spec.loss.call.class_name
        for name, value in spec.loss.call.kwargs:
            assert config["loss"]["config"][name] == value
    compiled_metrics = config.get("metrics") or []
    assert len(compiled_metrics) == len(spec.metrics)
    for compiled, metric in zip(compiled_metrics, spec.metrics, strict=True):
        if metric.shorthand:
            assert compiled == metric.shorthand
        else:
            assert compiled["class_name"] == metric.call.class_name


@pytest.mark.parametrize("program", programs(), ids=case_id)
def test_both_styles_build_the_same_model(program: Path) -> None:
    configs = [build(program, style).get_config() for style in STYLES]
    assert configs[0] == configs[1]


def _fake_data(model, spec: ir.Model, rows: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = [rows, *[d or 5 for d in spec.input_node().shape]]
    if spec.input_node().dtype.startswith("int"):
        x = rng.integers(0, 10, size=shape)
    else:
        x = rng.normal(size=shape).astype("float32")
    out = model.output_shape
    units = out[-1]
    if spec.loss_key == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, size=rows)
    elif spec.loss_key == "categorical_crossentropy":
        y = np.eye(units, dtype="float32")[rng.integers(0, units, size=rows)]
    elif spec.loss_key == "binary_crossentropy":
        y = rng.integers(0, 2, size=[rows, *[d or 5 for d in out[1:]]]).astype("float32")
    else:
        y = rng.normal(size=[rows, *[d or 5 for d in out[1:]]]).astype("float32")
    return x, y


@pytest.mark.parametrize("program", programs(), ids=case_id)
def test_script_trains_evaluates_and_predicts(program: Path, capsys) -> None:
    """The script's own train_and_evaluate runs the tutorial's steps on data of the right shape."""
    spec = check_source(program.read_text(), str(program))
    model = build(program, "add")
    namespace = load_script(program, "add")
    x, y = _fake_data(model, spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Keras's own ReduceLROnPlateau reads the learning rate with np.array(variable),
        # which numpy 2 flags; Python's default filters hide it from users (not __main__).
        warnings.filterwarnings("ignore", KERAS_NUMPY2_NOTE, DeprecationWarning)
        history, evaluation, predictions = namespace["train_and_evaluate"](
            model, {"x_train": x, "y_train": y}, epochs=2, batch_size=8
        )
    assert not [str(w.message) for w in caught], "training warned"
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))
    expected_scores = 1 + len(spec.metrics)
    assert np.size(evaluation) == expected_scores
    assert predictions.shape == (len(x), *[d or 5 for d in model.output_shape[1:]])
    out = capsys.readouterr().out
    assert "History:" in out and "Evaluation" in out and "Predictions" in out


def test_tutorial_model_matches_keras_by_hand() -> None:
    """The tutorial's add() code, written by hand in Keras 3, equals the compiled example."""
    from keras.layers import Dense

    keras.backend.clear_session(free_memory=False)
    by_hand = keras.Sequential()
    by_hand.add(keras.Input(shape=(4,)))
    by_hand.add(Dense(5))
    by_hand.add(Dense(3, activation="relu"))
    by_hand.add(Dense(3, activation="softmax"))
    by_hand.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])

    iris = Path(__file__).parent.parent / "examples" / "iris.k"
    for style in STYLES:
        compiled = build(iris, style)
        assert compiled.count_params() == by_hand.count_params() == 55
        assert [layer.get_config() for layer in compiled.layers] == [
            layer.get_config() for layer in by_hand.layers
        ]
        assert compiled.get_compile_config() == by_hand.get_compile_config()
