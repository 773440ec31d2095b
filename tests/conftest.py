"""Shared test helpers: golden-file options and running the `kdsl` command."""

from __future__ import annotations

import ast
import functools
import gc
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kdsl.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
# What the compile path (compile, check, fmt, the API, the LSP) must never import.
HEAVY = ("tensorflow", "keras", "numpy", "matplotlib")


# The modules that take longest, longest first (summed test seconds of a whole run on two
# cores, 2026-12-07, after the eager kernels were kept). pytest-xdist hands out work
# units in collection order, so a long unit collected last would run alone at the end
# while the other workers idle: starting the longest first keeps every worker busy until
# the end. A module not listed that trains (has `slow` tests) comes next, then the rest.
LONGEST_FIRST = (
    "test_tune.py",  # 98 (its trainings are units of their own: the digits proof 46)
    "test_import_graph.py",  # 56
    "test_scripts_alone.py",  # 49 (ten scripts alone in one process)
    "test_saved.py",  # 44
    "test_backends.py",  # 41
    "test_security.py",  # 29
    "test_catalog_drift.py",  # 29 (building the catalog from Keras: 22)
    "test_run.py",  # 28
    "test_functional.py",  # 27
    "test_graph_keras.py",  # 26
    "test_tf_small_graphs.py",  # 26 (four scripts alone, four kdsl runs: two processes)
    "test_cli.py",  # 26
    "test_distribute.py",  # 24
    "test_tune_data.py",  # 22
    "test_execute.py",  # 20
    "test_golden.py",  # 20
    "test_tune_graph.py",  # 19
    "test_images.py",  # 14
    "test_render.py",  # 14
    "test_lsp.py",  # 13
)
WIDER_THAN_A_TEST = ("class", "module", "package", "session")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):
        # xdist's own order (most tests first) would start the long, few-test modules last.
        config.option.loadscopereorder = False


def _is_mark(node: ast.expr, *names: str) -> bool:
    """`node` is `pytest.mark.NAME` or a call of it, NAME one of `names`."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr in names


def _shared_fixtures(*trees: ast.Module) -> set[str]:
    """The fixtures of `trees` that outlive a test (shared between tests), and those that
    use one of them."""
    fixtures: dict[str, tuple[bool, set[str]]] = {}  # name: (outlives a test, arguments)
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if _is_mark(decorator, "fixture"):
                    keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
                    scope = next((k.value for k in keywords if k.arg == "scope"), None)
                    wider = isinstance(scope, ast.Constant) and scope.value in WIDER_THAN_A_TEST
                    fixtures[node.name] = (wider, {a.arg for a in node.args.args})
    shared = {name for name, (wider, _) in fixtures.items() if wider}
    while True:
        using = {name for name, (_, args) in fixtures.items() if args & shared} - shared
        if not using:
            return shared
        shared |= using


@functools.cache
def _trainings_alone(module: str) -> frozenset[str]:
    """The training tests (marked `slow`) of `module` (a path from the root) that use no
    fixture shared with other tests: each can run in any worker, on its own."""
    path = ROOT / module
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text())
    shared = _shared_fixtures(tree, ast.parse(Path(__file__).read_text()))
    alone = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            arguments = {a.arg for a in node.args.args}
            if any(_is_mark(d, "slow") for d in node.decorator_list) and not arguments & shared:
                alone.add(node.name)
    return frozenset(alone)


def _unit(nodeid: str) -> str:
    """The work unit of a test: its module, or itself where it trains alone."""
    module, _, rest = nodeid.partition("::")
    name = rest.split("::")[-1].split("[")[0]
    return nodeid if module.endswith(".py") and name in _trainings_alone(module) else module


try:
    from xdist.scheduler import LoadFileScheduling
except ImportError:  # xdist is in the `test` extra; without it, tests run in one process
    pass
else:

    class TrainingsApart(LoadFileScheduling):
        """`--dist loadfile`, but a training test that uses no shared fixture is a unit of
        its own: a module imports TensorFlow once per worker and keeps its module-scoped
        fixtures, while one module's long trainings run on every worker, not in a row.
        (xdist's `loadgroup` would do this with marks, but it cannot rename tests on
        pytest 9.)"""

        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    def pytest_xdist_make_scheduler(config: pytest.Config, log):
        if config.getvalue("dist") == "loadfile":
            return TrainingsApart(config, log)
        return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Work units longest first (LONGEST_FIRST), a module's trainings alone before the
    unit of its other tests. Only in xdist's workers: `-n 0` keeps the order of the files."""
    if not hasattr(config, "workerinput"):
        return
    trains = {item.path for item in items if item.get_closest_marker("slow")}
    sizes: dict[Path, int] = {}
    for item in items:
        sizes[item.path] = sizes.get(item.path, 0) + 1

    def rank(item: pytest.Item) -> tuple[int, int, int]:
        name = item.path.name
        own = 0 if _unit(item.nodeid) == item.nodeid else 1
        if name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name), own, 0
        return len(LONGEST_FIRST) + (item.path not in trains), own, -sizes[item.path]

    items.sort(key=rank)


_heap_set_aside = False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Once Keras is imported, the objects alive then (TensorFlow's ~400,000 among them)
    are set aside from the garbage collector for the rest of the process (`gc.freeze`):
    every `clear_session()` and every full collection walked them again, 0.2 s or more
    each, hundreds of times a run. Garbage made later is collected as before. And
    TensorFlow's kernels are kept between Keras sessions (`keep_eager_kernels`)."""
    global _heap_set_aside
    if not _heap_set_aside and "keras" in sys.modules:
        gc.collect()
        gc.freeze()
        keep_eager_kernels()
        _heap_set_aside = True


def keep_eager_kernels() -> None:
    """Make `clear_session()` keep TensorFlow's cache of eager kernels in this process.

    Tests clear Keras's session before each model they build (fresh layer names, to
    compare configs), and KerasTuner before each trial; on TensorFlow, Keras's
    `clear_session` also empties TensorFlow's kernel cache, so the next model made every
    kernel again (creating its variables, initializing them): 1.4 times the build time
    of a whole module of such tests. The cache holds only compiled kernels, not Keras
    state: every name counter and global setting Keras resets is reset as before, and a
    process that makes one model (`kdsl run`, a script) never sees the difference."""
    if "tensorflow" not in sys.modules:
        return
    from tensorflow.python.eager import context  # type: ignore[import-untyped]

    context.Context.clear_kernel_cache = lambda self: None


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
    return subprocess.run(
        [sys.executable, "-m", "kdsl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=_plain_output_env(),
        timeout=timeout,
    )


def _plain_output_env() -> dict[str, str]:
    """This environment as `plain_output` makes it: no colors, no KDSL_DEBUG tracebacks."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("KDSL_DEBUG", None)
    return env


# Runs `kdsl ARGS` for each ARGS of argv[1] (JSON), in order, in this one process; each
# command's file descriptors 1 and 2 (Python's and native code's lines alike) go to
# argv[2]/N.out and N.err, and its exit status to N.code.
_COMMANDS_DRIVER = """
import json, os, sys
from pathlib import Path
from kdsl.tools.cli import main
folder = Path(sys.argv[2])
for number, args in enumerate(json.loads(sys.argv[1])):
    saved = os.dup(1), os.dup(2)
    with open(folder / f"{number}.out", "wb") as out, open(folder / f"{number}.err", "wb") as err:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            code = main(args)
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
    (folder / f"{number}.code").write_text(str(code))
"""


def run_kdsl_commands(
    commands: list[list[str]], folder: Path, timeout: float = 600
) -> list[subprocess.CompletedProcess]:
    """`run_kdsl` for each command, one after the other in one fresh Python (one Keras
    start-up, as `tests/backend_driver.py` runs `kdsl run` then `kdsl predict`): the
    first command starts the process as `python -m kdsl` would, the others find Keras
    imported. Each result holds its own command's output, native lines included."""
    driver = subprocess.run(
        [sys.executable, "-c", _COMMANDS_DRIVER, json.dumps(commands), str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_plain_output_env(),
        timeout=timeout,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    return [
        subprocess.CompletedProcess(
            command,
            int((folder / f"{number}.code").read_text()),
            (folder / f"{number}.out").read_text(errors="replace"),
            (folder / f"{number}.err").read_text(errors="replace"),
        )
        for number, command in enumerate(commands)
    ]


# TensorFlow's C++ start-up lines (absl log lines, oneDNN, CUDA probing), which kdsl hides.
NATIVE_LOG_LINE = re.compile(r"^[IWE]\d{4} |oneDNN|cuda drivers|cuInit|absl::")


def native_log_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that TensorFlow's native code wrote, not kdsl or Keras."""
    return [line for line in stderr.splitlines() if NATIVE_LOG_LINE.search(line)]


@dataclass(frozen=True)
class Alone:
    """A script to run alone: `python [-W error] SCRIPT ARGS` in `folder`."""

    script: Path
    args: tuple[str, ...]
    folder: Path
    warnings_as_errors: bool = False


@dataclass(frozen=True)
class Ran:
    """What a script run alone did: its exit status, its output, its folder."""

    returncode: int
    stdout: str
    stderr: str
    folder: Path


def run_alone(scripts: dict[str, Alone], env: dict[str, str]) -> dict[str, Ran]:
    """Run each script as `python SCRIPT ARGS` would, kdsl unimportable, one after the
    other in one fresh Python (tests/alone_driver.py: one TensorFlow start-up for all),
    in the order given; the output files are written into each script's folder."""
    jobs = [
        {
            "name": name,
            "script": str(job.script),
            "args": list(job.args),
            "cwd": str(job.folder),
            "warnings_as_errors": job.warnings_as_errors,
            "out": str(job.folder / f"{name}.out"),
            "err": str(job.folder / f"{name}.err"),
        }
        for name, job in scripts.items()
    ]
    listing = next(iter(scripts.values())).folder / "alone.json"
    listing.write_text(json.dumps(jobs))
    driver = subprocess.run(
        [sys.executable, "-I", str(ROOT / "tests" / "alone_driver.py"), str(listing)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    results = {}
    for job in jobs:
        stderr, _, code = Path(job["err"]).read_text(errors="replace").rpartition("\nEXIT ")
        out = Path(job["out"]).read_text(errors="replace")
        results[job["name"]] = Ran(int(code), out, stderr, Path(job["cwd"]))
    return results


def best_seconds(work: Callable[[], object], repeat: int = 5) -> float:
    """The shortest of `repeat` timings of `work()`, the garbage collector paused: a test
    that compares the times of two sizes (linear, not quadratic) measures kdsl's work,
    not a full collection of the whole worker's heap that one of them happened to start
    (a CI run saw 9.3 times the time for 4 times the graph that way), and the shortest
    of several sheds a busy machine's pauses."""
    gc.collect()
    paused = gc.isenabled()
    gc.disable()
    try:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)
    finally:
        if paused:
            gc.enable()
