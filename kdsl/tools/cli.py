"""The `kdsl` command: check, compile, fmt, run and predict.

Exit codes: 0 ok, 1 DSL/data error, 2 CLI misuse, 130 interrupted, 70 a bug in kdsl.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from kdsl import ir
from kdsl._version import __version__
from kdsl.options import STRATEGIES, STYLES, Mode

EXAMPLE = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"

# `kdsl export`'s formats (kdsl.train.export.FORMATS, not imported here).
EXPORT_FORMATS = ("savedmodel", "onnx", "litert", "openvino")

# Keras 3's backends (kdsl.train.runner.BACKENDS, not imported here: it needs numpy).
BACKENDS = ("tensorflow", "jax", "torch")

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_BUG = 0, 1, 130, 70  # 2: argparse's own


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdsl",
        description="A tiny model language that compiles to idiomatic Keras 3 Python.",
        epilog=f"example model (model.k):\n  {EXAMPLE}\n\n"
        "  kdsl compile model.k > model.py\n  kdsl run model.k --data data.npz\n"
        "  kdsl import saved.keras -o model.k",
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
    _strategy_option(compile_cmd)
    compile_cmd.add_argument(
        "--folder-data",
        action="store_true",
        help="let the script also read --data DIR, a folder of .npy files (x_train.npy, "
        "...), memory-mapped and read in batches, for data larger than memory "
        "(`kdsl run --data DIR` does this by itself)",
    )
    data_kinds = compile_cmd.add_mutually_exclusive_group()
    data_kinds.add_argument(
        "--image-data",
        dest="data_kind",
        action="store_const",
        const="images",
        help="the script reads --data FOLDER, one subfolder of images per class (or "
        "train/, val/, test/ of them), at the model's input size "
        "(`kdsl run --data FOLDER` does this by itself)",
    )
    data_kinds.add_argument(
        "--text-data",
        dest="data_kind",
        action="store_const",
        const="text",
        help="the script reads --data FOLDER, one subfolder of .txt files per class, and "
        "adapts a first `textvectorization` to the training texts",
    )
    compile_cmd.add_argument(
        "--explain",
        action="store_true",
        help="comment every line: what each layer does, the shape it makes, what the "
        "optimizer, loss and metrics mean (for people learning Keras)",
    )
    compile_cmd.add_argument(
        "-o", "--output", metavar="OUT", help="write the script here (atomically) instead of stdout"
    )
    compile_cmd.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="highlight the script printed on stdout (needs Pygments; default auto: only on a "
        "terminal and when NO_COLOR is unset)",
    )

    check_cmd = commands.add_parser(
        "check",
        help="check a .k model and print its layers, output shapes and parameter counts",
        description="Check a .k model without TensorFlow: every error at once, then a "
        "summary like Keras's model.summary() from kdsl's own shape inference.",
        epilog="examples:\n  kdsl check examples/iris.k\n"
        "  kdsl check examples/digits_cnn.k --diagram digits.svg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_cmd.add_argument("file", metavar="FILE", help="the .k model, or - for stdin")
    check_cmd.add_argument(
        "--diagram",
        type=_suffix(".svg", ".dot", ".png"),
        metavar="OUT.svg",
        help="also draw the layer stack with shapes and parameter counts: .svg (through "
        "Graphviz when installed, else kdsl's own drawing), .dot (Graphviz source) or "
        ".png (needs Graphviz)",
    )

    fmt_cmd = commands.add_parser(
        "fmt",
        help="rewrite .k files in the canonical layout, keeping comments",
        description="Rewrite .k files in one canonical layout: a short program on one line,\n"
        "else one layer per line with `->` aligned and each section on its own line;\n"
        "comments stay where they are. Only the parser runs: no TensorFlow, no checks.",
        epilog="examples:\n  kdsl fmt model.k examples/          # rewrite in place\n"
        "  kdsl fmt --check examples/          # exit 1 if a file would change (CI)\n"
        "  kdsl fmt --diff model.k             # show the changes, write nothing\n"
        "  kdsl fmt - < model.k > tidy.k       # stdin to stdout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fmt_cmd.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".k files or folders (searched for *.k), or - to format stdin to stdout",
    )
    fmt_cmd.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name the files that would change",
    )
    fmt_cmd.add_argument(
        "--diff", action="store_true", help="print a unified diff of the changes; write nothing"
    )

    run_cmd = commands.add_parser(
        "run",
        help="compile a .k model and train, evaluate and predict with it",
        description="Compile a .k model and execute that very script: fit on the data, "
        "print the History, evaluate, and predict; then save what was asked for.",
        epilog="examples:\n  kdsl run examples/iris.k            # uses examples/iris.npz\n"
        "  kdsl run model.k --data d.npz --epochs 20 --seed 1\n"
        "  kdsl run examples/iris.k --data examples/iris.csv --target species \\\n"
        "      --test-split 0.2 --validation-split 0.1 --early-stopping 20 \\\n"
        "      --save iris.keras --json results.json --plot curves.png\n\n"
        "data: an .npz with x_train, y_train (or x, y); optional x_val, y_val and\n"
        "x_test, y_test (evaluated; without them the training data is evaluated).\n"
        "Or a .csv with a header: numeric feature columns and a label column\n"
        "(--target, default the last); text labels become classes.\n"
        "Or, for data larger than memory, a folder of .npy files named like the\n"
        ".npz's arrays (x_train.npy, y_train.npy, ...): memory-mapped, read in\n"
        "shuffled batches; split and standardize it beforehand.\n"
        "Or a folder with one subfolder of images (or .txt files) per class, optionally\n"
        "under train/, val/, test/: read at the model's input size, labelled by folder.\n"
        "Ctrl-C stops after the current batch and still reports and saves (exit 130).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_cmd.set_defaults(parser=run_cmd)
    run_cmd.add_argument("file", metavar="FILE", help="the .k model, or - for stdin")
    data = run_cmd.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="DATA",
        help="training data: .npz, .csv, a folder of .npy files, or a folder of class "
        "subfolders of images or .txt files "
        "(default: the .npz, else .csv, beside FILE)",
    )
    data.add_argument(
        "--target", metavar="COLUMN", help="the CSV's label column (default: the last column)"
    )
    data.add_argument(
        "--test-split",
        type=_fraction,
        metavar="F",
        help="hold out this fraction of the rows as test data (stratified for classes)",
    )
    data.add_argument(
        "--validation-split",
        type=_fraction,
        metavar="F",
        help="hold out this fraction of the rows as validation data (stratified for classes)",
    )
    data.add_argument(
        "--standardize",
        action="store_true",
        help="scale each feature to mean 0, std 1 with the training rows' statistics "
        "(--save puts a Normalization layer holding them in front of the model)",
    )
    training = run_cmd.add_argument_group("training")
    training.add_argument(
        "--epochs", type=_positive, metavar="N", help="override the fit section's epochs"
    )
    training.add_argument(
        "--batch-size", type=_positive, metavar="N", help="override the fit section's batch_size"
    )
    training.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="random seed for a reproducible run and split (default: 0)",
    )
    training.add_argument(
        "--early-stopping",
        type=_positive,
        metavar="PATIENCE",
        help="stop when the loss has not improved for PATIENCE epochs, keeping the best "
        "weights (like `fit early_stopping=PATIENCE`)",
    )
    training.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="log the run for TensorBoard in DIR (like `callbacks tensorboard DIR`)",
    )
    training.add_argument(
        "--reduce-lr-on-plateau",
        type=_positive,
        metavar="PATIENCE",
        help="divide the learning rate by 10 when the loss has not improved for PATIENCE "
        "epochs (like `fit reduce_lr_on_plateau=PATIENCE`)",
    )
    _style_option(training)
    _strategy_option(training)
    _backend_option(training)
    outputs = run_cmd.add_argument_group("outputs (each written atomically)")
    outputs.add_argument(
        "--save",
        type=_suffix(".keras"),
        metavar="MODEL.keras",
        help="save the trained model in Keras's native format, with its class names",
    )
    outputs.add_argument(
        "--json",
        metavar="RESULTS.json",
        help="write history, evaluation and predictions as JSON",
    )
    outputs.add_argument(
        "--export",
        choices=EXPORT_FORMATS,
        action="append",
        metavar="FORMAT",
        help="also export the trained model (savedmodel, onnx, litert or openvino; may be "
        "repeated) beside --save's file, else beside FILE: model.onnx, model.tflite, "
        "model.xml, model_savedmodel/ (see `kdsl export`)",
    )
    outputs.add_argument(
        "--plot",
        type=_suffix(".png"),
        metavar="CURVES.png",
        help="draw the training curves (loss and metrics per epoch) as a PNG",
    )

    _tune_parser(commands)

    predict_cmd = commands.add_parser(
        "predict",
        help="predict with a model saved by `kdsl run --save`",
        description="Load a .keras model (safely: no code in it runs) and predict on new rows.",
        epilog="examples:\n  kdsl run examples/iris.k --data examples/iris.csv --save iris.keras\n"
        "  kdsl predict iris.keras examples/iris.csv           # a table on stdout\n"
        "  kdsl predict iris.keras new_rows.npz -o preds.csv\n\n"
        "DATA: an .npz (its x_test, else x, else x_train, else its only array), an .npy,\n"
        "or a .csv with a header (the model's feature columns; a label column is ignored).\n"
        "For a model trained on an image (or text) folder: image (.txt) files and folders\n"
        "of them, each file a row:  kdsl predict pets.keras cat.jpg more_photos/\n"
        "Class names saved with the model label the predictions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict_cmd.add_argument("model", type=_suffix(".keras"), metavar="MODEL", help="a .keras file")
    predict_cmd.set_defaults(parser=predict_cmd)
    predict_cmd.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="rows to predict: .npz, .npy or .csv; or image or text files, and folders of them",
    )
    predict_cmd.add_argument(
        "-o",
        "--output",
        type=_suffix(".csv", ".npy"),
        metavar="OUT",
        help="write the predictions here (.csv with a header, or .npy) instead of a table",
    )
    _backend_option(predict_cmd)

    export_cmd = commands.add_parser(
        "export",
        help="export a saved model for other runtimes (SavedModel, ONNX, LiteRT, OpenVINO)",
        description="Export a .keras model through Keras's own model.export, atomically: "
        "a complete export replaces OUT, or nothing is written.",
        epilog="examples:\n  kdsl export pets.keras --format onnx -o pets.onnx\n"
        "  kdsl export pets.keras --format savedmodel -o pets_savedmodel\n"
        "  kdsl export pets.keras --format litert            # writes pets.tflite\n\n"
        "formats: savedmodel (a folder, TensorFlow Serving), onnx (.onnx; pip install\n"
        "'kdsl[onnx]'), litert (.tflite, LiteRT/TFLite), openvino (.xml and .bin;\n"
        "pip install 'kdsl[openvino]').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export_cmd.set_defaults(parser=export_cmd)
    export_cmd.add_argument("model", type=_suffix(".keras"), metavar="MODEL", help="a .keras file")
    export_cmd.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export_cmd.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write (default: beside MODEL, named for the format)",
    )

    commands.add_parser(
        "lsp",
        help="serve the language server protocol on stdin/stdout, for editors",
        description="A language server for .k files: diagnostics as you type, layer "
        "output shapes and parameter counts on hover, completion from the catalog. "
        "Your editor starts it; it needs the `lsp` extra: pip install 'kdsl[lsp]'.",
        epilog="Neovim (0.11+):\n"
        "  vim.lsp.config('kdsl', { cmd = { 'kdsl', 'lsp' }, filetypes = { 'kdsl' } })\n"
        "  vim.lsp.enable('kdsl')\n"
        "VS Code and Helix: see the README.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    import_cmd = commands.add_parser(
        "import",
        help="write a saved Keras model (.keras or to_json()) as a .k program",
        description="Turn a saved Keras model (Sequential or functional) into kdsl text: the "
        "shortest form, only non-default arguments, and the optimizer, loss and metrics it "
        "was compiled with. A functional model's graph is written with groups, labels and "
        "several inputs and outputs; by default (--compact) repeated structure is folded "
        "into `def` blocks and `* n`, and names that only say where a layer is are dropped. "
        "The model's config is read as JSON: no TensorFlow, no weights, no code runs.",
        epilog="examples:\n  kdsl import model.keras                 # the program on stdout\n"
        "  kdsl import model.keras -o model.k\n"
        "  python -c 'print(model.to_json())' | kdsl import - -o model.k\n\n"
        "MODEL: a .keras file (model.save), or a .json file with model.to_json()'s output.\n"
        "Refused, naming the layer: Lambda and custom layers, functions, keras.ops\n"
        "operations on tensors, and what the language cannot write.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    import_cmd.add_argument(
        "model", metavar="MODEL", help="a .keras file, a .json file, or - for JSON on stdin"
    )
    import_cmd.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write the program here (atomically) instead of stdout",
    )
    form = import_cmd.add_mutually_exclusive_group()
    form.add_argument(
        "--compact",
        dest="compact",
        action="store_true",
        default=True,
        help="a functional model folded into blocks, positional names dropped (the default)",
    )
    form.add_argument(
        "--faithful",
        dest="compact",
        action="store_false",
        help="a functional model layer by layer, every name Keras did not make up kept",
    )
    return parser


def _tune_parser(commands) -> None:
    """`kdsl tune` (issue 16): search a program's search spaces with KerasTuner."""
    tune_cmd = commands.add_parser(
        "tune",
        help="search a .k model's search spaces with KerasTuner, and write the best program",
        description="Compile a .k model with search spaces (`int(16, 128)`, `choice(...)`, "
        "...) into a KerasTuner script and run its search on the data, a line per trial; "
        "then print a table of the trials and write MODEL.best.k: the program with the "
        "best values, which `kdsl run` trains as is. Needs: pip install 'kdsl[tune]'.",
        epilog="examples:\n  kdsl tune examples/tune/tune_digits.k --data examples/digits_cnn.npz\n"
        "  kdsl tune model.k --data d.csv --validation-split 0.2 --dir search --json t.json\n\n"
        "data: as for `kdsl run` (.npz, .csv, a folder of .npy files, images or texts;\n"
        "--target, splits, --standardize).\n"
        "The search resumes from DIR (default: MODEL.tune beside the model) when run again.\n"
        "Ctrl-C stops after the current trial and still reports (exit 130).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune_cmd.set_defaults(parser=tune_cmd)
    tune_cmd.add_argument("file", metavar="FILE", help="the .k model with search spaces")
    tune_cmd.add_argument("--data", metavar="DATA", help="training data, as for `kdsl run`")
    tune_cmd.add_argument("--target", metavar="COLUMN", help="the CSV's label column")
    tune_cmd.add_argument("--test-split", type=_fraction, metavar="F", help="hold out test rows")
    tune_cmd.add_argument(
        "--validation-split", type=_fraction, metavar="F", help="hold out validation rows"
    )
    tune_cmd.add_argument("--standardize", action="store_true", help="as for `kdsl run`")
    tune_cmd.add_argument("--seed", type=int, default=None, metavar="N", help="(default: 0)")
    tune_cmd.add_argument(
        "--max-trials", type=_positive, metavar="N", help="override the tune section's max_trials"
    )
    tune_cmd.add_argument(
        "--tuner",
        choices=("random", "bayesian", "hyperband"),
        help="override the tune section's tuner",
    )
    tune_cmd.add_argument("--dir", metavar="DIR", help="where the trials are kept")
    tune_cmd.add_argument(
        "--best", metavar="BEST.k", help="where the best program goes (default: FILE.best.k)"
    )
    _backend_option(tune_cmd)
    several = tune_cmd.add_mutually_exclusive_group()
    several.add_argument(
        "--chief",
        metavar="HOST:PORT",
        help="serve the search's trials to workers at this address (KerasTuner's chief "
        "oracle); it writes the table and the best program when they finish",
    )
    several.add_argument(
        "--worker",
        metavar="HOST:PORT",
        help="run trials for the chief at this address (start as many as you like)",
    )
    tune_cmd.add_argument("--json", metavar="RESULTS.json", help="write the trials as JSON")
    tune_cmd.add_argument(
        "--plot", type=_suffix(".png"), metavar="TRIALS.png", help="draw the objective per trial"
    )


def cmd_tune(args) -> int:
    """`kdsl tune`: the search, its table, and the best program (MODEL.best.k)."""
    import dataclasses
    import json

    from kdsl.codegen.render import render
    from kdsl.errors import KdslError, line_safe
    from kdsl.files import write_atomic
    from kdsl.language.fmt import format_text
    from kdsl.language.parser import parse
    from kdsl.semantics.catalog import load
    from kdsl.semantics.space import best_text
    from kdsl.train import runner, tune
    from kdsl.train.folders import check_model as check_folder_model
    from kdsl.train.folders import data_kind

    if args.file == "-":
        args.parser.error("kdsl tune reads its model from a file, not stdin")
    tune.check_installed(runner.chosen_backend(args.backend))
    if args.chief or args.worker:
        tune.parse_address(args.chief or args.worker)  # a bad address fails before any work
    source, model, _ = _analyze(args.file)
    if model.search is None:
        raise KdslError(
            f"{args.file} has no search space: write one where a value goes "
            "(`dense int(32, 256) relu`), or train it with `kdsl run`"
        )
    settings = model.search
    if args.tuner:
        settings = dataclasses.replace(settings, tuner=args.tuner)
    if args.max_trials:
        settings = dataclasses.replace(settings, max_trials=args.max_trials)
    model = dataclasses.replace(model, search=settings)
    tune.check_installed(runner.chosen_backend(args.backend), settings.tuner)
    stem = Path(args.file)
    best_path = args.best or str(stem.with_name(stem.stem + ".best.k"))
    directory = args.dir or str(stem.with_name(stem.stem + ".tune"))
    if args.data:
        data_path = runner.check_data_file(Path(args.data), args.file, given=True)
    else:
        data_path = runner.check_data_file(runner.default_data_path(args.file), args.file, False)
    for output in (best_path, args.json, args.plot) if not args.worker else ():
        if output:
            _check_output(output, inputs=[args.file, data_path])
    code = render(model)
    kind = data_kind(data_path)  # a folder of images or texts: read as `kdsl run` reads it
    reader = None  # a folder's: the plain script `kdsl run` would read it with
    plain = dataclasses.replace(model, search=None)
    if kind is not None:  # the model must fit the folder before its reader is written
        check_folder_model(data_path, model, kind)
        reader = render(plain, Mode(data_kind=kind))
    elif Path(data_path).is_dir():  # .npy files, read in batches by its NpyBatches
        reader = render(plain, Mode(folder_data=True))
    seed = runner.DEFAULT_SEED if args.seed is None else args.seed
    shown = f"{line_safe(args.file)} on {line_safe(data_path)}"
    print(
        f"kdsl: tuning {shown} ({settings.tuner}, up to {settings.max_trials} trials, "
        f"{settings.objective}; seed {seed}; trials in {line_safe(directory)})",
        flush=True,
    )
    result = tune.search(
        code,
        model,
        data_path,
        directory,
        target=args.target,
        test_split=args.test_split,
        validation_split=args.validation_split,
        standardize=args.standardize,
        seed=seed,
        origin=args.file,
        backend=args.backend,
        chief=args.chief,
        worker=args.worker,
        reader=reader,
    )
    print(tune.table(result), flush=True)
    if result.role == "worker":
        print("kdsl: a worker's trials; the chief writes the table of all and the best program")
        return EXIT_INTERRUPTED if result.interrupted else EXIT_OK
    written = None
    if result.best is not None:
        text = best_text(source.text, parse(source), load(), result.best.values)
        write_atomic(best_path, format_text(text, best_path))
        written = best_path
        print(
            f"kdsl: best trial {result.best.number}: {result.objective} "
            f"{result.best.score:.4f}; wrote the program with its values to {line_safe(best_path)}"
        )
    else:
        print("kdsl: no trial finished, so there is no best program")
    if args.json:
        report = tune.report(result, args.file, written)
        write_atomic(args.json, json.dumps(report, indent=2, allow_nan=False) + "\n")
        print(f"kdsl: wrote the trials to {line_safe(args.json)}")
    if args.plot:
        tune.plot(result, args.plot, f"{args.file}: {result.objective} per trial")
        print(f"kdsl: drew the trials in {line_safe(args.plot)}")
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _backend_option(command: argparse._ActionsContainer) -> None:
    command.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend (default: $KERAS_BACKEND, else tensorflow); "
        "the same script runs on each",
    )


def _style_option(command: argparse._ActionsContainer) -> None:
    command.add_argument(
        "--style",
        choices=STYLES,
        help="`model.add(...)` per layer, `Sequential([...])`, or Keras's functional API "
        "(default: add for a chain of layers, functional for a graph)",
    )


def _strategy_option(command: argparse._ActionsContainer) -> None:
    command.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="train data-parallel under a tf.distribute strategy: `mirrored` over this "
        "machine's GPUs (else its CPU), `multi-worker` over the machines in TF_CONFIG; "
        "batch sizes are per replica",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


def _suffix(*suffixes: str):
    """An argument type for a file name that must end in one of `suffixes`."""

    def check(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text!r} must end in {' or '.join(suffixes)}"
                + (", Keras's native format" if suffixes == (".keras",) else "")
            )
        return text

    return check


def _analyze(path: str, rows: bool = True):
    """Parse and check a program; print its warnings; return the model and its summary
    (without its rows when `rows` is False: see `analyze_source`)."""
    from kdsl.errors import format_diagnostics, use_color
    from kdsl.files import read_source
    from kdsl.semantics.checker import analyze_source

    source = read_source(path)
    model, summary = analyze_source(source, rows=rows)  # the syntax tree let go of early
    if summary.diagnostics:
        text = format_diagnostics(source, summary.diagnostics, use_color(sys.stderr))
        print(text, file=sys.stderr)
    return source, model, summary


def _collector_paused(command: Callable[[argparse.Namespace], int]):
    """A check or compile with the collector paused: the tree, the model and the script
    live to the command's end without a cycle among them, and the collector's passes
    over their millions of objects freed nothing (see parser.collector_paused). Turned
    on again after, for whoever calls `main` in a longer-lived process (tests, the API)."""

    @functools.wraps(command)
    def paused(args: argparse.Namespace) -> int:
        from kdsl.language.parser import collector_paused

        with collector_paused():
            return command(args)

    return paused


@_collector_paused
def cmd_check(args) -> int:
    from kdsl.semantics.shapes import summary_report

    if args.diagram:
        _check_output(args.diagram, inputs=[args.file])
    from kdsl.errors import line_safe

    source, model, summary = _analyze(args.file)
    print(summary_report(summary, line_safe(source.name)))  # a name may hold ESC
    if args.diagram:
        _write_diagram(args.diagram, model, summary, source.name)
    return EXIT_OK


def _write_diagram(path: str, model, summary, title: str) -> None:
    from kdsl.codegen import diagram
    from kdsl.errors import OutputError, line_safe
    from kdsl.files import write_atomic

    suffix = Path(path).suffix.lower()
    try:
        content, drawn_by = diagram.draw(model, summary, title, suffix)
    except diagram.GraphvizMissing:
        raise OutputError(
            path,
            "a .png diagram needs Graphviz's `dot`, which is not installed; "
            "write an .svg instead (kdsl draws it itself), or install graphviz",
        ) from None
    except diagram.GraphvizFailed as error:
        if suffix == ".png":
            raise OutputError(path, f"Graphviz's `dot` failed: {error}") from None
        print(
            f"kdsl: warning: Graphviz's `dot` failed ({error}); kdsl draws the diagram itself",
            file=sys.stderr,
        )
        content, drawn_by = diagram.draw(model, summary, title, suffix, use_graphviz=False)
    write_atomic(path, content)
    print(f"kdsl: drew the diagram in {line_safe(path)} ({drawn_by})")


@_collector_paused
def cmd_compile(args) -> int:
    from kdsl.files import write_atomic

    if args.output:
        _check_output(args.output, inputs=[args.file], role="the input program")
    from kdsl.codegen.render import render

    mode = Mode(
        style=args.style,
        explain=args.explain,
        strategy=args.strategy,
        folder_data=args.folder_data,
        data_kind=args.data_kind,
    )
    code = render(_analyze(args.file, rows=False)[1], mode)
    if args.output:
        write_atomic(args.output, code)
    else:
        sys.stdout.write(_highlight(code, args.color))
    return EXIT_OK


def _highlight(code: str, color: str) -> str:
    """The script with terminal colors, when asked for and Pygments is there."""
    from kdsl.errors import KdslError, use_color

    if color == "never" or (color == "auto" and not use_color(sys.stdout)):
        return code
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        if color == "auto":
            return code
        raise KdslError(
            "--color always needs Pygments: pip install 'kdsl[color]' (or pygments)"
        ) from None
    return highlight(code, PythonLexer(), TerminalFormatter())


def cmd_fmt(args) -> int:
    from kdsl.language.fmt import format_files

    return format_files(args.files, check=args.check, diff=args.diff)


def cmd_run(args) -> int:
    from kdsl.codegen.render import render
    from kdsl.errors import line_safe
    from kdsl.train import runner
    from kdsl.train.data import is_csv
    from kdsl.train.folders import check_model as check_folder_model
    from kdsl.train.folders import data_kind

    _check_run_usage(args)
    backend = runner.chosen_backend(args.backend)  # one that cannot load fails before work
    if args.strategy and backend not in (None, "tensorflow"):
        args.parser.error(
            f"--strategy {args.strategy} is a tf.distribute strategy: it needs the TensorFlow "
            f"backend, not {backend} (on JAX, Keras's keras.distribution.DataParallel() "
            "spreads batches over devices; see the README)"
        )
    # The command line's callbacks mean exactly the same options in the `fit` section.
    model = _analyze(args.file)[1]
    if model.search is not None:
        from kdsl.errors import KdslError

        raise KdslError(
            f"{args.file} has search spaces: search them with `kdsl tune`, then train "
            "the best program it writes (MODEL.best.k) with `kdsl run`"
        )
    for flag, given, class_name in (
        ("--early-stopping", args.early_stopping, "EarlyStopping"),
        ("--reduce-lr-on-plateau", args.reduce_lr_on_plateau, "ReduceLROnPlateau"),
    ):
        if given and any(c.class_name == class_name for c in model.callbacks):
            args.parser.error(
                f"{flag}: the program's callbacks section already has this callback; "
                "change it there"
            )
    model = model.with_fit(
        early_stopping=args.early_stopping, reduce_lr_on_plateau=args.reduce_lr_on_plateau
    )
    if args.tensorboard:
        model = model.with_callback(
            ir.KerasCall(
                "callbacks",
                "TensorBoard",
                kwargs=(("log_dir", args.tensorboard),),
                written="tensorboard",
            )
        )
    if args.data:
        data_path = runner.check_data_file(Path(args.data), args.file, given=True)
    elif args.file == "-":
        from kdsl.errors import DataError

        raise DataError("<stdin>", "a model read from stdin needs --data FILE")
    else:
        data_path = runner.check_data_file(
            runner.default_data_path(args.file), args.file, given=False
        )
    if args.target and not is_csv(data_path):
        args.parser.error(f"--target names a CSV column, but {data_path} is not a .csv file")
    # A folder of .npy files needs the script's batch reader; a folder of class subfolders
    # (images or text files), Keras's folder readers; other data, the plain script.
    kind = data_kind(data_path)
    if kind is not None:  # the model must fit the folder before the script is written
        check_folder_model(data_path, model, kind)
    folder_data = Path(data_path).is_dir() and kind is None
    mode = Mode(style=args.style, strategy=args.strategy, folder_data=folder_data, data_kind=kind)
    code = render(model, mode)
    # Only the chief writes outputs, so only the chief needs somewhere to write them.
    chief = args.strategy != "multi-worker" or runner.worker_task().chief
    # A folder's files are inputs too: --json data/x_train.npy must not replace one.
    inputs = [args.file, data_path]
    if folder_data:
        inputs += [str(file) for file in Path(data_path).glob("*.npy")]
    for output in (args.save, args.json, args.plot) if chief else ():
        if output:
            _check_output(output, inputs=inputs)
    args.exports = _export_targets(args) if chief else []
    for name, target in args.exports:
        from kdsl.train.export import check_export

        check_export(name, target, backend)
        if target.suffix:  # a file (a SavedModel is a folder, replaced whole)
            _check_output(str(target), inputs=inputs)
    seed = runner.DEFAULT_SEED if args.seed is None else args.seed
    origin = args.file if args.file != "-" else "<stdin>"
    shown = f"{line_safe(args.file)} on {line_safe(data_path)}"  # a name may hold ESC
    print(f"kdsl: training {shown} (seed {seed})", flush=True)
    result = runner.run(
        code,
        model,
        data_path,
        target=args.target,
        test_split=args.test_split,
        validation_split=args.validation_split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        origin=origin,
        standardize=args.standardize,
        strategy=args.strategy,
        backend=args.backend,
    )
    print(runner.summary(result), flush=True)
    if result.chief:
        _write_outputs(args, result, model, origin, seed)
    elif args.save or args.json or args.plot:
        print("kdsl: not the chief worker: the chief writes --save, --json and --plot")
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _export_targets(args) -> list[tuple[str, Path]]:
    """`kdsl run --export FORMAT`'s outputs: beside --save's file, else beside the program."""
    from kdsl.train.export import default_output

    if not args.export:
        return []
    if not args.save and args.file == "-":
        args.parser.error("--export writes beside --save's file or the program: add --save")
    base = args.save or args.file
    return [(name, default_output(base, name)) for name in dict.fromkeys(args.export)]


def _check_run_usage(args) -> None:
    """What argparse cannot check alone; exits 2 like any other misuse."""
    if args.test_split and args.validation_split and args.test_split + args.validation_split >= 1:
        args.parser.error(
            "--test-split and --validation-split together must leave rows for training"
        )


def _check_output(path: str, inputs: list[str], role: str = "an input of this run") -> None:
    """Find out before the work, not after, that an output cannot be written: no folder,
    a directory, no permission, or one of the `inputs` (`role` says which, in messages)."""
    from kdsl.errors import OutputError
    from kdsl.files import why_unwritable

    reason = why_unwritable(path)
    if reason:
        raise OutputError(path, reason)
    target = Path(path)
    for source in inputs:
        if source != "-" and target.exists() and _same_file(path, source):
            raise OutputError(path, f"is {role}: refusing to overwrite it")


def _write_outputs(args, result, model, origin: str, seed: int) -> None:
    """Save, report and plot what was asked for (also after Ctrl-C, for the partial run)."""
    import json

    from kdsl.files import write_atomic
    from kdsl.train import runner

    if args.save:
        from kdsl.train.saved import save_model

        data = result.data
        metadata = {
            "program": origin,
            "loss": model.loss_key,
            "class_names": data.class_names,
            "feature_names": data.feature_names,
            "target": data.target,
        }
        if data.kind:  # images or text files: `kdsl predict` reads such files
            metadata["data_kind"] = data.kind
        if model.losses:  # several outputs: each one's loss, for `kdsl predict`
            metadata["losses"] = {name: dict(model.loss_keys)[name] for name, _ in model.losses}
        save_model(result.model, args.save, metadata, scaling=result.scaling)
        print(f"kdsl: saved the model to {args.save}")
    if args.exports:
        from kdsl.train.export import export_model
        from kdsl.train.saved import with_standardization

        trained = result.model
        if result.scaling:  # exported as saved: behind the layer that standardizes rows
            trained = with_standardization(trained, result.scaling)
        for name, target in args.exports:
            with runner.quiet_native_stderr():
                written = export_model(trained, name, target)
            print(f"kdsl: exported the model as {name} to {', '.join(map(str, written))}")
    if args.json:
        report = runner.report(result, origin, seed)
        write_atomic(args.json, json.dumps(report, indent=2, allow_nan=False) + "\n")
        print(f"kdsl: wrote the results to {args.json}")
    if args.plot:
        if result.epochs_run:
            from kdsl.train.plot import plot_history

            title = f"{origin}: training curves"
            plot_history(result.history, args.plot, title, result.validation_freq)
            print(f"kdsl: drew the training curves in {args.plot}")
        else:
            print(f"kdsl: no epoch finished, so no curves to draw in {args.plot}")


def cmd_predict(args) -> int:
    from kdsl.errors import DataError, line_safe
    from kdsl.files import write_atomic
    from kdsl.train import predict
    from kdsl.train.runner import chosen_backend, import_keras
    from kdsl.train.saved import load_model, read_metadata

    chosen_backend(args.backend)
    metadata = read_metadata(args.model)  # cheap checks first, before TensorFlow's import
    kind = predict.file_kind(args.data, metadata)
    if kind is not None:  # image or text files, and folders of them
        files = predict.list_files(args.data, kind)
        if args.output:
            _check_output(args.output, inputs=[args.model, *map(str, files)])
        keras_model = load_model(import_keras(args.backend), args.model)
        result = predict.predict_files(keras_model, files, kind, metadata)
        _print_predictions(args.output, result)
        return EXIT_OK
    if len(args.data) > 1:
        args.parser.error(
            "several DATA are image or text files (or folders of them): give one .npz, .npy or .csv"
        )
    (data,) = args.data
    inputs = predict.load_inputs(data, metadata)
    if args.output:
        _check_output(args.output, inputs=[args.model, data])
    keras_model = load_model(import_keras(args.backend), args.model)
    if isinstance(inputs.x, dict) or len(keras_model.outputs) > 1:
        named = predict.predict_named(keras_model, inputs, metadata)
        if args.output is None:
            print("\n\n".join(f"{line_safe(n)}:\n{predict.table(r)}" for n, r in named))
        elif args.output.lower().endswith(".npy"):
            raise DataError(
                args.output,
                "the model has several outputs: a .npy file holds one array",
                "write a .csv (one column group per output), or leave out -o",
            )
        else:
            write_atomic(args.output, predict.to_csv_named(named))
            print(f"kdsl: wrote {len(named[0][1].outputs)} predictions to {args.output}")
        return EXIT_OK
    result = predict.predict(keras_model, inputs, metadata, args.model)
    _print_predictions(args.output, result)
    return EXIT_OK


def _print_predictions(output: str | None, result) -> None:
    """A table on stdout, or the predictions written to `output` (.csv or .npy)."""
    from kdsl.files import write_atomic
    from kdsl.train import predict

    if output is None:
        print(predict.table(result))
        return
    if output.lower().endswith(".npy"):
        write_atomic(output, predict.to_npy(result))
    else:
        write_atomic(output, predict.to_csv(result))
    print(f"kdsl: wrote {len(result.outputs)} predictions to {output}")


def cmd_export(args) -> int:
    from kdsl.train.export import check_export, default_output, export_model
    from kdsl.train.runner import import_keras, quiet_native_stderr
    from kdsl.train.saved import load_model, read_metadata

    out = args.output or str(default_output(args.model, args.format))
    check_export(args.format, out)  # before loading anything
    if _same_file(out, args.model):
        args.parser.error("OUT is MODEL: export to another path")
    read_metadata(args.model)  # a file that is no model says so before TensorFlow loads
    keras = import_keras("tensorflow")
    model = load_model(keras, args.model)
    with quiet_native_stderr():
        written = export_model(model, args.format, out)
    print(f"kdsl: exported {args.model} as {args.format} to {', '.join(map(str, written))}")
    return EXIT_OK


def cmd_lsp(args) -> int:
    from kdsl.errors import KdslError

    try:
        from kdsl.tools.lsp import serve
    except ImportError as error:
        if (error.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        raise KdslError(
            "`kdsl lsp` needs pygls, which is not installed: pip install 'kdsl[lsp]'"
        ) from None
    serve()
    return EXIT_OK


def cmd_import(args) -> int:
    from kdsl.files import write_atomic
    from kdsl.tools.importer import import_config, import_model, read_stdin

    if args.output:
        _check_output(args.output, inputs=[args.model], role="the model to import")
    from_stdin = args.model == "-"
    text = (
        import_config(read_stdin(), "<stdin>", compact=args.compact)
        if from_stdin
        else import_model(args.model, compact=args.compact)
    )
    if args.output:
        write_atomic(args.output, text)
        for line in text.splitlines():
            if line.startswith("# note: "):
                print(f"kdsl: note: {line.removeprefix('# note: ')}", file=sys.stderr)
    else:
        sys.stdout.write(text)
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
        commands = {
            "check": cmd_check,
            "compile": cmd_compile,
            "fmt": cmd_fmt,
            "run": cmd_run,
            "predict": cmd_predict,
            "export": cmd_export,
            "tune": cmd_tune,
            "lsp": cmd_lsp,
            "import": cmd_import,
        }
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
