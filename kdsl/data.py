"""Training data: loading an .npz safely and checking it against the model before training.

Every problem becomes a `DataError` naming the file, the array, what was expected and what
was found, so a user never meets a traceback from deep inside `fit`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from kdsl.errors import DataError

ALIASES = {"x": "x_train", "y": "y_train"}
PAIRS = (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test"))


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz file, never unpickling anything (pickles can run code)."""
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
        if key not in data and alias in data:
            data[key] = data.pop(alias)
    return data


def validate(
    path: str,
    data: dict[str, np.ndarray],
    input_shape: tuple,
    output_shape: tuple,
    loss_key: str,
) -> list[str]:
    """Check arrays against the model's input, output and loss; fix what is safe to fix.

    Returns notes to print (such as one-hot encoding class ids); raises `DataError`.
    """
    if "x_train" not in data or "y_train" not in data:
        found = ", ".join(sorted(data)) or "none"
        raise DataError(
            path,
            f"needs arrays `x_train` and `y_train` (or `x` and `y`); found: {found}",
            "save them with numpy.savez(path, x_train=..., y_train=...)",
        )
    notes: list[str] = []
    for x_key, y_key in PAIRS:
        if (x_key in data) != (y_key in data):
            have, lack = (x_key, y_key) if x_key in data else (y_key, x_key)
            raise DataError(path, f"has `{have}` but no `{lack}`", "save both or neither")
        if x_key not in data:
            continue
        x, y = data[x_key], data[y_key]
        for key, array in ((x_key, x), (y_key, y)):
            _check_numeric(path, key, array)
        if len(x) != len(y):
            raise DataError(
                path,
                f"`{x_key}` has {len(x)} rows but `{y_key}` has {len(y)}",
                "every row of x needs exactly one label in y",
            )
        expected = tuple(input_shape[1:])
        found = tuple(x.shape[1:])
        if not _shape_matches(expected, found):
            raise DataError(
                path,
                f"model expects rows of shape {_show_shape(expected)}, "
                f"`{x_key}` has rows of shape {_show_shape(found)}",
                "change the model's input shape (`in SHAPE`) or reshape the data",
            )
        data[y_key], note = _check_labels(path, y_key, y, tuple(output_shape[1:]), loss_key)
        if note and note not in notes:
            notes.append(note)
    return notes


def _check_numeric(path: str, key: str, array: np.ndarray) -> None:
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


def _check_labels(
    path: str, key: str, y: np.ndarray, output: tuple, loss_key: str
) -> tuple[np.ndarray, str | None]:
    units = output[-1] if output else 1
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    ids = y.reshape(-1) if (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)) else None
    if loss_key == "sparse_categorical_crossentropy":
        if ids is None:
            raise DataError(
                path,
                f"`{key}` has rows of shape {_show_shape(y.shape[1:])}, but "
                "sparse_categorical_crossentropy takes one class id per row",
                "for one-hot labels use `categorical_crossentropy`",
            )
        _check_ids(path, key, ids, integral, units)
        return y, None
    if loss_key == "categorical_crossentropy" and ids is not None and units > 1:
        _check_ids(
            path,
            key,
            ids,
            integral,
            units,
            "or use `sparse_categorical_crossentropy` for class ids",
        )
        one_hot = np.eye(units, dtype="float32")[ids.astype("int64")]
        return one_hot, (
            f"note: `{key}` holds class ids; one-hot encoding them into {units} "
            "columns for categorical_crossentropy"
        )
    found = tuple(y.shape[1:])
    if found != output and not (found == () and output == (1,)):
        raise DataError(
            path,
            f"model outputs rows of shape {_show_shape(output)}, "
            f"`{key}` has labels of shape {_show_shape(found)}",
            "make the last layer's units match the labels",
        )
    return y, None


def _check_ids(
    path: str, key: str, ids: np.ndarray, integral: bool, units: int, extra: str = ""
) -> None:
    if not integral:
        raise DataError(path, f"`{key}` should hold whole class ids, found fractional values")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= units:
        raise DataError(
            path,
            f"`{key}` holds class ids {low}..{high}, but the model outputs "
            f"{units} classes (ids 0..{units - 1})",
            f"make the last layer `dense {high + 1} softmax`" + (f" {extra}" if extra else ""),
        )


def _shape_matches(expected: tuple, found: tuple) -> bool:
    if len(expected) != len(found):
        return False
    return all(e is None or e == f for e, f in zip(expected, found, strict=True))


def _show_shape(shape: tuple) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
