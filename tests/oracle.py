"""Keras as the oracle for `kdsl check`: programs drawn from the catalog, judged by both.

Each program is one layer from the catalog (every kind, with arguments drawn from the
catalog's defaults and from deliberately wrong values) on an input of a rank it takes:

    input 6x5 -> conv1d 3 2 padding=same strides=2; adam; mse

A wrapper wraps one of a few layers and takes its own arguments too; a layer of several
inputs (the merges, attention) gets a graph that feeds it:

    input 4x6 -> [identity | dense 6] -> add; adam; mse
    input 5x8 -> v: dense 8 -> dense 8 -> multiheadattention 2 4 value=@v; adam; mse

kdsl checks it; when kdsl accepts, real Keras builds it from the generated script and
runs a forward pass on zeros of the input (ids for integer inputs, empty strings for
text), or, where a preprocessing layer needs adapting first (as `kdsl run` does), on the
few distinct values it is adapted on. They disagree when kdsl
accepts and Keras refuses or cannot run the model, or when a parameter count or an output
shape differs (layer by layer, by Keras's layer names). Refusals by kdsl alone are
counted (some are lints, on purpose) but are not disagreements; `KERAS_ACCEPTS` lists
things kdsl must not refuse.

Used by tests/test_oracle.py (a fast, fixed-seed profile) and benchmarks/oracle.py (the
long one, which prints the counts).
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kdsl.codegen.render import render_unformatted
from kdsl.errors import Source, SourceError
from kdsl.language.parser import parse
from kdsl.semantics.catalog import Catalog, Entry, Param, keras_snake_case, load
from kdsl.semantics.checker import analyze

# Arguments the generator leaves alone: objects kdsl cannot write, or that only make Keras
# slow or the comparison meaningless (a name is drawn separately).
SKIPPED = frozenset(
    {"layer", "weights", "backward_layer", "quantization_config", "name", "vocabulary",
     "idf_weights", "mean", "variance", "bin_boundaries", "seed", "salt", "dtype"}
)  # fmt: skip

# Sensible values for arguments by name (the first few are what a user would write).
_GOOD: dict[str, tuple[Any, ...]] = {
    "units": (1, 2, 3, 4, 8),
    "filters": (1, 2, 4),
    "kernel_size": (1, 2, 3, (2, 1)),
    "rate": (0.0, 0.1, 0.5, 0.9),
    "stddev": (0.0, 0.1, 1.0),
    "activation": ("relu", "tanh", "sigmoid", "linear", "softmax", None),
    "recurrent_activation": ("sigmoid", "hard_sigmoid", "tanh"),
    "negative_slope": (0.0, 0.1, 0.3),
    "alpha": (0.1, 1.0),
    "pool_size": (1, 2),
    "strides": (1, 2),
    "dilation_rate": (1, 2),
    "padding": ("valid", "same"),
    "data_format": ("channels_last", "channels_first", None),
    "input_dim": (5, 10),
    "output_dim": (2, 4),
    "n": (1, 2, 3),
    "size": (1, 2),
    "height": (1, 2, 3),
    "width": (1, 2, 3),
    "factor": (0.1, 0.2, (0.1, 0.3)),
    "height_factor": (0.1, 0.2),
    "width_factor": (0.1, 0.2),
    "output_size": (1, 2),
    "num_bins": (2, 4),
    "num_tokens": (4, 10),
    "max_tokens": (5, 10),
    "scale": (1.0, 0.5),
    "offset": (0.0, 1.0),
    "groups": (1, 2),
    "axis": (-1, 1),
    "depth_multiplier": (1, 2),
    "output_padding": (None, 0),
    "max_value": (None, 6.0),
    "threshold": (0.0, 0.5),
    "momentum": (0.9, 0.99),
    "epsilon": (0.001, 1e-05),
    # merges and attention (v2)
    "axes": (-1, 1, 2),
    "num_heads": (1, 2),
    "key_dim": (2, 4),
    "value_dim": (2, 4),
    "head_dim": (2, 4),
    "num_query_heads": (2, 4),
    "num_key_value_heads": (1, 2),
}

# Deliberately wrong or unusual values, tried on any argument.
_ODD: tuple[Any, ...] = (
    -1, 0, 1, 2, 0.5, 1.0, 1.5, -0.5, True, False, None, "relu", "same", "valid", "SAME",
    "zeros", "l2", "channels_first", "bogus", (1, 2), (2,), (0.5,), (1, 2, 3), ((1, 1), (1, 1)),
)  # fmt: skip

_OBJECT_NAMES = {
    "initializer": ("zeros", "ones", "glorot_uniform", "he_normal", "orthogonal", "relu",
                    "Zeros", "bogus", "l2", "identity", "stft"),
    "regularizer": ("l1", "l2", "l1_l2", "orthogonal_regularizer", "zeros", "L2"),
    "constraint": ("max_norm", "non_neg", "unit_norm", "min_max_norm", "relu", "NonNeg"),
}  # fmt: skip

# Layers that take integer ids, and those that take text.
_INT_INPUT = frozenset(
    {"embedding", "reversibleembedding", "categoryencoding", "integerlookup", "hashing"}
)
_TEXT_INPUT = frozenset({"stringlookup", "textvectorization"})


def _per_sample_ranks(entry: Entry) -> tuple[int, ...]:
    """Ranks (dimensions per sample) a layer kind takes: by its class name's `1D`/`2D`/`3D`
    (steps x channels, images, volumes), its category, else any of 1 to 3."""
    name = entry.class_name
    for suffix, rank in (("1D", 2), ("2D", 3), ("3D", 4)):
        if name.endswith(suffix) or f"{suffix[0]}D" in name and name.startswith("Conv"):
            return (rank,)
    if entry.category == "rnn":
        return (2,)
    if entry.category == "preprocessing" and entry.key.startswith(
        ("random", "aug", "auto", "center", "resiz", "equal", "mix", "cut", "solar", "contrast")
    ):
        return (3,)
    if entry.key in ("melspectrogram", "stftspectrogram"):
        return (1, 2)
    return (1, 2, 3)


@dataclass(frozen=True)
class Case:
    """A program, what its input is, and the layer kind it tries."""

    text: str
    dtype: str  # float32, int32 or string
    kind: str = ""


def _value(rng: random.Random, catalog: Catalog, param: Param) -> Any:
    """A value for `param`: often a sensible one, sometimes a deliberately wrong one."""
    objects = catalog.object_names(param.name)
    roll = rng.random()
    if objects is not None and roll < 0.8:
        return rng.choice(_OBJECT_NAMES[objects[0]])
    if param.name in _GOOD and roll < 0.7:
        return rng.choice(_GOOD[param.name])
    if roll < 0.85:
        kind = param.kind
        if isinstance(kind, bool):
            return rng.choice((True, False))
        if isinstance(kind, int):
            return rng.choice((kind, 1, 2, 3, 0))
        if isinstance(kind, float):
            return rng.choice((kind, 0.0, 0.1, 0.5, 1.0, 2.0))
        if isinstance(kind, str):
            return rng.choice((kind, kind, kind.upper(), kind + "x"))
        if isinstance(kind, list):
            return tuple(_tuple_items(kind, rng))
    return rng.choice(_ODD)


def _tuple_items(default: list, rng: random.Random) -> list:
    return [
        tuple(_tuple_items(item, rng)) if isinstance(item, list) else rng.choice((0, 1, 2))
        for item in default
    ]


def literal(value: Any) -> str:
    """A value as kdsl writes it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "(" + ", ".join(map(literal, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return value if value.isidentifier() else repr(value).replace("'", '"')
    return repr(value)


# What each wrapper wraps in the generated programs (on steps x features), and the
# arguments of a wrapper that the wrapped layer takes as well (they go to the wrapper).
WRAPS = {
    "bidirectional": ("lstm", "gru", "simplernn"),
    "timedistributed": ("dense", "dropout", "batchnormalization", "layernormalization"),
    "spectralnormalization": ("dense",),
}
WRAPPER_SKIPPED = SKIPPED | {"trainable", "autocast", "activity_regularizer"}


def _call(
    rng: random.Random, catalog: Catalog, entry: Entry, skipped: frozenset[str] = SKIPPED
) -> str:
    """`conv1d 3 2 padding=same`: the required arguments, then a few optional ones."""
    words = [entry.key]
    params = {p.name: p for p in entry.params}
    for name in entry.positional:
        param = params.get(name)
        if param is None:
            continue
        if param.required or rng.random() < 0.5:
            words.append(literal(_value(rng, catalog, param)))
        else:
            break
    written = set(entry.positional[: len(words) - 1])
    for param in entry.params:
        if param.required and param.name not in written and param.name not in skipped:
            words.append(f"{param.name}={literal(_value(rng, catalog, param))}")
            written.add(param.name)
    optional = [p for p in entry.params if p.name not in written and p.name not in skipped]
    for param in rng.sample(optional, min(len(optional), rng.choice((0, 1, 1, 2, 3)))):
        words.append(f"{param.name}={literal(_value(rng, catalog, param))}")
    return " ".join(words)


# Layers of several inputs, which only a graph feeds: merges and attention (v2).
_MERGES = ("merging",)
_ATTENTION = ("attention",)


def _dims(rng: random.Random, rank: int) -> list[int]:
    return [rng.randint(1, 8) if rng.random() < 0.2 else rng.randint(3, 8) for _ in range(rank)]


def _graph(rng: random.Random, catalog: Catalog, entry: Entry) -> str:
    """A program that feeds a merge or an attention layer: a fork (`[identity | dense 4]
    -> add`), a merge with a labelled tensor (`a: dense 4 -> dense 4 -> add @a`), or
    attention on itself or on a labelled value (`value=@v`)."""
    call = _call(rng, catalog, entry)
    rank = rng.choice((1, 2, 2, 3))
    dims = _dims(rng, rank)
    last = dims[-1] if rng.random() < 0.8 else rng.randint(1, 8)  # now and then, a misfit
    head = f"input {'x'.join(map(str, dims))}"
    if entry.category in _ATTENTION:
        if rng.random() < 0.5:
            return f"{head} -> {call}"
        value = last if rng.random() < 0.8 else rng.randint(1, 8)
        return f"{head} -> v: dense {value} -> dense {last} -> {call} value=@v"
    branches = rng.choice((2, 2, 3))
    if rng.random() < 0.6:
        others = " | ".join(f"dense {last}" for _ in range(branches - 1))
        return f"{head} -> [identity | {others}] -> {call}"
    return f"{head} -> a: dense {last} -> dense {last} -> {call} @a"


def generate(rng: random.Random, catalog: Catalog | None = None) -> Case:
    """One program: a layer kind (all kinds equally likely) on an input it takes; a
    layer of several inputs in a graph that feeds it."""
    catalog = catalog or load()
    key = rng.choice(sorted(catalog.layers))
    entry = catalog.layers[key]
    if entry.category in (*_MERGES, *_ATTENTION):
        return Case(f"{_graph(rng, catalog, entry)}; adam; mse", "float32", key)
    if key in WRAPS:
        inner_kind = rng.choice(WRAPS[key])
        inner = _call(rng, catalog, catalog.layers[inner_kind])
        own = _call(rng, catalog, entry, WRAPPER_SKIPPED).split()[1:]  # its own arguments
        call = " ".join((key, inner, *own))
        rank = 2 if key != "spectralnormalization" else rng.choice((1, 2))
    else:
        call = _call(rng, catalog, entry)
        rank = rng.choice(_per_sample_ranks(entry))
    if rng.random() < 0.1:  # one rank off now and then, for the rank rules
        rank = max(1, rank + rng.choice((-1, 1)))
    dims = _dims(rng, rank)
    dtype = "int32" if key in _INT_INPUT else "string" if key in _TEXT_INPUT else "float32"
    head = f"input {'x'.join(map(str, dims))}"
    if dtype != "float32":
        head += f" dtype={dtype}"
    return Case(f"{head} -> {call}; adam; mse", dtype, key)


# ------------------------------------------------------------------------------ judging


@dataclass
class Report:
    programs: int = 0
    accepted: int = 0  # by kdsl
    refused: int = 0  # by kdsl
    agreed: int = 0  # accepted by both, same shapes and counts
    disagreements: list[tuple[str, str]] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # disagreements by layer kind

    def summary(self) -> str:
        return (
            f"programs: {self.programs:,}  kdsl accepted: {self.accepted:,}  "
            f"kdsl refused: {self.refused:,}  agreed with Keras: {self.agreed:,}  "
            f"disagreements: {len(self.disagreements):,}"
        )


def keras_module() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kdsl.train.runner import import_keras

    return import_keras()


def _zeros(keras: Any, shape: tuple, dtype: str) -> Any:
    import numpy as np

    if dtype == "string":
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype)


def _varied(zeros: Any) -> Any:
    """Data to adapt a preprocessing layer on, of the input's shape and type: a few
    distinct values (zeros alone are a lookup's only token, which may be its OOV token,
    and then its vocabulary is empty, which no training data makes)."""
    import numpy as np

    values = np.arange(zeros.size).reshape(zeros.shape) % 7 + 1
    if zeros.dtype == object:
        return np.vectorize(lambda v: f"w{v}", otypes=[object])(values)
    return values.astype(zeros.dtype)


def _rows(model: Any) -> dict[str, tuple]:
    """Each layer's row by its name: class, output shape and weights. A weight counts as
    trainable when `fit` trains it: by the variable's own flag, as the model collects its
    trainable weights (`Bidirectional(LSTM(4), trainable=False)` reports no trainable
    weights of its own, yet the LSTM's still train; kdsl warns about it)."""
    rows = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        trainable = sum(math.prod(w.shape) for w in layer.weights if w.trainable)
        non_trainable = sum(math.prod(w.shape) for w in layer.weights if not w.trainable)
        rows[layer.name] = (  # the class by its names' stem: `GroupQueryAttention` is
            # exported for the class `GroupedQueryAttention`, which names it
            keras_snake_case(type(layer).__name__),
            tuple(layer.output.shape),
            trainable,
            non_trainable,
        )
    return rows


def keras_verdict(keras: Any, code: str, dtype: str) -> tuple[dict[str, tuple] | None, str]:
    """Keras's rows for the generated script's model after a forward pass, or None and why
    not (the exception, in a line)."""
    import warnings

    from kdsl.train.preprocessing import needs_adapt

    keras.backend.clear_session(free_memory=False)  # a full collection costs 0.7 s a model
    namespace: dict = {"__name__": "kdsl_oracle"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, "<oracle>", "exec"), namespace)
            model = namespace["build_model"]()
            inputs = [_zeros(keras, (2, *tensor.shape[1:]), dtype) for tensor in model.inputs]
            x = inputs[0] if len(inputs) == 1 else inputs
            first = next(layer for layer in model.layers if type(layer).__name__ != "InputLayer")
            if len(inputs) == 1 and needs_adapt(first):
                x = _varied(x)  # as `kdsl run` adapts it on the data it trains on
                first.adapt(x)
            # Training mode, as `fit` runs it (Keras's RandomCrop at inference returns
            # its input uncropped, whatever shape the layer reports).
            out = model(x, training=True)
            rows = _rows(model)
            got = tuple(getattr(out, "shape", ()))
            want = (2, *tuple(model.outputs[0].shape)[1:])
            if got != want:
                return None, f"the forward pass gives {got}, the layer reports {want}"
            return rows, ""
    except Exception as error:  # anything Keras says is its verdict
        text = " ".join(str(error).split())
        return None, f"{type(error).__name__}: {text[:300]}"


def _serve(conn: Any) -> None:
    """The Keras process: judges each script it is sent until told to stop (None)."""
    import gc

    keras = keras_module()
    served = 0
    while (job := conn.recv()) is not None:
        conn.send(keras_verdict(keras, *job))
        served += 1
        if served % 200 == 0:
            gc.collect()


class KerasProcess:
    """One Keras process for many programs, so that a model that kills its process (a
    floating point exception inside TensorFlow) is a verdict, not the end of the run."""

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self.process: Any = None

    def _start(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no TensorFlow state is forked
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()

    def verdict(self, code: str, dtype: str) -> tuple[dict[str, tuple] | None, str]:
        if self.process is None or not self.process.is_alive():
            self._start()
        self.conn.send((code, dtype))
        if self.conn.poll(self.timeout):
            try:
                return self.conn.recv()
            except EOFError:
                pass
            self.process.join(5)
            return None, f"Keras's process died (exit code {self.process.exitcode})"
        self.close()
        return None, f"Keras did not answer within {self.timeout:.0f} s"

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(5)
            except OSError:
                pass
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.process = None


def judge(keras: KerasProcess, case: Case, report: Report, catalog: Catalog | None = None) -> None:
    """Check a program with kdsl, and when it is accepted, with Keras; record the verdict."""
    report.programs += 1
    source = Source("oracle.k", case.text)
    try:
        model, summary = analyze(parse(source), source, catalog)
    except SourceError:
        report.refused += 1
        return
    report.accepted += 1
    code = render_unformatted(model)
    rows, why = keras.verdict(code, case.dtype)
    kind = case.kind
    if rows is None:
        report.disagreements.append((case.text, f"kdsl accepts, Keras refuses: {why}"))
        report.kinds[kind] += 1
        return
    if len(rows) != len({row.name for row in summary.rows}):
        report.disagreements.append(
            (case.text, f"kdsl has layers {[r.name for r in summary.rows]}, Keras {list(rows)}")
        )
        report.kinds[kind] += 1
        return
    for row in summary.rows:  # by name: a graph's order may differ from Keras's
        entry = (catalog or load()).layers.get(row.class_name.lower())
        stem = entry.name_stem if entry else keras_snake_case(row.class_name)
        mine = (stem, row.output_shape, row.trainable, row.non_trainable)
        theirs = rows.get(row.name)
        if mine[1] is None:  # no shape rule: kdsl says so and does not guess
            break
        if theirs is None:
            report.disagreements.append(
                (case.text, f"kdsl names a layer `{row.name}`, Keras has {list(rows)}")
            )
            report.kinds[kind] += 1
            return
        if mine != theirs:
            report.disagreements.append(
                (case.text, f"kdsl says {mine[1:]}, Keras {theirs[1:]} (shape, counts)")
            )
            report.kinds[kind] += 1
            return
    report.agreed += 1


def run(
    programs: int,
    seed: int = 0,
    keras: KerasProcess | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Judge `programs` programs drawn with `seed`; `progress` sees the report after
    every 500."""
    own = keras is None
    keras = keras or KerasProcess()
    catalog = load()
    rng = random.Random(seed)
    report = Report()
    try:
        for index in range(programs):
            judge(keras, generate(rng, catalog), report, catalog)
            if progress is not None and (index + 1) % 500 == 0:
                progress(report)
    finally:
        if own:
            keras.close()
    return report


# Things Keras 3 accepts that kdsl must accept too (each was once refused by accident).
KERAS_ACCEPTS = (
    "input 4 -> dropout 1.0; adam; mse",
    "input 4 -> dropout rate=1; adam; mse",
    "input 5x4 -> lstm 3 recurrent_dropout=1.0 dropout=1.0; adam; mse",
    "input 6x6x2 -> conv2d 2 3 padding=SAME; adam; mse",
    "input 6x6x2 -> conv2d 2 3 padding=Valid data_format=CHANNELS_LAST; adam; mse",
    "input 6x2 -> conv1d 2 2 padding=CAUSAL; adam; mse",
    "input 4 -> dense 2; Adam; MeanSquaredError",
    "input 4 -> dense 2; adam; MSE",
    "input 4 -> dense 2; RMSprop 0.01; mean_squared_error; metrics MeanAbsoluteError, MAE",
    "input 4 -> dense 2 sigmoid; SGD; BinaryCrossentropy; metrics BinaryAccuracy, AUC",
    # found by the long profile: counted as Keras's fit trains them, named as Keras names
    # them, called as Keras calls them
    "input 8x5 -> bidirectional lstm 8 trainable=false; adam; mse",
    "input 7x6 -> multiheadattention 2 4 trainable=false; adam; mse",
    "input 4x5 -> multiheadattention 2 2 use_gate=true value_dim=3; adam; mse",
    "input 4x6 -> groupqueryattention 2 4 2; adam; mse",
    "input 8x6 -> v: dense 6 -> dense 6 -> groupqueryattention 2 4 1 value=@v; adam; mse",
    "input 4x3 -> q: dense 3 -> [identity | dense 3 | dense 3] -> add -> dot 2 @q; adam; mse",
)
