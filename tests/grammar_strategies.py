"""Hypothesis strategies for programs derived from kdsl's grammar (test_fuzz, test_fmt):
v1's and v2's constructs (blocks, labels, `@` references, groups, repeats, later chains)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from hypothesis import strategies as st
from lark import Lark

# hypothesis needs a grammar object that was built, not loaded from lark's cache.
GRAMMAR = Lark(files("kdsl.grammar").joinpath("kdsl.lark").read_text(), parser="lalr")


def _spaced(strategy):
    """from_lark joins tokens with nothing between them; the lexer needs a space."""
    return strategy.map(lambda token: f"{token} ")


# Every terminal, followed by a space (and DIMS without the regex look-ahead).
TERMINALS = {
    t.name: _spaced(
        st.just(t.pattern.value)
        if t.pattern.type == "str"
        else st.from_regex(t.pattern.value, fullmatch=True)
    )
    for t in GRAMMAR.terminals
    if t.name in {"FLOAT", "INT", "NAME", "STRING", "REF"} or t.pattern.type == "str"
}
TERMINALS["DIMS"] = _spaced(
    st.lists(st.integers(1, 64), min_size=2, max_size=4).map(lambda dims: "x".join(map(str, dims)))
)
# v2's words: `in` is reserved everywhere, `def` and `shared` where a program may start.
KEYWORDS = {"in", "def", "shared"}
TERMINALS["NAME"] = TERMINALS["NAME"].filter(lambda name: name.strip() not in KEYWORDS)
TERMINALS["REF"] = TERMINALS["REF"].filter(lambda ref: ref.strip()[1:] not in KEYWORDS)
TERMINALS["COMMENT"] = st.just("# a comment\n")  # ends its line, as in a real file


def design_programs() -> list[tuple[str, str]]:
    """(where, text) of the v2 programs in docs/design/graphs.md (its ```k blocks): the
    worked examples of every construct, for the tools that must read them."""
    path = Path(__file__).resolve().parent.parent / "docs" / "design" / "graphs.md"
    text = path.read_text()
    return [
        (f"graphs.md:{text[: match.start()].count(chr(10)) + 1}", match.group(1))
        for match in re.finditer(r"^```k\n(.*?)^```\n", text, re.M | re.S)
    ]
