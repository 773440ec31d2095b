"""Training data: loading an .npz, a CSV or a folder of .npy files safely and checking it
against the model before training.

Every problem becomes a `DataError` naming the file, the array, what was expected and what
was found, so a user never meets a traceback from deep inside `fit`. A folder's arrays are
memory-mapped and every pass over them reads blocks, so data larger than memory is checked
without being loaded.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdsl.errors import DataError
from kdsl.files import check_regular_file
from kdsl.ir import CROSSENTROPY_LOSSES, show_shape
from kdsl.train.csvdata import listed, read_csv

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
    kind: str | None = None  # "images" or "text": a folder of class subfolders (folders.py)


@dataclass(frozen=True)
class TokenIds:
    """The ids a model's first layer looks up, 0..count-1 (an embedding's input_dim):
    others fail deep inside training, so the data is checked against them first."""

    count: int
    layer: str  # the layer's name, for messages: `embedding`


def is_csv(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".csv"


def load(path: str | Path, target: str | None = None, named: bool = False) -> Dataset:
    """An .npz, a folder of .npy files, or a .csv whose label column is `target` (default:
    the last column). `named`: the model has several inputs or outputs, whose arrays are
    named after them (`x_train.title`, see `validate_named`)."""
    if is_csv(path):
        if named:
            raise DataError(
                str(path),
                "is a CSV file, but the model has several inputs or outputs",
                "save one array per input and output in an .npz: "
                "numpy.savez(path, **{'x_train.title': ..., 'y_train.kind': ...})",
            )
        table = read_csv(path, target)
        arrays = {"x_train": table.x, "y_train": table.y}
        return Dataset(arrays, table.class_names, table.feature_names, table.target)
    if Path(path).is_dir() and named:
        raise DataError(
            str(path),
            "is a folder of .npy files, which kdsl reads for a model of one input and one output",
            "save the arrays in an .npz: numpy.savez(path, **{'x_train.title': ..., ...})",
        )
    if Path(path).is_dir():
        return Dataset(load_folder(path), on_disk=True)
    if named:
        arrays = load_npz(path, aliases=False)
        return Dataset({k: v for k, v in arrays.items() if _is_named_array(k)})
    return Dataset(load_npz(path, names=TRAINING_ARRAYS))


def _is_named_array(key: str) -> bool:
    part, dot, name = key.partition(".")
    return bool(dot and name) and part in TRAINING_ARRAYS


# The arrays a data folder may hold, as .npy files (x and y stand for x_train, y_train).
# `sample_weight`: one weight per training row, for `fit sample_weight=true`.
FOLDER_ARRAYS = (*(name for pair in PAIRS for name in pair), *ALIASES, "sample_weight")


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
    check_regular_file(file, DataError, "an .npy file")
    _check_npy_size(name, mmap)
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


def _read_header(stream) -> tuple[tuple[int, ...], np.dtype, int]:
    """An .npy header's shape and dtype, and where the data starts: its few bytes only."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:  # 2.0, or 3.0 (the same with a UTF-8 header); read_magic refuses others
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    return shape, dtype, stream.tell()


def _check_npy_size(name: str, mmap: bool) -> None:
    """Refuse an .npy file whose header declares more data than the file holds (numpy
    would try to allocate it: a MemoryError for a header claiming 10^12 rows), or, read
    into memory, more than the machine has. Unreadable headers are left to np.load."""
    try:
        with open(name, "rb") as stream:
            shape, dtype, offset = _read_header(stream)
            size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError, EOFError):
        return
    if dtype.hasobject:  # a pickle: np.load refuses it, and says why
        return
    needed = offset + math.prod(shape) * dtype.itemsize
    if size < needed:
        raise DataError(
            name,
            f"is not a readable .npy file: its header declares {dtype} values of shape "
            f"{shape}, {needed:,} bytes, but the file has {size:,} (truncated, or not "
            "written by numpy)",
            "save the array again with numpy.save",
        )
    if not mmap and needed - offset > _memory_bytes():
        raise DataError(
            name,
            f"holds {_show_bytes(needed - offset)}, more than this machine's "
            f"{_show_bytes(_memory_bytes())} of memory",
            "predict on fewer rows at a time",
        )


def row_blocks(array: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of `array` in blocks of about BLOCK_BYTES, for passes over data larger than
    memory. A memory-mapped file's blocks are read rather than indexed: the pages of a map
    stay counted in the process's memory once touched."""
    row_size = math.prod(array.shape[1:])
    step = max(1, BLOCK_BYTES // max(1, row_size * array.itemsize))
    for start in range(0, len(array), step):
        stop = min(start + step, len(array))
        if isinstance(array, np.memmap) and array.filename is not None:
            offset = array.offset + start * row_size * array.itemsize
            count = (stop - start) * row_size
            block = np.fromfile(array.filename, array.dtype, count, offset=offset)
            if block.size != count:  # the file was cut short since it was opened
                raise short_file({"": array}) or DataError(array.filename, "cannot be read")
            yield block.reshape(stop - start, *array.shape[1:])
        else:
            yield array[start:stop]


def short_file(arrays: dict[str, np.ndarray]) -> DataError | None:
    """The error for a memory-mapped file now shorter than its header says (cut short
    while kdsl was reading it), or None when every file is whole."""
    for array in arrays.values():
        if isinstance(array, np.memmap) and array.filename:
            size = Path(array.filename).stat().st_size if Path(array.filename).exists() else 0
            needed = array.offset + array.nbytes
            if size < needed:
                return DataError(
                    str(array.filename),
                    f"is now {size} bytes, shorter than its header says ({needed}): "
                    "it changed while kdsl was reading it",
                    "write data files completely before `kdsl run` reads them",
                )
    return None


# Deflate, numpy.savez_compressed's method, shrinks data at most about 1030 times (a file
# of zeros); a member that claims to shrink more was crafted to explode (a zip bomb).
MAX_COMPRESSION_RATIO = 1100
# The arrays `kdsl run` reads from an .npz: its other members are never decompressed.
TRAINING_ARRAYS = FOLDER_ARRAYS


def load_npz(
    path: str | Path, aliases: bool = True, names: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Arrays of an .npz file, never unpickling anything (pickles can run code).

    Only the members `names` (default: all) are decompressed, each after checking what
    its zip entry and its .npy header declare (see `_npz_member`), so a small file cannot
    unpack into gigabytes. With `aliases`, `x` and `y` are renamed `x_train`, `y_train`.
    """
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise DataError(name, "no such file")
    check_regular_file(file, DataError, "an .npz file")
    if not zipfile.is_zipfile(file):
        raise DataError(
            name,
            "is not an .npz file (not a zip archive, or truncated)",
            "save arrays with numpy.savez(path, x_train=..., y_train=...)",
        )
    data: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(file) as archive:
            members = {entry.filename.removesuffix(".npy"): entry for entry in archive.infolist()}
            wanted = [key for key in members if names is None or key in names]
            budget = _memory_bytes()
            archive_size = file.stat().st_size
            for key in wanted:
                entry = members[key]
                if entry.compress_size > archive_size:
                    raise DataError(
                        name,
                        f"array `{key}` declares {entry.compress_size:,} bytes in the zip "
                        f"archive, but the whole file has {archive_size:,}: it is truncated "
                        "or crafted",
                        "save the arrays again with numpy.savez",
                    )
                data[key] = _npz_member(name, archive, key, entry, budget)
                budget -= data[key].nbytes
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise DataError(name, f"is not a readable .npz file ({error})") from None
    if names is not None:
        _check_present(name, data, sorted(members), on_disk=False)
    return _renamed(data) if aliases else data


def _npz_member(
    path: str, archive: zipfile.ZipFile, key: str, entry: zipfile.ZipInfo, budget: int
) -> np.ndarray:
    """One member of an .npz, refused before it is decompressed when its sizes are out of
    all proportion: an .npy header whose shape and dtype do not add up to the size the zip
    entry declares, a compression ratio deflate cannot reach, or more bytes than memory."""
    try:
        with archive.open(entry) as stream:  # decompresses only the header's few bytes
            shape, dtype, header_size = _read_header(stream)
        if dtype.hasobject:
            raise DataError(
                path,
                f"array `{key}` holds Python objects (a pickle), which kdsl refuses to load: "
                "unpickling can run arbitrary code",
                "save numeric arrays, e.g. numpy.asarray(values, dtype='float32')",
            )
        size = header_size + math.prod(shape) * dtype.itemsize
        if entry.file_size != size:
            raise DataError(
                path,
                f"array `{key}` declares {entry.file_size} bytes in the zip archive, but its "
                f".npy header ({dtype}, shape {shape}) makes {size}: the file is corrupt or "
                "crafted",
                "save the arrays again with numpy.savez",
            )
        if entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1):
            raise DataError(
                path,
                f"array `{key}` would unpack {entry.compress_size} bytes into "
                f"{entry.file_size}, more than numpy's compression can shrink anything: "
                "a zip bomb?",
                "save the arrays again with numpy.savez or numpy.savez_compressed",
            )
        if entry.file_size > budget:
            raise DataError(
                path,
                f"array `{key}` unpacks into {_show_bytes(entry.file_size)}, more than the "
                f"{_show_bytes(max(budget, 0))} of memory left for the data",
                "save the arrays as a folder of .npy files, which kdsl reads in batches",
            )
        with archive.open(entry) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise DataError(path, f"array `{key}` cannot be read: {error}") from None


def _memory_bytes() -> int:
    """This machine's physical memory: arrays larger than it cannot be held anyway."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not on every system
        return 1 << 62


def _show_bytes(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


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
    input_dtype: str = "float32",
    token_ids: TokenIds | None = None,
) -> list[str]:
    """Check arrays against the model's input, output and loss; fix what is safe to fix.

    `class_names`, `feature_names` and `target` describe a CSV's columns, so messages can
    speak of columns rather than arrays; `on_disk` arrays are a folder's .npy files, named
    as files and never loaded whole. `input_dtype` is the model's input's, and
    `token_ids` the ids its first layer takes, if it looks ids up. Returns notes to print
    (such as one-hot encoding class ids); raises `DataError`.
    """
    _check_present(path, data, sorted(data), on_disk)
    output = tuple(output_shape[1:])
    if class_names is not None:
        _check_classes(path, f"column `{target}`", class_names, output, loss_key)
    notes: list[str] = []
    if class_names is not None and loss_key != "categorical_crossentropy":
        notes.append(f"note: column `{target}` holds {_named(class_names)}")
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
        note = check_inputs(path, x_name, x, input_dtype, token_ids, csv=feature_names is not None)
        if note:
            notes.append(note)
        name = f"column `{target}`" if target is not None else f"`{y_name}`"
        data[y_key], note = _check_labels(
            path, name, y, output, loss_key, on_disk, _named(class_names)
        )
        if note and note not in notes:
            notes.append(note)
    return notes


def _check_present(path: str, data: dict[str, np.ndarray], found: list[str], on_disk: bool) -> None:
    """Training needs x_train and y_train (or x and y); `found`: every array there is."""
    if ("x_train" in data or "x" in data) and ("y_train" in data or "y" in data):
        return
    if on_disk:
        listed = ", ".join(f"{key}.npy" for key in found) or "none"
        raise DataError(
            path,
            f"needs files x_train.npy and y_train.npy (or x.npy and y.npy); found: {listed}",
            "save them with numpy.save(folder / 'x_train.npy', x_train), and so on",
        )
    listed = ", ".join(found) or "none"
    raise DataError(
        path,
        f"needs arrays `x_train` and `y_train` (or `x` and `y`); found: {listed}",
        "save them with numpy.savez(path, x_train=..., y_train=...)",
    )


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
            f"{len(feature_names):,} feature columns: {listed(feature_names)}",
            hint,
        )
    raise DataError(
        path,
        f"model expects rows of shape {show_shape(expected)}, "
        f"`{key}` has rows of shape {show_shape(found)}",
        hint or "change the model's input shape (`in SHAPE`) or reshape the data",
    )


def check_inputs(
    path: str,
    key: str,
    x: np.ndarray,
    input_dtype: str,
    token_ids: TokenIds | None,
    csv: bool = False,
) -> str | None:
    """Values an integer input (token ids) can take: whole numbers, within the input's
    dtype and the ids the first layer looks up. Floats that are whole numbers pass with
    a note (Keras converts them), except a CSV's, which has no dtypes to speak of."""
    if input_dtype == "string":
        raise DataError(
            path,
            "the model's input is text (`dtype=string`), but kdsl trains on numeric arrays",
            "turn the text into token ids before saving, and give the model "
            "`input ... dtype=int32`",
        )
    integer_input = np.issubdtype(np.dtype(input_dtype), np.integer)
    if not integer_input and token_ids is None:
        return None
    low, high, fraction = _value_range(x)
    note = None
    if integer_input:
        if fraction is not None:
            raise DataError(
                path,
                f"`{key}` holds fractional values (such as {_show_number(fraction)}), but "
                f"the model's input is {input_dtype}: Keras would cut them to whole numbers",
                "save whole numbers (numpy.rint(x).astype('int32')), or drop the input's "
                f"`dtype={input_dtype}`",
            )
        limits = np.iinfo(np.dtype(input_dtype))
        if low < limits.min or high > limits.max:
            raise DataError(
                path,
                f"`{key}` holds values from {int(low)} to {int(high)}, which do not fit the "
                f"model's {input_dtype} input ({limits.min}..{limits.max})",
                "give the model's input a larger integer dtype, or renumber the values",
            )
        if not np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_ and not csv:
            note = (
                f"note: `{key}` holds {x.dtype} values, all whole numbers: Keras converts "
                f"them to the model's {input_dtype} input"
            )
    if token_ids is not None and (low < 0 or high >= token_ids.count):
        count, layer = token_ids.count, token_ids.layer
        if low < 0:
            found, hint = f"a negative id ({int(low)})", "token ids start at 0"
        else:
            found = f"ids up to {int(high)}"
            hint = (
                f"raise `{layer}`'s input_dim to {int(high) + 1}, or map rare tokens to an "
                f"id below {count}"
            )
        raise DataError(
            path,
            f"`{key}` holds {found}, but the first layer `{layer}` takes ids 0..{count - 1} "
            f"(input_dim={count})",
            hint,
        )
    return note


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
    if np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(
            path,
            f"`{key}` holds {array.dtype} values (complex numbers), which Keras layers do not "
            "train on: they would lose their imaginary part",
            "save the real and imaginary parts as separate features (numpy.real, numpy.imag)",
        )
    if array.dtype.kind == "f" and array.dtype.itemsize > 8:
        raise DataError(
            path,
            f"`{key}` holds {array.dtype} values, a precision no Keras backend takes",
            "save them as float64 or float32: array.astype('float32')",
        )
    # Booleans, integers and floats; not text, objects, dates, durations (which numpy
    # counts as integers, and no backend converts) or records.
    if array.dtype.kind not in "biuf":
        raise DataError(
            path,
            f"`{key}` holds {array.dtype} values, not numbers",
            "encode text, dates or categories as numbers before saving",
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


def _named(class_names: list[str] | None) -> str:
    """What a label column holds: text labels are class names numbered in sorted order."""
    if class_names is None:
        return "class ids"
    numbered = [f"{name}={index}" for index, name in enumerate(class_names[:6])]
    more = ", ..." if len(class_names) > 6 else ""
    return f"class names, numbered in sorted order ({', '.join(numbered)}{more})"


def _check_labels(
    path: str,
    name: str,
    y: np.ndarray,
    output: tuple,
    loss_key: str,
    on_disk: bool = False,
    what: str = "class ids",
) -> tuple[np.ndarray, str | None]:
    """Labels against the model's outputs (`None` matches any size) and its loss; class
    ids with categorical_crossentropy come back one-hot encoded, with a note (`what`:
    what the labels are, for it)."""
    low, high, fraction = _value_range(y)
    found = tuple(y.shape[1:])
    # Class ids: one per output position but the last axis, the classes' (a trailing 1 too).
    positions = output[:-1]
    ids = _shape_matches(positions, found) or _shape_matches((*positions, 1), found)
    if loss_key == "sparse_categorical_crossentropy":
        if not ids:
            raise DataError(
                path,
                f"{name} has rows of shape {show_shape(found)}, but "
                "sparse_categorical_crossentropy takes one class id per row",
                "for one-hot labels use `categorical_crossentropy`",
            )
        _check_ids(path, name, low, high, fraction, _units(path, output))
        return y, None
    if loss_key == "categorical_crossentropy" and ids and _units(path, output) > 1:
        units = _units(path, output)
        _check_ids(
            path,
            name,
            low,
            high,
            fraction,
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
        class_ids = y.reshape(y.shape[: 1 + len(positions)]).astype("int64")
        return np.eye(units, dtype="float32")[class_ids], (
            f"note: {name} holds {what}; one-hot encoding them into {units} "
            "columns for categorical_crossentropy"
        )
    if not _shape_matches(output, found) and not (found == () and output == (1,)):
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


def _value_range(array: np.ndarray) -> tuple[float, float, float | None]:
    """The lowest and highest value, and the first that is not a whole number (None when
    all are): one pass, block by block."""
    low, high, fraction = math.inf, -math.inf, None
    whole_type = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
    for block in row_blocks(array):
        low, high = min(low, block.min()), max(high, block.max())
        if fraction is None and not whole_type:
            fractional = np.mod(block, 1) != 0
            if fractional.any():
                fraction = float(block[fractional].flat[0])
    return low, high, fraction


def _check_ids(
    path: str,
    name: str,
    low: float,
    high: float,
    fraction: float | None,
    units: int,
    extra: str = "",
) -> None:
    if fraction is not None:
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


# -- several inputs and outputs (v2) -----------------------------------------------------


def array_part(key: str) -> str:
    """The part of the data an array holds: `x_train.title` → `x_train` (an input or
    output of a model with several is named after the dot), `x_train` → itself."""
    return key.partition(".")[0]


def named_keys(data: dict[str, np.ndarray], part: str) -> dict[str, str]:
    """The arrays of a model with named inputs and outputs: `x_train.title` and
    `y_train.priority` in an .npz (or `x_train.title.npy` in a folder) → {"title": key}."""
    prefix = f"{part}."
    return {key[len(prefix) :]: key for key in data if key.startswith(prefix)}


def group_named(data: dict[str, np.ndarray]) -> dict:
    """`{"x_train.title": a, "y_train.kind": b}` → `{"x_train": {"title": a}, "y_train":
    {"kind": b}}`: the form `fit` takes for named inputs and outputs."""
    grouped: dict = {}
    for key, array in data.items():
        part, dot, name = key.partition(".")
        if dot:
            grouped.setdefault(part, {})[name] = array
        else:
            grouped[key] = array
    return grouped


def validate_named(
    path: str,
    data: dict[str, np.ndarray],
    inputs: list[tuple[str, tuple, str]],
    outputs: list[tuple[str, tuple, str]],
    on_disk: bool = False,
) -> list[str]:
    """`validate` for a model with several inputs or outputs: `inputs` are (name, shape,
    dtype), `outputs` (name, shape, loss key). Each needs its own array, named after it:
    `x_train.NAME` and `y_train.NAME`, with as many rows as the others."""
    notes: list[str] = []
    suffix = ".npy" if on_disk else ""
    for x_part, y_part in PAIRS:
        present = any(key.startswith((f"{x_part}.", f"{y_part}.")) for key in data)
        if not present and x_part != "x_train":
            continue
        rows: dict[str, int] = {}
        for part, names in ((x_part, inputs), (y_part, outputs)):
            found = named_keys(data, part)
            for name, _, _ in names:
                if name not in found:
                    listed = ", ".join(sorted(k + suffix for k in data)) or "none"
                    raise DataError(
                        path,
                        f"needs an array `{part}.{name}{suffix}` for the model's "
                        f"{'input' if part[0] == 'x' else 'output'} `{name}`; found: {listed}",
                        f"save one array per input and output: numpy.savez(path, "
                        f"**{{'{part}.{name}': ...}})",
                    )
            extra = sorted(set(found) - {name for name, _, _ in names})
            if extra:
                raise DataError(
                    path,
                    f"has `{part}.{extra[0]}{suffix}`, but the model has no "
                    f"{'input' if part[0] == 'x' else 'output'} named `{extra[0]}`",
                    "the model's "
                    + ("inputs" if part[0] == "x" else "outputs")
                    + " are "
                    + ", ".join(f"`{name}`" for name, _, _ in names),
                )
        for name, shape, dtype in inputs:
            key = f"{x_part}.{name}"
            x = data[key]
            check_numeric(path, key + suffix, x)
            check_shape(path, key + suffix, x, shape)
            note = check_inputs(path, key + suffix, x, dtype, None)
            if note:
                notes.append(note)
            rows[key] = len(x)
        for name, shape, loss_key in outputs:
            key = f"{y_part}.{name}"
            y = data[key]
            check_numeric(path, key + suffix, y)
            data[key], note = _check_labels(
                path, f"`{key}{suffix}`", y, tuple(shape[1:]), loss_key, on_disk
            )
            if note and note not in notes:
                notes.append(note)
            rows[key] = len(y)
        if len(set(rows.values())) > 1:
            shown = ", ".join(f"`{k}{suffix}` {n}" for k, n in rows.items())
            raise DataError(
                path,
                f"the {x_part[2:]} arrays differ in rows: {shown}",
                "every input and output needs one row per sample",
            )
    return notes
