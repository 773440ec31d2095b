"""Training data: loading an .npz or a CSV safely and checking it against the model before
training.

Every problem becomes a `DataError` naming the file, the array, what was expected and what
was found, so a user never meets a traceback from deep inside `fit`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdsl.catalog import CROSSENTROPY_LOSSES
from kdsl.csvdata import read_csv
from kdsl.errors import DataError
from kdsl.shapes import show_shape

ALIASES = {"x": "x_train", "y": "y_train"}
PAIRS = (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test"))


@dataclass
class Dataset:
    """Arrays to train on (`x_train`, `y_train`, ...) and what is known of their columns.

    `class_names[i]` names class id i when the labels were text; `feature_names` and
    `target` are a CSV's columns, kept so predictions can use the same columns later.
    """

    arrays: dict[str, np.ndarray]
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    target: str | None = None


def is_csv(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".csv"


def load(path: str | Path, target: str | None = None) -> Dataset:
    """An .npz, or a .csv whose label column is `target` (default: the last column)."""
    if is_csv(path):
        table = read_csv(path, target)
        arrays = {"x_train": table.x, "y_train": table.y}
        return Dataset(arrays, table.class_names, table.feature_names, table.target)
    return Dataset(load_npz(path))


def load_npz(path: str | Path, aliases: bool = True) -> dict[str, np.ndarray]:
    """Arrays of an .npz file, never unpickling anything (pickles can run code).

    With `aliases`, `x` and `y` are renamed `x_train` and `y_train`.
    """
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise DataError(name, "no such file")
    if file.is_dir():
        raise DataError(name, "is a directory, not an .npz file")
    if not zipfile.is_zipfile(file):
        raise DataError(
            name,
            "is not an .npz file (not a zip archive, or truncated)",
            "save arrays with numpy.savez(path, x_train=..., y_train=...)",
        )
    data: dict[str, np.ndarray] = {}
    try:
        with np.load(file, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    data[key] = npz[key]
                except ValueError as error:
                    if "allow_pickle" in str(error):
                        raise DataError(
                            name,
                            f"array `{key}` holds Python objects (a pickle), which kdsl refuses "
                            "to load: unpickling can run arbitrary code",
                            "save numeric arrays, e.g. numpy.asarray(values, dtype='float32')",
                        ) from None
                    raise DataError(name, f"array `{key}` cannot be read: {error}") from None
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(name, f"is not a readable .npz file ({error})") from None
    for alias, key in ALIASES.items():
        if aliases and key not in data and alias in data:
            data[key] = data.pop(alias)
    return data


def standardize(path: str, arrays: dict[str, np.ndarray], input_dtype: str) -> dict:
    """Scale every feature to mean 0 and standard deviation 1, with the training rows'
    statistics only (so nothing leaks from validation or test rows); returns them, so
    `kdsl predict` can scale new rows the same way."""
    if input_dtype.startswith(("int", "uint")):
        raise DataError(
            path,
            f"--standardize would turn the model's {input_dtype} inputs (token ids) into fractions",
            "drop --standardize for this model",
        )
    train = arrays["x_train"].astype("float64")
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays 0 rather than dividing by zero
    for key in ("x_train", "x_val", "x_test"):
        if key in arrays:
            arrays[key] = ((arrays[key] - mean) / std).astype("float32")
    return {"mean": mean.tolist(), "std": std.tolist()}


def apply_standardization(x: np.ndarray, scaling: dict | None) -> np.ndarray:
    """The scaling `standardize` computed at training time, applied to new rows."""
    if not scaling:
        return x
    return ((x - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])).astype("float32")


def validate(
    path: str,
    data: dict[str, np.ndarray],
    input_shape: tuple,
    output_shape: tuple,
    loss_key: str,
    *,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
    target: str | None = None,
) -> list[str]:
    """Check arrays against the model's input, output and loss; fix what is safe to fix.

    `class_names`, `feature_names` and `target` describe a CSV's columns, so messages can
    speak of columns rather than arrays. Returns notes to print (such as one-hot encoding
    class ids); raises `DataError`.
    """
    if "x_train" not in data or "y_train" not in data:
        found = ", ".join(sorted(data)) or "none"
        raise DataError(
            path,
            f"needs arrays `x_train` and `y_train` (or `x` and `y`); found: {found}",
            "save them with numpy.savez(path, x_train=..., y_train=...)",
        )
    output = tuple(output_shape[1:])
    if class_names is not None:
        _check_classes(path, f"column `{target}`", class_names, output, loss_key)
    notes: list[str] = []
    for x_key, y_key in PAIRS:
        if (x_key in data) != (y_key in data):
            have, lack = (x_key, y_key) if x_key in data else (y_key, x_key)
            raise DataError(path, f"has `{have}` but no `{lack}`", "save both or neither")
        if x_key not in data:
            continue
        x, y = data[x_key], data[y_key]
        for key, array in ((x_key, x), (y_key, y)):
            check_numeric(path, key, array)
        if len(x) != len(y):
            raise DataError(
                path,
                f"`{x_key}` has {len(x)} rows but `{y_key}` has {len(y)}",
                "every row of x needs exactly one label in y",
            )
        if feature_names is not None:
            hint = f"change the model's input to `in {len(feature_names)}`, or drop columns"
            check_shape(path, x_key, x, input_shape, feature_names, hint)
        else:
            check_shape(path, x_key, x, input_shape)
        name = f"column `{target}`" if target is not None else f"`{y_key}`"
        data[y_key], note = _check_labels(path, name, y, output, loss_key)
        if note and note not in notes:
            notes.append(note)
    return notes


def check_shape(
    path: str,
    key: str,
    x: np.ndarray,
    input_shape: tuple,
    feature_names: list[str] | None = None,
    hint: str = "change the model's input shape (`in SHAPE`) or reshape the data",
) -> None:
    """Rows of `x` must have the shape of the model's input (`None` matches any size)."""
    expected = tuple(input_shape[1:])
    found = tuple(x.shape[1:])
    if _shape_matches(expected, found):
        return
    if feature_names is not None:
        raise DataError(
            path,
            f"model expects rows of shape {show_shape(expected)}, but there are "
            f"{len(feature_names)} feature columns: {', '.join(feature_names)}",
            hint,
        )
    raise DataError(
        path,
        f"model expects rows of shape {show_shape(expected)}, "
        f"`{key}` has rows of shape {show_shape(found)}",
        hint,
    )


def _check_classes(
    path: str, name: str, class_names: list[str], output: tuple, loss_key: str
) -> None:
    """Text labels name classes: the loss must classify, into as many classes as there are."""
    count = len(class_names)
    shown = ", ".join(class_names[:6]) + (", ..." if count > 6 else "")
    units = _units(path, output)
    if loss_key not in CROSSENTROPY_LOSSES:
        raise DataError(
            path,
            f"{name} holds class names ({shown}), but `{loss_key}` is not a classification loss",
            f"end the model with `dense {count} softmax` and use `sparse_categorical_crossentropy`",
        )
    if loss_key == "binary_crossentropy":
        if count != 2 or units != 1:
            raise DataError(
                path,
                f"{name} has {count} classes ({shown}); binary_crossentropy needs 2 classes "
                f"and a model with 1 output, this one has {units}",
                f"for {count} classes, end with `dense {count} softmax` and use "
                "`sparse_categorical_crossentropy`"
                if count != 2
                else "end the model with `dense 1 sigmoid`",
            )
    elif units != count:
        raise DataError(
            path,
            f"{name} has {count} classes ({shown}), but the model outputs {units}",
            f"make the last layer `dense {count} softmax`",
        )


def check_numeric(path: str, key: str, array: np.ndarray) -> None:
    """Rows of finite numbers: not a scalar, not empty, not text, no NaN or infinity."""
    if array.ndim == 0:
        raise DataError(path, f"`{key}` is a single value, not an array of rows")
    if len(array) == 0:
        raise DataError(path, f"`{key}` is empty (0 rows)")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(
            path,
            f"`{key}` holds {array.dtype} values, not numbers",
            "encode text or categories as numbers before saving",
        )
    if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise DataError(
            path,
            f"`{key}` holds {bad} NaN or infinite value(s)",
            "drop or impute those rows before training",
        )


def _units(path: str, output: tuple) -> int:
    """The model's output size, which labels are checked against."""
    if output and output[-1] is None:
        raise DataError(
            path,
            f"the model's outputs have no fixed size {output}, so labels cannot be checked",
            "end the model with a layer of fixed size, e.g. `dense 3 softmax`",
        )
    return output[-1] if output else 1


def _check_labels(
    path: str, name: str, y: np.ndarray, output: tuple, loss_key: str
) -> tuple[np.ndarray, str | None]:
    units = _units(path, output)
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    ids = y.reshape(-1) if (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)) else None
    if loss_key == "sparse_categorical_crossentropy":
        if ids is None:
            raise DataError(
                path,
                f"{name} has rows of shape {show_shape(y.shape[1:])}, but "
                "sparse_categorical_crossentropy takes one class id per row",
                "for one-hot labels use `categorical_crossentropy`",
            )
        _check_ids(path, name, ids, integral, units)
        return y, None
    if loss_key == "categorical_crossentropy" and ids is not None and units > 1:
        _check_ids(
            path,
            name,
            ids,
            integral,
            units,
            "or use `sparse_categorical_crossentropy` for class ids",
        )
        one_hot = np.eye(units, dtype="float32")[ids.astype("int64")]
        return one_hot, (
            f"note: {name} holds class ids; one-hot encoding them into {units} "
            "columns for categorical_crossentropy"
        )
    found = tuple(y.shape[1:])
    if found != output and not (found == () and output == (1,)):
        raise DataError(
            path,
            f"model outputs rows of shape {show_shape(output)}, "
            f"{name} has labels of shape {show_shape(found)}",
            "make the last layer's units match the labels",
        )
    if loss_key == "binary_crossentropy" and (y.min() < 0 or y.max() > 1):
        raise DataError(
            path,
            f"{name} holds values from {_show_number(y.min())} to {_show_number(y.max())}, "
            "but binary_crossentropy takes labels from 0 to 1",
            "encode the two classes as 0 and 1",
        )
    return y, None


def _check_ids(
    path: str, name: str, ids: np.ndarray, integral: bool, units: int, extra: str = ""
) -> None:
    if not integral:
        raise DataError(path, f"{name} should hold whole class ids, found fractional values")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= units:
        raise DataError(
            path,
            f"{name} holds class ids {low}..{high}, but the model outputs "
            f"{units} classes (ids 0..{units - 1})",
            f"make the last layer `dense {high + 1} softmax`" + (f" {extra}" if extra else ""),
        )


def _shape_matches(expected: tuple, found: tuple) -> bool:
    if len(expected) != len(found):
        return False
    return all(e is None or e == f for e, f in zip(expected, found, strict=True))


def _show_number(value) -> str:
    return f"{float(value):g}"
