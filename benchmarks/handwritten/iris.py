"""examples/iris.k written by hand: the Keras tutorial's Iris model, the way its docs do it.

    python benchmarks/handwritten/iris.py [--seed 0] [--json OUT.json]

The baseline of `kdsl run examples/iris.k` in benchmarks/speed.py: the same data
(examples/iris.npz), epochs, batch size and seed. It times fit + evaluate + predict as
`kdsl run` does and writes the seconds and the final loss to --json.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "examples" / "iris.npz"


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
            keras.Input(shape=(4,)),
            keras.layers.Dense(5),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=200, batch_size=20)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predictions = model.predict(x_test, verbose=0)
    seconds = time.perf_counter() - start
    print(f"test loss {loss:.4f}, accuracy {accuracy:.4f}; first prediction {predictions[0]}")

    if args.json:
        result = {"seconds": seconds, "loss": history.history["loss"]}
        Path(args.json).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
