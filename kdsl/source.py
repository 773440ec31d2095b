"""Positions in a program's text, below every layer: the syntax tree, the IR and the
diagnostics all point into the source with a `Span`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based line/column range in the source."""

    line: int
    column: int
    end_line: int
    end_column: int
