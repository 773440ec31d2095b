"""The `kdsl` command: compile and run. Exit codes: 0 ok, 1 DSL/data error, 2 CLI misuse."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kdsl import __version__

EXAMPLE = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BUG = 0, 1, 2, 130, 70


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdsl",
        description="A tiny model language that compiles to idiomatic Keras 3 Python.",
        epilog=f"example model (model.k):\n  {EXAMPLE}\n\n"
        "  kdsl compile model.k > model.py\n  kdsl run model.k --data data.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kdsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    compile_cmd = commands.add_parser(
        "compile",
        help="print the Keras script for a .k model",
        description="Compile a .k model to a standalone Keras 3 script (never imports TensorFlow).",
        epilog="examples:\n  kdsl compile examples/iris.k > iris.py\n"
        "  kdsl compile examples/iris.k --style constructor -o iris.py\n"
        f"  echo '{EXAMPLE}' | kdsl compile -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compile_cmd.add_argument("file", metavar="FILE", help="the .k model, or - for stdin")
    _style_option(compile_cmd)
    compile_cmd.add_argument(
        "-o", "--output", metavar="OUT", help="write the script here (atomically) instead of stdout"
    )

    check_cmd = commands.add_parser(
        "check",
        help="check a .k model and print its layers, output shapes and parameter counts",
        description="Check a .k model without TensorFlow: every error at once, then a "
        "summary like Keras's model.summary() from kdsl's own shape inference.",
        epilog="example:\n  kdsl check examples/iris.k",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_cmd.add_argument("file", metavar="FILE", help="the .k model, or - for stdin")

    run_cmd = commands.add_parser(
        "run",
        help="compile a .k model and train, evaluate and predict with it",
        description="Compile a .k model and execute that very script: fit on the data, "
        "print the History, evaluate, and predict a few rows.",
        epilog="examples:\n  kdsl run examples/iris.k            # uses examples/iris.npz\n"
        "  kdsl run model.k --data d.npz --epochs 20 --seed 1\n\n"
        "data: an .npz with x_train, y_train (or x, y); optional x_val, y_val and\n"
        "x_test, y_test (evaluated; without them the training data is evaluated).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_cmd.add_argument("file", metavar="FILE", help="the .k model, or - for stdin")
    run_cmd.add_argument(
        "--data",
        metavar="D.npz",
        help="training data (default: the .npz beside FILE with its name)",
    )
    run_cmd.add_argument(
        "--epochs", type=_positive, metavar="N", help="override the fit section's epochs"
    )
    run_cmd.add_argument(
        "--batch-size", type=_positive, metavar="N", help="override the fit section's batch_size"
    )
    run_cmd.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="random seed for a reproducible run (default: 0)",
    )
    _style_option(run_cmd)
    return parser


def _style_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--style",
        choices=("add", "constructor"),
        default="add",
        help="`model.add(...)` per layer (default) or `Sequential([...])`",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def _analyze(path: str):
    """Parse and check a program; print its warnings; return the model and its summary."""
    from kdsl.check import analyze
    from kdsl.errors import format_diagnostic, use_color
    from kdsl.files import read_source
    from kdsl.parser import parse

    source = read_source(path)
    model, summary = analyze(parse(source), source)
    for diagnostic in summary.diagnostics:
        print(format_diagnostic(source, diagnostic, use_color(sys.stderr)), file=sys.stderr)
    return source, model, summary


def _compile(args) -> tuple[str, object]:
    from kdsl.render import Mode, render

    _, model, _ = _analyze(args.file)
    return render(model, Mode(style=args.style)), model


def cmd_check(args) -> int:
    from kdsl.shapes import format_summary

    source, _, summary = _analyze(args.file)
    print(format_summary(summary, source.name))
    for note in summary.notes:
        print(f"note: {note}")
    return EXIT_OK


def cmd_compile(args) -> int:
    from kdsl.errors import InputError
    from kdsl.files import write_atomic

    if args.output and args.file != "-" and _same_file(args.output, args.file):
        raise InputError(
            args.output,
            "is the input program: refusing to overwrite it",
        )
    code, _ = _compile(args)
    if args.output:
        write_atomic(args.output, code)
    else:
        sys.stdout.write(code)
    return EXIT_OK


def cmd_run(args) -> int:
    from kdsl import runner

    code, model = _compile(args)
    if args.data:
        data_path = runner.check_data_file(Path(args.data), args.file, given=True)
    elif args.file == "-":
        from kdsl.errors import DataError

        raise DataError("<stdin>", "a model read from stdin needs --data FILE.npz")
    else:
        data_path = runner.check_data_file(
            runner.default_data_path(args.file), args.file, given=False
        )
    seed = runner.DEFAULT_SEED if args.seed is None else args.seed
    print(f"kdsl: training {args.file} on {data_path} (seed {seed})", flush=True)
    result = runner.run(
        code,
        model,
        data_path,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        origin=args.file if args.file != "-" else "<stdin>",
    )
    print(runner.summary(result))
    return EXIT_OK


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def main(argv: list[str] | None = None) -> int:
    from kdsl.errors import KdslError, use_color

    args = _parser().parse_args(argv)  # exits 2 on misuse
    try:
        commands = {"check": cmd_check, "compile": cmd_compile, "run": cmd_run}
        return commands[args.command](args)
    except KdslError as error:
        sys.stdout.flush()
        print(error.render(color=use_color(sys.stderr)), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("kdsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `kdsl compile model.k | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except RecursionError:
        print("kdsl: error: the program nests too deeply to process", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # a bug in kdsl: say so plainly, traceback only on request
        if os.environ.get("KDSL_DEBUG"):
            raise
        print(
            f"kdsl: internal error ({type(error).__name__}: {error}). This is a bug in kdsl; "
            "please report it with the input. Set KDSL_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return EXIT_BUG
