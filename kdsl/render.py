"""Checked model → Keras 3 Python, through a Jinja template and black.

Templates never see user text: every value reaches them as a Python literal made here
(by `repr` or as a number) and every identifier comes from the catalog.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import jinja2

from kdsl import __version__, ir
from kdsl.catalog import FIT_CALLBACKS

Style = Literal["add", "constructor"]
STYLES: tuple[Style, ...] = ("add", "constructor")

# tf.distribute strategies the script can train under (None: Keras's default, one device).
Strategy = Literal["mirrored", "multi-worker"]
STRATEGIES: tuple[Strategy, ...] = ("mirrored", "multi-worker")

# What the script trains for when the `fit` section does not say.
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
NO_BREAK = "\u00a0"


@dataclass(frozen=True)
class Mode:
    """Every option that changes the generated code."""

    style: Style = "add"
    line_length: int = 88
    explain: bool = False  # a comment above each line saying what it does (for learners)
    strategy: Strategy | None = None
    # The script also reads a folder of .npy files, memory-mapped and fed in batches
    # (data larger than memory). Off by default: it adds a PyDataset class to the script.
    folder_data: bool = False

    def __post_init__(self) -> None:
        # The Python API passes these straight through: a typo must not pass silently.
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be None or one of {STRATEGIES}, not {self.strategy!r}")


@cache
def _environment() -> jinja2.Environment:
    templates = files("kdsl.templates")
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: templates.joinpath(name).read_text("utf-8")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Python, not HTML; values are literals made here
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def literal(value: ir.PyValue) -> str:
    """A value as Python source: numbers as numbers, everything else through repr()."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite float {value!r} reached the renderer")
        return repr(value).replace("e+", "e")  # black writes 1e16, not 1e+16
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise TypeError(f"cannot render {type(value).__name__} as a literal")


def _string(text: str) -> str:
    """repr(), with the quotes black would choose: double, unless single saves escapes."""
    quoted = repr(text)
    if quoted[0] == '"' or text.count("'") < text.count('"'):
        return quoted
    body = quoted[1:-1].replace("\\'", "'").replace('"', '\\"')
    return f'"{body}"'


def expression(call: ir.KerasCall) -> str:
    """`Dense(3, activation="relu")`; optimizers, losses and metrics are `keras.<module>.X`."""
    args = [expression(a) if isinstance(a, ir.KerasCall) else literal(a) for a in call.args]
    args += [f"{name}={literal(value)}" for name, value in call.kwargs]
    callee = (
        call.class_name if call.module == "layers" else f"keras.{call.module}.{call.class_name}"
    )
    return f"{callee}({', '.join(args)})"


def _compile_arg(arg: ir.CompileArg) -> str:
    if arg.call is not None:
        return expression(arg.call)
    return literal(arg.shorthand)


def _layer_classes(calls: tuple[ir.KerasCall, ...]) -> list[str]:
    """Layer classes to import, in isort's order (`LSTM` before `Dense`), as ruff wants."""
    names: set[str] = set()
    pending = list(calls)
    while pending:
        call = pending.pop()
        names.add(call.class_name)
        pending.extend(a for a in call.args if isinstance(a, ir.KerasCall))
    return sorted(names, key=lambda name: (not name.isupper(), name))


@dataclass(frozen=True)
class Line:
    """One generated line (a layer, a compile argument) and the comment above it, if any."""

    code: str
    comment: tuple[str, ...] = ()


def _commented(code: str, text: str | None, indent: int, mode: Mode) -> Line:
    """`code` with `text` wrapped into `#` lines that fit black's line length."""
    if not mode.explain or not text:
        return Line(code)
    width = max(mode.line_length - indent - 2, 40)
    # A shape such as `(None, 8, 8, 16)` is never split across lines: its spaces are
    # no-break spaces while wrapping (textwrap breaks only at ASCII whitespace).
    text = re.sub(r"\([^()]*\)", lambda m: m.group().replace(" ", NO_BREAK), text)
    lines = textwrap.wrap(text, width, break_on_hyphens=False)
    return Line(code, tuple(line.replace(NO_BREAK, " ") for line in lines))


def render(model: ir.Model, mode: Mode = Mode()) -> str:
    """The whole standalone script, black-formatted."""
    comments = _explanations(model) if mode.explain else {}
    # Where comments start: build_model's body, one level deeper in `strategy.scope()`.
    body = 8 if mode.strategy else 4
    layer_indent = body if mode.style == "add" else body + 8
    input_args = [f"shape={literal(model.input_shape)}"]
    input_args += [f"{name}={literal(value)}" for name, value in model.input_kwargs]
    layers = [
        _commented(f"Input({', '.join(input_args)})", comments.get("input"), layer_indent, mode),
        *(
            _commented(expression(c), comments.get(i), layer_indent, mode)
            for i, c in enumerate(model.layers)
        ),
    ]

    compile_args = [
        _commented(
            f"optimizer={_compile_arg(model.optimizer)}", comments.get("optimizer"), body + 4, mode
        ),
        _commented(f"loss={_compile_arg(model.loss)}", comments.get("loss"), body + 4, mode),
    ]
    if model.metrics:
        metrics = f"metrics=[{', '.join(_compile_arg(m) for m in model.metrics)}]"
        compile_args.append(_commented(metrics, comments.get("metrics"), body + 4, mode))

    epochs = model.fit_option("epochs", DEFAULT_EPOCHS)
    batch_size = model.fit_option("batch_size", DEFAULT_BATCH_SIZE)
    fit_options = [
        _commented(f"{name}={literal(value)}", comments.get(f"fit:{name}"), 8, mode)
        for name, value in model.fit
        if name not in ("epochs", "batch_size", *FIT_CALLBACKS)
    ]
    imports = [
        "import keras",
        "import numpy as np",
        *(["import tensorflow as tf"] if mode.strategy else []),
        "from keras import Input, Sequential",
        f"from keras.layers import {', '.join(_layer_classes(model.layers))}",
    ]
    code = (
        _environment()
        .get_template("script.py.jinja")
        .render(
            kdsl_version=__version__,
            imports=imports,
            style=mode.style,
            strategy=mode.strategy,
            folder_data=mode.folder_data,
            layers=layers,
            compile_args=compile_args,
            epochs=literal(epochs),
            batch_size=literal(batch_size),
            fit_options=fit_options,
            early_stopping=model.fit_option("early_stopping"),
            reduce_lr_on_plateau=model.fit_option("reduce_lr_on_plateau"),
            validation_split=bool(model.fit_option("validation_split")),
            explain=mode.explain,
            compile_comment=_commented("", comments.get("compile"), body, mode).comment,
        )
    )
    # The template and the literals above are already in black's style, so black (and
    # its import, the largest cost of a compile) is needed only when a line is too long.
    # The golden tests check that black leaves every generated script unchanged.
    # Non-ASCII text is left to black too: it measures wide characters as two columns.
    if code.isascii() and max(map(len, code.splitlines())) <= mode.line_length:
        return code
    return format_code(code, mode)


def _explanations(model: ir.Model) -> dict[str | int, str]:
    """The `--explain` comments by line: "input", a layer's index, "optimizer", ..."""
    from kdsl import explain
    from kdsl.catalog import load
    from kdsl.shapes import infer

    catalog = load()
    rows = infer(model, catalog).rows
    last = len(model.layers) - 1
    comments: dict[str | int, str] = {
        "input": explain.input_comment(model.input_shape, dict(model.input_kwargs).get("dtype"))
    }
    for index, call in enumerate(model.layers):
        category = catalog.layers[call.class_name.lower()].category
        row = rows[index] if index < len(rows) else None
        comments[index] = explain.layer_comment(call, category, row, output=index == last)
    comments["compile"] = explain.compile_comment()
    optimizer_key = _key(model.optimizer, catalog.optimizers, {})
    comments["optimizer"] = explain.optimizer_comment(optimizer_key, model.optimizer.call)
    comments["loss"] = explain.loss_comment(model.loss_key, model.loss.call)
    for name, value in model.fit:
        comments[f"fit:{name}"] = explain.fit_option_comment(name, value)
    if model.metrics:
        keys = [_key(m, catalog.metrics, catalog.metric_aliases) for m in model.metrics]
        comments["metrics"] = explain.metrics_comment(keys)
    return comments


def _key(arg: ir.CompileArg, entries: dict, aliases: dict[str, str]) -> str:
    """The catalog key of an optimizer or metric, written as a string or an object."""
    if arg.call is None:
        return aliases.get(arg.shorthand, arg.shorthand)
    return next(
        (key for key, entry in entries.items() if entry.class_name == arg.call.class_name),
        arg.call.class_name.lower(),
    )


def format_code(code: str, mode: Mode = Mode()) -> str:
    import black

    return black.format_str(code, mode=black.Mode(line_length=mode.line_length))
