"""kdsl installed as users install it, then run from the repository root and from elsewhere.

From the repository root, the source folder `kdsl/` shadows an installed copy (Python
puts the current directory first on `sys.path`), and the source folder has no
`kdsl.grammar` or `kdsl.templates` packages: those exist only in an install, mapped from
the top-level `grammar/` and `templates/` folders. kdsl must work either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import ROOT

GOLDEN_IRIS = ROOT / "tests/golden/expected/example_iris.add.py"


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with kdsl installed from its wheel (not editable): its python."""
    scratch = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", scratch / "dist", ROOT],
        check=True,
        capture_output=True,
    )
    env = scratch / "env"
    # No pip of its own (ensurepip takes seconds): this pip installs into it (`--python`).
    venv.create(env)
    python = env / "bin" / "python"
    wheel = next((scratch / "dist").glob("kdsl-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    # kdsl's dependencies (lark, jinja2, black) come from this environment: a plain path
    # line adds the folder without running its .pth files (so not this checkout's
    # editable install of kdsl).
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KDSL_DEBUG")}
    return subprocess.run(
        [python, *args], capture_output=True, text=True, cwd=cwd, env={**env, "NO_COLOR": "1"}
    )


@pytest.mark.slow
def test_plain_install_runs_from_the_repository_root(plain_install: Path) -> None:
    where = _run(
        plain_install,
        "-c",
        "import kdsl.language.parser; print(kdsl.language.parser.__file__)",
        cwd=ROOT,
    )
    assert where.stdout.startswith(str(ROOT / "kdsl")), "the source folder shadows the install"
    result = _run(plain_install, "-m", "kdsl", "compile", "examples/iris.k", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_IRIS.read_text()
    api = "import kdsl; print(kdsl.compile(open('examples/iris.k').read()), end='')"
    result = _run(plain_install, "-c", api, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_IRIS.read_text()


@pytest.mark.slow
def test_plain_install_runs_from_elsewhere(plain_install: Path, tmp_path: Path) -> None:
    where = _run(
        plain_install,
        "-c",
        "import kdsl.language.parser; print(kdsl.language.parser.__file__)",
        cwd=tmp_path,
    )
    assert not where.stdout.startswith(str(ROOT)), where.stdout
    result = _run(
        plain_install, "-m", "kdsl", "compile", str(ROOT / "examples/iris.k"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_IRIS.read_text()
