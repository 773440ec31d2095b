"""Small models on TensorFlow: Keras's own batches of an epoch, collected once and given
to every epoch (issue 17).

Keras 3 on TensorFlow feeds `fit` arrays through a tf.data pipeline that it starts anew
every epoch: about 10 ms an epoch for the iterator alone (it instantiates the pipeline's
functions, shuffling and slicing), more than a small model's whole epoch of training.
With a seed, that pipeline gives the same batches in the same order every epoch: the
shuffle is seeded once, and each new iterator starts it from the same state. So `kdsl run`
reads Keras's pipeline for two epochs, and if both are the same batch for batch, gives
`fit` those batches as a tf.data dataset (cheap to start again every epoch) instead of
the arrays: the same batches, in the same order, so the same weights and history. If
the two epochs differ (no seed, or a Keras that reshuffles), or `fit` is called with
anything this does not handle, `fit` gets the arrays as the script wrote them.

Imports TensorFlow: load this module only after `kdsl.train.runner.import_keras()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf  # type: ignore[import-untyped]

# The most bytes of training arrays replayed: the epoch's batches are a second copy.
REPLAY_BYTES = 1 << 26

# `fit` arguments that mean the same with the batches as with the arrays; any other
# (sample or class weights, a validation split, validation batch sizes) keeps the arrays.
_SAME_WITH_BATCHES = {
    "epochs",
    "steps_per_epoch",
    "callbacks",
    "verbose",
    "initial_epoch",
    "validation_freq",
}
# What the batches replace: their size, the shuffling, the validation arrays.
_REPLACED = {"batch_size", "shuffle", "validation_data"}


@contextmanager
def epochs_replayed(built) -> Iterator[None]:
    """While inside, `built.fit(x, y, batch_size=...)` on arrays trains on Keras's
    batches of one epoch, replayed every epoch, where they are the same every epoch."""
    fit = built.fit

    def fit_replaying(*args, **kwargs):
        batches = _batches(args, kwargs)
        if batches is None:  # the arrays, as the script gives them
            return fit(*args, **kwargs)
        train, validation = batches
        options = {key: value for key, value in kwargs.items() if key in _SAME_WITH_BATCHES}
        return fit(train, validation_data=validation, shuffle=False, **options)

    built.fit = fit_replaying
    try:
        yield
    finally:
        del built.fit


def _batches(args: tuple, kwargs: dict) -> tuple[Any, Any] | None:
    """(training batches, validation batches or None) for `fit(*args, **kwargs)` where
    they mean the same as its arrays; else None."""
    if len(args) != 2 or not set(kwargs) <= _SAME_WITH_BATCHES | _REPLACED:
        return None
    batch_size, shuffle = kwargs.get("batch_size"), kwargs.get("shuffle", True)
    train = replayable(*args, batch_size, shuffle)
    validation_data = kwargs.get("validation_data")
    if train is None or validation_data is None:
        return None if train is None else (train, None)
    if not (isinstance(validation_data, tuple) and len(validation_data) == 2):
        return None
    validation = replayable(*validation_data, batch_size, False)
    return None if validation is None else (train, validation)


def replayable(x: Any, y: Any, batch_size: Any, shuffle: Any) -> tf.data.Dataset | None:
    """Keras's batches of one epoch of `fit(x, y, batch_size, shuffle=shuffle)`, as a
    dataset, if every epoch gets the same ones; else None."""
    if not (
        isinstance(x, np.ndarray)
        and isinstance(y, np.ndarray)
        and x.dtype != object
        and y.dtype != object
        and isinstance(batch_size, int)
        and batch_size > 0
        and isinstance(shuffle, bool)
        and len(x) == len(y) > 0
        and x.nbytes + y.nbytes <= REPLAY_BYTES
    ):
        return None
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:  # a Keras laid out otherwise: the arrays, as written
        return None
    pipeline = ArrayDataAdapter(x, y, batch_size=batch_size, shuffle=shuffle).get_tf_dataset()
    epoch = list(pipeline)
    if shuffle and not _same_batches(epoch, list(pipeline)):
        return None
    xs, ys = (tf.concat([batch[part] for batch in epoch], axis=0) for part in (0, 1))
    return tf.data.Dataset.from_tensor_slices((xs, ys)).batch(batch_size).with_options(_AT_ONCE)


def _options():
    """A pipeline that hands each batch over in the caller's thread: tf.data otherwise
    adds a prefetching thread (and tunes it), and each step waited for the hand-over
    between threads (iris: 2.2 s of training, 1.8 s of CPU; so 1.4 s, 1.5 s)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.apply_default_optimizations = False
    return options


_AT_ONCE = _options()


def _same_batches(first: list, second: list) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a.numpy(), b.numpy())
        for one, other in zip(first, second, strict=True)
        for a, b in zip(one, other, strict=True)
    )
