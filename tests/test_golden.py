"""Golden files: every example, golden case and layer kind, both styles, compared file by file.

A kind's golden file keeps only its own part of the script (golden_cases.split_script);
the rest must be the rest of KIND_REFERENCE's whole golden script, byte for byte.
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
    KIND_REFERENCE,
    OWN_PART,
    STRATEGY_CASES,
    STYLES,
    all_programs,
    case_id,
    compare_golden,
    expected_path,
    folder_expected_path,
    kind_expected_path,
    kind_programs,
    programs,
    split_script,
    strategy_expected_path,
    unified_diff,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import kdsl
from kdsl import compile_source
from kdsl.codegen.render import format_code
from kdsl.options import Mode

CASES = [(p, s) for p in all_programs() for s in STYLES]
WHOLE_CASES = [(p, s) for p in programs() for s in STYLES]
KIND_CASES = [(p, s) for p in kind_programs() for s in STYLES]


@pytest.mark.parametrize(
    ("program", "style"), WHOLE_CASES, ids=[f"{case_id(p)}-{s}" for p, s in WHOLE_CASES]
)
def test_golden(program: Path, style: str, update_goldens: bool) -> None:
    code = compile_source(program.read_text(), str(program), style=style)
    compare_golden(code, expected_path(program, style), f"{program} ({style})", update_goldens)


def _kind_reference_rest(style: str, update_goldens: bool) -> str:
    """The rest of every kind script: KIND_REFERENCE's golden script outside its own part.

    While goldens are rewritten, the reference's golden may be rewritten after this
    kind's test runs, so it is compiled afresh; test_golden compares it with its file.
    """
    if update_goldens:
        code = compile_source(KIND_REFERENCE.read_text(), str(KIND_REFERENCE), style=style)
    else:
        code = expected_path(KIND_REFERENCE, style).read_text()
    return split_script(code)[1]


@pytest.mark.parametrize(
    ("program", "style"), KIND_CASES, ids=[f"{case_id(p)}-{s}" for p, s in KIND_CASES]
)
def test_kind_golden(program: Path, style: str, update_goldens: bool) -> None:
    """A kind's script is its golden part (layer import, build_model) in the reference's rest."""
    code = compile_source(program.read_text(), str(program), style=style)
    own, rest = split_script(code)
    reference_rest = _kind_reference_rest(style, update_goldens)
    assert rest == reference_rest, (
        f"{program} ({style}): the script outside its keras.layers import and build_model() "
        f"is not {KIND_REFERENCE.name}'s ({expected_path(KIND_REFERENCE, style)}):\n"
        + unified_diff(reference_rest, rest, KIND_REFERENCE.name, program.name)
        + "\nIf the change is intended (in every script): pytest --update-goldens rewrites "
        + "the reference's golden file"
    )
    compare_golden(own, kind_expected_path(program, style), f"{program} ({style})", update_goldens)


def test_kind_reference_is_a_whole_golden() -> None:
    """The reference is compiled and compared whole, in both styles, like every program."""
    assert KIND_REFERENCE in programs()


@pytest.mark.parametrize("style", STYLES)
def test_split_script_gives_back_the_whole_script(style: str) -> None:
    """Own part and rest together are the script: put back, they rebuild it exactly."""
    for program in (KIND_REFERENCE, *kind_programs()):
        code = compile_source(program.read_text(), str(program), style=style)
        own, rest = split_script(code)
        parts = own.split("\n\n\n")
        assert len(parts) == rest.count(OWN_PART) == 2
        assert "def build_model():" in parts[1] and parts[0].startswith("from keras.layers")
        rebuilt = rest
        for part in parts:
            rebuilt = rebuilt.replace(OWN_PART, part.rstrip("\n") + "\n", 1)
        assert rebuilt == code


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
    wanted = {expected_path(p, s) for p, s in WHOLE_CASES}
    wanted |= {strategy_expected_path(*case) for case in STRATEGY_CASES}
    wanted |= {folder_expected_path(*case) for case in FOLDER_CASES}
    wanted |= {kind_expected_path(p, s) for p, s in KIND_CASES}
    folder = Path(__file__).parent / "golden" / "expected"
    present = set(folder.glob("*.py")) | set((folder / "kinds").glob("*"))
    assert present <= wanted, f"stale golden files: {sorted(map(str, present - wanted))}"


def test_styles_differ_only_in_build_model() -> None:
    program = programs()[0]
    add = compile_source(program.read_text(), style="add")
    constructor = compile_source(program.read_text(), style="constructor")
    assert "model.add(" in add and "Sequential()" in add
    assert "model.add(" not in constructor and "Sequential(\n" in constructor
    strip = lambda code: code[code.index("def load_data") :]  # noqa: E731
    assert strip(add) == strip(constructor)


ALLOWED_IMPORTS = {"argparse", "keras", "math", "numpy"}  # plus mmap, pathlib, ... for folders


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


def test_generated_code_is_ruff_clean(tmp_path: Path) -> None:
    """No unused imports, sorted imports, no undefined names in any golden script, nor in
    any kind's whole script (compiled afresh: its golden file holds only its own part)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    folder = Path(__file__).parent / "golden" / "expected"
    whole_goldens = [p for p in sorted(folder.rglob("*.py")) if p.parent != folder / "kinds"]
    for program, style in KIND_CASES:
        script = tmp_path / f"{program.stem}.{style}.py"
        script.write_text(compile_source(program.read_text(), str(program), style=style))
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W,I,B,UP"]
        + [str(p) for p in whole_goldens]
        + [str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40), number=st.floats(allow_nan=False, allow_infinity=False))
def test_fast_path_output_is_what_black_writes(text: str, number: float) -> None:
    """kdsl skips black when no line is too long; that output must equal black's."""
    program = (
        # `mode` takes any string as Keras makes the layer (initializers, `fill_mode` and
        # `interpolation` are checked names).
        f"randomflip mode={text!r} in 4x4x3 -> randomflip mode={text!r} -> flatten "
        f"-> rescaling {number!r} -> dense 1; adam; mse"
    )
    for style in STYLES:
        code = compile_source(program, style=style)
        assert format_code(code, Mode(style=style)) == code
