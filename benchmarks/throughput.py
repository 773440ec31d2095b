"""Issue 17's table in one command: every row measured side by side, with its ratio to
the target, printed as Markdown (and, with --readme, written into README.md's
Performance section between its `throughput` markers, with the date and the machine).

    python benchmarks/throughput.py [--rows 1000000] [--repeat 3] [--layers 100000]
                                    [--only data,small,compile] [--suite] [--readme]

- data: `NpyBatches` reading a ROWS × 256 float32 folder shuffled, and `kdsl run --data`
  on that folder against the same rows trained from memory (an .npz), with the folder
  run's peak RSS (benchmarks/data_speed.py's sections, reused).
- small: `kdsl run examples/iris.k` on TensorFlow and on JAX: TensorFlow's speed as a
  fraction of JAX's (seconds of fit + evaluate + predict each run reports).
- compile: `kdsl compile` of chains of short layers (`dense 64 relu`) and of long ones
  (five initializer and regularizer keywords: 13.5 MB at 100,000 layers), and of a v2
  graph of residual blocks, at 10%, 50% and 100% of --layers: the whole process's CPU
  time (user + system) and peak RSS, and what each layer adds (flat: linear).
- suite (--suite): the README's test command's `python -m pytest` in this checkout,
  wall time (a fresh clone's .ci/run adds the installs).

Figures, not assertions: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data_speed  # noqa: E402
from speed import chain, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BEGIN, END = "<!-- throughput:begin -->", "<!-- throughput:end -->"


def graph(layers: int) -> str:
    """A v2 program of `layers` layers: residual blocks (a group, a merge) called in a
    chain, five layers each."""
    body = " -> ".join(["res 32"] * (layers // 5))
    return (
        "def res f { [identity | dense f relu -> dense f] -> add -> activation relu }\n"
        f"input 32 -> dense 32 -> {body}; adam; mse\n"
    )


def compile_figures(
    layers: int, repeat: int
) -> tuple[dict[str, dict[int, tuple[float, float, int]]], str]:
    """{program kind: {layers: (CPU s, peak MiB, bytes)}}, medians of `repeat`, and their
    table."""
    kinds = {
        "short layers": lambda n: chain(n),
        "long layers": lambda n: chain(n, long_lines=True),
        "v2 graph, blocks": graph,
    }
    sizes = (layers // 10, layers // 2, layers)
    figures: dict[str, dict[int, tuple[float, float, int]]] = {}
    print(f"## `kdsl compile` at scale (median of {repeat})\n")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind, make in kinds.items():
            figures[kind] = {}
            for size in sizes:
                program = Path(scratch, "program.k")
                program.write_text(make(size))
                output = Path(scratch, "program.py")
                runs = [
                    data_speed.measured(
                        [PYTHON, "-m", "kdsl", "compile", str(program), "-o", str(output)]
                    )
                    for _ in range(repeat)
                ]
                cpu = statistics.median(r[0] for r in runs)
                peak = statistics.median(r[1] for r in runs)
                size_bytes = program.stat().st_size
                figures[kind][size] = (cpu, peak, size_bytes)
                per_layer = ""
                if size != sizes[0]:
                    first = figures[kind][sizes[0]][0]
                    per_layer = f"{(cpu - first) / (size - sizes[0]) * 1e6:.0f}"
                rows.append(
                    [
                        kind,
                        f"{size:,}",
                        f"{size_bytes / 1e6:.1f}",
                        f"{cpu:.2f}",
                        per_layer,
                        f"{peak:,.0f}",
                        f"{peak * 2**20 / size_bytes:.0f}",
                    ]
                )
                print(f"  {kind}, {size:,} layers: {cpu:.2f} s, {peak:,.0f} MiB", flush=True)
    header = ["program", "layers", "MB", "CPU s", "µs/layer", "peak RSS MiB", "RSS B/byte"]
    text = (
        table(header, rows, left=(0,))
        + f"\n\nµs/layer: what each layer adds beyond {sizes[0]:,} layers (steady: "
        "linear). RSS B/byte: peak resident memory per byte of the program."
    )
    print(f"\n{text}\n")
    return figures, text


def suite_seconds() -> float:
    """The README test command's pytest run, in this checkout, wall seconds."""
    start = time.perf_counter()
    subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT)
    return time.perf_counter() - start


def machine() -> str:
    return (
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), {platform.system()}"
    )


def summary(
    data: dict[str, dict[str, float]],
    small: dict[str, float] | None,
    compiled: dict[str, dict[int, tuple[float, float, int]]] | None,
    layers: int,
    suite: float | None,
) -> str:
    """The issue's table: figure, measured, target, measured / target (≥ 1: met)."""
    rows: list[list[str]] = []

    def row(figure: str, measured: str, target: str, ratio: float) -> None:
        rows.append([figure, measured, target, f"{ratio:.2f}", "met" if ratio >= 1 else "not"])

    if "run" in data:
        run = data["run"]
        ratio = run["folder"] / run["memory"]
        row(
            "`kdsl run --data DIR` vs from memory (1M × 256, batch 4,096)",
            f"{run['folder']:,.0f} vs {run['memory']:,.0f} rows/s ({ratio:.2f}×), "
            f"{run['folder RSS MiB']:,.0f} MiB",
            "≥ 0.9×",
            ratio / 0.9,
        )
    if "reader" in data:
        shuffled = data["reader"]["shuffled"]
        row(
            "`NpyBatches` reading, shuffled",
            f"{shuffled:,.0f} rows/s (in order: {data['reader']['in order']:,.0f}; "
            f"{data['reader']['shuffled per CPU s']:,.0f} per CPU second)",
            "≥ 2,000,000 rows/s",
            shuffled / 2e6,
        )
    if small:
        ratio = small["jax"] / small["tensorflow"]
        row(
            "`kdsl run examples/iris.k`, TensorFlow vs JAX",
            f"{small['tensorflow']:.2f} s vs {small['jax']:.2f} s ({ratio:.2f}×)",
            "TF ≥ 0.8 × JAX",
            ratio / 0.8,
        )
    if compiled:
        for kind, cpu_target, mib_target in (
            ("short layers", 5, 100),
            ("long layers", 25, 400),
        ):
            cpu, peak, size = compiled[kind][layers]
            row(
                f"`kdsl compile`, {layers:,} {kind} ({size / 1e6:.1f} MB)",
                f"{cpu:.1f} s CPU, {peak:,.0f} MiB",
                f"≤ {cpu_target} s, ≤ {mib_target} MiB",
                min(cpu_target / cpu, mib_target / peak),
            )
    if suite is not None:
        row("test suite, this checkout", f"{suite / 60:.1f} min", "≤ 8 min", 8 * 60 / suite)
    header = ["figure", "measured", "target", "target ratio", ""]
    return table(header, rows, left=(0, 1, 2, 4))


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text()
    if BEGIN not in content or END not in content:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block to replace")
    before, rest = content.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per data/small figure")
    parser.add_argument("--compile-repeat", type=int, default=1)
    parser.add_argument("--layers", type=int, default=100_000)
    parser.add_argument("--only", default="data,small,compile")
    parser.add_argument("--suite", action="store_true", help="also time the test suite")
    parser.add_argument("--readme", action="store_true", help="write the table into README")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    date = time.strftime("%Y-%m-%d")
    print(f"{machine()}, {date}\n")
    data: dict[str, dict[str, float]] = {}
    if "data" in sections:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / "data"
            data_speed.write_folder(folder, args.rows)
            data["reader"] = data_speed.reader_section(folder, args.repeat)
            data["run"] = data_speed.run_section(folder, Path(scratch), args.epochs, args.repeat)
    small = data_speed.small_section(args.repeat, steps=False) if "small" in sections else None
    compiled, compile_table = (
        compile_figures(args.layers, args.compile_repeat) if "compile" in sections else (None, "")
    )
    suite = suite_seconds() if args.suite else None
    result = summary(data, small, compiled, args.layers, suite)
    print("## Issue 17's table\n")
    print(result)
    if args.readme:
        command = " ".join(["python benchmarks/throughput.py", *sys.argv[1:]])
        command = re.sub(r"\s*--readme\b", "", command)
        write_readme(
            f"Measured with `{command}` on {date}: {machine()}; medians of "
            f"{args.repeat} runs (data, small models), {args.compile_repeat} (compile).\n\n"
            + result
            + (f"\n\n`kdsl compile` at scale:\n\n{compile_table}" if compile_table else "")
        )


if __name__ == "__main__":
    main()
