"""A graph (`ir.Model`) as Keras functional-API statements, the `functional` style.

The script reads as keras.io writes it: the tensor flowing along a chain is `x`; a
tensor still needed after `x` moves on is kept under a name (`shortcut = x` before a
residual's body, `branch_1 = ...` for a fork's earlier branches); labels are variables;
each block is a Python function and each repeat a `for` loop. Which variable holds
which tensor is decided by one walk over the nodes in their (topological) order, never
overwriting a variable whose tensor a later node still reads, so any DAG renders
correctly and the common shapes render idiomatically. Linear in the graph's size.

No user text reaches the code but as a literal (`render.literal`): labels, block and
parameter names are identifiers, checked here (a bad one is a bug in the IR's maker).
"""

from __future__ import annotations

import bisect
import builtins
import dataclasses
import heapq
import keyword
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kdsl import ir
from kdsl.semantics.shapes import KEEPS_SHAPE

# Merge and dot-product attention layers take their tensors as one list: `Add()([a, b])`.
LIST_CALLS = frozenset(
    {
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Dot",
        "Attention",
        "AdditiveAttention",
    }
)
# Layers called as `(query, value, key)`; a lone query is self-attention: `(x, x)`.
QUERY_VALUE_CALLS = frozenset(
    {"MultiHeadAttention", "GroupQueryAttention", "GroupedQueryAttention"}
)
# Names the script itself defines or imports, at module level or in build_model().
SCRIPT_NAMES = frozenset(
    {
        "argparse",
        "math",
        "mmap",
        "Path",
        "keras",
        "np",
        "tf",
        "layers",
        "EPOCHS",
        "BATCH_SIZE",
        "strategy",
        "MultiWorkerStrategy",
        "build_model",
        "load_data",
        "open_npz",
        "NpyBatches",
        "read_rows",
        "batches",
        "train_and_evaluate",
        "main",
        "model",
        "x",
        "inputs",
        "outputs",
        "name",
        "_",
    }
)


def python_name(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """`name` as a Python variable: checked to be an identifier, with a trailing `_` while
    it is a keyword, a builtin or `taken` (`id` → `id_`)."""
    if not (name.isascii() and name.isidentifier()):
        raise ValueError(f"{name!r} reached the renderer as a name: it is not an identifier")
    while (
        keyword.iskeyword(name)
        or keyword.issoftkeyword(name)
        or hasattr(builtins, name)
        or name in taken
    ):
        name += "_"
    return name


@dataclass(frozen=True)
class Statement:
    """One line of a function's body: code, its depth inside `for` loops, and the id of
    the input or node whose `--explain` comment goes above it (if any)."""

    code: str
    depth: int = 0
    commented: str | None = None


@dataclass
class Function:
    """A function of the script: `def NAME(PARAMS):` and its body."""

    name: str
    params: str
    block: ir.Block
    body: list[Statement] = field(default_factory=list)


# How a value (an argument, a repeat count) is written: `render.literal` with block
# parameters as their Python names.
ValueWriter = Callable[[Any], str]


def plain_loop(node: ir.Node, count: str) -> list[str]:
    """A repeat's header lines: `for _ in range(n):`."""
    return [f"for _ in range({count}):"]


@dataclass(frozen=True)
class Hooks:
    """What another script (the KerasTuner search) changes in the functional writing:
    names its code uses besides the script's (`hp`), the blocks whose functions take
    `hp` first, and a repeat's header lines (a loop under a conditional scope)."""

    reserved: frozenset[str] = frozenset()
    hp_blocks: frozenset[str] = frozenset()
    loop: Callable[[ir.Node, str], list[str]] = plain_loop
    # Build each `shared` block's sub-model where the program first applies it, from that
    # tensor's shape (`encoder = build_encoder(x.shape[1:])`): a searched width upstream
    # gives each trial another shape than the one `check` inferred.
    shared_at_first_use: bool = False


class GraphWriter:
    """Writes one graph (the model's, or a block's body) as statements."""

    def __init__(
        self,
        nodes: Sequence[ir.Node],
        outputs: Sequence[ir.NodeId],
        variables: dict[ir.NodeId, str],
        taken: set[str],
        write_value: ValueWriter,
        write_call: Callable[[ir.KerasCall, ValueWriter], str],
        blocks: dict[str, ir.Block],
        block_names: dict[str, str],
        hooks: Hooks = Hooks(),
        shared_models: dict[str, tuple[str, ...]] | None = None,
    ):
        self.hooks = hooks
        # Each block → the shared blocks it applies, passed to its function as models.
        self.shared_models = shared_models or {}
        self.nodes = list(nodes)
        self.outputs = list(outputs)
        self.variables = dict(variables)  # tensor id → the variable holding it now
        self.holds: dict[str, ir.NodeId] = {v: t for t, v in variables.items()}
        # Never reused for another tensor.
        self.fixed = set(variables.values()) | taken | hooks.reserved
        self.write_value = write_value
        self.write_call = write_call
        self.blocks = blocks
        self.block_names = block_names
        # The last node (by position) reading each tensor; an output is read at the end.
        self.last_read: dict[ir.NodeId, int] = {}
        self.readers: dict[ir.NodeId, list[int]] = {}
        # Each node's `reads`, made once (a property that builds a tuple each time).
        self.reads = [node.reads for node in self.nodes]
        for index, reads in enumerate(self.reads):
            for tensor in reads:
                self.last_read[tensor] = index
                readers = self.readers.setdefault(tensor, [])
                if not readers or readers[-1] != index:
                    readers.append(index)
        for output in self.outputs:
            self.last_read[output] = len(self.nodes)
        # For each tensor and each place in its readers: whether a reader from there on
        # takes one input (a fork's later branch), or is an `Add` (a residual).
        self.single_from: dict[ir.NodeId, list[bool]] = {}
        self.add_from: dict[ir.NodeId, list[bool]] = {}
        for tensor, readers in self.readers.items():
            single, add = [False] * (len(readers) + 1), [False] * (len(readers) + 1)
            for place in range(len(readers) - 1, -1, -1):
                reader = self.nodes[readers[place]]
                single[place] = single[place + 1] or len(self.reads[readers[place]]) == 1
                add[place] = add[place + 1] or reader.call.class_name == "Add"
            self.single_from[tensor], self.add_from[tensor] = single, add
        # The tensors whose last reader each node is: their variables are free after it.
        self.dies_at: dict[int, list[ir.NodeId]] = {}
        for tensor, index in self.last_read.items():
            self.dies_at.setdefault(index, []).append(tensor)
        # Numbered names (`shortcut_2`, `branch_1`): the numbers freed, and the next new.
        self.freed: dict[str, list[int]] = {"shortcut": [], "branch": []}
        self.next_number = {"shortcut": 1, "branch": 1}
        self.numbered: dict[str, tuple[str, int]] = {}
        self.labels: dict[ir.NodeId, str] = {}
        for node in self.nodes:
            if node.label is not None:
                self.labels[node.id] = python_name(node.label, SCRIPT_NAMES | self.fixed)
                self.fixed.add(self.labels[node.id])

    def needed_after(self, tensor: ir.NodeId, index: int) -> bool:
        return self.last_read.get(tensor, -1) > index

    def live(self, variable: str, index: int) -> bool:
        tensor = self.holds.get(variable)
        return tensor is not None and self.needed_after(tensor, index)

    def read_later(self, tensor: ir.NodeId, index: int) -> tuple[bool, bool, bool]:
        """Whether `tensor` is read after node `index` at all, by a one-input node (a
        later branch of its fork), by an `Add`. Logarithmic in its readers."""
        readers = self.readers.get(tensor)
        if readers is None:
            return False, False, False
        place = bisect.bisect_right(readers, index)
        return place < len(readers), self.single_from[tensor][place], self.add_from[tensor][place]

    def fresh(self, base: str, avoid: set[str]) -> str:
        """`shortcut`, `shortcut_2`, ... or `branch_1`, `branch_2`, ...: the lowest
        number whose variable holds no tensor still needed (its tensor's last reader is
        written), nor a label's or an input's name."""
        skipped = []
        name = ""
        while self.freed[base]:
            number = heapq.heappop(self.freed[base])
            name = _numbered(base, number)
            if name not in avoid:
                break
            skipped.append(number)
            name = ""
        while not name:
            number = self.next_number[base]
            self.next_number[base] += 1
            candidate = _numbered(base, number)
            if candidate not in self.fixed and candidate not in avoid:
                name = candidate
        for number in skipped:
            heapq.heappush(self.freed[base], number)
        self.numbered[name] = (base, number)
        return name

    def release(self, index: int) -> None:
        """Free the numbered variables whose tensors node `index` read for the last time
        (or that it wrote and nothing reads)."""
        dead = [*self.dies_at.get(index, ())]
        if self.nodes[index].id not in self.last_read:
            dead.append(self.nodes[index].id)
        for tensor in dead:
            variable = self.variables.get(tensor)
            if variable in self.numbered and self.holds.get(variable) == tensor:
                base, number = self.numbered.pop(variable)
                heapq.heappush(self.freed[base], number)

    def base_name(self, index: int) -> str:
        """`shortcut` for a tensor on its way into an `Add` (a residual), else `branch`:
        follows the node's single reader while that reader reads only it."""
        tensor = self.nodes[index].id
        for _ in range(len(self.nodes)):
            readers = self.readers.get(tensor, [])
            if len(readers) != 1:
                break
            reader = self.nodes[readers[0]]
            if len(self.reads[readers[0]]) > 1:
                return "shortcut" if reader.call.class_name == "Add" else "branch"
            tensor = reader.id
        return "branch"

    def target(self, index: int) -> tuple[str, str | None]:
        """The variable node `index` writes, and where to keep `x`'s tensor first if it
        must be kept (`shortcut = x`), or None."""
        node = self.nodes[index]
        if node.id in self.labels:
            return self.labels[node.id], None
        reads = self.reads[index]
        read_variables = {self.variables[t] for t in reads}
        if self.read_later(node.inputs[0], index)[1]:
            # An earlier branch of a fork: the tensor flowing in goes on to later ones.
            return self.fresh(self.base_name(index), read_variables), None
        if not self.live("x", index):
            return "x", None
        held = self.holds["x"]
        _, single_later, add_later = self.read_later(held, index)
        if held in reads and not single_later:
            # `x` is read here and again by a merge: keep it (`shortcut = x`), move on.
            saved = self.fresh("shortcut" if add_later else "branch", read_variables)
            return "x", saved
        for tensor in reads:
            variable = self.variables[tensor]
            if variable not in self.fixed and not self.needed_after(tensor, index):
                return variable, None  # a branch continues in its own variable
        return self.fresh(self.base_name(index), read_variables), None

    def bind(self, tensor: ir.NodeId, variable: str) -> None:
        self.variables[tensor] = variable
        self.holds[variable] = tensor

    def call_code(self, node: ir.Node, substitute: dict[ir.NodeId, str]) -> str:
        """`layers.Dense(4)(x)`, `layers.Add()([shortcut, x])`, `stage(x, 64, 256, 1, 2)`."""
        tensors = [substitute.get(t, self.variables[t]) for t in node.inputs]
        call = node.call
        if call.module == "blocks":
            return self.block_call(node, tensors)
        if call.class_name in LIST_CALLS:
            if call.class_name in ("Attention", "AdditiveAttention") and len(tensors) == 1:
                tensors = tensors * 2  # self-attention: the query is the value
            arguments = [f"[{', '.join(tensors)}]"]
        elif call.class_name in QUERY_VALUE_CALLS and len(tensors) == 1:
            arguments = tensors * 2
        else:
            arguments = tensors
        arguments += [f"{name}={self.write_value(value)}" for name, value in node.call_kwargs]
        arguments += [
            f"{name}={substitute.get(t, self.variables[t])}" for name, t in node.call_tensors
        ]
        return f"{self.write_call(call, self.write_value)}({', '.join(arguments)})"

    def block_call(self, node: ir.Node, tensors: list[str]) -> str:
        """`stage(x, 64, 256, 1, 2)`: the tensor, the required values, the tensor
        arguments, then any values for defaulted parameters (the function's order);
        the tensor arguments by keyword when a required value is given by keyword."""
        block = self.blocks[node.call.class_name]
        values, tensor_names = parameter_names(block, self.block_names, self.hooks.reserved)
        required = sum(default is ir.REQUIRED for _, default in block.params)
        given = [self.write_value(v) for v in node.call.args]
        unknown = [name for name, _ in node.call.kwargs if name not in values]
        if unknown:  # `name=` of a block instance included: not written yet
            raise ValueError(f"block {block.name!r} has no parameter {unknown[0]!r}")
        keywords = [f"{values[name]}={self.write_value(v)}" for name, v in node.call.kwargs]
        if len(given) < required:
            keywords += [f"{name}={t}" for name, t in zip(tensor_names, tensors[1:], strict=True)]
            arguments = [tensors[0], *given, *keywords]
        else:
            arguments = [tensors[0], *given[:required], *tensors[1:], *given[required:], *keywords]
        if not block.shared:  # the shared models its body applies: `b(x, encoder)`
            arguments[1:1] = [self.block_names[name] for name in self.shared_models[block.name]]
        if block.name in self.hooks.hp_blocks and not block.shared:  # built with it
            arguments.insert(0, "hp")
        return f"{self.block_names[block.name]}({', '.join(arguments)})"

    def write(self, returns: ir.NodeId | None = None) -> list[Statement]:
        """Every node as statements; with `returns`, a block's body ending in `return`."""
        statements: list[Statement] = []
        last = len(self.nodes) - 1
        for index, node in enumerate(self.nodes):
            if (
                index == last
                and node.id == returns
                and node.repeat is None
                and node.id not in self.labels
            ):
                code = self.call_code(node, {})
                statements.append(Statement(f"return {code}", 0, node.id))
                return statements
            self.write_node(index, statements)
        if returns is not None:
            statements.append(Statement(f"return {self.variables[returns]}"))
        return statements

    def write_node(self, index: int, statements: list[Statement]) -> None:
        node = self.nodes[index]
        target, saved = self.target(index)
        if saved is not None:
            statements.append(Statement(f"{saved} = x"))
        inline = self.blocks.get(node.call.class_name) if node.call.module == "blocks" else None
        if inline is not None and inline.inline:
            self.write_inline(node, inline, target, statements)
        elif node.repeat is None:
            statements.append(Statement(f"{target} = {self.call_code(node, {})}", 0, node.id))
        else:
            first = self.variables[node.inputs[0]]
            if first != target:
                statements.append(Statement(f"{target} = {first}"))
            header = self.hooks.loop(node, self.write_value(node.repeat))
            statements += [Statement(line, depth) for depth, line in enumerate(header)]
            code = self.call_code(node, {node.inputs[0]: target})
            statements.append(Statement(f"{target} = {code}", len(header), node.id))
        if saved is not None:
            self.bind(self.holds["x"], saved)
        self.bind(node.id, target)
        self.release(index)

    def write_inline(
        self, node: ir.Node, block: ir.Block, target: str, statements: list[Statement]
    ) -> None:
        """A repeated group, in place: `for _ in range(n):` and its body on `target`."""
        first = self.variables[node.inputs[0]]
        if first != target:
            statements.append(Statement(f"{target} = {first}"))
        count = self.write_value(node.repeat if node.repeat is not None else 1)
        header = self.hooks.loop(node, count)
        statements += [Statement(line, depth) for depth, line in enumerate(header)]
        inner = GraphWriter(
            block.nodes,
            [block.output],
            {block.inputs[0].id: target},
            self.fixed - {target},
            self.write_value,
            self.write_call,
            self.blocks,
            self.block_names,
            self.hooks,
            self.shared_models,
        )
        for statement in inner.write():
            statements.append(
                Statement(statement.code, statement.depth + len(header), statement.commented)
            )
        result = inner.variables[block.output]
        if result != target:
            statements.append(Statement(f"{target} = {result}", len(header)))


def _numbered(base: str, number: int) -> str:
    """`shortcut`, `shortcut_2`, ...; `branch_1`, `branch_2`, ..."""
    return base if base == "shortcut" and number == 1 else f"{base}_{number}"


def _ordered_blocks(blocks: Sequence[ir.Block]) -> list[ir.Block]:
    """The blocks with each after those it calls (a function defined before its use)."""
    by_name = {block.name: block for block in blocks}
    done: dict[str, ir.Block] = {}

    def visit(block: ir.Block, path: tuple[str, ...]) -> None:
        if block.name in done:
            return
        if block.name in path:
            raise ValueError(f"block {block.name!r} calls itself")
        for node in block.nodes:
            called = by_name.get(node.call.class_name) if node.call.module == "blocks" else None
            if called is not None:
                visit(called, (*path, block.name))
        done[block.name] = block

    for block in blocks:
        visit(block, ())
    return list(done.values())


def _tensor_parameter(source: ir.Input) -> str:
    """A block's tensor parameter's name: its `Input`'s `name=`, else its id."""
    return str(dict(source.kwargs).get("name", source.id))


def parameter_names(
    block: ir.Block, block_names: dict[str, str], reserved: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """A block function's Python names: of its value parameters (by the program's name),
    and of its tensor parameters in order; none a keyword, builtin, the script's (or
    `reserved`) or a block function's name."""
    taken = set(block_names.values()) | reserved
    names: dict[str, str] = {}
    for name, _ in block.params:
        names[name] = python_name(name, SCRIPT_NAMES | taken)
        taken.add(names[name])
    tensor_names = []
    for source in block.inputs[1:]:
        tensor_names.append(python_name(_tensor_parameter(source), SCRIPT_NAMES | taken))
        taken.add(tensor_names[-1])
    return names, tensor_names


def _function(
    block: ir.Block,
    write_call: Callable[[ir.KerasCall, ValueWriter], str],
    literal: ValueWriter,
    blocks: dict[str, ir.Block],
    block_names: dict[str, str],
    hooks: Hooks = Hooks(),
    shared_models: dict[str, tuple[str, ...]] | None = None,
) -> Function:
    """`def stage(x, f, o, s, n):` and its body; `def b(x, encoder):` takes the models of
    the shared blocks it applies (built once by the caller, so every use shares weights)."""
    shared_models = shared_models or {}
    names, tensor_names = parameter_names(block, block_names, hooks.reserved)
    models = [block_names[name] for name in shared_models.get(block.name, ())]
    taken = {*block_names.values(), *names.values(), *tensor_names}

    def write_value(value: ir.PyValue) -> str:
        if isinstance(value, ir.Param):
            return names[value.name]
        if isinstance(value, ir.Expr):
            return _expression(value, write_value)
        if isinstance(value, tuple) and any(isinstance(item, ir.Param) for item in value):
            items = [write_value(item) for item in value]
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return literal(value)

    required = [names[name] for name, default in block.params if default is ir.REQUIRED]
    defaulted = [
        f"{names[name]}={literal(default)}"
        for name, default in block.params
        if default is not ir.REQUIRED
    ]
    leading = ["hp"] if block.name in hooks.hp_blocks else []
    params = ", ".join([*leading, "x", *models, *required, *tensor_names, *defaulted])
    variables = {block.inputs[0].id: "x"}
    variables |= {
        source.id: name for source, name in zip(block.inputs[1:], tensor_names, strict=True)
    }
    writer = GraphWriter(
        block.nodes, [block.output], variables, taken, write_value, write_call, blocks,
        block_names, hooks, shared_models,
    )  # fmt: skip
    body = writer.write(returns=block.output)
    return Function(block_names[block.name], params, block, body)


def _shared_model(
    block: ir.Block,
    write_call: Callable[[ir.KerasCall, ValueWriter], str],
    literal: ValueWriter,
    blocks: dict[str, ir.Block],
    block_names: dict[str, str],
    input_code: Callable[[ir.Input, str | None], str],
    hooks: Hooks = Hooks(),
    shape_given: bool = False,
    shared_models: dict[str, tuple[str, ...]] | None = None,
) -> Function:
    """`def build_encoder():` a `shared` block as a sub-model (keras.io's siamese
    example): its own `keras.Input`, its layers, `keras.Model(..., name="encoder")`;
    `shape_given`: the input's shape is the caller's (`def build_encoder(input_shape):`);
    the models of the shared blocks its body applies are parameters, as in `_function`."""
    shared_models = shared_models or {}
    models = [block_names[name] for name in shared_models.get(block.name, ())]
    name = block_names[block.name]
    source = block.inputs[0]
    start = dataclasses.replace(source, kwargs=tuple(kv for kv in source.kwargs if kv[0] != "name"))
    variables = {source.id: "inputs"}
    taken = {"inputs", *block_names.values(), *(["input_shape"] if shape_given else [])}
    writer = GraphWriter(
        block.nodes, [block.output], variables, taken, literal, write_call, blocks,
        block_names, hooks, shared_models,
    )  # fmt: skip
    # `keras.Input(shape=input_shape, dtype=...)` where the caller gives the shape
    start_code = input_code(start, "input_shape" if shape_given else None)
    body = [Statement(f"inputs = {start_code}"), *writer.write()]
    output = writer.variables[block.output]
    body.append(Statement(f"return keras.Model(inputs, {output}, name={literal(block.name)})"))
    params = ["hp"] if block.name in hooks.hp_blocks else []
    params += ["input_shape"] if shape_given else []
    params += models
    return Function(f"build_{name}", ", ".join(params), block, body)


def _shared_within(blocks: dict[str, ir.Block]) -> dict[str, tuple[str, ...]]:
    """Each block → the shared blocks its body applies, directly or through the `def`
    blocks it calls (in the program's order of blocks): the models its function is given.
    A shared block it applies brings its own (given to it where it is built)."""
    used: dict[str, frozenset[str]] = {}

    def shared_in(block: ir.Block) -> frozenset[str]:
        if block.name not in used:
            used[block.name] = frozenset()  # a block never calls itself (checked)
            found: set[str] = set()
            for node in block.nodes:
                called = blocks.get(node.call.class_name) if node.call.module == "blocks" else None
                if called is not None:
                    found |= {called.name} if called.shared else shared_in(called)
            used[block.name] = frozenset(found)
        return used[block.name]

    order = {name: index for index, name in enumerate(blocks)}
    return {
        name: tuple(sorted(shared_in(block), key=order.__getitem__))
        for name, block in blocks.items()
    }


def _shared_first_uses(
    nodes: Sequence[ir.Node],
    blocks: dict[str, ir.Block],
    shared_models: dict[str, tuple[str, ...]],
) -> dict[str, int]:
    """The shared blocks first applied to the tensor a node of `nodes` itself reads (the
    node, or a block's body applying it to its input first: `def b { enc -> dense 8 }`,
    or to that input passed on by layers that keep its shape: `dropout 0.1 -> enc`),
    each with that node's index: where build() can build it from the shape reaching it.
    Others keep check's shape. Linear in the blocks' nodes times the shared blocks."""
    reach: dict[str, frozenset[str]] = {}  # a block → every shared block it applies

    def reached(name: str) -> frozenset[str]:
        if name not in reach:
            reach[name] = frozenset(shared_models[name]).union(
                *(reached(used) for used in shared_models[name])
            )
        return reach[name]

    at_input: dict[str, list[str]] = {}  # a block → the shared blocks it first applies to @in

    def first_at_input(block: ir.Block) -> list[str]:
        if block.name not in at_input:
            at_input[block.name] = [name for name, _ in walk(block.nodes, block.inputs[0].id)]
        return at_input[block.name]

    def walk(body: Sequence[ir.Node], start: ir.NodeId | None) -> list[tuple[str, int]]:
        """The shared blocks first applied (in `body`) to `start`, or to any tensor if
        None, each with the index of the node of `body` applying it."""
        seen: set[str] = set()
        found: list[tuple[str, int]] = []
        shaped_as_start = {start}  # `start` and what layers that keep its shape made of it
        for index, node in enumerate(body):
            called = blocks.get(node.call.class_name) if node.call.module == "blocks" else None
            if called is None:
                keeps = node.call.class_name in KEEPS_SHAPE and len(node.reads) == 1
                if keeps and node.reads[0] in shaped_as_start:
                    shaped_as_start.add(node.id)
                continue
            if start is None or node.inputs[0] in shaped_as_start:
                applied = [called.name] if called.shared else first_at_input(called)
                found += [(name, index) for name in applied if name not in seen]
            seen |= {called.name, *reached(called.name)}
        return found

    return dict(walk(nodes, None))


def _expression(expr: ir.Expr, write_value: ValueWriter) -> str:
    """Arithmetic on parameters as Python (`4 * f`), nested operations in parentheses."""

    def operand(value) -> str:
        text = _expression(value, write_value) if isinstance(value, ir.Expr) else write_value(value)
        return f"({text})" if isinstance(value, ir.Expr) and value.operands[1:] else text

    if len(expr.operands) == 1:
        return f"-{operand(expr.operands[0])}"
    left, right = expr.operands
    return f"{operand(left)} {expr.op} {operand(right)}"


def _input_names(
    inputs: Sequence[ir.Input], reserved: frozenset[str] = frozenset()
) -> dict[ir.NodeId, str]:
    """`inputs` for the one unnamed input; a named one's name (`tags`); `inputs_2`..."""
    names: dict[ir.NodeId, str] = {}
    for number, source in enumerate(inputs, 1):
        given = dict(source.kwargs).get("name")
        if isinstance(given, str) and given.isascii() and given.isidentifier():
            names[source.id] = python_name(given, SCRIPT_NAMES | reserved | set(names.values()))
        else:
            names[source.id] = "inputs" if len(inputs) == 1 else f"inputs_{number}"
    return names


def write_model(
    model: ir.Model,
    write_call: Callable[[ir.KerasCall, ValueWriter], str],
    literal: ValueWriter,
    input_code: Callable[[ir.Input, str | None], str],
    hooks: Hooks = Hooks(),
) -> tuple[list[Function], list[Statement]]:
    """The block functions (in dependency order) and build_model()'s statements up to
    `model = keras.Model(...)`: the program as written (`Model.program`) when it used
    blocks, else the graph."""
    blocks = {block.name: block for block in model.blocks}
    block_names: dict[str, str] = {}
    for block in model.blocks:
        block_names[block.name] = python_name(
            block.name, SCRIPT_NAMES | hooks.reserved | set(block_names.values())
        )
    inputs, nodes, outputs = model.program or (model.inputs, model.nodes, model.outputs)
    shared_models = _shared_within(blocks)
    built_at = _shared_first_uses(nodes, blocks, shared_models) if hooks.shared_at_first_use else {}
    ordered = _ordered_blocks(model.blocks)
    functions = [
        _shared_model(
            block,
            write_call,
            literal,
            blocks,
            block_names,
            input_code,
            hooks,
            shape_given=block.name in built_at,
            shared_models=shared_models,
        )  # fmt: skip
        if block.shared
        else _function(block, write_call, literal, blocks, block_names, hooks, shared_models)
        for block in ordered
        if not block.inline  # written in place, where it is repeated
    ]
    variables = _input_names(inputs, hooks.reserved)
    taken = set(block_names.values()) | set(variables.values())
    writer = GraphWriter(
        nodes, outputs, variables, taken, literal, write_call, blocks, block_names, hooks,
        shared_models,
    )  # fmt: skip
    unlabelled = [output for output in outputs if output not in writer.labels]
    for number, output in enumerate(unlabelled, 1):
        name = "outputs" if len(outputs) == 1 else f"output_{number}"
        writer.labels[output] = python_name(name, writer.fixed - {name})
        writer.fixed.add(writer.labels[output])
    first_read: dict[ir.NodeId, int] = {}
    for index, node in enumerate(nodes):
        for tensor in node.reads:
            first_read.setdefault(tensor, index)
    statements: list[Statement] = []
    building: dict[int, list[str]] = {}  # a node's index → the shared blocks built there

    def build_call(block_name: str, shape: str | None) -> Statement:
        """`encoder = build_encoder(hp, x.shape[1:], inner)`: what its function takes."""
        name = block_names[block_name]
        arguments = ["hp"] if block_name in hooks.hp_blocks else []
        arguments += [shape] if shape is not None else []
        arguments += [block_names[used] for used in shared_models[block_name]]
        return Statement(f"{name} = build_{name}({', '.join(arguments)})")

    for block in ordered:  # a shared block after those it applies
        if block.shared:  # built once, applied at each use: `a = encoder(left)`
            if block.name in built_at:
                building.setdefault(built_at[block.name], []).append(block.name)
            else:
                statements.append(build_call(block.name, None))
    # Each input just before the first node that reads it: a later chain's own input
    # starts that chain, as the program wrote it.
    pending = sorted(inputs, key=lambda source: first_read.get(source.id, -1))
    next_input = 0
    for index in range(len(nodes)):
        while next_input < len(pending) and first_read.get(pending[next_input].id, -1) <= index:
            source = pending[next_input]
            next_input += 1
            code = f"{variables[source.id]} = {input_code(source, None)}"
            statements.append(Statement(code, 0, source.id))
        for block_name in building.get(index, ()):
            shape = f"{writer.variables[nodes[index].inputs[0]]}.shape[1:]"
            statements.append(build_call(block_name, shape))
        writer.write_node(index, statements)
    input_list = [variables[source.id] for source in inputs]
    output_list = [writer.variables[output] for output in outputs]
    if len(input_list) == 1 and len(output_list) == 1:
        statements.append(Statement(f"model = keras.Model({input_list[0]}, {output_list[0]})"))
    else:
        written_outputs = (
            output_list[0] if len(output_list) == 1 else f"[{', '.join(output_list)}]"
        )  # one output: its array from predict, not a list of one
        statements.append(
            Statement(
                f"model = keras.Model(inputs=[{', '.join(input_list)}], outputs={written_outputs})"
            )
        )
    return functions, statements
