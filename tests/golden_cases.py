"""Where golden programs live and where their expected scripts are kept."""

from __future__ import annotations

from pathlib import Path

from conftest import GOLDEN, ROOT

STYLES = ("add", "constructor")


def programs() -> list[Path]:
    """Every example and every golden case, compiled in both styles by the tests."""
    return sorted((ROOT / "examples").glob("*.k")) + sorted(GOLDEN.glob("*.k"))


def expected_path(program: Path, style: str) -> Path:
    folder = GOLDEN / "expected"
    prefix = "example_" if program.parent.name == "examples" else ""
    return folder / f"{prefix}{program.stem}.{style}.py"


def case_id(program: Path) -> str:
    return f"{program.parent.name}/{program.name}"
