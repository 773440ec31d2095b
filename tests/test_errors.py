"""Every error kdsl can report on a program, snapshotted: a change in wording is a diff.

Each `tests/errors/NAME.k` has `NAME.out`: the exit code, then exactly what
`kdsl compile` printed to stderr. Rewrite them with `pytest --update-goldens`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import kdsl_main as compile_cli

ERRORS = ROOT / "tests" / "errors"
PROGRAMS = sorted(ERRORS.glob("*.k"))
# Files that cannot be read as a program at all: `FILE: error: ...`, no line to point at.
WHOLE_FILE_ERRORS = {"not_utf8"}


def snapshot(name: str, code: int, stderr: str, update: bool) -> None:
    path = ERRORS / f"{name}.out"
    text = f"exit: {code}\n{stderr}"
    if update or not path.exists():
        path.write_text(text)
        if not update:
            pytest.fail(f"new snapshot {path}: read it and commit it")
    assert text == path.read_text(), "error output changed; if intended: pytest --update-goldens"


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_error_snapshot(program: Path, capsys, monkeypatch, update_goldens: bool) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, err = compile_cli(["compile", str(program.relative_to(ROOT))], capsys)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    snapshot(program.stem, code, err, update_goldens)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_errors_point_at_the_file(program: Path, capsys, monkeypatch) -> None:
    """Each message starts `FILE:LINE:COL: error:`: every problem has a place, the end of
    the file at least."""
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", str(program.relative_to(ROOT))], capsys)
    name = str(program.relative_to(ROOT))
    first = err.splitlines()[0]
    if program.stem in WHOLE_FILE_ERRORS:
        assert first.startswith(f"{name}: error: ")
    else:
        assert re.match(rf"{re.escape(name)}:\d+:\d+: ", first), first
    assert "error:" in first


def test_all_problems_are_reported_at_once(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/many_errors.k"], capsys)
    messages = [line for line in err.splitlines() if ": error:" in line]
    assert len(messages) >= 7, err
    for expected in (
        "`dens`",
        "`rellu`",
        "`activaton`",
        "`adma`",
        "`categorical_crossentopy`",
        "`acuracy`",
        "no input shape",
    ):
        assert any(expected in m for m in messages), (expected, err)


def test_did_you_mean(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/many_errors.k"], capsys)
    for suggestion in (
        "`dense`",
        "`relu`",
        "`activation`",
        "`adam`",
        "`categorical_crossentropy`",
        "`accuracy`",
    ):
        assert f"did you mean {suggestion}?" in err


def test_caret_is_under_the_token(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/unknown_layer.k"], capsys)
    lines = err.splitlines()
    source, caret = lines[1], lines[2]
    start = caret.index("^")
    assert source[start : start + 4] == "dens"
    assert caret.strip() == "^~~~"


def test_missing_file(capsys, tmp_path) -> None:
    code, _, err = compile_cli(["compile", str(tmp_path / "nope.k")], capsys)
    assert code == 1
    assert err == f"{tmp_path / 'nope.k'}: error: no such file\n"


def test_directory(capsys, tmp_path) -> None:
    code, _, err = compile_cli(["compile", str(tmp_path)], capsys)
    assert code == 1
    assert "is a directory" in err


def test_color_only_when_asked(capsys, monkeypatch) -> None:
    """Plain text when stderr is not a terminal (as under pytest), whatever NO_COLOR says."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, _, err = compile_cli(["compile", "tests/errors/unknown_layer.k"], capsys)
    assert "\x1b[" not in err


def test_unreadable_file(capsys) -> None:
    """A file the OS refuses to read (even to root: /proc/self/mem) is one clear error."""
    code, _, err = compile_cli(["compile", "/proc/self/mem"], capsys)
    assert code == 1
    assert err == "/proc/self/mem: error: cannot be read: Input/output error\n"


def test_permission_denied(capsys, tmp_path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file; the /proc case above covers unreadable files")
    program = tmp_path / "secret.k"
    program.write_text("dense 1 in 4; adam; mse\n")
    program.chmod(0)
    code, _, err = compile_cli(["compile", str(program)], capsys)
    assert code == 1
    assert "permission denied" in err


def test_a_long_line_is_shown_around_the_spot(capsys, tmp_path) -> None:
    """10,000 problems on one 100 KB line print 10,000 short excerpts, not the line
    10,000 times (gigabytes): the shown part of a long line is cut around the caret."""
    from kdsl.errors import SHOWN_COLUMNS

    program = tmp_path / "long.k"
    program.write_text("dense 1 in 4; adam; mse; metrics " + "acuracy, " * 10_000 + "mae\n")
    code, _, err = compile_cli(["compile", program], capsys)
    assert code == 1
    lines = err.splitlines()
    assert len([line for line in lines if ": error: unknown metric" in line]) == 10_000
    shown = lines[1::4]
    carets = lines[2::4]
    assert max(map(len, shown)) <= 4 + SHOWN_COLUMNS + 6
    for source, caret in zip(shown[:50] + shown[-50:], carets[:50] + carets[-50:], strict=True):
        start = caret.index("^")
        assert source[start : start + 7] == "acuracy", (source, caret)
