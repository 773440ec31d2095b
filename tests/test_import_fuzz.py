"""`kdsl import` on malformed model files: a clean error naming the file, never a crash.

Real configs (small Keras models, `to_json()` and a `.keras` save) are mutated
systematically (every value in turn replaced by a value of another kind, or deleted) and
at random (several mutations at once, with a fixed seed); the bytes of a `.keras` zip
are mutated too. Each input is imported in-process: the outcome must be a program or a
`KdslError` that names the file, never another exception (exit 70, "a bug in kdsl").
"""

from __future__ import annotations

import copy
import json
import random
import traceback
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kdsl.errors import KdslError
from kdsl.tools.importer import import_config, import_model
from kdsl.train.runner import import_keras

keras = import_keras()
L = keras.layers

# Values of every JSON kind, and the edge cases of each: what a config may hold instead of
# what Keras writes.
REPLACEMENTS: list[Any] = [
    [],
    {},
    0,
    -1,
    2.5,
    "",
    "x",
    "relu",
    None,
    True,
    10**5000,
    2**70,
    float("nan"),
    float("inf"),
    [1, None],
    {"class_name": "Dense"},
    {"class_name": ["X"], "config": 3},
    {"class_name": "function", "config": "f"},
    "x" * 10_000,
]
DELETE = object()


def small_models() -> list:
    """Models that between them have what configs hold: nested objects (initializers,
    regularizers, dtype policies), wrappers, a compile config with objects and strings."""

    def model(*layers, shape=(8,), **compile_args):
        keras.backend.clear_session()
        built = keras.Sequential([keras.Input(shape), *layers])
        if compile_args:
            built.compile(**compile_args)
        return built

    return [
        model(
            L.Dense(4, "relu", kernel_initializer="he_normal", kernel_regularizer="l2"),
            L.Dropout(0.2),
            L.Dense(3, "softmax", name="out"),
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss="categorical_crossentropy",
            metrics=["accuracy", keras.metrics.AUC()],
        ),
        model(
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.TimeDistributed(L.Dense(2)),
            L.Conv1D(2, 3, padding="same"),
            L.GlobalMaxPooling1D(),
            shape=(5, 3),
            optimizer="adam",
            loss=keras.losses.Huber(),
        ),
        model(L.Embedding(10, 4), L.Flatten(), L.Dense(1, "sigmoid"), shape=(6,)),
        *functional_models(),
    ]


def functional_models() -> list:
    """Graphs: a residual, two inputs and outputs with a loss per output, attention, a
    shared layer and a nested model."""
    keras.backend.clear_session()
    a, b = keras.Input((8,), name="a"), keras.Input((4, 8), name="b")
    x = L.Add()([a, L.Dense(8, activation="relu")(a)])
    shared = L.Dense(8, name="shared")
    y = L.MultiHeadAttention(2, 4)(b, b)
    y = L.GlobalAveragePooling1D()(L.LayerNormalization()(L.Add()([b, y])))
    tower = keras.Sequential([keras.Input((8,)), L.Dense(8)], name="tower")
    z = L.Concatenate()([shared(x), shared(tower(y))])
    first = L.Dense(1, activation="sigmoid", name="first")(z)
    second = L.Dense(3, activation="softmax", name="second")(z)
    graph = keras.Model([a, b], [first, second])
    graph.compile(
        optimizer="adam",
        loss={"first": "binary_crossentropy", "second": "categorical_crossentropy"},
        loss_weights={"first": 1.0, "second": 0.5},
        metrics={"second": ["accuracy"]},
    )
    return [graph]


@pytest.fixture(scope="module")
def configs() -> list[dict]:
    return [json.loads(built.to_json()) for built in small_models()]


def outcome(run: Callable[[], str], origin: str) -> str | None:
    """None for a program or a kdsl error naming `origin`; else what went wrong."""
    try:
        run()
    except KdslError as error:
        if not error.render().startswith(f"{origin}: error: "):
            return f"an error that does not name the file: {error.render()[:200]}"
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)[-2:]
        where = " < ".join(f"{frame.name}:{frame.lineno}" for frame in reversed(frames))
        return f"{type(error).__name__} at {where}: {str(error)[:200]}"
    return None


def places(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every value in a config, the config itself included."""
    yield path
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from places(item, (*path, key))


def mutated(config: dict, path: tuple, replacement: Any) -> Any:
    """A copy of `config` with the value at `path` replaced (or deleted: DELETE)."""
    if not path:
        return copy.deepcopy(replacement)
    copied = copy.deepcopy(config)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    if replacement is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(replacement)
    return copied


def import_each(inputs: Iterator[Any]) -> tuple[int, list[str]]:
    """Import each config in-process: (how many, the failures with their inputs)."""
    failures: list[str] = []
    count = 0
    for config in inputs:
        count += 1
        problem = outcome(lambda config=config: import_config(config, "m.json"), "m.json")
        if problem:
            failures.append(f"{problem}\n  input: {json.dumps(config)[:300]}")
    return count, failures


def test_every_value_replaced_or_deleted(configs: list[dict]) -> None:
    """Each value of each config, in turn, replaced by another kind of value (cycling
    through REPLACEMENTS) and deleted."""

    def inputs() -> Iterator[Any]:
        turn = 0
        for config in configs:
            for path in places(config):
                turn += 1
                yield mutated(config, path, REPLACEMENTS[turn % len(REPLACEMENTS)])
                if path and isinstance(path[-1], str) and turn % 3 == 0:
                    yield mutated(config, path, DELETE)

    count, failures = import_each(inputs())
    assert count > 700
    assert not failures, f"{len(failures)} of {count} inputs crashed:\n" + "\n".join(failures[:5])


def test_random_mutations(configs: list[dict]) -> None:
    """Several mutations at once: replaced values, deleted keys, values moved elsewhere in
    the config (a layer where an initializer goes), keys added."""
    rng = random.Random(11)

    def mutate(config: dict) -> Any:
        for _ in range(rng.randint(1, 4)):
            paths = list(places(config))[1:]
            path = rng.choice(paths)
            choice = rng.random()
            if choice < 0.5:
                config = mutated(config, path, rng.choice(REPLACEMENTS))
            elif choice < 0.7 and isinstance(path[-1], str):
                config = mutated(config, path, DELETE)
            elif choice < 0.9:
                donor = mutated(config, (), config)
                for key in rng.choice(paths):
                    donor = donor[key]
                config = mutated(config, path, donor)
            elif isinstance(path[-1], str):  # a key added beside this one, or replaced
                key = rng.choice(["name", "class_name", "config", "module", "dtype", "layer"])
                config = mutated(config, (*path[:-1], key), rng.choice(REPLACEMENTS))
        return config

    count, failures = import_each(mutate(rng.choice(configs)) for _ in range(250))
    assert not failures, f"{len(failures)} of {count} inputs crashed:\n" + "\n".join(failures[:5])


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory) -> list[bytes]:
    """A `.keras` save as Keras writes it (members stored) and with deflated members."""
    folder = tmp_path_factory.mktemp("fuzz")
    saved = folder / "model.keras"
    small_models()[0].save(saved)
    deflated = folder / "deflated.keras"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(deflated, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    return [saved.read_bytes(), deflated.read_bytes()]


def zip_mutations(data: bytes, rng: random.Random) -> bytes:
    """Bytes overwritten, the file cut short, or a field of a zip header changed (flags,
    compression method, sizes, name lengths)."""
    mutant = bytearray(data)
    choice = rng.random()
    if choice < 0.3:
        for _ in range(rng.randint(1, 8)):
            mutant[rng.randrange(len(mutant))] = rng.randrange(256)
    elif choice < 0.45:
        mutant = mutant[: rng.randrange(len(mutant))]
    else:  # (signature, offsets of its fields) for local and central-directory headers
        headers = ((b"PK\x03\x04", (6, 8, 18, 22, 26, 28)), (b"PK\x01\x02", (8, 10, 20, 24, 28)))
        for signature, fields in headers:
            at = mutant.find(signature)
            while at >= 0:
                if rng.random() < 0.4:
                    offset = at + rng.choice(fields)
                    mutant[offset : offset + 2] = rng.choice([1, 9, 99, 255, 65535]).to_bytes(
                        2, "little"
                    )
                at = mutant.find(signature, at + 1)
    return bytes(mutant)


def test_mutated_keras_files(keras_files: list[bytes], tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "model.keras"
    failures = []
    for _ in range(150):
        path.write_bytes(zip_mutations(rng.choice(keras_files), rng))
        problem = outcome(lambda: import_model(path), str(path))
        if problem:
            failures.append(problem)
    assert not failures, "\n".join(failures[:5])
