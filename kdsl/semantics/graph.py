"""Chains, labels, references, groups and blocks (v2) → the model's graph (`kdsl.ir`).

The checker (`kdsl.semantics.checker`) knows what a call means (a layer, its arguments);
this module knows how calls connect: which tensor flows into each, what a label names,
where a fork joins, and what a block call expands to. It builds two things:

- the **expanded graph** (`Model.nodes`): every block instance and every pass of a
  repeat, each with its real values, the graph Keras builds and shapes are checked on;
- where the program has blocks or repeats, the **written form** (`Model.blocks`,
  `Model.program`): each block once, with its parameters as `ir.Param` values, block
  calls and repeat counts kept, for the renderer to write a function per block and a
  `for` loop per repeat.

Every problem is reported where it was written, all at once, as for v1.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from kdsl import ir
from kdsl.errors import did_you_mean
from kdsl.language import nodes
from kdsl.language.syntax import CONSTANTS, SECTION_NAMES

# Keyword arguments of an attention layer's *call* (not its constructor): tensors by
# `@name`, and values. Other call arguments are refused (see `_REFUSED_CALL_ARGS`).
ATTENTION_CLASSES = ir.SEVERAL_INPUTS - {
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"
}  # fmt: skip
CALL_TENSORS = ("value", "key", "attention_mask")
CALL_VALUES = ("use_causal_mask",)
_REFUSED_CALL_ARGS = {
    "query": "the query is the tensor flowing in: start the chain from it",
    "return_attention_scores": "a layer in kdsl gives one result",
    "training": "Keras sets `training` itself, in `fit` and `predict`",
}
# Layers that take several inputs (the merges) and how many.
MERGE_CLASSES = ir.SEVERAL_INPUTS - ATTENTION_CLASSES
# A cap on what blocks and repeats expand to: each is linear in what it writes, but a
# block calling another twice, ten deep, is 1,024 copies of the innermost.
MAX_EXPANDED_LAYERS = 100_000
MAX_REPEAT = 10_000


@dataclass
class _Scope:
    """The names visible at a point: a group's scope sees its parent's; a block
    instance's sees only its own labels, its parameters and `@in`."""

    parent: _Scope | None = None
    labels: dict[str, tuple[ir.NodeId, nodes.Span]] = field(default_factory=dict)
    block: str | None = None  # the block whose body this is
    values: dict[str, nodes.Value] = field(default_factory=dict)  # a block's parameters
    tensors: dict[str, ir.NodeId] = field(default_factory=dict)  # `in` and tensor params
    symbolic: frozenset[str] = frozenset()  # parameters kept as `ir.Param` (written form)

    def find(self, name: str) -> tuple[ir.NodeId, nodes.Span | None] | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.labels:
                return scope.labels[name]
            if name in scope.tensors:
                return scope.tensors[name], None
            if scope.block is not None:
                return None  # a block's body never sees the program's names
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        names: list[str] = []
        scope: _Scope | None = self
        while scope is not None:
            names += [*scope.labels, *scope.tensors]
            if scope.block is not None:
                break
            scope = scope.parent
        return names

    def body_scope(self) -> _Scope:
        """The scope of a block's body this scope is in (or the program's)."""
        scope = self
        while scope.block is None and scope.parent is not None:
            scope = scope.parent
        return scope


@dataclass
class _Fork:
    """The ends of a group's branches, waiting for the merge after `]`."""

    ends: list[ir.NodeId]
    span: nodes.Span
    labelled: bool  # every branch ends in a label: named heads, which may end a chain


class _TooBig(Exception):
    """The expansion passed `MAX_EXPANDED_LAYERS` (said once, where it happened)."""


class GraphBuilder:
    """Walks a program's chains for the checker (`checker`: the `_Checker` whose `layer`,
    `input_element`, `shape` and `error` it uses)."""

    def __init__(self, checker, program: nodes.Program, symbolic: bool = False):
        self.checker = checker
        self.program = program
        self.symbolic = symbolic
        self.ids = ir.IdCounter()
        self.inputs: list[ir.Input] = []
        self.nodes: list[ir.Node] = []
        self.read: set[ir.NodeId] = set()
        self.blocks: dict[str, nodes.BlockDef] = {}
        self.instances: Counter[str] = Counter()
        self.scope_path: list[str] = []
        self.written_blocks: list[ir.Block] = []
        self.chain_ends: list[tuple[ir.NodeId, nodes.Span]] = []
        self.heads: list[ir.NodeId] = []  # named heads ending the last chain
        self.first_layer_shape = True
        self.too_big = False
        self.nodes_by_id: dict[ir.NodeId, ir.Node] = {}
        self.sites: dict[str, str] = {}  # block instance → the call that made it
        self.groups = 0  # repeated groups written so far (their inline blocks' names)
        self.shared_layers: dict[str, list[ir.NodeId]] = {}  # a shared block's own layers

    # -- the program ----------------------------------------------------------------------

    def build(self) -> _Scope:
        """Walk every chain of the program (blocks are walked where they are called)."""
        scope = _Scope(block=None)
        for block in self.program.blocks:
            self.define_block(block)
        for index, chain in enumerate(self.program.chains):
            first = chain.elements[0]
            starts_from_name = first.label is not None or isinstance(first.atom, nodes.Ref)
            if index > 0 and not starts_from_name:
                self.checker.error(
                    "a second chain must start from a named tensor",
                    first.span,
                    "label it, `tags: input 12 -> ...`, or start from a label: `@x -> ...`",
                )
                continue
            try:
                end = self.chain(chain, scope, None)
            except _TooBig:
                return scope
            if isinstance(end, _Fork):
                self.heads = end.ends if end.labelled else []
                for node_id in end.ends:
                    self.chain_ends.append((node_id, chain.span))
            elif end is not None:
                self.chain_ends.append((end, chain.span))
        return scope

    def define_block(self, block: nodes.BlockDef) -> None:
        checker = self.checker
        if block.name in self.blocks:
            first = self.blocks[block.name].name_span
            checker.error(
                f"the block `{block.name}` is defined twice",
                block.name_span,
                f"the first is at {first.line}:{first.column}: rename one",
            )
            return
        if checker.catalog.layer(block.name) is not None or block.name in SECTION_NAMES:
            checker.error(
                f"a block cannot be named `{block.name}`: that is a layer kind"
                if block.name not in SECTION_NAMES
                else f"a block cannot be named `{block.name}`: that starts a section",
                block.name_span,
                "give it a name of its own, e.g. `def res_block ...`",
            )
            return
        seen: dict[str, nodes.Span] = {}
        defaults = False
        for param in block.params:
            if param.name in seen:
                checker.error(
                    f"the parameter `{param.name}` is listed twice",
                    param.span,
                    "give each parameter its own name",
                )
            seen[param.name] = param.span
            if param.name in ("in", "name") or self.known_word(param.name):
                checker.error(
                    f"a parameter cannot be named `{param.name}`: "
                    + (
                        "`@in` is the tensor the block is called on"
                        if param.name == "in"
                        else "every call may give `name=`"
                        if param.name == "name"
                        else "that word already means something in kdsl"
                    ),
                    param.span,
                    "rename it, e.g. `filters` or `f`",
                )
            if param.default is not None:
                defaults = True
            elif defaults and not param.tensor:
                checker.error(
                    f"the parameter `{param.name}` has no default, but one before it has",
                    param.span,
                    "put the parameters with defaults last, as in Python",
                )
        self.blocks[block.name] = block
        if self.symbolic:
            self.write_block(block)

    def known_word(self, name: str) -> bool:
        """A word a value already means (an activation, `same`, `true`...), which a
        parameter's name would hide."""
        catalog = self.checker.catalog
        return (
            name in CONSTANTS
            or name in catalog.activations
            or name in {"same", "valid", "causal", "channels_last", "channels_first"}
            or catalog.layer(name) is not None
            or name in self.blocks
        )

    # -- chains ---------------------------------------------------------------------------

    def chain(
        self, chain: nodes.Chain, scope: _Scope, start: ir.NodeId | None
    ) -> ir.NodeId | _Fork | None:
        """Walk `a -> b -> c` from `start` (a branch's or a body's tensor), or from its
        own first element; the tensor (or the fork) it ends with, None after an error."""
        current: ir.NodeId | _Fork | None = start
        elements = chain.elements
        if start is None:
            current, elements = self.chain_start(chain, scope)
            if current is None:
                return None
        failed = False
        for element in elements:
            # After an error the chain goes on from the tensor before it, so that every
            # problem is said at once (the model is not built: nothing cascades into shapes).
            assert current is not None
            result = self.element(element, current, scope)
            if result is None:
                failed = True
                if isinstance(current, _Fork):
                    current = current.ends[-1]
            else:
                current = result
        return None if failed else current

    def chain_start(
        self, chain: nodes.Chain, scope: _Scope
    ) -> tuple[ir.NodeId | _Fork | None, tuple[nodes.Element, ...]]:
        """Where a chain of the program starts: an `input`, a reference, or (v1) a first
        layer with `in SHAPE`."""
        first, rest = chain.elements[0], chain.elements[1:]
        atom = first.atom
        if isinstance(atom, nodes.Ref):
            return self.reference(atom, scope), rest
        if isinstance(atom, nodes.Call) and atom.name == "input":
            if first.repeat is not None:
                self.repeat_error(first, "an `input`")
            shape, kwargs = self.checker.input_element(atom)
            if first.label is not None:
                if any(k == "name" for k, _ in kwargs):
                    self.checker.error(
                        "this input has a label and a `name=`",
                        first.label.span,
                        "the label is the input's name: drop `name=`",
                    )
                kwargs = (*kwargs, ("name", first.label.name))
            if not rest:
                self.checker.error(
                    "the chain has no layers after `input`",
                    atom.span,
                    "add layers with `->`, e.g. `input 4 -> dense 3 softmax`",
                )
            if shape is None:
                return None, rest
            source = ir.Input(self.ids.next(), shape, kwargs, atom.span)
            self.inputs.append(source)
            if first.label is not None:
                self.define(first.label, source.id, scope)
            return source.id, rest
        # v1: the first layer gives the shape with `in SHAPE`.
        shape_arg = None
        if isinstance(atom, nodes.Call):
            shape_arg = next((a for a in atom.args if isinstance(a, nodes.InputShape)), None)
        if shape_arg is None or self.inputs:
            self.checker.error(
                "the model has no input shape" if not self.inputs else "this chain has no input",
                first.span,
                "start with `input SHAPE ->`, e.g. `input 4 -> dense 3`"
                if not self.inputs
                else "start it from an input, `name: input 4 -> ...`, or from a label: `@x -> ...`",
            )
            return None, ()
        shape = self.checker.shape(shape_arg.value)
        if shape is None:
            return None, ()
        source = ir.Input(self.ids.next(), shape, (), None)
        self.inputs.append(source)
        return source.id, chain.elements

    def reference(self, ref: nodes.Ref, scope: _Scope) -> ir.NodeId | None:
        found = scope.find(ref.name)
        if found is None:
            self.unknown_reference(ref, scope)
            return None
        self.read.add(found[0])
        return found[0]

    def unknown_reference(self, ref: nodes.Ref, scope: _Scope) -> None:
        visible = scope.visible()
        later = self.label_after(ref)
        if ref.name == "in":
            hint = "`@in` is the tensor a block is called on: use it inside `def ... { }`"
        elif later is not None:
            hint = f"`@{ref.name}` is defined at {later.line}:{later.column}, after this use"
        elif scope.body_scope().block is not None and self.program_has_label(ref.name):
            hint = (
                f"a block sees only its parameters and labels: pass the tensor, "
                f"`def {scope.body_scope().block} ... @{ref.name}`"
            )
        else:
            hint = did_you_mean(ref.name, visible, prefix="@") or (
                "names defined so far: " + ", ".join(f"@{n}" for n in visible)
                if visible
                else "label a tensor first: `name: dense 8 -> ...`, then refer to it: `@name`"
            )
        self.checker.error(f"`@{ref.name}` is not defined", ref.span, hint)

    def label_after(self, ref: nodes.Ref) -> nodes.Span | None:
        """A label of that name written after the reference, for the hint."""
        for label in _labels(self.program):
            if label.name == ref.name and (label.span.line, label.span.column) > (
                ref.span.line,
                ref.span.column,
            ):
                return label.span
        return None

    def program_has_label(self, name: str) -> bool:
        return any(label.name == name for label in _labels(self.program))

    def define(self, label: nodes.Label, node_id: ir.NodeId, scope: _Scope) -> None:
        target = scope
        if label.name in ("in",):
            self.checker.error(
                "a label cannot be named `in`", label.span, "`@in` is a block's input tensor"
            )
            return
        before = scope.find(label.name)
        if before is not None and label.name in target.labels:
            span = before[1]
            where = f" at {span.line}:{span.column}" if span else ""
            self.checker.error(
                f"`{label.name}` is already defined{where}",
                label.span,
                "give each label its own name",
            )
            return
        target.labels[label.name] = (node_id, label.span)

    # -- elements -------------------------------------------------------------------------

    def element(
        self, element: nodes.Element, current: ir.NodeId | _Fork, scope: _Scope
    ) -> ir.NodeId | _Fork | None:
        atom = element.atom
        if isinstance(current, _Fork) and not (isinstance(atom, nodes.Call) and self.merges(atom)):
            self.checker.error(
                "a group's branches must be merged",
                element.span,
                "put a merge layer after `]`: `add`, `concatenate`, `multiply`, `average`...",
            )
            return None
        if isinstance(atom, nodes.Ref):
            self.checker.error(
                f"`@{atom.name}` in the middle of a chain would drop the tensor before it",
                atom.span,
                f"give it to a layer, `concatenate @{atom.name}`, or start a chain from it: "
                f"`; @{atom.name} -> ...`",
            )
            return None
        count = self.repeat_count(element, scope)
        if count is None:
            return None
        if isinstance(atom, nodes.Group):
            result = self.group(atom, element, current, scope, count)
        elif atom.name in self.blocks:
            result = self.block_call(atom, element, current, scope, count)
        else:
            result = self.layer(atom, element, current, scope, count)
        if result is not None and element.label is not None:
            if isinstance(result, _Fork):
                self.checker.error(
                    "a group of branches cannot be labelled",
                    element.label.span,
                    "label the merge after it, or each branch's end",
                )
            else:
                self.define(element.label, result, scope)
        return result

    def repeat_count(self, element: nodes.Element, scope: _Scope) -> int | ir.Param | None:
        """The element's repeat count (1 without `*`); a parameter's value when in a block."""
        repeat = element.repeat
        if repeat is None:
            return 1
        value: nodes.Value = repeat
        if isinstance(repeat, nodes.Name):
            if repeat.name in scope.body_scope().symbolic:
                return ir.Param(repeat.name)
            if repeat.name not in scope.body_scope().values:
                self.checker.error(
                    f"`{repeat.name}` is not a parameter of this block",
                    repeat.span,
                    "a repeat count is a whole number, or a parameter of the block it is in",
                )
                return None
            value = scope.body_scope().values[repeat.name]
        if not isinstance(value, nodes.Number) or type(value.value) is not int:
            self.checker.error(
                "a repeat count must be a whole number",
                repeat.span,
                "e.g. `conv2d 32 3 * 2`",
            )
            return None
        literal = isinstance(repeat, nodes.Number)
        if value.value < (1 if literal else 0) or value.value > MAX_REPEAT:
            self.checker.error(
                f"a repeat count must be from {1 if literal else 0} to {MAX_REPEAT:,}, "
                f"not {value.value}",
                value.span,
                "e.g. `* 2`",
            )
            return None
        if value.value == 0 and element.label is not None:
            self.checker.error(
                "a labelled element is repeated 0 times",
                repeat.span,
                "the label would name nothing: give a count of at least 1",
            )
            return None
        if literal and value.value == 1:
            self.checker.warning(
                "`* 1` repeats nothing", repeat.span, "remove `* 1`: the element is applied once"
            )
        return value.value

    def repeat_error(self, element: nodes.Element, what: str) -> None:
        assert element.repeat is not None
        self.checker.error(
            f"{what} cannot be repeated",
            element.repeat.span,
            "repeat a layer, a block or a group: `[dense 8 relu] * 2`",
        )

    def merges(self, call: nodes.Call) -> bool:
        entry = self.checker.catalog.layer(call.name)
        return entry is not None and entry.class_name in MERGE_CLASSES | ATTENTION_CLASSES

    def group(
        self,
        group: nodes.Group,
        element: nodes.Element,
        current: ir.NodeId | _Fork,
        scope: _Scope,
        count: int | ir.Param,
    ) -> ir.NodeId | _Fork | None:
        assert not isinstance(current, _Fork)
        if len(group.branches) == 1:
            if self.symbolic and (isinstance(count, ir.Param) or count != 1):
                return self.written_group(group, current, scope, count)
            result: ir.NodeId | _Fork | None = current
            for _ in range(count if isinstance(count, int) else 1):
                if result is None or isinstance(result, _Fork):
                    return result
                result = self.chain(group.branches[0], _Scope(parent=scope), result)
            return result
        if count != 1:
            assert element.repeat is not None
            self.checker.error(
                "a group of branches cannot be repeated by itself",
                element.repeat.span,
                "repeat it with its merge: `[[a | b] -> add] * 2`",
            )
            return None
        ends: list[ir.NodeId] = []
        labelled = True
        for branch in group.branches:
            first = branch.elements[0]
            if (
                len(branch.elements) == 1
                and isinstance(first.atom, nodes.Call)
                and first.atom.name == "identity"
                and not first.atom.args
                and first.repeat is None
            ):
                if first.label is not None:
                    self.define(first.label, current, scope)
                ends.append(current)  # the tensor itself, no layer
                labelled = labelled and first.label is not None
                continue
            if isinstance(first.atom, nodes.Ref):
                self.checker.error(
                    f"a branch cannot start from `@{first.atom.name}`",
                    first.atom.span,
                    "every branch starts from the tensor flowing into `[`",
                )
                return None
            end = self.chain(branch, scope, current)
            if end is None:
                return None
            if isinstance(end, _Fork):
                self.checker.error(
                    "this branch ends in a group that is not merged",
                    branch.span,
                    "merge it inside the branch: `[a | b] -> add`",
                )
                return None
            ends.append(end)
            labelled = labelled and branch.elements[-1].label is not None
        return _Fork(ends, group.span, labelled)

    # -- layers ---------------------------------------------------------------------------

    def layer(
        self,
        call: nodes.Call,
        element: nodes.Element,
        current: ir.NodeId | _Fork,
        scope: _Scope,
        count: int | ir.Param,
    ) -> ir.NodeId | None:
        checker = self.checker
        if call.name == "input":
            checker.error(
                "`input` can only start a chain",
                call.name_span,
                "start a chain with it: `; name: input 4 -> ...`",
            )
            return None
        entry = checker.catalog.layer(call.name)
        class_name = entry.class_name if entry else ""
        positional_refs: list[nodes.Ref] = []
        tensors: dict[str, nodes.Ref] = {}
        values: list[tuple[str, nodes.Value, nodes.Span]] = []
        args: list[nodes.Arg] = []
        for arg in call.args:
            if isinstance(arg, nodes.InputShape):
                if self.first_layer_shape and not self.nodes and not isinstance(current, _Fork):
                    self.first_layer_shape = False
                    continue  # the v1 input shape, read by `chain_start`
                checker.error(
                    "only the first layer can take the input shape",
                    arg.span,
                    "give each input its shape with `input SHAPE`",
                )
                return None
            if isinstance(arg, nodes.Positional) and isinstance(arg.value, nodes.Ref):
                positional_refs.append(arg.value)
            elif (
                isinstance(arg, nodes.Keyword)
                and class_name in ATTENTION_CLASSES
                and (arg.name in CALL_TENSORS or arg.name in CALL_VALUES)
            ):
                if arg.name in CALL_TENSORS:
                    if not isinstance(arg.value, nodes.Ref):
                        checker.error(
                            f"`{arg.name}` of `{call.name}` is a tensor: `{arg.name}=@name`",
                            arg.value.span,
                            f"label the tensor, then give it: `{arg.name}=@memory`",
                        )
                        return None
                    tensors[arg.name] = arg.value
                else:
                    values.append((arg.name, arg.value, arg.value.span))
            elif (
                isinstance(arg, nodes.Keyword)
                and class_name in ATTENTION_CLASSES
                and (arg.name in _REFUSED_CALL_ARGS)
            ):
                checker.error(
                    f"`{arg.name}` of `{call.name}` cannot be given",
                    arg.name_span,
                    _REFUSED_CALL_ARGS[arg.name],
                )
                return None
            elif isinstance(arg, nodes.Keyword) and isinstance(arg.value, nodes.Ref):
                checker.error(
                    f"`{arg.name}` of `{call.name}` takes a value, not a tensor",
                    arg.value.span,
                    "tensors go to merge layers (`add @x`) and attention (`value=@memory`)",
                )
                return None
            else:
                args.append(arg)
        inputs: list[ir.NodeId] = list(current.ends) if isinstance(current, _Fork) else [current]
        if positional_refs and entry is not None and class_name not in MERGE_CLASSES:
            checker.error(
                f"`{call.name}` takes one input: `@{positional_refs[0].name}` cannot be another",
                positional_refs[0].span,
                "merge tensors with `add @x` or `concatenate @x`; attention takes `value=@x`",
            )
            return None
        for ref in positional_refs:
            found = self.reference(ref, scope)
            if found is None:
                return None
            inputs.append(found)
        if entry is not None and class_name in MERGE_CLASSES and len(inputs) < 2:
            checker.error(
                f"`{call.name}` merges several tensors, but gets one",
                call.name_span,
                f"put it after a group, `[a | b] -> {call.name}`, or give it a label: "
                f"`{call.name} @x`",
            )
            return None
        if class_name in ATTENTION_CLASSES:
            value_ref, key_ref = tensors.get("value"), tensors.get("key")
            value_id = self.reference(value_ref, scope) if value_ref else None
            key_id = self.reference(key_ref, scope) if key_ref else None
            if (value_ref and value_id is None) or (key_ref and key_id is None):
                return None
            if key_id is not None:
                inputs += [value_id or inputs[0], key_id]
            elif value_id is not None:
                inputs.append(value_id)
        call_tensors: list[tuple[str, ir.NodeId]] = []
        if "attention_mask" in tensors:
            mask = self.reference(tensors["attention_mask"], scope)
            if mask is None:
                return None
            call_tensors.append(("attention_mask", mask))
        call_values: list[tuple[str, ir.PyValue]] = []
        for name, value, span in values:
            bound = checker.value(self.substitute(value, scope))
            if not isinstance(bound, bool | ir.Param):
                checker.error(
                    f"`{name}` is true or false, not `{bound}`", span, f"e.g. `{name}=true`"
                )
                return None
            call_values.append((name, bound))
        stripped = nodes.Call(call.name, tuple(args), call.span, call.given_name_span)
        keras_call = checker.layer(self.substitute_call(stripped, scope))
        if keras_call is None:
            return None
        last: ir.NodeId | None = None
        passes = count if isinstance(count, int) else 1
        if self.symbolic and passes != 1:
            passes = 1
        for index in range(passes):
            feed = inputs if index == 0 else [last, *inputs[1:]]
            node = ir.Node(
                self.ids.next(),
                keras_call,
                tuple(feed),  # type: ignore[arg-type]
                tuple(call_values),
                tuple(call_tensors),
                label=element.label.name if element.label and index == passes - 1 else None,
                scope=tuple(self.scope_path),
                repeat=count if self.symbolic and count != 1 else None,
            )
            self.add(node)
            last = node.id
        if passes == 0:
            return inputs[0]
        return last

    def add(self, node: ir.Node) -> None:
        if len(self.nodes) >= MAX_EXPANDED_LAYERS:
            if not self.too_big:
                self.too_big = True
                self.checker.error(
                    f"the model expands to more than {MAX_EXPANDED_LAYERS:,} layers",
                    node.call.span,
                    "blocks calling blocks multiply: check the repeat counts",
                )
            raise _TooBig
        self.read.update(node.reads)
        self.nodes.append(node)
        self.nodes_by_id[node.id] = node

    # -- block parameters -----------------------------------------------------------------

    def substitute(self, value: nodes.Value, scope: _Scope) -> nodes.Value:
        """A value with the block's parameters replaced by their values (expanded form);
        in the written form a parameter stays a name, read by the checker as a `Param`."""
        body = scope.body_scope()
        if isinstance(value, nodes.Name) and value.name in body.values:
            return body.values[value.name]
        if isinstance(value, nodes.Tuple):
            items = tuple(self.substitute(item, scope) for item in value.items)
            return dataclasses.replace(value, items=items)
        if isinstance(value, nodes.BinOp):
            return dataclasses.replace(
                value,
                left=self.substitute(value.left, scope),
                right=self.substitute(value.right, scope),
            )
        if isinstance(value, nodes.Neg):
            return dataclasses.replace(value, operand=self.substitute(value.operand, scope))
        if isinstance(value, nodes.ValueCall):
            args = tuple(
                dataclasses.replace(arg, value=self.substitute(arg.value, scope))
                for arg in value.args
            )
            return dataclasses.replace(value, args=args)
        if isinstance(value, nodes.Dict):
            pairs = tuple(
                (self.substitute(k, scope), self.substitute(v, scope)) for k, v in value.items
            )
            return dataclasses.replace(value, items=pairs)
        return value

    def substitute_call(self, call: nodes.Call, scope: _Scope) -> nodes.Call:
        body = scope.body_scope()
        if not body.values:
            return call
        args: list[nodes.Arg] = []
        for arg in call.args:
            if isinstance(arg, nodes.Positional | nodes.Keyword | nodes.InputShape):
                arg = dataclasses.replace(arg, value=self.substitute(arg.value, scope))
            args.append(arg)
        return dataclasses.replace(call, args=tuple(args))

    # -- blocks ---------------------------------------------------------------------------

    def bind_block(
        self, call: nodes.Call, block: nodes.BlockDef, scope: _Scope
    ) -> tuple[dict[str, nodes.Value], dict[str, nodes.Ref], str | None] | None:
        """A block call's arguments by parameter, defaults filled in; its `name=`."""
        checker = self.checker
        values: dict[str, nodes.Value] = {}
        tensors: dict[str, nodes.Ref] = {}
        name: str | None = None
        params = list(block.params)
        positional = iter(params)
        ok = True
        for arg in call.args:
            if isinstance(arg, nodes.InputShape):
                checker.error(
                    "a block call cannot take the input shape",
                    arg.span,
                    "start the chain with `input SHAPE ->`",
                )
                ok = False
                continue
            if isinstance(arg, nodes.Keyword) and arg.name == "name":
                checker.error(
                    f"`{call.name}` is a block: its layers have names, it has none",
                    arg.name_span,
                    f"name a layer inside `def {block.name}` (`dense 4 name=head`), or "
                    "label the call's result: `head: " + call.name + " ...`",
                )
                ok = False
                continue
            if isinstance(arg, nodes.Positional):
                param = next(positional, None)
                if param is None:
                    checker.error(
                        f"`{call.name}` takes {len(params)} argument"
                        f"{'s' if len(params) != 1 else ''}, given more",
                        arg.span,
                        f"`def {block.name}` takes " + _params_text(block),
                    )
                    ok = False
                    continue
            else:
                param = next((p for p in params if p.name == arg.name), None)
                if param is None:
                    checker.error(
                        f"`{call.name}` has no parameter `{arg.name}`",
                        arg.name_span,
                        did_you_mean(arg.name, [p.name for p in params])
                        or f"`def {block.name}` takes " + _params_text(block),
                    )
                    ok = False
                    continue
            if param.name in values or param.name in tensors:
                checker.error(
                    f"`{param.name}` of `{call.name}` is given twice",
                    arg.span,
                    "give each argument once",
                )
                ok = False
                continue
            if param.tensor:
                if not isinstance(arg.value, nodes.Ref):
                    checker.error(
                        f"`{param.name}` of `{call.name}` is a tensor: give `@name`",
                        arg.value.span,
                        f"e.g. `{call.name} ... @memory`",
                    )
                    ok = False
                    continue
                tensors[param.name] = arg.value
            else:
                if isinstance(arg.value, nodes.Ref):
                    checker.error(
                        f"`{param.name}` of `{call.name}` is a value, not a tensor",
                        arg.value.span,
                        f"`def {block.name}` takes tensors only as `@param`",
                    )
                    ok = False
                    continue
                values[param.name] = self.substitute(arg.value, scope)
        for param in params:
            if param.name in values or param.name in tensors:
                continue
            if param.default is not None:
                values[param.name] = param.default
            elif ok:
                checker.error(
                    f"`{call.name}` needs `{param.name}`",
                    call.span,
                    f"`def {block.name}` takes " + _params_text(block),
                )
                ok = False
        return (values, tensors, name) if ok else None

    def block_call(
        self,
        call: nodes.Call,
        element: nodes.Element,
        current: ir.NodeId | _Fork,
        scope: _Scope,
        count: int | ir.Param,
    ) -> ir.NodeId | None:
        assert not isinstance(current, _Fork)
        block = self.blocks[call.name]
        bound = self.bind_block(call, block, scope)
        if bound is None:
            return None
        values, tensor_refs, name = bound
        tensors: dict[str, ir.NodeId] = {}
        for param_name, ref in tensor_refs.items():
            found = self.reference(ref, scope)
            if found is None:
                return None
            tensors[param_name] = found
        if self.symbolic:
            return self.written_block_call(call, element, current, scope, count, values, tensors)
        result: ir.NodeId | None = current
        assert isinstance(count, int)
        for _ in range(count):
            if result is None:
                return None
            self.instances[block.name] += 1
            instance = name or f"{block.name}_{self.instances[block.name]}"
            if block.shared:
                instance = block.name  # one instance, however often it is applied
            body = _Scope(block=block.name, values=values, tensors={"in": result, **tensors})
            self.scope_path.append(instance)
            site = f"in `{call.name}` at {call.span.line}:{call.span.column}"
            self.sites.setdefault(instance, site)
            self.checker.context.insert(0, site)
            first = len(self.nodes)
            try:
                end = self.body(block, body, result)
            finally:
                self.scope_path.pop()
                self.checker.context.pop(0)
            if block.shared and end is not None:
                self.share(block, first)
            result = end
        return result

    def share(self, block: nodes.BlockDef, first: int) -> None:
        """The nodes just made for a `shared` block: on its first use, its layers; on
        later ones, the same layers applied again (`ir.Node.shares`)."""
        made = self.nodes[first:]
        if block.name not in self.shared_layers:
            self.shared_layers[block.name] = [node.id for node in made]
            return
        owners = self.shared_layers[block.name]
        self.nodes[first:] = [
            dataclasses.replace(node, shares=owner, call=self.nodes_by_id[owner].call)
            for node, owner in zip(made, owners, strict=True)
        ]
        for node in self.nodes[first:]:
            self.nodes_by_id[node.id] = node

    def body(self, block: nodes.BlockDef, scope: _Scope, start: ir.NodeId) -> ir.NodeId | None:
        end: ir.NodeId | _Fork | None = None
        for index, chain in enumerate(block.body):
            first = chain.elements[0]
            if index > 0 and not isinstance(first.atom, nodes.Ref):
                self.checker.error(
                    "a later chain in a block must start from a named tensor",
                    first.span,
                    "start it from a label or `@in`: `@in -> ...`",
                )
                return None
            if isinstance(first.atom, nodes.Ref):
                begin = self.reference(first.atom, scope)
                if begin is None:
                    return None
                end = (
                    self.chain(nodes.Chain(chain.elements[1:], chain.span), scope, begin)
                    if len(chain.elements) > 1
                    else begin
                )
            else:
                end = self.chain(chain, scope, start)
            if end is None:
                return None
            if isinstance(end, _Fork):
                self.checker.error(
                    "a block's body ends in a group that is not merged",
                    chain.span,
                    "merge the branches: `[a | b] -> add`",
                )
                return None
        return end if not isinstance(end, _Fork) else None

    # -- the written form (symbolic) ----------------------------------------------------

    def write_block(self, block: nodes.BlockDef) -> None:
        """The block once, its value parameters as `ir.Param`s, for the renderer."""
        params = [p for p in block.params if not p.tensor]
        tensor_params = [p for p in block.params if p.tensor]
        saved_nodes, saved_inputs = self.nodes, self.inputs
        self.nodes, self.inputs = [], []
        try:
            start = ir.Input(self.ids.next(), (), (("name", "in"),), block.span)
            inputs = [start]
            tensors = {"in": start.id}
            for param in tensor_params:
                source = ir.Input(self.ids.next(), (), (("name", param.name),), param.span)
                inputs.append(source)
                tensors[param.name] = source.id
            scope = _Scope(
                block=block.name,
                tensors=tensors,
                symbolic=frozenset(p.name for p in params),
            )
            self.checker.symbolic = scope.symbolic
            said = len(self.checker.diagnostics)
            try:
                end = self.body(block, scope, start.id)
            finally:
                self.checker.symbolic = frozenset()
                del self.checker.diagnostics[said:]  # the expanded form says them
            if end is None:
                return
            defaults: list[tuple[str, ir.PyValue]] = []
            for param in params:
                if param.default is None:
                    defaults.append((param.name, ir.REQUIRED))
                else:
                    defaults.append((param.name, self.checker.value(param.default)))
            self.written_blocks.append(
                ir.Block(
                    block.name,
                    tuple(defaults),
                    tuple(inputs),
                    tuple(self.nodes),
                    end,
                    block.span,
                    shared=block.shared,
                )
            )
        finally:
            self.nodes, self.inputs = saved_nodes, saved_inputs

    def written_block_call(
        self,
        call: nodes.Call,
        element: nodes.Element,
        current: ir.NodeId,
        scope: _Scope,
        count: int | ir.Param,
        values: dict[str, nodes.Value],
        tensors: dict[str, ir.NodeId],
    ) -> ir.NodeId:
        block = self.blocks[call.name]
        # The arguments as written: defaults left to the function's signature.
        value_params = [p.name for p in block.params if not p.tensor]
        positional = sum(
            1
            for a in call.args
            if isinstance(a, nodes.Positional) and not isinstance(a.value, nodes.Ref)
        )
        args = tuple(self.checker.value(values[name]) for name in value_params[:positional])
        kwargs = tuple(
            (a.name, self.checker.value(values[a.name]))
            for a in call.args
            if isinstance(a, nodes.Keyword) and a.name in value_params
        )
        # Where each given value was written: a search finds its spaces by these spans.
        given = [*value_params[:positional], *(name for name, _ in kwargs)]
        keras_call = ir.KerasCall(
            "blocks", block.name, args, kwargs, span=call.span, written=call.name,
            arg_names=tuple(given), value_spans=tuple(values[name].span for name in given),
        )  # fmt: skip
        node = ir.Node(
            self.ids.next(),
            keras_call,
            (current, *tensors.values()),
            label=element.label.name if element.label else None,
            repeat=count if count != 1 else None,
        )
        self.nodes.append(node)
        return node.id

    def written_group(
        self, group: nodes.Group, current: ir.NodeId, scope: _Scope, count: int | ir.Param
    ) -> ir.NodeId | None:
        """`[a -> b] * n` in the written form: an inline block, called n times."""
        self.groups += 1
        name = f"_repeat_{self.groups}"
        saved = self.nodes
        self.nodes = []
        start = ir.Input(self.ids.next(), (), (("name", "in"),), group.span)
        inner = _Scope(parent=scope)
        end = self.chain(group.branches[0], inner, start.id)
        body_nodes = self.nodes
        self.nodes = saved
        if end is None or isinstance(end, _Fork):
            return None
        self.written_blocks.append(
            ir.Block(name, (), (start,), tuple(body_nodes), end, group.span, inline=True)
        )
        node = ir.Node(
            self.ids.next(),
            ir.KerasCall("blocks", name, span=group.span),
            (current,),
            repeat=count,
        )
        self.nodes.append(node)
        return node.id


def _labels(program: nodes.Program) -> list[nodes.Label]:
    """Every label written in the program, blocks included, in text order."""
    found: list[nodes.Label] = []

    def walk(chain: nodes.Chain) -> None:
        for element in chain.elements:
            if element.label is not None:
                found.append(element.label)
            if isinstance(element.atom, nodes.Group):
                for branch in element.atom.branches:
                    walk(branch)

    for block in program.blocks:
        for chain in block.body:
            walk(chain)
    for chain in program.chains:
        walk(chain)
    return found


def _params_text(block: nodes.BlockDef) -> str:
    if not block.params:
        return "no arguments"
    return " ".join(
        ("@" if p.tensor else "") + p.name + ("=..." if p.default is not None else "")
        for p in block.params
    )
