"""Every example trains on JAX and PyTorch too, through `kdsl run --backend`.

One process per backend (Keras reads KERAS_BACKEND once, at its first import) runs
tests/backend_driver.py: `kdsl run`, `--save` and `kdsl predict` for every example. The
models must have the structure Keras builds on TensorFlow (here, in this process) and
kdsl's own check summary predicts, and training must lower the loss. A backend whose
package is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from backend_driver import structure
from conftest import ROOT

import kdsl
from kdsl.errors import Source
from kdsl.language.parser import parse
from kdsl.semantics.checker import analyze
from kdsl.tools.cli import BACKENDS as CLI_BACKENDS
from kdsl.train.runner import BACKENDS

EXAMPLES = sorted((ROOT / "examples").glob("*.k"))
EPOCHS = 2  # enough for the loss to fall; JAX and PyTorch compile on the first steps


@pytest.fixture(scope="module")
def on_tensorflow() -> dict[str, list[list]]:
    """Each example's structure as Keras builds it on TensorFlow (built, not trained)."""
    from kdsl.train.runner import import_keras

    if import_keras().backend.backend() != "tensorflow":
        pytest.skip("this test process's Keras is not on TensorFlow")
    return {path.stem: structure(kdsl.build(path.read_text(), path.name)) for path in EXAMPLES}


@pytest.fixture(scope="module", params=["jax", "torch"])
def trained(request, tmp_path_factory) -> tuple[str, dict]:
    """The driver's results for one backend: every example trained, saved and predicted."""
    backend = request.param
    package, name, _ = BACKENDS[backend]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{name} is not installed")
    out = tmp_path_factory.mktemp(backend)
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "backend_driver.py"), backend, str(out), str(EPOCHS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "NO_COLOR": "1"},
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS "))
    return backend, json.loads(line.removeprefix("RESULTS "))


@pytest.mark.slow
def test_every_example_has_the_tensorflow_structure(trained, on_tensorflow) -> None:
    backend, results = trained
    assert results["keras_backend"] == backend
    assert sorted(results["examples"]) == sorted(on_tensorflow)
    for name, example in results["examples"].items():
        assert example["backend"] == backend, name
        assert example["structure"] == on_tensorflow[name], name


@pytest.mark.slow
def test_every_example_has_the_structure_kdsl_check_predicts(trained) -> None:
    _, results = trained
    for path in EXAMPLES:
        source = Source(path.name, path.read_text())
        _, summary = analyze(parse(source), source)
        predicted = [[row.class_name, list(row.output_shape), row.params] for row in summary.rows]
        assert results["examples"][path.stem]["structure"] == predicted, path.name


@pytest.mark.slow
def test_training_lowers_the_loss_and_predicts_every_row(trained) -> None:
    backend, results = trained
    for name, example in results["examples"].items():
        losses = example["history"]["loss"]
        assert len(losses) == EPOCHS, name
        assert losses[-1] < losses[0], f"{name} on {backend}: loss {losses}"
        assert example["predicted_rows"] > 0, name


def test_the_command_offers_exactly_the_runners_backends() -> None:
    assert tuple(BACKENDS) == CLI_BACKENDS


def kdsl_process(code: str, **env: str) -> subprocess.CompletedProcess:
    """Python `code` in a fresh process (its own first import of Keras), plain output."""
    clean = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, "NO_COLOR": "1", **env},
        timeout=300,
    )


IRIS = str(ROOT / "examples" / "iris.k")


def test_a_backend_that_is_not_installed_fails_before_any_work() -> None:
    # sys.modules[name] = None is how Python marks a module as absent.
    result = kdsl_process(
        "import sys; sys.modules['jax'] = None\n"
        "from kdsl.tools.cli import main\n"
        f"sys.exit(main(['run', {IRIS!r}, '--backend', 'jax']))\n"
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "kdsl: error: --backend jax needs JAX, which is not installed",
        "  hint: pip install jax",
    ]
    assert result.stdout == ""  # not even "training ...": nothing was loaded


def test_an_unknown_keras_backend_variable_is_an_error() -> None:
    result = kdsl_process(
        f"import sys; from kdsl.tools.cli import main; sys.exit(main(['run', {IRIS!r}]))",
        KERAS_BACKEND="theano",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "kdsl: error: KERAS_BACKEND=theano: not a Keras backend kdsl trains on",
        "  hint: use one of tensorflow, jax, torch",
    ]


def test_keras_backend_variable_is_respected() -> None:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    result = kdsl_process(
        "import sys; from kdsl.train.runner import import_keras\n"
        "print(import_keras().backend.backend(), 'torch' in sys.modules)",
        KERAS_BACKEND="jax",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["jax", "False"]


def test_a_keras_already_on_another_backend_cannot_switch() -> None:
    from kdsl.train.runner import import_keras

    current = import_keras().backend.backend()
    other = next(name for name in BACKENDS if name != current)
    with pytest.raises(kdsl.KdslError) as info:
        kdsl.build("dense 3 in 4; adam; mse", backend=other)
    assert str(info.value) == (
        f"backend {other} asked for, but Keras is already imported in this process on "
        f"{current}, and a process cannot switch backends"
    )
    assert info.value.hint == f"set KERAS_BACKEND={other} before anything imports Keras, " + (
        "or start a new Python process"
    )
