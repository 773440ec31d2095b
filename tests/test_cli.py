"""The `kdsl` command as users run it: real subprocesses, real files.

What depends on the process (its output streams byte for byte, the exit status the shell
sees, signals, broken pipes, start-up imports and log lines) runs `python -m kdsl`; checks
of what a command says, writes or learns call `main()` in this process (`kdsl_main`, or
`kdsl_in` with stdin), which costs no Python start-up and shares this process's
TensorFlow instead of importing it again for each command (seconds each).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, heavy_imports, kdsl_main, native_log_lines, run_kdsl

IRIS = "examples/iris.k"
TUTORIAL = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"
GOLDEN_IRIS = ROOT / "tests/golden/expected/example_iris.add.py"


@pytest.fixture
def kdsl_in(plain_output, capsys, monkeypatch):
    """`kdsl ARGS` in this process, plain output, from the repository root: (exit code,
    stdout, stderr); `stdin` is what the command reads from standard input."""

    def run(*args, stdin: str | None = None) -> tuple[int, str, str]:
        monkeypatch.chdir(ROOT)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        return kdsl_main(list(args), capsys)

    return run


def test_compile_to_stdout() -> None:
    result = run_kdsl("compile", IRIS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == GOLDEN_IRIS.read_text()


def test_compile_constructor_style(kdsl_in) -> None:
    code, out, _ = kdsl_in("compile", IRIS, "--style", "constructor")
    assert code == 0
    assert out == (ROOT / "tests/golden/expected/example_iris.constructor.py").read_text()


def test_compile_from_stdin(kdsl_in) -> None:
    code, out, err = kdsl_in("compile", "-", stdin=TUTORIAL + "\n")
    assert code == 0, err
    assert 'model.add(Dense(3, activation="softmax"))' in out


def test_stdin_errors_are_named_stdin(kdsl_in) -> None:
    code, _, err = kdsl_in("compile", "-", stdin="dense 5 in 4 -> dens 3; adam; mse\n")
    assert code == 1
    assert err.startswith("<stdin>:1:17: error: unknown layer `dens`")


def test_compile_output_file(tmp_path: Path, kdsl_in) -> None:
    out = tmp_path / "model.py"
    code, stdout, err = kdsl_in("compile", IRIS, "-o", out)
    assert code == 0, err
    assert stdout == ""
    assert out.read_text() == GOLDEN_IRIS.read_text()
    assert list(tmp_path.iterdir()) == [out], "no temporary files left behind"


def test_failed_compile_leaves_existing_output_untouched(tmp_path: Path, kdsl_in) -> None:
    bad = tmp_path / "bad.k"
    bad.write_text("dense 5 in 4 -> ; adam; mse\n")
    out = tmp_path / "model.py"
    out.write_text("# my precious script\n")
    code, _, _ = kdsl_in("compile", bad, "-o", out)
    assert code == 1
    assert out.read_text() == "# my precious script\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.k", "model.py"]


def test_output_refuses_to_overwrite_the_program(tmp_path: Path, kdsl_in) -> None:
    program = tmp_path / "model.k"
    program.write_text(TUTORIAL)
    code, _, err = kdsl_in("compile", program, "-o", program)
    assert code == 1
    assert "refusing to overwrite" in err
    assert program.read_text() == TUTORIAL


def test_compile_never_imports_tensorflow() -> None:
    code = (
        "from kdsl.tools.cli import main\n"
        f"assert main(['compile', {IRIS!r}, '-o', '/dev/null']) == 0"
    )
    assert heavy_imports(code) == []


@pytest.mark.parametrize("command", [[], ["compile"], ["run"], ["predict"]])
def test_help_has_an_example(command: list[str], kdsl_in, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        kdsl_in(*command, "--help")
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "example" in out.lower()
    assert "kdsl" in out


def test_version(kdsl_in, capsys) -> None:
    from kdsl._version import __version__

    with pytest.raises(SystemExit) as exit_:
        kdsl_in("--version")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"kdsl {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["compile"],
        ["frobnicate"],
        ["compile", IRIS, "--style", "sequential"],
        ["run", IRIS, "--epochs", "0"],
        ["run", IRIS, "--epochs", "many"],
        ["run", IRIS, "--save", "model.h5"],
        ["run", IRIS, "--plot", "curves.jpg"],
        ["run", IRIS, "--test-split", "1.5"],
        ["run", IRIS, "--test-split", "0.5", "--validation-split", "0.5"],
        ["run", IRIS, "--data", "examples/iris.npz", "--target", "species"],
        ["run", IRIS, "--early-stopping", "0"],
        ["predict", "examples/iris.npz", "examples/iris.csv"],
        ["predict", "m.keras", "examples/iris.csv", "-o", "preds.txt"],
    ],
    ids=[
        "nothing",
        "no-file",
        "unknown-command",
        "bad-style",
        "zero-epochs",
        "word-epochs",
        "save-not-keras",
        "plot-not-png",
        "split-not-fraction",
        "splits-leave-nothing",
        "target-without-csv",
        "zero-patience",
        "predict-not-keras",
        "predict-output-kind",
    ],
)
def test_misuse_exits_2(args: list[str], kdsl_in, capsys) -> None:
    """argparse ends the command with status 2 (any other exception fails the test)."""
    with pytest.raises(SystemExit) as exit_:
        kdsl_in(*args)
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["frobnicate"], ["run", IRIS, "--epochs", "0"]])
def test_misuse_exit_status_reaches_the_shell(args: list[str]) -> None:
    result = run_kdsl(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).parent / "kdsl"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    direct = subprocess.run(
        [str(script), "compile", IRIS], capture_output=True, text=True, cwd=ROOT
    )
    assert direct.returncode == 0
    assert direct.stdout == GOLDEN_IRIS.read_text()  # as `python -m kdsl` (test above)


def test_broken_pipe_is_not_an_error() -> None:
    result = subprocess.run(
        f"{sys.executable} -m kdsl compile {IRIS} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.stdout.startswith('"""')
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


# -- run ----------------------------------------------------------------------------------


def test_run_without_data_says_so(tmp_path: Path, plain_output, capsys) -> None:
    program = tmp_path / "model.k"
    program.write_text(TUTORIAL)
    code, _, err = kdsl_main(["run", program], capsys)
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'model.npz'}: error: no data given and none found beside {program}"
    )
    assert "--data" in err


def test_run_rejects_bad_data_before_training(tmp_path: Path, plain_output, capsys) -> None:
    data = tmp_path / "d.npz"
    np.savez(data, x_train=np.zeros((10, 5), "float32"), y_train=np.zeros((10, 3), "float32"))
    code, out, err = kdsl_main(["run", ROOT / IRIS, "--data", data], capsys)
    assert code == 1
    assert err.strip().splitlines()[0] == (
        f"{data}: error: model expects rows of shape (4,), `x_train` has rows of shape (5,)"
    )
    assert "Epoch" not in out


@pytest.fixture(scope="module")
def fresh_iris_run() -> subprocess.CompletedProcess:
    """The README's main job, `kdsl run examples/iris.k`, in a fresh process."""
    return run_kdsl("run", IRIS)


@pytest.mark.slow
def test_run_iris_reaches_good_accuracy(fresh_iris_run) -> None:
    """The README's main job learns Iris with the default seed."""
    result = fresh_iris_run
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 200/200" in out
    assert "History: {" in out and "Evaluation [loss, metrics...]:" in out
    assert "Predictions for the first rows:" in out
    summary = out.strip().splitlines()[-1]
    accuracy = float(re.search(r"accuracy (\d\.\d+)", summary).group(1))
    assert summary.startswith("Done: 200 epochs in ")
    assert "test data" in summary
    assert accuracy >= 0.85, summary
    assert not native_log_lines(result.stderr), "TensorFlow's C++ log noise reached the user"


@pytest.mark.slow
def test_run_is_reproducible_with_a_seed(fresh_iris_run, plain_output, capsys) -> None:
    """A fresh process and this test's process (other tests' TensorFlow) train alike."""
    history = lambda out: re.search(r"History: (\{.*\})", out).group(1)  # noqa: E731
    code, out, err = kdsl_main(["run", ROOT / IRIS], capsys)
    assert fresh_iris_run.returncode == code == 0, fresh_iris_run.stderr + err
    assert history(fresh_iris_run.stdout) == history(out)


# The generated script alone, callbacks included: tests/test_scripts_alone.py.


@pytest.mark.slow
def test_ctrl_c_stops_after_the_batch_reports_saves_and_exits_130(tmp_path: Path) -> None:
    saved, report = tmp_path / "iris.keras", tmp_path / "r.json"
    args = ["run", IRIS, "--epochs", "100000", "--save", str(saved), "--json", str(report)]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("KDSL_DEBUG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "kdsl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    watchdog = threading.Timer(300, process.kill)  # a hang fails the test, never blocks CI
    watchdog.start()
    try:
        for line in process.stdout:
            if line.startswith("Epoch 2/"):  # training runs, with kdsl's handler installed
                process.send_signal(signal.SIGINT)
                break
        out, err = process.communicate()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "kdsl: stopping after this batch" in err
    assert "Traceback" not in err
    assert "History: {" in out, "the partial history is printed"
    summary = next(line for line in out.splitlines() if line.startswith("Interrupted: "))
    assert " of 100000 epochs in " in summary
    assert f"kdsl: saved the model to {saved}" in out
    assert zipfile.is_zipfile(saved)
    results = json.loads(report.read_text())
    assert results["interrupted"] is True
    assert 2 <= results["epochs_run"] < 100000


def test_keras_rejecting_the_model_is_an_error_not_a_traceback(
    tmp_path: Path, plain_output, capsys
) -> None:
    """A mistake kdsl's static checks cannot see (einsumdense's rule checks the equation's
    form and weights, not the sizes of a shared axis) still ends as one line naming the
    program, not a traceback."""
    program = tmp_path / "bad.k"
    program.write_text(
        'input 4 -> einsumdense "ab,b->ab" 3 -> dense 3 softmax; adam; categorical_crossentropy\n'
    )
    code, _, err = kdsl_main(["run", program, "--data", ROOT / "examples/iris.npz"], capsys)
    assert code == 1
    assert err.strip() == (
        f"{program}: error: Keras rejected the model: Input shape and output shape do not "
        "match at shared dimension 'b'. Input shape is 4, and output shape is 3."
    )


@pytest.mark.parametrize(
    "name", ["unknown_layer", "many_errors", "syntax_trailing_arrow", "not_utf8"]
)
def test_error_snapshots_hold_through_the_real_command(name: str) -> None:
    result = run_kdsl("compile", f"tests/errors/{name}.k")
    expected = (ROOT / "tests" / "errors" / f"{name}.out").read_text()
    assert f"exit: {result.returncode}\n{result.stderr}" == expected
    assert result.stdout == ""


# -- check --------------------------------------------------------------------------------


def test_check_prints_a_summary(kdsl_in) -> None:
    code, out, err = kdsl_in("check", IRIS)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == 'Model: "examples/iris.k"'
    assert [line.split()[:2] for line in lines[4:7]] == [
        ["dense", "(Dense)"],
        ["dense_1", "(Dense)"],
        ["dense_2", "(Dense)"],
    ]
    assert lines[4].split()[-3:] == ["(None,", "5)", "25"]
    assert lines[-3:] == ["Total params: 55", "Trainable params: 55", "Non-trainable params: 0"]


def test_check_never_imports_tensorflow() -> None:
    code = "from kdsl.tools.cli import main\nassert main(['check', 'tests/golden/cnn.k']) == 0"
    assert heavy_imports(code) == []


def test_warnings_print_but_keep_exit_0(kdsl_in) -> None:
    program = "input 4 -> flatten -> dense 3 softmax; adam; categorical_crossentropy\n"
    for command in ("check", "compile"):
        code, _, err = kdsl_in(command, "-", stdin=program)
        assert code == 0
        assert err.startswith(
            "<stdin>:1:12: warning: `flatten` on an already flat input (None, 4) does nothing"
        )


def test_check_says_what_it_could_not_check(kdsl_in) -> None:
    program = 'input 10 -> einsumdense "ab,bc->ac" 4 -> dense 3 -> dense 2; adam; mse\n'
    code, out, _ = kdsl_in("check", "-", stdin=program)
    assert code == 0
    assert "einsum_dense (EinsumDense)  ?" in out
    assert "Total params: unknown" in out
    assert out.strip().splitlines()[-1] == (
        "note: kdsl has no shape rule for `einsumdense` (line 1): shapes and parameter counts "
        "are unknown from there on, so 2 later layers could not be checked"
    )


def test_check_errors_exit_1(kdsl_in) -> None:
    code, out, err = kdsl_in("check", "tests/errors/shape_conv2d_after_flatten.k")
    assert code == 1
    assert out == ""
    expected = (ROOT / "tests/errors/shape_conv2d_after_flatten.out").read_text()
    assert f"exit: 1\n{err}" == expected


# examples/digits_cnn.k learns too (test accuracy at least 0.9): tests/test_tune.py's
# digits proof runs it, as here, before its search.
@pytest.mark.slow
@pytest.mark.parametrize(("program", "floor"), [("examples/sequence.k", 0.95)])
def test_run_examples_learn(program: str, floor: float, plain_output, capsys) -> None:
    code, out, err = kdsl_main(["run", ROOT / program], capsys)
    assert code == 0, err
    summary = out.strip().splitlines()[-1]
    accuracy = float(re.search(r"accuracy (\d\.\d+)", summary).group(1))
    assert accuracy >= floor, summary


def test_outputs_that_cannot_be_written_are_errors_not_crashes(tmp_path: Path, kdsl_in) -> None:
    """compile -o and import -o check the output like run's outputs: exit 1, a message."""
    for output, message in (
        (tmp_path / "missing" / "x.py", "there is no folder"),
        (tmp_path, "is a directory"),
    ):
        code, _, err = kdsl_in("compile", "examples/iris.k", "-o", output)
        assert code == 1, err
        assert f"{output}: error: " in err and message in err
        assert "Traceback" not in err and "internal error" not in err


def test_writing_through_a_symlink_replaces_the_file_it_points_to(tmp_path: Path, kdsl_in) -> None:
    real = tmp_path / "real.k"
    real.write_text("dense 1 in 2;adam;mse\n")
    link = tmp_path / "link.k"
    link.symlink_to(real)
    code, _, err = kdsl_in("fmt", link)
    assert code == 0, err
    assert link.is_symlink()
    assert real.read_text() == "dense 1 in 2; adam; mse\n"
