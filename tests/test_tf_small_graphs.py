"""`kdsl run` on TensorFlow leaves small graphs unoptimized (issue 17: small models were
slow on TensorFlow), and trains exactly what the generated script trains on its own.

Grappler, TensorFlow's graph optimizer, ran on the functions of tf.data's pipeline with
every iterator, one per epoch: most of a small model's time. TensorFlow reads the setting
as it starts, so each side runs in a fresh process.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from kdsl import compile_source
from kdsl.train.runner import TF_MIN_GRAPH_NODES

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed"
)

ENV = {
    **{key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"},
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "NO_COLOR": "1",
}


def python(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_kdsl_starts_tensorflow_skipping_small_graphs() -> None:
    out = python(
        "-c",
        "from kdsl.train.runner import import_keras; import_keras()\n"
        "import tensorflow as tf\n"
        "print(tf.config.optimizer.get_experimental_options().get('min_graph_nodes'))",
    )
    assert out.split()[-1] == str(TF_MIN_GRAPH_NODES)


PROGRAMS = {  # (program, data, epochs): dense layers; and convolution, batchnorm, dropout
    "iris": ((ROOT / "examples" / "iris.k").read_text(), "iris.npz", 20),
    "cnn": (
        "input 8x8x1 -> conv2d 8 3x3 -> batchnorm -> relu -> maxpool2d 2 -> flatten"
        " -> dropout 0.3 -> dense 10 softmax; adam; sparse_categorical_crossentropy;"
        " fit batch_size=64\n",
        "digits_cnn.npz",
        2,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("program", "data", "epochs"), PROGRAMS.values(), ids=PROGRAMS.keys())
def test_kdsl_run_trains_as_the_script_alone(
    tmp_path: Path, program: str, data: str, epochs: int
) -> None:
    """Same seed, same losses, epoch by epoch (to 1e-6; in practice bit for bit)."""
    source = tmp_path / "model.k"
    source.write_text(program)
    script = tmp_path / "model.py"
    script.write_text(compile_source(program))
    path = str(ROOT / "examples" / data)
    common = ["--data", path, "--epochs", str(epochs), "--seed", "5"]
    out = python(str(script), *common, cwd=tmp_path)
    history = next(line for line in out.splitlines() if line.startswith("History: "))
    alone = ast.literal_eval(history.removeprefix("History: "))
    report = tmp_path / "run.json"
    python("-m", "kdsl", "run", str(source), *common, "--json", str(report))
    run = json.loads(report.read_text())["history"]
    assert len(run["loss"]) == epochs
    for name, values in alone.items():
        assert run[name] == pytest.approx(values, abs=1e-6), name
