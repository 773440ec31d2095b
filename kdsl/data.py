"""Training data: loading an .npz, a CSV or a folder of .npy files safely and checking it
against the model before training.

Every problem becomes a `DataError` naming the file, the array, what was expected and what
was found, so a user never meets a traceback from deep inside `fit`. A folder's arrays are
memory-mapped and every pass over them reads blocks, so data larger than memory is checked
without being loaded.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdsl.catalog import CROSSENTROPY_LOSSES
from kdsl.csvdata import read_csv
from kdsl.errors import DataError
from kdsl.shapes import show_shape

ALIASES = {"x": "x_train", "y": "y_train"}
PAIRS = (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test"))
BLOCK_BYTES = 64 << 20  # what one step of a pass over the data holds in memory


@dataclass
class Dataset:
    """Arrays to train on (`x_train`, `y_train`, ...) and what is known of their columns.

    `class_names[i]` names class id i when the labels were text; `feature_names` and
    `target` are a CSV's columns, kept so predictions can use the same columns later.
    `on_disk`: the arrays are memory-mapped .npy files of a folder, read in batches.
    """

    arrays: dict[str, np.ndarray]
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    target: str | None = None
    on_disk: bool = False


def is_csv(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".csv"


def load(path: str | Path, target: str | None = None) -> Dataset:
    """An .npz, a folder of .npy files, or a .csv whose label column is `target` (default:
    the last column)."""
    if is_csv(path):
        table = read_csv(path, target)
        arrays = {"x_train": table.x, "y_train": table.y}
        return Dataset(arrays, table.class_names, table.feature_names, table.target)
    if Path(path).is_dir():
        return Dataset(load_folder(path), on_disk=True)
    return Dataset(load_npz(path))


# The arrays a data folder may hold, as .npy files (x and y stand for x_train, y_train).
FOLDER_ARRAYS = (*(name for pair in PAIRS for name in pair), *ALIASES)


def load_folder(path: str | Path) -> dict[str, np.ndarray]:
    """The .npy files of a folder (`x_train.npy`, ...), memory-mapped: nothing is read but
    their headers. Named by file stem, with `x` and `y` renamed `x_train` and `y_train`."""
    data: dict[str, np.ndarray] = {}
    for name in FOLDER_ARRAYS:  # other .npy files in the folder are not kdsl's business
        file = Path(path, f"{name}.npy")
        if file.exists():
            data[name] = load_npy(file)
    return _renamed(data)


def load_npy(file: str | Path, mmap: bool = True) -> np.ndarray:
    """One .npy file, never unpickling anything (pickles can run code); memory-mapped
    unless `mmap` is false, and then in row order, so batches can be read from it."""
    name = str(file)
    if not Path(file).exists():
        raise DataError(name, "no such file")
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error) or "Python objects" in str(error):
            raise DataError(
                name,
                "holds Python objects (a pickle), which kdsl refuses to load: "
                "unpickling can run arbitrary code",
                "save numeric arrays, e.g. numpy.save(path, numpy.asarray(values, 'float32'))",
            ) from None
        raise DataError(name, f"is not a readable .npy file ({error})") from None
    except (OSError, EOFError) as error:
        raise DataError(name, f"is not a readable .npy file ({error})") from None
    if not isinstance(array, np.memmap):  # read into memory, or empty: nothing to map
        return array
    if array.ndim > 1 and not array.flags.c_contiguous:
        raise DataError(
            name,
            "is stored in column-major (Fortran) order, so its rows cannot be read in batches",
            "save it in row order: numpy.save(path, numpy.ascontiguousarray(array))",
        )
    return array


def row_blocks(array: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of `array` in blocks of about BLOCK_BYTES, for passes over data larger than
    memory. A memory-mapped file's blocks are read rather than indexed: the pages of a map
    stay counted in the process's memory once touched."""
    row_size = math.prod(array.shape[1:])
    step = max(1, BLOCK_BYTES // max(1, row_size * array.itemsize))
    for start in range(0, len(array), step):
        stop = min(start + step, len(array))
        if isinstance(array, np.memmap):
            offset = array.offset + start * row_size * array.itemsize
            block = np.fromfile(
                array.filename, array.dtype, (stop - start) * row_size, offset=offset
            )
            yield block.reshape(stop - start, *array.shape[1:])
        else:
            yield array[start:stop]


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
    return _renamed(data) if aliases else data


def _renamed(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`x` and `y` renamed `x_train` and `y_train`, unless those are there too."""
    for alias, key in ALIASES.items():
        if key not in data and alias in data:
            data[key] = data.pop(alias)
    return data


def standardize(path: str, arrays: dict[str, np.ndarray], input_dtype: str) -> dict:
    """Scale every feature to mean 0 and standard deviation 1, with the training rows'
    statistics only (so nothing leaks from validation or test rows); returns them as the
    `mean` and `variance` of the `keras.layers.Normalization` layer `kdsl run --save` puts
    in front of the model, and scales exactly as that layer does (see `normalize`).

    Block by block: besides the float32 result, memory holds one block in float64.
    """
    if input_dtype.startswith(("int", "uint")):
        raise DataError(
            path,
            f"--standardize would turn the model's {input_dtype} inputs (token ids) into fractions",
            "drop --standardize for this model",
        )
    mean, std = _mean_and_std(arrays["x_train"])
    std[std == 0] = 1.0  # a constant feature stays 0 rather than dividing by zero
    scaling = {"mean": mean.astype("float32"), "variance": (std**2).astype("float32")}
    for key in ("x_train", "x_val", "x_test"):
        if key in arrays:
            x = arrays[key]
            scaled = np.empty(x.shape, "float32")
            start = 0
            for block in row_blocks(x):
                scaled[start : start + len(block)] = normalize(block, **scaling)
                start += len(block)
            arrays[key] = scaled
    return {name: values.tolist() for name, values in scaling.items()}


# Keras's default fuzz factor (`keras.config.epsilon()`), the least divisor of Normalization.
KERAS_EPSILON = np.float32(1e-7)


def normalize(x: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """What `keras.layers.Normalization(mean=mean, variance=variance)` computes, in the same
    float32 steps, so the saved model given raw rows sees exactly what training saw."""
    divisor = np.maximum(np.sqrt(variance.astype("float32")), KERAS_EPSILON)
    return (x.astype("float32") - mean.astype("float32")) / divisor


def _mean_and_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation in one pass over blocks, merged with Chan
    et al.'s formula (as stable as numpy's two-pass mean and std)."""
    count, mean, squares = 0, np.zeros(x.shape[1:]), np.zeros(x.shape[1:])
    for block in row_blocks(x):
        block = block.astype("float64")
        size = len(block)
        block_mean = block.mean(axis=0)
        delta = block_mean - mean
        total = count + size
        mean = mean + delta * size / total
        squares += ((block - block_mean) ** 2).sum(axis=0) + delta**2 * count * size / total
        count = total
    return mean, np.sqrt(squares / count)


def apply_standardization(x: np.ndarray, scaling: dict | None) -> np.ndarray:
    """The scaling stored beside a model saved before the model held it (a sidecar with
    `mean` and `std`), applied to new rows as it was in training."""
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
    on_disk: bool = False,
) -> list[str]:
    """Check arrays against the model's input, output and loss; fix what is safe to fix.

    `class_names`, `feature_names` and `target` describe a CSV's columns, so messages can
    speak of columns rather than arrays; `on_disk` arrays are a folder's .npy files, named
    as files and never loaded whole. Returns notes to print (such as one-hot encoding
    class ids); raises `DataError`.
    """
    if "x_train" not in data or "y_train" not in data:
        if on_disk:
            found = ", ".join(f"{key}.npy" for key in sorted(data)) or "none"
            raise DataError(
                path,
                f"needs files x_train.npy and y_train.npy (or x.npy and y.npy); found: {found}",
                "save them with numpy.save(folder / 'x_train.npy', x_train), and so on",
            )
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
            if on_disk:
                have, lack = f"{have}.npy", f"{lack}.npy"
            raise DataError(path, f"has `{have}` but no `{lack}`", "save both or neither")
        if x_key not in data:
            continue
        x, y = data[x_key], data[y_key]
        x_name, y_name = (f"{x_key}.npy", f"{y_key}.npy") if on_disk else (x_key, y_key)
        for key, array in ((x_name, x), (y_name, y)):
            check_numeric(path, key, array)
        if len(x) != len(y):
            raise DataError(
                path,
                f"`{x_name}` has {len(x)} rows but `{y_name}` has {len(y)}",
                "every row of x needs exactly one label in y",
            )
        check_shape(path, x_name, x, input_shape, feature_names)
        name = f"column `{target}`" if target is not None else f"`{y_name}`"
        data[y_key], note = _check_labels(path, name, y, output, loss_key, on_disk)
        if note and note not in notes:
            notes.append(note)
    return notes


def check_shape(
    path: str,
    key: str,
    x: np.ndarray,
    input_shape: tuple,
    feature_names: list[str] | None = None,
    hint: str | None = None,
) -> None:
    """Rows of `x` must have the shape of the model's input (`None` matches any size);
    `feature_names`: they are a CSV's columns, named so in the message."""
    expected = tuple(input_shape[1:])
    found = tuple(x.shape[1:])
    if _shape_matches(expected, found):
        return
    if feature_names is not None:
        if hint is None:
            hint = f"change the model's input to `in {len(feature_names)}`, or drop columns"
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
        hint or "change the model's input shape (`in SHAPE`) or reshape the data",
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
    if not np.issubdtype(array.dtype, np.inexact):
        return
    bad = sum(int(np.size(block) - np.isfinite(block).sum()) for block in row_blocks(array))
    if bad:
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
    path: str, name: str, y: np.ndarray, output: tuple, loss_key: str, on_disk: bool = False
) -> tuple[np.ndarray, str | None]:
    units = _units(path, output)
    low, high, integral = _label_range(y)
    ids = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if loss_key == "sparse_categorical_crossentropy":
        if not ids:
            raise DataError(
                path,
                f"{name} has rows of shape {show_shape(y.shape[1:])}, but "
                "sparse_categorical_crossentropy takes one class id per row",
                "for one-hot labels use `categorical_crossentropy`",
            )
        _check_ids(path, name, low, high, integral, units)
        return y, None
    if loss_key == "categorical_crossentropy" and ids and units > 1:
        _check_ids(
            path,
            name,
            low,
            high,
            integral,
            units,
            "or use `sparse_categorical_crossentropy` for class ids",
        )
        if on_disk:  # one-hot labels would be a new array in memory, rows × classes
            raise DataError(
                path,
                f"{name} holds class ids, but categorical_crossentropy takes one-hot rows, "
                "and kdsl one-hot encodes only data it loads into memory, not a folder's",
                "use `sparse_categorical_crossentropy`, or save one-hot labels",
            )
        one_hot = np.eye(units, dtype="float32")[y.reshape(-1).astype("int64")]
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
    if loss_key == "binary_crossentropy" and (low < 0 or high > 1):
        raise DataError(
            path,
            f"{name} holds values from {_show_number(low)} to {_show_number(high)}, "
            "but binary_crossentropy takes labels from 0 to 1",
            "encode the two classes as 0 and 1",
        )
    return y, None


def _label_range(y: np.ndarray) -> tuple[float, float, bool]:
    """The lowest and highest label, and whether all are whole numbers: one pass."""
    low, high, integral = math.inf, -math.inf, True
    whole_type = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
    for block in row_blocks(y):
        low, high = min(low, block.min()), max(high, block.max())
        integral = integral and (whole_type or bool(np.all(np.mod(block, 1) == 0)))
    return low, high, integral


def _check_ids(
    path: str,
    name: str,
    low: float,
    high: float,
    integral: bool,
    units: int,
    extra: str = "",
) -> None:
    if not integral:
        raise DataError(path, f"{name} should hold whole class ids, found fractional values")
    low, high = int(low), int(high)
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
