"""kdsl: a tiny model language that compiles to idiomatic Keras 3 Python.

The Python API, on top of the pipeline's layers (docs/architecture.md): `language`
(text → syntax tree), `semantics` (tree → `ir`, with every diagnostic and static shapes),
`codegen` (ir → a Keras script via Jinja), `train` (runs the script with Keras). Nothing
in kdsl imports this module. Importing kdsl never imports TensorFlow; only `build()` does.

    >>> import kdsl
    >>> code = kdsl.compile("dense 3 softmax in 4; adam; categorical_crossentropy")
    >>> kdsl.check("dense 3 in 4 -> flatten; adam; mse")[0].message
    '`flatten` on an already flat input (None, 3) does nothing'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdsl._version import __version__
from kdsl.errors import Diagnostic, KdslError, SourceError

if TYPE_CHECKING:
    from kdsl import ir
    from kdsl.language import nodes
    from kdsl.options import Strategy, Style


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
    from kdsl.language.fmt import format_text

    return format_text(text, name)


def parse(text: str, name: str = "<string>") -> nodes.Program:
    """The syntax tree of a program; raises `SourceError` on a syntax error."""
    from kdsl.errors import Source
    from kdsl.language.parser import parse as parse_source

    return parse_source(Source(name, text))


def check(text: str, name: str = "<string>") -> list[Diagnostic]:
    """Every problem in a program, errors and warnings, in source order ([] when clean)."""
    from kdsl.errors import Source
    from kdsl.semantics.checker import analyze_source

    source = Source(name, text)
    try:
        _, summary = analyze_source(source, rows=False)
    except SourceError as error:
        return error.diagnostics
    return SourceError(source, summary.diagnostics).diagnostics if summary.diagnostics else []


def check_source(text: str, name: str = "<string>") -> ir.Model:
    """Parse and check a program; return the checked model (`kdsl.ir.Model`)."""
    from kdsl.errors import Source
    from kdsl.semantics.checker import analyze_source

    return analyze_source(Source(name, text), rows=False)[0]  # the tree let go of early


def compile(  # noqa: A001 - `kdsl.compile` is the name users expect
    text: str,
    style: Style | None = None,
    name: str = "<string>",
    explain: bool = False,
    strategy: Strategy | None = None,
    folder_data: bool = False,
) -> str:
    """A standalone Keras script for a program; raises `KdslError` subclasses.

    `style` is "add" (the default for a chain of layers), "constructor" or "functional"
    (the default for a graph; "add" and "constructor" cannot write one);
    `explain=True` adds a comment above each line saying what it does (`--explain`);
    `strategy` builds and trains the model under that tf.distribute strategy;
    `folder_data=True` lets the script read a folder of .npy files (`--folder-data`).
    """
    from kdsl.codegen.render import render
    from kdsl.options import Mode

    mode = Mode(style=style, explain=explain, strategy=strategy, folder_data=folder_data)
    return render(check_source(text, name), mode)


def compile_source(text: str, name: str = "<string>", style: str | None = None, **options) -> str:
    """`compile()` with the file name first (the tests' and the CLI's order)."""
    return compile(text, style=style, name=name, **options)  # type: ignore[arg-type]


def import_model(source, compact: bool = True) -> str:
    """The kdsl program for a saved Keras model (Sequential or functional): a `.keras` or
    `.json` path, `model.to_json()`'s text, or its config dict. Reads the config only: no
    TensorFlow, no weights, no code from the file runs. Raises `KdslError` for what kdsl
    cannot write. `compact=False` writes a functional model's faithful form (every layer,
    every name) instead of the compact one (folded into blocks, positional names dropped).
    """
    from kdsl.tools.importer import import_model as import_saved

    return import_saved(source, compact=compact)


def build(text: str, name: str = "<string>", backend: str | None = None):
    """The compiled Keras model itself (imports Keras), ready to `fit`.

    It runs the very `build_model()` that `compile()` writes, so the model is the same one
    the script builds. `backend` ("tensorflow", "jax", "torch"; default $KERAS_BACKEND)
    must be chosen before Keras is first imported: a process cannot switch afterwards.
    """
    from kdsl.codegen.render import render
    from kdsl.train.runner import build_model

    model = check_source(text, name)
    if model.search is not None:  # search spaces: the model at KerasTuner's defaults
        from kdsl.train.tune import build_default

        return build_default(render(model), name, backend)
    return build_model(render(model), name, backend)


def load_ipython_extension(ipython) -> None:
    """`%load_ext kdsl`: the `%%kdsl` cell magic and `%kdsl` line magic (`kdsl.tools.notebook`)."""
    from kdsl.tools.notebook import load_ipython_extension as register

    register(ipython)
