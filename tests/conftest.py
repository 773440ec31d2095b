"""Shared test helpers: golden-file options and running the `kdsl` command."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kdsl.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
# What the compile path (compile, check, fmt, the API, the LSP) must never import.
HEAVY = ("tensorflow", "keras", "numpy", "matplotlib")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite golden files (generated scripts, error snapshots) from the current output",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def kdsl_main(args: list, capsys) -> tuple[int, str, str]:
    """Run `kdsl ARGS` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def plain_output(monkeypatch) -> None:
    """Output as `run_kdsl` gets it: no colors, no KDSL_DEBUG tracebacks."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("KDSL_DEBUG", raising=False)


def heavy_imports(code: str) -> list[str]:
    """The HEAVY packages that Python `code` imports, run in a fresh process."""
    report = f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    probe = f"{code}\nimport sys\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def run_kdsl(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `python -m kdsl ARGS` as a user would, plain output (no colors)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("KDSL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "kdsl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


# TensorFlow's C++ start-up lines (absl log lines, oneDNN, CUDA probing), which kdsl hides.
NATIVE_LOG_LINE = re.compile(r"^[IWE]\d{4} |oneDNN|cuda drivers|cuInit|absl::")


def native_log_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that TensorFlow's native code wrote, not kdsl or Keras."""
    return [line for line in stderr.splitlines() if NATIVE_LOG_LINE.search(line)]
