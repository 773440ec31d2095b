"""kdsl: a tiny model language that compiles to idiomatic Keras 3 Python.

The pipeline, one module per pass: `parser` (text → `nodes`), `check` (nodes → `ir`,
with every diagnostic), `render` (ir → Python via Jinja and black), `runner` (executes
the rendered script with TensorFlow). Importing kdsl never imports TensorFlow.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "compile_source", "check_source"]


def check_source(text: str, name: str = "<string>"):
    """Parse and check a program; return the checked model (`kdsl.ir.Model`)."""
    from kdsl.check import check
    from kdsl.errors import Source
    from kdsl.parser import parse

    source = Source(name, text)
    return check(parse(source), source)


def compile_source(text: str, name: str = "<string>", style: str = "add") -> str:
    """Compile a program to a standalone Keras script; raises `kdsl.errors.KdslError`."""
    from kdsl.render import Mode, render

    return render(check_source(text, name), Mode(style=style))
