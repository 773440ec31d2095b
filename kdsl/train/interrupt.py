"""Ctrl-C during training: finish the current batch, stop, and keep what was learned.

Imports Keras: load this module only after `kdsl.train.runner.import_keras()`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import keras


class StopOnInterrupt(keras.callbacks.Callback):
    """The first Ctrl-C during `fit` stops training after the current batch; a second aborts.

    The handler is installed only while `fit` runs, so Ctrl-C anywhere else interrupts as
    usual. Keras checks `model.stop_training` after every batch, then ends the epoch (and
    its validation) and returns the History, so the partial run can still be evaluated,
    reported and saved.
    """

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False
        # What `signal.signal` returns: a Python handler, SIG_DFL/SIG_IGN, or None.
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def on_train_begin(self, logs=None) -> None:
        self._previous = signal.signal(signal.SIGINT, self._handle)

    def on_train_end(self, logs=None) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back the SIGINT handler `fit` found (also when `fit` failed)."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.interrupted:
            self.restore()
            raise KeyboardInterrupt
        self.interrupted = True
        self.model.stop_training = True
        print(
            "\nkdsl: stopping after this batch (press Ctrl-C again to abort)",
            file=sys.stderr,
            flush=True,
        )
