"""`kdsl tune`'s data (issue 16): the very checks and splits of `kdsl run`, several
inputs and outputs read by name, and folders of images or texts, with real Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import kdsl_main

from kdsl import check_source
from kdsl.errors import SourceError

pytestmark = pytest.mark.usefixtures("plain_output")

# One program with a search space and the same program with its values written: `tune`
# must refuse what `run` refuses, with the same message, before any trial.
SEARCHED = (
    "dense choice(8, 16) relu in 4 -> dense 3 softmax;\n"
    "adam; sparse_categorical_crossentropy; metrics accuracy;\n"
    "fit epochs=1 batch_size=16 {fit};\n"
    "tune max_trials=1 objective=accuracy\n"
)
PLAIN = "dense 8 relu in 4 -> dense 3 softmax;\nadam; sparse_categorical_crossentropy;\n" + (
    "metrics accuracy;\nfit epochs=1 batch_size=16 {fit}\n"
)


def _rows(rows: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(rows, 4)).astype("float32"),
        "y_train": rng.integers(0, 3, rows),
    }


@pytest.mark.parametrize(
    ("change", "fit", "message"),
    [
        (lambda a: a.pop("y_train"), "", "y_train"),
        (lambda a: a.__setitem__("x_train", a["x_train"][:, :3]), "", "x_train"),
        (lambda a: a.__setitem__("y_train", a["y_train"] + 5), "", "y_train"),
        (lambda a: None, "sample_weight=true", "sample_weight"),  # run's own fit checks
        (lambda a: a.__setitem__("x_val", a["x_train"]), "", "y_val"),
    ],
    ids=["no-labels", "bad-shape", "label-range", "sample-weight", "half-pair"],
)
def test_tune_refuses_bad_data_exactly_as_run_does(
    tmp_path: Path, capsys, change, fit: str, message: str
) -> None:
    arrays = _rows()
    change(arrays)
    np.savez(tmp_path / "d.npz", **arrays)
    (tmp_path / "s.k").write_text(SEARCHED.format(fit=fit))
    (tmp_path / "p.k").write_text(PLAIN.format(fit=fit))
    data = str(tmp_path / "d.npz")
    run_code, _, run_err = kdsl_main(["run", tmp_path / "p.k", "--data", data], capsys)
    tune_code, tune_out, tune_err = kdsl_main(
        ["tune", tmp_path / "s.k", "--data", data, "--dir", tmp_path / "t"], capsys
    )
    assert run_code == tune_code == 1, (run_err, tune_err)
    assert message in run_err
    assert tune_err == run_err  # the same check said the same thing
    assert "kdsl: trial" not in tune_out


def test_tune_notes_what_run_notes(tmp_path: Path, capsys) -> None:
    """Run's notes about the data (here an unused `sample_weight` array) come from the
    one shared check, so tune says them too (then stops: no validation data)."""
    np.savez(tmp_path / "d.npz", **_rows(), sample_weight=np.ones(32))
    program = SEARCHED.format(fit="").replace("objective=accuracy", "objective=val_accuracy")
    (tmp_path / "s.k").write_text(program)
    code, out, err = kdsl_main(["tune", tmp_path / "s.k", "--data", tmp_path / "d.npz"], capsys)
    assert code == 1 and "is measured on validation data, and there is none" in err
    assert "warning: the data has a `sample_weight` array, which this program does not use" in out


# -- several inputs and outputs -----------------------------------------------------------

TWO_BY_TWO = """\
title: input 6 dtype=int32 -> embedding 50 choice(4, 8) -> t: gap1d;
tags: input 4 -> dense int(4, 8, step=4) relu -> concatenate @t -> dense 16 relu
  -> [priority: dense 1 sigmoid | department: dense 3 softmax];
outputs @priority @department;
adam;
loss @priority binary_crossentropy weight=1.0;
loss @department sparse_categorical_crossentropy weight=0.2;
metrics @department accuracy;
fit epochs=2 batch_size=16;
tune max_trials=2 objective=val_department_accuracy seed=1
"""


def _named_arrays(rows: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train.title": rng.integers(0, 50, (rows, 6)).astype("int32"),
        "x_train.tags": rng.normal(size=(rows, 4)).astype("float32"),
        "y_train.priority": rng.integers(0, 2, (rows, 1)).astype("float32"),
        "y_train.department": rng.integers(0, 3, (rows,)),
    }


def test_an_objective_names_an_output_and_a_metric_it_logs() -> None:
    check_source(TWO_BY_TWO)
    check_source(TWO_BY_TWO.replace("val_department_accuracy", "val_priority_loss"))
    for wrong in ("val_sales_accuracy", "val_department_auc", "val_sales_loss"):
        with pytest.raises(SourceError) as caught:
            check_source(TWO_BY_TWO.replace("val_department_accuracy", wrong))
        assert f"`fit` does not log `{wrong}`" in caught.value.diagnostics[0].message


def test_tune_checks_each_named_array_before_any_trial(tmp_path: Path, capsys) -> None:
    arrays = _named_arrays()
    arrays.pop("x_train.tags")
    np.savez(tmp_path / "d.npz", **arrays)
    (tmp_path / "m.k").write_text(TWO_BY_TWO)
    code, out, err = kdsl_main(["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz"], capsys)
    assert code == 1
    assert "needs an array `x_train.tags` for the model's input `tags`" in err
    assert "kdsl: trial" not in out


@pytest.mark.slow
def test_tune_searches_two_inputs_and_two_outputs_and_the_best_program_runs(
    tmp_path: Path, capsys
) -> None:
    np.savez(tmp_path / "d.npz", **_named_arrays())
    (tmp_path / "m.k").write_text(TWO_BY_TWO)
    code, out, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz", "--validation-split", "0.25",
         "--json", tmp_path / "t.json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "note: split" in out or "validation" in out
    report = json.loads((tmp_path / "t.json").read_text())
    assert len(report["trials"]) == 2
    # Keras logged the named output's metric on the validation rows: each trial has a score.
    assert all(0 <= trial["score"] <= 1 for trial in report["trials"])
    best = tmp_path / "m.best.k"
    assert check_source(best.read_text()).search is None
    code, out, err = kdsl_main(["compile", best], capsys)
    assert code == 0 and "keras_tuner" not in out
    code, out, err = kdsl_main(
        ["run", best, "--data", tmp_path / "d.npz", "--validation-split", "0.25"], capsys
    )
    assert code == 0, err
    assert "best val_department_accuracy" in out


# -- folders of images and texts ------------------------------------------------------------

IMAGES = (
    "input 16x16x3 -> rescaling 0.00392 -> conv2d choice(4, 8) 3x3 relu -> flatten "
    "-> dense 3 softmax;\nadam; sparse_categorical_crossentropy; metrics accuracy;\n"
    "fit epochs=2 batch_size=choice(4, 8);\ntune max_trials=2 objective=val_accuracy seed=1\n"
)
TEXTS = (
    "input 1 dtype=string -> textvectorization max_tokens=200 output_sequence_length=16\n"
    "  -> embedding 200 choice(4, 8) -> globalaveragepooling1d -> dense 1 sigmoid;\n"
    "adam float(0.01, 0.05, sampling=log); binary_crossentropy; metrics accuracy;\n"
    "fit epochs=2 batch_size=8;\ntune max_trials=2 objective=val_accuracy seed=1\n"
)


def _folder(tmp_path: Path, kind: str) -> Path:
    from folder_data import image_folder, text_folder

    if kind == "images":
        return image_folder(tmp_path / "photos", per_class=6)
    return text_folder(tmp_path / "reviews", per_class=10)


@pytest.mark.parametrize(
    ("kind", "program", "wrong", "message"),
    [
        ("images", IMAGES, ("dense 3 softmax", "dense 4 softmax"), "3 classes"),
        ("texts", TEXTS, ("fit epochs=2", "fit validation_split=0.2 epochs=2"), "validation_spl"),
        ("images", IMAGES, ("sparse_categorical_crossentropy", "mse"), "classif"),
    ],
)
def test_tune_checks_a_folder_as_run_does_before_any_trial(
    tmp_path: Path, capsys, kind: str, program: str, wrong: tuple, message: str
) -> None:
    folder = _folder(tmp_path, kind)
    (tmp_path / "m.k").write_text(program.replace(*wrong))
    args = ["--data", folder, "--validation-split", "0.3", "--dir", tmp_path / "t"]
    code, out, err = kdsl_main(["tune", tmp_path / "m.k", *args], capsys)
    assert code == 1, err
    assert message in err
    assert "kdsl: trial" not in out
    assert "not a folder of .npy files" not in err


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "program"), [("images", IMAGES), ("texts", TEXTS)])
def test_tune_searches_a_folder_and_the_best_program_runs_on_it(
    tmp_path: Path, capsys, kind: str, program: str
) -> None:
    folder = _folder(tmp_path, kind)
    (tmp_path / "m.k").write_text(program)
    code, out, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", folder, "--validation-split", "0.3",
         "--json", tmp_path / "t.json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "kdsl: 3 classes" in out or "kdsl: 2 classes" in out
    # Adapted once before the trials, as `kdsl run` does; each trial's says nothing.
    assert out.count("Adapted") == (kind == "texts")
    report = json.loads((tmp_path / "t.json").read_text())
    assert len(report["trials"]) == 2
    assert all(trial["epochs"] == 2 for trial in report["trials"])
    assert all(0 <= trial["score"] <= 1 for trial in report["trials"])
    best = tmp_path / "m.best.k"
    code, out, err = kdsl_main(["run", best, "--data", folder, "--validation-split", "0.3"], capsys)
    assert code == 0, err
    assert "best val_accuracy" in out


# -- folders of .npy files ----------------------------------------------------------------

NPY = (
    SEARCHED.format(fit="")
    .replace("batch_size=16", "batch_size=choice(8, 16)")
    .replace("max_trials=1 objective=accuracy", "max_trials=2 objective=val_accuracy seed=1")
)


def _npy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "arrays"
    folder.mkdir()
    for part, rows in (("train", _rows(40)), ("val", _rows(16))):
        np.save(folder / f"x_{part}.npy", rows["x_train"])
        np.save(folder / f"y_{part}.npy", rows["y_train"])
    return folder


def test_tune_refuses_what_would_copy_a_npy_folder_into_memory_as_run_does(
    tmp_path: Path, capsys
) -> None:
    folder = _npy_folder(tmp_path)
    (tmp_path / "s.k").write_text(NPY)
    (tmp_path / "p.k").write_text(PLAIN.format(fit=""))
    for option in ("--validation-split", "--test-split"):
        args = ["--data", folder, option, "0.2"]
        run_code, _, run_err = kdsl_main(["run", tmp_path / "p.k", *args], capsys)
        tune_code, _, tune_err = kdsl_main(["tune", tmp_path / "s.k", *args], capsys)
        assert run_code == tune_code == 1
        assert "would copy its rows into memory" in tune_err
        assert tune_err == run_err


@pytest.mark.slow
def test_tune_reads_a_npy_folder_in_batches_and_the_best_program_runs_on_it(
    tmp_path: Path, capsys
) -> None:
    folder = _npy_folder(tmp_path)
    (tmp_path / "m.k").write_text(NPY)
    code, out, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", folder, "--json", tmp_path / "t.json"], capsys
    )
    assert code == 0, err
    report = json.loads((tmp_path / "t.json").read_text())
    assert len(report["trials"]) == 2
    assert all(0 <= trial["score"] <= 1 for trial in report["trials"])
    code, out, err = kdsl_main(["run", tmp_path / "m.best.k", "--data", folder], capsys)
    assert code == 0, err
    assert "best val_accuracy" in out


@pytest.mark.slow
def test_an_objective_keras_never_logs_is_an_error_not_an_empty_search(
    tmp_path: Path, capsys
) -> None:
    """`accuracy` is a metric of `department` only: Keras logs no `priority_accuracy`.
    Every trial then fails in KerasTuner, and tune says why (exit 1), not "no trial
    finished" with exit 0. (A check that refuses it before any trial passes too.)"""
    np.savez(tmp_path / "d.npz", **_named_arrays())
    program = TWO_BY_TWO.replace("val_department_accuracy", "val_priority_accuracy")
    (tmp_path / "m.k").write_text(program)
    code, out, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz", "--validation-split", "0.25"],
        capsys,
    )
    assert code == 1
    assert "val_priority_accuracy" in err
    assert not (tmp_path / "m.best.k").exists()


# The tuner script alone on such data: tests/test_scripts_alone.py.
