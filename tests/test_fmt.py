"""`kdsl fmt`: the canonical layout, comments kept, idempotent, the model never changed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import ROOT, heavy_imports, run_kdsl
from fuzzing import SPECIALS, ProgramGenerator
from grammar_strategies import GRAMMAR, TERMINALS, design_programs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from known_programs import known_programs

from kdsl import parse
from kdsl.errors import SourceError
from kdsl.language.fmt import check_same_program, format_text, without_positions
from kdsl.language.parser import lark_parser
from kdsl.tools.cli import main

DESIGN = design_programs()

# (what a user wrote, what fmt makes of it)
CASES = {
    "short program stays on one line": (
        "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy\n",
        "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy\n",
    ),
    "spacing is normalized and the last `;` dropped": (
        "  dense 5 in 4->dense 3   relu ;adam;mse;",
        "dense 5 in 4 -> dense 3 relu; adam; mse\n",
    ),
    "a short program laid out on lines is joined": (
        "input 8\n  -> dense 1;\nadam;\nmse\n",
        "input 8 -> dense 1; adam; mse\n",
    ),
    "a long program gets one layer and one section per line": (
        "input 28x28x1 -> conv2d 32 3x3 relu padding=same -> maxpool2d 2 -> flatten "
        "-> dense 10 softmax; adam 0.001; sparse_categorical_crossentropy; metrics accuracy, auc; "
        "fit epochs=5",
        "input 28x28x1\n"
        "  -> conv2d 32 3x3 relu padding=same\n"
        "  -> maxpool2d 2\n"
        "  -> flatten\n"
        "  -> dense 10 softmax;\n"
        "adam 0.001;\n"
        "sparse_categorical_crossentropy;\n"
        "metrics accuracy, auc;\n"
        "fit epochs=5\n",
    ),
    "keywords, tuples and `in` are spaced one way": (
        "dense 2 in ( None , 8 ) kernel_size = ( 3 ,3, ) bias=( None , ) x=(3) y=( ) ; adam ; mse",
        "dense 2 in (None, 8) kernel_size=(3, 3) bias=(None,) x=(3) y=(); adam; mse\n",
    ),
    "literals, aliases and named sections stay as written": (
        "input 4 -> batchnorm -> dense 3 'relu' name=\"a b\";optimizer adam 1E-3;loss mse",
        "input 4 -> batchnorm -> dense 3 'relu' name=\"a b\"; optimizer adam 1E-3; loss mse\n",
    ),
    "numbers and constants stay as written": (
        "dense 3 in 4;adam .5;mse;fit epochs=+5 validation_split=0.10 shuffle=True",
        "dense 3 in 4; adam .5; mse; fit epochs=+5 validation_split=0.10 shuffle=True\n",
    ),
    "comments above and below a short program keep it on one line": (
        "# Iris.\n# Two lines.\n\n\n\ndense 5 in 4 -> dense 3 softmax;\nadam;\nmse;\n"
        "\n# the end\n\n",
        "# Iris.\n# Two lines.\n\ndense 5 in 4 -> dense 3 softmax; adam; mse\n\n# the end\n",
    ),
    "comments at every position": (
        "# before the chain\n"
        "input 4   # after the first layer\n"
        "# own line inside the chain\n"
        "-> dense 8 relu ->  # after an arrow\n"
        "dense 3 softmax ;   # after the last layer\n"
        "\n"
        "# between sections\n"
        "adam;mse\n"
        "  # before the last `;`\n"
        ";\n"
        "# at the end\n",
        "# before the chain\n"
        "input 4  # after the first layer\n"
        "  # own line inside the chain\n"
        "  -> dense 8 relu  # after an arrow\n"
        "  -> dense 3 softmax;  # after the last layer\n"
        "\n"
        "# between sections\n"
        "adam;\n"
        "mse\n"
        "# before the last `;`\n"
        "# at the end\n",
    ),
    "comments inside a call stay with its line": (
        "dense 5 # units\n  in 4 # the input\n -> dense 3\n # about softmax\n softmax; adam; mse",
        "dense 5 in 4  # units  # the input\n"
        "  # about softmax\n"
        "  -> dense 3 softmax;\n"
        "adam;\n"
        "mse\n",
    ),
    "a comment on the one line breaks it up": (
        "dense 5 in 4 -> dense 3; adam; mse  # tiny\n",
        "dense 5 in 4\n  -> dense 3;\nadam;\nmse  # tiny\n",
    ),
    "a comment inside the first layer moves above it": (
        "dense 5\n# units, then the input\nin 4; adam; mse",
        "# units, then the input\ndense 5 in 4; adam; mse\n",
    ),
    "a CRLF file stays CRLF; comments lose trailing spaces": (
        "#\theader \t\r\ndense 5 in 4;\tadam;\r\nmse #x\r\n",
        "#\theader\r\ndense 5 in 4;\r\nadam;\r\nmse  #x\r\n",
    ),
}


# v2 (graphs): blocks, labels, references, groups, repeats, several chains.
GRAPH_CASES = {
    "a short block stays on one line": (
        "def up f{conv2dtranspose f 2 strides=2}input 4->up 3;adam;mse",
        "def up f { conv2dtranspose f 2 strides=2 }\ninput 4 -> up 3; adam; mse\n",
    ),
    "a long block has one element a line": (
        "def b f{conv2d f 3 padding=same use_bias=false->batchnorm epsilon=0.001 momentum=0.99"
        "->relu}input 8x8x3->b 3;adam;mse",
        "def b f {\n  conv2d f 3 padding=same use_bias=false\n    -> batchnorm epsilon=0.001"
        " momentum=0.99\n    -> relu\n}\ninput 8x8x3 -> b 3; adam; mse\n",
    ),
    "labels, references, repeats and a short group, spaced one way": (
        "input 4->a :dense 8 *2->[dense 4|dense 4->relu]->add->concatenate @a;adam;mse;",
        "input 4\n"
        "  -> a: dense 8 * 2\n"
        "  -> [dense 4 | dense 4 -> relu]\n"
        "  -> add\n"
        "  -> concatenate @a;\n"
        "adam;\n"
        "mse\n",
    ),
    "a long group has one branch a line, led by `|`": (
        "input 224x224x3 -> [conv2d 256 1 strides=2 -> batchnorm epsilon=1.001e-5 | "
        "conv2d 64 1 strides=2 padding=same -> batchnorm -> relu -> conv2d 64 3 padding=same "
        "-> relu] * 2 -> add; adam; mse",
        "input 224x224x3\n"
        "  -> [ conv2d 256 1 strides=2 -> batchnorm epsilon=1.001e-5\n"
        "     | conv2d 64 1 strides=2 padding=same\n"
        "         -> batchnorm\n"
        "         -> relu\n"
        "         -> conv2d 64 3 padding=same\n"
        "         -> relu\n"
        "     ] * 2\n"
        "  -> add;\n"
        "adam;\n"
        "mse\n",
    ),
    "several chains and per-output sections": (
        "title: input 100 dtype=int32 -> t: lstm 32;tags: input 12 -> concatenate @t -> "
        "[priority: dense 1 sigmoid | department: dense 4 softmax];outputs @priority "
        "@department;adam;loss @priority binary_crossentropy weight=1.0;loss @department "
        "categorical_crossentropy weight=0.2",
        "title: input 100 dtype=int32\n"
        "  -> t: lstm 32;\n"
        "tags: input 12\n"
        "  -> concatenate @t\n"
        "  -> [priority: dense 1 sigmoid | department: dense 4 softmax];\n"
        "outputs @priority @department;\n"
        "adam;\n"
        "loss @priority binary_crossentropy weight=1.0;\n"
        "loss @department categorical_crossentropy weight=0.2\n",
    ),
    "comments in blocks and groups stay; a body's last `;` goes": (
        "# blocks\ndef res f s=1 @skip { # the residual\n  [identity # the shortcut\n"
        "  | conv2d f 3 strides=s] -> add @skip;\n}\n\n"
        "input 8x8x3 -> s: conv2d 4 1 -> res 4 @s # twice\n"
        "  # then the head\n  -> gap2d -> dense 1; adam; mse",
        "# blocks\n"
        "def res f s=1 @skip {  # the residual\n"
        "  [ identity  # the shortcut\n"
        "  | conv2d f 3 strides=s\n"
        "  ]\n"
        "    -> add @skip\n"
        "}\n"
        "\n"
        "input 8x8x3\n"
        "  -> s: conv2d 4 1\n"
        "  -> res 4 @s  # twice\n"
        "  # then the head\n"
        "  -> gap2d\n"
        "  -> dense 1;\n"
        "adam;\n"
        "mse\n",
    ),
}


@pytest.mark.parametrize(
    ("before", "after"), [*CASES.values(), *GRAPH_CASES.values()], ids=[*CASES, *GRAPH_CASES]
)
def test_golden_layout(before: str, after: str) -> None:
    assert format_text(before) == after
    assert format_text(after) == after
    assert without_positions(parse(after)) == without_positions(parse(before))


GRAPH_EXAMPLES = [
    (str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("examples/graphs/*.k"))
]
PROGRAMS = known_programs() + DESIGN + GRAPH_EXAMPLES  # v1's, and v2's worked programs


def test_every_program_is_found() -> None:
    assert len(PROGRAMS) > 120
    assert sum("#" in text for _, text in PROGRAMS) >= 5


@pytest.mark.parametrize(("where", "text"), PROGRAMS, ids=[w for w, _ in PROGRAMS])
def test_idempotent_and_same_model_on_every_known_program(where: str, text: str) -> None:
    once = format_text(text, where)
    assert format_text(once, where) == once
    assert without_positions(parse(once)) == without_positions(parse(text))
    for comment in re.findall(r"#[^\n]*", text):
        assert comment.rstrip() in once


def test_the_examples_are_formatted() -> None:
    for path in sorted(ROOT.glob("examples/*.k")):
        assert format_text(path.read_text(), path.name) == path.read_text(), path


def test_the_safety_check_catches_a_changed_model() -> None:
    with pytest.raises(AssertionError, match="would change the program"):
        check_same_program(parse("dense 3 in 4; adam; mse"), parse("dense 4 in 4; adam; mse"), "m")
    check_same_program(parse("dense 3 in 4; adam; mse"), parse("dense 3  in 4 ;adam;mse;"), "m")


# -- properties over generated programs --------------------------------------------------

SEPARATORS = [" ", "  ", "\t", "\n", "\n\n", "  # a comment\n", "\n# own line\n", " #\n\n  "]
GRAMMAR_PROGRAMS = from_lark(GRAMMAR, start="start", explicit=TERMINALS)


@st.composite
def laid_out_programs(draw) -> str:
    """A program the grammar derives, re-spaced with random whitespace and comments."""
    text = draw(GRAMMAR_PROGRAMS)
    try:
        parse(text)
    except SourceError:  # deep tuples and bad escapes: not this test's business
        assume(False)
    tokens = [str(token) for token in lark_parser().lex(text)]
    separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(tokens) + 1,
                               max_size=len(tokens) + 1))  # fmt: skip
    head = draw(st.sampled_from(["", "# header\n", "\n\n# header\n\n"]))
    body = "".join(separator + token for separator, token in zip(separators, tokens, strict=False))
    return head + body + separators[-1]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(laid_out_programs())
def test_fmt_never_changes_the_model_and_is_idempotent(text: str) -> None:
    once = format_text(text)
    assert without_positions(parse(once)) == without_positions(parse(text))
    assert format_text(once) == once
    assert once.count("# a comment") == text.count("# a comment")
    assert once.count("# own line") == text.count("# own line")


# -- the command --------------------------------------------------------------------------


def _fmt(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["fmt", *args])
    return code, out.getvalue(), err.getvalue()


UGLY = "input 4->dense 3 softmax ;adam;mse;\n"
TIDY = "input 4 -> dense 3 softmax; adam; mse\n"


def test_rewrites_only_the_files_that_change_keeping_their_mode(tmp_path: Path) -> None:
    ugly, tidy = tmp_path / "ugly.k", tmp_path / "tidy.k"
    ugly.write_text(UGLY)
    tidy.write_text(TIDY)
    ugly.chmod(0o640)
    tidy_before = tidy.stat()
    code, out, err = _fmt(str(ugly), str(tidy))
    assert (code, out) == (0, "")
    assert ugly.read_text() == TIDY
    assert ugly.stat().st_mode & 0o777 == 0o640
    assert tidy.stat().st_ino == tidy_before.st_ino
    assert tidy.stat().st_mtime_ns == tidy_before.st_mtime_ns
    assert err == f"reformatted {ugly}\n1 file reformatted, 1 file left unchanged.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tidy.k", "ugly.k"]  # no temp files


def test_check_names_the_files_that_would_change_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.k").write_text(UGLY)
    (tmp_path / "b.k").write_text(TIDY)
    code, out, err = _fmt("--check", str(tmp_path))
    assert code == 1 and out == ""
    assert err == (
        f"would reformat {tmp_path / 'a.k'}\n"
        "1 file would be reformatted, 1 file would be left unchanged.\n"
    )
    assert (tmp_path / "a.k").read_text() == UGLY
    assert _fmt("--check", str(tmp_path / "b.k"))[0] == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.k"
    path.write_text("dense 5 in 4;adam;mse")  # no newline at the end
    code, out, err = _fmt("--diff", str(path))
    assert code == 0
    assert out == (
        f"--- {path}\t(original)\n+++ {path}\t(formatted)\n@@ -1 +1 @@\n"
        "-dense 5 in 4;adam;mse\n\\ No newline at end of file\n+dense 5 in 4; adam; mse\n"
    )
    assert path.read_text() == "dense 5 in 4;adam;mse"
    assert _fmt("--diff", "--check", str(path))[0] == 1


def test_a_syntax_error_is_reported_and_the_file_left_alone(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.k", tmp_path / "good.k"
    bad.write_text("dense 5 in 4 -> ; adam; mse\n")
    good.write_text(UGLY)
    code, _, err = _fmt(str(bad), str(good))
    assert code == 1
    assert err.startswith(f"{bad}:1:17: error: unexpected `;`: expected a layer after `->`\n")
    assert err.endswith("1 file reformatted, 1 file failed to reformat.\n")
    assert bad.read_text() == "dense 5 in 4 -> ; adam; mse\n"
    assert good.read_text() == TIDY  # the other files are still formatted


def test_only_a_parse_is_needed_not_a_correct_model(tmp_path: Path) -> None:
    path = tmp_path / "m.k"
    path.write_text("nosuchlayer 5 in 4 ;frobnicate")
    assert _fmt(str(path))[0] == 0
    assert path.read_text() == "nosuchlayer 5 in 4; frobnicate\n"


def test_stdin_to_stdout() -> None:
    result = run_kdsl("fmt", "-", stdin=UGLY)
    assert (result.returncode, result.stdout) == (0, TIDY)
    assert result.stderr == "1 file reformatted.\n"
    result = run_kdsl("fmt", "--check", "-", stdin=UGLY)
    assert (result.returncode, result.stdout) == (1, "")
    assert "would reformat <stdin>" in result.stderr
    result = run_kdsl("fmt", "-", stdin="dense 5 in\n")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("<stdin>:1:11: error: the file ends too early")


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    code, _, err = _fmt(str(tmp_path / "nope.k"))
    assert code == 1 and "nope.k: error: no such file" in err
    code, _, err = _fmt(str(tmp_path))
    assert code == 0 and f"no .k files in {tmp_path}" in err


def test_the_repository_examples_pass_check() -> None:
    # examples/graphs/ keeps its one-line blocks (docs/language.md counts their lines);
    # fmt reads them and lays them out stably (PROGRAMS), one element a line.
    examples = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("examples/*.k"))
    result = run_kdsl("fmt", "--check", *examples)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "4 files would be left unchanged.\n"


def test_fmt_does_not_import_tensorflow() -> None:
    code = "from kdsl.tools.cli import main\nassert main(['fmt', '--diff', 'examples']) == 0"
    assert heavy_imports(code) == []


def test_no_input_crashes_fmt(tmp_path: Path) -> None:
    """The fuzzing corpus (specials, programs over the catalog, their mutants, noise):
    fmt formats or reports a kdsl error, and what it formats is stable."""
    generator = ProgramGenerator(seed=11)
    inputs = [data for data in SPECIALS if data.count(b"->") < 1000]  # 20,000 layers: 12 s
    for _ in range(100):
        text = generator.program()
        inputs += [text.encode(), generator.mutate(text).encode(), generator.noise()]
    path = tmp_path / "input.k"
    formatted = 0
    for data in inputs:
        path.write_bytes(data)
        code, _, err = _fmt(str(path))
        assert code in (0, 1) and "internal error" not in err, (data[:200], err[-500:])
        if code == 0:
            formatted += 1
            assert _fmt("--check", str(path))[0] == 0, data[:200]
        else:
            assert "error" in err and path.read_bytes() == data
    assert formatted > 100


def test_pre_commit_hook_runs_kdsl_fmt_on_k_files() -> None:
    """The hook's entry is a real command and its file pattern matches .k files only."""
    hook = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entry = re.search(r"^  entry: (.+)$", hook, re.M).group(1)
    pattern = re.search(r"^  files: (.+)$", hook, re.M).group(1)
    assert entry == "kdsl fmt"
    assert re.search(pattern, "examples/iris.k") and not re.search(pattern, "model.keras")
