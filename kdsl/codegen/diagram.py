"""`kdsl check --diagram`: the layer stack as a picture, with shapes and parameter counts.

Two renderers from one list of boxes: Graphviz DOT (drawn by the system's `dot` when it
is installed, or written as `.dot` text) and a plain SVG of kdsl's own, so a diagram
never needs anything beyond kdsl. Neither needs TensorFlow: the figures are kdsl's own
shape inference, the same as `kdsl check` prints.
"""

from __future__ import annotations

import heapq
import shutil
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from kdsl import ir
from kdsl.errors import line_safe
from kdsl.ir import show_shape
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
    "merging": "#fde9c9",
    "attention": "#d9e4fb",
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
    from kdsl.codegen.explain import category
    from kdsl.codegen.render import expression, input_expression

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
        title = f"{row.name} ({row.class_name})"
        kind = category(node.call.class_name)
        result.append(Box(title, code, f"{shape} · {params}", kind, node.id, node.reads))
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
    if not model.is_chain:
        return _graph_svg(model, summary, title)
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
        parts += _layer_box(
            box, f'<g class="layer"><rect x="{MARGIN}" y="{top}" ', top, str(centre), fill,
            box_width, box_height,
        )  # fmt: skip
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


def _ranks(items: list[Box]) -> dict[ir.NodeId, int]:
    """Each box's row: one below the lowest box it reads (inputs on the top row)."""
    rank: dict[ir.NodeId, int] = {}
    for box in items:  # in topological order
        rank[box.node_id] = 1 + max((rank[i] for i in box.inputs), default=-1)
    return rank


def _columns(items: list[Box], rank: dict[ir.NodeId, int]) -> dict[ir.NodeId, float]:
    """Each box's place in its row: rows ordered by the mean place of the boxes they
    read (fewer crossings), then numbered from 0. Linear up to each row's sort."""
    rows: dict[int, list[Box]] = {}
    for box in items:
        rows.setdefault(rank[box.node_id], []).append(box)
    column: dict[ir.NodeId, float] = {}
    for number in sorted(rows):
        row = rows[number]
        wanted = {
            box.node_id: (
                sum(column[i] for i in box.inputs) / len(box.inputs) if box.inputs else index
            )
            for index, box in enumerate(row)
        }
        for place, box in enumerate(sorted(row, key=lambda b: wanted[b.node_id])):
            column[box.node_id] = place
    return column


def _lanes(items: list[Box], rank: dict[ir.NodeId, int]) -> dict[tuple[str, str], int]:
    """A lane for each edge that skips rows, edges whose rows do not overlap sharing one
    (a ResNet's shortcuts, one after another, all run down the first)."""
    spans = sorted(
        (rank[source], rank[box.node_id], source, box.node_id)
        for box in items
        for source in dict.fromkeys(box.inputs)
        if rank[box.node_id] - rank[source] > 1
    )
    busy: list[tuple[int, int]] = []  # (the last row a lane is busy to, the lane)
    lane_of: dict[tuple[str, str], int] = {}
    lanes = 0
    for start, end, source, target in spans:
        if busy and busy[0][0] <= start:  # the lane that frees first is free by now
            _, lane = heapq.heappop(busy)
        else:
            lane, lanes = lanes, lanes + 1
        heapq.heappush(busy, (end, lane))
        lane_of[(source, target)] = lane
    return lane_of


def _graph_svg(model: ir.Model, summary: Summary, title: str) -> str:
    """Any graph as rows of boxes (a box one row below what it reads), each edge an
    arrow; an edge that skips rows runs down a lane to the right of the rows it skips,
    so it never crosses a box. Readable for a 177-layer ResNet (a few boxes a row)."""
    items = boxes(model, summary)
    rank = _ranks(items)
    column = _columns(items, rank)
    longest = max(len(text) for box in items for text in (box.title, box.code, box.figures))
    box_width = round(longest * CHAR_WIDTH + 2 * PAD)
    box_height = 3 * LINE_HEIGHT + PAD
    step_x, step_y = box_width + GAP, box_height + 2 * GAP
    rows = max(rank.values()) + 1
    widest = int(max(column.values())) + 1
    by_id = {box.node_id: box for box in items}
    lane_of = _lanes(items, rank)
    lane_count = max(lane_of.values(), default=-1) + 1
    boxes_width = widest * step_x - GAP
    width = boxes_width + (GAP + 8 * lane_count if lane_count else 0) + 2 * MARGIN
    width = max(width, round(max(len(title), len(_total(summary))) * CHAR_WIDTH) + 2 * MARGIN)
    height = MARGIN + LINE_HEIGHT + rows * step_y - 2 * GAP + 2 * LINE_HEIGHT
    top0 = MARGIN + LINE_HEIGHT

    def x_of(box: Box) -> float:
        return MARGIN + column[box.node_id] * step_x

    def y_of(box: Box) -> float:
        return top0 + rank[box.node_id] * step_y

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, '
        'monospace" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
        "</marker></defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:g}" y="{MARGIN}" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for box in items:
        left, top = x_of(box), y_of(box)
        fill = COLOURS.get(box.category, "#ffffff")
        parts += _layer_box(
            box, f'<g class="layer" id="{box.node_id}"><rect x="{left:g}" y="{top:g}" ', top,
            f"{left + box_width / 2:g}", fill, box_width, box_height,
        )  # fmt: skip
        end_x, end_y = left + box_width / 2, top - 2
        for source_id in dict.fromkeys(box.inputs):
            source = by_id[source_id]
            start_x, start_y = x_of(source) + box_width / 2, y_of(source) + box_height
            lane = lane_of.get((source_id, box.node_id))
            if lane is None:
                points = [(start_x, start_y), (end_x, end_y)]
            else:  # down the lane right of every box, clear of the rows it skips
                lane_x = MARGIN + boxes_width + GAP / 2 + 8 * lane
                points = [
                    (start_x, start_y),
                    (lane_x, start_y + GAP / 2),
                    (lane_x, end_y - GAP / 2),
                    (end_x, end_y),
                ]
            path = " ".join(f"{x:g},{y:g}" for x, y in points)
            parts.append(
                f'<polyline class="edge" points="{path}" fill="none" stroke="#555" '
                'marker-end="url(#arrow)"/>'
            )
    parts.append(
        f'<text x="{width / 2:g}" y="{height - LINE_HEIGHT / 2:g}" text-anchor="middle">'
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


def _layer_box(
    box, opening: str, top: float, centre: str, fill: str, width: int, height: int
) -> list[str]:
    """A layer's box in the SVG, for a chain's column and a graph's rows alike: `opening`
    starts its group and rectangle at their place, `centre` is its lines' x."""
    parts = [f'{opening}width="{width}" height="{height}" rx="8" fill="{fill}" stroke="#555"/>']
    for line, (text, weight) in enumerate(
        ((box.title, "bold"), (box.code, "normal"), (box.figures, "normal"))
    ):
        y = top + PAD / 2 + LINE_HEIGHT * (line + 0.75)
        parts.append(
            f'<text x="{centre}" y="{y:g}" text-anchor="middle" font-weight="{weight}">'
            f"{escape(text)}</text>"
        )
    parts.append("</g>")
    return parts
