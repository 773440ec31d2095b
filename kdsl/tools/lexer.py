"""A Pygments lexer for .k programs: `pygmentize -l kdsl model.k`, ```kdsl fences in docs.

Registered through the `pygments.lexers` entry point (pyproject.toml), so Pygments, Sphinx
and MkDocs find it by the name `kdsl` once kdsl is installed. It claims no file pattern:
`*.k` already belongs to Pygments' lexer for the K language, so name it with `-l kdsl`.

It follows the grammar (grammar/kdsl.lark): a call's name (a layer, an optimizer, a loss,
a metric or a section head) is told apart from the values after it, and names the catalog
knows are builtins.
"""

from __future__ import annotations

from functools import cache

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["KdslLexer"]

SECTION_HEADS = frozenset({"input", "optimizer", "loss", "metrics", "fit"})
CONSTANTS = frozenset({"true", "false", "none", "True", "False", "None"})
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@cache
def _catalog_names() -> frozenset[str]:
    """Every layer, alias, optimizer, loss, metric and activation kdsl knows."""
    from kdsl.semantics.catalog import load

    catalog = load()
    return frozenset(
        {
            *catalog.layers,
            *catalog.layer_aliases,
            *catalog.optimizers,
            *catalog.losses,
            *catalog.loss_aliases,
            *catalog.metrics,
            *catalog.metric_aliases,
            *catalog.activations,
        }
    )


def _call_name(lexer, match):
    """The name a layer or section starts with."""
    name = match.group()
    if name in SECTION_HEADS:
        kind = Keyword
    elif name in _catalog_names():
        kind = Name.Builtin
    else:
        kind = Name.Function
    yield match.start(), kind, name


def _value_name(lexer, match):
    """A bare word as a value: a constant, a known name (`relu`, a wrapped `lstm`), or other."""
    name = match.group()
    if name in CONSTANTS:
        kind = Keyword.Constant
    elif name in _catalog_names():
        kind = Name.Builtin
    else:
        kind = Name
    yield match.start(), kind, name


class KdslLexer(RegexLexer):
    """Lexer for kdsl, the one-line Keras model language (.k files)."""

    name = "kdsl"
    aliases = ["kdsl"]
    filenames: list[str] = []  # `*.k` is Pygments' K language; see the module docstring
    mimetypes = ["text/x-kdsl"]

    tokens = {
        "space": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
        ],
        # Where a call starts: the file's start, and after `->`, `;` and a metric's `,`.
        "root": [
            include("space"),
            (_NAME, _call_name, "arguments"),
            (r"->|;|,", Punctuation),  # a doubled separator: shown, not flagged
            include("values"),
        ],
        "arguments": [
            include("space"),
            (r"->", Operator, "#pop"),
            (r"[;,]", Punctuation, "#pop"),
            (r"in(?![A-Za-z0-9_])", Keyword),
            (rf"({_NAME})([ \t\f\r\n]*)(=)", bygroups(Name.Attribute, Whitespace, Operator)),
            include("values"),
        ],
        "tuple": [
            include("space"),
            (r",", Punctuation),
            (r"\)", Punctuation, "#pop"),
            include("values"),
        ],
        "values": [
            (r"\(", Punctuation, "tuple"),
            (r'"(?:[^"\\\n]|\\[^\n])*"', String.Double),
            (r"'(?:[^'\\\n]|\\[^\n])*'", String.Single),
            (r"\d+(?:x\d+)+(?![A-Za-z0-9_])", Number),  # a shape: 28x28x1
            (r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+", Number.Float),
            (r"[+-]?\d+(?![A-Za-z_])", Number.Integer),
            (_NAME, _value_name),
        ],
    }

    def analyse_text(text: str) -> float:  # noqa: N805 - Pygments makes it a static method
        """How much `text` looks like kdsl, for `pygmentize -g` and friends."""
        if "->" in text and ";" in text and ("dense" in text or "input" in text):
            return 0.3
        return 0.0
