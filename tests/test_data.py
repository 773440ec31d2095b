"""Bad data gets one clear message before any training: file, array, expected vs. found."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kdsl.errors import DataError
from kdsl.train import data as data_module
from kdsl.train.csvdata import read_features
from kdsl.train.data import TokenIds, load, load_npz, validate
from kdsl.train.split import split

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


def test_binary_labels_outside_zero_and_one(tmp_path: Path) -> None:
    path = save(tmp_path, x_train=np.zeros((4, 4)), y_train=np.array([0.0, 1.0, 2.0, 1.0]))
    error = error_of(lambda: check(path, "binary_crossentropy", output=(None, 1)))
    assert str(error) == (
        "`y_train` holds values from 0 to 2, but binary_crossentropy takes labels from 0 to 1"
    )


# -- CSV ----------------------------------------------------------------------------------

IRIS_CSV = Path(__file__).parent.parent / "examples" / "iris.csv"


def csv_file(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_with_text_labels_is_encoded_in_sorted_order(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n5,6,dog\n")
    data = load(path)
    assert data.arrays["x_train"].tolist() == [[1, 2], [3, 4], [5, 6]]
    assert data.arrays["x_train"].dtype == np.float32
    assert data.arrays["y_train"].tolist() == [1, 0, 1]
    assert data.class_names == ["cat", "dog"]
    assert (data.feature_names, data.target) == (["a", "b"], "kind")


def test_csv_target_column_by_name(tmp_path: Path) -> None:
    data = load(csv_file(tmp_path, "label,a,b\n0,1.5,2\n1,3,4\n"), target="label")
    assert data.arrays["x_train"].tolist() == [[1.5, 2], [3, 4]]
    assert data.arrays["y_train"].tolist() == [0, 1]
    assert data.class_names is None


def test_csv_numeric_labels_stay_numbers(tmp_path: Path) -> None:
    data = load(csv_file(tmp_path, "a,price\n1,2.5\n2,3.25\n"))
    assert data.arrays["y_train"].dtype == np.float32
    assert data.arrays["y_train"].tolist() == [2.5, 3.25]


def test_iris_csv_example() -> None:
    data = load(IRIS_CSV, target="species")
    assert data.arrays["x_train"].shape == (150, 4)
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    assert np.bincount(data.arrays["y_train"]).tolist() == [50, 50, 50]


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("", None, "is empty"),
        ("a,b,y\n", None, "has a header but no rows of data"),
        ("1,2,3\n4,5,6\n", None, "the first line (1,2,3) looks like data, not a header"),
        ("a,b,y\n1,2,0\n3,4\n", None, "line 3 has 2 fields, but the header has 3"),
        ("a,b,y\n1,2,0\n", "z", "has no column `z`; its columns are: a, b, y"),
        ("a,b,y\n1,2,0\n1,x,1\n", None, "feature column `b` has a non-numeric value `x` on line 3"),
        ("a,b,y\n1,,0\n", None, "feature column `b` is empty on line 2"),
        ("a,b,y\n1,2,0\nnan,2,1\n", None, "feature column `a` holds nan on line 3"),
        ("a,b,y\n1,2,0\n1,inf,1\n", None, "feature column `b` holds inf on line 3"),
        ("a,b,y\n1,2,0\n1,2,nan\n", None, "label column `y` holds nan on line 3"),
        ("a,b,y\n1,2,cat\n1,2,\n", None, "label column `y` is empty on line 3"),
        ("y\ncat\n", None, "has only the label column `y`, no feature columns"),
        ("a,a,y\n1,2,0\n", None, "column `a` appears twice in the header"),
    ],
    ids=[
        "empty",
        "no-rows",
        "no-header",
        "ragged",
        "missing-target",
        "non-numeric",
        "empty-cell",
        "nan-feature",
        "inf-feature",
        "nan-label",
        "empty-label",
        "no-features",
        "duplicate-column",
    ],
)
def test_bad_csv(tmp_path: Path, text: str, target: str | None, message: str) -> None:
    path = csv_file(tmp_path, text)
    error = error_of(lambda: load(path, target))
    assert str(error) == message
    assert error.path == path


def test_missing_target_suggests_the_closest_column(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "sepal,species\n1,a\n")
    assert error_of(lambda: load(path, "specie")).hint == "did you mean `species`?"


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n\xff,1\n")
    assert str(error_of(lambda: load(path))).startswith("is not UTF-8 text")


def test_csv_missing_file(tmp_path: Path) -> None:
    assert str(error_of(lambda: load(tmp_path / "nope.csv"))) == "no such file"


def check_csv(path: str, loss: str, output: tuple) -> list[str]:
    data = load(path)
    return validate(
        path,
        data.arrays,
        (None, 2),
        output,
        loss,
        class_names=data.class_names,
        feature_names=data.feature_names,
        target=data.target,
    )


def test_class_names_with_a_regression_loss(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n")
    error = error_of(lambda: check_csv(path, "mse", (None, 1)))
    assert str(error) == (
        "column `kind` holds class names (cat, dog), but `mse` is not a classification loss"
    )


def test_class_count_must_match_the_outputs(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n5,6,emu\n")
    error = error_of(lambda: check_csv(path, "sparse_categorical_crossentropy", (None, 4)))
    assert str(error) == "column `kind` has 3 classes (cat, dog, emu), but the model outputs 4"
    assert error.hint == "make the last layer `dense 3 softmax`"


def test_binary_crossentropy_needs_two_classes(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n5,6,emu\n")
    error = error_of(lambda: check_csv(path, "binary_crossentropy", (None, 1)))
    assert "binary_crossentropy needs 2 classes" in str(error)
    assert "sparse_categorical_crossentropy" in error.hint


def test_two_text_classes_for_binary_crossentropy(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n")
    assert check_csv(path, "binary_crossentropy", (None, 1)) == [
        "note: column `kind` holds class names, numbered in sorted order (cat=0, dog=1)"
    ]


def test_csv_feature_count_mismatch_names_the_columns(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,c,kind\n1,2,3,dog\n3,4,5,cat\n")
    error = error_of(lambda: check_csv(path, "sparse_categorical_crossentropy", (None, 2)))
    assert str(error) == (
        "model expects rows of shape (2,), but there are 3 feature columns: a, b, c"
    )


def test_csv_class_names_are_one_hot_encoded_with_a_note(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n")
    notes = check_csv(path, "categorical_crossentropy", (None, 2))
    assert notes == [
        "note: column `kind` holds class names, numbered in sorted order (cat=0, dog=1); "
        "one-hot encoding them into 2 columns for categorical_crossentropy"
    ]


def test_predict_features_by_name(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "b,kind,a\n2,dog,1\n4,cat,3\n")
    x, columns = read_features(path, ["a", "b"])
    assert (x.tolist(), columns) == ([[1, 2], [3, 4]], ["a", "b"])
    x, columns = read_features(path, target="kind")
    assert (x.tolist(), columns) == ([[2, 1], [4, 3]], ["b", "a"])
    error = error_of(lambda: read_features(path, ["a", "c"]))
    assert str(error) == "has no column `c`, which the model was trained on"


# -- splits -------------------------------------------------------------------------------


def iris_arrays() -> dict:
    data = load(IRIS_CSV, target="species")
    return data.arrays


def test_split_is_stratified_and_reproducible() -> None:
    first, second = iris_arrays(), iris_arrays()
    note = split("iris.csv", first, "sparse_categorical_crossentropy", test=0.2, validation=0.1)
    split("iris.csv", second, "sparse_categorical_crossentropy", test=0.2, validation=0.1)
    assert note == (
        "note: split 150 rows into 105 training, 15 validation, 30 test "
        "(stratified by class, seed 0)"
    )
    assert np.bincount(first["y_test"]).tolist() == [10, 10, 10]
    assert np.bincount(first["y_val"]).tolist() == [5, 5, 5]
    assert np.bincount(first["y_train"]).tolist() == [35, 35, 35]
    for key in first:
        assert np.array_equal(first[key], second[key])
    rows = {tuple(r) for k in ("x_train", "x_val", "x_test") for r in first[k].tolist()}
    assert len(rows) == len({tuple(r) for r in iris_arrays()["x_train"].tolist()})


def test_split_depends_on_the_seed() -> None:
    a, b = iris_arrays(), iris_arrays()
    split("iris.csv", a, "sparse_categorical_crossentropy", test=0.2, seed=0)
    split("iris.csv", b, "sparse_categorical_crossentropy", test=0.2, seed=1)
    assert not np.array_equal(a["x_test"], b["x_test"])


def test_one_hot_labels_are_stratified_too() -> None:
    arrays = iris_arrays()
    arrays["y_train"] = np.eye(3, dtype="float32")[arrays["y_train"]]
    note = split("iris.csv", arrays, "categorical_crossentropy", test=0.2)
    assert "stratified by class" in note
    assert arrays["y_test"].sum(axis=0).tolist() == [10, 10, 10]


def test_regression_split_is_random() -> None:
    arrays = {"x_train": np.arange(20.0).reshape(10, 2), "y_train": np.arange(10.0)}
    note = split("d.npz", arrays, "mse", validation=0.3)
    assert note.endswith("(at random, seed 0)")
    assert (len(arrays["x_train"]), len(arrays["x_val"])) == (7, 3)


def test_split_refuses_to_replace_given_test_data(tmp_path: Path) -> None:
    data = good()
    arrays = {**data, "x_test": data["x_train"], "y_test": data["y_train"]}
    error = error_of(lambda: split("d.npz", arrays, "categorical_crossentropy", test=0.2))
    assert str(error) == "already has `x_test` and `y_test`, and --test-split would replace them"


def test_split_too_small_to_hold_out_anything() -> None:
    arrays = {"x_train": np.zeros((4, 2)), "y_train": np.zeros(4)}
    error = error_of(lambda: split("d.npz", arrays, "mse", test=0.1))
    assert str(error) == "--test-split 0.1 of 4 rows leaves no test rows"


# -- labels and features of models with `None` dimensions ------------------------------------


@pytest.mark.parametrize(
    ("output", "labels", "loss"),
    [
        ((None, 2), (8, 5, 2), "mse"),  # a sequence of any length, 2 values per step
        ((None, 2), (8, 1, 2), "mse"),
        ((7, None), (8, 7, 3), "mae"),
        ((None, 4), (8, 5), "sparse_categorical_crossentropy"),  # a class id per step
        ((None, 4), (8, 5, 1), "sparse_categorical_crossentropy"),
        ((None, 1), (8, 5, 1), "binary_crossentropy"),
    ],
)
def test_a_none_output_dimension_matches_any_label_size(
    output: tuple, labels: tuple, loss: str
) -> None:
    arrays = {"x_train": np.zeros((8, 5, 1), "float32"), "y_train": np.zeros(labels, "int64")}
    assert validate("d.npz", arrays, (None, None, 1), (None, *output), loss) == []
    assert arrays["y_train"].shape == labels


def test_a_none_output_dimension_still_checks_the_fixed_ones() -> None:
    arrays = {"x_train": np.zeros((8, 5, 1), "float32"), "y_train": np.zeros((8, 5, 3))}
    error = error_of(lambda: validate("d.npz", arrays, (None, None, 1), (None, None, 2), "mse"))
    assert (
        str(error) == "model outputs rows of shape (None, 2), `y_train` has labels of shape (5, 3)"
    )


def test_class_ids_per_step_are_one_hot_encoded_for_categorical() -> None:
    y = np.arange(40).reshape(8, 5) % 3
    arrays = {"x_train": np.zeros((8, 5, 1), "float32"), "y_train": y}
    validate("d.npz", arrays, (None, None, 1), (None, None, 3), "categorical_crossentropy")
    assert arrays["y_train"].shape == (8, 5, 3)
    assert arrays["y_train"].argmax(axis=-1).tolist() == y.tolist()


# -- integer inputs: token ids and the dtype ---------------------------------------------------

EMBEDDING = TokenIds(10, "embedding")


def token_data(key: str, bad: int) -> dict:
    """x_train, x_val and x_test of ids 0..9, with `bad` in the last row of `key`."""
    arrays = {}
    for part in ("train", "val", "test"):
        x = np.arange(60).reshape(12, 5) % 10
        if key == f"x_{part}":
            x[-1, -1] = bad
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, np.zeros(12)
    return arrays


@pytest.mark.parametrize("key", ["x_train", "x_val", "x_test"])
@pytest.mark.parametrize(
    ("bad", "message", "hint"),
    [
        (
            10,
            "holds ids up to 10, but the first layer `embedding` takes ids 0..9 (input_dim=10)",
            "raise `embedding`'s input_dim to 11, or map rare tokens to an id below 10",
        ),
        (
            -3,
            "holds a negative id (-3), but the first layer `embedding` takes ids 0..9 "
            "(input_dim=10)",
            "token ids start at 0",
        ),
    ],
    ids=["too-large", "negative"],
)
def test_token_ids_outside_the_embedding(key: str, bad: int, message: str, hint: str) -> None:
    arrays = token_data(key, bad)
    error = error_of(
        lambda: validate(
            "d.npz", arrays, (None, 5), (None, 1), "mse", input_dtype="int32", token_ids=EMBEDDING
        )
    )
    assert str(error) == f"`{key}` {message}"
    assert (error.path, error.hint) == ("d.npz", hint)


def test_token_ids_inside_the_embedding_pass() -> None:
    arrays = token_data("x_train", 9)
    notes = validate(
        "d.npz", arrays, (None, 5), (None, 1), "mse", input_dtype="int32", token_ids=EMBEDDING
    )
    assert notes == []


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_fractional_values_for_an_integer_input(dtype: str) -> None:
    arrays = {"x_train": np.full((4, 5), 2.0, dtype), "y_train": np.zeros(4)}
    arrays["x_train"][3, 1] = 2.5
    error = error_of(
        lambda: validate("d.npz", arrays, (None, 5), (None, 1), "mse", input_dtype="int32")
    )
    assert str(error) == (
        "`x_train` holds fractional values (such as 2.5), but the model's input is int32: "
        "Keras would cut them to whole numbers"
    )


def test_whole_floats_for_an_integer_input_pass_with_a_note() -> None:
    arrays = {"x_train": np.full((4, 5), 2.0, "float32"), "y_train": np.zeros(4)}
    notes = validate("d.npz", arrays, (None, 5), (None, 1), "mse", input_dtype="int64")
    assert notes == [
        "note: `x_train` holds float32 values, all whole numbers: Keras converts them to the "
        "model's int64 input"
    ]


def test_csv_features_for_an_integer_input_need_no_note(tmp_path: Path) -> None:
    data = load(csv_file(tmp_path, "a,b,kind\n1,2,0\n3,4,1\n"))
    notes = validate(
        "d.csv",
        data.arrays,
        (None, 2),
        (None, 1),
        "mse",
        feature_names=["a", "b"],
        input_dtype="int32",
    )
    assert notes == []


def test_values_beyond_the_integer_input_dtype() -> None:
    arrays = {"x_train": np.array([[0], [300]], "int64"), "y_train": np.zeros(2)}
    error = error_of(
        lambda: validate("d.npz", arrays, (None, 1), (None, 1), "mse", input_dtype="uint8")
    )
    assert str(error) == (
        "`x_train` holds values from 0 to 300, which do not fit the model's uint8 input (0..255)"
    )


def test_text_input_is_refused() -> None:
    arrays = {"x_train": np.zeros((2, 1)), "y_train": np.zeros(2)}
    error = error_of(
        lambda: validate("d.npz", arrays, (None, 1), (None, 1), "mse", input_dtype="string")
    )
    assert "the model's input is text (`dtype=string`)" in str(error)


def test_many_class_names_are_shown_in_part(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i},class{i:02}\n" for i in range(8))
    notes = check_csv(
        csv_file(tmp_path, f"a,b,kind\n{rows}"), "sparse_categorical_crossentropy", (None, 8)
    )
    assert notes == [
        "note: column `kind` holds class names, numbered in sorted order (class00=0, "
        "class01=1, class02=2, class03=3, class04=4, class05=5, ...)"
    ]


# -- .npz files: only the arrays used are unpacked, after checking their sizes ----------------


def npy_header(dtype: str, shape: tuple) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return header.getvalue()


def crafted_npz(
    path: Path, member: str, header: bytes, zeros: int, method: int = zipfile.ZIP_DEFLATED
) -> str:
    """good() arrays, plus `member`: an .npy `header` then `zeros` zero bytes, streamed into
    the zip so that building a large member costs no memory."""
    with zipfile.ZipFile(path, "w", method, compresslevel=1) as archive:
        for key, array in good().items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{key}.npy", buffer.getvalue())
        with archive.open(f"{member}.npy", "w", force_zip64=True) as stream:
            stream.write(header)
            chunk = bytes(1 << 20)
            for start in range(0, zeros, len(chunk)):
                stream.write(chunk[: min(len(chunk), zeros - start)])
    return str(path)


def test_an_unused_member_is_never_unpacked(tmp_path: Path, monkeypatch) -> None:
    """A 1 MB file holding an unused 256 MB array: loading and checking it opens only
    x_train and y_train, and allocates next to nothing."""
    size = 1 << 28
    path = crafted_npz(tmp_path / "d.npz", "unused", npy_header("uint8", (size,)), size)
    assert Path(path).stat().st_size < size // 200
    opened = []
    open_member = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda archive, name, *args, **kwargs: (
            opened.append(getattr(name, "filename", name)),
            open_member(archive, name, *args, **kwargs),
        )[1],
    )
    tracemalloc.start()
    data = load(path)
    validate(path, data.arrays, INPUT, OUTPUT, "categorical_crossentropy")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sorted(data.arrays) == ["x_train", "y_train"]
    assert "unused.npy" not in opened
    assert peak < 1 << 20, f"peaked at {peak} bytes"


def test_a_member_larger_than_its_header_says_is_refused(tmp_path: Path) -> None:
    header = npy_header("float32", (6, 4))
    path = crafted_npz(tmp_path / "d.npz", "x_test", header, 6 * 4 * 4 + 1000)
    error = error_of(lambda: load(path))
    assert str(error) == (
        f"array `x_test` declares {len(header) + 6 * 4 * 4 + 1000} bytes in the zip archive, "
        f"but its .npy header (float32, shape (6, 4)) makes {len(header) + 96}: the file is "
        "corrupt or crafted"
    )


def test_a_member_compressed_beyond_what_deflate_reaches_is_refused(tmp_path: Path) -> None:
    size = 1 << 23  # bzip2 shrinks 8 MB of zeros to a few dozen bytes
    header = npy_header("uint8", (size,))
    path = crafted_npz(tmp_path / "d.npz", "x_val", header, size, zipfile.ZIP_BZIP2)
    error = error_of(lambda: load(path))
    assert str(error).startswith("array `x_val` would unpack ")
    assert str(error).endswith("more than numpy's compression can shrink anything: a zip bomb?")


def test_a_member_larger_than_memory_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data_module, "_memory_bytes", lambda: 150)
    error = error_of(lambda: load(save(tmp_path, **good(1000))))
    assert str(error).startswith("array `x_train` unpacks into 15.8 KB, more than the 150 bytes")
    assert error.hint == "save the arrays as a folder of .npy files, which kdsl reads in batches"


def test_a_corrupt_member_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    rows = np.random.default_rng(0).normal(size=(2000, 4)).astype("float32")
    np.savez_compressed(path, x_train=rows, y_train=np.zeros(2000))
    content = bytearray(path.read_bytes())
    content[5000:5100] = bytes(100)  # inside x_train's compressed bytes
    path.write_bytes(bytes(content))
    error = error_of(lambda: load(path))
    assert str(error).startswith("array `x_train` cannot be read: ")
    assert error.path == str(path)


def test_missing_arrays_are_named_with_every_member(tmp_path: Path) -> None:
    path = save(tmp_path, features=np.zeros((3, 4)), labels=np.zeros(3))
    assert str(error_of(lambda: load(path))) == (
        "needs arrays `x_train` and `y_train` (or `x` and `y`); found: features, labels"
    )


# -- a CSV's columns are looked up in linear time -----------------------------------------


class CountedName(str):
    """A column name that counts how often it is compared: a quadratic lookup (a list's
    `index` or `in` for every column) compares each name with all the others."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountedName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_csv_columns_are_found_in_linear_time(tmp_path: Path, monkeypatch) -> None:
    """A CSV with 100,000 columns must load: finding each column (the header's duplicate
    check, the features, the model's feature columns at predict time) may compare names
    a few times per column, never each with all the others."""
    from kdsl.train import csvdata

    columns = 3000
    names = [CountedName(f"c{i}") for i in range(columns)]
    rows = [["1"] * (columns + 1) for _ in range(3)]
    real_read = csvdata.read_table

    def counted_table(path):  # the file's table, with names that count their comparisons
        table = real_read(path)
        return csvdata.Table(table.path, [*names, CountedName("label")], rows, table.lines)

    csv = tmp_path / "wide.csv"
    csv.write_text(",".join([*names, "label"]) + "\n" + "\n".join(",".join(r) for r in rows))
    monkeypatch.setattr(csvdata, "read_table", counted_table)
    CountedName.comparisons = 0
    csvdata._check_header(str(csv), [*names, CountedName("label")])
    table = csvdata.read_csv(csv)
    assert table.x.shape == (3, columns)
    x, found = read_features(csv, [CountedName(name) for name in names], "label")
    assert x.shape == (3, columns) and found == names
    assert CountedName.comparisons < 20 * columns, CountedName.comparisons


def test_a_missing_column_lists_a_few_of_many(tmp_path: Path) -> None:
    """A message about a CSV of 100,000 columns names a few of them and counts the rest."""
    from kdsl.train.csvdata import read_csv

    csv = tmp_path / "wide.csv"
    csv.write_text(",".join(f"c{i}" for i in range(1000)) + "\n" + ",".join("1" * 1000) + "\n")
    with pytest.raises(DataError) as raised:
        read_csv(csv, target="nope")
    assert "c0, c1" in str(raised.value) and "and 980 more" in str(raised.value)
    assert len(str(raised.value)) < 400


# -- every dtype that is not a number Keras takes is refused by name ----------------------

NOT_NUMBERS = {
    "complex64": np.zeros((6, 4), "complex64"),
    "complex128": np.zeros((6, 4), "complex128"),
    "longdouble": np.zeros((6, 4), np.longdouble),
    "timedelta64": np.zeros((6, 4), "m8[s]"),
    "datetime64": np.zeros((6, 4), "M8[D]"),
    "text": np.full((6, 4), "a"),
    "bytes": np.full((6, 4), b"a"),
    "record": np.zeros((6, 4), [("a", "f4")]),
}


@pytest.mark.parametrize("dtype", sorted(NOT_NUMBERS))
@pytest.mark.parametrize("key", ["x_train", "y_train"])
@pytest.mark.parametrize("store", ["npz", "folder", "predict"])
def test_dtypes_no_backend_trains_on_are_refused(
    dtype: str, key: str, store: str, tmp_path: Path
) -> None:
    """complex numbers (Keras would drop their imaginary part with only a warning),
    float128, dates and durations (numpy counts durations as integers), text and records:
    a DataError naming the array and its dtype, before any training."""
    from kdsl.train.data import check_numeric, load_folder

    array = NOT_NUMBERS[dtype]
    data = good()
    data[key] = array if key == "x_train" else array[:, 0]
    if np.longdouble(0).itemsize <= 8 and dtype == "longdouble":
        pytest.skip("this platform's long double is a plain float64")
    if store == "npz":
        error = error_of(lambda: check(save(tmp_path, **data)))
    elif store == "folder":
        for name, values in data.items():
            np.save(tmp_path / f"{name}.npy", values)
        arrays = load_folder(tmp_path)
        error = error_of(
            lambda: validate(str(tmp_path), arrays, INPUT, OUTPUT, "mse", on_disk=True)
        )
    else:
        error = error_of(lambda: check_numeric("rows.npy", "rows.npy", array))
    assert f"holds {array.dtype} values" in str(error), str(error)


# -- sizes declared in headers are checked against the file -------------------------------


def huge_npy(path: Path, shape: tuple = (10**12, 4)) -> Path:
    """An .npy file whose header claims `shape` of float32, followed by a few bytes."""
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    path.write_bytes(buffer.getvalue() + bytes(64))
    return path


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("rows", [10**12, 10**6, 17])
def test_an_npy_header_claiming_more_than_the_file_holds(
    tmp_path: Path, mmap: bool, rows: int
) -> None:
    """A header claiming 10^12 rows (or any more than the file holds) is refused saying
    what is true, never a MemoryError: for a folder's memory map (`kdsl run`) and for rows
    read into memory (`kdsl predict`)."""
    from kdsl.train.data import load_npy

    path = huge_npy(tmp_path / "x_train.npy", (rows, 4))
    error = error_of(lambda: load_npy(path, mmap=mmap))
    needed = 128 + rows * 16
    assert f"shape ({rows}, 4), {needed:,} bytes, but the file has 192" in str(error)


def test_predict_on_an_npy_claiming_10_12_rows(tmp_path: Path) -> None:
    from kdsl.train.predict import load_inputs

    path = huge_npy(tmp_path / "rows.npy")
    assert "but the file has" in str(error_of(lambda: load_inputs(path, {})))


def forged_npz(path: Path, rows: int) -> Path:
    """An .npz whose stored `x_train` member declares, in the zip's central directory, the
    size its .npy header claims (`rows` × 4 float32) although the file is a few hundred
    bytes: every declared size agrees with every other, only the file disagrees."""
    member = huge_npy(path.with_suffix(".npy"), (rows, 4))
    with zipfile.ZipFile(path, "w") as archive:  # stored: no compression ratio to check
        archive.write(member, "x_train.npy")
        archive.writestr("y_train.npy", b"")
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # x_train's entry comes first
    size = 128 + rows * 16
    data[central + 20 : central + 28] = size.to_bytes(4, "little") * 2  # compressed, full
    path.write_bytes(bytes(data))
    return path


def test_an_npz_member_declaring_more_than_the_file(tmp_path: Path) -> None:
    """Sizes that agree with each other but not with the file: refused before numpy
    allocates what the header says (which raised a MemoryError)."""
    from kdsl.train.predict import load_inputs

    path = forged_npz(tmp_path / "d.npz", 10**8)
    for call in (lambda: load_npz(path), lambda: load_inputs(path, {})):
        error = error_of(call)
        assert "array `x_train` declares 1,600,000,128 bytes in the zip archive" in str(error)
        assert "the whole file has" in str(error)


def test_permission_denied_is_said(tmp_path: Path, monkeypatch) -> None:
    """An .npz, .npy or .csv the OS will not let kdsl read is `permission denied`, not
    "not an .npz file" (zipfile's probe takes any OSError for a bad archive). Root reads
    everything, so for root the OS's refusal is simulated."""
    import builtins
    import os

    from kdsl import files
    from kdsl.train.csvdata import read_csv
    from kdsl.train.data import load_npy

    npz = save(tmp_path, **good())
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((3, 4), "float32"))
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,2\n")
    targets = {npz, str(npy), str(csv)}
    if os.geteuid() == 0:
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if str(file) in targets:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(files, "open", refusing_open, raising=False)
    else:
        for target in targets:
            Path(target).chmod(0)
    for call in (lambda: load_npz(npz), lambda: load_npy(npy), lambda: read_csv(csv)):
        error = error_of(call)
        assert str(error) == "permission denied: the file cannot be read", str(error)


def test_a_shape_error_names_a_few_of_many_columns() -> None:
    """100,000 CSV columns against a model of 4 inputs: a message of a few columns."""
    from kdsl.train.data import check_shape

    names = [f"column_{i}" for i in range(100_000)]
    error = error_of(
        lambda: check_shape("wide.csv", "x_train", np.zeros((1, 100_000)), (None, 4), names)
    )
    assert "100,000 feature columns: column_0, column_1" in str(error)
    assert "and 99,980 more" in str(error) and len(str(error)) < 500
