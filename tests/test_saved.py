"""A model saved with `--standardize` is the whole model: plain Keras on raw rows predicts
what `kdsl predict` and `kdsl run --json` do, also in a fresh process and on JAX.

The scaling lives in a `keras.layers.Normalization` layer in front of the trained layers,
so its arithmetic must be exactly what `kdsl.train.data.standardize` did to the training rows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, native_log_lines, run_kdsl_commands
from conftest import kdsl_main as kdsl

import kdsl as api
from kdsl.errors import line_safe
from kdsl.train.data import standardize
from kdsl.train.runner import BACKENDS, import_keras
from kdsl.train.saved import METADATA, save_model, with_standardization

keras = import_keras()

pytestmark = pytest.mark.usefixtures("plain_output")

IRIS = ROOT / "examples" / "iris.k"
DIGITS = ROOT / "examples" / "digits_cnn.k"
# Tight: the layer and kdsl's scaling do the same float32 steps; only the order in which a
# backend sums a Dense layer's products may differ between two predict calls.
TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def raw_iris() -> dict[str, np.ndarray]:
    """Iris with features on very different scales and offsets, and one nearly constant."""
    with np.load(ROOT / "examples" / "iris.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    scale, offset = np.array([1.0, 10.0, 1e3, 1e-9]), np.array([50.0, -3.0, 7.0, 1e4])
    for key in ("x_train", "x_test"):
        arrays[key] = (arrays[key] * scale + offset).astype("float32")
    return arrays


def raw_digits() -> dict[str, np.ndarray]:
    """8x8 images in 0..16: their corner pixels are always 0 (a constant feature)."""
    with np.load(ROOT / "examples" / "digits_cnn.npz") as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize(
    ("program", "arrays"), [(IRIS, raw_iris), (DIGITS, raw_digits)], ids=["rows", "images"]
)
def test_saved_model_scales_raw_rows_as_training_did(program: Path, arrays, tmp_path) -> None:
    """What the trained layers see from the saved model on raw rows is what they saw in
    training; reloaded (safe mode) it predicts the same, compiled as it was."""
    model = api.build(program.read_text(), program.name)
    raw = arrays()
    scaled = dict(raw)
    scaling = standardize("d.npz", scaled, "float32")
    model.fit(scaled["x_train"], scaled["y_train"], epochs=1, verbose=0)  # optimizer state

    wrapper = with_standardization(model, scaling)
    normalization = wrapper.layers[0]
    assert isinstance(normalization, keras.layers.Normalization)
    seen = keras.ops.convert_to_numpy(normalization(raw["x_test"]))
    assert np.allclose(seen, scaled["x_test"], **TOLERANCE)
    expected = model.predict(scaled["x_test"], verbose=0)
    assert np.allclose(wrapper.predict(raw["x_test"], verbose=0), expected, **TOLERANCE)

    path = tmp_path / "m.keras"
    save_model(model, path, {"loss": "x"}, scaling=scaling)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert type(reloaded) is keras.Sequential
    assert np.allclose(reloaded.predict(raw["x_test"], verbose=0), expected, **TOLERANCE)
    assert reloaded.loss == model.loss
    assert int(reloaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    with zipfile.ZipFile(path) as archive:
        assert "standardize" not in json.loads(archive.read(METADATA))


def test_the_layer_name_never_clashes_with_the_models() -> None:
    program = "input 4 -> dense 3 name=standardize -> dense 3 softmax; adam; mse"
    model = api.build(program)
    wrapper = with_standardization(model, {"mean": [0.0] * 4, "variance": [1.0] * 4})
    names = [layer.name for layer in wrapper.layers]
    assert names[:2] == ["standardize_1", "standardize"] and len(set(names)) == len(names)


def test_predict_applies_an_old_sidecars_scaling(tmp_path: Path, capsys) -> None:
    """A model saved before the scaling moved into it kept `mean` and `std` in kdsl.json."""
    model = api.build(IRIS.read_text(), IRIS.name)
    x = raw_iris()["x_test"].astype("float64")
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0  # as kdsl did
    path = tmp_path / "old.keras"
    scaling = {"mean": mean.tolist(), "std": std.tolist()}
    save_model(model, path, {"loss": "categorical_crossentropy", "standardize": scaling})
    rows, out = tmp_path / "rows.npy", tmp_path / "p.npy"
    np.save(rows, x)
    code, _, err = kdsl(["predict", path, rows, "-o", out], capsys)
    assert code == 0, err
    expected = model.predict(((x - mean) / std).astype("float32"), verbose=0)
    assert np.allclose(np.load(out), expected, **TOLERANCE)


def plain_keras_predictions(model: Path, rows: Path, backend: str) -> np.ndarray:
    """`keras.models.load_model(model).predict(rows)` in a fresh process on `backend`."""
    out = model.with_suffix(".plain.npy")
    code = (
        "import sys, numpy as np, keras\n"
        "model = keras.models.load_model(sys.argv[1])\n"
        "assert keras.backend.backend() == sys.argv[4]\n"
        "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", code, str(model), str(rows), str(out), backend],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return np.load(out)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_run_json_predict_and_plain_keras_agree(backend: str, tmp_path: Path) -> None:
    """`kdsl run --standardize --save --json`, then `kdsl predict` (one fresh process, as
    tests/backend_driver.py runs them), and plain Keras in a fresh process of its own give
    the same predictions on raw rows; kdsl's stderr has no native log lines."""
    package, name, _ = BACKENDS[backend]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{name} is not installed")
    data, saved, report, predicted = (tmp_path / n for n in ("d.npz", "m.keras", "r.json", "p.npy"))
    arrays = raw_iris()
    np.savez(data, **arrays)
    np.save(tmp_path / "rows.npy", arrays["x_test"])
    run, predict = run_kdsl_commands(
        [
            ["run", str(IRIS), "--data", str(data), "--epochs", "3", "--standardize",
             "--backend", backend, "--save", str(saved), "--json", str(report)],
            ["predict", str(saved), str(data), "--backend", backend, "-o", str(predicted)],
        ],
        tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert predict.returncode == 0, predict.stderr
    assert not native_log_lines(run.stderr) and not native_log_lines(predict.stderr)

    from_json = np.array(json.loads(report.read_text())["predictions"])
    plain = plain_keras_predictions(saved, tmp_path / "rows.npy", backend)
    assert np.allclose(plain, from_json, **TOLERANCE)
    assert np.allclose(plain, np.load(predicted), **TOLERANCE)


# -- kdsl.json is input like any other ----------------------------------------------------


@pytest.fixture(scope="module")
def saved_iris(tmp_path_factory) -> Path:
    """An iris model saved as `kdsl run --save` saves it, with its metadata."""
    path = tmp_path_factory.mktemp("saved") / "iris.keras"
    model = api.build(IRIS.read_text(), IRIS.name)
    metadata = {"loss": "categorical_crossentropy", "class_names": ["a", "b", "c"]}
    save_model(model, path, metadata)
    return path


def with_metadata(saved: Path, target: Path, text: str) -> Path:
    """A copy of `saved` whose kdsl.json holds `text`."""
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(target, "w") as copy:
        for entry in source.infolist():
            if entry.filename != METADATA:
                copy.writestr(entry, source.read(entry))
        copy.writestr(METADATA, text)
    return target


# Each field `kdsl predict` uses, with values of every wrong kind.
MALFORMED = {
    "feature_names=5": ('{"feature_names": 5}', "feature_names"),
    "feature_names of numbers": ('{"feature_names": [1, 2, 3, 4]}', "feature_names"),
    "feature_names twice": ('{"feature_names": ["a", "a", "b", "c"]}', "feature_names"),
    "class_names as a dict": ('{"class_names": {"a": 0}}', "class_names"),
    "class_names of numbers": ('{"class_names": [0, 1, 2]}', "class_names"),
    "class_names a string": ('{"class_names": "abc"}', "class_names"),
    "loss a number": ('{"loss": 5}', "loss"),
    "target a list": ('{"target": []}', "target"),
    "standardize a string": ('{"standardize": "yes"}', "standardize"),
    "standardize without std": ('{"standardize": {"mean": [1, 2, 3, 4]}}', "standardize"),
    "standardize of text": ('{"standardize": {"mean": "a", "std": "b"}}', "standardize"),
    "standardize ragged": (
        '{"standardize": {"mean": [[1], [2, 3]], "std": [[1], [1, 1]]}}',
        "standardize",
    ),
    "standardize std zero": (
        '{"standardize": {"mean": [0, 0, 0, 0], "std": [1, 0, 1, 1]}}',
        "standardize",
    ),
    "standardize NaN": ('{"standardize": {"mean": [NaN, 0, 0, 0], "std": [1, 1, 1, 1]}}', ""),
    "standardize shapes differ": ('{"standardize": {"mean": [0, 0], "std": [1]}}', ""),
    "standardize a number": ('{"standardize": {"mean": 0, "std": 1}}', "standardize"),
    "not an object": ("[1, 2]", "object"),
    "not JSON": ("{nope", "not valid JSON"),
    "nested too deep": ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_metadata_is_a_model_error(case: str, saved_iris: Path, tmp_path: Path, capsys):
    """A `.keras` file whose kdsl.json was edited or crafted: exit 1 with the file and the
    field named, never exit 70 from deep inside predict."""
    text, field = MALFORMED[case]
    model = with_metadata(saved_iris, tmp_path / "edited.keras", text)
    code, out, err = kdsl(["predict", model, ROOT / "examples" / "iris.npz"], capsys)
    assert code == 1, err
    assert err.startswith(f"{model}: error: its kdsl.json"), err
    assert field in err.splitlines()[0] and "internal error" not in err


def test_scaling_of_another_shape_is_a_model_error(saved_iris, tmp_path: Path, capsys) -> None:
    """Well-formed, but for rows of 2 features where the model takes 4."""
    text = '{"loss": "mse", "standardize": {"mean": [0, 0], "std": [1, 1]}}'
    model = with_metadata(saved_iris, tmp_path / "edited.keras", text)
    code, _, err = kdsl(["predict", model, ROOT / "examples" / "iris.npz"], capsys)
    assert code == 1, err
    assert err.startswith(f"{model}: error: its kdsl.json's `standardize` scales rows of shape")


@pytest.mark.parametrize("member", [METADATA, "config.json"])
def test_a_huge_member_is_refused_by_its_declared_size(
    member: str, saved_iris: Path, tmp_path: Path, capsys
) -> None:
    """A member that declares gigabytes is refused before a byte of it is decompressed
    (its zip entry's size is forged here: real gigabytes would take the test's time)."""
    model = tmp_path / "huge.keras"
    with zipfile.ZipFile(saved_iris) as source, zipfile.ZipFile(model, "w") as copy:
        for entry in source.infolist():
            if entry.filename == member or (member == "config.json" and entry.filename == METADATA):
                continue
            copy.writestr(entry, source.read(entry))
        copy.writestr(member, "{}")
    data = bytearray(model.read_bytes())
    name = member.encode()
    central = next(
        i for i in _all(data, b"PK\x01\x02") if data[i + 46 : i + 46 + len(name)] == name
    )
    data[central + 24 : central + 28] = (2**31).to_bytes(4, "little")  # uncompressed size
    model.write_bytes(bytes(data))
    code, _, err = kdsl(["predict", model, ROOT / "examples" / "iris.npz"], capsys)
    assert code == 1, err
    assert err.startswith(f"{model}: error: its {member} declares 2,147,483,648 bytes"), err


def _all(data: bytes | bytearray, marker: bytes) -> list[int]:
    """Every offset of `marker` in `data`."""
    found, start = [], 0
    while (index := data.find(marker, start)) >= 0:
        found.append(index)
        start = index + 1
    return found


def test_class_names_reach_the_terminal_escaped(saved_iris: Path, tmp_path: Path, capsys):
    """Class names come from data or a .keras file: the printed table escapes ESC, BEL
    and every other control character (the -o CSV keeps the names as they are)."""
    names = ["\x1b]0;pwned\x07", "b\x9b2J", "c\u2028"]
    model = with_metadata(
        saved_iris,
        tmp_path / "named.keras",
        json.dumps({"loss": "categorical_crossentropy", "class_names": names}),
    )
    code, out, err = kdsl(["predict", model, ROOT / "examples" / "iris.npz"], capsys)
    assert code == 0, err
    assert not [c for c in out if c != "\n" and not c.isprintable()], ascii(out[:300])
    assert any(line_safe(name) in out for name in names)
