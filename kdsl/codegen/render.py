"""Checked model → Keras 3 Python, through a Jinja template and black.

Templates never see user text: every value reaches them as a Python literal made here
(by `repr` or as a number), every identifier comes from the catalog, and every comment's
text passes through `line_safe` (it may quote user text, but can never end its line).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import jinja2

from kdsl import ir
from kdsl._version import __version__
from kdsl.errors import KdslError, _headline, line_safe
from kdsl.options import (
    LABEL_MODES,
    SEQUENTIAL_STYLES,
    TEMPLATE_LINE_LENGTH,
    Mode,
    Style,
    image_input,
)
from kdsl.resources import read_text
from kdsl.semantics.catalog import FIT_CALLBACKS

# What the script trains for when the `fit` section does not say.
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
NO_BREAK = "\u00a0"
# Where the template writes `model.compile`'s arguments (4 more under a strategy's scope).
COMPILE_ARG_INDENT = 8


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: read_text("templates", name)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Python, not HTML; values are literals made here
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["indent"] = _indent_by
    return environment


# Where `str.splitlines` ends a line, besides "\n".
_OTHER_LINE_BREAKS = re.compile(r"[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _indent_by(text: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    """Jinja's `indent` filter; by nothing (the script's model outside a strategy's
    scope), the text as it is. Jinja would split it into lines and join them again:
    for 100,000 layers, three more copies of the script held at once, for the same text
    (its only change, other line breaks made "\n", cannot happen then)."""
    if width in (0, "") and not _OTHER_LINE_BREAKS.search(text):
        return text
    return jinja2.filters.do_indent(text, width, first, blank)


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
    if isinstance(value, ir.KerasCall):  # `keras.regularizers.L2(0.01)`
        return expression(value)
    if isinstance(value, ir.PyDict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items) + "}"
    raise TypeError(f"cannot render {type(value).__name__} as a literal")


def _string(text: str) -> str:
    """repr(), with the quotes black would choose: double, unless single saves escapes."""
    quoted = repr(text)
    if quoted[0] == '"' or text.count("'") < text.count('"'):
        return quoted
    body = quoted[1:-1].replace("\\'", "'").replace('"', '\\"')
    return f'"{body}"'


# Attention layers' required constructor arguments, written by keyword as keras.io does
# (`MultiHeadAttention(num_heads=4, key_dim=16)`); other layers keep v1's positional rule.
KEYWORD_ARGUMENTS = {
    "MultiHeadAttention": ("num_heads", "key_dim"),
    "GroupedQueryAttention": ("head_dim", "num_query_heads", "num_key_value_heads"),
}


def expression(
    call: ir.KerasCall,
    layers_prefix: str = "",
    value: Callable[[Any], str] = literal,
) -> str:
    """`Dense(3, activation="relu")`; optimizers, losses and metrics are `keras.<module>.X`.

    The functional style writes `layers.` before a layer's class (`layers_prefix`) and a
    block's parameters by name (`value`)."""
    keywords = KEYWORD_ARGUMENTS.get(call.class_name, ())
    args = [
        expression(a, layers_prefix, value) if isinstance(a, ir.KerasCall) else value(a)
        for a in call.args
    ]
    args = [f"{keywords[i]}={arg}" if i < len(keywords) else arg for i, arg in enumerate(args)]
    args += [f"{name}={value(v)}" for name, v in call.kwargs]
    callee = (
        f"{layers_prefix}{call.class_name}"
        if call.module == "layers"
        else f"keras.{call.module}.{call.class_name}"
    )
    return f"{callee}({', '.join(args)})"


def _expressions() -> Callable[[ir.KerasCall], str]:
    """`expression`, written once for the calls that share their argument tuples (the
    checker gives the same tuples to every layer written alike): by identity, as equal
    values may be written differently (`1` and `1.0` are equal)."""
    written: dict[tuple[str, str, int, int], str] = {}

    def once(call: ir.KerasCall) -> str:
        key = (call.module, call.class_name, id(call.args), id(call.kwargs))
        text = written.get(key)
        if text is None:
            text = written[key] = expression(call)
        return text

    return once


def input_expression(source: ir.Input, shape: str | None = None) -> str:
    """`Input(shape=(4,))`, with the input's other arguments (`dtype=...`); `shape`: an
    expression for the shape instead of the input's own (`shape=input_shape`)."""
    args = [f"shape={literal(source.shape) if shape is None else shape}"]
    args += [f"{name}={literal(value)}" for name, value in source.kwargs]
    return f"Input({', '.join(args)})"


def keras_input(source: ir.Input, shape: str | None = None) -> str:
    """`keras.Input(...)`, as the functional style writes an input."""
    return f"keras.{input_expression(source, shape)}"


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
        pending.extend(a for a in call.args if isinstance(a, ir.KerasCall) and a.module == "layers")
    return sorted(names, key=lambda name: (not name.isupper(), name))


@dataclass(frozen=True, slots=True)
class Line:
    """One generated line (a layer, a compile argument) and the comment above it, if any;
    `indent` is its depth inside the functional style's `for` loops, as spaces."""

    code: str
    comment: tuple[str, ...] = ()
    indent: str = ""


class StyleError(KdslError):
    """A style that cannot write this model: `add` or `constructor` for a graph."""

    def __init__(self, message: str, hint: str):
        self.hint = hint
        super().__init__(message)

    def render(self, color: bool = False) -> str:
        return _headline("kdsl", str(self), self.hint, color)


class DataKindError(StyleError):
    """A data kind the model cannot read: `--image-data` for an input that is no image."""


def folder_settings(model: ir.Model, mode: Mode) -> dict[str, str]:
    """What Keras's folder reader needs, as literals for the template: `label_mode` from
    the loss, and for images `image_size` and `color_mode` from the input's shape (`HxWxC`).
    Raises `DataKindError` for a model whose input or loss a folder cannot feed."""
    kind = mode.data_kind
    flag = f"--{'image' if kind == 'images' else 'text'}-data"
    if len(model.inputs) != 1 or len(model.outputs) != 1 or mode.folder_data:
        raise DataKindError(
            f"{flag} reads one folder of class subfolders, for a model of one input and "
            "one output, without --folder-data",
            "give the model one input and one output",
        )
    label_mode = LABEL_MODES.get(model.loss_key or "")
    if label_mode is None:
        raise DataKindError(
            f"{flag} labels each file with its folder's class, but the loss "
            f"`{model.loss_key}` does not classify",
            "use sparse_categorical_crossentropy (or categorical_crossentropy, or "
            "binary_crossentropy with one sigmoid unit for two classes)",
        )
    source = model.input_node()
    settings = {"label_mode": literal(label_mode)}
    if kind == "text":
        if source.dtype != "string" or tuple(source.shape) != (1,):
            raise DataKindError(
                f"{flag} reads each file as one string, but the model's input is "
                f"{ir.show_shape(source.shape)} {source.dtype}",
                "start the model with `input 1 dtype=string -> textvectorization ...`",
            )
        return settings
    image = image_input(tuple(source.shape))
    if image is None:
        raise DataKindError(
            f"{flag} reads images, but the model's input {ir.show_shape(source.shape)} is "
            "not an image",
            "start the model with `input HEIGHTxWIDTHxCHANNELS` (channels 1 for grayscale, "
            "3 for RGB, 4 for RGBA), e.g. `input 180x180x3`",
        )
    height, width, color_mode = image
    settings["image_size"] = literal((height, width))
    settings["color_mode"] = literal(color_mode)
    return settings


def style_for(model: ir.Model, mode: Mode) -> Style:
    """The style the script is written in: the one asked for, else `add` for a chain (every
    v1 program, as before) and `functional` for a graph or a program with blocks.
    Raises `StyleError` for a Sequential style asked to write a graph."""
    if mode.style is None:
        return "functional" if model.blocks or not model.is_chain else "add"
    if mode.style in SEQUENTIAL_STYLES and not model.is_chain:
        raise StyleError(
            f"the {mode.style} style writes a Sequential model, a plain stack of layers, "
            "but this model is a graph (branches, merges, or several inputs or outputs)",
            'use --style functional (style="functional" in Python), or leave the style '
            "out: a graph is written in the functional style by default",
        )
    return mode.style


def _commented(code: str, text: str | None, indent: int, mode: Mode) -> Line:
    """`code` with `text` wrapped into `#` lines that fit black's line length.

    Every comment of the script is made here, so here it is made line-safe."""
    if not mode.explain or not text:
        return Line(code)
    text = line_safe(text)
    width = max(mode.line_length - indent - 2, 40)
    # A shape such as `(None, 8, 8, 16)` is never split across lines: its spaces are
    # no-break spaces while wrapping (textwrap breaks only at ASCII whitespace).
    text = re.sub(r"\([^()]*\)", lambda m: m.group().replace(" ", NO_BREAK), text)
    lines = textwrap.wrap(text, width, break_on_hyphens=False)
    return Line(code, tuple(line.replace(NO_BREAK, " ") for line in lines))


def render(model: ir.Model, mode: Mode = Mode()) -> str:
    """The whole standalone script, black-formatted."""
    if model.search is not None:  # issue 16: a program with search spaces
        from kdsl.codegen import tuner

        if not mode.explain:
            return tuner.render(model, mode)
        from kdsl.codegen import explain  # its comments go into the finished script

        code = tuner.render(model, dataclasses.replace(mode, explain=False))
        return explain.search_script(code, model.search, mode.line_length)
    code = render_unformatted(model, mode)
    # The template and the literals are already in black's style, so black (and its
    # import, the largest cost of a compile) is needed only when a line is too long, and
    # then only for those lines. The golden tests check that black leaves every generated
    # script unchanged, and test_render.py that formatting only the long lines gives what
    # black gives for the whole script.
    # Non-ASCII text is left to black too where a character is not one column (black
    # measures wide characters as two, combining ones as none) or could end a line.
    # So is another line length: black may join lines the template splits for 88.
    if not _one_column_each(code) or mode.line_length != TEMPLATE_LINE_LENGTH:
        return format_code(code, mode)
    if not has_long_line(code):
        return code
    # A large script is held once at a time: as its text, then as its lines.
    lines = code.split("\n")
    del code
    formatted = _format_long_lines(lines, mode)
    return formatted if formatted is not None else format_code("\n".join(lines), mode)


def _one_column_each(code: str) -> bool:
    """Each character of `code` is one column wide as black measures a line, and none ends
    a line but the ASCII ones: black then lays it out as it lays out ASCII text."""
    if code.isascii():
        return True
    from black.strings import char_width

    return all(
        char_width(char) == 1 and char not in "\x85\u2028\u2029"
        for char in set(code)
        if not char.isascii()
    )


# A line longer than the template's length (what `str.splitlines` ends a line at, in
# ASCII text): found without splitting the script. Only from a line's start: tried at
# every character, the match scanned to each line's end again (a line's length squared;
# 0.7 s for 100,000 layers, 0.16 s so).
_LINE_ENDS = r"\n\r\x0b\x0c\x1c\x1d\x1e"
_LONG_LINE = re.compile(rf"(?:\A|(?<=[{_LINE_ENDS}]))[^{_LINE_ENDS}]{{{TEMPLATE_LINE_LENGTH + 1}}}")
_OTHER_LINE_ENDS = re.compile("[" + _LINE_ENDS.removeprefix(r"\n") + "]")  # all but `\n`


def has_long_line(code: str) -> bool:
    """Whether a line of `code` is longer than the template's length. Where `\\n` is the
    only line end (the others never reach a script unescaped), `code` is walked from one
    to the next: 3.5 times as fast as the regex, which is tried at every character
    (0.1 ms for a script with --folder-data, 35 ms for 100,000 layers)."""
    if _OTHER_LINE_ENDS.search(code):
        return _LONG_LINE.search(code) is not None
    start = 0
    while (end := code.find("\n", start)) >= 0:
        if end - start > TEMPLATE_LINE_LENGTH:
            return True
        start = end + 1
    return len(code) - start > TEMPLATE_LINE_LENGTH


def _metrics_list(items: list[str], indent: int, mode: Mode) -> str:
    """`metrics=[...]`, one item a line (with a trailing comma) when black would put them
    so: when neither the whole line nor the list alone fits. Black takes time growing
    faster than the line for one very long line (15 s for 10,000 metrics), and leaves
    this layout as it is; an item still too long is then formatted alone."""
    body = ", ".join(items)
    line = f"metrics=[{body}]"
    # The line as the template writes it (`,` after it), or black's `[`, body, `]` lines.
    if indent + len(line) + 1 <= mode.line_length or indent + 4 + len(body) <= mode.line_length:
        return line
    # Lines after the first are laid out as without a strategy: the template indents
    # the whole block 4 more under `strategy.scope()`.
    closer = " " * COMPILE_ARG_INDENT
    inner = closer + "    "
    return "metrics=[\n" + "".join(f"{inner}{item},\n" for item in items) + closer + "]"


def render_unformatted(model: ir.Model, mode: Mode = Mode()) -> str:
    """The script from the template, before black sees its too-long lines (if any)."""
    style = style_for(model, mode)
    comments: dict[str, str] = {}
    if mode.explain:
        from kdsl.codegen import explain  # shape inference and the words: only when asked for

        comments = explain.comments(model)
    # Where comments start: build_model's body, one level deeper in `strategy.scope()`.
    body = 8 if mode.strategy else 4
    functions: list[dict] = []
    layers: Iterable[Line]
    if style == "functional":
        functions, layers = _functional_lines(model, comments, body, mode)
        layer_imports = ["from keras import layers"]
    else:
        layer_indent = body if style == "add" else body + 8
        (source,) = model.inputs
        written = _expressions()
        # Made as the template writes them, one at a time: a list would hold a `Line`
        # per layer beside the script (7 MB at 100,000 layers).
        layers = itertools.chain(
            (_commented(input_expression(source), comments.get(source.id), layer_indent, mode),),
            (
                _commented(written(node.call), comments.get(node.id), layer_indent, mode)
                for node in model.nodes
            ),
        )
        layer_imports = [
            "from keras import Input, Sequential",
            f"from keras.layers import {', '.join(_layer_classes(model.calls))}",
        ]

    epochs = model.fit_option("epochs", DEFAULT_EPOCHS)
    batch_size = model.fit_option("batch_size", DEFAULT_BATCH_SIZE)
    fit_options = [
        _commented(f"{name}={literal(value)}", comments.get(f"fit:{name}"), 8, mode)
        for name, value in model.fit
        if name not in ("epochs", "batch_size", "sample_weight", *FIT_CALLBACKS)
    ]
    folder = folder_settings(model, mode) if mode.data_kind else None
    imports = [
        "import keras",
        "import numpy as np",
        *(["import tensorflow as tf"] if mode.strategy or folder else []),
        *layer_imports,
    ]
    return (
        _environment()
        .get_template("script.py.jinja")
        .render(
            kdsl_version=__version__,
            imports=imports,
            style=style,
            strategy=mode.strategy,
            folder_data=mode.folder_data,
            data_kind=mode.data_kind,
            folder=folder,
            # Several inputs or outputs: an array for each, named after it.
            named_data=len(model.inputs) > 1 or len(model.outputs) > 1,
            several_outputs=len(model.outputs) > 1,
            functions=functions,
            layers=layers,
            compile_args=_compile_lines(model, comments, body, mode),
            epochs=literal(epochs),
            batch_size=literal(batch_size),
            fit_options=fit_options,
            early_stopping=model.fit_option("early_stopping"),
            reduce_lr_on_plateau=model.fit_option("reduce_lr_on_plateau"),
            callback_objects=[expression(callback) for callback in model.callbacks],
            sample_weight=model.fit_option("sample_weight") is True,
            validation_split=bool(model.fit_option("validation_split")),
            shuffle=literal(model.fit_option("shuffle", True) is not False),
            explain=mode.explain,
            compile_comment=_commented("", comments.get("compile"), body, mode).comment,
        )
    )


def _compile_lines(model: ir.Model, comments: dict[str, str], body: int, mode: Mode) -> list[Line]:
    """`model.compile`'s arguments; with several outputs, dicts by output name."""
    indent = body + 4
    lines = [
        _commented(
            f"optimizer={_compile_arg(model.optimizer)}", comments.get("optimizer"), indent, mode
        ),
    ]
    if model.losses:
        losses = _dict({name: _compile_arg(arg) for name, arg in model.losses})
        lines.append(_commented(f"loss={losses}", comments.get("loss"), indent, mode))
    else:
        loss = f"loss={_compile_arg(model.loss)}"
        lines.append(_commented(loss, comments.get("loss"), indent, mode))
    if model.loss_weights:
        weights = _dict({name: literal(weight) for name, weight in model.loss_weights})
        lines.append(Line(f"loss_weights={weights}"))
    if model.output_metrics:
        per_output = {
            name: f"[{', '.join(_compile_arg(m) for m in metrics)}]"
            for name, metrics in model.output_metrics
        }
        lines.append(
            _commented(f"metrics={_dict(per_output)}", comments.get("metrics"), indent, mode)
        )
    elif model.metrics:
        metrics = _metrics_list([_compile_arg(m) for m in model.metrics], indent, mode)
        lines.append(_commented(metrics, comments.get("metrics"), indent, mode))
    return lines


def _dict(items: dict[str, str]) -> str:
    """`{"a": VALUE, ...}`, each key a literal and each value code made here."""
    return "{" + ", ".join(f"{literal(key)}: {value}" for key, value in items.items()) + "}"


def _functional_lines(
    model: ir.Model, comments: dict[str, str], body: int, mode: Mode
) -> tuple[list[dict], list[Line]]:
    """The block functions (name, parameters, body lines) and build_model()'s lines up to
    `model = keras.Model(...)`, in the functional style."""
    from kdsl.codegen import functional

    def layer_call(call: ir.KerasCall, value: Callable[[Any], str]) -> str:
        return expression(call, "layers.", value)

    functions, statements = functional.write_model(model, layer_call, literal, keras_input)
    if mode.explain:
        comments = comments | _program_comments(model)

    def lines(statements: list[functional.Statement], indent: int, texts: dict[str, str]):
        return [
            replace(
                _commented(
                    statement.code,
                    texts.get(statement.commented) if statement.commented else None,
                    indent + 4 * statement.depth,
                    mode,
                ),
                indent="    " * statement.depth,
            )
            for statement in statements
        ]

    rendered = []
    for function in functions:
        texts: dict[str, str] = {}
        if mode.explain:
            from kdsl.codegen import explain

            texts = explain.block_comments(function.block)
        rendered.append(
            {
                "name": function.name,
                "params": function.params,
                "body": lines(function.body, 4, texts),
            }
        )
    return rendered, lines(statements, body, comments)


def _program_comments(model: ir.Model) -> dict[str, str]:
    """`--explain`'s words for a program written with blocks: a node of `Model.program`
    gets the expanded graph's comment when it is that graph's node (same id and call),
    else (a block call, a repeat) words of its own."""
    if model.program is None:
        return {}
    from kdsl.codegen import explain

    return explain.program_comments(model)


def format_code(code: str, mode: Mode = Mode()) -> str:
    import black

    return black.format_str(code, mode=black.Mode(line_length=mode.line_length))


_SPLIT = "# kdsl: one line ends here"
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def format_long_lines(code: str, mode: Mode = Mode()) -> str | None:
    """`code` with only its too-long lines formatted by black, each distinct one once.

    Black's layout of a line depends only on the line and the brackets around it, so the
    long lines are formatted in a small file of just those brackets (one black call per
    enclosing context), not in the whole script: black's time then grows with the number
    of distinct long lines, not with the length of the script (a 1,000-layer model of
    repeated long layers costs one line). None when a long line is not a simple statement
    or item of a bracket; the caller formats the whole script then.
    """
    return _format_long_lines(code.split("\n"), mode)


def _format_long_lines(lines: list[str], mode: Mode) -> str | None:
    """`format_long_lines` of the script's lines."""
    import black

    contexts: dict[tuple[str, ...], dict[str, None]] = {}  # distinct long lines, in order
    openers: list[str] = []  # the lines whose blocks or brackets enclose this one
    in_string = False  # inside a triple-quoted string (a docstring): not code
    for index, line in enumerate(lines):
        starts_in_string = in_string
        in_string ^= (line.count('"""') + line.count("'''")) % 2 == 1
        if starts_in_string and len(line) > mode.line_length:
            return None
        if not line.strip() or starts_in_string:
            continue
        while openers and _indent(openers[-1]) >= _indent(line):
            openers.pop()
        if len(line) > mode.line_length:
            context = _context(openers, line, lines, index)
            if context is None or in_string:
                return None
            contexts.setdefault(context, {})[line] = None
        openers.append(line)
    formatted: dict[str, str] = {}
    for context, distinct in contexts.items():
        items = list(distinct)
        indent = " " * _indent(items[0])
        if any(_indent(item) != len(indent) for item in items):
            return None
        closers = [
            " " * _indent(opener) + _CLOSERS[opener[-1]]
            for opener in reversed(context)
            if opener[-1] in _CLOSERS
        ]
        body = [part for item in items for part in (item, indent + _SPLIT)]
        source = "\n".join([*context, *body, *closers]) + "\n"
        try:
            out = black.format_str(source, mode=black.Mode(line_length=mode.line_length))
        except black.InvalidInput:  # not code after all (a line of a docstring)
            return None
        out_lines = out.rstrip("\n").split("\n")
        end = len(out_lines) - len(closers)
        if out_lines[: len(context)] != list(context) or out_lines[end:] != closers:
            return None
        # Black may put blank lines before a comment (after an import): not the item's.
        pieces = "\n".join(out_lines[len(context) : end]).split(indent + _SPLIT)
        if len(pieces) != len(items) + 1 or pieces[-1].strip():
            return None
        for item, piece in zip(items, pieces, strict=False):
            formatted[item] = piece.strip("\n")
    return "\n".join(formatted.get(line, line) for line in lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _context(openers: list[str], line: str, lines: list[str], index: int):
    """The lines that open the blocks and brackets around `line` (outermost first, that
    one as `def _():`), or None unless `line` is a whole statement or bracket item."""
    after = index + 1
    while after < len(lines) and not lines[after].strip():
        after += 1
    following = lines[after] if after < len(lines) else ""
    if line.rstrip()[-1] in "([{:" or _indent(following) > _indent(line):
        return None  # it opens a block or bracket: not a whole statement or item
    if not openers:
        return ()
    outermost, *inner = openers
    if _indent(outermost) or not outermost.endswith(":"):
        return None
    # Blocks (`with strategy.scope():`), then brackets: a block inside a bracket is not
    # Python, and black refusing the context falls back to the whole script.
    blocks = 0
    while blocks < len(inner) and inner[blocks].endswith(":"):
        blocks += 1
    if any(text[-1] not in _CLOSERS for text in inner[blocks:]):
        return None
    return ("def _():", *inner)  # of the `def` line, only its body's depth matters
