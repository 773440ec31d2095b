"""Text → syntax tree (`kdsl.language.nodes`), with syntax errors in words a user knows."""

from __future__ import annotations

import ast
import gc
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from sys import intern
from typing import Any, NoReturn, cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import UnlessCallback
from lark.parsers.lalr_analysis import Shift

from kdsl.errors import Diagnostic, Source, SourceError
from kdsl.language import nodes
from kdsl.resources import read_text

# How each terminal is described in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "DIMS": "a shape like 28x28",
    "STRING": "a quoted string",
    "IN": "`in`",
    "REF": "`@name`",
    "CALLEE": "a call like `l2(0.01)`",
    "NEG": "`-`",
    "GPLUS": "`+`",
    "GMINUS": "`-`",
    "GSTAR": "`*`",
    "GSLASH": "`/`",
    "GDSLASH": "`//`",
    "GPERCENT": "`%`",
    "GPOW": "`**`",
    "$END": "the end of the file",
}


@cache
def lark_parser(keep_all_tokens: bool = False) -> Lark:
    """The grammar's LALR parser; `kdsl fmt` keeps punctuation in the tree with
    `keep_all_tokens` (a one-item tuple's comma)."""
    grammar = read_text("grammar", "kdsl.lark")
    # cache=True keeps the built LALR tables in a temp file: ~50 ms saved per process.
    return Lark(
        grammar,
        parser="lalr",
        keep_all_tokens=keep_all_tokens,
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


def _span(item) -> nodes.Span:
    kind = type(item)
    if kind is nodes.Span:  # the fast path's positions are spans already
        return item
    if kind is _Lexeme:
        return item.span
    return nodes.Span(item.line, item.column, item.end_line, item.end_column)


class _Lexeme:
    """A token of `_fast_parse`: what `_Builder` reads of lark's `Token` (its text by
    `str`, its terminal as `type`, its place by `_span`), without building one (a str
    subclass made from eight arguments, with a dict) for each of a program's tokens."""

    __slots__ = ("type", "value", "span")

    def __init__(self, kind: str, value: str, span: nodes.Span) -> None:
        self.type = kind
        self.value = value
        self.span = span

    def __str__(self) -> str:
        return self.value

    def __contains__(self, part: str) -> bool:
        return part in self.value

    def __float__(self) -> float:
        return float(self.value)


@v_args(meta=True)
class _Builder(Transformer):
    """Builds `kdsl.language.nodes` from lark's tree; it never judges what it builds."""

    def start(self, meta, children):
        blocks = tuple(c for c in children if isinstance(c, nodes.BlockDef))
        chains = tuple(c for c in children if isinstance(c, nodes.Chain))
        sections = tuple(c for c in children if isinstance(c, nodes.Section))
        first = chains[0].elements
        plain = all(element.is_plain for element in first)
        layers = tuple(cast(nodes.Call, element.atom) for element in first) if plain else ()
        return nodes.Program(layers=layers, sections=sections, chains=chains, blocks=blocks)

    def chain(self, meta, elements):
        return nodes.Chain(tuple(elements), _span(meta))

    def later_chain(self, meta, elements):
        return nodes.Chain(tuple(elements), _span(meta))

    def ref_chain(self, meta, children):
        token, *rest = children
        ref = nodes.Ref(str(token)[1:], _span(token))
        first = nodes.Element(ref, ref.span)
        return nodes.Chain((first, *rest), _span(meta))

    def element(self, meta, children):
        atom, *rest = children
        repeat = rest[0][0] if rest else None
        return nodes.Element(atom, _span(meta), repeat=repeat)

    def labelled(self, meta, children):
        label, atom, *rest = children
        repeat = rest[0][0] if rest else None
        return nodes.Element(atom, _span(meta), nodes.Label(str(label), _span(label)), repeat)

    def repeat(self, meta, children):
        (token,) = children
        count: nodes.Number | nodes.Name | nodes.ValueCall
        if isinstance(token, nodes.ValueCall):  # a search space (`* int(1, 4)`)
            return (token, token)
        if token.type == "INT":
            count = nodes.Number(_int(str(token)), str(token), _span(token))
        else:
            count = nodes.Name(str(token), _span(token))
        return (count, token)  # the token, for a message about the repeat itself

    def ref(self, meta, children):
        (token,) = children
        return nodes.Ref(str(token)[1:], _span(token))

    def group(self, meta, branches):
        return nodes.Group(tuple(branches), _span(meta))

    def def_block(self, meta, children):
        name, *rest = children
        *params, body = rest
        return nodes.BlockDef(str(name), tuple(params), body, _span(meta), _span(name))

    def shared_block(self, meta, children):
        name, body = children
        return nodes.BlockDef(str(name), (), body, _span(meta), _span(name), shared=True)

    def param(self, meta, children):
        (token,) = children
        return nodes.Param(str(token), _span(token))

    def param_default(self, meta, children):
        token, value = children
        return nodes.Param(str(token), _span(meta), default=value)

    def tensor_param(self, meta, children):
        (token,) = children
        return nodes.Param(str(token)[1:], _span(token), tensor=True)

    def body(self, meta, chains):
        return tuple(chains)

    def section(self, meta, calls):
        return nodes.Section(tuple(calls), _span(meta))

    def call(self, meta, children):
        name, *args = children
        args = tuple(a if not _is_value(a) else nodes.Positional(a, a.span) for a in args)
        return nodes.Call(str(name), args, _span(meta))  # its name starts its span

    def keyword(self, meta, children):
        name, value = children
        return nodes.Keyword(str(name), value, _span(meta))  # its name starts its span

    def input_shape(self, meta, children):
        return nodes.InputShape(children[0], _span(meta))

    def int(self, meta, children):
        (token,) = children
        return nodes.Number(_int(str(token)), str(token), _span(token))

    def float(self, meta, children):
        (token,) = children
        return nodes.Number(float(token), str(token), _span(token))

    def dims(self, meta, children):
        (token,) = children
        span = _span(token)
        items = tuple(nodes.Number(_int(d), d, span) for d in str(token).split("x"))
        return nodes.Tuple(items, span, shorthand=True)

    def string(self, meta, children):
        (token,) = children
        if "\r" in token:  # Python reads a raw carriage return as the end of the line
            raise _BadToken(
                "this string holds a carriage return (`\\r`) written as is",
                token,
                "write it as the escape `\\r`, or remove it",
            )
        # The token's shape is checked by the grammar; literal_eval only decodes escapes.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # `"\w"`: Python warns, kdsl refuses
                value = ast.literal_eval(str(token))
        except (SyntaxError, ValueError, Warning):
            raise _BadToken(
                "this string has an escape Python does not know",
                token,
                "use `\\\\` for a backslash; known escapes are \\n \\t \\\" \\' \\xHH \\uHHHH",
            ) from None
        return nodes.String(value, _span(token))

    def name(self, meta, children):
        (token,) = children
        return nodes.Name(str(token), _span(token))

    def tuple(self, meta, children):
        return nodes.Tuple(tuple(c for c in children if c is not None), _span(meta))

    def paren(self, meta, children):
        """`(1/255)` groups arithmetic; `(3)` stays v1's one-item tuple (a shape `(4)`)."""
        (inner,) = children
        if isinstance(inner, nodes.BinOp | nodes.Neg):
            return inner
        return nodes.Tuple((inner,), _span(meta), grouping=True)

    def binop(self, meta, children):
        left, operator, right = children
        signed = isinstance(left, nodes.Number) and left.text[0] in "+-"  # not `(-2)`
        left, right, op = _operand(left), _operand(right), str(operator)
        if op == "**" and signed and isinstance(left, nodes.Number):
            # `-2**2` is -(2**2) in Python, though the lexer reads `-2` as one number.
            number = nodes.Number(abs(left.value), left.text[1:], left.span)
            power = nodes.BinOp(op, number, right, _span(meta))
            return power if left.text[0] == "+" else nodes.Neg(power, _span(meta))
        return nodes.BinOp(op, left, right, _span(meta))

    def neg(self, meta, children):
        return nodes.Neg(_operand(children[-1]), _span(meta))

    def value_call(self, meta, children):
        callee, *args = children
        name = str(callee)[:-1]  # the token is the name with its `(`
        start = _span(callee)
        name_span = nodes.Span(start.line, start.column, start.line, start.column + len(name))
        positioned = tuple(
            nodes.Positional(a, a.span) if _is_value(a) else a for a in args if a is not None
        )
        return nodes.ValueCall(name, positioned, _span(meta), name_span)

    def dict(self, meta, children):
        return nodes.Dict(tuple(c for c in children if c is not None), _span(meta))

    def pair(self, meta, children):
        key, value = children
        return (key, value)


def _operand(value: nodes.Value) -> nodes.Value:
    """An operand as Python reads it: `(3)` in `-(3)` or `(3)*2` is the number 3."""
    if isinstance(value, nodes.Tuple) and value.grouping:
        return value.items[0]
    return value


class _BadToken(Exception):
    """A token the grammar accepts but whose value cannot be read (a bad escape)."""

    def __init__(self, message: str, token: Token, hint: str):
        super().__init__(message)
        self.token = token
        self.hint = hint


def _int(text: str) -> int | float:
    """An integer literal; absurdly long ones become infinity, which the checker refuses
    (Python will not even convert integers of more than 4,300 digits)."""
    return int(text) if len(text.lstrip("+-")) <= 64 else math.inf


def _is_value(item) -> bool:
    return isinstance(item, nodes.VALUE_TYPES)


def parse(source: Source) -> nodes.Program:
    """Parse a whole program or raise `SourceError` with one friendly diagnostic."""
    if not source.text.strip() or not _has_code(source.text):
        raise SourceError(
            source,
            [
                Diagnostic(
                    "the file holds no model",
                    _end_of_file(source),
                    hint="write a layer chain, an optimizer and a loss, e.g. "
                    "`dense 3 softmax in 4; adam; categorical_crossentropy`",
                )
            ],
        )
    with collector_paused():
        try:
            return _fast_parse(source.text)
        except (_Fallback, _BadToken):
            return _full_parse(source)  # the same tree, or the error in a user's words


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector: a large program's tree (and its model) is millions
    of small objects that all live to the end, without a cycle among them; the
    collector's passes over them freed nothing and took 40% of a compile's time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _full_parse(source: Source) -> nodes.Program:
    """Lark's own lexer, parser and tree: slower than `_fast_parse`, but it knows what a
    syntax error expected, for the diagnostic."""
    try:
        _check_nesting(source)
        tree = lark_parser().parse(source.text)
    except UnexpectedInput as error:
        raise SourceError(source, [_syntax_diagnostic(source, error)]) from None
    try:
        return _Builder().transform(tree)
    except Exception as error:  # lark wraps builder errors in VisitError
        original = getattr(error, "orig_exc", error)
        if isinstance(original, _BadToken):
            diagnostic = Diagnostic(str(original), _span(original.token), original.hint)
            raise SourceError(source, [diagnostic]) from None
        raise


class _Fallback(Exception):
    """The fast path stops: a syntax error, or values nested or long enough to be near
    the limits. `_full_parse` reads the text again and says what is wrong, if anything."""


class _Rule:
    """What a reduction by one grammar rule does, worked out once from lark's tables: the
    children it keeps (lark drops punctuation and splices `_rule`s and `x*` repeats
    into their parent) and the `_Builder` method it calls."""

    __slots__ = ("size", "origin", "keep", "splice", "expand1", "inline", "build", "passthrough")

    def __init__(self, rule: Any, builder: _Builder):
        self.size = len(rule.expansion)
        self.origin = rule.origin.name
        keep = [
            (index, not symbol.is_term and symbol.name.startswith("_"))
            for index, symbol in enumerate(rule.expansion)
            if rule.options.keep_all_tokens or not (symbol.is_term and symbol.filter_out)
        ]
        self.keep = tuple(index for index, _ in keep)
        self.splice = tuple(index for index, splice in keep if splice)
        self.expand1 = bool(rule.options.expand1 and not rule.alias)
        self.inline = self.origin.startswith("_")  # spliced into its parent: a list
        # `?value: gsum`: the child is the value, in the same place (most reductions).
        self.passthrough = self.expand1 and self.size == 1 and self.keep == (0,)
        name = rule.alias or rule.options.template_source or self.origin
        method = type(builder).__dict__.get(name)
        method = getattr(method, "base_func", method)  # the function under v_args
        self.build: Callable[..., Any] | None = (
            method.__get__(builder) if callable(method) and not name.startswith("_") else None
        )


@cache
def _fast_tables() -> tuple[dict, dict, int, int, dict]:
    """lark's LALR table with each reduction as a `_Rule`, and each state's lexer as
    (the compiled pattern's `match`, the ignored terminals, the words that turn a
    `NAME` into a keyword): what lark's contextual lexer uses, without its objects;
    then the runs of pass-through reductions met so far (`_passes`)."""
    frontend = lark_parser().parser
    table = frontend.parser.parser.parse_table
    builder = _Builder()
    rules: dict[Any, _Rule] = {}
    states: dict[int, dict[str, tuple[bool, Any]]] = {}
    for state, actions in table.states.items():
        states[state] = {
            terminal: (True, arg)
            if action is Shift
            else (False, rules.setdefault(arg, _Rule(arg, builder)))
            for terminal, (action, arg) in actions.items()
        }
    lexers: dict[int, tuple] = {}
    for state, lexer in frontend.lexer.lexers.items():
        (pattern,) = lexer.scanner._mres
        keywords: dict[str, dict[str, str]] = {}
        for kind, callback in lexer.callback.items():
            if not isinstance(callback, UnlessCallback):
                raise TypeError(f"the fast path does not know lark's callback {callback!r}")
            words = keywords[kind] = {}
            for terminal in callback.scanner.terminals:
                if terminal.pattern.type != "str" or terminal.pattern.flags:
                    raise TypeError(f"the fast path does not know {terminal!r}")
                words[terminal.pattern.value] = terminal.name
        lexers[state] = (pattern.match, lexer.ignore_types, keywords)
    start = table.start_states["start"]
    return states, lexers, start, table.end_states["start"], {}


def _passes(states: dict, below: int, state: int, kind: str) -> int:
    """The state after the run of pass-through reductions (`?value: gsum`, six in a row
    for a plain number) that `kind` starts on top of `below`: each only replaces the
    state on top, so the run depends on these three alone, and is worked out once."""
    start = state
    action = states[state][kind]
    while True:
        state = states[below][action[1].origin][1]
        action = states[state].get(kind)
        if action is None or action[0] or not action[1].passthrough:
            break
    _fast_tables()[4][below, start, kind] = state
    return state


def _fast_parse(text: str) -> nodes.Program:
    """The tree `_full_parse` builds, in one pass: lark's contextual lexer and LALR
    table driven here, each reduction calling its `_Builder` method at once, with
    positions computed as lark's `propagate_positions` does (a node spans its first
    child to its last, punctuation included). Raises `_Fallback` where lark would
    raise a syntax error, and where `_check_nesting` might refuse the text."""
    states, lexers, state, end_state, passes = _fast_tables()
    Span = nodes.Span  # noqa: N806 - a local for speed, in the loop below
    joined = Span.joined
    state_stack = [state]
    values: list[Any] = []
    token: _Lexeme | None
    span: nodes.Span | None
    places: list[Any] = []  # each value's span: its token's, or its rule's
    pos, line, line_start, end = 0, 1, 0, len(text)
    depth = operators = previous_end = 0
    while True:
        if pos < end:
            match, ignore, keywords = lexers[state]
            found = match(text, pos)
            if found is None:
                raise _Fallback
            kind = found.lastgroup
            value = found.group()
            length = len(value)
            if kind in ignore:
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = pos + value.rindex("\n") + 1
                pos += length
                continue
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            column = pos - line_start + 1
            span = Span(line, column, line, column + length)
            # One string per distinct word: a layer's name, its activation, its numbers'
            # text are the same few words a hundred thousand times in a large program.
            token = _Lexeme(kind, intern(value), span)
            # _check_nesting's count on the same tokens; far from its limits only.
            if depth == 0 and (kind in _BETWEEN_VALUES or pos > previous_end):
                operators = 0
            if kind in _OPENERS:
                depth += 1
                if depth > MAX_NESTING // 2:
                    raise _Fallback
            elif kind in _CLOSERS:
                depth -= 1
            elif kind in _COUNTED_OPERATORS:
                operators += 1
                if operators > MAX_OPERATORS // 2:
                    raise _Fallback
            pos += length
            previous_end = pos
            if "\n" in value:
                raise _Fallback  # no token but the ignored ones crosses a line
            if pos < end and text[pos] == " ":
                pos += 1  # the one space between most tokens, without the lexer's match
        else:
            kind = "$END"
            token = span = None
        while True:
            try:
                shift, arg = states[state][kind]
            except KeyError:
                raise _Fallback from None
            if shift:
                state = arg
                state_stack.append(state)
                values.append(token)
                places.append(span)
                break
            rule: _Rule = arg
            if rule.passthrough:
                below = state_stack[-2]
                state = passes.get((below, state, kind)) or _passes(states, below, state, kind)
                state_stack[-1] = state
                if token is None and state == end_state:
                    return cast(nodes.Program, values[-1])
                continue
            size = rule.size
            if not size:
                raise _Fallback
            children = values[-size:]
            first, last = places[-size], places[-1]
            del values[-size:], places[-size:], state_stack[-size:]
            place = first if size == 1 else joined(first, last)
            if rule.splice:
                kept: list[Any] = []
                for index in rule.keep:
                    if index in rule.splice:
                        if kept:
                            kept += children[index]
                        else:  # left recursion: `a*` grows one list
                            kept = children[index]
                    else:
                        kept.append(children[index])
            elif len(rule.keep) == size:
                kept = children
            else:
                kept = [children[index] for index in rule.keep]
            if rule.expand1 and len(kept) == 1:
                result = kept[0]  # `?rule` with one child is that child
                if type(result) is _Lexeme and size > 1:
                    raise _Fallback  # lark keeps the token's own position then
            elif rule.inline:
                result = kept
            elif rule.build is None:
                raise _Fallback
            else:
                result = rule.build(place, kept)
            state = states[state_stack[-1]][rule.origin][1]
            state_stack.append(state)
            values.append(result)
            places.append(place)
            if token is None and state == end_state:
                return cast(nodes.Program, values[-1])


MAX_NESTING = 16
# Tokens that open and close a nesting level: tuples, calls (`l2(`) and dicts.
_OPENERS = frozenset({"LPAR", "CALLEE", "LBRACE"})
_CLOSERS = frozenset({"RPAR", "RBRACE"})
# Tokens that end one value: operators before them do not count toward the next one's.
_BETWEEN_VALUES = frozenset({"COMMA", "SEMICOLON", "EQUAL", "COLON", "IN"})
MAX_OPERATORS = 64


def _check_nesting(source: Source) -> None:
    """Refuse absurd nesting and absurdly long arithmetic up front, so later passes never
    hit the recursion limit (a value's tree is as deep as its operators are many)."""
    depth = operators = 0
    previous_end = 0
    for token in lark_parser().lex(source.text, dont_ignore=False):
        start = token.start_pos or 0
        if depth == 0 and (token.type in _BETWEEN_VALUES or start > previous_end):
            operators = 0  # a new value starts: a new argument or section (brackets
            # count as one value with all they hold: its tree is as deep as those)
        previous_end = token.end_pos or 0
        if token.type in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                _refuse(source, token, f"tuples nest more than {MAX_NESTING} deep", "parentheses")
        elif token.type in _CLOSERS:
            depth -= 1
        elif token.type in _COUNTED_OPERATORS:
            operators += 1
            if operators > MAX_OPERATORS:
                _refuse(
                    source, token, f"a value has more than {MAX_OPERATORS} operators", "operators"
                )


def _refuse(source: Source, token: Token, message: str, what: str) -> NoReturn:
    hint = f"no Keras argument needs this; check the {what}"
    raise SourceError(source, [Diagnostic(message, _span(token), hint)])


def _has_code(text: str) -> bool:
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


_VALUE_TERMINALS = {"INT", "FLOAT", "DIMS", "STRING", "NAME", "LPAR", "CALLEE", "LBRACE", "NEG"}
# Arithmetic's operators, said as one word where many are expected.
_OPERATOR_TERMINALS = {
    "PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "PERCENT", "POW",
    "GPLUS", "GMINUS", "GSTAR", "GSLASH", "GDSLASH", "GPERCENT", "GPOW",
}  # fmt: skip
# What _check_nesting counts toward a value's operators.
_COUNTED_OPERATORS = frozenset(_OPERATOR_TERMINALS | {"NEG"})


def _expected_words(expected: set[str]) -> str:
    """Lark's terminal set in a user's words, with the many value tokens as one word."""
    terminals = {t.name: t for t in lark_parser().terminals}
    if len(expected) > 4 and expected & _VALUE_TERMINALS:
        expected = (expected - _VALUE_TERMINALS) | {"VALUE"}
    if len(expected) > 4 and expected & _OPERATOR_TERMINALS:
        expected = (expected - _OPERATOR_TERMINALS) | {"OPERATOR"}
    words: list[str] = []
    for name in sorted(expected, key=lambda n: (n == "$END", n)):
        if name == "VALUE":
            word = "an argument"
        elif name == "OPERATOR":
            word = "an operator"
        elif name in _TERMINAL_WORDS:
            word = _TERMINAL_WORDS[name]
        elif name in terminals and terminals[name].pattern.type == "str":
            word = f"`{terminals[name].pattern.value}`"
        else:
            word = name.lower()
        if word not in words:
            words.append(word)
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


# What must follow a token, said in terms of the language rather than of the grammar.
_AFTER = {
    "->": ("a layer after `->`", "`->` must be followed by a layer, e.g. `-> dense 3 relu`"),
    ";": (
        "a section after `;`",
        "after the layers come `;`-separated sections: optimizer, loss, then optional "
        "`metrics ...` and `fit ...`; remove a doubled `;`",
    ),
    ",": ("a metric after `,`", "metrics are listed as `metrics accuracy, auc`"),
    "=": ("a value after `=`", "keyword arguments are written `name=value`, e.g. `epochs=5`"),
    "in": ("a shape after `in`", "shapes look like `4`, `28x28x1` or `(None, 128)`"),
}


def _after(text: str, pos: int) -> tuple[str, str] | None:
    before = "\n".join(line.split("#", 1)[0] for line in text[:pos].split("\n")).rstrip()
    for token, words in _AFTER.items():
        if before.endswith(token) and (token != "in" or not before[-3:-2].isalnum()):
            return words
    return None


def _syntax_diagnostic(source: Source, error: UnexpectedInput) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        # lark declares `pos_in_stream = None` on the base class; its lexer always sets an int.
        pos = cast(int, error.pos_in_stream)
        char = source.text[pos] if pos < len(source.text) else ""
        span = nodes.Span(error.line, error.column, error.line, error.column + 1)
        return Diagnostic(
            f"unexpected character {char!r}",
            span,
            hint=_character_hint(source.text, pos),
        )
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        span = _end_of_file(source)
        after = _after(source.text, len(source.text))
        wanted = after[0] if after else _expected_words(set(error.expected))
        return Diagnostic(
            f"the file ends too early: expected {wanted}",
            span,
            hint=after[1] if after else "finish the last layer or section",
        )
    assert isinstance(error, UnexpectedToken)
    token = error.token
    line, column = error.line, error.column
    span = _span(token) if token.line is not None else nodes.Span(line, column, line, column + 1)
    expected = set(error.expected)
    if token.type == "COLON":  # `activation: relu`, or a label in the middle of a call
        return Diagnostic(
            "unexpected `:`",
            span,
            "keyword arguments are written `name=value`, e.g. `activation=relu`; a label "
            "goes before a layer, after `->`: `-> name: dense 4`",
        )
    after = _after(source.text, token.start_pos)
    if after is not None:
        return Diagnostic(
            f"unexpected {_describe_token(token)}: expected {after[0]}", span, after[1]
        )
    return Diagnostic(
        f"unexpected {_describe_token(token)}: expected {_expected_words(expected)}",
        span,
        hint=_token_hint(token, expected),
    )


def _end_of_file(source: Source) -> nodes.Span:
    """Just after the last character that is not white space (line 1 column 1 if none)."""
    last_line = max(1, len(source.text.rstrip().split("\n")))
    text = source.line(last_line)
    return nodes.Span(last_line, len(text) + 1, last_line, len(text) + 2)


_SPACED_OPERATOR_HINT = (
    "outside parentheses, arithmetic is written without spaces (`4*8`, `1/255`); "
    "with spaces, put it in parentheses: `(4 * 8)`"
)


def _character_hint(text: str, pos: int) -> str:
    char = text[pos] if pos < len(text) else ""
    if char in "\"'":
        return "a quoted string must close on the same line"
    spaced = text[pos - 1 : pos].isspace() or text[pos + 1 : pos + 2].isspace()
    if char and char in "*/%+-" and spaced:
        return _SPACED_OPERATOR_HINT
    if char.isdigit() or char in "+-.":
        return "numbers look like `3`, `0.5` or `1e-3`; shapes like `28x28x1`; `->` joins layers"
    if char == ">":
        return "layers are joined with `->`"
    if char == ":":
        return "keyword arguments are written `name=value`"
    return "kdsl uses names, numbers, `=`, `,`, `;`, `->`, `in` and parentheses"


def _token_hint(token: Token, expected: set[str]) -> str:
    if token.type == "IN":
        return "`in SHAPE` belongs right after the first layer's arguments, e.g. `dense 5 in 4`"
    if "NAME" in expected and token.type in {"INT", "FLOAT", "DIMS"}:
        return "a layer, optimizer or loss starts with its name, e.g. `dense 3 relu`"
    if token.type == "EQUAL":
        return "keyword arguments are written `name=value`, with a name before `=`"
    if token.type in _OPERATOR_TERMINALS:
        return _SPACED_OPERATOR_HINT
    if token.type == "COLON":
        return "keyword arguments are written `name=value`; `:` is for a dict's `{0: 1}`"
    if token.type in {"INT", "FLOAT"} and str(token)[0] in "+-" and "MINUS" in expected:
        return f"`{token}` reads as a signed number: write `{str(token)[0]} {str(token)[1:]}`"
    return "sections are separated by `;`, layers by `->`, metrics by `,`"
