"""`kdsl export` and `kdsl run --export`: a trained model in a format other runtimes load,
through Keras's own `model.export`.

| format       | Keras's `format=` | writes                         | needs (pip extra)          |
|--------------|-------------------|--------------------------------|----------------------------|
| `savedmodel` | `tf_saved_model`  | a folder (TensorFlow Serving)  | TensorFlow (installed)     |
| `onnx`       | `onnx`            | `MODEL.onnx`                   | tf2onnx, onnx (`kdsl[onnx]`) |
| `litert`     | `litert`          | `MODEL.tflite`                 | TensorFlow (installed)     |
| `openvino`   | `openvino`        | `MODEL.xml` and `MODEL.bin`    | openvino (`kdsl[openvino]`) |

Written atomically: Keras writes into a temporary folder beside the target, and only a
complete export is renamed into place (an existing one is replaced); on any failure the
temporary folder is removed and the target is untouched.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdsl.errors import BackendError, ModelError, OutputError, first_line


@dataclass(frozen=True)
class Format:
    keras_name: str  # model.export's `format=`
    suffix: str  # what the output's name ends with ("" for a folder)
    packages: tuple[str, ...]  # Python packages the export imports
    extra: str | None  # kdsl's pip extra that installs them


FORMATS = {
    "savedmodel": Format("tf_saved_model", "", ("tensorflow",), None),
    "onnx": Format("onnx", ".onnx", ("tf2onnx", "onnx"), "onnx"),
    "litert": Format("litert", ".tflite", ("tensorflow",), None),
    "openvino": Format("openvino", ".xml", ("openvino",), "openvino"),
}


def default_output(base: str | Path, name: str) -> Path:
    """Where `kdsl run --export NAME` writes: beside `base` (the --save file, else the
    program), with the format's suffix; a SavedModel is a folder `STEM_savedmodel`."""
    base = Path(base)
    suffix = FORMATS[name].suffix
    return base.with_suffix(suffix) if suffix else base.with_name(f"{base.stem}_savedmodel")


def check_export(name: str, out: str | Path, backend: str | None = None) -> None:
    """Before any work: the format's packages are installed, the output's name fits the
    format, and its folder can be written."""
    spec = FORMATS[name]
    missing = [package for package in spec.packages if importlib.util.find_spec(package) is None]
    if missing:
        install = f"pip install 'kdsl[{spec.extra}]'" if spec.extra else f"pip install {missing[0]}"
        raise BackendError(
            f"--format {name} needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            install,
        )
    if backend not in (None, "tensorflow"):
        raise BackendError(
            f"kdsl exports through Keras on TensorFlow, not {backend}",
            "export with --backend tensorflow (the saved .keras file is the same)",
        )
    target = Path(out)
    if spec.suffix and target.suffix.lower() != spec.suffix:
        raise OutputError(
            str(out),
            f"--format {name} writes a {spec.suffix} file",
            f"name it {target.with_suffix(spec.suffix).name}",
        )
    if not spec.suffix and target.exists() and not target.is_dir():
        raise OutputError(str(out), "is a file, but a SavedModel is a folder", "name a folder")
    if spec.suffix and target.is_dir():
        raise OutputError(str(out), "is a directory", f"name a {spec.suffix} file")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(str(out), f"cannot be written: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(str(out), f"cannot be written: the folder {folder} is not writable")


def export_model(model: Any, name: str, out: str | Path) -> list[Path]:
    """Export the Keras `model` as format `name` to `out`, atomically; returns the paths
    written (OpenVINO writes two files)."""
    spec = FORMATS[name]
    target = Path(out)
    check_export(name, target)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.kdsl-tmp-"))
    try:
        made = scratch / f"model{spec.suffix}"
        try:
            _call_once(model)
            with _statistics_as_constants(model):
                model.export(str(made), format=spec.keras_name, verbose=False)
        except Exception as error:  # a layer the format cannot express, a converter's bug
            raise ModelError(
                str(out), f"Keras could not export the model as {name}: {first_line(error)}"
            ) from None
        pairs = [(made, target)]
        if name == "openvino":  # the weights first, so the .xml never names a missing .bin
            pairs.insert(0, (made.with_suffix(".bin"), target.with_suffix(".bin")))
        for source, destination in pairs:
            _replace(source, destination, scratch)
        return [destination for _, destination in pairs]
    except OSError as error:
        raise OutputError(str(out), f"cannot be written: {error.strerror or error}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _statistics_as_constants(model: Any) -> Iterator[None]:
    """Normalization layers (`--standardize`'s, or adapted ones) hold their mean and
    variance as tensors made outside any traced function, which tf2onnx turns into extra
    model inputs: as numpy arrays for the export, they become constants of the graph."""
    import numpy as np

    saved: list[tuple[Any, Any, Any]] = []
    for layer in _all_layers(model):
        if type(layer).__name__ == "Normalization" and layer.mean is not None:
            saved.append((layer, layer.mean, layer.variance))
            layer.mean, layer.variance = np.asarray(layer.mean), np.asarray(layer.variance)
    try:
        yield
    finally:
        for layer, mean, variance in saved:
            layer.mean, layer.variance = mean, variance


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)


def _call_once(model: Any) -> None:
    """Call a model that was never called (one just loaded or built, not trained in this
    process) on one row of zeros: Keras's ONNX export reads the signature of a call."""
    if getattr(model, "_called", True):
        return
    import numpy as np

    rows = [
        np.zeros((1, *(size or 1 for size in tensor.shape[1:])), tensor.dtype)
        for tensor in model.inputs
        if tensor.dtype != "string"
    ]
    if len(rows) == len(model.inputs):  # text inputs: the formats cannot take them anyway
        model(rows if len(rows) > 1 else rows[0], training=False)


def _replace(source: Path, destination: Path, scratch: Path) -> None:
    """Rename `source` into place; a folder already there is first moved into `scratch`
    (removed with it), since a folder cannot be renamed over a non-empty one."""
    if destination.is_dir() and not destination.is_symlink():
        os.replace(destination, scratch / "previous")
    os.replace(source, destination)
