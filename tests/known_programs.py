"""Every valid program the repository holds: examples, golden inputs, ```k blocks in docs."""

from __future__ import annotations

import re

from conftest import GOLDEN, ROOT

_FENCE = re.compile(r"^```k\n(.*?)^```\n", re.M | re.S)


def known_programs() -> list[tuple[str, str]]:
    """(where, text) pairs, named for test ids."""
    found = [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("examples/*.k"))]
    found += [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(GOLDEN.rglob("*.k"))]
    for doc in (ROOT / "docs" / "language.md", ROOT / "README.md"):
        text = doc.read_text()
        for match in _FENCE.finditer(text):
            found.append((f"{doc.name}:{text[: match.start()].count(chr(10)) + 1}", match[1]))
    return found
