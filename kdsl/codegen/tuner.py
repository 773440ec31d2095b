"""A program with search spaces → a standalone KerasTuner script (issue 16).

The script's `HyperModel.build(hp)` is the program with each search space a
hyperparameter (`hp.Int("dense_2/units", 32, 256, step=32)`, written where the value
goes); a chain is built as a Sequential model, a graph in the functional style with
the program's blocks as functions (taking `hp` where they search), as `compile` writes
them. A searched depth is a loop over `hp.Int(...)` passes, each pass's own
hyperparameters under `hp.conditional_scope`, so that only the layers built own
hyperparameters. Its `fit(hp, model, ...)` searches `batch_size` and
`epochs`. As in `render`, user text reaches the script only as literals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kdsl import ir
from kdsl._version import __version__
from kdsl.codegen import functional
from kdsl.codegen.render import (
    StyleError,
    _compile_lines,
    _environment,
    expression,
    format_code,
    input_expression,
    keras_input,
    literal,
)
from kdsl.options import Mode
from kdsl.semantics.catalog import load

TUNER_CLASSES = {
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
}


@dataclass(frozen=True)
class _Searched:
    """Where a hyperparameter's value goes in a call: the script writes its `hp` call;
    `per_pass`: one hyperparameter per pass of the loop around it (`f"NAME/pass_{i}"`)."""

    hp: ir.Hyperparameter
    per_pass: bool = False


def hp_call(hp: ir.Hyperparameter, per_pass: bool = False) -> str:
    """`hp.Int("dense_2/units", 32, 256, step=32)`: KerasTuner's call for it; per pass,
    named by the loop's pass number (`f"dense_2/units/pass_{i}"`)."""
    name = literal(hp.name)
    if per_pass:  # the stem as an f-string's text: braces doubled, then the pass number
        text = literal(hp.name.replace("{", "{{").replace("}", "}}") + "/pass_")
        name = f"f{text[:-1]}{{i}}{text[-1]}"
    if hp.kind == "boolean":
        return f"hp.Boolean({name})"
    if hp.kind == "choice":
        return f"hp.Choice({name}, [{', '.join(literal(v) for v in hp.values)}])"
    callee = "hp.Int" if hp.kind == "int" else "hp.Float"
    args = [name, literal(hp.low), literal(hp.high)]
    if hp.step is not None:
        args.append(f"step={literal(hp.step)}")
    if hp.sampling is not None:
        args.append(f"sampling={literal(hp.sampling)}")
    return f"{callee}({', '.join(args)})"


def _value(value) -> str:
    return hp_call(value.hp, value.per_pass) if isinstance(value, _Searched) else literal(value)


def _with_hyperparameters(
    call: ir.KerasCall,
    searched: tuple[tuple[str, str], ...],
    table: dict[str, ir.Hyperparameter],
    blocks: dict[str, ir.Block] | None = None,
) -> ir.KerasCall:
    """The call with each searched argument (by name) standing for its hyperparameter
    (a per-pass stem's: the first pass's, named by the stem)."""
    if not searched:
        return call
    values = {}
    for param, name in searched:
        if name in table:
            values[param] = _Searched(table[name])
        else:
            values[param] = _Searched(replace(table[f"{name}/pass_1"], name=name), per_pass=True)
    kwargs: tuple = tuple((k, values.pop(k, v)) for k, v in call.kwargs)
    args = list(call.args)
    if values:  # the required arguments, given positionally in the catalog's order
        if call.module == "blocks":  # a block's values, in its parameters' order
            assert blocks is not None
            required = [name for name, _ in blocks[call.class_name].params]
        else:
            catalog = load()
            entry = (
                catalog.layer(call.written)
                if call.module == "layers"
                else catalog.optimizers.get(call.written.lower())
            )
            required = [p.name for p in entry.params if p.required] if entry else []
        for param, value in values.items():
            args[required.index(param)] = value  # type: ignore[call-overload]
    return replace(call, args=tuple(args), kwargs=kwargs)


def render(model: ir.Model, mode: Mode = Mode()) -> str:
    """The tuner script, black-formatted."""
    search = model.search
    assert search is not None and search.deepest is not None
    model = search.deepest
    table = {hp.name: hp for hp in search.hyperparameters}
    blocks = {block.name: block for block in model.blocks}
    node_values = dict(search.node_values)
    _, program_nodes, _ = model.program or (model.inputs, model.nodes, model.outputs)
    written = [*program_nodes, *(node for block in model.blocks for node in block.nodes)]
    calls = {
        node.id: _with_hyperparameters(node.call, node_values[node.id], table, blocks)
        for node in written
        if node.id in node_values
    }
    refused = [
        flag
        for flag, given in (
            ("--strategy", mode.strategy),
            ("--folder-data", mode.folder_data),
        )
        if given
    ]
    if refused:
        raise StyleError(
            f"{' and '.join(refused)} cannot be used with a program with search spaces: "
            "its script is a KerasTuner search",
            "compile without it, or compile the best program `kdsl tune` writes",
        )
    if mode.style not in (None, "add", "functional"):
        raise StyleError(
            f"a search is written in the add style for a chain and the functional style "
            f"for a graph, not in the {mode.style} style",
            "leave --style out for a program with search spaces",
        )
    loop = _DepthLoops(dict(search.depths), set(dict(search.per_pass).values()), table)
    functions = any(not block.inline for block in model.blocks)
    sequential = model.is_chain and not functions and mode.style != "functional"
    defined: list[str] = []
    if sequential:
        lines = _sequential(model, program_nodes, calls, blocks, loop)
    else:
        hooks = functional.Hooks(
            reserved=RESERVED,
            hp_blocks=_hp_blocks(blocks, set(node_values)),
            loop=loop,
            # A searched layer or depth may change the width reaching a shared block.
            shared_at_first_use=bool(search.node_values or search.depths),
        )
        defined, lines = _functional(model, calls, hooks)
    optimizer = model.optimizer
    if optimizer.call is not None:
        optimizer_call = _with_hyperparameters(optimizer.call, search.optimizer_values, table)
        optimizer_code = f"optimizer={expression(optimizer_call, value=_value)}"
    else:
        optimizer_code = f"optimizer={literal(optimizer.shorthand)}"
    compile_lines = _compile_lines(replace(model, search=None), {}, 8, Mode())
    compile_args = [optimizer_code, *(line.code for line in compile_lines[1:])]
    fit_values = [(param, hp_call(table[name])) for param, name in search.fit_values]
    fit_options = {
        name: value
        for name, value in model.fit
        if name not in ("epochs", "batch_size", "validation_split")
        and name not in ("early_stopping", "reduce_lr_on_plateau", "sample_weight")
    }
    objective = (
        f"keras_tuner.Objective({literal(search.objective)}, direction={literal(search.direction)})"
    )
    split = model.fit_option("validation_split", 0.0)  # 0: only the file's x_val/y_val
    code = (
        _environment()
        .get_template("tune.py.jinja")
        .render(
            kdsl_version=__version__,
            lines=lines,
            functions=defined,
            compile_args=compile_args,
            fit_values=fit_values,
            fit_options=[f"{k}={literal(v)}" for k, v in fit_options.items()],
            epochs=literal(model.fit_option("epochs", 10)),
            batch_size=literal(model.fit_option("batch_size", 32)),
            validation_split=literal(split) if split else None,
            sample_weight=model.fit_option("sample_weight") is True,
            # Several inputs or outputs: an array for each, named after it (the plain
            # script's `load_data`, shared through templates/load_data.py.jinja).
            named_data=len(model.inputs) > 1 or len(model.outputs) > 1,
            folder_data=False,  # refused above: the search reads an .npz
            objective=objective,
            tuner_class=TUNER_CLASSES[search.tuner],
            hyperband=search.tuner == "hyperband",
            max_trials=literal(search.max_trials),
            executions_per_trial=literal(search.executions_per_trial),
            seed=literal(search.seed),
        )
    )
    return format_code(code, mode)


# Names the build method's code uses besides the script's: no label, input or block
# parameter may take them.
RESERVED = frozenset({"hp", "i", "self", "keras_tuner", "depth"})


@dataclass(frozen=True)
class _DepthLoops:
    """A repeat's header lines. A searched depth is KerasTuner's loop,
    `for _ in range(hp.Int("group_1/repeat", 1, 3)):`; when the layers it repeats own
    hyperparameters, one per pass (`f"dense_2/units/pass_{i}"`), each pass's under
    `hp.conditional_scope` of the depths that build it, so that a trial of a smaller
    depth reports only the values it built (KerasTuner counts a value registered in an
    earlier trial as active unless a condition says otherwise)."""

    depths: dict[ir.NodeId, str]
    with_passes: set[str]
    table: dict[str, ir.Hyperparameter]

    def __call__(self, node: ir.Node, count: str) -> list[str]:
        name = self.depths.get(node.id)
        if name is None:
            return functional.plain_loop(node, count)
        depth = self.table[name]
        if name not in self.with_passes:
            return [f"for _ in range({hp_call(depth)}):"]
        values = _depth_values(depth)
        if values == list(range(1, values[-1] + 1)):
            building = f"list(range(i, {values[-1] + 1}))"
        else:
            shown = ", ".join(literal(v) for v in values)
            building = f"[depth for depth in [{shown}] if depth >= i]"
        return [
            f"for i in range(1, {hp_call(depth)} + 1):",
            f"with hp.conditional_scope({literal(name)}, {building}):",
        ]


def _sequential(
    model: ir.Model,
    program_nodes: tuple[ir.Node, ...],
    calls: dict[ir.NodeId, ir.KerasCall],
    blocks: dict[str, ir.Block],
    loop: _DepthLoops,
) -> list[str]:
    """build()'s lines for a chain: `model.add(...)`, a repeat's in its loop."""
    (source,) = model.inputs
    lines = ["model = keras.Sequential()", f"model.add(keras.{input_expression(source)})"]

    def add(node: ir.Node, indent: str) -> None:
        call = calls.get(node.id, node.call)
        body = blocks[call.class_name].nodes if call.module == "blocks" else None
        if body is None and node.repeat is None:
            lines.append(f"{indent}model.add({expression(call, 'layers.', _value)})")
            return
        header = loop(node, _value(node.repeat if node.repeat is not None else 1))
        lines.extend(f"{indent}{'    ' * depth}{line}" for depth, line in enumerate(header))
        inner = indent + "    " * len(header)
        if body is None:
            lines.append(f"{inner}model.add({expression(call, 'layers.', _value)})")
        else:
            for step in body:
                add(step, inner)

    for node in program_nodes:
        add(node, "")
    return lines


def _depth_values(depth: ir.Hyperparameter) -> list[int]:
    if depth.kind == "choice":
        return sorted(int(v) for v in depth.values)
    assert depth.low is not None and depth.high is not None
    return list(range(int(depth.low), int(depth.high) + 1, int(depth.step or 1)))


def _hp_blocks(blocks: dict[str, ir.Block], searched: set[ir.NodeId]) -> frozenset[str]:
    """The blocks whose functions take `hp`: a searched value in their body, or a call of
    a `def` block that takes it (a repeated group's body is its writer's; a shared block
    comes built, as a model)."""
    needs: dict[str, bool] = {}

    def need(block: ir.Block) -> bool:
        if block.name not in needs:
            needs[block.name] = any(
                node.id in searched
                or (
                    node.call.module == "blocks"
                    and not blocks[node.call.class_name].shared
                    and need(blocks[node.call.class_name])
                )
                for node in block.nodes
            )
        return needs[block.name]

    return frozenset(name for name, block in blocks.items() if not block.inline and need(block))


def _functional(
    model: ir.Model, calls: dict[ir.NodeId, ir.KerasCall], hooks: functional.Hooks
) -> tuple[list[str], list[str]]:
    """The block functions' lines (each taking `hp` first when it searches), and
    build()'s lines for the graph, in the functional style."""

    def written(nodes: tuple[ir.Node, ...]) -> tuple[ir.Node, ...]:
        return tuple(replace(node, call=calls.get(node.id, node.call)) for node in nodes)

    program = model.program
    graph = replace(
        model,
        blocks=tuple(replace(block, nodes=written(block.nodes)) for block in model.blocks),
        program=None if program is None else (program[0], written(program[1]), program[2]),
        search=None,
    )
    if program is None:
        graph = graph.with_calls(calls)

    def layer_call(call: ir.KerasCall, value) -> str:
        return expression(call, "layers.", value)

    functions, statements = functional.write_model(graph, layer_call, _value, keras_input, hooks)
    defined = []
    for function in functions:
        defined.append(f"def {function.name}({function.params}):")
        defined += ["    " * (s.depth + 1) + s.code for s in function.body]
        defined.append("")
    return defined, ["    " * statement.depth + statement.code for statement in statements]
