"""`kdsl run` on v2 models with real Keras: several inputs and outputs read their arrays
by name (`x_train.title`, `y_train.priority`), are checked before training, and train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import kdsl_main as kdsl

from kdsl.train.runner import import_keras

keras = import_keras()
pytestmark = pytest.mark.usefixtures("plain_output")

TWO_BY_TWO = """\
title: input 6 dtype=int32 -> embedding 50 8 -> t: gap1d;
tags: input 4 -> dense 8 relu -> concatenate @t -> dense 16 relu
  -> [priority: dense 1 sigmoid | department: dense 3 softmax];
outputs @priority @department;
adam;
loss @priority binary_crossentropy weight=1.0;
loss @department sparse_categorical_crossentropy weight=0.2;
fit epochs=1 batch_size=16
"""


def _arrays(rows: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train.title": rng.integers(0, 50, (rows, 6)).astype("int32"),
        "x_train.tags": rng.normal(size=(rows, 4)).astype("float32"),
        "y_train.priority": rng.integers(0, 2, (rows, 1)).astype("float32"),
        "y_train.department": rng.integers(0, 3, (rows,)),
    }


def _files(tmp_path: Path, program: str, arrays: dict) -> tuple[str, str]:
    source = tmp_path / "model.k"
    source.write_text(program)
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    return str(source), str(data)


def test_two_inputs_two_outputs_train_with_named_arrays(tmp_path: Path, capsys) -> None:
    source, data = _files(tmp_path, TWO_BY_TWO, _arrays())
    out_json = tmp_path / "run.json"
    code, out, err = kdsl(["run", source, "--data", data, "--json", str(out_json)], capsys)
    assert code == 0, err
    import json

    history = json.loads(out_json.read_text())["history"]
    assert {"priority_loss", "department_loss", "loss"} <= set(history)


def test_a_validation_split_moves_every_named_array(tmp_path: Path, capsys) -> None:
    source, data = _files(tmp_path, TWO_BY_TWO, _arrays(80))
    code, out, err = kdsl(["run", source, "--data", data, "--validation-split", "0.25"], capsys)
    assert code == 0, err
    assert "60 training, 20 validation" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("x_train.tags"), "needs an array `x_train.tags` for the model's input"),
        (lambda a: a.pop("y_train.department"), "output `department`"),
        (
            lambda a: a.__setitem__("x_train.extra", a["x_train.tags"]),
            "the model has no input named `extra`",
        ),
        (
            lambda a: a.__setitem__("x_train.tags", a["x_train.tags"][:10]),
            "the train arrays differ in rows",
        ),
        (
            lambda a: a.__setitem__("x_train.tags", a["x_train.tags"][:, :3]),
            "`x_train.tags` has rows of shape (3,)",
        ),
        (
            lambda a: a.__setitem__("y_train.department", a["y_train.department"] + 5),
            "y_train.department",
        ),
    ],
)
def test_named_arrays_are_checked_before_training(tmp_path: Path, capsys, change, message) -> None:
    arrays = _arrays()
    change(arrays)
    source, data = _files(tmp_path, TWO_BY_TWO, arrays)
    code, out, err = kdsl(["run", source, "--data", data], capsys)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_a_residual_model_trains(tmp_path: Path, capsys) -> None:
    program = (
        "input 8 -> dense 16 relu -> [identity | dense 16 relu -> dense 16] -> add "
        "-> dense 3 softmax; adam; sparse_categorical_crossentropy; fit epochs=1"
    )
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.normal(size=(32, 8)), "y_train": rng.integers(0, 3, 32)}
    source, data = _files(tmp_path, program, arrays)
    code, out, err = kdsl(["run", source, "--data", data], capsys)
    assert code == 0, err
