"""Graphs against chains: `kdsl check` and `kdsl compile` of the v2 examples
(examples/graphs/) against a v1 chain of as many layers, whole-process CPU time (median
of --repeat runs). Issue 13's target: a graph costs at most 1.5× its chain.

    python benchmarks/graph_speed.py [--repeat 5]

Figures, not assertions: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import ROOT, timed  # noqa: E402

from kdsl.errors import Source  # noqa: E402
from kdsl.language.parser import parse  # noqa: E402
from kdsl.semantics.checker import analyze  # noqa: E402


def layer_count(path: Path) -> int:
    source = Source(path.name, path.read_text())
    model, _ = analyze(parse(source), source)
    return len(model.nodes)


def chain_of(layers: int) -> str:
    """A v1 chain of `layers` layers, convolutional like the examples."""
    body = " -> ".join(["conv2d 8 3 padding=same", "batchnorm", "relu"] * (layers // 3))
    rest = " -> relu" * (layers - 3 * (layers // 3) - 1)
    return f"input 32x32x3 -> {body}{rest} -> gap2d; adam; mse\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kdsl = [sys.executable, "-m", "kdsl"]
    print(f"{'program':<22}{'layers':>7}  {'check s':>8}{'chain':>8}{'×':>6}"
          f"  {'compile s':>9}{'chain':>8}{'×':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for path in sorted((ROOT / "examples" / "graphs").glob("*.k")):
            layers = layer_count(path)
            chain = Path(folder, f"chain_{layers}.k")
            chain.write_text(chain_of(layers))
            row = [f"{path.name:<22}{layers:>7}"]
            for command in ("check", "compile"):
                _, graph = timed([*kdsl, command, str(path)], args.repeat)
                _, line = timed([*kdsl, command, str(chain)], args.repeat)
                row.append(f"  {graph:>8.2f}{line:>8.2f}{graph / line:>6.2f}")
            print("".join(row), flush=True)


if __name__ == "__main__":
    main()
