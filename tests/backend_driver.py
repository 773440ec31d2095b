"""Train every example on one Keras backend, in one process, through the `kdsl` command.

    python tests/backend_driver.py BACKEND OUT_DIR EPOCHS

For each `examples/*.k`: `kdsl run --backend BACKEND --epochs EPOCHS --json --save`, then
`kdsl predict` on the saved model, then the saved model's structure (layer classes, output
shapes, parameter counts) read back with Keras. Prints one JSON object: per example the
structure, the History, the prediction count, plus the backend Keras ran on.
tests/test_backends.py runs it once per backend (KERAS_BACKEND is read once per process,
at Keras's first import, so each backend needs its own process).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def structure(model) -> list[list]:
    """What must not depend on the backend: [class, output shape, parameters] per layer."""
    return [
        [type(layer).__name__, list(layer.output.shape), layer.count_params()]
        for layer in model.layers
    ]


def main() -> None:
    backend, out, epochs = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    from kdsl.tools.cli import main as kdsl

    results = {}
    for program in sorted((ROOT / "examples").glob("*.k")):
        name = program.stem
        saved, report, predictions = (out / f"{name}.{ext}" for ext in ("keras", "json", "npy"))
        command = ["run", str(program), "--backend", backend, "--epochs", epochs]
        code = kdsl([*command, "--json", str(report), "--save", str(saved)])
        assert code == 0, f"kdsl run {name} on {backend} exited {code}"
        data = program.with_suffix(".npz")
        code = kdsl(
            ["predict", str(saved), str(data), "--backend", backend, "-o", str(predictions)]
        )
        assert code == 0, f"kdsl predict {name} on {backend} exited {code}"
        import keras
        import numpy as np

        reloaded = keras.models.load_model(saved)
        figures = json.loads(report.read_text())
        results[name] = {
            "structure": structure(reloaded),
            "parameters": reloaded.count_params(),
            "history": figures["history"],
            "backend": figures["backend"],
            "predicted_rows": len(np.load(predictions)),
        }
    import keras

    summary = {"keras_backend": keras.backend.backend(), "examples": results}
    print("RESULTS " + json.dumps(summary))


if __name__ == "__main__":
    main()
