"""Every kind of script kdsl writes runs alone, kdsl unimportable: the plain script on
a `.npy` folder (warnings as errors), on `.npz` arrays with callbacks, on image and text
folders, under a mirrored strategy, and the KerasTuner scripts of chains, graphs, sample
weights and several inputs and outputs.

All of them run in one fresh Python (`tests/alone_driver.py`: one after another, each as
`__main__` in its own folder with its own arguments and output files, Keras's session
cleared between them): one TensorFlow start-up instead of one per script.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, Alone, Ran, native_log_lines, run_alone
from test_distribute import PROGRAM as DISTRIBUTED
from test_distribute import write_data as write_distributed_data
from test_folder_data import folder, iris
from test_images import FOLDER_KINDS
from test_tune import SEARCH, WEIGHTED_SEARCH, _random_data, _weighted_data
from test_tune_data import TWO_BY_TWO, _named_arrays
from test_tune_graph import PROGRAMS as GRAPH_SEARCHES

import kdsl
from kdsl import compile as compile_source
from kdsl.tools.cli import main

IRIS = ROOT / "examples" / "iris.k"


def npy_folder_script(work: Path) -> Alone:
    code = compile_source(IRIS.read_text(), folder_data=True)
    body = code.split('"""', 2)[2]
    assert "import kdsl" not in body and "from kdsl" not in body, "it must run without kdsl"
    script = work / "iris.py"
    script.write_text(code)
    arrays = iris()
    npy = folder(
        work / "iris",
        x=arrays["x_train"][:80],
        y=arrays["y_train"][:80],
        x_val=arrays["x_train"][80:],
        y_val=arrays["y_train"][80:],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
    )
    return Alone(script, ("--data", str(npy), "--epochs", "2", "--seed", "0"), work, True)


def callbacks_script(work: Path) -> Alone:
    program = work / "breast_cancer.k"
    source = (ROOT / "examples/breast_cancer.k").read_text().rstrip()
    program.write_text(source + " early_stopping=5 reduce_lr_on_plateau=2\n")
    script = work / "breast_cancer.py"
    assert main(["compile", str(program), "-o", str(script)]) == 0
    assert "keras.callbacks.EarlyStopping(" in script.read_text()
    data = str(ROOT / "examples/breast_cancer.npz")
    args = ("--data", data, "--epochs", "2", "--batch-size", "64", "--seed", "1")
    return Alone(script, args, work)


def folder_script(kind: str) -> Callable[[Path], Alone]:
    def prepare(work: Path) -> Alone:
        spec = FOLDER_KINDS[kind]
        files = {"images": 4, "text": 6}[kind]
        data = spec.make(work / kind, per_class=files)
        program, script = work / "model.k", work / "model.py"
        program.write_text(spec.program + "\n")
        assert main(["compile", str(program), spec.option, "-o", str(script)]) == 0
        return Alone(script, ("--data", str(data), *spec.script_args, "--seed", "0"), work)

    return prepare


def mirrored_script(work: Path) -> Alone:
    write_distributed_data(work)
    script = work / "mirrored.py"
    script.write_text(kdsl.compile(DISTRIBUTED, strategy="mirrored"))
    return Alone(script, ("--data", "model.npz", "--epochs", "1"), work)


def tuner_script(
    program: str, data: Callable[[Path], None] = _random_data
) -> Callable[[Path], Alone]:
    def prepare(work: Path) -> Alone:
        data(work / "d.npz")
        (work / "tune.py").write_text(compile_source(program))
        return Alone(work / "tune.py", ("--data", "d.npz", "--directory", "search"), work)

    return prepare


def named_data(path: Path) -> None:
    """An array for each input and output (`x_train.title`), validation rows too."""
    arrays = _named_arrays()
    validation = {key.replace("_train.", "_val."): value[:16] for key, value in arrays.items()}
    np.savez(path, **arrays, **validation)


# The first runs first: its imports too see warnings as errors, as `python -W error` would.
SCRIPTS: dict[str, Callable[[Path], Alone]] = {
    "npy_folder": npy_folder_script,
    "callbacks": callbacks_script,
    "images": folder_script("images"),
    "text": folder_script("text"),
    "mirrored": mirrored_script,
    "search": tuner_script(SEARCH),
    "search_chain": tuner_script(GRAPH_SEARCHES["chain"]),
    "search_graph": tuner_script(GRAPH_SEARCHES["graph"]),
    "search_weighted": tuner_script(WEIGHTED_SEARCH, _weighted_data),
    "search_named": tuner_script(TWO_BY_TWO, named_data),
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Each script's exit status, output and folder, all run in one fresh Python."""
    scripts = {name: prepare(tmp_path_factory.mktemp(name)) for name, prepare in SCRIPTS.items()}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    for name in ("TF_CONFIG", "KDSL_DEBUG", "KERAS_BACKEND"):
        env.pop(name, None)
    return run_alone(scripts, env)


def shown(run: Ran) -> str:
    return f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


@pytest.mark.slow
def test_the_generated_script_takes_a_folder(ran: dict[str, Ran]) -> None:
    run = ran["npy_folder"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert "'val_loss'" in run.stdout
    assert "Evaluation [loss, metrics...]:" in run.stdout
    assert "evaluating on the training data" not in run.stdout


@pytest.mark.slow
def test_generated_script_runs_standalone(ran: dict[str, Ran]) -> None:
    """`python model.py --data d.npz`: callbacks from the `fit` section included."""
    run = ran["callbacks"]
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Epoch 2/2" in out
    # The tutorial's steps, in order: fit -> History, evaluate, predict.
    steps = [
        out.index("History: {"),
        out.index("Evaluation [loss, metrics...]: ["),
        out.index("Predictions for the first rows:"),
    ]
    assert steps == sorted(steps)
    assert "Warning" not in run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["images", "text"])
def test_the_standalone_script_reads_the_same_folder(ran: dict[str, Ran], kind: str) -> None:
    run = ran[kind]
    assert run.returncode == 0, run.stderr
    for line in FOLDER_KINDS[kind].script_prints:
        assert line in run.stdout


@pytest.mark.slow
def test_mirrored_script_alone_on_one_device(ran: dict[str, Ran]) -> None:
    """On one device the mirrored script trains one replica."""
    run = ran["mirrored"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Replicas in sync: 1" in run.stdout
    line = next(line for line in run.stdout.splitlines() if line.startswith("History: "))
    assert len(ast.literal_eval(line.removeprefix("History: "))["loss"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["search", "search_chain", "search_graph"])
def test_the_tuner_script_searches_two_trials_on_random_data(
    ran: dict[str, Ran], name: str
) -> None:
    """Without a warning, every trial's model built, and the best model shown."""
    run = ran[name]
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("Trial 2 Complete") == 1, shown(run)
    assert "Results summary" in run.stdout, shown(run)
    assert "Total params" in run.stdout, shown(run)
    others = [line for line in run.stderr.splitlines() if line not in native_log_lines(run.stderr)]
    assert not [line for line in others if "Warning" in line], others
    assert (run.folder / "search" / "search" / "trial_1").is_dir()
    # KerasTuner goes on past a trial whose model fails to build: none may have.
    statuses = [
        json.loads(trial.read_text())["status"]
        for trial in (run.folder / "search" / "search").glob("trial_*/trial.json")
    ]
    assert statuses == ["COMPLETED"] * 2, shown(run)


@pytest.mark.slow
def test_the_tuner_script_weighs_the_rows_with_the_datas_sample_weight(
    ran: dict[str, Ran],
) -> None:
    """With every weight 1e-6, the training loss each trial scores is about a millionth
    of the unweighted one (`kdsl tune`'s side: tests/test_tune.py)."""
    run = ran["search_weighted"]
    assert run.returncode == 0, run.stderr[-3000:]
    scores = [float(line.split()[-1]) for line in run.stdout.splitlines() if "Score:" in line]
    assert len(scores) == 2 and max(scores) < 1e-3, run.stdout[-3000:]


@pytest.mark.slow
def test_the_tuner_script_reads_an_array_for_each_input_and_output(ran: dict[str, Ran]) -> None:
    """`python tune.py --data d.npz` of a program with two inputs and two outputs reads
    `x_train.title`, `y_train.priority`, ... into the dicts `fit` takes, as the plain
    script does (the same `load_data`), and searches its two trials."""
    run = ran["search_named"]
    assert run.returncode == 0, shown(run)
    assert run.stdout.count("Trial 2 Complete") == 1, shown(run)
    assert "Best val_department_accuracy So Far" in run.stdout, shown(run)


def test_a_script_that_fails_or_warns_is_reported_as_python_would(tmp_path: Path) -> None:
    """The driver itself: exit statuses, tracebacks, `-W error`, kdsl unimportable, and
    each script in its own folder with its own arguments."""
    scripts = {
        "fails": ("raise ValueError('boom')\n", False),
        "exits": ("import sys\nsys.exit(3)\n", False),
        "warns": ("import warnings\nwarnings.warn('careful')\n", True),
        "kdsl": ("import kdsl\n", False),
        "fine": ("import os, sys\nprint(os.getcwd(), sys.argv[1:])\n", False),
    }
    jobs = {}
    for name, (code, strict) in scripts.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "s.py").write_text(code)
        jobs[name] = Alone(tmp_path / name / "s.py", ("--x", name), tmp_path / name, strict)
    ran = run_alone(jobs, dict(os.environ))
    assert ran["fails"].returncode == 1 and "ValueError: boom" in ran["fails"].stderr
    assert ran["exits"].returncode == 3
    assert ran["warns"].returncode == 1 and "UserWarning: careful" in ran["warns"].stderr
    assert ran["kdsl"].returncode == 1 and "ModuleNotFoundError" in ran["kdsl"].stderr
    assert ran["fine"].returncode == 0
    assert ran["fine"].stdout == f"{tmp_path / 'fine'} ['--x', 'fine']\n"
