"""Generate `keras_catalog.json`: the Keras names and keyword arguments kdsl may use.

kdsl checks a program's layer, optimizer, loss, metric and `fit` names without importing
TensorFlow, so what the installed Keras offers is captured here once, as data, and
committed. Run `python -m kdsl.tools.catalog_gen` after upgrading Keras; `--check` (and
`tests/test_catalog_drift.py`) fail when the stored file no longer matches.

Everything is found by introspection, and string shorthands are probed through the very
functions `Model.compile` uses, so the catalog records what Keras accepts rather than what
its documentation suggests. Keras is imported only inside functions.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import math
import os
import re
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).parent.parent / "semantics" / "keras_catalog.json"

# Layers that cannot be one step of a `keras.Sequential`: bases, input plumbing, layers
# that need a Python callable or a saved model, RNN plumbing that needs cells, and
# layers taking several inputs that kdsl does not write. The merging and attention layers
# are in: graphs (v2) feed them several tensors; the checker keeps them out of chains.
EXCLUDED_LAYERS = frozenset(
    {
        "Layer",
        "InputLayer",
        "Input",
        "InputSpec",
        "Lambda",
        "TFSMLayer",
        "Wrapper",
        "RNN",
        "StackedRNNCells",
        "HashedCrossing",  # crosses a tuple of inputs
        "Pipeline",  # takes a list of layer objects: a chain is what kdsl already writes
        "MaxNumBoundingBoxes",  # works on bounding-box dicts, not on a model's tensors
    }
)
EXCLUDED_LAYER_CATEGORIES: frozenset[str] = frozenset()

# Keyword arguments of the base `Layer` a user may mean, in the order kdsl lists them.
# `input_shape`, `input_dim`, `batch_input_shape` and `batch_size` are left out on purpose.
BASE_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer")

EXCLUDED_OPTIMIZERS = frozenset({"Optimizer", "LossScaleOptimizer"})
EXCLUDED_LOSSES = frozenset({"Loss", "LossFunctionWrapper"})
EXCLUDED_METRICS = frozenset({"Metric", "Mean", "Sum", "MeanMetricWrapper", "Reduce"})
NOT_NAMES = frozenset({"get", "serialize", "deserialize"})  # module helpers, not names
FIT_EXCLUDED = frozenset(
    {"self", "x", "y", "callbacks", "validation_data", "class_weight", "sample_weight"}
)

# Strings users commonly type; probed in addition to every lowercase name Keras exports.
# Only those Keras accepts end up in the catalog.
WELL_KNOWN_SHORTHANDS = (
    "acc", "accuracy", "auc", "bce", "cce", "ce", "cosine", "cosine_proximity",
    "crossentropy", "huber_loss", "kld", "kl_div", "kullback_leibler_divergence",
    "logcosh", "mae", "mape", "mse", "msle", "rmse", "scce", "top_k_accuracy",
)  # fmt: skip

# Values to fill required constructor arguments with when probing which base `Layer`
# keyword arguments a layer really takes; tried in order (later ones are fallbacks).
_PROBE_VALUES: dict[str, tuple[Any, ...]] = {
    "activation": ("relu",),
    "axes": (1,),
    "dims": ((1,),),
    "equation": ("ab,bc->ac",),
    "factor": (0.1, 2),
    "filters": (2,),
    "height": (2,),
    "head_dim": (2,),
    "height_factor": (0.1,),
    "input_dim": (3,),
    "kernel_size": (3,),
    "key_dim": (2,),
    "layers": ([],),
    "max_number": (2,),
    "max_value": (6.0,),
    "n": (2,),
    "num_bins": (2,),
    "num_heads": (2,),
    "num_key_value_heads": (1,),
    "num_query_heads": (2,),
    "output_dim": (2,),
    "output_shape": (2,),
    "output_size": (2,),
    "pool_size": (2,),
    "rate": (0.5,),
    "scale": (1.0,),
    "sliding_window": (2,),
    "stddev": (0.1,),
    "target_shape": ((2,),),
    "units": (2,),
    "width": (2,),
    "width_factor": (0.1,),
}
# Optional arguments some layers refuse to be built without (e.g. CategoryEncoding).
_PROBE_EXTRAS: dict[str, Any] = {"num_tokens": 3, "num_bins": 2}


def _json_literal(value: Any) -> bool:
    """Whether `value` survives a JSON round trip unchanged (tuples become lists)."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (tuple, list):
        return all(_json_literal(v) for v in value)
    return False


def _to_json(value: Any) -> Any:
    """Convert a JSON-literal default to its JSON form (tuples to lists)."""
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def _param(name: str, default: Any) -> dict[str, Any]:
    """One PARAM entry; `inspect.Parameter.empty` as default means required."""
    if default is inspect.Parameter.empty:
        return {"name": name, "required": True}
    entry: dict[str, Any] = {"name": name, "required": False}
    if _json_literal(default):
        entry["default"] = _to_json(default)
    else:
        text = repr(default)
        entry["default_repr"] = type(default).__name__ if " at 0x" in text else text
    return entry


def _signature_params(func: Callable[..., Any], skip: Iterable[str] = ("self",)) -> list[dict]:
    """PARAM entries for a signature, in order, without self, *args and **kwargs."""
    skipped = set(skip)
    out = []
    for p in inspect.signature(func).parameters.values():
        if p.name in skipped or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(_param(p.name, p.default))
    return out


def _exported_classes(module: Any, base: type[Any]) -> dict[type[Any], list[str]]:
    """Public subclasses of `base` exported by a `keras.*` module, with all their names."""
    found: dict[type[Any], list[str]] = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, base):
            found.setdefault(obj, []).append(name)
    return found


def _public_name(cls: type[Any], names: list[str]) -> str:
    """The exported name to use for a class: its own `__name__` when exported as such."""
    return cls.__name__ if cls.__name__ in names else names[0]


def natural_snake_case(name: str) -> str:
    """`TopKCategoricalAccuracy` -> `top_k_categorical_accuracy`, `MeanIoU` -> `mean_iou`.

    Used only for names Keras itself accepts no string for.
    """
    name = name.replace("IoU", "Iou")
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# ----------------------------------------------------------------------------- layers


def _layer_category(cls: type[Any]) -> str | None:
    """The `keras.src.layers` subpackage a layer lives in; None when it lives elsewhere."""
    parts = cls.__module__.split(".")
    if parts[:3] != ["keras", "src", "layers"] or len(parts) < 5:
        return None
    return parts[3]


def _probe_kwargs(keras: Any, cls: type[Any], attempt: int) -> dict[str, Any] | None:
    """Values for `cls`'s required arguments (attempt 0, 1, ... = fallback values)."""
    kwargs: dict[str, Any] = {}
    params = inspect.signature(cls.__init__).parameters
    for p in list(params.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == "layer":
            # A wrapped layer: any layer for TimeDistributed, an RNN for Bidirectional.
            kwargs["layer"] = keras.layers.LSTM(2) if attempt % 2 else keras.layers.Dense(2)
        elif p.default is p.empty:
            if p.name not in _PROBE_VALUES:
                return None
            values = _PROBE_VALUES[p.name]
            kwargs[p.name] = values[min(attempt, len(values) - 1)]
        elif attempt and p.name in _PROBE_EXTRAS:
            kwargs[p.name] = _PROBE_EXTRAS[p.name]
    return kwargs


def _base_kwargs_accepted(keras: Any, cls: type[Any], own: set[str]) -> list[str]:
    """Base `Layer` keyword arguments `cls` takes through **kwargs and actually honours.

    Found by building the layer with each one: some layers have no **kwargs, pass one of
    them to `Layer` themselves (so a second value is a TypeError), or drop it silently
    (the lookup layers ignore `dtype`/`trainable`); all of those are left out.
    """
    wanted = [k for k in BASE_LAYER_KWARGS if k not in own]
    probes: dict[str, tuple[tuple[Any, ...], Callable[[Any, Any], bool]]] = {
        "name": (("kdsl_probe",), lambda layer, v: layer.name == v),
        "dtype": (("float16", "int32"), lambda layer, v: layer.dtype_policy.name == v),
        "trainable": ((False,), lambda layer, v: layer.trainable is v),
        "autocast": ((False,), lambda layer, v: getattr(layer, "autocast", None) is v),
        "activity_regularizer": (("l2",), lambda layer, v: layer.activity_regularizer is not None),
    }
    for attempt in range(3):
        base = _probe_kwargs(keras, cls, attempt)
        if base is None:
            break
        try:
            cls(**base)
        except Exception:  # any failure means: try other probe values
            continue
        accepted = []
        for key in wanted:
            values, honoured = probes[key]
            for value in values:
                try:  # fresh values (a layer argument is never shared), as `base` had
                    layer = cls(**(_probe_kwargs(keras, cls, attempt) or {}), **{key: value})
                except Exception:  # rejected, or this value is unsuitable
                    continue
                if honoured(layer, value):
                    accepted.append(key)
                    break
        return accepted
    # Could not build it: trust the signature (with **kwargs, every base kwarg reaches Layer).
    print(f"catalog_gen: could not probe {cls.__name__}; using its signature", file=sys.stderr)
    kinds = {p.kind for p in inspect.signature(cls.__init__).parameters.values()}
    return wanted if inspect.Parameter.VAR_KEYWORD in kinds else []


# How Keras words its warning for a keyword argument it still takes under an old name
# (`LeakyReLU(alpha=...)`) or takes only to ignore it (`Embedding(input_length=...)`).
_RENAMED = re.compile(r"Argument `(\w+)` is deprecated\. Use `(\w+)` instead\.")
_IGNORED = re.compile(r"Argument `(\w+)` is deprecated\. Just remove it\.")


def _deprecated_kwargs(keras: Any, cls: type[Any], params: list[dict]) -> dict[str, str | None]:
    """Old keyword arguments `cls.__init__` still accepts with a deprecation warning: the
    new name of each, or None for one Keras ignores. Read from the warnings in its source,
    then checked by building the layer with each (only those Keras accepts are kept)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    except (OSError, TypeError, SyntaxError):  # no Python source: nothing to read
        return {}
    found: dict[str, str | None] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "warn"):
            continue
        message = node.args[0] if node.args else None
        if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
            continue
        if renamed := _RENAMED.search(message.value):
            found[renamed[1]] = renamed[2]
        elif ignored := _IGNORED.search(message.value):
            found[ignored[1]] = None
    own = {p["name"]: p for p in params}
    accepted: dict[str, str | None] = {}
    for old, new in found.items():
        if old in own or (new is not None and new not in own):
            continue
        value = own[new].get("default", 1) if new is not None else 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cls(**(_probe_kwargs(keras, cls, 0) or {}), **{old: value})
        except Exception:  # Keras no longer takes it
            continue
        accepted[old] = new
    return accepted


# ----------------------------------------------------------------- argument values

# Where Keras keeps the string values it checks arguments against, besides a layer's own
# module and its bases' (`padding`, `data_format`, `interpolation`...).
_VALUE_MODULES = (
    "keras.src.utils.argument_validation",
    "keras.src.backend.config",
    "keras.src.ops.image",
    "keras.src.utils.image_utils",
)
# Numbers tried on a numeric argument; a range is read from which ones Keras refuses. The
# round ones are the bounds Keras uses; each is tried a hair to either side as well.
_BOUNDS = (-1.0, 0.0, 1.0, 8.0)
_EPSILON = 1e-6
_NUMBER_LADDER = tuple(
    sorted(
        {
            -2.0,
            -0.5,
            0.5,
            1.5,
            2.0,
            9.0,
            *_BOUNDS,
            *(b + d for b in _BOUNDS for d in (-_EPSILON, _EPSILON)),
        }
    )
)
_INT_LADDER = (-2, -1, 0, 1, 2, 8, 9)
# Values of each kind, to find the kinds an argument refuses outright (refused when Keras
# takes none of them: a tuple of the wrong length or a number out of range is no proof).
_KIND_PROBES: dict[str, tuple[Any, ...]] = {
    "bool": (True, False),
    "int": (1, 2, 0),
    "float": (0.5, 0.1, 1.5),
    "name": ("kdsl_probe",),
    "tuple": ((1,), (1, 2), (1, 1, 1), (0.1, 0.2), ("a", "b")),
    "none": (None,),
}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


def _module_strings(modules: Iterable[Any]) -> set[str]:
    """Word-like string constants in the source of `modules`: the values Keras compares
    arguments with (`"channels_last"`, `"bilinear"`)."""
    return set().union(*(_strings_in(module.__name__) for module in modules))


@functools.cache
def _strings_in(module_name: str) -> frozenset[str]:
    """One module's word-like string constants, parsed once: most layers share their
    bases' modules (a few seconds of parsing the same files again per layer)."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    return frozenset(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _WORD.fullmatch(node.value)
    )


def _candidate_words(cls: type[Any]) -> set[str]:
    import importlib

    modules = [sys.modules[c.__module__] for c in cls.__mro__ if c.__module__.startswith("keras")]
    modules += [importlib.import_module(name) for name in _VALUE_MODULES]
    return _module_strings(dict.fromkeys(modules))


# Answers of `builds` for arguments that are plain literals, by (class, repr of the
# arguments): the probes ask about one layer with the same arguments again and again
# (a fifth of ~36,000), and making a Keras layer costs milliseconds.
_MADE: dict[tuple[type[Any], str], bool] = {}


def _literal(value: Any) -> bool:
    """Whether `value` is a literal whose repr tells it apart (no object addresses)."""
    if isinstance(value, (list, tuple)):
        return all(_literal(v) for v in value)
    if isinstance(value, dict):
        return all(type(k) is str and _literal(v) for k, v in value.items())
    return value is None or type(value) in (bool, int, float, str)


def builds(cls: type[Any], base: dict[str, Any], name: str, value: Any) -> bool:
    """Whether Keras makes the layer with `name=value` (and `base` for the rest)."""
    kwargs = {**base, name: value}
    key = (cls, repr(kwargs)) if _literal(kwargs) else None
    if key is not None and key in _MADE:
        return _MADE[key]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(**kwargs)
        made = True
    except Exception:  # any refusal is a refusal
        made = False
    if key is not None:
        _MADE[key] = made
    return made


def _range(accepted: dict[float, bool]) -> dict[str, Any] | None:
    """The interval of accepted numbers, from the probes: None when Keras refuses none,
    or when what it accepts is not one interval."""
    points = sorted(accepted)
    flags = [accepted[p] for p in points]
    if all(flags) or not any(flags):
        return None
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    if not all(flags[first : last + 1]):
        return None
    out: dict[str, Any] = {}
    if first > 0:
        low = points[first]
        near = min(_BOUNDS, key=lambda b: abs(b - low))
        if abs(low - near) < _EPSILON / 2:
            out["min"] = _number(near)
        elif abs(low - near - _EPSILON) < _EPSILON / 2:
            out["min"], out["min_open"] = _number(near), True
        else:
            out["min"] = _number(low)
    if last < len(points) - 1:
        high = points[last]
        near = min(_BOUNDS, key=lambda b: abs(b - high))
        if abs(high - near) < _EPSILON / 2:
            out["max"] = _number(near)
        elif abs(near - high - _EPSILON) < _EPSILON / 2:
            out["max"], out["max_open"] = _number(near), True
        else:
            out["max"] = _number(high)
    return out


def _number_pair(value: Any) -> bool:
    """Whether a default is a pair of numbers (a range such as `scale=(0.02, 0.33)`)."""
    return (
        isinstance(value, list) and len(value) == 2 and all(type(v) in (int, float) for v in value)
    )


def _pair_rule(
    cls: type[Any], base: dict[str, Any], name: str, found: dict[str, Any]
) -> str | None:
    """How Keras checks a pair given for an argument with the range `found`, where it
    takes one (`factor=(0.1, 0.3)`): `each` number within the range (`RandomZoom`), or
    only `overlap`: the first not above it, the second not below (`RandomContrast`).
    None when it takes no pair in range."""
    low, high = found.get("min"), found.get("max")
    if low is not None and high is not None:
        inside = (low + high) / 2
    elif low is not None:
        inside = low + 1
    elif high is not None:
        inside = high - 1
    else:
        return None
    if not builds(cls, base, name, (inside, inside)):
        return None
    outside = high + 1 if high is not None else inside - 2  # (below `low`: inside is low + 1)
    pair = (inside, outside) if outside > inside else (outside, inside)
    return "overlap" if builds(cls, base, name, pair) else "each"


def _other_base(base: dict[str, Any], skip: str) -> dict[str, Any] | None:
    """`base` with its whole numbers made larger (None when it has none), to tell a bound
    of an argument's own from one that depends on the others."""
    other = {
        key: value * 8 if type(value) is int and key != skip else value
        for key, value in base.items()
    }
    return other if other != base else None


def _number(value: float) -> int | float:
    """A bound as written: `1` for 1.0."""
    return int(value) if float(value).is_integer() else value


def probe_base(keras: Any, cls: type[Any]) -> dict[str, Any] | None:
    """Arguments with which Keras makes the layer `cls`: the base of every probe."""
    for attempt in range(3):
        kwargs = _probe_kwargs(keras, cls, attempt)
        if kwargs is not None and builds(cls, kwargs, "name", "kdsl_probe"):
            return kwargs
    return None


def _value_rules(keras: Any, cls: type[Any], params: list[dict]) -> dict[str, dict[str, Any]]:
    """What Keras checks as it makes the layer, argument by argument, found by making it:

    - `enum`: the only names an argument takes (a made-up name is refused; the names
      tried are the string constants in the source of the layer, its bases and Keras's
      argument checks), and `enum_any_case` when Keras lowercases them first;
    - `range`: the numbers it takes (`min`/`max`, `min_open`/`max_open` when the bound
      itself is refused), read from a ladder of numbers;
    - `refuses`: kinds of value (a flag, a name, a tuple, none...) it never takes.

    Only what Keras refuses as the layer is made is recorded: what it refuses later, when
    the layer is built or called, is for the shape rules and `catalog.py`'s tables.
    """
    base = probe_base(keras, cls)
    if base is None:
        return {}
    words: set[str] | None = None
    rules: dict[str, dict[str, Any]] = {}
    for param in params:
        name = param["name"]
        if name in (
            "name",
            "layer",
            "dtype",
            "activation",
            "recurrent_activation",
        ) or name.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        # An argument that defaults to none but is probed with a value (`num_tokens`), or
        # has one to probe with (`width_factor` like `height_factor`): that shows its kind.
        default = param.get("default")
        if default is None:
            default = base.get(name, _PROBE_VALUES.get(name, (None,))[0])
        if "default_repr" in param or (param["required"] and name not in base):
            continue
        rule: dict[str, Any] = {}
        # Without the optional values probing adds (`num_bins`), which exclude some others
        # (`bin_boundaries`): a kind is refused only when refused with either.
        # Nor when the arguments that default to none take the same value too (`mean`
        # needs `variance`).
        lean = {key: value for key, value in base.items() if key not in _PROBE_EXTRAS}
        partners = [
            p["name"]
            for p in params
            if p.get("default", 0) is None and p is not param and p["name"] not in BASE_LAYER_KWARGS
        ]
        refused = [
            kind
            for kind, probes in _KIND_PROBES.items()
            if not any(
                builds(cls, b, name, probe)
                for probe in probes
                for b in (base, lean, {**lean, **dict.fromkeys(partners, probe)})
            )
        ]
        if isinstance(default, str) and "name" in refused:
            words = _candidate_words(cls) if words is None else words
            enum = sorted(w for w in words | {default} if builds(cls, base, name, w))
            if enum:
                rule["enum"] = enum
                upper = [w.upper() for w in enum]
                if all(builds(cls, base, name, w) for w in upper):
                    rule["enum_any_case"] = True
                refused.remove("name")
        elif default is None and "name" in refused and "int" in refused and "float" in refused:
            words = _candidate_words(cls) if words is None else words
            enum = sorted(w for w in words if builds(cls, base, name, w))
            if enum:
                rule["enum"] = enum
                if all(builds(cls, base, name, w.upper()) for w in enum):
                    rule["enum_any_case"] = True
                refused.remove("name")
        # A pair of numbers by default (`scale=(0.02, 0.33)`) takes one number too: its
        # range is read from single numbers, as a number's is.
        if _number_pair(default):
            whole = all(type(v) is int for v in default)  # type: ignore[union-attr]
            default = default[0] if whole else float(default[0])  # type: ignore[index]
        if type(default) in (int, float):
            ladder = _INT_LADDER if type(default) is int else _NUMBER_LADDER
            accepted = {float(v): builds(cls, base, name, v) for v in ladder}
            if type(default) is int and not accepted.get(float(default), True):
                accepted = {}  # the ladder misses what it takes
            found = _range(accepted) if accepted else None
            other = _other_base(base, name)
            if (
                found
                and other is not None  # a bound that moves with the other arguments
                and found != _range({float(v): builds(cls, other, name, v) for v in ladder})
            ):
                found = None  # (`groups` must divide `filters`) is no bound of its own
            if found:
                rule["range"] = found
                pairs = _pair_rule(cls, base, name, found)
                if pairs:
                    rule["pairs"] = pairs
        if refused and default is not None and "none" in refused and len(refused) == 1:
            refused = []  # only None is refused: NEVER_NONE's business, where it matters
        if refused:
            rule["refuses"] = refused
        if rule:
            rules[name] = rule
    return rules


def _layers(keras: Any) -> tuple[dict[str, dict], dict[str, str]]:
    """Sequential-usable layers keyed by lowercase class name, and their other names."""
    from keras.src.layers.layer import Layer
    from keras.src.utils.naming import to_snake_case

    base_defaults = inspect.signature(Layer.__init__).parameters
    layers: dict[str, dict] = {}
    aliases: dict[str, str] = {}
    for cls, names in _exported_classes(keras.layers, Layer).items():
        category = _layer_category(cls)
        if (
            category is None
            or category in EXCLUDED_LAYER_CATEGORIES
            or cls.__name__ in EXCLUDED_LAYERS
            or cls.__name__.endswith("Cell")
        ):
            continue
        public = _public_name(cls, names)
        key = public.lower()
        params = _signature_params(cls.__init__)
        own = {p["name"] for p in params}
        for kwarg in _base_kwargs_accepted(keras, cls, own):
            params.append(_param(kwarg, base_defaults[kwarg].default))
        for name, rule in _value_rules(keras, cls, params).items():
            next(p for p in params if p["name"] == name).update(rule)
        layers[key] = {"class": public, "category": category, "params": params}
        if to_snake_case(cls.__name__) != to_snake_case(public):
            # Keras names a layer after its class (`grouped_query_attention`), which
            # may be exported under another name (`GroupQueryAttention`).
            layers[key]["auto_name"] = to_snake_case(cls.__name__)
        deprecated = _deprecated_kwargs(keras, cls, params)
        if deprecated:
            layers[key]["deprecated"] = deprecated
        for other in names:
            if other.lower() != key:
                aliases[other.lower()] = key
    clash = set(aliases) & set(layers)
    if clash:
        raise RuntimeError(f"layer aliases clash with layer names: {sorted(clash)}")
    return layers, aliases


# ------------------------------------------------------------------ activations, optimizers


def _activations(keras: Any) -> list[str]:
    """Public activation functions that `activation="<name>"` resolves to themselves."""
    names = []
    for name in dir(keras.activations):
        obj = getattr(keras.activations, name)
        if name.startswith("_") or name in NOT_NAMES or not inspect.isfunction(obj):
            continue
        try:
            if keras.activations.get(name) is obj:
                names.append(name)
        except ValueError:
            continue
    return sorted(names)


def _optimizers(keras: Any) -> dict[str, dict]:
    """Concrete optimizers buildable from defaults (and from a learning rate alone)."""
    out: dict[str, dict] = {}
    for cls, names in _exported_classes(keras.optimizers, keras.optimizers.Optimizer).items():
        if cls.__name__ in EXCLUDED_OPTIMIZERS or inspect.isabstract(cls):
            continue
        try:
            cls()
            cls(learning_rate=0.01)
        except Exception:  # needs more than defaults: not a catalog entry
            continue
        public = _public_name(cls, names)
        key = public.lower()
        try:  # compile(optimizer="lamb") fails: such optimizers are written as objects
            shorthand = isinstance(keras.optimizers.get(key), cls)
        except Exception:
            shorthand = False
        out[key] = {
            "class": public,
            "params": _signature_params(cls.__init__),
            "shorthand": shorthand,
        }
    return out


def _object_names(module: Any, base_name: str) -> list[str]:
    """The strings `module.get` turns into a usable object: snake_case and class names.

    For `keras.initializers`, `keras.regularizers` and `keras.constraints`: what a layer's
    `*_initializer=`, `*_regularizer=` and `*_constraint=` accept as a name. The abstract
    base (`Initializer`...) resolves too but does nothing usable, so it is left out.
    """
    candidates = set(getattr(module, "ALL_OBJECTS_DICT", {}))
    candidates.update(name for name in dir(module) if not name.startswith("_"))
    names = []
    for name in sorted(candidates - NOT_NAMES):
        try:
            obj = module.get(name)
        except Exception:  # not a name `get` knows, or one needing arguments
            continue
        if obj is not None and type(obj).__name__ != base_name:
            names.append(name)
    return names


# ------------------------------------------------ objects built as values (issue 14)

# The Keras modules whose objects a program builds with arguments (`l2(0.01)`), the
# abstract base each one's classes derive from, and kdsl's word for them.
VALUE_CALL_MODULES = (
    ("initializers", "Initializer", "initializer"),
    ("regularizers", "Regularizer", "regularizer"),
    ("constraints", "Constraint", "constraint"),
    ("optimizers.schedules", "LearningRateSchedule", "learning-rate schedule"),
)


def _value_calls(keras: Any) -> dict[str, dict]:
    """Every initializer, regularizer, constraint and learning-rate schedule a program may
    call as a value, by each name Keras exports it under (`l2` and `L2`, `he_normal`) and,
    for schedules, which Keras exports by class name only, the snake_case name too
    (`exponential_decay`). Each with its module, class and constructor parameters."""
    calls: dict[str, dict] = {}
    for module_name, base_name, kind in VALUE_CALL_MODULES:
        module = keras
        for part in module_name.split("."):
            module = getattr(module, part)
        base = getattr(module, base_name)
        for cls, names in _exported_classes(module, base).items():
            if cls is base:
                continue
            entry = {
                "class": _public_name(cls, names),
                "kind": kind,
                "module": module_name,
                "params": _signature_params(cls.__init__),
            }
            for name in {*names, natural_snake_case(cls.__name__)}:
                calls.setdefault(name, entry)
    return calls


# The Keras callbacks a `callbacks` section may list, by kdsl's name for each (the
# snake_case users say; `tensorboard` as one word, as Keras's docs write it). Callbacks
# that take a Python function (`LambdaCallback`, `LearningRateScheduler`) are left out.
CALLBACKS = {
    "early_stopping": "EarlyStopping",
    "reduce_lr_on_plateau": "ReduceLROnPlateau",
    "model_checkpoint": "ModelCheckpoint",
    "csv_logger": "CSVLogger",
    "tensorboard": "TensorBoard",
    "backup_and_restore": "BackupAndRestore",
    "terminate_on_nan": "TerminateOnNaN",
}


def _callbacks(keras: Any) -> dict[str, dict]:
    """Each callback's class and constructor parameters, in Keras's order."""
    return {
        key: {"class": name, "params": _signature_params(getattr(keras.callbacks, name).__init__)}
        for key, name in CALLBACKS.items()
    }


# -------------------------------------------------------------- losses and metrics


def _probe_shapes() -> list[tuple[Any, Any]]:
    """(y_true, y_pred) of a binary, a sparse-categorical and a categorical output.

    `compile` resolves "ce" / "acc" style strings by these shapes, so each string is
    resolved against all three and compared as a whole.
    """
    import numpy as np

    return [
        (np.zeros((4, 1), "float32"), np.zeros((4, 1), "float32")),
        (np.zeros((4, 1), "float32"), np.zeros((4, 3), "float32")),
        (np.zeros((4, 3), "float32"), np.zeros((4, 3), "float32")),
    ]


def _candidates(keras: Any, registry_modules: Iterable[Any]) -> list[str]:
    """Lowercase strings worth probing: exported names, registry keys, common shorthands."""
    from keras.src.utils.naming import to_snake_case

    names = set(WELL_KNOWN_SHORTHANDS)
    for module in registry_modules:
        names.update(getattr(module, "ALL_OBJECTS_DICT", {}))
    for module in (keras.losses, keras.metrics):
        for name in dir(module):
            if name.startswith("_"):
                continue
            names.add(name)
            if inspect.isclass(getattr(module, name)):
                names.update((to_snake_case(name), natural_snake_case(name)))
    # Keras's class names (`MeanSquaredError`) and capitals (`MSE`) resolve too: probed
    # as aliases, never as keys.
    names.update(name.upper() for name in list(names) if len(name) <= 5)
    return sorted(n for n in names if n.lower() not in NOT_NAMES and n.isidentifier())


def _lowercase(names: Iterable[str]) -> list[str]:
    """The candidates that may be keys: class names and capitals are aliases only."""
    return [name for name in names if name == name.lower()]


def _loss_id(obj: Any) -> Any:
    """What a resolved loss *is*: the loss function itself or the one a `Loss` wraps."""
    if inspect.isfunction(obj):
        return obj
    fn = getattr(obj, "fn", None)
    return fn if callable(fn) else type(obj)


def _metric_id(obj: Any) -> Any:
    """What a resolved metric *is*: its class, or the function a bare wrapper wraps."""
    if inspect.isfunction(obj):
        return obj
    if type(obj).__name__ == "MeanMetricWrapper":
        return getattr(obj, "_fn", type(obj))
    return type(obj)


def _compile_signature(
    resolve: Callable[[str, Any, Any], Any], ident: Callable[[Any], Any], name: str
) -> tuple | None:
    """How `compile` resolves `name` for each probe shape; None if it refuses it."""
    out = []
    for y_true, y_pred in _probe_shapes():
        try:
            out.append(ident(resolve(name, y_true, y_pred)))
        except Exception:  # unknown name, or a class needing arguments
            return None
    return tuple(out)


def _keyed_entries(
    classes: dict[type[Any], list[str]],
    excluded: frozenset[str],
    candidates: list[str],
    get: Callable[[str], Any],
    accepted: dict[str, tuple],
    resolved_id: Callable[[Any], Any],
    identity: Callable[[type[Any]], Any],
) -> dict[str, dict]:
    """Entries keyed by the string Keras accepts for each class, else natural snake case.

    `accepted` holds the strings `compile` takes. Which class a string names is decided
    by the module's own, shape-independent `get`: `resolved_id(get(string))` is compared
    with `identity(cls)`. So "accuracy" names `Accuracy` even though `compile` swaps in a
    binary/categorical accuracy by output shape.
    """
    from keras.src.utils.naming import to_snake_case

    named: dict[Any, list[str]] = {}
    for name in candidates:
        if name not in accepted:
            continue
        try:
            named.setdefault(resolved_id(get(name)), []).append(name)
        except Exception:  # compile-only string such as "acc"
            continue
    out: dict[str, dict] = {}
    for cls, names in classes.items():
        if cls.__name__ in excluded or inspect.isabstract(cls):
            continue
        try:
            ident = identity(cls)
        except Exception:  # needs constructor arguments
            ident = cls
        strings = named.get(ident, [])
        preferred = [getattr(ident, "__name__", None), to_snake_case(cls.__name__)]
        key = next((s for s in preferred if s in strings), None)
        if key is None and strings:
            key = sorted(strings, key=lambda s: (-len(s), s))[0]
        shorthand = key is not None
        if key is None:
            fn_name = getattr(ident, "__name__", "")
            key = fn_name if fn_name == fn_name.lower() and fn_name else None
            key = key or natural_snake_case(cls.__name__)
        if key in out:
            raise RuntimeError(f"two classes share the catalog key {key!r}")
        out[key] = {
            "class": _public_name(cls, names),
            "params": _signature_params(cls.__init__),
            "shorthand": shorthand,
        }
    return out


def _aliases(entries: dict[str, dict], accepted: dict[str, tuple]) -> dict[str, str]:
    """Accepted strings that are not keys, mapped to the key `compile` treats identically."""
    by_signature: dict[tuple, list[str]] = {}
    for key, entry in entries.items():
        if entry["shorthand"]:
            by_signature.setdefault(accepted[key], []).append(key)
    out = {}
    for name, signature in accepted.items():
        keys = by_signature.get(signature, [])
        if name not in entries and len(keys) == 1:
            out[name] = keys[0]
    return out


def _losses(keras: Any, candidates: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Loss classes keyed by their function's name, and the other strings Keras takes."""
    from keras.src.trainers import compile_utils

    accepted = {
        name: sig
        for name in candidates
        if (sig := _compile_signature(compile_utils.get_loss, _loss_id, name)) is not None
    }
    entries = _keyed_entries(
        _exported_classes(keras.losses, keras.losses.Loss),
        EXCLUDED_LOSSES,
        _lowercase(candidates),
        keras.losses.get,
        {name: accepted[name] for name in _lowercase(accepted)},
        _loss_id,
        lambda cls: _loss_id(cls()),
    )
    return entries, _aliases(entries, accepted)


def _metrics(keras: Any, candidates: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Metric classes keyed by the string Keras accepts for them, and their other strings."""
    from keras.src.trainers import compile_utils

    accepted = {
        name: sig
        for name in candidates
        if (sig := _compile_signature(compile_utils.get_metric, _metric_id, name)) is not None
    }
    entries = _keyed_entries(
        _exported_classes(keras.metrics, keras.metrics.Metric),
        EXCLUDED_METRICS,
        _lowercase(candidates),
        keras.metrics.get,
        {name: accepted[name] for name in _lowercase(accepted)},
        _metric_id,
        lambda cls: cls,
    )
    return entries, _aliases(entries, accepted)


# ----------------------------------------------------------------------------- catalog


def build_catalog() -> dict[str, Any]:
    """Introspect the installed Keras and return the catalog (see module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from keras.src import losses as losses_src
    from keras.src import metrics as metrics_src

    candidates = _candidates(keras, (losses_src, metrics_src))
    _MADE.clear()
    layers, layer_aliases = _layers(keras)
    losses, loss_aliases = _losses(keras, candidates)
    metrics, metric_aliases = _metrics(keras, candidates)
    fit = _signature_params(keras.Model.fit, skip=FIT_EXCLUDED)
    from keras.src import constraints, initializers, regularizers

    catalog = {
        "keras_version": keras.__version__,
        "layers": layers,
        "layer_aliases": layer_aliases,
        "activations": _activations(keras),
        "initializers": _object_names(initializers, "Initializer"),
        "regularizers": _object_names(regularizers, "Regularizer"),
        "constraints": _object_names(constraints, "Constraint"),
        "optimizers": _optimizers(keras),
        "losses": losses,
        "loss_aliases": loss_aliases,
        "metrics": metrics,
        "metric_aliases": metric_aliases,
        "fit": {"params": fit},
        "value_calls": _value_calls(keras),
        "callbacks": _callbacks(keras),
    }
    # Normalise through JSON so the in-memory catalog equals the stored one exactly.
    return json.loads(dumps(catalog))


def dumps(catalog: dict[str, Any]) -> str:
    """The stored text form: indent 1, sorted keys, trailing newline."""
    return json.dumps(catalog, indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_catalog(catalog: dict[str, Any], path: Path = CATALOG_PATH) -> None:
    """Write atomically, so a crash never leaves a half-written catalog behind."""
    fd, tmp = tempfile.mkstemp(prefix=".keras_catalog.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps(catalog))
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the catalog is package data
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def diff_summary(stored: Any, fresh: Any, limit: int = 20) -> list[str]:
    """Short human-readable differences between two catalogs (section and key level)."""
    lines: list[str] = []
    if not isinstance(stored, dict):
        return ["stored catalog is not a JSON object"]
    for section in sorted(set(stored) | set(fresh)):
        old, new = stored.get(section), fresh.get(section)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            added = sorted(set(new) - set(old))
            removed = sorted(set(old) - set(new))
            changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
            for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
                if keys:
                    shown = ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")
                    lines.append(f"{section}: {label} {len(keys)}: {shown}")
        elif isinstance(old, list) and isinstance(new, list):
            added = sorted(set(map(str, new)) - set(map(str, old)))
            removed = sorted(set(map(str, old)) - set(map(str, new)))
            lines.append(f"{section}: added {added}, removed {removed}")
        else:
            lines.append(f"{section}: {old!r} -> {new!r}")
    return lines[:limit]


def main(argv: list[str] | None = None) -> int:
    """Write the catalog, or with --check report whether the stored one is stale."""
    parser = argparse.ArgumentParser(prog="python -m kdsl.tools.catalog_gen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the stored catalog is out of date"
    )
    args = parser.parse_args(argv)
    fresh = build_catalog()
    if args.check:
        try:
            stored = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{CATALOG_PATH.name}: cannot read ({exc}); run python -m kdsl.tools.catalog_gen")
            return 1
        if stored != fresh:
            print(f"{CATALOG_PATH.name} differs from Keras {fresh['keras_version']}:")
            for line in diff_summary(stored, fresh):
                print("  " + line)
            print("run: python -m kdsl.tools.catalog_gen")
            return 1
        print(f"{CATALOG_PATH.name} is up to date (Keras {fresh['keras_version']})")
        return 0
    write_catalog(fresh)
    counts = ", ".join(
        f"{len(fresh[k])} {k}" for k in ("layers", "activations", "optimizers", "losses", "metrics")
    )
    print(f"wrote {CATALOG_PATH} (Keras {fresh['keras_version']}: {counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
