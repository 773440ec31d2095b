"""`kdsl compile --explain`: the same program, with a comment on every line.

Comments are not code, so the explained script must parse to exactly the AST of the plain
one; golden files keep the words themselves under review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import run_kdsl
from golden_cases import (
    STYLES,
    all_programs,
    case_id,
    compare_golden,
    explain_expected_path,
    programs,
)

from kdsl import check_source, compile_source
from kdsl.codegen import explain
from kdsl.codegen.render import format_code
from kdsl.ir import show_shape
from kdsl.options import Mode
from kdsl.semantics.catalog import load
from kdsl.semantics.shapes import infer

EXPLAIN_GOLDEN = Path(__file__).parent / "golden" / "expected" / "explain"
EXAMPLES = [p for p in programs() if p.parent.name == "examples"]
GOLDEN_CASES = [(p, "add") for p in programs()] + [(p, "constructor") for p in EXAMPLES]


@pytest.mark.parametrize(
    ("program", "style"), GOLDEN_CASES, ids=[f"{case_id(p)}-{s}" for p, s in GOLDEN_CASES]
)
def test_explain_golden(program: Path, style: str, update_goldens: bool) -> None:
    code = compile_source(program.read_text(), str(program), style=style, explain=True)
    compare_golden(
        code, explain_expected_path(program, style), f"{program} --explain", update_goldens
    )


def test_no_orphan_explain_goldens() -> None:
    wanted = {explain_expected_path(p, s) for p, s in GOLDEN_CASES}
    assert set(EXPLAIN_GOLDEN.glob("*.py")) <= wanted


@pytest.mark.parametrize("program", all_programs(), ids=case_id)
def test_explain_adds_only_comments(program: Path) -> None:
    """For every program and kind, both styles: same AST as without --explain, and
    black leaves the commented script unchanged."""
    for style in STYLES:
        plain = compile_source(program.read_text(), str(program), style=style)
        explained = compile_source(program.read_text(), str(program), style=style, explain=True)
        assert explained != plain
        assert ast.dump(ast.parse(explained)) == ast.dump(ast.parse(plain))
        assert format_code(explained, Mode(style=style)) == explained


@pytest.mark.parametrize("program", programs(), ids=case_id)
def test_every_line_of_the_model_is_explained(program: Path) -> None:
    """A comment above the input, every layer and every compile argument, and each layer's
    comment gives the output shape kdsl infers for it."""
    code = compile_source(program.read_text(), str(program), explain=True)
    lines = code.splitlines()
    layer_lines = [i for i, line in enumerate(lines) if line.startswith("    model.add(")]
    model = check_source(program.read_text())
    assert len(layer_lines) == len(model.layers) + 1
    rows = infer(model).rows
    for number, index in enumerate(layer_lines):
        comment = _comment_above(lines, index)
        assert comment, f"no comment above {lines[index]!r}"
        if number:
            row = rows[number - 1]
            if row.output_shape is not None:
                assert show_shape(row.output_shape) in comment
    for key in ("optimizer=", "loss="):
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(key))
        assert _comment_above(lines, index)


def _comment_above(lines: list[str], index: int) -> str:
    comment = []
    while lines[index - 1].strip().startswith("#"):
        index -= 1
        comment.insert(0, lines[index].strip().removeprefix("# "))
    return " ".join(comment)


def test_comments_fit_in_black_line_length() -> None:
    program = "conv2d 8 3 in 28x28x1 -> maxpool2d -> flatten -> dense 10 softmax; adam; mse"
    for style in STYLES:
        for strategy in (None, "mirrored", "multi-worker"):  # a scope indents the model
            code = compile_source(program, style=style, explain=True, strategy=strategy)
            assert max(map(len, code.splitlines())) <= 88, (style, strategy)


def test_a_shape_is_never_split_across_comment_lines() -> None:
    code = compile_source(
        "conv2d 16 3 relu padding=same in 8x8x1 -> flatten -> dense 10 softmax; adam; mse",
        style="constructor",
        explain=True,
    )
    for line in code.splitlines():
        if line.strip().startswith("#"):
            assert not re.search(r"\(None[^)]*$", line), line  # a shape cut by the wrap


def test_words_name_real_keras_things() -> None:
    """The sentences are keyed by names that exist, so none is dead."""
    catalog = load()
    classes = {entry.class_name for entry in catalog.layers.values()}
    # Merge and attention layers (issue 13) are not in the catalog the language writes.
    assert set(explain.ROLES) <= classes | set(explain.OTHER_CATEGORIES)
    assert set(explain.OTHER_CATEGORIES.values()) <= set(explain.CATEGORIES)
    assert set(explain.CATEGORIES) >= {entry.category for entry in catalog.layers.values()}
    assert set(explain.OPTIMIZERS) <= set(catalog.optimizers)
    assert set(explain.LOSSES) <= set(catalog.losses)
    assert set(explain.METRICS) <= set(catalog.metrics)
    assert set(explain.ACTIVATIONS) <= set(catalog.activations)


def test_sentence_fields_are_filled() -> None:
    """No `{units}` left in any comment of any program."""
    for program in all_programs():
        code = compile_source(program.read_text(), explain=True)
        assert not re.search(r"#.*\{\w+\}", code), program


def test_sentences_follow_the_arguments() -> None:
    """What a layer's arguments change, the sentence says; no `then no activation`."""
    code = compile_source(
        "input 18x18x1 -> activation gelu -> relu 6.0 -> flatten -> rescaling 0.5 -1.0"
        " -> dense 3 linear -> dense 1; adam; binary_crossentropy from_logits=true",
        explain=True,
    )
    text = " ".join(line.strip().removeprefix("# ") for line in code.splitlines())
    assert "an 18 x 18 grid" in text
    assert "applies an activation on its own: GELU" in text
    assert "max(0, x) capped at 6.0" in text
    assert "multiplies the inputs by 0.5 and adds -1.0" in text
    assert "then no activation" not in text and "then linear" not in text
    assert "computed from logits" in text and "sigmoid outputs" not in text


def test_cli_explain(tmp_path: Path) -> None:
    program = tmp_path / "m.k"
    program.write_text("dense 8 relu in 4 -> dropout 0.5 -> dense 1 sigmoid; sgd; bce")
    result = run_kdsl("compile", str(program), "--explain")
    assert result.returncode == 0, result.stderr
    assert "# Dropout: during training only, zeroes a random 50% of the values" in result.stdout
    assert "binary cross-entropy" in result.stdout
    assert "SGD: stochastic gradient descent" in result.stdout


def test_a_graph_is_explained_per_output_and_per_block() -> None:
    """Issue 13: merge and attention layers have their words; per-output losses and
    metrics are explained one by one; a block's layers say their role, with the block's
    parameters named (their shapes depend on the call)."""
    from graph_models import GRAPHS

    from kdsl.codegen.render import render
    from kdsl.options import Mode

    code = render(GRAPHS["two_inputs_two_outputs"](), Mode(explain=True))
    assert "# One loss per output" in code
    comments = " ".join(line.strip("# ") for line in code.splitlines() if "#" in line)
    assert "priority: binary cross-entropy" in comments
    assert "department: categorical cross-entropy" in comments
    assert "Concatenate: joins its input tensors" in comments
    code = render(GRAPHS["encoder_stack"](), Mode(explain=True))
    comments = " ".join(line.strip().strip("# ") for line in code.splitlines() if "#" in line)
    assert "MultiHeadAttention: attention with `heads` heads" in comments
    assert "a fully connected layer of `ff` units" in comments
    assert "The block encoder: its function, above, adds its layers here. Repeated" in comments
