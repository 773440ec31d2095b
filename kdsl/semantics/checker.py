"""Syntax tree → checked model (`kdsl.ir`), collecting every problem, not just the first.

This is where names get their meaning: which call is a layer and which an optimizer,
what a positional argument stands for, and whether a keyword argument exists in Keras.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from typing import Literal, cast

from kdsl import ir
from kdsl.errors import Diagnostic, Source, SourceError, did_you_mean, with_article
from kdsl.ir import CROSSENTROPY_LOSSES
from kdsl.language import nodes
from kdsl.language.syntax import COMPILE_SECTIONS, SECTION_NAMES
from kdsl.language.syntax import CONSTANTS as _CONSTANTS
from kdsl.semantics.catalog import (
    ACTIVATION_PARAMS,
    ARGUMENT_ENUMS,
    CALL_ENUMS,
    CLAMPED_FRACTIONS,
    DTYPES,
    FIT_CALLBACKS,
    FORBIDDEN_LAYER_KWARGS,
    MONITOR_MODES,
    NEEDS_ONE_OF,
    NEEDS_VALUES,
    NESTED_ARGS,
    NEVER_NONE,
    PAIRS,
    REFUSED_VALUES,
    SCALAR_ARGS,
    VALUE_CALL_KINDS,
    WRAPPER_CLASSES,
    Bounds,
    Catalog,
    Entry,
    Param,
    by_class,
    load,
    value_kind,
)
from kdsl.semantics.graph import GraphBuilder
from kdsl.semantics.shapes import Summary, infer, show_value
from kdsl.semantics.space import has_search, may_search

# What each wrapper can wrap, and how to say it (Keras refuses anything else at build).
_RNNS = frozenset({"SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
_KERNELS = frozenset(
    {"Dense", "EinsumDense", "Embedding", "Conv1D", "Conv2D", "Conv3D",
     "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
)  # fmt: skip
# A layer's dtype may also be a mixed-precision policy.
LAYER_DTYPES = (*DTYPES, "mixed_float16", "mixed_bfloat16")
WRAPPABLE = {
    "bidirectional": (_RNNS, "a recurrent layer (lstm, gru, simplernn, convlstm...)"),
    "spectralnormalization": (_KERNELS, "a layer with a kernel (dense, conv..., embedding)"),
}
WRAPPERS = frozenset(name.lower() for name in WRAPPER_CLASSES)  # the catalog's keys

# Arguments whose value must be a whole number of at least 1.
_POSITIVE_INTS = frozenset(
    {"units", "filters", "input_dim", "output_dim", "n", "epochs", "batch_size", "depth_multiplier",
     "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq"}
)  # fmt: skip
# Arguments whose value is a fraction in [0, 1) (a layer's `rate` has Keras's own range).
_FRACTIONS = frozenset({"validation_split"})
# How the catalog's kinds of value (`catalog.value_kind`) are said.
_KINDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number with a point",
    "name": "a name",
    "tuple": "a tuple",
    "none": "none",
}
# What comes after a call of each kind, when a `;` between them is forgotten
# (`dense 1 adam; mse`, `adam mse`, `mse accuracy`).
_NEXT_SECTIONS = {"layer": ("optimizer", "loss"), "optimizer": ("loss",), "loss": ("metrics",)}
_MISSING_SEMICOLON_HINTS = {
    "optimizer": "the layers end with `;`, then come the optimizer and the loss: "
    "`... -> {call} ...; {name}; LOSS`",
    "loss": "sections are separated by `;`: `{call} ...; {name}`",
    "metrics": "metrics come in their own section: `{call}; metrics {name}`",
}
_OBJECT_EXAMPLES = {"initializer": "he_normal", "regularizer": "l2", "constraint": "max_norm"}
_SECTION_ORDER_HINT = (
    "after the layers come the optimizer, then the loss, then `metrics ...`: "
    "`; adam; mse; metrics mae`; named sections go in any order: `loss mse; optimizer adam`"
)
_DIVIDE_HINT = "`/` always gives a float (Python's rule): divide whole numbers with `//`"
# `fit` options about the data that Keras takes as `fit` arguments but kdsl's catalog
# leaves out (they are not values): class weights, written as a dict, and whether to
# pass the data's `sample_weight` array.
_DATA_OPTIONS = ("class_weight", "sample_weight")
# Sections that take a `,`-separated list of calls.
_LIST_SECTIONS = ("metrics", "callbacks")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
# What TensorFlow accepts as a layer name (it becomes a name scope).
_LAYER_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def section_kinds(heads: list[str], taken: Iterable[str] = ()) -> list[str | None]:
    """What each section is, from its first word: named ones say so; unnamed ones fill the
    optimizer and loss slots that no named section takes, in order (`adam; mse`,
    `loss mse; adam` and `fit epochs=5; adam; mse` all work); None for one too many.
    `taken`: slots already filled elsewhere (an optimizer written before a missing `;`)."""
    named = {head for head in heads if head in SECTION_NAMES} | set(taken)
    free = [kind for kind in ("optimizer", "loss") if kind not in named]
    return [head if head in SECTION_NAMES else free.pop(0) if free else None for head in heads]


class _Checker:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        # Sections found inside a call before them, for want of a `;` (`dense 1 adam; mse`
        # holds the optimizer): they count as given, so `mse` is the loss.
        self.swallowed: set[str] = set()
        # Block parameters read as `ir.Param` (the written form of a block, for the
        # renderer; see `kdsl.semantics.graph`).
        self.symbolic: frozenset[str] = frozenset()
        # The block calls being expanded, innermost first (notes for diagnostics).
        self.context: list[str] = []
        # Each layer written the same way as one checked before without a word said
        # (`dense 64 relu` a hundred thousand times): its call, which only its spans
        # tell apart (see `layer`).
        self.checked_layers: dict[tuple, ir.KerasCall] = {}

    def error(self, message: str, span: nodes.Span, hint: str) -> None:
        """Every problem has a place (`span`) and a way out (`hint`), as the README says;
        in a block's body, notes say which call it was checked for."""
        self.diagnostics.append(Diagnostic(message, span, hint, notes=tuple(self.context)))

    def warning(self, message: str, span: nodes.Span, hint: str) -> None:
        self.diagnostics.append(
            Diagnostic(message, span, hint, severity="warning", notes=tuple(self.context))
        )

    # -- values ---------------------------------------------------------------------------

    def value(self, value: nodes.Value, what: str = "a Keras argument") -> ir.PyValue:
        """A DSL value as the Python value it stands for; `what` it is for, in words
        (`units` of `dense`), for the error about a number too large to hold."""
        if isinstance(value, nodes.Number):
            if isinstance(value.value, float) and not math.isfinite(value.value):
                self.too_large(value, what)
            return value.value
        if isinstance(value, nodes.Name):
            if value.name in self.symbolic:
                return ir.Param(value.name)
            return _CONSTANTS.get(value.name, value.name)
        if isinstance(value, nodes.String):
            return value.value
        if isinstance(value, nodes.Ref):
            self.error(
                f"`@{value.name}` is a tensor, where a value goes",
                value.span,
                "tensors go to merge layers (`add @x`), attention (`value=@x`) and blocks",
            )
            return None
        if isinstance(value, nodes.BinOp | nodes.Neg):
            return self.fold(value, what)
        if isinstance(value, nodes.ValueCall):
            return self.value_call(value, what)
        if isinstance(value, nodes.Dict):
            return ir.PyDict(
                tuple((self.value(k, what), self.value(v, what)) for k, v in value.items)
            )
        return tuple(self.value(item, what) for item in value.items)

    def fold(self, value: nodes.Value, what: str) -> int | float:
        """Arithmetic (`1/255`, `2**10`, `-(4*8)`) folded into the number Keras gets, by
        Python's rules: whole numbers stay whole except under `/`. Infinity after an
        error, which is said here (the callers treat infinity as "said": `too_large`).

        The one place arithmetic means something: a block parameter in it (`4*f`) is
        substituted before this runs."""
        if self.symbolic and _mentions(value, self.symbolic):
            return _expression(value)  # type: ignore[return-value]  # the written form's
        if isinstance(value, nodes.Number):
            if isinstance(value.value, float) and not math.isfinite(value.value):
                self.too_large(value, what)
            return value.value
        if isinstance(value, nodes.Neg):
            return -self.fold(value.operand, what)
        if not isinstance(value, nodes.BinOp):
            shown = value.name if isinstance(value, nodes.Name | nodes.ValueCall) else None
            self.error(
                f"arithmetic takes numbers, not {f'`{shown}`' if shown else 'this'}",
                value.span,
                "operands are numbers or parenthesized arithmetic, e.g. `1/255` or `(4 * 8)`",
            )
            return math.inf
        left, right = self.fold(value.left, what), self.fold(value.right, what)
        if not (math.isfinite(left) and math.isfinite(right)):
            return math.inf  # said about an operand
        result = _apply(value.op, left, right)
        if isinstance(result, str):
            self.error(f"`{_arith_text(value)}` {result}", value.span, _ARITH_HINTS[result])
            return math.inf
        return result

    def value_call(self, call: nodes.ValueCall, what: str) -> ir.KerasCall | None:
        """`l2(0.01)`, `exponential_decay(0.01, decay_steps=1000, decay_rate=0.9)`: a Keras
        object built with arguments bound as Python binds them (positionally in Keras's
        order, or by name), checked against its constructor; None after an error."""
        entry = self.catalog.value_calls.get(call.name)
        if entry is None:
            snake = sorted(name for name in self.catalog.value_calls if name.islower())
            self.error(
                f"unknown initializer, regularizer, constraint or schedule `{call.name}(...)`",
                call.name_span,
                did_you_mean(call.name, list(self.catalog.value_calls))
                or f"known: {', '.join(snake[:12])}, ...",
            )
            return None
        args: list[ir.PyValue] = []
        kwargs: dict[str, ir.PyValue] = {}
        spans: dict[str, nodes.Span] = {}
        said = len(self.diagnostics)
        for arg in call.args:
            if isinstance(arg, nodes.Positional):
                if kwargs:
                    self.error(
                        f"a positional argument of `{call.name}` after a keyword one",
                        arg.span,
                        "as in Python, write positional arguments first",
                    )
                    continue
                if len(args) >= len(entry.positional):
                    self.error(
                        f"`{call.name}` takes at most {len(entry.positional)} positional "
                        f"argument{'s' if len(entry.positional) > 1 else ''}",
                        arg.span,
                        f"`{call.name}` takes " + _param_list(entry),
                    )
                    continue
                name, span = entry.positional[len(args)], arg.span
            else:
                name, span = arg.name, arg.name_span
                if entry.param(name) is None:
                    self.error(
                        f"`{call.name}` has no argument `{name}`",
                        span,
                        did_you_mean(name, entry.positional)
                        or f"`{call.name}` takes " + _param_list(entry),
                    )
                    continue
                if name in spans:
                    self.error(
                        f"`{name}` of `{call.name}` is given twice", span, "give each argument once"
                    )
                    continue
            value = self.value(arg.value, f"`{name}` of `{call.name}`")
            if isinstance(value, ir.KerasCall | ir.PyDict):
                self.error(
                    f"`{name}` of `{call.name}` takes a number, a name or a tuple, "
                    "not a call or a dict",
                    arg.value.span,
                    f"`{call.name}` takes " + _param_list(entry),
                )
                continue
            self.check_type(call.name, entry.param(name), value, arg.value.span)
            spans[name] = arg.value.span
            if isinstance(arg, nodes.Positional):
                args.append(value)
            else:
                kwargs[name] = value
        missing = [p for p in entry.required if p not in spans]
        if missing and len(self.diagnostics) == said:
            self.error(
                f"`{call.name}` needs {' and '.join(f'`{m}`' for m in missing)}",
                call.span,
                f"e.g. `{call.name}({', '.join(f'{m}=...' for m in missing)})`",
            )
        if len(self.diagnostics) > said:
            return None
        return ir.KerasCall(
            module=entry.category,
            class_name=entry.class_name,
            args=tuple(args),
            kwargs=tuple(kwargs.items()),
            span=call.span,
            written=call.name,
            arg_names=tuple(spans),
            value_spans=tuple(spans.values()),
        )

    def check_object(self, owner: str, name: str, value: ir.KerasCall, span: nodes.Span) -> None:
        """A Keras object (`l2(0.01)`) goes where Keras takes one of its kind: an
        initializer in `*_initializer=`, ..., a learning-rate schedule in `learning_rate`."""
        kind = VALUE_CALL_KINDS[value.module]
        objects = self.catalog.object_names(name)
        wanted = (
            objects[0] if objects else "learning-rate schedule" if name == "learning_rate" else None
        )
        if wanted == kind:
            return
        where = {
            "initializer": "`kernel_initializer=`",
            "regularizer": "`kernel_regularizer=`",
            "constraint": "`kernel_constraint=`",
            "learning-rate schedule": "the optimizer's learning rate: `adam cosine_decay(...)`",
        }[kind]
        self.error(
            f"`{value.written}(...)` is {with_article(kind)}, "
            f"but `{name}` of `{owner}` takes "
            + (with_article(wanted) if wanted else "no Keras object"),
            span,
            f"{with_article(kind)} goes in {where}",
        )

    def too_large(self, number: nodes.Number, what: str) -> None:
        """A literal beyond what kdsl reads: a whole number of over 64 digits, or a float
        beyond the largest one (`1e999`)."""
        text = number.text if len(number.text) <= 24 else number.text[:20] + "..."
        digits = number.text.lstrip("+-")
        if digits.isdigit():
            self.error(
                f"`{text}` is too large for {what}: a whole number of {len(digits)} digits",
                number.span,
                "kdsl reads whole numbers of up to 64 digits; no Keras argument needs more",
            )
        else:
            self.error(
                f"`{text}` is too large for {what}: beyond the largest float (about 1.8e308)",
                number.span,
                "use a number Python can hold as a finite float, e.g. `1e-3` or `1e30`",
            )

    def shape(self, value: nodes.Value) -> ir.Dims | None:
        """`4`, `28x28x1`, `(None, 128)` → a shape tuple without the batch dimension."""
        hint = "a shape is `4`, `28x28x1`, `(28, 28, 1)` or `(None, 128)`"
        if isinstance(value, nodes.BinOp | nodes.Neg):  # `in 2**10`: one size
            folded = self.fold(value, "a shape's size")
            value = nodes.Number(folded, show_value(folded), value.span)
            if folded == math.inf:
                return None  # said by `fold`
        if isinstance(value, nodes.Number) and not isinstance(value.value, float):
            dims: tuple = (value.value,)
            spans = [value.span]
        elif isinstance(value, nodes.Tuple) and value.items:
            dims = tuple(self.value(item, "a shape's size") for item in value.items)
            spans = [item.span for item in value.items]
        elif isinstance(value, nodes.Number) and value.text.lstrip("+-").isdigit():
            self.too_large(value, "a shape's size")  # a whole number of over 64 digits
            return None
        else:
            self.error("expected a shape", value.span, hint)
            return None
        for dim, span in zip(dims, spans, strict=True):
            if dim == math.inf:
                return None  # said by `value`
            if dim is not None and (type(dim) is not int or dim < 1):
                self.error(
                    f"a shape's sizes must be whole numbers ≥ 1 or `None`, not `{dim}`", span, hint
                )
                return None
        return dims

    def check_arg(self, owner: str, name: str, value: ir.PyValue, span: nodes.Span) -> None:
        """Checks the few argument kinds whose meaning kdsl knows for every owner."""
        if isinstance(value, ir.KerasCall):
            self.check_object(owner, name, value, span)
        elif isinstance(value, ir.PyDict) and (owner, name) != ("fit", "class_weight"):
            self.error(
                f"`{name}` of `{owner}` does not take a dict",
                span,
                "a dict is for `fit class_weight={0: 1, 1: 5}`",
            )
        elif name in ACTIVATION_PARAMS and value is not None:
            known = self.catalog.activations
            if not isinstance(value, str) or value not in known:
                self.error(
                    f"unknown activation `{show_value(value)}` for `{owner}`",
                    span,
                    did_you_mean(str(value), known) or f"activations: {', '.join(known)}",
                )
        elif (objects := self.catalog.object_names(name)) is not None:
            kind, known = objects
            example = _OBJECT_EXAMPLES[kind]
            if value is not None and not isinstance(value, str):
                self.error(
                    f"`{name}` of `{owner}` is the name of {with_article(kind)} "
                    f"like `{example}`, not `{show_value(value)}`",
                    span,
                    f"e.g. `{name}={example}`",
                )
            elif value is not None and value not in known:
                snake = [n for n in known if n.islower()]
                self.error(
                    f"unknown {kind} `{show_value(value)}` for `{name}` of `{owner}`",
                    span,
                    did_you_mean(str(value), known) or f"{kind}s: {', '.join(snake)}",
                )
        elif name == "name" and (not isinstance(value, str) or not _LAYER_NAME.fullmatch(value)):
            self.error(
                f"`{show_value(value)}` cannot be a name: use letters, digits, `_`, `.` and `-`",
                span,
                "e.g. `name=hidden_1`",
            )
        elif name == "dtype" and value is not None and value not in LAYER_DTYPES:
            self.error(
                f"unknown dtype `{show_value(value)}` for `{owner}`",
                span,
                did_you_mean(str(value), LAYER_DTYPES) or f"dtypes: {', '.join(LAYER_DTYPES)}",
            )
        elif name in _POSITIVE_INTS and (type(value) is not int or value < 1):
            self.error(
                f"`{name}` of `{owner}` must be a whole number ≥ 1, not `{show_value(value)}`",
                span,
                _DIVIDE_HINT
                if isinstance(value, float) and value.is_integer()
                else f"e.g. `{name}=32`",
            )
        elif name in _FRACTIONS and (
            type(value) not in (int, float) or not 0 <= value < 1  # type: ignore[operator]
        ):
            self.error(
                f"`{name}` of `{owner}` must be a fraction from 0 up to (not including) 1, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{name}=0.2`",
            )
        elif name in CLAMPED_FRACTIONS and (
            type(value) not in (int, float) or not 0 <= value <= 1  # type: ignore[operator]
        ):
            self.error(
                f"`{name}` of `{owner}` must be a fraction from 0 to 1, not `{show_value(value)}`",
                span,
                f"e.g. `{name}=0.2` (Keras takes any number but treats it as 0 or 1 beyond them)",
            )

    def check_type(
        self, owner: str, param: Param | None, value: ir.PyValue, span: nodes.Span
    ) -> None:
        """Where Keras's default (or the catalog's example) is a flag, a number or a word,
        the value must be one too."""
        if param is None or (
            value is None and param.name not in NEVER_NONE and "none" not in param.refuses
        ):
            return
        if isinstance(value, ir.KerasCall | ir.PyDict):
            return  # `check_arg` said all there is
        if self.catalog.object_names(param.name) is not None:
            return  # a name from Keras's catalog: `check_arg` said all there is
        default = param.kind
        if isinstance(default, bool) and not isinstance(value, bool):
            self.error(
                f"`{param.name}` of `{owner}` is true or false, not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={'false' if default else 'true'}`",
            )
        elif (
            isinstance(default, int | float)
            and not isinstance(default, bool)
            and (
                isinstance(value, bool | str)
                or (isinstance(default, float) and not isinstance(value, int | float))
            )
        ):
            self.error(
                f"`{param.name}` of `{owner}` is a number like `{default}`, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={default}`",
            )
        elif isinstance(default, str) and not isinstance(value, str):
            self.error(
                f"`{param.name}` of `{owner}` is a name like `{default}`, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={default}`",
            )
        else:
            self.check_keras_value(owner, param, value, span)

    def check_keras_value(
        self, owner: str, param: Param, value: ir.PyValue, span: nodes.Span
    ) -> None:
        """What Keras itself checks as it makes the layer, as the catalog recorded it: the
        names an argument takes, the numbers, and the kinds of value it refuses."""
        kind = value_kind(value)
        if param.enum and isinstance(value, str):
            written = value.lower() if param.enum_any_case else value
            if written not in param.enum:
                names = sorted(param.enum, key=lambda name: name != param.default)
                choices = " or ".join(
                    filter(None, (", ".join(names[:-1]), names[-1]))  # `a, b or c`
                )
                self.error(
                    f"`{param.name}` of `{owner}` must be {choices}, not `{show_value(value)}`",
                    span,
                    did_you_mean(value, param.enum) or f"e.g. `{param.name}={names[0]}`",
                )
        elif kind in param.refuses and not (
            param.required and kind in ("int", "tuple") and param.bounds is None
        ):
            # (a required shape or axes is the shape rules' to explain: `permute 1`)
            example = _example(param)
            self.error(
                f"`{param.name}` of `{owner}` cannot be {_KINDS[kind]} "
                f"(`{show_value(value)}`): Keras refuses it",
                span,
                f"e.g. `{param.name}={example}`"
                if example
                else "give it a value of another kind"
                if param.required
                else "leave it out",
            )
        elif (
            isinstance(value, tuple)
            and "float" in param.refuses
            and any(value_kind(item) == "float" for item in value)
        ):
            self.error(
                f"`{param.name}` of `{owner}` takes whole numbers, not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or 1}`",
            )
        elif isinstance(value, tuple) and (
            param.name in SCALAR_ARGS
            or (param.name not in NESTED_ARGS and any(isinstance(v, tuple) for v in value))
        ):
            self.error(
                f"`{param.name}` of `{owner}` takes "
                f"{'one value' if param.name in SCALAR_ARGS else 'no tuple of tuples'}, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or 0}`",
            )
        elif (pair := PAIRS.get(param.name)) is not None and not _is_pair(value, pair):
            self.error(
                f"`{param.name}` of `{owner}` is a pair of "
                f"{'numbers, low then high' if pair == 'numbers' else 'whole numbers ≥ 1'}, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or '(8, 8)'}`",
            )
        elif (
            param.bounds is not None
            and _is_range(param)
            and isinstance(value, tuple)
            and (len(value) != 2 or not all(value_kind(i) in ("int", "float") for i in value))
        ):
            self.error(
                f"`{param.name}` of `{owner}` is a number or a pair of numbers, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or _inside(param.bounds)}`",
            )
        elif (
            param.bounds is not None
            and _is_range(param)
            and isinstance(value, tuple)
            and not (
                all(param.bounds.admits(item) for item in value)
                if param.pairs == "each"
                else param.bounds.overlaps(*value)
            )
        ):
            self.error(
                f"`{param.name}` of `{owner}` is a range that must meet "
                f"{param.bounds.describe()}, not `{show_value(value)}`"
                if param.pairs == "overlap"
                else f"`{param.name}` of `{owner}` takes numbers {param.bounds.describe()}, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or _inside(param.bounds)}`",
            )
        elif (
            param.bounds is not None
            and kind in ("int", "float", "bool")  # Keras compares a flag as 0 or 1
            and not param.bounds.admits(value)  # type: ignore[arg-type]
        ):
            self.error(
                f"`{param.name}` of `{owner}` must be {param.bounds.describe()}, "
                f"not `{show_value(value)}`",
                span,
                f"e.g. `{param.name}={_example(param) or _inside(param.bounds)}`",
            )

    # -- calls ----------------------------------------------------------------------------

    def bind(
        self, call: nodes.Call, entry: Entry, what: str, args: Iterable[nodes.Arg]
    ) -> ir.KerasCall | None:
        """Binds a call's arguments to a catalog entry's parameters, by position and name."""
        bound: dict[str, ir.PyValue] = {}
        spans: dict[str, nodes.Span] = {}
        ok = True
        positional = entry.positional
        index = -1
        for arg in args:
            if isinstance(arg, nodes.InputShape):
                continue  # handled by the caller, which knows whether it is allowed here
            if isinstance(arg, nodes.Positional):
                index += 1
                if self.missing_semicolon(call, arg.value, what):
                    ok = False
                    break  # the rest belongs to the section that should have followed
                if index >= len(positional):
                    ok = False
                    if positional:
                        self.error(
                            f"`{call.name}` takes at most {len(positional)} positional "
                            f"argument{'s' if len(positional) > 1 else ''} "
                            f"({', '.join(positional)})",
                            arg.span,
                            "give the others as `name=value`",
                        )
                    else:
                        self.error(
                            f"`{call.name}` takes no positional arguments",
                            arg.span,
                            f"write `name=value`; {what} `{call.name}` takes " + _param_list(entry),
                        )
                    continue
                name, span = positional[index], arg.span
                if name in ACTIVATION_PARAMS and isinstance(
                    arg.value, nodes.Number | nodes.Tuple | nodes.BinOp | nodes.Neg
                ):
                    self.not_an_activation(call, entry, index, arg.value)
                    ok = False
                    continue
            else:
                name, span = arg.name, arg.name_span
                if warning := entry.deprecation(call.name, name):  # Keras's old name: written anew
                    self.diagnostics.append(dataclasses.replace(warning, span=span))
                    renamed = dict(entry.deprecated)[name]
                    if renamed is None:
                        continue
                    name = renamed
                if entry.param(name) is None:
                    ok = False
                    hint = FORBIDDEN_LAYER_KWARGS.get(name) if what == "layer" else None
                    if hint is None:
                        hint = did_you_mean(name, [p.name for p in entry.params])
                        hint = hint or f"`{call.name}` takes " + _param_list(entry)
                    self.error(f"`{call.name}` has no argument `{name}`", span, hint)
                    continue
            if name in bound:
                ok = False
                self.error(
                    f"`{name}` of `{call.name}` is given twice", span, "give each argument once"
                )
                continue
            said = len(self.diagnostics)
            value = self.value(arg.value, f"`{name}` of `{call.name}`")
            if len(self.diagnostics) > said:
                ok = False  # a number too large: nothing more to say about it
                continue
            self.check_arg(call.name, name, value, arg.value.span)
            if len(self.diagnostics) == said:  # one error per argument
                self.check_type(call.name, entry.param(name), value, arg.value.span)
            bound[name] = value
            spans[name] = arg.value.span
        missing = [p for p in entry.required if p not in bound]
        if missing and ok:
            example = " ".join(f"{m.upper()}" for m in positional if m in missing)
            self.error(
                f"`{call.name}` needs {' and '.join(f'`{m}`' for m in missing)}",
                call.span,
                f"e.g. `{call.name} {example}`"
                if example
                else " ".join(f"{m}=..." for m in missing),
            )
            ok = False
        if ok and what == "layer":
            ok = self.keras_refusals(call, entry, bound, spans)
        if not ok:
            return None
        # Required parameters go positionally, the rest by name, as Keras code is written.
        required = [p.name for p in entry.params if p.required]
        return ir.KerasCall(
            module="",
            class_name=entry.class_name,
            args=tuple(bound[name] for name in required),
            kwargs=tuple((k, v) for k, v in bound.items() if k not in required),
            span=call.span,
            written=call.name,
            arg_names=tuple(spans),
            value_spans=tuple(spans.values()),
        )

    def keras_refusals(
        self,
        call: nodes.Call,
        entry: Entry,
        bound: dict[str, ir.PyValue],
        spans: dict[str, nodes.Span],
    ) -> bool:
        """What Keras refuses only when the model is built or run (`catalog`'s tables):
        whether the layer passes."""
        ok = True
        needs = NEEDS_ONE_OF.get(entry.key, ())
        if needs and not any(bound.get(name) is not None for name in needs):
            self.error(
                f"`{call.name}` needs {' or '.join(f'`{name}`' for name in needs)}: "
                "Keras refuses to run it without",
                call.span,
                f"e.g. `{call.name} {needs[0]}=10`",
            )
            ok = False
        for name, value in bound.items():
            need = NEEDS_VALUES.get((name, value)) if type(value) is bool else None
            if need is not None:
                other, allowed = need
                param = entry.param(other)
                given = bound.get(other, param.default if param is not None else None)
                if (given not in allowed) if allowed else given is None:
                    wanted = " or ".join(allowed) if allowed else "given"
                    self.error(
                        f"`{name}={show_value(value)}` of `{call.name}` needs `{other}` to be "
                        f"{wanted}, not `{show_value(given)}`",
                        spans[name],
                        f"give `{other}={allowed[0] if allowed else 10}`, or leave `{name}` out",
                    )
                    ok = False
            names = ARGUMENT_ENUMS.get(name)
            param = entry.param(name)
            named = isinstance(value, str) and value.lower() in (names or ())
            if names and value is not None and param is not None and not param.enum and not named:
                self.error(
                    f"`{name}` of `{call.name}` must be {' or '.join(names)}, "
                    f"not `{show_value(value)}`",
                    spans[name],
                    did_you_mean(str(value), names) or f"e.g. `{name}={names[0]}`",
                )
                ok = False
            names = CALL_ENUMS.get(entry.key, {}).get(name)
            if names is not None and isinstance(value, str) and value not in names:
                self.error(
                    f"`{name}` of `{call.name}` must be {', '.join(names)}, "
                    f"not `{show_value(value)}`",
                    spans[name],
                    did_you_mean(value, names) or f"e.g. `{name}={names[0]}`",
                )
                ok = False
            if type(value) in (bool, int, float, str) and (name, value) in REFUSED_VALUES:
                self.error(
                    f"`{call.name}` cannot take `{name}={show_value(value)}`: "
                    f"{REFUSED_VALUES[name, value]}",
                    spans[name],
                    f"leave `{name}` out",
                )
                ok = False
        return ok

    def missing_semicolon(self, call: nodes.Call, value: nodes.Value, what: str) -> bool:
        """Whether a positional name is the next section's (an optimizer after a layer's
        arguments), which means a `;` is missing before it: says so, once, where it goes.
        A layer's activation that is also such a name stays an activation."""
        if not isinstance(value, nodes.Name) or value.name in self.catalog.activations:
            return False
        for kind in _NEXT_SECTIONS.get(what, ()):
            _, table, aliases = self.catalog.compile_table(kind)
            if value.name in table or value.name in aliases:
                break
        else:
            return False
        word = "a metric" if kind == "metrics" else with_article(kind)
        before = "`; metrics`" if kind == "metrics" else "a `;`"
        self.error(
            f"`{value.name}` is {word}: {before} is probably missing before it",
            value.span,
            _MISSING_SEMICOLON_HINTS[kind].format(call=call.name, name=value.name),
        )
        self.swallowed.add(kind)
        # What follows in the same call belongs to the sections after it (`adam mse`): it
        # was written, so "the model has no loss" would be false.
        positional = [arg.value for arg in call.args if isinstance(arg, nodes.Positional)]
        for later in positional[positional.index(value) + 1 :]:
            if isinstance(later, nodes.Name) and (section := self.section_of(later.name)):
                self.swallowed.add(section)
        return True

    def section_of(self, name: str) -> str | None:
        """The section whose names include `name` (`optimizer` for `adam`), or None."""
        for kind in COMPILE_SECTIONS:
            _, table, aliases = self.catalog.compile_table(kind)
            if name in table or name in aliases:
                return kind
        return None

    def not_an_activation(
        self,
        call: nodes.Call,
        entry: Entry,
        index: int,
        value: nodes.Number | nodes.Tuple | nodes.BinOp | nodes.Neg,
    ) -> None:
        """`conv2d 64 5 (2, 2)`: a number or tuple where kdsl takes the activation, most
        likely Keras's own positional argument there (`strides`), which kdsl takes by name."""
        written = self.value(value)
        if not _finite(written):
            return  # `value` said the number is too large; `inf` is not what was written
        text = show_value(written)
        ordinal = _ORDINALS[index] if index < len(_ORDINALS) else f"#{index + 1}"
        keras_param = entry.params[index].name if index < len(entry.params) else None
        if keras_param is not None and keras_param not in ACTIVATION_PARAMS:
            hint = (
                f"Keras's {ordinal} argument of `{entry.class_name}` is `{keras_param}`: "
                f"in kdsl write `{keras_param}={text}`"
            )
        else:
            hint = "an activation is a name like `relu`; give other arguments as `name=value`"
        self.error(
            f"the {ordinal} positional argument of `{call.name}` is its activation, not `{text}`",
            value.span,
            hint,
        )

    # -- layers ---------------------------------------------------------------------------

    def layer_entry(self, call: nodes.Call, what: str = "layer") -> Entry | None:
        entry = self.catalog.layer(call.name)
        if entry is None:
            names = self.catalog.layer_names()
            hint = did_you_mean(call.name, names)
            section = self.section_of(call.name) if what == "layer" else None
            if call.name in SECTION_NAMES:
                hint = f"`{call.name}` starts a section: put `;` after the last layer"
            elif section in ("optimizer", "loss"):
                hint = (
                    f"`{call.name}` is {with_article(section)}: end the layers with `;`, "
                    f"not `->`: `...; {call.name}`"
                )
                self.swallowed.add(section)  # so what follows keeps its meaning
            elif hint is None and call.name.lower() != call.name:
                hint = "layer kinds are written in lowercase, e.g. `dense`, `conv2d`"
            self.error(
                f"unknown {what} `{call.name}`",
                call.name_span,
                hint or "see docs/language.md for the layer kinds",
            )
        return entry

    def layer(self, call: nodes.Call) -> ir.KerasCall | None:
        plan = None if self.symbolic else _plan(call)
        if plan is not None and (checked := self.checked_layers.get(plan)) is not None:
            return _placed(checked, call)
        said = len(self.diagnostics)
        entry = self.layer_entry(call)
        if entry is None:
            return None
        if entry.key in WRAPPERS:
            return self.wrapper(call, entry)
        result = self.bind(call, entry, "layer", call.args)
        if result is None:
            return None
        result = _with_module(result, "layers")
        if plan is not None and len(self.diagnostics) == said:
            self.checked_layers[plan] = result
        return result

    def wrapper(self, call: nodes.Call, entry: Entry) -> ir.KerasCall | None:
        """`bidirectional lstm 64 return_sequences=true`: the rest is the wrapped layer."""
        args = [a for a in call.args if not isinstance(a, nodes.InputShape)]
        if not args or not (
            isinstance(args[0], nodes.Positional) and isinstance(args[0].value, nodes.Name)
        ):
            self.error(
                f"`{call.name}` needs the layer it wraps",
                call.span,
                f"e.g. `{call.name} lstm 64`"
                if entry.key == "bidirectional"
                else f"e.g. `{call.name} dense 10`",
            )
            return None
        inner_name = args[0].value
        own = [
            a
            for a in args[1:]
            if isinstance(a, nodes.Keyword) and entry.param(a.name) and a.name != "layer"
        ]
        owned = {id(a) for a in own}  # by identity: `in own` compares whole args (quadratic)
        rest = tuple(a for a in args[1:] if id(a) not in owned)
        inner_call = nodes.Call(inner_name.name, rest, call.span, inner_name.span)
        inner_entry = self.layer_entry(inner_call, "layer to wrap")
        if inner_entry is None:
            return None
        if inner_entry.key in WRAPPERS:
            self.error(
                f"`{call.name}` cannot wrap another wrapper",
                inner_name.span,
                f"wrap the layer itself, e.g. `{call.name} lstm 32`"
                if entry.key == "bidirectional"
                else f"wrap the layer itself, e.g. `{call.name} dense 8`",
            )
            return None
        wraps = WRAPPABLE.get(entry.key)
        if wraps and inner_entry.class_name not in wraps[0]:
            self.error(
                f"`{call.name}` cannot wrap `{inner_name.name}`: it takes {wraps[1]}",
                inner_name.span,
                f"e.g. `{call.name} {'lstm 32' if entry.key == 'bidirectional' else 'dense 8'}`",
            )
            return None
        for arg in own:
            if arg.name == "backward_layer":
                self.error(
                    "`backward_layer` takes a Keras layer object, which kdsl does not write",
                    arg.name_span,
                    "leave it out: `bidirectional` then runs a copy of the layer backwards",
                )
                return None
        inner = self.bind(inner_call, inner_entry, "layer", rest)
        outer = self.bind(call, _without(entry, "layer"), "layer", own)
        if inner is None or outer is None:
            return None
        if entry.key == "spectralnormalization" and inner.kwarg("lora_rank") is not None:
            # Keras normalises the kernel variable itself, which LoRA replaces by a sum.
            self.error(
                f"`{call.name}` cannot normalise a kernel with LoRA (`lora_rank`): Keras "
                "refuses it as the model runs",
                inner.arg_span("lora_rank") or call.span,
                "leave `lora_rank` out",
            )
            return None
        if entry.key == "bidirectional" and inner.kwarg("go_backwards") is True:
            # Keras runs a copy with `go_backwards` flipped, and refuses two of one value.
            self.error(
                f"`{call.name}` runs `{inner_name.name}` both ways itself: it cannot take "
                "`go_backwards=true`",
                inner.arg_span("go_backwards") or call.span,
                "leave `go_backwards` out",
            )
            return None
        return dataclasses.replace(outer, module="layers", args=(_with_module(inner, "layers"),))

    def input_element(
        self, call: nodes.Call
    ) -> tuple[ir.Dims | None, tuple[tuple[str, ir.PyValue], ...]]:
        """The leading `input SHAPE [dtype=...] [name=...]` element."""
        shape = None
        kwargs: list[tuple[str, ir.PyValue]] = []
        positionals = [a for a in call.args if isinstance(a, nodes.Positional)]
        if not positionals:
            self.error("`input` needs a shape", call.span, "e.g. `input 28x28x1`")
        for extra in positionals[1:]:
            self.error("`input` takes one shape", extra.span, "e.g. `input 28x28x1 dtype=int32`")
        if positionals:
            shape = self.shape(positionals[0].value)
        for arg in call.args:
            if isinstance(arg, nodes.InputShape):
                self.error(
                    "`input` already gives the shape", arg.span, "write `input SHAPE` without `in`"
                )
            elif isinstance(arg, nodes.Keyword):
                value = self.value(arg.value, f"`{arg.name}` of `input`")
                if arg.name == "dtype":
                    if value not in DTYPES:
                        self.error(
                            f"unknown dtype `{show_value(value)}`",
                            arg.value.span,
                            did_you_mean(str(value), DTYPES) or f"dtypes: {', '.join(DTYPES)}",
                        )
                        continue
                elif arg.name == "name":
                    self.check_arg("input", "name", value, arg.value.span)
                else:
                    self.error(
                        f"`input` has no argument `{arg.name}`",
                        arg.name_span,
                        "`input` takes a shape, `dtype=` and `name=`",
                    )
                    continue
                kwargs.append((arg.name, value))
        return shape, tuple(kwargs)

    def chain(self, written: list[nodes.Call | None]) -> ir.Graph | None:
        """The layers written `a -> b -> c` as a chain graph (`ir.chain`); None when an
        error was found. Each call in `written` is replaced by None once checked, so that
        what the caller no longer holds is freed as its layer is made."""
        shape: ir.Dims | None = None
        input_kwargs: tuple[tuple[str, ir.PyValue], ...] = ()
        input_span: nodes.Span | None = None
        has_shape = False
        layers: list[ir.KerasCall] = []
        first = cast(nodes.Call, written[0])
        has_input_element = first.name == "input"
        start = 0
        if has_input_element:
            input_span = first.span
            shape, input_kwargs = self.input_element(first)
            has_shape = True
            start = 1
            if len(written) == 1:
                self.error(
                    "the model has no layers after `input`",
                    first.span,
                    "add layers with `->`, e.g. `input 4 -> dense 3 softmax`",
                )
        for index in range(start, len(written)):
            call = cast(nodes.Call, written[index])
            written[index] = None
            if call.name == "input":
                self.error(
                    "`input` can only start the chain",
                    call.name_span,
                    "move it to the front, or use `in SHAPE` on the first layer",
                )
                continue
            for arg in call.args:
                if not isinstance(arg, nodes.InputShape):
                    continue
                if index > start or has_shape:
                    self.error(
                        "only the first layer can take the input shape",
                        arg.span,
                        "the input shape is already given by `input`"
                        if has_input_element
                        else "the model has one input: put `in SHAPE` on the first layer only",
                    )
                else:
                    has_shape = True
                    shape = self.shape(arg.value)
            layer = self.layer(call)
            if layer is not None:
                layers.append(layer)
        if not has_shape:  # so there is no `input` element, and `first` is a layer
            self.error(
                "the model has no input shape",
                first.span,
                f"add `in SHAPE` to the first layer, e.g. `{first.name} ... in 4`, or start "
                "with `input 4 ->`",
            )
        if shape is None or not layers or len(layers) != len(written) - start:
            return None  # an error was said
        return ir.chain(ir.IdCounter(), shape, layers, input_kwargs, input_span)

    # -- sections -------------------------------------------------------------------------

    def compile_arg(
        self,
        call: nodes.Call,
        what: str,
        module: str,
        table: dict[str, Entry],
        aliases: dict[str, str],
    ) -> tuple[ir.CompileArg | None, str | None]:
        key = aliases.get(call.name, call.name)
        entry = table.get(key)
        if entry is None and what == "optimizer":  # Keras takes its class names: `Adam`
            entry = by_class(table, call.name)
        if entry is None:
            other = self.section_of(call.name)
            if other is not None and other != ("metrics" if what == "metric" else what):
                word = "a metric" if other == "metrics" else with_article(other)
                self.error(
                    f"`{call.name}` is {word}, where the {what} goes",
                    call.name_span,
                    _SECTION_ORDER_HINT,
                )
                return None, None
            hint = did_you_mean(call.name, [*table, *aliases])
            self.error(
                f"unknown {what} `{call.name}`",
                call.name_span,
                hint or f"known: {', '.join(sorted(table))}",
            )
            return None, None
        if not call.args and entry.shorthand:
            return ir.CompileArg(shorthand=call.name), key
        bound = self.bind(call, entry, what, call.args)
        for arg in call.args:
            if isinstance(arg, nodes.InputShape):
                self.error(
                    f"`in` is only for the first layer, not for the {what}",
                    arg.span,
                    "give the input shape on the first layer, e.g. `dense 8 in 4`",
                )
        if bound is None:
            return None, key
        return ir.CompileArg(call=_with_module(bound, module)), key

    def sections(
        self, sections: tuple[nodes.Section, ...]
    ) -> tuple[dict[str, list[nodes.Call]], dict[str, nodes.Span]]:
        found: dict[str, list[nodes.Call]] = {}
        spans: dict[str, nodes.Span] = {}
        kinds = section_kinds([section.calls[0].name for section in sections], self.swallowed)
        for section, kind in zip(sections, kinds, strict=True):
            head = section.calls[0]
            if kind is None:  # a named section always has its kind: an unnamed one too many
                self.error(
                    f"unnamed section `{head.name}` after the optimizer and the loss",
                    head.name_span,
                    "name further sections: `metrics accuracy` or `fit epochs=5`"
                    + (f"; {h}" if (h := did_you_mean(head.name, SECTION_NAMES)) else ""),
                )
                continue
            calls: list[nodes.Call] | None
            if head.name in SECTION_NAMES:
                calls = self.named_section(kind, section)
            else:
                calls = list(section.calls)
            if kind in spans:
                self.error(
                    f"the {kind} is given twice",
                    section.span,
                    f"the first {kind} section is at line {spans[kind].line}",
                )
                continue
            spans[kind] = section.span  # tried, even if broken: no "missing" error on top
            if calls is None:
                continue
            if kind not in _LIST_SECTIONS and len(calls) > 1:
                self.error(
                    f"the {kind} section takes one {kind}, not a list",
                    calls[1].span,
                    "only `metrics` and `callbacks` take a `,`-separated list",
                )
                continue
            found[kind] = calls
        return found, spans

    def named_section(self, kind: str, section: nodes.Section) -> list[nodes.Call] | None:
        """`optimizer adam 0.01` → the call `adam 0.01`; `fit epochs=5` stays as it is."""
        head, *rest = section.calls
        if kind == "fit":
            if rest:
                self.error(
                    "the fit section takes `name=value` options, not a list",
                    rest[0].span,
                    "e.g. `fit epochs=5 batch_size=20`",
                )
            return [head]
        if not head.args or not (
            isinstance(head.args[0], nodes.Positional)
            and isinstance(head.args[0].value, nodes.Name)
        ):
            examples = {
                "optimizer": "optimizer adam 0.001",
                "loss": "loss mse",
                "metrics": "metrics accuracy, auc",
                "callbacks": "callbacks early_stopping patience=3, csv_logger log.csv",
            }
            self.error(f"`{kind}` needs a name after it", head.span, f"e.g. `{examples[kind]}`")
            return None
        name = head.args[0].value
        first = nodes.Call(name.name, head.args[1:], head.span, name.span)
        return [first, *rest]

    def fit(self, call: nodes.Call) -> tuple[tuple[str, ir.PyValue], ...]:
        params = {p.name for p in self.catalog.fit.params} | set(FIT_CALLBACKS) | set(_DATA_OPTIONS)
        options: dict[str, ir.PyValue] = {}
        for arg in call.args:
            if not isinstance(arg, nodes.Keyword):
                self.error(
                    "the fit section takes `name=value` options",
                    arg.span,
                    "e.g. `fit epochs=5 batch_size=20 validation_split=0.1`",
                )
                continue
            if arg.name not in params:
                self.error(
                    f"`fit` has no option `{arg.name}`",
                    arg.name_span,
                    did_you_mean(arg.name, params) or f"`fit` takes {', '.join(sorted(params))}",
                )
                continue
            if arg.name in options:
                self.error(f"`{arg.name}` is given twice", arg.name_span, "give it once")
                continue
            said = len(self.diagnostics)
            value = self.value(arg.value, f"`{arg.name}` of `fit`")
            if len(self.diagnostics) > said:
                continue  # a number too large: nothing more to say about it
            if arg.name in FIT_CALLBACKS and (type(value) is not int or value < 1):
                self.error(
                    f"`{arg.name}` is a patience in epochs: a whole number ≥ 1, "
                    f"not `{show_value(value)}`",
                    arg.value.span,
                    f"e.g. `{arg.name}=5`",
                )
                continue
            if arg.name == "verbose":
                if value not in ("auto", 0, 1, 2) or isinstance(value, bool):
                    self.error(
                        f"`verbose` is auto, 0, 1 or 2, not `{show_value(value)}`",
                        arg.value.span,
                        "0 is silent, 1 a progress bar, 2 one line per epoch",
                    )
            elif arg.name == "sample_weight":
                if not isinstance(value, bool):
                    self.error(
                        f"`sample_weight` is true or false, not `{show_value(value)}`",
                        arg.value.span,
                        "`fit sample_weight=true` weighs each training row by the data's "
                        "`sample_weight` array",
                    )
                    continue
            elif arg.name == "class_weight":
                if not self.class_weight(arg.value, value):
                    continue
            elif arg.name == "initial_epoch":
                if type(value) is not int or value < 0:
                    self.error(
                        f"`initial_epoch` is a whole number ≥ 0, not `{show_value(value)}`",
                        arg.value.span,
                        "e.g. `initial_epoch=0`",
                    )
            else:
                self.check_arg("fit", arg.name, value, arg.value.span)
                self.check_type("fit", self.catalog.fit.param(arg.name), value, arg.value.span)
            options[arg.name] = value
        if "class_weight" in options and options.get("sample_weight") is True:
            self.error(
                "`class_weight` and `sample_weight` cannot both be given: Keras refuses that",
                call.span,
                "weigh each row by its class in the `sample_weight` array instead",
            )
        return tuple(options.items())

    def callbacks(
        self,
        calls: list[nodes.Call],
        metrics: tuple[ir.CompileArg, ...],
        fit: tuple[tuple[str, ir.PyValue], ...],
    ) -> tuple[ir.KerasCall, ...]:
        """The `callbacks` section: each a Keras callback with its checked arguments; what
        it monitors must be a quantity `fit` logs (the loss or a metric of `metrics`,
        `val_` before it for the validation data's, which `kdsl run` checks is there)."""
        found: list[ir.KerasCall] = []
        first: dict[str, nodes.Call] = {}
        for call in calls:
            entry = self.catalog.callbacks.get(call.name)
            if entry is None:
                self.error(
                    f"unknown callback `{call.name}`",
                    call.name_span,
                    did_you_mean(call.name, list(self.catalog.callbacks))
                    or f"callbacks: {', '.join(self.catalog.callbacks)}",
                )
                continue
            if call.name in first or call.name in dict(fit):
                where = (
                    f"at line {first[call.name].span.line}" if call.name in first else "in `fit`"
                )
                self.error(
                    f"the callback `{call.name}` is given twice",
                    call.name_span,
                    f"it is already {where}: keep one",
                )
                continue
            first[call.name] = call
            for arg in call.args:
                if isinstance(arg, nodes.InputShape):
                    self.error(
                        "`in` is only for the first layer, not for a callback",
                        arg.span,
                        "give the input shape on the first layer, e.g. `dense 8 in 4`",
                    )
            bound = self.bind(call, entry, "callback", call.args)
            if bound is None:
                continue
            if self.monitored(bound, metrics):
                found.append(_with_module(bound, "callbacks"))
        return tuple(found)

    def monitored(self, callback: ir.KerasCall, metrics: tuple[ir.CompileArg, ...]) -> bool:
        """Whether a callback's `monitor` names a quantity `fit` logs and its `mode` is
        Keras's; says what is wrong otherwise."""
        ok = True
        mode = callback.kwarg("mode")
        if mode is not None and mode not in MONITOR_MODES:
            self.error(
                f"`mode` of `{callback.written}` is auto, min or max, not `{show_value(mode)}`",
                callback.arg_span("mode") or callback.span or _NOWHERE,
                "`min` when lower is better (a loss), `max` for accuracy; `auto` guesses",
            )
            ok = False
        monitor = callback.kwarg("monitor")
        if monitor is None or not isinstance(monitor, str):
            return ok
        logged = ["loss", *(_metric_name(metric) for metric in metrics)]
        name = monitor.removeprefix("val_")
        if name not in logged:
            quantities = [*logged, *(f"val_{q}" for q in logged)]
            self.error(
                f"`{callback.written}` monitors `{monitor}`, which `fit` does not log: "
                f"the model has no metric `{name}`",
                callback.arg_span("monitor") or callback.span or _NOWHERE,
                f"add it: `metrics {name}`; or monitor one of {', '.join(quantities)}",
            )
            ok = False
        return ok

    def without_none(self, calls: list[nodes.Call]) -> list[nodes.Call]:
        """`metrics none`: no metrics at all, not even the default `accuracy` a
        cross-entropy loss gets; `none` among other metrics is an error."""
        nones = [call for call in calls if call.name in ("none", "None")]
        if not nones:
            return calls
        if len(calls) > 1 or nones[0].args:
            self.error(
                "`none` means no metrics: it stands alone",
                nones[0].span,
                "write `metrics none` for no metrics, or list the metrics you want",
            )
        return []

    def class_weight(self, written: nodes.Value, value: ir.PyValue) -> bool:
        """`class_weight={0: 1, 1: 5}`: class ids (whole numbers ≥ 0, each once) to
        weights > 0. Whether the labels have each class is for `kdsl run` to see."""
        example = "e.g. `class_weight={0: 1, 1: 5}`: class 1 counts five times as much"
        if not isinstance(value, ir.PyDict) or not isinstance(written, nodes.Dict):
            self.error(
                f"`class_weight` is a dict of class ids to weights, not `{show_value(value)}`",
                written.span,
                example,
            )
            return False
        ok = True
        seen: set[ir.PyValue] = set()
        for (key, weight), (key_node, weight_node) in zip(value.items, written.items, strict=True):
            if type(key) is not int or key < 0:
                self.error(
                    f"a class id is a whole number ≥ 0, not `{show_value(key)}`",
                    key_node.span,
                    example,
                )
                ok = False
            elif key in seen:
                self.error(
                    f"class {key} is given twice in `class_weight`",
                    key_node.span,
                    "give each class's weight once",
                )
                ok = False
            seen.add(key)
            if type(weight) not in (int, float) or weight <= 0:  # type: ignore[operator]
                self.error(
                    f"a class weight is a number > 0, not `{show_value(weight)}`",
                    weight_node.span,
                    "a weight scales the class's share of the loss; leave a class out for 1",
                )
                ok = False
        return ok


# What `analyze` does with an error found in the shapes: "raise" it (with every other
# problem), or "keep" it in the summary's diagnostics, with the rows up to it (an editor
# still shows what each layer outputs).
ShapeErrors = Literal["raise", "keep"]


def analyze(
    program: nodes.Program,
    source: Source,
    catalog: Catalog | None = None,
    shape_errors: ShapeErrors = "raise",
) -> tuple[ir.Model, Summary]:
    """The checked model and its static shapes; warnings are in the summary's diagnostics.
    The one way in, for the command line, the API, the notebook and the editor.

    Names and arguments are checked first, and a wrong one raises `SourceError` whatever
    `shape_errors` says, as there is no model to infer; shapes only once every layer is
    known, so a typo never sets off a cascade of shape errors.
    """
    return _analyze([program], source, catalog, shape_errors)


def analyze_source(
    source: Source,
    catalog: Catalog | None = None,
    shape_errors: ShapeErrors = "raise",
    rows: bool = True,
) -> tuple[ir.Model, Summary]:
    """`analyze(parse(source), source)`, but the syntax tree is let go of as soon as
    the model is made: at 100,000 layers it is most of what a compile holds, and shape
    inference and rendering need only the model (the caller of `analyze` holds it).
    `rows=False` leaves the summary's rows out (its diagnostics are the same), for a
    caller that wants only the model and the messages (`kdsl compile`)."""
    from kdsl.language.parser import parse

    return _analyze([parse(source)], source, catalog, shape_errors, rows)


def _analyze(
    held: list[nodes.Program],
    source: Source,
    catalog: Catalog | None,
    shape_errors: ShapeErrors,
    rows: bool = True,
) -> tuple[ir.Model, Summary]:
    """`analyze`, with the program in `held`, which it empties: then the program lives
    no longer than the checking, unless its caller keeps it."""
    program = held.pop()
    if may_search(source.text) and has_search(program):  # issue 16: a tuner's program
        from kdsl.semantics import space

        return space.analyze(program, source, catalog or load(), shape_errors)
    warnings: list[Diagnostic] = []  # the checker's (deprecated arguments)
    held.append(program)
    del program
    model = _resolve_held(held, source, catalog or load(), warnings)
    shared = any(block.shared for block in model.blocks)
    summary = infer(model, catalog, rows=rows or shared)  # `_shared_inputs` reads rows
    if model.instance_sites:
        summary.diagnostics = _with_block_notes(model, summary.diagnostics)
    if shared:
        model = _shared_inputs(model, summary)
    summary.diagnostics[:0] = warnings
    if shape_errors == "raise" and any(d.severity == "error" for d in summary.diagnostics):
        raise SourceError(source, summary.diagnostics)
    return model, summary


def _resolve(
    program: nodes.Program,
    source: Source,
    catalog: Catalog,
    warnings: list[Diagnostic] | None = None,
) -> ir.Model:
    """The checked model, its warnings added to `warnings`; `SourceError` on an error."""
    return _resolve_held([program], source, catalog, warnings)


def _resolve_held(
    held: list[nodes.Program],
    source: Source,
    catalog: Catalog,
    warnings: list[Diagnostic] | None = None,
) -> ir.Model:
    """The checked model of the program in `held` (which it empties), its warnings added
    to `warnings`; `SourceError` on an error. A v1 chain's layers are let go of one by
    one as they are checked, unless the caller keeps the program: the model then takes
    the tree's place in memory rather than adding to it (at 100,000 layers each is
    tens of megabytes)."""
    program = held.pop()
    checker = _Checker(catalog)
    written_sections = program.sections
    per_output = _PerOutput()
    sections = per_output.take(checker, written_sections)
    several_inputs = any(
        (entry := catalog.layer(call.name)) is not None and entry.class_name in ir.SEVERAL_INPUTS
        for call in program.layers
    )
    end = written_sections[-1].span if written_sections else program.chains[-1].span
    if program.is_v1 and len(sections) == len(written_sections) and not several_inputs:
        layers: list[nodes.Call | None] = list(program.layers)
        del program  # the chain's calls are now held by `layers` alone
        graph = checker.chain(layers)  # v1: one chain, every message as in v1
    else:
        graph = _graph(checker, program, per_output)
        del program
    found, tried = checker.sections(sections)
    c = checker.catalog
    if per_output.losses:
        tried["loss"] = per_output.losses[0][1]

    optimizer = loss = None
    loss_key = ""
    if "optimizer" in found:
        optimizer, _ = checker.compile_arg(
            found["optimizer"][0], "optimizer", *c.compile_table("optimizer")
        )
    if "loss" in found:
        loss, key = checker.compile_arg(found["loss"][0], "loss", *c.compile_table("loss"))
        loss_key = key or ""
    losses, loss_weights, output_metrics = per_output.compile(checker, found, tried)
    if losses:
        loss, loss_key = losses[0][1], losses[0][2]
    missing = [k for k in ("optimizer", "loss") if k not in tried and k not in checker.swallowed]
    if missing:
        checker.error(
            f"the model has no {' and no '.join(missing)}",
            nodes.Span(end.end_line, end.end_column, end.end_line, end.end_column + 1),
            "after the layers, add `; OPTIMIZER; LOSS`, e.g. `; adam; categorical_crossentropy`",
        )
    metrics: list[ir.CompileArg] = []
    first_of: dict[tuple, nodes.Call] = {}  # each metric's first call, by what it compiles to
    for call in checker.without_none(found.get("metrics", [])):  # `metrics none`: none
        metric, key = checker.compile_arg(call, "metric", *c.compile_table("metrics"))
        if metric is None:
            continue
        same = (key, metric.call.args, metric.call.kwargs) if metric.call else (key,)
        if same in first_of:
            first = first_of[same]
            checker.warning(
                f"the metric `{call.name}` is listed twice",
                call.span,
                f"it is already at line {first.span.line}, column {first.span.column} "
                f"(`{first.name}`); Keras would compute it twice: remove one",
            )
        first_of.setdefault(same, call)
        metrics.append(metric)
    several = per_output.outputs is not None and len(per_output.outputs) > 1
    if "metrics" not in found and not output_metrics:
        if several:  # v1's default, per output: Keras wants metrics per output then
            keys = {name: key for name, _, key in losses} or dict.fromkeys(
                per_output.outputs or (), loss_key
            )
            output_metrics = [
                (name, (ir.CompileArg(shorthand="accuracy"),))
                for name, key in keys.items()
                if key in CROSSENTROPY_LOSSES
            ]
        elif (loss_key or "") in CROSSENTROPY_LOSSES:
            metrics.append(ir.CompileArg(shorthand="accuracy"))
    elif several and metrics:
        checker.error(
            "a model with several outputs takes its metrics per output",
            tried["metrics"],
            "name the output: `metrics @price mae`",
        )
    fit = checker.fit(found["fit"][0]) if "fit" in found else ()
    callbacks = checker.callbacks(found.get("callbacks", []), tuple(metrics), fit)

    if any(d.severity == "error" for d in checker.diagnostics):
        raise SourceError(source, checker.diagnostics)
    assert graph is not None and optimizer is not None and loss is not None
    inputs, graph_nodes, outputs = graph
    model = ir.Model(
        inputs=inputs,
        nodes=graph_nodes,
        outputs=outputs,
        optimizer=optimizer,
        loss=loss,
        metrics=tuple(metrics),
        fit=fit,
        loss_key=loss_key,
        output_names=per_output.outputs or () if several or losses else (),
        losses=tuple((name, arg) for name, arg, _ in losses),
        loss_keys=tuple((name, key) for name, _, key in losses),
        loss_weights=tuple(loss_weights),
        output_metrics=tuple(output_metrics),
        blocks=per_output.blocks,
        program=per_output.program,
        instance_sites=per_output.sites,
        callbacks=callbacks,
    )
    if warnings is not None:
        warnings.extend(checker.diagnostics)
    return model


class _PerOutput:
    """The v2 sections about outputs: `outputs @a @b`, `loss @a LOSS [weight=W]` and
    `metrics @a M, ...`; and what the graph builder found (outputs, written form)."""

    def __init__(self) -> None:
        self.outputs_section: nodes.Section | None = None
        self.losses: list[tuple[nodes.Ref, nodes.Span, nodes.Call, nodes.Value | None]] = []
        self.metrics: list[tuple[nodes.Ref, nodes.Span, list[nodes.Call]]] = []
        self.outputs: tuple[str, ...] | None = None  # each output's name, once known
        self.blocks: tuple[ir.Block, ...] = ()
        self.program: ir.Graph | None = None
        self.sites: tuple[tuple[str, str], ...] = ()

    def take(self, checker: _Checker, sections: tuple[nodes.Section, ...]):
        """The sections left for `_Checker.sections`, after taking the ones about outputs."""
        rest: list[nodes.Section] = []
        for section in sections:
            head = section.calls[0]
            first = head.args[0] if head.args else None
            names_output = isinstance(first, nodes.Positional) and isinstance(
                first.value, nodes.Ref
            )
            if head.name == "outputs":
                if self.outputs_section is not None:
                    checker.error(
                        "the outputs are given twice",
                        section.span,
                        "list every output in one section: `outputs @a @b`",
                    )
                self.outputs_section = section
            elif head.name == "loss" and names_output:
                assert isinstance(first, nodes.Positional) and isinstance(first.value, nodes.Ref)
                call = self.named_call(checker, head, "loss", "loss @price mse")
                if call is None:
                    continue
                weight = next(
                    (
                        a.value
                        for a in call.args
                        if isinstance(a, nodes.Keyword) and a.name == "weight"
                    ),
                    None,
                )
                args = tuple(
                    a
                    for a in call.args
                    if not (isinstance(a, nodes.Keyword) and a.name == "weight")
                )
                call = dataclasses.replace(call, args=args)
                self.losses.append((first.value, section.span, call, weight))
                if len(section.calls) > 1:
                    checker.error(
                        "a loss section takes one loss",
                        section.calls[1].span,
                        "one loss per output",
                    )
            elif head.name == "metrics" and names_output:
                assert isinstance(first, nodes.Positional) and isinstance(first.value, nodes.Ref)
                call = self.named_call(checker, head, "metrics", "metrics @kind accuracy")
                if call is not None:
                    self.metrics.append((first.value, section.span, [call, *section.calls[1:]]))
            else:
                rest.append(section)
        return tuple(rest)

    @staticmethod
    def named_call(checker: _Checker, head: nodes.Call, kind: str, example: str):
        """`loss @a mse weight=2` → the call `mse weight=2`."""
        if len(head.args) < 2 or not (
            isinstance(head.args[1], nodes.Positional)
            and isinstance(head.args[1].value, nodes.Name)
        ):
            checker.error(f"`{kind} @output` needs a name after it", head.span, f"e.g. `{example}`")
            return None
        name = head.args[1].value
        return nodes.Call(name.name, head.args[2:], head.span, name.span)

    def compile(self, checker: _Checker, found: dict, tried: dict):
        """Per-output losses `(name, loss, key)`, loss weights and metrics, checked
        against the model's outputs."""
        losses: list[tuple[str, ir.CompileArg, str]] = []
        weights: list[tuple[str, float]] = []
        metrics: list[tuple[str, tuple[ir.CompileArg, ...]]] = []
        outputs = self.outputs or ()
        c = checker.catalog
        if self.losses and "loss" in found:
            checker.error(
                "a loss for every output and a loss per output cannot be mixed",
                found["loss"][0].span,
                "name the output of each loss: `loss @price mse`",
            )
        seen: dict[str, nodes.Span] = {}
        for ref, span, call, weight in self.losses:
            if not self.is_output(checker, ref, outputs):
                continue
            if ref.name in seen:
                checker.error(
                    f"`@{ref.name}` has two losses",
                    ref.span,
                    f"the first is at line {seen[ref.name].line}: keep one",
                )
                continue
            seen[ref.name] = span
            loss, key = checker.compile_arg(call, "loss", *c.compile_table("loss"))
            if loss is not None:
                losses.append((ref.name, loss, key or ""))
            if weight is not None:
                value = checker.value(weight, "`weight` of a loss")
                if type(value) not in (int, float) or value < 0:  # type: ignore[operator]
                    checker.error(
                        f"a loss weight is a number ≥ 0, not `{show_value(value)}`",
                        weight.span,
                        "e.g. `weight=0.2`",
                    )
                else:
                    weights.append((ref.name, float(value)))  # type: ignore[arg-type]
        if self.losses and len(seen) < len(outputs):
            missing = [name for name in outputs if name not in seen]
            checker.error(
                f"the output{'s' if len(missing) > 1 else ''} "
                + ", ".join(f"`@{m}`" for m in missing)
                + " ha"
                + ("ve" if len(missing) > 1 else "s")
                + " no loss",
                self.losses[-1][1],
                f"add `loss @{missing[0]} LOSS`",
            )
        for ref, _, calls in self.metrics:
            if not self.is_output(checker, ref, outputs):
                continue
            compiled = []
            for call in calls:
                metric, _ = checker.compile_arg(call, "metric", *c.compile_table("metrics"))
                if metric is not None:
                    compiled.append(metric)
            metrics.append((ref.name, tuple(compiled)))
        if weights:  # with one weight given, every output gets one (1.0 unless given)
            given = dict(weights)
            weights = [(name, given.get(name, 1.0)) for name, _, _ in losses]
        return losses, weights, metrics

    @staticmethod
    def is_output(checker: _Checker, ref: nodes.Ref, outputs: tuple[str, ...]) -> bool:
        if ref.name in outputs:
            return True
        checker.error(
            f"`@{ref.name}` is not an output of the model",
            ref.span,
            did_you_mean(ref.name, outputs, prefix="@")
            or (
                "outputs: " + ", ".join(f"@{o}" for o in outputs)
                if outputs
                else "list it: `outputs @a @b`"
            ),
        )
        return False


def _graph(checker: _Checker, program: nodes.Program, per_output: _PerOutput) -> ir.Graph | None:
    """The graph of a v2 program (`kdsl.semantics.graph`), its outputs, and the written
    form where it has blocks or repeats."""
    builder = GraphBuilder(checker, program)
    scope = builder.build()
    # A block's body is checked per instance: say each problem once, where it is written.
    unique = {(d.message, d.span, d.severity): d for d in checker.diagnostics}
    checker.diagnostics[:] = list(unique.values())
    if builder.too_big or any(d.severity == "error" for d in checker.diagnostics):
        return None
    outputs: list[ir.NodeId] = []
    names: list[str] = []
    section = per_output.outputs_section
    if section is not None:
        head = section.calls[0]
        for arg in head.args:
            if not (isinstance(arg, nodes.Positional) and isinstance(arg.value, nodes.Ref)):
                checker.error(
                    "`outputs` lists named tensors", arg.span, "e.g. `outputs @price @kind`"
                )
                continue
            found = scope.find(arg.value.name)
            if found is None:
                builder.unknown_reference(arg.value, scope)
                continue
            if found[0] in outputs:
                checker.error(f"`@{arg.value.name}` is listed twice", arg.span, "list it once")
                continue
            outputs.append(found[0])
            names.append(arg.value.name)
        if not head.args:
            checker.error("`outputs` lists named tensors", head.span, "e.g. `outputs @a @b`")
    elif builder.heads:
        outputs = list(builder.heads)
    elif builder.chain_ends:
        outputs = [builder.chain_ends[-1][0]]
    label_of = {node_id: name for name, (node_id, _) in scope.labels.items()}
    if not names:
        names = [label_of.get(o, "") for o in outputs]
    builder.read.update(outputs)
    for node_id, span in builder.chain_ends:
        if node_id not in builder.read:
            checker.error(
                "this chain's result is never used",
                span,
                "refer to it (`concatenate @x`) or list it as an output: `outputs @a @b`",
            )
    if any(model_input in outputs for model_input in (i.id for i in builder.inputs)):
        checker.error(
            "an output is an input itself",
            section.span if section else program.chains[-1].span,
            "an output must be a layer's result",
        )
    several = len(outputs) > 1 or per_output.losses or per_output.metrics
    if several and any(not name for name in names):
        checker.error(
            "a model with several outputs names each one",
            program.chains[-1].span,
            "label each output, `price: dense 1`, and list them: `outputs @price @kind`",
        )
    if any(d.severity == "error" for d in checker.diagnostics):
        return None
    nodes_out = list(builder.nodes)
    if several:  # each output's last layer gets its label as its Keras name
        per_output.outputs = tuple(names)
        index = {node.id: i for i, node in enumerate(nodes_out)}
        for node_id, name in zip(outputs, names, strict=True):
            node = nodes_out[index[node_id]]
            if node.call.kwarg("name") is None:
                call = dataclasses.replace(node.call, kwargs=(*node.call.kwargs, ("name", name)))
                nodes_out[index[node_id]] = dataclasses.replace(node, call=call)
    if program.blocks or _has_repeat(program):
        said = len(checker.diagnostics)
        written = GraphBuilder(checker, program, symbolic=True)
        written_scope = written.build()
        del checker.diagnostics[said:]
        labels = {n: i for n, (i, _) in written_scope.labels.items()}
        written_outputs = [labels.get(name, "") for name in names] if several else []
        if not written_outputs or not all(written_outputs):
            ends = written.heads or [e for e, _ in written.chain_ends[-1:]]
            written_outputs = ends
        per_output.blocks = tuple(written.written_blocks)
        per_output.program = (tuple(written.inputs), tuple(written.nodes), tuple(written_outputs))
    per_output.sites = tuple(builder.sites.items())
    return tuple(builder.inputs), tuple(nodes_out), tuple(outputs)


def _has_repeat(program: nodes.Program) -> bool:
    def walk(chain: nodes.Chain) -> bool:
        return any(
            element.repeat is not None
            or (isinstance(element.atom, nodes.Group) and any(map(walk, element.atom.branches)))
            for element in chain.elements
        )

    return any(map(walk, program.chains))


def _shared_inputs(model: ir.Model, summary: Summary) -> ir.Model:
    """A shared block's written form with its input's shape and dtype (its first use's):
    the script builds it once, as a sub-model with its own `keras.Input`."""
    blocks = []
    for block in model.blocks:
        first = next(
            (n for n in model.nodes if block.shared and n.scope[-1:] == (block.name,)), None
        )
        if first is not None:
            feed = first.inputs[0]
            row = summary.row(feed)
            kwargs: tuple[tuple[str, ir.PyValue], ...] = ()
            if row is not None and row.output_shape is not None:
                dims = row.output_shape[1:]
            elif any(source.id == feed for source in model.inputs):  # fed by a model input
                source = model.input_node(feed)
                dims, kwargs = source.shape, tuple((k, v) for k, v in source.kwargs if k == "dtype")
            else:  # after a layer whose shape is unknown (an error said why)
                blocks.append(block)
                continue
            inputs = (dataclasses.replace(block.inputs[0], shape=dims, kwargs=kwargs),)
            block = dataclasses.replace(block, inputs=inputs)
        blocks.append(block)
    return dataclasses.replace(model, blocks=tuple(blocks))


def _with_block_notes(model: ir.Model, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Shape problems inside a block's body, each with the calls that reached it (the
    first instance with the problem), and each said once."""
    sites = dict(model.instance_sites)
    scopes: dict[nodes.Span, tuple[str, ...]] = {}
    for node in model.nodes:
        if node.scope and node.call.span is not None:
            scopes.setdefault(node.call.span, node.scope)
            for _, span in node.call.arg_spans:
                scopes.setdefault(span, node.scope)
    said: dict[tuple, Diagnostic] = {}
    for diagnostic in diagnostics:
        scope = scopes.get(diagnostic.span) if diagnostic.span else None
        if scope:
            notes = tuple(sites[name] for name in reversed(scope) if name in sites)
            diagnostic = dataclasses.replace(diagnostic, notes=notes)
        said.setdefault((diagnostic.message, diagnostic.span, diagnostic.severity), diagnostic)
    return list(said.values())


# Whole numbers beyond this are refused, as literals of more than 64 digits are.
_LARGEST_WHOLE = 10**64
_LARGEST_BITS = math.log2(_LARGEST_WHOLE)
_ARITH_HINTS = {
    "divides by zero": "check the divisor; Keras would fail on the same Python",
    "is too large": "kdsl reads whole numbers of up to 64 digits and floats up to about 1.8e308",
    "is not a real number": "a fractional power of a negative number is complex; Keras takes "
    "real numbers",
}


def _apply(op: str, left: int | float, right: int | float) -> int | float | str:
    """`left op right` as Python computes it, or what is wrong with it (a key of
    `_ARITH_HINTS`). Bounded: a power whose result would exceed the largest whole number
    is refused before it is computed, so folding never takes long."""
    try:
        if op == "**":
            whole = isinstance(left, int) and isinstance(right, int) and right > 0
            if whole and abs(left) > 1 and right * math.log2(abs(left)) > _LARGEST_BITS:
                return "is too large"
            result = left**right
        elif op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            result = left / right
        elif op == "//":
            result = left // right
        else:
            result = left % right
    except ZeroDivisionError:
        return "divides by zero"
    except OverflowError:
        return "is too large"
    if isinstance(result, complex):
        return "is not a real number"
    if isinstance(result, int) and abs(result) >= _LARGEST_WHOLE:
        return "is too large"
    if isinstance(result, float) and not math.isfinite(result):
        return "is too large"  # finite operands: an overflow to infinity
    return result


def _arith_text(value: nodes.Value) -> str:
    """Arithmetic as Python writes it (`1 / 255`), for messages; shortened if long."""

    def text(node: nodes.Value) -> str:
        if isinstance(node, nodes.BinOp):
            return f"({text(node.left)} {node.op} {text(node.right)})"
        if isinstance(node, nodes.Neg):
            return f"-{text(node.operand)}"
        if isinstance(node, nodes.Number):
            return f"({node.text})" if node.text[0] in "+-" else node.text
        return "..."

    written = text(value)
    written = written[1:-1] if isinstance(value, nodes.BinOp) else written
    return written if len(written) <= 40 else written[:37] + "..."


# Where a diagnostic goes when the checker made the call itself (never: calls have spans).
_NOWHERE = nodes.Span(1, 1, 1, 2)


def _metric_name(metric: ir.CompileArg) -> str:
    """The name `fit` logs a metric under: the string as written (Keras names a metric
    given by name so), or an object's `name=`, else its kdsl name (`auc`)."""
    if metric.call is None:
        return str(metric.shorthand)
    return str(metric.call.kwarg("name") or metric.call.written)


def _mentions(value: nodes.Value, names: frozenset[str]) -> bool:
    """Whether arithmetic reads one of these block parameters."""
    if isinstance(value, nodes.Name):
        return value.name in names
    if isinstance(value, nodes.BinOp):
        return _mentions(value.left, names) or _mentions(value.right, names)
    if isinstance(value, nodes.Neg):
        return _mentions(value.operand, names)
    return False


def _expression(value: nodes.Value) -> ir.PyValue:
    """Arithmetic on block parameters as the written form keeps it (`ir.Expr`)."""
    if isinstance(value, nodes.Name):
        return ir.Param(value.name)
    if isinstance(value, nodes.BinOp):
        return ir.Expr(value.op, (_expression(value.left), _expression(value.right)))  # type: ignore[arg-type]
    if isinstance(value, nodes.Neg):
        return ir.Expr("-", (_expression(value.operand),))  # type: ignore[arg-type]
    if isinstance(value, nodes.Number):
        return value.value
    return None


def _finite(value: ir.PyValue) -> bool:
    """Whether a number, or every number of a tuple, is finite."""
    if isinstance(value, tuple):
        return all(_finite(item) for item in value)
    return not isinstance(value, float) or math.isfinite(value)


def _plan(call: nodes.Call) -> tuple | None:
    """What a layer's checked call depends on, as a key: its name and each argument's
    keyword and written value (numbers by their text and type: `-0.0` is not `0.0`); None
    where a value is more than a number, a name or a string. `in SHAPE` is the chain's."""
    plan: list[tuple] = []
    for arg in call.args:
        if type(arg) is nodes.InputShape:
            continue
        value = arg.value
        if isinstance(value, nodes.Name):
            written: tuple = (nodes.Name, value.name)
        elif isinstance(value, nodes.Number):
            written = (nodes.Number, value.text, type(value.value), value.value)
        elif isinstance(value, nodes.String):
            written = (nodes.String, value.value)
        else:
            return None
        plan.append((arg.name if type(arg) is nodes.Keyword else None, written))
    return (call.name, *plan)


def _copied(span: nodes.Span) -> nodes.Span:
    """An equal span of the model's own. The model of a large chain is made as its tree
    is let go of (`_Checker.chain`); were its spans the tree's, they would pin the
    tree's memory (Python returns a block of small objects only once all are freed):
    at 100,000 layers, 11 MB more at the peak than copying them costs."""
    return int.__new__(nodes.Span, span)


def _placed(checked: ir.KerasCall, call: nodes.Call) -> ir.KerasCall:
    """`checked` (a layer written as `call` is, checked without a word said) at `call`'s
    place: its spans, in the order `bind` gave them."""
    return ir.KerasCall(
        module=checked.module,
        class_name=checked.class_name,
        args=checked.args,
        kwargs=checked.kwargs,
        span=_copied(call.span),
        written=call.name,
        arg_names=checked.arg_names,
        value_spans=tuple(
            _copied(arg.value.span) for arg in call.args if type(arg) is not nodes.InputShape
        ),
    )


def _with_module(call: ir.KerasCall, module: str) -> ir.KerasCall:
    return dataclasses.replace(call, module=module)


def _without(entry: Entry, param: str) -> Entry:
    params = tuple(p for p in entry.params if p.name != param)
    return Entry(entry.key, entry.class_name, params, entry.shorthand, (), entry.category)


def _is_range(param: Param) -> bool:
    """Whether an argument within bounds also takes a pair, as the catalog found Keras
    checks it (`factor=(0.1, 0.3)` of the random image layers; a dropout's `rate` is no
    pair)."""
    return param.bounds is not None and param.pairs is not None


def _is_pair(value: ir.PyValue, kind: str) -> bool:
    """Whether `value` is two numbers (`kind` "numbers") or two whole numbers ≥ 1."""
    if not isinstance(value, tuple) or len(value) != 2:
        return False
    if kind == "numbers":  # a range of values: the low end first (Keras divides by it)
        numbers = all(value_kind(item) in ("int", "float") for item in value)
        return numbers and value[0] < value[1]
    return all(type(item) is int and item >= 1 for item in value)


def _inside(bounds: Bounds) -> str:
    """A number within `bounds`: between them, or next to the one bound."""
    low, high = bounds.low, bounds.high
    if low is not None and high is not None:
        return show_value((low + high) / 2)
    if low is not None:
        return show_value(low + 1 if bounds.low_open else low)
    if high is not None:
        return show_value(high - 1 if bounds.high_open else high)
    return "0"


def _example(param: Param) -> str | None:
    """A value for `param` that Keras takes, as kdsl writes it: its default, where it has
    one that is not none, or a name it takes."""
    if param.kind is not None:
        return show_value(param.kind if not isinstance(param.kind, list) else tuple(param.kind))
    return param.enum[0] if param.enum else None


def _param_list(entry: Entry) -> str:
    names = [p.name for p in entry.params]
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "no arguments"
