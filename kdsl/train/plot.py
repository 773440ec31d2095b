"""Training curves as a PNG: one panel per quantity (the loss, each metric), training and
validation side by side, epoch by epoch, readable at a glance.

Drawn with matplotlib (imported only here, only when asked), written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from kdsl.files import write_atomic

PANEL_INCHES = (4.5, 3.5)
DPI = 100
COLUMNS = 3


def _grid(panels: int) -> tuple[int, int]:
    """Rows and columns of panels: up to COLUMNS a row."""
    return math.ceil(panels / COLUMNS), min(panels, COLUMNS)


def figure_size(panels: int) -> tuple[int, int]:
    """Width and height in pixels of a plot with this many panels."""
    rows, columns = _grid(panels)
    return round(PANEL_INCHES[0] * columns * DPI), round(PANEL_INCHES[1] * rows * DPI)


def quantities(history: dict[str, list[float]]) -> list[str]:
    """`loss` first, then each metric, without the `val_` twins and the learning rate."""
    names = [n for n in history if not n.startswith("val_") and n != "learning_rate"]
    return sorted(names, key=lambda n: n != "loss")


def plot_history(
    history: dict[str, list[float]], path: str | Path, title: str, validation_freq: int = 1
) -> None:
    """Draw the curves of a History dict into a PNG file. With fit's
    `validation_freq=every`, validation ran after every `every`-th epoch only."""
    # A bare Figure, not pyplot: no global state, and PNG output needs no display.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = quantities(history)
    width, height = figure_size(len(names))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots(*_grid(len(names)), squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        marker = "o" if len(history[name]) <= 30 else None
        curves = ((name, 1, "training"), (f"val_{name}", validation_freq, "validation"))
        for key, every, label in curves:
            if key in history:
                epochs = range(every, every * len(history[key]) + 1, every)
                ax.plot(epochs, history[key], marker=marker, markersize=3, label=label)
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    write_atomic(path, buffer.getvalue())
