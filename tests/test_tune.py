"""Search spaces and `kdsl tune` (issue 16): the language, the check, the tuner script."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, heavy_imports, native_log_lines

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
    assert 'hp.conditional_scope("group_1/repeat", [2, 3])' in code
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


@pytest.mark.slow
def test_the_generated_script_searches_two_trials_on_random_data(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 48)]
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x[:16], y_val=y[:16])
    (tmp_path / "tune.py").write_text(compile_source(SEARCH))
    result = subprocess.run(
        [sys.executable, "tune.py", "--data", "d.npz", "--directory", "search"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Trial 2 Complete") == 1
    assert "Results summary" in result.stdout
    assert "Total params" in result.stdout
    others = [
        line for line in result.stderr.splitlines() if line not in native_log_lines(result.stderr)
    ]
    assert not [line for line in others if "Warning" in line], others
    assert (tmp_path / "search" / "search" / "trial_1").is_dir()


def test_the_root_is_the_repository() -> None:
    assert (ROOT / "grammar" / "kdsl.lark").is_file()
