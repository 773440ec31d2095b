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
    "format",
    "import_model",
    "parse",
]


def format(text: str, name: str = "<string>") -> str:  # noqa: A001 - as `kdsl fmt`
    """The program in kdsl's canonical layout (`kdsl fmt`), comments kept.

    Raises `SourceError` on a syntax error; the model need not pass `check`.
    """
    from kdsl.fmt import format_text

    return format_text(text, name)


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
    text: str,
    style: Literal["add", "constructor"] = "add",
    name: str = "<string>",
    explain: bool = False,
    strategy: Literal["mirrored", "multi-worker"] | None = None,
    folder_data: bool = False,
) -> str:
    """A standalone Keras script for a program; raises `KdslError` subclasses.

    `explain=True` adds a comment above each line saying what it does (`--explain`);
    `strategy` builds and trains the model under that tf.distribute strategy;
    `folder_data=True` lets the script read a folder of .npy files (`--folder-data`).
    """
    from kdsl.render import Mode, render

    mode = Mode(style=style, explain=explain, strategy=strategy, folder_data=folder_data)
    return render(check_source(text, name), mode)


def compile_source(text: str, name: str = "<string>", style: str = "add", **options) -> str:
    """`compile()` with the file name first (the tests' and the CLI's order)."""
    return compile(text, style=style, name=name, **options)  # type: ignore[arg-type]


def import_model(source) -> str:
    """The kdsl program for a saved Keras `Sequential` model: a `.keras` or `.json` path,
    `model.to_json()`'s text, or its config dict. Reads the config only: no TensorFlow,
    no weights, no code from the file runs. Raises `KdslError` for what kdsl cannot write.
    """
    from kdsl.importer import import_model as import_saved

    return import_saved(source)


def build(text: str, name: str = "<string>", backend: str | None = None):
    """The compiled Keras model itself (imports Keras), ready to `fit`.

    It runs the very `build_model()` that `compile()` writes, so the model is the same one
    the script builds. `backend` ("tensorflow", "jax", "torch"; default $KERAS_BACKEND)
    must be chosen before Keras is first imported: a process cannot switch afterwards.
    """
    from kdsl.runner import chosen_backend, import_keras, load_script

    chosen_backend(backend, flag="backend=")  # an unknown name says so, whatever is loaded
    import_keras(backend)
    return load_script(compile_source(text, name), name)["build_model"]()


def load_ipython_extension(ipython) -> None:
    """`%load_ext kdsl`: the `%%kdsl` cell magic and `%kdsl` line magic (`kdsl.notebook`)."""
    from kdsl.notebook import load_ipython_extension as register

    register(ipython)
