"""`%load_ext kdsl` and the `%%kdsl` / `%kdsl` magics, in IPython's own test shell.

One shell (and one TensorFlow import) for the module; the models are built by real
Keras and used.
"""

from __future__ import annotations

import builtins
import re
import subprocess
import sys

import pytest
from conftest import ROOT
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

import kdsl

IRIS = "input 4 -> dense 5 relu -> dense 3 softmax; adam; categorical_crossentropy\n"


@pytest.fixture(scope="module")
def ip():
    """IPython's test shell (one per process: start_ipython returns None the second time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_COLOR", "1")  # kdsl's diagnostics without ANSI colors
        shell = globalipapp.start_ipython() or globalipapp.get_ipython()
        shell.run_line_magic("load_ext", "kdsl")
        yield shell
    # start_ipython leaves IPython's names in builtins; other modules should not see them.
    shell.builtin_trap.deactivate()
    for name in ("_ip", "ip", "get_ipython"):
        if hasattr(builtins, name):
            delattr(builtins, name)


def run(ip, text: str):
    """Runs a cell as a user would; its result, stdout and stderr."""
    with capture_output() as captured:
        result = ip.run_cell(text)
    return result, captured.stdout, captured.stderr


def test_a_kdsl_cell_builds_the_model_into_the_namespace(ip) -> None:
    result, out, err = run(ip, f"%%kdsl clf\n{IRIS}")
    assert result.success and result.result is None, err
    model = ip.user_ns["clf"]
    assert type(model).__name__ == "Sequential"
    # Keras's own summary, with the parameter counts kdsl's check predicts.
    # (Keras numbers layer names per process: dense_1 here, higher after other tests.)
    assert re.search(r"dense_\d+ \(Dense\)", out) and "Total params: 43" in out
    assert model.count_params() == 43
    assert model.optimizer.__class__.__name__ == "Adam"
    prediction = ip.run_cell("clf.predict(__import__('numpy').zeros((2, 4)), verbose=0)").result
    assert prediction.shape == (2, 3)
    assert abs(prediction.sum() - 2.0) < 1e-5  # softmax rows


def test_the_default_name_is_model_and_quiet_prints_nothing(ip) -> None:
    result, out, err = run(ip, "%%kdsl --quiet\ndense 2 sigmoid in 3; sgd; binary_crossentropy")
    assert result.success, err
    assert out == ""
    assert ip.user_ns["model"].output_shape == (None, 2)


def test_a_mistake_shows_the_diagnostic_not_a_traceback(ip) -> None:
    ip.run_cell(f"%%kdsl --quiet\n{IRIS}")
    before = ip.user_ns["model"]
    result, out, _ = run(ip, "%%kdsl\ninput 4\n  -> dens 5 relu -> dense 3 softmax; adam; mse")
    assert not result.success  # the cell fails, so "Run all" stops there
    assert isinstance(result.error_in_exec.error, kdsl.SourceError)
    assert out == (
        "<cell>:2:6: error: unknown layer `dens`\n"
        "      -> dens 5 relu -> dense 3 softmax; adam; mse\n"
        "         ^~~~\n"
        "  hint: did you mean `dense`?\n"
    )
    assert ip.user_ns["model"] is before  # nothing rebound


def test_warnings_are_shown_and_the_model_is_still_built(ip) -> None:
    result, _, err = run(ip, "%%kdsl flat -q\ndense 3 in 4 -> flatten -> dense 1; adam; mse")
    assert result.success
    assert err.startswith(
        "<cell>:1:17: warning: `flatten` on an already flat input (None, 3) does nothing"
    )
    assert ip.user_ns["flat"].count_params() == 19


def test_kdsl_compile_shows_the_script_of_the_last_or_a_named_model(ip) -> None:
    ip.run_cell(f"%%kdsl clf -q\n{IRIS}")
    ip.run_cell("%%kdsl other -q\ndense 1 in 2; sgd; mse")
    last = ip.run_cell("%kdsl compile").result
    assert last.data == kdsl.compile("dense 1 in 2; sgd; mse", name="<cell>")
    named = ip.run_cell("%kdsl compile clf --style constructor").result
    assert named.data == kdsl.compile(IRIS, style="constructor", name="<cell>")
    assert "model = Sequential(" in named.data
    assert "<pre" in named._repr_html_()  # highlighted in Jupyter
    # The script is the model that was built: run its build_model() and compare.
    namespace: dict = {}
    exec(compile(named.data, "<script>", "exec"), namespace)
    assert namespace["build_model"]().count_params() == ip.user_ns["clf"].count_params()


def test_kdsl_check_prints_kdsls_summary(ip) -> None:
    ip.run_cell(f"%%kdsl clf -q\n{IRIS}")
    result, out, _ = run(ip, "%kdsl check clf")
    assert result.success
    assert out.startswith('Model: "clf"\n')
    assert "dense_1 (Dense)  (None, 3)          18" in out
    assert "Total params: 43" in out


def test_check_and_compile_cells_do_not_build(ip) -> None:
    ip.user_ns.pop("model", None)
    result, out, _ = run(ip, f"%%kdsl check\n{IRIS}")
    assert result.success and 'Model: "<cell>"' in out and "Total params: 43" in out
    code = ip.run_cell(f"%%kdsl compile --style constructor\n{IRIS}").result.data
    assert code == kdsl.compile(IRIS, style="constructor", name="<cell>")
    assert "model" not in ip.user_ns
    result, out, _ = run(ip, "%%kdsl check\ndense 3 in 4 -> conv2d 8 3; adam; mse")
    assert not result.success
    assert out.startswith("<cell>:1:17: error: `conv2d` needs 3 dimensions per sample")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%kdsl", "%kdsl needs `check` or `compile`"),
        ("%kdsl compile nosuch", "no %%kdsl cell built `nosuch` (built: "),
        ("%%kdsl 2fast\ndense 1 in 1; sgd; mse", "`2fast` cannot be a Python variable name"),
        ("%%kdsl class\ndense 1 in 1; sgd; mse", "`class` cannot be a Python variable name"),
        ("%%kdsl compile --style fancy\ndense 1 in 1; sgd; mse", "invalid choice: 'fancy'"),
        ("%%kdsl a b\ndense 1 in 1; sgd; mse", "unrecognized arguments: b"),
        ("%%kdsl check clf\ndense 1 in 1; sgd; mse", "takes the program from the cell"),
    ],
)
def test_misuse_is_a_usage_error(ip, cell: str, message: str) -> None:
    result, _, err = run(ip, cell)
    assert not result.success
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert message in err
    assert "Traceback" not in err


def test_compile_before_any_cell_says_to_run_one() -> None:
    code = (
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython(); ip.run_line_magic('load_ext', 'kdsl')\n"
        "result = ip.run_cell('%kdsl compile')\n"
        "import sys\n"
        "print(type(result.error_in_exec).__name__, result.error_in_exec)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "UsageError no %%kdsl cell has built a model yet; run one first"
    assert lines[-1] == "[]"  # loading the extension does not import Keras


def test_importing_kdsl_imports_no_ipython() -> None:
    code = "import sys, kdsl\nprint('IPython' in sys.modules, 'kdsl.tools.notebook' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.split() == ["False", "False"]


def test_a_model_keras_rejects_is_one_line_not_a_traceback(ip) -> None:
    # kdsl checks an equation's form, not that a shared axis keeps its size: Keras
    # refuses this one when building.
    result, out, _ = run(ip, '%%kdsl bad\ninput 4 -> einsumdense "ab,b->ab" 3; adam; mse')
    assert not result.success
    assert out.startswith("<cell>: error: Keras rejected the model:")
    assert "Traceback" not in out
    assert "bad" not in ip.user_ns


def test_compile_takes_the_commands_options(ip) -> None:
    cell = ip.run_cell("%%kdsl compile --explain --strategy mirrored\ndense 1 in 2; sgd; mse")
    assert cell.success
    code = cell.result.data
    assert code == kdsl.compile(
        "dense 1 in 2; sgd; mse", name="<cell>", explain=True, strategy="mirrored"
    )
    assert "# Dense (the output layer)" in code and "with strategy.scope():" in code
