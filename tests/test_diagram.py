"""`kdsl check --diagram`: kdsl's own SVG, Graphviz DOT, and the command around them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, run_kdsl
from golden_cases import all_programs, case_id

from kdsl import parse
from kdsl.codegen import diagram
from kdsl.errors import Source
from kdsl.ir import show_shape
from kdsl.semantics.checker import analyze

SVG = "{http://www.w3.org/2000/svg}"


def _analyzed(text: str):
    model, summary = analyze(parse(text), Source("m.k", text))
    return model, summary


@pytest.mark.parametrize("program", all_programs(), ids=case_id)
def test_svg_shows_every_layer_with_its_shape_and_params(program: Path) -> None:
    model, summary = _analyzed(program.read_text())
    root = ET.fromstring(diagram.to_svg(model, summary, program.name))
    groups = root.findall(f"{SVG}g")
    assert len(groups) == len(model.layers) + 1  # the input, then each layer
    texts = [[t.text for t in g.findall(f"{SVG}text")] for g in groups]
    assert texts[0][2] == show_shape((None, *model.input_node().shape))
    for row, (title, _code, figures) in zip(summary.rows, texts[1:], strict=True):
        assert title == f"{row.name} ({row.class_name})"
        if row.output_shape is not None:
            assert figures == f"{show_shape(row.output_shape)} · {row.params:,} params"
        else:
            assert figures == "shape unknown · ? params"
    total = summary.total()
    footer = root.findall(f"{SVG}text")[-1].text
    assert footer == (f"Total params: {total:,}" if total is not None else "Total params: unknown")


def test_svg_boxes_fit_their_text_and_do_not_overlap() -> None:
    model, summary = _analyzed((ROOT / "examples" / "digits_cnn.k").read_text())
    root = ET.fromstring(diagram.to_svg(model, summary, "digits"))
    rects = [g.find(f"{SVG}rect") for g in root.findall(f"{SVG}g")]
    longest = max(len(t.text) for t in root.iter(f"{SVG}text"))
    bottom = 0.0
    for rect in rects:
        assert float(rect.get("width")) >= longest * diagram.CHAR_WIDTH
        assert float(rect.get("y")) > bottom
        bottom = float(rect.get("y")) + float(rect.get("height"))
    assert bottom < float(root.get("height"))


def test_text_is_escaped() -> None:
    text = 'randomflip mode="<&\\">" in 4x4x3 -> flatten -> dense 1; adam; mse'
    model, summary = _analyzed(text)
    root = ET.fromstring(diagram.to_svg(model, summary, "a <title> & more"))
    assert any("<&" in (t.text or "") for t in root.iter(f"{SVG}text"))
    dot = diagram.to_dot(model, summary, 'say "hi" \\ bye')
    assert 'label="t' not in dot and '\\"hi\\" \\\\ bye' in dot
    if shutil.which("dot"):  # Graphviz reads the escaped quotes and backslashes back
        done = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "&lt;&amp;" in done.stdout and "say &quot;hi&quot;" in done.stdout


# Every character XML 1.0 forbids, or a terminal acts on: C0 controls (but tab, newline
# and CR, which XML allows yet a title must not hold raw), DEL, C1, U+FFFE/U+FFFF, and a
# lone surrogate (which UTF-8 cannot even encode).
UNSAFE_IN_XML = [chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9B, 0xFFFE, 0xFFFF, 0xD800)]


@pytest.mark.parametrize("char", UNSAFE_IN_XML, ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_in_the_title_are_escaped(char: str) -> None:
    """A program whose file name holds ESC (or any character XML 1.0 forbids) still
    draws a well-formed SVG and a DOT file with no raw control character."""
    model, summary = _analyzed("dense 5 in 4 -> dense 1; adam; mse")
    title = f"model{char}.k"
    svg = diagram.to_svg(model, summary, title)
    root = ET.fromstring(svg.encode("utf-8"))  # the parser refuses what XML forbids
    assert root.find(f"{SVG}title").text == f"model{repr(char)[1:-1]}.k"
    dot = diagram.to_dot(model, summary, title)
    dot.encode("utf-8")
    assert not [c for c in dot if c != "\n" and not c.isprintable()], ascii(dot)


def test_cli_draws_a_file_named_with_escape(tmp_path: Path) -> None:
    program = tmp_path / "x\x1b]0;pwned\x07.k"
    program.write_text("dense 5 in 4 -> dense 1; adam; mse\n")
    for suffix in (".svg", ".dot"):
        out = tmp_path / f"d{suffix}"
        result = run_kdsl("check", str(program), "--diagram", str(out))
        assert result.returncode == 0, result.stderr
        text = out.read_text()
        assert "\x1b" not in text and "\x07" not in text
        if suffix == ".svg":
            assert ET.fromstring(text).find(f"{SVG}title").text.endswith("x\\x1b]0;pwned\\x07.k")
        else:  # in a DOT string, a backslash is written twice
            assert "x\\\\x1b]0;pwned\\\\x07.k" in text
        assert "\x1b" not in result.stdout + result.stderr


def test_long_calls_are_cut() -> None:
    text = "dense 3 in 4 " + " ".join(
        f"{name}=glorot_uniform" for name in ("kernel_initializer", "bias_initializer")
    )
    model, summary = _analyzed(text + " name=a_rather_long_layer_name_indeed; adam; mse")
    code = diagram.boxes(model, summary)[1].code
    assert len(code) == diagram.MAX_CODE and code.endswith("...")


def test_dot_source_lists_a_chain() -> None:
    model, summary = _analyzed((ROOT / "examples" / "iris.k").read_text())
    dot = diagram.to_dot(model, summary, "iris")
    assert dot.startswith("digraph model {") and dot.rstrip().endswith("}")
    assert [line.strip() for line in dot.splitlines() if "->" in line] == [
        "n0 -> n1;",
        "n1 -> n2;",
        "n2 -> n3;",
    ]
    assert "(None, 5) · 25 params" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("program", all_programs()[::7], ids=case_id)
def test_graphviz_accepts_the_dot_source(program: Path) -> None:
    model, summary = _analyzed(program.read_text())
    content, drawn_by = diagram.draw(model, summary, program.name, ".svg")
    assert drawn_by.startswith("Graphviz")
    root = ET.fromstring(content)
    assert root.tag == f"{SVG}svg"


def test_png_needs_graphviz() -> None:
    model, summary = _analyzed("dense 1 in 2; adam; mse")
    with pytest.raises(diagram.GraphvizMissing):
        diagram.draw(model, summary, "t", ".png", use_graphviz=False)


def test_cli_draws_an_svg(tmp_path: Path) -> None:
    out = tmp_path / "iris.svg"
    result = run_kdsl("check", "examples/iris.k", "--diagram", str(out))
    assert result.returncode == 0, result.stderr
    assert f"kdsl: drew the diagram in {out}" in result.stdout
    assert ET.parse(out).getroot().tag == f"{SVG}svg"


def test_cli_without_graphviz_draws_its_own_svg_and_refuses_png(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "PATH": str(tmp_path / "empty")}
    command = [sys.executable, "-m", "kdsl", "check", "examples/iris.k", "--diagram"]
    svg = subprocess.run(
        [*command, str(tmp_path / "m.svg")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert svg.returncode == 0, svg.stderr
    assert "(kdsl (no Graphviz found))" in svg.stdout
    png = subprocess.run(
        [*command, str(tmp_path / "m.png")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert png.returncode == 1
    assert "a .png diagram needs Graphviz's `dot`" in png.stderr
    assert "Traceback" not in png.stderr
    assert not (tmp_path / "m.png").exists()


def test_cli_refuses_bad_suffix_and_the_input(tmp_path: Path) -> None:
    bad = run_kdsl("check", "examples/iris.k", "--diagram", str(tmp_path / "m.pdf"))
    assert bad.returncode == 2 and "must end in .svg or .dot or .png" in bad.stderr
    program = tmp_path / "m.svg"
    program.write_text("dense 1 in 2; adam; mse")
    same = run_kdsl("check", str(program), "--diagram", str(program))
    assert same.returncode == 1 and "refusing to overwrite it" in same.stderr
    assert program.read_text() == "dense 1 in 2; adam; mse"


def test_cli_writes_nothing_for_a_bad_program(tmp_path: Path) -> None:
    program = tmp_path / "bad.k"
    program.write_text("dense 3 in 4 -> conv2d 8 3; adam; mse")
    out = tmp_path / "bad.svg"
    result = run_kdsl("check", str(program), "--diagram", str(out))
    assert result.returncode == 1 and "error" in result.stderr
    assert not out.exists()


def test_a_graph_is_drawn_as_a_graph() -> None:
    """Issue 13: DOT and kdsl's own SVG draw every edge of a graph, a call's tensor
    keywords included (`attention_mask=`), with merge and attention boxes coloured."""
    from graph_models import GRAPHS

    from kdsl.semantics.shapes import infer

    model = GRAPHS["cross_attention"]()
    summary = infer(model)
    dot = diagram.to_dot(model, summary, "attention")
    attention, dot_product = (node.id for node in model.nodes[:2])
    edges = re.findall(r"^  (\w+) -> (\w+);$", dot, re.M)
    assert edges == [
        ("query_in", attention),
        ("memory_in", attention),
        ("mask_in", attention),
        (attention, dot_product),
        ("memory_in", dot_product),
        *((node.reads[0], node.id) for node in model.nodes[2:]),
    ]
    assert f'fillcolor="{diagram.COLOURS["attention"]}"' in dot
    root = ET.fromstring(diagram.to_svg(model, summary, "attention"))
    assert len(root.findall(f"{SVG}g")) == len(model.inputs) + len(model.nodes)
    assert len(root.findall(f"{SVG}polyline")) == len(edges)
    # Three inputs on the top row, side by side.
    tops = [float(g.find(f"{SVG}rect").get("y")) for g in root.findall(f"{SVG}g")]
    assert tops[:3] == [tops[0]] * 3 and tops[3] > tops[0]
