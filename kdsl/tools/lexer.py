"""A Pygments lexer for .k programs: `pygmentize -l kdsl model.k`, ```kdsl fences in docs.

Registered through the `pygments.lexers` entry point (pyproject.toml), so Pygments, Sphinx
and MkDocs find it by the name `kdsl` once kdsl is installed. It claims no file pattern:
`*.k` already belongs to Pygments' lexer for the K language, so name it with `-l kdsl`.

It follows the grammar (grammar/kdsl.lark): a call's name (a layer, an optimizer, a loss,
a metric or a section head) is told apart from the values after it, and names the catalog
knows are builtins. v2's constructs have their own kinds: `def`/`shared` declare a block
(its name a function, its parameters variables), `name:` is a label, `@name` a variable,
`[ | ]` and `{ }` punctuation, `* n` an operator and its count.
"""

from __future__ import annotations

import re
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

from kdsl.language import syntax
from kdsl.semantics.space import SPACE_CALLS, TUNE

__all__ = ["KdslLexer"]

# With the `tune` section of a program with search spaces (issue 16).
SECTION_HEADS = syntax.SECTION_HEADS | {TUNE}
CONSTANTS = frozenset(syntax.CONSTANTS)
# The grammar's own token patterns (kdsl/language/syntax.py reads them from kdsl.lark).
_NAME = syntax.terminal_pattern(syntax.NAME)
_REF = syntax.terminal_pattern(syntax.REF)
_ARROW = re.escape(syntax.ARROW_LITERAL)
_SPACE = syntax.whitespace_pattern()
_BLOCK_KEYWORDS = "|".join(sorted(syntax.BLOCK_KEYWORDS))
# `* 3` or `* n` (a block's parameter) after an element: how many times it repeats.
_REPEATS = [
    (  # a searched depth (issue 16): `* int(1, 3)`
        rf"(\*)((?:{_SPACE})?)({_NAME})(\()",
        bygroups(Operator, Whitespace, Name.Builtin, Punctuation),
        "tuple",
    ),
    (
        rf"(\*)((?:{_SPACE})?)({syntax.terminal_pattern('INT')})",
        bygroups(Operator, Whitespace, Number.Integer),
    ),
    (rf"(\*)((?:{_SPACE})?)({_NAME})", bygroups(Operator, Whitespace, Name.Variable)),
]
_KEYWORDS = "|".join(rf"{re.escape(word)}(?![A-Za-z0-9_])" for word in sorted(syntax.keywords()))


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


def _string(lexer, match):
    """A quoted string, by its quote: `"..."` or `'...'`."""
    text = match.group()
    yield match.start(), String.Double if text.startswith('"') else String.Single, text


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
            (syntax.whitespace_pattern(), Whitespace),
            (syntax.terminal_pattern(syntax.COMMENT), Comment.Single),
        ],
        # Where a call starts: the file's start, and after `->`, `;` and a metric's `,`;
        # in v2 also after `[`, `|`, `{` and a label, where a block, a group or `@t` may be.
        "root": [
            include("space"),
            (
                rf"({_BLOCK_KEYWORDS})({_SPACE})({_NAME})",
                bygroups(Keyword.Declaration, Whitespace, Name.Function),
                "parameters",
            ),
            (rf"({_NAME})((?:{_SPACE})?)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (_NAME, _call_name, "arguments"),
            (_REF, Name.Variable),
            include("repeat"),
            (rf"{_ARROW}", Operator),
            (r"[;,\[\]|{}]", Punctuation),  # a doubled separator: shown, not flagged
            include("values"),
        ],
        "arguments": [
            include("space"),
            (_ARROW, Operator, "#pop"),
            (r"[;,\]|}]", Punctuation, "#pop"),
            include("repeat"),
            (_KEYWORDS, Keyword),
            (rf"({_NAME})([ \t\f\r\n]*)(=)", bygroups(Name.Attribute, Whitespace, Operator)),
            include("values"),
        ],
        "repeat": _REPEATS,
        # A block's parameters, up to the `{` its body starts with.
        "parameters": [
            include("space"),
            (r"\{", Punctuation, "#pop"),
            (rf"({_NAME})([ \t\f\r\n]*)(=)", bygroups(Name.Variable, Whitespace, Operator)),
            (_NAME, Name.Variable),
            include("values"),
        ],
        "tuple": [  # also a call's arguments: `l2(l2=0.01)`
            include("space"),
            (r",", Punctuation),
            (r"\)", Punctuation, "#pop"),
            (rf"({_NAME})([ \t\f\r\n]*)(=)", bygroups(Name.Attribute, Whitespace, Operator)),
            include("values"),
        ],
        "dict": [
            include("space"),
            (r"[,:]", Punctuation),
            (r"\}", Punctuation, "#pop"),
            include("values"),
        ],
        "values": [
            (  # a search space (issue 16): `int(16, 64)`, `choice(relu, gelu)`
                rf"({'|'.join(sorted(SPACE_CALLS))})(\()",
                bygroups(Name.Builtin, Punctuation),
                "tuple",
            ),
            (rf"({_NAME})(\()", bygroups(Name.Function, Punctuation), "tuple"),  # l2(0.01)
            (r"\(", Punctuation, "tuple"),
            (r"\{", Punctuation, "dict"),
            (syntax.terminal_pattern(syntax.STRING), _string),
            (syntax.terminal_pattern("DIMS"), Number),  # a shape: 28x28x1
            (syntax.terminal_pattern("FLOAT"), Number.Float),
            (syntax.terminal_pattern("INT"), Number.Integer),
            (_REF, Name.Variable),  # `@name`: a labelled tensor
            (_NAME, _value_name),
            (r"\*\*|//|[*/%+-]", Operator),  # arithmetic: 1/255
        ],
    }

    def analyse_text(text: str) -> float:  # noqa: N805 - Pygments makes it a static method
        """How much `text` looks like kdsl, for `pygmentize -g` and friends."""
        if "->" in text and ";" in text and ("dense" in text or "input" in text):
            return 0.3
        return 0.0
