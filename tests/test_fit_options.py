"""`fit` options and callbacks that meet the data (issue 14): a `callbacks` section,
`kdsl run --tensorboard DIR`, `class_weight`, `sample_weight`, `metrics none`; checked
statically where the program says enough, and against the data before training."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import kdsl_main as kdsl

import kdsl as api

pytestmark = pytest.mark.usefixtures("plain_output")

RNG = np.random.default_rng(14)
X = RNG.normal(size=(40, 4)).astype("float32")
IDS = (X[:, 0] > 0).astype("int64")  # two classes, both present
REGRESSION = "input 4 -> dense 8 relu -> dense 1; adam; mse; metrics mae"
CLASSIFIER = "input 4 -> dense 2 softmax; adam; sparse_categorical_crossentropy"


def write(tmp_path: Path, program: str, **arrays) -> tuple[Path, Path]:
    source = tmp_path / "model.k"
    source.write_text(program + "\n")
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    return source, data


# -- checked without data -------------------------------------------------------------------


def test_callbacks_render_as_keras_callbacks() -> None:
    script = api.compile_source(
        f"{REGRESSION}; fit validation_split=0.2;"
        " callbacks early_stopping monitor=val_mae min_delta=0.001 mode=min patience=2,"
        ' model_checkpoint "best.keras" save_best_only=true, csv_logger "log.csv",'
        ' tensorboard "logs", reduce_lr_on_plateau factor=0.5 patience=1'
    )
    for expected in (
        'keras.callbacks.EarlyStopping(\n            monitor="val_mae",',
        'keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True)',
        'keras.callbacks.CSVLogger("log.csv")',
        'keras.callbacks.TensorBoard(log_dir="logs")',
        "keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1)",
    ):
        assert expected in script


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("callbacks early_stopping monitor=val_acc", "the model has no metric `acc`"),
        ("callbacks early_stopping monitor=mse", "the model has no metric `mse`"),
        ("callbacks early_stopping mode=lowest", "is auto, min or max"),
        ("callbacks early_stopping patience=fast", "is a number like `0`"),
        ("fit class_weight={0: 1} sample_weight=true", "cannot both be given"),
        ("callbacks early_stop", "did you mean `early_stopping`?"),
        ("callbacks csv_logger", "needs `filename`"),
        ("fit early_stopping=3; callbacks early_stopping", "given twice"),
    ],
)
def test_callback_mistakes_are_errors_before_training(section: str, message: str) -> None:
    errors = [d for d in api.check(f"{REGRESSION}; {section}") if d.severity == "error"]
    assert errors and message in f"{errors[0].message} {errors[0].hint}", errors


def test_monitoring_a_metric_or_the_loss_is_accepted() -> None:
    for monitor in ("loss", "val_loss", "mae", "val_mae"):
        api.check_source(f"{REGRESSION}; callbacks early_stopping monitor={monitor}")
    api.check_source(f"{CLASSIFIER}; callbacks early_stopping monitor=val_accuracy")


def test_metrics_none_overrides_the_default_accuracy() -> None:
    assert api.check_source(CLASSIFIER).metrics  # the tutorial's default
    model = api.check_source(f"{CLASSIFIER}; metrics none")
    assert model.metrics == ()
    assert "metrics=" not in api.compile_source(f"{CLASSIFIER}; metrics none")


def test_class_weight_renders_as_a_dict() -> None:
    script = api.compile_source(f"{CLASSIFIER}; fit class_weight={{0: 1, 1: 10/4}}")
    assert "class_weight={0: 1, 1: 2.5}," in script


def test_sample_weight_option_passes_the_array() -> None:
    script = api.compile_source(f"{CLASSIFIER}; fit sample_weight=true")
    assert 'sample_weight=data["sample_weight"],' in script
    assert "sample_weight" not in api.compile_source(f"{CLASSIFIER}; fit sample_weight=false")


# -- checked against the data, before training ----------------------------------------------

BAD = {
    "no-array": ("fit sample_weight=true", {}, "has no `sample_weight` array"),
    "negative": (
        "fit sample_weight=true",
        {"sample_weight": -np.ones(40)},
        "`sample_weight` row 0 is -1: weights are finite and ≥ 0",
    ),
    "short": (
        "fit sample_weight=true",
        {"sample_weight": np.ones(39)},
        "`sample_weight` has shape (39,), but x_train has 40 rows",
    ),
    "zeros": (
        "fit sample_weight=true",
        {"sample_weight": np.zeros(40)},
        "every `sample_weight` is 0",
    ),
    "nan": (
        "fit sample_weight=true",
        {"sample_weight": np.full(40, np.nan)},
        "`sample_weight` row 0 is nan",
    ),
    "no-validation": (
        "callbacks early_stopping monitor=val_loss",
        {},
        "has no validation data, but `early_stopping` monitors `val_loss`",
    ),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_data_problems_are_one_error_before_training(case, tmp_path: Path, capsys) -> None:
    section, extra, message = case
    source, data = write(tmp_path, f"{CLASSIFIER}; {section}", x_train=X, y_train=IDS, **extra)
    code, out, err = kdsl(["run", source, "--data", data, "--epochs", "1"], capsys)
    assert code == 1, out
    assert err.splitlines()[0].startswith(f"{data}: error: {message}")
    assert "Epoch" not in out and "Traceback" not in err


@pytest.mark.slow
def test_a_class_the_labels_never_have_is_a_warning(tmp_path: Path, capsys) -> None:
    source, data = write(
        tmp_path, f"{CLASSIFIER}; fit class_weight={{0: 1, 1: 2, 7: 3}}", x_train=X, y_train=IDS
    )
    code, out, err = kdsl(["run", source, "--data", data, "--epochs", "1"], capsys)
    assert code == 0, err
    assert "warning: `class_weight` weighs class 7, which the training labels" in out


@pytest.mark.slow
def test_callbacks_weights_and_tensorboard_in_a_real_run(tmp_path: Path, capsys) -> None:
    """One run with the callbacks and sample weights: each callback leaves what Keras
    writes, and the weights reach `fit` (Keras refuses them with class weights)."""
    log, best = tmp_path / "log.csv", tmp_path / "best.keras"
    program = (
        f"{CLASSIFIER}; metrics accuracy; fit epochs=2 validation_split=0.25"
        " sample_weight=true;"
        f' callbacks csv_logger "{log}", model_checkpoint "{best}" monitor=val_accuracy'
        " mode=max, early_stopping monitor=val_loss min_delta=0.0001 patience=5,"
        " reduce_lr_on_plateau monitor=accuracy factor=0.5 patience=1"
    )
    weights = np.linspace(0, 2, 40)
    source, data = write(tmp_path, program, x_train=X, y_train=IDS, sample_weight=weights)
    code, out, err = kdsl(["run", source, "--data", data], capsys)
    assert code == 0, err
    with log.open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and "val_accuracy" in rows[0] and "val_loss" in rows[0]
    assert best.exists()


@pytest.mark.slow
def test_tensorboard_from_the_command_line(tmp_path: Path, capsys) -> None:
    """`--tensorboard DIR` logs the run there; without the TensorBoard package (Keras does
    not install it) it is one clear error before training, not a crash after an epoch."""
    board = tmp_path / "board"
    source, data = write(tmp_path, CLASSIFIER, x_train=X, y_train=IDS)
    code, out, err = kdsl(
        ["run", source, "--data", data, "--epochs", "1", "--tensorboard", board], capsys
    )
    if importlib.util.find_spec("tensorboard") is None:
        assert code == 1 and "Epoch" not in out
        assert err.startswith(
            "kdsl: error: the `tensorboard` callback needs the TensorBoard package"
        )
    else:
        assert code == 0, err
        assert any(board.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("flag", "callback"),
    [("--early-stopping", "early_stopping"), ("--reduce-lr-on-plateau", "reduce_lr_on_plateau")],
)
def test_a_flag_never_doubles_a_callback_of_the_program(
    flag: str, callback: str, tmp_path: Path, capsys
) -> None:
    source, data = write(
        tmp_path, f"{REGRESSION}; callbacks {callback}", x_train=X, y_train=X[:, :1]
    )
    with pytest.raises(SystemExit) as exit_:
        kdsl(["run", source, "--data", data, flag, "3"], capsys)
    assert exit_.value.code == 2
    assert (
        f"{flag}: the program's callbacks section already has this callback"
        in capsys.readouterr().err
    )
