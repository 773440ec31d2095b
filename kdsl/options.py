"""Every option that changes the generated code, defined once: the command line, the
notebook magics, the Python API and the tests read the styles and strategies here, and
`Mode` carries a choice of them through codegen. Imports nothing (no jinja2), so a tool
can build its option parser without loading the renderer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# `add` and `constructor` write a Sequential model (chains only); `functional` writes
# Keras's functional API (any graph, blocks as Python functions).
Style = Literal["add", "constructor", "functional"]
STYLES: tuple[Style, ...] = ("add", "constructor", "functional")
# The styles that can only write a chain.
SEQUENTIAL_STYLES: tuple[Style, ...] = ("add", "constructor")

# tf.distribute strategies the script can train under (None: Keras's default, one device).
Strategy = Literal["mirrored", "multi-worker"]
STRATEGIES: tuple[Strategy, ...] = ("mirrored", "multi-worker")

# Folders of class subfolders the script can read instead of arrays (`--image-data`,
# `--text-data`; `kdsl run --data DIR` picks by the files it finds): Keras's
# image_dataset_from_directory and text_dataset_from_directory.
DataKind = Literal["images", "text"]
DATA_KINDS: tuple[DataKind, ...] = ("images", "text")

# The `label_mode` of Keras's folder readers that each classification loss takes.
LABEL_MODES = {
    "sparse_categorical_crossentropy": "int",
    "categorical_crossentropy": "categorical",
    "binary_crossentropy": "binary",
}
# An image's channels → the `color_mode` that reads it with that many.
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def image_input(shape: tuple) -> tuple[int, int, str] | None:
    """(height, width, color_mode) of an input shape `HxWxC` that an image folder can
    feed (C 1, 3 or 4, every size fixed), else None."""
    if len(shape) != 3 or not all(isinstance(size, int) and size > 0 for size in shape):
        return None
    height, width, channels = shape
    color_mode = COLOR_MODES.get(channels)
    return (height, width, color_mode) if color_mode else None


# The width templates/script.py.jinja is laid out for, as black would lay it out.
TEMPLATE_LINE_LENGTH = 88


@dataclass(frozen=True)
class Mode:
    """Every option that changes the generated code."""

    # None: the program's own style, `add` for a chain and `functional` for a graph
    # (`codegen.render.style_for`): a v1 program renders as it always did.
    style: Style | None = None
    line_length: int = TEMPLATE_LINE_LENGTH
    explain: bool = False  # a comment above each line saying what it does (for learners)
    strategy: Strategy | None = None
    # The script also reads a folder of .npy files, memory-mapped and fed in batches
    # (data larger than memory). Off by default: it adds a PyDataset class to the script.
    folder_data: bool = False
    # The script reads a folder of class subfolders of images or text files (DataKind).
    data_kind: DataKind | None = None

    def __post_init__(self) -> None:
        # The Python API passes these straight through: a typo must not pass silently.
        if self.style is not None and self.style not in STYLES:
            raise ValueError(f"style must be None or one of {STYLES}, not {self.style!r}")
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be None or one of {STRATEGIES}, not {self.strategy!r}")
        if self.data_kind is not None and self.data_kind not in DATA_KINDS:
            raise ValueError(
                f"data_kind must be None or one of {DATA_KINDS}, not {self.data_kind!r}"
            )
