"""Image folders: `kdsl run model.k --data photos/` (one subfolder per class, optionally
under train/ val/ test/), the script's `--image-data`, and `kdsl predict` on image files.

The folders are drawn here with numpy (tests/folder_data.py), never downloaded. The
checks before training run without Keras; the training tests are marked slow. The
standalone script and the example on a folder are tested here for text folders too
(FOLDER_KINDS), one parametrized test each.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import kdsl_main as kdsl
from folder_data import (
    CNN,
    EXAMPLES,
    IMAGE_CLASSES,
    SENTIMENT,
    image_folder,
    png_bytes,
    text_folder,
)

from kdsl import check_source
from kdsl.codegen.render import format_code, render
from kdsl.options import Mode
from kdsl.train.folders import data_kind, scan

pytestmark = pytest.mark.usefixtures("plain_output")


def program(
    tmp_path: Path,
    channels: int = 3,
    units: int = 3,
    loss: str = "sparse_categorical_crossentropy",
    epochs: int = 1,
    name: str = "model.k",
) -> Path:
    activation = "sigmoid" if units == 1 else "softmax"
    path = tmp_path / name
    path.write_text(
        CNN.format(channels=channels, units=units, activation=activation, loss=loss, epochs=epochs)
        + "\n"
    )
    return path


# -- what a folder holds ----------------------------------------------------------------


def test_an_image_folder_is_told_apart_from_npy_folders_and_text(tmp_path):
    photos = image_folder(tmp_path / "photos", per_class=2)
    assert data_kind(photos) == "images"
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    np.save(arrays / "x_train.npy", np.zeros((2, 3)))
    (arrays / "sub").mkdir()  # a stray folder does not make it an image folder
    assert data_kind(arrays) is None
    assert data_kind(tmp_path / "photos" / "left" / "000.png") is None  # a file
    (tmp_path / "nothing").mkdir()
    assert data_kind(tmp_path / "nothing") is None  # refused later as an .npy folder
    split = tmp_path / "split"
    image_folder(split / "train", per_class=2)
    assert data_kind(split) == "images"


def test_scan_finds_classes_splits_and_counts_and_skips_hidden_files(tmp_path):
    root = tmp_path / "photos"
    image_folder(root / "train", per_class=3)
    image_folder(root / "validation", per_class=1, seed=1)
    image_folder(root / "test", classes=("left", "top"), per_class=2, seed=2)
    (root / "train" / "left" / ".DS_Store").write_bytes(b"\0\1")
    nested = root / "train" / "top" / "more"  # Keras reads a class's nested folders too
    nested.mkdir()
    shutil.copy(root / "train" / "top" / "000.png", nested / "x.png")
    folder = scan(root, "images")
    assert folder.class_names == ["left", "square", "top"]
    assert folder.counts == {"train": 10, "val": 3, "test": 4}
    assert folder.splits["val"].name == "validation"


def _no_images(root: Path) -> None:
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)


def _one_class(root: Path) -> None:
    image_folder(root, classes=("cats",), per_class=2)


def _empty_class(root: Path) -> None:
    image_folder(root, classes=("cats", "dogs"), per_class=2)
    (root / "birds").mkdir()


def _other_file(root: Path) -> None:
    image_folder(root, per_class=2)
    (root / "top" / "notes.md").write_text("drawn with numpy\n")


def _not_an_image(root: Path) -> None:
    image_folder(root, per_class=2)
    (root / "top" / "fake.png").write_text("not a picture\n")


def _empty_image(root: Path) -> None:
    image_folder(root, per_class=2)
    (root / "left" / "empty.jpg").write_bytes(b"")


def _no_class_folders(root: Path) -> None:
    root.mkdir()
    (root / "train").mkdir()
    (root / "train" / "a.png").write_bytes(png_bytes(np.zeros((4, 4, 3))))


def _val_without_train(root: Path) -> None:
    image_folder(root / "val", per_class=2)


def _class_beside_train(root: Path) -> None:
    image_folder(root / "train", per_class=2)
    image_folder(root, classes=("stray",), per_class=1)


def _unknown_class_in_test(root: Path) -> None:
    image_folder(root / "train", per_class=2)
    image_folder(root / "test", classes=("left", "circle"), per_class=1)


BAD_FOLDERS = {
    "no images": (_no_images, "has no images in its class folders (cats, dogs)"),
    "one class": (_one_class, "has one class only (`cats`)"),
    "empty class": (_empty_class, "a class folder with no images: `birds`"),
    "other file": (_other_file, "not images, which Keras would skip: {root}/top/notes.md"),
    "not an image": (_not_an_image, "{root}/top/fake.png (not a PNG, JPEG, GIF or BMP image)"),
    "empty image": (_empty_image, "{root}/left/empty.jpg (empty)"),
    "no class folders": (_no_class_folders, "has no class subfolders"),
    "val without train": (_val_without_train, "has a `val/` folder but no `train/` folder"),
    "class beside train": (_class_beside_train, "has a `train/` folder and also `stray/`"),
    "unknown class": (_unknown_class_in_test, "has a class folder `circle` that"),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_bad_image_folder_is_refused_before_training_naming_the_file(case, tmp_path, capsys):
    build, expected = BAD_FOLDERS[case]
    root = tmp_path / "photos"
    build(root)
    code, out, err = kdsl(["run", program(tmp_path), "--data", root], capsys)
    assert code == 1, err
    assert "error: " in err and "Traceback" not in err
    assert expected.format(root=root) in err
    assert "Epoch" not in out


NOT_IMAGES = {
    "flat": ("input 4 -> dense 3 softmax; adam; sparse_categorical_crossentropy", "(4,)"),
    "no channels": (
        "input 16x16 -> flatten -> dense 3 softmax; adam; sparse_categorical_crossentropy",
        "(16, 16)",
    ),
    "two channels": (
        "input 16x16x2 -> flatten -> dense 3 softmax; adam; sparse_categorical_crossentropy",
        "(16, 16, 2)",
    ),
    "any size": (
        "input (None, None, 3) -> globalaveragepooling2d -> dense 3 softmax; adam; "
        "sparse_categorical_crossentropy",
        "(None, None, 3)",
    ),
}


@pytest.mark.parametrize("case", NOT_IMAGES)
def test_an_input_that_is_not_an_image_is_refused(case, tmp_path, capsys):
    text, shown = NOT_IMAGES[case]
    model = tmp_path / "model.k"
    model.write_text(text + "\n")
    photos = image_folder(tmp_path / "photos", per_class=2)
    code, _, err = kdsl(["run", model, "--data", photos], capsys)
    assert code == 1, err
    assert f"is an image folder, but the model's input {shown} is not an image" in err
    code, _, err = kdsl(["compile", model, "--image-data"], capsys)
    assert code == 1 and f"--image-data reads images, but the model's input {shown}" in err


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--test-split", "0.2"], "--test-split splits arrays"),
        (["--standardize"], "--standardize scales array features"),
    ],
)
def test_array_options_are_refused_for_a_folder(options, expected, tmp_path, capsys):
    photos = image_folder(tmp_path / "photos", per_class=2)
    code, _, err = kdsl(["run", program(tmp_path), "--data", photos, *options], capsys)
    assert code == 1 and expected in err


def test_a_regression_loss_or_a_validation_split_in_fit_is_refused(tmp_path, capsys):
    photos = image_folder(tmp_path / "photos", per_class=2)
    code, _, err = kdsl(["run", program(tmp_path, loss="mse"), "--data", photos], capsys)
    assert code == 1 and "is not a classification loss" in err
    model = tmp_path / "split.k"
    model.write_text(program(tmp_path).read_text().strip() + " validation_split=0.2\n")
    code, _, err = kdsl(["run", model, "--data", photos], capsys)
    assert code == 1 and "`fit validation_split=...`" in err
    both = tmp_path / "both"
    image_folder(both / "train", per_class=2)
    image_folder(both / "val", per_class=1)
    code, _, err = kdsl(
        ["run", program(tmp_path), "--data", both, "--validation-split", "0.2"], capsys
    )
    assert code == 1 and "--validation-split asks for another" in err


# -- the script ---------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "color_mode"), [(1, "grayscale"), (3, "rgb"), (4, "rgba")])
@pytest.mark.parametrize(
    ("loss", "units", "label_mode"),
    [
        ("sparse_categorical_crossentropy", 3, "int"),
        ("categorical_crossentropy", 3, "categorical"),
        ("binary_crossentropy", 1, "binary"),
    ],
)
def test_the_script_reads_images_at_the_input_size_with_the_losss_labels(
    tmp_path, channels, color_mode, loss, units, label_mode
):
    text = program(tmp_path, channels=channels, units=units, loss=loss).read_text()
    code = render(check_source(text), Mode(data_kind="images"))
    assert "IMAGE_SIZE = (16, 16)" in code
    assert f'COLOR_MODE = "{color_mode}"' in code
    assert f'LABEL_MODE = "{label_mode}"' in code
    assert "keras.utils.image_dataset_from_directory(" in code
    assert ".prefetch(tf.data.AUTOTUNE)" in code
    ast.parse(code)
    assert format_code(code) == code  # already in black's style


FOLDER_PROGRAMS = {
    "images": CNN.format(
        channels=3, units=3, activation="softmax", loss="categorical_crossentropy", epochs=2
    )
    + " shuffle=true early_stopping=2",
    "text": "input 1 dtype=string -> textvectorization max_tokens=200 "
    "output_sequence_length=16 -> embedding 200 8 -> flatten -> dense 1 sigmoid; adam; "
    "binary_crossentropy",
}


@pytest.mark.parametrize("kind", FOLDER_PROGRAMS)
@pytest.mark.parametrize("style", ["add", "constructor", "functional"])
@pytest.mark.parametrize("explain", [False, True])
@pytest.mark.parametrize("strategy", [None, "mirrored", "multi-worker"])
def test_every_mode_writes_the_folder_reader_in_blacks_style(kind, style, explain, strategy):
    """The template's folder code is laid out as black lays it out, in every mode, so
    black is needed only for long lines of the program's own."""
    from kdsl.codegen.render import render_unformatted

    mode = Mode(style=style, explain=explain, strategy=strategy, data_kind=kind)
    raw = render_unformatted(check_source(FOLDER_PROGRAMS[kind]), mode)
    ast.parse(raw)
    assert format_code(raw, mode) == raw


def test_running_a_script_without_the_folder_reader_on_a_folder_says_so(tmp_path):
    from kdsl.errors import DataError
    from kdsl.train.runner import run

    photos = image_folder(tmp_path / "photos", per_class=2)
    model = check_source(program(tmp_path).read_text())
    with pytest.raises(DataError, match="compiled without a reader for it") as raised:
        run(render(model), model, str(photos))
    assert "compile with --image-data" in str(raised.value.hint)


def test_v1_scripts_do_not_change_without_image_data(tmp_path):
    text = program(tmp_path).read_text()
    assert render(check_source(text)) == render(check_source(text), Mode(data_kind=None))
    assert "image_dataset_from_directory" not in render(check_source(text))


# -- training (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_run_learns_an_image_folder_saves_class_names_and_predicts_files(tmp_path, capsys):
    photos = image_folder(tmp_path / "photos", per_class=12)
    saved, results = tmp_path / "pics.keras", tmp_path / "results.json"
    model = program(tmp_path, epochs=12)
    code, out, err = kdsl(
        ["run", model, "--data", photos, "--save", saved, "--json", results, "--seed", "1"],
        capsys,
    )
    assert code == 0, err
    assert "3 classes (36 train files)" in out
    report = json.loads(results.read_text())
    assert report["class_names"] == sorted(IMAGE_CLASSES)
    assert report["evaluation"]["accuracy"] >= 0.9  # three easy pictures: learned
    from kdsl.train.saved import read_metadata

    metadata = read_metadata(saved)
    assert metadata["class_names"] == ["left", "square", "top"]
    assert metadata["data_kind"] == "images"
    # Files and folders; each row named by its file and labelled by class name.
    code, out, err = kdsl(["predict", saved, photos / "top" / "000.png", photos / "left"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["file", "prediction", "probability"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 13
    assert rows[0][0].endswith("top/000.png") and rows[0][1] == "top"
    assert sum(row[1] == "left" for row in rows[1:]) >= 10
    out_csv = tmp_path / "predictions.csv"
    code, _, err = kdsl(["predict", saved, photos, "-o", out_csv], capsys)
    assert code == 0, err
    header, *csv_rows = out_csv.read_text().splitlines()
    assert header == "file,prediction,p_left,p_square,p_top"
    assert len(csv_rows) == 36
    # What cannot be predicted on is refused, naming it.
    (tmp_path / "empty").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture\n")
    for given, expected in (
        (tmp_path / "empty", "has no images (.bmp, .gif, .jpeg, .jpg, .png)"),
        (notes, "is not one of .bmp, .gif, .jpeg, .jpg, .png"),
        (fake, f"{fake} (not a PNG, JPEG, GIF or BMP image)"),
        (tmp_path / "missing.png", "no such file"),
    ):
        code, _, err = kdsl(["predict", saved, given], capsys)
        assert code == 1 and expected in err, err


@pytest.mark.slow
def test_predict_reads_an_image_as_training_read_it(tmp_path, capsys):
    """`kdsl predict` decodes and resizes as image_dataset_from_directory does: the same
    probabilities, here on images of another size than the model's input."""
    photos = image_folder(tmp_path / "photos", per_class=3, size=23)
    saved = tmp_path / "m.keras"
    code, _, err = kdsl(["run", program(tmp_path), "--data", photos, "--save", saved], capsys)
    assert code == 0, err
    import keras

    from kdsl.train import predict

    model = keras.models.load_model(saved)
    dataset = keras.utils.image_dataset_from_directory(
        photos, image_size=(16, 16), shuffle=False, batch_size=None
    )
    expected = model.predict(dataset.batch(64), verbose=0)
    files = [Path(p) for p in dataset.file_paths]
    found = predict.predict_files(model, files, "images", {"loss": "x"}).outputs
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("channels", "units", "loss", "classes"),
    [
        (1, 3, "categorical_crossentropy", IMAGE_CLASSES),
        (4, 1, "binary_crossentropy", ("left", "top")),
    ],
)
def test_grayscale_rgba_one_hot_and_binary_labels_train(
    tmp_path, capsys, channels, units, loss, classes
):
    photos = image_folder(tmp_path / "photos", classes=classes, per_class=6, channels=channels)
    model = program(tmp_path, channels=channels, units=units, loss=loss)
    code, out, err = kdsl(["run", model, "--data", photos], capsys)
    assert code == 0, err
    assert "Done: 1 epoch" in out


@pytest.mark.slow
def test_the_outputs_must_match_the_classes(tmp_path, capsys):
    photos = image_folder(tmp_path / "photos", per_class=2)
    code, _, err = kdsl(["run", program(tmp_path, units=2), "--data", photos], capsys)
    assert code == 1
    assert "the folder has 3 classes (left, square, top), but the model outputs 2" in err
    binary = program(tmp_path, units=1, loss="binary_crossentropy", name="b.k")
    code, _, err = kdsl(["run", binary, "--data", photos], capsys)
    assert code == 1 and "binary_crossentropy needs 2 classes" in err


@pytest.mark.slow
def test_train_val_test_folders_and_validation_split(tmp_path, capsys):
    root = tmp_path / "photos"
    image_folder(root / "train", per_class=6)
    image_folder(root / "val", per_class=2, seed=1)
    image_folder(root / "test", per_class=2, seed=2)
    results = tmp_path / "r.json"
    code, out, err = kdsl(["run", program(tmp_path), "--data", root, "--json", results], capsys)
    assert code == 0, err
    report = json.loads(results.read_text())
    assert report["evaluated_on"] == "test"
    assert "val_loss" in report["history"]
    assert len(report["predictions"]) == 6  # the test images
    flat = image_folder(tmp_path / "flat", per_class=4)
    code, out, err = kdsl(
        ["run", program(tmp_path), "--data", flat, "--validation-split", "0.25", "--json", results],
        capsys,
    )
    assert code == 0, err
    assert "Using 3 files for validation." in out
    assert "val_accuracy" in json.loads(results.read_text())["history"]


@dataclass(frozen=True)
class FolderKind:
    """An image or a text folder, as the standalone script and an example read it."""

    make: Callable[..., Path]  # the folder's maker: (root, per_class=..., ...)
    program: str  # a program for it, at one epoch
    option: str  # what `kdsl compile` needs to write the folder reader
    script_args: tuple[str, ...]
    script_prints: tuple[str, ...]
    example: str  # the example made for such folders, its files per class, its image size
    example_files: int
    example_size: dict[str, int]
    run_prints: str


FOLDER_KINDS = {
    "images": FolderKind(
        make=image_folder,
        program=CNN.format(
            channels=3,
            units=3,
            activation="softmax",
            loss="sparse_categorical_crossentropy",
            epochs=1,
        ),
        option="--image-data",
        script_args=("--validation-split", "0.25"),
        script_prints=("Classes: ['left', 'square', 'top']", "val_loss"),
        example="shapes.k",
        example_files=4,
        example_size={"size": 32},
        run_prints="3 classes (12 train files)",
    ),
    "text": FolderKind(
        make=text_folder,
        program=SENTIMENT.format(epochs=1),
        option="--text-data",
        script_args=(),
        script_prints=(
            "Classes: ['neg', 'pos']",
            "Adapted text_vectorization to the training texts.",
        ),
        example="sentiment.k",
        example_files=8,
        example_size={},
        run_prints="to the training texts.",  # Keras numbers the layer names
    ),
}


# The standalone script on each kind of folder: tests/test_scripts_alone.py.


@pytest.mark.slow
@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_the_example_runs_on_the_folder_its_maker_writes(kind, tmp_path, capsys):
    spec = FOLDER_KINDS[kind]
    folder = spec.make(tmp_path / kind, per_class=spec.example_files, **spec.example_size)
    example = EXAMPLES / spec.example
    code, out, err = kdsl(["run", example, "--data", folder, "--epochs", "1"], capsys)
    assert code == 0, err
    assert spec.run_prints in out


@pytest.mark.slow
def test_predict_on_images_with_a_model_of_other_inputs_says_so(tmp_path, capsys):
    """A model saved by other means (no kdsl.json): images are recognized by their
    suffix, and refused when the model's input is no image; a .txt file stays a file of
    unknown format for it."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    saved = tmp_path / "rows.keras"
    model.save(saved)
    photos = image_folder(tmp_path / "photos", per_class=1)
    code, out, err = kdsl(["predict", saved, photos / "top" / "000.png"], capsys)
    assert code == 1, err
    assert "is an image, but the model's input (4,) is not an image" in err
    notes = tmp_path / "notes.txt"
    notes.write_text("1,2,3,4\n")
    code, _, err = kdsl(["predict", saved, notes], capsys)
    assert code == 1 and "is not an .npz, .npy or .csv file" in err
