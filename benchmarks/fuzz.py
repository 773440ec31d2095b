"""The long fuzzing profile: `kdsl check` and `kdsl compile` on 100,000+ inputs.

    python benchmarks/fuzz.py [--inputs 100000] [--seed 0]

Inputs: hand-picked specials (invalid UTF-8, NUL, 1 MB files, deep nesting, huge
numbers, look-alike characters), random programs over the whole catalog, the same with
one or two tokens deleted, duplicated, swapped or replaced, and random bytes. Every input
must end in exit 0 or exit 1 with a kdsl message, within 60 s (else it counts as a hang).
Prints the figures; the README's reliability section quotes them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzzing import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    report = fuzz(args.inputs, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"inputs: {report.inputs:,} (each through check and compile)")
    print(f"accepted: {report.accepted:,}  rejected with a kdsl error: {report.rejected:,}")
    print(f"failures (crash, hang, exit code other than 0/1): {len(report.failures)}")
    print(f"time: {seconds:.0f} s ({report.inputs / seconds:,.0f} inputs/s)")
    for data, message in report.failures[:20]:
        print(f"  {data[:120]!r}: {message[:300]}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
