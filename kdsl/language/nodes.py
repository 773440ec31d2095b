"""The syntax tree of a .k file: frozen dataclasses that remember where they came from.

The parser only builds these; meaning (which name is a layer, which argument is the
learning rate) is decided later by `kdsl.semantics.checker`, so that every problem can be reported
at once with its exact position.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdsl.source import Span


@dataclass(frozen=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True)
class Name:
    """A bare word: `relu`, `same`, `true`, `none`."""

    name: str
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True)
class Tuple:
    items: tuple[Value, ...]
    span: Span
    shorthand: bool = False  # written as `3x3` rather than `(3, 3)`


Value = Number | Name | String | Tuple


@dataclass(frozen=True)
class Positional:
    value: Value
    span: Span


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Value
    span: Span
    name_span: Span


@dataclass(frozen=True)
class InputShape:
    """`in SHAPE` on a layer."""

    value: Value
    span: Span


Arg = Positional | Keyword | InputShape


@dataclass(frozen=True)
class Call:
    """A name with arguments: a layer, an optimizer, a loss, a metric or a section head."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Section:
    """One `;`-separated part after the layer chain; `,` separates its calls."""

    calls: tuple[Call, ...]
    span: Span


@dataclass(frozen=True)
class Program:
    layers: tuple[Call, ...]
    sections: tuple[Section, ...]
