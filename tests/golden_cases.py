"""Where golden programs live and where their expected scripts are kept."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT

STYLES = ("add", "constructor")


def programs() -> list[Path]:
    """Every example and every golden case: compiled, executed and trained by the tests."""
    return sorted((ROOT / "examples").glob("*.k")) + sorted(GOLDEN.glob("*.k"))


def kind_programs() -> list[Path]:
    """One small program per layer kind in the catalog (tests/golden/kinds/KIND.k)."""
    return sorted((GOLDEN / "kinds").glob("*.k"))


def all_programs() -> list[Path]:
    return programs() + kind_programs()


PREFIXES = {"examples": "example_", "kinds": "kind_"}


def expected_path(program: Path, style: str) -> Path:
    prefix = PREFIXES.get(program.parent.name, "")
    return GOLDEN / "expected" / f"{prefix}{program.stem}.{style}.py"


def explain_expected_path(program: Path, style: str) -> Path:
    """The `--explain` script's golden file: named as the plain one, in expected/explain/."""
    return GOLDEN / "expected" / "explain" / expected_path(program, style).name


def case_id(program: Path) -> str:
    return f"{program.parent.name}/{program.name}"


# Distributed variants of one small and one larger example: (program, style, strategy).
STRATEGY_CASES = [
    (ROOT / "examples" / "iris.k", "add", "mirrored"),
    (ROOT / "examples" / "iris.k", "add", "multi-worker"),
    (ROOT / "examples" / "digits_cnn.k", "constructor", "mirrored"),
]


def strategy_expected_path(program: Path, style: str, strategy: str) -> Path:
    return GOLDEN / "expected" / f"strategy_{strategy}_{program.stem}.{style}.py"


# `--folder-data` scripts (they also read a folder of .npy files), alone and with a strategy.
FOLDER_CASES = [
    (ROOT / "examples" / "iris.k", "add", None),
    (ROOT / "examples" / "digits_cnn.k", "constructor", None),
    (ROOT / "examples" / "iris.k", "add", "mirrored"),
]


def folder_expected_path(program: Path, style: str, strategy: str | None) -> Path:
    extra = f"_{strategy}" if strategy else ""
    return GOLDEN / "expected" / f"folder{extra}_{program.stem}.{style}.py"


def compare_golden(code: str, expected: Path, what: str, update_goldens: bool) -> None:
    """Fail with a diff when `code` is not its golden file; write it with --update-goldens."""
    if update_goldens or not expected.exists():
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(code)
        if not update_goldens:
            pytest.fail(f"new golden file {expected}: read it and commit it")
    want = expected.read_text()
    if code != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                code.splitlines(keepends=True),
                str(expected),
                "generated",
            )
        )
        pytest.fail(
            f"{what} differs from its golden file:\n{diff}\n"
            "If the change is intended: pytest --update-goldens"
        )
