"""Data larger than memory: a folder of .npy files, memory-mapped and read in batches.

One TensorFlow process for the module; `kdsl run` runs in-process through `main()` (the
generated script alone: tests/test_scripts_alone.py).
"""

from __future__ import annotations

import ast
import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from conftest import kdsl_main as kdsl
from numpy.lib.format import open_memmap

from kdsl import compile_source
from kdsl.train import data
from kdsl.train.data import load, validate
from kdsl.train.runner import import_keras, load_script

keras = import_keras()

IRIS = ROOT / "examples" / "iris.k"
SPARSE_IRIS = (
    "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; sparse_categorical_crossentropy"
)


def iris() -> dict[str, np.ndarray]:
    with np.load(ROOT / "examples" / "iris.npz") as npz:
        return {key: npz[key] for key in npz.files}


def folder(path: Path, **arrays: np.ndarray) -> Path:
    path.mkdir()
    for name, array in arrays.items():
        np.save(path / f"{name}.npy", array)
    return path


pytestmark = pytest.mark.usefixtures("plain_output")


@pytest.fixture(scope="module")
def script() -> dict:
    """The generated script's functions (NpyBatches, load_data, ...), as `kdsl run` uses them."""
    return load_script(compile_source(IRIS.read_text(), folder_data=True), "iris.py")


# -- training ------------------------------------------------------------------------------


def run_json(args: list, tmp_path: Path, capsys, name: str) -> dict:
    path = tmp_path / name
    code, _, err = kdsl(["run", *args, "--json", path], capsys)
    assert code == 0, err
    return json.loads(path.read_text())


@pytest.mark.slow
def test_folder_trains_as_the_same_npz_does(tmp_path: Path, capsys) -> None:
    """With one batch per epoch the order of rows cannot matter: same seed, same training."""
    arrays = iris()
    npz = tmp_path / "iris.npz"
    np.savez(npz, **arrays)
    npy = folder(tmp_path / "iris", **arrays)
    args = [IRIS, "--epochs", "10", "--batch-size", "105", "--seed", "4"]
    from_npz = run_json([*args, "--data", npz], tmp_path, capsys, "npz.json")
    from_folder = run_json([*args, "--data", npy], tmp_path, capsys, "folder.json")
    assert from_folder["evaluated_on"] == "test"
    loss = from_folder["history"]["loss"]
    assert loss[-1] < loss[0]
    np.testing.assert_allclose(loss, from_npz["history"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(from_folder["predictions"], from_npz["predictions"], atol=1e-5)


# The generated script on a folder, alone: tests/test_scripts_alone.py.


def test_train_and_evaluate_on_memory_maps_is_warning_free(script: dict, tmp_path: Path) -> None:
    arrays = iris()
    loaded = script["load_data"](folder(tmp_path / "iris", **arrays))
    assert all(isinstance(array, np.memmap) for array in loaded.values())
    keras.utils.set_random_seed(0)
    model = script["build_model"]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history, evaluation, predictions = script["train_and_evaluate"](
            model, loaded, epochs=2, batch_size=16
        )
    assert not [str(w.message) for w in caught]
    assert len(history.history["loss"]) == 2
    assert predictions.shape == (45, 3)


# -- the batches ---------------------------------------------------------------------------


def ids_folder(path: Path, rows: int, features: int = 3) -> dict[str, np.ndarray]:
    """Memory-mapped x (each row's id, repeated over its features) and y (10 x the id)."""
    ids = np.arange(rows)
    x = np.repeat(ids[:, None], features, axis=1).astype("float32")
    return load(folder(path, x_train=x, y_train=ids * 10)).arrays


def epoch_of(batches) -> list[int]:
    """One epoch's row ids in the order the batches give them, checking labels follow rows."""
    batches.on_epoch_begin()
    seen = []
    for index in range(len(batches)):
        x, y = batches[index]
        assert len(x) == len(y) <= batches.batch_size
        np.testing.assert_array_equal(y, x[:, 0] * 10)  # labels stay with their rows
        np.testing.assert_array_equal(x, np.repeat(x[:, :1], x.shape[1], axis=1))
        seen += x[:, 0].astype(int).tolist()
    batches.on_epoch_end()
    return seen


SMALL_BLOCKS = {  # block and buffer sizes in bytes; a row of ids_folder is 20 bytes
    "one-run": (1 << 20, 64 << 20),  # the defaults: the data fits in the buffer
    "many-runs": (200, 1000),  # blocks of 10 rows, runs of 5 blocks
    "row-blocks": (1, 1),  # one row a block, one block a run
    "uneven": (140, 700),  # blocks of 7 rows, the last one short
}


def fit_keywords(code: str) -> dict[str, str]:
    """The keyword arguments of the script's `model.fit(...)` call, as source text."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "fit":
            return {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}
    raise AssertionError("no fit call")


SHUFFLES = {  # fit's shuffle as written: (in a --folder-data script, in a plain one)
    "unwritten": ("", "not isinstance(x_train, NpyBatches)", None),
    "true": ("; fit shuffle=true", "not isinstance(x_train, NpyBatches)", "True"),
    "false": ("; fit shuffle=false", "False", "False"),
}


@pytest.mark.parametrize(("written", "folder", "plain"), SHUFFLES.values(), ids=SHUFFLES.keys())
def test_keras_leaves_the_order_of_npy_batches_alone(written: str, folder: str, plain) -> None:
    """NpyBatches read runs of blocks in order: Keras shuffling the batches' order would
    make every batch read a run anew, so fit is told not to, however shuffle is written."""
    text = f"{SPARSE_IRIS}{written}\n"
    assert fit_keywords(compile_source(text, folder_data=True))["shuffle"] == folder
    assert fit_keywords(compile_source(text)).get("shuffle") == plain


@pytest.mark.parametrize("sizes", SMALL_BLOCKS.values(), ids=SMALL_BLOCKS.keys())
def test_every_row_once_per_epoch_seeded_and_new_each_epoch(
    script: dict, tmp_path: Path, monkeypatch, sizes: tuple[int, int]
) -> None:
    NpyBatches = script["NpyBatches"]
    monkeypatch.setattr(NpyBatches, "BLOCK_BYTES", sizes[0])
    monkeypatch.setattr(NpyBatches, "SHUFFLE_BUFFER_BYTES", sizes[1])
    rows = 503
    arrays = ids_folder(tmp_path / "d", rows)
    batches = NpyBatches(arrays["x_train"], arrays["y_train"], 16, shuffle=True)
    assert len(batches) == 32
    keras.utils.set_random_seed(7)
    first, second = epoch_of(batches), epoch_of(batches)
    assert sorted(first) == sorted(second) == list(range(rows)), "every row once per epoch"
    assert first != second, "a new order every epoch"
    assert first != list(range(rows))
    again = NpyBatches(arrays["x_train"], arrays["y_train"], 16, shuffle=True)
    keras.utils.set_random_seed(7)
    assert epoch_of(again) == first and epoch_of(again) == second, "the seed gives the order"
    keras.utils.set_random_seed(8)
    assert epoch_of(again) != first

    in_order = NpyBatches(arrays["x_train"], arrays["y_train"], 16)
    assert epoch_of(in_order) == list(range(rows)) == epoch_of(in_order)


@pytest.mark.parametrize("sizes", SMALL_BLOCKS.values(), ids=SMALL_BLOCKS.keys())
def test_copies_split_between_two_threads_give_the_same_batches(
    script: dict, tmp_path: Path, monkeypatch, sizes: tuple[int, int]
) -> None:
    """Large reads and copies are made in halves by two threads at once: every batch keeps
    its rows, in the same order, labels with their rows, as when one thread makes it all."""
    NpyBatches = script["NpyBatches"]
    monkeypatch.setattr(NpyBatches, "BLOCK_BYTES", sizes[0])
    monkeypatch.setattr(NpyBatches, "SHUFFLE_BUFFER_BYTES", sizes[1])
    arrays = ids_folder(tmp_path / "d", 503)
    epochs = {}
    for split_bytes in (1 << 40, 0):  # never split; split every copy
        monkeypatch.setattr(NpyBatches, "SPLIT_BYTES", split_bytes)
        batches = NpyBatches(arrays["x_train"], arrays["y_train"], 16, shuffle=True)
        keras.utils.set_random_seed(7)
        epochs[split_bytes] = [epoch_of(batches), epoch_of(batches)]
        runs_of_rows = batches.run_blocks * batches.block_rows > 1  # else nothing to split
        assert (batches.helper is not None) == (split_bytes == 0 and runs_of_rows)
    assert epochs[0] == epochs[1 << 40]
    assert sorted(epochs[0][0]) == list(range(503))


def test_batches_come_out_right_in_any_order_of_asking(script: dict, tmp_path: Path) -> None:
    """Keras may ask for a batch twice (TensorFlow reads two to learn their shapes) or out
    of order: the reading ahead must never hand out another batch's rows."""
    NpyBatches = script["NpyBatches"]
    arrays = ids_folder(tmp_path / "d", 300)
    batches = NpyBatches(arrays["x_train"], arrays["y_train"], 32, shuffle=True)
    batches.SHUFFLE_BUFFER_BYTES = 0  # an instance's own sizes are used from the start
    keras.utils.set_random_seed(1)
    batches.on_epoch_begin()
    expected = [batches[i][0][:, 0].tolist() for i in range(len(batches))]
    for index in [3, 0, 0, 9, 1, 5, 5, 2, 8, 4, 7, 6]:
        assert batches[index][0][:, 0].tolist() == expected[index]


@pytest.mark.parametrize("rows", [1, 7, 64, 1000])
def test_a_run_of_blocks_is_the_buffer_at_most(script: dict, tmp_path: Path, rows: int) -> None:
    """What the reader holds in memory: one run of blocks, no more than the buffer (or one
    block, when a block alone is larger), plus the batches read ahead."""
    NpyBatches = script["NpyBatches"]
    arrays = ids_folder(tmp_path / "d", rows, features=50)  # 204-byte rows
    row_bytes = 204
    for block_bytes, buffer_bytes in [(1000, 5000), (4096, 4096), (1 << 20, 1 << 12)]:
        batches = NpyBatches(arrays["x_train"], arrays["y_train"], 8, shuffle=True)
        batches.BLOCK_BYTES, batches.SHUFFLE_BUFFER_BYTES = block_bytes, buffer_bytes
        batches.__init__(arrays["x_train"], arrays["y_train"], 8, shuffle=True)
        keras.utils.set_random_seed(0)
        batches.on_epoch_begin()
        largest = 0
        for index in range(len(batches)):
            batches[index]
            held = batches.run[1]
            if held is not None:
                largest = max(largest, held[0].nbytes + held[1].nbytes)
        block = max(1, block_bytes // row_bytes) * row_bytes
        assert 0 < largest <= max(buffer_bytes, block)
        assert len(batches.ahead) <= batches.PREFETCH_BATCHES


@pytest.mark.parametrize("shape", [(50,), (50, 3), (50, 4, 2, 3)], ids=["1d", "2d", "4d"])
def test_read_rows_reads_what_indexing_gives(script: dict, tmp_path: Path, shape) -> None:
    array = np.random.default_rng(0).normal(size=shape).astype(">f8")  # any byte order
    np.save(tmp_path / "a.npy", array)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    for spans in ([(0, 1), (3, 5), (49, 50)], [(10, 20)], [(40, 50), (0, 10)], [(7, 8)]):
        expected = np.concatenate([array[start:stop] for start, stop in spans])
        np.testing.assert_array_equal(script["read_rows"](mapped, spans), expected)
    np.testing.assert_array_equal(
        script["read_rows"](mapped[10:], [(0, 1), (5, 6)]), array[[10, 15]]
    )


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
def test_a_pass_over_a_folder_keeps_memory_bounded(
    script: dict, tmp_path: Path, monkeypatch
) -> None:
    """Checking and reading every batch of a 25 MB file, shuffled, never holds much of it
    (a 4 MiB shuffle buffer, the batches read ahead): neither in Python's allocations nor
    in the process's resident memory."""
    monkeypatch.setattr(data, "BLOCK_BYTES", 1 << 20)
    monkeypatch.setattr(script["NpyBatches"], "SHUFFLE_BUFFER_BYTES", 4 << 20)
    rows, features = 100_000, 64
    path = tmp_path / "big"
    path.mkdir()
    x = open_memmap(path / "x_train.npy", "w+", "float32", (rows, features))
    for start in range(0, rows, 50_000):
        x[start : start + 50_000] = np.random.default_rng(start).normal(size=(50_000, features))
    del x
    np.save(path / "y_train.npy", np.arange(rows) % 2)
    size_kib = rows * features * 4 // 1024

    Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident memory
    before = rss_kib("VmRSS")
    tracemalloc.start()
    dataset = load(path)
    validate(str(path), dataset.arrays, (None, features), (None, 1), "binary_crossentropy")
    arrays = dataset.arrays
    assert isinstance(arrays["x_train"], np.memmap) and isinstance(arrays["y_train"], np.memmap)
    batches = script["NpyBatches"](arrays["x_train"], arrays["y_train"], 1024, shuffle=True)
    batches.on_epoch_begin()
    total = sum(len(batches[index][0]) for index in range(len(batches)))
    peak = tracemalloc.get_traced_memory()[1] // 1024
    tracemalloc.stop()
    grown = rss_kib("VmHWM") - before
    assert total == rows
    assert peak < size_kib // 3, f"Python allocations peaked at {peak} KiB"
    # Resident memory also holds what malloc keeps for the reader's threads (an arena
    # each), which varies by a few MiB with what the worker ran before: half the file is
    # the bound (holding it all would grow it by the whole 25 MB).
    assert grown < size_kib // 2, f"resident memory grew by {grown} KiB for {size_kib} KiB"


# -- the .npz path copies no more than it must ---------------------------------------------


def test_checks_and_standardize_copy_no_more_than_the_result(monkeypatch) -> None:
    monkeypatch.setattr(data, "BLOCK_BYTES", 1 << 20)
    x = np.random.default_rng(0).normal(3, 2, size=(250_000, 16)).astype("float32")  # 16 MB
    y = (np.arange(len(x)) % 2).astype("float32")
    arrays = {"x_train": x, "y_train": y, "x_test": x[:1000].copy(), "y_test": y[:1000]}
    tracemalloc.start()
    validate("d.npz", arrays, (None, 16), (None, 1), "binary_crossentropy")
    checked = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    scaling = data.standardize("d.npz", arrays, "float32")
    scaled = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert checked < x.nbytes // 4, "the checks copy the data"
    assert scaled < 1.5 * x.nbytes, "standardize holds more than its float32 result"
    # float32, as the Normalization layer that holds them keeps them
    np.testing.assert_allclose(scaling["mean"], x.astype("float64").mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaling["variance"], x.astype("float64").var(axis=0), rtol=1e-6)
    assert abs(arrays["x_train"].mean()) < 1e-3 and arrays["x_train"].dtype == np.float32


# -- bad folders: one clear error before any training --------------------------------------

X, Y = iris()["x_train"], iris()["y_train"]
IDS = Y.argmax(axis=1)


def write(**arrays):
    return lambda path: folder(path, **arrays)


def pickled(path: Path) -> Path:
    folder(path, x_train=X)
    np.save(path / "y_train.npy", np.array([{"a": 1}] * len(X), dtype=object), allow_pickle=True)
    return path


def truncated(path: Path) -> Path:
    folder(path, x_train=X, y_train=Y)
    file = path / "x_train.npy"
    file.write_bytes(file.read_bytes()[:500])
    return path


BAD_FOLDERS = {
    "no-x-train": (
        write(features=X, y_train=Y),
        "{d}: error: needs files x_train.npy and y_train.npy (or x.npy and y.npy); "
        "found: y_train.npy",
        [],
    ),
    "row-counts": (
        write(x_train=X, y_train=Y[:-5]),
        "{d}: error: `x_train.npy` has 105 rows but `y_train.npy` has 100",
        [],
    ),
    "feature-shape": (
        write(x_train=np.zeros((6, 5)), y_train=Y[:6]),
        "{d}: error: model expects rows of shape (4,), `x_train.npy` has rows of shape (5,)",
        [],
    ),
    "half-a-pair": (
        write(x_train=X, y_train=Y, x_val=X),
        "{d}: error: has `x_val.npy` but no `y_val.npy`",
        [],
    ),
    "nan": (
        write(x_train=np.where(X > 2, np.nan, X), y_train=Y),
        "{d}: error: `x_train.npy` holds 10 NaN or infinite value(s)",
        [],
    ),
    "pickled": (
        pickled,
        "{d}/y_train.npy: error: holds Python objects (a pickle), which kdsl refuses to load: "
        "unpickling can run arbitrary code",
        [],
    ),
    "truncated": (truncated, "{d}/x_train.npy: error: is not a readable .npy file", []),
    "fortran-order": (
        write(x_train=np.asfortranarray(X), y_train=Y),
        "{d}/x_train.npy: error: is stored in column-major (Fortran) order, so its rows "
        "cannot be read in batches",
        [],
    ),
    "class-ids-for-categorical": (
        write(x_train=X, y_train=IDS),
        "{d}: error: `y_train.npy` holds class ids, but categorical_crossentropy takes one-hot "
        "rows, and kdsl one-hot encodes only data it loads into memory, not a folder's",
        [],
    ),
    "split": (
        write(x_train=X, y_train=Y),
        "{d}: error: is a folder of .npy files: --test-split and --validation-split would "
        "copy its rows into memory",
        ["--test-split", "0.2"],
    ),
    "standardize": (
        write(x_train=X, y_train=Y),
        "{d}: error: is a folder of .npy files: --standardize would copy its rows into memory",
        ["--standardize"],
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS.values(), ids=BAD_FOLDERS.keys())
def test_bad_folder_is_one_clear_error(case, tmp_path: Path, capsys) -> None:
    make, message, extra = case
    path = make(tmp_path / "data")
    code, out, err = kdsl(["run", IRIS, "--data", path, *extra], capsys)
    assert code == 1
    assert err.splitlines()[0].startswith(message.format(d=path)), err
    assert len(err.strip().splitlines()) <= 2
    assert "Epoch" not in out


def test_fit_validation_split_is_refused_for_a_folder(tmp_path: Path, capsys) -> None:
    program = tmp_path / "split.k"
    program.write_text(f"{SPARSE_IRIS}; fit validation_split=0.2\n")
    path = folder(tmp_path / "d", x_train=X, y_train=IDS)
    code, _, err = kdsl(["run", program, "--data", path], capsys)
    assert code == 1
    assert "which Keras cannot split with `fit validation_split=...`" in err


def test_outputs_never_replace_a_file_of_the_data_folder(tmp_path: Path, capsys) -> None:
    arrays = iris()
    data_dir = folder(tmp_path / "data", x_train=arrays["x_train"], y_train=arrays["y_train"])
    before = (data_dir / "x_train.npy").read_bytes()
    code, _, err = kdsl(
        ["run", IRIS, "--data", data_dir, "--json", data_dir / "x_train.npy"], capsys
    )
    assert code == 1 and "is an input of this run: refusing to overwrite it" in err
    assert (data_dir / "x_train.npy").read_bytes() == before


def test_other_npy_files_in_the_folder_are_ignored(script: dict, tmp_path: Path) -> None:
    arrays = iris()
    data_dir = folder(tmp_path / "data", x_train=arrays["x_train"], y_train=arrays["y_train"])
    np.save(data_dir / "notes.npy", np.array(["not", "data"], dtype=object), allow_pickle=True)
    np.save(data_dir / "fortran.npy", np.asfortranarray(np.ones((3, 4))))
    assert sorted(data.load_folder(data_dir)) == ["x_train", "y_train"]
    assert sorted(script["load_data"](str(data_dir))) == ["x_train", "y_train"]
