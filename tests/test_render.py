"""Black runs only on the too-long lines of a script, and gives what it gives for the
whole script (render.format_long_lines)."""

from __future__ import annotations

import random

import black
import pytest

import kdsl
from kdsl.codegen.render import format_code, format_long_lines, render, render_unformatted
from kdsl.options import Mode

# Layers whose lines get too long, with the arguments that make them so.
LAYERS = [
    "dense 64 relu kernel_initializer=he_normal bias_initializer=zeros",
    "dense 128 activation=relu kernel_regularizer=l2 activity_regularizer=l1 use_bias=false",
    "dense 32 selu kernel_initializer=lecun_normal",
    "dropout 0.25 noise_shape=none seed=1",
    "batchnormalization momentum=0.9 epsilon=0.001 center=true scale=true",
    "dense 16 tanh kernel_initializer=glorot_uniform kernel_constraint=max_norm"
    ' name="a_rather_long_layer_name"',
    "dense 8",
]
OPTIMIZERS = [
    "adam",
    "adamw learning_rate=0.001 weight_decay=0.004 beta_1=0.9 beta_2=0.999 amsgrad=true",
]
METRICS = [
    "",
    "metrics accuracy;",
    "metrics accuracy, auc, precision, recall, mse, mae, top_k_categorical_accuracy;",
]
FITS = [
    "fit epochs=3",
    "fit epochs=3 batch_size=64 validation_split=0.1 shuffle=true early_stopping=3"
    " reduce_lr_on_plateau=2",
]


def program(rng: random.Random) -> str:
    layers = [rng.choice(LAYERS) for _ in range(rng.randint(0, 5))]
    layers.insert(rng.randint(0, len(layers)), LAYERS[1])  # at least one long line
    return (
        f"input 20 -> {' -> '.join(layers)} -> dense 3 softmax; {rng.choice(OPTIMIZERS)}; "
        f"categorical_crossentropy; {rng.choice(METRICS)} {rng.choice(FITS)}"
    )


@pytest.mark.parametrize("seed", range(40))
def test_formatting_the_long_lines_is_formatting_the_script(seed: int) -> None:
    rng = random.Random(seed)
    text = program(rng)
    for style in ("add", "constructor"):
        raw = render_unformatted(kdsl.check_source(text), Mode(style=style))
        assert max(map(len, raw.splitlines())) > 88, "the test needs a long line"
        assert format_long_lines(raw, Mode(style=style)) == format_code(raw, Mode(style=style))


@pytest.mark.parametrize("strategy", ["mirrored", "multi-worker"])
@pytest.mark.parametrize("seed", range(8))
def test_long_lines_in_the_strategy_scope_are_formatted_alone(seed: int, strategy: str) -> None:
    """Under `with strategy.scope():` too, black sees only the long lines (in the scope's
    block), and gives what it gives for the whole script."""
    text = program(random.Random(seed))
    for style in ("add", "constructor"):
        mode = Mode(style=style, strategy=strategy)
        raw = render_unformatted(kdsl.check_source(text), mode)
        assert max(map(len, raw.splitlines())) > 88, "the test needs a long line"
        assert format_long_lines(raw, mode) == format_code(raw, mode)


def test_black_sees_each_distinct_long_line_once(monkeypatch) -> None:
    long_layer = LAYERS[0]
    text = f"input 20 -> {' -> '.join([long_layer] * 1000)} -> dense 3 softmax; adam; mse"
    seen: list[str] = []
    format_str = black.format_str

    def recording(source: str, *, mode: black.Mode) -> str:
        seen.append(source)
        return format_str(source, mode=mode)

    monkeypatch.setattr(black, "format_str", recording)
    code = render(kdsl.check_source(text))
    assert len(seen) == 1
    assert len(seen[0].splitlines()) == 3  # `def _():`, the line, the end marker
    assert code.count('kernel_initializer="he_normal",\n') == 1000
    monkeypatch.undo()
    assert format_code(code) == code


def test_a_long_line_in_a_docstring_is_left_to_black() -> None:
    # Valid code, but inside a docstring: black leaves it, so must formatting by lines.
    code = 'def f():\n    """Call it so:\n\n    f(' + "argument, " * 10 + ')\n    """\n'
    assert format_long_lines(code) is None
    assert format_code(code) == code


@pytest.mark.parametrize("line_length", [70, 100, 120])
@pytest.mark.parametrize("strategy", [None, "mirrored"])
def test_another_line_length_is_what_black_gives(line_length: int, strategy: str | None) -> None:
    """The template is laid out for 88 columns; at another width black lays it out again."""
    model = kdsl.check_source(program(random.Random(0)))
    for style in ("add", "constructor"):
        mode = Mode(style=style, line_length=line_length, strategy=strategy)
        code = render(model, mode)
        assert format_code(code, mode) == code
        assert code == format_code(render_unformatted(model, mode), mode)


def test_every_template_line_fits_so_black_is_not_needed(monkeypatch) -> None:
    """Short programs compile without black, with every option the template has."""
    model = kdsl.check_source("dense 5 in 4 -> dense 3 softmax; adam; categorical_crossentropy")
    monkeypatch.setattr(black, "format_str", None)  # calling black would fail
    for style in ("add", "constructor"):
        for strategy in (None, "mirrored", "multi-worker"):
            for folder_data in (False, True):
                for explain in (False, True):
                    mode = Mode(style, strategy=strategy, folder_data=folder_data, explain=explain)
                    assert render(model, mode) == render_unformatted(model, mode)


@pytest.mark.parametrize("count", [1, 5, 9, 10, 12, 40])
@pytest.mark.parametrize("strategy", [None, "mirrored"])
@pytest.mark.parametrize("line_length", [70, 88])
def test_a_long_metrics_list_is_laid_out_as_black_lays_it_out(
    count: int, strategy: str | None, line_length: int
) -> None:
    """Long metric lists are written one a line, as black writes them (black on one very
    long line takes seconds): the script is what black makes of the list on one line."""
    metrics = ["auc num_thresholds=3", "accuracy", "precision name=a_rather_long_metric_name"]
    text = "dense 1 in 4; adam; mse; metrics " + ", ".join(metrics[i % 3] for i in range(count))
    model = kdsl.check_source(text)
    mode = Mode(strategy=strategy, line_length=line_length)
    code = render(model, mode)
    lines = render_unformatted(model, mode).split("\n")
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("metrics=["))
    last = first
    if lines[first].endswith("["):  # laid out one a line: join them back into one line
        last = next(i for i in range(first, len(lines)) if lines[i].strip() == "],")
        items = [line.strip().removesuffix(",") for line in lines[first + 1 : last]]
        lines[first] += ", ".join(items) + "],"
    one_line = "\n".join(lines[: first + 1] + lines[last + 1 :])
    assert code == format_code(one_line, mode)
    assert "metrics=[\n" in code or count < 10


def test_attention_layers_take_their_required_arguments_by_keyword() -> None:
    """As keras.io writes them (issue 13): `MultiHeadAttention(num_heads=4, key_dim=16)`,
    positional or keyword in the IR alike; other layers keep v1's positional rule."""
    from kdsl import ir
    from kdsl.codegen.render import expression

    positional = ir.KerasCall("layers", "MultiHeadAttention", (4, 16), (("dropout", 0.1),))
    keywords = ir.KerasCall("layers", "MultiHeadAttention", (), (("num_heads", 4), ("key_dim", 16)))
    written = "layers.MultiHeadAttention(num_heads=4, key_dim=16"
    assert expression(positional, "layers.") == written + ", dropout=0.1)"
    assert expression(keywords, "layers.") == written + ")"
    gqa = ir.KerasCall("layers", "GroupedQueryAttention", (8, 4, 2))
    assert expression(gqa) == (
        "GroupedQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=2)"
    )
    assert expression(ir.KerasCall("layers", "Dense", (4,))) == "Dense(4)"


# `mode` takes any string: text the script holds as a literal.
NON_ASCII = ["naïve café", "ﬁle 𝕖𝕧𝕒𝕝", "é" * 100, "日本語", "e\u0301" * 60]


@pytest.mark.parametrize("text", NON_ASCII)
@pytest.mark.parametrize("strategy", [None, "mirrored"])
def test_non_ascii_text_is_laid_out_as_black_would(text: str, strategy: str | None) -> None:
    """One-column characters are laid out as ASCII is (black sees the long lines alone);
    wide or combining ones go to black whole: either way, what black gives the script."""
    model = kdsl.check_source(f'randomflip mode="{text}" in 4x4x3 -> flatten -> dense 1; adam; mse')
    for style in ("add", "constructor", "functional"):
        mode = Mode(style=style, strategy=strategy)
        assert render(model, mode) == format_code(render_unformatted(model, mode), mode)


def test_short_one_column_non_ascii_text_needs_no_black(monkeypatch) -> None:
    def refuse(source: str, *, mode: black.Mode) -> str:
        raise AssertionError("black was called")

    model = kdsl.check_source(
        'randomflip mode="naïve ﬁle" in 4x4x3 -> flatten -> dense 1; adam; mse'
    )
    monkeypatch.setattr(black, "format_str", refuse)
    assert 'RandomFlip(mode="naïve ﬁle")' in render(model)


@pytest.mark.parametrize("seed", range(20))
def test_a_long_line_is_found_where_splitlines_ends_lines(seed: int) -> None:
    """`render` sends a script to black when one of its lines (as `str.splitlines` ends
    them, in ASCII text) is longer than the template's 88 columns: lines ended by `\\n`
    alone (the quick walk) or by any of the others (the regex)."""
    from kdsl.codegen.render import has_long_line

    rng = random.Random(seed)
    for ends in ("\n", "\n\r\x0b\x0c\x1c\x1d\x1e"):
        for _ in range(200):
            lines = [
                "x" * rng.choice((0, 1, 40, 87, 88, 89, 90, 200)) for _ in range(rng.randint(0, 6))
            ]
            text = "".join(line + rng.choice(ends) for line in lines)
            text += "y" * rng.choice((0, 88, 89))
            expected = any(len(line) > 88 for line in text.splitlines())
            assert has_long_line(text) == expected, repr(text)
