"""`kdsl tune`: run the KerasTuner script `kdsl compile` writes, on the user's data.

As `kdsl run` does for a plain script, the script's own `SearchedModel` and
`make_tuner()` do the work; kdsl adds what is not searching: the data loaded, checked
and split by `kdsl run`'s own functions before any trial, a progress line per trial,
Ctrl-C that stops after the current trial, and the table of trials. A search resumes
from its directory (KerasTuner keeps each trial there).

KerasTuner and Keras are imported only when a search runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdsl import ir
from kdsl.errors import DataError, KdslError, ModelError, first_line
from kdsl.files import write_atomic
from kdsl.train.data import group_named, load
from kdsl.train.folders import data_kind
from kdsl.train.runner import (
    DEFAULT_SEED,
    check_data,
    check_folder,
    check_npy_folder_options,
    heap_set_aside,
    import_keras,
    load_script,
    quiet_native_stderr,
    read_folder_data,
    small_model_steps_per_execution,
    training_rows,
)

# Where the per-trial times are kept beside KerasTuner's own files, for a resumed search.
TIMES_FILE = "kdsl_times.json"


class MissingTuner(KdslError):
    """keras-tuner, the TensorBoard it needs on TensorFlow, or the scikit-learn its
    Bayesian search needs, is not installed."""

    def __init__(self, package: str = "keras-tuner") -> None:
        super().__init__(package)
        self.package = package

    def __str__(self) -> str:
        return f"kdsl tune needs {self.package}: pip install 'kdsl[tune]' (or {self.package})"


@dataclass
class Trial:
    """One trial as the table shows it."""

    number: int
    values: dict[str, int | float | str | bool]
    score: float | None
    epochs: int | None
    seconds: float | None
    status: str


@dataclass
class TuneResult:
    trials: list[Trial]
    objective: str
    direction: str
    interrupted: bool = False
    resumed: int = 0  # trials found in the directory when the search started
    best: Trial | None = None
    role: str | None = None  # "chief" or "worker" in a distributed search


def check_installed(backend: str | None = None, tuner: str | None = None) -> None:
    """Fail early, before any work, where keras-tuner is missing, TensorBoard on
    TensorFlow (KerasTuner imports its HParams plugin before every trial there), or
    scikit-learn for `tuner=bayesian` (its Gaussian process; KerasTuner fails without)."""
    import importlib.util

    if importlib.util.find_spec("keras_tuner") is None:
        raise MissingTuner()
    on_tensorflow = (backend or os.environ.get("KERAS_BACKEND") or "tensorflow") == "tensorflow"
    if on_tensorflow and importlib.util.find_spec("tensorboard") is None:
        raise MissingTuner("tensorboard")
    if tuner == "bayesian" and importlib.util.find_spec("sklearn") is None:
        raise MissingTuner("scikit-learn")


def build_default(code: str, origin: str = "<kdsl>", backend: str | None = None):
    """The Keras model a tuner script builds with every hyperparameter at KerasTuner's
    default (a choice's first value, a range's lower end, false): what `kdsl.build` and
    `%%kdsl` give for a program with search spaces."""
    check_installed()
    import_keras(backend)
    import keras_tuner

    return load_script(code, origin)["SearchedModel"]().build(keras_tuner.HyperParameters())


def search(
    code: str,
    model: ir.Model,
    data_path: str,
    directory: str,
    *,
    target: str | None = None,
    test_split: float | None = None,
    validation_split: float | None = None,
    standardize: bool = False,
    seed: int = DEFAULT_SEED,
    origin: str = "<kdsl>",
    backend: str | None = None,
    progress: Callable[[str], None] = print,
    chief: str | None = None,
    worker: str | None = None,
    reader: str | None = None,
) -> TuneResult:
    """Search with the tuner script `code` (from `model`, whose `search` is set) on the
    data at `data_path`, keeping the trials in `directory`. A folder is read by `reader`:
    the plain script `kdsl run` would use for it, rendered from `model` with
    `Mode(data_kind=...)` for images or texts (its `load_data` and `batched`), with
    `Mode(folder_data=True)` for .npy files (its `NpyBatches`)."""
    assert model.search is not None
    check_installed(backend, model.search.tuner)
    role = "chief" if chief else "worker" if worker else None
    address = parse_address(chief or worker) if role else None
    kind = data_kind(data_path)  # a folder of class subfolders: images or text files
    folder = None
    data = None
    # Several inputs or outputs: arrays named after each (`x_train.title`), as for `kdsl run`.
    named = len(model.inputs) > 1 or len(model.outputs) > 1
    if kind is not None:  # checked before Keras's import, as `kdsl run` does
        folder = check_folder(
            data_path, model, kind,
            test_split=test_split, validation_split=validation_split, standardize=standardize,
        )  # fmt: skip
    else:
        data = load(data_path, target, named)  # bad data fails before Keras's import
        if data.on_disk:  # a folder of .npy files: read in batches, never copied
            check_npy_folder_options(
                data_path,
                split=bool(test_split or validation_split),
                standardize=standardize,
                fit_validation_split=bool(model.fit_option("validation_split")),
            )
    keras = import_keras(backend)
    with quiet_native_stderr():
        import keras_tuner

        keras.utils.set_random_seed(seed)
    namespace = load_script(code, origin)
    try:
        built = namespace["SearchedModel"]().build(keras_tuner.HyperParameters())
    except Exception as error:  # Keras found what kdsl's checks could not
        raise ModelError(origin, f"Keras rejected the model: {first_line(error)}") from None
    folder_reader = None
    if kind is not None or (data is not None and data.on_disk):
        # `kdsl run`'s own reader for a folder: the plain script's (Keras's folder readers
        # for images and texts, NpyBatches for .npy files).
        needed = "def read_folder(" if kind is not None else "class NpyBatches"
        if reader is None or needed not in reader:
            raise DataError(
                data_path,
                "is a folder, and no reader for it was given",
                "pass the plain script rendered with Mode(data_kind=...) or "
                "Mode(folder_data=True) as `reader`, as `kdsl tune` does",
            )
        folder_reader = load_script(reader, f"{origin} (its reader)")  # own source lines
    if kind is not None:
        assert folder is not None and folder_reader is not None
        datasets = read_folder_data(
            data_path, model, kind, folder, folder_reader, built,
            validation_split=validation_split, seed=seed, batch_size=None, origin=origin,
            say=progress,
        )  # fmt: skip
        # Unbatched: each trial batches them with its own batch size (`_BatchingModel`).
        arrays: dict = {
            f"{x}_{part}": datasets[f"x_{part}"] if x == "x" else None
            for part in ("train", "val")
            if f"x_{part}" in datasets
            for x in ("x", "y")
        }
    else:
        assert data is not None
        written = [call.written_name for call in model.calls]
        checked = check_data(
            data_path, data, model, built, written,
            test_split=test_split, validation_split=validation_split, standardize=standardize,
            seed=seed,
        )  # fmt: skip
        notes = checked.notes
        if checked.scaling is not None:
            notes.append("note: train the best program with --standardize too")
        for note in filter(None, notes):
            progress(note)
        arrays = group_named(data.arrays) if named else data.arrays
    objective = model.search.objective
    if (
        objective.startswith("val_")
        and "x_val" not in arrays
        and not model.fit_option("validation_split")
    ):
        raise DataError(
            data_path,
            f"the objective {objective} is measured on validation data, and there is none",
            "add x_val/y_val to the data, pass --validation-split 0.2, or tune on `loss`",
        )
    if address is not None:
        host, port = address
        if role == "worker":
            wait_for_chief(host, port, progress)
        os.environ["KERASTUNER_ORACLE_IP"] = host
        os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
        os.environ["KERASTUNER_TUNER_ID"] = (
            "chief" if role == "chief" else f"worker-{socket.gethostname()}-{os.getpid()}"
        )
        if role == "chief":
            progress(f"kdsl: the chief serves trials at {host}:{port} until the workers finish")
    tuner = namespace["make_tuner"](directory, model.search.max_trials, model.search.seed)
    wrap: Callable | None = None  # each trial's model, fed as `kdsl run` feeds it
    if folder_reader is not None:
        wrap = functools.partial(_BatchingModel, reader=folder_reader, kind=kind)
    elif keras.backend.backend() == "tensorflow" and not named:  # arrays in memory
        wrap = functools.partial(_SmallStepsModel, program=model, rows=training_rows(arrays))
    if wrap is not None:
        tuner.hypermodel.fit = _Trial(tuner.hypermodel.fit, wrap)
    options = namespace["search_options"](arrays)
    return _search(tuner, options, arrays, model.search, progress, role)


class _Trial:
    """A trial whose script's `fit(hp, model, x, ...)` gets the trial's model wrapped by
    `wrap`: a model whose own `fit` feeds the data as `kdsl run` would (a folder read in
    batches, `_BatchingModel`; a small model's steps, `_SmallStepsModel`)."""

    def __init__(self, searched_fit: Callable, wrap: Callable) -> None:
        self.searched_fit, self.wrap = searched_fit, wrap

    def __call__(self, hp, model, *args, **kwargs):
        return self.searched_fit(hp, self.wrap(model), *args, **kwargs)


class _BatchingModel:
    """A Keras model whose `fit` batches as `kdsl run`'s script does: a folder of images
    or texts (`kind`) is given as unbatched datasets, batched by the script's `batched`,
    after a first textvectorization is adapted to the training texts (each trial builds
    a new one); memory-mapped .npy arrays are read by its `NpyBatches`."""

    def __init__(self, model, reader: dict, kind: str | None) -> None:
        self.model, self.reader, self.kind = model, reader, kind

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def fit(self, x, y=None, *, batch_size=None, validation_data=None, shuffle=True, **options):
        size = batch_size or self.reader["BATCH_SIZE"]
        if self.kind is None:  # .npy files: NpyBatches shuffle their own rows, in blocks
            data = {"x_train": x, "y_train": y}
            x_train, y_train = self.reader["batches"](data, "train", size, shuffle=shuffle)
            if validation_data is not None:
                data["x_val"], data["y_val"] = validation_data
                options["validation_data"] = self.reader["batches"](data, "val", size)
            return self.model.fit(x_train, y_train, shuffle=False, **options)
        data = {"x_train": x}
        if validation_data is not None:
            data["x_val"] = validation_data[0]
        batches = self.reader["batched"](data, size)
        if self.kind == "text":
            with contextlib.redirect_stdout(io.StringIO()):  # its "Adapted ..." line
                self.reader["adapt_text_layer"](
                    self.model, batches["x_train"].map(lambda text, label: text)
                )
        if "x_val" in batches:
            options["validation_data"] = batches["x_val"]
        # The datasets shuffle themselves (Keras's folder readers): fit cannot.
        return self.model.fit(batches["x_train"], shuffle=False, **options)


class _SmallStepsModel:
    """A Keras model whose `fit` trains as `kdsl run` trains: a small model runs several
    steps per call, for the trial's batch size (searched or not), on an epoch of Keras's
    batches replayed every epoch (`kdsl.train.replay`). The same steps on the same
    batches: the same weights, the same score."""

    def __init__(self, model, program: ir.Model, rows: int) -> None:
        self.model, self.program, self.rows = model, program, rows

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def fit(self, *args, batch_size=None, **options):
        steps = small_model_steps_per_execution(
            self.program, self.model, self.rows, batch_size or KERAS_BATCH_SIZE,
            backend="tensorflow", in_memory=True,
        )  # fmt: skip
        if steps == 1:
            return self.model.fit(*args, batch_size=batch_size, **options)
        from kdsl.train.replay import epochs_replayed  # imports TensorFlow

        self.model.steps_per_execution = steps
        with epochs_replayed(self.model):
            return self.model.fit(*args, batch_size=batch_size, **options)


# `fit`'s batch size when none is given.
KERAS_BATCH_SIZE = 32

# Seconds a worker waits for its chief to answer before saying it is missing.
CHIEF_WAIT_SECONDS = 120.0


def parse_address(text: str | None) -> tuple[str, int]:
    """`HOST:PORT` → (host, port), or an error naming what is wrong."""
    host, colon, port = (text or "").rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KdslError(
            f"{text!r} is not an address: give the chief's HOST:PORT, e.g. 10.0.0.1:8000 "
            "(a port from 1 to 65535)"
        )
    return host.strip("[]"), int(port)


def wait_for_chief(host: str, port: int, progress, seconds: float | None = None) -> None:
    """Wait until the chief's port answers; a clear error if it never does (KerasTuner
    itself would wait an hour)."""
    deadline = time.monotonic() + (CHIEF_WAIT_SECONDS if seconds is None else seconds)
    said = False
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise KdslError(
                    f"no chief answers at {host}:{port} ({error.strerror or error}): start "
                    f"`kdsl tune FILE --chief {host}:{port}` there first, or check the address"
                ) from None
            if not said:
                progress(f"kdsl: waiting for the chief at {host}:{port}")
                said = True
            time.sleep(0.2)


class _StopSearch(Exception):
    """Raised after a worker's trial once Ctrl-C was pressed: its search loop ends."""


def _last_error(error: RuntimeError) -> str:
    """The failing trial's own error, which KerasTuner appends as a traceback's last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else first_line(error)


def _search(
    tuner, options: dict, arrays: dict, settings: ir.Search, progress, role: str | None = None
) -> TuneResult:
    """`tuner.search`, with a line per trial and Ctrl-C stopping after the current one.
    A worker (`role`) asks the chief for trials; the chief only serves them."""
    oracle = tuner.oracle
    # Each worker keeps its trials' times in a file of its own, the chief reads them all.
    own = "" if role != "worker" else "." + os.environ.get("KERASTUNER_TUNER_ID", "")
    times_path = Path(tuner.project_dir) / f"{TIMES_FILE}{own}"
    times, ran = _read_times(Path(tuner.project_dir))
    local = role != "worker"  # the oracle is here, with every trial
    resumed = (
        sum(1 for trial in oracle.trials.values() if trial.status == "COMPLETED") if local else 0
    )
    mine: list[Trial] = []  # a worker's own trials
    if resumed:
        progress(f"kdsl: resuming the search in {tuner.project_dir}: {resumed} trials done")
    started: dict[str, float] = {}
    epochs = _epoch_counter()
    options = {**options, "callbacks": [*options.get("callbacks", []), epochs()]}
    state = {"interrupted": False}
    begin, end = tuner.on_trial_begin, tuner.on_trial_end

    def on_trial_begin(trial) -> None:
        started[trial.trial_id] = time.perf_counter()
        epochs.count = 0
        begin(trial)

    def on_trial_end(trial) -> None:
        end(trial)
        seconds = time.perf_counter() - started.get(trial.trial_id, time.perf_counter())
        times[trial.trial_id] = seconds
        ran[trial.trial_id] = epochs.count // max(1, settings.executions_per_trial)
        write_atomic(times_path, json.dumps({"seconds": times, "epochs": ran}) + "\n")
        if not local:  # the chief scored it
            trial = oracle.get_trial(trial.trial_id)
        row = _row(trial, _trial_number(trial), seconds, ran.get(trial.trial_id))
        mine.append(row)
        best = oracle.get_best_trials(1)
        best_score = best[0].score if best else None
        plural = "" if row.epochs == 1 else "s"
        progress(
            f"kdsl: trial {_trial_number(trial)}: {settings.objective} {_show(row.score)} "
            f"({row.epochs} epoch{plural}, {seconds:.1f} s); best so far {_show(best_score)}; "
            + _values_text(row.values)
        )
        if state["interrupted"] and not local:
            raise _StopSearch

    def on_interrupt(signum, frame) -> None:
        if state["interrupted"]:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        state["interrupted"] = True
        if local:  # no trial after the current one (the chief: after those running)
            oracle.max_trials = max(1, len(oracle.trials))
        print(
            "\nkdsl: stopping after this trial (press Ctrl-C again to abort)",
            file=sys.stderr,
            flush=True,
        )

    tuner.on_trial_begin, tuner.on_trial_end = on_trial_begin, on_trial_end
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with heap_set_aside():
            if role == "chief":
                serve_trials(tuner)
            else:
                tuner.search(arrays["x_train"], arrays["y_train"], verbose=0, **options)
    except _StopSearch:
        tuner.on_search_end()
    except (ValueError, TypeError) as error:
        raise ModelError("<kdsl>", f"a trial failed: {first_line(error)}") from None
    except RuntimeError as error:  # KerasTuner gives up after failed trials in a row
        raise ModelError("<kdsl>", f"trials failed: {_last_error(error)}") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    trials = mine
    if local:
        times, ran = _read_times(Path(tuner.project_dir))
        trials = [
            _row(trial, _trial_number(trial), times.get(trial.trial_id), ran.get(trial.trial_id))
            for trial in sorted(oracle.trials.values(), key=lambda t: t.trial_id)
        ]
    done = [t for t in trials if t.score is not None and t.status == "COMPLETED"]
    failed = [t for t in oracle.trials.values() if str(t.status) == "FAILED"] if local else []
    if not done and failed and not state["interrupted"]:  # not one trial scored
        reason = _last_error(RuntimeError(failed[-1].message or ""))
        hint = None
        if f"KeyError: '{settings.objective}'" in reason:
            hint = (
                f"Keras logged no `{settings.objective}`: tune on what fit logs (the loss "
                "or a metric the output has, e.g. `val_loss`)"
            )
        raise ModelError("<kdsl>", f"every trial failed: {reason}", hint)
    best = None
    if done:
        pick = max if settings.direction == "max" else min
        best = pick(done, key=lambda t: t.score)  # type: ignore[arg-type, return-value]
    return TuneResult(
        trials=trials,
        objective=settings.objective,
        direction=settings.direction,
        interrupted=state["interrupted"],
        resumed=resumed,
        best=best,
        role=role,
    )


# How often the chief looks whether the search is over: KerasTuner's own loop looks every
# second, then, once a worker has been told to stop, every 20 s until the others are
# done (a chief lingered up to 20 s after its last worker).
CHIEF_POLL_SECONDS = 0.2


def serve_trials(tuner) -> None:
    """What KerasTuner's chief does in `tuner.search` (`oracle_chief.start_server`):
    serve the oracle to the workers until every trial has ended and every worker has
    been told to stop, looking every CHIEF_POLL_SECONDS. With a KerasTuner laid out
    otherwise, its own `search`."""
    try:
        import grpc  # type: ignore[import-untyped]
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief
    except ImportError:
        tuner.search(verbose=0)
        return
    from concurrent import futures

    tuner.oracle.verbose = 0  # as `search(verbose=0)` sets it
    tuner.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(tuner.oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server.add_insecure_port(address)
    server.start()
    try:
        while not (servicer.stop_triggered and exit_chief(tuner.oracle)):
            time.sleep(CHIEF_POLL_SECONDS)
    finally:
        server.stop(0)


def _epoch_counter():
    """A callback class counting the epochs a trial trains. KerasTuner gives each trial
    a deep copy of the callbacks, so the count is kept on the class."""
    import keras

    class EpochCounter(keras.callbacks.Callback):
        count = 0

        def on_epoch_end(self, epoch, logs=None) -> None:
            type(self).count += 1

    return EpochCounter


def _row(trial, number: int, seconds: float | None, epochs: int | None) -> Trial:
    hyperparameters = trial.hyperparameters
    values = {
        name: value
        for name, value in hyperparameters.values.items()
        if hyperparameters.is_active(name)
    }
    score = trial.score
    return Trial(
        number=number,
        values=values,
        score=float(score) if score is not None and math.isfinite(score) else None,
        epochs=epochs,
        seconds=seconds,
        status=str(trial.status),
    )


def _trial_number(trial) -> int:
    return int(trial.trial_id) + 1


def _read_times(directory: Path) -> tuple[dict[str, float], dict[str, int]]:
    """The seconds and epochs of the trials kept in the search's directory (this run's,
    an earlier run's, the workers')."""
    seconds: dict[str, float] = {}
    epochs: dict[str, int] = {}
    for path in sorted(directory.glob(f"{TIMES_FILE}*")):
        try:
            kept = json.loads(path.read_text())
            seconds |= {str(k): float(v) for k, v in kept["seconds"].items()}
            epochs |= {str(k): int(v) for k, v in kept["epochs"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # a file cut short: those trials show no time
    return seconds, epochs


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _values_text(values: dict) -> str:
    return ", ".join(f"{name}={_value(value)}" for name, value in values.items())


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(result: TuneResult) -> str:
    """The trials, best first on the objective; a row per trial."""
    names: list[str] = []
    for trial in result.trials:
        names += [name for name in trial.values if name not in names]
    header = ["trial", *names, result.objective, "epochs", "time"]
    order = sorted(
        result.trials,
        key=lambda t: (
            t.score is None,
            -(t.score or 0) if result.direction == "max" else (t.score or 0),
        ),
    )
    rows = [
        [
            str(t.number),
            *(_value(t.values[name]) if name in t.values else "" for name in names),
            _show(t.score),
            "-" if t.epochs is None else str(t.epochs),
            "-" if t.seconds is None else f"{t.seconds:.1f} s",
        ]
        for t in order
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def report(result: TuneResult, program: str, best_program: str | None) -> dict:
    """What `--json` writes: every trial, the best, where the best program went."""
    return {
        "model": program,
        "objective": result.objective,
        "direction": result.direction,
        "interrupted": result.interrupted,
        "trials": [
            {
                "trial": t.number,
                "values": t.values,
                "score": t.score,
                "epochs": t.epochs,
                "seconds": None if t.seconds is None else round(t.seconds, 3),
                "status": t.status,
            }
            for t in result.trials
        ],
        "best": None if result.best is None else result.best.values,
        "best_score": None if result.best is None else result.best.score,
        "best_program": best_program,
    }


def plot(result: TuneResult, path: str, title: str) -> None:
    """The objective per trial, and the best so far."""
    import io

    from matplotlib.figure import Figure

    from kdsl.train.plot import DPI, PANEL_INCHES

    figure = Figure(figsize=PANEL_INCHES, dpi=DPI, layout="constrained")
    ax = figure.subplots()
    scored = [(t.number, t.score) for t in result.trials if t.score is not None]
    if scored:
        numbers, scores = zip(*scored, strict=True)
        ax.plot(numbers, scores, "o", label="trial")
        pick = max if result.direction == "max" else min
        best = [pick(scores[: i + 1]) for i in range(len(scores))]
        ax.step(numbers, best, where="post", label="best so far")
        ax.legend()
    ax.set_xlabel("trial")
    ax.set_ylabel(result.objective)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    write_atomic(path, buffer.getvalue())
