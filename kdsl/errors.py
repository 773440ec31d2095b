"""One error root for everything kdsl reports to a user, and how it is printed.

Every expected failure (bad syntax, unknown names, bad data) is a `KdslError`; the CLI
prints it and exits 1. Anything else escaping is a bug in kdsl.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from kdsl.source import Span


@dataclass(frozen=True)
class Source:
    """A program's text and the name it is reported under (`model.k`, `<stdin>`)."""

    name: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        """Split once: a program with 10,000 problems asks for its lines 10,000 times."""
        # Only "\n" ends a line, as for the parser (splitlines() also breaks at \f, \x1c...).
        return self.text.split("\n")

    def line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1].removesuffix("\r") if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"
    # Where the spot was reached from: a block's body is checked per call, and each
    # note says which call (`in `stage` at 10:6`), innermost first.
    notes: tuple[str, ...] = ()


class KdslError(Exception):
    """Root of every error kdsl reports to a user (exit code 1)."""

    exit_code = 1

    def render(self, color: bool = False) -> str:
        return f"error: {self}"


class SourceError(KdslError):
    """One or more problems in a .k program, each with a position."""

    def __init__(self, source: Source, diagnostics: list[Diagnostic]):
        self.source = source
        # In source order, so a user can fix them top to bottom.
        self.diagnostics = sorted(
            diagnostics, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0)
        )
        super().__init__(self.diagnostics[0].message if diagnostics else "invalid program")

    @property
    def line(self) -> int | None:
        """Line of the first problem (1-based), or None when it has no position."""
        span = self.diagnostics[0].span if self.diagnostics else None
        return span.line if span else None

    @property
    def column(self) -> int | None:
        span = self.diagnostics[0].span if self.diagnostics else None
        return span.column if span else None

    def render(self, color: bool = False) -> str:
        return "\n".join(format_diagnostic(self.source, d, color) for d in self.diagnostics)


class PathError(KdslError):
    """A problem with a whole file rather than a spot in a program: `PATH: error: ...`."""

    def __init__(self, path: str, message: str, hint: str | None = None):
        self.path = path
        self.hint = hint
        super().__init__(message)

    def render(self, color: bool = False) -> str:
        return _headline(self.path, str(self), self.hint, color)


class DataError(PathError):
    """Training data that cannot be used: which file, which array, expected vs. found."""


class ModelError(PathError):
    """A model that Keras itself refused when building or training it."""


class OutputError(PathError):
    """A file kdsl was asked to write that cannot be written (no such folder, no space)."""


class InputError(PathError):
    """A file that cannot be read as a program at all (missing, a directory, not UTF-8)."""


class BackendError(KdslError):
    """A Keras backend that cannot be used: not installed, or not the one already loaded."""

    def __init__(self, message: str, hint: str | None = None):
        self.hint = hint
        super().__init__(message)

    def render(self, color: bool = False) -> str:
        return _headline("kdsl", str(self), self.hint, color)


def first_line(error: Exception) -> str:
    """Keras errors can run for pages; the first meaningful line says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith("Exception encountered")), "")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text or type(error).__name__)
    return text[:300]


_COLORS = {"red": "31", "yellow": "33", "cyan": "36", "green": "32", "bold": "1"}


def _paint(text: str, color: str, enabled: bool) -> str:
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m" if enabled else text


def use_color(stream) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def format_diagnostic(source: Source, diag: Diagnostic, color: bool = False) -> str:
    """`file:line:col: error: message`, the source line, a caret under the spot, a hint."""
    kind = _paint(f"{diag.severity}:", "red" if diag.severity == "error" else "yellow", color)
    if diag.span is None:
        out = [f"{source.name}: {kind} {diag.message}"]
    else:
        span = diag.span
        out = [f"{source.name}:{span.line}:{span.column}: {kind} {diag.message}"]
        text = source.line(span.line)
        if text:
            width = 1
            if span.end_line == span.line and span.end_column > span.column:
                width = span.end_column - span.column
            text, column, width = _around(text, span.column, width)
            # Copy tabs from the prefix so the caret lines up however tabs are shown.
            prefix = "".join(c if c == "\t" else " " for c in text[: column - 1])
            width = max(1, min(width, len(text) - column + 1))
            out.append(f"    {text}")
            out.append(f"    {prefix}{_paint('^' + '~' * (width - 1), 'green', color)}")
    for note in diag.notes:
        out.append(f"  {_paint('note:', 'cyan', color)} {line_safe(note)}")
    if diag.hint:
        out.append(_hint_line(diag.hint, color))
    return "\n".join(out)


# The most of a source line shown under a message: a longer line (a 100 KB one-line
# program) is shown around the spot, so that N problems print N short lines, not N
# copies of the whole line.
SHOWN_COLUMNS = 120
_CUT = "..."


def _around(text: str, column: int, width: int) -> tuple[str, int, int]:
    """(the part of `text` to show, the spot's column in it, the caret's width in it)."""
    if len(text) <= SHOWN_COLUMNS:
        return text, column, width
    start = max(0, min(column - 1 - SHOWN_COLUMNS // 3, len(text) - SHOWN_COLUMNS))
    end = start + SHOWN_COLUMNS
    head = _CUT if start else ""
    tail = _CUT if end < len(text) else ""
    width = min(width, end - (column - 1))
    return f"{head}{text[start:end]}{tail}", column - start + len(head), width


def _headline(where: str, message: str, hint: str | None, color: bool) -> str:
    """`WHERE: error: message` and its hint: an error about a whole file, or kdsl itself."""
    text = f"{where}: {_paint('error:', 'red', color)} {message}"
    return f"{text}\n{_hint_line(hint, color)}" if hint else text


def _hint_line(hint: str, color: bool) -> str:
    return f"  {_paint('hint:', 'cyan', color)} {hint}"


def line_safe(text: str) -> str:
    """`text` with every character that is not printable written as `repr` writes it.

    A comment in the script, or a message, may quote user text (a layer's argument).
    Python ends a line at `\\n` or `\\r`, and `str.splitlines` (which the template's
    `indent` filter, black, editors and terminals use) also at `\\x0b`, `\\x0c`,
    `\\x1c`-`\\x1e`, `\\x85`, `\\u2028` and `\\u2029`: the rest of the comment would be
    live code, and a message would split. All of them are
    non-printable, as are the other control characters and lone surrogates (which UTF-8
    cannot encode, so the script could not be written): escaped, the text stays one line.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def with_article(word: str) -> str:
    """`an optimizer`, `a loss`: a word of a message with its indefinite article."""
    return f"{'an' if word[:1] in tuple('aeiou') else 'a'} {word}"


def did_you_mean(name: str, candidates, prefix: str = "") -> str | None:
    """`did you mean `relu`?` for the closest candidate within a typo or two, or None
    (`prefix`: written before the name, as `@` before a label).

    Typos are counted as edits where swapping two neighbours is one edit (`adma` → `adam`).
    """
    word = name.lower()
    limit = max(1, min(3, len(word) // 3))
    scored = sorted((_edits(word, c), c) for c in set(candidates))
    if scored and scored[0][0] <= limit:
        return f"did you mean `{prefix}{scored[0][1]}`?"
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f"did you mean `{prefix}{matches[0]}`?" if matches else None


def _edits(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, swaps."""
    if abs(len(a) - len(b)) > 3:
        return 99
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
