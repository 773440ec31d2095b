"""kdsl in IPython and Jupyter: `%load_ext kdsl`, then a `%%kdsl` cell is a model.

    %%kdsl [NAME] [--quiet]     build the cell's model with Keras, bind it to NAME
                                (default `model`) and show Keras's model.summary()
    %%kdsl check                the cell's summary from kdsl's shape inference (no Keras)
    %%kdsl compile [--style S] [--explain] [--strategy S]   the Keras script for the cell
    %kdsl check [NAME]          the same for the model a `%%kdsl` cell built (default:
    %kdsl compile [NAME] [...]  the last one); compile's options as `kdsl compile`'s

A mistake in the program shows as `kdsl check` shows it, `<cell>:line:col: error: ...`
with a caret and a hint, not as a Python traceback; the cell still fails, so "Run all"
stops there. Needs IPython (the `notebook` extra); only building imports Keras.
"""

from __future__ import annotations

import keyword
import os
import shlex
import sys

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.display import Code

from kdsl.errors import KdslError, ModelError, Source, first_line, format_diagnostic
from kdsl.options import STRATEGIES, STYLES, Mode

CELL = "<cell>"
DEFAULT_NAME = "model"
ACTIONS = ("check", "compile")
USAGE = """\
%%kdsl [NAME] [--quiet]            build the cell's model into NAME (default: model)
%%kdsl check | compile [--style S] [--explain] [--strategy S]
                                   check the cell, or show its Keras script
%kdsl check [NAME]                 check a model a %%kdsl cell built (default: the last)
%kdsl compile [NAME] [--style S] [--explain] [--strategy S]
                                   show the Keras script of a model a %%kdsl cell built"""


class CellError(Exception):
    """A kdsl error in a cell, shown by IPython as kdsl prints it (no traceback)."""

    def __init__(self, error: KdslError):
        super().__init__(str(error))
        self.error = error

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback; Jupyter shows ANSI colors.
        return self.error.render(color=not os.environ.get("NO_COLOR")).split("\n")


def _parser(prog: str, build: bool) -> MagicArgumentParser:
    """Options of one form of the magic; a misuse is a UsageError, as for IPython's own."""
    parser = MagicArgumentParser(prog=prog, add_help=False)
    if build:
        parser.add_argument("name", nargs="?", default=DEFAULT_NAME)
        parser.add_argument("-q", "--quiet", action="store_true")
    else:
        parser.add_argument("name", nargs="?")
        parser.add_argument("--style", choices=STYLES)
        parser.add_argument("--explain", action="store_true")
        parser.add_argument("--strategy", choices=STRATEGIES)
    return parser


@magics_class
class KdslMagics(Magics):
    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        self.programs: dict[str, str] = {}  # model name → the program its cell held
        self.last: str | None = None

    @line_cell_magic
    def kdsl(self, line: str, cell: str | None = None):
        """Build, check or compile a kdsl model. Usage:

        %%kdsl [NAME] [--quiet]            build the cell's model into NAME (default: model)
        %%kdsl check | compile [--style S] [--explain] [--strategy S]
                                   check the cell, or show its Keras script
        %kdsl check [NAME]                 check a model a %%kdsl cell built (default: the last)
        %kdsl compile [NAME] [--style S]   show the Keras script of a model a %%kdsl cell built
        """
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"%kdsl: {error}") from None
        action = words[0] if words and words[0] in ACTIONS else None
        if cell is None and action is None:
            raise UsageError(f"%kdsl needs `check` or `compile`\n{USAGE}")
        try:
            if action is None:
                assert cell is not None
                args = _parser("%%kdsl", build=True).parse_args(words)
                return self._build(cell, args.name, args.quiet)
            args = _parser(f"%kdsl {action}", build=False).parse_args(words[1:])
            if cell is not None:
                if args.name:
                    raise UsageError(f"%%kdsl {action} takes the program from the cell, no name")
                text, title = cell, CELL
            else:
                title, text = self._program(args.name)
            if action == "check":
                return self._check(text, title)
            return self._compile(
                text, Mode(args.style, explain=args.explain, strategy=args.strategy)
            )
        except KdslError as error:
            raise CellError(error) from None

    def _program(self, name: str | None) -> tuple[str, str]:
        """The name and program of the model a cell built: `name`'s, else the last one's."""
        if name is None:
            if self.last is None:
                raise UsageError("no %%kdsl cell has built a model yet; run one first")
            name = self.last
        if name not in self.programs:
            built = ", ".join(sorted(self.programs)) or "none yet"
            raise UsageError(f"no %%kdsl cell built `{name}` (built: {built})")
        return name, self.programs[name]

    def _build(self, text: str, name: str, quiet: bool) -> None:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"%%kdsl: `{name}` cannot be a Python variable name")
        from kdsl.codegen.render import render
        from kdsl.train.runner import build_model

        checked = _analyze(text, with_model=True)
        code = render(checked, Mode())  # errors before Keras's import
        try:
            if checked.search is not None:  # search spaces: the model at KerasTuner's defaults
                from kdsl.train.tune import build_default

                model = build_default(code, CELL)
            else:
                model = build_model(code, CELL)
        except KdslError:
            raise
        except Exception as error:  # Keras found what kdsl's checks could not, as in `run`
            raise ModelError(CELL, f"Keras rejected the model: {first_line(error)}") from None
        assert self.shell is not None  # IPython gives a registered magic its shell
        self.shell.push({name: model})
        self.programs[name] = text
        self.last = name
        if not quiet:
            model.summary()

    def _check(self, text: str, title: str) -> None:
        from kdsl.semantics.shapes import summary_report

        print(summary_report(_analyze(text), title))

    def _compile(self, text: str, mode: Mode) -> Code:
        from kdsl.codegen.render import render

        return Code(render(_analyze(text, with_model=True), mode), language="python")


def _analyze(text: str, with_model: bool = False):
    """The program's summary (or its checked model); its warnings go to stderr, its errors
    raise `SourceError`."""
    from kdsl.semantics.checker import analyze_source

    source = Source(CELL, text)
    model, summary = analyze_source(source)  # the syntax tree let go of early
    for diagnostic in summary.diagnostics:
        print(format_diagnostic(source, diagnostic), file=sys.stderr)
    return model if with_model else summary


def load_ipython_extension(ipython: InteractiveShell) -> None:
    ipython.register_magics(KdslMagics)
