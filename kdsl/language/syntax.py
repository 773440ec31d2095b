"""The surface syntax's words and tokens, defined once for every tool that reads kdsl text.

The grammar (grammar/kdsl.lark) is the source of the tokens: the highlighter takes its
patterns from here, completion reads the text before the cursor with `scan` (the
grammar's own lexer), and the importer asks `is_bare_word` whether a string may be
written without quotes. The words the grammar leaves to the checker (section heads,
`input`, the constants) are listed here, so that the checker, the importer, the
highlighter and the language server agree on them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from copy import copy
from dataclasses import dataclass
from functools import cache

from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, LexerThread
from lark.utils import TextSlice

from kdsl.language.parser import lark_parser

# The first layer may be `input SHAPE` (keras.Input rather than a layer).
INPUT = "input"
# Named sections, in the order the README lists them.
# The sections that name Keras objects (`compile`'s arguments), then `fit`'s options.
COMPILE_SECTIONS = ("optimizer", "loss", "metrics")
SECTION_NAMES = (*COMPILE_SECTIONS, "fit", "callbacks")
# The words that start a section or the chain without being a Keras name.
SECTION_HEADS = frozenset({INPUT, *SECTION_NAMES})
# Bare words that are Python constants rather than names.
CONSTANTS: dict[str, bool | None] = {
    "true": True,
    "false": False,
    "none": None,
    "True": True,
    "False": False,
    "None": None,
}


def constant_word(value: bool | None) -> str:
    """How the language writes a Python constant: `true`, `false`, `none`."""
    return next(word for word, meaning in CONSTANTS.items() if meaning is value)


# Token types: the grammar's terminal names, and two of `scan`'s own.
NAME = "NAME"
IN = "IN"  # the keyword `in`
STRING = "STRING"
COMMENT = "COMMENT"
SEMICOLON = "SEMICOLON"
COMMA = "COMMA"
EQUAL = "EQUAL"
LPAR = "LPAR"
RPAR = "RPAR"
UNCLOSED_STRING = "UNCLOSED_STRING"  # a quote the line ends before closing
UNKNOWN = "UNKNOWN"  # a character no terminal matches
# v2 (graphs): `@name`, `name:`, `[a | b]`, `* n`, `def name params { ... }`.
REF = "REF"
COLON = "COLON"
LSQB = "LSQB"
VBAR = "VBAR"
RSQB = "RSQB"
STAR = "STAR"
LBRACE = "LBRACE"
RBRACE = "RBRACE"
DEF = "DEF"
SHARED = "SHARED"
# Words that start a block where a program or a block may start (the file's start, after
# `}`), and are names everywhere else (`input 4 name=def`), as the grammar's contextual
# lexer reads them.
BLOCK_KEYWORDS = {"def": DEF, "shared": SHARED}


@cache
def terminal_pattern(name: str) -> str:
    """The regular expression (or the escaped literal) of a grammar terminal."""
    pattern = lark_parser().get_terminal(name).pattern
    return pattern.to_regexp()


@cache
def terminal_named(literal: str) -> str:
    """The grammar's terminal name for a literal: `->` → `__ANON_0`, `;` → `SEMICOLON`."""
    for terminal in lark_parser().terminals:
        if terminal.pattern.type == "str" and terminal.pattern.value == literal:
            return terminal.name
    raise KeyError(literal)


ARROW_LITERAL = "->"


@cache
def whitespace_pattern() -> str:
    """The white space the grammar ignores (comments are `COMMENT`, also ignored)."""
    (pattern,) = (
        terminal.pattern.to_regexp()
        for terminal in lark_parser().terminals
        if terminal.name.startswith("__IGNORE")
    )
    return pattern


@cache
def keywords() -> frozenset[str]:
    """The words reserved everywhere (`in`): the grammar's literal terminals that look
    like names, but for the block keywords, which are names where no block may start."""
    return frozenset(
        terminal.pattern.value
        for terminal in lark_parser().terminals
        if terminal.pattern.type == "str"
        and terminal.pattern.value.isidentifier()
        and terminal.pattern.value not in BLOCK_KEYWORDS
    )


@cache
def reserved_words() -> frozenset[str]:
    """Words that cannot stand for the string they spell: the keywords and constants."""
    return keywords() | frozenset(CONSTANTS)


@cache
def _name_pattern() -> re.Pattern[str]:
    return re.compile(terminal_pattern(NAME))


def is_bare_word(text: str) -> bool:
    """Whether `text` may be written as a bare name and read back as that string."""
    return _name_pattern().fullmatch(text) is not None and text not in reserved_words()


@dataclass(frozen=True)
class Token:
    """A token of possibly unfinished text: its grammar type, its text and where it is."""

    type: str
    text: str
    start: int
    end: int


_QUOTES = "\"'"


def scan(text: str) -> Iterator[Token]:
    """The grammar's tokens of `text`, comments included and white space left out, for
    text being typed: where no terminal matches, a quote opens a string the line does not
    close (`UNCLOSED_STRING`, to the line's end) and any other character is `UNKNOWN`.
    `def` and `shared` are `DEF` and `SHARED` where a block may start (the first code, or
    after `}`), and a `NAME` elsewhere, as the parser reads them."""
    block_may_start = True
    for token in _scan_reusing(text):
        if token.type in (DEF, SHARED) and not block_may_start:
            token = Token(NAME, token.text, token.start, token.end)
        if token.type != COMMENT:
            block_may_start = token.type == RBRACE
        yield token


# The text `_scan_reusing` read last, and its tokens.
_last_scan: tuple[str, tuple[Token, ...]] = ("", ())


@cache
def _skipped() -> re.Pattern[str]:
    """A character of the white space the grammar skips."""
    return re.compile(whitespace_pattern())


def _scan_reusing(text: str) -> tuple[Token, ...]:
    """`tuple(_scan(text))`, reading again only from the last token before `text` first
    differs from the text read last that white space follows: the editor asks for
    completions as the user types, each keystroke changing the text near the cursor, so
    a keystroke costs the word being typed, not the document.

    The tokens up to that one are the same in both texts, and a scan from that white
    space reads what a scan from the start reads from there: no pattern reads past a
    white space character (only a string or a comment holds one, and it stops at its
    closing quote or the line's end; the look-aheads read one character), the lexer
    keeps no state but its position, and a look-behind sees the whole text."""
    global _last_scan
    before, tokens = _last_scan
    same = _common_prefix(before, text)
    kept = bisect_left(tokens, same, key=lambda token: token.start)
    skipped = _skipped()
    while kept and not (
        tokens[kept - 1].end < same and skipped.match(text, tokens[kept - 1].end) is not None
    ):
        kept -= 1
    start = tokens[kept - 1].end if kept else 0
    scanned = (*tokens[:kept], *_scan(text, start))
    _last_scan = (text, scanned)
    return scanned


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of `a` and `b` (comparisons of halves in
    C, not a Python loop over characters)."""
    if b.startswith(a):
        return len(a)
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@cache
def _lexer_keeping_all() -> BasicLexer:
    """The grammar's lexer, keeping what the parser ignores (white space, comments), built
    once: `Lark.lex(dont_ignore=True)` builds one on every call, a millisecond each, and the
    editor's completion scans the text at every keystroke."""
    conf = copy(lark_parser().lexer_conf)
    conf.ignore = ()
    return BasicLexer(conf)


def _scan(text: str, position: int = 0) -> Iterator[Token]:
    """The tokens of `text` from `position` on: 0, or white space (see `_scan_reusing`)."""
    lexer = _lexer_keeping_all()
    while position < len(text):
        try:
            rest = TextSlice(text, position, len(text))
            for token in LexerThread.from_text(lexer, rest).lex(None):
                if not token.type.startswith("__IGNORE"):
                    start, end = token.start_pos or 0, token.end_pos or 0
                    yield Token(token.type, str(token), start, end)
            return
        except UnexpectedCharacters as error:
            start = error.pos_in_stream or 0
        if text[start] in _QUOTES:
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            yield Token(UNCLOSED_STRING, text[start:end], start, end)
        else:
            end = start + 1
            yield Token(UNKNOWN, text[start], start, end)
        position = end
