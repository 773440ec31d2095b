"""`kdsl export` and `kdsl run --export`: each format loaded back with its own runtime
(TensorFlow's SavedModel loader, onnxruntime, LiteRT's interpreter) predicts what the
Keras model predicts on a batch; failures leave nothing half-written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from conftest import kdsl_main as kdsl

from kdsl.train.runner import import_keras

pytestmark = pytest.mark.usefixtures("plain_output")

keras = import_keras("tensorflow")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A small CNN saved as .keras (random weights: the exports must match them exactly)."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    path = tmp_path_factory.mktemp("export") / "digits.keras"
    model.save(path)
    return path


def batch() -> np.ndarray:
    return np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)


def expected(saved: Path) -> np.ndarray:
    return np.asarray(keras.models.load_model(saved).predict(batch(), verbose=0))


def load_savedmodel(path: Path) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held: its variables live as long as it does
    return np.asarray(loaded.serve(batch()))


def load_onnx(path: Path) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    return np.asarray(session.run(None, {given.name: batch()})[0])


def load_litert(path: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (given,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(given["index"], batch().shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], batch())
    interpreter.invoke()
    return np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


def load_openvino(path: Path) -> np.ndarray:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU")
    return np.asarray(compiled(batch())[0])


LOADERS = {
    "savedmodel": ("model_savedmodel", load_savedmodel),
    "onnx": ("model.onnx", load_onnx),
    "litert": ("model.tflite", load_litert),
    "openvino": ("model.xml", load_openvino),
}


@pytest.mark.parametrize("name", LOADERS)
def test_an_export_loaded_back_predicts_what_keras_does(name, saved, tmp_path, capsys):
    file, load = LOADERS[name]
    out = tmp_path / file
    code, stdout, err = kdsl(["export", saved, "--format", name, "-o", out], capsys)
    if name == "openvino" and importlib.util.find_spec("openvino") is None:
        assert code == 1
        assert "--format openvino needs openvino, which is not installed" in err
        assert "pip install 'kdsl[openvino]'" in err
        assert not out.exists()
        return
    assert code == 0, err
    assert f"as {name} to {out}" in stdout
    np.testing.assert_allclose(load(out), expected(saved), rtol=1e-5, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if "kdsl-tmp" in p.name]


def test_export_replaces_a_previous_savedmodel_whole(saved, tmp_path, capsys):
    out = tmp_path / "model_savedmodel"
    out.mkdir()
    (out / "stale.txt").write_text("from an older export\n")
    code, _, err = kdsl(["export", saved, "--format", "savedmodel", "-o", out], capsys)
    assert code == 0, err
    assert not (out / "stale.txt").exists() and (out / "saved_model.pb").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model_savedmodel"]


def test_the_default_output_is_beside_the_model(saved, capsys):
    code, out, err = kdsl(["export", saved, "--format", "litert"], capsys)
    assert code == 0, err
    assert saved.with_suffix(".tflite").exists()


def test_a_failed_export_leaves_the_previous_file_untouched(tmp_path, capsys):
    """A model the format cannot express: ONNX has no text input."""
    text = keras.Sequential(
        [keras.Input((1,), dtype="string"), keras.layers.StringLookup(vocabulary=["a", "b"])]
    )
    model = tmp_path / "text.keras"
    text.save(model)
    out = tmp_path / "text.onnx"
    out.write_bytes(b"the previous export\n")
    code, _, err = kdsl(["export", model, "--format", "onnx", "-o", out], capsys)
    assert code == 1, err
    assert "Keras could not export the model as onnx" in err and "Traceback" not in err
    assert out.read_bytes() == b"the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.keras", "text.onnx"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "onnx", "-o", "{tmp}/model.tflite"], "--format onnx writes a .onnx file"),
        (["--format", "litert", "-o", "{tmp}/no/such/m.tflite"], "there is no folder"),
        (["--format", "savedmodel", "-o", "{model}"], "is a file, but a SavedModel is a folder"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_first(args, expected, saved, tmp_path, capsys):
    filled = [a.format(tmp=tmp_path, model=saved) for a in args]
    code, _, err = kdsl(["export", saved, *filled], capsys)
    assert code == 1 and expected in err


def test_a_file_that_is_not_a_model_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip\n")
    code, _, err = kdsl(["export", bad, "--format", "onnx"], capsys)
    assert code == 1 and "is not a Keras model file" in err


@pytest.mark.slow
def test_run_exports_after_training_beside_the_saved_model(tmp_path, capsys):
    saved = tmp_path / "iris.keras"
    code, out, err = kdsl(
        [
            "run", ROOT / "examples" / "iris.k", "--epochs", "1", "--standardize",
            "--save", saved, "--export", "onnx", "--export", "savedmodel",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"exported the model as onnx to {tmp_path / 'iris.onnx'}" in out
    rows = np.random.default_rng(1).random((4, 4), dtype=np.float32) * 5
    want = np.asarray(keras.models.load_model(saved).predict(rows, verbose=0))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "iris.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: rows})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # standardized inside, too
    import tensorflow as tf

    loaded = tf.saved_model.load(str(tmp_path / "iris_savedmodel"))
    np.testing.assert_allclose(np.asarray(loaded.serve(rows)), want, rtol=1e-5, atol=1e-6)
