"""The v1 language contract (docs/language.md), checked on the IR: no TensorFlow needed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdsl import check_source, compile_source, ir
from kdsl.codegen.render import literal
from kdsl.errors import KdslError, SourceError

TUTORIAL = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"


def layers(text: str) -> list[tuple]:
    return [(c.class_name, c.args, c.kwargs) for c in check_source(text).layers]


def test_tutorial_compiles_verbatim() -> None:
    model = check_source(TUTORIAL)
    assert model.input_node().shape == (4,)
    assert layers(TUTORIAL) == [
        ("Dense", (5,), ()),
        ("Dense", (3,), (("activation", "relu"),)),
        ("Dense", (3,), (("activation", "softmax"),)),
    ]
    assert model.optimizer == ir.CompileArg(shorthand="adam")
    assert model.loss == ir.CompileArg(shorthand="categorical_crossentropy")
    assert model.metrics == (ir.CompileArg(shorthand="accuracy"),)


def test_whitespace_newlines_comments_and_trailing_semicolon() -> None:
    spaced = """
        # the tutorial, spread out
        dense 5   in 4      # first layer
          -> dense 3 relu
          -> dense 3 softmax ;
        adam ;   categorical_crossentropy ;  # trailing ; is fine
    """
    assert check_source(spaced) == check_source(TUTORIAL)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("4", (4,)),
        ("28x28x1", (28, 28, 1)),
        ("(None, 128)", (None, 128)),
        ("(28, 28, 1)", (28, 28, 1)),
        ("(None,)", (None,)),
        ("(7,)", (7,)),
    ],
)
def test_shapes(shape: str, expected: tuple) -> None:
    assert check_source(f"activation relu in {shape}; sgd; mse").input_node().shape == expected
    assert (
        check_source(f"input {shape} -> activation relu; sgd; mse").input_node().shape == expected
    )


def test_input_element_with_dtype() -> None:
    model = check_source("input 10 dtype=int32 -> embedding 100 8 -> flatten -> dense 1; sgd; mse")
    assert model.input_node().shape == (10,)
    assert model.input_node().kwargs == (("dtype", "int32"),)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("2.5E+2", 250.0),
        (".5", 0.5),
        ("true", True),
        ("false", False),
        ("none", None),
        ("True", True),
        ("None", None),
        ("same", "same"),
        ("'single'", "single"),
        ('"dou\\"ble"', 'dou"ble'),
        ("(3, 3)", (3, 3)),
        ("3x3", (3, 3)),
        ("((1, 2), (3, 4))", ((1, 2), (3, 4))),
        ("()", ()),
    ],
)
def test_values(text: str, value) -> None:
    # `lora_alpha` of a dense without `lora_rank` takes anything Keras ignores: a neutral
    # carrier for a value (a tuple of tuples, which only padding and cropping take, goes
    # to `zeropadding2d`'s padding).
    nested = isinstance(value, tuple) and bool(value) and isinstance(value[0], tuple)
    carrier = "input 8x8x1 -> zeropadding2d padding" if nested else "input 4 -> dense 1 lora_alpha"
    model = check_source(f"{carrier}={text}; sgd; mse")
    assert model.layers[0].kwarg("padding" if nested else "lora_alpha") == value


def test_dense_positional_and_keyword_arguments() -> None:
    assert layers("dense 64 activation=relu use_bias=false in 8; sgd; mse") == [
        ("Dense", (64,), (("activation", "relu"), ("use_bias", False)))
    ]
    assert layers("dense units=64 in 8; sgd; mse") == [("Dense", (64,), ())]


def test_optimizer_forms() -> None:
    base = "dense 1 in 4; "
    assert check_source(base + "adam 0.001; mse").optimizer.call == ir.KerasCall(
        "optimizers", "Adam", (), (("learning_rate", 0.001),)
    )
    assert check_source(
        base + "adam learning_rate=0.001 beta_1=0.8; mse"
    ).optimizer.call.kwargs == (("learning_rate", 0.001), ("beta_1", 0.8))
    assert check_source(base + "optimizer adam 0.01; loss mse").optimizer.call.kwargs == (
        ("learning_rate", 0.01),
    )
    assert check_source(base + "optimizer sgd; loss mse").optimizer.shorthand == "sgd"


def test_loss_forms() -> None:
    model = check_source("dense 1 sigmoid in 4; adam; binary_crossentropy from_logits=true")
    assert model.loss.call == ir.KerasCall(
        "losses", "BinaryCrossentropy", (), (("from_logits", True),)
    )
    assert model.metrics == (ir.CompileArg(shorthand="accuracy"),)
    assert check_source("dense 1 in 4; loss mse; optimizer adam").loss.shorthand == "mse"


@pytest.mark.parametrize(
    ("loss", "metrics"),
    [
        ("binary_crossentropy", ("accuracy",)),
        ("categorical_crossentropy", ("accuracy",)),
        ("sparse_categorical_crossentropy", ("accuracy",)),
        ("mse", ()),
        ("hinge", ()),
        ("categorical_crossentropy label_smoothing=0.1", ("accuracy",)),
    ],
)
def test_default_metrics(loss: str, metrics: tuple) -> None:
    model = check_source(f"dense 2 softmax in 4; adam; {loss}")
    assert tuple(m.shorthand for m in model.metrics) == metrics


def test_explicit_metrics_replace_the_default() -> None:
    model = check_source("dense 1 sigmoid in 4; adam; binary_crossentropy; metrics auc, precision")
    assert [m.shorthand for m in model.metrics] == ["auc", "precision"]


def test_sections_in_any_order() -> None:
    a = check_source("dense 1 in 4; adam; mse; metrics mae; fit epochs=5 batch_size=20")
    b = check_source(
        "dense 1 in 4; fit batch_size=20 epochs=5; metrics mae; loss mse; optimizer adam"
    )
    assert (a.optimizer, a.loss, a.metrics) == (b.optimizer, b.loss, b.metrics)
    assert dict(a.fit) == dict(b.fit) == {"epochs": 5, "batch_size": 20}


def test_fit_callbacks_are_kdsl_options_not_fit_keywords() -> None:
    model = check_source("dense 1 in 4; adam; mse; fit early_stopping=5 reduce_lr_on_plateau=2")
    assert dict(model.fit) == {"early_stopping": 5, "reduce_lr_on_plateau": 2}
    code = compile_source("dense 1 in 4; adam; mse; fit early_stopping=5")
    assert "keras.callbacks.EarlyStopping(" in code and "patience=5" in code
    assert "restore_best_weights=True" in code
    assert "ReduceLROnPlateau" not in code
    assert "early_stopping=" not in code, "not passed to model.fit"


def test_no_callbacks_without_the_options() -> None:
    assert "keras.callbacks" not in compile_source(TUTORIAL)


@pytest.mark.parametrize(
    ("fit", "monitor"),
    [
        ("early_stopping=3", '"val_loss" if validation_data is not None else "loss"'),
        ("early_stopping=3 validation_split=0.2", '"val_loss"\n'),
    ],
)
def test_callbacks_monitor_the_validation_loss_when_there_is_one(fit: str, monitor: str) -> None:
    code = compile_source(f"dense 1 in 4; adam; mse; fit {fit}")
    assert f"monitor = {monitor}" in code


def test_command_line_fit_options_override_the_file() -> None:
    model = check_source("dense 1 in 4; adam; mse; fit epochs=3 early_stopping=5")
    merged = model.with_fit(early_stopping=2, reduce_lr_on_plateau=None)
    assert dict(merged.fit) == {"epochs": 3, "early_stopping": 2}


def test_wrappers() -> None:
    got = layers(
        "input 10x8 -> bidirectional lstm 16 return_sequences=true merge_mode=sum "
        "-> timedistributed dense 3; adam; mse"
    )
    lstm = ir.KerasCall("layers", "LSTM", (16,), (("return_sequences", True),))
    assert got[0] == ("Bidirectional", (lstm,), (("merge_mode", "sum"),))
    assert got[1] == ("TimeDistributed", (ir.KerasCall("layers", "Dense", (3,), ()),), ())


def test_aliases_reach_keras_classes() -> None:
    got = layers(
        "input 8x8x1 -> conv2d 4 3 relu -> maxpool2d 2 -> batchnorm -> gap2d -> dense 2; adam; mse"
    )
    assert [g[0] for g in got] == [
        "Conv2D",
        "MaxPooling2D",
        "BatchNormalization",
        "GlobalAveragePooling2D",
        "Dense",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0.001, "0.001"),
        (1e-07, "1e-07"),
        (True, "True"),
        (None, "None"),
        ("it's", '"it\'s"'),
        ('a"b', "'a\"b'"),
        ("x\ny", "'x\\ny'"),
        ((3,), "(3,)"),
        ((None, 128), "(None, 128)"),
        ((), "()"),
    ],
)
def test_literals_are_python(value, text: str) -> None:
    rendered = literal(value)
    assert eval(rendered) == value  # noqa: S307 - the point: it is a plain literal
    if isinstance(value, str):
        assert eval(rendered) == value
    else:
        assert rendered == text


def test_errors_are_collected_not_first_only() -> None:
    with pytest.raises(SourceError) as info:
        check_source("dens 5 in 4 -> dense 3 rellu; adma; msee")
    assert len(info.value.diagnostics) == 4


# Property: any text either compiles or fails with a kdsl error; never anything else.
_ALPHABET = st.sampled_from(
    [
        "dense",
        "conv2d",
        "input",
        "in",
        "->",
        ";",
        ",",
        "=",
        "(",
        ")",
        " ",
        "\n",
        "#",
        "3",
        "0.5",
        "28x28",
        "relu",
        "adam",
        "mse",
        "metrics",
        "fit",
        "epochs",
        "'s'",
        "x",
        "-",
        "None",
        "1e999",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=25).map("".join))
def test_token_soup_never_crashes(text: str) -> None:
    with contextlib.suppress(KdslError):
        compile_source(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(KdslError):
        compile_source(text)


def _diagnostics(text: str) -> list:
    from kdsl import check

    return check(text)


@pytest.mark.parametrize("kind", ["initializer", "regularizer", "constraint"])
def test_object_names_are_checked_in_every_argument_of_their_kind(kind: str) -> None:
    """Every `*_initializer`/`*_regularizer`/`*_constraint` argument of every layer takes
    the names of the catalog (from Keras) and refuses others, with a did-you-mean."""
    from kdsl.semantics.catalog import load

    catalog = load()
    names = getattr(catalog, f"{kind}s")
    assert names, kind
    params = {p.name for e in catalog.layers.values() for p in e.params}
    suffixed = sorted(p for p in params if p.endswith(f"_{kind}"))
    assert suffixed, kind
    for param in suffixed:
        assert catalog.object_names(param) == (kind, names)
    # One layer per argument name, taking it: the check is by name, whatever the layer.
    for param in suffixed:
        key = next(k for k, e in catalog.layers.items() if e.param(param))
        correct = next(name for name in names if name.islower())
        typo = correct + "x"
        diagnostics = [d for d in _diagnostics(f"input 4 -> {key} {param}={typo}; adam; mse")]
        mine = [d for d in diagnostics if f"unknown {kind} `{typo}`" in d.message]
        assert len(mine) == 1, (param, key, diagnostics)
        assert mine[0].hint == f"did you mean `{correct}`?"
    from kdsl.semantics.catalog import INITIALIZER_RANKS

    for name in names:
        low, high = INITIALIZER_RANKS.get(name, (2, 2))  # (the STFT's are for its layer)
        if low <= 2 and (high is None or high >= 2):
            check_source(f"dense 1 kernel_{kind}={name} in 4; adam; mse")


def test_keras2_constraint_name_suggests_keras3s() -> None:
    (diagnostic,) = _diagnostics("dense 1 kernel_constraint=maxnorm in 4; adam; mse")
    assert diagnostic.message == "unknown constraint `maxnorm` for `kernel_constraint` of `dense`"
    assert diagnostic.hint == "did you mean `max_norm`?"
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 27)


@pytest.mark.parametrize("kind", ["initializer", "regularizer", "constraint"])
def test_object_arguments_refuse_numbers(kind: str) -> None:
    (diagnostic,) = _diagnostics(f"dense 1 bias_{kind}=3 in 4; adam; mse")
    assert f"`bias_{kind}` of `dense` is the name of" in diagnostic.message
    assert check_source(f"dense 1 bias_{kind}=none in 4; adam; mse")


def test_a_missing_semicolon_is_said_once_for_every_section_name() -> None:
    """A name of the section that follows, swallowed as an argument for want of a `;`:
    one error where the `;` goes, and no cascade (`unknown optimizer`, `no loss`)."""
    from kdsl.semantics.catalog import load

    catalog = load()
    cases = [(f"dense 1 in 4 {name}; mse", name, "an optimizer") for name in catalog.optimizers]
    cases += [(f"dense 1 in 4 relu {name} 0.1; mse", name, "an optimizer") for name in ("adam",)]
    losses = [*catalog.losses, *catalog.loss_aliases]
    cases += [(f"dense 1 in 4; adam {name}", name, "a loss") for name in losses]
    cases += [(f"dense 1 in 4; optimizer sgd {name}", name, "a loss") for name in losses[:3]]
    metrics = [*catalog.metrics, *catalog.metric_aliases]
    cases += [(f"dense 1 in 4; adam; mse {name}", name, "a metric") for name in metrics]
    for text, name, word in cases:
        diagnostics = _diagnostics(text)
        assert len(diagnostics) == 1, (text, diagnostics)
        (diagnostic,) = diagnostics
        assert diagnostic.message.startswith(f"`{name}` is {word}: "), text
        assert "probably missing before it" in diagnostic.message
        assert text[diagnostic.span.column - 1 :].startswith(name), text
        assert diagnostic.hint


def test_a_missing_semicolon_leaves_the_rest_checked() -> None:
    """The sections after the swallowed one keep their meaning: `dense 1 adam; mse` has
    `mse` as its loss, so a typo there is still an unknown loss."""
    messages = [d.message for d in _diagnostics("dense 1 in 4 adam; msee")]
    assert messages[0].startswith("`adam` is an optimizer")
    assert messages[1] == "unknown loss `msee`"


def test_a_number_where_the_activation_goes_names_the_keyword_meant() -> None:
    """`conv2d 64 5 (2, 2)` is Keras's positional strides; kdsl's third is the activation.
    For every layer taking a positional activation, a number or tuple there says so, and
    names Keras's argument at that place when it is another one."""
    from kdsl.semantics.catalog import POSITIONAL, load

    catalog = load()
    for key, positional in POSITIONAL.items():
        if "activation" not in positional:
            continue
        index = positional.index("activation")
        before = " ".join(["8"] * index)
        for value in ("(2, 2)", "2", "0.5"):
            text = f"input 8x8x8x3 -> {key} {before} {value}; adam; mse"
            found = [d for d in _diagnostics(text) if "is its activation" in d.message]
            assert len(found) == 1, (text, _diagnostics(text))
            assert found[0].message.endswith(f"is its activation, not `{value}`")
            keras_param = catalog.layers[key].params[index].name
            if keras_param != "activation":
                assert f"`{keras_param}={value}`" in found[0].hint, found[0].hint
    (conv,) = [
        d for d in _diagnostics("conv2d 64 5 (2, 2) in 28x28x1; adam; mse") if d.span.column == 13
    ]
    assert "third positional argument of `conv2d` is its activation" in conv.message
    assert "`strides=(2, 2)`" in conv.hint


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("dense {n} in 4; adam; mse", "`units` of `dense`"),
        ("dense 1 in (None, {n}); adam; mse", "a shape's size"),
        ("dense 1 in 4; adam {n}; mse", "`learning_rate` of `adam`"),
        ("dense 1 in 4; adam; mse; fit epochs={n}", "`epochs` of `fit`"),
        ("dense 1 in 4 -> dropout 0.1 noise_shape=(1, {n}); adam; mse", "`noise_shape` of"),
    ],
)
def test_a_number_too_large_says_so_and_for_what(text: str, what: str) -> None:
    for number, words in (("9" * 65, "a whole number of 65 digits"), ("1e999", "largest float")):
        diagnostics = _diagnostics(text.format(n=number))
        assert len(diagnostics) == 1, diagnostics
        (diagnostic,) = diagnostics
        assert f"is too large for {what}" in diagnostic.message
        assert words in diagnostic.message
        assert diagnostic.hint and diagnostic.span


@pytest.mark.parametrize("text", ["dense 1 in {n}; adam; mse", "input {n} -> dense 1; adam; mse"])
def test_a_whole_number_too_large_for_a_shape(text: str) -> None:
    (diagnostic,) = _diagnostics(text.format(n="9" * 65))
    assert diagnostic.message.endswith(
        "is too large for a shape's size: a whole number of 65 digits"
    )


def test_a_metric_listed_twice_is_a_warning() -> None:
    """The same metric twice, under one name or two (`mae`, `mean_absolute_error`), or the
    same metric object twice: a warning at the second; the model still compiles as written."""
    text = (
        "dense 1 in 4; adam; mse; metrics mae, auc, mean_absolute_error, "
        "auc num_thresholds=3, auc num_thresholds=3, mae"
    )
    diagnostics = _diagnostics(text)
    assert [d.severity for d in diagnostics] == ["warning"] * 3
    columns = [text[d.span.column - 1 :].split(",")[0] for d in diagnostics]
    assert columns == ["mean_absolute_error", "auc num_thresholds=3", "mae"]
    assert all("listed twice" in d.message and d.hint for d in diagnostics)
    assert len(check_source(text).metrics) == 6
    assert _diagnostics("dense 1 in 4; adam; mse; metrics mae, auc, auc num_thresholds=3") == []


def test_a_name_of_another_section_says_which_it_is() -> None:
    """An optimizer where the loss goes (sections swapped), a loss or an optimizer among
    the metrics, an optimizer joined to the layers by `->`: said as such, not as unknown."""
    from kdsl.semantics.catalog import load

    catalog = load()
    for loss in [*catalog.losses, *catalog.loss_aliases]:
        if loss in catalog.metrics or loss in catalog.metric_aliases:
            continue
        messages = [d.message for d in _diagnostics(f"dense 1 in 4; {loss}; adam")]
        assert messages == [
            f"`{loss}` is a loss, where the optimizer goes",
            "`adam` is an optimizer, where the loss goes",
        ]
    for optimizer in catalog.optimizers:
        (diagnostic,) = _diagnostics(f"dense 1 in 4; adam; mse; metrics mae, {optimizer}")
        assert diagnostic.message == f"`{optimizer}` is an optimizer, where the metric goes"
        (diagnostic,) = _diagnostics(f"dense 1 in 4 -> {optimizer}; mse")
        assert diagnostic.message == f"unknown layer `{optimizer}`"
        assert diagnostic.hint.startswith(f"`{optimizer}` is an optimizer: end the layers with `;`")
