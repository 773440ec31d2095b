"""Values beyond v1's literals (issue 14): arithmetic folded as Python folds it, Keras
objects built as values (`l2(0.01)`), dicts; their parsing, checking, rendering and
formatting, and (slow) the objects as real Keras builds them."""

from __future__ import annotations

import math
import random

import pytest

import kdsl

OPERATORS = ("+", "-", "*", "/", "//", "%", "**")


def _layer_value(text: str) -> object:
    """The folded value of `text` as the scale of `rescaling`, which takes any number
    (gaussiannoise's stddev, as Keras checks it, is from 0 to 1)."""
    model = kdsl.check_source(f"input 4 -> rescaling {text}; adam; mse")
    (value,) = model.nodes[0].call.args
    return value


def _random_expression(rng: random.Random, depth: int, spaced: bool) -> str:
    """An expression of small ints and floats, every operator and unary minus, parenthesized
    where Python would need it, glued (`1/2`) or spaced (`(1 / 2)`)."""
    if depth == 0 or rng.random() < 0.3:
        number = rng.choice([rng.randint(0, 9), round(rng.uniform(0.1, 9), 2)])
        return str(number)
    op = rng.choice(OPERATORS)
    left = _random_expression(rng, depth - 1, spaced)
    right = _random_expression(rng, depth - 1, spaced)
    if op == "**":
        right = str(rng.randint(0, 3))
    space = " " if spaced else ""
    text = (
        f"({left}){space}{op}{space}({right})"
        if rng.random() < 0.5
        else f"{left}{space}{op}{space}{right}"
    )
    return f"-({text})" if rng.random() < 0.15 else text


@pytest.mark.parametrize("spaced", [False, True])
def test_arithmetic_folds_as_python_evaluates(spaced: bool) -> None:
    """Precedence, associativity, int/float, `//`, `%` and `**` exactly as Python: random
    expressions folded by the checker equal Python's `eval` of the same text."""
    rng = random.Random(14)
    checked = 0
    for _ in range(300):
        text = _random_expression(rng, 3, spaced)
        if spaced:  # in parentheses, as spaced operators must be; `0 +` so never `(3)`
            text = f"0 + {text}"
        try:
            expected = eval(text)  # noqa: S307 - digits and operators made above
        except (ZeroDivisionError, OverflowError):
            continue
        if isinstance(expected, complex) or abs(expected) > 1e12:
            continue
        written = f"({text})" if spaced else text
        value = _layer_value(written)
        assert type(value) is type(expected), (text, value, expected)
        assert value == expected or math.isclose(value, expected), (text, value, expected)
        checked += 1
    assert checked > 150


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1/255", 1 / 255),
        ("2**10", 1024),
        ("-1e-3", -0.001),
        ("4*8", 32),
        ("-2**2", -4),  # Python: -(2**2)
        ("(-2)**2", 4),
        ("2**-1", 0.5),
        ("2**3**2", 512),  # right-associative
        ("7//2", 3),
        ("-7//2", -4),
        ("7%3", 1),
        ("(1 - 0.5) / 2", 0.25),
        ("-(4*8)", -32),
        ("10-2-3", 5),  # left-associative
    ],
)
def test_arithmetic_examples(written: str, expected: float) -> None:
    value = _layer_value(written if " " not in written else f"({written})")
    assert value == expected and type(value) is type(expected)


def test_integers_stay_integers_where_keras_needs_them() -> None:
    model = kdsl.check_source("input 4 -> dense 4*8 -> dense 64//2 -> dense 2**3; adam; mse")
    assert [node.call.args[0] for node in model.nodes] == [32, 32, 8]
    assert all(type(node.call.args[0]) is int for node in model.nodes)
    (error,) = kdsl.check("input 4 -> dense 64/2; adam; mse")
    assert "not `32.0`" in error.message and "divide whole numbers with `//`" in error.hint


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1/0", "divides by zero"),
        ("1//0", "divides by zero"),
        ("1%0", "divides by zero"),
        ("0**-1", "divides by zero"),
        ("10**64", "too large"),
        ("9**99999999", "too large"),  # refused before it is computed
        ("1e308*10", "too large"),
        ("2.0**5000", "too large"),
        ("(-8)**0.5", "not a real number"),
        ("4*relu", "arithmetic takes numbers"),
        ('(2 * "a")', "arithmetic takes numbers"),
        ("2*(1, 2)", "arithmetic takes numbers"),
        ("-l2(0.1)", "arithmetic takes numbers"),
    ],
)
def test_arithmetic_errors_point_at_the_expression(value: str, message: str) -> None:
    diagnostics = kdsl.check(f"input 4 -> rescaling {value}; adam; mse")
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors and message in errors[0].message, errors
    assert errors[0].span is not None and errors[0].span.column >= 22 and errors[0].hint


def test_long_arithmetic_is_refused_before_parsing_deeply() -> None:
    text = "input 4 -> rescaling " + "+".join(["1"] * 5000) + "; adam; mse"
    (error,) = kdsl.check(text)
    assert "more than 64 operators" in error.message
    # Operators inside brackets count toward the whole value, commas or not: a tree as
    # deep as 15 nested groups of 60 operators would exhaust Python's recursion.
    nested = "1"
    for _ in range(15):
        nested = f"({nested}{'+1' * 60}, 2)"
    (error,) = kdsl.check(f"input 4 -> rescaling {nested}; adam; mse")
    assert "more than 64 operators" in error.message
    # Many values with a few operators each are fine.
    kdsl.check_source("input 4 -> dense 1+1 " + "-> dense 2*2 " * 200 + "; adam; mse")


def test_v1_meanings_are_kept() -> None:
    """`(3)` is v1's one-item tuple, `4 -1` two arguments, `relu (2, 2)` a name then a
    tuple; only glued operators and glued calls are new."""
    program = kdsl.parse("input 4 -> reshape (4) -> conv2d 32 (3, 3) relu (2, 2) x=4 -1")
    reshape, conv = program.layers[1:]
    assert [type(a.value).__name__ for a in reshape.args] == ["Tuple"]
    assert [type(a.value).__name__ for a in conv.args] == [
        "Number",
        "Tuple",
        "Name",
        "Tuple",
        "Number",
        "Number",
    ]


def test_a_spaced_operator_outside_parentheses_is_left_to_repetition() -> None:
    """`dense 64 * 2` is the graph language's repetition (two layers of 64), not 128
    units; another spaced operator is a syntax error that says how to write it."""
    program = "input 4 -> dense 64 * 2 -> dense 1; adam; mse"
    assert kdsl.compile(program).count("Dense(64)") == 2  # a chain: Sequential, expanded
    functional = kdsl.compile(program, style="functional")
    assert functional.count("layers.Dense(64)") == 1 and "for _ in range(2):" in functional
    (error,) = kdsl.check("input 4 -> dense 64 + 2; adam; mse")
    assert "unexpected `+`" in error.message and "without spaces" in error.hint


# -- Keras objects as values ----------------------------------------------------------------

OBJECTS = [
    ("kernel_regularizer=l2(0.01)", "keras.regularizers.L2(0.01)"),
    ("kernel_regularizer=L2(l2=1e-4)", "keras.regularizers.L2(l2=0.0001)"),
    ("kernel_regularizer=l1_l2(l1=0.01, l2=0.01)", "keras.regularizers.L1L2(l1=0.01, l2=0.01)"),
    (
        "kernel_initializer=random_normal(stddev=0.001)",
        "keras.initializers.RandomNormal(stddev=0.001)",
    ),
    ("kernel_initializer=he_normal(seed=1)", "keras.initializers.HeNormal(seed=1)"),
    ("kernel_initializer=constant(1/4)", "keras.initializers.Constant(0.25)"),
    ("kernel_constraint=max_norm(3)", "keras.constraints.MaxNorm(3)"),
    ("bias_constraint=non_neg()", "keras.constraints.NonNeg()"),
    ("kernel_regularizer=l2", '"l2"'),  # a bare name keeps its v1 meaning
]


@pytest.mark.parametrize(("written", "rendered"), OBJECTS)
def test_objects_render_as_keras_constructors(written: str, rendered: str) -> None:
    script = kdsl.compile_source(f"input 4 -> dense 3 {written}; adam; mse")
    name = written.split("=", 1)[0]
    assert f"{name}={rendered}" in script


SCHEDULES = [
    "exponential_decay(0.01, decay_steps=1000, decay_rate=0.9)",
    "cosine_decay(0.01, 1000)",
    "piecewise_constant_decay(boundaries=(100, 200), values=(0.1, 0.01, 0.001))",
    "inverse_time_decay(0.1, 10, 0.5, staircase=true)",
    "polynomial_decay(0.1, 100)",
    "cosine_decay_restarts(0.1, 100)",
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_are_the_optimizers_learning_rate(schedule: str) -> None:
    for optimizer in (f"adam {schedule}", f"sgd learning_rate={schedule}"):
        script = kdsl.compile_source(f"input 4 -> dense 1; {optimizer}; mse")
        assert "learning_rate=keras.optimizers.schedules." in script


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("dense 3 kernel_regularizer=l3(0.1)", "unknown initializer, regularizer"),
        ("dense 3 kernel_initializer=l2(0.1)", "is a regularizer, but `kernel_initializer`"),
        ("dense 3 kernel_regularizer=exponential_decay(0.1, 1, 1)", "is a learning-rate schedule"),
        ("dense 3 use_bias=l2(0.1)", "takes no Keras object"),
        ("dense 3 kernel_initializer=random_normal(stdev=1)", "did you mean `stddev`?"),
        ("dense 3 kernel_initializer=random_normal(stddev=relu)", "is a number like `0.05`"),
        ("dense 3 kernel_regularizer=l2(0.1, 0.2)", "at most 1 positional argument"),
        ("dense 3 kernel_regularizer=l2(l2=0.1, l2=0.2)", "given twice"),
        ("dense 3 kernel_regularizer=l1_l2(l1=0.1, 0.2)", "after a keyword one"),
        ("dense 3 kernel_regularizer=l2(l1(0.1))", "not a call or a dict"),
        ("dense 3 bias_constraint={1: 2}", "does not take a dict"),
    ],
)
def test_object_errors(program: str, message: str) -> None:
    errors = [d for d in kdsl.check(f"input 4 -> {program}; adam; mse") if d.severity == "error"]
    assert errors and message in errors[0].message + " " + errors[0].hint, errors
    assert errors[0].span is not None


def test_a_schedule_needs_its_arguments() -> None:
    (error,) = kdsl.check("input 4 -> dense 1; adam exponential_decay(0.01); mse")
    assert "needs `decay_steps` and `decay_rate`" in error.message


def test_fmt_keeps_values_and_their_meaning() -> None:
    text = (
        "input 4 -> rescaling 1/255 -> dense (4 *  8) kernel_regularizer=l1_l2(l1=0.01,l2=2*3)"
        " -> dropout -(1-2)/4;adam exponential_decay(0.1,decay_steps=10,decay_rate=0.5);mse;"
        "fit epochs=(2+3)\n"
    )
    formatted = kdsl.format(text)
    assert "rescaling 1/255" in formatted and "dense (4 * 8)" in formatted
    assert "l1_l2(l1=0.01, l2=2 * 3)" in formatted and "dropout -(1 - 2)/4" in formatted
    assert "epochs=(2 + 3)" in formatted
    assert kdsl.format(formatted) == formatted
    assert kdsl.compile_source(formatted) == kdsl.compile_source(text)


@pytest.mark.slow
def test_objects_are_what_keras_builds() -> None:
    """The rendered objects, built by real Keras, hold the arguments written."""
    import keras
    import numpy as np

    script = kdsl.compile_source(
        "input 4 -> rescaling 1/255"
        " -> dense 2*4 relu kernel_regularizer=l1_l2(l1=0.01, l2=2e-3)"
        " kernel_initializer=random_normal(stddev=0.001, seed=1) kernel_constraint=max_norm(3)"
        " bias_initializer=constant(1/4) -> dense 1;"
        " adam exponential_decay(0.01, decay_steps=1000, decay_rate=0.9); mse"
    )
    namespace: dict = {}
    exec(compile(script, "<script>", "exec"), namespace)  # noqa: S102 - kdsl's own output
    model = namespace["build_model"]()
    rescaling, dense = model.layers[0], model.layers[1]
    assert rescaling.scale == pytest.approx(1 / 255)
    assert dense.units == 8
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L1L2)
    assert dense.kernel_regularizer.l2 == pytest.approx(2e-3)
    assert isinstance(dense.kernel_initializer, keras.initializers.RandomNormal)
    assert dense.kernel_initializer.stddev == 0.001
    assert dense.kernel_constraint.max_value == 3
    assert np.allclose(dense.bias.numpy(), 0.25)
    schedule = model.optimizer._learning_rate  # `learning_rate` is the current value
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert schedule.decay_steps == 1000
    # One step of training runs with all of it.
    model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0)


def test_explain_comments_write_objects_as_the_program_does() -> None:
    script = kdsl.compile_source(
        "input 4 -> dense 1 kernel_regularizer=l2(0.01);"
        " adam exponential_decay(0.01, decay_steps=1000, decay_rate=0.9); mse",
        explain=True,
    )
    assert "exponential_decay(0.01, decay_steps=1000, decay_rate=0.9)" in script
    assert "KerasCall(" not in script and "Span(" not in script
