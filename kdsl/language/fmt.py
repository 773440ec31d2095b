"""`kdsl fmt`: one canonical layout for .k programs, with every comment kept.

The layout (README.md, "kdsl fmt", says the same for users):

- A program whose comments all sit above it or below it, and whose code fits on one line
  of 88 columns, is written on that one line:
  `dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy`.
- Any other program gets one layer per line, every layer after the first indented two
  spaces and starting with `-> `; the last layer ends with `;`, and each section
  (optimizer, loss, `metrics ...`, `fit ...`) is on its own line ending with `;`.
- The last section never ends with `;`: the grammar allows that `;`, the layout drops it.
- Inside a line: one space between a call's name and its arguments, `name=value`,
  `(a, b)`, `metrics a, b`. Names and literals stay exactly as written (`1e-3`, `'relu'`,
  an alias like `maxpool2d`), and so does the trailing comma of a one-item tuple `(8,)`;
  formatting is layout, never rewriting, and is checked to leave the parsed model
  unchanged.
- A comment on its own line stays on its own line, before the layer or section that
  follows it, indented like that layer; a comment after code stays at the end of its
  layer's or section's line, two spaces after the code. Blank lines between lines are kept
  (several become one); blank lines at either end go.
- A file whose first line ends in CRLF keeps CRLF line ends.
- A v2 program (blocks, labels, references, groups, repeats, several chains): see the
  comment above `_Line`.

Formatting needs only the parser: a program must be syntactically valid, not correct.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path

from lark import Token, Tree

from kdsl.errors import Source
from kdsl.language import nodes, syntax
from kdsl.language.parser import lark_parser, parse

LINE_LENGTH = 88
INDENT = "  "


@dataclass(frozen=True)
class _Comment:
    text: str
    pos: int
    line: int
    own_line: bool  # nothing but whitespace before it on its line


@dataclass
class _Item:
    """A layer or a section: what the multi-line layout puts on one line."""

    text: str
    is_layer: bool
    first_line: int = 0  # source lines it covers, separators included
    last_line: int = 0
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)


@dataclass(frozen=True)
class _CodeToken:
    token: Token
    after: int | None  # the item a comment just after this token belongs to
    before: int | None  # the item a comment just before this token belongs to


def format_source(source: Source) -> str:
    """The canonical text of a program; raises `SourceError` for a syntax error."""
    program = parse(source)  # syntax errors, reported as for every other command
    formatted = _format(source.text) if program.is_v1 else _format_graph(source.text)
    check_same_program(program, parse(Source(source.name, formatted)), source.name)
    return formatted


def format_text(text: str, name: str = "<string>") -> str:
    """`format_source` for a string."""
    return format_source(Source(name, text))


def check_same_program(before: nodes.Program, after: nodes.Program, name: str) -> None:
    """Refuse to return a layout that parses to a different program (a bug in fmt)."""
    if without_positions(before) != without_positions(after):
        raise AssertionError(f"kdsl fmt would change the program in {name}; not formatting it")


def without_positions(node):
    """A syntax tree as a comparable key with every `Span` left out, to compare programs
    laid out differently: nested tuples of a node's class and the fields its `==`
    compares, no node rebuilt (`dataclasses.replace` on each was 5 times as slow)."""
    if isinstance(node, nodes.Span):
        return None
    if isinstance(node, tuple):
        return tuple(without_positions(item) for item in node)
    names = _compared_fields(type(node))
    if names is None:
        return node
    return (type(node), *(without_positions(getattr(node, name)) for name in names))


_COMPARED_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _compared_fields(cls: type) -> tuple[str, ...] | None:
    """The fields a node class's `==` compares, in order; None for what is no node."""
    if cls not in _COMPARED_FIELDS:
        _COMPARED_FIELDS[cls] = (
            tuple(f.name for f in dataclasses.fields(cls) if f.compare)
            if dataclasses.is_dataclass(cls)
            else None
        )
    return _COMPARED_FIELDS[cls]


def _format(text: str) -> str:
    tree = lark_parser(keep_all_tokens=True).parse(text)
    items, code = _items(tree)
    footer = _attach_comments(text, items, code)
    one_line = _one_line(items)
    if one_line is not None:
        lines = [(c.line, c.line, c.text) for c in items[0].leading]
        lines.append((items[0].first_line, items[-1].last_line, one_line))
    else:
        lines = _multi_line(items)
    lines += [(c.line, c.line, c.text) for c in footer]
    return _join(text, lines)


def _join(text: str, lines: list[tuple[int, int, str]]) -> str:
    """The output lines, (first source line, last source line, text) each, as a file:
    one blank line where the source had any between them, the source's line ends."""
    newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") and "\n" in text else "\n"
    # blanks_before[n]: how many of the source's first n lines are blank.
    blanks_before = list(
        accumulate((not line.strip(" \t\f\r") for line in text.split("\n")), initial=0)
    )
    out: list[str] = []
    previous_end = None
    for first, last, line in lines:
        if previous_end is not None and blanks_before[first - 1] > blanks_before[previous_end]:
            out.append("")
        out.append(line)
        previous_end = last
    return newline.join(out) + newline


def _items(tree: Tree) -> tuple[list[_Item], list[_CodeToken]]:
    """The layers and sections, and every code token with the item comments near it join."""
    items: list[_Item] = []
    code: list[_CodeToken] = []
    chain, *rest = tree.children
    for child in chain.children:
        if isinstance(child, Token):  # `->`: its comments go with the layer before or after
            code.append(_CodeToken(child, len(items) - 1, len(items)))
        else:  # a v1 element: one call
            _add_item(items, code, _call(child.children[0]), True, child)
    for child in rest:
        if isinstance(child, Token):  # `;`, the last one perhaps ending the file
            code.append(
                _CodeToken(child, len(items) - 1, len(items) if child is not rest[-1] else None)
            )
        else:
            calls = [c for c in child.children if isinstance(c, Tree)]
            _add_item(items, code, section_text([_call(c) for c in calls]), False, child)
    code.sort(key=lambda c: _known(c.token.start_pos))
    for current in code:
        # The lines an item covers: `->` starts the next layer's line, `;` ends the line before.
        index = current.before if current.token.type != "SEMICOLON" else current.after
        item, line = items[_known(index)], _known(current.token.line)
        item.first_line = min(item.first_line or line, line)
        item.last_line = max(item.last_line, line)
    return items, code


def _known(value: int | None) -> int:
    """A position lark types as optional but always sets on parsed tokens, or an item index
    that the token's kind guarantees (a `->` always has an item after it)."""
    assert value is not None
    return value


def _add_item(items: list[_Item], code: list[_CodeToken], text: str, is_layer: bool, tree: Tree):
    index = len(items)
    items.append(_Item(text, is_layer))
    for token in tree.scan_values(lambda value: isinstance(value, Token)):
        code.append(_CodeToken(token, index, index))


def _call(tree: Tree) -> str:
    name, *args = tree.children
    return " ".join([str(name), *(_argument(arg) for arg in args)])


def _argument(node: Tree) -> str:
    if node.data == "keyword":
        name, equal, value = node.children
        return f"{name}{equal}{_value(value)}"
    if node.data == "input_shape":
        keyword, value = node.children
        return f"{keyword} {_value(value)}"
    return _value(node)


def _value(node: Tree, nested: bool = False) -> str:
    """A value as written canonically; `nested`: inside brackets, where arithmetic is
    spaced as in Python (`(1 / 255)`), while outside it stays glued (`1/255`)."""
    parts = [c for c in node.children if isinstance(c, Tree)]
    if node.data == "tuple":
        commas = sum(1 for c in node.children if isinstance(c, Token) and c.type == "COMMA")
        one_item_comma = "," if len(parts) == 1 and commas else ""
        return "(" + ", ".join(_value(v, True) for v in parts) + one_item_comma + ")"
    if node.data == "paren":
        return "(" + _value(parts[0], True) + ")"
    if node.data == "binop":
        left, operator, right = node.children
        space = " " if nested else ""
        return f"{_value(left, nested)}{space}{operator}{space}{_value(right, nested)}"
    if node.data == "neg":
        return "-" + _value(parts[0], nested)
    if node.data == "value_call":
        return str(node.children[0]) + ", ".join(_call_arg(a) for a in parts) + ")"
    if node.data == "dict":
        pairs = [
            f"{_value(k, True)}: {_value(v, True)}" for k, v in (p.children[::2] for p in parts)
        ]
        return "{" + ", ".join(pairs) + "}"
    (token,) = node.children
    return str(token)


def _call_arg(node: Tree) -> str:
    if node.data == "keyword":
        name, _, value = node.children
        return f"{name}={_value(value, True)}"
    return _value(node, True)


@cache
def _comment_pattern() -> re.Pattern[str]:
    return re.compile(syntax.terminal_pattern(syntax.COMMENT))


def _comments(text: str, start: int, end: int, line: int) -> list[_Comment]:
    """The comments in text[start:end], a stretch of whitespace and comments after code
    that ends on `line` (or at the file's start, line 1)."""
    found = []
    cursor = start
    for match in _comment_pattern().finditer(text, start, end):
        line += text.count("\n", cursor, match.start())
        cursor = match.start()
        own_line = start == 0 or text.rfind("\n", start, match.start()) >= 0
        found.append(_Comment(match.group().rstrip(), match.start(), line, own_line))
    return found


def _attach_comments(text: str, items: list[_Item], code: list[_CodeToken]) -> list[_Comment]:
    """A comment after code joins that code's line; one on its own line, the next item.
    Returns the comments below the last item, which stay at the end."""
    footer: list[_Comment] = []
    previous_end = 0
    for index, current in enumerate([*code, None]):
        end = _known(current.token.start_pos) if current else len(text)
        line = _known(code[index - 1].token.end_line) if index else 1
        for comment in _comments(text, previous_end, end, line):
            if not comment.own_line:
                items[_known(code[index - 1].after)].trailing.append(comment)
            elif current is not None and current.before is not None:
                items[current.before].leading.append(comment)
            else:
                footer.append(comment)
        if current is not None:
            previous_end = _known(current.token.end_pos)
    return footer


def program_line(layers: list[str], sections: list[str]) -> str:
    """A program on one line, as the layout writes a short one (and `kdsl import` its
    draft): `LAYER -> LAYER; SECTION; SECTION`."""
    return "; ".join([" -> ".join(layers), *sections])


def section_text(calls: list[str]) -> str:
    """A section's calls, as the layout writes them: `metrics accuracy, auc`."""
    return ", ".join(calls)


def _one_line(items: list[_Item]) -> str | None:
    """The whole program on one line, if its comments allow it and it fits."""
    if any(item.trailing for item in items) or any(item.leading for item in items[1:]):
        return None
    layers = [item.text for item in items if item.is_layer]
    sections = [item.text for item in items if not item.is_layer]
    line = program_line(layers, sections)
    return line if len(line) <= LINE_LENGTH else None


def _multi_line(items: list[_Item]) -> list[tuple[int, int, str]]:
    """(first source line, last source line, text) for each output line."""
    lines = []
    for index, item in enumerate(items):
        indent = INDENT if item.is_layer and index > 0 else ""
        for comment in item.leading:
            lines.append((comment.line, comment.line, indent + comment.text))
        text = indent + ("-> " if indent else "") + item.text
        if index + 1 < len(items) and not items[index + 1].is_layer:
            text += ";"
        if item.trailing:
            text += "  " + "  ".join(c.text for c in item.trailing)
        lines.append((item.first_line, item.last_line, text))
    return lines


# -- v2: blocks, labels, references, groups, repeats, several chains ----------------------
#
# A graph program is laid out from the same tokens, by what each line holds: the blocks
# first (`def name params {`, one element per line, `}`), then the chains and sections as
# v1 lays out its chain (one line when it fits and holds no comment, else one element
# and one section a line). A group stays inline (`[a | b]`) when it fits; else each
# branch starts a line, the first after `[ `, the others after `| `, aligned under `[`,
# and `]` closes it on a line of its own (then ` * n`). A branch that does not fit on its
# line continues one element a line, `-> ` four columns in from `[`.
#
# Comments follow v1's rule, by token: one on its own line stays on its own line, before
# the line of the code after it; one after code ends the line of the code before it. So a
# comment keeps a group or a branch broken only where it would sit between two of its
# lines: after code on any line but its last, or on its own line before any line but its
# first. Anywhere else it sits on the same line either way, which keeps fmt idempotent.


@dataclass
class _Line:
    """An output line: its text and the code tokens it holds (indexes, first and last)."""

    text: str
    first: int
    last: int
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)


class _GraphLayout:
    """The lines of a graph program, from lark's tree with every token kept."""

    def __init__(self, text: str, tree: Tree):
        self.text = text
        self.tokens: list[Token] = sorted(
            tree.scan_values(lambda value: isinstance(value, Token)),
            key=lambda token: _known(token.start_pos),
        )
        self.index = {id(token): number for number, token in enumerate(self.tokens)}
        count = len(self.tokens)
        # after_code[k]: a comment follows token k on its line; own_line[t]: a comment on a
        # line of its own comes before token t. Summed, to ask about a range at once.
        after_code, own_line = [False] * count, [False] * (count + 1)
        for k in range(-1, count):
            for comment in _comments(self.text, self._end(k), self._start(k + 1), 1):
                if comment.own_line:
                    own_line[k + 1] = True
                else:
                    after_code[k] = True
        self.after_code = list(accumulate(after_code, initial=0))
        self.own_line = list(accumulate(own_line, initial=0))
        # Where comments next to a token go when the token is not written (a last `;`):
        # (the line a comment after it ends, the line a comment before it precedes).
        self.dropped: dict[int, tuple[int, int | None]] = {}

    def _start(self, k: int) -> int:
        return _known(self.tokens[k].start_pos) if k < len(self.tokens) else len(self.text)

    def _end(self, k: int) -> int:
        return _known(self.tokens[k].end_pos) if k >= 0 else 0

    def held_apart(self, lines: list[_Line]) -> bool:
        """Whether a comment sits between two of these lines: after code on any line but
        the last, or on its own line before any line but the first."""
        first, last = lines[0], lines[-1]
        return (
            self.after_code[last.first] - self.after_code[first.first] > 0
            or self.own_line[last.last + 1] - self.own_line[first.last + 1] > 0
        )

    def first(self, node: Tree | Token) -> int:
        while isinstance(node, Tree):
            node = node.children[0]
        return self.index[id(node)]

    def last(self, node: Tree | Token) -> int:
        while isinstance(node, Tree):
            node = node.children[-1]
        return self.index[id(node)]

    # -- the program

    def program(self, tree: Tree) -> list[_Line]:
        children = tree.children
        blocks = [c for c in children if isinstance(c, Tree) and c.data.endswith("_block")]
        lines: list[_Line] = []
        for block in blocks:
            lines += self.block(block)
        rest = children[len(blocks) :]
        statements = [c for c in rest if isinstance(c, Tree)]
        final = rest[-1] if isinstance(rest[-1], Token) else None  # a last `;`: dropped
        broken: list[_Line] = []
        for number, statement in enumerate(statements):
            if statement.data == "section":
                text = self.statement_text(statement)
                broken.append(_Line(text, self.first(statement), self.last(statement)))
            else:
                broken += self.chain(statement, "", "", inline=False)
            if number + 1 < len(statements):
                _end_with_semicolon(broken[-1])
        first, last = broken[0].first, broken[-1].last
        inline = "; ".join(self.statement_text(s) for s in statements)
        # As v1: a comment after code anywhere breaks it up, not one above it.
        after_code = self.after_code[last + 1 + (final is not None)] - self.after_code[first]
        if len(inline) <= LINE_LENGTH and not self.held_apart(broken) and not after_code:
            broken = [_Line(inline, first, last)]
        lines += broken
        if final is not None:
            self.dropped[self.index[id(final)]] = (len(lines) - 1, None)
        return lines

    def statement_text(self, tree: Tree) -> str:
        if tree.data == "section":
            return section_text([_call(c) for c in tree.children if isinstance(c, Tree)])
        return self.chain_text(tree)

    def block(self, tree: Tree) -> list[_Line]:
        """`def name params {`, the body's elements a line each, `}`."""
        keyword, name, *rest = tree.children
        params = [c for c in rest if isinstance(c, Tree) and c.data != "body"]
        (body,) = [c for c in rest if isinstance(c, Tree) and c.data == "body"]
        header = " ".join([str(keyword), str(name), *(_param(p) for p in params), "{"])
        lines = [_Line(header, self.first(tree), self.first(body) - 1)]
        chains = [c for c in body.children if isinstance(c, Tree)]
        for number, chain in enumerate(chains):
            lines += self.chain(chain, INDENT, "", inline=False)
            if number + 1 < len(chains):
                _end_with_semicolon(lines[-1])
        closing = self.last(tree)
        lines.append(_Line("}", closing, closing))
        trailing = isinstance(body.children[-1], Token)  # a last `;` in the body: dropped
        # A short block stays on one line, as a short program does (`def bn6 { ... }`).
        inline = f"{header} {'; '.join(self.chain_text(c) for c in chains)} }}"
        if trailing:
            self.dropped[closing - 1] = (-1, 0)  # relative to the block's last lines
        if len(inline) <= LINE_LENGTH and not self.held_apart(lines):
            return [_Line(inline, lines[0].first, closing)]
        return lines

    # -- chains, elements, groups

    def chain_text(self, tree: Tree) -> str:
        """A chain on one line: `a -> b: c * 2 -> [d | e]`."""
        return " -> ".join(self.element_text(c) for c in tree.children if _is_element(c))

    def element_text(self, tree: Tree | Token) -> str:
        if isinstance(tree, Token):  # a chain's leading `@t`
            return str(tree)
        label, atom, repeat = self.parts(tree)
        return label + self.atom_text(atom) + _repeat_text(repeat)

    def parts(self, tree: Tree) -> tuple[str, Tree, Tree | None]:
        """An element's label (`name: `), atom and repeat."""
        children = [c for c in tree.children if not (isinstance(c, Token) and c.type == "COLON")]
        label = ""
        if tree.data == "labelled":
            label = f"{children.pop(0)}: "
        atom, *repeat = children
        return label, atom, repeat[0] if repeat else None

    def atom_text(self, atom: Tree) -> str:
        if atom.data == "group":
            branches = [self.chain_text(c) for c in atom.children if isinstance(c, Tree)]
            return "[" + " | ".join(branches) + "]"
        if atom.data == "call":
            return _call(atom)
        return str(atom.children[0])  # a reference

    def chain(self, tree: Tree, indent: str, lead: str, inline: bool) -> list[_Line]:
        """The chain's lines: `indent + lead` then its first element, the others each on a
        line of their own, `-> ` two columns in from the first; or, when `inline`, all on
        one line if it fits and no comment holds its lines apart."""
        more = " " * (len(indent) + len(lead)) + INDENT
        lines: list[_Line] = []
        arrow: int | None = None
        for child in tree.children:
            if not _is_element(child):  # `->`
                arrow = self.index[id(child)]
            elif arrow is None:
                lines += self.element(child, indent, lead, self.first(child))
            else:
                lines += self.element(child, more, "-> ", arrow)
        text = indent + lead + self.chain_text(tree)
        if inline and len(text) <= LINE_LENGTH and not self.held_apart(lines):
            return [_Line(text, lines[0].first, lines[-1].last)]
        return lines

    def element(self, tree: Tree | Token, indent: str, lead: str, first: int) -> list[_Line]:
        """An element's lines, from token `first` (its `->`, if any)."""
        text = indent + lead + self.element_text(tree)
        inline = [_Line(text, first, self.last(tree))]
        if isinstance(tree, Token):
            return inline
        label, atom, repeat = self.parts(tree)
        if atom.data != "group":
            return inline  # a call is never broken
        column = len(indent) + len(lead) + len(label)
        lines: list[_Line] = []
        bar: int | None = None
        for child in atom.children:
            if isinstance(child, Token):
                bar = self.index[id(child)] if child.type == "VBAR" else bar
                continue
            branch = self.chain(child, " " * column, "[ " if bar is None else "| ", inline=True)
            branch[0].first = first if bar is None else bar
            lines += branch
        lines[0].text = indent + lead + label + lines[0].text[column:]
        lines.append(
            _Line(" " * column + "]" + _repeat_text(repeat), self.last(atom), inline[0].last)
        )
        if len(text) <= LINE_LENGTH and not self.held_apart(lines):
            return inline
        return lines

    # -- comments

    def attach(self, lines: list[_Line]) -> list[_Comment]:
        """Each comment to the line it joins; returns those below the last line."""
        line_of: list[tuple[int, int | None]] = [(0, 0)] * len(self.tokens)
        for number, line in enumerate(lines):
            for k in range(line.first, line.last + 1):
                line_of[k] = (number, number)
        for k, (after, before) in self.dropped.items():
            if before is None:  # the program's last `;`
                line_of[k] = (after, None)
            else:  # a body's last `;`, just before its `}`
                closing = line_of[k + 1][0]
                line_of[k] = (closing + after, closing + before)
        footer: list[_Comment] = []
        for k in range(-1, len(self.tokens)):
            row = _known(self.tokens[k].end_line) if k >= 0 else 1
            for comment in _comments(self.text, self._end(k), self._start(k + 1), row):
                if not comment.own_line:
                    lines[line_of[k][0]].trailing.append(comment)
                elif k + 1 < len(self.tokens) and line_of[k + 1][1] is not None:
                    lines[_known(line_of[k + 1][1])].leading.append(comment)
                else:
                    footer.append(comment)
        return footer


def _is_element(node: Tree | Token) -> bool:
    """A chain's element: a tree, or the `@t` token a later chain starts with."""
    return isinstance(node, Tree) or node.type == "REF"


def _end_with_semicolon(line: _Line) -> None:
    """The `;` after a chain's or a section's last line joins that line."""
    line.text += ";"
    line.last += 1


def _repeat_text(repeat: Tree | None) -> str:
    if repeat is None:
        return ""
    count = repeat.children[-1]
    return f" * {_value(count) if isinstance(count, Tree) else count}"


def _param(tree: Tree) -> str:
    """A block parameter as written: `f`, `s=1`, `@memory`."""
    if tree.data == "param_default":
        name, _, value = tree.children
        return f"{name}={_value(value)}"
    return str(tree.children[0])


def _format_graph(text: str) -> str:
    """The layout of a program with v2 constructs (see the comment above `_Line`)."""
    tree = lark_parser(keep_all_tokens=True).parse(text)
    layout = _GraphLayout(text, tree)
    lines = layout.program(tree)
    footer = layout.attach(lines)
    rows = []
    for line in lines:
        indent = line.text[: len(line.text) - len(line.text.lstrip(" "))]
        rows += [(c.line, c.line, indent + c.text) for c in line.leading]
        code = line.text + "".join(f"  {c.text}" for c in line.trailing)
        first, last = layout.tokens[line.first], layout.tokens[line.last]
        rows.append((_known(first.line), _known(last.end_line), code))
    rows += [(c.line, c.line, c.text) for c in footer]
    return _join(text, rows)


def format_files(paths: list[str], check: bool = False, diff: bool = False) -> int:
    """`kdsl fmt`: rewrite each file that changes (atomically, keeping its mode), or with
    `check`/`diff` only say so; report like black on stderr. The exit code: 1 when a file
    could not be formatted, or with `check` when one would change; else 0."""
    from kdsl.errors import KdslError, use_color
    from kdsl.files import read_source, write_atomic

    changed = unchanged = failed = 0
    for path in _expand(paths):
        try:
            source = read_source(path)
            formatted = format_source(source)
        except KdslError as error:
            print(error.render(color=use_color(sys.stderr)), file=sys.stderr)
            failed += 1
            continue
        if path == "-" and not (check or diff):
            sys.stdout.write(formatted)
        if formatted == source.text:
            unchanged += 1
            continue
        changed += 1
        if diff:
            sys.stdout.write(unified_diff(source.text, formatted, source.name))
        if check or diff:
            print(f"would reformat {source.name}", file=sys.stderr)
        elif path != "-":
            write_atomic(path, formatted)
            print(f"reformatted {path}", file=sys.stderr)
    print(_summary(changed, unchanged, failed, dry_run=check or diff), file=sys.stderr)
    return 1 if failed or (check and changed) else 0


def _expand(paths: list[str]) -> list[str]:
    """Files as given; folders as the .k files under them (hidden folders skipped)."""
    found: list[str] = []
    for path in paths:
        folder = Path(path)
        if path != "-" and folder.is_dir():
            programs = sorted(
                p
                for p in folder.rglob("*.k")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            )
            if not programs:
                print(f"kdsl fmt: no .k files in {path}", file=sys.stderr)
            found += [str(p) for p in programs]
        else:
            found.append(path)
    return found


def _summary(changed: int, unchanged: int, failed: int, dry_run: bool) -> str:
    def files(count: int) -> str:
        return f"{count} file{'s' if count != 1 else ''}"

    would = "would be " if dry_run else ""
    parts = []
    if changed:
        parts.append(f"{files(changed)} {would}reformatted")
    if unchanged:
        parts.append(f"{files(unchanged)} {would}left unchanged")
    if failed:
        parts.append(f"{files(failed)} failed to reformat")
    return (", ".join(parts) or "no files to format") + "."


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff between two versions of a file, as `diff -u` prints it."""
    return "".join(
        difflib.unified_diff(
            _diff_lines(before), _diff_lines(after), f"{name}\t(original)", f"{name}\t(formatted)"
        )
    )


def _diff_lines(text: str) -> list[str]:
    """Lines ending in "\\n" (only "\\n" ends a line, as for the parser), and the marker
    `diff` prints after a last line without one."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if lines[-1]:
        lines[-1] += "\n\\ No newline at end of file\n"
    else:
        lines.pop()
    return lines
