"""Keyword arguments Keras still takes under an old name (`LeakyReLU(alpha=...)`) or only
to ignore them (`Embedding(input_length=...)`): kdsl accepts each with a warning naming
what to write, and its generated code uses the new name, so Keras builds it silently.

The table is generated from Keras's own source into keras_catalog.json; every entry in
it is exercised here against real Keras.
"""

from __future__ import annotations

import warnings

import pytest

import kdsl
from kdsl.semantics.catalog import load
from kdsl.train.runner import import_keras

# A program using each deprecated argument (the layer's old keyword, with a value).
PROGRAMS = {
    ("leakyrelu", "alpha"): "input 4 -> leakyrelu alpha=0.1 -> dense 1; adam; mse",
    ("embedding", "input_length"): (
        "input 10 dtype=int32 -> embedding 100 8 input_length=10 -> flatten -> dense 1; adam; mse"
    ),
}
DEPRECATED = [
    (key, old, new) for key, entry in load().layers.items() for old, new in entry.deprecated
]


def test_the_table_holds_what_keras_warns_about() -> None:
    assert ("leakyrelu", "alpha", "negative_slope") in DEPRECATED
    assert ("embedding", "input_length", None) in DEPRECATED
    assert {(key, old) for key, old, _ in DEPRECATED} == set(PROGRAMS), (
        "a deprecated argument without an example program here"
    )


@pytest.mark.parametrize(
    ("key", "old", "new"), DEPRECATED, ids=[f"{k}-{o}" for k, o, _ in DEPRECATED]
)
def test_accepted_with_a_warning_and_written_anew(key: str, old: str, new: str | None) -> None:
    program = PROGRAMS[(key, old)]
    diagnostics = kdsl.check(program)
    assert [d.severity for d in diagnostics] == ["warning"]
    assert f"`{old}` of `{key}` is deprecated" in diagnostics[0].message
    assert program[diagnostics[0].span.column - 1 :].startswith(old)
    if new is not None:
        assert f"it is now `{new}`" in diagnostics[0].message

    code = kdsl.compile(program)
    assert f"{old}=" not in code
    keras = import_keras()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras's deprecation warning would fail here
        model = kdsl.build(program)
    layer = next(layer for layer in model.layers if layer.__class__.__name__.lower() == key)
    if new is not None:
        assert f"{new}=0.1" in code
        assert layer.get_config()[new] == pytest.approx(0.1)
    with pytest.warns(UserWarning, match=f"`{old}` is deprecated"):
        getattr(keras.layers, layer.__class__.__name__)(
            **{**_required(layer), old: 0.1 if new else 10}
        )


def _required(layer) -> dict:
    """The constructor arguments the layer cannot be built without (Embedding's sizes)."""
    config = layer.get_config()
    return {name: config[name] for name in ("input_dim", "output_dim") if name in config}
