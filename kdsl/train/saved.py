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


def read_metadata(path: str | Path) -> dict:
    """What kdsl stored with a saved model; for a model saved by other means, only the
    `loss` it was compiled with (if any), from the archive's own config."""
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
                record = json.loads(archive.read(METADATA))
                return record if isinstance(record, dict) else {}
            if "config.json" not in members:
                raise ModelError(name, "is not a Keras model file (.keras): it has no config")
            config = json.loads(archive.read("config.json"))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(name, f"cannot be read: {error}") from None
    loss = ((config.get("compile_config") or {}) if isinstance(config, dict) else {}).get("loss")
    return {"loss": loss.get("class_name") if isinstance(loss, dict) else loss}


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
