"""The Python API: `kdsl.parse`, `kdsl.check`, `kdsl.compile`, `kdsl.build`."""

from __future__ import annotations

import pytest
from conftest import ROOT, heavy_imports

import kdsl
from kdsl.language import nodes

TUTORIAL = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"


def test_parse_returns_the_syntax_tree() -> None:
    program = kdsl.parse(TUTORIAL)
    assert isinstance(program, nodes.Program)
    assert [call.name for call in program.layers] == ["dense", "dense", "dense"]


def test_check_lists_every_problem_with_positions() -> None:
    assert kdsl.check(TUTORIAL) == []
    problems = kdsl.check("dens 3 in 4; adma; mse")
    assert [(d.message, d.span.line, d.span.column) for d in problems] == [
        ("unknown layer `dens`", 1, 1),
        ("unknown optimizer `adma`", 1, 14),
    ]
    warnings = kdsl.check("dense 3 in 4 -> flatten; adam; mse")
    assert [d.severity for d in warnings] == ["warning"]


def test_compile_is_the_cli_output() -> None:
    expected = (ROOT / "tests/golden/expected/tutorial.constructor.py").read_text()
    assert kdsl.compile(TUTORIAL + "\n", style="constructor") == expected


def test_errors_carry_line_column_and_message() -> None:
    with pytest.raises(kdsl.KdslError) as info:
        kdsl.compile("dense 5 in 4\n-> dens 3; adam; mse")
    error = info.value
    assert isinstance(error, kdsl.SourceError)
    assert (error.line, error.column, str(error)) == (2, 4, "unknown layer `dens`")


def test_parse_check_and_compile_never_import_tensorflow() -> None:
    calls = (f"kdsl.{function}({TUTORIAL!r})" for function in ("parse", "check", "compile"))
    code = "import kdsl\n" + "\n".join(calls)
    assert heavy_imports(code) == []


def test_build_returns_the_compiled_keras_model() -> None:
    model = kdsl.build(TUTORIAL)
    assert model.count_params() == 55
    assert type(model.optimizer).__name__ == "Adam"
    assert model.get_compile_config()["loss"] == "categorical_crossentropy"


def test_format_lays_out_and_keeps_comments() -> None:
    text = "# iris\ndense 5 in 4->dense 3 relu  ->  dense 3 softmax ;adam;categorical_crossentropy"
    formatted = kdsl.format(text)
    assert formatted == f"# iris\n{TUTORIAL}\n"
    assert kdsl.format(formatted) == formatted
    with pytest.raises(kdsl.SourceError) as info:
        kdsl.format("dense 3 ->", name="m.k")
    assert info.value.line == 1


def test_build_names_an_unknown_backend_in_the_apis_words() -> None:
    with pytest.raises(kdsl.KdslError, match="backend='bogus': not a Keras backend"):
        kdsl.build(TUTORIAL, backend="bogus")


def test_the_api_refuses_unknown_options() -> None:
    with pytest.raises(ValueError, match="strategy must be"):
        kdsl.compile("dense 1 in 2; adam; mse", strategy="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="style must be"):
        kdsl.compile("dense 1 in 2; adam; mse", style="x")  # type: ignore[arg-type]
