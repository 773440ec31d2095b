"""The graph IR (`kdsl.ir.Model`): ids, chains, and everything keyed by node id.

Every v1 program is a chain; these tests pin what the next issue's graphs rely on: node
ids are unique and stay with their node, every consumer (explain, diagram, the editor's
hovers, shape inference) finds a node by its id and never by its place in a list, and
inference walks a graph that is not a chain.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from golden_cases import all_programs, case_id

from kdsl import check_source, ir, parse
from kdsl.codegen import diagram, explain
from kdsl.codegen.render import StyleError, render
from kdsl.errors import Source, SourceError
from kdsl.ir import show_shape
from kdsl.options import Mode
from kdsl.semantics.checker import analyze
from kdsl.semantics.shapes import infer
from kdsl.tools.lsp import hover_text

# Two layers alike in every argument, between layers that tell them apart by shape.
TWINS = "input 4 -> dense 8 -> dense 8 -> dense 2 softmax; adam; categorical_crossentropy"


def _dense(units: int, **kwargs: ir.PyValue) -> ir.KerasCall:
    return ir.KerasCall("layers", "Dense", (units,), tuple(kwargs.items()))


def _model(
    inputs: tuple[ir.Input, ...], nodes: tuple[ir.Node, ...], outputs: tuple[str, ...]
) -> ir.Model:
    adam, mse = ir.CompileArg(shorthand="adam"), ir.CompileArg(shorthand="mse")
    return ir.Model(inputs, nodes, outputs, adam, mse, (), (), "mean_squared_error")


@pytest.mark.parametrize("program", all_programs(), ids=case_id)
def test_every_program_is_a_chain_with_unique_ids(program: Path) -> None:
    model = check_source(program.read_text())
    assert model.is_chain
    ids = [source.id for source in model.inputs] + [node.id for node in model.nodes]
    assert len(set(ids)) == len(ids)
    assert model.layers == model.calls == tuple(node.call for node in model.nodes)
    assert model.outputs == (model.nodes[-1].id,)
    summary = infer(model)
    assert [row.node_id for row in summary.rows] == [node.id for node in model.nodes]


def test_ids_do_not_depend_on_names_and_survive_changes_to_other_nodes() -> None:
    """An id is not the Keras name (which `name=` changes), and replacing or dropping
    another node leaves it as it was."""
    plain = check_source("dense 8 in 4 -> dense 8 -> dense 1; adam; mse")
    named = check_source("dense 8 in 4 name=first -> dense 8 -> dense 1 name=out; adam; mse")
    assert [n.id for n in plain.nodes] == [n.id for n in named.nodes]
    assert [n.id for n in check_source(TWINS).nodes] == [n.id for n in check_source(TWINS).nodes]
    first, second, last = plain.nodes
    changed = plain.with_calls({second.id: _dense(3)}).with_fit(epochs=2)
    assert [n.id for n in changed.nodes] == [first.id, second.id, last.id]
    assert changed.node(second.id).call == _dense(3) and changed.node(last.id) == last
    dropped = replace(plain, nodes=(first, replace(last, inputs=(first.id,))))
    assert dropped.is_chain and [n.id for n in dropped.nodes] == [first.id, last.id]


@pytest.mark.parametrize(
    ("inputs", "nodes", "outputs", "problem"),
    [
        ((ir.Input("x", (4,)),), (ir.Node("x", _dense(1), ("x",)),), ("x",), "two nodes"),
        ((ir.Input("x", (4,)),), (ir.Node("a", _dense(1), ("b",)),), ("a",), "reads"),
        ((ir.Input("x", (4,)),), (ir.Node("a", _dense(1), ()),), ("a",), "reads"),
        ((ir.Input("x", (4,)),), (ir.Node("a", _dense(1), ("x",)),), ("b",), "outputs"),
    ],
    ids=["duplicate id", "reads a later node", "reads nothing", "unknown output"],
)
def test_a_malformed_graph_is_refused_when_built(inputs, nodes, outputs, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        _model(inputs, nodes, outputs)


def test_is_chain_only_for_one_input_each_node_reading_the_one_before() -> None:
    x = ir.Input("x", (4,))
    a, b = ir.Node("a", _dense(8), ("x",)), ir.Node("b", _dense(1), ("a",))
    assert _model((x,), (a, b), ("b",)).is_chain
    assert not _model((x,), (a, b), ("a",)).is_chain  # the output is not the last node
    assert not _model((x,), (a, replace(b, inputs=("x",))), ("b",)).is_chain  # a branch
    assert not _model((x,), (a, b), ("a", "b")).is_chain  # two outputs
    with pytest.raises(AssertionError, match="chain"):
        _ = _model((x,), (a, b), ("a", "b")).layers


def _renumbered(model: ir.Model) -> ir.Model:
    """The same chain with ids that are not positions: the nodes' ids in reverse order."""
    ids = {n.id: f"node_{len(model.nodes) - i}" for i, n in enumerate(model.nodes)}
    ids[model.inputs[0].id] = "the_input"
    nodes = tuple(
        replace(n, id=ids[n.id], inputs=tuple(ids[i] for i in n.inputs)) for n in model.nodes
    )
    inputs = tuple(replace(s, id=ids[s.id]) for s in model.inputs)
    return replace(model, inputs=inputs, nodes=nodes, outputs=(ids[model.outputs[0]],))


def test_explain_comments_land_on_their_own_layer_whatever_the_ids() -> None:
    """Each layer's comment gives its own output shape and parameter count: with ids
    that are not positions, a lookup by position would put them on a neighbour (or
    nowhere), and the twins' comments would swap with the layers around them."""
    model = check_source(TWINS)
    for graph in (model, _renumbered(model)):
        comments = explain.comments(graph)
        summary = infer(graph)
        for node in graph.nodes:
            row = summary.row(node.id)
            assert row is not None
            assert (
                f"Output shape {show_shape(row.output_shape)}; {row.params:,} para"
                in (comments[node.id])
            )
        assert "(the output layer)" in comments[graph.outputs[0]]
        assert render(graph, Mode(explain=True)) == render(model, Mode(explain=True))


def test_diagram_boxes_and_edges_follow_ids() -> None:
    model = _renumbered(check_source(TWINS))
    dot = diagram.to_dot(model, infer(model), "twins")
    assert re.findall(r"^  (\w+) -> (\w+);$", dot, re.M) == [
        ("the_input", "node_3"),
        ("node_3", "node_2"),
        ("node_2", "node_1"),
    ]
    twin = r'^  node_2 \[label="dense_1 \(Dense\)\\n.*\(None, 8\) · 72 params"'
    assert re.search(twin, dot, re.M)


def test_hover_on_the_second_of_two_twins_shows_the_second() -> None:
    """`dense 8 -> dense 8`: the same call written twice; the hover finds each by where
    it is written and shows its own name and weights (4x8+8, then 8x8+8)."""
    column = TWINS.index("dense 8 -> dense 2") + 2
    text, span = hover_text(TWINS, 1, column)
    assert span.column == column - 1
    assert "**dense_1**" in text and "Parameters: 72" in text
    text, _ = hover_text(TWINS, 1, TWINS.index("dense 8") + 2)
    assert "**dense**" in text and "Parameters: 40" in text
    text, span = hover_text(TWINS, 1, 2)
    assert "Output shape: `(None, 4)`" in text and span.column == 1


def test_infer_walks_a_graph_that_is_not_a_chain() -> None:
    """An input read by two nodes, one of them read by two more, two outputs: every node
    gets its shape from its own input; a one-input layer given two inputs is a problem
    in words, not a crash."""
    x = ir.Input("x", (4,))
    nodes = (
        ir.Node("wide", _dense(16, activation="relu"), ("x",)),
        ir.Node("narrow", _dense(2), ("x",)),
        ir.Node("head_a", _dense(3, activation="softmax"), ("wide",)),
        ir.Node("head_b", _dense(1), ("wide",)),
    )
    model = _model((x,), nodes, ("head_a", "head_b"))
    assert not model.is_chain
    summary = infer(model)
    shapes = {row.node_id: (row.output_shape, row.params) for row in summary.rows}
    assert shapes == {
        "wide": ((None, 16), 80),
        "narrow": ((None, 2), 10),
        "head_a": ((None, 3), 51),
        "head_b": ((None, 1), 17),
    }
    assert [d.message for d in summary.diagnostics] == []
    assert model.output_nodes == nodes[2:]
    with pytest.raises(ValueError, match="2 outputs"):
        _ = summary.output_shape
    with pytest.raises(StyleError, match="this model is a graph"):
        render(model, Mode(style="add"))
    assert "model = keras.Model(inputs=[inputs], outputs=[output_1, output_2])" in render(model)
    assert diagram.to_svg(model, summary, "graph").count('<g class="layer"') == 5
    dot = diagram.to_dot(model, summary, "graph")
    assert re.findall(r"^  (\w+) -> (\w+);$", dot, re.M) == [
        ("x", "wide"),
        ("x", "narrow"),
        ("wide", "head_a"),
        ("wide", "head_b"),
    ]

    merged = _model((x,), (*nodes[:2], ir.Node("both", _dense(1), ("wide", "narrow"))), ("both",))
    summary = infer(merged)
    assert [d.message for d in summary.diagnostics] == ["`dense` takes one input, but gets 2"]
    assert summary.row("both") is not None and summary.row("both").output_shape is None


def test_each_edge_has_its_own_dtype() -> None:
    """Two inputs, integer ids and floats: an embedding reading the ids is fine; one
    reading the floats, or another embedding's float vectors, is told so, each with the
    hint for where it stands."""
    ids = ir.Input("ids", (10,), (("dtype", "int32"),))
    values = ir.Input("values", (10,))
    embed = ir.KerasCall("layers", "Embedding", (100, 8), ())
    nodes = (
        ir.Node("direct", embed, ("ids",)),
        ir.Node("on_values", embed, ("values",)),
        ir.Node("late", embed, ("direct",)),
    )
    model = _model((ids, values), nodes, ("on_values", "late"))
    with pytest.raises(ValueError, match="2 inputs"):
        model.input_node()
    assert model.input_node("values") == values
    summary = infer(model)
    problems = [(d.message, d.hint) for d in summary.diagnostics if d.severity == "error"]
    message = "`embedding` needs integer sequences (token ids), but gets float32 values"
    assert problems == [
        (message, "start with `input SHAPE dtype=int32`"),
        (message, "`embedding` must come right after an integer input"),
    ]
    assert summary.row("direct").output_shape == (None, 10, 8)


def test_one_entry_point_with_the_shape_error_policy_as_a_parameter() -> None:
    """`analyze` raises every error by default; with shape_errors="keep" (the editor's)
    a shape error stays in the summary with the rows up to it, but a wrong name still
    raises: there is no model to infer."""
    shape_error = "input 4 -> conv2d 8 3 -> dense 1; adam; mse"
    with pytest.raises(SourceError, match="`conv2d` needs 3 dimensions per sample"):
        analyze(parse(shape_error), Source("m.k", shape_error))
    model, summary = analyze(parse(shape_error), Source("m.k", shape_error), shape_errors="keep")
    assert [d.severity for d in summary.diagnostics] == ["error"]
    assert [row.output_shape for row in summary.rows] == [None, None]
    assert [row.node_id for row in summary.rows] == [node.id for node in model.nodes]
    name_error = "input 4 -> dense 8 -> dnese 1; adam; mse"
    for policy in ("raise", "keep"):
        with pytest.raises(SourceError, match="unknown layer `dnese`"):
            analyze(parse(name_error), Source("m.k", name_error), shape_errors=policy)
