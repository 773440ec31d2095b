"""Layers that look values up or learn from the data, met before training rather than
deep inside it: the ids an embedding takes, and `adapt()` for preprocessing layers.

A `normalization` without mean and variance, a `discretization` without bin boundaries,
or a lookup without a vocabulary learns them from data with Keras's `adapt()`. Unadapted,
the lookups and discretization fail in the middle of `fit`, and normalization silently
does nothing. `kdsl run` adapts such a layer on the training rows when it comes first in
the model, where it sees them as they are (as a Keras user would, before `fit`); deeper
in the model it would need the output of untrained layers, so it is refused.

These functions take the built Keras model and read its layers' public attributes, but
`check_backend_runs_layers`, which reads the program before Keras is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kdsl import ir
from kdsl.errors import DataError, ModelError
from kdsl.train.data import TokenIds, row_blocks

# Layers that move ids around without changing them, on the way to the first lookup.
_PASS_THROUGH = ("Reshape", "Flatten", "Permute", "Identity", "RepeatVector")
_LOOKUPS = ("IntegerLookup", "StringLookup", "TextVectorization")
_TEXT = ("StringLookup", "TextVectorization")
# Layers that run TensorFlow code: Keras cannot compile them into a JAX or PyTorch model.
_TENSORFLOW_ONLY = ("Hashing", "IntegerLookup", "StringLookup", "TextVectorization")


def _first_consumer(layers: list[Any]) -> tuple[int, Any] | None:
    """The first layer that reads values, past those that only reshape them."""
    for index, layer in enumerate(layers):
        if type(layer).__name__ not in _PASS_THROUGH:
            return index, layer
    return None


def token_ids(model: Any, written: list[str]) -> TokenIds | None:
    """The ids the model's first layer looks up, when it is an embedding (whose inputs
    are the data as it is); None for any other model. `written`: the layers' names in
    the program (`embedding`), for messages."""
    first = _first_consumer(list(model.layers))
    if first is None or not hasattr(first[1], "input_dim"):
        return None
    return TokenIds(int(first[1].input_dim), _name(written, first[0], first[1]))


def _name(written: list[str], index: int, layer: Any) -> str:
    return written[index] if index < len(written) else layer.name


def needs_adapt(layer: Any) -> bool:
    """A preprocessing layer given nothing to work with: Keras expects `adapt()`."""
    kind = type(layer).__name__
    if kind == "Normalization":
        return layer.input_mean is None
    if kind == "Discretization":
        return layer.bin_boundaries is None
    if kind in _LOOKUPS:
        return not layer.get_vocabulary(include_special_tokens=False)
    return False


def _runs_tensorflow_code(origin: str, name: str, index: int, backend: str) -> ModelError:
    return ModelError(
        origin,
        f"`{name}` (layer {index + 1}) runs TensorFlow code, which Keras cannot "
        f"compile into a model on {backend}",
        "train it with --backend tensorflow",
    )


def check_backend_runs_layers(origin: str, model: ir.Model, backend: str | None) -> None:
    """Refuse a layer that runs TensorFlow code on the backend asked for (`--backend` or
    KERAS_BACKEND; None: Keras's default, known once Keras is imported), before paying
    for Keras's start-up: `check_adaptable` refuses it on the built model too."""
    if backend in (None, "tensorflow"):
        return
    for index, call in enumerate(model.calls):
        if call.class_name in _TENSORFLOW_ONLY:
            raise _runs_tensorflow_code(origin, call.written_name, index, backend)


def check_adaptable(origin: str, model: Any, written: list[str], backend: str) -> None:
    """Refuse a layer that needs adapt() where kdsl cannot adapt it: anywhere but first,
    or text lookups (kdsl's data is numeric); and lookups on a backend they cannot run
    on. `written`: the layers' names in the program, for messages."""
    layers = list(model.layers)
    first = _first_consumer(layers)
    for index, layer in enumerate(layers):
        name, kind = _name(written, index, layer), type(layer).__name__
        if kind in _TENSORFLOW_ONLY and backend != "tensorflow":
            raise _runs_tensorflow_code(origin, name, index, backend)
        if not needs_adapt(layer):
            continue
        if kind in _TEXT:
            raise ModelError(
                origin,
                f"`{name}` (layer {index + 1}) has no vocabulary, and kdsl trains on numeric "
                "arrays only, so it has no text to learn one from",
                f"give it a vocabulary (`{name} vocabulary=(...)`), or turn the text into "
                "ids before saving and start the model with `integerlookup` or `embedding`",
            )
        if first is None or index != first[0]:
            raise ModelError(
                origin,
                f"`{name}` (layer {index + 1}) {_what_adapt_learns(kind)}, which Keras learns "
                "with adapt() from the data the layer sees: kdsl adapts only a first layer, "
                "which sees the training rows as they are",
                f"move `{name}` to the start of the model, or {_what_to_give(kind, name)}",
            )


def adapt_first_layer(
    path: str, model: Any, arrays: dict[str, np.ndarray], written: list[str]
) -> str | None:
    """Adapt the first layer, if it needs it, to `x_train` (block by block, so a folder's
    rows stay on disk), as a Keras user calls adapt() before fit(). Call after
    `check_adaptable`. Returns a note to print, or None."""
    layers = list(model.layers)
    first = _first_consumer(layers)
    if first is None or not needs_adapt(first[1]):
        return None
    index, layer = first
    layer.adapt(row_blocks(arrays["x_train"]))
    _check_ids_fit(path, layers, index, written)
    return (
        f"note: adapted the first layer `{_name(written, index, layer)}` to the training rows "
        f"({_learned(layer)}), as Keras's adapt() does"
    )


def _what_adapt_learns(kind: str) -> str:
    return {
        "Normalization": "has no mean and variance",
        "Discretization": "has no bin boundaries",
    }.get(kind, "has no vocabulary")


def _what_to_give(kind: str, name: str) -> str:
    return {
        "Normalization": f"give it constants: `{name} mean=... variance=...`",
        "Discretization": f"give it `{name} bin_boundaries=(...)`",
    }.get(kind, f"give it `{name} vocabulary=(...)`")


def _learned(layer: Any) -> str:
    """What adapt() found, in a few words."""
    kind = type(layer).__name__
    if kind == "Normalization":
        return "mean and variance"
    if kind == "Discretization":
        return f"{len(layer.bin_boundaries) + 1} bins"
    return f"a vocabulary of {len(layer.get_vocabulary(include_special_tokens=False))} values"


def _check_ids_fit(path: str, layers: list[Any], index: int, written: list[str]) -> None:
    """The ids an adapted lookup or discretization gives must fit the embedding they feed."""
    layer, name = layers[index], _name(written, index, layers[index])
    if type(layer).__name__ == "Discretization":
        made, cap = len(layer.bin_boundaries) + 1, "num_bins"
    elif type(layer).__name__ in _LOOKUPS:
        made, cap = layer.vocabulary_size(), "max_tokens"
    else:  # normalization: values, not ids
        return
    after = _first_consumer(layers[index + 1 :])
    if after is None or not hasattr(after[1], "input_dim"):
        return
    count, embedding = int(after[1].input_dim), _name(written, index + 1 + after[0], after[1])
    if made > count:
        raise DataError(
            path,
            f"`{name}` learned {made} ids (0..{made - 1}) from `x_train`, but the next layer "
            f"`{embedding}` takes ids 0..{count - 1} (input_dim={count})",
            f"raise `{embedding}`'s input_dim to {made}, or give `{name}` {cap}={count}",
        )
