"""kdsl/ type-checks: mypy, with pyproject.toml's [tool.mypy] settings, finds no error.

mypy comes with the `test` extra, so CI always runs this; its cache (.mypy_cache/) makes a
second run take about a second.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed: `pip install -e .[test]` brings it",
)


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    """mypy run as CI runs it: from the repository root, so pyproject.toml configures it."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_kdsl_has_no_type_errors() -> None:
    result = _mypy()  # [tool.mypy] files: the kdsl package
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_the_settings_report_a_type_error(tmp_path: Path) -> None:
    """The settings check kdsl's own annotations: a wrong call into kdsl is an error."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from kdsl.errors import first_line\n\nfirst_line('not an exception')\n")
    result = _mypy(str(wrong))
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"first_line" has incompatible type "str"' in result.stdout
