"""v2 programs (graphs, blocks, several inputs and outputs) through the checker, without
TensorFlow: the expanded graph, its static shapes and parameters, the written form the
renderer reads, and where v1 programs keep their v1 path. The parameter counts are
Keras's (each program is built with Keras in tests/test_graph_keras.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import kdsl
from kdsl import ir
from kdsl.errors import Source, SourceError
from kdsl.language.parser import parse
from kdsl.semantics.checker import analyze

ROOT = Path(__file__).resolve().parent.parent
GRAPHS = ROOT / "examples" / "graphs"

# Parameters as Keras counts them (keras.applications for ResNet50 and MobileNetV2).
EXPECTED_PARAMS = {
    "resnet50.k": 25_636_712,
    "mobilenetv2.k": 3_538_984,
    "unet.k": 31_054_145,
    "transformer.k": 691_010,
    "encoder_decoder.k": 1_976_384,
    "siamese.k": 22_978,
    "densenet121.k": 8_062_504,
    "inceptionv3.k": 23_851_784,  # the encoder's 22,976 counted once
}


def _analyze(text: str, name: str = "<test>"):
    source = Source(name, text)
    return analyze(parse(source), source)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_example_parameters_are_keras_s(name: str) -> None:
    _, summary = _analyze((GRAPHS / name).read_text(), name)
    assert summary.total() == EXPECTED_PARAMS[name]


def test_resnet50_expands_to_keras_s_layers() -> None:
    """keras.applications.ResNet50: 53 Conv2D, 53 BatchNormalization, 16 Add, one Dense."""
    model, _ = _analyze((GRAPHS / "resnet50.k").read_text())
    classes = [node.call.class_name for node in model.nodes]
    assert classes.count("Conv2D") == 53
    assert classes.count("BatchNormalization") == 53
    assert classes.count("Add") == 16
    assert classes.count("Dense") == 1
    assert not model.is_chain


def test_every_example_checks_cleanly() -> None:
    for path in sorted(GRAPHS.glob("*.k")):
        assert kdsl.check(path.read_text()) == [], path.name


def test_written_form_keeps_blocks_parameters_and_repeats() -> None:
    model, _ = _analyze((GRAPHS / "resnet50.k").read_text())
    blocks = {block.name: block for block in model.blocks}
    assert list(blocks) == ["cb", "body", "proj", "id", "stage"]
    assert blocks["cb"].params == (("f", ir.REQUIRED), ("k", ir.REQUIRED), ("s", 1))
    conv = blocks["cb"].nodes[0].call
    assert conv.class_name == "Conv2D"
    assert conv.args == (ir.Param("f"), ir.Param("k"))
    assert ("strides", ir.Param("s")) in conv.kwargs
    stage = blocks["stage"].nodes
    assert [n.call.class_name for n in stage] == ["proj", "id"]
    assert all(n.call.module == "blocks" for n in stage)
    assert stage[1].repeat == ir.Param("n")
    assert model.program is not None
    inputs, program_nodes, outputs = model.program
    calls = [n.call for n in program_nodes if n.call.module == "blocks"]
    assert [c.args for c in calls] == [(64, 256, 1, 2), (128, 512, 2, 3),
                                       (256, 1024, 2, 5), (512, 2048, 2, 2)]  # fmt: skip
    assert outputs == (program_nodes[-1].id,)


def test_a_program_without_blocks_or_repeats_has_no_written_form() -> None:
    model, _ = _analyze("input 8 -> [identity | dense 8] -> add -> dense 1; adam; mse")
    assert model.program is None and model.blocks == ()
    add = next(node for node in model.nodes if node.call.class_name == "Add")
    assert add.inputs == (model.inputs[0].id, model.nodes[0].id)  # shortcut first


def test_two_inputs_two_outputs() -> None:
    model, summary = _analyze((GRAPHS / "two_inputs_two_outputs.k").read_text())
    assert [dict(i.kwargs)["name"] for i in model.inputs] == ["title", "tags"]
    assert model.output_names == ("priority", "department")
    assert [n.call.kwarg("name") for n in model.output_nodes] == ["priority", "department"]
    assert dict(model.loss_weights) == {"priority": 1.0, "department": 0.2}
    assert [name for name, _ in model.losses] == ["priority", "department"]
    metrics = dict(model.output_metrics)
    assert list(metrics) == ["department"] and len(metrics["department"]) == 2
    assert [summary.row(o).output_shape for o in model.outputs] == [(None, 1), (None, 4)]


def test_attention_reads_query_value_and_call_options() -> None:
    model, _ = _analyze((GRAPHS / "encoder_decoder.k").read_text())
    attention = [n for n in model.nodes if n.call.class_name == "MultiHeadAttention"]
    causal = [n for n in attention if n.call_kwargs == (("use_causal_mask", True),)]
    cross = [n for n in attention if len(n.inputs) == 2]
    assert len(causal) == 2 and len(cross) == 2
    memory = {n.inputs[1] for n in cross}
    assert len(memory) == 1  # both decoder passes read the encoder's output


def test_v1_programs_keep_their_chain() -> None:
    text = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"
    program = parse(Source("<t>", text))
    assert program.is_v1 and [c.name for c in program.layers] == ["dense"] * 3
    model, _ = _analyze(text)
    assert model.is_chain and model.program is None


def test_a_merge_in_a_chain_is_a_graph_and_needs_several_inputs() -> None:
    with pytest.raises(SourceError, match="merges several tensors"):
        _analyze("input 4 -> dense 3 -> add; adam; mse")
    model, _ = _analyze("input 4x8 -> multiheadattention 2 4 -> gap1d -> dense 1; adam; mse")
    assert not model.is_chain  # Sequential cannot call attention: functional style


def test_repeat_applies_each_pass_to_the_last() -> None:
    model, summary = _analyze("input 4 -> dense 8 relu * 3 -> dense 1; adam; mse")
    assert [n.call.class_name for n in model.nodes] == ["Dense"] * 4
    assert model.is_chain
    assert summary.total() == 4 * 8 + 8 + 2 * (8 * 8 + 8) + 9
    assert model.program is not None and model.program[1][0].repeat == 3


def test_block_expansion_is_capped() -> None:
    text = "".join(f"def b{i} {{ b{i - 1} * 10 }}\n" for i in range(1, 7))
    with pytest.raises(SourceError, match="expands to more than"):
        _analyze("def b0 { dense 2 }\n" + text + "input 4 -> b6; adam; mse")


def test_a_shared_block_is_one_set_of_layers_applied_twice() -> None:
    model, summary = _analyze((GRAPHS / "siamese.k").read_text())
    owners = [node for node in model.nodes if node.scope == ("encoder",) and not node.shares]
    again = [node for node in model.nodes if node.shares]
    assert len(owners) == len(again) == 5
    assert [node.shares for node in again] == [node.id for node in owners]
    assert all(summary.row(node.id).params == 0 for node in again)
    assert model.blocks[0].shared


def test_a_shared_block_takes_one_shape() -> None:
    with pytest.raises(SourceError, match="applied to .* here, but was built for"):
        _analyze("shared e { dense 4 }\nl: input 3 -> a: e; r: input 5 -> e -> add @a; adam; mse")
