"""Golden files: every example and golden case, both styles, compared file by file.

Run `pytest --update-goldens` to rewrite them after an intended change, then read the diff.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from golden_cases import (
    FOLDER_CASES,
    STRATEGY_CASES,
    STYLES,
    all_programs,
    case_id,
    compare_golden,
    expected_path,
    folder_expected_path,
    programs,
    strategy_expected_path,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import kdsl
from kdsl import compile_source
from kdsl.codegen.render import format_code
from kdsl.options import Mode

CASES = [(p, s) for p in all_programs() for s in STYLES]


@pytest.mark.parametrize(("program", "style"), CASES, ids=[f"{case_id(p)}-{s}" for p, s in CASES])
def test_golden(program: Path, style: str, update_goldens: bool) -> None:
    code = compile_source(program.read_text(), str(program), style=style)
    compare_golden(code, expected_path(program, style), f"{program} ({style})", update_goldens)


@pytest.mark.parametrize(
    ("program", "style", "strategy"),
    STRATEGY_CASES,
    ids=[f"{case_id(p)}-{s}-{d}" for p, s, d in STRATEGY_CASES],
)
def test_strategy_golden(program: Path, style: str, strategy: str, update_goldens: bool) -> None:
    """`--strategy` scripts: compared like the others, and black-stable."""
    code = kdsl.compile(program.read_text(), style=style, name=str(program), strategy=strategy)
    assert format_code(code, Mode(style=style)) == code
    expected = strategy_expected_path(program, style, strategy)
    compare_golden(code, expected, f"{program} ({style}, --strategy {strategy})", update_goldens)


@pytest.mark.parametrize(
    ("program", "style", "strategy"),
    FOLDER_CASES,
    ids=[f"{case_id(p)}-{s}-{d}" for p, s, d in FOLDER_CASES],
)
def test_folder_data_golden(
    program: Path, style: str, strategy: str | None, update_goldens: bool
) -> None:
    """`--folder-data` scripts: compared like the others, and black-stable."""
    code = kdsl.compile(
        program.read_text(), style=style, name=str(program), strategy=strategy, folder_data=True
    )
    assert format_code(code, Mode(style=style)) == code
    expected = folder_expected_path(program, style, strategy)
    compare_golden(code, expected, f"{program} ({style}, --folder-data)", update_goldens)


@pytest.mark.parametrize(("program", "style"), CASES, ids=[f"{case_id(p)}-{s}" for p, s in CASES])
def test_black_stable(program: Path, style: str) -> None:
    """Formatting the output again changes nothing."""
    code = compile_source(program.read_text(), str(program), style=style)
    assert format_code(code, Mode(style=style)) == code


def test_goldens_have_no_orphans() -> None:
    """Every expected file belongs to a program that still exists."""
    wanted = {expected_path(p, s) for p, s in CASES}
    wanted |= {strategy_expected_path(*case) for case in STRATEGY_CASES}
    wanted |= {folder_expected_path(*case) for case in FOLDER_CASES}
    present = set((Path(__file__).parent / "golden" / "expected").glob("*.py"))
    assert present <= wanted, f"stale golden files: {sorted(map(str, present - wanted))}"


def test_styles_differ_only_in_build_model() -> None:
    program = programs()[0]
    add = compile_source(program.read_text(), style="add")
    constructor = compile_source(program.read_text(), style="constructor")
    assert "model.add(" in add and "Sequential()" in add
    assert "model.add(" not in constructor and "Sequential(\n" in constructor
    strip = lambda code: code[code.index("def load_data") :]  # noqa: E731
    assert strip(add) == strip(constructor)


ALLOWED_IMPORTS = {"argparse", "keras", "numpy"}  # plus math, mmap, pathlib with --folder-data


@pytest.mark.parametrize("program", all_programs(), ids=case_id)
def test_script_is_standalone(program: Path) -> None:
    """Generated scripts import only the standard library, numpy and keras: never kdsl."""
    tree = ast.parse(compile_source(program.read_text()))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules <= ALLOWED_IMPORTS


def test_generated_code_is_ruff_clean() -> None:
    """No unused imports, sorted imports, no undefined names in any golden script."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    folder = Path(__file__).parent / "golden" / "expected"
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W,I,B,UP", str(folder)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40), number=st.floats(allow_nan=False, allow_infinity=False))
def test_fast_path_output_is_what_black_writes(text: str, number: float) -> None:
    """kdsl skips black when no line is too long; that output must equal black's."""
    program = (
        # `mode` and `fill_mode` take any string (initializers are checked names).
        f"randomflip mode={text!r} in 4x4x3 -> randomzoom 0.1 fill_mode={text!r} -> flatten "
        f"-> dropout 0.5 noise_shape=({number!r},) -> dense 1; adam; mse"
    )
    for style in STYLES:
        code = compile_source(program, style=style)
        assert format_code(code, Mode(style=style)) == code
