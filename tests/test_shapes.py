"""kdsl's static shapes and parameter counts equal what Keras reports for the built model.

Checked for every example and golden, and for a family of random models generated with
hypothesis over the layers kdsl has shape rules for: when kdsl accepts a model, Keras
builds it with the same shapes and counts; when kdsl finds a shape error, Keras refuses.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest
from golden_cases import case_id, programs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdsl.codegen.render import render
from kdsl.errors import Source, SourceError
from kdsl.language.parser import parse
from kdsl.semantics.catalog import load
from kdsl.semantics.checker import _resolve, analyze
from kdsl.train.runner import import_keras

keras = import_keras()


def static(text: str):
    source = Source("model.k", text)
    return analyze(parse(source), source)[1]


def built(text: str):
    """The Keras model, rendered without kdsl's shape checks so Keras can judge it alone."""
    source = Source("model.k", text)
    namespace: dict = {"__name__": "generated"}
    exec(render(_resolve(parse(source), source, load())), namespace)
    # The name counters reset, without a full collection (0.2 s of CPU with TensorFlow).
    keras.backend.clear_session(free_memory=False)
    return namespace["build_model"]()


def keras_rows(model) -> list[tuple]:
    rows = []
    for layer in model.layers:
        trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
        non_trainable = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
        rows.append(
            (layer.name, type(layer).__name__, tuple(layer.output.shape), trainable, non_trainable)
        )
    return rows


def kdsl_rows(summary) -> list[tuple]:
    return [
        (r.name, r.class_name, r.output_shape, r.trainable, r.non_trainable) for r in summary.rows
    ]


def assert_same(text: str) -> None:
    summary = static(text)
    model = built(text)
    assert kdsl_rows(summary) == keras_rows(model)
    assert summary.total() == model.count_params()
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert summary.total("trainable") == trainable
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert summary.total("non_trainable") == non_trainable


@pytest.mark.parametrize("program", programs(), ids=case_id)
def test_examples_and_goldens(program: Path) -> None:
    assert_same(program.read_text())


MODELS = {
    "conv1d_causal": "input 50x3 -> conv1d 8 5 relu padding=causal strides=2 -> maxpool1d 2 "
    "-> gap1d -> dense 1",
    "conv2d_strides": "input 32x32x3 -> conv2d 16 5 strides=2 dilation_rate=1 -> "
    "conv2d 8 (3, 1) padding=same use_bias=false -> flatten -> dense 4",
    "dilated": "input 40x40x1 -> conv2d 4 3 dilation_rate=2 -> avgpool2d 3 strides=2 "
    "padding=same -> gmp2d -> dense 1",
    "grouped": "input 16x16x8 -> conv2d 16 3 groups=4 -> gap2d -> dense 2",
    "separable_depthwise": "input 20x20x4 -> separableconv2d 8 3 depth_multiplier=2 -> "
    "depthwiseconv2d 3 depth_multiplier=3 -> gap2d -> dense 1",
    "transpose": "input 7x7x4 -> conv2dtranspose 8 3 strides=2 -> conv2dtranspose 2 4 "
    "strides=2 padding=same -> conv2d 4 3 data_format=channels_last -> flatten "
    "-> dense 1",
    "transpose_1d_3d": "input 10x2 -> conv1dtranspose 3 2 strides=3 -> flatten -> reshape "
    "(5, 3, 2, 3) -> conv3dtranspose 2 2 -> conv3d 1 2 -> flatten -> dense 1",
    "pool3d": "input 8x8x8x2 -> maxpool3d 2 -> avgpool3d (2, 1, 2) -> gap3d -> dense 1",
    "padding_cropping": "input 10x10x3 -> zeropadding2d 2 -> cropping2d ((1, 0), (2, 3)) -> "
    "zeropadding2d ((1, 2), (3, 4)) -> upsampling2d 2 -> flatten -> dense 1",
    "padding_1d_3d": "input 6x2 -> zeropadding1d (1, 3) -> cropping1d 2 -> upsampling1d 3 -> "
    "flatten -> reshape 3x3x2x2 -> zeropadding3d 1 -> cropping3d 1 -> "
    "upsampling3d 2 -> flatten -> dense 1",
    "norms": "input 6x5 -> layernorm -> batchnorm center=false -> groupnorm groups=5 "
    "-> unitnorm -> flatten -> dense 2",
    "rnns": "input (None, 7) -> simplernn 4 return_sequences=true -> gru 5 return_sequences=true "
    "-> gru 3 reset_after=false return_sequences=true -> lstm 6 -> dense 1",
    "wrappers": "input 9x4 -> bidirectional gru 3 return_sequences=true merge_mode=sum -> "
    "bidirectional lstm 2 -> repeatvector 3 -> timedistributed dense 5 -> flatten "
    "-> dense 1",
    "timedistributed_conv": "input 4x8x8x1 -> timedistributed conv2d 2 3 -> "
    "timedistributed flatten -> lstm 3 -> dense 1",
    "reshape_permute": "input 6x4 -> permute (2, 1) -> reshape (-1, 2) -> flatten -> dense 1",
    "activations_and_noise": "input 12 -> dense 8 -> leakyrelu 0.1 -> prelu -> elu -> relu "
    "-> gaussiannoise 0.1 -> activation tanh -> dropout 0.5 -> "
    "alphadropout 0.1 -> gaussiandropout 0.2 -> dense 1",
    "prelu_shared": "input 5x5x3 -> prelu shared_axes=(1, 2) -> flatten -> dense 1",
    "spatial_dropout": "input 10x3 -> spatialdropout1d 0.2 -> flatten -> dense 1",
    "image_preprocessing": "input 32x32x3 -> rescaling 0.0039 -> resizing 16 16 -> "
    "centercrop 12 12 -> randomflip -> randomcrop 8 8 -> flatten -> dense 1",
    "keepdims": "input 5x5x2 -> gap2d keepdims=true -> flatten -> dense 1",
    "embedding": "input 12 dtype=int32 -> embedding 50 4 -> conv1d 3 3 -> gmp1d -> dense 1",
}


@pytest.mark.parametrize("body", MODELS.values(), ids=MODELS.keys())
def test_layer_rules_match_keras(body: str) -> None:
    assert_same(f"{body}; adam; mse")


SHAPE_ERRORS = {
    "conv2d_after_flatten": "input 8x8x1 -> flatten -> conv2d 4 3",
    "lstm_on_vectors": "input 10 -> lstm 4",
    "maxpool2d_on_vector": "input 10 -> maxpool2d 2",
    "valid_conv_too_small": "input 4x4x1 -> conv2d 2 5",
    "pool_too_small": "input 3x3x1 -> conv2d 2 3 -> maxpool2d 2",
    "reshape_count": "input 10 -> reshape (3, 3)",
    "crop_too_much": "input 4x4x1 -> cropping2d 2",
    "conv_groups_channels": "input 6x6x6 -> conv2d 8 3 groups=4",
    "conv_groups_filters": "input 6x6x4 -> conv2d 6 3 groups=4",
    "groupnorm_groups": "input 6x6 -> groupnorm groups=4",
}


@pytest.mark.parametrize("body", SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys())
def test_shape_errors_are_keras_errors(body: str) -> None:
    text = f"{body} -> flatten -> dense 1; adam; mse"
    with pytest.raises(SourceError):
        static(text)
    with pytest.raises((ValueError, TypeError)):
        built(text)


# -- random models --------------------------------------------------------------------

VECTOR = [
    "dense {units} {act}",
    "dropout 0.{digit}",
    "batchnorm",
    "layernorm",
    "activation {act}",
    "gaussiannoise 0.1",
    "repeatvector {small}",
    "unitnorm",
]
SEQUENCE = [
    "conv1d {units} {kernel} padding={pad}",
    "maxpool1d {small} padding={pad}",
    "lstm {units} return_sequences=true",
    "gru {units} return_sequences=true",
    "simplernn {units} return_sequences=true",
    "gap1d",
    "flatten",
    "zeropadding1d {small}",
    "upsampling1d {small}",
    "dense {units} {act}",
    "bidirectional lstm {units} return_sequences=true",
    "spatialdropout1d 0.1",
    "timedistributed dense {units}",
    "lstm {units}",
    "cropping1d 1",
]
IMAGE = [
    "conv2d {units} {kernel} {act} padding={pad}",
    "maxpool2d {small} padding={pad}",
    "avgpool2d {small}",
    "gap2d",
    "gmp2d",
    "flatten",
    "batchnorm",
    "upsampling2d {small}",
    "zeropadding2d {small}",
    "conv2dtranspose {units} {kernel} strides={small}",
    "separableconv2d {units} {kernel}",
    "depthwiseconv2d {kernel}",
    "cropping2d 1",
    "dense {units}",
]


@st.composite
def random_model(draw) -> str:
    rank = draw(st.sampled_from([1, 2, 3]))
    dims = [draw(st.integers(1, 12)) for _ in range(rank)]
    parts = [f"input {'x'.join(map(str, dims))}"]
    shape_rank = rank
    for _ in range(draw(st.integers(1, 5))):
        pool = {1: VECTOR, 2: SEQUENCE, 3: IMAGE}.get(shape_rank, VECTOR)
        template = draw(st.sampled_from(pool))
        layer = template.format(
            units=draw(st.integers(1, 6)),
            act=draw(st.sampled_from(["relu", "tanh", "sigmoid"])),
            digit=draw(st.integers(0, 9)),
            small=draw(st.integers(1, 3)),
            kernel=draw(st.integers(1, 4)),
            pad=draw(st.sampled_from(["valid", "same"])),
        )
        parts.append(layer)
        if layer.startswith(("flatten", "gap", "gmp")) or (
            layer.startswith(("lstm", "gru", "simplernn")) and "return_sequences" not in layer
        ):
            shape_rank = 1
        elif layer.startswith("repeatvector"):
            shape_rank = 2
    parts.append("flatten")
    parts.append("dense 2")
    return " -> ".join(parts) + "; adam; mse"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_model())
def test_random_models_agree_with_keras(text: str) -> None:
    try:
        summary = static(text)
    except SourceError as error:
        messages = [d.message for d in error.diagnostics]
        try:
            built(text)
        except (ValueError, TypeError):
            return  # both refuse
        raise AssertionError(f"kdsl refused what Keras builds: {messages}\n{text}") from None
    model = built(text)
    assert kdsl_rows(summary) == keras_rows(model), text
    assert summary.total() == model.count_params()
    # Called eagerly: `predict` would trace a new function for every model (seconds each).
    predictions = np.asarray(model(np.zeros((1, *model.input_shape[1:]), "float32")))
    assert predictions.shape[1:] == summary.output_shape[1:]


REVIEW_MODELS = {
    "normalization_to_adapt": "input 4 -> normalization -> dense 1",
    "normalization_given": "input 4 -> normalization mean=0.5 variance=2.0 -> dense 1",
    "normalization_no_axis": "input 4 -> normalization axis=none -> dense 1",
    "dense_lora": "input 4 -> dense 8 lora_rank=2 -> dense 1",
    "embedding_lora": "input 4 dtype=int32 -> embedding 10 8 lora_rank=2 -> flatten -> dense 1",
    "spectral_transpose": "input 6x6x3 -> spectralnormalization conv2dtranspose 4 3 -> flatten "
    "-> dense 1",
    "groupnorm_per_channel": "input 6x4 -> groupnormalization groups=-1 -> flatten -> dense 1",
}


@pytest.mark.parametrize("body", REVIEW_MODELS.values(), ids=REVIEW_MODELS.keys())
def test_parameter_rules_found_in_review(body: str) -> None:
    assert_same(f"{body}; adam; mse")


# -- the output against the loss --------------------------------------------------------

ONE_UNIT_ACTIVATIONS = ["sigmoid", "linear", "tanh", "softplus"]
ONE_CLASS_LOSSES = {
    "categorical_crossentropy": "categorical_crossentropy",
    "categorical_crossentropy_logits": "categorical_crossentropy from_logits=true",
    "categorical_focal_crossentropy": "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "sparse_categorical_crossentropy_logits": "sparse_categorical_crossentropy from_logits=true",
}


@pytest.mark.parametrize("activation", ONE_UNIT_ACTIVATIONS)
@pytest.mark.parametrize("loss", ONE_CLASS_LOSSES.values(), ids=ONE_CLASS_LOSSES.keys())
def test_one_unit_under_a_categorical_loss_is_refused(activation: str, loss: str) -> None:
    """Keras's own loss is 0 with no gradient over one unit, whatever the activation: the
    model cannot learn, so kdsl refuses it (and names the loss and the fix)."""
    import tensorflow as tf

    text = f"input 3 -> dense 4 tanh -> dense 1 {activation}; adam; {loss}"
    with pytest.raises(SourceError) as refused:
        static(text)
    (problem,) = refused.value.diagnostics
    assert "1 output unit" in problem.message
    assert f"`{loss.split()[0]}`" in problem.message
    assert "binary_crossentropy" in problem.hint

    model = built(text)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    # The only labels one unit can hold: class 0, one-hot or as an id.
    y = np.zeros((8,), "int32") if loss.startswith("sparse") else np.ones((8, 1), "float32")
    with tf.GradientTape() as tape:
        value = keras.ops.mean(keras.losses.get(model.loss)(y, model(x)))
    gradients = tape.gradient(value, model.trainable_weights)
    assert float(value) == pytest.approx(0.0, abs=1e-5)
    assert all(np.allclose(g, 0.0, atol=1e-5) for g in gradients if g is not None)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse", "hinge"])
def test_one_unit_under_other_losses_is_fine(loss: str) -> None:
    assert static(f"input 3 -> dense 1 sigmoid; adam; {loss}").output_shape == (None, 1)


# -- frozen layers ----------------------------------------------------------------------

FROZEN_MODELS = {  # `trainable=false`, and a control
    "dense": "input 3 -> dense 4 trainable=false -> dense 1",
    "dense_lora": "input 4 -> dense 8 lora_rank=2 trainable=false -> dense 1",
    "embedding": "input 6 dtype=int32 -> embedding 20 4 trainable=false -> flatten -> dense 1",
    "conv2d": "input 6x6x2 -> conv2d 3 3 trainable=false -> flatten -> dense 1",
    "batchnorm": "input 5 -> batchnorm trainable=false -> dense 1",
    "layernorm_groupnorm": "input 4x6 -> layernorm trainable=false -> groupnorm groups=3 "
    "trainable=false -> flatten -> dense 1",
    "lstm": "input 5x3 -> lstm 4 trainable=false -> dense 1",
    "trainable_true": "input 3 -> dense 4 trainable=true -> batchnorm -> dense 1",
}


@pytest.mark.parametrize("body", FROZEN_MODELS.values(), ids=FROZEN_MODELS.keys())
def test_frozen_layers_count_as_non_trainable(body: str) -> None:
    """`trainable=false` moves every weight of the layer to non-trainable, per layer and in
    the totals, as Keras counts them."""
    assert_same(f"{body}; adam; mse")


FROZEN_WRAPPERS = {
    "bidirectional": "input 5x3 -> bidirectional lstm 4 trainable=false -> dense 1",
    "bidirectional_sum": "input 5x3 -> bidirectional gru 2 merge_mode=sum trainable=false "
    "-> dense 1",
    "timedistributed": "input 5x3 -> timedistributed dense 4 trainable=false -> flatten -> dense 1",
    "spectral": "input 4 -> spectralnormalization dense 3 trainable=false -> dense 1",
}


@pytest.mark.parametrize("body", FROZEN_WRAPPERS.values(), ids=FROZEN_WRAPPERS.keys())
def test_trainable_false_on_a_wrapper_is_a_warning(body: str) -> None:
    """Keras 3 puts `trainable=False` on the wrapper only: the wrapped layer still trains.
    kdsl counts what `fit` trains, as the model's totals do, and warns."""
    text = f"{body}; adam; mse"
    summary = static(text)
    (warning,) = summary.diagnostics
    assert warning.severity == "warning"
    assert "does not freeze" in warning.message and warning.hint
    model = built(text)
    assert summary.total("trainable") == sum(math.prod(w.shape) for w in model.trainable_weights)
    assert summary.total("non_trainable") == sum(
        math.prod(w.shape) for w in model.non_trainable_weights
    )
    wrapped = [w.numpy().copy() for w in model.layers[0].trainable_variables or []]
    before = [w.numpy().copy() for w in model.layers[0].weights]
    model.compile("sgd", "mse", run_eagerly=True)  # one step: no graph to trace
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, *model.input_shape[1:])).astype("float32")
    model.fit(x, rng.normal(size=(8, 1)).astype("float32"), epochs=1, verbose=0)
    assert not wrapped  # the wrapper itself reports no trainable weights...
    after = [w.numpy() for w in model.layers[0].weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))  # ...yet trains


# -- messages ---------------------------------------------------------------------------

SHAPES_SOURCE = Path(__file__).parent.parent / "kdsl" / "semantics" / "shapes.py"


def _problem_calls():
    """Every `ShapeProblem(...)` and `Diagnostic(...)` written in kdsl/semantics/shapes.py."""
    tree = ast.parse(SHAPES_SOURCE.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "ShapeProblem",
            "Diagnostic",
        ):
            yield node


def test_every_shape_diagnostic_has_a_hint() -> None:
    """The hint is ShapeProblem's second argument and Diagnostic's third."""
    missing = []
    for call in _problem_calls():
        position = 1 if call.func.id == "ShapeProblem" else 2
        given = len(call.args) > position or any(k.arg == "hint" for k in call.keywords)
        if not given:
            missing.append(f"shapes.py:{call.lineno}")
    assert not missing, f"diagnostics without a hint: {missing}"


def test_no_shape_message_spells_a_layer_kind() -> None:
    """A message names the layer as the user wrote it (`{layer.name}`), never a kind
    spelled out in the source, which is wrong for an alias (`groupnorm`)."""
    catalog = load()
    kinds = {*catalog.layers, *catalog.layer_aliases}
    spelled = []
    for call in _problem_calls():
        message = call.args[0] if call.args else None
        texts = [n.value for n in ast.walk(message) if isinstance(n, ast.Constant)]
        for text in texts:
            if not isinstance(text, str):
                continue
            for word in re.findall(r"`([a-z0-9_]+)", text):
                if word in kinds:
                    spelled.append(f"shapes.py:{call.lineno}: `{word}`")
    assert not spelled, spelled


ALIASED_ERRORS = {
    "groupnorm": "input 6x4 -> {kind} groups=3",
    "batchnorm": "input 4 -> {kind} axis=3",
    "layernorm": "input 4 -> {kind} axis=5",
    "maxpool2d": "input 10 -> {kind} 2",
    "gap1d": "input 10 -> {kind}",
    "rnn": "input 10 -> {kind} 4",
    "avgpool1d": "input 3x2 -> {kind} 5",
}


@pytest.mark.parametrize("alias", ALIASED_ERRORS, ids=ALIASED_ERRORS.keys())
@pytest.mark.parametrize("spelled", ["alias", "canonical"])
def test_shape_errors_name_what_was_written(alias: str, spelled: str) -> None:
    canonical = load().layer_aliases[alias]
    kind = alias if spelled == "alias" else canonical
    text = ALIASED_ERRORS[alias].format(kind=kind) + " -> flatten -> dense 1; adam; mse"
    with pytest.raises(SourceError) as refused:
        static(text)
    (problem,) = refused.value.diagnostics
    assert f"`{kind}`" in problem.message
    if kind == alias:
        assert canonical not in problem.message + problem.hint
    assert problem.hint


# Layers that take dimensions away, before one that needs them: the hint names that
# layer and its fix, never the input (which had the dimensions all along).
REDUCED = {
    "flatten": ("input 28x28x1 -> flatten -> conv2d 8 3", "the `flatten` at 1:18", "remove it"),
    "gap2d": ("input 8x8x3 -> gap2d -> maxpool2d 2", "the `gap2d` at 1:16", "remove it"),
    "gmp1d": ("input 8x3 -> conv1d 4 2 -> gmp1d -> lstm 2", "the `gmp1d` at 1:28", "remove"),
    "reshape": ("input 4x4x1 -> reshape (16,) -> conv2d 2 2", "the `reshape` at 1:16", "remove"),
    "lstm": ("input 20x8 -> lstm 16 -> lstm 8", "the `lstm` at 1:15", "return_sequences=true"),
    "bidirectional": (
        "input 20x8 -> bidirectional gru 4 -> conv1d 2 2",
        "the `bidirectional` at 1:15",
        "return_sequences=true",
    ),
}


@pytest.mark.parametrize("case", REDUCED.values(), ids=REDUCED.keys())
def test_rank_hint_points_at_the_layer_that_took_the_dimensions(case) -> None:
    body, where, fix = case
    text = f"{body} -> flatten -> dense 1; adam; mse"
    with pytest.raises(SourceError) as refused:
        static(text)
    (problem,) = refused.value.diagnostics
    assert where in problem.hint and fix in problem.hint
    assert "`input" not in problem.hint
    with pytest.raises((ValueError, TypeError)):  # Keras refuses it too
        built(text)


@pytest.mark.parametrize(
    ("body", "example"),
    [
        ("input 20 -> lstm 4", "`input 20x1`"),
        ("input 28x28 -> conv2d 4 3", "`input 28x28x1`"),
        ("input 64 -> dense 32 -> maxpool2d 2", "`input 28x28x1`"),
        ("input 8x8x3 -> conv3d 2 2", "`input 8x8x3x1`"),
    ],
)
def test_rank_hint_on_a_too_small_input_gives_an_input_that_fits(body: str, example: str):
    text = f"{body} -> flatten -> dense 1; adam; mse"
    with pytest.raises(SourceError) as refused:
        static(text)
    (problem,) = refused.value.diagnostics
    assert example in problem.hint
    fixed = text.replace(body.split(" -> ")[0], f"input {example.strip('`').split()[1]}")
    assert_same(fixed)  # the suggested input builds, with the shapes kdsl infers
