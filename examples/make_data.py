"""Make the example data sets (`examples/*.npz`) from data that scikit-learn ships.

    pip install scikit-learn && python examples/make_data.py

Each file holds standardized float32 features, with a stratified train/test split;
the standardization uses the training rows' statistics only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.model_selection import train_test_split

HERE = Path(__file__).parent
SEED = 0


def split_and_scale(x: np.ndarray, y: np.ndarray, test_size: float):
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=SEED
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def save(name: str, **arrays: np.ndarray) -> None:
    path = HERE / f"{name}.npz"
    np.savez_compressed(path, **arrays)
    shapes = ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items())
    print(f"wrote {path}: {shapes}")


def motif_sequences(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences (length 20, vocabulary 10); label 1 when token 3 is directly
    followed by token 7 somewhere. Half the rows get the motif planted; the others have
    every accidental occurrence broken up, so the label is exactly the rule.
    """
    x = rng.integers(1, 10, size=(rows, 20))
    y = np.zeros(rows, dtype="float32")
    for row in range(rows):
        for i in range(19):  # break accidental motifs
            if x[row, i] == 3 and x[row, i + 1] == 7:
                x[row, i + 1] = 8
        if row % 2 == 0:
            start = rng.integers(0, 19)
            x[row, start : start + 2] = (3, 7)
            y[row] = 1.0
    order = rng.permutation(rows)
    return x[order].astype("int32"), y[order]


def save_iris_csv() -> None:
    """Iris as a CSV with a header and the species as text, as many data sets come."""
    iris = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    rows = [
        ",".join([*(f"{value:g}" for value in features), iris.target_names[label]])
        for features, label in zip(iris.data, iris.target, strict=True)
    ]
    path = HERE / "iris.csv"
    path.write_text("\n".join([",".join(names), *rows]) + "\n")
    print(f"wrote {path}: {len(rows)} rows, columns {', '.join(names)}")


def main() -> None:
    iris = load_iris()
    x_train, x_test, y_train, y_test = split_and_scale(iris.data, iris.target, test_size=0.3)
    one_hot = np.eye(3, dtype="float32")
    save(
        "iris",
        x_train=x_train.astype("float32"),
        y_train=one_hot[y_train],
        x_test=x_test.astype("float32"),
        y_test=one_hot[y_test],
    )

    cancer = load_breast_cancer()
    x_train, x_test, y_train, y_test = split_and_scale(cancer.data, cancer.target, test_size=0.25)
    save(
        "breast_cancer",
        x_train=x_train.astype("float32"),
        y_train=y_train.astype("float32"),
        x_test=x_test.astype("float32"),
        y_test=y_test.astype("float32"),
    )
    save_iris_csv()

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., np.newaxis]  # (1797, 8, 8, 1)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, stratify=digits.target, random_state=SEED
    )
    save(
        "digits_cnn",
        x_train=x_train,
        y_train=y_train.astype("int64"),
        x_test=x_test,
        y_test=y_test.astype("int64"),
    )

    rng = np.random.default_rng(SEED)
    x_train, y_train = motif_sequences(2000, rng)
    x_test, y_test = motif_sequences(500, rng)
    save("sequence", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


if __name__ == "__main__":
    main()
