"""`kdsl import`: saved Keras models back to kdsl text, checked by real round trips.

Every example and golden program is built with Keras, saved (`.keras` and `to_json()`),
imported, and built again: every layer's `get_config()`, the build config and the
compile config must be identical, and importing the rebuilt model must give the same
text (a fixed point). Hand-built Keras models cover what kdsl itself never writes.
"""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from conftest import kdsl_main, run_kdsl
from golden_cases import case_id, kind_programs, programs

import kdsl
from kdsl.errors import KdslError
from kdsl.semantics.catalog import keras_snake_case, load
from kdsl.tools import importer
from kdsl.tools.importer import (
    MAX_CONFIG_BYTES,
    NESTED,
    ZERO_BASED_FACTORS,
    _Importer,
    built_inside,
    import_config,
)
from kdsl.train.runner import import_keras, load_script

keras = import_keras()
L = keras.layers
CATALOG = load()
global_state = keras.src.backend.common.global_state
# The automatic-name counters of layer classes: every class kdsl writes or one builds.
LAYER_STEMS = {keras_snake_case(e.class_name) for e in CATALOG.layers.values()} | {
    "input_layer",
    "random_saturation",
    "random_hue",
}


def build(text: str):
    """The model a program builds, in a fresh session so automatic names restart.

    `free_memory=False`: a full garbage collection with TensorFlow loaded costs 0.3-1.3 s
    a build, most of this module's time; Python's own collector still runs as usual.

    The constructor style: Keras 3.15's `Sequential.add(Equalization())` fails (see
    test_kinds.py), and both styles build the same model.
    """
    keras.backend.clear_session(free_memory=False)
    return load_script(kdsl.compile(text, style="constructor"))["build_model"]()


def compiled(model, part: str):
    """The optimizer, loss or metrics a model was compiled with, as Keras objects' configs,
    so a string shorthand (`"mse"`) and the object it stands for compare equal. (Strings
    are imported as written, so they compare as strings in the fixed-point check.)"""
    if part == "optimizer":
        return model.optimizer.get_config()
    config = model.get_compile_config()[part]
    module, table, aliases = (
        (keras.losses, CATALOG.losses, CATALOG.loss_aliases)
        if part == "loss"
        else (keras.metrics, CATALOG.metrics, CATALOG.metric_aliases)
    )

    def resolve(value):
        if value is None:
            return None
        if isinstance(value, str):
            value = getattr(module, table[aliases.get(value, value)].class_name)()
        else:
            value = module.deserialize(value)
        # Names aside: a new object gets a fresh automatic one (`auc_1`).
        return type(value).__name__, value.get_config() | {"name": None}

    return [resolve(v) for v in config] if isinstance(config, list) else resolve(config)


def assert_same_model(original, rebuilt) -> None:
    assert len(original.layers) == len(rebuilt.layers)
    for before, after in zip(original.layers, rebuilt.layers, strict=True):
        assert before.get_config() == after.get_config(), before.name
    assert original.get_build_config() == rebuilt.get_build_config()
    for part in ("optimizer", "loss", "metrics"):
        assert compiled(original, part) == compiled(rebuilt, part), part


def keras_name_counts() -> dict[str, int]:
    """How many unnamed layers of each class Keras named in this session."""
    counts = global_state.get_global_attribute("object_name_uids") or {}
    return {stem: counts.get(stem, 0) for stem in LAYER_STEMS if counts.get(stem, 0)}


def imported_name_counts(config: str) -> dict[str, int]:
    """The same, as the importer reckons the rebuilt script names them."""
    importer = _Importer("m.json")
    importer.model(json.loads(config))
    return {stem: count for stem, count in importer.auto_names.counts.items() if count}


def round_trip(program: Path, tmp_path: Path) -> None:
    original = build(program.read_text())
    made = keras_name_counts()
    assert imported_name_counts(original.to_json()) == made, "Keras counts layers otherwise"
    saved = tmp_path / "model.keras"
    original.save(saved)
    text = kdsl.import_model(saved)
    assert kdsl.import_model(original.to_json()) == text
    assert [d for d in kdsl.check(text) if d.severity == "error"] == [], text
    rebuilt = build(text)
    assert_same_model(original, rebuilt)
    assert kdsl.import_model(rebuilt.to_json()) == text, "import is not a fixed point"


@pytest.mark.parametrize("program", programs(), ids=case_id)
def test_round_trip(program: Path, tmp_path: Path) -> None:
    round_trip(program, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("program", kind_programs(), ids=case_id)
def test_round_trip_every_kind(program: Path, tmp_path: Path) -> None:
    round_trip(program, tmp_path)


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (
            "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy",
            "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy\n",
        ),
        (
            "input 28x28x1 -> conv2d 32 (3, 3) activation=relu -> maxpooling2d pool_size=2 "
            "-> globalaveragepooling2d -> dense 10 softmax; optimizer adam learning_rate=0.01; "
            "loss sparse_categorical_crossentropy; metrics accuracy",
            "conv2d 32 3 relu in 28x28x1\n  -> maxpool2d\n  -> gap2d\n  -> dense 10 softmax;\n"
            "adam 0.01;\nsparse_categorical_crossentropy\n",
        ),
    ],
)
def test_canonical_text(program: str, expected: str) -> None:
    """Aliases, positional arguments, defaults left out, kdsl's default metric left out."""
    assert kdsl.import_model(build(program).to_json()) == expected


def keras_model(*layers, compile_args=None):
    keras.backend.clear_session(free_memory=False)
    model = keras.Sequential([keras.Input((8,)), *layers])
    if compile_args is not None:
        model.compile(**compile_args)
    return model


def test_a_keras_model_written_by_hand() -> None:
    """Names are kept but for those the rebuilt model gives anyway (`dropout`); objects
    with default arguments become their names; a float32 learning rate is written as the
    number it was."""
    model = keras_model(
        L.Dense(
            4,
            activation="relu",
            name="hidden",
            kernel_initializer=keras.initializers.HeNormal(),
            kernel_regularizer=keras.regularizers.L2(),
        ),
        L.Dropout(0.5),
        L.Dense(1, name="dense_9"),
        compile_args={
            "optimizer": keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
            "loss": keras.losses.Huber(),
            "metrics": ["mae", keras.metrics.AUC(num_thresholds=100)],
        },
    )
    text = kdsl.import_model(model.to_json())
    assert text == (
        "dense 4 relu kernel_initializer=he_normal kernel_regularizer=l2 name=hidden in 8\n"
        "  -> dropout 0.5\n"
        "  -> dense 1 name=dense_9;\n"
        "sgd 0.1 momentum=0.9;\n"
        "huber;\n"
        "metrics mae, auc num_thresholds=100\n"
    )
    rebuilt = build(text)
    assert [layer.name for layer in rebuilt.layers] == ["hidden", "dropout", "dense_9"]
    for before, after in zip(model.layers, rebuilt.layers, strict=True):
        assert before.get_config() == after.get_config()
    for part in ("optimizer", "loss", "metrics"):
        assert compiled(model, part) == compiled(rebuilt, part), part


def test_notes_for_what_kdsl_adds_or_lacks() -> None:
    uncompiled = kdsl.import_model(keras_model(L.Dense(1)).to_json())
    assert uncompiled.startswith("# note: the model was saved without compile()")
    assert uncompiled.endswith("dense 1 in 8\n")
    no_metrics = keras_model(
        L.Dense(1, activation="sigmoid"),
        compile_args={"optimizer": "adam", "loss": "binary_crossentropy"},
    )
    text = kdsl.import_model(no_metrics.to_json())
    assert "binary_crossentropy; metrics none" in text
    assert build(text).get_compile_config()["metrics"] in (None, [])


def test_objects_with_arguments_round_trip() -> None:
    """What v1 refused to import (issue 14): initializers, regularizers and constraints
    with arguments, a learning-rate schedule, no metrics under a cross-entropy loss."""
    # The optimizer, made first, gets the name `adam`.
    keras.backend.clear_session(free_memory=False)
    model = keras_model(
        L.Dense(
            4,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001, seed=1),
            kernel_regularizer=keras.regularizers.L1L2(l1=0.1, l2=0.01),
            bias_regularizer=keras.regularizers.L2(0.001),
            kernel_constraint=keras.constraints.MaxNorm(3),
            bias_initializer=keras.initializers.Constant(0.25),
        ),
        L.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.HeNormal(seed=7)),
        compile_args={
            "optimizer": keras.optimizers.Adam(
                keras.optimizers.schedules.ExponentialDecay(0.01, 1000, 0.9)
            ),
            "loss": "binary_crossentropy",
        },
    )
    text = kdsl.import_model(model.to_json())
    for written in (
        "kernel_initializer=random_normal(stddev=0.001, seed=1)",
        "kernel_regularizer=l1_l2(l1=0.1, l2=0.01)",
        "bias_regularizer=l2(l2=0.001)",
        "kernel_constraint=max_norm(max_value=3)",
        "bias_initializer=constant(value=0.25)",
        "kernel_initializer=he_normal(seed=7)",
        "adam exponential_decay(initial_learning_rate=0.01, decay_steps=1000, decay_rate=0.9)",
        "metrics none",
    ):
        assert written in text, text
    rebuilt = build(text)
    assert_same_model(model, rebuilt)
    assert kdsl.import_model(rebuilt.to_json()) == text, "import is not a fixed point"


def import_error(config) -> str:
    with pytest.raises(KdslError) as caught:
        import_config(json.loads(config) if isinstance(config, str) else config, "m.json")
    return caught.value.render()


@keras.saving.register_keras_serializable(package="tests")
class Twice(L.Layer):
    def call(self, x):
        return 2 * x


def double(x):
    return 2 * x


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: keras_model(L.Lambda(double, name="double")),
            "layer `double` (Lambda) is a Lambda layer, which kdsl refuses",
        ),
        (
            lambda: keras_model(L.Dense(1, activation=double, name="out")),
            "layer `out` (Dense) holds the Python function `double`, which kdsl refuses",
        ),
        (lambda: keras_model(Twice(name="twice")), "layer `twice` (Twice) is a class from"),
        (
            lambda: keras_model(keras.Sequential([L.Dense(2)], name="inner")),
            "nests a model in layer `inner` (Sequential)",
        ),
        (
            lambda: keras.Sequential(
                [
                    keras.Input((5, 3)),
                    L.Bidirectional(L.LSTM(4), backward_layer=L.GRU(4, go_backwards=True)),
                ]
            ),
            "has its own backward layer, which kdsl cannot write",
        ),
        (
            lambda: keras_model(
                L.Dense(1), compile_args={"optimizer": "adam", "loss": "mse", "metrics": {"a": 1}}
            ),
            "has metrics per output (a dict)",
        ),
        (
            lambda: keras.Model(inputs := keras.Input((4,)), L.Dense(2)(inputs) + 1.0),
            "applies `keras.ops.add` at `add`, an operation on tensors",
        ),
    ],
    ids=[
        "lambda",
        "function",
        "custom",
        "nested",
        "backward",
        "dict_metrics",
        "operation",
    ],
)
def test_what_kdsl_cannot_write_is_refused(make, message: str) -> None:
    text = import_error(make().to_json())
    assert text.startswith("m.json: error: ")
    assert message in text


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[1, 2]", "is not a Keras model config: expected a JSON object with `class_name`, "
         "found a list"),
        ('{"a": 1}', "found an object with keys a"),
        ('{"class_name": "Sequential", "config": {}}', "the Sequential model has no layer list"),
        ('{"class_name": "Sequential", "config": {"layers": []}}', "has no input shape"),
    ],
)  # fmt: skip
def test_json_that_is_not_a_model(config: str, message: str) -> None:
    assert message in import_error(config)


def test_saved_lambda_is_refused_without_running_it(tmp_path: Path) -> None:
    """The file's config is only read: a Lambda's code is never deserialized."""
    model = keras_model(L.Lambda(lambda x: x * 2, name="times_two"))
    path = tmp_path / "lambda.keras"
    model.save(path)
    result = run_kdsl("import", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}: error: layer `times_two` (Lambda) is a Lambda layer" in result.stderr


@pytest.fixture(scope="module")
def saved_iris(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "iris.keras"
    build((Path(__file__).parent.parent / "examples" / "iris.k").read_text()).save(path)
    return path


def test_cli_import(saved_iris: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """In this process: what is tested is the command's output, not the process (that
    importing needs no TensorFlow is test_import_graph.py's test, in a fresh one)."""
    expected = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy\n"
    assert kdsl_main(["import", saved_iris], capsys) == (0, expected, "")
    out = tmp_path / "iris.k"
    assert kdsl_main(["import", saved_iris, "-o", out], capsys)[:2] == (0, "")
    assert out.read_text() == expected
    config = zipfile.ZipFile(saved_iris).read("config.json")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(config)))
    assert kdsl_main(["import", "-"], capsys)[:2] == (0, expected)


def test_cli_refuses_to_overwrite_the_model(saved_iris: Path, capsys) -> None:
    before = saved_iris.read_bytes()
    code, out, err = kdsl_main(["import", str(saved_iris), "-o", str(saved_iris)], capsys)
    assert (code, out) == (1, "")
    assert "is the model to import: refusing to overwrite it" in err
    assert saved_iris.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.keras", None, "missing.keras: error: no such file"),
        ("text.keras", b"dense 3", "is not a Keras model file: expected a zip archive"),
        ("empty.keras", "zip", "is not a Keras model file: the zip has no config.json"),
        ("bad.json", b"{not json", "is neither a .keras file nor JSON"),
        ("binary.json", b"\xff\xfe\x00", "is neither a .keras file nor JSON"),
        ("list.json", b"[]", "is not a Keras model config"),
    ],
)
def test_cli_bad_files(name: str, content, message: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / name
    if content == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", "{}")
    elif content is not None:
        path.write_bytes(content)
    code, out, err = kdsl_main(["import", str(path)], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}: error: ")
    assert message in err
    assert "Traceback" not in err


def test_nested_objects_match_keras() -> None:
    """The initializers, regularizers and constraints kdsl writes by name are Keras's,
    with the default arguments Keras gives them."""
    for family, table in NESTED.items():
        module = getattr(keras, family)
        for class_name, (name, defaults) in table.items():
            serialized = keras.saving.serialize_keras_object(module.get(name))
            assert serialized["class_name"] == class_name, name
            assert serialized["config"] == defaults, name


def test_zero_based_factors_match_keras() -> None:
    """A one-number `factor` means (0, x) exactly in the layers kdsl lists."""
    for key, entry in CATALOG.layers.items():
        if entry.param("factor") is None:
            continue
        bounds = getattr(getattr(L, entry.class_name), "_FACTOR_BOUNDS", (-1, 1))
        assert (key in ZERO_BASED_FACTORS) == (tuple(bounds) == (0, 1)), key


def stored_zip(path: Path, config: bytes, method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("config.json", config)
    return path


def patched_headers(path: Path, offsets: tuple[int, int], value: int) -> Path:
    """The zip with a 2-byte field changed in its local and central-directory headers
    (at `offsets` from each): a flag or the compression method."""
    data = bytearray(path.read_bytes())
    for signature, offset in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets, strict=True):
        at = data.index(signature) + offset
        data[at : at + 2] = value.to_bytes(2, "little")
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "expected a zip archive (.keras)"),
        (lambda p: stored_zip(p, b"{not json"), "its config.json is not JSON"),
        (lambda p: stored_zip(p, b'\xff{"a": 1}'), "its config.json is not JSON: 'utf-8' codec"),
        (
            lambda p: patched_headers(stored_zip(p, b"{}"), (8, 10), 99),
            "its config.json is compressed with method 99 (AES encryption), which kdsl cannot read",
        ),
        (
            lambda p: patched_headers(stored_zip(p, b"{}"), (8, 10), 93),
            "compressed with method 93 (zstandard)",
        ),
        (
            lambda p: patched_headers(stored_zip(p, b"{}"), (6, 8), 1),
            "its config.json is encrypted",
        ),
        (
            lambda p: p.write_bytes(
                stored_zip(p, b"{}" * 500, zipfile.ZIP_DEFLATED).read_bytes().replace(b"}", b"?")
            ),
            "is a damaged zip archive",
        ),
        (
            lambda p: stored_zip(p, b'{"class_name": "Sequential", "x": 1' + b"0" * 5000 + b"}"),
            "holds a number of more than 4,300 digits",
        ),
        (lambda p: stored_zip(p, b"[" * 100_000), "nests too deeply to import"),
    ],
    ids=[
        "not_a_zip",
        "not_json",
        "not_utf8",
        "aes",
        "zstandard",
        "encrypted",
        "damaged",
        "huge_int",
        "deep",
    ],
)
def test_cli_malformed_keras_files(make, message: str, tmp_path: Path, capsys) -> None:
    """Each is a clean error (exit 1) naming the file and what is wrong."""
    path = tmp_path / "model.keras"
    make(path)
    code, out, err = kdsl_main(["import", path], capsys)
    assert (code, out) == (1, ""), err
    assert err.startswith(f"{path}: error: "), err
    assert message in err


@pytest.mark.parametrize("number", [10**5000, 10**70, -(2**65)], ids=["e5000", "e70", "-2^65"])
def test_numbers_no_config_holds(number: int, tmp_path: Path, capsys) -> None:
    """A huge integer is refused, from a file (JSON reads up to 4,300 digits) or a dict."""
    config = {"class_name": "Sequential", "config": {"layers": [{"config": {"units": number}}]}}
    with pytest.raises(KdslError) as caught:
        import_config(config, "m.json")
    assert "m.json: error: holds a number of about" in caught.value.render()
    assert "at `config.layers[0].config.units`" in caught.value.render()
    if number.bit_length() < 13_000:
        path = tmp_path / "model.json"
        path.write_text(json.dumps(config))
        code, _, err = kdsl_main(["import", path], capsys)
        assert code == 1
        assert err.startswith(f"{path}: error: holds a number of about")


def memory_peak(run) -> int:
    """The most memory Python allocated while `run()` ran, in bytes."""
    tracemalloc.start()
    try:
        run()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def zip_bomb(path: Path, megabytes: int) -> Path:
    """A `.keras` whose config.json is `megabytes` MB of spaces: a few hundred KB on disk.
    Written in a stream, so the test never holds it whole."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("config.json", "w") as member,
    ):
        chunk = b" " * 2**20
        for _ in range(megabytes):
            member.write(chunk)
    return path


def import_failure(path: Path) -> str:
    with pytest.raises(KdslError) as caught:
        kdsl.import_model(path)
    return caught.value.render()


def test_zip_bomb_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    """A config.json declaring 100 MB (far beyond MAX_CONFIG_BYTES) is refused before a
    byte of it is decompressed."""
    path = zip_bomb(tmp_path / "bomb.keras", megabytes=100)
    assert path.stat().st_size < 2**20
    messages: list[str] = []
    peak = memory_peak(lambda: messages.append(import_failure(path)))
    assert messages[0].startswith(
        f"{path}: error: has a config.json of 104,857,600 bytes, over {MAX_CONFIG_BYTES / 2**20:g}"
        " MB, far more than a model config takes"
    )
    assert peak < 4 * 2**20


def test_zip_bomb_with_a_lying_header_is_read_within_bounds(tmp_path: Path) -> None:
    """A config.json whose headers declare 1,000 bytes but which expands to 100 MB: the
    read stops at what the header declares, and the mismatch is a clean error."""
    path = zip_bomb(tmp_path / "liar.keras", megabytes=100)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        assert int.from_bytes(data[at : at + 4], "little") == 100 * 2**20
        data[at : at + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(data)
    messages: list[str] = []
    peak = memory_peak(lambda: messages.append(import_failure(path)))
    assert messages[0].startswith(f"{path}: error: is a damaged zip archive: Bad CRC-32")
    assert peak < 4 * 2**20


@pytest.mark.parametrize("where", ["json", "keras", "stdin"])
def test_configs_over_the_limit(where: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """The bound holds for every way in: a .json file and stdin are read at most
    MAX_CONFIG_BYTES + 1 bytes, a .keras member as far as the limit (lowered here, so the
    code path is the real one and the test cheap)."""
    monkeypatch.setattr(importer, "MAX_CONFIG_BYTES", 1000)
    config = json.dumps({"class_name": "Sequential", "padding": " " * 2000}).encode()
    if where == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(config)))
        code, _, err = kdsl_main(["import", "-"], capsys)
        path = "<stdin>"
        expected = "is more than 0.000953674 MB"
    else:
        path = tmp_path / f"model.{where}"
        if where == "json":
            path.write_bytes(config)
            expected = "is more than 0.000953674 MB"
        else:
            stored_zip(path, config)
            expected = f"has a config.json of {len(config):,} bytes, over 0.000953674 MB"
        code, _, err = kdsl_main(["import", path], capsys)
    assert code == 1
    assert err.startswith(f"{path}: error: {expected}, far more than a model config takes")


def my_metric(y_true, y_pred):
    return y_true


def my_loss(y_true, y_pred):
    return y_true


@pytest.mark.parametrize(
    ("compile_args", "message", "hint"),
    [
        (
            {"optimizer": "adam", "loss": "mse", "metrics": ["mae", my_metric]},
            "m.json: error: has the metric `my_metric`, a Python function, which kdsl refuses",
            "hint: give metrics Keras ships, by name (e.g. metrics=['accuracy'])",
        ),
        (
            {"optimizer": "adam", "loss": my_loss},
            "m.json: error: has the loss `my_loss`, a Python function, which kdsl refuses",
            "hint: give a loss Keras ships, by name (e.g. loss='mse')",
        ),
    ],
    ids=["metric", "loss"],
)
def test_python_functions_in_compile_are_named(compile_args, message: str, hint: str) -> None:
    """The message names the metric or loss, and the hint is about metrics or losses."""
    text = import_error(keras_model(L.Dense(1), compile_args=compile_args).to_json())
    assert text.startswith(message)
    assert text.splitlines()[-1].strip().startswith(hint)
    assert "layer" not in text


def test_a_wrapper_inside_a_wrapper_is_named_as_such() -> None:
    config = json.loads(keras_model(L.Reshape((2, 4)), L.TimeDistributed(L.Dense(2))).to_json())
    wrapper = config["config"]["layers"][-1]
    wrapper["config"]["layer"] = json.loads(json.dumps(wrapper))
    assert import_error(config).startswith(
        "m.json: error: layer `time_distributed` (TimeDistributed) is a wrapper inside a "
        "TimeDistributed, which kdsl cannot write"
    )


def layer_names(model) -> list[str]:
    """Every layer's name, the input layer's too."""
    return [layer["config"]["name"] for layer in model.get_config()["layers"]]


def mixed_names():
    """Names given and automatic, in a session where a Flatten was built before."""
    L.Flatten()
    model = keras.Sequential(
        [
            keras.Input((4, 8), name="features"),
            L.Dense(3, name="dense_1"),  # what Keras calls a second Dense: kept
            L.Dense(4),  # `dense`: Keras counts no named layer
            L.TimeDistributed(L.Dense(2)),  # the Dense inside is `dense_1`, not in the model
            L.Dropout(0.1, name="dropout"),  # given, but the rebuilt model's name anyway
            L.Bidirectional(L.LSTM(3, return_sequences=True), name="bidirectional_2"),
            L.Flatten(),  # `flatten_1`, where the rebuilt model would say `flatten`: kept
            L.Dense(2),  # `dense_2`, after the Dense inside TimeDistributed
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def augmented_names():
    """RandAugment builds a RandomRotation and a RandomBrightness, unnamed: the next
    unnamed ones are `random_rotation_1` and `random_brightness_1`."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.RandAugment(),
            L.RandomRotation(0.1, name="random_rotation"),  # kept: not the rebuilt's name
            L.RandomBrightness(0.2),  # `random_brightness_1`, the rebuilt's name too
            L.Flatten(),
            L.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize(
    ("make", "written"),
    [
        (mixed_names, ["features", "dense_1", "bidirectional_2", "flatten_1"]),
        (augmented_names, ["random_rotation"]),
    ],
    ids=["mixed", "augmented"],
)
def test_layer_names_survive_import(make, written: list[str]) -> None:
    """After import, compile and build (in a fresh session, as the script runs), every
    layer has its name from the original model; only the names the rebuilt model gives
    anyway are left out of the text."""
    keras.backend.clear_session(free_memory=False)
    original = make()
    text = kdsl.import_model(original.to_json())
    assert re.findall(r"name=(\w+)", text) == written, text
    rebuilt = build(text)
    assert layer_names(rebuilt) == layer_names(original)
    assert original.get_layer("dense_1" if "dense_1" in written else "random_rotation")
    assert kdsl.import_model(rebuilt.to_json()) == text


@pytest.mark.parametrize(
    ("class_name", "arguments"),
    [
        ("TextVectorization", {}),
        ("RandomColorJitter", {}),
        ("RandomColorJitter", {"brightness_factor": 0.2, "hue_factor": 0.1}),
        ("RandAugment", {}),
        ("RandAugment", {"name": "given"}),
        ("AugMix", {}),
        ("AugMix", {"all_ops": False}),
        ("AugMix", {"name": "given"}),
        ("RandomRotation", {"factor": 0.1}),
    ],
)
def test_layers_built_inside_match_keras(class_name: str, arguments: dict) -> None:
    """The layers a layer builds in its constructor, each counted by Keras's names."""
    keras.backend.clear_session(free_memory=False)
    layer = getattr(L, class_name)(**arguments)
    counts = keras_name_counts()
    counts.pop(keras_snake_case(class_name), None)
    expected = built_inside(class_name, layer.get_config(), named="name" in arguments)
    assert counts == {keras_snake_case(built): 1 for built in expected}
