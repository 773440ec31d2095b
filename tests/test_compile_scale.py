"""Compiling at scale (issue 17): a layer written as one checked before is not checked
again, and the IR's per-layer objects carry no dict; neither changes a model, a span, a
message or a script."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import jinja2.filters
import pytest
from known_programs import known_programs

import kdsl
from kdsl import ir
from kdsl.codegen import render as render_module
from kdsl.codegen.render import render
from kdsl.errors import Source, SourceError
from kdsl.language import nodes
from kdsl.language.parser import parse
from kdsl.options import Mode
from kdsl.semantics import checker, shapes

ROOT = Path(__file__).resolve().parent.parent

# Layers written the same way several times, with what would tell them apart if a
# checked layer were reused wrongly: a number's type (`1`, `1.0`) and sign (`-0.0`),
# a warning (a deprecated argument) and errors, each said at every place.
REPEATS = {
    "numbers": "rescaling 1 in 4 -> rescaling 1.0 -> rescaling 1 -> rescaling 0.0"
    " -> rescaling -0.0 -> rescaling 0.0 -> rescaling -0.0 -> dense 2; adam; mse",
    "keywords and strings": "dense 3 relu in 4 name='a' -> dense 3 relu name=\"b\""
    " -> dense 3 relu kernel_initializer=he_normal -> dense 3 kernel_initializer=he_normal"
    " relu -> dense 3 relu kernel_initializer=he_normal; adam; mse",
    "a warning": "embedding 10 4 input_length=3 in 3 -> embedding 10 4 input_length=3"
    " -> flatten -> leaky_relu alpha=0.1 -> leaky_relu alpha=0.1 -> dense 1; adam; mse",
    "errors": "dense 3 relu in 4 -> dense 3 rellu -> dense 3 rellu -> dense 3 relu"
    " -> dense 3 relu units=4 -> dense 3 relu units=4; adam; mse",
    "shape errors": "dense 3 in 4 -> reshape (2, 2) -> reshape (2, 2) -> dense 3; adam; mse",
    "many": " -> ".join(["dense 8 relu in 4"] + ["dense 8 relu", "dropout 0.5"] * 50)
    + "; adam; mse",
}
ERRORS = sorted((ROOT / "tests" / "errors").glob("*.k"))
PROGRAMS = (
    known_programs()
    + list(REPEATS.items())
    + [(str(p.relative_to(ROOT)), p.read_text(errors="replace")) for p in ERRORS]
)


def _outcome(text: str) -> object:
    """Everything `analyze` says of a program, spans included (the IR's `==` leaves them
    out): each node's call with its spans, the shape rows, every diagnostic, the
    script; or the diagnostics of the error."""
    source = Source("x.k", text)
    try:
        model, summary = checker.analyze(parse(source), source)
    except SourceError as error:
        return error.diagnostics
    calls = [
        (node.id, node.call, node.call.span, node.call.written, node.call.arg_spans)
        for node in model.nodes
    ]
    try:
        script = render(model, Mode())
    except Exception as error:  # a graph the default style refuses: its words
        script = str(error)
    return model, calls, summary.rows, summary.diagnostics, script


@pytest.mark.parametrize(("where", "text"), PROGRAMS, ids=[w for w, _ in PROGRAMS])
def test_a_layer_checked_once_is_the_layer_checked_anew(
    where: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same model, spans, messages and script as when every layer is bound again."""
    reused = _outcome(text)
    monkeypatch.setattr(checker, "_plan", lambda call: None)
    assert reused == _outcome(text)


def test_repeated_layers_are_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bind` runs once per way a layer is written, not once per layer."""
    bound = []
    original = checker._Checker.bind

    def counting(self, call, *args, **kwargs):
        bound.append(call.name)
        return original(self, call, *args, **kwargs)

    monkeypatch.setattr(checker._Checker, "bind", counting)
    text = REPEATS["many"]
    model, _ = checker.analyze(parse(Source("x.k", text)), Source("x.k", text))
    assert len(model.nodes) == 101
    assert sorted(bound) == ["dense", "dropout"]


def test_numbers_keep_their_type_and_sign() -> None:
    """`1` and `1.0`, `0.0` and `-0.0` are equal in Python, not in the script."""
    source = Source("x.k", REPEATS["numbers"])
    model, _ = checker.analyze(parse(source), source)
    script = render(model, Mode())
    written = [line.strip() for line in script.splitlines() if "Rescaling(" in line]
    scales = ["1", "1.0", "1", "0.0", "-0.0", "0.0", "-0.0"]
    assert written == [f"model.add(Rescaling({scale}))" for scale in scales]


@pytest.mark.parametrize(
    "ir_class",
    [ir.KerasCall, ir.Node, ir.Input, ir.Param, ir.Expr, ir.PyDict, ir.CompileArg],
)
def test_the_ir_s_many_objects_have_slots(ir_class: type) -> None:
    """A model holds one call and one node per layer: no per-instance dict (~100 bytes)."""
    assert "__slots__" in vars(ir_class)


def _trees_alive_at_shapes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Filled with how many syntax trees are alive each time shapes are inferred, beyond
    those already alive when it is called (other tests of the worker may keep some)."""
    alive: list[int] = []
    original = checker.infer

    def trees() -> int:
        gc.collect()
        return sum(type(o) is nodes.Program for o in gc.get_objects())

    already = trees()

    def counting(*args, **kwargs):
        alive.append(trees() - already)
        return original(*args, **kwargs)

    monkeypatch.setattr(checker, "infer", counting)
    return alive


def test_the_syntax_tree_is_let_go_of_before_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """`analyze_source` (what `kdsl check` and `compile` use) gives what `analyze` gives,
    but no syntax tree is alive while shapes are inferred and the script is written: at
    100,000 layers the tree is most of a compile's memory."""
    alive = _trees_alive_at_shapes(monkeypatch)
    source = Source("x.k", REPEATS["many"])
    model, summary = checker.analyze_source(source)
    tree = parse(source)
    assert (model, summary.rows) == checker.analyze(tree, source)[:1] + (summary.rows,)
    assert alive == [0, 1]


@pytest.mark.parametrize("width", [0, "", 4, "  "])
@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("blank", [False, True])
@pytest.mark.parametrize(
    "text",
    ["", "a", "a\n", "a\n\nb\n", "a\n  b", "a\rb\n", "a\r\nb", "a\x0cb\x1d\n", "a\u2028b\x85c"],
)
def test_the_indent_filter_is_jinja_s(text: str, width, first: bool, blank: bool) -> None:
    """The template's `indent` gives jinja's text for every text and width; by nothing,
    it returns the text itself where that is the same (no other line break)."""
    assert render_module._indent_by(text, width, first, blank) == jinja2.filters.do_indent(
        text, width, first, blank
    )


def _notebook_analyze(text: str) -> object:
    from kdsl.tools import notebook  # IPython, for this test only

    return notebook._analyze(text, with_model=True)


@pytest.mark.parametrize(
    "entry",
    [
        lambda text: kdsl.check(text),
        lambda text: kdsl.check_source(text),
        lambda text: kdsl.compile(text),
        lambda text: _notebook_analyze(text),
    ],
    ids=["check", "check_source", "compile", "notebook"],
)
def test_the_api_lets_the_syntax_tree_go_before_shapes(
    entry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API and the notebook check as `kdsl check` does: no syntax tree alive while
    shapes are inferred (each held one before)."""
    alive = _trees_alive_at_shapes(monkeypatch)
    entry(REPEATS["many"])
    assert alive == [0]


def _peak_per_layer(layers: int, work) -> float:
    """Bytes allocated at most while `work` runs on a chain of `layers` short layers
    (`benchmarks/speed.py`'s), per layer; the program's text is made before."""
    from test_parse_scale import _chain

    text = _chain(layers)
    work(_chain(20))  # one-off tables, templates and caches are not the program's
    tracemalloc.start()
    try:
        work(text)
        return tracemalloc.get_traced_memory()[1] / layers
    finally:
        tracemalloc.stop()


def test_a_compile_s_memory_per_layer() -> None:
    """What `kdsl compile` holds at most, per layer (issue 17: 100,000 short layers in
    100 MiB): 1,157 bytes when the tree and the model were held together, shape
    inference kept a row, a name and three table entries per layer, the model's check
    a set of every id and the template a list of every line; now the tree's 665."""

    def compile_text(text: str) -> None:
        model, _ = checker.analyze_source(Source("x.k", text), rows=False)
        render(model, Mode())

    assert _peak_per_layer(10_000, compile_text) < 700


def test_shape_inference_keeps_nothing_per_layer_without_rows() -> None:
    """`infer(rows=False)` (a compile's) holds no row, name or table entry per layer: a
    chain's shapes are let go of once the next layer has read them."""
    from test_parse_scale import _chain

    source = Source("x.k", _chain(5_000))
    model, summary = checker.analyze(parse(source), source)

    def without_rows(_text: str) -> None:
        assert checker.infer(model, rows=False).diagnostics == summary.diagnostics

    assert _peak_per_layer(5_000, without_rows) < 5


@pytest.mark.parametrize(("where", "text"), PROGRAMS, ids=[w for w, _ in PROGRAMS])
def test_without_rows_the_same_model_and_messages(where: str, text: str) -> None:
    """`analyze_source(rows=False)` (`kdsl compile`'s) finds what `analyze` finds: the
    same model and every message, in the same order; only the rows are left out."""
    source = Source("x.k", text)
    try:
        model, summary = checker.analyze(parse(source), source)
    except SourceError as error:
        with pytest.raises(SourceError) as lean:
            checker.analyze_source(source, rows=False)
        assert lean.value.diagnostics == error.diagnostics
        return
    lean_model, lean_summary = checker.analyze_source(source, rows=False)
    assert lean_model == model
    assert lean_summary.diagnostics == summary.diagnostics
    assert lean_summary.notes == summary.notes
    shared = any(block.shared for block in model.blocks)  # their inputs' shapes need rows
    assert lean_summary.rows == (summary.rows if shared else [])


def test_rows_added_after_a_look_up_are_found() -> None:
    """`Summary.row` indexes the rows when first asked, and again after more are added."""
    summary = shapes.Summary()
    first = shapes.Row("dense", "Dense", (None, 3), 15, 0, "n1")
    summary.add(first)
    assert summary.row("n1") is first
    assert summary.row("n2") is None
    second = shapes.Row("dense_1", "Dense", (None, 2), 8, 0, "n2")
    summary.add(second)
    assert (summary.row("n1"), summary.row("n2")) == (first, second)
    summary.rows.pop()
    assert (summary.row("n1"), summary.row("n2")) == (first, None)


def test_a_repeated_layer_s_spans_are_the_model_s_own() -> None:
    """The model of a layer written as one before holds equal spans, not the tree's:
    the tree is let go of as the model is made, and a span it shared would keep its
    block of the tree's memory (Python frees a block of small objects only whole):
    11 MB more peak RSS at 100,000 short layers."""
    source = Source("x.k", REPEATS["many"])
    tree = parse(source)
    model, _ = checker.analyze(tree, source)
    repeated = list(zip(tree.layers, model.nodes, strict=True))[3:]  # after the first ones
    assert len(repeated) == 98
    for call, node in repeated:
        written = [arg.value.span for arg in call.args if type(arg) is not nodes.InputShape]
        assert (node.call.span, node.call.value_spans) == (call.span, tuple(written))
        assert node.call.span is not call.span
        assert not any(a is b for a, b in zip(node.call.value_spans, written, strict=True))


def _graph_model(node_ids: list[str], reads: list[tuple[str, ...]], outputs: tuple[str, ...]):
    dense = ir.KerasCall("layers", "Dense", (1,), ())
    adam, mse = ir.CompileArg(shorthand="adam"), ir.CompileArg(shorthand="mse")
    graph_nodes = tuple(
        ir.Node(node_id, dense, read) for node_id, read in zip(node_ids, reads, strict=True)
    )
    return ir.Model((ir.Input("n0", (4,)),), graph_nodes, outputs, adam, mse, (), (), "mse")


@pytest.mark.parametrize(
    ("node_ids", "reads", "outputs", "problem"),
    [
        (["n1", "n1"], [("n0",), ("n1",)], ("n1",), "two nodes"),
        (["n1", "n2"], [("n2",), ("n1",)], ("n2",), "reads"),
        (["n1", "n2"], [("n0",), ()], ("n2",), "reads nothing"),
        (["n1", "n2"], [("n0",), ("n01",)], ("n2",), "reads"),
        (["n1", "n2"], [("n0",), ("n3",)], ("n2",), "reads"),
        (["n1", "n2"], [("n0",), ("n1",)], ("n3",), "outputs"),
        (["n1", "n2"], [("n0",), ("n1",)], ("n02",), "outputs"),
        (["n1", "n2"], [("n0",), ("n1",)], (), "outputs"),
    ],
)
def test_a_malformed_graph_of_the_checker_s_ids_is_refused(node_ids, reads, outputs, problem):
    """The checker's ids in order (`n0`, `n1`, ...) are checked without a set of every
    id; a wrong read or output among such ids is refused as any other graph's."""
    with pytest.raises(ValueError, match=problem):
        _graph_model(node_ids, reads, outputs)


def test_a_graph_of_the_checker_s_ids_is_checked_without_a_table() -> None:
    """A well-made graph (far reads, several outputs) is accepted, and checking one of
    10,000 nodes holds nothing per node (a set of every id: ~100 bytes a node)."""
    ids = [f"n{k}" for k in range(1, 10_001)]
    reads = [("n0",)] + [(f"n{k - 1}", "n0") if k % 7 else (f"n{k - 1}",) for k in range(2, 10_001)]
    tracemalloc.start()
    try:
        model = _graph_model(ids, reads, ("n10000", "n3"))
        assert tracemalloc.get_traced_memory()[1] - tracemalloc.get_traced_memory()[0] < 100_000
    finally:
        tracemalloc.stop()
    assert model.output_nodes == (model.nodes[-1], model.nodes[2])
