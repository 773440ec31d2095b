"""`kdsl lsp`: a language server for .k files, for any editor that speaks LSP.

It publishes `kdsl check`'s diagnostics as you type, shows on hover what a layer outputs
and how many parameters it has (kdsl's own shape inference, so no TensorFlow), and
completes layer kinds, activations, keyword names, optimizers, losses and metrics from
the catalog. Needs the `lsp` extra (pygls).

Positions: kdsl's spans count code points from 1; LSP counts UTF-16 units (or what the
client negotiated) from 0, and only "\\n" ends a line, as for kdsl's parser.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeGuard
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import FeatureNotificationError, JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from kdsl import ir
from kdsl._version import __version__
from kdsl.errors import Diagnostic, KdslError, Source, SourceError
from kdsl.ir import show_shape
from kdsl.language import nodes, syntax
from kdsl.language.fmt import format_text
from kdsl.language.parser import parse
from kdsl.semantics.catalog import (
    ACTIVATION_PARAMS,
    DTYPES,
    FIT_CALLBACKS,
    FORBIDDEN_LAYER_KWARGS,
    Catalog,
    Entry,
    load,
)
from kdsl.semantics.checker import LAYER_DTYPES, SECTION_NAMES, WRAPPERS, analyze, section_kinds
from kdsl.semantics.shapes import Row, Summary

SOURCE = "kdsl"
logger = logging.getLogger(__name__)
TRIGGER_CHARACTERS = [" ", ">", "=", ",", "@", "[", "|"]


# -- analysis (no LSP here: text in, kdsl's findings out) --------------------------------


@dataclass
class Analysis:
    """What the editor shows: the diagnostics, and once the program checks, its model
    (every node's call knows where it is written) and the summary (a row per node id)."""

    diagnostics: list[Diagnostic]
    program: nodes.Program | None = None
    model: ir.Model | None = None
    summary: Summary | None = None
    notes: list[str] = field(default_factory=list)

    def node_at(self, line: int, column: int) -> tuple[ir.Node, Row] | None:
        """The layer node written at a 1-based position, and its row: by the span of its
        call and its id, never by its place in a list."""
        if self.model is None or self.summary is None:
            return None
        for node in self.model.nodes:
            span = node.call.span
            row = self.summary.row(node.id)
            if span is not None and row is not None and _contains(span, line, column):
                return node, row
        return None

    def input_at(self, line: int, column: int) -> ir.Input | None:
        """The model's input whose `input` element is written at a 1-based position."""
        for source in self.model.inputs if self.model else ():
            if source.span is not None and _contains(source.span, line, column):
                return source
        return None


@lru_cache(maxsize=16)
def analyze_text(text: str) -> Analysis:
    """Every diagnostic `kdsl check` gives for `text`, and the shapes when there are any."""
    try:
        return _analyze(text)
    except RecursionError:  # as `kdsl check` says it, not a crash of the server
        return Analysis(
            [
                Diagnostic(
                    "the program nests too deeply to process",
                    nodes.Span(1, 1, 1, 2),
                    "no Keras argument needs this; check the parentheses",
                )
            ]
        )


def _analyze(text: str) -> Analysis:
    source = Source("<editor>", text)
    try:
        program = parse(source)
    except SourceError as error:
        return Analysis(error.diagnostics)
    try:
        model, summary = analyze(program, source, shape_errors="keep")
    except SourceError as error:
        return Analysis(error.diagnostics, program)
    except Exception as error:  # a bug in kdsl: said in the editor, as `kdsl check` says it
        logger.exception("checking the program failed")
        message = f"internal error ({type(error).__name__}): a bug in kdsl"
        hint = "please report it with the program; the features that need no shapes still work"
        return Analysis([Diagnostic(message, nodes.Span(1, 1, 1, 2), hint)], program)
    return Analysis(summary.diagnostics, program, model, summary, summary.notes)


# -- hover -----------------------------------------------------------------------------


def _contains(span: nodes.Span, line: int, column: int) -> bool:
    """Whether the 1-based (line, column) is in the span, its end included (the cursor
    just after a word still points at it)."""
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def _entry_text(entry: Entry, module: str, written: str, name: str | None = None) -> list[str]:
    """The Keras class a name stands for (under the layer's name in the model, if any)."""
    title = f"`keras.{module}.{entry.class_name}`"
    title = f"**{name}**: {title}" if name else f"**{title}**"
    if written != entry.key:
        title += f" (`{written}` is short for `{entry.key}`)"
    lines = [title]
    if entry.positional:
        lines.append(f"Positional arguments: {', '.join(entry.positional)}")
    return lines


def _params(row: Row) -> str:
    if row.params is None or row.trainable is None:
        return "unknown"
    if row.non_trainable:
        return f"{row.params:,} ({row.trainable:,} trainable, {row.non_trainable:,} non-trainable)"
    return f"{row.params:,}"


def hover_text(
    text: str, line: int, column: int, catalog: Catalog | None = None
) -> tuple[str, nodes.Span] | None:
    """Markdown about the call at a 1-based position, and the span it covers."""
    catalog = catalog or load()
    analysis = analyze_text(text)
    program = analysis.program
    if program is None:
        return None
    reference = _ref_hover(analysis, line, column)
    if reference is not None:
        return reference
    if analysis.model is not None and analysis.model.search is not None:
        searched = _space_hover(text, program, catalog, line, column)
        if searched is not None:
            return searched
    at = analysis.node_at(line, column)
    if at is not None:
        node, row = at
        keras = node.call
        assert keras.span is not None  # `node_at` found it by its span
        entry = catalog.layer(keras.written)
        assert entry is not None  # the program checked, so every name is known
        lines = _entry_text(entry, "layers", keras.written, row.name)
        inner = keras.args[0] if keras.args else None
        if isinstance(inner, ir.KerasCall):
            lines.append(f"Wraps `keras.layers.{inner.class_name}`")
        lines.append(f"Output shape: `{show_shape(row.output_shape)}`")
        lines.append(f"Parameters: {_params(row)}")
        if row.output_shape is None:
            if any(d.severity == "error" for d in analysis.diagnostics):
                lines.append("*Unknown from the first shape error on.*")
            lines += [f"*{note}*" for note in analysis.notes]
        return "\n\n".join(lines), keras.span
    source = analysis.input_at(line, column)
    if source is not None and source.span is not None:
        shape = show_shape((None, *source.shape))
        return f"**`keras.Input`**\n\nOutput shape: `{shape}`", source.span
    calls = [named for named, _ in _written_names(program, sections=False)]
    starts = {id(chain.elements[0].atom) for chain in _chains(program)}
    blocks = {block.name: block for block in program.blocks}
    for call in calls:  # a program with errors: what the catalog knows
        if not isinstance(call, nodes.Call) or not _contains(call.span, line, column):
            continue
        if call.name == "input" and id(call) in starts:
            return "**`keras.Input`**", call.span  # no shape to show
        block = blocks.get(call.name)
        if block is not None and _contains(call.name_span, line, column):
            return _block_text(block), call.name_span
        entry = catalog.layer(call.name)
        if entry is not None and _contains(call.span, line, column):
            lines = _entry_text(entry, "layers", call.name)
            lines.append("*Shapes show once the program has no errors.*")
            return "\n\n".join(lines), call.span
    kinds = section_kinds([section.calls[0].name for section in program.sections])
    for section, kind in zip(program.sections, kinds, strict=True):
        for call in section.calls:
            if not _contains(call.span, line, column):
                continue
            name = call.name
            if name in SECTION_NAMES and call.args:
                first_arg = call.args[0]
                if isinstance(first_arg, nodes.Positional) and isinstance(
                    first_arg.value, nodes.Name
                ):
                    name = first_arg.value.name
            found = _compile_entry(catalog, kind, name)
            if found is None:
                return None
            entry, module = found
            return "\n\n".join(_entry_text(entry, module, name)), call.span
    return None


def _space_hover(
    text: str, program: nodes.Program, catalog: Catalog, line: int, column: int
) -> tuple[str, nodes.Span] | None:
    """A search space (issue 16): its values, and what its layer (or, for a depth, the
    model) is in the smallest and the largest model."""
    from kdsl.semantics import space as spaces

    found = spaces.space_at(program, catalog, line, column)
    if found is None:
        return None
    count = found.count()
    size = f"{count:,} values" if count is not None else "continuous"
    lines = [f"**search space `{found.name}`**: `{spaces.written_text(found)}` ({size})"]
    smallest, largest = spaces.extremes(program, Source("<editor>", text), catalog)
    if smallest is None or largest is None:
        return "\n\n".join(lines), found.span
    if found.repeat is not None:
        low, high = smallest[1].total(), largest[1].total()
        lines.append(f"Model parameters: {_count(low)} … {_count(high)} (smallest … largest)")
        return "\n\n".join(lines), found.span
    rows = []
    for model, summary in (smallest, largest):
        node = next(
            (n for n in model.nodes if n.call.span and spaces.in_span(found.span, n.call.span)),
            None,
        )
        rows.append(summary.row(node.id) if node else None)
    if rows[0] is not None and rows[1] is not None:
        shapes = f"`{show_shape(rows[0].output_shape)}` … `{show_shape(rows[1].output_shape)}`"
        lines.append(f"Output shape: {shapes} (smallest … largest model)")
        lines.append(f"Parameters: {_params(rows[0])} … {_params(rows[1])}")
    return "\n\n".join(lines), found.span


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _compile_entry(catalog: Catalog, kind: str | None, name: str) -> tuple[Entry, str] | None:
    if kind == "callbacks":
        callback = catalog.callbacks.get(name)
        return (callback, "callbacks") if callback else None
    if kind not in syntax.COMPILE_SECTIONS:
        return None
    module, table, aliases = catalog.compile_table(kind)
    entry = table.get(aliases.get(name, name))
    return (entry, module) if entry else None


# -- v2's names: blocks, labels, parameters (on the syntax tree alone) ------------------


@dataclass(frozen=True)
class _Scope:
    """What a name in a body or the program can mean: the labels written in it, in text
    order, and (in a block's body) the block's parameters."""

    labels: tuple[nodes.Label, ...]
    params: dict[str, nodes.Param]
    in_block: bool = False  # a block's body, whose nodes the checker makes per call

    def ref(self, ref: nodes.Ref) -> nodes.Label | nodes.Param | None:
        """Where `@name` is defined: a tensor parameter, or the last label of that name
        before it (a name is visible only after its definition)."""
        param = self.params.get(ref.name)
        if param is not None and param.tensor:
            return param
        before = [
            label
            for label in self.labels
            if label.name == ref.name and (label.span.line, label.span.column) < _start(ref.span)
        ]
        return before[-1] if before else None


def _start(span: nodes.Span) -> tuple[int, int]:
    return span.line, span.column


def _labels(chains: tuple[nodes.Chain, ...]) -> tuple[nodes.Label, ...]:
    """Every label in the chains, groups included, in text order."""
    found: list[nodes.Label] = []
    for chain in chains:
        for element in chain.elements:
            if element.label is not None:
                found.append(element.label)
            if isinstance(element.atom, nodes.Group):
                found += _labels(element.atom.branches)
    return tuple(sorted(found, key=lambda label: _start(label.span)))


Named = nodes.Ref | nodes.Name | nodes.Call


def _written_names(program: nodes.Program, sections: bool = True) -> Iterator[tuple[Named, _Scope]]:
    """Every call, reference and bare word of the program in text order (sections last
    unless left out), with the scope it is read in."""
    for block in program.blocks:
        params = {param.name: param for param in block.params}
        yield from _chain_names(block.body, _Scope(_labels(block.body), params, in_block=True))
    scope = _Scope(_labels(program.chains), {})
    yield from _chain_names(program.chains, scope)
    for section in program.sections if sections else ():
        for call in section.calls:
            yield from _call_names(call, scope)


def _chains(program: nodes.Program) -> Iterator[nodes.Chain]:
    """Every chain: the program's, the blocks' bodies, the groups' branches."""
    chains = [*program.chains, *(chain for block in program.blocks for chain in block.body)]
    while chains:
        chain = chains.pop()
        yield chain
        for element in chain.elements:
            if isinstance(element.atom, nodes.Group):
                chains += element.atom.branches


def _block_text(block: nodes.BlockDef) -> str:
    """A block's hover: how it is declared."""
    params = "".join(
        f" {'@' if param.tensor else ''}{param.name}{'=…' if param.default else ''}"
        for param in block.params
    )
    keyword = "shared" if block.shared else "def"
    return f"**`{keyword} {block.name}{params}`**: a block, called like a layer"


def _chain_names(chains: tuple[nodes.Chain, ...], scope: _Scope) -> Iterator[tuple[Named, _Scope]]:
    for chain in chains:
        for element in chain.elements:
            atom = element.atom
            if isinstance(atom, nodes.Group):
                yield from _chain_names(atom.branches, scope)
            elif isinstance(atom, nodes.Call):
                yield from _call_names(atom, scope)
            else:
                yield atom, scope
            if isinstance(element.repeat, nodes.Name):
                yield element.repeat, scope


def _call_names(call: nodes.Call, scope: _Scope) -> Iterator[tuple[Named, _Scope]]:
    yield call, scope
    values = [arg.value for arg in call.args]
    while values:
        value = values.pop()
        if isinstance(value, nodes.Tuple):
            values += value.items
        elif isinstance(value, nodes.Ref | nodes.Name):
            yield value, scope


def definition(program: nodes.Program, line: int, column: int) -> nodes.Span | None:
    """Where the name at a 1-based position is defined: a block's `def` for a block call,
    the label (or tensor parameter) for `@name`, the parameter for a bare word in a body."""
    blocks = {block.name: block for block in program.blocks}
    for named, scope in _written_names(program):
        if isinstance(named, nodes.Call):
            block = blocks.get(named.name)
            if block is not None and _contains(named.name_span, line, column):
                return block.name_span
        elif _contains(named.span, line, column):
            if isinstance(named, nodes.Ref):
                found = scope.ref(named)
                return found.span if found is not None else None
            param = scope.params.get(named.name)
            return param.span if param is not None and not param.tensor else None
    return None


def definition_at(text: str, line: int, column: int) -> nodes.Span | None:
    """`definition` in `text`, once it parses."""
    program = analyze_text(text).program
    return None if program is None else definition(program, line, column)


def _ref_hover(analysis: Analysis, line: int, column: int) -> tuple[str, nodes.Span] | None:
    """`@name` in a program that checks: the tensor it reads, and its shape (the row of
    the node the checker labelled with that name)."""
    if analysis.program is None or analysis.model is None or analysis.summary is None:
        return None
    for named, scope in _written_names(analysis.program):
        if isinstance(named, nodes.Ref) and _contains(named.span, line, column):
            for node in analysis.model.nodes:  # in a body: the first call's node
                row = analysis.summary.row(node.id)
                same_scope = bool(node.scope) == scope.in_block
                if node.label == named.name and same_scope and row is not None:
                    shape = show_shape(row.output_shape)
                    text = f"**@{named.name}**: the output of `{row.name}`"
                    return f"{text}\n\nOutput shape: `{shape}`", named.span
            for source in analysis.model.inputs:
                if dict(source.kwargs).get("name") == named.name:
                    shape = show_shape((None, *source.shape))
                    return (
                        f"**@{named.name}**: `keras.Input`\n\nOutput shape: `{shape}`",
                        named.span,
                    )
    return None


# -- completion ------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A completion: what is shown, what is inserted, and what kind of thing it is."""

    label: str
    kind: types.CompletionItemKind
    detail: str = ""
    insert: str | None = None


@dataclass(frozen=True)
class _Call:
    """The call being written, read from its text up to the cursor (which may not parse)."""

    head: str | None = None
    positional: tuple[str, ...] = ()  # the positional arguments given so far, as written
    keywords: frozenset[str] = frozenset()  # the keyword arguments given so far
    keyword: str | None = None  # the cursor is after `keyword=`
    at_value: bool = False  # after `in`, or inside a tuple: a value, nothing to complete

    def given(self, entry: Entry, skip: int = 0) -> set[str]:
        """The entry's parameters already given, by name or by position (after `skip`
        positional words that are not its arguments, such as a wrapped layer's name)."""
        return set(self.keywords) | set(entry.positional[: max(0, len(self.positional) - skip)])


# The word being typed at the cursor (a name or a number): completed, not read.
_PARTIAL = re.compile(r"[A-Za-z0-9_.+\-]*$")
_WORDS = (syntax.NAME, syntax.IN)
_BOOLEANS = (syntax.constant_word(True), syntax.constant_word(False))
_NOT_CODE = (syntax.COMMENT, syntax.STRING, syntax.UNCLOSED_STRING)


def _tokens_before(text: str) -> list[syntax.Token] | None:
    """The grammar's tokens before the word being typed, or None when the cursor is in a
    comment or a string, where nothing should be completed."""
    tokens = list(syntax.scan(text))
    last = tokens[-1] if tokens else None
    if last and last.end == len(text) and last.type in (syntax.COMMENT, syntax.UNCLOSED_STRING):
        return None
    # `$` also matches before a last "\n": a word typed there is still being typed.
    partial = _PARTIAL.search(text)
    cut = partial.start() if partial else len(text)
    if any(t.start < cut < t.end for t in tokens):  # the word is inside a string
        cut = len(text)
    return [t for t in tokens if t.start < cut and t.type not in _NOT_CODE]


def _split(tokens: list[syntax.Token], separator: str, nested: bool = True) -> list[list]:
    """The tokens between separators; with `nested=False`, not inside parentheses."""
    parts: list[list[syntax.Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.type == syntax.LPAR:
            depth += 1
        elif token.type == syntax.RPAR:
            depth = max(0, depth - 1)
        if token.type == separator and (nested or depth == 0):
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _read_call(tokens: list[syntax.Token]) -> _Call:
    """The call being written, from its tokens up to the cursor; a tuple is one value."""
    words: list[tuple[str, str]] = []  # (type, text), a whole tuple as ("TUPLE", "0")
    depth = 0
    glued_until = -1  # where a run of stray characters ends (`3-`, `-adam`): one word
    for token in tokens:
        if token.type == syntax.LPAR:
            depth += 1
        elif token.type == syntax.RPAR and depth:
            depth -= 1
            if not depth:
                words.append(("TUPLE", "0"))
        elif depth:
            continue
        elif token.type == syntax.UNKNOWN and token.text.isspace():
            glued_until = -1  # white space the grammar refuses (`\v`) still parts words
        elif token.start == glued_until and token.type != syntax.EQUAL:
            words[-1] = (syntax.UNKNOWN, words[-1][1] + token.text)
            glued_until = token.end
        else:
            words.append((token.type, token.text))
            glued_until = -1 if token.type in (*_WORDS, syntax.EQUAL) else token.end
    if depth:
        return _Call(at_value=True)
    if not words or words[0][0] not in _WORDS:
        return _Call()
    types = [kind for kind, _ in words]
    positional: list[str] = []
    keywords: set[str] = set()
    index = 1
    while index < len(words):
        kind, text = words[index]
        if index + 1 < len(words) and types[index + 1] == syntax.EQUAL:
            keywords.add(text)
            index += 3
        elif kind == syntax.IN:  # `in SHAPE`
            index += 2
        elif kind == syntax.EQUAL:
            index += 1
        else:
            positional.append(text)
            index += 1
    keyword = words[-2][1] if len(words) >= 3 and types[-1] == syntax.EQUAL else None
    return _Call(
        words[0][1],
        tuple(positional),
        frozenset(keywords),
        keyword,
        at_value=len(words) > 1 and types[-1] == syntax.IN,
    )


def complete(text_before: str, catalog: Catalog | None = None) -> list[Item]:
    """What may be written at the end of `text_before` (the document up to the cursor)."""
    catalog = catalog or load()
    tokens = _tokens_before(text_before)
    if tokens is None:
        return []
    body, header = _open_block(tokens)
    if header is not None:  # in a block's body: its chain being written
        if _after_at(text_before, tokens):
            return _tensors(body, header)
        chain = _split(body, syntax.SEMICOLON)[-1]
        return _complete_chain(chain, catalog, _blocks(tokens), first=False)
    program = tokens[_after_blocks(tokens) :]
    if _after_at(text_before, tokens):
        return _tensors(program, [])
    parts = _split(program, syntax.SEMICOLON)
    if len(parts) == 1 or _is_chain(parts[-1]):
        return _complete_chain(parts[-1], catalog, _blocks(tokens), first=len(parts) == 1)
    prior = [_first_word(part) for part in parts[1:-1] if not _is_chain(part)]
    section_calls = _split(parts[-1], syntax.COMMA, nested=False)
    call = _read_call(section_calls[-1])
    head = _first_word(section_calls[0]) if len(section_calls) > 1 else call.head
    kinds = section_kinds([*prior, head or ""])
    return _complete_section(
        call,
        kinds[-1],
        catalog,
        used={kind for kind in kinds[:-1] if kind},
        continued=len(section_calls) > 1,
    )


# Where a layer (or a block call, or `@name`) may start within a chain (v2).
_ELEMENT_STARTS = (syntax.LSQB, syntax.VBAR, syntax.COLON, syntax.RSQB)


def _complete_chain(
    tokens: list[syntax.Token], catalog: Catalog, blocks: list[str], first: bool
) -> list[Item]:
    """A chain's element being written: a layer, a block, or the layer's arguments."""
    arrow = syntax.terminal_named(syntax.ARROW_LITERAL)
    calls: list[list[syntax.Token]] = [[]]
    starts: list[str | None] = [None]  # the token each element follows
    for token in tokens:
        if token.type == arrow or token.type in _ELEMENT_STARTS:
            calls.append([])
            starts.append(token.type)
        else:
            calls[-1].append(token)
    # `input` starts the first chain, or a later one after its label (`tags: input 12`).
    first = (first and len(calls) == 1) or starts[1:] == [syntax.COLON]
    call = _read_call(calls[-1])
    if call.head in blocks:
        return []  # a block's parameters have no catalog entry to complete from
    items = _complete_layer(call, catalog, first=first)
    if call.head is None and not call.at_value:
        items += [Item(name, types.CompletionItemKind.Module, "block") for name in blocks]
    return items


def _is_chain(tokens: list[syntax.Token]) -> bool:
    """Whether a `;`-separated part is a later chain (v2), not a section: it starts from
    `@name` or a label, or has an arrow."""
    arrow = syntax.terminal_named(syntax.ARROW_LITERAL)
    kinds = [token.type for token in tokens]
    return (kinds[:1] == [syntax.REF]) or kinds[1:2] == [syntax.COLON] or arrow in kinds


def _open_block(tokens: list[syntax.Token]) -> tuple[list[syntax.Token], list | None]:
    """Inside a block's body: (the body's tokens so far, the header's tokens); else
    (tokens, None)."""
    depth, opened = 0, 0
    for index, token in enumerate(tokens):
        if token.type == syntax.LBRACE:
            depth += 1
            opened = index if depth == 1 else opened
        elif token.type == syntax.RBRACE:
            depth = max(0, depth - 1)
    if not depth:
        return tokens, None
    start = max(
        (i for i in range(opened) if tokens[i].type in (syntax.DEF, syntax.SHARED)), default=0
    )
    return tokens[opened + 1 :], tokens[start:opened]


def _after_blocks(tokens: list[syntax.Token]) -> int:
    """Where the program's chains start: after the last `}` of its blocks."""
    closes = [i for i, token in enumerate(tokens) if token.type == syntax.RBRACE]
    return closes[-1] + 1 if closes else 0


def _blocks(tokens: list[syntax.Token]) -> list[str]:
    """The blocks defined (closed) before the cursor: callable like layers."""
    names, pending = [], None
    for index, token in enumerate(tokens[:-1]):
        if token.type in (syntax.DEF, syntax.SHARED) and tokens[index + 1].type == syntax.NAME:
            pending = tokens[index + 1].text
        elif token.type == syntax.RBRACE and pending is not None:
            names.append(pending)
            pending = None
    if tokens and tokens[-1].type == syntax.RBRACE and pending is not None:
        names.append(pending)
    return names


def _after_at(text_before: str, tokens: list[syntax.Token]) -> bool:
    """Whether the word being typed follows `@`: a tensor's name."""
    partial = _PARTIAL.search(text_before)
    cut = partial.start() if partial else len(text_before)
    # `@` alone is a character no terminal matches; `@na` is a reference being typed.
    return bool(tokens) and tokens[-1].text.startswith("@") and tokens[-1].start == cut - 1


def _tensors(tokens: list[syntax.Token], header: list[syntax.Token]) -> list[Item]:
    """The tensors `@` may name here: the labels written before (outside any block's
    body), and in a body its tensor parameters and `@in`."""
    names: list[str] = []
    depth = 0
    for index, token in enumerate(tokens[:-1]):
        depth += (token.type == syntax.LBRACE) - (token.type == syntax.RBRACE)
        if depth <= 0 and token.type == syntax.NAME and tokens[index + 1].type == syntax.COLON:
            names.append(token.text)
    if header:
        names += [token.text[1:] for token in header if token.type == syntax.REF]
        names.append("in")
    unique = dict.fromkeys(names)
    return [Item(name, types.CompletionItemKind.Variable, "tensor") for name in unique]


def _first_word(tokens: list[syntax.Token]) -> str:
    return next((t.text for t in tokens if t.type in _WORDS), "")


def _layer_kinds(catalog: Catalog, first: bool, wrappers: bool = True) -> list[Item]:
    items = [
        Item(key, types.CompletionItemKind.Class, f"keras.layers.{entry.class_name}")
        for key, entry in sorted(catalog.layers.items())
        if wrappers or key not in WRAPPERS
    ]
    items += [
        Item(
            alias,
            types.CompletionItemKind.Class,
            f"{key} → keras.layers.{catalog.layers[key].class_name}",
        )
        for alias, key in sorted(catalog.layer_aliases.items())
        if key in catalog.layers and (wrappers or key not in WRAPPERS)
    ]
    if first:
        items.insert(0, Item("input", types.CompletionItemKind.Keyword, "input SHAPE -> ..."))
    return items


def _activations(catalog: Catalog) -> list[Item]:
    return [
        Item(name, types.CompletionItemKind.EnumMember, "activation")
        for name in catalog.activations
    ]


def _keywords(entry: Entry, given: set[str], exclude: frozenset[str] = frozenset()) -> list[Item]:
    items = []
    for param in entry.params:
        if param.name in given or param.name in exclude:
            continue
        if param.has_default:
            detail = f"default: {param.default!r}"
        else:
            detail = "required" if param.required else ""
        items.append(Item(param.name, types.CompletionItemKind.Field, detail, f"{param.name}="))
    return items


def _values(entry: Entry | None, keyword: str, catalog: Catalog) -> list[Item]:
    """Values for `keyword=`: activations, initializers (regularizers, constraints),
    dtypes, true/false."""
    if keyword in ACTIVATION_PARAMS:
        return _activations(catalog)
    objects = catalog.object_names(keyword)
    if objects is not None:
        kind, names = objects
        return [
            Item(name, types.CompletionItemKind.EnumMember, kind)
            for name in names
            if name.islower()  # the snake_case names; Keras's class names work too
        ]
    if keyword == "dtype":
        return [Item(name, types.CompletionItemKind.EnumMember, "dtype") for name in LAYER_DTYPES]
    param = entry.param(keyword) if entry else None
    if param is not None and isinstance(param.default, bool):
        return [Item(v, types.CompletionItemKind.Constant) for v in _BOOLEANS]
    return []


def _complete_layer(call: _Call, catalog: Catalog, first: bool) -> list[Item]:
    if call.at_value:
        return []
    if call.head is None:
        return _layer_kinds(catalog, first)
    if call.head == "input":
        if call.keyword == "dtype":
            return [Item(name, types.CompletionItemKind.EnumMember, "dtype") for name in DTYPES]
        if call.keyword:
            return []
        return [
            Item(name, types.CompletionItemKind.Field, "", f"{name}=")
            for name in ("dtype", "name")
            if name not in call.keywords
        ]
    entry = catalog.layer(call.head)
    if entry is None:
        return []
    if entry.key in WRAPPERS:
        if not call.positional:
            return _layer_kinds(catalog, first=False, wrappers=False)
        inner = catalog.layer(call.positional[0])
        if call.keyword:
            return _values(inner, call.keyword, catalog) or _values(entry, call.keyword, catalog)
        items = []
        if inner is not None:
            items = _keywords(inner, call.given(inner, skip=1), frozenset(FORBIDDEN_LAYER_KWARGS))
        own = frozenset({"layer", "backward_layer"})
        return items + _keywords(entry, set(call.keywords), own)
    if call.keyword:
        return _values(entry, call.keyword, catalog)
    given = call.given(entry)
    items = _keywords(entry, given, frozenset(FORBIDDEN_LAYER_KWARGS))
    if "activation" in entry.positional and "activation" not in given:
        items += _activations(catalog)
    return items


def _names(kind: str | None, catalog: Catalog) -> list[Item]:
    if kind == "callbacks":
        return [
            Item(key, types.CompletionItemKind.Function, f"keras.callbacks.{entry.class_name}")
            for key, entry in catalog.callbacks.items()
        ]
    if kind not in syntax.COMPILE_SECTIONS:
        return []
    module, table, aliases = catalog.compile_table(kind)
    items = [
        Item(key, types.CompletionItemKind.Function, f"keras.{module}.{entry.class_name}")
        for key, entry in sorted(table.items())
    ]
    items += [
        Item(
            alias,
            types.CompletionItemKind.Function,
            f"{key} → keras.{module}.{table[key].class_name}",
        )
        for alias, key in sorted(aliases.items())
        if key in table
    ]
    return items


def _complete_section(
    call: _Call,
    kind: str | None,
    catalog: Catalog,
    used: set[str],
    continued: bool,
) -> list[Item]:
    if call.at_value:
        return []
    if call.head is None:
        if continued:  # after `,` in a metrics (or callbacks) section
            return _names("callbacks" if kind == "callbacks" else "metrics", catalog)
        heads = [
            Item(name, types.CompletionItemKind.Keyword, "section")
            for name in SECTION_NAMES
            if name not in used
        ]
        return _names(kind, catalog) + heads  # an unnamed section's kind, if any
    if call.head in (*syntax.COMPILE_SECTIONS, "callbacks") and not call.positional:
        return _names(call.head, catalog)
    if call.head == "fit":
        if call.keyword:
            if call.keyword == "verbose":
                return [Item(v, types.CompletionItemKind.Constant) for v in ("auto", "0", "1", "2")]
            param = catalog.fit.param(call.keyword)
            if param is not None and isinstance(param.default, bool):
                return [Item(v, types.CompletionItemKind.Constant) for v in _BOOLEANS]
            return []
        given = call.keywords
        items = _keywords(catalog.fit, set(given))
        items += [
            Item(name, types.CompletionItemKind.Field, f"adds keras.callbacks.{cls}", f"{name}=")
            for name, cls in FIT_CALLBACKS.items()
            if name not in given
        ]
        return items
    named = call.head in SECTION_NAMES
    if named and not call.positional:
        return []  # `callbacks patience=`: a keyword before any callback's name
    name = call.positional[0] if named else call.head
    found = _compile_entry(catalog, kind, name)
    if found is None:
        return []
    entry = found[0]
    if call.keyword:
        return _values(entry, call.keyword, catalog)
    return _keywords(entry, call.given(entry, skip=1 if named else 0))


# -- the server ------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _to_lsp(codec: PositionCodec, lines: list[str], line: int, column: int) -> types.Position:
    """kdsl's 1-based (line, column) in code points → LSP's 0-based position in the
    client's units, clamped to the document."""
    row = min(max(line - 1, 0), max(len(lines) - 1, 0))
    character = max(column - 1, 0) if row == line - 1 else len(lines[row]) if lines else 0
    return codec.position_to_client_units(lines, ServerTextPosition(row, character))


class _ClientLines:
    """A document's lines and, for each, where its columns fall in the client's units.

    Each line is split and measured once, however many positions are asked of it: 10,000
    diagnostics on one long line cost the line once, not 10,000 times (as `_to_lsp` would,
    slicing the line for each). A line of ASCII needs no table: its units are its columns.
    """

    def __init__(self, codec: PositionCodec, text: str):
        self.codec = codec
        self.lines = _lines(text)
        self.units: dict[int, list[int] | None] = {}

    def position(self, line: int, column: int) -> types.Position:
        """As `_to_lsp`: kdsl's 1-based (line, column) → the client's, clamped."""
        row = min(max(line - 1, 0), len(self.lines) - 1)
        text = self.lines[row]
        character = min(max(column - 1, 0) if row == line - 1 else len(text), len(text))
        if row not in self.units:
            self.units[row] = (
                None
                if text.isascii()
                else list(accumulate(map(self.codec.client_num_units, text), initial=0))
            )
        units = self.units[row]
        return types.Position(line=row, character=character if units is None else units[character])


@lru_cache(maxsize=4)
def _client_lines(codec: PositionCodec, text: str) -> _ClientLines:
    return _ClientLines(codec, text)


def to_range(codec: PositionCodec, text: str, span: nodes.Span | None) -> types.Range:
    if span is None:
        start = types.Position(line=0, character=0)
        return types.Range(start=start, end=start)
    lines = _client_lines(codec, text)
    start = lines.position(span.line, span.column)
    end = lines.position(span.end_line, span.end_column)
    return types.Range(start=start, end=max(start, end, key=lambda p: (p.line, p.character)))


def _from_lsp(codec: PositionCodec, text: str, position: types.Position) -> tuple[int, int]:
    """LSP position → kdsl's 1-based (line, column) in code points, clamped to the
    document: past the last line is the end of the text, past a line's end its end."""
    lines = _lines(text)
    if position.line >= len(lines):
        return len(lines), len(lines[-1]) + 1
    units = codec.client_num_units(lines[position.line])
    within = types.Position(line=position.line, character=min(position.character, units))
    server = codec.position_from_client_units(lines, within)
    return server.line + 1, server.character + 1


def to_lsp_diagnostic(codec: PositionCodec, text: str, diagnostic: Diagnostic) -> types.Diagnostic:
    message = diagnostic.message
    if diagnostic.hint:
        message += f"\nhint: {diagnostic.hint}"
    severity = (
        types.DiagnosticSeverity.Warning
        if diagnostic.severity == "warning"
        else types.DiagnosticSeverity.Error
    )
    return types.Diagnostic(
        range=to_range(codec, text, diagnostic.span),
        message=message,
        severity=severity,
        source=SOURCE,
    )


# LSP's positions are `uinteger`s: 0 to 2**31 - 1.
UINTEGER_MAX = 2**31 - 1
# Seconds a change waits before it is analyzed: typing faster than this analyzes the
# last text only.
DEBOUNCE_SECONDS = 0.25


def _clamp_position(data: dict) -> dict:
    """A position as the client sent it, its numbers brought into LSP's range (a negative
    line is line 0, one past 2**31 - 1 is the last line): pygls drops a request it cannot
    read without answering it, so a cursor out of range would get no answer at all."""
    for key in ("line", "character"):
        value = data[key]
        if isinstance(value, int) and not isinstance(value, bool):
            data[key] = min(max(value, 0), UINTEGER_MAX)
    return data


class _Protocol(LanguageServerProtocol):
    """pygls's protocol, answering every request: positions are clamped before they are
    read, and a request whose parameters still cannot be read gets an "invalid params"
    error (pygls would log it and leave the editor waiting)."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        # json.loads calls this for every object, innermost first: a position is seen
        # before the request that holds it.
        if data.keys() == {"line", "character"}:
            return _clamp_position(data)
        try:
            return super().structure_message(data)
        except JsonRpcException:
            request_id = data.get("id")
            if "jsonrpc" in data and "method" in data and _is_request_id(request_id):
                error = JsonRpcInvalidParams(f"invalid parameters for {data['method']!r}")
                self._send_response(request_id, error=error.to_response_error())
            raise


def _is_request_id(value: object) -> TypeGuard[int | str]:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class KdslServer(LanguageServer):
    """The server and what it runs beside pygls: each document's diagnostics waiting to be
    published, and their analyses on threads of their own (the event loop keeps reading
    and answering while a long document is checked), one document's one at a time."""

    def __init__(self, debounce: float = DEBOUNCE_SECONDS):
        super().__init__("kdsl", __version__, protocol_cls=_Protocol)
        self.debounce = debounce
        self.analyses = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kdsl-analysis")
        self.publishing: dict[str, asyncio.Task] = {}  # by the document's URI
        self.running: dict[str, asyncio.Future] = {}  # its analysis, on a thread

    def open_document(self, uri: str) -> TextDocument | None:
        """The document the editor opened at `uri`, or None: never the file on disk, which
        pygls would read for a URI it does not know (a FIFO there would hang it)."""
        return self.workspace.text_documents.get(unquote(uri))

    def schedule_diagnostics(self, uri: str, delay: float) -> None:
        """Publish the document's diagnostics after `delay` seconds, instead of any still
        waiting: while the user types, only the text they stop at is analyzed."""
        waiting = self.publishing.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        task = asyncio.ensure_future(self._publish(uri, delay))
        self.publishing[uri] = task
        task.add_done_callback(lambda done: self._published(uri, done))

    async def _publish(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        previous = self.running.get(uri)
        if previous is not None:  # an analysis of an older text: a thread cannot be stopped
            await asyncio.wait({previous})
        document = self.open_document(uri)
        if document is None:
            return
        text, version = document.source, document.version
        codec = self.workspace.position_codec
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self.analyses, lsp_diagnostics, codec, text)
        self.running[uri] = running
        running.add_done_callback(lambda done: self._analyzed(uri, done))
        # Shielded: a newer change cancels this task, not the analysis it waits for.
        diagnostics = await asyncio.shield(running)
        now = self.open_document(uri)
        if now is None or now.version != version or now.source != text:
            return  # closed or changed meanwhile: its own task publishes the new text
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics)
        )

    def _analyzed(self, uri: str, running: asyncio.Future) -> None:
        if self.running.get(uri) is running:
            del self.running[uri]
        if not running.cancelled():
            running.exception()  # retrieved: its task says it, if it still waits for it

    def _published(self, uri: str, task: asyncio.Task) -> None:
        if self.publishing.get(uri) is task:
            del self.publishing[uri]
        error = None if task.cancelled() else task.exception()
        if isinstance(error, Exception):  # a bug in kdsl: said, as pygls says its own
            logger.error("publishing diagnostics for %s failed", uri, exc_info=error)
            self.report_server_error(error, FeatureNotificationError)

    async def analysis_done(self, uri: str) -> None:
        """Wait for the document's diagnostics still to come, if any: hover needs the same
        analysis, and then finds it in `analyze_text`'s cache instead of doing it twice."""
        waiting = self.publishing.get(uri)
        if waiting is not None:
            await asyncio.wait({waiting})  # not cancelled with the request that waits

    def shutdown(self) -> None:
        self.analyses.shutdown(wait=False, cancel_futures=True)
        super().shutdown()


def lsp_diagnostics(codec: PositionCodec, text: str) -> list[types.Diagnostic]:
    """`kdsl check`'s diagnostics for `text`, as the editor receives them."""
    return [to_lsp_diagnostic(codec, text, d) for d in analyze_text(text).diagnostics]


def create_server(debounce: float = DEBOUNCE_SECONDS) -> KdslServer:
    """A fresh server with kdsl's features (one per connection; tests make their own)."""
    server = KdslServer(debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(params: types.DidOpenTextDocumentParams) -> None:
        server.schedule_diagnostics(params.text_document.uri, delay=0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: types.DidChangeTextDocumentParams) -> None:
        server.schedule_diagnostics(params.text_document.uri, delay=server.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(params: types.DidCloseTextDocumentParams) -> None:
        # The editor forgets the file's problems with the file (and any still waiting).
        uri = params.text_document.uri
        waiting = server.publishing.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(params: types.HoverParams) -> types.Hover | None:
        document = server.open_document(params.text_document.uri)
        if document is None:
            return None
        text = document.source
        codec = server.workspace.position_codec
        line, column = _from_lsp(codec, text, params.position)
        await server.analysis_done(params.text_document.uri)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(server.thread_pool, hover_text, text, line, column)
        if found is None:
            return None
        markdown, span = found
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown),
            range=to_range(codec, text, span),
        )

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def goto_definition(params: types.DefinitionParams) -> types.Location | None:
        """A block call's `def`, `@name`'s label (or tensor parameter), a parameter."""
        uri = params.text_document.uri
        document = server.open_document(uri)
        if document is None:
            return None
        text = document.source
        codec = server.workspace.position_codec
        line, column = _from_lsp(codec, text, params.position)
        await server.analysis_done(uri)
        loop = asyncio.get_running_loop()
        span = await loop.run_in_executor(server.thread_pool, definition_at, text, line, column)
        return None if span is None else types.Location(uri=uri, range=to_range(codec, text, span))

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
    )
    @server.thread()
    def completion(params: types.CompletionParams) -> types.CompletionList:
        document = server.open_document(params.text_document.uri)
        if document is None:
            return types.CompletionList(is_incomplete=False, items=[])
        text = document.source
        line, column = _from_lsp(server.workspace.position_codec, text, params.position)
        lines = _lines(text)
        before = "\n".join([*lines[: line - 1], lines[line - 1][: column - 1]])
        items = [
            types.CompletionItem(
                label=item.label,
                kind=item.kind,
                detail=item.detail or None,
                insert_text=item.insert,
            )
            for item in complete(before)
        ]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @server.thread()
    def formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        """`kdsl fmt` on the open file: one edit replacing it all; none if it has a syntax
        error (the diagnostics already say where), is already formatted, or is not open."""
        document = server.open_document(params.text_document.uri)
        if document is None:
            return None
        text = document.source
        try:
            formatted = format_text(text)
        except KdslError:
            return None
        if formatted == text:
            return []
        lines = _lines(text)
        end = _to_lsp(server.workspace.position_codec, lines, len(lines), len(lines[-1]) + 1)
        whole = types.Range(start=types.Position(line=0, character=0), end=end)
        return [types.TextEdit(range=whole, new_text=formatted)]

    return server


def serve() -> None:
    """Serve one client over stdin/stdout until it says `exit`."""
    create_server().start_io()
