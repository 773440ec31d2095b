"""The syntax tree of a .k file: frozen dataclasses that remember where they came from.

The parser only builds these; meaning (which name is a layer, which argument is the
learning rate) is decided later by `kdsl.semantics.checker`, so that every problem can be reported
at once with its exact position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kdsl.source import Span


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A bare word: `relu`, `same`, `true`, `none`."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Tuple:
    items: tuple[Value, ...]
    span: Span
    shorthand: bool = False  # written as `3x3` rather than `(3, 3)`
    # Written `(3)`: v1's one-item tuple, but the number itself inside arithmetic (`-(3)`).
    grouping: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Ref:
    """`@name`: the tensor a label named (v2), as an argument or where a chain starts."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """`1/255`, `4*8`, `2**10`: arithmetic, folded by the checker (`fold`) into a number.
    A node of its own, so a name in it (a block parameter) can be substituted first."""

    op: str  # Python's spelling: + - * / // % **
    left: Value
    right: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Neg:
    """`-(1/255)`, `-x`: unary minus on what is not a number literal (`-1` is a Number)."""

    operand: Value
    span: Span


@dataclass(frozen=True, slots=True)
class ValueCall:
    """`l2(0.01)`, `random_normal(stddev=0.05)`: a Keras object (an initializer, a
    regularizer, a constraint, a learning-rate schedule) built with arguments."""

    name: str
    args: tuple[Positional | Keyword, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Dict:
    """`{0: 1, 1: 5}`: where Keras takes a dict (`class_weight`)."""

    items: tuple[tuple[Value, Value], ...]
    span: Span


Value = Number | Name | String | Tuple | Ref | BinOp | Neg | ValueCall | Dict
VALUE_TYPES = (Number, Name, String, Tuple, Ref, BinOp, Neg, ValueCall, Dict)


@dataclass(frozen=True, slots=True)
class Positional:
    value: Value
    span: Span


class _NamedAtStart:
    """A node whose name starts its span (a call, a keyword): its name span is worked
    out from there, and kept (`given_name_span`) only where it is elsewhere, e.g. a
    wrapped layer's name inside its wrapper's span. A tree of 100,000 layers then
    holds no span per name: 6 MB for short layers, 38 MB with five keywords each."""

    __slots__ = ()
    name: str
    span: Span
    given_name_span: Span | None

    def __post_init__(self) -> None:
        given, span = self.given_name_span, self.span
        if (
            isinstance(given, Span)
            and isinstance(span, Span)
            and given == _name_at(span, self.name)
        ):
            object.__setattr__(self, "given_name_span", None)  # the same node as parsed

    @property
    def name_span(self) -> Span:
        return self.given_name_span or _name_at(self.span, self.name)


def _name_at(span: Span, name: str) -> Span:
    """Where `name` is written when it starts `span`: on its first line, as long as it."""
    return span.first(len(name))


@dataclass(frozen=True, slots=True)
class Keyword(_NamedAtStart):
    """`name=value`."""

    name: str
    value: Value
    span: Span
    given_name_span: Span | None = None


@dataclass(frozen=True, slots=True)
class InputShape:
    """`in SHAPE` on a layer."""

    value: Value
    span: Span


Arg = Positional | Keyword | InputShape


@dataclass(frozen=True, slots=True)
class Call(_NamedAtStart):
    """A name with arguments: a layer, an optimizer, a loss, a metric or a section head."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    given_name_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """One `;`-separated part after the layer chain; `,` separates its calls."""

    calls: tuple[Call, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    """`[a | b | c]`: branches that each start from the tensor flowing in (v2); one
    branch only groups (`[conv2d 8 3 -> relu] * 2`)."""

    branches: tuple[Chain, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Label:
    """`name:` before an element: names its output tensor."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Element:
    """One step of a chain: a layer or block call, a reference or a group, perhaps
    labelled (`s1: ...`) and repeated (`... * 3`, a count or a block parameter)."""

    atom: Call | Ref | Group
    span: Span
    label: Label | None = None
    # A search space's call (`* int(1, 4)`) where a program searches the depth.
    repeat: Number | Name | ValueCall | None = None

    @property
    def is_plain(self) -> bool:
        """A v1 step: a call, neither labelled nor repeated."""
        return isinstance(self.atom, Call) and self.label is None and self.repeat is None


@dataclass(frozen=True, slots=True)
class Chain:
    """`a -> b -> c`."""

    elements: tuple[Element, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    """A block's parameter: a value (`f`, `s=1`) or a tensor (`@memory`)."""

    name: str
    span: Span
    default: Value | None = None
    tensor: bool = False


@dataclass(frozen=True, slots=True)
class BlockDef:
    """`def name params { chains }`, or `shared name { chains }` (one set of weights)."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Chain, ...]
    span: Span
    name_span: Span
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Program:
    """A v1 program is one chain of calls and its sections: `layers` holds the chain's
    calls, `chains` the same chain as elements. A v2 program may also have blocks and
    later chains; then `layers` holds the first chain's calls only if it is plain, and
    tools read `chains`."""

    layers: tuple[Call, ...]
    sections: tuple[Section, ...]
    chains: tuple[Chain, ...] = ()
    blocks: tuple[BlockDef, ...] = ()

    @property
    def is_v1(self) -> bool:
        """Whether the program is written in v1's language: no block, one chain of plain
        calls (then `layers` is the whole model)."""
        return (
            not self.blocks
            and len(self.chains) <= 1
            and all(element.is_plain for chain in self.chains for element in chain.elements)
        )
