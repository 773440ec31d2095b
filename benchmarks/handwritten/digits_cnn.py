"""examples/digits_cnn.k written by hand: a small CNN on scikit-learn's 8x8 digits.

    python benchmarks/handwritten/digits_cnn.py [--seed 0] [--json OUT.json]

The baseline of `kdsl run examples/digits_cnn.k` in benchmarks/speed.py: the same data
(examples/digits_cnn.npz), epochs, batch size, validation split and seed. It times fit +
evaluate + predict as `kdsl run` does and writes the seconds and the final loss to --json.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

DATA = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.npz"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the timing and the final loss here")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    with np.load(DATA) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]

    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.003),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=20, batch_size=32, validation_split=0.1)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predictions = model.predict(x_test, verbose=0)
    seconds = time.perf_counter() - start
    print(f"test loss {loss:.4f}, accuracy {accuracy:.4f}; first prediction {predictions[0]}")

    if args.json:
        result = {"seconds": seconds, "loss": history.history["loss"]}
        Path(args.json).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
