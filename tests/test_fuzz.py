"""No input crashes kdsl: arbitrary bytes, grammar-shaped programs and their mutants.

The fast profile runs here; `python benchmarks/fuzz.py` runs the long one (100,000+).
"""

from __future__ import annotations

import tempfile
from importlib.resources import files
from pathlib import Path

from fuzzing import SPECIALS, Report, fuzz, run_one
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
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


def _assert_clean(report: Report) -> None:
    assert not report.failures, "\n".join(f"{d[:200]!r}: {m}" for d, m in report.failures[:5])


def test_special_inputs() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Report()
        for data in SPECIALS:
            run_one(data, Path(scratch), report)
    _assert_clean(report)
    assert report.inputs == len(SPECIALS)


def test_random_programs_mutants_and_noise() -> None:
    report = fuzz(400, seed=7, specials=False)  # test_special_inputs has run those
    _assert_clean(report)
    assert report.accepted > 0 and report.rejected > 0


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Report()
        run_one(data, Path(scratch), report)
    _assert_clean(report)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_lark(GRAMMAR, start="start", explicit=TERMINALS))
def test_programs_generated_from_the_grammar(text: str) -> None:
    """Anything the grammar derives parses; then it compiles or gets a kdsl error."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Report()
        errors = run_one(text.encode(), Path(scratch), report)
    _assert_clean(report)
    assert "unexpected" not in errors["check"], (text, errors["check"])
