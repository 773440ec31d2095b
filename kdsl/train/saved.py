"""Trained models on disk: Keras's native `.keras` format, written atomically, plus what
kdsl knows about the data (class names, feature columns) so `kdsl predict` can use it.

A model trained with `--standardize` is saved behind a `keras.layers.Normalization` layer
holding the training rows' statistics: the file is the whole model, so plain
`keras.models.load_model` on raw rows predicts what `kdsl predict` does.

That knowledge travels inside the `.keras` file itself, as one extra member `kdsl.json`
in its zip archive: Keras's loader reads only the members it wrote and ignores it, and a
single file can be copied around without losing its class names.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from kdsl._version import __version__
from kdsl.errors import ModelError, first_line
from kdsl.files import atomic_target, check_regular_file

METADATA = "kdsl.json"


def save_model(model, path: str | Path, metadata: dict, scaling: dict | None = None) -> None:
    """Save to a temporary `.keras` file beside `path`, then rename it into place; with
    `scaling` (`--standardize`'s mean and variance), behind a layer applying it."""
    if scaling:
        model = with_standardization(model, scaling)
    # atomic_target turns any OSError into an OutputError that names `path`.
    with atomic_target(path, suffix=".keras") as temp:  # Keras wants the suffix
        model.save(temp)
        with zipfile.ZipFile(temp, "a") as archive:
            record = {"kdsl_version": __version__, **metadata}
            archive.writestr(METADATA, json.dumps(record, indent=2) + "\n")


def with_standardization(model, scaling: dict):
    """`model` (a trained Sequential) behind a Normalization layer with `scaling`, as one
    plain Sequential that shares its layers and weights, compiled as it was (same loss,
    metrics and optimizer state), so `fit` and `evaluate` on raw rows go on from here.

    The layer computes what `kdsl.train.data.normalize` did to the training rows, in float32
    whatever the model's precision policy.
    """
    import keras  # imported already: the model was trained

    mean = np.asarray(scaling["mean"], "float32")
    variance = np.asarray(scaling["variance"], "float32")
    axis = -1 if mean.ndim == 1 else tuple(range(1, mean.ndim + 1))  # one per feature
    taken = {layer.name for layer in model.layers}  # a layer of the model may be `standardize`
    names = ["standardize", *(f"standardize_{i}" for i in range(1, len(taken) + 1))]
    name = next(name for name in names if name not in taken)
    normalization = keras.layers.Normalization(
        axis=axis, mean=mean, variance=variance, dtype="float32", name=name
    )
    wrapper = keras.Sequential(
        [keras.Input(shape=mean.shape), normalization, *model.layers], name=model.name
    )
    config = model.get_compile_config()
    if config:
        compiled = keras.saving.deserialize_keras_object(config)
        wrapper.compile(**{**compiled, "optimizer": model.optimizer})
    return wrapper


# The most of a JSON member read from a `.keras` file: a config or kdsl.json of a model
# trained on 100,000 CSV columns takes a few MB; a larger member is not one Keras or kdsl
# wrote, and is refused by its declared size before a byte of it is decompressed.
MAX_JSON_MEMBER_BYTES = 64 << 20
SAVE_AGAIN = "the file was changed after `kdsl run --save` wrote it: save the model again"


def read_metadata(path: str | Path) -> dict:
    """What kdsl stored with a saved model, checked field by field (a `.keras` file is
    input like any other); for a model saved by other means, only the `loss` it was
    compiled with (if any), from the archive's own config."""
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise ModelError(name, "no such file")
    check_regular_file(file, ModelError, "a Keras model file (.keras)")
    if not zipfile.is_zipfile(file):
        raise ModelError(
            name,
            "is not a Keras model file (.keras)",
            "save one with `kdsl run MODEL.k --save model.keras`",
        )
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.namelist()
            if METADATA in members:
                return checked_metadata(name, _json_member(name, archive, METADATA))
            if "config.json" not in members:
                raise ModelError(name, "is not a Keras model file (.keras): it has no config")
            config = _json_member(name, archive, "config.json")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise ModelError(name, f"cannot be read: {error}") from None
    loss = ((config.get("compile_config") or {}) if isinstance(config, dict) else {}).get("loss")
    loss = loss.get("class_name") if isinstance(loss, dict) else loss
    return {"loss": loss if isinstance(loss, str) else None}


def _json_member(name: str, archive: zipfile.ZipFile, member: str):
    """A JSON member of the archive, refused by its declared size when too large (the
    reader never decompresses past the size the zip entry declares)."""
    size = archive.getinfo(member).file_size
    if size > MAX_JSON_MEMBER_BYTES:
        raise ModelError(
            name,
            f"its {member} declares {size:,} bytes, more than the "
            f"{MAX_JSON_MEMBER_BYTES >> 20} MB any model's takes: it is not a file Keras "
            "or kdsl wrote",
            "save the model again with `kdsl run MODEL.k --save model.keras`",
        )
    try:
        return json.loads(archive.read(member))
    except (ValueError, RecursionError) as error:
        raise ModelError(name, f"its {member} is not valid JSON ({first_line(error)})") from None


def checked_metadata(name: str, record) -> dict:
    """kdsl.json's fields, each of the type `kdsl predict` uses, or a ModelError naming the
    file and the field: a `.keras` file is input, and may have been edited or crafted."""

    def wrong(field: str, expected: str) -> ModelError:
        found = record[field] if isinstance(record, dict) else record
        shown = json.dumps(found)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return ModelError(
            name, f"its {METADATA}: `{field}` must be {expected}, not {shown}", SAVE_AGAIN
        )

    if not isinstance(record, dict):
        raise ModelError(name, f"its {METADATA} must hold a JSON object", SAVE_AGAIN)
    for field in ("loss", "target", "program", "kdsl_version"):
        if record.get(field) is not None and not isinstance(record[field], str):
            raise wrong(field, "a string")
    for field, what in (("class_names", "class names"), ("feature_names", "column names")):
        values = record.get(field)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise wrong(field, f"a list of {what} (strings)")
        if len(set(values)) != len(values):
            raise wrong(field, f"a list of distinct {what}")
    if record.get("data_kind") not in (None, "images", "text"):
        raise wrong("data_kind", '"images", "text" or null')
    losses = record.get("losses")
    if losses is not None and (
        not isinstance(losses, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in losses.items())
    ):
        raise wrong("losses", "an object of output names and loss names (strings)")
    if record.get("standardize") is not None:
        _check_scaling(record, wrong)
    return record


def _check_scaling(record: dict, wrong) -> None:
    """An older kdsl's `standardize`: `mean` and `std`, numbers of one shape, std > 0."""
    scaling = record["standardize"]
    expected = '{"mean": [numbers], "std": [positive numbers]} of one shape'
    if not isinstance(scaling, dict) or not {"mean", "std"} <= scaling.keys():
        raise wrong("standardize", expected)
    try:
        mean = np.asarray(scaling["mean"], dtype="float64")
        std = np.asarray(scaling["std"], dtype="float64")
    except (TypeError, ValueError):  # text, nested objects, ragged lists
        raise wrong("standardize", expected) from None
    if (
        mean.shape != std.shape
        or mean.ndim == 0
        or not np.isfinite(mean).all()
        or not (np.isfinite(std) & (std > 0)).all()
    ):
        raise wrong("standardize", expected)


def load_model(keras, path: str | Path):
    """`keras.models.load_model` in safe mode: a model that would run code is refused.

    Loaded uncompiled: predicting needs no optimizer state.
    """
    name = str(path)
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error):
            raise ModelError(
                name,
                "holds a Lambda layer with Python code, which kdsl refuses to load: "
                "loading it would run that code",
                "if you trust its source, load it yourself with "
                "keras.models.load_model(path, safe_mode=False)",
            ) from None
        raise ModelError(name, f"Keras cannot load this model: {first_line(error)}") from None
    except (OSError, KeyError, TypeError) as error:
        raise ModelError(name, f"Keras cannot load this model: {first_line(error)}") from None
