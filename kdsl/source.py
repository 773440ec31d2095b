"""Positions in a program's text, below every layer: the syntax tree, the IR and the
diagnostics all point into the source with a `Span`."""

from __future__ import annotations

from typing import Any

# Each of a span's four numbers in a field of this many bits of one integer: up to four
# billion lines or columns (a text of gigabytes on one line), and a span of a short
# program's first 8 million lines fits in four of Python's 30-bit digits.
_BITS = 32
_MASK = (1 << _BITS) - 1
_BITS_2, _BITS_3 = 2 * _BITS, 3 * _BITS
_END_MASK = (1 << _BITS_2) - 1  # end_line and end_column


class Span(int):
    """A 1-based line/column range in the source: `line`, `column`, `end_line`,
    `end_column`, compared and hashed as those four numbers.

    Packed into one integer rather than a four-field object: a 100,000-layer program's
    syntax tree holds millions of spans, and an object with four fields (and four integer
    objects, at columns past 256) took ~130 bytes each; an `int` subclass without slots
    takes 56. Nothing else about it is numeric: use its four attributes."""

    __slots__ = ()

    def __new__(cls, line: int, column: int, end_line: int, end_column: int) -> Span:
        # One test for all four: a negative number or one past the field sets high bits.
        if (line | column | end_line | end_column) >> _BITS:
            raise ValueError(f"a position out of range: {(line, column, end_line, end_column)}")
        return int.__new__(
            cls, line << _BITS_3 | column << _BITS_2 | end_line << _BITS | end_column
        )

    @classmethod
    def joined(cls, first: Span, last: Span) -> Span:
        """From `first`'s start to `last`'s end: what a node spanning its children is."""
        return int.__new__(cls, first >> _BITS_2 << _BITS_2 | last & _END_MASK)

    def first(self, length: int) -> Span:
        """The first `length` columns of the span, on its first line: where a name that
        starts it is written (`nodes.Call.name_span`), made without decoding it."""
        start = self >> _BITS_2  # line and column
        end_column = (start & _MASK) + length
        if end_column >> _BITS or length < 0:
            raise ValueError(f"a span {length} columns long is out of range at {self!r}")
        return int.__new__(Span, start << _BITS_2 | self >> _BITS_3 << _BITS | end_column)

    @property
    def line(self) -> int:
        return self >> _BITS_3

    @property
    def column(self) -> int:
        return self >> _BITS_2 & _MASK

    @property
    def end_line(self) -> int:
        return self >> _BITS & _MASK

    @property
    def end_column(self) -> int:
        return self & _MASK

    def __repr__(self) -> str:
        return (
            f"Span(line={self.line}, column={self.column}, "
            f"end_line={self.end_line}, end_column={self.end_column})"
        )

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return type(other) is Span and int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__

    def __bool__(self) -> bool:
        return True  # a position, not a number: never falsy

    def __getnewargs__(self) -> tuple[int, int, int, int]:  # type: ignore[override]
        """For copy and pickle: the four numbers, which `__new__` takes."""
        return (self.line, self.column, self.end_line, self.end_column)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (Span, self.__getnewargs__())
