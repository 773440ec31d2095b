"""Every example in the docs and the README compiles (or, for `k-error`, is rejected)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from kdsl import compile_source
from kdsl.catalog import ALIASES
from kdsl.errors import SourceError

DOCS = [ROOT / "docs" / "language.md", ROOT / "README.md"]
FENCE = re.compile(r"^```(k|k-error)\n(.*?)^```\n(?:\n```text\n(.*?)^```)?", re.M | re.S)


def blocks(kind: str) -> list[tuple[str, str, str | None]]:
    found = []
    for doc in DOCS:
        for match in FENCE.finditer(doc.read_text()):
            if match.group(1) == kind:
                found.append(
                    (
                        f"{doc.name}:{doc.read_text()[: match.start()].count(chr(10)) + 1}",
                        match.group(2),
                        match.group(3),
                    )
                )
    return found


EXAMPLES = blocks("k")
ERRORS = blocks("k-error")


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 10 and ERRORS


@pytest.mark.parametrize(("where", "program", "_"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
@pytest.mark.parametrize("style", ["add", "constructor"])
def test_doc_example_compiles(where: str, program: str, _, style: str) -> None:
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
