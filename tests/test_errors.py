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
    """10,000 problems on one 100 KB line print 10,000 short excerpts, not the line
    10,000 times (gigabytes): the shown part of a long line is cut around the caret."""
    from kdsl.errors import SHOWN_COLUMNS

    program = tmp_path / "long.k"
    program.write_text("dense 1 in 4; adam; mse; metrics " + "acuracy, " * 10_000 + "mae\n")
    code, _, err = compile_cli(["compile", program], capsys)
    assert code == 1
    lines = err.splitlines()
    assert len([line for line in lines if ": error: unknown metric" in line]) == 10_000
    shown = lines[1::4]
    carets = lines[2::4]
    assert max(map(len, shown)) <= 4 + SHOWN_COLUMNS + 6
    for source, caret in zip(shown[:50] + shown[-50:], carets[:50] + carets[-50:], strict=True):
        start = caret.index("^")
        assert source[start : start + 7] == "acuracy", (source, caret)


# -- every kind of diagnostic has a place and a hint --------------------------------------

# Programs that reach the diagnostics the snapshots and the fuzz inputs do not.
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
    return texts + EXTRA_PROGRAMS


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
