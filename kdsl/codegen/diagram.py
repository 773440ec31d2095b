"""`kdsl check --diagram`: the layer stack as a picture, with shapes and parameter counts.

Two renderers from one list of boxes: Graphviz DOT (drawn by the system's `dot` when it
is installed, or written as `.dot` text) and a plain SVG of kdsl's own, so a diagram
never needs anything beyond kdsl. Neither needs TensorFlow: the figures are kdsl's own
shape inference, the same as `kdsl check` prints.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from kdsl import ir
from kdsl.errors import line_safe
from kdsl.ir import show_shape
from kdsl.semantics.catalog import load
from kdsl.semantics.shapes import Summary

# Fill colours by the catalog's layer category, light enough for black text.
COLOURS = {
    "input": "#e8e8e8",
    "core": "#dbe9f6",
    "convolutional": "#dcefd9",
    "pooling": "#f6e8cf",
    "normalization": "#ece0f3",
    "regularization": "#f7dede",
    "reshaping": "#f2f2d0",
    "rnn": "#d6eeee",
    "activations": "#fbe3f0",
    "preprocessing": "#e6e6f5",
}
MAX_CODE = 58  # characters of the Keras call shown in a box before it is cut with "..."


@dataclass(frozen=True)
class Box:
    """One layer (or input) as drawn: a title, its Keras call, and its figures; `node_id`
    is its node's (or input's) id, `inputs` the ids its arrows come from."""

    title: str
    code: str
    figures: str
    category: str
    node_id: ir.NodeId = ""
    inputs: tuple[ir.NodeId, ...] = ()


def boxes(model: ir.Model, summary: Summary) -> list[Box]:
    """The inputs, then every layer node with its output shape and parameter count."""
    from kdsl.codegen.render import expression, input_expression

    catalog = load()
    result = [
        Box(
            "input", input_expression(source), show_shape((None, *source.shape)), "input", source.id
        )
        for source in model.inputs
    ]
    for node in model.nodes:
        row = summary.row(node.id)
        assert row is not None, f"no summary row for node {node.id}"
        code = expression(node.call)
        if len(code) > MAX_CODE:
            code = code[: MAX_CODE - 3] + "..."
        shape = "shape unknown" if row.output_shape is None else show_shape(row.output_shape)
        params = "? params" if row.params is None else f"{row.params:,} params"
        category = catalog.layers[node.call.class_name.lower()].category
        title = f"{row.name} ({row.class_name})"
        result.append(Box(title, code, f"{shape} · {params}", category, node.id, node.inputs))
    return result


def _total(summary: Summary) -> str:
    total = summary.total()
    return "Total params: unknown" if total is None else f"Total params: {total:,}"


def to_dot(model: ir.Model, summary: Summary, title: str) -> str:
    """Graphviz source: one rounded box per layer, top to bottom."""
    lines = [
        "digraph model {",
        f"  graph [rankdir=TB, label={_dot_string(f'{title} · {_total(summary)}')}, "
        'labelloc=b, fontname="Helvetica", fontsize=12];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, '
        'color="#555555"];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    items = boxes(model, summary)
    for box in items:  # DOT ids are node ids (`n0`, ...), which are DOT identifiers
        label = _dot_string(f"{box.title}\n{box.code}\n{box.figures}")
        fill = COLOURS.get(box.category, "#ffffff")
        lines.append(f'  {box.node_id} [label={label}, fillcolor="{fill}"];')
    lines += [f"  {source} -> {box.node_id};" for box in items for source in box.inputs]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    """A DOT quoted string; newlines become centred line breaks, and other control
    characters (a file name may hold ESC) are written escaped."""
    text = "\n".join(line_safe(line) for line in text.split("\n"))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def escape(text: str) -> str:
    """Text for an SVG: XML's special characters escaped, and every character XML 1.0
    forbids (control characters such as ESC, from a file name) written as `\\x1b`."""
    return _xml_escape(line_safe(text))


# Layout of kdsl's own SVG, in pixels; monospace text so widths can be computed.
CHAR_WIDTH, LINE_HEIGHT, PAD, GAP, MARGIN = 7.2, 17, 10, 26, 20


def to_svg(model: ir.Model, summary: Summary, title: str) -> str:
    """A self-contained SVG (no fonts or scripts to fetch) of the layer stack."""
    # A stack of boxes, an arrow from each to the next: the picture of a chain.
    assert model.is_chain, "kdsl's own SVG draws chains only; DOT draws any graph"
    items = boxes(model, summary)
    longest = max(len(text) for box in items for text in (box.title, box.code, box.figures))
    longest = max(longest, len(title), len(_total(summary)))
    box_width = round(longest * CHAR_WIDTH + 2 * PAD)
    box_height = 3 * LINE_HEIGHT + PAD
    width = box_width + 2 * MARGIN
    height = MARGIN + LINE_HEIGHT + len(items) * (box_height + GAP) - GAP + 2 * LINE_HEIGHT
    centre = width / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, '
        'monospace" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
        "</marker></defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{centre}" y="{MARGIN}" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    top = MARGIN + LINE_HEIGHT
    for index, box in enumerate(items):
        fill = COLOURS.get(box.category, "#ffffff")
        parts.append(
            f'<g class="layer"><rect x="{MARGIN}" y="{top}" width="{box_width}" '
            f'height="{box_height}" rx="8" fill="{fill}" stroke="#555"/>'
        )
        for line, (text, weight) in enumerate(
            ((box.title, "bold"), (box.code, "normal"), (box.figures, "normal"))
        ):
            y = top + PAD / 2 + LINE_HEIGHT * (line + 0.75)
            parts.append(
                f'<text x="{centre}" y="{y:g}" text-anchor="middle" font-weight="{weight}">'
                f"{escape(text)}</text>"
            )
        parts.append("</g>")
        bottom = top + box_height
        if index < len(items) - 1:
            parts.append(
                f'<line x1="{centre}" y1="{bottom}" x2="{centre}" y2="{bottom + GAP - 2}" '
                'stroke="#555" marker-end="url(#arrow)"/>'
            )
        top = bottom + GAP
    parts.append(
        f'<text x="{centre}" y="{top - GAP + LINE_HEIGHT * 1.5:g}" text-anchor="middle">'
        f"{escape(_total(summary))}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def graphviz() -> str | None:
    """The path of Graphviz's `dot`, if the system has it."""
    return shutil.which("dot")


def draw(
    model: ir.Model, summary: Summary, title: str, suffix: str, use_graphviz: bool = True
) -> tuple[bytes, str]:
    """The diagram's bytes for a `.svg`, `.dot` or `.png` file, and what drew it.

    `.svg` goes through Graphviz when it is installed (and `use_graphviz`), else kdsl
    draws it; `.png` needs Graphviz. Raises `GraphvizMissing` / `GraphvizFailed`.
    """
    if suffix == ".dot":
        return to_dot(model, summary, title).encode(), "kdsl (Graphviz DOT source)"
    dot = graphviz() if use_graphviz else None
    if dot is None:
        if suffix == ".png":
            raise GraphvizMissing()
        return to_svg(model, summary, title).encode(), "kdsl (no Graphviz found)"
    try:
        done = subprocess.run(
            [dot, f"-T{suffix[1:]}"],
            input=to_dot(model, summary, title).encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GraphvizFailed(str(error)) from None
    if done.returncode != 0:
        raise GraphvizFailed(done.stderr.decode(errors="replace").strip())
    return done.stdout, f"Graphviz ({dot})"


class GraphvizMissing(Exception):
    """A `.png` diagram was asked for and there is no `dot` to draw it."""


class GraphvizFailed(Exception):
    """`dot` ran and failed; the message is what it said."""
