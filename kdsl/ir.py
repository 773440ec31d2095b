"""The checked model: plain Python values and Keras names, ready to render.

Everything here came through `kdsl.semantics.checker`: class names are from the catalog and every
value is an int, float, bool, None, str or a tuple of those. Templates render only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from kdsl.source import Span

PyValue = int | float | bool | str | None | tuple


@dataclass(frozen=True)
class KerasCall:
    """A Keras constructor call such as `Dense(3, activation="relu")`."""

    module: str  # "layers", "optimizers", "losses" or "metrics"
    class_name: str
    args: tuple[PyValue | KerasCall, ...] = ()
    kwargs: tuple[tuple[str, PyValue], ...] = ()
    # Where it was written, for diagnostics from later passes (not part of its identity).
    span: Span | None = field(default=None, compare=False)
    written: str = field(default="", compare=False)  # the DSL name used: `maxpool2d`
    arg_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False)

    def arg_span(self, name: str) -> Span | None:
        return dict(self.arg_spans).get(name, self.span)

    def kwarg(self, name: str, default: PyValue = None) -> PyValue:
        return dict(self.kwargs).get(name, default)


@dataclass(frozen=True)
class CompileArg:
    """An optimizer, loss or metric: a string shorthand (`"adam"`) or an object."""

    shorthand: str | None = None
    call: KerasCall | None = None


@dataclass(frozen=True)
class Model:
    input_shape: tuple
    input_kwargs: tuple[tuple[str, PyValue], ...]
    layers: tuple[KerasCall, ...]
    optimizer: CompileArg
    loss: CompileArg
    metrics: tuple[CompileArg, ...]
    fit: tuple[tuple[str, PyValue], ...]
    loss_key: str  # catalog key of the loss, e.g. "categorical_crossentropy"

    def fit_option(self, name: str, default: PyValue = None) -> PyValue:
        return dict(self.fit).get(name, default)

    def with_fit(self, **options: PyValue) -> Model:
        """The model with these `fit` options set; `None` leaves an option as it was.

        How `kdsl run --early-stopping 5` means exactly `fit early_stopping=5` in the file.
        """
        merged = dict(self.fit) | {k: v for k, v in options.items() if v is not None}
        return replace(self, fit=tuple(merged.items()))
