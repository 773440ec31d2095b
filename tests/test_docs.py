"""Every example in the docs and the README compiles (or, for `k-error`, is rejected)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from known_programs import blocks

from kdsl import compile_source
from kdsl.errors import KdslError, Source, SourceError
from kdsl.language.parser import parse
from kdsl.semantics.catalog import ALIASES
from kdsl.semantics.checker import analyze

EXAMPLES = blocks("k")
ERRORS = blocks("k-error")


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 10 and ERRORS


@pytest.mark.parametrize(("where", "program", "_"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
@pytest.mark.parametrize("style", ["add", "constructor", "functional"])
def test_doc_example_compiles(where: str, program: str, _, style: str) -> None:
    """Every example in every style it can take: a graph (v2) only as functional code,
    and `add`/`constructor` say so."""
    model, _summary = analyze(parse(Source(where, program)), Source(where, program))
    if style != "functional" and not model.is_chain:
        with pytest.raises(KdslError, match="this model is a graph"):
            compile_source(program, where, style=style)
        return
    assert "def build_model():" in compile_source(program, where, style=style)


@pytest.mark.parametrize(("where", "program", "output"), ERRORS, ids=[e[0] for e in ERRORS])
def test_doc_error_example_is_rejected_as_shown(where: str, program: str, output) -> None:
    with pytest.raises(SourceError) as info:
        compile_source(program, "model.k")
    if output:
        printed = info.value.render().splitlines()
        shown = [line for line in output.splitlines() if line != "..."]
        assert shown == printed[: len(shown)]


def test_every_alias_is_documented() -> None:
    text = (ROOT / "docs" / "language.md").read_text()
    for alias in ALIASES:
        assert re.search(rf"`{alias}`|{alias[:-2]}\dd", text) or f"`{alias}`" in text, alias


def test_layer_table_is_current() -> None:
    from kdsl.tools.reference import rewrite

    text = (ROOT / "docs" / "language.md").read_text()
    assert rewrite(text) == text, "stale layer table: run `python -m kdsl.tools.reference`"


def test_every_layer_kind_is_documented() -> None:
    from kdsl.semantics.catalog import load

    text = (ROOT / "docs" / "language.md").read_text()
    for kind in load().layers:
        assert f"| `{kind}` |" in text, kind
