"""`kdsl run` on data that the model's layers constrain, with real Keras in one process:
token ids and embeddings, integer inputs, `None` dimensions, preprocessing layers that
learn from the data (`adapt()`), and data files that break while training.

Each bad case ended in a TensorFlow traceback and exit 70 before; it is one message and
exit 1 now, before any training.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from conftest import kdsl_main as kdsl

from kdsl.train import data
from kdsl.train import runner as runner_module
from kdsl.train.runner import import_keras

keras = import_keras()

pytestmark = pytest.mark.usefixtures("plain_output")

SEQUENCE = (
    "input 6 dtype=int32 -> embedding 10 4 -> flatten -> dense 1 sigmoid; adam; "
    "binary_crossentropy\n"
)


def program(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.k"
    path.write_text(text)
    return path


def ids(rows: int = 40, high: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (rows, 6)).astype("int32")


def refused(args: list, capsys) -> str:
    code, out, err = kdsl(["run", *args, "--epochs", "1"], capsys)
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert "Epoch" not in out
    assert len(err.strip().splitlines()) <= 2
    return err.splitlines()[0]


# -- token ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x_train", "x_val", "x_test"])
@pytest.mark.parametrize("bad", [10, -1], ids=["too-large", "negative"])
def test_token_ids_outside_the_embedding(key: str, bad: int, tmp_path: Path, capsys) -> None:
    arrays = {f"{x}_{part}": None for part in ("train", "val", "test") for x in "xy"}
    for part in ("train", "val", "test"):
        arrays[f"x_{part}"], arrays[f"y_{part}"] = ids(seed=len(part)), np.zeros(40)
    arrays[key][-1, -1] = bad
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    line = refused([program(tmp_path, SEQUENCE), "--data", path], capsys)
    assert line.startswith(f"{path}: error: `{key}` holds ")
    assert line.endswith("but the first layer `embedding` takes ids 0..9 (input_dim=10)")


def test_token_ids_of_a_folder_are_checked_block_by_block(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(data, "BLOCK_BYTES", 256)  # many blocks; the bad id is in the last
    folder = tmp_path / "d"
    folder.mkdir()
    x = ids(400)
    x[-1, 0] = 12
    np.save(folder / "x_train.npy", x)
    np.save(folder / "y_train.npy", np.zeros(400, "float32"))
    line = refused([program(tmp_path, SEQUENCE), "--data", folder], capsys)
    assert line == (
        f"{folder}: error: `x_train.npy` holds ids up to 12, but the first layer `embedding` "
        "takes ids 0..9 (input_dim=10)"
    )


def test_fractional_floats_for_token_ids(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=ids() + 0.5, y_train=np.zeros(40))
    line = refused([program(tmp_path, SEQUENCE), "--data", path], capsys)
    assert "`x_train` holds fractional values (such as " in line
    assert line.endswith("but the model's input is int32: Keras would cut them to whole numbers")


@pytest.mark.slow
def test_whole_floats_for_token_ids_train_with_a_note(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=ids().astype("float32"), y_train=np.zeros(40))
    code, out, err = kdsl(
        ["run", program(tmp_path, SEQUENCE), "--data", path, "--epochs", "1"], capsys
    )
    assert code == 0, err
    assert (
        "note: `x_train` holds float32 values, all whole numbers: Keras converts them to the "
        "model's int32 input"
    ) in out.splitlines()


# -- None dimensions --------------------------------------------------------------------------


@pytest.mark.slow
def test_labels_of_a_sequence_of_any_length_train(tmp_path: Path, capsys) -> None:
    """The issue's model: its outputs are (None, 2), so labels (5, 2) per row fit."""
    text = "input (None, 1) -> gru 4 return_sequences=true -> timedistributed dense 2; adam; mse\n"
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.normal(size=(8, 5, 1)), y_train=rng.normal(size=(8, 5, 2)))
    code, out, err = kdsl(["run", program(tmp_path, text), "--data", path, "--epochs", "2"], capsys)
    assert code == 0, err
    assert "Done: 2 epochs" in out


# -- preprocessing layers that learn from the data ----------------------------------------------


def numbers(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (200, 4)).astype("float32")
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x, y_train=(x[:, 0] > 5).astype("float32"))
    return path, x


def trained(tmp_path: Path, text: str, data_path: Path, capsys) -> tuple[object, str]:
    saved = tmp_path / "m.keras"
    args = ["run", program(tmp_path, text), "--data", data_path, "--epochs", "2", "--save", saved]
    code, out, err = kdsl(args, capsys)
    assert code == 0, err
    return keras.models.load_model(saved), out


@pytest.mark.slow
def test_a_first_normalization_is_adapted_to_the_training_rows(tmp_path: Path, capsys) -> None:
    path, x = numbers(tmp_path)
    text = "normalization in 4 -> dense 1 sigmoid; adam; binary_crossentropy\n"
    model, out = trained(tmp_path, text, path, capsys)
    assert (
        "note: adapted the first layer `normalization` to the training rows (mean and "
        "variance), as Keras's adapt() does"
    ) in out.splitlines()
    layer = model.layers[0]
    np.testing.assert_allclose(np.ravel(layer.mean), x.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.ravel(layer.variance), x.var(axis=0), rtol=1e-3)


@pytest.mark.slow
def test_a_first_discretization_is_adapted(tmp_path: Path, capsys) -> None:
    path, _ = numbers(tmp_path)
    text = (
        "discretization num_bins=4 in 4 -> embedding 4 2 -> flatten -> dense 1 sigmoid; "
        "adam; binary_crossentropy\n"
    )
    model, out = trained(tmp_path, text, path, capsys)
    assert "note: adapted the first layer `discretization` to the training rows (4 bins)" in out
    assert len(model.layers[0].bin_boundaries) == 3


@pytest.mark.slow
def test_a_first_integerlookup_is_adapted_on_a_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    tokens = np.random.default_rng(0).choice([3, 17, 42, 99, 1000], (100, 1)).astype("int32")
    np.save(folder / "x_train.npy", tokens)
    np.save(folder / "y_train.npy", (tokens[:, 0] > 20).astype("float32"))
    text = (
        "input 1 dtype=int32 -> integerlookup -> embedding 6 4 -> flatten -> dense 1 sigmoid; "
        "adam; binary_crossentropy\n"
    )
    model, out = trained(tmp_path, text, folder, capsys)
    assert "(a vocabulary of 5 values)" in out
    assert sorted(model.layers[0].get_vocabulary(include_special_tokens=False)) == [
        3,
        17,
        42,
        99,
        1000,
    ]


def test_a_vocabulary_larger_than_the_embedding_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.npz"
    tokens = np.arange(40).reshape(40, 1).astype("int32")
    np.savez(path, x_train=tokens, y_train=np.zeros(40))
    text = (
        "input 1 dtype=int32 -> integerlookup -> embedding 10 4 -> flatten -> dense 1; adam; mse\n"
    )
    line = refused([program(tmp_path, text), "--data", path], capsys)
    assert line == (
        f"{path}: error: `integerlookup` learned 41 ids (0..40) from `x_train`, but the next "
        "layer `embedding` takes ids 0..9 (input_dim=10)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dense 4 in 4 -> normalization -> dense 1 sigmoid; adam; binary_crossentropy",
            "`normalization` (layer 2) has no mean and variance, which Keras learns with adapt() "
            "from the data the layer sees: kdsl adapts only a first layer, which sees the "
            "training rows as they are",
        ),
        (
            "dense 4 in 4 -> discretization num_bins=3 -> embedding 3 2 -> flatten -> dense 1; "
            "adam; mse",
            "`discretization` (layer 2) has no bin boundaries, which Keras learns with adapt() ",
        ),
        (
            "input 4 dtype=int32 -> dense 4 -> integerlookup -> embedding 3 2 -> flatten -> "
            "dense 1; adam; mse",
            "`integerlookup` (layer 2) has no vocabulary, which Keras learns with adapt() ",
        ),
        (
            "input 4 dtype=int32 -> stringlookup -> embedding 3 2 -> flatten -> dense 1; adam; mse",
            "`stringlookup` (layer 1) has no vocabulary, and kdsl trains on numeric arrays only",
        ),
    ],
    ids=["normalization", "discretization", "integerlookup", "stringlookup"],
)
def test_a_layer_that_cannot_be_adapted_is_refused(
    text: str, message: str, tmp_path: Path, capsys
) -> None:
    model = program(tmp_path, text + "\n")
    path, _ = numbers(tmp_path)
    line = refused([model, "--data", path], capsys)
    assert line.startswith(f"{model}: error: {message}")


# -- data files that break while training -------------------------------------------------------


def test_a_folder_file_cut_short_after_the_checks(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    x, _ = numbers(tmp_path)[1], None
    np.save(folder / "x_train.npy", x)
    np.save(folder / "y_train.npy", (x[:, 0] > 5).astype("float32"))
    split = runner_module.split

    def cut_then_split(*args, **kwargs):  # runs after the checks, before training
        file = folder / "x_train.npy"
        file.write_bytes(file.read_bytes()[:1000])
        return split(*args, **kwargs)

    monkeypatch.setattr(runner_module, "split", cut_then_split)
    text = "dense 1 sigmoid in 4; adam; binary_crossentropy\n"
    line = refused([program(tmp_path, text), "--data", folder], capsys)
    assert line.startswith(f"{folder / 'x_train.npy'}: error: is now 1000 bytes, shorter than")
    assert line.endswith("it changed while kdsl was reading it")


def test_a_corrupt_npz_member(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.npz"
    rows = np.random.default_rng(0).normal(size=(2000, 4)).astype("float32")
    np.savez_compressed(path, x_train=rows, y_train=np.zeros(2000))
    content = bytearray(path.read_bytes())
    content[5000:5100] = bytes(100)
    path.write_bytes(bytes(content))
    text = "dense 1 sigmoid in 4; adam; binary_crossentropy\n"
    line = refused([program(tmp_path, text), "--data", path], capsys)
    assert line.startswith(f"{path}: error: array `x_train` cannot be read: ")


# -- the standalone script -------------------------------------------------------------------------


@pytest.mark.parametrize("folder_data", [False, True], ids=["plain", "folder-data"])
def test_the_script_given_a_csv_says_what_it_reads(folder_data: bool, tmp_path: Path) -> None:
    from kdsl import compile_source
    from kdsl.train.runner import load_script

    code = compile_source("dense 1 in 4; adam; mse\n", folder_data=folder_data)
    script = load_script(code, "model.py")
    for data_path in (ROOT / "examples" / "iris.csv", tmp_path / "missing.npz"):
        with pytest.raises(SystemExit) as stop:
            script["load_data"](str(data_path))
        message = str(stop.value)
        assert message.startswith(f"{data_path}: cannot read it as an .npz file. ")
        assert message.endswith("`kdsl run` also reads .csv files.")
        assert "folders of .npy files when compiled with --folder-data" in message


LOOKUP = "input 1 dtype=int32 -> integerlookup -> embedding 10 2 -> flatten -> dense 1; adam; mse"


def runs_tensorflow_code(origin: object, layer: str = "`integerlookup` (layer 1)") -> list[str]:
    return [
        f"{origin}: error: {layer} runs TensorFlow code, which Keras cannot "
        "compile into a model on jax",
        "  hint: train it with --backend tensorflow",
    ]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_a_lookup_on_another_backend_is_refused(tmp_path: Path) -> None:
    """IntegerLookup runs TensorFlow code: on JAX, fit failed with exit 70 after adapting.
    Refused before Keras starts: the command never imports it."""
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.arange(8).reshape(8, 1).astype("int32"), y_train=np.zeros(8))
    model = program(tmp_path, LOOKUP + "\n")
    probe = (
        "import sys\nfrom kdsl.tools.cli import main\ncode = main(sys.argv[1:])\n"
        "assert 'keras' not in sys.modules and 'jax' not in sys.modules\nsys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "run", str(model), "--data", str(path), "--backend", "jax"],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-2:] == runs_tensorflow_code(model)


def test_the_built_model_is_checked_where_keras_chose_the_backend() -> None:
    """Keras's default backend (none asked for) is known once Keras is imported: the
    built model's layers are checked then, with the same message."""
    from kdsl import check_source, compile_source
    from kdsl.errors import ModelError
    from kdsl.train.preprocessing import check_adaptable, check_backend_runs_layers

    checked = check_source(LOOKUP)
    check_backend_runs_layers("m.k", checked, None)  # not known yet: left to the next
    built = runner_module.build_model(compile_source(LOOKUP))
    with pytest.raises(ModelError) as refused:
        check_adaptable("m.k", built, ["lookup"], "jax")
    assert refused.value.render().splitlines() == runs_tensorflow_code("m.k", "`lookup` (layer 1)")
