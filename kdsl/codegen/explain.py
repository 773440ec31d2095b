"""Plain-English comments for `kdsl compile --explain`: the generated script as a lesson.

Each generated line gets a comment saying what it does and why: the layer's role, the
shape it produces and how many weights it learns, what the optimizer, loss and metrics
mean. The words are data here (by Keras class, then by the catalog's layer category), so
a layer kdsl has no sentence for still gets an honest, shorter one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kdsl import ir
from kdsl.ir import show_shape
from kdsl.semantics.catalog import by_class, load
from kdsl.semantics.shapes import Row, arguments, infer

if TYPE_CHECKING:
    import ast

ACTIVATIONS = {
    "relu": "ReLU (max(0, x)) passes positive values and zeroes the rest",
    "softmax": "softmax turns the outputs into probabilities that sum to 1, one per class",
    "sigmoid": "sigmoid squashes each output into (0, 1), a probability",
    "tanh": "tanh squashes each output into (-1, 1)",
    "elu": "ELU is like ReLU but smooth below zero",
    "selu": "SELU keeps activations self-normalizing",
    "gelu": "GELU is a smooth ReLU, as in Transformers",
    "swish": "swish (x * sigmoid(x)) is a smooth ReLU",
    "silu": "SiLU (x * sigmoid(x)) is a smooth ReLU",
    "leaky_relu": "leaky ReLU lets a small slope through below zero",
    "softplus": "softplus (log(1 + e^x)) is a smooth ReLU",
    "linear": "no activation: the outputs are any real numbers",
}

ROLES = {
    "Dense": "a fully connected layer of {units} units: each unit takes a weighted sum of "
    "all its inputs plus a bias",
    "Conv1D": "slides {filters} learned filters of width {kernel} along the sequence; each "
    "filter detects one local pattern and gives one output channel",
    "Conv2D": "slides {filters} learned {kernel} filters over the image; each filter detects "
    "one local pattern (an edge, a texture) and gives one output channel",
    "Conv3D": "slides {filters} learned {kernel} filters through the volume; each gives one "
    "output channel",
    "Conv1DTranspose": "learned upsampling with {filters} filters: a convolution run backwards",
    "Conv2DTranspose": "learned upsampling with {filters} filters: a convolution run "
    "backwards, growing the grid",
    "Conv3DTranspose": "learned upsampling with {filters} filters: a convolution run backwards",
    "SeparableConv1D": "a cheaper convolution: filters each channel on its own, then mixes "
    "the channels into {filters} outputs",
    "SeparableConv2D": "a cheaper convolution: filters each channel on its own, then mixes "
    "the channels into {filters} outputs",
    "DepthwiseConv1D": "filters each input channel on its own, without mixing channels",
    "DepthwiseConv2D": "filters each input channel on its own, without mixing channels",
    "MaxPooling1D": "keeps the largest value of each window of {pool}, shortening the sequence",
    "MaxPooling2D": "keeps the largest value of each {pool} window: a smaller grid, and "
    "features that survive small shifts",
    "MaxPooling3D": "keeps the largest value of each {pool} window",
    "AveragePooling1D": "averages each window of {pool}, shortening the sequence",
    "AveragePooling2D": "averages each {pool} window: a smaller, smoother grid",
    "AveragePooling3D": "averages each {pool} window",
    "GlobalAveragePooling1D": "averages each channel over all time steps: one number per channel",
    "GlobalAveragePooling2D": "averages each channel over the whole image: one number per channel",
    "GlobalAveragePooling3D": "averages each channel over the whole volume",
    "GlobalMaxPooling1D": "keeps each channel's largest value over all time steps",
    "GlobalMaxPooling2D": "keeps each channel's largest value over the whole image",
    "GlobalMaxPooling3D": "keeps each channel's largest value over the whole volume",
    "Flatten": "unrolls each sample into one long vector, so dense layers can read it",
    "Dropout": "during training only, zeroes a random {rate} of the values at each step, so "
    "the network cannot lean on any single one (less overfitting)",
    "SpatialDropout1D": "during training only, drops whole channels ({rate}) at a time",
    "SpatialDropout2D": "during training only, drops whole feature maps ({rate}) at a time",
    "SpatialDropout3D": "during training only, drops whole feature maps ({rate}) at a time",
    "GaussianNoise": "during training only, adds random noise to the values (a regularizer)",
    "GaussianDropout": "during training only, multiplies the values by random noise",
    "BatchNormalization": "rescales each feature to mean 0 and variance 1 over the batch "
    "(running averages at prediction time): faster, steadier training",
    "LayerNormalization": "rescales each sample's features to mean 0 and variance 1",
    "GroupNormalization": "normalizes groups of channels within each sample",
    "UnitNormalization": "scales each sample's vector to length 1",
    "RMSNormalization": "scales each sample's features by their root mean square",
    "Normalization": "standardizes each feature with a mean and variance that `adapt()` "
    "learns from the data",
    "Rescaling": "multiplies the inputs by {scale}{offset_words}",
    "Embedding": "turns each token id (below {input_dim}) into a learned vector of "
    "{output_dim} numbers",
    "LSTM": "reads the sequence step by step with {units} memory units whose gates decide "
    "what to keep and what to forget",
    "GRU": "reads the sequence step by step with {units} units (a lighter LSTM)",
    "SimpleRNN": "reads the sequence step by step with {units} units that feed back into "
    "themselves",
    "Bidirectional": "runs the wrapped recurrent layer forwards and backwards over the "
    "sequence and joins both results",
    "TimeDistributed": "applies the wrapped layer to every time step on its own",
    "Reshape": "rearranges each sample's values into the shape {target_shape}; no value changes",
    "Permute": "reorders the axes of each sample",
    "RepeatVector": "repeats its input vector {n} times, making a sequence",
    "UpSampling1D": "repeats each time step to lengthen the sequence",
    "UpSampling2D": "repeats rows and columns to enlarge the grid",
    "ZeroPadding1D": "adds zeros at both ends of the sequence",
    "ZeroPadding2D": "adds a border of zeros around the grid",
    "Cropping1D": "cuts steps off both ends of the sequence",
    "Cropping2D": "cuts rows and columns off the edges",
    "ReLU": "applies ReLU, max(0, x){cap}, on its own",
    "LeakyReLU": "applies leaky ReLU: negative values are scaled by a small slope instead "
    "of zeroed",
    "PReLU": "a leaky ReLU whose negative slope is learned",
    "ELU": "applies ELU, a ReLU that is smooth below zero",
    "Softmax": "turns its inputs into probabilities that sum to 1",
    "Identity": "passes its input through unchanged",
    "EinsumDense": "a dense layer written as an einsum equation, for any shape of input",
    "ReversibleEmbedding": "turns each token id into a learned vector; the same matrix can "
    "also turn vectors back into token scores",
    "SpectralNormalization": "keeps the wrapped layer's weights in check by dividing its "
    "kernel by its largest singular value, which steadies training (often in GANs)",
    "AdaptiveAveragePooling1D": "averages windows sized to give {output_size} steps, "
    "whatever the input's length",
    "AdaptiveAveragePooling2D": "averages windows sized to give a {output_size} grid, "
    "whatever the input's size",
    "AdaptiveAveragePooling3D": "averages windows sized to give a {output_size} volume",
    "AdaptiveMaxPooling1D": "keeps the largest value of windows sized to give {output_size} "
    "steps, whatever the input's length",
    "AdaptiveMaxPooling2D": "keeps the largest value of windows sized to give a "
    "{output_size} grid, whatever the input's size",
    "AdaptiveMaxPooling3D": "keeps the largest value of windows sized to give a "
    "{output_size} volume",
    "ConvLSTM1D": "an LSTM whose gates are convolutions: reads a sequence of signals step "
    "by step with {filters} filters",
    "ConvLSTM2D": "an LSTM whose gates are convolutions: reads a sequence of images (a "
    "video) step by step with {filters} filters",
    "ConvLSTM3D": "an LSTM whose gates are convolutions: reads a sequence of volumes step "
    "by step with {filters} filters",
    "UpSampling3D": "repeats values along each axis to enlarge the volume",
    "ZeroPadding3D": "adds a border of zeros around the volume",
    "Cropping3D": "cuts slices off the edges of the volume",
    "Resizing": "resizes each image to {height} x {width}",
    "CenterCrop": "keeps the central {height} x {width} of each image",
    "Masking": "marks time steps whose values all equal {mask_value} to be skipped",
    "Add": "adds its input tensors element by element; with the block's input among "
    "them, a residual connection: the layers before it learn only a correction",
    "Subtract": "subtracts its second input from its first, element by element",
    "Multiply": "multiplies its input tensors element by element",
    "Average": "averages its input tensors element by element",
    "Maximum": "keeps the larger of its inputs' values, element by element",
    "Minimum": "keeps the smaller of its inputs' values, element by element",
    "Concatenate": "joins its input tensors side by side along an axis (the last by "
    "default), keeping everything each branch found",
    "Dot": "the dot product of its two inputs along the given axes",
    "MultiHeadAttention": "attention with {num_heads} heads: each position of the query "
    "gathers information from every position of the value, weighted by how well they match",
    "GroupedQueryAttention": "attention whose query heads share fewer key and value heads",
    "Attention": "dot-product attention: each query position takes a weighted average "
    "of the value, weighted by how well it matches",
    "AdditiveAttention": "additive (Bahdanau) attention: each query position takes a "
    "weighted average of the value",
}

CATEGORIES = {
    "convolutional": "a convolution layer: learned filters slide over the input",
    "pooling": "summarizes windows of values, shrinking the input",
    "normalization": "rescales values to keep training stable",
    "regularization": "a regularizer, active during training only",
    "reshaping": "changes the shape of each sample without learning anything",
    "rnn": "a recurrent layer: reads a sequence step by step",
    "preprocessing": "a preprocessing layer: transforms the inputs inside the model",
    "activations": "an activation layer",
    "core": "a core Keras layer",
    "merging": "merges several tensors into one",
    "attention": "an attention layer",
}

# The category of a layer the catalog does not list (the language cannot write it yet).
OTHER_CATEGORIES = {
    **dict.fromkeys(
        ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"),
        "merging",
    ),
    **dict.fromkeys(
        ("MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention"),
        "attention",
    ),
}


def category(class_name: str) -> str:
    """The catalog's category of a layer class, or its kind for a layer not listed."""
    entry = load().layers.get(class_name.lower())
    return entry.category if entry else OTHER_CATEGORIES.get(class_name, "core")


OPTIMIZERS = {
    "adam": "Adam: gradient descent that adapts each weight's step size from running "
    "averages of its gradients; a good default",
    "adamw": "AdamW: Adam with weight decay, which keeps weights small (less overfitting)",
    "sgd": "SGD: stochastic gradient descent; after each batch, every weight takes a small "
    "step against the gradient of the loss",
    "rmsprop": "RMSprop: divides each step by a running average of recent gradient sizes; "
    "good for recurrent networks",
    "adagrad": "Adagrad: smaller steps for weights that have already changed a lot",
    "adadelta": "Adadelta: Adagrad whose steps do not shrink forever",
    "adamax": "Adamax: a variant of Adam based on the largest recent gradient",
    "nadam": "Nadam: Adam with Nesterov momentum",
    "ftrl": "FTRL: an optimizer for large, sparse linear models",
    "lamb": "LAMB: Adam with a step size per layer, made for very large batches",
    "lion": "Lion: updates by the sign of a momentum of the gradients",
}

LOSSES = {
    "categorical_crossentropy": "categorical cross-entropy, for one-hot labels and a "
    "softmax output: small when the probability given to the true class is near 1",
    "sparse_categorical_crossentropy": "sparse categorical cross-entropy: like categorical "
    "cross-entropy, with labels given as class ids (0, 1, 2, ...) instead of one-hot rows",
    "binary_crossentropy": "binary cross-entropy, for yes/no labels (0 or 1) and sigmoid "
    "outputs: small when each predicted probability is near its label",
    "mean_squared_error": "mean squared error, for regression: the average of "
    "(prediction - target) squared, so big misses cost the most",
    "mean_absolute_error": "mean absolute error, for regression: the average size of the misses",
    "huber": "Huber loss, for regression: squared for small misses, linear for big ones, "
    "so outliers weigh less",
    "hinge": "hinge loss, for labels -1 or 1: a margin-based classifier loss",
    "kl_divergence": "KL divergence: how far the predicted distribution is from the true one",
    "poisson": "Poisson loss, for predicting counts",
    "cosine_similarity": "cosine similarity: rewards outputs that point the same way as "
    "the targets",
}

METRICS = {
    "accuracy": "the fraction of samples whose predicted class is right",
    "categorical_accuracy": "the fraction of one-hot samples classified right",
    "sparse_categorical_accuracy": "the fraction of samples (labels as class ids) classified right",
    "binary_accuracy": "the fraction of yes/no predictions that are right",
    "auc": "how well the scores rank positives above negatives (1 is perfect)",
    "precision": "of the samples predicted positive, the fraction that are",
    "recall": "of the positive samples, the fraction that were found",
    "mean_absolute_error": "the average size of the misses",
    "mean_squared_error": "the average of (prediction - target) squared",
    "root_mean_squared_error": "the square root of the mean squared error, in the "
    "targets' own units",
}


def input_comment(shape: tuple, dtype: str | None = None) -> str:
    """What one sample looks like, and why the batch size is left open."""
    sample = _sample(shape)
    if dtype and dtype.startswith(("int", "uint")):
        sample = sample.replace("numbers", "whole numbers (token ids)")
    return (
        f"The input: each sample is {sample}. The batch size is left open, so batches of "
        "any size fit."
    )


def _sample(shape: tuple) -> str:
    dims = ["any" if d is None else str(d) for d in shape]
    if len(shape) == 1:
        return "a vector of any length" if shape[0] is None else f"a vector of {dims[0]} numbers"
    if len(shape) == 2:
        steps = "any number of steps" if shape[0] is None else f"{dims[0]} steps"
        return f"a sequence of {steps} with {dims[1]} values each"
    if len(shape) == 3:
        channels = "1 channel" if shape[2] == 1 else f"{dims[2]} channels"
        if None in shape[:2]:
            return f"a grid of {dims[0]} x {dims[1]} positions with {channels}, like an image"
        return f"{_article(dims[0])} {dims[0]} x {dims[1]} grid with {channels}, like an image"
    return f"an array of shape {show_shape(shape)}"


def _article(number: str) -> str:
    """`an 8`, `an 18`, `an 800`, but `a 28`: by how the number is read aloud."""
    spoken_with_a_vowel = number.startswith("8") or (
        len(number) % 3 == 2 and number[:2] in ("11", "18")
    )
    return "an" if spoken_with_a_vowel else "a"


def layer_comment(call: ir.KerasCall, category: str, row: Row | None, output: bool = False) -> str:
    """The layer's role in words, then the shape it produces and the weights it learns."""
    activation = call.kwarg("activation")
    if call.class_name == "Activation":
        name = call.args[0] if call.args else activation
        role = f"applies an activation on its own: {_activation(name)}"
    else:
        role = _role(call, category)
        if isinstance(activation, str) and activation != "linear":
            role += f"; then {_activation(activation)}"
        elif call.class_name in LINEAR_BY_DEFAULT:
            role += "; no activation, so the outputs are any real numbers"
    if call.class_name in RECURRENT:
        role += (
            "; returns its output at every step (return_sequences), so another sequence "
            "layer can follow"
            if call.kwarg("return_sequences")
            else "; returns only its last output, a summary of the whole sequence"
        )
    text = f"{call.class_name}{' (the output layer)' if output else ''}: {role}."
    return f"{_singular(text)} {_result(row)}"


RECURRENT = ("LSTM", "GRU", "SimpleRNN")
AUGMENTATIONS = ("AugMix", "CutMix", "MixUp", "RandAugment")
LINEAR_BY_DEFAULT = ("Dense", "Conv1D", "Conv2D", "Conv3D", "EinsumDense")


def _activation(name: object) -> str:
    return ACTIVATIONS.get(str(name), f"the {name} activation")


def _singular(text: str) -> str:
    """`1 units` → `1 unit`: the sentences are written for many."""
    return re.sub(r"\b1 (\w+ )?(unit|filter|number|channel|memory unit)s\b", r"1 \1\2", text)


def _role(call: ir.KerasCall, category: str) -> str:
    if call.class_name == "RandomCrop":
        return (
            "data augmentation: crops a random window of each training image (at prediction "
            "time, the central one)"
        )
    if call.class_name.startswith("Random") or call.class_name in AUGMENTATIONS:
        return (
            "data augmentation: changes each training image at random, so the model sees "
            "more variety (at prediction time the input passes unchanged)"
        )
    template = ROLES.get(call.class_name)
    inner = next((a for a in call.args if isinstance(a, ir.KerasCall)), None)
    if inner is not None and template is not None:  # a wrapper: name what it wraps
        return template.replace("the wrapped recurrent layer", inner.class_name).replace(
            "the wrapped layer", inner.class_name
        )
    if template is None:
        return CATEGORIES.get(category, "a Keras layer")
    values = _arguments(call)
    try:
        return template.format_map(values)
    except KeyError:  # an argument the sentence needs was not given: keep it general
        return CATEGORIES.get(category, "a Keras layer")


def _arguments(call: ir.KerasCall) -> dict[str, str]:
    """The call's arguments (`shapes.arguments`), written for a sentence (`(3, 3)` as
    `3x3`)."""
    values = arguments(call, load())
    values["kernel"] = values.get("kernel_size")
    values["pool"] = values.get("pool_size") or 2
    cap = values.get("max_value")
    values["cap"] = f" capped at {cap}" if cap is not None else ""
    offset = values.get("offset")
    values["offset_words"] = f" and adds {offset}" if offset not in (None, 0, 0.0) else ""
    found = re.search(r"(\d)D$", call.class_name)
    rank = found.group(1) if found else "1"
    words: dict[str, str] = {}
    for name, value in values.items():
        if name in ("kernel", "pool", "output_size") and isinstance(value, int):
            value = (value,) * int(rank)
        if name == "rate" and isinstance(value, int | float):
            words[name] = f"{value:.0%}"
        elif name in ("kernel", "pool", "output_size") and isinstance(value, tuple):
            words[name] = "x".join(map(str, value))
        else:
            words[name] = str(value)
    return words


def _result(row: Row | None) -> str:
    if row is None or row.output_shape is None:
        return "(kdsl cannot infer its output shape.)"
    params = row.params
    learns = "no weights to learn" if params == 0 else f"{params:,} parameters"
    if row.non_trainable:
        learns += f" ({row.non_trainable:,} not trained)"
    return f"Output shape {show_shape(row.output_shape)}; {learns}."


def compile_comment() -> str:
    return (
        "compile: how the model learns: the optimizer updates the weights to make the "
        "loss smaller; the metrics are only reported."
    )


def optimizer_comment(key: str, call: ir.KerasCall | None) -> str:
    name = call.class_name if call else key
    text = OPTIMIZERS.get(key, f"{name}: a gradient-based optimizer")
    rate = call.kwarg("learning_rate") if call else None
    if rate is not None:
        text += f", here with learning rate {rate}"
    return text + "."


def loss_comment(key: str, call: ir.KerasCall | None = None) -> str:
    text = LOSSES.get(key, f"the {key} loss")
    if call is not None and call.kwarg("from_logits") is True:
        text = text.split(",")[0] + (
            ", computed from logits: the last layer gives raw scores (no softmax or "
            "sigmoid) and the loss applies it itself, which is numerically safer"
        )
    return f"The loss, which training makes smaller: {text}."


def metrics_comment(keys: list[str]) -> str:
    parts = [f"{key} ({METRICS[key]})" if key in METRICS else key for key in keys]
    return f"Metrics, reported after each epoch but not optimized: {'; '.join(parts)}."


FIT_OPTIONS = {
    "validation_split": "hold out the last {value} of the training rows (before "
    "shuffling) to measure val_loss after each epoch",
    "shuffle": "shuffle the training rows before each epoch: {value}",
    "class_weight": "weigh each class's samples in the loss by these factors",
    "initial_epoch": "start counting epochs at {value} (to resume training)",
    "verbose": "how much fit prints: {value}",
}


def fit_option_comment(name: str, value: object) -> str:
    if name == "validation_split" and isinstance(value, float):
        value = f"{value:.0%}"
    template = FIT_OPTIONS.get(name, f"`{name}`, passed to fit as it is")
    return template.format(value=value).capitalize() + "."


def comments(model: ir.Model) -> dict[str, str]:
    """Every comment of `--explain`, by the line it goes above: an input's or a layer
    node's id (`model.inputs`, `model.nodes`), "compile", "optimizer", "loss", "metrics",
    "fit:NAME"."""
    catalog = load()
    summary = infer(model, catalog)
    comments: dict[str, str] = {
        source.id: input_comment(source.shape, source.dtype) for source in model.inputs
    }
    for node in model.nodes:
        row = summary.row(node.id)
        output = node.id in model.outputs
        comments[node.id] = layer_comment(node.call, category(node.call.class_name), row, output)
    comments["compile"] = compile_comment()
    optimizer_key = _key(model.optimizer, catalog.optimizers, {})
    comments["optimizer"] = optimizer_comment(optimizer_key, model.optimizer.call)
    comments["loss"] = loss_comment(model.loss_key, model.loss.call)
    if model.losses:  # several outputs, each with its loss
        parts = [
            f"{name}: {loss_comment(_key(arg, catalog.losses, catalog.loss_aliases), arg.call)}"
            for name, arg in model.losses
        ]
        text = " ".join(
            part.replace("The loss, which training makes smaller: ", "") for part in parts
        )
        comments["loss"] = (
            "One loss per output; training makes their sum smaller (each times its weight in "
            f"loss_weights, if given). {text}"
        )
    for name, value in model.fit:
        comments[f"fit:{name}"] = fit_option_comment(name, value)
    if model.metrics:
        keys = [_key(m, catalog.metrics, catalog.metric_aliases) for m in model.metrics]
        comments["metrics"] = metrics_comment(keys)
    if model.output_metrics:  # several outputs, each with its metrics
        keys = [
            _key(m, catalog.metrics, catalog.metric_aliases)
            for _, metrics in model.output_metrics
            for m in metrics
        ]
        comments["metrics"] = metrics_comment(list(dict.fromkeys(keys))).replace(
            "Metrics,", "Metrics of each output named,", 1
        )
    return comments


def _key(arg: ir.CompileArg, entries: dict, aliases: dict[str, str]) -> str:
    """The catalog key of an optimizer or metric, written as a string or an object."""
    if arg.call is None:
        assert arg.shorthand is not None  # a CompileArg is one or the other
        return aliases.get(arg.shorthand, arg.shorthand)
    entry = by_class(entries, arg.call.class_name)
    return entry.key if entry else arg.call.class_name.lower()


def block_comments(block: ir.Block) -> dict[str, str]:
    """`--explain`'s words for a block's function, by body node id: a layer's role (its
    shape depends on where the block is called), a repeat, a call of another block."""
    return {node.id: _body_comment(node) for node in block.nodes}


def program_comments(model: ir.Model) -> dict[str, str]:
    """The words for `Model.program`'s nodes: a node that is the expanded graph's own
    (same id, same call) keeps that graph's comment, with its shape; others, their role."""
    expanded = comments(model)
    _, nodes, _ = model.program or ((), (), ())
    found: dict[str, str] = {}
    for node in nodes:
        try:
            same = node.repeat is None and model.node(node.id).call == node.call
        except KeyError:
            same = False
        found[node.id] = expanded[node.id] if same else _body_comment(node)
    return found


def _body_comment(node: ir.Node) -> str:
    call = _named_params(node.call)
    if call.module == "blocks":
        text = f"The block {call.class_name}: its function, above, adds its layers here."
    else:
        role = _role(call, category(call.class_name))
        text = _singular(f"{call.class_name}: {role}.")
    if node.repeat is not None:
        text += " Repeated, each pass feeding the next."
    return text


def _named_params(call: ir.KerasCall) -> ir.KerasCall:
    """The call with each block parameter as its name, for a sentence (`f filters`)."""

    def named(value: Any) -> Any:
        if isinstance(value, ir.Param):
            return f"`{value.name}`"
        if isinstance(value, tuple):
            return tuple(named(item) for item in value)
        return value

    args = tuple(_named_params(a) if isinstance(a, ir.KerasCall) else named(a) for a in call.args)
    kwargs = tuple((name, named(value)) for name, value in call.kwargs)
    return replace(call, args=args, kwargs=kwargs)


# -- the tuner script (a program with search spaces, issue 16) -------------------------------

TUNERS = {
    "random": "RandomSearch draws each trial's values at random from the spaces",
    "bayesian": "BayesianOptimization fits a model of the objective to the trials so far "
    "and picks the values it expects to score best next",
    "hyperband": "Hyperband trains many trials for a few epochs and gives more epochs only "
    "to the best of them",
}
_HP_CALLS = {"Int", "Float", "Choice", "Boolean"}


def search_script(code: str, search: ir.Search, line_length: int = 88) -> str:
    """`--explain` for the tuner script `code` (black-formatted) of a program whose
    search is `search`: a comment above each hyperparameter (what KerasTuner draws it
    from), each layer (its role), the depth's `if`, `build`, `compile`, `fit` and the
    tuner. Comments only: the code is unchanged, and stays black-stable."""
    import ast

    from kdsl.codegen.render import _commented
    from kdsl.options import Mode

    table = {hp.name: hp for hp in search.hyperparameters}
    depth_names = {name for _, name in search.depths}
    per_pass = dict(search.per_pass)  # a space in a searched depth: its stem → the depth
    notes: dict[int, list[tuple[int, str]]] = {}  # line (from 1) → comments above it

    def note(line: int, text: str, order: int = 1) -> None:
        notes.setdefault(line, []).append((order, text))

    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)
    statement_of: dict[int, int] = {}  # id of an expression → its statement's first line
    for statement in ast.walk(tree):  # outer statements first: the innermost wins
        if isinstance(statement, ast.stmt):
            for child in ast.iter_child_nodes(statement):
                if not isinstance(child, ast.stmt):
                    for part in ast.walk(child):
                        statement_of[id(part)] = statement.lineno

    def above(call: ast.Call) -> int:
        """The line a comment on `call` goes above: the call's own where it stands alone
        on its lines (an argument of an exploded call), else its statement's, so that
        black would write the script as it is."""
        text = lines[call.lineno - 1]
        start = text[: call.col_offset].strip()
        end_line, end_col = call.end_lineno or call.lineno, call.end_col_offset or 0
        rest = lines[end_line - 1][end_col:].strip()
        alone = (start == "" or re.fullmatch(r"\w+=", start)) and rest in ("", ",")
        return call.lineno if alone else statement_of.get(id(call), call.lineno)

    layer_calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in _FUNCTION_WORDS:
            note(node.lineno, _FUNCTION_WORDS[node.name])
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if not isinstance(owner, ast.Name):
            continue
        if owner.id == "hp" and node.func.attr in _HP_CALLS and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and name.value in table:
                note(above(node), hyperparameter_comment(table[name.value], depth_names))
            elif isinstance(name, ast.JoinedStr) and (stem := _pass_stem(name)) in per_pass:
                passes = [table[n] for n in table if n.startswith(f"{stem}/pass_")]
                note(above(node), per_pass_comment(passes, per_pass[stem]))
        elif owner.id == "layers":
            layer_calls.append(node)
        elif owner.id == "model" and node.func.attr == "compile":
            note(node.lineno, compile_comment())
        elif owner.id == "keras_tuner" and node.func.attr == "Objective":
            note(node.lineno, objective_comment(search))
        elif owner.id == "keras_tuner":
            note(node.lineno, TUNERS.get(search.tuner, search.tuner) + ".")
    model = search.deepest
    if model is not None:  # each layer's role, the calls in the order of the nodes
        nodes = iter(model.nodes)
        searched = dict(search.node_values)
        for call in sorted(layer_calls, key=lambda c: (c.lineno, c.col_offset)):
            assert isinstance(call.func, ast.Attribute)
            for graph_node in nodes:
                if graph_node.call.class_name == call.func.attr:
                    words = _searched_layer(graph_node, searched.get(graph_node.id, ()))
                    note(above(call), words, order=0)  # a layer's role before its spaces
                    break
    mode = Mode(explain=True, line_length=line_length)
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        indent = len(line) - len(line.lstrip())
        for _, text in sorted(notes.get(number, ()), key=lambda pair: pair[0]):
            wrapped = _commented("", text, indent, mode).comment
            out.extend(f"{' ' * indent}# {part}\n" for part in wrapped)
        out.append(line)
    return "".join(out)


_FUNCTION_WORDS = {
    "build": "KerasTuner calls build(hp) once per trial: each hp call below hands out this "
    "trial's value of one hyperparameter, so each trial builds a model of its own.",
    "fit": "Each trial trains the model it built with fit; the searched fit options are "
    "set here, per trial.",
    "make_tuner": "The tuner runs the trials and keeps each one (its values, its score, "
    "its weights) in the directory, so that a search stopped early resumes there.",
}


def _pass_stem(name: ast.JoinedStr) -> str | None:
    """The stem of a per-pass name the depth loop writes (`f"dense_2/units/pass_{i}"`)."""
    import ast

    first = name.values[0] if name.values else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value.removesuffix("/pass_")
    return None


def per_pass_comment(passes: list[ir.Hyperparameter], depth: str) -> str:
    """What KerasTuner draws a space inside a searched depth from: one hyperparameter per
    pass, each owned by the trials deep enough to build its pass."""
    names = ", ".join(f"`{hp.name}`" for hp in passes)
    return (
        f"Searched {names}: one per pass of the depth `{depth}`; each trial takes "
        f"{_drawn(passes[0])} for each pass it builds. Pass i's exists only in trials "
        f"whose `{depth}` is i or more."
    )


def _drawn(hp: ir.Hyperparameter) -> str:
    """The values KerasTuner draws `hp` from, in words."""
    if hp.kind == "choice":
        drawn = "one of " + ", ".join(str(value) for value in hp.values)
    elif hp.kind == "boolean":
        drawn = "true or false"
    else:
        whole = "a whole number" if hp.kind == "int" else "a number"
        drawn = f"{whole} from {hp.low} to {hp.high}"
        if hp.step is not None:
            drawn += f" in steps of {hp.step}"
        if hp.sampling == "log":
            drawn += ", drawn on a log scale: each tenfold range as likely as another"
        elif hp.sampling == "reverse_log":
            drawn += ", drawn on a reverse log scale (denser near the upper end)"
    return drawn


def hyperparameter_comment(hp: ir.Hyperparameter, depths: Collection[str] = ()) -> str:
    """What KerasTuner draws `hp` from, in words."""
    text = f"Searched `{hp.name}`: each trial takes {_drawn(hp)}."
    if hp.name in depths:
        text += (
            " It is a depth: how many passes of the repeated layers the trial builds; "
            "each deeper pass's layers are built (and own hyperparameters, in their "
            "conditional_scope) only when the depth reaches that pass."
        )
    if hp.parent is not None:
        shown = ", ".join(str(value) for value in hp.parent_values)
        text += f" It exists only in trials whose `{hp.parent}` is {shown}."
    return text


def objective_comment(search: ir.Search) -> str:
    better = "higher" if search.direction == "max" else "lower"
    where = "on the validation data" if search.objective.startswith("val_") else "in training"
    return (
        f"Each trial is scored by its best epoch's {search.objective}, measured {where}; "
        f"{better} is better, and the best trial is the one with the best score."
    )


def _searched_layer(node: ir.Node, searched: tuple[tuple[str, str], ...]) -> str:
    """A layer's role, its searched arguments named rather than given a value."""
    names = dict(searched)
    call = node.call
    kwargs = tuple(
        (param, f"`{names.pop(param)}`" if param in names else value)
        for param, value in call.kwargs
    )
    words_call = replace(call, kwargs=kwargs)
    if names:  # a required argument given positionally, searched
        entry = load().layer(call.written) if call.module == "layers" else None
        required = [p.name for p in entry.params if p.required] if entry else []
        args = list(words_call.args)
        for param, name in names.items():
            if param in required and required.index(param) < len(args):
                args[required.index(param)] = f"`{name}`"
        words_call = replace(words_call, args=tuple(args))
    return _singular(f"{call.class_name}: {_role(words_call, category(call.class_name))}.")
