"""Text folders: `kdsl run model.k --data reviews/` (one subfolder of .txt files per
class), a first `textvectorization` adapted to the training texts as a Keras user does by
hand, the script's `--text-data`, and `kdsl predict` on text files.

The folders are written here (tests/folder_data.py), never downloaded. The standalone
script and the example on a folder: tests/test_images.py, for both kinds of folder.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import kdsl_main as kdsl
from folder_data import SENTIMENT, image_folder, text_folder

from kdsl import check_source
from kdsl.codegen.render import format_code, render
from kdsl.options import Mode
from kdsl.train.folders import data_kind, scan

pytestmark = pytest.mark.usefixtures("plain_output")


def program(tmp_path: Path, epochs: int = 1, text: str = SENTIMENT) -> Path:
    path = tmp_path / "sentiment.k"
    path.write_text(text.format(epochs=epochs) + "\n")
    return path


def test_a_text_folder_is_told_apart(tmp_path):
    assert data_kind(text_folder(tmp_path / "reviews", per_class=2)) == "text"
    assert data_kind(image_folder(tmp_path / "photos", per_class=1)) == "images"
    folder = scan(tmp_path / "reviews", "text")
    assert folder.class_names == ["neg", "pos"] and folder.counts == {"train": 4}


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda root: (root / "pos" / "latin1.txt").write_bytes(b"caf\xe9 au lait\n"),
            "pos/latin1.txt (not UTF-8 text)",
        ),
        (
            lambda root: (root / "neg" / "review.html").write_text("<p>dull</p>\n"),
            "not text files (.txt), which Keras would skip",
        ),
        (
            lambda root: [f.unlink() for f in (root / "neg").iterdir()],
            "a class folder with no text files (.txt): `neg`",
        ),
    ],
)
def test_a_bad_text_folder_is_refused_naming_the_file(damage, expected, tmp_path, capsys):
    root = text_folder(tmp_path / "reviews", per_class=2)
    damage(root)
    code, out, err = kdsl(["run", program(tmp_path), "--data", root], capsys)
    assert code == 1, err
    assert expected in err and "Traceback" not in err


def test_a_model_that_does_not_read_strings_is_refused(tmp_path, capsys):
    root = text_folder(tmp_path / "reviews", per_class=2)
    numeric = program(tmp_path, text="input 8 -> dense 1 sigmoid; adam; binary_crossentropy")
    code, _, err = kdsl(["run", numeric, "--data", root], capsys)
    assert code == 1
    assert "is a folder of text files, but the model's input is (8,) float32" in err
    code, _, err = kdsl(["compile", numeric, "--text-data"], capsys)
    assert code == 1 and "--text-data reads each file as one string" in err


def test_the_script_reads_text_folders_and_adapts_the_first_layer(tmp_path):
    code = render(check_source(program(tmp_path).read_text()), Mode(data_kind="text"))
    assert "keras.utils.text_dataset_from_directory(" in code
    assert 'LABEL_MODE = "binary"' in code
    assert 'adapt_text_layer(model, data["x_train"].map(lambda text, label: text))' in code
    assert "IMAGE_SIZE" not in code
    ast.parse(code)
    assert format_code(code) == code


@pytest.mark.slow
def test_an_imdb_style_model_is_a_one_liner(tmp_path, capsys):
    reviews = text_folder(tmp_path / "reviews", per_class=20)
    saved, results = tmp_path / "sentiment.keras", tmp_path / "r.json"
    code, out, err = kdsl(
        [
            "run", program(tmp_path, epochs=15), "--data", reviews,
            "--save", saved, "--json", results, "--seed", "2",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "to the training texts." in out  # Keras numbers the layer names
    report = json.loads(results.read_text())
    assert report["class_names"] == ["neg", "pos"]
    assert report["evaluation"]["accuracy"] >= 0.9
    new = tmp_path / "new.txt"
    new.write_text("the film was wonderful and the actors were brilliant\n")
    code, out, err = kdsl(["predict", saved, new, reviews / "neg"], capsys)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows[0][:2] == [str(new), "pos"]
    assert sum(row[1] == "neg" for row in rows[1:]) >= 18


@pytest.mark.slow
def test_a_vocabulary_larger_than_the_embedding_is_refused_before_fit(tmp_path, capsys):
    reviews = text_folder(tmp_path / "reviews", per_class=4)
    small = program(
        tmp_path,
        text="input 1 dtype=string -> textvectorization output_sequence_length=8 "
        "-> embedding 10 4 -> globalaveragepooling1d -> dense 1 sigmoid; adam; "
        "binary_crossentropy",
    )
    code, out, err = kdsl(["run", small, "--data", reviews], capsys)
    assert code == 1
    assert "but the next layer `embedding` takes ids 0..9 (input_dim=10)" in err
    assert "Epoch" not in out
