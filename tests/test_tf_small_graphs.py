"""`kdsl run` on TensorFlow leaves small graphs unoptimized, runs a small model's steps
several per call and replays an epoch's batches (issue 17: small models were slow on
TensorFlow), and trains exactly what the generated script trains on its own, with the
same per-epoch output.

Grappler, TensorFlow's graph optimizer, ran on the functions of tf.data's pipeline with
every iterator, one per epoch: most of a small model's time. TensorFlow reads the setting
as it starts, so each side runs in a fresh process.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, Alone, run_alone

from kdsl import check_source, compile_source
from kdsl.train.runner import (
    MAX_STEPS_PER_EXECUTION,
    TF_MIN_GRAPH_NODES,
    import_keras,
    load_script,
    small_model_steps_per_execution,
)

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


IRIS = (ROOT / "examples" / "iris.k").read_text()
IRIS_LAYERS = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"


def steps_per_execution(
    program: str, rows: int = 105, batch: int = 20, backend: str = "tensorflow", **kwargs
) -> int:
    """What `kdsl run` picks for `program`, built for real by its script on TensorFlow."""
    import_keras("tensorflow")
    built = load_script(compile_source(program), "model.py")["build_model"]()
    model = check_source(program)
    return small_model_steps_per_execution(
        model, built, rows, batch, backend=backend, in_memory=kwargs.get("in_memory", True)
    )


def test_a_small_model_runs_an_epoch_per_call() -> None:
    """Iris: 105 rows in batches of 20, 6 steps an epoch, all in one call."""
    assert steps_per_execution(IRIS) == 6
    assert steps_per_execution(IRIS_LAYERS, rows=100_000) == MAX_STEPS_PER_EXECUTION
    # Callbacks that act once an epoch (early stopping, a checkpoint saved each epoch).
    epochly = '; callbacks early_stopping monitor=loss, model_checkpoint "m.keras", csv_logger "l"'
    assert steps_per_execution(IRIS_LAYERS + epochly) == 6


@pytest.mark.parametrize(
    ("program", "kwargs"),
    [
        (IRIS, {"backend": "jax"}),  # measured on TensorFlow only
        (IRIS, {"in_memory": False}),  # memory-mapped or under a strategy
        (IRIS_LAYERS + "; fit steps_per_epoch=3", {}),  # epochs that are not one pass
        ("dense 1024 in 512 -> dense 10 softmax; adam; categorical_crossentropy", {}),
        (IRIS, {"batch": 40_000}),  # small model, large batches
        (IRIS_LAYERS + "; callbacks terminate_on_nan", {}),
        (IRIS_LAYERS + '; callbacks tensorboard "logs" update_freq="batch"', {}),
        (IRIS_LAYERS + '; callbacks tensorboard "logs" profile_batch=2', {}),
    ],
    ids=[
        "jax", "on-disk", "steps_per_epoch", "large-model", "large-batch", "terminate_on_nan",
        "tensorboard-per-batch", "profiled-batch",
    ],
)  # fmt: skip
def test_one_step_per_call_where_more_would_show(program: str, kwargs: dict) -> None:
    """Where a call's size could be seen (a callback acting on batches, a slow step, an
    epoch that is not one pass over the rows), steps stay one per call."""
    assert steps_per_execution(program, **kwargs) == 1


# The per-epoch lines of Keras's progress bar: the last update of each epoch's bar (its
# time a step in s, ms or us).
PROGRESS = re.compile(r"(\d+/\d+) \S+ \S+ \d+[mu]?s/step - (.*)")


def epoch_lines(out: str) -> list[str]:
    """Each epoch's final progress line, without its timings, colours or earlier updates."""
    # Each update of the bar rewrites its line: backspaces and a carriage return.
    plain = re.sub(r"\x1b\[[0-9;]*m|\x08", "", out).replace("\r", "\n")
    lines = []
    for epoch in re.split(r"^Epoch \d+/\d+$", plain, flags=re.M)[1:]:
        last = [m for m in PROGRESS.finditer(epoch)][-1]
        lines.append(f"{last.group(1)} {last.group(2).strip()}")
    return lines


CNN = (
    "input 8x8x1 -> conv2d 8 3x3 -> batchnorm -> relu -> maxpool2d 2 -> flatten"
    " -> dropout 0.3 -> dense 10 softmax; adam; sparse_categorical_crossentropy;"
    " fit batch_size=64\n"
)
RUNS = {  # (program, data, epochs, seed): an epoch of 6 steps, its validation batches
    # replayed too; the same stopped early by a callback; validation rows split off by
    # `fit` (the arrays given to `fit`, as written); convolution, batchnorm, dropout
    "iris": (IRIS, "iris_val.npz", 6, 2),
    "early-stopping": (
        IRIS_LAYERS + "; callbacks early_stopping monitor=loss min_delta=0.2\n",
        "iris.npz",
        30,
        2,
    ),
    "validation-split": (IRIS_LAYERS + "; fit validation_split=0.2\n", "iris.npz", 4, 2),
    "cnn": (CNN, "digits_cnn.npz", 2, 5),
}

# Runs `kdsl ARGS...` for each args in argv[1] (JSON), one after the other in this one
# process, and prints their outputs as JSON, then the graph size TensorFlow was told to
# start optimizing at.
KDSL_RUNS = """
import contextlib, io, json, sys
from kdsl.tools.cli import main
outputs = []
for args in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(args) == 0, args
    outputs.append(out.getvalue())
print(json.dumps(outputs))
import tensorflow as tf
print(tf.config.optimizer.get_experimental_options().get("min_graph_nodes"))
"""


@pytest.fixture(scope="module")
def both_sides(tmp_path_factory) -> tuple[dict[str, tuple[str, str, dict]], str]:
    """Each of RUNS trained by its script alone and by `kdsl run`, same data and seed:
    {name: (the script's output, kdsl run's output, kdsl run's JSON report)}, and the
    `min_graph_nodes` TensorFlow ran `kdsl run` with. The scripts run one after the other
    in a fresh process, the `kdsl run`s in another (TensorFlow reads kdsl's setting as it
    starts): two start-ups, not eight."""
    folder = tmp_path_factory.mktemp("runs")
    with np.load(ROOT / "examples" / "iris.npz") as iris:
        arrays = {key: iris[key] for key in iris.files}
    arrays["x_val"], arrays["y_val"] = arrays["x_test"], arrays["y_test"]
    np.savez(folder / "iris_val.npz", **arrays)
    scripts, runs = {}, []
    for name, (program, data, epochs, seed) in RUNS.items():
        (folder / f"{name}.k").write_text(program)
        (folder / f"{name}.py").write_text(compile_source(program))
        path = folder / data if data == "iris_val.npz" else ROOT / "examples" / data
        common = ["--data", str(path), "--epochs", str(epochs), "--seed", str(seed)]
        scripts[name] = Alone(folder / f"{name}.py", tuple(common), folder)
        runs.append(["run", str(folder / f"{name}.k"), *common, "--json", str(folder / name)])
    alone = run_alone(scripts, ENV)
    for script in alone.values():
        assert script.returncode == 0, script.stderr[-3000:]
    *_, printed, graph_nodes = python("-c", KDSL_RUNS, json.dumps(runs), cwd=folder).splitlines()
    outputs = json.loads(printed)
    report = {
        name: (alone[name].stdout, outputs[i], json.loads((folder / name).read_text()))
        for i, name in enumerate(RUNS)
    }
    return report, graph_nodes


@pytest.mark.slow
def test_kdsl_starts_tensorflow_skipping_small_graphs(both_sides) -> None:
    assert both_sides[1] == str(TF_MIN_GRAPH_NODES)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_kdsl_run_shows_what_the_script_shows_each_epoch(
    both_sides: tuple[dict[str, tuple[str, str, dict]], str], name: str
) -> None:
    """Several steps per call and an epoch's batches replayed, yet the same epochs (an
    early stop included), the same history (to 1e-6; in practice bit for bit) and the
    same line per epoch as the script alone prints (timings aside)."""
    alone, run, report = both_sides[0][name]
    history = next(line for line in alone.splitlines() if line.startswith("History: "))
    expected = ast.literal_eval(history.removeprefix("History: "))
    got = report["history"]
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, abs=1e-6), key
    assert epoch_lines(run) == epoch_lines(alone)
    assert len(epoch_lines(run)) == len(expected["loss"])


def iris_training() -> tuple[np.ndarray, np.ndarray]:
    with np.load(ROOT / "examples" / "iris.npz") as iris:
        return iris["x_train"], iris["y_train"]


def keras_epoch(x: np.ndarray, y: np.ndarray, batch: int, shuffle: bool) -> list:
    """The batches Keras's own pipeline gives one epoch of `fit(x, y)`."""
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    return list(ArrayDataAdapter(x, y, batch_size=batch, shuffle=shuffle).get_tf_dataset())


def same(first: list, second: list) -> bool:
    return len(first) == len(second) and all(
        a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
        for one, other in zip(first, second, strict=True)
        for a, b in zip(one, other, strict=True)
    )


def test_a_seeded_epoch_of_keras_batches_is_replayed() -> None:
    """Under a seed every epoch of Keras's pipeline gives the same batches: `kdsl run`
    gives `fit` those, as a dataset (float64 rows cast to float32 as Keras casts them)."""
    keras = import_keras("tensorflow")
    from kdsl.train.replay import replayable

    x, y = iris_training()
    keras.utils.set_random_seed(3)
    replayed = replayable(x.astype("float64"), y, 20, True)
    assert replayed is not None
    batches = list(replayed)
    assert [len(batch[0]) for batch in batches] == [20] * 5 + [5]
    assert same(batches, keras_epoch(x.astype("float64"), y, 20, True))
    assert batches[0][0].dtype == "float32"
    assert not np.array_equal(batches[0][0].numpy(), x[:20])  # shuffled
    in_order = replayable(x, y, 16, False)
    assert in_order is not None and same(list(in_order), keras_epoch(x, y, 16, False))


def test_batches_are_not_replayed_where_epochs_differ_or_fit_needs_the_arrays() -> None:
    keras = import_keras("tensorflow")
    import tensorflow as tf

    from kdsl.train.replay import REPLAY_BYTES, epochs_replayed, replayable

    x, y = iris_training()
    tf.random.set_seed(None)  # no seed: Keras shuffles every epoch anew
    try:
        assert replayable(x, y, 20, True) is None
    finally:
        keras.utils.set_random_seed(0)
    assert replayable(x, y, 20, "batch") is None  # shuffled within batches
    assert replayable(x, None, 20, True) is None
    wide = np.zeros((2, REPLAY_BYTES // 8 + 1))
    assert replayable(wide, np.zeros(2), 1, True) is None  # too large to hold twice
    built = load_script(compile_source(IRIS), "model.py")["build_model"]()
    with epochs_replayed(built):  # class weights, or more than (x, y) by position: as written
        history = built.fit(x, y, batch_size=20, epochs=1, verbose=0, class_weight={0: 2.0})
        again = built.fit(x, y, 20, 1, verbose=0)
    assert len(history.history["loss"]) == len(again.history["loss"]) == 1
    assert "fit" not in vars(built)  # the model's own `fit` again
