"""`kdsl run` and `kdsl predict` end to end with real Keras, in one process.

The command's own `main()` runs here in-process (TensorFlow is imported once for the
module); only what needs a real process (Ctrl-C, the console script) is in test_cli.py.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from conftest import kdsl_main as kdsl

from kdsl import compile_source
from kdsl.train.data import load
from kdsl.train.plot import figure_size
from kdsl.train.runner import import_keras, load_script
from kdsl.train.split import split

keras = import_keras()

IRIS = str(ROOT / "examples" / "iris.k")
IRIS_NPZ = str(ROOT / "examples" / "iris.npz")
IRIS_CSV = str(ROOT / "examples" / "iris.csv")


pytestmark = pytest.mark.usefixtures("plain_output")


# -- bad data: one clear error before any training, nothing written -----------------------


def iris_arrays() -> dict:
    with np.load(IRIS_NPZ) as npz:
        return {key: npz[key] for key in npz.files}


def npz(**arrays):
    def make(path: Path) -> Path:
        path = path.with_suffix(".npz")
        np.savez(path, **arrays)
        return path

    return make


def text(content: str, suffix: str = ".csv"):
    def make(path: Path) -> Path:
        path = path.with_suffix(suffix)
        path.write_text(content)
        return path

    return make


def truncated(path: Path) -> Path:
    path = npz(**iris_arrays())(path)
    path.write_bytes(path.read_bytes()[:300])
    return path


def missing(path: Path) -> Path:
    return path.with_suffix(".npz")


X, Y = iris_arrays()["x_train"], iris_arrays()["y_train"]
IDS = Y.argmax(axis=1)
NAN_X = X.copy()
NAN_X[3, 2] = np.nan
INF_Y = Y.copy()
INF_Y[7, 0] = np.inf

BAD_DATA = {
    "missing-file": (missing, "no such file", []),
    "not-npz": (
        text("hello\n", ".npz"),
        "is not an .npz file (not a zip archive, or truncated)",
        [],
    ),
    "truncated": (truncated, "is not an .npz file (not a zip archive, or truncated)", []),
    "no-x": (
        npz(features=X, labels=Y),
        "needs arrays `x_train` and `y_train` (or `x` and `y`); found: features, labels",
        [],
    ),
    "pickled": (
        npz(x_train=X, y_train=np.array([{"label": 1}] * len(X), dtype=object)),
        "array `y_train` holds Python objects (a pickle), which kdsl refuses to load: "
        "unpickling can run arbitrary code",
        [],
    ),
    "row-counts": (
        npz(x_train=X, y_train=Y[:-5]),
        "`x_train` has 105 rows but `y_train` has 100",
        [],
    ),
    "empty": (
        npz(x_train=np.zeros((0, 4)), y_train=np.zeros((0, 3))),
        "`x_train` is empty (0 rows)",
        [],
    ),
    "feature-shape": (
        npz(x_train=np.zeros((6, 5)), y_train=Y[:6]),
        "model expects rows of shape (4,), `x_train` has rows of shape (5,)",
        [],
    ),
    "too-many-classes": (
        npz(x_train=X[:5], y_train=np.arange(5)),
        "`y_train` holds class ids 0..4, but the model outputs 3 classes (ids 0..2)",
        [],
    ),
    "one-hot-with-sparse": (
        npz(x_train=X, y_train=Y),
        "`y_train` has rows of shape (3,), but sparse_categorical_crossentropy takes one class "
        "id per row",
        ["--sparse"],
    ),
    "label-shape": (
        npz(x_train=X, y_train=np.zeros((len(X), 2))),
        "model outputs rows of shape (3,), `y_train` has labels of shape (2,)",
        [],
    ),
    "non-numeric": (
        npz(x_train=X.astype(str), y_train=Y),
        "`x_train` holds <U32 values, not numbers",
        [],
    ),
    "nan-features": (
        npz(x_train=NAN_X, y_train=Y),
        "`x_train` holds 1 NaN or infinite value(s)",
        [],
    ),
    "inf-labels": (npz(x_train=X, y_train=INF_Y), "`y_train` holds 1 NaN or infinite value(s)", []),
    "csv-ragged": (
        text("a,b,c,d,species\n1,2,3,4,setosa\n1,2,3,setosa\n"),
        "line 3 has 4 fields, but the header has 5",
        [],
    ),
    "csv-missing-target": (
        text("a,b,c,d,species\n1,2,3,4,setosa\n"),
        "has no column `specie`; its columns are: a, b, c, d, species",
        ["--target", "specie"],
    ),
    "csv-non-numeric": (
        text("a,b,c,d,species\n1,2,3,4,setosa\n1,2,three,4,setosa\n"),
        "feature column `c` has a non-numeric value `three` on line 3",
        [],
    ),
    "csv-nan": (
        text("a,b,c,d,species\n1,2,3,4,setosa\n1,NaN,3,4,setosa\n"),
        "feature column `b` holds NaN on line 3",
        [],
    ),
    "csv-class-count": (
        text("a,b,c,d,species\n1,2,3,4,setosa\n1,2,3,4,virginica\n"),
        "column `species` has 2 classes (setosa, virginica), but the model outputs 3",
        [],
    ),
    "csv-feature-count": (
        text("a,b,c,species\n1,2,3,setosa\n1,2,3,virginica\n4,5,6,versicolor\n"),
        "model expects rows of shape (4,), but there are 3 feature columns: a, b, c",
        [],
    ),
}


@pytest.mark.parametrize("case", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_bad_data_is_one_clear_error_before_training(case, tmp_path: Path, capsys) -> None:
    make, message, extra = case
    data = make(tmp_path / "data")
    program = IRIS
    if "--sparse" in extra:
        program = tmp_path / "sparse.k"
        program.write_text("dense 3 softmax in 4; adam; sparse_categorical_crossentropy\n")
        extra = []
    before = set(tmp_path.iterdir())
    outputs = ["--save", tmp_path / "m.keras", "--json", tmp_path / "r.json"]
    code, out, err = kdsl(["run", program, "--data", data, *extra, *outputs], capsys)
    assert code == 1
    assert err.splitlines()[0] == f"{data}: error: {message}"
    assert len(err.strip().splitlines()) <= 2, "one line, and a hint at most"
    assert "Traceback" not in err
    assert "Epoch" not in out
    assert set(tmp_path.iterdir()) == before, "nothing written"


def test_class_ids_are_one_hot_encoded_with_a_note(tmp_path: Path, capsys) -> None:
    data = npz(x_train=X, y_train=IDS)(tmp_path / "ids")
    code, out, _ = kdsl(["run", IRIS, "--data", data, "--epochs", "1"], capsys)
    assert code == 0
    assert (
        "note: `y_train` holds class ids; one-hot encoding them into 3 columns for "
        "categorical_crossentropy"
    ) in out.splitlines()


def test_output_folder_must_exist_before_training(tmp_path: Path, capsys) -> None:
    save = tmp_path / "no" / "m.keras"
    code, out, err = kdsl(["run", IRIS, "--save", save], capsys)
    assert code == 1
    assert err.strip() == f"{save}: error: cannot be written: there is no folder {save.parent}"
    assert "Epoch" not in out


def test_outputs_never_overwrite_the_inputs(tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(Path(IRIS_NPZ).read_bytes())
    code, _, err = kdsl(["run", IRIS, "--data", data, "--json", data], capsys)
    assert code == 1
    assert "is an input of this run: refusing to overwrite it" in err
    assert data.read_bytes() == Path(IRIS_NPZ).read_bytes()


# -- training: reproducible, saved, reported, plotted -------------------------------------


def run_json(args: list, tmp_path: Path, capsys, name: str = "r.json") -> tuple[dict, str]:
    path = tmp_path / name
    code, out, err = kdsl(["run", *args, "--json", path], capsys)
    assert code == 0, err
    return json.loads(path.read_text()), out


@pytest.mark.slow
def test_same_seed_same_history_and_predictions(tmp_path: Path, capsys) -> None:
    args = [IRIS, "--epochs", "4", "--seed", "3"]
    first, _ = run_json(args, tmp_path, capsys, "a.json")
    second, _ = run_json(args, tmp_path, capsys, "b.json")
    other, _ = run_json([IRIS, "--epochs", "4", "--seed", "4"], tmp_path, capsys, "c.json")
    assert first["history"] == second["history"]
    assert first["predictions"] == second["predictions"]
    assert first["evaluation"] == second["evaluation"]
    assert other["history"] != first["history"]


# A small model whose epochs end with a partial batch (105 rows in batches of 20).
WHOLE_EPOCHS = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"


@pytest.mark.slow
@pytest.mark.parametrize("fit", ["", "; fit shuffle=false", "; fit steps_per_epoch=3"])
def test_steps_per_epoch_trains_what_a_plain_fit_does(fit: str) -> None:
    """The script tells `fit` its steps per epoch (Keras then starts reading each epoch
    once, not twice: most of a small model's time on TensorFlow). What is trained must
    not change: the same seed gives the final loss the script's plain `fit` gave before."""
    code = compile_source(WHOLE_EPOCHS + fit + "\n")
    written = "steps_per_epoch=3" in fit
    assert ("steps_per_epoch=math.ceil(" in code) is not written
    script = load_script(code, "iris.py")
    data = iris_arrays()

    def final_loss(train) -> list[float]:
        keras.utils.set_random_seed(3)
        model = script["build_model"]()
        return train(model).history["loss"]

    kwargs = {"batch_size": 20, "epochs": 6, "verbose": 0}
    if "shuffle" in fit:
        kwargs["shuffle"] = False
    if written:
        kwargs["steps_per_epoch"] = 3
    today = final_loss(lambda model: model.fit(data["x_train"], data["y_train"], **kwargs))
    now = final_loss(
        lambda model: script["train_and_evaluate"](model, data, epochs=6, batch_size=20)[0]
    )
    np.testing.assert_allclose(now, today, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_json_report(tmp_path: Path, capsys) -> None:
    report, out = run_json([IRIS, "--epochs", "3"], tmp_path, capsys)
    assert set(report) == {
        "model",
        "seed",
        "backend",
        "epochs_run",
        "interrupted",
        "history",
        "evaluation",
        "evaluated_on",
        "predictions",
        "class_names",
        "seconds",
    }
    assert report["model"] == IRIS
    assert (report["seed"], report["epochs_run"], report["interrupted"]) == (0, 3, False)
    assert report["backend"] == keras.backend.backend()
    assert set(report["history"]) == {"loss", "accuracy"}
    assert all(len(values) == 3 for values in report["history"].values())
    assert set(report["evaluation"]) == {"loss", "accuracy"}
    assert report["evaluated_on"] == "test"
    assert np.shape(report["predictions"]) == (45, 3), "every test row"
    assert report["class_names"] is None
    assert report["seconds"] > 0
    summary = out.strip().splitlines()[-2]
    assert summary.startswith("Done: 3 epochs in ")
    assert summary.endswith(
        f"test data: loss {report['evaluation']['loss']:.4f}, "
        f"accuracy {report['evaluation']['accuracy']:.4f}"
    )


def test_json_report_of_a_diverged_run_is_valid_json(tmp_path: Path, capsys) -> None:
    """NaN losses and predictions become null: JSON has no NaN, and the run's report is kept."""
    model = tmp_path / "diverges.k"
    model.write_text(
        "dense 8 in 4 relu -> dense 3 softmax; sgd learning_rate=1e30; categorical_crossentropy"
    )
    report, out = run_json([model, "--data", IRIS_NPZ, "--epochs", "2"], tmp_path, capsys)
    assert report["history"]["loss"] == [None, None]
    assert report["evaluation"]["loss"] is None
    assert np.shape(report["predictions"]) == (45, 3)
    assert all(value is None for row in report["predictions"] for value in row)
    assert "loss nan" in out


@pytest.mark.slow
def test_iris_csv_with_text_labels_splits_and_callbacks(tmp_path: Path, capsys) -> None:
    """The issue's command, with the held-out splits and both callbacks."""
    args = [IRIS, "--data", IRIS_CSV, "--target", "species", "--epochs", "30"]
    args += ["--test-split", "0.2", "--validation-split", "0.1", "--seed", "2"]
    args += ["--early-stopping", "50", "--reduce-lr-on-plateau", "3"]
    report, out = run_json(args, tmp_path, capsys)
    assert report["class_names"] == ["setosa", "versicolor", "virginica"]
    assert report["evaluated_on"] == "test"
    assert np.shape(report["predictions"]) == (30, 3)
    assert {"val_loss", "val_accuracy", "learning_rate"} <= set(report["history"])
    lines = out.splitlines()
    assert "note: split 150 rows into 105 training, 15 validation, 30 test " in out
    assert "note: column `species` holds class names, numbered in sorted order (setosa=0, " in out
    summary = next(line for line in lines if line.startswith("Done: "))
    assert summary.startswith("Done: 30 epochs in ")
    assert "; best val_accuracy " in summary and "; test data: loss " in summary


@pytest.mark.slow
def test_early_stopping_from_the_command_line(tmp_path: Path, capsys) -> None:
    program = tmp_path / "frozen.k"  # a learning rate of 0: the loss never improves
    program.write_text("dense 3 softmax in 4; sgd 0.0; categorical_crossentropy\n")
    args = [program, "--data", IRIS_NPZ, "--epochs", "50", "--early-stopping", "2"]
    report, out = run_json(args, tmp_path, capsys)
    assert report["epochs_run"] == 3
    assert "Done: 3 of 50 epochs (stopped early) in " in out


@pytest.mark.slow
def test_saved_model_reloads_and_predicts_the_same(tmp_path: Path, capsys) -> None:
    saved = tmp_path / "iris.keras"
    args = [IRIS, "--data", IRIS_CSV, "--test-split", "0.2", "--epochs", "3"]
    report, out = run_json([*args, "--save", saved], tmp_path, capsys)
    assert f"kdsl: saved the model to {saved}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.keras", "r.json"]
    reloaded = keras.models.load_model(saved)
    arrays = load(IRIS_CSV).arrays
    split(IRIS_CSV, arrays, "categorical_crossentropy", test=0.2, seed=0)
    predicted = reloaded.predict(arrays["x_test"], verbose=0)
    np.testing.assert_allclose(predicted, report["predictions"], rtol=1e-6, atol=1e-7)

    # `kdsl predict` on the same rows: class names from the saved model.
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=arrays["x_test"])
    code, out, err = kdsl(["predict", saved, rows], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["row", "prediction", "probability"]
    names = ["setosa", "versicolor", "virginica"]
    expected = [names[i] for i in np.argmax(report["predictions"], axis=1)]
    assert [line.split()[1] for line in lines[1:]] == expected

    preds = tmp_path / "preds.csv"
    code, out, _ = kdsl(["predict", saved, IRIS_CSV, "-o", preds], capsys)
    assert code == 0
    assert out.strip() == f"kdsl: wrote 150 predictions to {preds}"
    csv_lines = preds.read_text().splitlines()
    assert csv_lines[0] == "prediction,p_setosa,p_versicolor,p_virginica"
    assert len(csv_lines) == 151

    npy = tmp_path / "preds.npy"
    assert kdsl(["predict", saved, IRIS_CSV, "-o", npy], capsys)[0] == 0
    x_all = load(IRIS_CSV).arrays["x_train"]
    np.testing.assert_allclose(np.load(npy), reloaded.predict(x_all, verbose=0), rtol=1e-6)


@pytest.mark.slow
def test_plot_is_a_png_of_the_expected_size(tmp_path: Path, capsys) -> None:
    plot = tmp_path / "curves.png"
    code, out, err = kdsl(["run", IRIS, "--epochs", "3", "--plot", plot], capsys)
    assert code == 0, err
    assert f"kdsl: drew the training curves in {plot}" in out
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == figure_size(2) == (900, 350)  # loss and accuracy


def test_plot_with_validation_every_other_epoch(tmp_path: Path, capsys) -> None:
    """`validation_freq=2` records half as many validation figures as epochs."""
    model = tmp_path / "model.k"
    model.write_text(
        "dense 8 in 4 relu -> dense 3 softmax; adam; categorical_crossentropy;"
        " fit epochs=4 validation_split=0.2 validation_freq=2"
    )
    plot = tmp_path / "curves.png"
    code, out, err = kdsl(["run", model, "--data", IRIS_NPZ, "--plot", plot], capsys)
    assert code == 0, err
    assert "at epoch 2;" in out or "at epoch 4;" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- predict: bad inputs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_iris(tmp_path_factory) -> Path:
    """The tutorial's model, untrained, saved as `kdsl run --save` does after a CSV run."""
    from kdsl import compile_source
    from kdsl.train.saved import save_model

    namespace: dict = {"__name__": "iris"}
    exec(compile_source(Path(IRIS).read_text()), namespace)
    path = tmp_path_factory.mktemp("saved") / "iris.keras"
    metadata = {
        "loss": "categorical_crossentropy",
        "class_names": ["setosa", "versicolor", "virginica"],
        "feature_names": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        "target": "species",
    }
    save_model(namespace["build_model"](), path, metadata)
    return path


def test_predict_picks_the_feature_columns_by_name(saved_iris: Path, tmp_path, capsys) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n")
    code, out, err = kdsl(["predict", saved_iris, rows], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 2
    rows.write_text("petal_width,petal_length,sepal_width\n0.2,1.4,3.5\n")
    code, _, err = kdsl(["predict", saved_iris, rows], capsys)
    assert code == 1
    assert err.splitlines()[0] == (
        f"{rows}: error: has no column `sepal_length`, which the model was trained on"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            npz(a=X, b=X),
            "has no array to predict on: expected `x_test`, `x` or `x_train`; found: a, b",
        ),
        (
            npz(x_test=np.zeros((3, 5))),
            "model expects rows of shape (4,), `x_test` has rows of shape (5,)",
        ),
        (npz(x=np.zeros((0, 4))), "`x` is empty (0 rows)"),
        (text("a\n1\n", ".txt"), "is not an .npz, .npy or .csv file"),
    ],
    ids=["no-known-key", "shape", "empty", "other-file"],
)
def test_predict_bad_data(saved_iris: Path, tmp_path: Path, make, message: str, capsys) -> None:
    data = make(tmp_path / "rows")
    code, out, err = kdsl(["predict", saved_iris, data], capsys)
    assert code == 1
    assert err.splitlines()[0] == f"{data}: error: {message}"
    assert out == ""


def test_predict_refuses_pickled_npy(saved_iris: Path, tmp_path: Path, capsys) -> None:
    rows = tmp_path / "rows.npy"
    np.save(rows, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = kdsl(["predict", saved_iris, rows], capsys)
    assert code == 1
    assert "holds Python objects (a pickle), which kdsl refuses to load" in err


def test_predict_picks_x_test_then_x(saved_iris: Path, tmp_path: Path, capsys) -> None:
    rows = npz(x_train=X[:2], x=X[:3], x_test=X[:4])(tmp_path / "rows")
    assert len(kdsl(["predict", saved_iris, rows], capsys)[1].splitlines()) == 1 + 4
    rows = npz(x_train=X[:2], x=X[:3])(tmp_path / "rows2")
    assert len(kdsl(["predict", saved_iris, rows], capsys)[1].splitlines()) == 1 + 3


def test_predict_refuses_a_model_that_would_run_code(tmp_path: Path, capsys) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    code, _, err = kdsl(["predict", path, IRIS_NPZ], capsys)
    assert code == 1
    assert err.splitlines()[0] == (
        f"{path}: error: holds a Lambda layer with Python code, which kdsl refuses to load: "
        "loading it would run that code"
    )


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.array([[1, 2, 12]]),
            "`x` holds ids up to 12, but the first layer `embedding` takes ids 0..9 (input_dim=10)",
        ),
        (np.array([[1, -2, 3]]), "`x` holds a negative id (-2), but the first layer"),
        (np.array([[1.5, 2, 3]]), "`x` holds fractional values (such as 1.5)"),
    ],
    ids=["too-large", "negative", "fractional"],
)
def test_predict_checks_token_ids(tmp_path: Path, capsys, x: np.ndarray, message: str) -> None:
    """What `kdsl run` refuses before training, `kdsl predict` refuses before predicting
    (an id past the embedding's table ended in the backend's trace, exit 70)."""
    model = keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(10, 2, name="embedding"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    path = tmp_path / "ids.keras"
    model.save(path)
    data = tmp_path / "ids.npz"
    np.savez(data, x=x)
    code, _, err = kdsl(["predict", path, data], capsys)
    assert code == 1, err
    assert err.splitlines()[0].startswith(f"{data}: error: {message}"), err
    np.savez(data, x=np.array([[1, 2, 9]]))
    code, out, err = kdsl(["predict", path, data], capsys)
    assert code == 0, err


def test_predict_a_file_that_is_not_a_model(tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.keras"
    path.write_text("not a model")
    code, _, err = kdsl(["predict", path, IRIS_NPZ], capsys)
    assert code == 1
    assert err.splitlines()[0] == f"{path}: error: is not a Keras model file (.keras)"


@pytest.mark.slow
def test_standardize_learns_raw_iris_and_predict_scales_alike(tmp_path: Path, capsys) -> None:
    """Raw, unscaled CSV features: with --standardize the tutorial's model learns them
    (default seed), and the saved model scales raw rows itself, for `kdsl predict` and for
    plain Keras alike (tests/test_saved.py checks the figures agree on every backend)."""
    saved = tmp_path / "iris.keras"
    args = [IRIS, "--data", IRIS_CSV, "--target", "species", "--test-split", "0.2"]
    args += ["--standardize", "--save", str(saved)]
    report, out = run_json(args, tmp_path, capsys)
    assert "note: standardized 4 features with the training rows' mean" in out
    assert report["evaluation"]["accuracy"] >= 0.85

    preds = tmp_path / "preds.npy"
    code, _, err = kdsl(["predict", str(saved), IRIS_CSV, "-o", str(preds)], capsys)
    assert code == 0, err
    arrays = load(IRIS_CSV, "species").arrays  # every row, with class ids
    model = keras.models.load_model(saved)
    assert model.layers[0].name == "standardize"
    raw = arrays["x_train"].astype("float32")
    assert np.allclose(np.load(preds), model.predict(raw, verbose=0), rtol=1e-6, atol=1e-6)
    assert (np.load(preds).argmax(axis=1) == arrays["y_train"]).mean() >= 0.85


def test_standardize_refuses_token_ids(tmp_path: Path, capsys) -> None:
    code, _, err = kdsl(["run", str(ROOT / "examples" / "sequence.k"), "--standardize"], capsys)
    assert code == 1
    assert "--standardize would turn the model's int32 inputs (token ids) into fractions" in err


def test_best_validation_counts_epochs_with_validation_freq() -> None:
    from kdsl.train.runner import best_validation

    history = {"loss": [3.0, 2.0, 1.0, 0.5], "val_loss": [0.9, 0.4], "val_accuracy": [0.5, 0.8]}
    assert best_validation(history) == ("val_accuracy", 0.8, 2)
    assert best_validation(history, every=2) == ("val_accuracy", 0.8, 4)
    assert best_validation({"loss": [1.0]}) is None
