"""Static shape inference and parameter counts, without TensorFlow.

Each supported layer class has a rule that maps its input shape (batch dimension
included, as Keras reports it) to its output shape and parameter counts, and reports
problems in the user's terms. A layer without a rule makes every later shape unknown:
kdsl says so and which checks it skipped, and never guesses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kdsl import ir
from kdsl.errors import Diagnostic, line_safe
from kdsl.ir import Shape, show_shape
from kdsl.semantics.catalog import (
    INITIALIZER_RANKS,
    NOT_LAST_LAYERS,
    WRAPPER_CLASSES,
    Catalog,
    keras_snake_case,
    load,
)

# What a layer outputs, e.g. (None, 28, 28, 1): batch first, None for any size.


class ShapeProblem(Exception):
    """A layer cannot take the shape it gets; `arg` names the argument to point at."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.hint = hint
        self.arg = arg


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary: a layer (the node `node_id`), its output shape and its
    parameters. Slotted: a 100,000-layer summary holds as many."""

    name: str
    class_name: str
    output_shape: Shape | None  # None: unknown from here on
    trainable: int | None
    non_trainable: int | None
    node_id: ir.NodeId

    @property
    def params(self) -> int | None:
        if self.trainable is None or self.non_trainable is None:
            return None
        return self.trainable + self.non_trainable


@dataclass
class Summary:
    """A row per node, in the graph's order; look one up by its node's id with `row`."""

    rows: list[Row] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not checked, and why
    outputs: tuple[ir.NodeId, ...] = ()  # the model's outputs

    def total(self, kind: str = "params") -> int | None:
        values = [getattr(row, kind) for row in self.rows]
        return None if any(v is None for v in values) else sum(values)

    def add(self, row: Row) -> None:
        """Append `row` (found by its node's id with `row()`)."""
        self.rows.append(row)

    def row(self, node_id: ir.NodeId) -> Row | None:
        """The row of the node `node_id`; None for an input (it has no row). The index by
        id is made at the first look-up, not as rows are added: a compile of 100,000
        layers never looks one up, and the index would be megabytes."""
        rows = self.rows
        if self._indexed > len(rows):  # rows taken away: index them anew
            self._by_id, self._indexed = {}, 0
        for index in range(self._indexed, len(rows)):  # only those added since: linear
            self._by_id[rows[index].node_id] = rows[index]
        self._indexed = len(rows)
        return self._by_id.get(node_id)

    @property
    def output_shape(self) -> Shape | None:
        """The shape of the model's only output (None when unknown)."""
        if len(self.outputs) != 1:
            raise ValueError(f"the model has {len(self.outputs)} outputs: look up a row")
        row = self.row(self.outputs[0])
        return row.output_shape if row else None

    _by_id: dict[ir.NodeId, Row] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=0, repr=False, compare=False)  # rows in `_by_id`


@dataclass(frozen=True)
class Out:
    shape: Shape
    trainable: int = 0
    non_trainable: int = 0
    dtype: str | None = None  # set when the layer changes the values' type


def arguments(call: ir.KerasCall, catalog: Catalog) -> dict[str, object]:
    """A layer call's arguments by name, with Keras's defaults for the ones not given.
    Positional values are the required parameters, in order, as the checker binds them."""
    entry = catalog.layers.get(call.class_name.lower())
    if entry is None:  # a layer the language cannot write yet (merges): keywords only
        return dict(call.kwargs)
    required, defaults, any_case = _argument_plan(entry)
    values = dict(defaults)
    values.update(zip(required, call.args, strict=False))
    values.update(call.kwargs)
    for name in any_case:  # `padding=SAME` is `same` to Keras, which lowercases it
        if isinstance(value := values.get(name), str):
            values[name] = value.lower()
    return values


_ARGUMENT_PLANS: dict[int, tuple[Any, tuple[str, ...], dict[str, object], tuple[str, ...]]] = {}


def _argument_plan(entry: Any) -> tuple[tuple[str, ...], dict[str, object], tuple[str, ...]]:
    """An entry's required names, defaults and lowercased enums, worked out once per
    entry rather than once per layer (a 100,000-layer chain asks 100,000 times)."""
    plan = _ARGUMENT_PLANS.get(id(entry))
    if plan is None or plan[0] is not entry:  # the entry is kept: its id is not reused
        plan = _ARGUMENT_PLANS[id(entry)] = (
            entry,
            tuple(p.name for p in entry.params if p.required),
            {p.name: _tuples(p.default) for p in entry.params if p.has_default},
            tuple(p.name for p in entry.params if p.enum_any_case),
        )
    return plan[1], plan[2], plan[3]


@dataclass(frozen=True)
class _Path:
    """What came before a layer, for hints: the input's dimensions per sample, and the
    last layer that changed the number of dimensions (`flatten`, `lstm`, `reshape`...)."""

    input_dims: tuple
    reshaped_by: ir.KerasCall | None = None
    fewer: bool = False  # whether that layer took dimensions away


class _Layer:
    """A call's arguments by name (`arguments`), checked as the shape rules read them."""

    def __init__(self, call: ir.KerasCall, catalog: Catalog, path: _Path | None = None):
        self.call = call
        self.values = arguments(call, catalog)
        self.name = call.written_name
        self.path = path

    def __getitem__(self, name: str) -> Any:
        """An argument's value: any `ir.PyValue`, which each rule checks as it reads it."""
        return self.values.get(name)

    def ints(self, name: str, rank: int) -> tuple[int, ...]:
        """`3` → (3, 3) for a 2-D layer; tuples are kept; anything else is a problem."""
        value = self[name]
        items = (value,) * rank if isinstance(value, int) else value
        if (
            not isinstance(items, tuple)
            or len(items) != rank
            or not all(type(v) is int and v >= 1 for v in items)
        ):
            raise ShapeProblem(
                f"`{name}` of `{self.name}` must be a whole number ≥ 1 or {rank} of them, "
                f"not `{show_value(value)}`",
                f"e.g. `{name}={'x'.join(['3'] * rank)}`" if rank > 1 else f"e.g. `{name}=3`",
                arg=name,
            )
        return items

    def count(self, name: str) -> int:
        """A whole number ≥ 1 (`groups`, `height`, ...), or a problem pointing at it."""
        value = self[name]
        if type(value) is not int or value < 1:
            raise ShapeProblem(
                f"`{name}` of `{self.name}` must be a whole number ≥ 1, not `{show_value(value)}`",
                f"e.g. `{name}=2`",
                arg=name,
            )
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self[name]
        if value not in allowed:
            raise ShapeProblem(
                f"`{name}` of `{self.name}` must be {' or '.join(allowed)}, "
                f"not `{show_value(value)}`",
                f"e.g. `{name}={allowed[0]}`",
                arg=name,
            )
        return value


def wrapped(call: ir.KerasCall) -> ir.KerasCall:
    """The layer a wrapper (`Bidirectional(LSTM(4))`) wraps: its first argument."""
    inner = call.args[0]
    assert isinstance(inner, ir.KerasCall), f"{call.class_name} wraps no layer"
    return inner


def _tuples(value: object) -> object:
    """JSON lists (how the catalog stores tuple defaults) back to tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def show_value(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return line_safe(str(value))  # user text: a line break must not split the message


def _prod(dims: Sequence[int | None]) -> int | None:
    known = [d for d in dims if d is not None]
    return math.prod(known) if len(known) == len(dims) else None


def _need_rank(layer: _Layer, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        got = len(shape) - 1
        raise ShapeProblem(
            f"`{layer.name}` needs {what}, but gets shape {show_shape(shape)} "
            f"({got} dimension{'s' if got != 1 else ''} per sample)",
            _rank_hint(layer, shape, ranks),
        )


_RECURRENT = frozenset({"SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
# An input of this many dimensions per sample, for a hint: steps x features, an image...
_EXAMPLE_INPUTS = {2: "100x8", 3: "28x28x1", 4: "16x16x16x1"}


def _rank_hint(layer: _Layer, shape: Shape, ranks: tuple[int, ...]) -> str:
    """Where the missing (or extra) dimensions went: the layer that took them away, or
    the input itself."""
    if len(shape) > max(ranks):
        return "add `flatten` (or global pooling) before it"
    path = layer.path
    if path is None:
        return "check the input shape and the layers before it"
    before = path.reshaped_by
    if before is not None:
        where = f"the `{before.written_name}`"
        if before.span is not None:
            where += f" at {before.span.line}:{before.span.column}"
    if before is not None and path.fewer:
        wrapped = before.args[0] if before.class_name in WRAPPER_CLASSES else before
        if isinstance(wrapped, ir.KerasCall) and wrapped.class_name in _RECURRENT:
            return f"{where} passes on its last step only: give it `return_sequences=true`"
        return f"{where} takes those dimensions away: remove it, or move it after `{layer.name}`"
    if before is not None:
        return f"check {where} and the input"
    need = min(ranks) - 1
    dims = path.input_dims
    if len(dims) == need - 1 and all(type(d) is int for d in dims):
        example = "x".join(map(str, (*dims, 1)))
    else:
        example = _EXAMPLE_INPUTS.get(need, "x".join(["8"] * need))
    return f"give the input {need} dimensions per sample, e.g. `input {example}`"


def _channels(layer: _Layer, shape: Shape) -> tuple[int, ...]:
    """Indices of the spatial dimensions, honouring `data_format`."""
    first = layer["data_format"] == "channels_first"
    return tuple(range(2, len(shape))) if first else tuple(range(1, len(shape) - 1))


def _channel_axis(layer: _Layer, shape: Shape) -> int:
    return 1 if layer["data_format"] == "channels_first" else len(shape) - 1


def _window(
    layer: _Layer, size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    if size is None:
        return None
    if padding == "valid":
        out = (size - dilation * (kernel - 1) - 1) // stride + 1
        if out < 1:
            raise ShapeProblem(
                f"`{layer.name}` shrinks a dimension of size {size} below 1 "
                f"(window {kernel}, stride {stride}, padding valid)",
                "use `padding=same`, a smaller window, or a larger input",
            )
        return out
    return (size - 1) // stride + 1


# -- rules ------------------------------------------------------------------------------

# A rule takes the shapes of a node's inputs, in order: one for every layer so far; a
# layer that merges several (`add`, `concatenate`) is a rule over them all.
Rule = Callable[[_Layer, Sequence[Shape]], Out | None]
RULES: dict[str, Rule] = {}
# Layers whose rule checks the input and the arguments but does not work out the output
# (it returns None): for the docs' table, they have no shape rule yet.
CHECKS_ONLY = frozenset(
    {"EinsumDense", "CategoryEncoding", "MelSpectrogram", "STFTSpectrogram", "TextVectorization"}
)
OneInputRule = Callable[[_Layer, Shape], Out | None]


def _one_input(layer: _Layer, shapes: Sequence[Shape]) -> Shape:
    """The shape a layer of one input reads; a merge layer's rule takes them all."""
    if len(shapes) != 1:
        raise ShapeProblem(
            f"`{layer.name}` takes one input, but gets {len(shapes)}",
            "give it the output of one layer",
        )
    return shapes[0]


def rule(*class_names: str) -> Callable[[OneInputRule], OneInputRule]:
    """Registers a rule for layers of one input (most of Keras's)."""

    def register(function: OneInputRule) -> OneInputRule:
        def on_inputs(layer: _Layer, shapes: Sequence[Shape]) -> Out | None:
            return function(layer, _one_input(layer, shapes))

        for name in class_names:
            RULES[name] = on_inputs
        return function

    return register


@rule("Dense")
def _dense(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, tuple(range(2, 9)), "at least one dimension per sample")
    units, features = layer["units"], shape[-1]
    if features is None:
        raise ShapeProblem(
            f"`{layer.name}` needs a known last dimension", "give the input's last size"
        )
    bias = units if layer["use_bias"] else 0
    return _lora(layer, (*shape[:-1], units), features, units, bias)


def _lora(layer: _Layer, shape: Shape, rows: int, columns: int, extra: int) -> Out:
    """A (rows × columns) weight matrix, frozen under LoRA, which then trains two thin
    matrices of rank `lora_rank` instead; `extra` (a bias) trains either way."""
    rank = layer["lora_rank"]
    if rank is None:
        return Out(shape, rows * columns + extra)
    rank = layer.count("lora_rank")
    return Out(shape, rank * (rows + columns) + extra, rows * columns)


_SAME_SHAPE = (
    "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Identity", "Masking", "Rescaling",
)  # fmt: skip
# Layers whose output has their input's shape whatever their arguments: a tensor after
# them is shaped as the one before (the tuner builds a shared block there from either).
KEEPS_SHAPE = frozenset({*_SAME_SHAPE, "BatchNormalization", "LayerNormalization"})
# Keras's image layers that take a batch of images or, unbatched, one image (a model's
# input of height x width: Keras reads it as one image of that many rows).
_IMAGES_OR_ONE = (
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
    "RandomBrightness",
)  # fmt: skip
# Colour layers that take RGB (or grey) images only: the numbers of channels they take.
_CHANNELS = {
    **dict.fromkeys(
        ("RandomColorDegeneration", "RandomHue", "RandomSaturation", "RandomColorJitter"), (3,)
    ),
    **dict.fromkeys(("RandomGrayscale", "AugMix", "RandAugment"), (1, 3)),
}
# Image augmentation and colour layers: the image keeps its shape.
_SAME_IMAGE = (
    "AugMix", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix",
    "Equalization", "MixUp", "RandAugment", "RandomColorDegeneration", "RandomColorJitter",
    "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur", "RandomGrayscale",
    "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization",
    "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization",
)  # fmt: skip


@rule(*_SAME_SHAPE)
def _same_shape(layer: _Layer, shape: Shape) -> Out:
    if layer.call.class_name == "Softmax":
        axes = layer["axis"] if isinstance(layer["axis"], tuple) else (layer["axis"],)
        if not all(type(a) is int and -len(shape) <= a < len(shape) for a in axes):
            raise ShapeProblem(
                f"`axis` of `{layer.name}` must be an axis of {show_shape(shape)}, "
                f"not `{show_value(layer['axis'])}`",
                f"e.g. `axis=-1` (the last), or an axis from {-len(shape)} to {len(shape) - 1}",
                arg="axis",
            )
    noise = layer["noise_shape"]
    if noise is not None and not (
        isinstance(noise, tuple)
        and len(noise) == len(shape)
        and all(n is None or n == 1 or n == size for n, size in zip(noise, shape, strict=True))
    ):
        raise ShapeProblem(
            f"`noise_shape` of `{layer.name}` must have a size for each dimension of "
            f"{show_shape(shape)} (the batch too), each 1, that size or none, "
            f"not `{show_value(noise)}`",
            f"e.g. `noise_shape=({', '.join(['none'] + ['1'] * (len(shape) - 1))})`",
            arg="noise_shape",
        )
    return Out(shape)


@rule("Normalization")
def _normalization(layer: _Layer, shape: Shape) -> Out:
    """Given mean and variance are constants; otherwise Keras keeps mean, variance and a
    count as non-trainable weights, to be filled by `adapt()`."""
    if layer["mean"] is not None or layer["variance"] is not None:
        return Out(shape)
    if layer["axis"] is None:
        return Out(shape, 0, 3)
    return Out(shape, 0, 2 * _norm_axis(layer, shape) + 1)


@rule(*_SAME_IMAGE)
def _same_image(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, (4,), "images (height, width, channels)")
    channels = shape[_channel_axis(layer, shape)]
    if layer.call.class_name == "RandomGaussianBlur":
        sizes = layer.ints("kernel_size", 2)
        if any(size % 2 == 0 for size in sizes):
            raise ShapeProblem(
                f"`kernel_size` of `{layer.name}` must be odd, "
                f"not `{show_value(layer['kernel_size'])}`",
                "e.g. `kernel_size=3`",
                arg="kernel_size",
            )
    if layer.call.class_name == "ContrastLimitedAdaptiveHistogramEqualization":
        _clahe_tiles(layer, shape)
    fill = layer["fill_value"] if layer.call.class_name == "RandomErasing" else None
    if isinstance(fill, tuple) and (len(fill) != 3 or channels != 3):
        # Keras takes a number, or three (one per channel of an RGB image), as it runs.
        raise ShapeProblem(
            f"`fill_value` of `{layer.name}` is a number, or 3 numbers for RGB images, "
            f"not `{show_value(fill)}` for {channels} channels",
            "e.g. `fill_value=0.0`",
            arg="fill_value",
        )
    sides = [shape[axis] for axis in _channels(layer, shape)]
    if layer.call.class_name == "RandomPerspective" and 1 in sides:
        # Keras solves for the transform from the image's corners, which coincide on a
        # side of 1: TensorFlow refuses the matrix as not invertible when it runs.
        raise ShapeProblem(
            f"`{layer.name}` needs images at least 2 pixels high and wide, but gets "
            f"{show_shape(shape)}",
            "give it larger images (a perspective of a one-pixel side has no corners to move)",
        )
    allowed = _CHANNELS.get(layer.call.class_name)
    if allowed and channels is not None and channels not in allowed:
        what = "RGB images (3 channels)" if allowed == (3,) else "RGB or grey images (3 or 1)"
        raise ShapeProblem(
            f"`{layer.name}` needs {what}, but gets {channels} channels",
            f"give it images of {' or '.join(map(str, allowed))} channels (height x width x 3)",
        )
    return Out(shape)


def _clahe_tiles(layer: _Layer, shape: Shape) -> None:
    """Keras pads each image by reflection up to a whole number of tiles, which needs the
    padding smaller than the image."""
    tiles = layer.ints("tile_grid_size", 2)
    for axis, tile in zip(_channels(layer, shape), tiles, strict=True):
        size = shape[axis]
        if size is not None and (-size) % tile >= size:
            raise ShapeProblem(
                f"`{layer.name}` cannot split a side of {size} into tiles of `tile_grid_size` "
                f"{show_value(tiles)}: Keras pads by reflection, by less than the side only",
                f"give it larger images, or a smaller `tile_grid_size`, e.g. "
                f"`tile_grid_size=({size}, {size})`",
                arg="tile_grid_size" if layer.call.kwarg("tile_grid_size") is not None else None,
            )


@rule(*_IMAGES_OR_ONE)
def _images_or_one(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, (3, 4), "images (height, width, channels)")
    return Out(shape)


# Keras's three forms of an EinsumDense equation (`...` written as `0`, as Keras does).
_EINSUM_FORMS = (
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False),
)


@rule("EinsumDense")
def _einsum_dense(layer: _Layer, shape: Shape) -> Out | None:
    """What Keras's `EinsumDense` checks as it builds: an equation of its three forms,
    an `output_shape` of whole numbers (or none) with a size for each output axis past the
    batch, input axes that match the input, and weight axes of known size. What it
    outputs: no rule yet."""
    equation, output_shape = layer["equation"], layer["output_shape"]
    hint = "e.g. `einsumdense ab,bc->ac 8` (input axes, weight axes -> output axes)"
    found = None
    if isinstance(equation, str):
        for pattern, left in _EINSUM_FORMS:
            if match := pattern.match(equation.replace("...", "0")):
                found = match.groups(), left
                break
    if found is None:
        raise ShapeProblem(
            f"`{show_value(equation)}` is no equation `{layer.name}` takes: Keras takes "
            "`X,Y->Z`, `...X,Y->...Z` or `X...,Y->Z...`",
            hint,
            arg="equation",
        )
    (inputs, weights, outputs), left = found
    sizes = (output_shape,) if type(output_shape) is int else output_shape
    if not isinstance(sizes, tuple) or not all(
        size is None or (type(size) is int and size >= 1) for size in sizes
    ):
        raise ShapeProblem(
            f"`output_shape` of `{layer.name}` must be a whole number ≥ 1 or a tuple of "
            f"them (none for any size), not `{show_value(output_shape)}`",
            hint,
            arg="output_shape",
        )
    elided = len(shape) - len(inputs)
    explicit = "..." not in equation
    if elided < 0 or (explicit and (elided != 0 or len(sizes) + 1 != len(outputs))):
        raise ShapeProblem(
            f"the equation `{equation}` of `{layer.name}` names {len(inputs)} input "
            f"axes and {len(outputs)} output axes, but it gets {show_shape(shape)} "
            f"and `output_shape` gives {len(sizes)} sizes past the batch",
            "name one input axis per input dimension (the batch too), and give "
            "`output_shape` a size for each output axis but the batch",
        )
    if explicit:
        input_size = dict(zip(inputs, shape, strict=True))
        output_size = dict(zip(outputs, (None, *sizes), strict=True))
        for axis in weights:
            size = output_size.get(axis, input_size.get(axis))
            if axis not in output_size and axis not in input_size:
                raise ShapeProblem(
                    f"the weight axis `{axis}` of `{layer.name}`'s equation `{equation}` "
                    "is neither an input nor an output axis",
                    hint,
                    arg="equation",
                )
            if size is None:
                raise ShapeProblem(
                    f"the weight axis `{axis}` of `{layer.name}` has no known size: Keras "
                    "cannot make a weight of any size",
                    "give the input that size, or the axis a size in `output_shape`",
                )
    return None


@rule("TextVectorization")
def _text_vectorization(layer: _Layer, shape: Shape) -> Out | None:
    """Keras splits one string per sample: the input's last size must be 1. What it
    outputs: no rule yet."""
    if len(shape) > 2 or shape[-1] not in (1, None):
        raise ShapeProblem(
            f"`{layer.name}` splits one string per sample, but gets shape {show_shape(shape)}",
            "give it one text per sample: `input 1 dtype=string`",
        )
    return None


@rule("CategoryEncoding")
def _category_encoding(layer: _Layer, shape: Shape) -> Out | None:
    """Keras encodes one id or one list of ids per sample. What it outputs: no rule yet."""
    _need_rank(layer, shape, (1, 2), "one id or one list of ids per sample")
    return None


@rule("STFTSpectrogram")
def _stft_spectrogram(layer: _Layer, shape: Shape) -> Out | None:
    """Keras's STFT takes signals of (steps, channels); what it outputs: no rule yet."""
    _need_rank(layer, shape, (3,), "signals (steps, channels)")
    frame = layer.count("frame_length")
    for name in ("frame_step", "fft_length"):
        if layer[name] is not None:
            layer.count(name)
    if layer["padding"] == "valid" and shape[1] is not None and shape[1] < frame:
        raise ShapeProblem(
            f"`{layer.name}` needs signals of at least `frame_length` ({frame}) steps with "
            f"`padding=valid`, but gets {shape[1]}",
            f"give it longer signals, a smaller `frame_length` (e.g. `frame_length={shape[1]}`)"
            ", or `padding=same`",
            arg="frame_length" if layer.call.kwarg("frame_length") is not None else None,
        )
    return None


@rule("MelSpectrogram")
def _mel_spectrogram(layer: _Layer, shape: Shape) -> Out | None:
    """Keras's mel spectrogram takes one signal per sample, longer than half its FFT
    window (it pads the signal by reflection); what it outputs: no rule yet."""
    _need_rank(layer, shape, (2,), "one signal per sample (its samples)")
    fft = layer.count("fft_length")
    for name in ("sequence_stride", "num_mel_bins", "sampling_rate"):
        layer.count(name)
    if layer["sequence_length"] is not None:
        layer.count("sequence_length")
    if shape[1] is not None and shape[1] <= fft // 2:
        raise ShapeProblem(
            f"`{layer.name}` needs signals longer than half its `fft_length` ({fft}), "
            f"but gets {shape[1]} samples",
            f"give it longer signals, or a smaller `fft_length`, e.g. `fft_length={shape[1]}`",
            arg="fft_length" if layer.call.kwarg("fft_length") is not None else None,
        )
    return None


@rule("Hashing", "Discretization", "IntegerLookup", "StringLookup")
def _to_ids(layer: _Layer, shape: Shape) -> Out | None:
    """Values become integer ids, same shape (other output modes: no rule yet)."""
    if layer["output_mode"] != "int":
        return None
    return Out(shape, dtype="int64")


@rule("RMSNormalization")
def _rms_norm(layer: _Layer, shape: Shape) -> Out:
    size = _norm_axis(layer, shape)
    if size != shape[-1]:  # Keras 3.15 multiplies the last axis by the scale
        raise ShapeProblem(
            f"`{layer.name}` over axis {layer['axis']} of {show_shape(shape)}: Keras scales "
            "the last axis with it, and their sizes differ",
            "normalise over the last axis: `axis=-1`",
            arg="axis",
        )
    return Out(shape, size)


@rule(
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
)
def _adaptive_pool(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    _, channels = _conv_like(layer, shape, rank)
    sizes = layer.ints("output_size", rank)
    spatial = [shape[axis] for axis in _channels(layer, shape)]
    # TensorFlow's adaptive max pooling pools its last spatial axis (the width) last, with
    # a window one wider than the side over the output size: a side of 1 in or out makes
    # that window wider than the side, and Keras 3.15's process dies (a floating point
    # exception). The other axes survive it (found by tests/test_oracle.py).
    if layer.call.class_name.startswith("AdaptiveMax") and 1 in (spatial[-1], sizes[-1]):
        what = "its input's" if spatial[-1] == 1 else "its output's"
        raise ShapeProblem(
            f"Keras 3.15's `{layer.call.class_name}` kills its process (a floating point "
            f"exception) when {what} last side is 1",
            f"use global max pooling instead: `globalmaxpooling{rank}d keepdims=true`, "
            "or a last side of 2 or more",
            arg="output_size" if sizes[-1] == 1 else None,
        )
    return Out(_assemble(layer, shape, list(sizes), channels))


@rule("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
def _conv_lstm(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    _need_rank(
        layer, shape, (rank + 3,), f"{rank + 2} dimensions per sample (steps, {_AXES[rank]})"
    )
    frames = (shape[0], *shape[2:])
    spatial, channels = _conv_like(layer, frames, rank)
    kernel, strides, dilation, padding = _kernel(layer, rank)
    out = _windows(layer, spatial, kernel, strides, dilation, padding)
    filters = layer["filters"]
    window = math.prod(kernel)
    bias = 4 * filters if layer["use_bias"] else 0
    params = window * channels * 4 * filters + window * filters * 4 * filters + bias
    step = _assemble(layer, frames, out, filters)
    if layer["return_sequences"]:
        return Out((shape[0], shape[1], *step[1:]), params)
    return Out(step, params)


@rule("ReversibleEmbedding")
def _reversible_embedding(layer: _Layer, shape: Shape) -> Out:
    weights = layer["input_dim"] * layer["output_dim"]
    weights *= 1 if layer["tie_weights"] else 2
    return Out((*shape, layer["output_dim"]), weights, dtype="float32")


@rule("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def _spatial_dropout(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    _need_rank(layer, shape, (rank + 2,), f"{rank + 1} dimensions per sample")
    return Out(shape)


@rule("PReLU")
def _prelu(layer: _Layer, shape: Shape) -> Out:
    dims = list(shape[1:])
    shared = layer["shared_axes"]
    for axis in (shared,) if isinstance(shared, int) else shared or ():
        dims[axis - 1] = 1
    count = _prod(dims)
    if count is None:
        raise ShapeProblem(
            f"`{layer.name}` needs known sizes", "use `shared_axes` for the None axes"
        )
    return Out(shape, count)


@rule("Flatten")
def _flatten(layer: _Layer, shape: Shape) -> Out:
    return Out((shape[0], _prod(shape[1:])))


@rule("Reshape")
def _reshape(layer: _Layer, shape: Shape) -> Out:
    target = layer["target_shape"]
    if type(target) is int:  # Keras iterates over it
        raise ShapeProblem(
            f"`{layer.name}` needs a shape, a tuple: `({target},)`, not `{target}`",
            f"e.g. `{layer.name} ({target},)`",
            arg="target_shape",
        )
    if not isinstance(target, tuple) or not all(type(d) is int for d in target):
        raise ShapeProblem(
            f"`{layer.name}` needs a shape of whole numbers",
            f"e.g. `{layer.name} 7x7x1`",
            arg="target_shape",
        )
    count = _prod(shape[1:])
    if target.count(-1) == 1 and count is not None:
        known = math.prod(d for d in target if d != -1)
        if known < 1 or count % known:
            raise ShapeProblem(
                f"`{layer.name}` cannot fit {count} values into {show_shape(target)}",
                "the known sizes must divide the input's size",
                arg="target_shape",
            )
        target = tuple(count // known if d == -1 else d for d in target)
    elif count is not None and math.prod(target) != count:
        raise ShapeProblem(
            f"`{layer.name}` to {show_shape(target)} needs {math.prod(target)} values per sample, "
            f"but its input {show_shape(shape)} has {count}",
            "make the sizes multiply to the same number, or use -1 for one of them",
            arg="target_shape",
        )
    return Out((shape[0], *[None if d == -1 else d for d in target]))


@rule("Permute")
def _permute(layer: _Layer, shape: Shape) -> Out:
    dims = layer["dims"]
    if not isinstance(dims, tuple) or sorted(map(str, dims)) != sorted(
        map(str, range(1, len(shape)))
    ):
        raise ShapeProblem(
            f"`{layer.name}` needs a reordering of 1..{len(shape) - 1}, not "
            f"{show_shape(dims) if isinstance(dims, tuple) else show_value(dims)}",
            f"e.g. `{layer.name} {show_shape(tuple(range(len(shape) - 1, 0, -1)))}`",
            arg="dims",
        )
    return Out((shape[0], *[shape[d] for d in dims]))


@rule("RepeatVector")
def _repeat(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, (2,), "a vector per sample")
    return Out((shape[0], layer["n"], shape[1]))


def _conv_like(layer: _Layer, shape: Shape, rank: int) -> tuple[list, int]:
    _need_rank(
        layer,
        shape,
        (rank + 2,),
        f"{rank + 1} dimensions per sample ({_AXES[rank]})",
    )
    channels = shape[_channel_axis(layer, shape)]
    if channels is None:
        raise ShapeProblem(
            f"`{layer.name}` needs a known number of channels",
            "give the input's channel axis a fixed size",
        )
    return [shape[i] for i in _channels(layer, shape)], channels


_AXES = {1: "steps, channels", 2: "height, width, channels", 3: "depth, height, width, channels"}


def _assemble(
    layer: _Layer, shape: Shape, spatial: Sequence[int | None], channels: int | None
) -> Shape:
    if layer["data_format"] == "channels_first":
        return (shape[0], channels, *spatial)
    return (shape[0], *spatial, channels)


def _kernel(
    layer: _Layer, rank: int, paddings: tuple[str, ...] = ("valid", "same")
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    """A convolution's kernel size, strides, dilation rate (each `rank` numbers), padding."""
    return (
        layer.ints("kernel_size", rank),
        layer.ints("strides", rank),
        layer.ints("dilation_rate", rank),
        layer.choice("padding", paddings),
    )


def _strides_or_dilation(
    layer: _Layer, strides: tuple[int, ...], dilation: tuple[int, ...]
) -> None:
    if max(strides) > 1 and max(dilation) > 1:
        raise ShapeProblem(
            f"`{layer.name}` cannot use strides > 1 and dilation_rate > 1 together",
            "Keras refuses the combination: keep one of them at 1",
            arg="dilation_rate",
        )


def _windows(
    layer: _Layer,
    spatial: Sequence[int | None],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
) -> list[int | None]:
    """Output sizes of a sliding window over each spatial dimension (`causal` is `same`)."""
    mode = "valid" if padding == "valid" else "same"
    return [
        _window(layer, s, k, st, mode, d)
        for s, k, st, d in zip(spatial, kernel, strides, dilation, strict=True)
    ]


def _conv_rank(class_name: str) -> int:
    """1, 2 or 3: the number in `Conv2D`, `MaxPooling3D`... (every class given a rank has one)."""
    found = re.search(r"(\d)D", class_name)
    assert found is not None, f"{class_name} has no rank"
    return int(found.group(1))


@rule(
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
)
def _conv(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    kind = layer.call.class_name
    paddings = ("valid", "same", "causal") if kind == "Conv1D" else ("valid", "same")
    kernel, strides, dilation, padding = _kernel(layer, rank, paddings)
    if kind.startswith("Conv"):
        _strides_or_dilation(layer, strides, dilation)
    out = _windows(layer, spatial, kernel, strides, dilation, padding)
    window = math.prod(kernel)
    if kind.startswith("Depthwise"):
        multiplier = layer["depth_multiplier"]
        filters = channels * multiplier
        weights = window * channels * multiplier
    elif kind.startswith("Separable"):
        multiplier, filters = layer["depth_multiplier"], layer["filters"]
        weights = window * channels * multiplier + channels * multiplier * filters
    else:
        filters, groups = layer["filters"], layer.count("groups")
        if channels % groups or filters % groups:
            raise ShapeProblem(
                f"`{layer.name}` with groups={groups} needs its {channels} input channels "
                f"and {filters} filters divisible by {groups}",
                _groups_hint(channels, filters, groups),
                arg="groups",
            )
        weights = window * (channels // groups) * filters
    bias = filters if layer["use_bias"] else 0
    return Out(_assemble(layer, shape, out, filters), weights + bias)


def _groups_hint(channels: int, filters: int, groups: int) -> str:
    common = math.gcd(channels, filters)
    if channels % groups == 0:
        filters_up = -(-filters // groups) * groups
        return f"use {filters_up} filters (a multiple of {groups}), or `groups={common}`"
    return (
        f"the input has {channels} channels: use a `groups` that divides {channels} and "
        f"{filters}, e.g. `groups={common}`"
    )


@rule("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    kernel, strides, dilation, padding = _kernel(layer, rank)
    _strides_or_dilation(layer, strides, dilation)
    extra = layer["output_padding"]
    extras = (extra,) * rank if isinstance(extra, int) or extra is None else extra
    if (
        not isinstance(extras, tuple)
        or len(extras) != rank
        or not all(type(e) is int and e >= 0 for e in extras if e is not None or extra is not None)
    ):
        raise ShapeProblem(
            f"`output_padding` of `{layer.name}` must be none, a whole number ≥ 0 or {rank} "
            f"of them, not `{show_value(extra)}`",
            "e.g. `output_padding=1`, or leave it out",
            arg="output_padding",
        )
    if extra is not None and any(e >= s for e, s in zip(extras, strides, strict=True)):
        raise ShapeProblem(
            f"`output_padding` of `{layer.name}` must be smaller than strides = "
            f"{show_value(strides if rank > 1 else strides[0])}",
            "lower output_padding or raise strides",
            arg="output_padding",
        )
    out: list[int | None] = []
    for size, k, st, d, pad in zip(spatial, kernel, strides, dilation, extras, strict=True):
        if size is None:
            out.append(None)
            continue
        k = (k - 1) * d + 1
        if padding == "valid":
            out.append((size - 1) * st + k + (max(k, st) - k if pad is None else pad))
        else:
            side = size * st if pad is None else (size - 1) * st + k % 2 + pad
            out.append(side)
            if pad is not None and math.ceil(side / st) != size:
                # TensorFlow computes the transpose as the gradient of the convolution
                # of its output, which must give back the input's size: it aborts if not.
                raise ShapeProblem(
                    f"`{layer.name}` with padding=same and output_padding={pad} makes a "
                    f"side of {side} from {size}, which the convolution it inverts "
                    "cannot map back: Keras fails when it runs",
                    "leave out output_padding, use an odd kernel size, or padding=valid",
                    arg="output_padding",
                )
    filters = layer["filters"]
    bias = filters if layer["use_bias"] else 0
    return Out(_assemble(layer, shape, out, filters), math.prod(kernel) * channels * filters + bias)


@rule(
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
)
def _pool(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    pool = layer.ints("pool_size", rank)
    strides = pool if layer["strides"] is None else layer.ints("strides", rank)
    padding = layer.choice("padding", ("valid", "same"))
    out = _windows(layer, spatial, pool, strides, (1,) * rank, padding)
    return Out(_assemble(layer, shape, out, channels))


@rule(
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
)
def _global_pool(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    if layer["keepdims"]:
        return Out(_assemble(layer, shape, [1] * rank, channels))
    return Out((shape[0], channels))


@rule("UpSampling1D", "UpSampling2D", "UpSampling3D")
def _upsample(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    size = layer.ints("size", rank)
    out = [None if s is None else s * f for s, f in zip(spatial, size, strict=True)]
    return Out(_assemble(layer, shape, out, channels))


def _amounts(value: object) -> list[int]:
    """The whole numbers in a padding or cropping (`((1, 1), (2, 2))`), flattened."""
    if type(value) is int:
        return [value]
    if isinstance(value, tuple):
        return [amount for item in value for amount in _amounts(item)]
    return []


def _pairs(layer: _Layer, name: str, rank: int) -> list[tuple[int, int]]:
    """Padding/cropping: `1`, `(1, 2)` (symmetric per axis) or `((1, 1), (2, 2))`, none
    of it negative (Keras refuses that)."""
    value = layer[name]
    example = "(1, 2)" if rank == 1 else f"({', '.join(['1'] * rank)})"
    if any(amount < 0 for amount in _amounts(value)):
        raise ShapeProblem(
            f"`{name}` of `{layer.name}` cannot be negative: `{show_value(value)}`",
            f"e.g. `{name}=1` or `{name}={example}`",
            arg=name,
        )
    if isinstance(value, int):
        return [(value, value)] * rank
    if (
        rank == 1
        and isinstance(value, tuple)
        and len(value) == 2
        and all(type(v) is int for v in value)
    ):
        return [value]
    if isinstance(value, tuple) and len(value) == rank:
        pairs = [(v, v) if isinstance(v, int) else v for v in value]
        if all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            return pairs
    raise ShapeProblem(
        f"`{name}` of `{layer.name}` must be a number, {rank} numbers or "
        f"{rank} pairs, not `{show_value(value)}`",
        f"e.g. `{name}=1` or `{name}={example}`",
        arg=name,
    )


@rule("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def _zero_padding(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    pairs = _pairs(layer, "padding", rank)
    out = [None if s is None else s + a + b for s, (a, b) in zip(spatial, pairs, strict=True)]
    return Out(_assemble(layer, shape, out, channels))


@rule("Cropping1D", "Cropping2D", "Cropping3D")
def _cropping(layer: _Layer, shape: Shape) -> Out:
    rank = _conv_rank(layer.call.class_name)
    spatial, channels = _conv_like(layer, shape, rank)
    out = []
    for size, (a, b) in zip(spatial, _pairs(layer, "cropping", rank), strict=True):
        if size is not None and size - a - b < 1:
            raise ShapeProblem(
                f"`{layer.name}` crops a dimension of size {size} below 1",
                "crop less",
                arg="cropping",
            )
        out.append(None if size is None else size - a - b)
    return Out(_assemble(layer, shape, out, channels))


@rule("Resizing", "CenterCrop", "RandomCrop")
def _resize(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, (4,), "images (height, width, channels)")
    spatial, channels = _conv_like(layer, shape, 2)
    size = [layer.count("height"), layer.count("width")]
    return Out(_assemble(layer, shape, size, channels))


def _norm_axis(layer: _Layer, shape: Shape) -> int:
    axis = layer["axis"]
    axis = axis[0] if isinstance(axis, tuple) and len(axis) == 1 else axis
    if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
        raise ShapeProblem(
            f"`axis` of `{layer.name}` must be one axis of {show_shape(shape)}",
            f"e.g. `axis=-1` (the last), or an axis from {-len(shape)} to {len(shape) - 1}",
            arg="axis",
        )
    size = shape[axis]
    if size is None:
        raise ShapeProblem(
            f"`{layer.name}` needs a known size on axis {axis}",
            "give that axis a fixed size in the input, or choose another `axis`",
            arg="axis" if "axis" in dict(layer.call.kwargs) else None,
        )
    return size


@rule("UnitNormalization")
def _unit_norm(layer: _Layer, shape: Shape) -> Out:
    """Keras normalises over `axis` (one axis or a tuple), each an axis of the input."""
    axes = layer["axis"] if isinstance(layer["axis"], tuple) else (layer["axis"],)
    if not axes or not all(type(a) is int and -len(shape) <= a < len(shape) for a in axes):
        raise ShapeProblem(
            f"`axis` of `{layer.name}` must be axes of {show_shape(shape)}, "
            f"not `{show_value(layer['axis'])}`",
            f"e.g. `axis=-1` (the last), or axes from {-len(shape)} to {len(shape) - 1}",
            arg="axis",
        )
    return Out(shape)


@rule("BatchNormalization")
def _batch_norm(layer: _Layer, shape: Shape) -> Out:
    size = _norm_axis(layer, shape)
    trainable = size * (bool(layer["center"]) + bool(layer["scale"]))
    renorm = 3 * size if layer["renorm"] is True else 0  # moving stddev, renorm mean/stddev
    return Out(shape, trainable, 2 * size + renorm)


@rule("LayerNormalization")
def _layer_norm(layer: _Layer, shape: Shape) -> Out:
    size = _norm_axis(layer, shape)
    if layer["rms_scaling"]:
        return Out(shape, size)
    return Out(shape, size * (bool(layer["center"]) + bool(layer["scale"])))


@rule("GroupNormalization")
def _group_norm(layer: _Layer, shape: Shape) -> Out:
    size = _norm_axis(layer, shape)
    groups = size if layer["groups"] == -1 else layer.count("groups")  # -1: one per channel
    if size % groups:
        fits = max(d for d in range(1, groups + 1) if size % d == 0)
        raise ShapeProblem(
            f"`{layer.name}` needs its {size} channels divisible by groups={groups}",
            f"use a `groups` that divides {size}, e.g. `groups={fits}`",
            arg="groups",
        )
    return Out(shape, size * (bool(layer["center"]) + bool(layer["scale"])))


@rule("Embedding")
def _embedding(layer: _Layer, shape: Shape) -> Out:
    out = _lora(layer, (*shape, layer["output_dim"]), layer["input_dim"], layer["output_dim"], 0)
    return replace(out, dtype="float32")  # token ids in, float vectors out


@rule("SimpleRNN", "LSTM", "GRU")
def _rnn(layer: _Layer, shape: Shape) -> Out:
    _need_rank(layer, shape, (3,), "sequences: (steps, features) per sample")
    units, features = layer["units"], shape[-1]
    if features is None:
        raise ShapeProblem(
            f"`{layer.name}` needs a known number of features per step",
            "give the input's last size a fixed number",
        )
    kind = layer.call.class_name
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    bias = gates * units if layer["use_bias"] else 0
    if kind == "GRU" and layer["use_bias"] and layer["reset_after"]:
        bias *= 2
    params = gates * units * (features + units) + bias
    if layer["return_sequences"]:
        return Out((shape[0], shape[1], units), params)
    return Out((shape[0], units), params)


def _known(size: int | None) -> int:
    """A size the wrapped layer's rule has already required known (its units, its input
    channels); a TypeError otherwise, which `_apply_checked` words for the user."""
    if size is None:
        raise TypeError("a size needed to count the weights is unknown")
    return size


class _Wrapped(Exception):
    """The wrapped layer has no rule: the wrapper's shape is unknown too."""


def _inner(layer: _Layer, catalog: Catalog, shape: Shape) -> tuple[Out, _Layer]:
    """The wrapped layer's output on `shape`, its own arguments checked as a layer's."""
    call = wrapped(layer.call)
    inner = _Layer(call, catalog, layer.path)
    function = RULES.get(call.class_name)
    out = _frozen(call, function(inner, [shape])) if function else None
    if out is None:
        raise _Wrapped(inner.name)
    _check_initializer_ranks(inner, [shape])
    return out, inner


def _wrapper(layer: _Layer, shape: Shape, catalog: Catalog) -> Out:
    if layer.call.class_name == "SpectralNormalization":
        out, inner = _inner(layer, catalog, shape)
        # Keras keeps a power-iteration vector `u` as long as the kernel's last axis: the
        # units or filters, but the input channels for a transposed convolution.
        if inner.call.class_name.endswith("Transpose"):
            size = shape[_channel_axis(inner, shape)]
        else:
            size = out.shape[-1]
        return Out(out.shape, out.trainable, out.non_trainable + _known(size))
    if layer.call.class_name == "TimeDistributed":
        _need_rank(layer, shape, tuple(range(3, 9)), "sequences: (steps, ...) per sample")
        out, inner = _inner(layer, catalog, (shape[0], *shape[2:]))
        # Keras runs the wrapped layer on every step at once: its activity regularizer
        # sees the steps too.
        steps = (shape[0], shape[1], *out.shape[1:])
        _check_orthogonal(inner, steps)
        return Out(steps, out.trainable, out.non_trainable)
    out, inner = _inner(layer, catalog, shape)
    _check_orthogonal(inner, out.shape)
    mode = layer.choice("merge_mode", ("concat", "sum", "mul", "ave"))
    last = _known(out.shape[-1]) * 2 if mode == "concat" else out.shape[-1]
    return Out((*out.shape[:-1], last), 2 * out.trainable, 2 * out.non_trainable)


# -- merges: rules over several inputs --------------------------------------------------


def _shapes_list(shapes: Sequence[Shape]) -> str:
    return ", ".join(map(show_shape, shapes))


def _two_inputs(layer: _Layer, shapes: Sequence[Shape]) -> None:
    """`Subtract` and `Dot` take exactly two inputs (the other merges, any number)."""
    if len(shapes) != 2:
        raise ShapeProblem(
            f"`{layer.name}` takes exactly 2 inputs, but gets {len(shapes)}",
            "give it two tensors: the first and the second operand",
        )


def _same_rank(layer: _Layer, shapes: Sequence[Shape], hint: str) -> None:
    if len({len(shape) for shape in shapes}) != 1:
        raise ShapeProblem(
            f"`{layer.name}` needs inputs with the same number of dimensions, "
            f"but gets {_shapes_list(shapes)}",
            hint,
        )


_PROJECTION_HINT = (
    "make the shapes agree: add a projection on the shortcut, e.g. `conv2d N 1` "
    "(or `dense N`) with the other branch's size N"
)


def _elementwise(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """`Add`, `Multiply`, ...: one output of the inputs' common shape. Keras broadcasts a
    dimension of size 1 against any other (base_merge's elementwise output shape); an
    unknown size (None) makes that dimension unknown."""
    if layer.call.class_name == "Subtract":
        _two_inputs(layer, shapes)
    rank = max(len(shape) for shape in shapes) - 1
    # Keras gives an input of fewer dimensions more, of size 1, right after the batch.
    padded = [(1,) * (rank + 1 - len(shape)) + tuple(shape[1:]) for shape in shapes]
    dims: list[int | None] = list(padded[0])
    for shape in padded[1:]:
        for axis, (size, other) in enumerate(zip(dims, shape, strict=True)):
            if size is None or other is None:
                dims[axis] = None
            elif size == 1:
                dims[axis] = other
            elif other != 1 and other != size:
                raise ShapeProblem(
                    f"`{layer.name}` needs inputs of the same shape (or of size 1 where they "
                    f"differ), but gets {_shapes_list(shapes)}",
                    _PROJECTION_HINT,
                )
    return Out((shapes[0][0], *dims))


for _name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    RULES[_name] = _elementwise


def _axis(layer: _Layer, name: str, value: object, rank: int) -> int:
    """An axis of a tensor of `rank` dimensions (batch included), negative from the end;
    the batch axis (0) is not one a merge can work along."""
    if type(value) is not int or not -rank < value < rank or value % rank == 0:
        raise ShapeProblem(
            f"`{name}` of `{layer.name}` must be an axis between 1 and {rank - 1} "
            f"(or -1 to {1 - rank}) for inputs of {rank - 1} dimensions per sample, "
            f"not `{show_value(value)}`",
            f"e.g. `{name}=-1`, the last axis",
            arg=name,
        )
    return value % rank


def _concatenate(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """Equal sizes except along `axis`, where they add up (None if any is unknown)."""
    hint = "concatenate along an axis where the other sizes agree, or reshape an input first"
    _same_rank(layer, shapes, hint)
    given = layer["axis"]
    axis = _axis(layer, "axis", -1 if given is None else given, len(shapes[0]))
    dims: list[int | None] = list(shapes[0])
    for shape in shapes[1:]:
        for index, other in enumerate(shape):
            size = dims[index]
            if index == axis:
                dims[index] = None if size is None or other is None else size + other
            elif index > 0 and size is not None and other is not None and size != other:
                raise ShapeProblem(
                    f"`{layer.name}` along axis {axis} needs the other sizes equal, "
                    f"but gets {_shapes_list(shapes)}",
                    hint,
                )
    return Out(tuple(dims))  # elsewhere the first input's sizes, as Keras reports them


RULES["Concatenate"] = _concatenate


def _dot(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """Keras's `Dot`: sums the products along `axes` (one per input); the output keeps the
    other dimensions of the first input, then the second's (batch once)."""
    _two_inputs(layer, shapes)
    first, second = shapes
    given = layer["axes"]  # required, as in Keras
    pair = given if isinstance(given, tuple) else (given, given)
    if given is None or len(pair) != 2:
        raise ShapeProblem(
            f"`axes` of `{layer.name}` must be one axis or two (one per input), "
            f"not `{show_value(given)}`",
            "e.g. `axes=-1`, or `axes=(1, 2)`",
            arg="axes",
        )
    axes = [_axis(layer, "axes", a, len(s)) for a, s in zip(pair, shapes, strict=True)]
    size, other = first[axes[0]], second[axes[1]]
    if size is not None and other is not None and size != other:
        raise ShapeProblem(
            f"`{layer.name}` multiplies axis {axes[0]} of {show_shape(first)} by axis "
            f"{axes[1]} of {show_shape(second)}, which differ ({size} and {other})",
            "choose `axes` where the two inputs have the same size",
            arg="axes" if "axes" in dict(layer.call.kwargs) else None,
        )
    dims = [d for i, d in enumerate(first) if i != axes[0]]
    dims += [d for i, d in enumerate(second) if i not in (0, axes[1])]
    return Out(tuple(dims) if len(dims) > 1 else (*dims, 1))


RULES["Dot"] = _dot


# -- attention: the query first, then the value and the key ------------------------------


def _query_value_key(layer: _Layer, shapes: Sequence[Shape], least: int) -> tuple[Shape, ...]:
    """(query, value, key) from a node's inputs in that order: the value defaults to the
    query, the key to the value, as Keras's attention layers take them."""
    if not least <= len(shapes) <= 3:
        raise ShapeProblem(
            f"`{layer.name}` takes {'1 to 3' if least == 1 else '2 or 3'} inputs "
            f"(query, value, key), but gets {len(shapes)}",
            "give it the query, then the value, then the key if it differs from the value",
        )
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    steps = zip(value[1:-1], key[1:-1], strict=False)  # checked for equal ranks first
    if len(value) != len(key) or any(a is not None and b is not None and a != b for a, b in steps):
        raise ShapeProblem(
            f"`{layer.name}` needs the value and the key of the same length, but gets "
            f"value {show_shape(value)} and key {show_shape(key)}",
            "the key gives one entry per value: take both from the same sequence",
        )
    return query, value, key


def _multi_head_attention(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """Keras's `MultiHeadAttention`: EinsumDense projections of the query, key and value
    into `num_heads` heads of `key_dim` (`value_dim`) each, then one back to the query's
    last size or `output_shape`."""
    query, value, key = _query_value_key(layer, shapes, 1)
    for tensor in (query, value, key):  # (Keras's softmax over the scores needs steps)
        _need_rank(layer, tensor, tuple(range(3, 9)), "sequences: (steps, features) per sample")
    heads, key_dim = layer.count("num_heads"), layer.count("key_dim")
    value_dim = key_dim if layer["value_dim"] is None else layer.count("value_dim")
    given = layer["output_shape"]
    if given is None:
        given = _known(query[-1])
    last = (given,) if isinstance(given, int) else tuple(given)
    if not all(type(size) is int and size >= 1 for size in last):
        raise ShapeProblem(
            f"`output_shape` of `{layer.name}` is sizes ≥ 1, not `{show_value(given)}`",
            "e.g. `output_shape=16`, or leave it out for the query's size",
            arg="output_shape",
        )
    bias = layer["use_bias"] is not False
    width = math.prod(last)
    # `use_gate`: a sigmoid gate projected from the query like the value's heads.
    gate = heads * value_dim * (_known(query[-1]) + bias) if layer["use_gate"] is True else 0
    weights = (
        heads * key_dim * (_known(query[-1]) + _known(key[-1]) + 2 * bias)
        + heads * value_dim * (_known(value[-1]) + bias + width)
        + width * bias
        + gate
    )
    return Out((*query[:-1], *last), weights)


def _dot_attention(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """`Attention` and `AdditiveAttention`: scores of the query against the key (of the
    same depth), a weighted sum of the value; the query's steps, the value's depth."""
    query, value, key = _query_value_key(layer, shapes, 2)
    if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
        raise ShapeProblem(
            f"`{layer.name}` compares the query with the key, which need the same depth, "
            f"but gets query {show_shape(query)} and key {show_shape(key)}",
            "project one of them first, e.g. `dense N` with the other's depth N",
        )
    if layer.call.class_name == "AdditiveAttention":
        weights = _known(query[-1]) if layer["use_scale"] is not False else 0
    else:
        weights = (layer["use_scale"] is True) + (layer["score_mode"] == "concat")
    return Out((*query[:-1], value[-1]), weights)


RULES["MultiHeadAttention"] = _multi_head_attention


def _grouped_query_attention(layer: _Layer, shapes: Sequence[Shape]) -> Out:
    """Keras's `GroupQueryAttention`: the query projected into `num_query_heads` heads,
    the key and value into `num_key_value_heads` (which must divide them), each of
    `head_dim`; an optional sigmoid gate like the query's; back to the query's depth."""
    query, value, key = _query_value_key(layer, shapes, 1)
    for tensor in (query, value, key):  # (Keras's projections are of steps x features)
        _need_rank(layer, tensor, (3,), "sequences (steps, features)")
    head_dim = layer.count("head_dim")
    query_heads, kv_heads = layer.count("num_query_heads"), layer.count("num_key_value_heads")
    if query_heads % kv_heads:
        raise ShapeProblem(
            f"`{layer.name}` shares each key/value head between query heads: "
            f"num_query_heads ({query_heads}) must be a multiple of num_key_value_heads "
            f"({kv_heads})",
            "e.g. 8 query heads over 2 or 4 key/value heads",
            arg="num_key_value_heads",
        )
    if None not in (query[-1], value[-1]) and query[-1] != value[-1]:
        raise ShapeProblem(
            f"`{layer.name}` needs a query and a value of the same depth, but gets query "
            f"{show_shape(query)} and value {show_shape(value)}",
            "project one of them first, e.g. `dense N` with the other's depth N",
        )
    bias = layer["use_bias"] is not False
    depth = _known(query[-1])
    query_weights = query_heads * head_dim * (depth + bias)
    weights = (
        query_weights * (2 if layer["use_gate"] is True else 1)
        + kv_heads * head_dim * (_known(key[-1]) + _known(value[-1]) + 2 * bias)
        + query_heads * head_dim * depth
        + depth * bias
    )
    return Out(query, weights)


RULES["GroupQueryAttention"] = _grouped_query_attention
RULES["Attention"] = RULES["AdditiveAttention"] = _dot_attention


# -- the pass ---------------------------------------------------------------------------


def infer(model: ir.Model, catalog: Catalog | None = None, rows: bool = True) -> Summary:
    """Shapes and parameters of every node, and every problem found on the way; with
    `rows=False`, the problems only (the same ones), without a row per node.

    Walks the graph in its (topological) order, with a shape, a dtype and a `_Path` per
    edge: what each input and node outputs. A node whose input is unknown (no rule, or a
    problem before it) is unknown too, and counts as skipped.
    """
    catalog = catalog or load()
    summary = Summary()
    # Each edge's shape, dtype and path, kept until its last reader is done (`far_reads`,
    # `_done_reading`): at 100,000 layers, tables of every node's would be megabytes.
    shapes: dict[ir.NodeId, Shape | None] = {}
    dtypes: dict[ir.NodeId, str] = {}
    paths: dict[ir.NodeId, _Path] = {}
    far_reads = _far_reads(model)
    kept = set(model.outputs)
    input_ids = {source.id for source in model.inputs}
    for source in model.inputs:
        shapes[source.id] = (None, *source.shape)
        dtypes[source.id] = source.dtype
        paths[source.id] = _Path(tuple(source.shape))
    names: dict[str, int] = {}  # automatic names given so far, per class
    owners = {node.shares for node in model.nodes if node.shares is not None}
    shared_blocks = {block.name for block in model.blocks if block.shared}
    row_names: dict[ir.NodeId, str] = {}  # a shared layer's first use's name
    # One tuple per distinct shape: a long chain's layers mostly output a few.
    distinct_shapes: dict[Shape, Shape] = {}
    # The names given so far, when two layers may get one name (else none is kept).
    track_names = _names_may_repeat(model, catalog)
    used: set[str] = set()
    unknown_from: str | None = None
    skipped = 0
    for position, node in enumerate(model.nodes):
        call = node.call
        path = paths[node.inputs[0]]
        layer = _Layer(call, catalog, path)
        owner = node.shares
        # A shared layer applied again: its name and weights are the first use's.
        name = row_names[owner] if owner is not None else _layer_name(call, names, catalog)
        if node.id in owners:
            row_names[node.id] = name
        if owner is not None:
            first_input = model.node(owner).inputs[0]
            here, there = shapes.get(node.inputs[0]), shapes.get(first_input)
            if here is not None and there is not None and here != there:
                # The innermost shared block the node is in (the outer scopes may be
                # `def` blocks' instances: `b_2` for the second call of `b`).
                shared = next((s for s in reversed(node.scope) if s in shared_blocks), None)
                summary.diagnostics.append(
                    Diagnostic(
                        f"the shared `{shared or layer.name}` is applied "
                        f"to {show_shape(here)} here, but was built for {show_shape(there)}",
                        call.span,
                        "a shared block applies the same weights: give every use the same shape",
                    )
                )
        elif track_names and name in used:
            summary.diagnostics.append(
                Diagnostic(
                    f"two layers are named `{name}`; Keras needs every layer's name to differ",
                    call.arg_span("name") if call.kwarg("name") else call.span,
                    "rename one (layers without `name=` are called dense, dense_1, ...)",
                )
            )
        if track_names:
            used.add(name)
        out: Out | None = None
        known = [shape for shape in map(shapes.__getitem__, node.inputs) if shape is not None]
        if len(known) == len(node.inputs):
            shape = known[0]
            dtype = dtypes[node.inputs[0]]
            fed_by_input = node.inputs[0] in input_ids
            for problem in (_check_dtype(layer, dtype, fed_by_input), _wrapper_not_frozen(layer)):
                if problem:
                    summary.diagnostics.append(problem)
            try:
                out = _apply_checked(layer, known, catalog)
                if out is None:
                    unknown_from = unknown_from or f"`{layer.name}` (line {_line(call)})"
            except ShapeProblem as error:
                span = _problem_span(call, error.arg)
                summary.diagnostics.append(Diagnostic(str(error), span, error.hint))
            except _Wrapped as wrapped:
                inner = str(wrapped)  # the wrapped layer's DSL name
                unknown_from = unknown_from or f"`{layer.name} {inner}` (line {_line(call)})"
            if call.class_name == "Flatten" and len(shape) == 2:
                summary.diagnostics.append(
                    Diagnostic(
                        f"`{layer.name}` on an already flat input {show_shape(shape)} does nothing",
                        call.span,
                        "remove it",
                        severity="warning",
                    )
                )
            dtypes[node.id] = out.dtype if out is not None and out.dtype else dtype
            if out is not None and len(out.shape) != len(shape):
                path = replace(path, reshaped_by=call, fewer=len(out.shape) < len(shape))
        else:
            skipped += 1
        paths[node.id] = path
        if out is not None:
            shapes[node.id] = distinct_shapes.setdefault(out.shape, out.shape)
        else:
            shapes[node.id] = None
        for read in (*node.inputs, *((model.node(owner).inputs[0],) if owner else ())):
            last_reader = far_reads.get(read)
            if read not in kept and (last_reader is None or last_reader == position):
                shapes.pop(read, None)  # popped: a node may read one tensor twice
                paths.pop(read, None)
                dtypes.pop(read, None)
                far_reads.pop(read, None)
        if owner is not None and out is not None:
            out = replace(out, trainable=0, non_trainable=0)  # counted at the first use
        if rows:
            summary.add(
                Row(
                    name,
                    call.class_name,
                    shapes[node.id],
                    out.trainable if out else None,
                    out.non_trainable if out else None,
                    node.id,
                )
            )
    units_unknown = False
    for output in model.output_nodes:
        last = _output_layer(model, output)
        output_shape = shapes[output.id]
        units = output_shape[-1] if output_shape else _dense_units(last)
        units_unknown = units_unknown or units is None
        summary.diagnostics += _check_output(model, last, units, model.loss_key_of(output.id))
    summary.outputs = model.outputs
    if unknown_from:
        what = f"{skipped} later layer{'s' if skipped != 1 else ''}"
        if units_unknown:
            what += " and the output against the loss"
        summary.notes.append(
            f"kdsl has no shape rule for {unknown_from}: shapes and parameter counts are "
            f"unknown from there on, so {what} could not be checked"
        )
    return summary


def _far_reads(model: ir.Model) -> dict[ir.NodeId, int]:
    """Where `infer` is done with an input or node read further on than by the node
    right after it: its last reader's position in `model.nodes` (a shared layer applied
    again reads its first use's input too). One read by the next node alone is done
    with there: in a chain, every node, and the table stays small."""
    far: dict[ir.NodeId, int] = {}
    previous: ir.NodeId | None = None
    for position, node in enumerate(model.nodes):
        for read in node.inputs:
            if read != previous:
                far[read] = position
        if node.shares is not None:
            far[model.node(node.shares).inputs[0]] = position
        previous = node.id
    return far


def _names_may_repeat(model: ir.Model, catalog: Catalog) -> bool:
    """Whether two layers may get one Keras name: one is given (`name=`), or one class's
    automatic names can be another's (a `dense_1` stem beside `dense`). Else every name
    differs (`dense`, `dense_1`, ... per stem) and `infer` keeps none to compare."""
    classes: set[str] = set()
    for node in model.nodes:
        if node.call.kwarg("name") is not None:
            return True
        classes.add(node.call.class_name)
        classes.update(a.class_name for a in node.call.args if isinstance(a, ir.KerasCall))
    stems = {_stem(class_name, catalog) for class_name in classes}
    for stem in stems:
        head, _, tail = stem.rpartition("_")
        if head in stems and tail.isdigit():
            return True
    return False


def _problem_span(call: ir.KerasCall, arg: str | None) -> ir.Span | None:
    """Where a shape problem points: at the argument it names (a wrapped layer's own,
    `bidirectional lstm 3 bias_initializer=...`, included), else at the whole call."""
    if arg is None:
        return call.span
    spans = dict(call.arg_spans)
    if arg not in spans and call.class_name in WRAPPER_CLASSES:
        spans = dict(wrapped(call).arg_spans)
    return spans.get(arg, call.span)


def _dense_units(call: ir.KerasCall) -> int | None:
    """A `Dense` layer's units (its first argument), whatever its input; else None."""
    units = call.args[0] if call.class_name == "Dense" and call.args else None
    return units if type(units) is int else None


def _layer_name(call: ir.KerasCall, names: dict[str, int], catalog: Catalog) -> str:
    """The layer's Keras name: its `name=`, or the automatic one Keras gives it, counting
    the layers made before it (`names`); a wrapped layer is made, and named, first."""
    for inner in call.args:  # `Bidirectional(LSTM(...))`: the inner layer is named first
        if isinstance(inner, ir.KerasCall) and inner.kwarg("name") is None:
            _auto_name(_stem(inner.class_name, catalog), names)
    given = call.kwarg("name")
    return given if isinstance(given, str) else _auto_name(_stem(call.class_name, catalog), names)


def _stem(class_name: str, catalog: Catalog) -> str:
    """The stem of Keras's automatic names for a layer class (`dense`, `max_pooling2d`)."""
    entry = catalog.layers.get(class_name.lower())
    return entry.name_stem if entry is not None else keras_snake_case(class_name)


def _line(call: ir.KerasCall) -> int | str:
    return call.span.line if call.span is not None else "?"


def _apply_checked(layer: _Layer, shapes: Sequence[Shape], catalog: Catalog) -> Out | None:
    """`_apply`, with a value of a type no rule expected turned into a user's error.

    Rules check the arguments they know to go wrong; this is the net under them (the
    fuzzer's inputs are full of `permute none`-like values), so the answer is a message,
    never a crash.
    """
    try:
        return _apply(layer, shapes, catalog)
    except (TypeError, ValueError, ArithmeticError, IndexError, KeyError) as error:
        given = ", ".join(f"{k}={show_value(v)}" for k, v in layer.call.kwargs) or "its defaults"
        positional = ", ".join(map(show_value, layer.call.args))
        raise ShapeProblem(
            f"kdsl cannot work out what `{layer.name}` outputs from these arguments: "
            "one of them has a type Keras does not take there",
            f"check the arguments against Keras's `{layer.call.class_name}` "
            f"(given: {positional}{'; ' if layer.call.args else ''}{given}) "
            f"[{type(error).__name__}]",
        ) from None


def _apply(layer: _Layer, shapes: Sequence[Shape], catalog: Catalog) -> Out | None:
    if layer.call.class_name in WRAPPER_CLASSES:
        wrapper = _wrapper(layer, _one_input(layer, shapes), catalog)  # `_wrapper_not_frozen`
        _check_orthogonal(layer, wrapper.shape)
        return wrapper
    function = RULES.get(layer.call.class_name)
    out = _frozen(layer.call, function(layer, shapes)) if function else None
    if out is not None:
        _check_initializer_ranks(layer, shapes)
        _check_orthogonal(layer, out.shape)
    return out


def _check_orthogonal(layer: _Layer, output: Shape) -> None:
    """Keras's orthogonal activity regularizer takes vectors only (a batch of rank 2)."""
    orthogonal = layer.call.kwarg("activity_regularizer") == "orthogonal_regularizer"
    if orthogonal and len(output) != 2:
        raise ShapeProblem(
            f"`activity_regularizer=orthogonal_regularizer` needs `{layer.name}` to output "
            f"vectors, but it outputs {show_shape(output)}",
            "use `l1` or `l2`, or put the regularizer on a layer that outputs vectors",
            arg="activity_regularizer",
        )


def _weight_rank(class_name: str, param: str, shape: Shape) -> int | None:
    """How many dimensions the weight an `*_initializer` argument makes has (None when
    kdsl does not know): 1 for biases and normalisation scales, 2 for a dense or
    recurrent kernel or an embedding, the rank + 2 of a convolution's kernel, a PReLU's
    slopes one per input value (`shape`, the input's, batch first)."""
    if param.startswith(("bias", "beta", "gamma", "moving_")):
        return 1
    if class_name == "PReLU" and param == "alpha_initializer":
        return len(shape) - 1
    if (
        param in ("recurrent_initializer", "embeddings_initializer")
        and "ConvLSTM" not in class_name
    ):
        return 2
    if class_name in ("Dense", "SimpleRNN", "LSTM", "GRU"):
        return 2
    spatial = re.search(r"([123])D", class_name)
    if spatial and param in (
        "kernel_initializer",
        "depthwise_initializer",
        "pointwise_initializer",
        "recurrent_initializer",
    ):
        return int(spatial[1]) + 2
    return None


def _check_initializer_ranks(layer: _Layer, shapes: Sequence[Shape]) -> None:
    """An initializer Keras makes only for weights of some ranks (`identity`: matrices,
    `orthogonal`: two dimensions or more), given for a weight of another
    (`conv2d ... kernel_initializer=identity`, `bias_initializer=orthogonal`)."""
    for param, value in layer.call.kwargs:
        ranks = INITIALIZER_RANKS.get(value) if isinstance(value, str) else None
        if ranks is None or not param.endswith("_initializer"):
            continue
        weight = _weight_rank(layer.call.class_name, param, shapes[0])
        low, high = ranks
        if high == 0:  # the STFT's kernels, of one shape: no other layer's weight
            raise ShapeProblem(
                f"the initializer `{value}` makes the STFT spectrogram layer's kernels only, "
                f"not `{param}` of `{layer.name}`",
                "use another initializer, e.g. `glorot_uniform` (or `zeros` for a bias)",
                arg=param,
            )
        if weight is not None and not (low <= weight and (high is None or weight <= high)):
            what = f"{low}" if low == high else f"{low} or more"
            raise ShapeProblem(
                f"the initializer `{value}` makes weights of {what} dimensions, but "
                f"`{param}` of `{layer.name}` is for a weight of {weight}",
                "use another initializer, e.g. `glorot_uniform` (or `zeros` for a bias)",
                arg=param,
            )


def _frozen(call: ir.KerasCall, out: Out | None) -> Out | None:
    """`trainable=false` turns all of a layer's weights non-trainable, as Keras counts
    them. Not a wrapper's, nor an attention layer's: Keras 3 sets it on the layer alone,
    and the layers it is made of still train (`_wrapper_not_frozen` warns)."""
    if (
        out is None
        or call.kwarg("trainable", True) is not False
        or call.class_name in _MADE_OF_LAYERS
    ):
        return out
    return replace(out, trainable=0, non_trainable=out.trainable + out.non_trainable)


# Layers whose weights belong to layers they make as they are built (the projections of
# `MultiHeadAttention`): `trainable=False` given to them does not reach those.
_MADE_OF_LAYERS = frozenset({*WRAPPER_CLASSES, "MultiHeadAttention", "GroupQueryAttention"})


def _wrapper_not_frozen(layer: _Layer) -> Diagnostic | None:
    """`bidirectional lstm 4 trainable=false`: Keras 3's `Bidirectional(LSTM(4),
    trainable=False)` leaves the LSTM trainable, and `fit` changes its weights; so do
    the attention layers' projections (found by tests/test_oracle.py)."""
    call = layer.call
    if call.class_name not in _MADE_OF_LAYERS or call.kwarg("trainable", True) is not False:
        return None
    if call.class_name in WRAPPER_CLASSES:
        inner = wrapped(call)
        what = f"the wrapped `{inner.written_name}`"
    else:
        what = "its projections (layers Keras makes inside it)"
    return Diagnostic(
        f"`trainable=false` on `{layer.name}` does not freeze {what}: "
        "Keras 3 still trains their weights, and they count as trainable",
        call.arg_span("trainable"),
        f"to freeze it, set `trainable = False` on the built model's `{layer.name}` layer "
        "in Python, or remove `trainable=false`",
        severity="warning",
    )


def _check_dtype(layer: _Layer, dtype: str, fed_by_input: bool) -> Diagnostic | None:
    """An embedding reads integer ids: `dtype` is what its input holds; `fed_by_input`,
    whether that input is the model's own."""
    embeddings = ("Embedding", "ReversibleEmbedding")
    if layer.call.class_name in embeddings and not dtype.startswith(("int", "uint")):
        hint = (
            "start with `input SHAPE dtype=int32`"
            if fed_by_input
            else f"`{layer.name}` must come right after an integer input"
        )
        return Diagnostic(
            f"`{layer.name}` needs integer sequences (token ids), but gets {dtype} values",
            layer.call.span,
            hint,
        )
    integers = dtype.startswith(("int", "uint"))
    mask = layer["mask_value"] if layer.call.class_name == "Hashing" else None
    if mask is not None and isinstance(mask, str) == integers and (integers or dtype == "string"):
        # Keras compares every value with the mask as it runs, which needs one type.
        return Diagnostic(
            f"`mask_value` of `{layer.name}` is {'a string' if integers else 'a number'}, but "
            f"its input holds {dtype} values: Keras compares each with it",
            layer.call.arg_span("mask_value"),
            f"give `mask_value` a {'whole number' if integers else 'string'} like the input's, "
            "or leave it out",
        )
    if layer.call.class_name == "StringLookup" and layer["invert"] is True and not integers:
        return Diagnostic(
            f"`{layer.name} invert=true` turns ids back into strings, but gets {dtype} values",
            layer.call.arg_span("invert"),
            "give it integer ids (`dtype=int32`), or leave `invert` out",
        )
    return None


# Layers after the output layer that leave its values' meaning alone (at inference).
_PASS_THROUGH = frozenset(
    {"Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization",
     "Identity"}
)  # fmt: skip


# Losses that normalise the output over its units (or softmax it) and compare it with a
# class: over one unit the prediction is always 1.0 for the only class, and the loss 0.
ONE_CLASS_LOSSES = frozenset(
    {
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "sparse_categorical_crossentropy",
    }
)


def _output_layer(model: ir.Model, output: ir.Node) -> ir.KerasCall:
    """The layer that decides an output's values: the output node, or the layer before it
    when it only passes values on (dropout, noise), looking back through one-input nodes."""
    node = output
    while node.call.class_name in _PASS_THROUGH:
        if len(node.inputs) != 1 or model.is_input(node.inputs[0]):
            return output.call  # nothing before it decides more
        node = model.node(node.inputs[0])
    return node.call


def _check_output(
    model: ir.Model, last: ir.KerasCall, units: int | None, loss: str
) -> list[Diagnostic]:
    """The output layer's (`last`'s) activation and units against its loss (`loss`)."""
    output = model.output_nodes[0].call if len(model.outputs) == 1 else last
    if (why := NOT_LAST_LAYERS.get(output.class_name)) is not None:
        name = output.written_name
        return [
            Diagnostic(
                f"`{name}` cannot end the model: {why}",
                output.span,
                "add a layer after it, e.g. `flatten -> dense 1`",
            )
        ]
    activation: object = dict(last.kwargs).get("activation")
    if last.class_name == "Activation":
        activation = last.args[0] if last.args else None
    if last.class_name == "Softmax":
        activation = "softmax"
    span = last.arg_span("activation") if activation else last.span
    if activation == "softmax" and units == 1:
        return [
            Diagnostic(
                "softmax over 1 unit always outputs 1.0: the model cannot learn",
                span,
                "for two classes use `dense 1 sigmoid` with `binary_crossentropy`, or "
                "`dense 2 softmax`",
            )
        ]
    if units == 1 and loss in ONE_CLASS_LOSSES:
        return [
            Diagnostic(
                f"`{loss}` over 1 output unit sees a single class: the loss is always 0, so "
                "the model cannot learn",
                last.span,
                "for two classes use `dense 1 sigmoid` with `binary_crossentropy`, or "
                f"`dense 2 softmax` with `{loss}`",
            )
        ]
    if activation == "sigmoid" and units not in (1, None) and loss == "categorical_crossentropy":
        return [
            Diagnostic(
                f"sigmoid over {units} units does not give class probabilities that sum to 1, "
                "which categorical_crossentropy expects",
                span,
                f"use `dense {units} softmax` for one class per sample, or `binary_crossentropy` "
                "for independent labels",
            )
        ]
    if (
        activation == "softmax"
        and units is not None
        and units > 2
        and loss == "binary_crossentropy"
    ):
        return [
            Diagnostic(
                f"binary_crossentropy on a softmax over {units} units treats each class as a "
                "separate yes/no label",
                span,
                "use `categorical_crossentropy` (one-hot labels) or "
                "`sparse_categorical_crossentropy` (class ids)",
            )
        ]
    return []


def _auto_name(base: str, seen: dict[str, int]) -> str:
    """Keras's automatic layer names after their stem `base`: dense, dense_1, ..."""
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def summary_report(summary: Summary, title: str) -> str:
    """What `kdsl check` prints (and `%kdsl check` shows): the table, then the notes."""
    return "\n".join([format_summary(summary, title), *(f"note: {n}" for n in summary.notes)])


def format_summary(summary: Summary, title: str) -> str:
    """A plain-text table in the spirit of Keras's `model.summary()`."""
    header = ("Layer (type)", "Output Shape", "Param #")
    rows = [
        (
            f"{r.name} ({r.class_name})",
            show_shape(r.output_shape),
            "?" if r.params is None else f"{r.params:,}",
        )
        for r in summary.rows
    ]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(3)]
    rule_line = "─" * (sum(widths) + 4)

    def line(cells: tuple[str, str, str]) -> str:
        return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}"

    out = [f'Model: "{title}"', rule_line, line(header), rule_line]
    out += [line(r) for r in rows]
    out.append(rule_line)
    for label, kind in (
        ("Total", "params"),
        ("Trainable", "trainable"),
        ("Non-trainable", "non_trainable"),
    ):
        value = summary.total(kind)
        out.append(f"{label} params: {'unknown' if value is None else f'{value:,}'}")
    return "\n".join(out)
