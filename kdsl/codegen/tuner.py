"""A program with search spaces → a standalone KerasTuner script (issue 16).

The script's `HyperModel.build(hp)` is the program with each search space a
hyperparameter (`hp.Int("dense_2/units", 32, 256, step=32)`, written where the value
goes); a chain is built as a Sequential model, each searched depth's deeper passes
under `hp.conditional_scope`, so that only the layers built own hyperparameters; a
graph in the functional style. Its `fit(hp, model, ...)` searches `batch_size` and
`epochs`. As in `render`, user text reaches the script only as literals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kdsl import ir
from kdsl._version import __version__
from kdsl.codegen.render import (
    StyleError,
    _compile_lines,
    _environment,
    expression,
    format_code,
    input_expression,
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
    """Where a hyperparameter's value goes in a call: the script writes its `hp` call."""

    hp: ir.Hyperparameter


def hp_call(hp: ir.Hyperparameter) -> str:
    """`hp.Int("dense_2/units", 32, 256, step=32)`: KerasTuner's call for it."""
    name = literal(hp.name)
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
    return hp_call(value.hp) if isinstance(value, _Searched) else literal(value)


def _with_hyperparameters(
    call: ir.KerasCall, searched: tuple[tuple[str, str], ...], table: dict[str, ir.Hyperparameter]
) -> ir.KerasCall:
    """The call with each searched argument (by name) standing for its hyperparameter."""
    if not searched:
        return call
    values = {param: _Searched(table[name]) for param, name in searched}
    kwargs: tuple = tuple((k, values.pop(k, v)) for k, v in call.kwargs)
    args = list(call.args)
    if values:  # the required arguments, given positionally in the catalog's order
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
    node_values = dict(search.node_values)
    calls = {
        node.id: _with_hyperparameters(node.call, node_values.get(node.id, ()), table)
        for node in model.nodes
    }
    refused = [
        flag
        for flag, given in (
            ("--explain", mode.explain),
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
    depths = {node_id: (name, number) for node_id, name, number in search.depths}
    chain = model.is_chain
    if mode.style not in (None, "add", "functional") or (mode.style == "functional" and depths):
        raise StyleError(
            f"a search is written in the add style for a chain and the functional style "
            f"for a graph, not in the {mode.style} style",
            "leave --style out for a program with search spaces",
        )
    if chain and mode.style != "functional":
        lines = _sequential(model, calls, depths, table)
    elif depths:
        raise StyleError(
            "a searched depth is written for a chain of layers; this model is a graph",
            "search the depth of a chain, or write the repeat count as a number",
        )
    else:
        lines = _functional(model, calls)
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
            compile_args=compile_args,
            fit_values=fit_values,
            fit_options=[f"{k}={literal(v)}" for k, v in fit_options.items()],
            epochs=literal(model.fit_option("epochs", 10)),
            batch_size=literal(model.fit_option("batch_size", 32)),
            validation_split=literal(split) if split else None,
            objective=objective,
            tuner_class=TUNER_CLASSES[search.tuner],
            hyperband=search.tuner == "hyperband",
            max_trials=literal(search.max_trials),
            executions_per_trial=literal(search.executions_per_trial),
            seed=literal(search.seed),
            functional=not chain or mode.style == "functional",
        )
    )
    return format_code(code, mode)


def _sequential(
    model: ir.Model,
    calls: dict[ir.NodeId, ir.KerasCall],
    depths: dict[ir.NodeId, tuple[str, int]],
    table: dict[str, ir.Hyperparameter],
) -> list[str]:
    """build()'s lines for a chain: `model.add(...)`, a depth's passes under `if`."""
    (source,) = model.inputs
    lines = ["model = keras.Sequential()", f"model.add(keras.{input_expression(source)})"]
    open_pass: tuple[str, int] | None = None
    for node in model.nodes:
        add = f"model.add({expression(calls[node.id], 'layers.', _value)})"
        where = depths.get(node.id)
        if where is None:
            open_pass = None
            lines.append(add)
            continue
        if where != open_pass:
            name, number = where
            depth = table[name]
            values = [v for v in _depth_values(depth) if v >= number]
            lines.append(f"if {hp_call(depth)} >= {number}:")
            shown = "[" + ", ".join(literal(v) for v in values) + "]"
            lines.append(f"    with hp.conditional_scope({literal(name)}, {shown}):")
            open_pass = where
        lines.append(f"        {add}")
    return lines


def _depth_values(depth: ir.Hyperparameter) -> list[int]:
    if depth.kind == "choice":
        return sorted(int(v) for v in depth.values)
    assert depth.low is not None and depth.high is not None
    return list(range(int(depth.low), int(depth.high) + 1, int(depth.step or 1)))


def _functional(model: ir.Model, calls: dict[ir.NodeId, ir.KerasCall]) -> list[str]:
    """build()'s lines for a graph: the expanded graph in the functional style."""
    from kdsl.codegen import functional

    graph = replace(model, blocks=(), program=None, search=None).with_calls(calls)

    def layer_call(call: ir.KerasCall, value) -> str:
        return expression(call, "layers.", value)

    def keras_input(source: ir.Input) -> str:
        return f"keras.{input_expression(source)}"

    _, statements = functional.write_model(graph, layer_call, _value, keras_input)
    return ["    " * statement.depth + statement.code for statement in statements]
