"""The grammar and templates, found wherever kdsl runs from.

Installed, they are the packages `kdsl.grammar` and `kdsl.templates` (the top-level
`grammar/` and `templates/` folders, mapped into the package). Run from a source tree,
the folder `kdsl/` may shadow an installed copy (`python -m kdsl` from the repository
root after a plain `pip install .`): then `kdsl.grammar` does not exist, and the files
are read from the folders beside the source package instead.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def read_text(package: str, name: str) -> str:
    """The text of resource `name` of `package` (`"grammar"` or `"templates"`)."""
    try:
        return files(f"kdsl.{package}").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        beside = _SOURCE_ROOT / package / name
        if beside.is_file():
            return beside.read_text(encoding="utf-8")
        raise
