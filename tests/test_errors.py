"""Every error kdsl can report on a program, snapshotted: a change in wording is a diff.

Each `tests/errors/NAME.k` has `NAME.out`: the exit code, then exactly what
`kdsl compile` printed to stderr. Rewrite them with `pytest --update-goldens`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import kdsl_main as compile_cli

from kdsl import check_source, ir
from kdsl.errors import Source
from kdsl.source import Span

ERRORS = ROOT / "tests" / "errors"
PROGRAMS = sorted(ERRORS.glob("*.k"))
# Files that cannot be read as a program at all: `FILE: error: ...`, no line to point at.
WHOLE_FILE_ERRORS = {"not_utf8"}


def snapshot(name: str, code: int, stderr: str, update: bool) -> None:
    path = ERRORS / f"{name}.out"
    text = f"exit: {code}\n{stderr}"
    if update or not path.exists():
        path.write_bytes(text.encode())  # byte for byte: a message may quote a raw `\r`
        if not update:
            pytest.fail(f"new snapshot {path}: read it and commit it")
    expected = path.read_bytes().decode()
    assert text == expected, "error output changed; if intended: pytest --update-goldens"


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_error_snapshot(program: Path, capsys, monkeypatch, update_goldens: bool) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, err = compile_cli(["compile", str(program.relative_to(ROOT))], capsys)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    snapshot(program.stem, code, err, update_goldens)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_errors_point_at_the_file(program: Path, capsys, monkeypatch) -> None:
    """Each message starts `FILE:LINE:COL: error:`: every problem has a place, the end of
    the file at least."""
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", str(program.relative_to(ROOT))], capsys)
    name = str(program.relative_to(ROOT))
    first = err.splitlines()[0]
    if program.stem in WHOLE_FILE_ERRORS:
        assert first.startswith(f"{name}: error: ")
    else:
        assert re.match(rf"{re.escape(name)}:\d+:\d+: ", first), first
    assert "error:" in first


def test_all_problems_are_reported_at_once(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/many_errors.k"], capsys)
    messages = [line for line in err.splitlines() if ": error:" in line]
    assert len(messages) >= 7, err
    for expected in (
        "`dens`",
        "`rellu`",
        "`activaton`",
        "`adma`",
        "`categorical_crossentopy`",
        "`acuracy`",
        "no input shape",
    ):
        assert any(expected in m for m in messages), (expected, err)


def test_did_you_mean(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/many_errors.k"], capsys)
    for suggestion in (
        "`dense`",
        "`relu`",
        "`activation`",
        "`adam`",
        "`categorical_crossentropy`",
        "`accuracy`",
    ):
        assert f"did you mean {suggestion}?" in err


def test_caret_is_under_the_token(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    _, _, err = compile_cli(["compile", "tests/errors/unknown_layer.k"], capsys)
    lines = err.splitlines()
    source, caret = lines[1], lines[2]
    start = caret.index("^")
    assert source[start : start + 4] == "dens"
    assert caret.strip() == "^~~~"


def test_missing_file(capsys, tmp_path) -> None:
    code, _, err = compile_cli(["compile", str(tmp_path / "nope.k")], capsys)
    assert code == 1
    assert err == f"{tmp_path / 'nope.k'}: error: no such file\n"


def test_directory(capsys, tmp_path) -> None:
    code, _, err = compile_cli(["compile", str(tmp_path)], capsys)
    assert code == 1
    assert "is a directory" in err


def test_color_only_when_asked(capsys, monkeypatch) -> None:
    """Plain text when stderr is not a terminal (as under pytest), whatever NO_COLOR says."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, _, err = compile_cli(["compile", "tests/errors/unknown_layer.k"], capsys)
    assert "\x1b[" not in err


def test_unreadable_file(capsys) -> None:
    """A file the OS refuses to read (even to root: /proc/self/mem) is one clear error."""
    code, _, err = compile_cli(["compile", "/proc/self/mem"], capsys)
    assert code == 1
    assert err == "/proc/self/mem: error: cannot be read: Input/output error\n"


def test_permission_denied(capsys, tmp_path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file; the /proc case above covers unreadable files")
    program = tmp_path / "secret.k"
    program.write_text("dense 1 in 4; adam; mse\n")
    program.chmod(0)
    code, _, err = compile_cli(["compile", str(program)], capsys)
    assert code == 1
    assert "permission denied" in err


def test_a_long_line_is_shown_around_the_spot(capsys, tmp_path) -> None:
    """Problems on one 100 KB line print short excerpts, not the whole line each time
    (gigabytes for 10,000 problems): the shown part of a long line is cut around the
    caret, the caret still under the spot."""
    from kdsl.errors import SHOWN_COLUMNS, SourceError, format_diagnostics

    text = "dense 1 in 4; adam; mse; metrics " + "acuracy, " * 10_000 + "mae\n"
    source = Source("long.k", text)
    with pytest.raises(SourceError) as raised:
        check_source(text, "long.k")
    diagnostics = raised.value.diagnostics
    assert len(diagnostics) == 10_000
    lines = format_diagnostics(source, diagnostics, limit=len(diagnostics)).splitlines()
    assert len([line for line in lines if ": error: unknown metric" in line]) == 10_000
    shown = lines[1::4]
    carets = lines[2::4]
    assert max(map(len, shown)) <= 4 + SHOWN_COLUMNS + 6
    for source_line, caret in zip(
        shown[:50] + shown[-50:], carets[:50] + carets[-50:], strict=True
    ):
        start = caret.index("^")
        assert source_line[start : start + 7] == "acuracy", (source_line, caret)


FLOODS = {
    "unknown keywords": lambda n: (
        "dense 5 in 4 " + " ".join(f"bogus{i}=1" for i in range(n)) + "; adam; mse"
    ),
    "unknown metrics": lambda n: "dense 1 in 4; adam; mse; metrics " + "acuracy, " * n + "mae",
    "unknown layers": lambda n: (
        "dense 5 in 4 " + "".join(f"-> dens{i} " for i in range(n)) + "; adam; mse"
    ),
    "unknown fit options": lambda n: (
        "dense 1 in 4; adam; mse; fit " + " ".join(f"bogus{i}=1" for i in range(n))
    ),
    "one a line": lambda n: (
        "dense 5 in 4\n" + "".join(f"  -> dens{i}\n" for i in range(n)) + "; adam; mse"
    ),
}


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_a_flood_of_errors_prints_the_first_ones_and_a_count(kind: str, capsys, tmp_path) -> None:
    """2,000 mistakes (or 10,000) print the first MAX_SHOWN_DIAGNOSTICS, then a count of
    the rest, as gcc's -fmax-errors and clang's -ferror-limit do: a screenful, never megabytes."""
    from kdsl.errors import MAX_SHOWN_DIAGNOSTICS

    program = tmp_path / "flood.k"
    program.write_text(FLOODS[kind](2_000) + "\n")
    code, out, err = compile_cli(["compile", program], capsys)
    assert code == 1 and out == ""
    headlines = [line for line in err.splitlines() if ": error: " in line]
    assert len(headlines) == MAX_SHOWN_DIAGNOSTICS
    last = err.splitlines()[-1]
    assert re.fullmatch(
        rf"{re.escape(str(program))}: note: [\d,]+ more errors not shown "
        rf"\(the first {MAX_SHOWN_DIAGNOSTICS} are above\)",
        last,
    ), last
    assert int(last.split(" more")[0].rsplit(" ", 1)[1].replace(",", "")) >= 1_900
    assert len(err) < 200 * (MAX_SHOWN_DIAGNOSTICS + 1) * 4


def test_the_count_of_the_rest_names_errors_and_warnings() -> None:
    from kdsl.errors import Diagnostic, format_diagnostics

    source = Source("m.k", "dense 1 in 4; adam; mse\n")
    span = Span(1, 1, 1, 6)
    diagnostics = [Diagnostic("e", span)] * 3 + [Diagnostic("w", span, severity="warning")] * 2
    assert format_diagnostics(source, diagnostics, limit=5).count("\n") == 5 * 3 - 1
    rest = format_diagnostics(source, diagnostics, limit=2).splitlines()[-1]
    assert rest == "m.k: note: 1 more error and 2 more warnings not shown (the first 2 are above)"


def test_typo_distance_stops_early_but_stays_exact() -> None:
    """did_you_mean's edit distance gives up once a candidate is out of reach (so 10,000
    unknown names cost 10,000 short scans): within the limit it is exact, beyond it some
    number beyond the limit, for every pair of a few thousand."""
    import random

    from kdsl.errors import _edits

    def exact(a: str, b: str) -> int:
        rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                rows[i][j] = min(
                    rows[i - 1][j] + 1,
                    rows[i][j - 1] + 1,
                    rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
                )
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
        return rows[-1][-1]

    generator = random.Random(5)
    words = [
        "".join(generator.choice("abcd") for _ in range(generator.randint(0, 8)))
        for _ in range(120)
    ]
    for a in words[:60]:
        for b in words:
            for limit in (1, 2, 3):
                distance = exact(a, b)
                pruned = _edits(a, b, limit)
                assert pruned == distance if distance <= limit else pruned > limit, (a, b, limit)


CONTROLS = [chr(c) for c in (*range(1, 0x20), 0x7F, 0x85, 0x9B, 0x2028) if chr(c) not in "\n\t"]


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_never_reach_the_terminal(char: str, capsys, tmp_path) -> None:
    """ESC, BEL, CSI... in a program (a string, a name, a comment) or its file name are
    shown escaped (`\\x1b`), never raw (they retitle or clear the terminal), and the caret
    stays under the spot it marks: every excerpt and caret line is checked."""
    from kdsl.errors import line_safe

    programs = [
        f'dense 5 in 4 name="a{char}b" bogus=1 -> dens 3  # {char}',
        f"\t{char} dense 1 in 4; adam; mse",
        f'dense 5 in 4 name="a{char}b" bogus{char}=1; adam; mse',
    ]
    excerpts = 0
    for number, text in enumerate(programs):
        program = tmp_path / f"bad{char}{number}.k"
        program.write_text(text + "\n")
        code, _, err = compile_cli(["compile", program], capsys)
        assert code in (0, 1)  # a form feed, say, is only white space
        assert not [c for c in err if c not in "\n\t" and not c.isprintable()], ascii(err)
        assert code == 0 or line_safe(str(program)) in err
        output = err.splitlines()
        for index, line in enumerate(output):
            place = re.match(r".*:1:(\d+): (error|warning): ", line)
            if not place or not output[index + 2].lstrip().startswith("^"):
                continue
            column = int(place[1])
            shown, caret = output[index + 1][4:], output[index + 2][4:]
            start = caret.index("^")
            assert caret[:start].strip(" \t") == ""
            before = "\t".join(line_safe(part) for part in text[: column - 1].split("\t"))
            assert shown[:start] == before, (shown, caret)
            spot = text[column - 1]
            assert shown[start:].startswith(spot if spot == "\t" else line_safe(spot))
            excerpts += 1
    assert excerpts >= 2


def test_control_characters_in_whole_file_errors(capsys, tmp_path) -> None:
    """A file name that carries ESC reaches no terminal raw in a whole-file error either."""
    code, _, err = compile_cli(["compile", tmp_path / "x\x1b]0;pwned\x07.k"], capsys)
    assert code == 1
    assert "\x1b" not in err and "\x07" not in err
    assert "x\\x1b]0;pwned\\x07.k: error: no such file" in err


# -- every kind of diagnostic has a place and a hint --------------------------------------

# Programs that reach the diagnostics the snapshots and the fuzz inputs do not.
# v2 (graphs, blocks, several outputs): one program per diagnostic of
# kdsl/semantics/graph.py and the checker's output sections.
GRAPH_PROGRAMS: list[str] = [
    "def b { dense 2 }\ndef b { dense 3 }\ninput 4 -> b; adam; mse",
    "def dense { relu }\ninput 4 -> dense 2; adam; mse",
    "def b f f { dense f }\ninput 4 -> b 2 2; adam; mse",
    "def b relu { dense relu }\ninput 4 -> b 2; adam; mse",
    "def b f=2 g { dense g }\ninput 4 -> b 2 3; adam; mse",
    "input 4 -> a: dense 3 -> input 3; adam; mse",
    "input 4 -> dense 1; adam; loss @a mse",
    "input 4 -> dense 3 -> [dense 2 in 3 | dense 2] -> add; adam; mse",
    "input 4x8 -> multiheadattention 2 4 value=3; adam; mse",
    "input 4x8 -> multiheadattention 2 4 return_attention_scores=true; adam; mse",
    "input 4 -> a: dense 3 -> dense 3 units=@a; adam; mse",
    "input 4 -> a: dense 3 -> dense 3 @a; adam; mse",
    "input 4 -> dense 3 -> add; adam; mse",
    "input 4x8 -> multiheadattention 2 4 use_causal_mask=3; adam; mse",
    "def b { dense 2 }\ninput 4 -> b in 4; adam; mse",
    "def b { dense 2 }\ninput 4 -> b name=3; adam; mse",
    "def b f { dense f }\ninput 4 -> b 2 3; adam; mse",
    "def b f { dense f }\ninput 4 -> b g=2; adam; mse",
    "def b f { dense f }\ninput 4 -> b 2 f=2; adam; mse",
    "def b @m { concatenate @m }\ninput 4 -> b 2; adam; mse",
    "def b f { dense f }\ninput 4 -> a: dense 2 -> b @a; adam; mse",
    "def b f { dense f }\ninput 4 -> b; adam; mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; mse; metrics mae",
    "input 4 -> [a: dense 1 | b: dense 2]; outputs @a @b; outputs @a; adam; mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @a mse, mae; loss @b mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @a",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; mse; loss @a mse; loss @b mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @a mse; loss @a mae; loss @b mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @a mse weight=-1; loss @b mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @a mse",
    "input 4 -> [a: dense 1 | b: dense 2]; adam; loss @c mse; loss @a mse; loss @b mse",
    "input 4 -> [a: dense 1 | b: dense 2]; outputs @a 3; adam; mse",
    "input 4 -> [a: dense 1 | b: dense 2]; outputs @a @a @b @zz; adam; mse",
    "x: input 4 -> dense 1; y: input 4 -> dense 2; adam; mse",
    "x: input 4 -> dense 1; y: input 4; @x -> dense 2; adam; mse",
    "x: input 4 -> a: dense 1; outputs @x @a; adam; mse",
    "input 4 -> [dense 1 | dense 2]; adam; mse",
    "input 4 -> dense 3 * 0; adam; mse",
    "input 4 -> dense 3 * 1; adam; mse",
    "def b n { a: dense 3 * n }\ninput 4 -> b 0; adam; mse",
    "def b n { dense 3 * n }\ninput 4 -> b 2.5; adam; mse",
    "input 4 -> dense 3 * k; adam; mse",
    "input 4 -> [dense 3 | dense 3] * 2 -> add; adam; mse",
    "input 4 -> [dense 3 | dense 3] -> dense 2; adam; mse",
    "input 4 -> g: [dense 3 | dense 3]; adam; mse",
    "input 4 -> [dense 3 | @x]; adam; mse",
    "input 4 -> [dense 3 -> [dense 2 | dense 2] | dense 3] -> add; adam; mse",
    "input 4 -> a: dense 3 -> a: dense 3; adam; mse",
    "input 4 -> in: dense 3; adam; mse",
    "input 4 -> dense 3 -> @in; adam; mse",
    "input 4 -> dense 3 -> add @later -> later: dense 3; adam; mse",
    "input 4 -> p: dense 3; def_: input 2 -> dense 3; adam; mse",
    "def b { dense 3 -> add @p }\ninput 4 -> p: dense 3 -> b; adam; mse",
    "def b { dense 3; dense 4 }\ninput 4 -> b; adam; mse",
    "def b { [dense 3 | dense 4] }\ninput 4 -> b; adam; mse",
    "input 4 -> dense 3; dense 4; adam; mse",
    "dense 3; adam; mse",
    "input 4; adam; mse",
    "input 4 -> a: dense 2; @a -> dense 2 in 3; adam; mse",
    "input 4 -> a: dense 2 -> b: dense 2; x: input 4 name=y -> concatenate @b; adam; mse",
    "input 4 -> @a -> dense 2; adam; mse",
    "input 4 -> dense 2 * 20000; adam; mse",
    "input 4 -> [a: dense 1 | b: dense 2]; outputs; adam; mse",
    "input 5x16 -> groupedqueryattention 8 4 3 -> gap1d -> dense 1; adam; mse",
    "input 7x6x3x8 -> conv3dtranspose 1 2 output_padding=0 padding=same; adam; mse",
    "v: input 5x12 -> w: dense 12; q: input 5x16 -> groupedqueryattention 8 4 2 value=@w "
    "-> gap1d -> dense 1; adam; mse",
    "shared e { dense 4 }\nl: input 3 -> a: e; r: input 5 -> e -> add @a; adam; mse",
]


EXTRA_PROGRAMS: list[str] = [
    # What Keras checks (issue 19): names, kinds and ranges from the catalog, the tables
    # of what Keras refuses only when the model runs, and the shape rules it led to.
    "input 8x8x1 -> conv2d 4 3 data_format=channels_middle -> flatten -> dense 1; adam; mse",
    "input 3 dtype=string -> textvectorization ngrams=zeros -> dense 1; adam; mse",
    "input 5x5x3 -> randomcontrast same -> flatten -> dense 1; adam; mse",
    "input 4 -> gaussiannoise 2.0 -> dense 1; adam; mse",
    "input 4x4 -> lstm 3 dropout=1.5 -> dense 1; adam; mse",
    "input 4 dtype=int32 -> categoryencoding -> dense 1; adam; mse",
    "input 4x4 -> lstm 3 stateful=true -> dense 1; adam; mse",
    "input 8x8x3 -> equalization; adam; mse",
    "input 8 -> stftspectrogram; adam; mse",
    "input 100 -> melspectrogram; adam; mse",
    "input 5x5 -> dense 2 activity_regularizer=orthogonal_regularizer; adam; mse",
    "input 4 -> einsumdense 0.5 3; adam; mse",
    'input 4 -> einsumdense "ab,bc->ac" none; adam; mse',
    'input 4x3 -> einsumdense "ab,bc->ac" 3; adam; mse',
    'input (None, 4) -> einsumdense "abc,bd->acd" (4, 3); adam; mse',
    'input 4 -> einsumdense "ab,bz->ac" 3; adam; mse',
    'input 4 -> einsumdense "ab,bc->ac" (0,); adam; mse',
    "input 8x8x1 -> conv2d 4 (0, 3) -> flatten -> dense 1; adam; mse",
    "input 4x4 -> bidirectional lstm 2 merge_mode=none; adam; mse",
    "input 3x3x3 -> contrastlimitedadaptivehistogramequalization -> flatten -> dense 1; adam; mse",
    "input 6 -> softmax 3; adam; mse",
    "input 7x8x8 -> spatialdropout2d (1, 2) -> flatten -> dense 1; adam; mse",
    "input 7x7 -> dropout 0.5 noise_shape=(1, 2, 3) -> flatten -> dense 1; adam; mse",
    "input 7x7x3 -> randomgaussianblur kernel_size=2 -> flatten -> dense 1; adam; mse",
    "input 2x7x3 -> rmsnormalization axis=1 -> flatten -> dense 1; adam; mse",
    "input 3 dtype=int32 -> integerlookup mask_token=(1,) -> dense 1; adam; mse",
    "input 4 -> batchnormalization moving_variance_initializer=orthogonal; adam; mse",
    "input 5x5x3 -> autocontrast value_range=(2, 0) -> flatten -> dense 1; adam; mse",
    "input 8x8x4 -> randomhue 0.2 -> flatten -> dense 1; adam; mse",
    "input 8x2 -> stftspectrogram; adam; mse",
    "input 4x4x2 -> adaptivemaxpooling2d 1 -> flatten -> dense 1; adam; mse",
    "input 4 -> reshape 4 -> dense 1; adam; mse",
    "input 4x4 -> unitnormalization axis=3 -> flatten -> dense 1; adam; mse",
    "input 8x8x1 -> conv2d 2 3 kernel_initializer=identity -> flatten -> dense 1; adam; mse",
    "input 8x8x3 -> resizing 4 4 interpolation=bilinearx -> flatten -> dense 1; adam; mse",
    "input 1 dtype=string -> textvectorization sparse=true -> dense 1; adam; mse",
    "input 5x6 -> adaptiveaveragepooling1d 2 data_format=true -> flatten -> dense 1; adam; mse",
    "input 4 dtype=int32 -> integerlookup pad_to_max_tokens=true -> dense 1; adam; mse",
    "input 5x5x3 -> randomposterization (0.1, 0.3) -> flatten -> dense 1; adam; mse",
    "input 5x5x3 -> randomcontrast (0.1,) -> flatten -> dense 1; adam; mse",
    "input 3 dtype=string -> textvectorization -> dense 1; adam; mse",
    "input 3x3 dtype=int32 -> categoryencoding 4 -> dense 1; adam; mse",
    "input 5x5x3 -> contrastlimitedadaptivehistogramequalization tile_grid_size=(2, 0); adam; mse",
    "input 4 -> leakyrelu alpha=0.2 -> dense 1; adam; mse",
    "embedding 10 4 input_length=5 in 5 -> flatten -> dense 1; adam; mse",
    "input 4x4 -> bidirectional lstm 4 trainable=false -> dense 1; adam; mse",
    "input 4x4 -> bidirectional bidirectional lstm 8; adam; mse",
    "input 4x4 -> bidirectional lstm 8 backward_layer=x; adam; mse",
    "input -> dense 1; adam; mse",
    "input 4 in 4 -> dense 1; adam; mse",
    "dense 1 in 4; adam in 4; mse",
    "dense 1 in 4; adam; mse; fit epochs=1; fit epochs=2",
    "dense 1 in 4; adam; mse; fit epochs=1, shuffle",
    "dense 1 in 4; adam; mse; fit epochs=1 epochs=2",
    "input 8x8x4 -> conv2d 4 3 groups=0; adam; mse",
    "dense 1 in (None,); adam; mse",
    "input (None, 4) -> prelu; adam; mse",
    "input 4 -> reshape (2, none); adam; mse",
    "input 5 -> reshape (2, -1); adam; mse",
    "input (4, 4, None) -> conv2d 2 3; adam; mse",
    "input 8x8x3 -> conv2d 4 3 groups=2; adam; mse",
    "input 8x8x3 -> conv2dtranspose 4 3 output_padding=1; adam; mse",
    "input 8x8x3 -> cropping2d (1, 2, 3); adam; mse",
    "input 4x4x3 -> cropping2d 2; adam; mse",
    "input 4 -> batchnormalization axis=5; adam; mse",
    "input (None, 4) -> layernormalization axis=1; adam; mse",
    "input 4x6 -> groupnormalization groups=4; adam; mse",
    "input (5, None) -> lstm 3; adam; mse",
    "dense 3 in 4 -> flatten -> dense 1; adam; mse",
    "dense 3 softmax in 4; adam; categorical_crossentropy; fit class_weight=3",
    "dense 3 softmax in 4; adam; categorical_crossentropy; fit sample_weight=1",
    "dense 3 softmax in 4; adam; categorical_crossentropy; fit class_weight={0: 2} "
    "sample_weight=true",
]

# Places that make a diagnostic no program reaches, and why.
UNREACHABLE = {
    "lsp.py": "the language server's RecursionError guard: the parser refuses deep nesting first",
}


def _diagnostic_sites() -> dict[tuple[str, int], int]:
    """Every place in kdsl that makes a diagnostic: `Diagnostic(...)`, the checker's
    `self.error(...)`/`self.warning(...)`/`checker.error(...)`, `ShapeProblem(...)`, as
    (file, first line) → last line. The checker's own `error`/`warning` are the funnel,
    not places."""
    sites: dict[tuple[str, int], int] = {}
    for path in sorted((ROOT / "kdsl").rglob("*.py")):
        tree = ast.parse(path.read_text())
        funnels = [
            (node.lineno, node.end_lineno)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name in ("error", "warning")
        ]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("Diagnostic", "ShapeProblem"):
                pass
            elif not (
                isinstance(func, ast.Attribute)
                and func.attr in ("error", "warning")
                and isinstance(func.value, ast.Name)
                and func.value.id in ("self", "checker")
            ):
                continue
            if any(start <= node.lineno <= end for start, end in funnels):
                continue
            sites[(path.name, node.lineno)] = node.end_lineno
    return sites


def _corpus() -> list[str]:
    """The snapshots' programs, the fuzzer's special inputs and a few hundred of its
    random programs and mutants, and the extra programs above."""
    from fuzzing import SPECIALS, ProgramGenerator

    texts = [p.read_bytes().decode("utf-8", "replace") for p in PROGRAMS]
    texts += [data.decode("utf-8", "replace") for data in SPECIALS]
    generator = ProgramGenerator(seed=11)
    for _ in range(300):
        text = generator.program()
        texts += [text, generator.mutate(text), generator.mutate(generator.mutate(text))]
    return texts + EXTRA_PROGRAMS + GRAPH_PROGRAMS


def _graphs() -> list[tuple[str, ir.Model]]:
    """Graphs the language cannot write yet (its programs are chains): a checked chain
    whose last layer is rewired to read the input and the layer before it."""
    graphs = []
    for text in (
        "input 4 -> dense 4 -> dense 1; adam; mse",
        "input 4x4 -> lstm 4 return_sequences=true -> bidirectional lstm 2; adam; mse",
    ):
        model = check_source(text)
        *chain, last = model.nodes
        rewired = dataclasses.replace(last, inputs=(model.inputs[0].id, chain[-1].id))
        graphs.append((text, dataclasses.replace(model, nodes=(*chain, rewired))))
    # Merges and attention the language cannot write yet: the last layer becomes one of
    # them, reading the input (4, 2), the dense's output (4, 3) and the flatten's (12,).
    text = "input 4x2 -> dense 3 -> flatten -> dense 1; adam; mse"
    model = check_source(text)
    *chain, last = model.nodes
    x, dense, flat = model.inputs[0].id, chain[0].id, chain[1].id
    for class_name, kwargs, inputs in (
        ("Add", {}, (x, dense)),
        ("Subtract", {}, (x, x, x)),
        ("Concatenate", {}, (x, flat)),
        ("Concatenate", {"axis": 1}, (x, dense)),
        ("Concatenate", {"axis": 0}, (x, dense)),
        ("Dot", {"axes": (1, 2, 3)}, (x, dense)),
        ("Dot", {"axes": -1}, (x, dense)),
        ("Attention", {}, (x,)),
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2}, (x, x, flat)),
        ("Attention", {}, (x, dense)),
    ):
        call = dataclasses.replace(
            last.call,
            class_name=class_name,
            args=(),
            kwargs=tuple(kwargs.items()),
            written=class_name.lower(),
        )
        merge = dataclasses.replace(last, call=call, inputs=inputs)
        graphs.append((f"{text} ({class_name})", dataclasses.replace(model, nodes=(*chain, merge))))
    return graphs


def test_every_diagnostic_has_a_place_and_a_hint(monkeypatch) -> None:
    """As the README promises: every error and warning names what was written, points at
    it (the end of the file at least) and has a hint. The corpus reaches every place in
    kdsl that makes a diagnostic, so a new kind of diagnostic needs a program here."""
    import sys

    import kdsl
    from kdsl import errors
    from kdsl.semantics import shapes

    made: set[tuple[str, int]] = set()

    def record(original):
        def init(self, *args, **kwargs):
            frame = sys._getframe(1)
            while frame.f_code.co_name in ("error", "warning"):
                frame = frame.f_back
            made.add((Path(frame.f_code.co_filename).name, frame.f_lineno))
            original(self, *args, **kwargs)

        return init

    monkeypatch.setattr(errors.Diagnostic, "__init__", record(errors.Diagnostic.__init__))
    monkeypatch.setattr(shapes.ShapeProblem, "__init__", record(shapes.ShapeProblem.__init__))
    missing: list[str] = []
    for text in _corpus():
        for diagnostic in kdsl.check(text):
            if diagnostic.span is None or not diagnostic.hint:
                missing.append(f"{diagnostic.message!r} (for {text[:60]!r})")
    for text, model in _graphs():
        for diagnostic in shapes.infer(model).diagnostics:
            if diagnostic.span is None or not diagnostic.hint:
                missing.append(f"{diagnostic.message!r} (for the graph of {text!r})")
    assert not missing, "diagnostics without a place or a hint:\n" + "\n".join(missing)
    sites = _diagnostic_sites()
    reached = {
        (name, first)
        for (name, first), last in sites.items()
        for made_name, line in made
        if made_name == name and first <= line <= last
    }
    unreached = sorted(site for site in set(sites) - reached if site[0] not in UNREACHABLE)
    assert not unreached, f"no program in the corpus reaches these diagnostics: {unreached}"
