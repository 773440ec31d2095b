"""The parser at scale (issue 17): one lexing pass, no lark tree, the collector paused,
lean nodes; the fast path builds exactly the tree lark's own path builds, and leaves
every syntax error to it."""

from __future__ import annotations

import copy
import dataclasses
import gc
import inspect
import pickle
import tracemalloc
from pathlib import Path

import pytest
from grammar_strategies import GRAMMAR, TERMINALS, design_programs
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.lark import from_lark
from lark import Lark

from kdsl import source as source_module
from kdsl.errors import Source, SourceError
from kdsl.language import nodes, parser

ROOT = Path(__file__).resolve().parent.parent


def _chain(layers: int, long_lines: bool = False) -> str:
    """benchmarks/speed.py's chains: `dense 64 relu`, or with five initializer and
    regularizer keywords (the 13.5 MB program at 100,000 layers)."""
    extra = (
        " kernel_initializer=he_normal bias_initializer=zeros kernel_regularizer=l2"
        " bias_regularizer=l2 activity_regularizer=l2"
        if long_lines
        else ""
    )
    hidden = f"dense 64 relu{extra}"
    body = " -> ".join([f"{hidden} in 32"] + [hidden] * (layers - 2) + ["dense 10 softmax"])
    return f"{body}; adam 0.001; categorical_crossentropy; fit epochs=5 batch_size=32\n"


def _graph(blocks: int) -> str:
    """A v2 program of residual blocks: a group, a merge, a block call per step."""
    body = " -> ".join(["res 32"] * blocks)
    return (
        "def res f { [identity | dense f relu -> dense f] -> add -> activation relu }\n"
        f"input 32 -> dense 32 -> {body}; adam; mse\n"
    )


VALUES = """
# comments, lines, every kind of value
input 28x28x1 name="in\\tput" -> conv2d 8 (3, 3) padding='same'
  -> dense 4*8 kernel_regularizer=l2(0.01) bias_initializer=random_normal(stddev=0.05)
  -> rescaling (1 / 255) offset=-(1/255) -> dense 2**3 -> dense -2**2+12
  -> reshape (4, 2) -> a: dense 3 -> [b: dense 2 | dense 2] -> concatenate;
adam 1e-3; mse; metrics accuracy, auc num_thresholds=3; fit class_weight={0: 1, 1: 5}
"""


def _corpus() -> list[tuple[str, str]]:
    programs = [(str(p.relative_to(ROOT)), p.read_text()) for p in ROOT.glob("examples/**/*.k")]
    programs += [(str(p.relative_to(ROOT)), p.read_text()) for p in ROOT.glob("tests/golden/*.k")]
    programs += design_programs()
    programs += [("values", VALUES), ("chain", _chain(50)), ("long chain", _chain(50, True))]
    programs += [("graph", _graph(20)), ("windows lines", VALUES.replace("\n", "\r\n"))]
    return programs


CORPUS = _corpus()


@pytest.mark.parametrize(("where", "text"), CORPUS, ids=[where for where, _ in CORPUS])
def test_the_fast_path_builds_lark_s_tree(where: str, text: str) -> None:
    """Every node and every span as `_full_parse` builds them (lark's tree, then the
    builder), without falling back to it."""
    assert parser._fast_parse(text) == parser._full_parse(Source(where, text))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_lark(GRAMMAR, start="start", explicit=TERMINALS))
def test_the_fast_path_on_any_program_the_grammar_makes(text: str) -> None:
    try:
        full: object = parser._full_parse(Source("fuzz.k", text))
    except SourceError as error:
        full = error.diagnostics
    try:
        fast: object = parser._fast_parse(text)
    except (parser._Fallback, parser._BadToken):
        return  # left to the full path, whose answer parse() gives
    assert fast == full


@pytest.mark.parametrize(
    "text",
    [
        "dense 3 in 4 -> ; adam; mse",  # a syntax error
        "dense 3 in 4 ?; adam; mse",  # a character no terminal matches
        'dense 3 in 4 name="\\w"; adam; mse',  # an escape Python does not know
        "dense 3 in " + "(" * 9 + "4" + ")" * 9 + "; adam; mse",  # near the nesting limit
        "dense 3 in 4 -> rescaling " + "+".join(["1"] * 40) + "; adam; mse",  # operators
    ],
)
def test_what_the_fast_path_leaves_to_lark(text: str) -> None:
    """Errors and values near _check_nesting's limits: the full path reads them and
    `parse` answers as it does (the error snapshots in tests/errors hold the words)."""
    with pytest.raises((parser._Fallback, parser._BadToken)):
        parser._fast_parse(text)
    source = Source("x.k", text)
    try:
        expected: object = parser._full_parse(source)
    except SourceError as error:
        expected = [str(d) for d in error.diagnostics]
    try:
        got: object = parser.parse(source)
    except SourceError as error:
        got = [str(d) for d in error.diagnostics]
    assert got == expected


def test_one_lexing_pass_and_no_lark_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid program is lexed once (no separate `_check_nesting` pass) and never
    becomes a lark tree."""

    def refuse(*args, **kwargs):
        raise AssertionError("a second pass over the text")

    monkeypatch.setattr(Lark, "lex", refuse)
    monkeypatch.setattr(Lark, "parse", refuse)
    for where, text in CORPUS:
        parser.parse(Source(where, text))


def test_the_collector_is_paused_while_building(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    call = inspect.getattr_static(parser._Builder, "call")
    original = call.base_func

    def recording(self, meta, children):
        seen.append(gc.isenabled())
        return original(self, meta, children)

    monkeypatch.setattr(call, "base_func", recording)
    parser._fast_tables.cache_clear()
    try:
        assert gc.isenabled()
        parser.parse(Source("x.k", _chain(5)))
        assert gc.isenabled()  # and on again after
    finally:
        parser._fast_tables.cache_clear()
    assert seen and not any(seen)


@pytest.mark.parametrize(
    "node_class",
    [
        cls
        for module in (nodes, source_module)
        for _, cls in inspect.getmembers(module, dataclasses.is_dataclass)
        if cls.__module__ == module.__name__
    ],
)
def test_nodes_have_slots(node_class: type) -> None:
    """A tree holds millions of them: no per-instance dict (~100 bytes each)."""
    assert "__slots__" in vars(node_class)


def test_memory_per_byte_is_flat() -> None:
    """The tree of a program holds a bounded number of bytes per byte of its text, the
    same at 2,000 and 20,000 layers (tracemalloc counts the same at every run)."""

    def peak_per_byte(text: str) -> float:
        tracemalloc.start()
        try:
            tree = parser.parse(Source("x.k", text))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(tree.layers) >= 500
        return peak / len(text)

    parser._fast_tables()  # its one-off tables are not the program's
    for long_lines in (False, True):
        small, large = (peak_per_byte(_chain(n, long_lines)) for n in (500, 2_000))
        assert large < 100, large  # with lark's tree: 300 (short layers), 139 (long)
        assert large < small * 1.15, (small, large)


@pytest.mark.parametrize("command", ["check", "compile"])
def test_check_and_compile_turn_the_collector_on_again(command, tmp_path: Path, capsys) -> None:
    """The commands pause it while they work, not for whoever called `main` (a test
    process, the API): a process left without its collector grows without bound."""
    from conftest import kdsl_main

    program = tmp_path / "m.k"
    program.write_text(_chain(5))
    assert gc.isenabled()
    code, _out, err = kdsl_main([command, program], capsys)
    assert code == 0, err
    assert gc.isenabled()


def test_a_tree_s_positions_are_compact() -> None:
    """Positions are most of a large tree: a long layer's 19 spans took 2 KB with four
    integer objects each (columns past 256 are not shared). Packed, the tree of long
    layers holds under 19 bytes per byte of text (22.6 before) and of short ones under
    45 (50.3 before); without a span for each call's and keyword's name (where it
    starts its span), under 14.5 and 37."""

    def peak_per_byte(text: str) -> float:
        tracemalloc.start()
        try:
            parser.parse(Source("x.k", text))
            return tracemalloc.get_traced_memory()[1] / len(text)
        finally:
            tracemalloc.stop()

    parser._fast_tables()
    assert peak_per_byte(_chain(2_000, long_lines=True)) < 14.5
    assert peak_per_byte(_chain(2_000)) < 37


@pytest.mark.parametrize(
    "parts", [(1, 1, 1, 2), (3, 7, 3, 10), (1, 13_000_000, 1, 13_000_005), (2**32 - 1,) * 4]
)
def test_a_span_is_its_four_numbers(parts: tuple[int, int, int, int]) -> None:
    """Packed into one integer, a span still reads, compares, hashes, prints, copies and
    pickles as its four numbers, and is no number itself."""
    span = source_module.Span(*parts)
    assert (span.line, span.column, span.end_line, span.end_column) == parts
    assert span == source_module.Span(*parts) and hash(span) == hash(source_module.Span(*parts))
    assert span != source_module.Span(parts[0], parts[1], parts[2], parts[3] - 1)
    assert span != int(span) and int(span) != span and bool(span)
    line, column, end_line, end_column = parts
    assert repr(span) == (
        f"Span(line={line}, column={column}, end_line={end_line}, end_column={end_column})"
    )
    for copied in (copy.copy(span), copy.deepcopy(span), pickle.loads(pickle.dumps(span))):
        assert type(copied) is source_module.Span and copied == span
    assert {span: 1}[source_module.Span(*parts)] == 1


def test_a_span_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        source_module.Span(1, 2**32, 1, 1)
    with pytest.raises(ValueError):
        source_module.Span(-1, 1, 1, 1)


def _named_nodes(node) -> list[nodes.Call | nodes.Keyword]:
    """Every call and keyword in a tree (a program's `layers` are its chain's again)."""
    found: list[nodes.Call | nodes.Keyword] = []
    pending: list = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, nodes.Call | nodes.Keyword):
            found.append(item)
        if isinstance(item, tuple):
            pending.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, nodes.Span):
            pending.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return found


@pytest.mark.parametrize(("where", "text"), CORPUS, ids=[where for where, _ in CORPUS])
def test_a_name_span_is_where_the_name_is_written(where: str, text: str) -> None:
    """A call's and a keyword's name span points at its name, as the name's token did,
    though the tree keeps no span for it (a layer's name starts its span): 6 MB less
    at 100,000 short layers, 38 MB for long ones (five keywords each)."""
    source = Source(where, text)
    named = _named_nodes(parser.parse(source))
    assert named
    for node in named:
        span = node.name_span
        assert node.given_name_span is None
        assert span.line == span.end_line == node.span.line
        assert source.line(span.line)[span.column - 1 : span.end_column - 1] == node.name


def test_a_name_span_elsewhere_is_kept() -> None:
    """A call made with its name elsewhere than at its span's start (a wrapped layer,
    at its wrapper's span) keeps that span; one given where it would be anyway is the
    call the parser makes."""
    outer, inner = nodes.Span(2, 5, 2, 30), nodes.Span(2, 19, 2, 23)
    wrapped = nodes.Call("lstm", (), outer, inner)
    assert (wrapped.name_span, wrapped.given_name_span) == (inner, inner)
    same = nodes.Call("bidirectional", (), outer, nodes.Span(2, 5, 2, 18))
    assert same == nodes.Call("bidirectional", (), outer) and same.given_name_span is None
    keyword = nodes.Keyword("units", nodes.Number(3, "3", nodes.Span(1, 7, 1, 8)), outer)
    assert keyword.name_span == nodes.Span(2, 5, 2, 10)


@pytest.mark.parametrize(
    "parts",
    [(1, 1, 1, 2), (3, 7, 5, 10), (1, 13_000_000, 1, 13_000_005), (2**32 - 1, 1, 2**32 - 1, 9)],
)
@pytest.mark.parametrize("length", [0, 1, 5, 1_000])
def test_a_span_s_first_columns(parts: tuple[int, int, int, int], length: int) -> None:
    """`Span.first` (where a call's name is written) is the span of those columns."""
    line, column = parts[:2]
    span = source_module.Span(*parts)
    assert span.first(length) == source_module.Span(line, column, line, column + length)


def test_a_span_s_first_columns_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        source_module.Span(1, 2**32 - 3, 1, 2**32 - 1).first(3)
    with pytest.raises(ValueError):
        source_module.Span(1, 5, 1, 9).first(-1)
