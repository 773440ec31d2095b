"""Holding out test and validation rows: reproducible with the seed, stratified by class.

`kdsl run --test-split 0.2 --validation-split 0.1` takes 20% and 10% of all rows out of
the training data; for classification each class keeps its share in every part, so a
small data set's test rows are not all of one class.
"""

from __future__ import annotations

import numpy as np

from kdsl.errors import DataError
from kdsl.ir import CROSSENTROPY_LOSSES
from kdsl.train.data import array_part


def classes_of(y: np.ndarray, loss_key: str) -> np.ndarray | None:
    """The class of each row to stratify by, or None when the labels are not classes."""
    if loss_key not in CROSSENTROPY_LOSSES:
        return None
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
        return y.reshape(-1)
    if loss_key == "categorical_crossentropy" and y.ndim == 2:
        return y.argmax(axis=1)
    return None  # e.g. several independent binary labels per row


def split(
    path: str,
    data: dict[str, np.ndarray],
    loss_key: str,
    *,
    test: float | None = None,
    validation: float | None = None,
    seed: int = 0,
) -> str | None:
    """Move `test` and `validation` fractions of all training rows to x_test/x_val (in place).

    Returns a note saying how the rows were split, or None when nothing was asked.
    """
    asked = []
    if test:
        asked.append(("--test-split", "test", test))
    if validation:
        asked.append(("--validation-split", "val", validation))
    if not asked:
        return None
    # A model with several inputs and outputs has an array for each: `x_train.title`.
    train_keys = [k for k in data if array_part(k) in ("x_train", "y_train")]
    x_key = "x_train" if "x_train" in data else next(k for k in train_keys if k[0] == "x")
    y_key = "y_train" if "y_train" in data else next(k for k in train_keys if k[0] == "y")
    for option, key, _ in asked:
        if any(array_part(k) == f"x_{key}" for k in data):
            raise DataError(
                path,
                f"already has `x_{key}` and `y_{key}`, and {option} would replace them",
                f"drop {option} to use them, or remove them from the file",
            )
    total = len(data[x_key])
    strata = classes_of(data[y_key], loss_key)
    rng = np.random.default_rng(seed)
    remaining = np.arange(total)
    left = 1.0
    counts: dict[str, int] = {}
    for option, key, fraction in asked:
        taken = _take(remaining, strata, fraction / left, rng)
        if not len(taken):
            raise DataError(
                path,
                f"{option} {fraction:g} of {total} rows leaves no "
                f"{'test' if key == 'test' else 'validation'} rows",
                "use a larger fraction, or more data",
            )
        remaining = np.setdiff1d(remaining, taken)
        left -= fraction
        for train_key in train_keys:  # x_train → x_val, x_train.title → x_val.title
            data[train_key.replace("_train", f"_{key}", 1)] = data[train_key][taken]
        counts[key] = len(taken)
    if not len(remaining):
        raise DataError(path, f"the splits of {total} rows leave no training rows")
    for train_key in train_keys:
        data[train_key] = data[train_key][remaining]
    if "sample_weight" in data:  # the training rows' weights stay with their rows
        data["sample_weight"] = data["sample_weight"][remaining]
    parts = [f"{len(remaining)} training"]
    if validation:
        parts.append(f"{counts['val']} validation")
    if test:
        parts.append(f"{counts['test']} test")
    how = "stratified by class" if strata is not None else "at random"
    return f"note: split {total} rows into {', '.join(parts)} ({how}, seed {seed})"


def _take(
    rows: np.ndarray, strata: np.ndarray | None, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """A `fraction` of `rows`, the same fraction of each class when there are classes."""
    groups = [rows] if strata is None else [rows[strata[rows] == c] for c in np.unique(strata)]
    taken = []
    for group in groups:
        count = int(np.floor(len(group) * fraction + 0.5))
        taken.append(rng.permutation(group)[:count])
    return np.sort(np.concatenate(taken))
