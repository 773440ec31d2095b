"""Search spaces (issue 16): `choice(...)`, `int(lo, hi)`, `float(lo, hi)`, `boolean()`
written where a value or a repeat count goes, and the `tune` section.

The grammar reads a space as any other value's call (`l2(0.01)`); this module finds them,
checks each one's own form (bounds in order, steps that fit), names it after where it
stands (`dense_2/units`, `adam/learning_rate`), and checks the program by *instances*:
the program with every space replaced by one of its values, checked as any program is.
The smallest and the largest instance (every space at its lower, then upper end) check
shapes and parameter counts at the extremes; one instance per choice checks each value
as the argument's own checks would; errors point at the value that breaks. The tuner
script is written from one more instance, the deepest model, whose arguments that came
from a space are found by their spans (`ir.KerasCall.arg_spans`).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from kdsl import ir
from kdsl.errors import Diagnostic, Source, SourceError
from kdsl.language import nodes
from kdsl.semantics.catalog import Catalog

SPACE_CALLS = frozenset({"choice", "int", "float", "boolean"})
TUNE = "tune"
SAMPLINGS = ("linear", "log", "reverse_log")
TUNERS = ("random", "bayesian", "hyperband")
MAX_CHOICES = 100
# A quick look at the text before walking the tree: most programs have no space.
_MAYBE = re.compile(r"\b(?:choice|int|float|boolean)\(|\btune\b")
# Metrics better when higher; every other objective (a loss, an error) is minimised.
_HIGHER_IS_BETTER = re.compile(r"acc|auc|precision|recall|f1|iou|r2|score|true_")
_SPACE_HINT = (
    "search spaces are `choice(32, 64)`, `int(16, 128, step=16)`, "
    "`float(1e-4, 1e-2, sampling=log)` or `boolean()`"
)
_WHERE_HINT = (
    "a search space stands for a whole argument of a layer, a block, the optimizer or "
    "`fit` (batch_size, epochs), or for a repeat count (`* int(1, 3)`)"
)


@dataclass(frozen=True)
class Space:
    """One search space as written, checked, with the hyperparameter's name."""

    call: nodes.ValueCall
    kind: str  # "choice", "int", "float", "boolean"
    name: str
    items: tuple[nodes.Number | nodes.Name, ...] = ()  # a choice's
    low: nodes.Number | None = None
    high: nodes.Number | None = None
    step: int | float | None = None
    sampling: str | None = None
    named: bool = False  # `name=` given: shared by every space of that name
    repeat: nodes.Element | None = None  # the element whose count it is

    @property
    def span(self) -> nodes.Span:
        return self.call.span

    def hyperparameter(
        self, name: str | None = None, parent: str | None = None, parent_values=()
    ) -> ir.Hyperparameter:
        return ir.Hyperparameter(
            name=name or self.name,
            kind=self.kind,
            values=tuple(
                item.value if isinstance(item, nodes.Number) else item.name for item in self.items
            ),
            low=self.low.value if self.low else None,
            high=self.high.value if self.high else None,
            step=self.step,
            sampling=self.sampling,
            parent=parent,
            parent_values=tuple(parent_values),
        )

    def count(self) -> int | None:
        """How many values it takes; None for a continuous float range."""
        if self.kind == "choice":
            return len(self.items)
        if self.kind == "boolean":
            return 2
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return int((self.high.value - self.low.value) // (self.step or 1)) + 1
        if self.step:
            return int(round((self.high.value - self.low.value) / self.step)) + 1
        return None

    def depth_values(self) -> tuple[int, ...]:
        """A repeat count's values, in order."""
        if self.kind == "choice":
            return tuple(sorted(int(item.value) for item in self.items))  # type: ignore[union-attr]
        assert self.low is not None and self.high is not None
        return tuple(range(int(self.low.value), int(self.high.value) + 1, int(self.step or 1)))

    def lowest(self) -> nodes.Value:
        """The value at the lower end: a range's `lo`, a choice's smallest number (or its
        first name), `false`."""
        if self.kind == "choice":
            numbers = [i for i in self.items if isinstance(i, nodes.Number)]
            return min(numbers, key=lambda n: n.value) if numbers else self.items[0]
        if self.kind == "boolean":
            return nodes.Name("false", self.span)
        assert self.low is not None
        return _number(self.low.value, self.kind, self.low.span)

    def highest(self) -> nodes.Value:
        if self.kind == "choice":
            numbers = [i for i in self.items if isinstance(i, nodes.Number)]
            return max(numbers, key=lambda n: n.value) if numbers else self.items[-1]
        if self.kind == "boolean":
            return nodes.Name("true", self.span)
        assert self.high is not None
        return _number(self.high.value, self.kind, self.high.span)

    def default(self) -> nodes.Value:
        """KerasTuner's default (a choice's first, a range's lower end, false), written
        at the space's place, so that what it reaches is found by that span."""
        if self.repeat is not None:
            return dataclasses.replace(_as_number(self.highest()), span=self.span)
        if self.kind == "choice":
            return dataclasses.replace(self.items[0], span=self.span)
        lowest = self.lowest()
        assert isinstance(lowest, nodes.Number | nodes.Name)
        return dataclasses.replace(lowest, span=self.span)


@dataclass(frozen=True)
class Tune:
    """The `tune` section's settings."""

    tuner: str = "random"
    max_trials: int = 10
    objective: str | None = None
    direction: str | None = None
    executions_per_trial: int = 1
    seed: int | None = None
    span: nodes.Span | None = None
    objective_span: nodes.Span | None = None


@dataclass
class Found:
    """What `find` read: the spaces, in source order, and the `tune` section."""

    spaces: list[Space] = field(default_factory=list)
    tune: Tune | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    fit: dict[str, Space] = field(default_factory=dict)  # batch_size/epochs


def may_search(text: str) -> bool:
    """Whether the text may hold a search space or a `tune` section (cheap, for every
    program: the tree is walked only when it may)."""
    return _MAYBE.search(text) is not None


def has_search(program: nodes.Program) -> bool:
    return any(True for _ in _space_calls(program)) or any(
        s.calls[0].name == TUNE for s in program.sections
    )


# -- finding and checking each space ------------------------------------------------------


def find(program: nodes.Program, catalog: Catalog) -> Found:
    """Every search space with its name, and the `tune` section, checked in form."""
    found = Found()
    finder = _Finder(program, catalog, found)
    finder.run()
    _check_shared_names(found)
    return found


class _Finder:
    def __init__(self, program: nodes.Program, catalog: Catalog, found: Found):
        self.program = program
        self.catalog = catalog
        self.found = found
        self.blocks = {block.name: block for block in program.blocks}
        self.placed: set[int] = set()  # ids of the space calls found where they may stand

    def error(self, message: str, span: nodes.Span, hint: str) -> None:
        self.found.diagnostics.append(Diagnostic(message, span, hint))

    def run(self) -> None:
        for block in self.program.blocks:
            counts: dict[str, int] = {}
            for chain in block.body:
                self.chain(chain, f"{block.name}/", counts, in_block=True)
        counts = {}
        for chain in self.program.chains:
            self.chain(chain, "", counts, in_block=False)
        self.sections()
        for call in _space_calls(self.program):
            if id(call) not in self.placed:
                self.error(f"`{call.name}(...)` cannot stand here", call.span, _WHERE_HINT)

    def chain(self, chain: nodes.Chain, prefix: str, counts: dict[str, int], in_block: bool):
        for element in chain.elements:
            self.element(element, prefix, counts, in_block)

    def element(self, element: nodes.Element, prefix: str, counts: dict[str, int], in_block):
        atom = element.atom
        label = ""
        if isinstance(atom, nodes.Call):
            counts[atom.name] = counts.get(atom.name, 0) + 1
            label = f"{prefix}{atom.name}_{counts[atom.name]}"
            self.call_args(atom, label, self.param_names(atom))
        elif isinstance(atom, nodes.Group):
            counts["[group]"] = counts.get("[group]", 0) + 1
            label = f"{prefix}group_{counts['[group]']}"
            for branch in atom.branches:
                self.chain(branch, prefix, counts, in_block)
        repeat = element.repeat
        if isinstance(repeat, nodes.ValueCall):
            if repeat.name not in SPACE_CALLS:
                self.error(
                    "a repeat count must be a whole number",
                    repeat.span,
                    "e.g. `* 2`, or a searched depth: `* int(1, 4)`",
                )
                return
            self.placed.add(id(repeat))
            space = self.space(repeat, f"{label}/repeat", repeat=element)
            if space is None:
                return
            where = None
            if space.kind not in ("int", "choice") or any(
                not isinstance(i, nodes.Number) for i in space.items
            ):
                where = "a searched repeat count is `int(lo, hi)` or a `choice` of whole numbers"
            elif in_block:
                where = (
                    "a repeat count is searched in the model's chains, not in a block's body: "
                    "give the block a parameter for it (`def stack n { dense 8 * n }`) and "
                    "search that where the block is called (`stack int(1, 3)`)"
                )
            elif element.label is not None:
                where = "a labelled element's repeat count is not searched: remove the label"
            elif _nested_depth(atom):
                where = "a searched repeat holds another searched repeat: search one of them"
            if where:
                self.error("this repeat count cannot be searched", repeat.span, where)
                return
            self.found.spaces.append(space)

    def param_names(self, call: nodes.Call) -> list[str]:
        block = self.blocks.get(call.name)
        if block is not None:
            return [p.name for p in block.params if not p.tensor]
        entry = self.catalog.layer(call.name)
        return list(entry.positional) if entry else []

    def call_args(self, call: nodes.Call, label: str, positional: list[str]) -> None:
        index = 0
        for arg in call.args:
            if isinstance(arg, nodes.Positional):
                name = positional[index] if index < len(positional) else f"arg{index + 1}"
                index += 1
            elif isinstance(arg, nodes.Keyword):
                name = arg.name
            else:
                continue  # `in SHAPE`: a space there is said not to stand there
            value = arg.value
            if isinstance(value, nodes.ValueCall) and value.name in SPACE_CALLS:
                self.placed.add(id(value))
                space = self.space(value, f"{label}/{name}")
                if space is not None:
                    self.found.spaces.append(space)

    def sections(self) -> None:
        from kdsl.semantics.checker import section_kinds

        sections = [s for s in self.program.sections if s.calls[0].name != TUNE]
        for section in self.program.sections:
            if section.calls[0].name == TUNE:
                if self.found.tune is not None:
                    self.error(
                        "the tune section is given twice", section.span, "give one `tune` section"
                    )
                    continue
                self.found.tune = self.tune(section)
        kinds = section_kinds([s.calls[0].name for s in sections])
        for section, kind in zip(sections, kinds, strict=True):
            head = section.calls[0]
            if kind == "optimizer":
                call = head
                if head.name == "optimizer" and head.args:
                    first = head.args[0]
                    if isinstance(first, nodes.Positional) and isinstance(first.value, nodes.Name):
                        call = nodes.Call(first.value.name, head.args[1:], head.span, head.span)
                entry = self.catalog.optimizers.get(call.name.lower())
                self.call_args(call, call.name, list(entry.positional) if entry else [])
            elif kind == "fit":
                for arg in head.args:
                    value = arg.value if isinstance(arg, nodes.Keyword) else None
                    if not (isinstance(value, nodes.ValueCall) and value.name in SPACE_CALLS):
                        continue
                    assert isinstance(arg, nodes.Keyword)
                    self.placed.add(id(value))
                    if arg.name not in ("batch_size", "epochs"):
                        self.error(
                            f"`fit` searches batch_size and epochs, not `{arg.name}`",
                            value.span,
                            "write one value here, e.g. `fit batch_size=choice(32, 64)`",
                        )
                        continue
                    space = self.space(value, arg.name)
                    if space is None:
                        continue
                    if space.kind not in ("int", "choice") or any(
                        not isinstance(i, nodes.Number) or type(i.value) is not int
                        for i in space.items
                    ):
                        self.error(
                            f"`{arg.name}` is a whole number: search it with `int` or a "
                            "`choice` of whole numbers",
                            value.span,
                            f"e.g. `{arg.name}=choice(32, 64)`",
                        )
                        continue
                    self.found.spaces.append(space)
                    self.found.fit[arg.name] = space

    def tune(self, section: nodes.Section) -> Tune | None:
        head = section.calls[0]
        settings: dict[str, object] = {"span": section.span}
        ok = True
        if len(section.calls) > 1:
            self.error(
                "the tune section takes `name=value` settings, not a list",
                section.calls[1].span,
                "e.g. `tune tuner=bayesian max_trials=20 objective=val_accuracy`",
            )
            return None
        for arg in head.args:
            if not isinstance(arg, nodes.Keyword):
                self.error(
                    "the tune section takes `name=value` settings",
                    arg.span,
                    "tuner=, max_trials=, objective=, direction=, executions_per_trial=, seed=",
                )
                ok = False
                continue
            value = arg.value
            if arg.name == "tuner":
                if not (isinstance(value, nodes.Name) and value.name in TUNERS):
                    self.error(
                        "`tuner` is random, bayesian or hyperband",
                        value.span,
                        "e.g. `tune tuner=bayesian`",
                    )
                    ok = False
                    continue
                settings["tuner"] = value.name
            elif arg.name in ("max_trials", "executions_per_trial", "seed"):
                lowest = 0 if arg.name == "seed" else 1
                if not (
                    isinstance(value, nodes.Number)
                    and type(value.value) is int
                    and lowest <= value.value <= 10**9
                ):
                    self.error(
                        f"`{arg.name}` is a whole number from {lowest}",
                        value.span,
                        f"e.g. `{arg.name}=10`",
                    )
                    ok = False
                    continue
                settings[arg.name] = value.value
            elif arg.name == "objective":
                if not isinstance(value, nodes.Name | nodes.String):
                    self.error(
                        "`objective` names what `fit` logs",
                        value.span,
                        "e.g. `objective=val_accuracy` or `objective=val_loss`",
                    )
                    ok = False
                    continue
                settings["objective"] = value.name if isinstance(value, nodes.Name) else value.value
                settings["objective_span"] = value.span
            elif arg.name == "direction":
                if not (isinstance(value, nodes.Name) and value.name in ("min", "max")):
                    self.error("`direction` is min or max", value.span, "e.g. `direction=max`")
                    ok = False
                    continue
                settings["direction"] = value.name
            else:
                self.error(
                    f"the tune section has no setting `{arg.name}`",
                    arg.name_span,
                    "its settings are tuner, max_trials, objective, direction, "
                    "executions_per_trial and seed",
                )
                ok = False
        return Tune(**settings) if ok else None  # type: ignore[arg-type]

    def space(
        self, call: nodes.ValueCall, default_name: str, repeat: nodes.Element | None = None
    ) -> Space | None:
        """The space's own form checked: what it takes, bounds in order, steps that fit."""
        said = len(self.found.diagnostics)
        positional = [a.value for a in call.args if isinstance(a, nodes.Positional)]
        keywords = {a.name: a for a in call.args if isinstance(a, nodes.Keyword)}
        allowed = {"name"} | ({"step", "sampling"} if call.name in ("int", "float") else set())
        for name, keyword in keywords.items():
            if name not in allowed:
                self.error(
                    f"`{call.name}(...)` has no argument `{name}`",
                    keyword.name_span,
                    f"`{call.name}` takes "
                    + ", ".join(f"`{a}=`" for a in sorted(allowed))
                    + " after its values",
                )
        name = default_name
        named = "name" in keywords
        if named:
            value = keywords["name"].value
            if isinstance(value, nodes.Name | nodes.String) and (
                text := value.name if isinstance(value, nodes.Name) else value.value
            ):
                name = text
            else:
                self.error(
                    "a search space's `name=` is a name",
                    value.span,
                    "e.g. `int(32, 256, name=width)`: spaces of one name share one value",
                )
        if call.name == "boolean":
            if positional:
                self.error("`boolean()` takes no values", positional[0].span, "write `boolean()`")
            if len(self.found.diagnostics) > said:
                return None
            return Space(call, "boolean", name, named=named, repeat=repeat)
        if call.name == "choice":
            return self.choice(call, positional, name, named, repeat, said)
        return self.range(call, positional, keywords, name, named, repeat, said)

    def choice(self, call, positional, name, named, repeat, said) -> Space | None:
        if len(positional) < 2:
            self.error(
                "a choice needs at least two values",
                call.span,
                "e.g. `choice(32, 64, 128)` or `choice(relu, gelu)`; one value is written alone",
            )
            return None
        if len(positional) > MAX_CHOICES:
            self.error(
                f"a choice holds more than {MAX_CHOICES:,} values",
                call.span,
                "use `int` or `float`",
            )
            return None
        items: list[nodes.Number | nodes.Name] = []
        for item in positional:
            if (
                isinstance(item, nodes.Number)
                and math.isfinite(item.value)
                or isinstance(item, nodes.Name)
            ):
                items.append(item)
            else:
                self.error(
                    "a choice's values are numbers or names",
                    item.span,
                    "e.g. `choice(32, 64)` or `choice(relu, gelu)`",
                )
        if len(self.found.diagnostics) > said:
            return None
        if len({type(i) for i in items}) > 1:
            self.error(
                "a choice holds numbers or names, not both",
                call.span,
                "write one kind of value: `choice(32, 64)` or `choice(relu, gelu)`",
            )
            return None
        seen: set = set()
        for item in items:
            key = _python(item)
            if key in seen:
                self.error("this value is already a choice", item.span, "give each value once")
                return None
            seen.add(key)
        return Space(call, "choice", name, tuple(items), named=named, repeat=repeat)

    def range(self, call, positional, keywords, name, named, repeat, said) -> Space | None:
        kind = call.name
        example = "int(16, 128, step=16)" if kind == "int" else "float(1e-4, 1e-2, sampling=log)"
        if len(positional) != 2:
            self.error(
                f"`{kind}(...)` takes a lower and an upper end",
                call.span,
                f"e.g. `{example}`",
            )
            return None
        low, high = positional
        for end in (low, high):
            if not isinstance(end, nodes.Number) or not math.isfinite(end.value):
                self.error(f"the ends of `{kind}(...)` are numbers", end.span, f"e.g. `{example}`")
            elif kind == "int" and type(end.value) is not int:
                self.error(
                    "the ends of `int(...)` are whole numbers",
                    end.span,
                    "search fractions with `float(...)`",
                )
        if len(self.found.diagnostics) > said:
            return None
        assert isinstance(low, nodes.Number) and isinstance(high, nodes.Number)
        if not low.value < high.value:
            self.error(
                f"the lower end {low.text} is not below the upper end {high.text}",
                high.span,
                f"write the lower end first, e.g. `{example}`",
            )
            return None
        sampling = None
        if "sampling" in keywords:
            value = keywords["sampling"].value
            if not (isinstance(value, nodes.Name) and value.name in SAMPLINGS):
                self.error(
                    "`sampling` is linear, log or reverse_log",
                    value.span,
                    "e.g. `float(1e-4, 1e-2, sampling=log)`",
                )
                return None
            sampling = value.name
            if sampling != "linear" and low.value <= 0:
                self.error(
                    f"{sampling} sampling needs a lower end above 0, not {low.text}",
                    low.span,
                    "a logarithm is taken of both ends: start above 0, e.g. `1e-4`",
                )
                return None
        step: int | float | None = None
        if "step" in keywords:
            value = keywords["step"].value
            whole = kind == "int"
            if not (
                isinstance(value, nodes.Number)
                and math.isfinite(value.value)
                and value.value > 0
                and (type(value.value) is int or not whole)
            ):
                self.error(
                    f"`step` is a {'whole ' if whole else ''}number above 0",
                    value.span,
                    f"e.g. `{example if whole else 'float(0.1, 0.5, step=0.1)'}`",
                )
                return None
            step = value.value
            if sampling not in (None, "linear"):
                self.error(
                    "a step counts values in a linear range",
                    value.span,
                    "remove `step=`, or use `sampling=linear`",
                )
                return None
            span = high.value - low.value
            steps = span / step
            if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
                reachable = low.value + math.floor(steps) * step
                self.error(
                    f"steps of {value.text} from {low.text} do not reach {high.text}",
                    value.span,
                    f"the values would stop at {_show(reachable)}: make the range a whole "
                    "number of steps",
                )
                return None
        if kind == "float":
            low = _number(low.value, "float", low.span)
            high = _number(high.value, "float", high.span)
        return Space(call, kind, name, (), low, high, step, sampling, named, repeat)


def _check_shared_names(found: Found) -> None:
    """Spaces of one name are one value: they must be written alike."""
    first: dict[str, Space] = {}
    for space in found.spaces:
        other = first.setdefault(space.name, space)
        if other is space:
            continue
        if not (space.named and other.named):
            found.diagnostics.append(
                Diagnostic(
                    f"two search spaces are named `{space.name}`",
                    space.span,
                    "a `name=` names one value shared by the spaces that give it; "
                    "give this one another name",
                )
            )
        elif _shape_of(space) != _shape_of(other):
            found.diagnostics.append(
                Diagnostic(
                    f"the search space `{space.name}` is written differently at line "
                    f"{other.span.line}",
                    space.span,
                    "spaces of one name share one value: write them alike",
                )
            )


def _shape_of(space: Space) -> tuple:
    return (
        space.kind,
        tuple(_python(i) for i in space.items),
        space.low.value if space.low else None,
        space.high.value if space.high else None,
        space.step,
        space.sampling,
    )


# -- instances: the program with every space replaced by a value ---------------------------


def instance(
    program: nodes.Program, spaces: list[Space], choose: Callable[[Space], nodes.Value]
) -> nodes.Program:
    """The program with each space replaced by `choose(space)`, without its tune section."""
    table: dict[int, nodes.Value] = {id(space.call): choose(space) for space in spaces}
    built = _rebuild(program, table)
    return dataclasses.replace(
        built, sections=tuple(s for s in built.sections if s.calls[0].name != TUNE)
    )


def _rebuild(node, table: dict[int, nodes.Value]):
    if isinstance(node, nodes.ValueCall) and id(node) in table:
        return table[id(node)]
    if isinstance(node, tuple):
        items = tuple(_rebuild(item, table) for item in node)
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    if dataclasses.is_dataclass(node) and not isinstance(node, nodes.Span | type):
        changes = {}
        for item in dataclasses.fields(node):
            value = getattr(node, item.name)
            if isinstance(value, tuple) or (
                dataclasses.is_dataclass(value) and not isinstance(value, nodes.Span)
            ):
                rebuilt = _rebuild(value, table)
                if rebuilt is not value:
                    changes[item.name] = rebuilt
        return dataclasses.replace(node, **changes) if changes else node
    return node


def size(spaces: list[Space]) -> int | None:
    """How many models the space holds (one per value of each named value)."""
    total = 1
    seen: set[str] = set()
    for space in spaces:
        if space.name in seen:
            continue
        seen.add(space.name)
        count = space.count()
        if count is None:
            return None
        total *= count
    return total


def describe(spaces: list[Space], search_size: int | None) -> str:
    names = len({space.name for space in spaces})
    if search_size is None:
        continuous = sorted({s.name for s in spaces if s.count() is None})
        amount = f"continuous in {', '.join(continuous)}"
    else:
        amount = f"{search_size:,} combination{'s' if search_size != 1 else ''}"
    return f"search space: {names} hyperparameter{'s' if names != 1 else ''}, {amount}"


def objective_direction(objective: str, given: str | None) -> str:
    if given:
        return given
    metric = objective.removeprefix("val_")
    return "max" if _HIGHER_IS_BETTER.search(metric) and "loss" not in metric else "min"


def _space_calls(program: nodes.Program) -> Iterator[nodes.ValueCall]:
    """Every value's call named like a space, anywhere in the program."""
    pending: list = [program]
    while pending:
        node = pending.pop()
        if isinstance(node, nodes.ValueCall) and node.name in SPACE_CALLS:
            yield node
        if isinstance(node, tuple):
            pending.extend(node)
        elif dataclasses.is_dataclass(node) and not isinstance(node, nodes.Span):
            for item in dataclasses.fields(node):
                if item.name == "layers" and isinstance(node, nodes.Program):
                    continue  # the first chain's calls again
                value = getattr(node, item.name)
                if isinstance(value, tuple) or dataclasses.is_dataclass(value):
                    pending.append(value)


def _nested_depth(atom) -> bool:
    if not isinstance(atom, nodes.Group):
        return False
    return any(
        isinstance(element.repeat, nodes.ValueCall) or _nested_depth(element.atom)
        for branch in atom.branches
        for element in branch.elements
    )


def _number(value: int | float, kind: str, span: nodes.Span) -> nodes.Number:
    if kind == "float":
        return nodes.Number(float(value), repr(float(value)), span)
    return nodes.Number(value, str(value), span)


def _as_number(value: nodes.Value) -> nodes.Number:
    assert isinstance(value, nodes.Number)
    return value


def _python(item: nodes.Value) -> int | float | str | None:
    if isinstance(item, nodes.Number):
        return item.value
    if isinstance(item, nodes.Name):
        return item.name
    return None


def _show(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def in_span(inner: nodes.Span | None, outer: nodes.Span) -> bool:
    if inner is None:
        return False
    return (outer.line, outer.column) <= (inner.line, inner.column) and (
        inner.end_line,
        inner.end_column,
    ) <= (outer.end_line, outer.end_column)


# -- the whole check ------------------------------------------------------------------------

_SMALLEST = "in the smallest model: every search space at its lower end"
_LARGEST = "in the largest model: every search space at its upper end"
_DEEPEST = "in the model the tuner script builds: each space's first value, each depth its largest"


def analyze(program: nodes.Program, source: Source, catalog: Catalog, shape_errors: str):
    """`checker.analyze` for a program with search spaces: the instances checked, the
    tuner's model (the deepest instance, with `search` set) and the smallest's summary,
    whose notes give the size of the space and the extremes' parameter counts."""
    from kdsl.semantics import checker

    found = find(program, catalog)
    if not found.diagnostics and not found.spaces:
        assert found.tune is not None and found.tune.span is not None
        found.diagnostics.append(
            Diagnostic(
                "the tune section has nothing to search",
                found.tune.span,
                "write a search space where a value goes, e.g. `dense int(32, 256) relu`, "
                "or remove the tune section",
            )
        )
    if found.diagnostics:
        raise SourceError(source, found.diagnostics)
    spaces = found.spaces
    diagnostics: list[Diagnostic] = []
    seen: set[tuple] = set()

    def check(choose: Callable[[Space], nodes.Value], note: str):
        concrete = instance(program, spaces, choose)
        result = None
        try:
            result = checker.analyze(concrete, source, catalog, shape_errors="keep")
            said = result[1].diagnostics
        except SourceError as error:
            said = error.diagnostics
        for diagnostic in said:
            if diagnostic.message == "`* 1` repeats nothing":
                continue  # a depth's lower end, not a `* 1` the user wrote
            key = (diagnostic.message, diagnostic.span, diagnostic.severity)
            if key in seen:
                continue
            seen.add(key)
            if diagnostic.severity == "error":
                diagnostic = dataclasses.replace(diagnostic, notes=(*diagnostic.notes, note))
            diagnostics.append(diagnostic)
        return result

    smallest = check(Space.lowest, _SMALLEST)
    largest = check(Space.highest, _LARGEST)
    for space in spaces:
        lowest = space.lowest()
        for item in space.items:
            if item is not lowest:
                text = item.text if isinstance(item, nodes.Number) else item.name
                check(
                    _one_choice(space, item),
                    f"with `{space.name}` = {text}, every other space at its lower end",
                )
    # The tuner's own model, once the extremes pass (its errors would repeat theirs).
    broken = any(d.severity == "error" for d in diagnostics)
    deepest = None if broken else check(Space.default, _DEEPEST)
    errors = [d for d in diagnostics if d.severity == "error"]
    if not errors and deepest is not None:
        errors = _settings(found, deepest[0], diagnostics)
    if errors or smallest is None or largest is None or deepest is None:
        raise SourceError(source, diagnostics or errors)
    model, summary = smallest
    search = _search(found, deepest[0])
    if any(d.severity == "error" for d in diagnostics):
        raise SourceError(source, diagnostics)
    summary.diagnostics = [d for d in diagnostics if d.severity == "warning"]
    summary.notes[:0] = [
        describe(spaces, search.size),
        "the table is the smallest model (every search space at its lower end); the "
        f"largest has {_params(largest[1])} parameters",
    ]
    search = dataclasses.replace(search, deepest=deepest[0])
    return dataclasses.replace(model, search=search), summary


def _one_choice(chosen: Space, item: nodes.Value) -> Callable[[Space], nodes.Value]:
    """`item` for the space `chosen`, every other space at its lower end."""
    return lambda space: item if space is chosen else space.lowest()


def _params(summary) -> str:
    total = summary.total()
    return "?" if total is None else f"{total:,}"


def logged_names(model: ir.Model) -> set[str]:
    """The names Keras 3's `fit` logs for `model` (each also with `val_` on validation
    data): `loss` and the metrics; with several outputs also each output's `NAME_loss`,
    and each output's metrics under that output's name only (`department_accuracy`)."""
    from kdsl.semantics.checker import _metric_name

    shared = {_metric_name(m) for m in model.metrics}  # compile-level: every output's
    if len(model.output_names) <= 1:
        own = {_metric_name(m) for _, metrics in model.output_metrics for m in metrics}
        return {"loss"} | shared | own
    logged = {"loss"}
    for output in model.output_names:
        logged |= {f"{output}_loss"} | {f"{output}_{name}" for name in shared}
    for output, metrics in model.output_metrics:
        logged |= {f"{output}_{_metric_name(m)}" for m in metrics}
    return logged


def _settings(found: Found, model: ir.Model, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The objective checked against what `fit` logs; hyperband's epochs not searched."""
    tune = found.tune or Tune()
    objective = tune.objective or "val_loss"
    logged = logged_names(model)
    errors = []
    wanted = objective.removeprefix("val_")
    if wanted not in logged:
        shown = ", ".join(f"`{name}`" for name in sorted(logged))
        where = "to the metrics section"
        for output in model.output_names if len(model.output_names) > 1 else ():
            if wanted.startswith(f"{output}_"):  # one output's metric: name it there
                metric = wanted.removeprefix(f"{output}_")
                where = f"to that output's metrics (`metrics @{output} {metric}`)"
        errors.append(
            Diagnostic(
                f"`fit` does not log `{objective}`",
                tune.objective_span or tune.span,
                f"it logs {shown}, and each with `val_` on validation data; add the metric "
                + where,
            )
        )
    if tune.tuner == "hyperband" and "epochs" in found.fit:
        errors.append(
            Diagnostic(
                "hyperband chooses each trial's epochs itself",
                found.fit["epochs"].span,
                "give `fit epochs=` the most epochs a trial may take, as one number",
            )
        )
    diagnostics.extend(errors)
    return errors


def _search(found: Found, model: ir.Model) -> ir.Search:
    """Where each space reaches the deepest model's written form (the program and its
    blocks, as the script writes them), by the spans of its calls' arguments; a depth
    by the span of the element it repeats."""
    by_span = {space.span: space for space in found.spaces if space.repeat is None}
    hyperparameters: dict[str, ir.Hyperparameter] = {}
    for space in found.spaces:
        if space.repeat is not None or space.name in found.fit:
            hyperparameters.setdefault(space.name, space.hyperparameter())
    _, program_nodes, _ = model.program or (model.inputs, model.nodes, model.outputs)
    written = [*program_nodes, *(node for block in model.blocks for node in block.nodes)]
    assert len({node.id for node in written}) == len(written), "a written form's ids repeat"
    repeated = {node.call.span: node for node in program_nodes if node.repeat is not None}
    depths: list[tuple[ir.NodeId, str]] = []
    per_pass: dict[str, str] = {}
    # The spaces of each depth's element found by bisection in the spaces in text order
    # (depths never nest): linear in the program, however many depths it searches.
    in_order = sorted(
        (s for s in found.spaces if s.repeat is None and not s.named),
        key=lambda s: (s.span.line, s.span.column),
    )
    starts = [(s.span.line, s.span.column) for s in in_order]
    for depth in found.spaces:
        if depth.repeat is None:
            continue
        node = repeated.get(depth.repeat.atom.span)
        # `find` lets a depth stand only on an element of the model's chains: the
        # program's own repeated node, made from that element.
        assert node is not None, f"the searched depth {depth.name!r} repeats no node"
        depths.append((node.id, depth.name))
        values = depth.depth_values()
        atom = depth.repeat.atom.span
        index = bisect.bisect_left(starts, (atom.line, atom.column))
        while index < len(in_order) and in_span(in_order[index].span, atom):
            space = in_order[index]
            index += 1
            per_pass[space.name] = depth.name
            for number in range(1, values[-1] + 1):
                conditional = number > values[0]
                name = f"{space.name}/pass_{number}"
                built = values[bisect.bisect_left(values, number) :] if conditional else ()
                hyperparameters.setdefault(
                    name, space.hyperparameter(name, depth.name if conditional else None, built)
                )
    reached: set[str] = set()

    def value_of(space: Space) -> str:
        reached.add(space.name)
        if space.name not in per_pass:
            hyperparameters.setdefault(space.name, space.hyperparameter())
        return space.name

    node_values = []
    for node in written:
        searched = tuple(
            (param, value_of(by_span[span]))
            for param, span in node.call.arg_spans
            if span in by_span
        )
        if searched:
            node_values.append((node.id, searched))
    optimizer = model.optimizer.call
    optimizer_values = tuple(
        (param, value_of(by_span[span]))
        for param, span in (optimizer.arg_spans if optimizer else ())
        if span in by_span
    )
    # Each space stands for a whole argument of a layer, a block call or the optimizer
    # (`find` refuses any other place), and each such argument keeps its span.
    missed = [s.name for s in found.spaces if s.repeat is None and s.name not in found.fit]
    assert reached >= set(missed), f"search spaces that reach no argument: {missed}"
    tune = found.tune or Tune()
    objective = tune.objective or "val_loss"
    return ir.Search(
        hyperparameters=tuple(hyperparameters.values()),
        node_values=tuple(node_values),
        optimizer_values=optimizer_values,
        fit_values=tuple((name, space.name) for name, space in found.fit.items()),
        depths=tuple(depths),
        per_pass=tuple(per_pass.items()),
        tuner=tune.tuner,
        max_trials=tune.max_trials,
        objective=objective,
        direction=objective_direction(objective, tune.direction),
        executions_per_trial=tune.executions_per_trial,
        seed=tune.seed,
        size=size(found.spaces),
    )


# -- the best program: every space replaced by the value a search chose ---------------------


def best_text(
    text: str, program: nodes.Program, catalog: Catalog, values: Mapping[str, object]
) -> str:
    """`text` with each space written as its value in `values` (by hyperparameter name),
    a searched depth unrolled where its passes took values of their own, and the tune
    section removed; not yet formatted. A space without a value keeps its default."""
    found = find(program, catalog)
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)

    def offsets(span: nodes.Span) -> tuple[int, int]:
        return starts[span.line - 1] + span.column - 1, starts[
            span.end_line - 1
        ] + span.end_column - 1

    def written(space: Space, name: str) -> str:
        value = values.get(name, values.get(space.name))
        if value is None:
            value = _python(space.default()) if space.kind != "boolean" else False
        return _literal(value, space.kind)

    edits: list[tuple[int, int, str]] = []
    depths = [space for space in found.spaces if space.repeat is not None]
    inside: set[int] = set()
    for depth in depths:
        element = depth.repeat
        assert element is not None
        count = int(values.get(depth.name, depth.depth_values()[-1]))  # type: ignore[call-overload]
        contained = [
            s for s in found.spaces if s.repeat is None and in_span(s.span, element.atom.span)
        ]
        per_pass = any(not s.named for s in contained)
        inside |= {id(s) for s in contained}
        start, end = offsets(element.span)
        atom = element.atom
        # A pass written out: a group of one branch is its branch, without brackets.
        body = (
            atom.branches[0] if isinstance(atom, nodes.Group) and len(atom.branches) == 1 else atom
        )
        atom_start, atom_end = offsets(body.span)
        passes = []
        for number in range(1, count + 1 if per_pass else 2):
            piece = text[atom_start:atom_end]
            for s in sorted(contained, key=lambda s: offsets(s.span), reverse=True):
                a, b = offsets(s.span)
                name = s.name if s.named else f"{s.name}/pass_{number}"
                piece = piece[: a - atom_start] + written(s, name) + piece[b - atom_start :]
            passes.append(piece)
        if per_pass or count == 1:
            edits.append((start, end, " -> ".join(passes)))
        else:
            edits.append(
                (start, end, f"{text[offsets(atom.span)[0] : offsets(atom.span)[1]]} * {count}")
            )
    for space in found.spaces:
        if space.repeat is None and id(space) not in inside:
            edits.append((*offsets(space.span), written(space, space.name)))
    tune = next((s for s in program.sections if s.calls[0].name == TUNE), None)
    if tune is not None:
        spans = [chain.span for chain in program.chains] + [s.span for s in program.sections]
        before = [offsets(span)[1] for span in spans if offsets(span)[1] <= offsets(tune.span)[0]]
        edits.append((max(before), offsets(tune.span)[1], ""))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _literal(value: object, kind: str) -> str:
    """A chosen value as kdsl writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "float" or isinstance(value, float):
        shown = f"{float(value):.6g}"  # type: ignore[arg-type]
        return shown if any(c in shown for c in ".en") else shown + ".0"
    return str(value)


# -- the editor: a space's extremes ---------------------------------------------------------


def space_at(program: nodes.Program, catalog: Catalog, line: int, column: int) -> Space | None:
    """The search space written at a 1-based position (None if its program's spaces are
    not all well formed)."""
    found = find(program, catalog)
    if found.diagnostics:
        return None
    position = nodes.Span(line, column, line, column)
    return next((s for s in found.spaces if in_span(position, s.span)), None)


def extremes(program: nodes.Program, source: Source, catalog: Catalog):
    """The smallest and the largest model with their summaries (None where one fails)."""
    from kdsl.semantics import checker

    spaces = find(program, catalog).spaces
    models: list = []
    for choose in (Space.lowest, Space.highest):
        try:
            models.append(
                checker.analyze(instance(program, spaces, choose), source, catalog, "keep")
            )
        except SourceError:
            models.append(None)
    return models[0], models[1]


def written_text(space: Space) -> str:
    """The space as kdsl writes it, for a hover."""
    if space.kind == "boolean":
        return "boolean()"
    if space.kind == "choice":
        items = [i.text if isinstance(i, nodes.Number) else i.name for i in space.items]
        return f"choice({', '.join(items)})"
    assert space.low is not None and space.high is not None
    extra = f", step={_show(space.step)}" if space.step else ""
    extra += f", sampling={space.sampling}" if space.sampling else ""
    return f"{space.kind}({_show(space.low.value)}, {_show(space.high.value)}{extra})"
