"""kdsl writes Python that people run: nothing in a .k file may become code it did not mean.

Every generated script (every golden file, and the output for a corpus of hostile
inputs) is checked against a whitelist of imports, names and calls; hostile text is
either rejected or ends up inert, inside a string literal.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import pytest
from conftest import ROOT

from kdsl import compile_source
from kdsl.catalog import load
from kdsl.errors import KdslError

GOLDEN = ROOT / "tests" / "golden" / "expected"
IMPORTS = {"argparse", "keras", "numpy", "keras.layers"}
# Names a generated script may use, besides the layer classes it imports from keras.
NAMES = {
    "argparse", "keras", "np", "Input", "Sequential", "model", "parser", "args", "argv",
    "data", "npz", "key", "name", "alias", "path", "history", "x_eval", "y_eval",
    "evaluation", "predictions", "epochs", "batch_size", "EPOCHS", "BATCH_SIZE",
    "build_model", "load_data", "train_and_evaluate", "main", "print", "int", "None",
    "True", "False", "__name__", "callbacks", "validation_data", "monitor",
}  # fmt: skip
ROOTS = {
    "keras",
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


# With --folder-data or --strategy the script gains fixed helpers from the template (the
# .npy batch reader, the multi-worker strategy class): they hold no user text, which
# test_template_helpers_are_the_same_for_every_program checks, so the whitelist looks at
# everything else, with the few extra names those options use.
TEMPLATE_DEFS = {"NpyBatches", "read_rows", "batches", "MultiWorkerStrategy"}
OPTION_IMPORTS = {"math", "mmap", "pathlib", "tensorflow"}
OPTION_NAMES = {
    "Path", "tf", "strategy", "global_batch_size", "x_train", "y_train", "files", "file",
    "names", "SystemExit",
    *TEMPLATE_DEFS,
}  # fmt: skip
OPTION_ROOTS = {"tf", "strategy", "file"}


def _without_template_defs(tree: ast.Module) -> ast.Module:
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in TEMPLATE_DEFS)
    ]
    return tree


def template_defs(code: str) -> dict[str, str]:
    return {
        node.name: ast.dump(node)
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in TEMPLATE_DEFS
    }


def check_script(code: str) -> None:
    """Raise AssertionError if the script steps outside what kdsl generates."""
    tree = _without_template_defs(ast.parse(code))
    layer_classes = {e.class_name for e in load().layers.values()}
    imports = IMPORTS | OPTION_IMPORTS
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= imports, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module in IMPORTS | {"pathlib"}, node.module
            if node.module == "keras.layers":
                assert {a.name for a in node.names} <= layer_classes
            elif node.module == "pathlib":
                assert {a.name for a in node.names} == {"Path"}
            else:
                assert {a.name for a in node.names} <= {"Input", "Sequential"}
        elif isinstance(node, ast.Name):
            assert node.id in NAMES | OPTION_NAMES or node.id in layer_classes, node.id
            assert node.id not in FORBIDDEN_CALLS
        elif isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr
            base = node
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name):
                assert base.id in ROOTS | OPTION_ROOTS, base.id
            else:
                assert isinstance(base, ast.Call | ast.Subscript), ast.dump(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS
        elif isinstance(node, ast.Lambda | ast.Global | ast.Nonlocal | ast.Await):
            raise AssertionError(f"unexpected {type(node).__name__}")


@pytest.mark.parametrize("script", sorted(GOLDEN.glob("*.py")), ids=lambda p: p.name)
def test_every_golden_script_is_whitelisted(script: Path) -> None:
    check_script(script.read_text())


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


HOSTILE = [
    '"); import os; os.system("echo pwned"); ("',
    "'); import os; os.system('echo pwned'); ('",
    '\\"); __import__(\\"os\\").system(\\"id\\"); (\\"',
    "{{ 7 * 7 }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ self.__init__.__globals__ }}",
    "line1\\nimport os",
    "\\\\",
    "tab\\there",
    "\\u2028import os",
    "ﬁle",
    "𝕖𝕧𝕒𝕝",
    "x" * 5000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize(
    "template",
    [
        'randomflip mode="{}" in 4x4x3 -> flatten -> dense 1; adam; mse',
        'dense 1 in 4; adam; mse; fit verbose="{}"',
        'input 4 name="{}" -> dense 1; adam; mse',
    ],
    ids=["layer-argument", "fit-option", "input-name"],
)
def test_hostile_strings_are_inert_or_rejected(template: str, text: str) -> None:
    program = template.replace("{}", text)
    try:
        code = compile_source(program)
    except KdslError:
        return  # rejected, with a message
    check_script(code)
    decoded = ast.literal_eval(f'"{text}"')
    strings = [n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)]
    assert decoded in strings, "the text must reach the script as one string literal"


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


def test_templates_are_strict() -> None:
    from kdsl.render import _environment

    environment = _environment()
    assert environment.undefined is jinja2.StrictUndefined
    assert environment.autoescape is False
    with pytest.raises(jinja2.UndefinedError):
        environment.get_template("script.py.jinja").render()


def test_numpy_loads_never_unpickle() -> None:
    """Every np.load in kdsl and in the template passes allow_pickle=False."""
    sources = [*sorted((ROOT / "kdsl").glob("*.py")), ROOT / "templates" / "script.py.jinja"]
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
