"""`--strategy`: distributed training with real TensorFlow, on this machine's CPU.

Mirrored training runs over two logical CPU devices, which TensorFlow only allows before it
initializes its devices, so it runs in a fresh process. Multi-worker training runs two
worker processes that talk over 127.0.0.1. Small drivers written here start each process;
the product itself has no test hooks.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, kdsl_main

import kdsl
from kdsl.codegen.render import render, render_unformatted
from kdsl.errors import InputError
from kdsl.options import STRATEGIES, STYLES, Mode
from kdsl.train.runner import WorkerTask, worker_task

# Small enough to train in seconds, learnable enough for the loss to fall in two epochs.
PROGRAM = (
    "dense 8 relu in 4 -> dense 3 softmax; adam 0.01; categorical_crossentropy; "
    "fit epochs=2 batch_size=8"
)
TIMEOUT = 240  # seconds per process: generous, for a loaded two-core machine


def write_data(folder: Path) -> None:
    """`model.npz`: 96 rows PROGRAM learns (also used by tests/test_scripts_alone.py)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    np.savez(folder / "model.npz", x_train=x, y_train=np.eye(3, dtype="float32")[labels])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("distribute")
    write_data(folder)
    (folder / "model.k").write_text(PROGRAM + "\n")
    return folder


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    env.pop("KDSL_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def _history(output: str) -> dict[str, list[float]]:
    """The `History: {...}` line the script prints."""
    line = next(line for line in output.splitlines() if line.startswith("History: "))
    return ast.literal_eval(line.removeprefix("History: "))


# --- compile: what the script says (no TensorFlow) --------------------------------------


def test_without_strategy_no_tensorflow_in_the_script() -> None:
    assert "tensorflow" not in kdsl.compile(PROGRAM)


@pytest.mark.parametrize("strategy", ["mirrored", "multi-worker"])
def test_strategy_script_builds_in_scope_with_a_per_replica_batch(strategy: str) -> None:
    code = kdsl.compile(PROGRAM, strategy=strategy)  # type: ignore[arg-type]
    tree = ast.parse(code)  # valid Python
    assert "import tensorflow as tf" in code
    assert "    with strategy.scope():\n        model = Sequential()" in code
    assert "BATCH_SIZE = 8  # per replica" in code
    assert "global_batch_size = batch_size * strategy.num_replicas_in_sync" in code
    assert "batch_size=global_batch_size," in code
    # The strategy is created at module level, before any function runs a TensorFlow op.
    first_function = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assignments = [n for n in tree.body if isinstance(n, ast.Assign)]
    strategy_line = next(n.lineno for n in assignments if n.targets[0].id == "strategy")
    assert strategy_line < first_function.lineno


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("style", STYLES)
def test_explained_script_in_the_scope_fits_88_columns(strategy: str, style: str) -> None:
    """`--explain`'s comments fit black's 88 columns at the scope's indent too: the script
    is already black's, and render() needs no black pass over the whole of it."""
    model = kdsl.check_source(PROGRAM)
    mode = Mode(style, explain=True, strategy=strategy)  # type: ignore[arg-type]
    code = render_unformatted(model, mode)
    assert max(len(line) for line in code.splitlines()) <= 88
    assert render(model, mode) == code


def test_compile_option(workdir: Path, capsys) -> None:
    """In this process: what the command writes, not how a process exits."""
    code, out, err = kdsl_main(
        ["compile", workdir / "model.k", "--strategy", "multi-worker"], capsys
    )
    assert code == 0, err
    assert "strategy = MultiWorkerStrategy()" in out
    with pytest.raises(SystemExit) as exit_:
        kdsl_main(["compile", workdir / "model.k", "--strategy", "tpu"], capsys)
    assert exit_.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


# --- TF_CONFIG ----------------------------------------------------------------------------


def _tf_config(cluster: dict, kind: str = "worker", index: int = 0) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})}


def test_worker_task_follows_tensorflows_choice_of_chief() -> None:
    two = {"worker": ["a:1", "b:1"]}
    assert worker_task({}) == WorkerTask("worker", 0, 1, True)
    assert worker_task(_tf_config(two, index=0)) == WorkerTask("worker", 0, 2, True)
    assert worker_task(_tf_config(two, index=1)) == WorkerTask("worker", 1, 2, False)
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    assert worker_task(_tf_config(with_chief, "chief")) == WorkerTask("chief", 0, 3, True)
    assert worker_task(_tf_config(with_chief, index=0)).chief is False


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{", "is not JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', "needs a `cluster` and a `task`"),
        (_tf_config({"worker": ["a:1"]}, "ps")["TF_CONFIG"], "task type 'ps' is not in"),
        (_tf_config({"worker": ["a:1"]}, index=2)["TF_CONFIG"], "task index 2 is out of range"),
        (_tf_config({"worker": ["a:1"]}, index="0")["TF_CONFIG"], 'a whole number, not "0"'),
        (_tf_config({"worker": "a:1"})["TF_CONFIG"], "must be a list of host:port addresses"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}', 'an "index"'),
    ],
)
def test_bad_tf_config_is_a_plain_error(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        worker_task({"TF_CONFIG": value})
    assert caught.value.path == "TF_CONFIG"
    assert "TF_CONFIG=" in (caught.value.hint or "")


def test_bad_tf_config_from_the_command_line(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kdsl", "run", "model.k", "--strategy", "multi-worker"],
        cwd=workdir,
        env=_environment(TF_CONFIG='{"cluster": {}, "task": {}}'),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert result.stderr.startswith('TF_CONFIG: error: the task needs a "type" and an "index"')
    assert "Traceback" not in result.stderr


# --- mirrored: two logical CPU devices ----------------------------------------------------

MIRRORED_DRIVER = """
import sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
from kdsl.tools.cli import main

sys.exit(main(["run", "model.k", "--strategy", "mirrored", "--json", "results.json"]))
"""


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus(workdir: Path) -> None:
    (workdir / "mirrored_driver.py").write_text(MIRRORED_DRIVER)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "mirrored_driver.py"],
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    print(f"mirrored: {time.perf_counter() - start:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "kdsl: mirrored over 2 replicas: CPU:0, CPU:1" in result.stdout
    report = json.loads((workdir / "results.json").read_text())
    assert report["epochs_run"] == 2
    assert report["history"]["loss"][1] < report["history"]["loss"][0]


# The script alone on one device: tests/test_scripts_alone.py.


# --- multi-worker: two worker processes on 127.0.0.1 ---------------------------------------

WORKER_DRIVER = """
import sys
import numpy as np
from kdsl.tools import cli
from kdsl.train import runner

weights_file, *argv = sys.argv[1:]
run = runner.run


def run_and_keep_weights(*args, **kwargs):
    result = run(*args, **kwargs)
    np.savez(weights_file, *result.model.get_weights())
    return result


runner.run = run_and_keep_weights
sys.exit(cli.main(argv))
"""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_two_local_workers(workdir: Path) -> None:
    (workdir / "worker_driver.py").write_text(WORKER_DRIVER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    start = time.perf_counter()
    try:
        for index in range(2):
            command = [sys.executable, "worker_driver.py", f"weights{index}.npz"]
            command += ["run", "model.k", "--strategy", "multi-worker"]
            command += ["--json", f"results{index}.json"]
            workers.append(
                subprocess.Popen(
                    command,
                    cwd=workdir,
                    env=_environment(**_tf_config(cluster, index=index)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    print(f"multi-worker: {time.perf_counter() - start:.1f} s")
    for worker, (stdout, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stdout[-3000:] + stderr[-3000:]

    (out0, _), (out1, _) = outputs
    assert "kdsl: multi-worker over 2 replicas (worker 0 of 2, the chief): CPU:0" in out0
    assert "kdsl: multi-worker over 2 replicas (worker 1 of 2): CPU:0" in out1
    # Gradients are summed over both workers every step, so they stay in lockstep.
    assert _history(out0) == _history(out1)
    loss = _history(out0)["loss"]
    assert len(loss) == 2 and loss[1] < loss[0]
    with np.load(workdir / "weights0.npz") as w0, np.load(workdir / "weights1.npz") as w1:
        assert len(w0.files) == len(w1.files) == 4
        for name in w0.files:
            np.testing.assert_array_equal(w0[name], w1[name])
    # Only the chief writes outputs.
    assert re.search(r"kdsl: wrote the results to results0\.json", out0)
    assert not (workdir / "results1.json").exists()
    assert "kdsl: not the chief worker" in out1


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_a_strategy_needs_the_tensorflow_backend(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kdsl", "run", "model.k", "--strategy", "mirrored", "--backend",
         "jax"],
        capture_output=True, text=True, cwd=workdir, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs the TensorFlow backend, not jax" in result.stderr
