"""kdsl: a tiny model language that compiles to idiomatic Keras 3 Python.

The pipeline, one module per pass: `parser` (text → `nodes`), `check` (nodes → `ir`,
with every diagnostic), `shapes` (static shapes), `render` (ir → Python via Jinja),
`runner` (executes the rendered script with Keras). Importing kdsl never imports
TensorFlow; only `build()` does.

    >>> import kdsl
    >>> code = kdsl.compile("dense 3 softmax in 4; adam; categorical_crossentropy")
    >>> kdsl.check("dense 3 in 4 -> flatten; adam; mse")[0].message
    '`flatten` on an already flat input (None, 3) does nothing'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from kdsl.errors import Diagnostic, KdslError, SourceError

if TYPE_CHECKING:
    from kdsl import ir, nodes

__version__ = "0.1.0"

__all__ = [
    "Diagnostic",
    "KdslError",
    "SourceError",
    "__version__",
    "build",
    "check",
    "check_source",
    "compile",
    "compile_source",
    "parse",
]


def parse(text: str, name: str = "<string>") -> nodes.Program:
    """The syntax tree of a program; raises `SourceError` on a syntax error."""
    from kdsl.errors import Source
    from kdsl.parser import parse as parse_source

    return parse_source(Source(name, text))


def check(text: str, name: str = "<string>") -> list[Diagnostic]:
    """Every problem in a program, errors and warnings, in source order ([] when clean)."""
    from kdsl.checker import analyze
    from kdsl.errors import Source

    source = Source(name, text)
    try:
        _, summary = analyze(parse(text, name), source)
    except SourceError as error:
        return error.diagnostics
    return SourceError(source, summary.diagnostics).diagnostics if summary.diagnostics else []


def check_source(text: str, name: str = "<string>") -> ir.Model:
    """Parse and check a program; return the checked model (`kdsl.ir.Model`)."""
    from kdsl.checker import check as check_program
    from kdsl.errors import Source

    return check_program(parse(text, name), Source(name, text))


def compile(  # noqa: A001 - `kdsl.compile` is the name users expect
    text: str, style: Literal["add", "constructor"] = "add", name: str = "<string>"
) -> str:
    """A standalone Keras script for a program; raises `KdslError` subclasses."""
    from kdsl.render import Mode, render

    return render(check_source(text, name), Mode(style=style))


def compile_source(text: str, name: str = "<string>", style: str = "add") -> str:
    """`compile()` with the file name first (the tests' and the CLI's order)."""
    return compile(text, style=style, name=name)  # type: ignore[arg-type]


def build(text: str, name: str = "<string>", backend: str | None = None):
    """The compiled Keras model itself (imports Keras), ready to `fit`.

    It runs the very `build_model()` that `compile()` writes, so the model is the same one
    the script builds. `backend` ("tensorflow", "jax", "torch"; default $KERAS_BACKEND)
    must be chosen before Keras is first imported: a process cannot switch afterwards.
    """
    from kdsl.runner import import_keras, load_script

    import_keras(backend)
    return load_script(compile_source(text, name), name)["build_model"]()
