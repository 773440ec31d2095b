"""What names mean: layers, optimizers, losses, metrics and fit options, as data.

Keras is the source of truth for which names and keyword arguments exist: that part is
generated into `keras_catalog.json` by `python -m kdsl.tools.catalog_gen` and loaded here
without importing TensorFlow. The hand-written part is only the DSL's own: short
aliases and the order of positional arguments per layer kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from kdsl.errors import Diagnostic

# Positional arguments of each layer kind, in the order the DSL takes them
# (`dense 3 relu` is units=3, activation="relu"). A new kind is one line here.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "dense": ("units", "activation"),
    "einsumdense": ("equation", "output_shape", "activation"),
    "dropout": ("rate",),
    "alphadropout": ("rate",),
    "gaussiandropout": ("rate",),
    "gaussiannoise": ("stddev",),
    "spatialdropout1d": ("rate",),
    "spatialdropout2d": ("rate",),
    "spatialdropout3d": ("rate",),
    "activation": ("activation",),
    "leakyrelu": ("negative_slope",),
    "elu": ("alpha",),
    "relu": ("max_value", "negative_slope", "threshold"),
    "softmax": ("axis",),
    "conv1d": ("filters", "kernel_size", "activation"),
    "conv2d": ("filters", "kernel_size", "activation"),
    "conv3d": ("filters", "kernel_size", "activation"),
    "conv1dtranspose": ("filters", "kernel_size", "activation"),
    "conv2dtranspose": ("filters", "kernel_size", "activation"),
    "conv3dtranspose": ("filters", "kernel_size", "activation"),
    "separableconv1d": ("filters", "kernel_size", "activation"),
    "separableconv2d": ("filters", "kernel_size", "activation"),
    "depthwiseconv1d": ("kernel_size", "activation"),
    "depthwiseconv2d": ("kernel_size", "activation"),
    "maxpooling1d": ("pool_size",),
    "maxpooling2d": ("pool_size",),
    "maxpooling3d": ("pool_size",),
    "averagepooling1d": ("pool_size",),
    "averagepooling2d": ("pool_size",),
    "averagepooling3d": ("pool_size",),
    "embedding": ("input_dim", "output_dim"),
    "simplernn": ("units", "activation"),
    "lstm": ("units", "activation"),
    "gru": ("units", "activation"),
    "reshape": ("target_shape",),
    "permute": ("dims",),
    "repeatvector": ("n",),
    "upsampling1d": ("size",),
    "upsampling2d": ("size",),
    "upsampling3d": ("size",),
    "zeropadding1d": ("padding",),
    "zeropadding2d": ("padding",),
    "zeropadding3d": ("padding",),
    "cropping1d": ("cropping",),
    "cropping2d": ("cropping",),
    "cropping3d": ("cropping",),
    "rescaling": ("scale", "offset"),
    "resizing": ("height", "width"),
    "centercrop": ("height", "width"),
    "randomcrop": ("height", "width"),
    "randomflip": ("mode",),
    "randomrotation": ("factor",),
    "randomzoom": ("height_factor", "width_factor"),
    "randomtranslation": ("height_factor", "width_factor"),
    "randomcontrast": ("factor",),
    "randombrightness": ("factor",),
    "randomhue": ("factor",),
    "randomsaturation": ("factor",),
    "randomsharpness": ("factor",),
    "randomcolordegeneration": ("factor",),
    "randomposterization": ("factor",),
    "randomgrayscale": ("factor",),
    "adaptiveaveragepooling1d": ("output_size",),
    "adaptiveaveragepooling2d": ("output_size",),
    "adaptiveaveragepooling3d": ("output_size",),
    "adaptivemaxpooling1d": ("output_size",),
    "adaptivemaxpooling2d": ("output_size",),
    "adaptivemaxpooling3d": ("output_size",),
    "convlstm1d": ("filters", "kernel_size", "activation"),
    "convlstm2d": ("filters", "kernel_size", "activation"),
    "convlstm3d": ("filters", "kernel_size", "activation"),
    "reversibleembedding": ("input_dim", "output_dim"),
    "hashing": ("num_bins",),
    "categoryencoding": ("num_tokens",),
    # v2: merges and attention (their tensors come from the graph, `@name`).
    "concatenate": ("axis",),
    "dot": ("axes",),
    "multiheadattention": ("num_heads", "key_dim"),
    "groupqueryattention": ("head_dim", "num_query_heads", "num_key_value_heads"),
}

# The kind of value an argument takes where Keras's signature does not show it (the
# argument is required, or defaults to None): an example of that kind, which values are
# checked against as against a default (`scale` of `rescaling` is a number like 1.0).
KIND_EXAMPLES: dict[str, dict[str, Any]] = {
    "rescaling": {"scale": 1.0},
    "relu": {"max_value": 6.0},
    "gaussiannoise": {"stddev": 0.1},
    "multiheadattention": {"flash_attention": False},
    "groupqueryattention": {"flash_attention": False},
}

# Arguments of every layer that Keras refuses as None, though None is a value kdsl can
# write (`Dense(3, trainable=None)`: "Expected `trainable` to be a boolean").
NEVER_NONE = frozenset({"trainable"})

# Arguments Keras clamps to [0, 1] rather than refuse (`LSTM(dropout=5)` is dropout 1):
# kdsl refuses what is beyond, as no one means it (docs/language.md lists it).
CLAMPED_FRACTIONS = frozenset({"dropout", "recurrent_dropout"})

# What Keras refuses only once the model is built or run, where its signatures and its
# checks at construction say nothing (found by tests/test_oracle.py), by layer kind:
# arguments of which it needs one,
NEEDS_ONE_OF: dict[str, tuple[str, ...]] = {
    "categoryencoding": ("num_tokens",),
    "discretization": ("num_bins", "bin_boundaries"),
}
# values of an argument it cannot run with in a kdsl model (any kind), and why,
REFUSED_VALUES: dict[tuple[str, Any], str] = {
    ("stateful", True): "a stateful layer needs a fixed batch size, and kdsl's models take "
    "any batch size",
    ("return_state", True): "it then outputs a list of tensors, which no next layer of a "
    "chain takes",
    ("flash_attention", True): "Keras runs flash attention on some backends and devices "
    "only (not on TensorFlow's), and kdsl's models run on any",
    ("num_oov_indices", 0): "the model then fails on any value its vocabulary lacks, "
    "as soon as one comes",
}
# an argument's value that needs another argument to have one of some values (Keras
# refuses `sparse=true` with integer ids),
# (none of them: any value but none: `pad_to_max_tokens=true` needs `max_tokens`),
NEEDS_VALUES: dict[tuple[str, Any], tuple[str, tuple[str, ...]]] = {
    ("sparse", True): ("output_mode", ("one_hot", "multi_hot", "count", "tf_idf")),
    ("pad_to_max_tokens", True): ("max_tokens", ()),
}
# ranges narrower than Keras's checks as it makes the layer (`alphadropout 1.0` divides by
# zero when it runs; a lookup's `max_tokens` must be above 1),
RUN_RANGES: dict[tuple[str, str], dict[str, Any]] = {
    ("alphadropout", "rate"): {"min": 0, "max": 1, "max_open": True},
    ("gaussiandropout", "rate"): {"min": 0, "max": 1, "max_open": True},
    ("integerlookup", "max_tokens"): {"min": 2},
    ("stringlookup", "max_tokens"): {"min": 2},
    ("discretization", "num_bins"): {"min": 1},  # (0 bins divide by zero as it adapts)
}
# arguments that take one value, never a tuple (Keras compares them with each id),
SCALAR_ARGS = frozenset({"mask_value", "mask_token", "oov_token"})
# and the arguments that take a tuple of tuples (`padding=((1, 1), (2, 2))`): no other does.
NESTED_ARGS = frozenset({"padding", "cropping"})
# kinds of value Keras refuses only when the layer runs (`hashing`'s mask is compared
# with each integer id; `randomerasing` fills with a number or three),
RUN_REFUSES: dict[tuple[str, str], tuple[str, ...]] = {
    ("hashing", "mask_value"): ("bool", "float", "tuple"),
    ("randomerasing", "fill_value"): ("bool", "name"),  # (a tuple: 3 numbers, for RGB)
    ("alphadropout", "rate"): ("bool",),
    ("randomposterization", "factor"): ("float",),  # (bits: cast to whole numbers)
    # (`Rescaling` multiplies by its scale and adds its offset as it runs: no none)
    ("rescaling", "scale"): ("none",),
    ("rescaling", "offset"): ("none",),
    ("mixup", "alpha"): ("none",),  # (drawn from a distribution of it as it runs)
    ("elu", "alpha"): ("none",),  # (multiplies as it runs)
}
# arguments a layer hands to another, whose range Keras checks there: the other's,
BORROWED_RANGES: dict[tuple[str, str], tuple[str, str]] = {
    ("randomcolorjitter", "brightness_factor"): ("randombrightness", "factor"),
    ("randomcolorjitter", "contrast_factor"): ("randomcontrast", "factor"),
    ("randomcolorjitter", "saturation_factor"): ("randomsaturation", "factor"),
    ("randomcolorjitter", "hue_factor"): ("randomhue", "factor"),
}
# the names any layer's argument of this name takes (Keras's `standardize_data_format`),
# where the layer checks them only when it is built,
ARGUMENT_ENUMS: dict[str, tuple[str, ...]] = {"data_format": ("channels_last", "channels_first")}
# the names an argument takes where Keras checks them only when the model runs, by layer,
_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")
CALL_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "upsampling2d": {"interpolation": _INTERPOLATIONS},
    "resizing": {"interpolation": _INTERPOLATIONS, "fill_mode": ("constant",)},  # pads with 0s
}
# initializers Keras makes only for weights of one rank (identity matrices, the STFT's
# kernels), by the names `*_initializer=` takes,
INITIALIZER_RANKS: dict[str, tuple[int, int | None]] = {  # (fewest, most) dimensions
    **dict.fromkeys(("identity", "Identity", "IdentityInitializer"), (2, 2)),
    **dict.fromkeys(("orthogonal", "Orthogonal", "OrthogonalInitializer"), (2, None)),
    # (Keras's STFT kernels have one shape only: kdsl keeps them to `stftspectrogram`)
    **dict.fromkeys(("stft", "STFT", "STFTInitializer"), (0, 0)),
}
# arguments Keras reads as a pair, of numbers (`value_range=(0, 255)`) or of whole numbers
# ≥ 1 (`tile_grid_size=(8, 8)`),
PAIRS: dict[str, str] = {"value_range": "numbers", "tile_grid_size": "counts"}
# and layers that cannot end a model, by class name, and why (Keras 3.15's symbolic
# `Equalization` returns its input, and the model's graph then has a cycle).
NOT_LAST_LAYERS: dict[str, str] = {
    "Equalization": "Keras cannot build a model that ends with it (its graph has a cycle)",
}

# Short names Keras users say, beyond the names Keras itself exports.
ALIASES: dict[str, str] = {
    "maxpool1d": "maxpooling1d",
    "maxpool2d": "maxpooling2d",
    "maxpool3d": "maxpooling3d",
    "avgpool1d": "averagepooling1d",
    "avgpool2d": "averagepooling2d",
    "avgpool3d": "averagepooling3d",
    "gap1d": "globalaveragepooling1d",
    "gap2d": "globalaveragepooling2d",
    "gap3d": "globalaveragepooling3d",
    "gmp1d": "globalmaxpooling1d",
    "gmp2d": "globalmaxpooling2d",
    "gmp3d": "globalmaxpooling3d",
    "batchnorm": "batchnormalization",
    "layernorm": "layernormalization",
    "groupnorm": "groupnormalization",
    "unitnorm": "unitnormalization",
    "rnn": "simplernn",
    "groupedqueryattention": "groupqueryattention",  # the name Keras's docs and issue use
    "mha": "multiheadattention",
}


# `fit` options that are kdsl's own, not `Model.fit` keywords: each adds the Keras callback
# named here, and its value is the callback's patience in epochs.
FIT_CALLBACKS = {
    "early_stopping": "EarlyStopping",
    "reduce_lr_on_plateau": "ReduceLROnPlateau",
}

# The one positional argument of a callback that writes somewhere: where.
CALLBACK_POSITIONAL = {
    "model_checkpoint": ("filepath",),
    "csv_logger": ("filename",),
    "tensorboard": ("log_dir",),
    "backup_and_restore": ("backup_dir",),
}
# Callback arguments naming a quantity `fit` logs (`val_loss`, `val_mae`), and the words
# `mode` takes.
MONITOR_PARAMS = frozenset({"monitor"})
MONITOR_MODES = ("auto", "min", "max")

# Input dtypes accepted by `input SHAPE dtype=...`.
DTYPES = (
    "float16", "bfloat16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "bool", "string",
)  # fmt: skip

# Layers that wrap another layer (`bidirectional lstm 8`), by Keras class name.
WRAPPER_CLASSES = ("Bidirectional", "TimeDistributed", "SpectralNormalization")

# Arguments whose value is an activation's name (`relu`), not a string to quote.
ACTIVATION_PARAMS = frozenset({"activation", "recurrent_activation"})

# Keyword arguments kdsl owns: Keras's legacy ways of giving the input shape.
FORBIDDEN_LAYER_KWARGS = {
    "input_shape": "give the input shape with `in SHAPE` on the first layer or `input SHAPE`",
    "input_dim": "give the input shape with `in SHAPE` on the first layer or `input SHAPE`",
    "batch_input_shape": "give the input shape with `in SHAPE` on the first layer",
    "batch_size": "the batch size belongs in the `fit` section: `fit batch_size=32`",
}


@dataclass(frozen=True)
class Param:
    name: str
    required: bool
    default: Any = None
    has_default: bool = False
    example: Any = None  # a value of its kind, where the default shows none (KIND_EXAMPLES)
    # What Keras checks as it makes the layer (found by `catalog_gen`, see `_value_rules`):
    enum: tuple[str, ...] = ()  # the only names it takes
    enum_any_case: bool = False  # Keras lowercases the name first (`padding=SAME`)
    bounds: Bounds | None = None  # the numbers it takes
    refuses: frozenset[str] = frozenset()  # kinds of value it never takes (`value_kind`)
    # How it checks a pair against `bounds`, where it takes one (`factor=(0.1, 0.3)`):
    # `each` number within them, or only `overlap` (the first not above, the second not
    # below); None where it takes no pair.
    pairs: str | None = None

    @property
    def kind(self) -> Any:
        """A value of the kind this argument takes (a number, a flag, a name), or None."""
        return self.default if self.example is None else self.example


@dataclass(frozen=True)
class Entry:
    """A Keras class reachable by a DSL name (a layer, optimizer, loss or metric)."""

    key: str
    class_name: str
    params: tuple[Param, ...]
    shorthand: bool = True  # Keras accepts the key as a string in compile()
    positional: tuple[str, ...] = ()
    category: str = ""
    # Old keyword arguments Keras still takes with a deprecation warning: (old, new name),
    # new None for one Keras ignores (`Embedding(input_length=...)`).
    deprecated: tuple[tuple[str, str | None], ...] = ()
    # Keras's automatic layer names' stem where its class is exported under another
    # name (`GroupQueryAttention` makes `grouped_query_attention`).
    auto_name: str = ""

    @property
    def name_stem(self) -> str:
        """The stem of Keras's automatic names for this layer (`max_pooling2d`)."""
        return self.auto_name or keras_snake_case(self.class_name)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def deprecation(self, written: str, name: str) -> Diagnostic | None:
        """A warning for an old keyword argument `name` of the layer `written` (None if
        it is not one); it names what to write instead, as kdsl's generated code does."""
        if name not in dict(self.deprecated):
            return None
        new = dict(self.deprecated)[name]
        if new is None:
            return Diagnostic(
                f"`{name}` of `{written}` is deprecated: Keras ignores it",
                hint="remove it",
                severity="warning",
            )
        return Diagnostic(
            f"`{name}` of `{written}` is deprecated in Keras: it is now `{new}`",
            hint=f"write `{new}=...`",
            severity="warning",
        )

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.required)


@dataclass(frozen=True)
class Bounds:
    """The numbers an argument takes: `low` to `high`, each bound itself included unless
    it is open; None for no bound on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, number: float) -> bool:
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            return False
        return self.high is None or not (
            number > self.high or (self.high_open and number == self.high)
        )

    def overlaps(self, first: float, second: float) -> bool:
        """Whether a pair `(first, second)` passes Keras's check of a range argument
        (`factor=(0.1, 0.3)`): the first not above the bounds, the second not below."""
        return not (
            (self.high is not None and first > self.high)
            or (self.low is not None and second < self.low)
        )

    def describe(self) -> str:
        """`from 0 to 1`, `≥ 1`, `> -1 and ≤ 1`."""
        low = None if self.low is None else f"{'>' if self.low_open else '≥'} {self.low}"
        high = None if self.high is None else f"{'<' if self.high_open else '≤'} {self.high}"
        if low and high and not (self.low_open or self.high_open):
            return f"from {self.low} to {self.high}"
        return " and ".join(part for part in (low, high) if part)


def value_kind(value: Any) -> str:
    """The kind of a kdsl value, as the catalog's `refuses` names it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "name"
    return "tuple"


def _bounds(raw: dict | None) -> Bounds | None:
    if raw is None:
        return None
    return Bounds(
        raw.get("min"), raw.get("max"), raw.get("min_open", False), raw.get("max_open", False)
    )


def _params(raw: list[dict], examples: dict[str, Any] | None = None) -> tuple[Param, ...]:
    examples = examples or {}
    return tuple(
        Param(
            p["name"],
            p["required"],
            p.get("default"),
            "default" in p,
            examples.get(p["name"]),
            tuple(p.get("enum", ())),
            p.get("enum_any_case", False),
            _bounds(p.get("range")),
            frozenset(p.get("refuses", ())),
            p.get("pairs"),
        )
        for p in raw
    )


@dataclass(frozen=True)
class Catalog:
    keras_version: str
    layers: dict[str, Entry]
    layer_aliases: dict[str, str]
    activations: tuple[str, ...]
    # The names `*_initializer=`, `*_regularizer=` and `*_constraint=` arguments take.
    initializers: tuple[str, ...]
    regularizers: tuple[str, ...]
    constraints: tuple[str, ...]
    optimizers: dict[str, Entry]
    losses: dict[str, Entry]
    loss_aliases: dict[str, str]
    metrics: dict[str, Entry]
    metric_aliases: dict[str, str]
    fit: Entry  # `Model.fit`'s keyword arguments, as an entry's params
    # Objects a program builds as a value (`l2(0.01)`): each name's entry, whose
    # `category` is the Keras module (`regularizers`, `optimizers.schedules`) and whose
    # `positional` is every parameter, in Keras's order, as Python binds them.
    value_calls: dict[str, Entry] = field(default_factory=dict)
    # The callbacks a `callbacks` section lists (`early_stopping patience=3`).
    callbacks: dict[str, Entry] = field(default_factory=dict)

    def layer(self, name: str) -> Entry | None:
        key = self.layer_aliases.get(name, name)
        return self.layers.get(key)

    def object_names(self, param: str) -> tuple[str, tuple[str, ...]] | None:
        """For an argument named like `kernel_initializer`: what it takes (`initializer`)
        and its own word for it, by the suffix Keras's signatures use; None for others."""
        for kind in ("initializer", "regularizer", "constraint"):
            if param.endswith(f"_{kind}"):
                return kind, getattr(self, f"{kind}s")
        return None

    def layer_names(self) -> list[str]:
        return sorted({*self.layers, *self.layer_aliases})

    def compile_table(self, section: str) -> tuple[str, dict[str, Entry], dict[str, str]]:
        """The Keras module, the entries and the aliases of the `optimizer`, `loss` or
        `metrics` section."""
        return {
            "optimizer": ("optimizers", self.optimizers, {}),
            "loss": ("losses", self.losses, self.loss_aliases),
            "metrics": ("metrics", self.metrics, self.metric_aliases),
        }[section]


# What each module's objects are, in words; which of a layer's arguments take them is
# said by the argument's name (`Catalog.object_names`), and schedules go in `learning_rate`.
VALUE_CALL_KINDS = {
    "initializers": "initializer",
    "regularizers": "regularizer",
    "constraints": "constraint",
    "optimizers.schedules": "learning-rate schedule",
}


def by_class(entries: dict[str, Entry], class_name: str | None) -> Entry | None:
    """The entry for a Keras class name (`Adam`, `AUC`), as saved configs name them."""
    return next((entry for entry in entries.values() if entry.class_name == class_name), None)


@cache
def load() -> Catalog:
    """The catalog for the Keras version kdsl was generated against (no TensorFlow import)."""
    raw = json.loads(
        files("kdsl.semantics").joinpath("keras_catalog.json").read_text(encoding="utf-8")
    )
    for (key, name), (layer, of) in BORROWED_RANGES.items():
        found = next(p for p in raw["layers"][layer]["params"] if p["name"] == of)
        param = next(p for p in raw["layers"][key]["params"] if p["name"] == name)
        param["range"] = found["range"]
        if "pairs" in found:
            param["pairs"] = found["pairs"]
    for (key, name), kinds in RUN_REFUSES.items():
        param = next(p for p in raw["layers"][key]["params"] if p["name"] == name)
        param["refuses"] = sorted({*param.get("refuses", ()), *kinds})
    for (key, name), bounds in RUN_RANGES.items():
        for param in raw["layers"][key]["params"]:
            if param["name"] == name:
                param["range"] = bounds
    layers = {
        key: Entry(
            key,
            e["class"],
            _params(e["params"], KIND_EXAMPLES.get(key)),
            positional=POSITIONAL.get(key, ()),
            category=e.get("category", ""),
            deprecated=tuple(e.get("deprecated", {}).items()),
            auto_name=e.get("auto_name", ""),
        )
        for key, e in raw["layers"].items()
    }
    aliases = {**raw["layer_aliases"], **{a: k for a, k in ALIASES.items() if k in layers}}

    def entries(section: str) -> dict[str, Entry]:
        return {
            key: Entry(key, e["class"], _params(e["params"]), e.get("shorthand", True))
            for key, e in raw[section].items()
        }

    optimizers = {
        key: Entry(
            key, e["class"], _params(e["params"]), e["shorthand"], positional=("learning_rate",)
        )
        for key, e in raw["optimizers"].items()
    }
    return Catalog(
        keras_version=raw["keras_version"],
        layers=layers,
        layer_aliases=aliases,
        activations=tuple(raw["activations"]),
        initializers=tuple(raw["initializers"]),
        regularizers=tuple(raw["regularizers"]),
        constraints=tuple(raw["constraints"]),
        optimizers=optimizers,
        losses=entries("losses"),
        loss_aliases=dict(raw["loss_aliases"]),
        metrics=entries("metrics"),
        metric_aliases=dict(raw["metric_aliases"]),
        fit=Entry("fit", "fit", _params(raw["fit"]["params"]), shorthand=False),
        value_calls={
            key: _object_entry(key, e, tuple(p["name"] for p in e["params"]), e["module"])
            for key, e in raw.get("value_calls", {}).items()
        },
        callbacks={
            key: _object_entry(key, e, CALLBACK_POSITIONAL.get(key, ()), "callbacks")
            for key, e in raw.get("callbacks", {}).items()
        },
    )


def _object_entry(key: str, raw: dict, positional: tuple[str, ...], module: str) -> Entry:
    """A value call's or a callback's entry: always an object, `category` its module."""
    return Entry(
        key,
        raw["class"],
        _params(raw["params"]),
        shorthand=False,
        positional=positional,
        category=module,
    )


@cache  # a few dozen class names, asked once per layer
def keras_snake_case(class_name: str) -> str:
    """Keras's `to_snake_case` of a class name, which makes layers' automatic names
    (`MaxPooling2D` is `max_pooling2d`)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
