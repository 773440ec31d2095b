"""kdsl's speed, as tables: compile/check time, the compile path's imports, and `kdsl run`
against the same model written by hand in Keras.

    python benchmarks/speed.py [--repeat 5] [--run-repeat 3] [--backend jax]
                               [--only compile,import,imports,run]

- compile: whole-process time of `kdsl check` and `kdsl compile` (median of --repeat
  runs) for each example and for synthetic chains of 10 to 10,000 layers, against the
  floor of `python -c "import lark, jinja2, black"`, in wall and CPU time. `ms/layer` is
  the time each layer adds beyond the 10-layer chain: constant means linear. The `long
  lines` chains have layers too long for one line, the one case where kdsl calls black.
- linear: `kdsl check`, `kdsl compile` and `kdsl fmt` (whole process, CPU time) and the
  language server's diagnostics (in process) on programs of 100, 1,000 and 10,000 items of
  one kind: a long section (metrics, plain, with arguments, unknown), a long chain (of
  layers, of unknown layers, one a line), a long argument list (a tuple, arguments given
  twice, extra positional arguments). `µs/item` is what each item adds between 100 and
  1,000 items, then between 1,000 and 10,000: equal means linear, a growing one quadratic.
  Programs with errors count too: every error prints its excerpt of the source line.
- csv: `read_csv` on CSVs of 20 rows and 1,000 to 100,000 columns: `µs/column` steady
  means the columns are looked up in linear time.
- import: `kdsl import` of `keras.applications.ResNet50(weights=None)` saved as `.keras`
  (the file is made first, with Keras), whole process, compact and faithful forms, its
  lines, and whether TensorFlow, Keras or numpy was imported (it must not be).
- imports: `python -X importtime -m kdsl compile examples/iris.k`: what the compile path
  imports, and whether TensorFlow, Keras, numpy or matplotlib is among it (it must not be).
- run: `kdsl run examples/X.k` and `python benchmarks/handwritten/X.py` (the same model, data,
  epochs, batch size and seed), alternating, whole-process wall time and training
  throughput (rows trained × epochs / seconds of fit + evaluate + predict, as each reports
  it), and whether both reached the same final loss.

Figures, not assertions: shared machines are noisy (the README says how it was measured).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kdsl

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HEAVY = ("tensorflow", "keras", "numpy", "matplotlib")
CHAINS = (10, 100, 1000, 10000)
RUN_EXAMPLES = ("iris", "digits_cnn")


def timed(command: list[str], repeat: int) -> tuple[float, float]:
    """Medians of `command`'s whole-process wall seconds and CPU seconds (user + system),
    over `repeat` runs. CPU time is what other processes on a busy machine barely move."""
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def chain(layers: int, long_lines: bool = False) -> str:
    """A program of `layers` dense layers; with `long_lines`, each too long for one line."""
    extra = (
        " kernel_initializer=he_normal bias_initializer=zeros kernel_regularizer=l2"
        " bias_regularizer=l2 activity_regularizer=l2"
        if long_lines
        else ""
    )
    hidden = f"dense 64 relu{extra}"
    body = " -> ".join([f"{hidden} in 32"] + [hidden] * (layers - 2) + ["dense 10 softmax"])
    return f"{body}; adam 0.001; categorical_crossentropy; fit epochs=5 batch_size=32\n"


def table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """A Markdown table: the `left` columns left-aligned (text), the rest right (figures)."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [
            str(cell).ljust(w) if c in left else str(cell).rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append(
                "|"
                + "|".join(
                    "-" * (w + 1) + ("-" if c in left else ":") for c, w in enumerate(widths)
                )
                + "|"
            )
    return "\n".join(lines)


def compile_section(repeat: int) -> None:
    print(f"## kdsl check / compile, whole process (median of {repeat})\n")
    bare = timed([PYTHON, "-c", "pass"], repeat)
    floor = timed([PYTHON, "-c", "import lark, jinja2, black"], repeat)
    rows = [
        [
            "`python -c pass`",
            "",
            "",
            f"{bare[0]:.3f}",
            f"{bare[1]:.3f}",
            f"{bare[1] / floor[1]:.2f}",
            "",
        ],
        [
            "`import lark, jinja2, black` (floor)",
            "",
            "",
            f"{floor[0]:.3f}",
            f"{floor[1]:.3f}",
            "1.00",
            "",
        ],
    ]
    programs: list[tuple[str, Path, int]] = [
        (f"`{p.relative_to(ROOT)}`", p, len(kdsl.check_source(p.read_text()).layers))
        for p in sorted((ROOT / "examples").glob("*.k"))
    ]
    with tempfile.TemporaryDirectory() as scratch:
        for long_lines in (False, True):
            for layers in CHAINS:
                path = Path(scratch) / f"chain_{layers}{'_long' if long_lines else ''}.k"
                path.write_text(chain(layers, long_lines))
                label = "chain, long lines (black runs)" if long_lines else "chain"
                programs.append((label, path, layers))
        base: dict[str, float] = {}
        for label, path, layers in programs:
            check = timed([PYTHON, "-m", "kdsl", "check", str(path)], repeat)
            compile_ = timed([PYTHON, "-m", "kdsl", "compile", str(path)], repeat)
            per_layer = ""
            if layers == CHAINS[0] and label.startswith("chain"):
                base[label] = compile_[1]
            elif label in base:
                per_layer = f"{(compile_[1] - base[label]) / (layers - CHAINS[0]) * 1000:.3f}"
            rows.append(
                [
                    label,
                    f"{layers:,}",
                    f"{check[0]:.3f}",
                    f"{compile_[0]:.3f}",
                    f"{compile_[1]:.3f}",
                    f"{compile_[1] / floor[1]:.2f}",
                    per_layer,
                ]
            )
    header = [
        "program",
        "layers",
        "check s",
        "compile s",
        "compile CPU s",
        "CPU / floor",
        "ms/layer",
    ]
    print(table(header, rows))
    print(
        "\ncheck s, compile s: wall time. CPU s: user + system time of the process, which "
        "other work on the machine barely moves. ms/layer: the CPU time each layer adds to a "
        "compile beyond the 10-layer chain of its kind (constant: linear).\n"
    )


# Programs of `n` items of one kind, for the linearity table: (family, kind, program).
LINEAR_FAMILIES: tuple[tuple[str, str, object], ...] = (
    ("section", "metrics", lambda n: "dense 1 in 4; adam; mse; metrics " + ", ".join(
        ["accuracy", "mae", "auc"][i % 3] for i in range(n))),
    ("section", "metrics with arguments", lambda n: "dense 1 in 4; adam; mse; metrics "
        + ", ".join(f"auc num_thresholds={i % 7 + 2}" for i in range(n))),
    ("section", "unknown metrics (errors)",
        lambda n: "dense 1 in 4; adam; mse; metrics " + ", ".join(["acuracy"] * n)),
    ("chain", "layers", lambda n: "dense 8 in 4 " + "-> dense 8 relu " * n + "; adam; mse"),
    ("chain", "layers, one a line", lambda n: "dense 8 in 4\n" + "  -> dense 8 relu\n" * n
        + "; adam; mse"),
    ("chain", "unknown layers (errors)",
        lambda n: "dense 8 in 4 " + "-> dens 8 relu " * n + "; adam; mse"),
    ("arguments", "a tuple", lambda n: "dense 1 in 4 -> reshape ("
        + "1, " * n + "1); adam; mse"),
    ("arguments", "given twice (errors)", lambda n: "dense 1 in 4 " + "units=1 " * n
        + "; adam; mse"),
    ("arguments", "extra positionals (errors)", lambda n: "dense 1 in 4 relu " + "1 " * n
        + "; adam; mse"),
    ("arguments", "wrapper's own (errors)", lambda n: "bidirectional lstm 8 in 4x4 "
        + "merge_mode=concat " * n + "; adam; mse"),
    ("arguments", "unknown keywords (errors)", lambda n: "dense 1 in 4 "
        + " ".join(f"bogus{i}=1" for i in range(n)) + "; adam; mse"),
)  # fmt: skip
LINEAR_SIZES = (100, 1000, 10000)


def cpu_seconds(command: list[str], stdin: str, repeat: int) -> float:
    """Median CPU seconds (user + system) of `command` reading `stdin`, whatever its exit
    code (programs with errors exit 1)."""
    cpu = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, input=stdin, text=True, capture_output=True, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu)


def lsp_seconds(text: str, repeat: int) -> float:
    """Median seconds of the language server's diagnostics for `text` (in this process)."""
    from pygls.workspace.position_codec import PositionCodec

    from kdsl.tools import lsp

    times = []
    for _ in range(repeat):
        lsp.analyze_text.cache_clear()
        start = time.perf_counter()
        codec = PositionCodec()
        [lsp.to_lsp_diagnostic(codec, text, d) for d in lsp.analyze_text(text).diagnostics]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def linear_section(repeat: int) -> None:
    print(
        f"## Linear in the input: long sections, chains and argument lists (median of {repeat})\n"
    )
    commands = {
        "check": ["check", "-"],
        "compile": ["compile", "-"],
        "fmt": ["fmt", "-"],
    }
    rows = []
    for family, kind, make in LINEAR_FAMILIES:
        seconds: dict[str, list[float]] = {name: [] for name in [*commands, "lsp"]}
        for n in LINEAR_SIZES:
            text = make(n)
            for name, args in commands.items():
                seconds[name].append(cpu_seconds([PYTHON, "-m", "kdsl", *args], text, repeat))
            seconds["lsp"].append(lsp_seconds(text, repeat))
        cells = []
        for values in seconds.values():
            steps = [
                (values[i + 1] - values[i]) / (LINEAR_SIZES[i + 1] - LINEAR_SIZES[i]) * 1e6
                for i in range(len(values) - 1)
            ]
            cells.append(f"{values[-1]:.2f}")
            cells.append(" → ".join(f"{step:.0f}" for step in steps))
        rows.append([family, kind, f"{len(make(LINEAR_SIZES[-1])) // 1000} KB", *cells])
    header = ["family", "items", "size"]
    for name in [*commands, "lsp"]:
        header += [f"{name} s", f"{name} µs/item"]
    print(table(header, rows, left=(0, 1)))
    print(
        f"\n`s`: at {LINEAR_SIZES[-1]:,} items (CPU of the whole process; `lsp`: wall time in "
        "process). `µs/item`: what each item adds from "
        + " to ".join(f"{n:,}" for n in LINEAR_SIZES)
        + " items: steady means linear.\n"
    )


CSV_COLUMNS = (1_000, 10_000, 100_000)


def csv_section(repeat: int) -> None:
    """`read_csv` on CSVs of 20 rows and 1,000 to 100,000 columns, in process."""
    from kdsl.train.csvdata import read_csv

    print(f"## A wide CSV: `read_csv` of 20 rows (median of {repeat})\n")
    rows, seconds = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for columns in CSV_COLUMNS:
            path = Path(scratch) / f"wide{columns}.csv"
            header = ",".join(f"c{i}" for i in range(columns)) + ",label\n"
            path.write_text(header + (",".join(["1.5"] * columns) + ",a\n") * 20)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                read_csv(path)
                times.append(time.perf_counter() - start)
            seconds.append(statistics.median(times))
    for index, columns in enumerate(CSV_COLUMNS):
        step = ""
        if index:
            added = CSV_COLUMNS[index] - CSV_COLUMNS[index - 1]
            step = f"{(seconds[index] - seconds[index - 1]) / added * 1e6:.1f}"
        rows.append([f"{columns:,}", f"{seconds[index]:.3f}", step])
    print(table(["columns", "s", "µs/column added"], rows))
    print("\nSteady µs/column means linear.\n")


def importtime(command: list[str]) -> tuple[list[tuple[int, str]], set[str], float]:
    """(cumulative µs, module) of each top-level import of `command`, the top-level
    packages of every module it imported (nested ones too), and its wall time."""
    start = time.perf_counter()
    result = subprocess.run(
        [PYTHON, "-X", "importtime", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    seconds = time.perf_counter() - start
    imports = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            imports.append((int(match[1]), match[2], match[3]))
    top = [(us, name) for us, indent, name in imports if indent == " "]
    return top, {name.split(".")[0] for _, _, name in imports}, seconds


def import_section(repeat: int) -> None:
    """`kdsl import resnet50.keras`: target under 2 s, without TensorFlow."""
    print(f"## kdsl import of ResNet50, whole process (median of {repeat})\n")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "resnet50.keras"
        make = "import sys, keras; keras.applications.ResNet50(weights=None).save(sys.argv[1])"
        subprocess.run([PYTHON, "-c", make, str(saved)], check=True, capture_output=True)
        for form in ("--compact", "--faithful"):
            command = ["-m", "kdsl", "import", str(saved), form]
            wall, cpu = timed([PYTHON, *command], repeat)
            lines = subprocess.run(
                [PYTHON, *command], capture_output=True, text=True, cwd=ROOT, check=True
            ).stdout.count("\n")
            _, names, _ = importtime(command)
            heavy = [name for name in HEAVY if name in names]
            rows.append(
                [f"`kdsl import resnet50.keras {form}`", f"{lines}", f"{wall:.3f}", f"{cpu:.3f}",
                 ", ".join(heavy) or "none"]
            )  # fmt: skip
    print(table(["command", "lines", "wall s", "CPU s", "tensorflow/keras/numpy"], rows,
                left=(0, 4)))  # fmt: skip
    print("\nTarget: under 2 s, without TensorFlow.\n")


def imports_section() -> None:
    print("## What the compile path imports (`python -X importtime`)\n")
    rows = []
    for command in ("compile", "check"):
        # Every import counts, nested ones too: kdsl's own modules import the rest.
        top, names, seconds = importtime(["-m", "kdsl", command, "examples/iris.k"])
        heavy = [name for name in HEAVY if name in names]
        slowest = ", ".join(f"{name} {us / 1000:.0f}" for us, name in sorted(top)[::-1][:4])
        total = sum(us for us, _ in top) / 1000
        rows.append([f"`kdsl {command}`", f"{total:.0f}", slowest, ", ".join(heavy) or "none"])
    header = [
        "command",
        "imports ms",
        "slowest top-level imports (ms)",
        "tensorflow/keras/numpy/matplotlib",
    ]
    print(table(header, rows, left=(0, 2, 3)))
    print()


def run_section(repeat: int, backend: str | None) -> None:
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # kdsl sets it too; the same for both
    name = backend or "tensorflow"
    print(f"## `kdsl run` vs. the same model by hand, on {name} ({repeat} alternating runs each)\n")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for example in RUN_EXAMPLES:
            program = ROOT / "examples" / f"{example}.k"
            model = kdsl.check_source(program.read_text(), program.name)
            epochs = int(model.fit_option("epochs"))
            rows_trained = trained_rows(program.with_suffix(".npz"), model)
            report = Path(scratch) / f"{example}.kdsl.json"
            by_hand = Path(scratch) / f"{example}.hand.json"
            commands = {
                "kdsl": [PYTHON, "-m", "kdsl", "run", str(program), "--json", str(report)],
                "hand": [
                    PYTHON,
                    str(ROOT / "benchmarks" / "handwritten" / f"{example}.py"),
                    "--json",
                    str(by_hand),
                ],
            }
            wall: dict[str, list[float]] = {"kdsl": [], "hand": []}
            fit: dict[str, list[float]] = {"kdsl": [], "hand": []}
            for _ in range(repeat):
                for who, command in commands.items():
                    start = time.perf_counter()
                    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env)
                    wall[who].append(time.perf_counter() - start)
                    fit[who].append(
                        json.loads((report if who == "kdsl" else by_hand).read_text())["seconds"]
                    )
            kdsl_loss = json.loads(report.read_text())["history"]["loss"][-1]
            hand_loss = json.loads(by_hand.read_text())["loss"][-1]
            speed = {who: rows_trained * epochs / statistics.median(fit[who]) for who in fit}
            same_loss = (
                "yes"
                if math.isclose(kdsl_loss, hand_loss, rel_tol=1e-6)
                else (f"no ({kdsl_loss:.5f} vs {hand_loss:.5f})")
            )
            rows.append(
                [
                    f"`{example}` ({epochs} epochs)",
                    f"{statistics.median(wall['kdsl']):.2f}",
                    f"{statistics.median(wall['hand']):.2f}",
                    f"{statistics.median(wall['kdsl']) / statistics.median(wall['hand']):.3f}",
                    f"{speed['kdsl']:,.0f}",
                    f"{speed['hand']:,.0f}",
                    f"{speed['kdsl'] / speed['hand']:.3f}",
                    same_loss,
                ]
            )
    header = [
        "model",
        "kdsl run s",
        "by hand s",
        "wall ratio",
        "kdsl samples/s",
        "by hand samples/s",
        "throughput ratio",
        "same final loss",
    ]
    print(table(header, rows))
    print(
        "\nWall: the whole process, medians. Samples/s: rows trained × epochs over the "
        "seconds of fit + evaluate + predict each process reports.\n"
    )


def trained_rows(data: Path, model) -> int:
    """The rows `fit` trains on: x_train, less what `validation_split` holds out."""
    import numpy as np

    with np.load(data) as arrays:
        rows = len(arrays["x_train"] if "x_train" in arrays else arrays["x"])
    split = float(model.fit_option("validation_split") or 0)
    return math.floor(rows * (1 - split))  # as Keras splits (array_slicing.train_validation_split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per compile/check figure")
    parser.add_argument("--run-repeat", type=int, default=3, help="alternating runs per model")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--only", default="compile,linear,csv,import,imports,run")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n")
    if "compile" in sections:
        compile_section(args.repeat)
    if "linear" in sections:
        linear_section(min(args.repeat, 3))
    if "csv" in sections:
        csv_section(min(args.repeat, 3))
    if "import" in sections:
        import_section(min(args.repeat, 3))
    if "imports" in sections:
        imports_section()
    if "run" in sections:
        run_section(args.run_repeat, args.backend)


if __name__ == "__main__":
    main()
