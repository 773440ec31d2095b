"""Throughput (issue 17): a folder of .npy files read at the speed of the disk, and small
models on TensorFlow against JAX.

    python benchmarks/data_speed.py [--rows 1000000] [--epochs 2] [--repeat 3]
                                    [--only reader,run,small]

- reader: the generated script's `NpyBatches` reading one epoch of a ROWS × 256 float32
  folder in batches of 4,096, shuffled and in file order, in rows per second, against the
  reader it replaced (one seek and read per run of sorted rows: ~4,096 reads a batch),
  timed on its first batches. `held` is the most memory Python allocated during the
  shuffled pass (tracemalloc): the shuffle buffer and the batches read ahead.
- run: `kdsl run` of `dense 16 relu -> dense 1 sigmoid` (batch 4,096, --epochs) on the
  folder, and on the same rows saved as an .npz (trained from memory), alternating:
  rows trained per second (rows × epochs over the seconds of fit + evaluate + predict the
  run reports) and the process's peak resident memory.
- small: `kdsl run examples/iris.k` on TensorFlow and on JAX, alternating: the seconds of
  fit + evaluate + predict, and TensorFlow's speed as a fraction of JAX's; then, in one
  process on the default backend, the script's `train_and_evaluate` with and without the
  `steps_per_epoch` line issue 17 added (before/after), and their final losses.

Figures, not assertions: shared machines are noisy; the medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

import kdsl
from kdsl.train.runner import import_keras, load_script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FEATURES = 256
BATCH = 4096
MODEL = "dense 16 relu in 256 -> dense 1 sigmoid; adam; binary_crossentropy\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, the first column left-aligned and the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
    )
    return "\n".join([line(header), rule + "|", *map(line, rows)])


def write_folder(path: Path, rows: int) -> None:
    """x_train (rows × 256 float32, ~1 KiB a row), y_train, and a small test set."""
    path.mkdir()
    rng = np.random.default_rng(0)
    x = open_memmap(path / "x_train.npy", "w+", "float32", (rows, FEATURES))
    weights = rng.normal(size=FEATURES).astype("float32")
    y = open_memmap(path / "y_train.npy", "w+", "float32", (rows,))
    for start in range(0, rows, 65536):
        block = rng.normal(size=(min(65536, rows - start), FEATURES)).astype("float32")
        x[start : start + len(block)] = block
        y[start : start + len(block)] = block @ weights > 0
    x.flush()
    y.flush()
    np.save(path / "x_test.npy", np.asarray(x[:BATCH]))
    np.save(path / "y_test.npy", np.asarray(y[:BATCH]))


def seek_per_row(array: np.memmap, rows: np.ndarray) -> np.ndarray:
    """The reader `NpyBatches` had before issue 17: sorted rows, one seek and read for
    every run of consecutive rows (for a shuffled batch, about one a row)."""
    batch = np.empty((len(rows), *array.shape[1:]), array.dtype)
    raw = batch.reshape(len(rows), -1).view(np.uint8)
    row_bytes = raw.shape[1]
    starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
    with open(array.filename, "rb") as file:
        for start, end in zip(starts, [*starts[1:], len(rows)], strict=True):
            file.seek(array.offset + int(rows[start]) * row_bytes)
            file.readinto(raw[start:end])
    return batch


def reader_section(folder: Path, repeat: int) -> dict[str, float]:
    keras = import_keras()
    script = load_script(kdsl.compile_source(MODEL, folder_data=True), "bench.py")
    x = np.load(folder / "x_train.npy", mmap_mode="r")
    y = np.load(folder / "y_train.npy", mmap_mode="r")
    keras.utils.set_random_seed(0)

    def one_epoch(shuffle: bool) -> tuple[float, float, float]:
        """rows/s, rows per CPU second of the process (all its threads: what the reader
        costs, whatever else runs on the machine), and the most memory held."""
        batches = script["NpyBatches"](x, y, BATCH, shuffle=shuffle)
        tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        batches.on_epoch_begin()
        rows = sum(len(batches[index][0]) for index in range(len(batches)))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        held = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return rows / seconds, rows / cpu, held

    def before(count: int = 20) -> float:
        order = np.random.default_rng(0).permutation(len(x))
        start = time.perf_counter()
        for index in range(count):
            rows = np.sort(order[index * BATCH : (index + 1) * BATCH])
            seek_per_row(x, rows), seek_per_row(y, rows)
        return count * BATCH / (time.perf_counter() - start)

    figures: dict[str, list[tuple[float, float, float]]] = {"shuffled": [], "in order": []}
    old = []
    for _ in range(repeat):
        figures["shuffled"].append(one_epoch(True))
        figures["in order"].append(one_epoch(False))
        old.append(before())
    shuffled, in_order = (
        statistics.median(speed for speed, _, _ in figures[name])
        for name in ("shuffled", "in order")
    )
    shuffled_cpu, in_order_cpu = (
        statistics.median(per_cpu for _, per_cpu, _ in figures[name])
        for name in ("shuffled", "in order")
    )
    held = max(held for _, _, held in figures["shuffled"])
    print(f"## `NpyBatches` reading {len(x):,} × {FEATURES} float32, batch {BATCH:,}\n")
    rows = [
        [
            "shuffled (blocks + buffer)",
            f"{shuffled:,.0f}",
            f"{shuffled_cpu:,.0f}",
            f"{held:,.0f}",
            "≥ 2,000,000",
        ],
        ["in file order", f"{in_order:,.0f}", f"{in_order_cpu:,.0f}", "", ""],
        ["before: a seek per row, shuffled", f"{statistics.median(old):,.0f}", "", "", ""],
    ]
    print(table(["reader", "rows/s", "rows per CPU s", "held MiB", "target"], rows))
    print(f"\nshuffled vs before: {shuffled / statistics.median(old):.1f}×\n")
    return {
        "shuffled": shuffled,
        "in order": in_order,
        "shuffled per CPU s": shuffled_cpu,
        "held MiB": held,
    }


# Linux starts a forked child's peak RSS at its parent's resident size (and exec keeps
# it): a child of this process, which holds the data, would report at least that. So a
# small fresh Python forks the command, and reports its CPU seconds and peak RSS in KiB.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """`command`'s CPU seconds (user + system) and its own peak RSS in MiB."""
    result = subprocess.run(
        [PYTHON, "-c", LAUNCHER, *command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    code, cpu, peak = result.stdout.split()
    if int(code):
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return float(cpu), int(peak) / 1024


def run_kdsl(args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """`kdsl run ... --json`: its report and the process's peak resident memory in MiB."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "run.json"
        command = [PYTHON, "-m", "kdsl", "run", *args, "--json", str(report)]
        _, peak = measured(command, env)
        return json.loads(report.read_text()), peak


def environment(backend: str | None) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def run_section(folder: Path, scratch: Path, epochs: int, repeat: int) -> dict[str, float]:
    program = scratch / "wide.k"
    program.write_text(MODEL)
    npz = scratch / "wide.npz"
    np.savez(npz, **{file.stem: np.load(file) for file in folder.glob("*.npy")})
    rows = len(np.load(folder / "y_train.npy", mmap_mode="r"))
    common = [str(program), "--epochs", str(epochs), "--batch-size", str(BATCH), "--seed", "0"]
    speeds: dict[str, list[float]] = {"folder": [], "memory": []}
    peaks: dict[str, list[float]] = {"folder": [], "memory": []}
    for _ in range(repeat):
        for name, data in (("folder", folder), ("memory", npz)):
            report, peak = run_kdsl([*common, "--data", str(data)], environment(None))
            speeds[name].append(rows * epochs / report["seconds"])
            peaks[name].append(peak)
    folder_speed = statistics.median(speeds["folder"])
    memory_speed = statistics.median(speeds["memory"])
    print(f"## `kdsl run` of `{MODEL.split(';')[0]}`, {rows:,} rows, batch {BATCH:,}, ")
    print(f"{epochs} epochs, on tensorflow\n")
    lines = [
        [
            f"--data {name}",
            f"{statistics.median(speeds[name]):,.0f}",
            f"{max(peaks[name]):,.0f}",
        ]
        for name in ("folder", "memory")
    ]
    print(table(["data", "rows/s", "peak RSS MiB"], lines))
    print(f"\nfolder vs memory: {folder_speed / memory_speed:.2f}× (target ≥ 0.9×)\n")
    return {
        "folder": folder_speed,
        "memory": memory_speed,
        "folder RSS MiB": max(peaks["folder"]),
    }


def small_section(repeat: int, steps: bool = True) -> dict[str, float]:
    program = ROOT / "examples" / "iris.k"
    seconds: dict[str, list[float]] = {"tensorflow": [], "jax": []}
    losses: dict[str, float] = {}
    for _ in range(repeat):
        for backend in seconds:
            report, _ = run_kdsl([str(program), "--seed", "0"], environment(backend))
            seconds[backend].append(report["seconds"])
            losses[backend] = report["history"]["loss"][-1]
    tf, jax = (statistics.median(seconds[name]) for name in ("tensorflow", "jax"))
    print("## `kdsl run examples/iris.k` (200 epochs of 105 rows, batch 20)\n")
    lines = [
        [name, f"{statistics.median(seconds[name]):.2f}", f"{losses[name]:.6f}"] for name in seconds
    ]
    print(table(["backend", "fit + evaluate + predict s", "final loss"], lines))
    print(f"\nTensorFlow's speed / JAX's: {jax / tf:.2f} (target ≥ 0.8)\n")
    if steps:
        steps_section(program, repeat)
    return {"tensorflow": tf, "jax": jax}


STEPS_LINE = '        steps_per_epoch=math.ceil(len(data["x_train"]) / batch_size),\n'


def steps_section(program: Path, repeat: int) -> None:
    """Before and after issue 17 in one process, alternating: the script's own
    `train_and_evaluate`, without the `steps_per_epoch` line, as written, and as
    `kdsl run` runs it (its steps per call for a small model, and an epoch's batches
    replayed: `kdsl.train.replay`); seconds and CPU seconds."""
    import contextlib
    import io

    from kdsl.train.runner import small_model_steps_per_execution, training_rows

    keras = import_keras()
    after = kdsl.compile_source(program.read_text())
    before = after.replace(STEPS_LINE, "")
    model_ir = kdsl.check_source(program.read_text())
    with np.load(program.with_suffix(".npz")) as npz:
        data = {key: npz[key] for key in npz.files}
    variants = {"before": before, "after": after, "kdsl run": after}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    losses: dict[str, float] = {}
    calls: dict[str, int] = {}
    for _ in range(repeat):
        for name, code in variants.items():
            script = load_script(code, program.name)
            keras.utils.set_random_seed(0)
            model = script["build_model"]()
            replaying: contextlib.AbstractContextManager = contextlib.nullcontext()
            if name == "kdsl run":
                if keras.backend.backend() == "tensorflow":
                    from kdsl.train.replay import epochs_replayed

                    replaying = epochs_replayed(model)
                model.steps_per_execution = small_model_steps_per_execution(
                    model_ir, model, training_rows(data), script["BATCH_SIZE"],
                    backend=keras.backend.backend(), in_memory=True,
                )  # fmt: skip
            calls[name] = model.steps_per_execution
            start, start_cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()), replaying:
                history, _, _ = script["train_and_evaluate"](model, data)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            losses[name] = history.history["loss"][-1]
    print(f"### the script's `train_and_evaluate` on {keras.backend.backend()}, in one process\n")
    lines = [
        [
            name,
            str(calls[name]),
            f"{statistics.median(seconds[name]):.2f}",
            f"{statistics.median(cpu[name]):.2f}",
            f"{losses[name]:.8f}",
        ]
        for name in variants
    ]
    print(table(["fit", "steps per call", "s", "CPU s", "final loss"], lines))
    speedup = statistics.median(seconds["before"]) / statistics.median(seconds["after"])
    print(f"\nafter / before: {speedup:.2f}× as fast; before: no steps_per_epoch\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="reader,run,small")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "data"
        if sections & {"reader", "run"}:
            write_folder(folder, args.rows)
        if "reader" in sections:
            reader_section(folder, args.repeat)
        if "run" in sections:
            run_section(folder, Path(scratch), args.epochs, args.repeat)
    if "small" in sections:
        small_section(args.repeat)


if __name__ == "__main__":
    main()
