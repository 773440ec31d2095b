"""Hand-built graph IRs (issue 13) for the functional style's tests, until the checker
makes them from `.k` text: each builder returns the `ir.Model` the design's program
(docs/design/graphs.md) checks to. Block programs come with their expanded graph, made
here by `expand` as the checker will: each call inlines its block's body with the
arguments in place of the parameters, each repeat applies its node that many times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from kdsl import ir

ADAM = ir.CompileArg(shorthand="adam")


def layer(class_name: str, *args: ir.PyValue, **kwargs: ir.PyValue) -> ir.KerasCall:
    return ir.KerasCall("layers", class_name, args, tuple(kwargs.items()))


def block_call(name: str, *args: ir.PyValue, **kwargs: ir.PyValue) -> ir.KerasCall:
    return ir.KerasCall("blocks", name, args, tuple(kwargs.items()))


def P(name: str) -> ir.Param:  # noqa: N802 - reads as the design's parameter
    return ir.Param(name)


class Graph:
    """Nodes added one at a time, each reading the one before unless told otherwise."""

    def __init__(self, *inputs: ir.Input) -> None:
        self.inputs = inputs
        self.nodes: list[ir.Node] = []
        self.last = inputs[0].id if inputs else ""

    def add(
        self,
        call: ir.KerasCall,
        reads: tuple[str, ...] | None = None,
        label: str | None = None,
        **extra,
    ) -> str:
        node_id = f"n{len(self.nodes) + len(self.inputs)}"
        self.nodes.append(ir.Node(node_id, call, reads or (self.last,), label=label, **extra))
        self.last = node_id
        return node_id


def model(
    graph: Graph,
    outputs: tuple[str, ...] | None = None,
    loss: str = "categorical_crossentropy",
    **settings,
) -> ir.Model:
    """The graph as a model compiled with adam and `loss` (accuracy for cross-entropy)."""
    metrics = (ir.CompileArg(shorthand="accuracy"),) if "crossentropy" in loss else ()
    return ir.Model(
        graph.inputs,
        tuple(graph.nodes),
        outputs or (graph.last,),
        ADAM,
        ir.CompileArg(shorthand=loss),
        metrics,
        (),
        loss,
        **settings,
    )


def residual() -> ir.Model:
    """`conv2d 16 3 -> [identity | conv2d relu -> conv2d] -> add -> relu` and a head."""
    g = Graph(ir.Input("in", (8, 8, 16)))
    stem = g.add(layer("Conv2D", 16, 3, padding="same"))
    g.add(layer("Conv2D", 16, 3, padding="same", activation="relu"))
    body = g.add(layer("Conv2D", 16, 3, padding="same"))
    g.add(layer("Add"), (stem, body))
    g.add(layer("ReLU"))
    g.add(layer("GlobalAveragePooling2D"))
    g.add(layer("Dense", 10, activation="softmax"))
    return model(g)


def fork_join() -> ir.Model:
    """Three branches (1x1; 3x3; pool then 1x1) into `concatenate`: an Inception cell."""
    g = Graph(ir.Input("in", (16, 16, 8)))
    one = g.add(layer("Conv2D", 8, 1, activation="relu"), ("in",))
    three = g.add(layer("Conv2D", 8, 3, padding="same", activation="relu"), ("in",))
    g.add(layer("MaxPooling2D", pool_size=3, strides=1, padding="same"), ("in",))
    pool = g.add(layer("Conv2D", 4, 1, activation="relu"))
    g.add(layer("Concatenate"), (one, three, pool))
    g.add(layer("Flatten"))
    g.add(layer("Dense", 3, activation="softmax"))
    return model(g)


def long_skip() -> ir.Model:
    """A U-Net's long skip by name: `s1: conv -> pool -> conv -> up -> concatenate @s1`."""
    g = Graph(ir.Input("in", (32, 32, 3)))
    s1 = g.add(layer("Conv2D", 8, 3, padding="same", activation="relu"), label="s1")
    g.add(layer("MaxPooling2D", pool_size=2))
    g.add(layer("Conv2D", 16, 3, padding="same", activation="relu"))
    up = g.add(layer("UpSampling2D", size=2))
    g.add(layer("Concatenate"), (up, s1))
    g.add(layer("Conv2D", 1, 1, activation="sigmoid"))
    return model(g, loss="binary_crossentropy")


def self_attention() -> ir.Model:
    """`multiheadattention 4 16 use_causal_mask=true -> add @in -> layernorm`, a head."""
    g = Graph(ir.Input("in", (10, 32)))
    g.add(
        layer("MultiHeadAttention", num_heads=4, key_dim=16),
        call_kwargs=(("use_causal_mask", True),),
    )
    g.add(layer("Add"), ("in", g.last))
    g.add(layer("LayerNormalization", epsilon=1e-6))
    g.add(layer("GlobalAveragePooling1D"))
    g.add(layer("Dense", 2, activation="softmax"))
    return model(g)


def cross_attention() -> ir.Model:
    """MHA with a value tensor and an attention mask: `value=@memory attention_mask=@m`."""
    query = ir.Input("query_in", (10, 16), (("name", "query"),))
    memory = ir.Input("memory_in", (12, 16), (("name", "memory"),))
    mask = ir.Input("mask_in", (10, 12), (("dtype", "bool"), ("name", "mask")))
    g = Graph(query, memory, mask)
    g.add(
        layer("MultiHeadAttention", num_heads=2, key_dim=8),
        ("query_in", "memory_in"),
        call_tensors=(("attention_mask", "mask_in"),),
    )
    g.add(layer("Attention"), (g.last, "memory_in"))
    g.add(layer("GlobalAveragePooling1D"))
    g.add(layer("Dense", 1))
    return model(g, loss="mean_squared_error")


def two_inputs_two_outputs() -> ir.Model:
    """The design's §4.5 in full: two named inputs, two named outputs, per-output losses,
    weights and metrics."""
    title = ir.Input("title_in", (100,), (("dtype", "int32"), ("name", "title")))
    tags = ir.Input("tags_in", (12,), (("name", "tags"),))
    g = Graph(title, tags)
    g.add(layer("Embedding", 10000, 64))
    t = g.add(layer("LSTM", 32), label="t")
    g.add(layer("Dense", 16, activation="relu"), ("tags_in",))
    g.add(layer("Concatenate"), (g.last, t))
    trunk = g.add(layer("Dense", 64, activation="relu"))
    priority = g.add(layer("Dense", 1, activation="sigmoid", name="priority"), label="priority")
    department = g.add(
        layer("Dense", 4, activation="softmax", name="department"), (trunk,), label="department"
    )
    binary = ir.CompileArg(shorthand="binary_crossentropy")
    categorical = ir.CompileArg(shorthand="categorical_crossentropy")
    top_k = ir.CompileArg(call=ir.KerasCall("metrics", "TopKCategoricalAccuracy", (), (("k", 2),)))
    return ir.Model(
        (title, tags),
        tuple(g.nodes),
        (priority, department),
        ADAM,
        binary,
        (),
        (),
        "binary_crossentropy",
        output_names=("priority", "department"),
        losses=(("priority", binary), ("department", categorical)),
        loss_weights=(("priority", 1.0), ("department", 0.2)),
        output_metrics=(("department", (ir.CompileArg(shorthand="accuracy"), top_k)),),
    )


# -- blocks -------------------------------------------------------------------------------


def block(
    name: str,
    params: tuple[tuple[str, ir.PyValue], ...],
    build: Callable[[Graph], None],
    tensors: tuple[str, ...] = (),
) -> ir.Block:
    """A block whose body `build` adds to a graph on `in` (then tensor parameters)."""
    inputs = (ir.Input("in", ()), *(ir.Input(t, (), (("name", t),)) for t in tensors))
    g = Graph(*inputs)
    build(g)
    return ir.Block(name, params, inputs, tuple(g.nodes), g.last)


def expand(
    blocks: tuple[ir.Block, ...], graph: Graph, outputs: tuple[str, ...] | None = None
) -> tuple[tuple[ir.Node, ...], tuple[str, ...]]:
    """The expanded graph of a program over `blocks`, as the checker makes it: each block
    call inlines the body with its arguments, each repeat applies its node n times."""
    by_name = {b.name: b for b in blocks}
    nodes: list[ir.Node] = []
    counter = iter(range(10**9))

    def value(v: ir.PyValue, env: dict[str, ir.PyValue]) -> ir.PyValue:
        if isinstance(v, ir.Param):
            return env[v.name]
        if isinstance(v, tuple):
            return tuple(value(item, env) for item in v)
        return v

    def run(
        body: list[ir.Node], tensors: dict[str, str], env: dict[str, ir.PyValue], scope: tuple
    ) -> None:
        for node in body:
            count = value(node.repeat, env) if node.repeat is not None else 1
            assert isinstance(count, int)
            source = tensors[node.inputs[0]]
            keywords = tuple((name, tensors[t]) for name, t in node.call_tensors)
            for _ in range(count):
                reads = (source, *(tensors[t] for t in node.inputs[1:]))
                source = apply(node, reads, keywords, env, scope)
            tensors[node.id] = source

    def apply(node: ir.Node, reads: tuple, keywords: tuple, env: dict, scope: tuple) -> str:
        call = node.call
        args = tuple(value(a, env) for a in call.args)
        kwargs = tuple((k, value(v, env)) for k, v in call.kwargs)
        if call.module == "blocks":
            inner = by_name[call.class_name]
            bound = dict(inner.params)
            bound.update(zip([n for n, _ in inner.params], args, strict=False))
            bound.update(kwargs)
            tensors = {source.id: r for source, r in zip(inner.inputs, reads, strict=True)}
            run(list(inner.nodes), tensors, bound, (*scope, call.class_name))
            return tensors[inner.output]
        # The program's own layers keep their ids (their comments and rows are theirs).
        top = not scope and node.repeat is None
        new_id = node.id if top else f"e{next(counter)}"
        nodes.append(
            ir.Node(
                new_id,
                replace(call, args=args, kwargs=kwargs),
                reads,
                node.call_kwargs,
                keywords,
                scope=scope,
            )
        )
        return new_id

    tensors = {source.id: source.id for source in graph.inputs}
    run(graph.nodes, tensors, {}, ())
    return tuple(nodes), tuple(tensors[o] for o in (outputs or (graph.last,)))


def block_model(
    blocks: tuple[ir.Block, ...], graph: Graph, loss: str = "categorical_crossentropy"
) -> ir.Model:
    """A program over `blocks`: its expanded graph, with the blocks and the program."""
    nodes, outputs = expand(blocks, graph)
    metrics = (ir.CompileArg(shorthand="accuracy"),) if "crossentropy" in loss else ()
    return ir.Model(
        graph.inputs,
        nodes,
        outputs,
        ADAM,
        ir.CompileArg(shorthand=loss),
        metrics,
        (),
        loss,
        blocks=blocks,
        program=(graph.inputs, tuple(graph.nodes), (graph.last,)),
    )


def resnet50(shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> ir.Model:
    """The design's §4.1: ResNet50 as `cb`, `body`, `proj`, `id` and `stage` blocks."""
    eps = {"epsilon": 1.001e-5}

    def cb(g: Graph) -> None:
        g.add(layer("Conv2D", P("f"), P("k"), strides=P("s"), padding="same"))
        g.add(layer("BatchNormalization", **eps))

    def body(g: Graph) -> None:
        g.add(block_call("cb", P("f"), 1, P("s")))
        g.add(layer("ReLU"))
        g.add(block_call("cb", P("f"), 3))
        g.add(layer("ReLU"))
        g.add(block_call("cb", P("o"), 1))

    def proj(g: Graph) -> None:
        short = g.add(block_call("cb", P("o"), 1, P("s")), ("in",))
        main = g.add(block_call("body", P("f"), P("o"), P("s")), ("in",))
        g.add(layer("Add"), (short, main))
        g.add(layer("ReLU"))

    def identity(g: Graph) -> None:
        g.add(block_call("body", P("f"), P("o"), 1))
        g.add(layer("Add"), ("in", g.last))
        g.add(layer("ReLU"))

    def stage(g: Graph) -> None:
        g.add(block_call("proj", P("f"), P("o"), P("s")))
        g.add(block_call("id", P("f"), P("o")), repeat=P("n"))

    blocks = (
        block("cb", (("f", ir.REQUIRED), ("k", ir.REQUIRED), ("s", 1)), cb),
        block("body", (("f", ir.REQUIRED), ("o", ir.REQUIRED), ("s", ir.REQUIRED)), body),
        block("proj", (("f", ir.REQUIRED), ("o", ir.REQUIRED), ("s", ir.REQUIRED)), proj),
        block("id", (("f", ir.REQUIRED), ("o", ir.REQUIRED)), identity),
        block("stage", tuple((n, ir.REQUIRED) for n in "fosn"), stage),
    )
    g = Graph(ir.Input("in", shape))
    g.add(layer("ZeroPadding2D", padding=3))
    g.add(layer("Conv2D", 64, 7, strides=2))
    g.add(layer("BatchNormalization", **eps))
    g.add(layer("ReLU"))
    g.add(layer("ZeroPadding2D", padding=1))
    g.add(layer("MaxPooling2D", pool_size=3, strides=2))
    for f, o, s, n in ((64, 256, 1, 2), (128, 512, 2, 3), (256, 1024, 2, 5), (512, 2048, 2, 2)):
        g.add(block_call("stage", f, o, s, n))
    g.add(layer("GlobalAveragePooling2D"))
    g.add(layer("Dense", classes, activation="softmax"))
    return block_model(blocks, g)


def unet(shape: tuple[int, int, int] = (128, 128, 1)) -> ir.Model:
    """The design's §4.3: long skips by name, out of `dbl` and `up` blocks (`dbl`'s
    `[conv2d -> batchnorm -> relu] * 2` as a block `cbr` repeated twice)."""

    def cbr(g: Graph) -> None:
        g.add(layer("Conv2D", P("f"), 3, padding="same"))
        g.add(layer("BatchNormalization"))
        g.add(layer("ReLU"))

    blocks = (
        block("cbr", (("f", ir.REQUIRED),), cbr),
        block("dbl", (("f", ir.REQUIRED),), lambda g: g.add(block_call("cbr", P("f")), repeat=2)),
        block(
            "up",
            (("f", ir.REQUIRED),),
            lambda g: g.add(layer("Conv2DTranspose", P("f"), 2, strides=2)),
        ),
    )
    g = Graph(ir.Input("in", shape))
    skips = []
    for number, f in enumerate((64, 128, 256, 512), 1):
        skips.append(g.add(block_call("dbl", f), label=f"s{number}"))
        g.add(layer("MaxPooling2D", pool_size=2))
    g.add(block_call("dbl", 1024))
    for f, skip in zip((512, 256, 128, 64), reversed(skips), strict=True):
        g.add(block_call("up", f))
        g.add(layer("Concatenate"), (g.last, skip))
        g.add(block_call("dbl", f))
    g.add(layer("Conv2D", 1, 1, activation="sigmoid"))
    return block_model(blocks, g, loss="binary_crossentropy")


def encoder_stack() -> ir.Model:
    """The design's §4.4: a Transformer encoder block with defaults, repeated 4 times."""

    def encoder(g: Graph) -> None:
        g.add(layer("MultiHeadAttention", num_heads=P("heads"), key_dim=P("dim")))
        g.add(layer("Dropout", P("rate")))
        g.add(layer("Add"), ("in", g.last))
        a = g.add(layer("LayerNormalization", epsilon=1e-6))
        g.add(layer("Dense", P("ff"), activation="relu"))
        g.add(layer("Dense", P("dim")))
        g.add(layer("Dropout", P("rate")))
        g.add(layer("Add"), (a, g.last))
        g.add(layer("LayerNormalization", epsilon=1e-6))

    params = (("heads", ir.REQUIRED), ("dim", ir.REQUIRED), ("ff", ir.REQUIRED), ("rate", 0.1))
    blocks = (block("encoder", params, encoder),)
    g = Graph(ir.Input("in", (200,), (("dtype", "int32"),)))
    g.add(layer("Embedding", 20000, 32))
    g.add(block_call("encoder", 2, 32, 64), repeat=4)
    g.add(layer("GlobalAveragePooling1D"))
    g.add(layer("Dropout", 0.1))
    g.add(layer("Dense", 2, activation="softmax"))
    return block_model(blocks, g, loss="sparse_categorical_crossentropy")


def encoder_decoder() -> ir.Model:
    """The design's §4.4 with taps: an encoder, and a decoder whose cross-attention reads
    a tensor parameter (`def decoder heads dim @memory`), both repeated; two inputs."""

    def encoder(g: Graph) -> None:
        g.add(layer("MultiHeadAttention", num_heads=P("heads"), key_dim=P("dim")))
        g.add(layer("Dropout", 0.1))
        g.add(layer("Add"), (g.last, "in"))
        a = g.add(layer("LayerNormalization"), label="a")
        g.add(layer("Dense", P("ff"), activation="relu"))
        g.add(layer("Dense", P("dim")))
        g.add(layer("Add"), (g.last, a))
        g.add(layer("LayerNormalization"))

    def decoder(g: Graph) -> None:
        g.add(
            layer("MultiHeadAttention", num_heads=P("heads"), key_dim=P("dim")),
            call_kwargs=(("use_causal_mask", True),),
        )
        g.add(layer("Add"), (g.last, "in"))
        a = g.add(layer("LayerNormalization"), label="a")
        g.add(layer("MultiHeadAttention", num_heads=P("heads"), key_dim=P("dim")), (a, "memory"))
        g.add(layer("Add"), (g.last, a))
        g.add(layer("LayerNormalization"))

    each = (("heads", ir.REQUIRED), ("dim", ir.REQUIRED))
    blocks = (
        block("encoder", (*each, ("ff", ir.REQUIRED)), encoder),
        block("decoder", each, decoder, tensors=("memory",)),
    )
    src = ir.Input("src_in", (20,), (("dtype", "int32"), ("name", "src")))
    tgt = ir.Input("tgt_in", (20,), (("dtype", "int32"), ("name", "tgt")))
    g = Graph(src, tgt)
    g.add(layer("Embedding", 500, 16))
    mem = g.add(block_call("encoder", 2, 16, 32), repeat=2, label="mem")
    g.add(layer("Embedding", 500, 16), ("tgt_in",))
    g.add(block_call("decoder", heads=2, dim=16), (g.last, mem), repeat=2)
    g.add(layer("Dense", 500, activation="softmax"))
    return block_model(blocks, g, loss="sparse_categorical_crossentropy")


GRAPHS: dict[str, Callable[[], ir.Model]] = {
    "residual": residual,
    "fork_join": fork_join,
    "long_skip": long_skip,
    "self_attention": self_attention,
    "cross_attention": cross_attention,
    "two_inputs_two_outputs": two_inputs_two_outputs,
    "encoder_stack": encoder_stack,
    "encoder_decoder": encoder_decoder,
    "unet": unet,
    "resnet50": resnet50,
}
