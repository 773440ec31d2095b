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


def figure_size(panels: int) -> tuple[int, int]:
    """Width and height in pixels of a plot with this many panels."""
    columns = min(panels, COLUMNS)
    rows = math.ceil(panels / COLUMNS)
    return round(PANEL_INCHES[0] * columns * DPI), round(PANEL_INCHES[1] * rows * DPI)


def quantities(history: dict[str, list[float]]) -> list[str]:
    """`loss` first, then each metric, without the `val_` twins and the learning rate."""
    names = [n for n in history if not n.startswith("val_") and n != "learning_rate"]
    return sorted(names, key=lambda n: n != "loss")


def plot_history(history: dict[str, list[float]], path: str | Path, title: str) -> None:
    """Draw the curves of a History dict into a PNG file."""
    # A bare Figure, not pyplot: no global state, and PNG output needs no display.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = quantities(history)
    columns = min(len(names), COLUMNS)
    rows = math.ceil(len(names) / COLUMNS)
    width, height = figure_size(len(names))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        epochs = range(1, len(history[name]) + 1)
        marker = "o" if len(history[name]) <= 30 else None
        ax.plot(epochs, history[name], marker=marker, markersize=3, label="training")
        if f"val_{name}" in history:
            ax.plot(
                epochs,
                history[f"val_{name}"],
                marker=marker,
                markersize=3,
                label="validation",
            )
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
