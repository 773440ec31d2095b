"""The tuner script of a program with search spaces (issue 16): a searched depth as one
KerasTuner loop, a graph's blocks as functions, a depth on a block call or in a graph,
and a searched block argument in arithmetic; each script built and searched with real
Keras and KerasTuner."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from kdsl import check_source
from kdsl import compile as compile_source
from kdsl.codegen.render import format_code
from kdsl.errors import Source, SourceError
from kdsl.language.fmt import format_text
from kdsl.language.parser import parse
from kdsl.semantics.catalog import load
from kdsl.semantics.space import best_text

TAIL = "adam; categorical_crossentropy; metrics accuracy; fit epochs=1 batch_size=16;\n"
TUNE = "tune max_trials=2 objective=val_accuracy seed=1\n"

# A chain: a searched depth of a group whose layers own values, one whose layers own
# none, a choice of depths from 2.
CHAIN = (
    "dense int(8, 16, step=8) relu in 4\n"
    "  -> [dense choice(8, 16) relu -> dropout float(0.1, 0.3)] * int(1, 3)\n"
    "  -> [dense 8 relu] * int(1, 2)\n"
    "  -> dense choice(4, 8) relu * choice(2, 4)\n"
    "  -> dense 3 softmax;\n" + TAIL + TUNE
)
# A graph of blocks: a block whose body searches (its function takes `hp`), one calling
# it, a residual block repeated to a searched depth, a searched argument in arithmetic
# (`4*f`), a block call whose argument is searched per pass, a shared block that
# searches, a plain repeat inside a searched depth, labels named like the script's own.
GRAPH = (
    "def wide {\n  dense int(8, 16) relu -> dropout 0.1\n}\n"
    "def outer f {\n  wide -> dense f relu\n}\n"
    "def res f {\n  dense f relu -> dense f -> add @in\n}\n"
    "def quad f {\n  dense 4*f relu\n}\n"
    "shared enc {\n  dense choice(4, 8) relu\n}\n"
    "i: dense 8 relu in 4\n"
    "  -> hp: outer choice(6, 12)\n"
    "  -> quad choice(1, 2)\n"
    "  -> dense 8\n"
    "  -> res 8 * int(1, 3)\n"
    "  -> [dense 8 relu * 2 -> dense choice(8, 16) -> dense 8] * int(2, 3)\n"
    "  -> add @i\n"
    "  -> quad choice(2, 3) * choice(1, 2)\n"
    "  -> enc\n"
    "  -> dense 3 softmax;\n" + TAIL + TUNE
)
PROGRAMS = {"chain": CHAIN, "graph": GRAPH}


def test_a_searched_depth_is_one_loop_over_its_passes() -> None:
    code = compile_source(CHAIN)
    # Layers owning values: one per pass, each pass under the depths that build it.
    assert 'for i in range(1, hp.Int("group_1/repeat", 1, 3) + 1):' in code
    assert 'with hp.conditional_scope("group_1/repeat", list(range(i, 4))):' in code
    assert 'hp.Choice(f"dense_2/units/pass_{i}", [8, 16])' in code
    assert 'hp.Float(f"dropout_1/rate/pass_{i}", 0.1, 0.3)' in code
    # Layers owning none: the plain loop, no scope.
    assert 'for _ in range(hp.Int("group_2/repeat", 1, 2)):' in code
    # A choice of depths: the passes that some depth builds, by a comprehension.
    assert 'for i in range(1, hp.Choice("dense_4/repeat", [2, 4]) + 1):' in code
    assert "[depth for depth in [2, 4] if depth >= i]" in code
    assert "if hp." not in code  # no pass unrolled under an `if`
    assert code.count("conditional_scope") == 2


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_script_is_black_stable_and_keeps_user_text_in_literals(name: str) -> None:
    program = PROGRAMS[name].replace("choice(8, 16)", 'choice(8, 16, name="u\\"); import os #")')
    code = compile_source(program)
    assert format_code(code) == code
    tree = ast.parse(code)
    assert "os" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert """'u"); import os #'""" in code
    # Each hyperparameter's name is a literal, or per pass an f-string of the pass number.
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).startswith("hp."):
            name = node.args[0]
            if isinstance(name, ast.JoinedStr):
                values = [v for v in name.values if isinstance(v, ast.FormattedValue)]
                assert [ast.unparse(v.value) for v in values] == ["i"]
            else:
                assert isinstance(name, ast.Constant)


def test_a_graph_writes_its_blocks_as_functions_taking_hp_where_they_search() -> None:
    code = compile_source(GRAPH)
    assert "def wide(hp, x):" in code  # its body searches
    assert "def outer(hp, x, f):" in code  # it calls wide
    assert "    x = wide(hp, x)" in code
    assert "def res(x, f):" in code and "def quad(x, f):" in code  # plain
    # The shared model is built where it is first applied, from that trial's shape.
    assert "def build_enc(hp, input_shape):" in code
    assert "keras.Input(shape=input_shape)" in code
    assert code.count("enc = build_enc(hp, x.shape[1:])") == 1
    assert "x = enc(x)" in code  # the shared model is applied, not built again
    # Labels named `i` and `hp` do not overwrite the loop's or KerasTuner's names.
    assert "i_ = layers.Dense(8" in code
    assert 'hp_ = outer(hp, i_, hp.Choice("outer_1/f", [6, 12]))' in code
    # The searched argument in arithmetic is passed; the function multiplies it.
    assert 'x = quad(hp_, hp.Choice("quad_1/f", [1, 2]))' in code
    assert "layers.Dense(4 * f, activation=" in code
    # A block call repeated to a searched depth: the plain loop, or per pass.
    assert 'for _ in range(hp.Int("res_1/repeat", 1, 3)):\n            x = res(x, 8)' in code
    assert 'for i in range(1, hp.Choice("quad_2/repeat", [1, 2]) + 1):' in code
    assert 'x = quad(x, hp.Choice(f"quad_2/f/pass_{i}", [2, 3]))' in code
    # A group repeated to a searched depth in a graph, with a plain repeat inside.
    assert "[depth for depth in [2, 3] if depth >= i]" in code
    assert "for _ in range(2):" in code


def test_blocks_without_a_search_are_written_as_compile_writes_them() -> None:
    plain = GRAPH.replace(TUNE, "")
    for space, value in (
        ("int(8, 16)", "8"),
        ("choice(6, 12)", "6"),
        ("choice(1, 2)", "1"),
        ("int(1, 3)", "2"),
        ("choice(8, 16)", "8"),
        ("int(2, 3)", "2"),
        ("choice(2, 3)", "2"),
        ("choice(4, 8)", "4"),
    ):
        plain = plain.replace(space, value)
    script = compile_source(plain, style="functional")
    code = compile_source(GRAPH)
    for function in ("def res(x, f):", "def quad(x, f):"):
        body = script.split(function)[1].split("\n\n")[0]
        assert function + body in code


def _normalized(code: str) -> str:
    """Code without its layout: black wraps a line by its indentation."""
    return re.sub(r",([)\]])", r"\1", re.sub(r"\s+", "", code))


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "graphs").glob("*.k")), ids=str)
def test_each_graph_example_builds_as_compile_writes_it(path: Path) -> None:
    """Every graph example with its batch size searched: the tuner script's block
    functions and build(hp)'s statements are compile's functional ones."""
    text = path.read_text()
    assert "batch_size" not in text
    plain = compile_source(text)
    code = compile_source(text.rstrip().rstrip(";") + ";\nfit batch_size=choice(16, 32)\n")
    assert 'kwargs["batch_size"] = hp.Choice("batch_size", [16, 32])' in code
    functions = plain.split("\nBATCH_SIZE = 32\n")[1].split("\ndef build_model():")[0]
    searched_functions = code.split("\nOBJECTIVE = ")[1].split("\nclass SearchedModel")[0]
    assert _normalized(functions) in _normalized(searched_functions)
    body = plain.split('"""Build and compile the model."""')[1].split("model.compile(")[0]
    built = code.split("def build(self, hp):")[1].split("model.compile(")[0]
    assert _normalized(body) == _normalized(built)


def _names(search) -> set[str]:
    return {hp.name for hp in search.hyperparameters}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_script_registers_the_names_the_best_program_reads(name: str) -> None:
    """Built with every depth at its upper end, the script registers the hyperparameters
    the check listed (the names `best_text` writes the best program from); built again
    at the lower ends, only the passes built are active (KerasTuner would count every
    value registered before as active without `conditional_scope`)."""
    import keras_tuner

    program = PROGRAMS[name]
    search = check_source(program).search
    assert search is not None
    namespace: dict = {}
    exec(compile(compile_source(program), "tune.py", "exec"), namespace)  # noqa: S102
    hypermodel = namespace["SearchedModel"]()
    depths = {hp.name: hp for hp in search.hyperparameters if hp.name.endswith("/repeat")}
    hp = keras_tuner.HyperParameters()
    for end in (-1, 0):
        for depth in depths.values():
            values = sorted(depth.values) if depth.kind == "choice" else [depth.low, depth.high]
            hp.values[depth.name] = values[end]
        hypermodel.build(hp)
        if end == -1:
            assert {p.name for p in hp.space} == _names(search)
    for stem, depth in search.per_pass:
        active = {
            int(p.name.rsplit("_", 1)[1])
            for p in hp.space
            if p.name.startswith(f"{stem}/pass_") and hp.is_active(p)
        }
        assert active == set(range(1, hp.values[depth] + 1)), stem
    assert search.per_pass  # each program has a depth whose layers own values


def _best(text: str, values: dict) -> str:
    return format_text(best_text(text, parse(Source("m.k", text)), load(), values))


def test_the_best_program_writes_a_block_calls_passes_with_their_own_values() -> None:
    values = {"quad_2/repeat": 2, "quad_2/f/pass_1": 3, "quad_2/f/pass_2": 2, "res_1/repeat": 3}
    best = _best(GRAPH, values)
    assert "-> quad 3\n  -> quad 2\n" in best
    assert "-> res 8 * 3\n" in best
    model = check_source(best)
    assert model.search is None


@pytest.mark.parametrize(
    ("program", "largest"),
    [
        ("def c {\n  conv2d 4 3 relu\n}\nconv2d 4 3 relu in 8x8x1 -> c * int(1, 3)", 2),
        ("def c f {\n  conv2d 4 2*f relu\n}\nconv2d 4 3 relu in 8x8x1 -> c int(1, 4)", 3),
    ],
)
def test_a_block_calls_depth_and_arithmetic_are_checked_at_their_extremes(
    program: str, largest: int
) -> None:
    tail = " -> flatten -> dense 3 softmax; adam; categorical_crossentropy"
    with pytest.raises(SourceError) as caught:
        check_source(program + tail)
    (diagnostic,) = caught.value.diagnostics
    assert "largest model" in diagnostic.notes[-1]
    fitting = program.replace("int(1, 3)", f"int(1, {largest})").replace(
        "int(1, 4)", f"int(1, {largest})"
    )
    check_source(fitting + tail)


# A shared block after a searched width: each value reaches it with its own width.
SHARED_AFTER_A_SEARCH = {
    "graph": (GRAPH, [{"quad_2/repeat": 1, "quad_2/f/pass_1": f} for f in (2, 3)]),
    "units": (  # two uses: the second applies the model the first built
        "shared enc {\n  dense 8 relu -> dense 4 relu\n}\n"
        "a: dense choice(8, 16) relu in 4 -> b: enc;\n"
        "@a -> enc -> add @b -> dense 3 softmax;\n" + TAIL + TUNE,
        [{"dense_1/units": units} for units in (8, 16)],
    ),
    "in a def block": (  # first applied inside `b`, to its input; `pair` passes it on
        "shared enc {\n  dense choice(4, 8) relu\n}\n"
        "def b {\n  enc -> dense 8\n}\n"
        "def pair {\n  [b | b] -> add\n}\n"
        "dense choice(8, 16) relu in 4 -> pair -> dense 3 softmax;\n" + TAIL + TUNE,
        [{"dense_1/units": units, "enc/dense_1/units": 8} for units in (8, 16)],
    ),
    "after layers that keep the shape": (  # `b` applies it past its input's dropout
        "shared enc {\n  dense 8 relu\n}\n"
        "def b {\n  dropout 0.1 -> batchnorm -> enc\n}\n"
        "dense choice(8, 16) relu in 4 -> b -> dense 3 softmax;\n" + TAIL + TUNE,
        [{"dense_1/units": units} for units in (8, 16)],
    ),
}


@pytest.mark.parametrize("name", sorted(SHARED_AFTER_A_SEARCH))
def test_a_shared_block_after_a_searched_width_builds_at_each_value(name: str) -> None:
    """The hypermodel built with each value fixed (the other spaces at their defaults)
    builds its shared model from the width reaching it, and a forward pass works."""
    import keras_tuner
    import numpy as np

    program, trials = SHARED_AFTER_A_SEARCH[name]
    namespace: dict = {}
    exec(compile(compile_source(program), "tune.py", "exec"), namespace)  # noqa: S102
    for values in trials:
        hp = keras_tuner.HyperParameters()
        hp.values.update(values)
        model = namespace["SearchedModel"]().build(hp)
        assert {k: hp.values[k] for k in values} == values
        assert model(np.zeros((2, 4), "float32")).shape == (2, 3)
        shared = [item for item in model.layers if item.name == "enc"]
        # One model for every use (those inside blocks included): one set of weights.
        assert len(shared) == 1


# -- the scripts searched on random data ----------------------------------------------------


# Each program's tuner script searching alone: tests/test_scripts_alone.py.


@pytest.mark.slow
def test_kdsl_tune_writes_a_best_graph_program_kdsl_runs(
    tmp_path: Path, plain_output, capsys
) -> None:
    """`kdsl tune` reads the graph script's values back: a block call's passes written
    out with their own values, every depth and argument replaced, and `kdsl run` trains
    the result (both in this process: the test is not about the process)."""
    from conftest import kdsl_main
    from test_tune import _random_data

    program, data = tmp_path / "m.k", tmp_path / "d.npz"
    program.write_text(GRAPH)
    _random_data(data)
    code, _, err = kdsl_main(
        ["tune", program, "--data", data, "--json", tmp_path / "t.json"], capsys
    )
    assert code == 0, err[-3000:]
    best = (tmp_path / "m.best.k").read_text()
    assert not [word for word in ("int(", "choice(", "tune") if word in best], best
    report = json.loads((tmp_path / "t.json").read_text())
    # No trial failed (a shared block built for another width than the trial's did).
    assert [trial["status"] for trial in report["trials"]] == ["COMPLETED"] * 2, report
    values = report["best"]
    quads = [line for line in best.splitlines() if line.strip().startswith("-> quad")]
    assert len(quads) == 1 + values["quad_2/repeat"]  # quad_1, then each pass
    assert [line.split()[-1] for line in quads[1:]] == [
        str(values[f"quad_2/f/pass_{number}"]) for number in range(1, values["quad_2/repeat"] + 1)
    ]
    assert f"-> res 8 * {values['res_1/repeat']}" in best or values["res_1/repeat"] == 1
    code, _, err = kdsl_main(["run", tmp_path / "m.best.k", "--data", data], capsys)
    assert code == 0, err[-3000:]
