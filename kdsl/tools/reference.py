"""The generated part of docs/language.md: the table of every layer kind.

    python -m kdsl.tools.reference            # rewrite the table in docs/language.md
A test fails when the table and the catalog disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kdsl.semantics.catalog import POSITIONAL, load
from kdsl.semantics.checker import WRAPPERS
from kdsl.semantics.shapes import CHECKS_ONLY, RULES

START, END = "<!-- kinds:start -->", "<!-- kinds:end -->"


def kinds_table() -> str:
    catalog = load()
    lines = [
        "| kind | Keras class | positional arguments | shape rule | other names |",
        "|---|---|---|---|---|",
    ]
    entries = sorted(catalog.layers.values(), key=lambda e: (e.category, e.key))
    for entry in entries:
        others = sorted(a for a, key in catalog.layer_aliases.items() if key == entry.key)
        positional = (
            "LAYER, then its arguments"
            if entry.key in WRAPPERS
            else ", ".join(POSITIONAL.get(entry.key, ()))
        )
        has_rule = entry.class_name in RULES and entry.class_name not in CHECKS_ONLY
        rule = "yes" if has_rule or entry.key in WRAPPERS else ""
        lines.append(
            f"| `{entry.key}` | `{entry.class_name}` | {positional} | {rule} | "
            f"{', '.join(f'`{o}`' for o in others)} |"
        )
    return "\n".join(lines)


def rewrite(text: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{kinds_table()}\n{END}{after}"


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/language.md")
    path.write_text(rewrite(path.read_text()))
    print(f"rewrote the layer table in {path}")


if __name__ == "__main__":
    main()
