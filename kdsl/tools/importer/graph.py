"""A functional model's graph, read from its config, and written in kdsl's v2 form.

Reading: every application of a layer (a Keras "node") becomes an `Op`, its inputs the
ops whose tensors it reads (`inbound_nodes`, Keras 3's format or Keras 2's). Writing:
the ops are walked along chains; a tensor read by several ops whose paths meet again at
one merge layer, nothing else entering or leaving on the way, is a fork-join written
`[a | b] -> merge` (a branch that is the tensor itself is `identity`); anything else
(a long skip, a tensor read by a later chain) gets a label, `name:`, and is read as
`@name`. Each step looks at most `LONG_SKIP` ops ahead, so writing is linear in the
model's size.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdsl.semantics.graph import ATTENTION_CLASSES, MERGE_CLASSES

if TYPE_CHECKING:
    from kdsl.tools.importer import _Importer

# A fork whose paths have not met again within this many ops (in the graph's order) is a
# long skip: its tensor is labelled and read by `@name` rather than grouped.
LONG_SKIP = 40
# Modules of operations that are not layers (`x + 3.0` in a functional model).
_OPS_MODULE = "keras.src.ops"
NESTED_MODELS = ("Functional", "Sequential", "Model")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Op:
    """One application of a layer (or a model input): the tensor it makes."""

    id: int
    name: str  # the layer's name
    layer: dict | None  # its config entry; None for an input
    inputs: list[int] = field(default_factory=list)  # the main inputs, in call order
    tensors: dict[str, int] = field(default_factory=dict)  # attention's value/key/mask
    flags: dict[str, bool] = field(default_factory=dict)  # attention's use_causal_mask
    consumers: list[int] = field(default_factory=list)  # distinct, in graph order

    @property
    def class_name(self) -> str:
        return "InputLayer" if self.layer is None else str(self.layer.get("class_name"))

    def reads(self) -> list[int]:
        """Every tensor the op reads, each once."""
        return list(dict.fromkeys([*self.inputs, *self.tensors.values()]))


@dataclass
class Graph:
    ops: list[Op]  # in a topological order
    inputs: list[int]
    outputs: list[int]
    shared: dict[str, list[int]]  # a layer applied several times → its ops


# -- reading --------------------------------------------------------------------------------


def read_graph(importer: _Importer, body: dict) -> Graph:
    """The ops of a functional model's config, in a topological order (the config's own
    layer order where it allows), refusing what is not a graph of layers."""
    fail = importer.fail
    layers = body.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise fail("is not a Keras model config: the functional model has no layer list")
    by_name: dict[str, tuple[int, dict]] = {}
    for position, layer in enumerate(layers):
        name = layer.get("name", _config(layer).get("name"))
        if not isinstance(name, str):
            raise fail(f"is not a Keras model config: a layer without a name: {layer!r:.80}")
        if name in by_name:
            raise fail(f"is not a Keras model config: two layers are named `{name}`")
        by_name[name] = (position, layer)
    # Each (layer, node index) is an op; its inbound tensors are resolved below.
    keys: dict[tuple[str, int], int] = {}
    pending: list[tuple[Op, Any]] = []
    ops: list[Op] = []
    order: list[tuple[int, int]] = []
    for _, layer in layers_in_order(by_name):  # a class Keras does not ship, named first
        module = str(layer.get("module", "keras.layers"))
        kind = layer.get("class_name")
        if (
            not module.startswith(_OPS_MODULE)
            and kind not in (*NESTED_MODELS, "InputLayer")
            and isinstance(kind, str)
        ):
            if kind == "Lambda":
                importer.layer(layer)  # refuses it, saying why
            importer.layer_entry(kind, f"`{layer.get('name')}` ({kind})", layer)
    for position, layer in layers_in_order(by_name):
        name = str(layer.get("name", _config(layer).get("name")))
        if layer.get("class_name") == "InputLayer":
            keys[(name, 0)] = len(ops)
            ops.append(Op(len(ops), name, None))
            order.append((position, 0))
            continue
        refuse_operation(importer, layer, name)
        nodes = layer.get("inbound_nodes")
        if not isinstance(nodes, list) or not nodes:
            raise fail(f"is not a Keras model config: layer `{name}` is applied to nothing")
        for index, node in enumerate(nodes):
            op = Op(len(ops), name, layer)
            keys[(name, index)] = op.id
            ops.append(op)
            order.append((position, index))
            pending.append((op, node))
    for op, node in pending:
        read_node(importer, op, node, keys)
    # The model's outputs count a nested functional model's nodes from 1 (its node 0, in
    # Keras's reckoning, is its own, input to output); the layers' inputs from 0.
    models = {
        name
        for name, (_, layer) in by_name.items()
        if layer.get("class_name") in ("Functional", "Model")
    }
    inputs = [
        _endpoint(importer, item, keys, "input", models)
        for item in _endpoints(importer, body, "input")
    ]
    outputs = [
        _endpoint(importer, item, keys, "output", models)
        for item in _endpoints(importer, body, "output")
    ]
    for op in ops:
        if op.layer is None and op.id not in inputs:
            raise fail(f"is not a Keras model config: input `{op.name}` is not a model input")
    topo = topological(ops, order, importer)
    shared: dict[str, list[int]] = {}
    for op in topo:
        if op.layer is not None and len(op.layer.get("inbound_nodes") or ()) > 1:
            shared.setdefault(op.name, []).append(op.id)
    for op in topo:
        for source in op.reads():
            if op.id not in ops[source].consumers:
                ops[source].consumers.append(op.id)
    return Graph(topo, inputs, outputs, shared)


def layers_in_order(by_name: dict[str, tuple[int, dict]]) -> list[tuple[int, dict]]:
    return sorted(by_name.values(), key=lambda item: item[0])


def refuse_operation(importer: _Importer, layer: dict, name: str) -> None:
    """`x + 3.0` in a functional model is saved as a `keras.ops` operation, not a layer."""
    module = str(layer.get("module", ""))
    if module.startswith(_OPS_MODULE):
        function = "keras." + module.removeprefix("keras.src.").replace(".numpy", "")
        function += "." + keras_op_name(layer)
        raise importer.fail(
            f"applies `{function}` at `{name}`, an operation on tensors (such as `x + 3.0` in "
            "Python), which is not a layer: kdsl writes Keras layers only",
            "build the model with layers only (e.g. `layers.Add()`, `layers.Rescaling`)",
        )


def keras_op_name(layer: dict) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", str(layer.get("class_name"))).lower()


def read_node(importer: _Importer, op: Op, node: Any, keys: dict[tuple[str, int], int]) -> None:
    """An op's inputs, from its `inbound_nodes` entry: Keras 3's `{"args", "kwargs"}` or
    Keras 2's list of `[layer, node, tensor, kwargs]`."""
    label = f"layer `{op.name}` ({op.class_name})"
    if isinstance(node, list):  # Keras 2
        tensors = [_history(importer, item, keys, label) for item in node]
        args: list[Any] = [tensors if len(tensors) > 1 else tensors[0]] if tensors else []
        kwargs: dict = {}
        for item in node:
            if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict):
                kwargs |= item[3]
    elif isinstance(node, dict):
        args = node.get("args") or []
        kwargs = node.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise importer.fail(f"is not a Keras model config: {label} has a malformed node")
        args = [_tensors(importer, arg, keys, label) for arg in args]
    else:
        raise importer.fail(f"is not a Keras model config: {label} has a malformed node")
    attention = op.class_name in ATTENTION_CLASSES
    flat: list[int] = []
    for arg in args:
        flat.extend(arg if isinstance(arg, list) else [arg])
    if not all(isinstance(item, int) for item in flat):
        raise importer.fail(
            f"{label} is called with nested lists of tensors, which kdsl cannot write"
        )
    if not flat:
        raise importer.fail(f"is not a Keras model config: {label} is applied to no tensor")
    if attention:  # the query flows in; the value and key follow it, or come by name
        op.inputs = flat[:1]
        named = dict(zip(("value", "key"), flat[1:], strict=False))
    else:
        op.inputs = flat
        named = {}
    for key, value in kwargs.items():
        if key in ("value", "key", "attention_mask") and attention and value is not None:
            named[key] = _tensors(importer, value, keys, label)
        elif key == "use_causal_mask" and attention:
            if value:
                op.flags[key] = True
        elif key in ("training", "mask") and value is None:
            continue
        elif key == "training" and isinstance(value, bool):
            continue  # Keras sets `training` itself when the model runs
        else:
            raise importer.fail(
                f"{label} is called with `{key}`, which kdsl cannot write",
                "kdsl passes tensors to merge layers and to attention only",
            )
    for key, value in named.items():
        if not isinstance(value, int):
            raise importer.fail(f"{label} takes several tensors as its `{key}`")
    if named.get("value") is not None and named["value"] != op.inputs[0]:
        op.tensors["value"] = named["value"]
    if named.get("key") is not None and named["key"] != named.get("value", op.inputs[0]):
        op.tensors["value"] = named.get("value", op.inputs[0])
        op.tensors["key"] = named["key"]
    if named.get("attention_mask") is not None:
        op.tensors["attention_mask"] = named["attention_mask"]
    if len(op.inputs) > 1 and op.class_name not in MERGE_CLASSES:
        raise importer.fail(
            f"{label} reads {len(op.inputs)} tensors, which kdsl can write for merge layers "
            "and attention only",
        )


def _tensors(importer: _Importer, value: Any, keys: dict, label: str) -> Any:
    """A call argument: a tensor's op id, or a list of them; a constant is refused."""
    if isinstance(value, list | tuple):
        return [_tensors(importer, item, keys, label) for item in value]
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _history(importer, _config(value).get("keras_history"), keys, label)
    raise importer.fail(
        f"{label} is called with a constant ({str(value)[:40]}) as an input, "
        "which kdsl cannot write",
        "kdsl passes tensors between layers only",
    )


def _history(importer: _Importer, history: Any, keys: dict, label: str) -> int:
    """The op a `keras_history` `[layer, node, tensor]` names."""
    if (
        not isinstance(history, list)
        or len(history) < 3
        or not isinstance(history[0], str)
        or type(history[1]) is not int
        or type(history[2]) is not int
    ):
        raise importer.fail(f"is not a Keras model config: {label} reads a malformed tensor")
    found = keys.get((history[0], history[1]))
    if found is None:
        raise importer.fail(
            f"is not a Keras model config: {label} reads `{history[0]}`, which is no layer of "
            "the model"
        )
    if history[2] != 0:
        raise importer.fail(
            f"{label} reads output {history[2]} of layer `{history[0]}`; kdsl writes layers "
            "with one output"
        )
    return found


def _endpoints(importer: _Importer, body: dict, what: str) -> list:
    """The model's inputs or outputs, `[[layer, node, tensor], ...]`."""
    value = body.get(f"{what}_layers")
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]  # Keras 3 writes a single input or output flat
    if not isinstance(value, list) or not value:
        raise importer.fail(f"is not a Keras model config: the functional model has no {what}s")
    return value


def _endpoint(importer: _Importer, item: Any, keys: dict, what: str, models: set[str]) -> int:
    if not isinstance(item, list) or len(item) < 3 or not isinstance(item[0], str):
        raise importer.fail(f"is not a Keras model config: a malformed model {what}")
    if item[0] in models and type(item[1]) is int:
        item = [item[0], item[1] - 1, *item[2:]]
    return _history(importer, item, keys, f"the model's {what}")


def topological(ops: list[Op], order: list[tuple[int, int]], importer: _Importer) -> list[Op]:
    """Kahn's algorithm, ready ops taken in the config's order (a cycle is refused)."""
    waiting = [0] * len(ops)
    readers: list[list[int]] = [[] for _ in ops]
    for op in ops:
        for source in op.reads():
            waiting[op.id] += 1
            readers[source].append(op.id)
    ready = [(order[op.id], op.id) for op in ops if waiting[op.id] == 0]
    heapq.heapify(ready)
    result: list[Op] = []
    while ready:
        _, index = heapq.heappop(ready)
        result.append(ops[index])
        for reader in readers[index]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, (order[reader], reader))
    if len(result) != len(ops):
        raise importer.fail("is not a Keras model config: its layers form a cycle")
    return result


def _config(layer: dict) -> dict:
    config = layer.get("config")
    return config if isinstance(config, dict) else {}


# -- the written structure ------------------------------------------------------------------


@dataclass
class Step:
    """An op written as an element of a chain: a layer, a merge (its other inputs as
    `@refs`) or attention (`value=@v`)."""

    op: int
    refs: list[int] = field(default_factory=list)


@dataclass
class Group:
    """`[branch | branch] -> merge`: each branch a chain from the fork's tensor (empty:
    `identity`)."""

    branches: list[list[Step | Group]]
    merge: Step


@dataclass
class Chain:
    start: int  # the op whose tensor the chain starts from
    from_input: bool  # `input SHAPE -> ...` (else `@start -> ...`)
    elements: list[Step | Group] = field(default_factory=list)


class _NotGrouped(Exception):
    """A fork whose paths cannot be written as one group."""


@dataclass
class Layout:
    """The chains that write a graph, and the tensors read by name."""

    graph: Graph
    chains: list[Chain] = field(default_factory=list)
    referenced: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.by_id = {op.id: op for op in self.graph.ops}
        self.position = {op.id: index for index, op in enumerate(self.graph.ops)}
        self.written: set[int] = set()
        self.outputs = set(self.graph.outputs)

    def build(self) -> Layout:
        """Chains from each input in the model's order where it can (the rebuilt model takes
        its inputs in that order), then from the ops no chain reached, in the graph's order."""
        waiting = list(self.graph.inputs)
        deferred: set[int] = set()
        while waiting:
            source = waiting.pop(0)
            chain = Chain(source, True)
            self.written.add(source)
            self.chains.append(chain)
            self.walk(chain.elements, source, journal=None)
            if not chain.elements and waiting and source not in deferred:
                # Its first layer reads a later input too: that input's chain goes first.
                self.chains.pop()
                self.written.discard(source)
                deferred.add(source)
                waiting.append(source)
        for op in self.graph.ops:
            if op.id in self.written:
                continue
            if op.layer is None:
                chain = Chain(op.id, True)
                self.written.add(op.id)
                cursor = op.id
            else:
                chain = Chain(op.inputs[0], False)
                self.referenced.add(op.inputs[0])
                chain.elements.append(self.step(op))
                cursor = op.id
            self.chains.append(chain)
            self.walk(chain.elements, cursor, journal=None)
        return self

    def step(self, op: Op) -> Step:
        """The op as an element after its first input; its other inputs are read by name."""
        self.written.add(op.id)
        others = [*op.inputs[1:], *op.tensors.values()]
        self.referenced.update(others)
        return Step(op.id, list(op.inputs[1:]))

    def available(self, op: Op) -> bool:
        return all(source in self.written for source in op.reads())

    def walk(
        self,
        elements: list[Step | Group],
        cursor: int,
        journal: list[int] | None,
        stop: int | None = None,
        region: set[int] | None = None,
    ) -> int:
        """Extend a chain from `cursor` while one op follows it; the tensor it ends at."""
        while cursor != stop:
            group = self.fork(cursor, region)
            if group is not None:
                elements.append(group)
                if journal is not None:
                    journal.extend(_ops_of(group))
                cursor = group.merge.op
                continue
            following = [
                reader
                for reader in self.by_id[cursor].consumers
                if reader not in self.written
                and (region is None or reader in region)
                and self.by_id[reader].inputs[0] == cursor
                and self.available(self.by_id[reader])
            ]
            if not following:
                break
            op = self.by_id[min(following, key=self.position.__getitem__)]
            elements.append(self.step(op))
            if journal is not None:
                journal.append(op.id)
            cursor = op.id
        return cursor

    def fork(self, cursor: int, region: set[int] | None) -> Group | None:
        """The group that starts at `cursor`, if its paths meet at one merge layer with
        nothing entering or leaving on the way (within LONG_SKIP ops)."""
        source = self.by_id[cursor]
        readers = [r for r in source.consumers if region is None or r in region]
        if len(readers) < 2 or any(r in self.written for r in readers):
            return None
        if cursor in self.outputs or len(readers) != len(source.consumers):
            return None
        reached = {cursor}
        open_edges = len(readers)
        join = None
        start = self.position[cursor] + 1
        for op in self.graph.ops[start : start + LONG_SKIP]:
            if region is not None and op.id not in region:
                continue
            landing = sum(1 for s in op.reads() if s in reached)
            if landing == 0:
                continue
            if landing == open_edges:
                join = op
                break
            reached.add(op.id)
            if op.id in self.outputs or landing != len(op.reads()):
                return None  # a path leaves the group, or another tensor enters it
            open_edges += len(op.consumers) - landing
        if join is None or join.class_name not in MERGE_CLASSES or join.tensors:
            return None
        if any(s not in reached for s in join.inputs):
            return None
        inside = reached - {cursor}
        branches_ops = [self.ancestors(end, cursor, inside) for end in join.inputs]
        if sum(len(b) for b in branches_ops) != len(inside):
            return None  # branches share ops
        journal: list[int] = []
        branches: list[list[Step | Group]] = []
        try:
            for end, ops in zip(join.inputs, branches_ops, strict=True):
                branch: list[Step | Group] = []
                if end != cursor:
                    reached_end = self.walk(branch, cursor, journal, stop=end, region=ops)
                    if reached_end != end:
                        raise _NotGrouped
                branches.append(branch)
        except _NotGrouped:
            self.written.difference_update(journal)
            return None
        self.written.add(join.id)
        return Group(branches, Step(join.id))

    def ancestors(self, end: int, cursor: int, inside: set[int]) -> set[int]:
        """The ops of `inside` that `end` is computed from (itself included)."""
        found: set[int] = set()
        stack = [end] if end != cursor else []
        while stack:
            op = stack.pop()
            if op in found or op not in inside:
                continue
            found.add(op)
            stack.extend(self.by_id[op].reads())
        return found


def _ops_of(group: Group) -> list[int]:
    ops: list[int] = []
    for branch in group.branches:
        for element in branch:
            ops.extend(_ops_of(element) if isinstance(element, Group) else [element.op])
    return [*ops, group.merge.op]


def label_name(name: str, taken: set[str], reserved) -> str:
    """A label for a tensor: its layer's name where the language can write it."""
    text = name if _LABEL.fullmatch(name) else re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = f"t_{text}"
    if reserved(text) or text == "in":
        text = f"{text}_"
    candidate, number = text, 1
    while candidate in taken:
        number += 1
        candidate = f"{text}_{number}"
    taken.add(candidate)
    return candidate
