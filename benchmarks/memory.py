"""Peak resident memory of `kdsl run` on data larger than what it should hold.

    python benchmarks/memory.py [--large-mb 2048] [--dir /tmp]

Writes float32 datasets to a temporary folder (deleted after): a folder of .npy files of
20 MB and of --large-mb, and .npz files of 20 MB and 200 MB. Trains a small dense model on
each for one epoch in a fresh `kdsl run` process, and prints each process's peak RSS
(ru_maxrss of that child alone, through os.wait4). The data is written by another child:
Linux carries a parent's peak RSS over into the children it forks.

Targets (issue 7): the large folder's run peaks less than 1 GB above the small folder's
(its rows are read in batches, never all at once); an .npz's run holds few copies of the
arrays beyond the one np.load reads, compared with a hand-written Keras script doing
np.load and fit on the same file. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

FEATURES = 256
TEST_ROWS = 4096
BATCH_SIZE = 4096
MODEL = (
    f"dense 16 relu in {FEATURES} -> dense 1 sigmoid; adam; binary_crossentropy; "
    f"fit epochs=1 batch_size={BATCH_SIZE}\n"
)
# The same model and run as MODEL, as a user would write it by hand.
BY_HAND = f"""
import sys
import keras
import numpy as np
from keras import Input, Sequential
from keras.layers import Dense

with np.load(sys.argv[1]) as npz:
    data = {{key: npz[key] for key in npz.files}}
model = Sequential(
    [Input(shape=({FEATURES},)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(data["x_train"], data["y_train"], batch_size={BATCH_SIZE}, epochs=1, verbose=0)
model.evaluate(data["x_test"], data["y_test"], verbose=0)
model.predict(data["x_test"], verbose=0)
"""


def rows_for(megabytes: int) -> int:
    return megabytes * 2**20 // (FEATURES * 4)


def write_folder(path: Path, rows: int) -> None:
    """x = noise, y = whether the first feature is positive; written block by block."""
    path.mkdir()
    for split, count in (("train", rows), ("test", TEST_ROWS)):
        x = open_memmap(path / f"x_{split}.npy", "w+", "float32", (count, FEATURES))
        y = open_memmap(path / f"y_{split}.npy", "w+", "float32", (count,))
        for start in range(0, count, 65536):
            stop = min(start + 65536, count)
            block = np.random.default_rng(start).normal(size=(stop - start, FEATURES))
            x[start:stop] = block
            y[start:stop] = block[:, 0] > 0
        x.flush()
        y.flush()
        del x, y


def write_npz(path: Path, folder: Path) -> None:
    arrays = {file.stem: np.load(file) for file in folder.glob("*.npy")}
    np.savez(path, **arrays)


def write_data(root: Path, large_mb: int) -> None:
    """In a child process (see the module's docstring)."""
    for name, megabytes in (("small", 20), ("medium", 200), ("large", large_mb)):
        write_folder(root / name, rows_for(megabytes))
    write_npz(root / "small.npz", root / "small")
    write_npz(root / "medium.npz", root / "medium")


def peak_rss(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB of that process alone, seconds)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()[-2000:]}")
    process.stderr.close()
    return usage.ru_maxrss / 1024, seconds  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mb", type=int, default=2048)
    parser.add_argument("--dir", help="where to write the data (default: the system's temp)")
    parser.add_argument("--write-data", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_data:
        write_data(Path(args.write_data), args.large_mb)
        return
    python = sys.executable
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        root = Path(scratch)
        program = root / "model.k"
        program.write_text(MODEL)
        by_hand = root / "by_hand.py"
        by_hand.write_text(BY_HAND)
        runs = []
        writer = [python, __file__, "--large-mb", str(args.large_mb), "--write-data", scratch]
        subprocess.run(writer, check=True)
        kdsl = [python, "-m", "kdsl", "run", str(program), "--data"]
        cases = [
            ("kdsl run, folder", 20, [*kdsl, str(root / "small")]),
            ("kdsl run, folder", args.large_mb, [*kdsl, str(root / "large")]),
            ("kdsl run, .npz", 20, [*kdsl, str(root / "small.npz")]),
            ("kdsl run, .npz", 200, [*kdsl, str(root / "medium.npz")]),
            ("Keras by hand, .npz", 20, [python, str(by_hand), str(root / "small.npz")]),
            ("Keras by hand, .npz", 200, [python, str(by_hand), str(root / "medium.npz")]),
        ]
        print(f"{'run':<22}{'data MB':>9}{'peak RSS MB':>13}{'seconds':>9}")
        for label, megabytes, command in cases:
            rss, seconds = peak_rss(command)
            runs.append(rss)
            print(f"{label:<22}{megabytes:>9}{rss:>13.0f}{seconds:>9.1f}", flush=True)
    folder_gap = runs[1] - runs[0]
    print(
        f"\nfolder: {args.large_mb} MB of data peaks {folder_gap:.0f} MB above 20 MB "
        f"(target: under 1024 MB; {'met' if folder_gap < 1024 else 'NOT met'})"
    )
    for label, small, medium in (("kdsl run", runs[2], runs[3]), ("by hand", runs[4], runs[5])):
        print(f".npz, {label}: {(medium - small) / 180:.2f} MB of peak RSS per MB of data")


if __name__ == "__main__":
    main()
