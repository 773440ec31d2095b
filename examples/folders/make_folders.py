"""Make small folders of class subfolders for the folder examples (and kdsl's tests):
PNG pictures drawn with numpy (written with zlib, no image library) and short reviews,
never downloaded.

    python examples/folders/make_folders.py      # writes examples/folders/shapes/ and reviews/
    kdsl run examples/folders/shapes.k --data examples/folders/shapes --validation-split 0.2
    kdsl run examples/folders/sentiment.k --data examples/folders/reviews --save s.keras
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG file of `pixels` (height × width × 1, 3 or 4 uint8 channels), as written by
    any image library: one IDAT chunk of unfiltered rows."""
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels.astype(np.uint8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def draw(kind: str, size: int, rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    """A noisy picture of one class: a bright left half, a bright top half, or a dark
    square: easy for a small network to tell apart."""
    pixels = rng.integers(0, 60, (size, size, channels))
    half = size // 2
    if kind == "left":
        pixels[:, :half] += 180
    elif kind == "top":
        pixels[:half, :] += 180
    else:
        pixels += 100
        pixels[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 0
    return np.clip(pixels, 0, 255).astype(np.uint8)


IMAGE_CLASSES = ("left", "top", "square")


def image_folder(
    root: Path,
    classes: tuple[str, ...] = IMAGE_CLASSES,
    per_class: int = 12,
    size: int = 16,
    channels: int = 3,
    seed: int = 0,
) -> Path:
    """root/CLASS/NNN.png: `per_class` PNGs of each class."""
    rng = np.random.default_rng(seed)
    for kind in classes:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            picture = draw(kind, size, rng, channels)
            (folder / f"{index:03}.png").write_bytes(png_bytes(picture))
    return root


POSITIVE = ("great", "wonderful", "loved", "superb", "brilliant", "enjoyable")
NEGATIVE = ("awful", "boring", "hated", "dreadful", "terrible", "dull")
NEUTRAL = ("the", "film", "a", "plot", "actors", "was", "and", "story", "it")


def text_folder(root: Path, per_class: int = 20, seed: int = 0) -> Path:
    """root/neg/NNN.txt and root/pos/NNN.txt: short reviews whose sentiment words decide
    their class (an IMDB in miniature)."""
    rng = np.random.default_rng(seed)
    for label, words in (("neg", NEGATIVE), ("pos", POSITIVE)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            chosen = [*rng.choice(NEUTRAL, 6), *rng.choice(words, 2)]
            rng.shuffle(chosen)
            (folder / f"{index:03}.txt").write_text(" ".join(chosen) + ".\n")
    return root


if __name__ == "__main__":
    here = Path(__file__).parent
    image_folder(here / "shapes", per_class=40)
    text_folder(here / "reviews", per_class=100)
    print(f"wrote {here / 'shapes'} and {here / 'reviews'}")
