"""Every valid program the repository holds: examples, golden inputs, ```k blocks in docs."""

from __future__ import annotations

import re

from conftest import GOLDEN, ROOT

DOCS = [ROOT / "docs" / "language.md", ROOT / "README.md"]
# A ```k or ```k-error block, and the ```text block right after it (its expected output).
FENCE = re.compile(r"^```(k|k-error)\n(.*?)^```\n(?:\n```text\n(.*?)^```)?", re.M | re.S)


def blocks(kind: str) -> list[tuple[str, str, str | None]]:
    """(where, program, expected output or None) of each ```KIND block in the docs."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == kind:
                where = f"{doc.name}:{text[: match.start()].count(chr(10)) + 1}"
                found.append((where, match.group(2), match.group(3)))
    return found


def known_programs() -> list[tuple[str, str]]:
    """(where, text) pairs, named for test ids."""
    found = [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("examples/*.k"))]
    found += [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(GOLDEN.rglob("*.k"))]
    found += [(where, program) for where, program, _ in blocks("k")]
    return found
