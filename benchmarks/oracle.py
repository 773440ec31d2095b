"""The long profile of the differential test: `kdsl check` against real Keras.

    python benchmarks/oracle.py [--programs 10000] [--seed 0]

Programs are drawn from the catalog (tests/oracle.py): every layer kind with arguments
from the catalog's defaults, types and enums, and deliberately wrong values. Each one
kdsl accepts is built by Keras and run on zeros; a disagreement is a program kdsl accepts
and Keras refuses or cannot run, or a shape or parameter count that differs. Prints the
counts (the README quotes them) and the first disagreements.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from oracle import Report, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    shown = 0

    def progress(so_far: Report) -> None:
        """The counts so far, and each disagreement as it is found (a long run shows
        what to fix before it ends)."""
        nonlocal shown
        print(so_far.summary(), file=sys.stderr, flush=True)
        for text, why in so_far.disagreements[shown:]:
            print(f"  {text}\n      {why[:300]}", file=sys.stderr, flush=True)
        shown = len(so_far.disagreements)

    report = run(args.programs, seed=args.seed, progress=progress)
    seconds = time.perf_counter() - start
    print(report.summary())
    print(f"time: {seconds:.0f} s ({report.programs / seconds:,.1f} programs/s)")
    for kind, count in report.kinds.most_common():
        print(f"  {kind}: {count}")
    for text, why in report.disagreements:
        print(f"  {text}\n      {why[:300]}")
    return 1 if report.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
