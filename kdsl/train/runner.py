"""`kdsl run`: execute the very script `kdsl compile` prints, on the user's data.

The script's own `build_model()` and `train_and_evaluate()` do the work, so what runs
here is exactly what a user reads. kdsl adds what is not training: loading and checking
the data before training, splitting it, stopping cleanly on Ctrl-C, and the summary.

Arrays are not copied beyond what Keras needs: an .npz's arrays are read once, and a
folder's .npy files stay memory-mapped, read in batches by the script's `NpyBatches`.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import linecache
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kdsl import ir
from kdsl.errors import BackendError, DataError, InputError, ModelError, first_line
from kdsl.files import check_regular_file
from kdsl.options import DataKind
from kdsl.train.data import (
    Dataset,
    array_part,
    group_named,
    load,
    short_file,
    validate,
    validate_named,
)
from kdsl.train.data import _check_classes as check_classes
from kdsl.train.data import standardize as standardize_features
from kdsl.train.folders import FolderData, data_kind, scan
from kdsl.train.folders import check_model as check_folder_model
from kdsl.train.folders import check_options as check_folder_options
from kdsl.train.preprocessing import _check_ids_fit as check_ids_fit
from kdsl.train.preprocessing import (
    adapt_first_layer,
    check_adaptable,
    check_backend_runs_layers,
    token_ids,
)
from kdsl.train.split import split

DEFAULT_SEED = 0

# Grappler, TensorFlow's graph optimizer, runs on each graph as it is instantiated:
# tf.data instantiates the small functions of its pipeline anew with every iterator, and
# Keras starts one iterator per epoch, so a small model spent most of its time there
# (about 10 ms an epoch; issue 17). Graphs of fewer nodes than this are left as they are:
# those functions, and the wrappers Keras calls a step through; the step itself (over a
# hundred nodes for the smallest model) is optimized as before, and trains the same.
TF_MIN_GRAPH_NODES = 20

# A training step this small (the model's parameters × the rows of a batch) takes well
# under a millisecond, less than TensorFlow spends calling it from Python: `kdsl run`
# then has Keras run up to MAX_STEPS_PER_EXECUTION steps per call
# (`steps_per_execution`, as `compile` takes it). The same steps in the same order, so
# the same weights; callbacks and the progress bar hear of the steps once per call.
SMALL_STEP = 1 << 20
MAX_STEPS_PER_EXECUTION = 32

# History names whose best value is the lowest; for every other metric higher is better.
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson")
_LOWER_IS_BETTER_NAMES = {"mae", "mse", "mape", "msle", "rmse", "logcosh"}


@dataclass
class RunResult:
    history: dict[str, list[float]]
    evaluation: dict[str, float]
    predictions: np.ndarray  # one row per evaluated row
    seconds: float
    evaluated_on: str  # "test" or "training"
    epochs: int  # to run; fewer ran when stopped early or interrupted
    interrupted: bool
    model: Any  # the trained Keras model
    data: Dataset
    scaling: dict | None = None  # --standardize's mean and variance per feature
    chief: bool = True  # False on a multi-worker run's other workers: they write no outputs
    backend: str = "tensorflow"  # the Keras backend that trained it
    validation_freq: int = 1  # fit's: validation ran after every this many epochs

    @property
    def epochs_run(self) -> int:
        return len(next(iter(self.history.values()), []))


def default_data_path(program: str) -> Path:
    """`examples/iris.k` → `examples/iris.npz`, or `examples/iris.csv` when only that exists."""
    npz = Path(program).with_suffix(".npz")
    csv = npz.with_suffix(".csv")
    return csv if csv.exists() and not npz.exists() else npz


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


# Keras 3's backends kdsl trains on: the package each needs, its name, how to install it.
BACKENDS = {
    "tensorflow": ("tensorflow", "TensorFlow", "pip install tensorflow"),
    "jax": ("jax", "JAX", "pip install jax"),
    "torch": ("torch", "PyTorch", "pip install torch"),
}


def chosen_backend(backend: str | None = None, flag: str = "--backend") -> str | None:
    """The backend asked for (`backend`, else $KERAS_BACKEND; None: Keras's default),
    checked to be one kdsl knows and installed; cheap, so commands call it before work.
    `flag` names the option in messages (the Python API's is `backend=`)."""
    wanted = backend or os.environ.get("KERAS_BACKEND") or None
    if wanted is None:
        return None
    given = f"{flag}{backend!r}" if flag.endswith("=") else f"{flag} {backend}"
    origin = given if backend else f"KERAS_BACKEND={wanted}"
    if wanted not in BACKENDS:
        raise BackendError(
            f"{origin}: not a Keras backend kdsl trains on", f"use one of {', '.join(BACKENDS)}"
        )
    package, name, install = BACKENDS[wanted]
    if importlib.util.find_spec(package) is None:
        raise BackendError(f"{origin} needs {name}, which is not installed", install)
    return wanted


def import_keras(backend: str | None = None, probe: bool = True) -> ModuleType:
    """Import Keras on `backend` (else $KERAS_BACKEND, else Keras's default, TensorFlow).

    Keras reads KERAS_BACKEND once, at its first import, so the backend is set here before
    that; a Keras already imported on another backend cannot switch, and that is an error.
    Native start-up noise (TensorFlow's C++ logs) is silenced; Keras's progress bars stay.
    `probe=False` runs no TensorFlow op, for a multi-worker strategy that must come first.
    """
    if "keras" in sys.modules:
        loaded = sys.modules["keras"]
        current = loaded.backend.backend()
        wanted = backend or os.environ.get("KERAS_BACKEND") or current
        if wanted != current:
            raise BackendError(
                f"backend {wanted} asked for, but Keras is already imported in this process "
                f"on {current}, and a process cannot switch backends",
                f"set KERAS_BACKEND={wanted} before anything imports Keras, or start a new "
                "Python process",
            )
        return loaded
    wanted = chosen_backend(backend)
    if wanted:
        os.environ["KERAS_BACKEND"] = wanted
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            skip_optimizing_small_graphs()
        if probe:
            keras.ops.convert_to_tensor([0.0])  # the backend probes devices on first use
    return keras


def skip_optimizing_small_graphs() -> None:
    """TensorFlow's graph optimizer skips graphs of fewer than TF_MIN_GRAPH_NODES nodes.

    Read as TensorFlow starts, so effective from the start only if nothing ran a
    TensorFlow op before (kdsl's commands call this first)."""
    import tensorflow as tf  # type: ignore[import-untyped]

    tf.config.optimizer.set_experimental_options({"min_graph_nodes": TF_MIN_GRAPH_NODES})


@dataclass(frozen=True)
class WorkerTask:
    """This process's place in a multi-worker cluster, from TF_CONFIG."""

    kind: str  # "worker" or "chief"
    index: int
    workers: int  # tasks that train: workers and the chief
    chief: bool  # the one that writes outputs, as TensorFlow decides it


def worker_task(environ: Mapping[str, str] = os.environ) -> WorkerTask:
    """Read and check TF_CONFIG before TensorFlow does, to fail with a plain message.

    Without TF_CONFIG there is one worker. The chief is the `chief` task if the cluster
    has one, else worker 0, as in TensorFlow.
    """
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return WorkerTask("worker", 0, 1, True)
    example = (
        'for example: TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}\''
    )
    try:
        config = json.loads(text)
    except ValueError as error:
        raise InputError("TF_CONFIG", f"is not JSON: {error}", example) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise InputError("TF_CONFIG", "needs a `cluster` and a `task` object", example)
    if "type" not in task or "index" not in task:
        raise InputError(
            "TF_CONFIG", 'the task needs a "type" and an "index" (this worker\'s place)', example
        )
    kind, index = task.get("type"), task.get("index")
    addresses = cluster.get(kind) if isinstance(kind, str) else None
    if addresses is not None and not isinstance(addresses, list):
        raise InputError(
            "TF_CONFIG",
            f"the cluster's {kind!r} entry must be a list of host:port addresses, "
            f"not {json.dumps(addresses)}",
            example,
        )
    if type(index) is not int:
        raise InputError(
            "TF_CONFIG", f"the task index must be a whole number, not {json.dumps(index)}", example
        )
    if not isinstance(kind, str) or not isinstance(addresses, list):
        raise InputError(
            "TF_CONFIG",
            f"the task type {kind!r} is not in the cluster ({', '.join(map(str, cluster))})",
            example,
        )
    if not 0 <= index < len(addresses):
        raise InputError(
            "TF_CONFIG",
            f"task index {index!r} is out of range: the cluster has {len(addresses)} "
            f"{kind} address{'es' if len(addresses) != 1 else ''}",
            example,
        )
    workers = sum(len(cluster.get(name) or []) for name in ("chief", "worker"))
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return WorkerTask(kind, index, workers, chief)


def describe_strategy(name: str, strategy, task: WorkerTask | None = None) -> str:
    """`mirrored over 2 replicas: CPU:0, CPU:1`: what a distributed run runs on."""
    replicas = strategy.num_replicas_in_sync
    devices = ", ".join(d.split("device:")[-1] for d in strategy.extended.worker_devices)
    where = ""
    if task is not None:
        role = ", the chief" if task.chief else ""
        where = f" ({task.kind} {task.index} of {task.workers}{role})"
    s = "s" if replicas != 1 else ""
    return f"{name} over {replicas} replica{s}{where}: {devices}"


def load_script(code: str, origin: str = "<kdsl>") -> dict:
    """Execute a generated script as a module (not as __main__): its functions by name."""
    module = ModuleType("kdsl_generated")
    namespace: dict = module.__dict__
    namespace["__file__"] = origin
    filename = f"<kdsl:{origin}>"
    # Its module and source where `inspect` looks for them: tf.data's AutoGraph reads the
    # functions the script maps over a dataset (the text folder reader's lambdas).
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    sys.modules[module.__name__] = module
    exec(compile(code, filename, "exec"), namespace)  # the script kdsl generated
    return namespace


def build_model(code: str, origin: str = "<kdsl>", backend: str | None = None):
    """The Keras model a generated script's `build_model()` makes: the model the script
    itself trains. Imports Keras, on `backend` (default $KERAS_BACKEND)."""
    chosen_backend(backend, flag="backend=")  # an unknown name says so, whatever is loaded
    import_keras(backend)
    return load_script(code, origin)["build_model"]()


def run(
    code: str,
    model: ir.Model,
    data_path: str,
    *,
    target: str | None = None,
    test_split: float | None = None,
    validation_split: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = DEFAULT_SEED,
    origin: str = "<kdsl>",
    standardize: bool = False,
    strategy: str | None = None,
    backend: str | None = None,
) -> RunResult:
    """Train, evaluate and predict with the generated script; returns the figures.

    `strategy` names the tf.distribute strategy the script was rendered with; a
    multi-worker run's other workers return `chief=False` and should write no outputs.
    Ctrl-C during `fit` stops after the current batch and returns what was learned, with
    `interrupted` set.
    """
    task = worker_task() if strategy == "multi-worker" else None
    check_callback_packages(model)
    kind = data_kind(data_path)
    if kind is not None:  # a folder of class subfolders: images or text files
        return _run_folder(
            code, model, data_path, kind, origin, seed, task,
            test_split=test_split, validation_split=validation_split, standardize=standardize,
            epochs=epochs, batch_size=batch_size, strategy=strategy, backend=backend,
        )  # fmt: skip
    # Several inputs or outputs: arrays named after each (`x_train.title`), given to
    # `fit` as dicts keyed by name.
    named = len(model.inputs) > 1 or len(model.outputs) > 1
    data = load(data_path, target, named)  # fail on bad data before paying for Keras's import
    if data.on_disk:
        check_npy_folder_options(
            data_path,
            split=bool(test_split or validation_split),
            standardize=standardize,
            fit_validation_split=bool(model.fit_option("validation_split")),
        )
    check_backend_runs_layers(origin, model, chosen_backend(backend))
    keras, namespace, built = _start(code, origin, seed, backend, strategy, task)
    arrays = data.arrays
    written = [call.written_name for call in model.calls]
    check_adaptable(origin, built, written, keras.backend.backend())  # a model problem
    checked = check_data(
        data_path, data, model, built, written,
        test_split=test_split, validation_split=validation_split, standardize=standardize,
        seed=seed,
    )  # fmt: skip
    notes = checked.notes
    batch = batch_size or namespace["BATCH_SIZE"]
    steps = small_model_steps_per_execution(
        model, built, training_rows(arrays), batch, backend=keras.backend.backend(),
        in_memory=not data.on_disk and strategy is None,
    )  # fmt: skip
    if not named:  # a first normalization layer learns the one input's statistics
        notes.append(adapt_first_layer(data_path, built, arrays, written))
    for note in filter(None, notes):
        print(note)
    return _train(
        model, built, namespace, arrays, data, origin, epochs, batch_size, checked.scaling,
        chief=task is None or task.chief, backend=keras.backend.backend(),
        grouped=group_named(arrays) if named else None, steps_per_execution=steps,
        replay=steps > 1 and not named,
    )  # fmt: skip


@dataclass
class CheckedData:
    """A dataset checked against a built model and split, ready for `fit`."""

    notes: list[str | None]  # to print (split, one-hot labels, ...); None: nothing to say
    scaling: dict | None = None  # --standardize's mean and variance per feature
    named: bool = False  # several inputs or outputs: arrays keyed `x_train.NAME`


def check_data(
    data_path: str,
    data: Dataset,
    model: ir.Model,
    built,
    written: list[str],
    *,
    test_split: float | None,
    validation_split: float | None,
    standardize: bool,
    seed: int,
) -> CheckedData:
    """Check `data`'s arrays (in place) against `built`, the Keras model of `model`,
    then split and standardize them as asked: what `kdsl run` and `kdsl tune` both do
    before training, so a search trains on exactly what a run would. Raises `DataError`."""
    arrays = data.arrays
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        return _check_named(
            data_path, data, model, built,
            test_split=test_split, validation_split=validation_split, standardize=standardize,
            seed=seed,
        )  # fmt: skip
    input_dtype = model.input_node().dtype
    notes: list[str | None] = list(  # split and adapting may have nothing to say
        validate(
            data_path,
            arrays,
            built.input_shape,
            built.output_shape,
            model.loss_key,
            class_names=data.class_names,
            feature_names=data.feature_names,
            target=data.target,
            on_disk=data.on_disk,
            input_dtype=input_dtype,
            token_ids=token_ids(built, written),
        )
    )
    notes.append(check_sample_weight(data_path, arrays, model, data.on_disk))
    notes.append(
        split(
            data_path,
            arrays,
            model.loss_key,
            test=test_split,
            validation=validation_split,
            seed=seed,
        )
    )
    check_monitors(data_path, arrays, model)
    notes.append(class_weight_note(data_path, arrays["y_train"], model))
    scaling = None
    if standardize:
        scaling = standardize_features(data_path, arrays, input_dtype)
        notes.append(
            f"note: standardized {len(scaling['mean'])} features with the training rows' mean "
            "and standard deviation"
        )
    return CheckedData(notes, scaling)


def _start(
    code: str,
    origin: str,
    seed: int,
    backend: str | None,
    strategy: str | None,
    task: WorkerTask | None,
) -> tuple[ModuleType, dict, Any]:
    """Import Keras, load the script (starting its strategy), seed, and build the model:
    (keras, the script's namespace, the model)."""
    # The script creates a multi-worker strategy as it loads: no TensorFlow op may precede it.
    keras = import_keras(backend, probe=task is None)
    if strategy:
        try:
            with quiet_native_stderr():  # the strategy's start-up logging
                namespace = load_script(code, origin)
        except Exception as error:  # e.g. a worker address that cannot be served
            raise ModelError(
                origin, f"could not start the {strategy} strategy: {first_line(error)}"
            ) from None
        print(f"kdsl: {describe_strategy(strategy, namespace['strategy'], task)}", flush=True)
    else:
        namespace = load_script(code, origin)
    # It seeds TensorFlow too when installed, importing it on JAX and PyTorch as well: its
    # C++ start-up lines would come out here.
    with quiet_native_stderr():
        keras.utils.set_random_seed(seed)
    try:
        built = namespace["build_model"]()
    except Exception as error:  # Keras found what kdsl's checks could not
        raise ModelError(origin, f"Keras rejected the model: {first_line(error)}") from None
    return keras, namespace, built


def _run_folder(
    code: str,
    model: ir.Model,
    data_path: str,
    kind: DataKind,
    origin: str,
    seed: int,
    task: WorkerTask | None,
    *,
    test_split: float | None,
    validation_split: float | None,
    standardize: bool,
    epochs: int | None,
    batch_size: int | None,
    strategy: str | None,
    backend: str | None,
) -> RunResult:
    """`run` on a folder of class subfolders: checked here, then read by the script's
    own `load_data` (Keras's folder readers) and trained by its `train_and_evaluate`."""
    folder = check_folder(
        data_path, model, kind,
        test_split=test_split, validation_split=validation_split, standardize=standardize,
    )  # fmt: skip
    if "def read_folder(" not in code:  # rendered without Mode(data_kind=...): no reader
        raise DataError(
            data_path,
            f"is a folder of {'images' if kind == 'images' else 'text files'}, but the "
            "script was compiled without a reader for it",
            f"compile with --{'image' if kind == 'images' else 'text'}-data "
            "(Mode(data_kind=...)), as `kdsl run` does",
        )
    keras, namespace, built = _start(code, origin, seed, backend, strategy, task)
    data = read_folder_data(
        data_path, model, kind, folder, namespace, built,
        validation_split=validation_split, seed=seed, batch_size=batch_size, origin=origin,
    )  # fmt: skip
    dataset = Dataset({}, class_names=list(data["class_names"]), kind=kind)
    try:
        return _train(
            model, built, namespace, data, dataset, origin, epochs, batch_size, None,
            chief=task is None or task.chief, backend=keras.backend.backend(),
        )  # fmt: skip
    except Exception as error:
        if type(error).__name__ in ("InvalidArgumentError", "NotFoundError", "UnknownError"):
            raise DataError(  # e.g. a file that changed, or cannot be decoded after all
                data_path, f"training failed on the data: {first_line(error)}"
            ) from None
        raise


def check_folder(
    data_path: str,
    model: ir.Model,
    kind: DataKind,
    *,
    test_split: float | None,
    validation_split: float | None,
    standardize: bool,
) -> FolderData:
    """A folder of class subfolders checked against the program and the options, before
    Keras's import (a bad folder fails at once): for `kdsl run` and `kdsl tune`."""
    folder = scan(data_path, kind)
    check_folder_model(data_path, model, kind, len(folder.class_names))
    check_folder_options(
        data_path, model, folder,
        test_split=bool(test_split), validation_split=bool(validation_split),
        standardize=standardize,
    )  # fmt: skip
    return folder


def read_folder_data(
    data_path: str,
    model: ir.Model,
    kind: DataKind,
    folder: FolderData,
    namespace: dict,
    built,
    *,
    validation_split: float | None,
    seed: int,
    batch_size: int | None,
    origin: str,
    say: Callable[[str], None] = print,
) -> dict:
    """The folder read by a script's own `load_data` (`namespace`'s: Keras's folder
    readers), once `built` (the Keras model) is checked against its classes; a first
    textvectorization of `built` is adapted to the training texts and checked against
    the embedding after it. The datasets, unbatched, with `class_names`."""
    import keras

    written = [call.written_name for call in model.calls]
    first = next((layer for layer in built.layers if type(layer).__name__ != "InputLayer"), None)
    if kind == "images" or type(first).__name__ != "TextVectorization":
        check_adaptable(origin, built, written, keras.backend.backend())
    # else the script adapts the first textvectorization to the training texts itself
    check_classes(
        data_path, "the folder", folder.class_names, tuple(built.output_shape[1:]),
        model.loss_key,
    )  # fmt: skip
    shown = ", ".join(f"{count} {part}" for part, count in folder.counts.items())
    say(f"kdsl: {len(folder.class_names)} classes ({shown} files)")
    sys.stdout.flush()
    with quiet_native_stderr():
        data = namespace["load_data"](data_path, validation_split, seed)
    if kind == "text" and type(first).__name__ == "TextVectorization":
        # Adapted here rather than in train_and_evaluate (which then finds a vocabulary),
        # so that the ids it learned are checked against the embedding after it.
        batches = namespace["batched"](data, batch_size or namespace["BATCH_SIZE"])
        namespace["adapt_text_layer"](built, batches["x_train"].map(lambda text, label: text))
        check_ids_fit(data_path, built.layers, built.layers.index(first), written)
    return data


def _check_named(
    data_path: str,
    data: Dataset,
    model: ir.Model,
    built,
    *,
    test_split: float | None,
    validation_split: float | None,
    standardize: bool,
    seed: int,
) -> CheckedData:
    """`check_data` for a model with several inputs or outputs: its arrays by name."""
    if standardize:
        raise DataError(
            data_path,
            "--standardize standardizes one input's features, but the model has several "
            "inputs or outputs",
            "standardize each input's array before saving it, or add a `normalization` layer",
        )
    arrays = data.arrays
    inputs = [
        (str(dict(source.kwargs).get("name")), (None, *source.shape), source.dtype)
        for source in model.inputs
    ]
    outputs = [
        (str(name), tuple(tensor.shape), model.loss_key_of(output))
        for name, tensor, output in zip(
            model.output_names or [model.output_nodes[0].call.kwarg("name")],
            built.outputs,
            model.outputs,
            strict=True,
        )
    ]
    notes: list[str | None] = list(
        validate_named(data_path, arrays, inputs, outputs, on_disk=data.on_disk)
    )
    notes.append(
        split(
            data_path,
            arrays,
            outputs[0][2],
            test=test_split,
            validation=validation_split,
            seed=seed,
        )
    )
    return CheckedData(notes, named=True)


def _train(
    model: ir.Model,
    built,
    namespace: dict,
    arrays: dict,
    data: Dataset,
    origin: str,
    epochs: int | None,
    batch_size: int | None,
    scaling: dict | None,
    *,
    chief: bool,
    backend: str,
    grouped: dict | None = None,
    steps_per_execution: int = 1,
    replay: bool = False,
) -> RunResult:
    """The script's `train_and_evaluate` on the checked arrays (`grouped` into dicts by
    input and output name for a model with several), with Ctrl-C stopping it cleanly,
    `steps_per_execution` training steps per call, and with `replay`, Keras's batches of
    an epoch given to every epoch where they are the same (`kdsl.train.replay`)."""
    from kdsl.train.interrupt import StopOnInterrupt

    if steps_per_execution > 1:  # what `compile(steps_per_execution=...)` sets; the
        # compile settings the model saves stay as the script wrote them
        built.steps_per_execution = steps_per_execution

    kwargs: dict = {"epochs": epochs or namespace["EPOCHS"]}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    replaying: AbstractContextManager = nullcontext()
    if replay:  # TensorFlow only: imports it
        from kdsl.train.replay import epochs_replayed

        replaying = epochs_replayed(built)
    stop = StopOnInterrupt()
    start = time.perf_counter()
    try:
        with replaying, heap_set_aside():
            history, _, predictions = namespace["train_and_evaluate"](
                built, grouped if grouped is not None else arrays, callbacks=[stop], **kwargs
            )
    except Exception as error:
        broken = short_file(arrays)  # a data file cut short while training read it
        if broken:
            raise broken from None
        if isinstance(error, (ValueError, TypeError)):  # e.g. labels Keras cannot match
            raise ModelError(origin, f"training failed: {first_line(error)}") from None
        raise
    finally:
        stop.restore()
    seconds = time.perf_counter() - start
    return RunResult(
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        evaluation={k: float(v) for k, v in built.get_metrics_result().items()},
        predictions=predictions,
        seconds=seconds,
        evaluated_on="test" if any(array_part(k) == "x_test" for k in arrays) else "training",
        epochs=kwargs["epochs"] - _whole_option(model, "initial_epoch", 0),
        interrupted=stop.interrupted,
        model=built,
        data=data,
        scaling=scaling,
        chief=chief,
        backend=backend,
        validation_freq=_whole_option(model, "validation_freq", 1),
    )


@contextmanager
def heap_set_aside():
    """Keep the objects that exist now (TensorFlow's and KerasTuner's modules: some
    450,000) out of the garbage collector's full passes while training or a search runs.
    Before each trial KerasTuner calls `gc.collect()` and Keras's `clear_session()`
    another, and a run's own allocations start one now and then: each pass walked all of
    them, 0.2 s on a quiet core, 1 to 2 s measured on two busy ones (a search of two
    trials: 3.9 s of collecting, 0.1 s set aside; iris's 200 epochs: 0.2 s, none). What
    training makes is collected as before; the heap is as it was afterwards. Where the
    caller has set objects aside already, it is left to do so (`gc.unfreeze` would give
    back the caller's too)."""
    if gc.get_freeze_count() > 0:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def training_rows(arrays: Mapping[str, Any]) -> int:
    """The rows `fit` trains on: x_train's (the first input's, with several)."""
    return next(len(array) for key, array in arrays.items() if array_part(key) == "x_train")


def small_model_steps_per_execution(
    model: ir.Model, built, rows: int, batch_size: int, *, backend: str, in_memory: bool
) -> int:
    """How many training steps Keras runs per call from Python: all of an epoch's (up to
    MAX_STEPS_PER_EXECUTION) for a small model on TensorFlow, where calling a step costs
    more than the step (issue 17); else 1, as the script compiles it.

    Only where nothing but the count of calls changes: arrays in memory (each epoch is one
    pass over them, so a call stops where the epoch ends) on one device, the script's own
    steps per epoch, and no callback acting every few batches.
    """
    if backend != "tensorflow" or not in_memory or model.fit_option("steps_per_epoch"):
        return 1
    if any(_acts_on_batches(callback) for callback in model.callbacks):
        return 1
    if built.count_params() * batch_size > SMALL_STEP:
        return 1
    return max(1, min(MAX_STEPS_PER_EXECUTION, math.ceil(rows / batch_size)))


def _acts_on_batches(callback: ir.KerasCall) -> bool:
    """Whether a callback does something every few batches: stops on a NaN loss, or
    saves, logs or profiles by batches (`save_freq=100`, `update_freq="batch"`,
    `profile_batch=5`). Keras's defaults, `"epoch"` and 0, act once an epoch or never."""
    if callback.class_name == "TerminateOnNaN":
        return True
    defaults: dict[str, ir.PyValue] = {
        "save_freq": "epoch",
        "update_freq": "epoch",
        "profile_batch": 0,
    }
    return any(callback.kwarg(name, default) != default for name, default in defaults.items())


# -- the `fit` options and callbacks that depend on the data ---------------------------------


def check_sample_weight(
    path: str, arrays: dict[str, np.ndarray], model: ir.Model, on_disk: bool
) -> str | None:
    """`fit sample_weight=true` needs a `sample_weight` array: one finite weight ≥ 0 per
    training row, not all zero. Without the option, such an array is only noted."""
    weights = arrays.get("sample_weight")
    if model.fit_option("sample_weight") is not True:
        if weights is None:
            return None
        return (
            "warning: the data has a `sample_weight` array, which this program does not use: "
            "add `fit sample_weight=true` to weigh the rows with it"
        )
    hint = "save one weight ≥ 0 per row of x_train, e.g. np.ones(len(x_train))"
    if weights is None:
        raise DataError(
            path, "has no `sample_weight` array, which `fit sample_weight=true` uses", hint
        )
    if on_disk:
        raise DataError(
            path,
            "is a folder read in batches, which Keras cannot weigh with a `sample_weight` array",
            "save the arrays in one .npz, or drop `fit sample_weight=true`",
        )
    rows = len(arrays["x_train"])
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = arrays["sample_weight"] = weights[:, 0]
    if weights.ndim != 1 or len(weights) != rows:
        raise DataError(
            path,
            f"`sample_weight` has shape {weights.shape}, but x_train has {rows} rows",
            hint,
        )
    if weights.dtype.kind not in "iuf":
        raise DataError(path, f"`sample_weight` holds {weights.dtype} values, not numbers", hint)
    weights = weights.astype("float64")
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if len(bad):
        raise DataError(
            path,
            f"`sample_weight` row {bad[0]} is {weights[bad[0]]:g}: weights are finite and ≥ 0",
            hint,
        )
    if not weights.any():
        raise DataError(path, "every `sample_weight` is 0: nothing would be learned", hint)
    return None


def check_callback_packages(model: ir.Model) -> None:
    """Keras's TensorBoard callback writes through the `tensorboard` package, which Keras
    does not install: without it, training would fail at the first epoch's end."""
    if any(c.class_name == "TensorBoard" for c in model.callbacks) and (
        importlib.util.find_spec("tensorboard") is None
    ):
        raise BackendError(
            "the `tensorboard` callback needs the TensorBoard package, which is not installed",
            "pip install tensorboard; or drop `tensorboard` from the callbacks (and --tensorboard)",
        )


def check_monitors(path: str, arrays: dict[str, np.ndarray], model: ir.Model) -> None:
    """A callback watching a validation quantity (`val_mae`) needs validation data."""
    if "x_val" in arrays or model.fit_option("validation_split"):
        return
    for callback in model.callbacks:
        monitor = callback.kwarg("monitor")
        if isinstance(monitor, str) and monitor.startswith("val_"):
            raise DataError(
                path,
                f"has no validation data, but `{callback.written}` monitors `{monitor}`",
                "add x_val/y_val to the data, `fit validation_split=0.2`, or "
                "`kdsl run --validation-split 0.2`; or monitor "
                f"`{monitor.removeprefix('val_')}`",
            )


def class_weight_note(path: str, labels: np.ndarray, model: ir.Model) -> str | None:
    """A warning for `class_weight` ids the training labels never have (a typo, or ids
    counted from 1), the labels read as Keras reads them for class weights."""
    weights = model.fit_option("class_weight")
    if not isinstance(weights, ir.PyDict):
        return None
    present: set[int] = set()
    for start in range(0, len(labels), 1 << 16):  # in blocks: labels may be memory-mapped
        block = np.asarray(labels[start : start + (1 << 16)])
        if block.ndim > 1 and block.shape[-1] != 1:
            ids = np.argmax(block, axis=-1)
        else:
            ids = np.round(block.reshape(len(block), -1)[:, 0]).astype("int64")
        present.update(int(i) for i in np.unique(ids))
    missing = [key for key, _ in weights.items if key not in present]
    if not missing:
        return None
    shown = ", ".join(str(key) for key in missing[:10])
    return (
        f"warning: `class_weight` weighs class{'es' if len(missing) > 1 else ''} {shown}, "
        f"which the training labels of {path} never have (they have "
        f"{', '.join(str(i) for i in sorted(present)[:10])}{', ...' if len(present) > 10 else ''})"
    )


def _whole_option(model: ir.Model, name: str, default: int) -> int:
    """A whole-number `fit` option (the checker made sure it is one), or `default` if unset."""
    value = model.fit_option(name)
    return int(value) if isinstance(value, int | float) and value else default


def check_npy_folder_options(
    path: str, *, split: bool, standardize: bool, fit_validation_split: bool
) -> None:
    """A folder's rows stay on disk, so what would copy them into memory is refused."""
    if split:
        raise DataError(
            path,
            "is a folder of .npy files: --test-split and --validation-split would copy "
            "its rows into memory",
            "save the held-out rows as x_test.npy/y_test.npy and x_val.npy/y_val.npy",
        )
    if standardize:
        raise DataError(
            path,
            "is a folder of .npy files: --standardize would copy its rows into memory",
            "save standardized arrays in the folder instead",
        )
    if fit_validation_split:
        raise DataError(
            path,
            "is a folder of .npy files, which Keras cannot split with `fit validation_split=...`",
            "save validation rows as x_val.npy and y_val.npy, and drop validation_split",
        )


def best_validation(
    history: dict[str, list[float]], every: int = 1
) -> tuple[str, float, int] | None:
    """The best epoch of the first validation metric (else the validation loss):
    (name, value, epoch counted from 1), or None without validation data. With fit's
    `validation_freq=every`, the i-th validation came after epoch (i + 1) * every."""
    names = [name for name in history if name.startswith("val_") and history[name]]
    if not names:
        return None
    metrics = [name for name in names if name != "val_loss"]
    name = metrics[0] if metrics else names[0]
    values = history[name]
    pick = min if _lower_is_better(name.removeprefix("val_")) else max
    best = pick(range(len(values)), key=values.__getitem__)
    return name, values[best], (best + 1) * every


def _lower_is_better(name: str) -> bool:
    return name in _LOWER_IS_BETTER_NAMES or any(word in name for word in _LOWER_IS_BETTER)


def summary(result: RunResult) -> str:
    """One line: epochs run, time, the best validation figure, and the evaluation."""
    ran = result.epochs_run
    epochs = f"{ran} epoch{'s' if ran != 1 else ''}"
    if ran < result.epochs:
        epochs = f"{ran} of {result.epochs} epochs"
        if not result.interrupted:
            epochs += " (stopped early)"
    parts = [f"{epochs} in {result.seconds:.1f} s on {result.backend}"]
    best = best_validation(result.history, result.validation_freq)
    if best:
        name, value, epoch = best
        parts.append(f"best {name} {value:.4f} at epoch {epoch}")
    figures = ", ".join(f"{name} {value:.4f}" for name, value in result.evaluation.items())
    parts.append(f"{result.evaluated_on} data: {figures}")
    return ("Interrupted: " if result.interrupted else "Done: ") + "; ".join(parts)


def report(result: RunResult, program: str, seed: int) -> dict:
    """Everything a script or CI job wants from a run, as JSON-ready values."""
    return {
        "model": program,
        "seed": seed,
        "backend": result.backend,
        "epochs_run": result.epochs_run,
        "interrupted": result.interrupted,
        "history": {k: [_finite(v) for v in values] for k, values in result.history.items()},
        "evaluation": {k: _finite(v) for k, v in result.evaluation.items()},
        "evaluated_on": result.evaluated_on,
        # Several outputs: their predictions by output name.
        "predictions": (
            {
                name: _finite_array(array)
                for name, array in zip(result.model.output_names, result.predictions, strict=True)
            }
            if isinstance(result.predictions, list | tuple | dict)
            and not isinstance(result.predictions, np.ndarray)
            else _finite_array(result.predictions)
        ),
        "class_names": result.data.class_names,
        "seconds": round(result.seconds, 3),
    }


def _finite_array(array) -> list:
    # None as an array: numpy's stubs omit the None that `where` accepts (an object array).
    return np.where(np.isfinite(array), array, np.array(None)).tolist()


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a diverged loss becomes null (as do its predictions)."""
    return value if math.isfinite(value) else None


def check_data_file(path: Path, program: str, given: bool) -> str:
    if not path.exists():
        if given:
            raise DataError(str(path), "no such file")
        raise DataError(
            str(path),
            f"no data given and none found beside {program}",
            f"pass --data DATA (.npz, .csv or a folder of .npy files), or save {path.name} "
            "next to the model",
        )
    if not path.is_dir():  # a FIFO or a device would hang or never end: refused at once
        check_regular_file(path, DataError, "a data file (.npz, .csv or a folder of .npy files)")
    return str(path)
