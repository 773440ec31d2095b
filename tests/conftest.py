"""Shared test helpers: golden-file options and running the `kdsl` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite golden files (generated scripts, error snapshots) from the current output",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


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
