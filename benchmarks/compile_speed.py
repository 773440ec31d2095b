"""Whole-process time of `kdsl check` and `kdsl compile`, examples and long chains.

    python benchmarks/compile_speed.py [--repeat 5]

Prints a table: the median of N runs, and the floor of just importing lark, jinja2 and
black in a fresh interpreter. Targets (issue 3): a model under 200 layers checks and
compiles in under 0.3 s whole-process; time grows linearly with the number of layers.
Figures, not assertions: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain(layers: int) -> str:
    body = " -> ".join(
        ["dense 64 relu in 32"] + ["dense 64 relu"] * (layers - 2) + ["dense 10 softmax"]
    )
    return f"{body}; adam 0.001; categorical_crossentropy; fit epochs=5 batch_size=32\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    floor = timed([python, "-c", "import lark, jinja2, black"], args.repeat)
    print(f"{'program':<26}{'layers':>7}{'check s':>9}{'compile s':>11}{'compile/floor':>15}")
    print(f"{'(import lark, jinja2, black)':<33}{'':>9}{floor:>11.3f}{1:>15.2f}")
    programs = [(p.relative_to(ROOT), None) for p in sorted((ROOT / "examples").glob("*.k"))]
    with tempfile.TemporaryDirectory() as scratch:
        for layers in (10, 100, 200, 1000, 10000):
            path = Path(scratch) / f"chain_{layers}.k"
            path.write_text(chain(layers))
            programs.append((path, layers))
        for path, layers in programs:
            check = timed([python, "-m", "kdsl", "check", str(path)], args.repeat)
            seconds = timed([python, "-m", "kdsl", "compile", str(path)], args.repeat)
            name = path.name if layers else str(path)
            count = layers or len(path.read_text().split("->"))
            print(f"{name:<26}{count:>7}{check:>9.3f}{seconds:>11.3f}{seconds / floor:>15.2f}")


if __name__ == "__main__":
    main()
