"""Search spaces and `kdsl tune` (issue 16): the language, the check, the tuner script."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, heavy_imports

from kdsl import check_source
from kdsl import compile as compile_source
from kdsl.codegen.render import format_code
from kdsl.errors import SourceError
from kdsl.language.fmt import format_text
from kdsl.language.parser import lark_parser

SEARCH = (
    "dense int(16, 64, step=16, name=width) relu in 4\n"
    "  -> [dense choice(8, 16) relu -> dropout float(0.1, 0.5)] * int(1, 3)\n"
    "  -> dense 3 softmax;\n"
    "adam float(1e-4, 1e-2, sampling=log);\n"
    "categorical_crossentropy;\n"
    "metrics accuracy;\n"
    "fit batch_size=choice(16, 32) epochs=2;\n"
    "tune tuner=random max_trials=2 objective=val_accuracy seed=1\n"
)


def test_the_grammar_stays_lalr_without_conflicts() -> None:
    assert lark_parser().options.parser == "lalr"  # lark refuses a conflict when it builds


def test_spaces_format_canonically_and_round_trip() -> None:
    assert format_text(SEARCH) == SEARCH


def test_every_space_becomes_a_hyperparameter_named_after_its_place() -> None:
    search = check_source(SEARCH).search
    assert search is not None
    names = [hp.name for hp in search.hyperparameters]
    assert set(names) == {
        "width",
        "group_1/repeat",
        "batch_size",
        "adam/learning_rate",
        *(f"{n}/pass_{i}" for n in ("dense_2/units", "dropout_1/rate") for i in (1, 2, 3)),
    }
    # Only the deeper passes of the searched depth hang on it.
    conditional = {hp.name: hp.parent_values for hp in search.hyperparameters if hp.parent}
    assert conditional == {
        "dense_2/units/pass_2": (2, 3),
        "dropout_1/rate/pass_2": (2, 3),
        "dense_2/units/pass_3": (3,),
        "dropout_1/rate/pass_3": (3,),
    }
    assert (search.tuner, search.max_trials, search.objective, search.direction) == (
        "random",
        2,
        "val_accuracy",
        "max",
    )
    assert search.size is None  # a float range without a step is continuous


def test_check_prints_the_size_of_the_space_and_the_extremes(tmp_path: Path) -> None:
    program = tmp_path / "m.k"
    program.write_text(
        "dense choice(8, 16, 32) relu in 4 -> dense 3 softmax; adam; categorical_crossentropy;"
        " fit batch_size=int(16, 64, step=16)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "kdsl", "check", str(program)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "note: search space: 2 hyperparameters, 12 combinations" in result.stdout
    # The table is the smallest model; the largest's count is said.
    assert "Total params: 67" in result.stdout  # 4*8+8 + 8*3+3
    assert "the largest has 259 parameters" in result.stdout  # 4*32+32 + 32*3+3


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("dense int(1, 8) relu in 4 -> dense 3 softmax; adam; mse; fit batch_size=0", "batch"),
        ("conv2d choice(4, 8) 3 in 4x4x1 -> [conv2d 4 3] * int(1, 2) -> flatten -> dense 2; "
         "adam; mse", "shrinks"),
    ],
)  # fmt: skip
def test_errors_are_those_of_plain_values_at_the_value_that_breaks(program, message) -> None:
    with pytest.raises(SourceError) as caught:
        check_source(program)
    assert message in str(caught.value.diagnostics[0].message)


def test_the_depth_that_breaks_is_the_largest() -> None:
    program = "conv2d 4 3 in 8x8x1 -> [conv2d 4 3] * int(1, 3) -> flatten -> dense 2; adam; mse"
    with pytest.raises(SourceError) as caught:
        check_source(program)
    (diagnostic,) = caught.value.diagnostics
    assert "largest model" in diagnostic.notes[-1]
    check_source(program.replace("int(1, 3)", "int(1, 2)"))  # 8 → 6 → 4 → 2 fits


def test_programs_without_a_space_compile_as_before() -> None:
    """Words like `int` or `tune` in a comment change nothing (the goldens prove the rest)."""
    plain = "dense 3 softmax in 4; adam; categorical_crossentropy\n"
    commented = "# int(1, 2) tune\n" + plain
    assert compile_source(commented) == compile_source(plain)
    assert "keras_tuner" not in compile_source(plain)


def test_the_tuner_script_is_black_stable_and_keeps_user_text_in_literals() -> None:
    code = compile_source(SEARCH.replace("name=width", 'name="w\\"); import os #"'))
    assert format_code(code) == code
    tree = ast.parse(code)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "os" not in names
    assert """hp.Int('w"); import os #', 16, 64, step=16)""" in code
    assert 'for i in range(1, hp.Int("group_1/repeat", 1, 3) + 1):' in code
    assert 'hp.conditional_scope("group_1/repeat", list(range(i, 4)))' in code
    assert 'kwargs["batch_size"] = hp.Choice("batch_size", [16, 32])' in code


def test_a_graph_is_written_in_the_functional_style() -> None:
    program = (
        "x: dense 4 choice(relu, tanh) in 4 -> dense 4 relu -> add @x -> dense 3 softmax; "
        "adam; categorical_crossentropy"
    )
    code = compile_source(program)
    assert "keras.Model(" in code
    assert 'activation=hp.Choice("dense_1/activation", ["relu", "tanh"])' in code


def test_the_compile_path_stays_light() -> None:
    code = f"import kdsl\nkdsl.compile({SEARCH!r})"
    assert heavy_imports(code) == []


# The tuner script alone (chains, graphs, sample weights, named arrays):
# tests/test_scripts_alone.py.


def test_the_root_is_the_repository() -> None:
    assert (ROOT / "grammar" / "kdsl.lark").is_file()


# -- the best program ---------------------------------------------------------------------


def _best(text: str, values: dict) -> str:
    from kdsl.errors import Source
    from kdsl.language.parser import parse
    from kdsl.semantics.catalog import load
    from kdsl.semantics.space import best_text

    return format_text(best_text(text, parse(Source("m.k", text)), load(), values))


def test_the_best_program_unrolls_a_depth_whose_passes_chose_their_own_values() -> None:
    values = {
        "width": 32,
        "group_1/repeat": 2,
        "dense_2/units/pass_1": 8,
        "dense_2/units/pass_2": 16,
        "dropout_1/rate/pass_1": 0.25,
        "dropout_1/rate/pass_2": 0.125,
        "adam/learning_rate": 0.001,
        "batch_size": 32,
    }
    best = _best(SEARCH, values)
    assert best == (
        "dense 32 relu in 4\n"
        "  -> dense 8 relu\n"
        "  -> dropout 0.25\n"
        "  -> dense 16 relu\n"
        "  -> dropout 0.125\n"
        "  -> dense 3 softmax;\n"
        "adam 0.001;\n"
        "categorical_crossentropy;\n"
        "metrics accuracy;\n"
        "fit batch_size=32 epochs=2\n"
    )
    model = check_source(best)  # a plain program again: no search
    assert model.search is None


def test_the_best_program_keeps_a_plain_repeat_and_names_a_boolean() -> None:
    text = (
        "conv2d 8 3 relu padding=same in 8x8x1 -> [conv2d 8 3 relu padding=same] * choice(1, 3)"
        " -> flatten -> dense 2 softmax use_bias=boolean(); adam; categorical_crossentropy\n"
    )
    best = _best(text, {"group_1/repeat": 3, "dense_1/use_bias": True})
    assert "[conv2d 8 3 relu padding=same] * 3" in best
    assert "use_bias=true" in best
    check_source(best)


def test_run_refuses_a_program_with_search_spaces(tmp_path: Path, capsys) -> None:
    from conftest import kdsl_main

    program = tmp_path / "m.k"
    program.write_text(SEARCH)
    code, _, err = kdsl_main(["run", program, "--data", program], capsys)
    assert code == 1
    assert "search them with `kdsl tune`" in err


def test_tune_refuses_a_program_without_a_search_space(tmp_path: Path, capsys) -> None:
    from conftest import kdsl_main

    program = tmp_path / "m.k"
    program.write_text("dense 3 softmax in 4; adam; categorical_crossentropy\n")
    code, _, err = kdsl_main(["tune", program, "--data", program], capsys)
    assert code == 1
    assert "has no search space" in err


def test_a_missing_keras_tuner_names_the_extra(monkeypatch) -> None:
    import importlib.util

    from kdsl.train import tune

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "keras_tuner" else real(name)
    )
    with pytest.raises(tune.MissingTuner) as caught:
        tune.check_installed()
    assert "pip install 'kdsl[tune]'" in str(caught.value)


# -- kdsl tune, end to end ----------------------------------------------------------------


def _random_data(path: Path, rows: int = 48) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, rows)]
    np.savez(path, x_train=x, y_train=y, x_val=x[:16], y_val=y[:16])


@pytest.mark.slow
def test_kdsl_tune_searches_resumes_and_writes_a_best_program_kdsl_runs(
    tmp_path: Path, plain_output, capsys
) -> None:
    """In this process (the test is not about the process: Ctrl-C's and the chief's are)."""
    import gc

    from conftest import kdsl_main

    frozen = gc.get_freeze_count()

    program, data = tmp_path / "m.k", tmp_path / "d.npz"
    program.write_text(SEARCH)
    _random_data(data)
    code, out, err = kdsl_main(
        ["tune", program, "--data", data, "--json", tmp_path / "t.json",
         "--plot", tmp_path / "t.png"],
        capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    assert out.count("kdsl: trial ") == 2
    assert "trial  width" in out  # the table's header
    report = json.loads((tmp_path / "t.json").read_text())
    assert [t["trial"] for t in report["trials"]] == [1, 2]
    assert all(t["epochs"] == 2 for t in report["trials"])
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    best = (tmp_path / "m.best.k").read_text()
    assert "int(" not in best and "tune" not in best
    assert format_text(best) == best
    # Run again with one more trial allowed: the two done are kept.
    code, out, err = kdsl_main(["tune", program, "--data", data, "--max-trials", "3"], capsys)
    assert code == 0, err[-3000:]
    assert "resuming the search" in out
    assert out.count("kdsl: trial ") == 1
    # The search gave the heap back (objects set aside before may have been freed since).
    assert gc.get_freeze_count() <= frozen
    # The best program is a plain program: kdsl run trains it as is.
    code, out, err = kdsl_main(["run", tmp_path / "m.best.k", "--data", data], capsys)
    assert code == 0, err[-3000:]
    assert "Done:" in out


@pytest.mark.slow
def test_ctrl_c_stops_after_the_current_trial_with_the_results_so_far(tmp_path: Path) -> None:
    """Ctrl-C as soon as the first trial starts: that trial runs to its end (all its 40
    epochs), no other starts. A trial of 400 rows lasts seconds, the signal takes
    milliseconds to arrive."""
    import os
    import signal
    import time

    program = SEARCH.replace("epochs=2", "epochs=40").replace("max_trials=2", "max_trials=6")
    (tmp_path / "m.k").write_text(program)
    _random_data(tmp_path / "d.npz", rows=400)
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kdsl", "tune", "m.k", "--data", "d.npz"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    trial = tmp_path / "m.tune" / "search" / "trial_0"
    deadline = time.monotonic() + 300
    while not trial.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 130, err[-3000:]
    assert "stopping after this trial" in err
    assert out.count("kdsl: trial ") == 1, out[-3000:]
    assert "kdsl: trial 1: val_accuracy" in out and "(40 epochs, " in out, out[-3000:]
    assert (tmp_path / "m.best.k").exists()


@pytest.mark.slow
def test_tune_digits_beats_the_hand_picked_cnn_in_ten_trials_of_five_epochs(
    tmp_path: Path, plain_output, capsys
) -> None:
    """The README's figures: the search's best validation accuracy in 10 trials of 5
    epochs against digits_cnn.k's best over its own full 20 epochs, measured here on the
    same validation rows (fit's validation_split) with the same seed. Both run in this
    process, as `kdsl run` and `kdsl tune` would: each sets the seed before its work.
    digits_cnn.k's run is what `kdsl run examples/digits_cnn.k` runs (its own data, the
    default seed): it learns (test accuracy at least 0.9, as test_cli's other examples
    do)."""
    from conftest import kdsl_main

    data = ROOT / "examples" / "digits_cnn.npz"
    code, _, err = kdsl_main(
        ["run", ROOT / "examples" / "digits_cnn.k", "--data", data,
         "--json", tmp_path / "hand.json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    hand = json.loads((tmp_path / "hand.json").read_text())
    assert hand["evaluated_on"] == "test" and hand["evaluation"]["accuracy"] >= 0.9  # it learns
    history = hand["history"]
    assert len(history["val_accuracy"]) == 20
    hand_best = max(history["val_accuracy"])
    example = ROOT / "examples" / "tune" / "tune_digits.k"
    code, _, err = kdsl_main(
        ["tune", example, "--data", data, "--dir", tmp_path / "search",
         "--best", tmp_path / "best.k", "--json", tmp_path / "tune.json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    report = json.loads((tmp_path / "tune.json").read_text())
    assert len(report["trials"]) == 10
    assert all(trial["epochs"] == 5 for trial in report["trials"])
    assert report["best_score"] > hand_best, (report["best_score"], hand_best)
    check_source((tmp_path / "best.k").read_text())


def test_the_docs_example_is_the_example_file() -> None:
    example = (ROOT / "examples" / "tune" / "tune_digits.k").read_text()
    program = "".join(line + "\n" for line in example.splitlines() if not line.startswith("#"))
    assert program in (ROOT / "docs" / "language.md").read_text()
    check_source(example)


def test_the_editor_hovers_a_range_with_its_extremes() -> None:
    from kdsl.tools.lsp import hover_text

    first = SEARCH.splitlines()[0]
    shown, span = hover_text(SEARCH, 1, first.index("int(") + 2)
    assert shown.startswith("**search space `width`**: `int(16, 64, step=16)` (4 values)")
    assert "Output shape: `(None, 16)` … `(None, 64)`" in shown
    assert "Parameters: 80 … 320" in shown  # 4*16+16 … 4*64+64
    second = SEARCH.splitlines()[1]
    depth, _ = hover_text(SEARCH, 2, second.index("int(1, 3)") + 2)
    assert depth.startswith("**search space `group_1/repeat`**")
    assert "Model parameters:" in depth


def test_a_bad_chief_address_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    from conftest import kdsl_main

    program = tmp_path / "m.k"
    program.write_text(SEARCH)
    for address in ("localhost", "localhost:0", "localhost:99999", ":8000", "host:port"):
        code, _, err = kdsl_main(["tune", program, "--worker", address], capsys)
        assert code == 1, address
        assert "is not an address" in err


def test_a_worker_without_a_chief_says_so() -> None:
    import socket

    from kdsl.errors import KdslError
    from kdsl.train.tune import wait_for_chief

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(KdslError, match="no chief answers at 127.0.0.1"):
        wait_for_chief("127.0.0.1", port, lambda line: None, seconds=1)


@pytest.mark.slow
def test_a_chief_and_two_workers_on_this_machine_end_with_one_best_program(
    tmp_path: Path,
) -> None:
    import os
    import socket

    # Three trials for two workers: one of them at least asks the chief for a second.
    program = SEARCH.replace("max_trials=2", "max_trials=3")
    (tmp_path / "m.k").write_text(program)
    _random_data(tmp_path / "d.npz")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, "NO_COLOR": "1"}

    def start(*role: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "kdsl", "tune", "m.k", "--data", "d.npz", *role],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    chief = start("--chief", address, "--json", "t.json")
    workers = [start("--worker", address), start("--worker", address)]
    outputs = [process.communicate(timeout=600) for process in (chief, *workers)]
    for process, (_, err) in zip((chief, *workers), outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    ran = sum(out.count("kdsl: trial ") for out, _ in outputs[1:])
    assert ran == 3  # the workers shared the three trials
    report = json.loads((tmp_path / "t.json").read_text())
    assert len(report["trials"]) == 3
    assert all(trial["score"] is not None for trial in report["trials"])
    check_source((tmp_path / "m.best.k").read_text())
    assert "best program" in outputs[1][0]  # a worker says the chief writes it


def test_a_block_argument_is_searched_where_the_block_uses_it() -> None:
    program = (
        "def wide f a=relu {\n  dense f a -> dropout 0.1\n}\n"
        "input 4 -> wide int(4, 8) a=choice(relu, tanh) -> wide 6 -> dense 3 softmax;\n"
        "adam; categorical_crossentropy\n"
    )
    code = compile_source(program)
    assert 'hp.Int("wide_1/f", 4, 8)' in code
    assert 'a=hp.Choice("wide_1/a", ["relu", "tanh"])' in code
    assert code.count("hp.") == 2  # the second call's values are plain


@pytest.mark.parametrize(
    ("tuner", "call"),
    [("bayesian", "keras_tuner.BayesianOptimization"), ("hyperband", "keras_tuner.Hyperband")],
)
def test_each_tuner_is_written(tuner: str, call: str) -> None:
    code = compile_source(SEARCH.replace("tuner=random", f"tuner={tuner}"))
    ast.parse(code)
    assert f"return {call}(" in code
    assert ("max_epochs=EPOCHS" in code) == (tuner == "hyperband")


def test_the_highlighter_knows_search_spaces_and_the_tune_section() -> None:
    from pygments import lex
    from pygments.token import Error, Keyword, Name

    from kdsl.tools.lexer import KdslLexer

    tokens = list(lex(SEARCH, KdslLexer()))
    assert not [value for kind, value in tokens if kind in Error]
    builtins = [value for kind, value in tokens if kind is Name.Builtin]
    assert builtins.count("int") == 2 and "choice" in builtins and "float" in builtins
    assert (Keyword, "tune") in tokens


def test_kdsl_build_gives_the_model_at_keras_tuners_defaults() -> None:
    import kdsl

    model = kdsl.build(SEARCH)
    # width 16, one pass of dense 8 and dropout (the depth's lower end), then softmax.
    assert [layer.__class__.__name__ for layer in model.layers] == [
        "Dense",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert model.layers[0].units == 16 and model.layers[1].units == 8


@pytest.mark.parametrize("option", [{"strategy": "mirrored"}, {"folder_data": True}])
def test_options_a_tuner_script_cannot_honour_are_refused(option: dict) -> None:
    from kdsl.codegen.render import StyleError

    with pytest.raises(StyleError, match="cannot be used with a program with search spaces"):
        compile_source(SEARCH, **option)


def test_tensorboard_missing_on_tensorflow_is_named_before_any_work(monkeypatch) -> None:
    """KerasTuner imports TensorBoard for every trial on TensorFlow: without it every
    trial would fail, so `kdsl tune` says what to install first."""
    import importlib.util

    from kdsl.train import tune

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tensorboard" else real(name)
    )
    with pytest.raises(tune.MissingTuner, match="needs tensorboard"):
        tune.check_installed("tensorflow")
    tune.check_installed("jax")  # KerasTuner imports it only on TensorFlow


def test_bayesian_search_without_scikit_learn_is_named_before_any_work(monkeypatch) -> None:
    """KerasTuner's Bayesian oracle needs scikit-learn: without it `kdsl tune` stopped
    with exit 70 at the first trial; now it says what to install, for that tuner only."""
    import importlib.util

    from kdsl.train import tune

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "sklearn" else real(name)
    )
    with pytest.raises(tune.MissingTuner, match="needs scikit-learn"):
        tune.check_installed("tensorflow", "bayesian")
    for other in ("random", "hyperband", None):
        tune.check_installed("tensorflow", other)


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_kdsl_tune_searches_with_every_tuner(
    tmp_path: Path, tuner: str, plain_output, capsys
) -> None:
    """`--tuner bayesian` stopped with exit 70 (scikit-learn missing from the extra)."""
    from conftest import kdsl_main

    (tmp_path / "m.k").write_text(SEARCH)
    _random_data(tmp_path / "d.npz")
    code, out, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz", "--tuner", tuner], capsys
    )
    assert code == 0, err[-3000:]
    assert f"({tuner}, up to 2 trials" in out
    assert "kdsl: trial " in out
    assert check_source((tmp_path / "m.best.k").read_text()).search is None


def test_the_search_keeps_the_heap_out_of_the_collectors_passes_and_gives_it_back() -> None:
    """KerasTuner collects garbage before each trial: the objects there before the
    search (TensorFlow's modules) are set aside from those passes, not leaked after."""
    import gc

    from kdsl.train.runner import heap_set_aside

    callers = gc.get_freeze_count()  # the test process's own (conftest freezes once)
    gc.unfreeze()
    try:
        existing = len(gc.get_objects())
        with heap_set_aside():
            assert gc.get_freeze_count() >= existing
            cycle: list = []
            cycle.append(cycle)
            del cycle
            assert gc.collect() >= 1  # the trials' own garbage is collected as before
        assert gc.get_freeze_count() == 0
        gc.freeze()  # a caller that set its heap aside keeps it as it was
        frozen = gc.get_freeze_count()
        with heap_set_aside():
            pass
        assert gc.get_freeze_count() <= frozen  # (fewer where some were freed)
    finally:
        if not callers:
            gc.unfreeze()


def test_trials_failing_in_a_row_say_the_trials_own_error() -> None:
    from kdsl.train import tune

    error = RuntimeError(
        "Number of consecutive failures exceeded the limit of 3.\n"
        "Traceback (most recent call last):\n  File ...\n"
        "ValueError: Input 0 is incompatible with the layer\n"
    )
    assert tune._last_error(error) == "ValueError: Input 0 is incompatible with the layer"


# -- --explain for the tuner script ----------------------------------------------------------

EXPLAINED = [
    SEARCH,  # a chain with a searched depth, the optimizer, fit's batch size
    SEARCH.replace("name=width", 'name="w\\"); import os #"'),  # user text in a name
    SEARCH.replace("tuner=random", "tuner=hyperband").replace("epochs=2", "epochs=3"),
    "x: dense 4 choice(relu, tanh) in 4 -> dense int(4, 8) relu -> dense 4 -> add @x -> dense 3"
    " softmax; adam; categorical_crossentropy; fit epochs=choice(1, 2)\n",  # a graph
    "def wide f a=relu {\n  dense f a -> dropout 0.1\n}\n"
    "input 4 -> wide int(4, 8) a=choice(relu, tanh) -> dense 3 softmax use_bias=boolean();\n"
    "adam; categorical_crossentropy; tune tuner=bayesian objective=loss\n",  # block arguments
    (ROOT / "examples" / "tune" / "tune_digits.k").read_text(),
]


@pytest.mark.parametrize("program", EXPLAINED)
def test_explain_comments_the_tuner_script_and_changes_no_code(program: str) -> None:
    plain = compile_source(program)
    explained = compile_source(program, explain=True)
    assert explained != plain
    assert format_code(explained) == explained  # black-stable
    # Comments only: without its comment lines, the script is the plain one.
    code_lines = [line for line in explained.splitlines() if not line.lstrip().startswith("#")]
    assert "\n".join(code_lines) + "\n" == plain
    assert ast.dump(ast.parse(explained)) == ast.dump(ast.parse(plain))
    comments = " ".join(line.strip() for line in explained.splitlines() if "# " in line)
    search = check_source(program).search
    assert search is not None
    per_pass = dict(search.per_pass)
    for hp in search.hyperparameters:  # every space said in words, where it is drawn
        stem = hp.name.rpartition("/pass_")[0]
        if stem in per_pass:  # one of a depth loop's per-pass names: said with its siblings
            assert f"`{hp.name}`" in comments, hp.name
            assert f"one per pass of the depth `{per_pass[stem]}`" in comments, hp.name
        else:
            assert f"Searched `{hp.name}`: each trial takes" in comments, hp.name
    assert "KerasTuner calls build(hp) once per trial" in comments
    assert f"scored by its best epoch's {search.objective}" in comments


def test_compile_explain_of_a_search_program_writes_the_commented_tuner_script(
    tmp_path: Path, capsys
) -> None:
    """`kdsl compile --explain` reaches the tuner script's own commenting (render.py), never
    the tuner's refusal of the flags a search script cannot honour."""
    from conftest import kdsl_main

    program = tmp_path / "search.k"
    program.write_text(SEARCH)
    code, out, err = kdsl_main(["compile", program, "--explain"], capsys)
    assert code == 0, err
    assert "KerasTuner calls build(hp) once per trial" in out
    assert out == compile_source(SEARCH, explain=True)


def test_explain_says_what_each_kind_of_space_draws() -> None:
    explained = compile_source(SEARCH, explain=True)
    words = " ".join(line.strip().lstrip("# ") for line in explained.splitlines())
    assert "`width`: each trial takes a whole number from 16 to 64 in steps of 16" in words
    assert (
        "`adam/learning_rate`: each trial takes a number from 0.0001 to 0.01, drawn on a log"
        in words
    )
    assert "`batch_size`: each trial takes one of 16, 32" in words
    assert "`group_1/repeat`: each trial takes a whole number from 1 to 3. It is a depth" in words
    assert (
        "Searched `dense_2/units/pass_1`, `dense_2/units/pass_2`, `dense_2/units/pass_3`: one"
        " per pass of the depth `group_1/repeat`; each trial takes one of 8, 16 for each pass"
        " it builds. Pass i's exists only in trials whose `group_1/repeat` is i or more."
    ) in words
    assert "Dense: a fully connected layer of `width` units" in words
    assert "RandomSearch draws each trial's values at random" in words


# -- the objective: what fit logs, Keras the oracle -------------------------------------------

LOGGING = [
    # two outputs, metrics on one of them only
    "a: input 6 -> dense 8 relu -> [priority: dense 1 sigmoid | department: dense 4 softmax];\n"
    "adam;\nloss @priority binary_crossentropy;\nloss @department categorical_crossentropy;\n"
    "metrics @department accuracy, auc\n",
    # two outputs, the default metrics (accuracy for each cross-entropy output)
    "a: input 6 -> dense 8 relu -> [priority: dense 1 sigmoid | department: dense 4 softmax];\n"
    "adam;\nloss @priority binary_crossentropy;\nloss @department categorical_crossentropy\n",
    # one output: plain names, also when its metrics name it
    "input 6 -> dense 8 relu -> dense 4 softmax; adam; categorical_crossentropy;"
    " metrics accuracy, mae\n",
    "input 6 -> dense 8 relu -> out: dense 4 softmax; adam; categorical_crossentropy;"
    " metrics @out accuracy\n",
]


def test_the_objectives_accepted_are_the_names_keras_logs() -> None:
    """`space.logged_names` against the history of one real step of each model's fit, on
    validation data: an objective `check` accepts is one the tuner finds, and the reverse."""
    import numpy as np

    from kdsl.semantics.space import logged_names
    from kdsl.train.runner import build_model

    rng = np.random.default_rng(0)
    for program in LOGGING:
        model = build_model(compile_source(program))
        model.run_eagerly = True  # one step: the same names logged, no graph to trace
        x = rng.random((8, 6), dtype="float32")
        targets = [
            np.eye(width, dtype="float32")[rng.integers(0, width, 8)]
            if width > 1
            else rng.integers(0, 2, (8, 1)).astype("float32")
            for width in (output.shape[-1] for output in model.outputs)
        ]
        y = targets[0] if len(targets) == 1 else dict(zip(model.output_names, targets, strict=True))
        history = model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y), verbose=0)
        logged = logged_names(check_source(program))
        assert set(history.history) == logged | {f"val_{name}" for name in logged}, program


# -- fit sample_weight=true in the trials -----------------------------------------------------

# Every weight 1e-6, scored by the training loss (about 1 on these random labels).
WEIGHTED_SEARCH = SEARCH.replace("epochs=2", "epochs=2 sample_weight=true").replace(
    "objective=val_accuracy", "objective=loss"
)


def _weighted_data(path: Path) -> None:
    import numpy as np

    _random_data(path)
    with np.load(path) as npz:
        arrays = dict(npz)
    np.savez(path, **arrays, sample_weight=np.full(48, 1e-6, dtype="float32"))


@pytest.mark.slow
def test_the_trials_weigh_the_rows_with_the_datas_sample_weight(
    tmp_path: Path, plain_output, capsys
) -> None:
    """`kdsl tune` passes the data's `sample_weight` to each trial's fit: with every
    weight 1e-6, the training loss each trial scores is about a millionth of the
    unweighted one (about 1 on these random labels). The tuner script's side:
    tests/test_scripts_alone.py."""
    from conftest import kdsl_main

    _weighted_data(tmp_path / "d.npz")
    (tmp_path / "m.k").write_text(WEIGHTED_SEARCH)
    code, _, err = kdsl_main(
        ["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz", "--json", tmp_path / "t.json"],
        capsys,
    )
    assert code == 0, err[-3000:]
    report = json.loads((tmp_path / "t.json").read_text())
    assert len(report["trials"]) == 2 and report["best_score"] < 1e-3, report


@pytest.mark.slow
def test_small_trials_run_several_steps_per_call_and_score_the_same(
    tmp_path: Path, plain_output, capsys, monkeypatch
) -> None:
    """On TensorFlow a small model's trial trains as `kdsl run` trains it (several steps
    per call, an epoch's batches replayed): the same trials score as with one step a call."""
    from conftest import kdsl_main

    from kdsl.train import tune

    program = SEARCH.replace("epochs=2", "epochs=3").replace("=val_accuracy", "=val_loss")
    (tmp_path / "m.k").write_text(program)
    _random_data(tmp_path / "d.npz", rows=120)

    def scores(name: str) -> list:
        report = tmp_path / f"{name}.json"
        code, _, err = kdsl_main(
            ["tune", tmp_path / "m.k", "--data", tmp_path / "d.npz",
             "--dir", tmp_path / name, "--json", report],
            capsys,
        )  # fmt: skip
        assert code == 0, err[-3000:]
        return [trial["score"] for trial in json.loads(report.read_text())["trials"]]

    picked: list[int] = []
    steps = tune.small_model_steps_per_execution

    def picking(*args, **kwargs) -> int:
        picked.append(steps(*args, **kwargs))
        return picked[-1]

    monkeypatch.setattr(tune, "small_model_steps_per_execution", picking)
    several = scores("several")
    assert len(picked) == 2 and all(count > 1 for count in picked)  # 120 rows, batch 16 or 32
    monkeypatch.setattr(tune, "small_model_steps_per_execution", lambda *args, **kwargs: 1)
    one = scores("one")
    assert len(several) == 2 and several == pytest.approx(one, abs=1e-6)
