"""A functional model's layout (`graph.Layout`) written as v2 kdsl text.

Chains as chains, groups as `[a | b] -> merge`, labels only on the tensors read by name,
inputs and outputs by their Keras names (a label on an input or an output is its name),
a layer applied several times as a `shared` block, the compile config per output.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kdsl.ir import SEVERAL_INPUTS as _SEVERAL_INPUTS
from kdsl.language.syntax import INPUT
from kdsl.semantics.catalog import keras_snake_case
from kdsl.tools.importer.fold import Folder, Item
from kdsl.tools.importer.graph import (
    NESTED_MODELS,
    Chain,
    Graph,
    Group,
    Layout,
    Step,
    label_name,
    read_graph,
)

if TYPE_CHECKING:
    from kdsl.tools.importer import _Importer


class FunctionalWriter:
    """Writes one functional model; `compact` drops the names that encode a position
    (those with a digit, as `conv2_block1_1_conv`), `faithful` keeps every name."""

    def __init__(
        self,
        importer: _Importer,
        config: dict,
        compact: bool,
        within: FunctionalWriter | None = None,
    ) -> None:
        """`within`: the writer of the model this one is nested in (as a `shared` block)."""
        self.importer = importer
        self.compact = compact
        self.within = within
        body = config.get("config")
        self.body = body if isinstance(body, dict) else {}
        self.graph: Graph = read_graph(importer, self.body)
        self.layout = Layout(self.graph).build()
        self.labels: dict[int, str] = {}
        self.taken: set[str] = within.taken if within else set()
        self.blocks: dict[str, str] = {}  # shared layer → its block's name
        self.block_lines: list[str] = within.block_lines if within else []
        self.numbered = 0
        self.defined: set[str] = within.defined if within else set()  # blocks written
        self.within_name = ""

    def chain_layers(self) -> list[dict] | None:
        """The layers in order, input first, when the graph is one plain chain."""
        graph = self.graph
        if len(graph.inputs) != 1 or len(graph.outputs) != 1 or graph.shared:
            return None
        ops = graph.ops
        if ops[0].id != graph.inputs[0] or graph.outputs[0] != ops[-1].id:
            return None
        for before, op in zip(ops, ops[1:], strict=False):
            if op.reads() != [before.id] or op.flags or len(before.consumers) != 1:
                return None
            if op.class_name in _SEVERAL_INPUTS or op.class_name in NESTED_MODELS:
                return None
        return [self.input_layer(ops[0].id), *(op.layer for op in ops[1:] if op.layer)]

    def reserved(self, word: str) -> bool:
        catalog = self.importer.catalog
        return (
            catalog.layer(word) is not None
            or word in catalog.activations
            or word in ("input", "def", "shared", "identity", "outputs", "in")
            or word.lower() in ("true", "false", "none")
        )

    def write(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The program's chains (and blocks), and the output labels for its sections."""
        graph, layout = self.graph, self.layout
        last = layout.chains[-1]
        last_end = _end(last)
        outputs_section = graph.outputs != [last_end]
        for name in graph.shared:  # a shared layer's block is named after it
            self.blocks[name] = label_name(name, self.taken, self.reserved)
        for applied in graph.ops:  # so is a nested model's
            if applied.class_name in NESTED_MODELS and applied.name not in self.blocks:
                self.blocks[applied.name] = label_name(applied.name, self.taken, self.reserved)
        if self.within is not None:  # a block's body: its input is `@in`
            if len(graph.inputs) != 1 or len(graph.outputs) != 1 or outputs_section:
                raise self.importer.fail(
                    f"nests the model `{self.within_name}` with {len(graph.inputs)} inputs and "
                    f"{len(graph.outputs)} outputs, which kdsl cannot write",
                    "kdsl writes a nested model with one input and one output as a `shared` block",
                )
            self.labels[graph.inputs[0]] = "in"
        for op in graph.inputs:
            if op in self.labels:
                continue
            if len(graph.inputs) > 1 or op in layout.referenced or self.named_input(op):
                self.labels[op] = label_name(self.op_name(op), self.taken, self.reserved)
        output_labels: list[tuple[str, str]] = []
        for op in graph.outputs:
            if op in self.labels:
                raise self.importer.fail(
                    f"uses the input `{self.op_name(op)}` as an output, which kdsl cannot write"
                )
            if outputs_section or len(graph.outputs) > 1:
                self.labels[op] = label_name(self.op_name(op), self.taken, self.reserved)
            output_labels.append((self.op_name(op), self.labels.get(op, "")))
        for op in sorted(layout.referenced, key=layout.position.__getitem__):
            if op not in self.labels:
                self.labels[op] = label_name(self.tensor_name(op), self.taken, self.reserved)
        empty = [c.start for c in layout.chains if c.from_input and not c.elements]
        if empty and self.within is None:
            by_id = layout.by_id
            never_first = [
                source
                for source in empty
                if all(by_id[reader].inputs[0] != source for reader in by_id[source].consumers)
            ]
            source = (never_first or empty)[0]
            raise self.importer.fail(
                f"reads the input `{self.op_name(source)}` only as another layer's "
                "second tensor (a merge's or attention's), which kdsl cannot write: a "
                "chain from an input starts with a layer",
                "pass the input through a layer first (e.g. a Dense or a LayerNormalization)",
            )
        starts = [self.start(chain, first=index == 0) for index, chain in enumerate(layout.chains)]
        bodies = [[self.item(element) for element in chain.elements] for chain in layout.chains]
        definitions: list[str] = []
        if self.compact and self.within is None:
            folder = Folder(
                bodies, lambda number: label_name(f"block{number}", self.taken, self.reserved)
            )
            definitions = [block.text() for block in folder.fold()]
        chains = [
            " -> ".join([*([start] if start else []), *(item.text() for item in body)])
            for start, body in zip(starts, bodies, strict=True)
        ]
        chains = [*definitions, *chains]
        if outputs_section:
            chains.append("outputs " + " ".join(f"@{label}" for _, label in output_labels))
        blocks = self.block_lines if self.within is None else []  # the outer one writes them
        return [*blocks, *chains], output_labels

    def tensor_name(self, op: int) -> str:
        """A label for a tensor read by name: its layer's name, or `t` and a number where
        that name says only where the layer is (a label is no layer's name)."""
        name = self.op_name(op)
        shared = name in self.graph.shared  # the name is its block's
        if shared or positional(name, self.layout.by_id[op].class_name):
            self.numbered += 1
            return f"t{self.numbered}"
        return name

    def op_name(self, op: int) -> str:
        return self.layout.by_id[op].name

    def named_input(self, op: int) -> bool:
        """Whether the input has a name of its own, not Keras's `input_layer`."""
        name = self.op_name(op)
        return not re.fullmatch(r"input_layer(_\d+)?", name)

    def start(self, chain: Chain, first: bool) -> str:
        """Where a chain starts: an input, or a label (in a block's body, nothing for the
        first chain, `@in` for a later one from its input)."""
        if chain.from_input and self.within is not None:
            return "" if first else "@in"
        if chain.from_input:
            return self.input_text(chain.start, first)
        return f"@{self.labels[chain.start]}"

    def input_text(self, op: int, first: bool) -> str:
        shape, args = self.importer.input(
            [self.input_layer(op)], {}, named=False
        )  # the label is its name
        text = f"{INPUT} {_shape_text(shape)}{''.join(' ' + a for a in args)}"
        label = self.labels.get(op)
        if label is None:
            self.importer.auto_names.take("InputLayer")
            return text
        if label != self.op_name(op):
            self.importer.notes.append(
                f"the input `{self.op_name(op)}` is written `{label}`, a name kdsl can write"
            )
        return f"{label}: {text}"

    def input_layer(self, op: int) -> dict:
        name = self.op_name(op)
        for layer in self.body.get("layers", ()):
            if isinstance(layer, dict) and layer.get("name") == name:
                return layer
        raise self.importer.fail(f"is not a Keras model config: no input layer `{name}`")

    def item(self, element: Step | Group) -> Item:
        """An element as an item to fold (layers written in the program's order, as the
        rebuilt script makes them: the automatic names count in that order)."""
        if isinstance(element, Group):
            branches = [[self.item(e) for e in branch] for branch in element.branches]
            return Item(branches=branches, merge=self.item(element.merge))
        text = self.element(element)
        fixed = bool(element.refs or self.layout.by_id[element.op].tensors) or (
            element.op in self.labels
        )
        return Item(words=text.split(" "), fixed=fixed)

    def element(self, element: Step) -> str:
        op = self.layout.by_id[element.op]
        assert op.layer is not None
        label = self.labels.get(op.id)
        output = op.id in self.graph.outputs and label is not None
        text = self.layer_text(op.layer, op.name, labelled=output)
        refs = [f"@{self.labels[r]}" for r in element.refs]
        refs += [f"{key}=@{self.labels[r]}" for key, r in op.tensors.items()]
        refs += [f"{key}=true" for key in op.flags]
        text = " ".join([text, *refs])
        if label is not None:
            if output and label != op.name:
                self.importer.notes.append(
                    f"the output `{op.name}` is written `{label}`, a name kdsl can write"
                )
            return f"{label}: {text}"
        return text

    def layer_text(self, layer: dict, name: str, labelled: bool) -> str:
        kind = str(layer.get("class_name"))
        if name in self.blocks:  # a shared layer, or a nested model
            block = self.blocks[name]
            if block not in self.defined:
                self.defined.add(block)
                if kind in NESTED_MODELS:
                    inner = self.nested(layer, name)
                else:
                    inner = self.importer.layer(layer, drop_name=True)
                self.block_lines.append(f"shared {block} {{ {inner} }}")
            return block
        if self.within is not None:
            return self.inner_layer(layer, name)
        drop = self.compact and positional(name, kind)
        return self.importer.layer(layer, drop_name=drop, labelled=labelled)

    def inner_layer(self, layer: dict, name: str) -> str:
        """A layer of a nested model: its name kept but where Keras made it up (`dense_2`)
        or, in the compact form, where it is positional."""
        kind = str(layer.get("class_name"))
        automatic = re.fullmatch(rf"{re.escape(keras_snake_case(kind))}(_\d+)?", name)
        keep = not automatic and not (self.compact and positional(name, kind))
        return self.importer.layer(layer, drop_name=not keep, keep_name=keep)

    def nested(self, layer: dict, name: str) -> str:
        """A nested model's body: its layers, or its graph with `@in` for its input."""
        config = layer.get("config")
        config = config if isinstance(config, dict) else {}
        if layer.get("class_name") == "Sequential":
            listed = config.get("layers")
            inner = [x for x in listed if isinstance(x, dict)] if isinstance(listed, list) else []
            texts = [
                self.inner_layer(x, str(_config(x).get("name")))
                for x in inner
                if x.get("class_name") != "InputLayer"
            ]
            if not texts:
                raise self.importer.fail(f"nests the model `{name}`, which has no layers")
            return " -> ".join(texts)
        writer = FunctionalWriter(self.importer, layer, self.compact, within=self)
        writer.within_name = name
        chains, _ = writer.write()
        return "; ".join(chains)


def _config(layer: dict) -> dict:
    config = layer.get("config")
    return config if isinstance(config, dict) else {}


def positional(name: str, class_name: str) -> bool:
    """A name that only says where the layer is (`conv2_block1_1_conv`), or Keras's own
    (`batch_normalization`): the compact form drops it."""
    return any(c.isdigit() for c in name) or name == keras_snake_case(class_name)


def _end(chain: Chain) -> int:
    if not chain.elements:
        return chain.start
    last = chain.elements[-1]
    return last.merge.op if isinstance(last, Group) else last.op


def _shape_text(dims: list) -> str:
    from kdsl.tools.importer import _shape

    return _shape(dims)


def write_functional(importer: _Importer, config: dict, compact: bool) -> tuple[list[str], Any]:
    """The chains (and blocks) of a functional model, and its output labels."""
    return FunctionalWriter(importer, config, compact).write()
