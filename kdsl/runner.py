"""`kdsl run`: execute the very script `kdsl compile` prints, on the user's data.

The script's own `build_model()` and `train_and_evaluate()` do the work, so what runs
here is exactly what a user reads; kdsl adds only checks before training and a summary.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kdsl import ir
from kdsl.data import load_npz, validate
from kdsl.errors import DataError, ModelError

DEFAULT_SEED = 0


@dataclass
class RunResult:
    history: dict
    evaluation: dict
    predictions: list
    seconds: float
    evaluated_on: str  # "test data" or "training data"


def default_data_path(program: str) -> Path:
    """`examples/iris.k` → `examples/iris.npz`."""
    return Path(program).with_suffix(".npz")


@contextmanager
def quiet_native_stderr():
    """Hide what native code writes to file descriptor 2, unless the block fails.

    TensorFlow's C++ start-up messages (oneDNN, CUDA probing) are written before its
    logging is configured, so TF_CPP_MIN_LOG_LEVEL alone does not hide them.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras():
    """Import Keras with TensorFlow's start-up noise silenced; Keras's progress bars stay."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import keras

        keras.ops.convert_to_tensor([0.0])  # the backend probes devices on first use
    return keras


def run(
    code: str,
    model: ir.Model,
    data_path: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = DEFAULT_SEED,
    origin: str = "<kdsl>",
) -> RunResult:
    """Train, evaluate and predict with the generated script; returns the figures."""
    data = load_npz(data_path)  # fail on bad data before paying for TensorFlow's import
    keras = import_keras()

    namespace: dict = {"__name__": "kdsl_generated", "__file__": origin}
    exec(compile(code, f"<kdsl:{origin}>", "exec"), namespace)  # the script kdsl generated
    keras.utils.set_random_seed(seed)
    try:
        built = namespace["build_model"]()
    except Exception as error:  # Keras found what kdsl's checks could not
        raise ModelError(origin, f"Keras rejected the model: {_first_line(error)}") from None
    for note in validate(data_path, data, built.input_shape, built.output_shape, model.loss_key):
        print(note)

    train_and_evaluate = namespace["train_and_evaluate"]
    kwargs = {}
    if epochs is not None:
        kwargs["epochs"] = epochs
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    start = time.perf_counter()
    try:
        history, _, predictions = train_and_evaluate(built, data, **kwargs)
    except (ValueError, TypeError) as error:  # e.g. labels Keras cannot match to the loss
        raise ModelError(origin, f"training failed: {_first_line(error)}") from None
    seconds = time.perf_counter() - start
    evaluation = {k: float(v) for k, v in built.get_metrics_result().items()}
    evaluated_on = "test data" if "x_test" in data else "training data"
    return RunResult(history.history, evaluation, predictions.tolist(), seconds, evaluated_on)


def _first_line(error: Exception) -> str:
    """Keras errors can run for pages; the first meaningful line says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith("Exception encountered")), "")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text or type(error).__name__)
    return text[:300]


def summary(result: RunResult) -> str:
    epochs = len(next(iter(result.history.values()), []))
    figures = ", ".join(f"{name} {value:.4f}" for name, value in result.evaluation.items())
    return (
        f"Done: {epochs} epoch{'s' if epochs != 1 else ''} in {result.seconds:.1f} s; "
        f"{result.evaluated_on}: {figures}"
    )


def check_data_file(path: Path, program: str, given: bool) -> str:
    if not path.exists():
        if given:
            raise DataError(str(path), "no such file")
        raise DataError(
            str(path),
            f"no data given and none found beside {program}",
            f"pass --data FILE.npz, or save {path.name} next to the model",
        )
    return str(path)
