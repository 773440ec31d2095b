"""The stored Keras catalog matches the installed Keras, and its data is real.

kdsl validates names against `kdsl/semantics/keras_catalog.json` without importing TensorFlow, so
a stale or wrong catalog means wrong diagnostics. These tests import Keras.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

import pytest

from kdsl.tools import catalog_gen

CATALOG_FILE = catalog_gen.CATALOG_PATH


@pytest.fixture(scope="module")
def keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fresh(keras: Any) -> dict[str, Any]:
    return catalog_gen.build_catalog()


def _params(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in entry["params"]}


def test_stored_catalog_matches_installed_keras(
    stored: dict[str, Any], fresh: dict[str, Any]
) -> None:
    if stored != fresh:
        summary = "\n  ".join(catalog_gen.diff_summary(stored, fresh))
        pytest.fail(
            f"{CATALOG_FILE.name} is stale for Keras {fresh['keras_version']}:\n  {summary}\n"
            "Regenerate it with: python -m kdsl.tools.catalog_gen",
            pytrace=False,
        )


def test_stored_file_is_in_canonical_form(stored: dict[str, Any]) -> None:
    assert CATALOG_FILE.read_text(encoding="utf-8") == catalog_gen.dumps(stored), (
        "keras_catalog.json was edited by hand; run: python -m kdsl.tools.catalog_gen"
    )


def test_version_is_the_installed_one(keras: Any, stored: dict[str, Any]) -> None:
    assert stored["keras_version"] == keras.__version__


def test_well_known_entries(stored: dict[str, Any]) -> None:
    dense = _params(stored["layers"]["dense"])
    assert dense["units"] == {
        "name": "units",
        "required": True,
        "range": {"min": 1},  # Keras refuses Dense(0) as it makes it
        "refuses": ["float", "name", "tuple", "none"],
    }
    assert dense["activation"] == {"name": "activation", "required": False, "default": None}
    assert stored["layers"]["dense"]["category"] == "core"
    assert stored["layer_aliases"]["convolution2d"] == "conv2d"

    adam = _params(stored["optimizers"]["adam"])
    assert adam["learning_rate"]["required"] is False
    assert adam["epsilon"]["default"] == 1e-07

    cce = stored["losses"]["categorical_crossentropy"]
    assert cce["class"] == "CategoricalCrossentropy" and cce["shorthand"] is True
    assert _params(cce)["from_logits"]["default"] is False
    assert stored["loss_aliases"]["mse"] == "mean_squared_error"

    for name in ("accuracy", "auc"):
        assert stored["metrics"][name]["shorthand"] is True
    assert stored["metrics"]["auc"]["class"] == "AUC"
    assert stored["metric_aliases"]["acc"] == "accuracy"

    assert {"relu", "softmax", "sigmoid", "tanh"} <= set(stored["activations"])
    assert {p["name"] for p in stored["fit"]["params"]} >= {"epochs", "batch_size", "verbose"}


def test_excluded_layers_are_absent(stored: dict[str, Any]) -> None:
    layers = stored["layers"]
    for name in ("layer", "inputlayer", "lambda", "rnn", "lstmcell"):
        assert name not in layers
    # v2: the merges and attention are in, for graphs (the checker keeps them out of chains).
    for name in ("add", "concatenate", "attention", "multiheadattention", "groupqueryattention"):
        assert layers[name]["category"] in ("merging", "attention")
    assert _params(layers["bidirectional"])["layer"]["required"] is True
    assert _params(layers["timedistributed"])["layer"]["required"] is True


def test_no_forbidden_base_kwargs(stored: dict[str, Any]) -> None:
    forbidden = {"input_shape", "batch_input_shape", "batch_size"}
    for key, entry in stored["layers"].items():
        names = [p["name"] for p in entry["params"]]
        assert not forbidden & set(names), key
        assert len(names) == len(set(names)), f"{key} lists a parameter twice"
    assert "input_dim" in _params(stored["layers"]["embedding"])  # Embedding's own


def test_every_layer_class_exists(keras: Any, stored: dict[str, Any]) -> None:
    for key, entry in stored["layers"].items():
        cls = getattr(keras.layers, entry["class"])
        assert key == entry["class"].lower()
        assert cls.__module__.split(".")[3] == entry["category"], key
        own = set(inspect.signature(cls.__init__).parameters)
        for param in entry["params"]:
            # Own params come from the signature; the rest are base Layer kwargs.
            assert param["name"] in own or param["name"] in catalog_gen.BASE_LAYER_KWARGS
    for alias, key in stored["layer_aliases"].items():
        assert alias not in stored["layers"]
        exported = [n for n in dir(keras.layers) if n.lower() == alias]
        assert getattr(keras.layers, exported[0]) is getattr(
            keras.layers, stored["layers"][key]["class"]
        )


def test_automatic_names_are_kerass(keras: Any, stored: dict[str, Any]) -> None:
    """kdsl names layers as Keras does (shapes, import), without importing Keras."""
    from keras.src.utils.naming import to_snake_case

    from kdsl.semantics.catalog import WRAPPER_CLASSES, keras_snake_case

    classes = [entry["class"] for entry in stored["layers"].values()]
    classes += [entry["class"] for entry in stored["optimizers"].values()]
    for name in [*classes, "InputLayer"]:
        assert keras_snake_case(name) == to_snake_case(name), name
    for key, entry in stored["layers"].items():  # the class's own name, where exported as another
        stem = to_snake_case(getattr(keras.layers, entry["class"]).__name__)
        assert stem == entry.get("auto_name", keras_snake_case(entry["class"])), key
    assert all(name.lower() in stored["layers"] for name in WRAPPER_CLASSES)


def test_activations_resolve(keras: Any, stored: dict[str, Any]) -> None:
    for name in stored["activations"]:
        assert keras.activations.get(name) is getattr(keras.activations, name)


@pytest.mark.parametrize("kind", ["initializer", "regularizer", "constraint"])
def test_object_names_build_layers(keras: Any, stored: dict[str, Any], kind: str) -> None:
    """Each name of the catalog works as a layer's `kernel_<kind>=` in Keras; names Keras 3
    refuses (Keras 2's `maxnorm`) and the abstract base classes are not in it."""
    names = stored[f"{kind}s"]
    assert {"initializer": {"he_normal", "HeNormal", "glorot_uniform"}, "regularizer": {"l2"},
            "constraint": {"max_norm", "non_neg", "unit_norm"}}[kind] <= set(names)  # fmt: skip
    for name in names:
        layer = keras.layers.Dense(2, **{f"kernel_{kind}": name})  # resolves the name
        assert getattr(layer, f"kernel_{kind}") is not None, name
        if name.lower().startswith("stft"):
            continue  # STFT's kernel is a filter bank: shaped for a convolution, not a Dense
        layer.build((None, 2))
    for refused in ("maxnorm", "bogus", kind.title()):  # `Constraint` is a no-op base class
        assert refused not in names
    for refused in ("maxnorm", "bogus"):
        with pytest.raises((ValueError, TypeError, KeyError)):
            keras.layers.Dense(2, **{f"kernel_{kind}": refused})


def test_optimizers_construct(keras: Any, stored: dict[str, Any]) -> None:
    for entry in stored["optimizers"].values():
        getattr(keras.optimizers, entry["class"])(learning_rate=0.01)


def test_loss_strings_resolve(keras: Any, stored: dict[str, Any]) -> None:
    for key, entry in stored["losses"].items():
        cls = getattr(keras.losses, entry["class"])
        if entry["shorthand"]:
            assert keras.losses.get(key) is cls().fn, key
        else:
            with pytest.raises(ValueError):
                keras.losses.get(key)
    for alias, key in stored["loss_aliases"].items():
        # A class name (`MeanSquaredError`) gives an instance wrapping the same function.
        resolved = catalog_gen._loss_id(keras.losses.get(alias))
        assert resolved is catalog_gen._loss_id(keras.losses.get(key)), alias


def _data(kind: str) -> tuple[Any, Any, Any]:
    """(model, x, y) for a categorical, sparse-label, or sequence (CTC) output."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2, 0, 1, 2])
    if kind == "sequence":
        model = keras.Sequential([keras.Input((5, 4)), keras.layers.Dense(3, "softmax")])
        x = rng.random((6, 5, 4), dtype="float32")
        return model, x, np.tile(np.array([[1, 2]]), (6, 1))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "softmax")])
    x = rng.random((6, 4), dtype="float32")
    y = keras.utils.to_categorical(labels, 3) if kind == "categorical" else labels
    return model, x, y


def _compiles_and_evaluates(**compile_kwargs: Any) -> list[str]:
    """Evaluate a fresh model on each kind of data until one works; errors if none."""
    errors = []
    for kind in ("categorical", "sparse", "sequence"):
        model, x, y = _data(kind)
        # Eagerly: what is checked is that compile takes the name and the loss or metric
        # computes; tracing a graph for each of ~100 names took most of this test's time.
        model.compile(**compile_kwargs, run_eagerly=True)
        try:
            return list(model.evaluate(x, y, verbose=0, return_dict=True))
        except Exception as exc:  # try the next data shape
            errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
    raise AssertionError("; ".join(errors))


def test_shorthand_losses_work_in_compile(stored: dict[str, Any]) -> None:
    names = [k for k, v in stored["losses"].items() if v["shorthand"]]
    for name in names + sorted(stored["loss_aliases"]):
        _compiles_and_evaluates(loss=name)


def test_shorthand_metrics_work_in_compile(stored: dict[str, Any]) -> None:
    names = [k for k, v in stored["metrics"].items() if v["shorthand"]]
    names += sorted(stored["metric_aliases"])
    sparse = [n for n in names if n.lower().startswith("sparse")]  # `SparseTopK...` too
    dense = [n for n in names if n not in sparse]
    result = _compiles_and_evaluates(loss="categorical_crossentropy", metrics=dense)
    assert set(dense) <= set(result)
    result = _compiles_and_evaluates(loss="sparse_categorical_crossentropy", metrics=sparse)
    assert set(sparse) <= set(result)


def test_non_shorthand_names_are_refused_by_compile(stored: dict[str, Any]) -> None:
    refused = [("loss", k) for k, v in stored["losses"].items() if not v["shorthand"]]
    refused += [("metric", k) for k, v in stored["metrics"].items() if not v["shorthand"]]
    assert refused, "Keras 3.15 has names without a string shorthand"
    for kind, name in refused:
        model, x, y = _data("categorical")
        if kind == "loss":
            model.compile(loss=name)
        else:
            model.compile(loss="mse", metrics=[name])
        # Unknown names: "Could not interpret"; classes needing arguments: TypeError.
        with pytest.raises((ValueError, TypeError), match="Could not interpret|required"):
            model.evaluate(x, y, verbose=0)


def test_recorded_argument_values_are_what_keras_checks(keras: Any, stored: dict[str, Any]) -> None:
    """Each name an argument's `enum` lists, Keras takes, and a made-up one it refuses;
    each `range` bound is where Keras starts refusing; each kind in `refuses` Keras
    refuses (issue 19: the checker refuses exactly these)."""
    from kdsl.semantics.catalog import _bounds

    wrong: list[str] = []
    for key, entry in stored["layers"].items():
        cls = getattr(keras.layers, entry["class"])
        base = catalog_gen.probe_base(keras, cls)
        for param in entry["params"]:
            name = param["name"]
            for word in param.get("enum", ()):
                if not catalog_gen.builds(cls, base, name, word):
                    wrong.append(f"{key} {name}={word} is refused")
            if param.get("enum") and catalog_gen.builds(cls, base, name, "kdsl_made_up"):
                wrong.append(f"{key} {name} takes any name")
            bounds = _bounds(param.get("range"))
            if bounds is not None and bounds.low is not None:
                default = param.get("default", 0.5)
                if isinstance(default, list):  # a pair's range: one number
                    default = default[0]
                number = int if type(default) is int else float
                low = number(bounds.low if bounds.low_open else bounds.low - 1)
                if catalog_gen.builds(cls, base, name, low):
                    wrong.append(f"{key} {name}={low} is taken, below the range")
            if "float" in param.get("refuses", ()) and catalog_gen.builds(cls, base, name, 0.5):
                wrong.append(f"{key} {name}=0.5 is taken, though `float` is refused")
    assert not wrong, "\n".join(wrong)
