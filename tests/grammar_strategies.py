"""Hypothesis strategies for programs derived from kdsl's grammar (test_fuzz, test_fmt)."""

from __future__ import annotations

from importlib.resources import files

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
    if t.name in {"FLOAT", "INT", "NAME", "STRING"} or t.pattern.type == "str"
}
TERMINALS["DIMS"] = _spaced(
    st.lists(st.integers(1, 64), min_size=2, max_size=4).map(lambda dims: "x".join(map(str, dims)))
)
TERMINALS["NAME"] = TERMINALS["NAME"].filter(lambda name: name.strip() != "in")
TERMINALS["COMMENT"] = st.just("# a comment\n")  # ends its line, as in a real file
