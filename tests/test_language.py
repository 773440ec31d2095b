"""The v1 language contract (docs/language.md), checked on the IR: no TensorFlow needed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdsl import check_source, compile_source, ir
from kdsl.errors import KdslError, SourceError
from kdsl.render import literal

TUTORIAL = "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy"


def layers(text: str) -> list[tuple]:
    return [(c.class_name, c.args, c.kwargs) for c in check_source(text).layers]


def test_tutorial_compiles_verbatim() -> None:
    model = check_source(TUTORIAL)
    assert model.input_shape == (4,)
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
    assert check_source(f"activation relu in {shape}; sgd; mse").input_shape == expected
    assert check_source(f"input {shape} -> activation relu; sgd; mse").input_shape == expected


def test_input_element_with_dtype() -> None:
    model = check_source("input 10 dtype=int32 -> embedding 100 8 -> flatten -> dense 1; sgd; mse")
    assert model.input_shape == (10,)
    assert model.input_kwargs == (("dtype", "int32"),)


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
    # noise_shape takes anything (its default is None): a neutral carrier for a value.
    model = check_source(f"input 4 -> dropout 0.5 noise_shape={text}; sgd; mse")
    assert model.layers[0].kwarg("noise_shape") == value


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
