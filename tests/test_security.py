"""kdsl writes Python that people run: nothing in a .k file may become code it did not mean.

Every generated script (every golden file, every layer kind's whole script, and the
output for a corpus of hostile inputs) is checked against a whitelist of imports, names
and calls; hostile text is either rejected or ends up inert, inside a string literal.
"""

from __future__ import annotations

import ast
import builtins
import functools
import io
import os
import signal
import subprocess
import sys
import time
import tokenize
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
from conftest import ROOT, kdsl_main, run_kdsl
from golden_cases import all_programs, case_id, kind_programs
from hypothesis import given, settings
from hypothesis import strategies as st

from kdsl import check_source, compile_source
from kdsl.codegen import explain
from kdsl.codegen.render import render
from kdsl.errors import KdslError, SourceError, line_safe
from kdsl.options import STRATEGIES, STYLES, Mode
from kdsl.semantics.catalog import KIND_EXAMPLES, load

GOLDEN = ROOT / "tests" / "golden" / "expected"
IMPORTS = {"argparse", "keras", "math", "numpy", "keras.layers"}
# Names a generated script may use, besides the layer classes it imports from keras.
NAMES = {
    "argparse", "keras", "np", "Input", "Sequential", "model", "parser", "args", "argv",
    "data", "npz", "key", "name", "alias", "path", "history", "x_eval", "y_eval",
    "evaluation", "predictions", "epochs", "batch_size", "EPOCHS", "BATCH_SIZE",
    "build_model", "load_data", "train_and_evaluate", "main", "print", "int", "None",
    "True", "False", "__name__", "callbacks", "validation_data", "monitor", "math", "len",
}  # fmt: skip
ROOTS = {
    "keras",
    "math",
    "np",
    "argparse",
    "model",
    "parser",
    "args",
    "npz",
    "data",
    "history",
    "predictions",
}
FORBIDDEN_CALLS = {
    "exec",
    "eval",
    "compile",
    "__import__",
    "open",
    "getattr",
    "setattr",
    "globals",
    "locals",
    "vars",
    "input",
    "breakpoint",
}


# The script has fixed helpers from the template (open_npz; with --folder-data or
# --strategy, the .npy batch reader, the multi-worker strategy class): they hold no user text, which
# test_template_helpers_are_the_same_for_every_program checks, so the whitelist looks at
# everything else, with the few extra names those options use.
TEMPLATE_DEFS = {"NpyBatches", "read_rows", "batches", "MultiWorkerStrategy", "open_npz"}
OPTION_IMPORTS = {"concurrent.futures", "math", "mmap", "pathlib", "tensorflow", "threading"}
OPTION_NAMES = {
    "Path", "tf", "strategy", "global_batch_size", "x_train", "y_train", "files", "file",
    "names", "SystemExit", "isinstance",
    *TEMPLATE_DEFS,
}  # fmt: skip
OPTION_ROOTS = {"tf", "strategy", "file"}
# The functional style (issue 13) writes a chain with these: `inputs = keras.Input(...)`,
# `x = layers.Dense(...)(x)`, `outputs = ...`, `from keras import layers`.
FUNCTIONAL_NAMES = {"layers", "inputs", "x", "outputs"}


def _without_template_defs(tree: ast.Module) -> ast.Module:
    """A new module of `tree`'s statements but the template's helpers (`tree` is kept)."""
    body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in TEMPLATE_DEFS)
    ]
    return ast.Module(body=body, type_ignores=[])


def template_defs(code: str) -> dict[str, str]:
    return {
        node.name: ast.dump(node)
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in TEMPLATE_DEFS
    }


# The functional style (v2): `from keras import layers`, its loops and helpers.
FUNCTIONAL_NAMES = {"layers", "range", "zip", "x", "inputs", "outputs", "_"}


# Names a script may never bind: a builtin, a forbidden call, or a module it relies on.
NEVER_BOUND = frozenset(dir(builtins)) | FORBIDDEN_CALLS | {"keras", "np", "layers"}


def _bound_names(nodes: list[ast.AST]) -> set[str]:
    """Names the script (all its `nodes`) binds: variables, functions and their
    parameters. In the functional style labels and blocks become such names
    (`s1 = dbl(x, 64)`): checked identifiers that may never rebind a builtin or a name
    the script relies on."""
    bound = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    shadowed = bound & NEVER_BOUND
    assert not shadowed, f"the script rebinds {sorted(shadowed)}"
    return bound


@functools.cache
def _layer_classes() -> frozenset[str]:
    return frozenset(e.class_name for e in load().layers.values())


@functools.cache
def _template_helpers() -> tuple[str, ...]:
    """The text of each template helper, as a script holds it (its whole lines)."""
    code = compile_source("dense 1 in 2; sgd; mse", folder_data=True, strategy="multi-worker")
    lines = code.split("\n")
    helpers = tuple(
        "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in TEMPLATE_DEFS
    )
    assert len(helpers) == len(TEMPLATE_DEFS) and "\n@" not in code
    return helpers


def parse_without_template_defs(code: str) -> ast.Module:
    """`_without_template_defs(ast.parse(code))`, for a third of the time: a script with
    --folder-data is two thirds helpers, which the whitelist skips.

    Each helper found whole, on lines of its own, is cut out, and the pieces left are
    parsed one by one. Where each one parses alone, it ends with no string, bracket,
    block header, decorator or line continuation left open, and the next piece or helper
    starts at column 0 (else that piece would not parse): Python reads the script as the
    pieces and helpers one after another, so its tree is the pieces' trees in a row. Else
    the whole script is parsed. (Line numbers are each piece's own.)"""
    pieces = [code]
    for helper in _template_helpers():
        pieces = [part for piece in pieces for part in piece.split(f"\n{helper}\n")]
    if len(pieces) == 1:
        return _without_template_defs(ast.parse(code))
    body = []
    try:
        for piece in pieces:
            body += ast.parse(piece).body
    except SyntaxError:
        return _without_template_defs(ast.parse(code))
    return _without_template_defs(ast.Module(body=body, type_ignores=[]))


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """`list(ast.walk(tree))`, in its order, at less than half its cost (no generator per
    node): the checks here walk every script of every mode."""
    nodes = [tree]
    for node in nodes:  # grows as it goes: breadth first, as ast.walk
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                nodes.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes


def check_script(code: str | ast.Module, graph: bool = False) -> None:
    """Raise AssertionError if the script (its text, or its parsed tree, left unchanged)
    steps outside what kdsl generates (`graph`: a functional-style script, whose own names
    `_bound_names` checks in every case)."""
    if isinstance(code, str):
        tree = parse_without_template_defs(code)
    else:
        tree = _without_template_defs(code)
    nodes = _nodes(tree)
    bound = _bound_names(nodes)
    layer_classes = _layer_classes()
    imports = IMPORTS | OPTION_IMPORTS
    allowed = NAMES | OPTION_NAMES | FUNCTIONAL_NAMES | bound
    for node in nodes:
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= imports, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module in IMPORTS | {"pathlib"}, node.module
            if node.module == "keras.layers":
                assert {a.name for a in node.names} <= layer_classes
            elif node.module == "pathlib":
                assert {a.name for a in node.names} == {"Path"}
            else:
                assert {a.name for a in node.names} <= {"Input", "Sequential", "layers"}
        elif isinstance(node, ast.Name):
            assert node.id in allowed or node.id in layer_classes, node.id
            assert node.id not in FORBIDDEN_CALLS
        elif isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr
            base = node
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name):
                assert base.id in ROOTS | OPTION_ROOTS | {"layers"}, base.id
            else:
                assert isinstance(base, ast.Call | ast.Subscript), ast.dump(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS
        elif isinstance(node, ast.Lambda | ast.Global | ast.Nonlocal | ast.Await):
            raise AssertionError(f"unexpected {type(node).__name__}")


def test_the_quick_walk_is_ast_walk() -> None:
    """`_nodes` gives every node `ast.walk` gives, in the same order."""
    for script in sorted(GOLDEN.rglob("*.py"))[::10]:
        tree = ast.parse(script.read_text())
        assert _nodes(tree) == list(ast.walk(tree)), script


@pytest.mark.parametrize(
    "script", sorted(GOLDEN.rglob("*.py")), ids=lambda p: str(p.relative_to(GOLDEN))
)
def test_every_golden_script_is_whitelisted(script: Path) -> None:
    """Every golden script, --explain's (in explain/) included."""
    check_script(script.read_text(), graph=script.parent.name == "functional")


@pytest.mark.parametrize("program", kind_programs(), ids=case_id)
def test_every_kind_script_is_whitelisted(program: Path) -> None:
    """A kind's golden file keeps only its own part: check its whole script, compiled
    afresh, in both styles (test_golden.py proves it is that part in the reference's rest)."""
    for style in STYLES:
        code = compile_source(program.read_text(), str(program), style=style)
        check_script(code, graph=style == "functional")


def test_the_quick_parse_is_the_parse_but_the_helpers() -> None:
    """`parse_without_template_defs` gives the tree `ast.parse` gives, but the helpers:
    in every mode, for a program full of hostile text too, and where a helper's text
    sits inside a string, it is a string (a decorator before one makes no piece parse)."""
    hostile = 'randomflip mode="x\\"); import os #" in 4x4x3 -> flatten -> dense 1; adam; mse'
    for text in (hostile, (ROOT / "examples" / "iris.k").read_text()):
        model = check_source(text)
        for mode in MODES:
            code = render(model, mode)
            quick = parse_without_template_defs(code)
            assert ast.dump(quick) == ast.dump(_without_template_defs(ast.parse(code)))
    helper = _template_helpers()[0]
    for code in (f"x = '''\n{helper}\n'''\n", f"@print\n{helper}\n"):
        full = _without_template_defs(ast.parse(code))
        assert ast.dump(parse_without_template_defs(code)) == ast.dump(full)


def test_template_helpers_are_the_same_for_every_program() -> None:
    """The helpers the whitelist skips are template text: no program changes them, not
    even one full of hostile strings."""
    # `mode` takes any string (initializer names are checked against Keras's).
    hostile = 'randomflip mode="x\\"); import os #" in 4x4x3 -> flatten -> dense 1; adam; mse'
    seen: dict[str, set[str]] = {}
    for text in (hostile, "dense 1 in 2; sgd; mse", (ROOT / "examples/iris.k").read_text()):
        for options in ({"folder_data": True}, {"strategy": "multi-worker"}):
            for name, dump in template_defs(compile_source(text, **options)).items():
                seen.setdefault(name, set()).add(dump)
    assert set(seen) == TEMPLATE_DEFS
    assert all(len(dumps) == 1 for dumps in seen.values())


# Every character `str.splitlines` ends a line at (`\r\n` is `\r` then `\n`): in a comment,
# what follows one would be code (test_line_breaks_are_all_in_the_corpus proves the list).
LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
INJECTED = 'print(\\"INJECTED\\")#'  # as written inside a .k string

HOSTILE = [
    '"); import os; os.system("echo pwned"); ("',
    "'); import os; os.system('echo pwned'); ('",
    '\\"); __import__(\\"os\\").system(\\"id\\"); (\\"',
    "{{ 7 * 7 }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ self.__init__.__globals__ }}",
    "\\\\",
    "tab\\there",
    "ﬁle",
    "𝕖𝕧𝕒𝕝",
    "x" * 5000,
    # A line break then code, written as an escape (.k strings take Python's: `\\x1c`)
    # and as the character itself; the surrogates are the halves of a pair, alone.
    *(f"1{repr(char)[1:-1]}    {INJECTED}" for char in LINE_BREAKS),
    *(f"1{char}    {INJECTED}" for char in LINE_BREAKS if char != "\n"),
    "\\ud800",
    "1\\udfff    " + INJECTED,
]
# Every place a program can put a string of its own.
STRING_POSITIONS = {
    "layer-argument": 'randomflip mode="{}" in 4x4x3 -> flatten -> dense 1; adam; mse',
    "layer-positional": 'input 4 -> rescaling "{}" -> dense 1; adam; mse',
    "layer-cap": 'input 4 -> relu "{}" -> dense 1; adam; mse',
    "layer-name": 'dense 1 in 4 name="{}"; adam; mse',
    "input-name": 'input 4 name="{}" -> dense 1; adam; mse',
    "optimizer-argument": 'dense 1 in 4; adam name="{}"; mse',
    "loss-argument": 'dense 1 in 4; adam; huber reduction="{}"',
    "metric-argument": 'dense 1 in 4; adam; mse; metrics auc curve="{}"',
    "metric-name": 'dense 1 in 4; adam; mse; metrics auc name="{}"',
    "fit-option": 'dense 1 in 4; adam; mse; fit verbose="{}"',
}
# Every combination of the options that change the generated code.
MODES = [
    Mode(style, explain=explain, strategy=strategy, folder_data=folder_data)
    for style in STYLES
    for explain in (False, True)
    for strategy in (None, *STRATEGIES)
    for folder_data in (False, True)
]


@pytest.mark.parametrize("program", all_programs(), ids=case_id)
def test_every_program_in_every_mode_is_whitelisted(program: Path) -> None:
    """The goldens hold a few modes; here every program is compiled in all of them."""
    model = check_source(program.read_text(), str(program))
    for mode in MODES:
        check_script(render(model, mode), graph=mode.style == "functional")


def test_line_breaks_are_all_in_the_corpus() -> None:
    breaks = {chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert breaks == set(LINE_BREAKS)


def code_tokens(code: str) -> list[tuple[int, str]]:
    """The script's tokens without its comments and the line ends around them."""
    ignored = {tokenize.COMMENT, tokenize.NL}
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return [(token.type, token.string) for token in tokens if token.type not in ignored]


def _is_layout(line: str) -> bool:
    """A line Python reads as a comment or a blank line where no string is open."""
    rest = line.lstrip(" \t\f")
    return not rest or rest.startswith("#")


def _lines_and_layout(code: str) -> tuple[list[str], list[int], list[list[str]]]:
    """The lines that are not layout, their numbers, and the layout lines before each of
    them (and, last, after them all)."""
    kept: list[str] = []
    numbers: list[int] = []
    gaps: list[list[str]] = [[]]
    for number, line in enumerate(code.split("\n"), 1):
        if _is_layout(line):
            gaps[-1].append(line)
        else:
            kept.append(line)
            numbers.append(number)
            gaps.append([])
    return kept, numbers, gaps


# Literals that may span lines (and Python 3.14's template strings).
STRING_NODES: tuple[type, ...] = (ast.Constant, ast.JoinedStr) + (
    (ast.TemplateStr,) if hasattr(ast, "TemplateStr") else ()
)


def only_layout_added(explained: str, plain: str, plain_tree: ast.Module) -> bool:
    """A quick proof that `explained` is `plain` but comments and blank lines, which is
    what comparing their `code_tokens` checks (tokenizing both costs 5 ms a script).

    True when, the comment and blank lines set aside, both hold the same lines, and where
    they differ in what was set aside, `plain`'s line before is closed: not open in a
    string (`plain_tree`'s literals spanning lines) nor ended by a backslash. Line by
    line, Python then reads both alike: the same line in the same state, and in the
    same state, a closed one, a line that starts with `#` or is blank is a comment or a
    blank line, which adds only COMMENT and NL tokens. False when it cannot tell.
    """
    if any(char in text for char in "\r\x00" for text in (explained, plain)):
        return False  # another line end than `split` sees; what a tokenizer may refuse
    kept, _, gaps = _lines_and_layout(explained)
    plain_kept, numbers, plain_gaps = _lines_and_layout(plain)
    # ... and after the last code line, a line end in both or in neither (its NEWLINE
    # token is "\n" or "").
    if kept != plain_kept or bool(gaps[-1]) != bool(plain_gaps[-1]):
        return False
    continued = zip(numbers, plain_kept, strict=True)
    open_ends = {number for number, line in continued if line.endswith("\\")}
    for node in _nodes(plain_tree):
        if isinstance(node, STRING_NODES) and node.end_lineno != node.lineno:
            open_ends.update(range(node.lineno, node.end_lineno or node.lineno))
    return all(
        gap == plain_gap or index == 0 or numbers[index - 1] not in open_ends
        for index, (gap, plain_gap) in enumerate(zip(gaps, plain_gaps, strict=True))
    )


def assert_only_comments_added(explained: str, plain: str, plain_tree: ast.Module) -> None:
    """`explained` is `plain` but comments and blank lines: the same tokens."""
    if not only_layout_added(explained, plain, plain_tree):
        assert code_tokens(explained) == code_tokens(plain)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("template", STRING_POSITIONS.values(), ids=STRING_POSITIONS)
def test_hostile_strings_are_inert_or_rejected(template: str, text: str) -> None:
    """In every mode: only whitelisted code, the text as one string literal, a script UTF-8
    can write, and --explain adds comments and nothing else."""
    program = template.replace("{}", text)
    try:
        model = check_source(program)
    except KdslError:
        return  # rejected, with a message
    decoded = ast.literal_eval(f'"{text}"')
    scripts = {mode: render(model, mode) for mode in MODES}
    trees = {}
    for mode, code in scripts.items():
        code.encode("utf-8")
        if mode.explain:
            continue
        tree = trees[mode] = ast.parse(code)
        check_script(tree, graph=mode.style == "functional")
        strings = [n.value for n in _nodes(tree) if isinstance(n, ast.Constant)]
        assert decoded in strings, "the text must reach the script as one string literal"
    for mode, code in scripts.items():
        if mode.explain:
            # The same tokens but comments and blank lines: the same program as the
            # plain mode's, so the same tree, checked above.
            plain = replace(mode, explain=False)
            assert_only_comments_added(code, scripts[plain], trees[plain])


@pytest.mark.parametrize("char", [*LINE_BREAKS, "\ud800"], ids=lambda c: hex(ord(c)))
@pytest.mark.parametrize("template", STRING_POSITIONS.values(), ids=STRING_POSITIONS)
def test_messages_quote_strings_on_one_line(template: str, char: str) -> None:
    """A message quoting a rejected string (`` `a\u2028b` cannot be a name ``) escapes what
    would break its line in a terminal or an editor, as comments do."""
    escape = repr(char)[1:-1]
    try:
        check_source(template.replace("{}", f"a{escape}b"))
    except SourceError as error:
        for diagnostic in error.diagnostics:
            for text in (diagnostic.message, diagnostic.hint or ""):
                assert len(f"{text}.".splitlines()) == 1 and text.isprintable(), text


def build_model_calls(code: str) -> set[str]:
    """The functions build_model calls by name (layer classes, `Sequential`, `Input`)."""
    tree = ast.parse(code)
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_model")
    calls = (n for n in ast.walk(build) if isinstance(n, ast.Call))
    return {call.func.id for call in calls if isinstance(call.func, ast.Name)}


PLAIN = '''"""A docstring.

Its second paragraph.
"""

x = (
    1,  # one
)
y = "a" + \\
    "b"
'''
# (explained, whether the tokens are the same, whether the quick proof sees it)
EXPLAINED = {
    "a comment line": (PLAIN.replace("x = (", "# made of\nx = ("), True, True),
    "a blank line": (PLAIN.replace("x = (", "\nx = ("), True, True),
    "a comment in brackets": (PLAIN.replace("    1,", "    # the first\n    1,"), True, True),
    "a comment gone": (PLAIN.replace("  # one", ""), True, False),
    "a comment at a line end": (PLAIN.replace("x = (", "x = (  # a tuple"), True, False),
    "a comment line in the docstring": (PLAIN.replace("\nIts", "\n# not\nIts"), False, False),
    "a blank line in the docstring": (PLAIN.replace("\nIts", "\n\nIts"), False, False),
    "a comment after a backslash": (PLAIN.replace("\\\n", "\\\n# x\n"), False, False),
    "a line of code": (PLAIN.replace("x = (", "z = 1\nx = ("), False, False),
    "a carriage return": (PLAIN.replace("x = (", "# c\rx = ("), False, False),
    "no line end after the last line": (PLAIN.removesuffix("\n"), False, False),
    "a comment after the last line": (PLAIN.removesuffix("\n") + "\n# c", True, True),
}


def _same_tokens(explained: str, plain: str) -> bool:
    try:
        return code_tokens(explained) == code_tokens(plain)
    except (tokenize.TokenError, SyntaxError):  # (a backslash before a comment line)
        return False


@pytest.mark.parametrize("case", EXPLAINED)
def test_the_quick_proof_proves_only_what_the_tokens_show(case: str) -> None:
    explained, same, proved = EXPLAINED[case]
    assert _same_tokens(explained, PLAIN) is same
    assert only_layout_added(explained, PLAIN, ast.parse(PLAIN)) is proved


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["", "# c", "  # c", "#", '# """'])),
        max_size=6,
    )
)
def test_lines_that_look_like_comments_anywhere_are_proved_only_where_they_are(
    inserted: list[tuple[int, str]],
) -> None:
    """Comment-like lines put anywhere in a real script (docstrings included): the quick
    proof never says the tokens are the same when they are not."""
    plain = compile_source((ROOT / "examples" / "iris.k").read_text(), folder_data=True)
    lines = plain.split("\n")
    for where, line in inserted:
        lines.insert(where % (len(lines) + 1), line)
    explained = "\n".join(lines)
    if only_layout_added(explained, plain, ast.parse(plain)):
        assert _same_tokens(explained, plain)


# Python strings (not .k text): issue 11's injection, with each line break, and a surrogate.
PAYLOADS = [f'1{char}    print("INJECTED")#' for char in (*LINE_BREAKS, "\ud800")]


@pytest.mark.parametrize("value", PAYLOADS, ids=lambda v: hex(ord(v[1])))
def test_explain_comments_are_line_safe_whatever_the_value(value: str) -> None:
    """Comments quote arguments (`multiplies the inputs by {scale}`): even a string where
    the checker wants a number, had it let one through, stays inside its comment."""
    model = check_source("input 4 -> rescaling 0.5 -> relu 6.0 -> dense 1; adam; mse")
    rescaling, relu, _ = model.nodes
    hostile = {node.id: replace(node.call, args=(value,)) for node in (rescaling, relu)}
    model = model.with_calls(hostile)
    assert value in explain.comments(model)[rescaling.id]  # the sentence does quote it
    scripts = {mode: render(model, mode) for mode in MODES}
    for mode, code in scripts.items():
        code.encode("utf-8")
        assert "print" not in build_model_calls(code), mode
        if mode.explain:
            assert code_tokens(code) == code_tokens(scripts[replace(mode, explain=False)])


@pytest.mark.parametrize("char", [*LINE_BREAKS, "\ud800", "\x00", "\t", "\x1b", "\u200b"])
def test_line_safe_escapes_what_is_not_printable(char: str) -> None:
    text = f"before{char}after ﬁle ≥ 1"
    safe = line_safe(text)
    assert safe == f"before{repr(char)[1:-1]}after ﬁle ≥ 1"
    assert len(safe.splitlines()) == 1 and safe.isprintable()
    assert line_safe("plain text, (None, 4)") == "plain text, (None, 4)"


@pytest.mark.parametrize(
    "program",
    [
        "dense 1 in 4 __class__=1; adam; mse",
        "dense 1 in 4; adam __init__=1; mse",
        "dense 1 in 4; adam; mse; fit __globals__=1",
        "__import__ 1 in 4; adam; mse",
        "dense 1 in 4; os; mse",
        "dense 1 in 4; adam; system",
        "dense 1 in 4; adam; mse; metrics eval",
        "dense 1 in 4 activation=__import__; adam; mse",
        "dense 1 in 4 -> lambda; adam; mse",
        "dense 1e999 in 4; adam; mse",
        "dense 1 in 4; adam nan; mse",
        "dense 1 in 4 activation=relu\u200b; adam; mse",
        "dense 1 in 4 activation=rеlu; adam; mse",  # Cyrillic е
    ],
)
def test_names_outside_the_catalog_are_rejected(program: str) -> None:
    with pytest.raises(KdslError):
        compile_source(program)


# Where Keras wants a number that its signature does not show (a required argument, or
# a default of None), the catalog gives an example (KIND_EXAMPLES); `--explain` quotes
# these numbers in words (`multiplies the inputs by {scale}`), so a string is refused.
NUMBER_ARGUMENTS = [
    ("rescaling", "offset"),  # typed by Keras's default, 0.0
    *(
        (layer, name)
        for layer, examples in KIND_EXAMPLES.items()
        for name, example in examples.items()
        if not isinstance(example, bool)  # a flag (`flash_attention`) is true or false
    ),
]


@pytest.mark.parametrize(("layer", "name"), NUMBER_ARGUMENTS, ids="-".join)
@pytest.mark.parametrize("value", ['"1"', "relu", "true", "(1, 2)"])
def test_a_string_where_keras_wants_a_number_is_refused(
    layer: str, name: str, value: str, tmp_path: Path, capsys, plain_output
) -> None:
    required = " 1.0" if layer == "rescaling" and name != "scale" else ""
    program = f"input 4 -> {layer}{required} {name}={value} -> dense 1; adam; mse\n"
    source = tmp_path / "m.k"
    source.write_text(program)
    code, out, err = kdsl_main(["compile", source, "--explain"], capsys)
    column = program.index(f"{name}=") + len(name) + 2
    assert code == 1 and out == "", err
    assert f"m.k:1:{column}: error: `{name}` of `{layer}` is a number like" in err
    assert f"hint: e.g. `{name}=" in err


def test_positional_strings_are_refused_too_and_numbers_pass() -> None:
    with pytest.raises(KdslError, match="`scale` of `rescaling` is a number like `1.0`"):
        check_source('rescaling "0.5" in 4 -> dense 1; adam; mse')
    model = check_source(
        "rescaling 2 -0.5 in 4 -> relu 6 -> gaussiannoise 0.1 -> dense 1; adam; mse"
    )
    rescaling, relu, noise, _ = model.layers
    assert (rescaling.args, rescaling.kwarg("offset")) == ((2,), -0.5)
    assert (relu.kwarg("max_value"), noise.args) == (6, (0.1,))


def test_kind_examples_name_real_arguments_that_keras_does_not_type() -> None:
    """Each example names a layer's argument whose Keras default does not show its kind."""
    catalog = load()
    for layer, examples in KIND_EXAMPLES.items():
        for name, example in examples.items():
            param = catalog.layers[layer].param(name)
            assert param is not None, (layer, name)
            assert param.default is None and param.kind == example, (layer, name)


# Lone surrogates (`"\\ud800"`: half of a UTF-16 pair) are strings Python holds but UTF-8
# cannot encode: they must reach the script escaped, or be refused, never crash the write.
SURROGATE_PROGRAMS = [
    'input 4 -> rescaling "\\ud800" -> dense 1; adam; mse',
    'dense 1 in 4 kernel_initializer="\\ud800"; adam; huber reduction="\\udfff"',
    'dense 1 in 4 name="\\ud800"; adam; mse',
]


@pytest.mark.parametrize("program", SURROGATE_PROGRAMS, ids=["refused", "accepted", "name"])
@pytest.mark.parametrize("command", [("compile", "--explain"), ("compile",), ("check",)])
def test_surrogates_never_crash_and_the_script_is_utf8(
    program: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    source = tmp_path / "m.k"
    source.write_text(program + "\n", encoding="utf-8")
    script = tmp_path / "m.py"
    output = ("-o", str(script)) if command[0] == "compile" else ()
    result = run_kdsl(*command, str(source), *output)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.returncode == 1:
        assert "error:" in result.stderr and "hint:" in result.stderr
    elif output:
        code = script.read_bytes().decode("utf-8")  # strict: no surrogate got through
        strings = {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)}
        assert "\ud800" in strings and "\udfff" in strings


def test_templates_are_strict() -> None:
    from kdsl.codegen.render import _environment

    environment = _environment()
    assert environment.undefined is jinja2.StrictUndefined
    assert environment.autoescape is False
    with pytest.raises(jinja2.UndefinedError):
        environment.get_template("script.py.jinja").render()


def test_numpy_loads_never_unpickle() -> None:
    """Every np.load in kdsl and in the templates passes allow_pickle=False."""
    sources = [
        *sorted((ROOT / "kdsl").rglob("*.py")),
        *sorted((ROOT / "templates").glob("*.jinja")),
    ]
    calls = 0
    for path in sources:
        text = path.read_text()
        for line in text.splitlines():
            if "np.load(" in line or "numpy.load(" in line:
                calls += 1
                assert "allow_pickle=False" in line, f"{path.name}: {line.strip()}"
    assert calls >= 2


def test_write_atomic_survives_being_killed(tmp_path: Path) -> None:
    """Kill the writer mid-write, again and again: the target is old or new, never half."""
    target = tmp_path / "out.bin"
    old = b"old" * 1000
    target.write_bytes(old)
    writer = (
        "import sys\n"
        "from kdsl.files import write_atomic\n"
        "payload = b'N' * 40_000_000\n"
        "print('ready', flush=True)\n"
        f"write_atomic({str(target)!r}, payload)\n"
    )
    outcomes = set()
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
        process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, cwd=ROOT)
        assert process.stdout.readline() == b"ready\n"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        data = target.read_bytes()
        assert data == old or data == b"N" * 40_000_000
        outcomes.add("old" if data == old else "new")
        target.write_bytes(old)
    assert "old" in outcomes, "the kill never landed mid-write: the test proved nothing"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.bin"]
    # A SIGKILL can leave the temporary file (never the target) behind; it is hidden.
    assert all(name.startswith(".out.bin.") for name in leftovers)


def test_colors_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    import pty

    program = tmp_path / "bad.k"
    program.write_text("dense 5 in 4 -> dens 3; adam; mse\n")

    def stderr_on_a_tty(env: dict) -> bytes:
        controller, terminal = pty.openpty()
        result = subprocess.run(
            [sys.executable, "-m", "kdsl", "compile", str(program)],
            stderr=terminal,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        os.close(terminal)
        assert result.returncode == 1
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        return output

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert b"\x1b[31merror:" in stderr_on_a_tty(env)
    assert b"\x1b[" not in stderr_on_a_tty({**env, "NO_COLOR": "1"})
