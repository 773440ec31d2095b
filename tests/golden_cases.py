"""Where golden programs live and where their expected scripts are kept.

Examples, golden cases and the `--strategy`/`--folder-data` variants keep whole scripts.
A layer kind's program (tests/golden/kinds/KIND.k) keeps only what is its own: its
`from keras.layers import ...` and its `build_model()`, in `expected/kinds/KIND.STYLE.py`;
test_golden.py proves that the rest of its script is byte for byte the rest of
KIND_REFERENCE's whole golden script, so a template edit outside `build_model()` rewrites
that one script rather than 230.
"""

from __future__ import annotations

import ast
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


def is_kind(program: Path) -> bool:
    return program.parent == GOLDEN / "kinds"


def expected_path(program: Path, style: str) -> Path:
    """The whole script's golden file, for an example or a golden case."""
    if is_kind(program):
        raise ValueError(f"{program}: a kind keeps only its own part (kind_expected_path)")
    prefix = "example_" if program.parent.name == "examples" else ""
    return GOLDEN / "expected" / f"{prefix}{program.stem}.{style}.py"


def kind_expected_path(program: Path, style: str) -> Path:
    """A kind's golden file: only its own part of the script (see split_script)."""
    return GOLDEN / "expected" / "kinds" / f"{program.stem}.{style}.py"


# Every kind script is this program's script outside the kind's own part (its golden
# file stays whole): no fit options, so the same EPOCHS and BATCH_SIZE.
KIND_REFERENCE = GOLDEN / "tutorial.k"
# Where a program's own statement stood, in the shared rest of its script.
OWN_PART = "# <the program's own part>\n"


def _is_own(statement: ast.stmt) -> bool:
    """The statements that differ from one kind program to another."""
    if isinstance(statement, ast.ImportFrom):
        return statement.module == "keras.layers"
    return isinstance(statement, ast.FunctionDef) and statement.name == "build_model"


def split_script(code: str) -> tuple[str, str]:
    """(own, rest) of a generated script.

    `own` is the program's own statements, its `from keras.layers import ...` and its
    `build_model()`, exactly as written (line numbers from `ast`), two blank lines apart.
    `rest` is every other line, with OWN_PART where each own statement stood: the two
    together give back the whole script, so comparing both leaves nothing out.
    """
    lines = code.splitlines(keepends=True)
    own: list[str] = []
    rest: list[str] = []
    next_line = 0
    for statement in ast.parse(code).body:
        if _is_own(statement):
            first, last = statement.lineno - 1, statement.end_lineno or statement.lineno
            rest += [*lines[next_line:first], OWN_PART]
            own.append("".join(lines[first:last]))
            next_line = last
    rest += lines[next_line:]
    return "\n\n".join(own), "".join(rest)


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


def unified_diff(want: str, got: str, want_name: str, got_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            want.splitlines(keepends=True), got.splitlines(keepends=True), want_name, got_name
        )
    )


def compare_golden(code: str, expected: Path, what: str, update_goldens: bool) -> None:
    """Fail with a diff when `code` is not its golden file; write it with --update-goldens."""
    if update_goldens or not expected.exists():
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(code)
        if not update_goldens:
            pytest.fail(f"new golden file {expected}: read it and commit it")
    want = expected.read_text()
    if code != want:
        diff = unified_diff(want, code, str(expected), "generated")
        pytest.fail(
            f"{what} differs from its golden file:\n{diff}\n"
            "If the change is intended: pytest --update-goldens"
        )
