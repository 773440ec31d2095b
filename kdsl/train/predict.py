"""`kdsl predict`: a saved model's predictions on new rows, with class names when known.

Rows come from an .npz (`x_test`, else `x`, else `x_train`, else its only array), an .npy,
or a CSV (the model's feature columns by name when it was trained on a CSV, else every
column but the label's). Class names and feature columns come from what `kdsl run --save`
stored inside the `.keras` file (see `kdsl.train.saved`).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

from kdsl.errors import DataError, ModelError, line_safe
from kdsl.files import check_regular_file
from kdsl.options import DataKind, image_input
from kdsl.train.csvdata import read_features
from kdsl.train.data import (
    apply_standardization,
    check_inputs,
    check_numeric,
    check_shape,
    load_npy,
    load_npz,
    named_keys,
)
from kdsl.train.folders import IMAGE_SUFFIXES, TEXT_SUFFIXES, kind_of_file, unreadable
from kdsl.train.folders import listed as listed_files
from kdsl.train.preprocessing import token_ids
from kdsl.train.saved import METADATA, SAVE_AGAIN

# Which array of an .npz holds the rows to predict, in order of preference.
NPZ_KEYS = ("x_test", "x", "x_train")

Kind = Literal["classes", "binary", "values"]


@dataclass(frozen=True)
class Inputs:
    # The rows; for a model with several inputs, an array per input name.
    x: np.ndarray | dict[str, np.ndarray]
    path: str
    key: str  # the array the rows came from (`x_test`), or the file's name
    columns: list[str] | None = None  # a CSV's feature columns


@dataclass(frozen=True)
class Predictions:
    outputs: np.ndarray  # the model's outputs, one row per input row
    kind: Kind
    class_names: list[str] | None
    files: list[str] | None = None  # the image or text file of each row, when read from files

    def labels(self) -> list[str] | None:
        """The predicted class of each row (its name when known), or None for values."""
        if self.kind == "values":
            return None
        if self.kind == "binary":
            ids = (self.outputs.reshape(len(self.outputs)) >= 0.5).astype(int)
        else:
            ids = self.outputs.argmax(axis=1)
        names = self.class_names
        return [names[i] if names and i < len(names) else str(i) for i in ids]

    def confidence(self) -> np.ndarray:
        """The probability of each row's predicted class."""
        if self.kind == "binary":
            p = self.outputs.reshape(len(self.outputs))
            return np.where(p >= 0.5, p, 1 - p)
        return self.outputs.max(axis=1)


def load_inputs(path: str | Path, metadata: dict) -> Inputs:
    """The rows to predict on, from an .npz, .npy or .csv file."""
    name = str(path)
    suffix = Path(path).suffix.lower()
    key: str | None  # the array's name; None only until an .npz is searched
    if suffix == ".csv":
        x, columns = read_features(path, metadata.get("feature_names"), metadata.get("target"))
        return Inputs(x, name, Path(path).name, columns)
    if suffix == ".npy":
        x = load_npy(path, mmap=False)
        key = Path(path).name
    elif suffix != ".npz":
        raise DataError(name, "is not an .npz, .npy or .csv file", "kdsl predicts on those")
    else:
        arrays = load_npz(path, aliases=False)
        for prefix in NPZ_KEYS:  # several inputs: x_test.title, x_test.tags, ...
            named = {n: arrays[key] for n, key in named_keys(arrays, prefix).items()}
            if named and prefix not in arrays:
                for key, array in named.items():
                    check_numeric(name, f"{prefix}.{key}", array)
                return Inputs(named, name, prefix)
        key = next((k for k in NPZ_KEYS if k in arrays), None)
        if key is None and len(arrays) == 1:
            key = next(iter(arrays))
        if key is None:
            raise DataError(
                name,
                f"has no array to predict on: expected `x_test`, `x` or `x_train`; found: "
                f"{', '.join(sorted(arrays)) or 'none'}",
                "save the rows with numpy.savez(path, x=...)",
            )
        x = arrays[key]
    check_numeric(name, key, x)
    return Inputs(x, name, key)


def predict_named(keras_model, inputs: Inputs, metadata: dict) -> list[tuple[str, Predictions]]:
    """A model with several inputs or outputs: its arrays by input name (`x_test.title`),
    checked against each input, and its predictions per output, by name."""
    names = [str(tensor.name) for tensor in keras_model.inputs]
    given = inputs.x if isinstance(inputs.x, dict) else None
    if given is None or set(given) != set(names):
        found = ", ".join(f"`{inputs.key}.{n}`" for n in sorted(given or {})) or f"`{inputs.key}`"
        raise DataError(
            inputs.path,
            f"the model's inputs are {', '.join(f'`{n}`' for n in names)}, but the rows are "
            f"{found}",
            "save one array per input, named after it: numpy.savez(path, **{'x.title': ...})",
        )
    rows = {len(array) for array in given.values()}
    if len(rows) > 1:
        raise DataError(inputs.path, "the input arrays differ in rows", "one row per sample")
    hint = "predict on rows like those the model was trained on"
    for name, tensor in zip(names, keras_model.inputs, strict=True):
        key = f"{inputs.key}.{name}"
        check_shape(inputs.path, key, given[name], tuple(tensor.shape), None, hint)
        check_inputs(inputs.path, key, given[name], str(tensor.dtype), None)
    outputs = keras_model.predict(given, verbose=0)
    if not isinstance(outputs, list | tuple):
        outputs = [outputs]
    losses = metadata.get("losses") or {}
    results = []
    for name, array in zip(keras_model.output_names, outputs, strict=True):
        array = np.asarray(array)
        units = array.shape[-1] if array.ndim > 1 else 1
        kind = kind_of(str(losses.get(name) or metadata.get("loss") or ""), units)
        results.append((name, Predictions(array, "values" if array.ndim > 2 else kind, None)))
    return results


def to_csv_named(results: list[tuple[str, Predictions]]) -> str:
    """Several outputs side by side: each one's columns, prefixed with its name."""
    tables = [to_csv(result).splitlines() for _, result in results]
    header = ",".join(
        ",".join(f"{name}.{column}" for column in lines[0].split(","))
        for (name, _), lines in zip(results, tables, strict=True)
    )
    rows = [",".join(parts) for parts in zip(*(lines[1:] for lines in tables), strict=True)]
    return "\n".join([header, *rows]) + "\n"


def kind_of(loss: str, units: int) -> Kind:
    """Classes (softmax over units), a binary probability, or plain values (regression)."""
    loss = loss.lower()
    if "crossentropy" not in loss:
        return "values"
    if "binary" in loss:
        return "binary" if units == 1 else "values"
    return "classes" if units > 1 else "values"


def predict(
    keras_model, inputs: Inputs, metadata: dict, model_path: str = "the model"
) -> Predictions:
    """Check the rows against the model's input, then predict."""
    if isinstance(inputs.x, dict):  # rows per input name, for a model of one input
        return predict_named(keras_model, inputs, metadata)[0][1]
    hint = "predict on rows like those the model was trained on"
    check_shape(inputs.path, inputs.key, inputs.x, keras_model.input_shape, inputs.columns, hint)
    # Token ids beyond an embedding's table, or fractions fed to an integer input, would
    # end inside the backend (or be cut silently): the same checks as before training.
    input_dtype = str(getattr(keras_model.inputs[0], "dtype", "float32"))
    ids = token_ids(keras_model, [])
    check_inputs(inputs.path, inputs.key, inputs.x, input_dtype, ids, inputs.columns is not None)
    # A model saved with --standardize scales rows in its own Normalization layer; one
    # saved by an older kdsl kept the statistics in kdsl.json instead, applied here.
    scaling = metadata.get("standardize")
    if scaling and np.shape(scaling["mean"]) != inputs.x.shape[1:]:
        raise ModelError(
            model_path,
            f"its {METADATA}'s `standardize` scales rows of shape "
            f"{tuple(np.shape(scaling['mean']))}, but the model takes {inputs.x.shape[1:]}",
            SAVE_AGAIN,
        )
    x = apply_standardization(inputs.x, scaling)
    outputs = np.asarray(keras_model.predict(x, verbose=0))
    units = outputs.shape[-1] if outputs.ndim > 1 else 1
    kind = kind_of(str(metadata.get("loss") or ""), units)
    if outputs.ndim > 2:
        kind = "values"
    return Predictions(outputs, kind, metadata.get("class_names"))


# -- image and text files ---------------------------------------------------------------

FILE_BATCH = 256  # files read and predicted at a time: memory holds one batch of them


def file_kind(paths: list[str], metadata: dict) -> DataKind | None:
    """`images` or `text` when the model reads such files: the kind stored with a model
    trained on a folder; for a model saved by other means, `images` when the paths are
    images or folders of them (a `.txt` file is no sign of a text model: it stays an
    unknown format). None for array files (.npz, .npy, .csv)."""
    stored = metadata.get("data_kind")
    if stored in ("images", "text"):
        return cast(DataKind, stored)
    for path in paths:
        kind = kind_of_file(path)
        if kind is None and Path(path).is_dir():
            names = (name for _, _, files in os.walk(path) for name in files)
            kind = next(filter(None, map(kind_of_file, names)), None)
        if kind == "images":
            return kind
    return None


def list_files(paths: list[str], kind: DataKind) -> list[Path]:
    """The files to predict on: each file given, and every image (or .txt) file in each
    folder given, its subfolders included, in sorted order; checked to be readable."""
    suffixes = IMAGE_SUFFIXES if kind == "images" else TEXT_SUFFIXES
    what = "images" if kind == "images" else "text files (.txt)"
    files: list[Path] = []
    for path in paths:
        given = Path(path)
        if given.is_dir():
            found = sorted(
                Path(top, name)
                for top, dirs, names in os.walk(given)
                for name in names
                if not name.startswith(".") and Path(name).suffix.lower() in suffixes
            )
            if not found:
                raise DataError(path, f"has no {what} ({', '.join(suffixes)})")
            files += found
        elif not given.exists():
            raise DataError(path, "no such file")
        else:
            check_regular_file(given, DataError, f"one of the model's {what}")
            if given.suffix.lower() not in suffixes:
                raise DataError(
                    path,
                    f"is not one of {', '.join(suffixes)}: the model was trained on {what}",
                    f"predict on {what}, or on folders of them",
                )
            files.append(given)
    bad = [f"{file} ({why})" for file in files if (why := unreadable(file, kind))]
    if bad:
        raise DataError(paths[0], f"cannot read {len(bad)} file(s): " + listed_files(bad))
    return files


def predict_files(keras_model, files: list[Path], kind: DataKind, metadata: dict) -> Predictions:
    """Read the files as Keras's folder readers read them for training (TensorFlow's
    decode_image and bilinear resize to the model's input size; a text file as one
    string), `FILE_BATCH` at a time, and predict."""
    shape = tuple(keras_model.input_shape[1:])
    if kind == "images" and image_input(shape) is None:
        raise DataError(
            str(files[0]),
            f"is an image, but the model's input {shape} is not an image",
            "predict on rows in an .npz, .npy or .csv file",
        )
    if kind == "text" and (shape != (1,) or str(keras_model.inputs[0].dtype) != "string"):
        raise DataError(
            str(files[0]),
            f"is a text file, but the model's input is {shape} "
            f"{keras_model.inputs[0].dtype}, not one string",
            "predict on rows in an .npz, .npy or .csv file",
        )
    import tensorflow as tf  # type: ignore[import-untyped]  # the folder readers' own decoding

    outputs = []
    for start in range(0, len(files), FILE_BATCH):
        chunk = files[start : start + FILE_BATCH]
        if kind == "images":
            height, width, channels = shape
            batch = np.stack(
                [
                    tf.image.resize(
                        tf.io.decode_image(
                            tf.io.read_file(str(file)), channels=channels, expand_animations=False
                        ),
                        (height, width),
                        method="bilinear",
                    ).numpy()
                    for file in chunk
                ]
            )
        else:
            batch = tf.constant([[file.read_bytes()] for file in chunk])
        outputs.append(np.asarray(keras_model.predict(batch, verbose=0)))
    result = np.concatenate(outputs)
    units = result.shape[-1] if result.ndim > 1 else 1
    kind_out = kind_of(str(metadata.get("loss") or ""), units)
    return Predictions(result, kind_out, metadata.get("class_names"), [str(f) for f in files])


def column_names(result: Predictions) -> list[str]:
    """Header of the probability or value columns."""
    width = int(np.prod(result.outputs.shape[1:])) if result.outputs.ndim > 1 else 1
    if result.kind == "values":
        return ["prediction"] if width == 1 else [f"output_{i}" for i in range(width)]
    names = result.class_names
    if result.kind == "binary":
        positive = names[1] if names and len(names) == 2 else "1"
        return [f"p_{positive}"]
    return [f"p_{names[i]}" if names and i < len(names) else f"p_{i}" for i in range(width)]


def to_csv(result: Predictions) -> str:
    """A header, then one line per row: the predicted class (if any) and the outputs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    values = result.outputs.reshape(len(result.outputs), -1)
    labels = result.labels()
    files = result.files
    writer.writerow(
        (["file"] if files else []) + (["prediction"] if labels else []) + column_names(result)
    )
    for index, row in enumerate(values):
        figures = [f"{v:.6g}" for v in row]
        writer.writerow(
            ([files[index]] if files else []) + ([labels[index]] if labels else []) + figures
        )
    return buffer.getvalue()


def to_npy(result: Predictions) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, result.outputs, allow_pickle=False)
    return buffer.getvalue()


def table(result: Predictions) -> str:
    """A table for the terminal: row, predicted class and its probability, or the values."""
    labels = result.labels()
    # Rows read from files are named by file.
    names = result.files or [str(i) for i in range(len(result.outputs))]
    first = "file" if result.files else "row"
    if labels is not None:
        header = [first, "prediction", "probability"]
        rows = [
            [name, label, f"{p:.4f}"]
            for name, label, p in zip(names, labels, result.confidence(), strict=True)
        ]
    else:
        header = [first, *column_names(result)]
        values = result.outputs.reshape(len(result.outputs), -1)
        rows = [[name, *(f"{v:.4f}" for v in row)] for name, row in zip(names, values, strict=True)]
    # Class names come from the data or a .keras file: ESC in one must not reach the terminal.
    header = [line_safe(cell) for cell in header]
    rows = [[line_safe(cell) for cell in row] for row in rows]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )
