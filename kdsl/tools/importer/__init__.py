"""`kdsl import`: a saved Keras `Sequential` model → canonical kdsl text.

One pass over the model's config (the `config.json` inside a `.keras` zip, or the
output of `model.to_json()`), using the catalog to write the shortest form the parser
accepts: aliases (`maxpool2d`), positional arguments (`dense 3 relu`), and only the
keyword arguments whose value differs from Keras's default.

The config is read as JSON, never deserialized by Keras: importing needs no TensorFlow
and runs no code from the file, which is stricter than `load_model(safe_mode=True)`.
What safe mode would refuse (a `Lambda`, a Python function, a class Keras does not
ship) is refused here too, naming the layer; so is anything kdsl cannot write.
"""

from __future__ import annotations

import json
import math
import re
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from kdsl.errors import ModelError, SourceError, with_article
from kdsl.files import check_regular_file
from kdsl.ir import CROSSENTROPY_LOSSES
from kdsl.language.fmt import format_text, section_text
from kdsl.language.syntax import INPUT, constant_word, is_bare_word
from kdsl.semantics.catalog import (
    ACTIVATION_PARAMS,
    ALIASES,
    POSITIONAL,
    WRAPPER_CLASSES,
    Catalog,
    Entry,
    by_class,
    keras_snake_case,
    load,
)

# What reading a damaged compressed zip member raises.
_DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (zlib.error, EOFError, NotImplementedError)
try:  # a Python built without lzma still reads the other zip methods
    from lzma import LZMAError

    _DECOMPRESSION_ERRORS += (LZMAError,)
except ImportError:  # pragma: no cover
    pass

# Initializers, regularizers and constraints the language can write: by name only, so
# with the arguments Keras gives them by default. Class → (the name, its default config);
# tests/test_import.py checks this table against the installed Keras.
NESTED: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "initializers": {
        "Zeros": ("zeros", {}),
        "Ones": ("ones", {}),
        "Identity": ("identity", {}),
        "GlorotUniform": (
            "glorot_uniform",
            {"seed": None, "input_axes": None, "output_axes": None},
        ),
        "GlorotNormal": ("glorot_normal", {"seed": None, "input_axes": None, "output_axes": None}),
        "HeUniform": ("he_uniform", {"seed": None, "input_axes": None, "output_axes": None}),
        "HeNormal": ("he_normal", {"seed": None, "input_axes": None, "output_axes": None}),
        "LecunUniform": ("lecun_uniform", {"seed": None, "input_axes": None, "output_axes": None}),
        "LecunNormal": ("lecun_normal", {"seed": None, "input_axes": None, "output_axes": None}),
        "Orthogonal": ("orthogonal", {"seed": None, "gain": 1.0}),
        "RandomNormal": ("random_normal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
        "RandomUniform": ("random_uniform", {"seed": None, "minval": -0.05, "maxval": 0.05}),
        "TruncatedNormal": ("truncated_normal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
        "VarianceScaling": (
            "variance_scaling",
            {
                "seed": None,
                "scale": 1.0,
                "mode": "fan_in",
                "distribution": "truncated_normal",
                "input_axes": None,
                "output_axes": None,
            },
        ),
        "STFT": (
            "stft",
            {"side": "real", "window": "hann", "periodic": False, "scaling": "density"},
        ),
    },
    "regularizers": {
        "L1": ("l1", {"l1": 0.009999999776482582}),
        "L2": ("l2", {"l2": 0.01}),
        "L1L2": ("l1l2", {"l1": 0.0, "l2": 0.0}),
        "OrthogonalRegularizer": (
            "orthogonal_regularizer",
            {"factor": 0.009999999776482582, "mode": "rows"},
        ),
    },
    "constraints": {
        "MaxNorm": ("max_norm", {"max_value": 2, "axis": 0}),
        "MinMaxNorm": (
            "min_max_norm",
            {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
        ),
        "NonNeg": ("non_neg", {}),
        "UnitNorm": ("unit_norm", {"axis": 0}),
    },
}
# Other names Keras takes for the same objects (`uniform` is Embedding's default).
NESTED_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "one": "ones",
                  "zero": "zeros"}  # fmt: skip

# Arguments where Keras turns one number into a tuple of them (`kernel_size=3` is (3, 3)),
# so a tuple of equal numbers is written as the one number.
_BROADCAST = frozenset(
    {"kernel_size", "strides", "dilation_rate", "pool_size", "size", "padding", "cropping",
     "output_padding"}
)  # fmt: skip
# Image layers whose one-number `factor` x means the range (0, x); in the others it means
# (-x, x). tests/test_import.py checks this against Keras's `_FACTOR_BOUNDS`.
ZERO_BASED_FACTORS = frozenset(
    {"augmix", "cutmix", "randaugment", "randomcontrast", "randomelastictransform",
     "randomerasing", "randomgaussianblur", "randomhue", "randominvert", "randomperspective",
     "randomsharpness"}
)  # fmt: skip
# Config entries Keras derives from the arguments (a lookup's vocabulary size), or writes
# with a value no argument sets.
_DERIVED = frozenset({"vocabulary_size"})
_WRITTEN_DEFAULTS = {"oov_method": "floormod"}
# Arguments that are sizes, written `3x3` rather than `(3, 3)`.
_SIZES = _BROADCAST | {"target_shape", "output_size", "tile_grid_size", "output_shape"}
# Config entries that are not constructor arguments, or that Keras sets itself.
_LAYER_IGNORED = frozenset({"build_config", "compile_config"})
_MISSING = object()
_CODE = "it is Python code (loading it would run that code, and the language cannot write it)"
# What to use instead of a Python function as a compile() argument.
_COMPILE_HINTS = {
    "optimizer": "give an optimizer Keras ships, e.g. optimizer='adam'",
    "loss": "give a loss Keras ships, by name (e.g. loss='mse') or as its object",
    "metric": "give metrics Keras ships, by name (e.g. metrics=['accuracy']) or as objects",
}


@dataclass
class AutoNames:
    """The names Keras makes up for the layers the compiled script builds unnamed.

    Keras counts per class (its snake_case name: `dense`, `dense_1`, ...) in the process,
    and the script builds its model in a fresh one, in order, each wrapped layer before its
    wrapper. A layer given a name is not counted: after `Dense(3, name="dense_1")` the
    next unnamed Dense is still `dense`.
    """

    counts: dict[str, int] = field(default_factory=dict)

    def next(self, class_name: str) -> str:
        """The name the next unnamed layer of this class gets."""
        stem = keras_snake_case(class_name)
        count = self.counts.get(stem, 0)
        return stem if count == 0 else f"{stem}_{count}"

    def take(self, class_name: str) -> None:
        """One more unnamed layer of this class built."""
        stem = keras_snake_case(class_name)
        self.counts[stem] = self.counts.get(stem, 0) + 1


# Layers that build other layers in their constructor, unnamed (so a layer of that class
# after them gets the next name); AugMix and RandAugment pass their own name, when given
# one, to what they build. tests/test_import.py checks these against Keras.
_AUGMENTATIONS = ("RandomShear", "RandomTranslation", "RandomRotation", "Solarization",
                  "RandomPosterization", "AutoContrast", "Equalization")  # fmt: skip
_COLOR_AUGMENTATIONS = ("RandomBrightness", "RandomColorDegeneration", "RandomContrast",
                        "RandomSharpness")  # fmt: skip
_JITTERS = {"brightness_factor": "RandomBrightness", "contrast_factor": "RandomContrast",
            "saturation_factor": "RandomSaturation", "hue_factor": "RandomHue"}  # fmt: skip


def built_inside(class_name: str, config: dict, named: bool) -> tuple[str, ...]:
    """The classes of the unnamed layers a layer builds (`named`: the script names it)."""
    if class_name == "TextVectorization":
        return ("StringLookup",)
    if class_name == "RandomColorJitter":
        return tuple(built for key, built in _JITTERS.items() if config.get(key) is not None)
    if named:
        return ()
    if class_name == "RandAugment":
        return _AUGMENTATIONS + _COLOR_AUGMENTATIONS
    if class_name == "AugMix":
        return _AUGMENTATIONS + (_COLOR_AUGMENTATIONS if config.get("all_ops", True) else ())
    return ()


@dataclass
class _Importer:
    origin: str  # the file name, for messages
    catalog: Catalog = field(default_factory=load)
    notes: list[str] = field(default_factory=list)
    auto_names: AutoNames = field(default_factory=lambda: AutoNames())
    compact: bool = True  # a functional model's form: see `import_model`

    def fail(self, message: str, hint: str | None = None) -> ModelError:
        return ModelError(self.origin, message, hint)

    # -- the model ------------------------------------------------------------------------

    def model(self, config: Any) -> str:
        if not isinstance(config, dict) or "class_name" not in config:
            raise self.fail(
                "is not a Keras model config: expected a JSON object with `class_name`, "
                f"found {_describe(config)}",
                "give a .keras file or the output of model.to_json()",
            )
        kind = config.get("class_name")
        if kind in ("Functional", "Model"):
            from kdsl.tools.importer.functional import FunctionalWriter

            writer = FunctionalWriter(self, config, self.compact)
            chain = writer.chain_layers()
            if chain is not None:  # a plain chain: written as a Sequential model is
                return self.sequential(
                    chain, {}, config.get("compile_config"), drop_positional=self.compact
                )
            chains, outputs = writer.write()
            return self.finish(chains, self.sections(config.get("compile_config"), outputs))
        if kind != "Sequential":
            raise self.fail(
                f"holds a `{kind}` model, which kdsl cannot write",
                "kdsl imports models built with keras.Sequential or the functional API "
                "(keras.Model(inputs, outputs))",
            )
        body = config.get("config")
        body = body if isinstance(body, dict) else {}
        layers = body.get("layers")
        if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
            raise self.fail("is not a Keras model config: the Sequential model has no layer list")
        return self.sequential(layers, body, config.get("compile_config"))

    def sequential(
        self, layers: list[dict], body: dict, compile_config: Any, drop_positional: bool = False
    ) -> str:
        """One chain of layers (`drop_positional`: the compact form of a functional
        model's chain, without the names that only say where a layer is)."""
        from kdsl.tools.importer.functional import positional

        shape, input_args = self.input(layers, body)
        layers = [x for x in layers if x.get("class_name") != "InputLayer"]
        if not layers:
            raise self.fail("holds a Sequential model without layers: kdsl needs at least one")
        texts = [
            self.layer(
                layer,
                drop_name=drop_positional
                and positional(str(_config(layer).get("name")), str(layer.get("class_name"))),
            )
            for layer in layers
        ]
        shape_text = _shape(shape)
        if input_args:
            chain = [f"{INPUT} {shape_text} {' '.join(input_args)}", *texts]
        else:
            chain = [f"{texts[0]} in {shape_text}", *texts[1:]]
        return self.finish([" -> ".join(chain)], self.sections(compile_config))

    def finish(self, chains: list[str], sections: list[str]) -> str:
        """The program checked by kdsl itself, with its notes, in `kdsl fmt`'s layout."""
        blocks = [c for c in chains if c.startswith(("def ", "shared "))]
        chains = [c for c in chains if not c.startswith(("def ", "shared "))]
        program = "".join(f"{block}\n" for block in blocks)
        program += "; ".join([*chains, *sections]) + "\n"
        self.verify(program, compiled=bool(sections))
        notes = "".join(f"# note: {note}\n" for note in self.notes)
        return format_text(notes + program, self.origin)  # `kdsl fmt`'s canonical layout

    def verify(self, program: str, compiled: bool) -> None:
        """Never hand the user a program kdsl itself rejects: what the checker says about
        it (a layer name with spaces, a dtype kdsl does not know, a value Keras would
        refuse) becomes this file's error, naming the layer."""
        from kdsl.errors import Source
        from kdsl.language.parser import parse
        from kdsl.semantics.checker import analyze

        text = program if compiled else program.rstrip("\n") + "; sgd; mse\n"
        source = Source(self.origin, text)
        try:
            analyze(parse(source), source)
        except SourceError as error:
            first = error.diagnostics[0]
            where = ""
            if first.span is not None:
                line = text.split("\n")[first.span.line - 1]
                same_line = first.span.end_line == first.span.line
                written = line[
                    first.span.column - 1 : first.span.end_column - 1 if same_line else None
                ]
                where = f" (in `{written.strip()[:60]}`)"
            raise self.fail(
                f"cannot be written as a kdsl program: {first.message}{where}", first.hint
            ) from None

    def input(self, layers: list[dict], body: dict, named: bool = True) -> tuple[list, list[str]]:
        """The input shape (without the batch) and `input`'s own arguments, if any
        (`named`: whether its name is written as `name=`, not as a label)."""
        first = layers[0] if layers else {}
        args: list[str] = []
        if first.get("class_name") == "InputLayer":
            config = _config(first)
            batch_shape = config.get("batch_shape", config.get("batch_input_shape"))
            for flag in ("sparse", "ragged", "optional"):
                if config.get(flag):
                    raise self.fail(f"has a {flag} input, which kdsl cannot write")
            dtype = _dtype_name(config.get("dtype"))
            if not isinstance(dtype, str | None):
                raise self.fail(
                    f"is not a Keras model config: the input's dtype is {_describe(dtype)}"
                )
            if dtype not in (None, "float32"):
                args.append(f"dtype={_value(dtype)}")
            name = (
                self.written_name(config.get("name"), "InputLayer", "`InputLayer`")
                if named
                else None
            )
            if name is not None:
                args.append(f"name={_value(name)}")
        else:
            batch_shape = body.get("build_input_shape") or _config(first).get("batch_input_shape")
        if not isinstance(batch_shape, list) or len(batch_shape) < 2:
            raise self.fail(
                "has no input shape: the model was never built",
                "build it with keras.Input(shape=...) as its first element before saving",
            )
        if batch_shape[0] is not None:
            raise self.fail(
                f"fixes the batch size to {batch_shape[0]} in its input shape, "
                "which kdsl cannot write",
                "kdsl's input shape never includes the batch dimension",
            )
        dims = batch_shape[1:]
        if not all(d is None or (type(d) is int and d >= 1) for d in dims):
            raise self.fail(f"has an input shape kdsl cannot write: {batch_shape!r:.80}")
        return dims, args

    # -- layers ---------------------------------------------------------------------------

    def layer(
        self,
        layer: dict,
        wrapped_by: str | None = None,
        drop_name: bool = False,
        labelled: bool = False,
        keep_name: bool = False,
    ) -> str:
        """A layer's text; `drop_name`: its name is left out (the compact form, a shared
        block's layer), `labelled`: a label names it (an output)."""
        kind = layer.get("class_name")
        config = layer.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        label = f"`{name}` ({kind})" if name else f"`{kind}`"
        instead = "replace it with a built-in layer or activation before importing"
        if kind == "Lambda":
            raise self.fail(
                f"layer {label} is a Lambda layer, which kdsl refuses: {_CODE}", instead
            )
        self.refuse_code(layer, f"layer {label}", instead)
        if not isinstance(kind, str) or not isinstance(config, dict):
            raise self.fail(f"is not a Keras model config: a layer without a class: {layer!r:.80}")
        if kind in ("Sequential", "Functional", "Model"):
            raise self.fail(
                f"nests a model in layer {label}: kdsl writes a nested model only in a "
                "functional model (as a `shared` block)",
                "build the outer model with keras.Model(inputs, outputs), or flatten the inner "
                "model's layers into the outer Sequential",
            )
        entry = self.layer_entry(kind, label, layer)
        if wrapped_by and kind in WRAPPER_CLASSES:
            raise self.fail(
                f"layer {label} is a wrapper inside a {wrapped_by}, which kdsl cannot write"
            )
        words = [_layer_word(entry, self.catalog)]
        if kind in WRAPPER_CLASSES:
            inner = config.get("layer")
            if not isinstance(inner, dict):
                raise self.fail(f"layer {label} wraps no layer")
            if kind == "Bidirectional":
                self.check_backward(config, inner, label)
            words.append(self.layer(inner, wrapped_by=kind))  # the script builds it first
        # The language names the wrapper, not the layer inside: that one is built unnamed.
        if labelled:
            written = None  # named by its label, so not counted among the unnamed
        elif keep_name and isinstance(name, str):
            written = name
        elif drop_name:
            written = None
            self.auto_names.take(kind)
        else:
            written = None if wrapped_by else self.written_name(name, kind, label)
        if wrapped_by:
            self.auto_names.take(kind)
        words += self.arguments(entry, config, label, wrapped_by, written)
        for built in built_inside(kind, config, named=written is not None):
            self.auto_names.take(built)
        return " ".join(words)

    def written_name(self, name: Any, class_name: str, label: str) -> str | None:
        """The name to write for a layer: None where the rebuilt model gives it that name
        anyway, as Keras's automatic one (the script then builds it unnamed)."""
        if name is not None and not isinstance(name, str):
            raise self.fail(f"is not a Keras model config: layer {label} has a name that is "
                            f"{_describe(name)}")  # fmt: skip
        if name is not None and name != self.auto_names.next(class_name):
            return name
        self.auto_names.take(class_name)
        return None

    def layer_entry(self, kind: str, label: str, layer: dict) -> Entry:
        module = layer.get("module")
        entry = by_class(self.catalog.layers, kind)
        if entry is None or (module is not None and module != "keras.layers"):
            origin = f" from `{module}`" if module and module != "keras.layers" else ""
            raise self.fail(
                f"layer {label} is a class{origin} that kdsl cannot write",
                "kdsl writes the layers Keras ships (see docs/language.md); "
                "a custom layer needs Python",
            )
        return entry

    def refuse_code(self, value: Any, subject: str, hint: str) -> None:
        """What `safe_mode=True` refuses: a Lambda, or a function serialized as code.
        `subject` is what holds it (`layer `out` (Dense)`), `hint` what to use instead."""
        if isinstance(value, dict):
            if value.get("class_name") == "Lambda" or _is_code(value):
                what = _code_text(value) if _is_code(value) else "a Lambda layer"
                raise self.fail(f"{subject} holds {what}, which kdsl refuses: {_CODE}", hint)
            for item in value.values():
                self.refuse_code(item, subject, hint)
        elif isinstance(value, list):
            for item in value:
                self.refuse_code(item, subject, hint)

    def arguments(
        self, entry: Entry, config: dict, label: str, wrapped_by: str | None, name: str | None
    ) -> list:
        """The shortest argument list: the positional prefix, then non-default keywords
        (`name`, the name to write, if any)."""
        values: dict[str, Any] = {} if name is None else {"name": name}
        params = {p.name: p for p in entry.params}
        for key, raw in config.items():
            if key in _LAYER_IGNORED or key in _DERIVED or key in ("layer", "backward_layer"):
                continue
            param = params.get(key)
            if key == "name":
                continue  # `name`, decided by written_name
            value = self.normalize(key, raw, label)
            if key == "strides" and value is not None and value == _normal(config.get("pool_size")):
                continue  # pooling: Keras makes strides the pool size when not given
            if key == "zero_output_for_mask" and wrapped_by == "Bidirectional":
                continue  # Bidirectional sets it from return_sequences
            if key == "data_format" and value == "channels_last":
                value = None  # Keras's default image data format, written out
            if param is None:
                if _WRITTEN_DEFAULTS.get(key, _MISSING) == value:
                    continue
                if key in ("trainable", "autocast") and value is True:
                    continue
                if key == "dtype" and value == "float32":
                    continue
                if value is None or value is False:
                    continue  # Keras writes it, the constructor's default leaves it unset
                raise self.fail(
                    f"layer {label} has `{key}={_value_or_repr(value)}`, "
                    f"which `{entry.key}` does not take in kdsl"
                )
            default = self.normalize(key, param.default, label) if param.has_default else _MISSING
            if key == "dtype" and default is None:
                default = "float32"
            if key in ACTIVATION_PARAMS:
                value, default = _linear(value), _linear(default)
            if _is_number(default) and isinstance(value, tuple) and _is_factor(entry, key):
                value = self.factor(entry, key, value, label)
            if _same(value, default):
                continue
            if wrapped_by and key in ("dtype", "trainable", "activity_regularizer"):
                raise self.fail(
                    f"layer {label} inside a {wrapped_by} has `{key}={_value_or_repr(value)}`; "
                    f"kdsl gives `{key}` to the wrapper, not to the layer inside"
                )
            values[key] = value
        words: list[str] = []
        order = [p.name for p in entry.params]
        positional = list(POSITIONAL.get(entry.key, ()))
        for key in positional:
            if key not in values:
                break
            words.append(_argument(key, values.pop(key)))
        for key in sorted(values, key=lambda k: order.index(k) if k in order else len(order)):
            words.append(f"{key}={_argument(key, values[key])}")
        return words

    def factor(self, entry: Entry, key: str, value: tuple, label: str) -> Any:
        """The one number Keras turned into the range `value` (`factor=0.3` → (0, 0.3)),
        where the language takes only a number."""
        zero_based = entry.key in ZERO_BASED_FACTORS and key not in ("x_factor", "y_factor")
        if len(value) == 2 and all(_is_number(x) for x in value):
            low, high = value
            if high >= 0 and low == (0 if zero_based else -high):
                return high
        raise self.fail(
            f"layer {label} has `{key}={_value_or_repr(value)}`: kdsl writes `{key}` as one "
            f"number x, the range {'(0, x)' if zero_based else '(-x, x)'}"
        )

    def check_backward(self, config: dict, inner: dict, label: str) -> None:
        """Bidirectional's backward layer must be the forward one run backwards: that is
        the only one the language can write."""
        backward = config.get("backward_layer")
        if backward is None:
            return
        if not isinstance(backward, dict) or backward.get("class_name") != inner.get("class_name"):
            raise self.fail(f"layer {label} has its own backward layer, which kdsl cannot write")
        forward_config, backward_config = dict(_config(inner)), dict(_config(backward))
        forward_config.pop("name", None)
        backward_config.pop("name", None)
        go_backwards = forward_config.pop("go_backwards", False)
        if backward_config.pop("go_backwards", True) == go_backwards or _normal(
            forward_config
        ) != _normal(backward_config):
            raise self.fail(
                f"layer {label} has a backward layer that differs from its forward layer, "
                "which kdsl cannot write",
                "kdsl's `bidirectional` runs a copy of the layer backwards",
            )

    # -- values ---------------------------------------------------------------------------

    def normalize(self, key: str, value: Any, label: str) -> Any:
        """A config value as the plain value the language writes; lists become tuples,
        Keras objects their names."""
        if isinstance(value, list):
            return tuple(self.normalize(key, item, label) for item in value)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"layer {label} has `{key}={value}`, which kdsl cannot write")
        if isinstance(value, str) and key not in ACTIVATION_PARAMS and key != "dtype":
            return NESTED_ALIASES.get(value, value) if _nested_key(key) else value
        if not isinstance(value, dict):
            return value
        kind = value.get("class_name")
        module = str(value.get("module", ""))
        inner = value.get("config")
        if not isinstance(kind, str) or not isinstance(inner, dict | None):
            raise self.fail(
                f"is not a Keras model config: layer {label} has `{key}` set to an object "
                "without a class name and a config object"
            )
        if kind in ("DTypePolicy", "FloatDTypePolicy") and isinstance(inner, dict):
            name = inner.get("name")
            if not isinstance(name, str):
                raise self.fail(
                    f"is not a Keras model config: layer {label} has a `{key}` policy whose "
                    f"name is {_describe(name)}"
                )
            return name
        family = module.removeprefix("keras.")
        table = NESTED.get(family, {})
        if kind in table and value.get("registered_name") in (None, kind):
            name, defaults = table[kind]
            if _normal(inner) == _normal(defaults):
                return name
        if family in ("initializers", "regularizers", "constraints"):  # with arguments
            return self.object_call(value, family, f"layer {label}'s `{key}`")
        raise self.fail(
            f"layer {label} has `{key}` set to a `{kind}` object, which kdsl cannot write",
        )

    def object_call(self, value: dict, family: str, subject: str) -> _Call:
        """A Keras object with arguments (an initializer, regularizer, constraint or
        learning-rate schedule) as the language's call: `l2(0.001)`,
        `exponential_decay(0.01, decay_steps=1000, decay_rate=0.9)`; only the arguments
        that differ from Keras's defaults, by name."""
        kind = value.get("class_name")
        names = sorted(
            key
            for key, entry in self.catalog.value_calls.items()
            if entry.category == family and entry.class_name == kind and key.islower()
        )
        if not names or value.get("registered_name") not in (None, kind):
            raise self.fail(f"{subject} is a `{kind}` object, which kdsl cannot write")
        entry = self.catalog.value_calls[names[0]]
        config = value.get("config")
        arguments: list[str] = []
        order = {param.name: index for index, param in enumerate(entry.params)}
        items = sorted(
            (config if isinstance(config, dict) else {}).items(),
            key=lambda item: order.get(item[0], len(order)),
        )  # in the constructor's order, as Keras's docs write them
        for key, raw in items:
            argument = _normal(raw)
            param = entry.param(key)
            if param is None:
                if argument is None or argument is False:
                    continue
                raise self.fail(f"{subject} is a `{kind}` with `{key}`, which kdsl cannot write")
            if param.has_default and _same(argument, _normal(param.default)):
                continue
            if isinstance(argument, dict) or any(isinstance(x, dict) for x in _leaves(argument)):
                raise self.fail(f"{subject} is a `{kind}` whose `{key}` holds an object")
            arguments.append(f"{key}={_value(argument)}")
        return _Call(f"{names[0]}({', '.join(arguments)})")

    # -- compile --------------------------------------------------------------------------

    def sections(
        self, compile_config: Any, outputs: list[tuple[str, str]] | None = None
    ) -> list[str]:
        """The compile sections; `outputs`: a model's several outputs, (Keras name, label)."""
        if not isinstance(compile_config, dict) or compile_config.get("optimizer") is None:
            self.notes.append(
                "the model was saved without compile(), so it has no optimizer and no loss: "
                "add `; OPTIMIZER; LOSS` after the layers, e.g. `; adam; mse`"
            )
            return []
        optimizer = self.compile_arg(compile_config.get("optimizer"), "optimizer")
        if outputs and len(outputs) > 1:
            return [optimizer, *self.output_sections(compile_config, outputs)]
        output = outputs[0][0] if outputs else None
        compile_config = {
            key: _only_output(compile_config.get(key), output)
            for key in ("loss", "metrics", "loss_weights")
        } | {
            k: v for k, v in compile_config.items() if k not in ("loss", "metrics", "loss_weights")
        }
        loss, loss_key = self.loss(compile_config.get("loss"))
        sections = [optimizer, loss]
        metrics = compile_config.get("metrics")
        if metrics is None:
            metrics = []
        if isinstance(metrics, dict):
            raise self.fail(
                "has metrics per output (a dict), which kdsl cannot write",
                "a kdsl model has one output: give `metrics` as a list",
            )
        if not isinstance(metrics, list):
            raise self.fail(
                f"has {_describe(metrics)} as its metrics, where Keras writes a list",
                "give `metrics` as a list, e.g. metrics=['accuracy']",
            )
        written = [self.compile_arg(m, "metric") for m in metrics]
        if loss_key in CROSSENTROPY_LOSSES:
            if written == ["accuracy"]:
                written = []  # kdsl's default for a cross-entropy loss
            elif not written:
                written = ["none"]  # no metrics: not even that default
        if written:
            sections.append("metrics " + section_text(written))
        for key, default in (
            ("loss_weights", None),
            ("weighted_metrics", None),
            ("run_eagerly", False),
            ("steps_per_execution", 1),
        ):
            if compile_config.get(key, default) not in (default, [] if default is None else ()):
                self.notes.append(
                    f"compile()'s `{key}={compile_config[key]!r}` is left out: kdsl cannot write it"
                )
        return sections

    def output_sections(self, compile_config: dict, outputs: list[tuple[str, str]]) -> list[str]:
        """`loss @out ... weight=w` and `metrics @out ...` for each of several outputs."""
        losses = _per_output(self, compile_config.get("loss"), outputs, "loss")
        weights = _per_output(self, compile_config.get("loss_weights"), outputs, "loss weight")
        metrics = _per_output(self, compile_config.get("metrics"), outputs, "metrics")
        sections: list[str] = []
        crossentropy = False
        for (_, label), loss, weight in zip(outputs, losses, weights, strict=True):
            text, key = self.loss(loss)
            crossentropy = crossentropy or key in CROSSENTROPY_LOSSES
            if weight is not None and not _is_number(weight):
                raise self.fail(f"has {_describe(weight)} as the loss weight of `{label}`")
            weight_text = "" if weight is None else f" weight={_value(weight)}"
            sections.append(f"loss @{label} {text}{weight_text}")
        written_any = False
        for (_, label), items in zip(outputs, metrics, strict=True):
            items = [] if items is None else items if isinstance(items, list) else [items]
            written = [self.compile_arg(m, "metric") for m in items]
            if written:
                written_any = True
                sections.append(f"metrics @{label} " + section_text(written))
        if not written_any and crossentropy:
            sections.append("metrics none")
        return sections

    def loss(self, loss: Any) -> tuple[str, str]:
        text = self.compile_arg(loss, "loss")
        name = text.split(" ", 1)[0]
        return text, self.catalog.loss_aliases.get(name, name)

    def compile_arg(self, value: Any, what: str) -> str:
        """An optimizer, loss or metric: its name, then its non-default arguments."""
        # `plural`, the Keras module's name, is also the word: "optimizers", "losses".
        plural, table, aliases = self.catalog.compile_table("metrics" if what == "metric" else what)
        if value is None:
            raise self.fail(f"was compiled without {with_article(what)}, which a kdsl model needs")
        if isinstance(value, str):
            if value in table or value in aliases:
                return value
            found = by_class(table, value)
            if found is None:
                raise self.fail(f"has the {what} {value!r}, which kdsl does not know")
            return found.key
        if isinstance(value, list | tuple):
            raise self.fail(f"has a list of {plural} per output, which kdsl cannot write")
        if what == "loss" and isinstance(value, dict) and "class_name" not in value:
            raise self.fail(
                f"has {plural} per output (a dict of {', '.join(map(str, value))}), which kdsl "
                "cannot write",
                "a kdsl model has one output and one loss",
            )
        if not isinstance(value, dict) or "class_name" not in value:
            raise self.fail(f"has {_describe(value)} as its {what}, which kdsl cannot write")
        hint = _COMPILE_HINTS[what]
        if _is_code(value):
            name = value.get("config")
            subject = (
                f"the {what} `{name[:80]}`, a Python function,"
                if isinstance(name, str)
                else f"{with_article(what)} that is {_code_text(value)},"
            )
            raise self.fail(f"has {subject} which kdsl refuses: {_CODE}", hint)
        kind = value.get("class_name")
        self.refuse_code(value, f"the {what} `{kind}`", hint)
        entry = by_class(table, kind)
        module = str(value.get("module", ""))
        if (
            entry is None
            or not module.startswith("keras.")
            or value.get("registered_name")
            not in (
                None,
                kind,
            )
        ):
            raise self.fail(f"has the {what} `{kind}`, which kdsl cannot write")
        config = value.get("config")
        config = config if isinstance(config, dict) else {}
        params = {p.name: p for p in entry.params}
        written: dict[str, Any] = {}
        for key, raw in config.items():
            if key == "learning_rate" and isinstance(raw, dict) and "class_name" in raw:
                subject = f"the {what}'s learning rate"
                self.refuse_code(raw, subject, hint)
                written[key] = self.object_call(raw, "optimizers.schedules", subject)
                continue
            if isinstance(raw, dict):
                raise self.fail(
                    f"has {with_article(what)} `{kind}` whose `{key}` is a "
                    f"`{raw.get('class_name')}` object (a schedule?), which kdsl cannot write",
                    f"kdsl writes `{key}` as a number",
                )
            value = _normal(raw)
            if isinstance(value, tuple) and any(isinstance(x, dict) for x in _leaves(value)):
                raise self.fail(
                    f"has {with_article(what)} `{kind}` whose `{key}` holds an object, which kdsl "
                    "cannot write"
                )
            if key == "learning_rate" and isinstance(value, float):
                value = _float32(value)  # Keras keeps it in a float32 variable
            if (
                key == "name"
                and isinstance(value, str)
                and _auto_name(value, entry.class_name, key=entry.key)
            ):
                continue
            if key == "dtype" and value in (None, "float32"):
                continue
            param = params.get(key)
            if param is None:
                if value is None or value is False:
                    continue
                raise self.fail(f"has the {what} `{kind}` with `{key}`, which kdsl cannot write")
            if param.has_default and _same(value, _normal(param.default)):
                continue
            written[key] = value
        words = [entry.key]
        if what == "optimizer" and "learning_rate" in written:
            words.append(_value(written.pop("learning_rate")))
        words += [f"{k}={_value(v)}" for k, v in written.items()]
        return " ".join(words)


# -- reading ------------------------------------------------------------------------------

# A model's config is a few MB at most (the weights live elsewhere in a `.keras` file):
# what declares or holds more is refused before it fills memory (a zip bomb, a wrong file).
MAX_CONFIG_BYTES = 64 * 1024 * 1024
# Compression methods Python's zipfile reads (Keras stores its members uncompressed), and
# names for some it does not.
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_OTHER_ZIP_METHODS = {9: " (deflate64)", 93: " (zstandard)", 95: " (xz)", 98: " (PPMd)",
                      99: " (AES encryption)"}  # fmt: skip


def read_config(path: str | Path) -> Any:
    """The model config in a `.keras` file (its `config.json`) or a `.json` file."""
    name = str(path)
    file = Path(path)
    check_regular_file(
        path, ModelError, "a .keras or .json model file", "to read JSON from a pipe, use `-`"
    )
    try:
        with file.open("rb") as stream:
            head = stream.read(4)
            if head == b"PK\x03\x04" or file.suffix.lower() == ".keras":
                return _from_zip(name, stream)
            data = head + _read_bounded(stream, name, "is")
    except FileNotFoundError:
        raise ModelError(name, "no such file") from None
    except OSError as error:
        raise ModelError(name, f"cannot be read: {error.strerror or error}") from None
    return _json(
        data,
        name,
        "is neither a .keras file nor JSON",
        "give a .keras file or the output of model.to_json()",
    )


def _read_bounded(stream: IO[bytes], name: str, what: str) -> bytes:
    """All of `stream`, refused past MAX_CONFIG_BYTES (`what`: "is", "has a config.json
    that expands to"). Read in chunks: a zip member then never decompresses more than one
    chunk past what its header declared."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(2**20):
        size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise _too_large(name, what, "more than")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(name: str, what: str, amount: str) -> ModelError:
    return ModelError(
        name,
        f"{what} {amount} {MAX_CONFIG_BYTES / 2**20:g} MB, far more than a model config "
        "takes: it is not a model saved by Keras",
        "save the model again with model.save('model.keras'), or give model.to_json()'s text",
    )


def _json(data: bytes | str, name: str, problem: str, hint: str | None = None) -> Any:
    """`data` as JSON; text that is not (or not UTF-8) is a ModelError: `problem: why`."""
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(name, f"{problem}: {error}", hint) from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        raise ModelError(
            name,
            f"holds a number of more than {sys.get_int_max_str_digits():,} digits, far beyond "
            "any value of a Keras model config",
        ) from None
    except RecursionError:
        raise ModelError(name, "nests too deeply to import") from None


def _from_zip(name: str, stream: BinaryIO) -> Any:
    """The `config.json` of a `.keras` zip, the only member read, with a bounded size."""
    damaged = "is not a Keras model file: its config.json is damaged"
    try:
        with zipfile.ZipFile(stream) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise ModelError(
                    name,
                    "is not a Keras model file: the zip has no config.json",
                    "save one with model.save('model.keras')",
                ) from None
            if info.flag_bits & 0x1:
                raise ModelError(
                    name,
                    "is not a Keras model file: its config.json is encrypted",
                    "Keras never encrypts a .keras file: save the model again",
                )
            if info.compress_type not in _ZIP_METHODS:
                method = _OTHER_ZIP_METHODS.get(info.compress_type, "")
                raise ModelError(
                    name,
                    "is not a Keras model file: its config.json is compressed with method "
                    f"{info.compress_type}{method}, which kdsl cannot read",
                    "Keras writes .keras files uncompressed: save the model again with "
                    "model.save('model.keras')",
                )
            if info.file_size > MAX_CONFIG_BYTES:
                raise _too_large(name, "has a config.json of", f"{info.file_size:,} bytes, over")
            with archive.open(info) as member:
                data = _read_bounded(member, name, "has a config.json that expands to")
    except ModelError:
        raise
    except zipfile.BadZipFile as error:
        if str(error) == "File is not a zip file":
            raise ModelError(
                name,
                "is not a Keras model file: expected a zip archive (.keras), found something else",
                "a .keras file is written by model.save('model.keras')",
            ) from None
        raise ModelError(name, f"is a damaged zip archive: {error}") from None
    except _DECOMPRESSION_ERRORS as error:
        raise ModelError(name, f"{damaged}: {error or type(error).__name__}") from None
    except (OSError, ValueError, zipfile.LargeZipFile) as error:
        raise ModelError(name, f"cannot be read as a Keras model file: {error}") from None
    return _json(
        data,
        name,
        "is not a Keras model file: its config.json is not JSON",
        "save the model again with model.save('model.keras')",
    )


def read_stdin() -> Any:
    """A model config as JSON on standard input (`kdsl import -`)."""
    data = _read_bounded(sys.stdin.buffer, "<stdin>", "is")
    return _json(
        data,
        "<stdin>",
        "is not JSON",
        "pipe in the output of model.to_json(), or give a .keras file",
    )


def import_config(config: Any, origin: str = "<config>", compact: bool = True) -> str:
    """kdsl text for a model config dict (as in `json.loads(model.to_json())`).

    `compact` (the default) writes a functional model folded into blocks, without the
    names that only say where a layer is; `compact=False` is the faithful form, every
    layer written out with every name Keras did not make up. Both rebuild the same
    architecture; a Sequential model is written the same way in both."""
    _refuse_huge_numbers(config, origin)
    try:
        return _Importer(origin, compact=compact).model(config)
    except RecursionError:
        raise ModelError(origin, "nests too deeply to import") from None


# Keras's own integers (sizes, axes, seeds, hash salts) fit in 64 bits; one of 5,000
# digits is not a model's, and Python would not even print it.
_MAX_INT_BITS = 64


def _refuse_huge_numbers(config: Any, origin: str) -> None:
    """One walk over the config, before any of its values is written or shown."""
    stack: list[tuple[Any, tuple | None]] = [(config, None)]  # (value, (key, parent's))
    seen: set[int] = set()
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict | list | tuple):
            if id(value) in seen:
                continue  # a dict built in Python may hold itself
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((item, (key, where)) for key, item in items)
        elif type(value) is int and value.bit_length() > _MAX_INT_BITS:
            path = []
            while where is not None:
                key, where = where
                path.append(f"[{key}]" if isinstance(key, int) else f".{key}"[:40])
            digits = int(value.bit_length() * math.log10(2)) + 1
            spot = "".join(reversed(path)).lstrip(".")
            raise ModelError(
                origin,
                f"holds a number of about {digits:,} digits at `{spot}`, "
                "far beyond any value of a Keras model config",
            )


def import_model(source: str | Path | dict, compact: bool = True) -> str:
    """kdsl text for a saved model: a `.keras` or `.json` path, JSON text, or a config dict
    (`compact`: see `import_config`)."""
    if isinstance(source, dict):
        return import_config(source, compact=compact)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        config = _json(source, "<json>", "is not valid JSON")
        return import_config(config, "<json>", compact=compact)
    return import_config(read_config(source), str(source), compact=compact)


# -- writing values -----------------------------------------------------------------------


def _argument(key: str, value: Any) -> str:
    return _value(value, broadcast=key in _BROADCAST, sizes=key in _SIZES)


class _Call(str):
    """A Keras object already written as the language's call (`l2(0.001)`)."""


def _value(value: Any, broadcast: bool = False, sizes: bool = False) -> str:
    """A plain value as the language writes it: `relu`, `'a b'`, `3x3`, `(None, 8)`."""
    if isinstance(value, _Call):
        return str(value)
    if isinstance(value, bool) or value is None:
        return constant_word(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if is_bare_word(value):
            return value
        return repr(value)
    if isinstance(value, tuple):
        leaves = list(_leaves(value))
        if broadcast and leaves and all(type(x) is int for x in leaves) and len(set(leaves)) == 1:
            return str(leaves[0])
        if sizes and len(value) >= 2 and all(type(x) is int and x >= 0 for x in value):
            return "x".join(map(str, value))
        items = [_value(item, sizes=sizes) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise TypeError(f"cannot write {type(value).__name__} as a kdsl value")


def _value_or_repr(value: Any) -> str:
    try:
        return _value(value)
    except TypeError:
        return repr(value)


def _shape(dims: list) -> str:
    """`4`, `28x28x1`, or `(None, 128)` as the docs write shapes."""
    if len(dims) == 1 and dims[0] is not None:
        return str(dims[0])
    if all(d is not None for d in dims):
        return "x".join(map(str, dims))
    items = ["None" if d is None else str(d) for d in dims]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _leaves(value: Any):
    if isinstance(value, tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _layer_word(entry: Entry, catalog: Catalog) -> str:
    """The shortest name the language has for a layer kind: `maxpool2d`, `gap2d`, `rnn`."""
    names = [entry.key, *(a for a, k in ALIASES.items() if k == entry.key)]
    return min(names, key=lambda n: (len(n), n != entry.key))


def _same(value: Any, default: Any) -> bool:
    if default is _MISSING:
        return False
    if isinstance(value, bool) or isinstance(default, bool):
        return type(value) is type(default) and value == default
    if isinstance(value, tuple) and not isinstance(default, tuple):
        leaves = list(_leaves(value))
        return bool(leaves) and all(_same(x, default) for x in leaves)
    return value == default


def _normal(value: Any) -> Any:
    """JSON lists as tuples, recursively, so configs compare with catalog defaults."""
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, dict):  # `.keras` files mark objects shared between layers
        return {k: _normal(v) for k, v in value.items() if k != "shared_object_id"}
    return value


def _is_factor(entry: Entry, key: str) -> bool:
    """An image layer's range argument, given as one number (`factor`, `x_factor`, and
    `scale` and `sigma` where Keras's `_set_factor_by_name` makes them ranges)."""
    return key.endswith("factor") or (key in ("scale", "sigma") and entry.key in ZERO_BASED_FACTORS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _linear(value: Any) -> Any:
    return None if value == "linear" else value


def _nested_key(key: str) -> bool:
    return key.endswith(("_initializer", "_regularizer", "_constraint"))


def _dtype_name(value: Any) -> Any:
    """A dtype's name, from a name or a `DTypePolicy` object."""
    if isinstance(value, dict):
        return _config(value).get("name")
    return value


def _only_output(value: Any, output: str | None) -> Any:
    """A one-output functional model's loss or metrics, given per output (`{"out": "mse"}`,
    `["mse"]`; `output`: its name, None for a Sequential model)."""
    if output is None:
        return value
    if isinstance(value, dict) and "class_name" not in value and list(value) == [output]:
        return value[output]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list | dict):
        return value[0]
    return value


def _per_output(importer: _Importer, value: Any, outputs: list[tuple[str, str]], what: str):
    """A compile argument for each output: from a dict by output name, a list by position,
    or one value for all."""
    if isinstance(value, dict) and "class_name" not in value:
        unknown = [key for key in value if key not in {name for name, _ in outputs}]
        if unknown:
            raise importer.fail(f"has a {what} for `{unknown[0]}`, which is not an output")
        return [value.get(name) for name, _ in outputs]
    if (
        isinstance(value, list)
        and what != "metrics"
        or (
            what == "metrics"
            and isinstance(value, list)
            and any(isinstance(v, list) for v in value)
        )
    ):
        if len(value) != len(outputs):
            raise importer.fail(f"has {len(value)} {what} values for {len(outputs)} outputs")
        return list(value)
    return [value] * len(outputs)


def _config(layer: dict) -> dict:
    config = layer.get("config")
    return config if isinstance(config, dict) else {}


def _auto_name(name: str, class_name: str, key: str | None = None) -> bool:
    """Whether Keras made this optimizer, loss or metric name up (`adam`, `adam_2`)."""
    stems = {keras_snake_case(class_name), key or keras_snake_case(class_name)}
    return any(re.fullmatch(rf"{re.escape(stem)}(_\d+)?", name) for stem in stems)


def _float32(value: float) -> float:
    """The shortest decimal that is the same float32 (`0.0010000000474974513` → 0.001)."""
    if not abs(value) < 3.4e38:
        return value
    target = struct.pack("<f", value)
    for digits in range(1, 18):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == target:
            return candidate
    return value


def _is_code(value: Any) -> bool:
    """A function serialized as code: by name (`class_name: function`), or a lambda's
    bytecode (`__lambda__`, or `{"value": [base64, ...]}` in older files)."""
    return isinstance(value, dict) and (
        value.get("class_name") in ("__lambda__", "function")
        or (  # not `Constant(value=0.25)`'s config: a list starting with the bytecode
            set(value) == {"value"}
            and isinstance(value["value"], list)
            and bool(value["value"])
            and isinstance(value["value"][0], str)
        )
    )


def _code_text(value: dict) -> str:
    """`the Python function `my_metric``, or `a Python lambda`."""
    name = value.get("config")
    if value.get("class_name") == "function" and isinstance(name, str):
        return f"the Python function `{name[:80]}`"
    return "a Python lambda" if value.get("class_name") == "__lambda__" else "a Python function"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return {
        list: "a list",
        str: "a string",
        type(None): "null",
        bool: "true or false",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
