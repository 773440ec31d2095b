"""The example folders' makers (examples/folders/make_folders.py), for the image, text
and export tests: small folders drawn with numpy, never downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "examples" / "folders" / "make_folders.py"
_SPEC = importlib.util.spec_from_file_location("make_folders", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
make_folders = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_folders)

IMAGE_CLASSES = make_folders.IMAGE_CLASSES
image_folder = make_folders.image_folder
png_bytes = make_folders.png_bytes
text_folder = make_folders.text_folder
EXAMPLES = _PATH.parent
