"""Bad data gets one clear message before any training: file, array, expected vs. found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdsl.data import load_npz, validate
from kdsl.errors import DataError

INPUT, OUTPUT = (None, 4), (None, 3)


def save(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return str(path)


def good(rows: int = 6) -> dict:
    return {
        "x_train": np.zeros((rows, 4), "float32"),
        "y_train": np.eye(3, dtype="float32")[np.arange(rows) % 3],
    }


def check(path: str, loss: str = "categorical_crossentropy", output=OUTPUT) -> list[str]:
    return validate(path, load_npz(path), INPUT, output, loss)


def error_of(call) -> DataError:
    with pytest.raises(DataError) as info:
        call()
    return info.value


def test_good_data_passes(tmp_path: Path) -> None:
    assert check(save(tmp_path, **good())) == []


def test_x_and_y_are_aliases(tmp_path: Path) -> None:
    data = good()
    path = save(tmp_path, x=data["x_train"], y=data["y_train"])
    arrays = load_npz(path)
    assert set(arrays) == {"x_train", "y_train"}


def test_missing_file(tmp_path: Path) -> None:
    error = error_of(lambda: load_npz(tmp_path / "nope.npz"))
    assert error.render() == f"{tmp_path / 'nope.npz'}: error: no such file"


@pytest.mark.parametrize("content", [b"", b"hello, I am a CSV\n1,2,3\n"], ids=["empty", "text"])
def test_not_an_npz(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    assert "is not an .npz file" in str(error_of(lambda: load_npz(path)))


def test_truncated_npz(tmp_path: Path) -> None:
    path = Path(save(tmp_path, **good(1000)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "npz" in str(error_of(lambda: load_npz(path)))


def test_no_x_train_lists_the_keys(tmp_path: Path) -> None:
    path = save(tmp_path, features=np.zeros((3, 4)), labels=np.zeros(3))
    error = error_of(lambda: check(path))
    assert str(error) == (
        "needs arrays `x_train` and `y_train` (or `x` and `y`); found: features, labels"
    )


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    data = good()
    data["y_train"] = np.array([{"label": i} for i in range(6)], dtype=object)
    path = save(tmp_path, **data)
    error = error_of(lambda: load_npz(path))
    assert "`y_train` holds Python objects" in str(error)
    assert "unpickling can run arbitrary code" in str(error)


def test_row_counts_differ(tmp_path: Path) -> None:
    data = good()
    data["y_train"] = data["y_train"][:4]
    error = error_of(lambda: check(save(tmp_path, **data)))
    assert str(error) == "`x_train` has 6 rows but `y_train` has 4"


def test_empty_arrays(tmp_path: Path) -> None:
    error = error_of(
        lambda: check(save(tmp_path, x_train=np.zeros((0, 4)), y_train=np.zeros((0, 3))))
    )
    assert str(error) == "`x_train` is empty (0 rows)"


def test_feature_shape_mismatch(tmp_path: Path) -> None:
    data = good()
    data["x_train"] = np.zeros((6, 5), "float32")
    error = error_of(lambda: check(save(tmp_path, **data)))
    assert str(error) == "model expects rows of shape (4,), `x_train` has rows of shape (5,)"


def test_non_numeric(tmp_path: Path) -> None:
    data = good()
    data["x_train"] = np.array([["a"] * 4] * 6)
    error = error_of(lambda: check(save(tmp_path, **data)))
    assert str(error).startswith("`x_train` holds <U1 values, not numbers")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_infinity(tmp_path: Path, bad: float) -> None:
    data = good()
    data["x_train"][2, 1] = bad
    error = error_of(lambda: check(save(tmp_path, **data)))
    assert str(error) == "`x_train` holds 1 NaN or infinite value(s)"


def test_test_split_must_be_complete(tmp_path: Path) -> None:
    data = good()
    error = error_of(lambda: check(save(tmp_path, **data, x_test=data["x_train"])))
    assert str(error) == "has `x_test` but no `y_test`"


def test_class_ids_are_one_hot_encoded_for_categorical(tmp_path: Path) -> None:
    data = good()
    data["y_train"] = np.array([0, 1, 2, 0, 1, 2])
    path = save(tmp_path, **data)
    arrays = load_npz(path)
    notes = validate(path, arrays, INPUT, OUTPUT, "categorical_crossentropy")
    assert notes == [
        "note: `y_train` holds class ids; one-hot encoding them into 3 columns "
        "for categorical_crossentropy"
    ]
    assert arrays["y_train"].shape == (6, 3)
    assert arrays["y_train"].argmax(axis=1).tolist() == [0, 1, 2, 0, 1, 2]


def test_class_ids_beyond_the_outputs(tmp_path: Path) -> None:
    data = good()
    data["y_train"] = np.array([0, 1, 2, 3, 4, 0])
    error = error_of(lambda: check(save(tmp_path, **data)))
    assert str(error) == (
        "`y_train` holds class ids 0..4, but the model outputs 3 classes (ids 0..2)"
    )
    assert "sparse_categorical_crossentropy" in error.hint


def test_one_hot_labels_with_sparse_loss(tmp_path: Path) -> None:
    error = error_of(lambda: check(save(tmp_path, **good()), "sparse_categorical_crossentropy"))
    assert "sparse_categorical_crossentropy takes one class id per row" in str(error)
    assert error.hint == "for one-hot labels use `categorical_crossentropy`"


def test_label_shape_mismatch(tmp_path: Path) -> None:
    error = error_of(lambda: check(save(tmp_path, **good()), "mse", output=(None, 1)))
    assert str(error) == "model outputs rows of shape (1,), `y_train` has labels of shape (3,)"
