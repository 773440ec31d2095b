"""The checked model: a graph of Keras calls, with plain Python values and Keras names.

Everything here came through `kdsl.semantics.checker`: class names are from the catalog and every
value is an int, float, bool, None, str or a tuple of those. Templates render only this.

The model is a graph: inputs (`Input`), nodes (a Keras layer call applied to the outputs of
other nodes or inputs) and the ids of its outputs. Every v1 program is a chain (`is_chain`):
one input, each node fed by the one before, the last node the one output.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Union

from kdsl.source import Span


@dataclass(frozen=True, slots=True)
class Param:
    """A block parameter standing where a value goes, in a block's body (`Block`): the
    script writes its name (`layers.Conv2D(f, 3)`). Never in the expanded graph."""

    name: str


@dataclass(frozen=True, slots=True)
class Expr:
    """Arithmetic on block parameters (`4*f`, `f//2`), in a block's written form: the
    script writes it as Python (`4 * f`); the expanded graph holds its folded value.
    `operands` are numbers, `Param`s or `Expr`s; one operand for unary minus (`-`)."""

    op: str
    operands: tuple[int | float | Param | Expr, ...]


# A value in a Keras call: a literal, a tuple of values, a Keras object built with
# arguments (`keras.regularizers.L2(0.01)`, a `KerasCall`) or a dict (`PyDict`); a
# `Param` only in a block's written form (`Block`).
PyValue = Union[int, float, bool, str, None, tuple, "KerasCall", "PyDict", Param, Expr]
# Layers whose call takes several tensors (merges) or a query and a value (attention):
# never a step of a `keras.Sequential`, even when the graph is a line.
SEVERAL_INPUTS = frozenset(
    {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
     "MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention"}
)  # fmt: skip

# A shape per sample, without the batch dimension: `(28, 28, 1)`, `(None, 128)`.
Dims = tuple[int | None, ...]
# An input's or a node's id: "n0", "n1", ... (see `IdCounter`).
NodeId = str


# Losses after which Keras's "accuracy" metric is what the tutorial shows.
CROSSENTROPY_LOSSES = frozenset(
    {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}
)

# A tensor's shape: the batch dimension first, None where the size is not fixed.
Shape = tuple[int | None, ...]


def show_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    dims = ["None" if d is None else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


@dataclass(frozen=True, slots=True)
class KerasCall:
    """A Keras constructor call such as `Dense(3, activation="relu")`."""

    module: str  # "layers", "optimizers", "losses" or "metrics"
    class_name: str
    args: tuple[PyValue | KerasCall, ...] = ()
    kwargs: tuple[tuple[str, PyValue], ...] = ()
    # Where it was written, for diagnostics from later passes (not part of its identity).
    span: Span | None = field(default=None, compare=False)
    written: str = field(default="", compare=False)  # the DSL name used: `maxpool2d`
    # Where each argument's value was written: the names, and their spans in the same
    # order. Two tuples rather than pairs: every layer written alike shares the names,
    # and a model of 100,000 layers holds no pair per argument (`arg_spans` makes them).
    arg_names: tuple[str, ...] = field(default=(), compare=False)
    value_spans: tuple[Span, ...] = field(default=(), compare=False)

    @property
    def written_name(self) -> str:
        """The layer kind as the user wrote it (`groupnorm`, not `groupnormalization`)."""
        return self.written or self.class_name.lower()

    @property
    def arg_spans(self) -> tuple[tuple[str, Span], ...]:
        """Each argument's name and the span of its value, as written."""
        return tuple(zip(self.arg_names, self.value_spans, strict=True))

    def arg_span(self, name: str) -> Span | None:
        return dict(self.arg_spans).get(name, self.span)

    def __str__(self) -> str:
        """As a program writes it (`l2(0.01)`), for messages and `--explain` comments."""
        args = [str(a) for a in self.args] + [f"{k}={v}" for k, v in self.kwargs]
        return f"{self.written or self.class_name}({', '.join(args)})"

    def kwarg(self, name: str, default: PyValue = None) -> PyValue:
        for key, value in reversed(self.kwargs):  # the last one, as `dict` would keep
            if key == name:
                return value
        return default


@dataclass(frozen=True, slots=True)
class PyDict:
    """`{0: 1.0, 1: 5.0}` (`class_weight`): a dict, kept hashable like every value here."""

    items: tuple[tuple[PyValue, PyValue], ...]

    def __str__(self) -> str:
        return "{" + ", ".join(f"{key}: {value}" for key, value in self.items) + "}"


@dataclass(frozen=True, slots=True)
class CompileArg:
    """An optimizer, loss or metric: a string shorthand (`"adam"`) or an object."""

    shorthand: str | None = None
    call: KerasCall | None = None


class IdCounter:
    """Hands out node ids: `n0`, `n1`, ... in the order the checker creates inputs and nodes.

    Why not the layer's Keras name: the user may give it (`name=`), and it changes when an
    earlier layer of the same class comes or goes. Why not a position in `Model.nodes`: a
    pass that adds or drops a node would renumber every node after it, and whatever was
    keyed by position (comments, rows, hovers) would silently land on a neighbour. An id is
    given once, when its node is made, and nothing done to other nodes changes it. It names
    a node within one checked program; the editor maps written spans to ids anew on each
    analysis. Inputs and nodes share the counter, as edges may start at either.
    """

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> NodeId:
        node_id = f"n{self.count}"
        self.count += 1
        return node_id


@dataclass(frozen=True, slots=True)
class Input:
    """One input of the model: `keras.Input(shape=..., dtype=..., name=...)`."""

    id: NodeId
    shape: Dims
    kwargs: tuple[tuple[str, PyValue], ...] = ()  # `dtype`, `name`, as written
    # The `input` element it came from (None when given by `in SHAPE` on a layer).
    span: Span | None = field(default=None, compare=False)

    @property
    def dtype(self) -> str:
        """The values' type, `float32` unless `dtype=` says otherwise."""
        return str(dict(self.kwargs).get("dtype", "float32"))


@dataclass(frozen=True, slots=True)
class Node:
    """A layer call applied to the outputs of `inputs` (ids of inputs or earlier nodes).

    `inputs` are the tensors the call reads positionally, in order: one for most layers;
    every merged tensor for a merge (`layers.Add()([a, b])`); query, then value, then key
    for attention (`MultiHeadAttention(...)(query, value)`, `Attention()([q, v])`), the
    value and key being absent when they default (self-attention: one input).
    `call_kwargs` are keyword arguments of the layer's *call* that are values
    (`use_causal_mask=True`); `call_tensors` those that are tensors (`attention_mask=m`),
    which the node also reads. `label` is the name the program gave the node's output
    (`s1: dbl 64`): the script's variable for it. `scope` is where a node of an expanded
    block came from, outermost first (`("stage_2", "id_3")`): for tools that fold blocks.

    In a block's body (`Block.nodes`) a node may also be a block call: `call.module` is
    `"blocks"`, `call.class_name` the block's name, `call.args`/`kwargs` its arguments
    (values or `Param`), `inputs` the tensor it is called on then its tensor arguments;
    and `repeat` (an int or a `Param`) applies the node that many times, each pass
    feeding the next (`for _ in range(n):`). In the expanded graph `repeat` is None.
    """

    id: NodeId
    call: KerasCall
    inputs: tuple[NodeId, ...]
    call_kwargs: tuple[tuple[str, PyValue], ...] = ()
    call_tensors: tuple[tuple[str, NodeId], ...] = ()
    label: str | None = None
    scope: tuple[str, ...] = field(default=(), compare=False)
    repeat: int | Param | None = None
    # A `shared` block's layer applied again: the id of the node whose layer (and
    # weights) this node reuses, in the expanded graph; None for a layer of its own.
    shares: NodeId | None = None

    @property
    def reads(self) -> tuple[NodeId, ...]:
        """Every tensor the node reads: its inputs, then its call's tensor keywords."""
        if not self.call_tensors:
            return self.inputs
        return (*self.inputs, *(node_id for _, node_id in self.call_tensors))


@dataclass(frozen=True)
class Block:
    """A `def` block as the program wrote it, for the renderer: one Python function.

    Its body is a graph over its own ids: `inputs` are the tensor it is called on (`@in`,
    the function's first argument) then its tensor parameters (`@memory`), as `Input`s
    with an empty shape, a tensor parameter's name as its `name=` (`(("name", "memory"),)`);
    `nodes` are layer calls and block calls whose values may be `Param`s; `output` the
    node whose tensor it returns. `params` are its value parameters in order, each with
    its default (`REQUIRED` when it has none). The model itself is built from the
    expanded graph (`Model.nodes`); `Model.program` says how the
    script writes it with these functions.
    """

    name: str
    params: tuple[tuple[str, PyValue], ...]
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    output: NodeId
    span: Span | None = field(default=None, compare=False)
    # A `shared` block: built once (a layer object, or a sub-model for several layers)
    # and applied at each use with the same weights; it has no parameters.
    shared: bool = False
    # A repeated group (`[conv2d f 3 -> relu] * 2`): no function of its own; its body is
    # written in place, in the `for` loop of the node that calls it, and reads the
    # parameters of the block it is written in.
    inline: bool = False


class _Required:
    """The default of a block parameter that has none."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: PyValue = _Required()  # type: ignore[assignment]


@dataclass(frozen=True)
class Hyperparameter:
    """One value a search tries (issue 16): KerasTuner's `hp.Choice`/`Int`/`Float`/
    `Boolean`, by its name (`dense_2/units`). `parent`: the repeat count whose values
    (`parent_values`) build the layers it belongs to (`hp.conditional_scope`)."""

    name: str
    kind: str  # "choice", "int", "float" or "boolean"
    values: tuple[int | float | str, ...] = ()  # a choice's
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    sampling: str | None = None  # "linear", "log" or "reverse_log"
    parent: str | None = None
    parent_values: tuple[int, ...] = ()


@dataclass(frozen=True)
class Search:
    """A program's search space, for the tuner script: the hyperparameters, where each
    is read (a node's argument, the optimizer's, `fit`'s, or a repeat's depth), and the
    `tune` section's settings. It belongs to the smallest model (what `check` shows);
    `deepest` is the model the tuner script writes (every searched repeat at its largest
    count, each other space at its first value), the one its ids are of: the ids of its
    written form (`Model.program` and `Model.blocks`, or its nodes when it has none)."""

    hyperparameters: tuple[Hyperparameter, ...]
    # Node id → (argument name, hyperparameter name) for each argument searched; a name
    # in `per_pass` is the stem of one hyperparameter per pass (`NAME/pass_1`, ...).
    node_values: tuple[tuple[NodeId, tuple[tuple[str, str], ...]], ...] = ()
    optimizer_values: tuple[tuple[str, str], ...] = ()
    fit_values: tuple[tuple[str, str], ...] = ()  # `batch_size`/`epochs` → its name
    # Node id (a repeated node of the program) → its depth's hyperparameter.
    depths: tuple[tuple[NodeId, str], ...] = ()
    # A space written inside a searched depth: its stem → that depth's hyperparameter.
    per_pass: tuple[tuple[str, str], ...] = ()
    tuner: str = "random"
    max_trials: int = 10
    objective: str = "val_loss"
    direction: str = "min"
    executions_per_trial: int = 1
    seed: int | None = None
    size: int | None = None  # how many models; None when a float range is continuous
    deepest: Model | None = None


@dataclass(frozen=True)
class Model:
    """The graph (`inputs`, `nodes` in topological order, `outputs`), then how it is
    compiled and fitted."""

    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]  # every node after the nodes and inputs it reads
    outputs: tuple[NodeId, ...]
    optimizer: CompileArg
    loss: CompileArg
    metrics: tuple[CompileArg, ...]
    fit: tuple[tuple[str, PyValue], ...]
    loss_key: str  # catalog key of the loss, e.g. "categorical_crossentropy"
    # Several outputs: each output's Keras name (its last layer's `name=`), in `outputs`'
    # order, then the settings per output by that name. With per-output losses `loss` is
    # the first output's and `losses` has them all; empty for one output (v1).
    output_names: tuple[str, ...] = ()
    losses: tuple[tuple[str, CompileArg], ...] = ()
    loss_keys: tuple[tuple[str, str], ...] = ()  # each output's loss's catalog key
    loss_weights: tuple[tuple[str, float], ...] = ()
    output_metrics: tuple[tuple[str, tuple[CompileArg, ...]], ...] = ()
    # How the script writes the graph when the program used blocks: the blocks, and the
    # program as a block's body over them (inputs, nodes with block calls and repeats,
    # outputs). None when the program has no blocks: the script writes `nodes`.
    blocks: tuple[Block, ...] = ()
    program: tuple[tuple[Input, ...], tuple[Node, ...], tuple[NodeId, ...]] | None = None
    # Each block instance (`Node.scope`'s names) → the call that made it, in words
    # (``in `stage` at 10:6``), for messages about a spot in a block's body.
    instance_sites: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # The `callbacks` section's Keras callbacks (`keras.callbacks.EarlyStopping(...)`),
    # passed to `fit` with those the `fit` options add.
    callbacks: tuple[KerasCall, ...] = ()
    # A program with search spaces (issue 16): what `kdsl compile` writes a tuner for.
    search: Search | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        """A malformed graph is a bug in whatever built it: say so at once, not later in a
        renderer. Linear in the graph's size."""
        if not self._ids_in_order():
            self._check_graph()

    def _ids_in_order(self) -> bool:
        """Whether the ids are `IdCounter`'s in order (`n0`, `n1`, ...), each node reading
        earlier ones and the outputs among them: what the checker makes, and a graph
        `_check_graph` accepts, found without a set of every id (at 100,000 layers,
        megabytes for a moment)."""
        count = 0
        previous = ""
        items: Iterable[Input | Node] = itertools.chain(self.inputs, self.nodes)
        for item in items:
            node_id = f"n{count}"
            if item.id != node_id:
                return False
            if type(item) is Node:
                reads = item.reads if item.call_tensors else item.inputs
                chained = len(reads) == 1 and reads[0] == previous  # the node before
                if not (chained or (reads and all(_earlier(read, count) for read in reads))):
                    return False
            previous = node_id
            count += 1
        return bool(self.outputs) and all(_earlier(output, count) for output in self.outputs)

    def _check_graph(self) -> None:
        """Raises `ValueError` on two nodes with one id, a node reading nothing or what is
        not listed before it, or an output that is no input or node."""
        seen: set[NodeId] = set()
        for item in self._items():
            if item.id in seen:
                raise ValueError(f"the model's graph has two nodes with the id {item.id!r}")
            if isinstance(item, Node):
                missing = [i for i in item.reads if i not in seen]
                if missing or not item.inputs:
                    raise ValueError(
                        f"node {item.id!r} reads {missing or 'nothing'}: every node reads "
                        "inputs or nodes listed before it"
                    )
            seen.add(item.id)
        if not self.outputs or any(o not in seen for o in self.outputs):
            raise ValueError(f"the model's outputs {self.outputs!r} are not all its nodes")

    # -- the graph ------------------------------------------------------------------------

    @cached_property
    def _by_id(self) -> dict[NodeId, Input | Node]:
        return {item.id: item for item in self._items()}

    def _items(self) -> list[Input | Node]:
        return [*self.inputs, *self.nodes]

    def node(self, node_id: NodeId) -> Node:
        item = self._by_id[node_id]
        if not isinstance(item, Node):
            raise KeyError(f"{node_id!r} is an input, not a layer node")
        return item

    def input_node(self, input_id: NodeId | None = None) -> Input:
        """The input with this id; without one, the model's only input."""
        if input_id is None:
            if len(self.inputs) != 1:
                raise ValueError(f"the model has {len(self.inputs)} inputs: name one")
            return self.inputs[0]
        item = self._by_id[input_id]
        if not isinstance(item, Input):
            raise KeyError(f"{input_id!r} is a layer node, not an input")
        return item

    def is_input(self, node_id: NodeId) -> bool:
        return isinstance(self._by_id.get(node_id), Input)

    @property
    def output_nodes(self) -> tuple[Node, ...]:
        """The nodes whose outputs are the model's, in order (an input is never one).
        Found by a walk rather than by `node`, whose index of every node a compile of
        100,000 layers needs nowhere else."""
        wanted = set(self.outputs)
        found = {node.id: node for node in self.nodes if node.id in wanted}
        return tuple(
            found[output] if output in found else self.node(output) for output in self.outputs
        )

    @property
    def calls(self) -> tuple[KerasCall, ...]:
        """Every layer call, in the nodes' (topological) order."""
        return tuple(node.call for node in self.nodes)

    @property
    def is_chain(self) -> bool:
        """Whether the model is one input, each node fed by the one before it, and the last
        node its one output: every v1 program, and what Sequential can build."""
        if len(self.inputs) != 1 or not self.nodes or self.outputs != (self.nodes[-1].id,):
            return False
        before = self.inputs[0].id
        for node in self.nodes:
            if node.reads != (before,) or node.call.class_name in SEVERAL_INPUTS:
                return False
            before = node.id
        return True

    @property
    def layers(self) -> tuple[KerasCall, ...]:
        """A chain's layer calls, from the input to the output: what the `add` and
        `constructor` styles write. Only for chains; a graph has no such order."""
        assert self.is_chain, "a layer list is only defined for a chain (see `is_chain`)"
        return self.calls

    def with_calls(self, calls: Mapping[NodeId, KerasCall]) -> Model:
        """The model with these nodes' calls replaced (by node id); the graph is unchanged."""
        nodes = tuple(
            replace(node, call=calls[node.id]) if node.id in calls else node for node in self.nodes
        )
        return replace(self, nodes=nodes)

    # -- compile and fit ------------------------------------------------------------------

    def loss_key_of(self, output: NodeId) -> str:
        """The catalog key of the loss on this output (`loss_key` unless per output)."""
        if self.loss_keys and output in self.outputs:
            name = self.output_names[self.outputs.index(output)]
            return dict(self.loss_keys).get(name, self.loss_key)
        return self.loss_key

    def fit_option(self, name: str, default: PyValue = None) -> PyValue:
        return dict(self.fit).get(name, default)

    def with_callback(self, callback: KerasCall) -> Model:
        """The model with `callback` instead of any of its class in the `callbacks`
        section: how `kdsl run --tensorboard DIR` means `callbacks tensorboard DIR`."""
        kept = tuple(c for c in self.callbacks if c.class_name != callback.class_name)
        return replace(self, callbacks=(*kept, callback))

    def with_fit(self, **options: PyValue) -> Model:
        """The model with these `fit` options set; `None` leaves an option as it was.

        How `kdsl run --early-stopping 5` means exactly `fit early_stopping=5` in the file.
        """
        merged = dict(self.fit) | {k: v for k, v in options.items() if v is not None}
        return replace(self, fit=tuple(merged.items()))


def _earlier(node_id: NodeId, count: int) -> bool:
    """Whether `node_id` is one of `IdCounter`'s first `count` ids."""
    number = node_id[1:]
    return (
        node_id[:1] == "n"
        and number.isdecimal()
        and number.isascii()
        and int(number) < count
        and f"n{int(number)}" == node_id
    )


# A model's graph without its compile and fit settings: inputs, nodes, outputs.
Graph = tuple[tuple[Input, ...], tuple[Node, ...], tuple[NodeId, ...]]


def chain(
    ids: IdCounter,
    shape: Dims,
    calls: tuple[KerasCall, ...] | list[KerasCall],
    input_kwargs: tuple[tuple[str, PyValue], ...] = (),
    input_span: Span | None = None,
) -> Graph:
    """The graph of a chain: one input, then each call fed by the one before."""
    source = Input(ids.next(), shape, input_kwargs, input_span)
    nodes: list[Node] = []
    before = source.id
    for call in calls:
        nodes.append(Node(ids.next(), call, (before,)))
        before = nodes[-1].id
    return (source,), tuple(nodes), (before,)
