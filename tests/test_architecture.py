"""The package's layers import only downwards: language → semantics → codegen → train → tools.

docs/architecture.md draws the pipeline; this test keeps the code true to it. Every
`import kdsl...` counts, including those inside functions (kdsl imports heavy or optional
modules lazily), so a shortcut upwards cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "kdsl"
# Modules at the package's top level that every layer may use; they import only each other.
BASE = {"_version", "errors", "files", "resources", "source", "ir", "options"}
LAYERS = ["language", "semantics", "codegen", "train", "tools"]


def _rank(module: str) -> int:
    """0 for the base modules, then 1.. by layer; the package's __init__ (the API) is on top."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "__main__"):
        return len(LAYERS) + 1
    if parts[1] in BASE:
        return 0
    if parts[1] in ("grammar", "templates"):
        return 0
    return LAYERS.index(parts[1]) + 1


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every kdsl import in the file, `from kdsl import x` as `kdsl.x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("kdsl")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kdsl"):
            if node.module == "kdsl":
                found += [(node.lineno, f"kdsl.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def test_layers_import_only_downwards() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        if importer.endswith(("__init__", "__main__")) and importer.count(".") == 1:
            continue  # the public API and `python -m kdsl` sit on top of everything
        for line, imported in _imports(path):
            if imported == "kdsl" or imported.split(".")[1] in ("__init__",):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports the package's __init__")
            elif _rank(imported) > _rank(importer):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (upwards)")
    assert upward == []


def test_every_module_is_in_a_known_place() -> None:
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            assert path.stem in BASE | {"__init__", "__main__"}, f"{path}: put it in a layer"
        else:
            assert parts[0] in LAYERS, f"{path}: not in a known layer"


def test_training_needs_only_the_base() -> None:
    """`kdsl/train/` runs a compiled script on data: it reads the IR, the options and the
    errors, nothing of the language, the checks or the code generation."""
    train = LAYERS.index("train") + 1
    reaching = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in sorted((PACKAGE / "train").rglob("*.py"))
        for line, imported in _imports(path)
        if _rank(imported) not in (0, train)
    ]
    assert reaching == []
