"""No input crashes kdsl: arbitrary bytes, grammar-shaped programs and their mutants.

The fast profile runs here; `python benchmarks/fuzz.py` runs the long one (100,000+).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzzing import SPECIALS, Report, fuzz, run_one
from grammar_strategies import GRAMMAR, TERMINALS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark


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
