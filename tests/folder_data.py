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

# A small CNN for image folders (tests/test_images.py fills in its input and its loss).
CNN = (
    "input 16x16x{channels} -> rescaling 0.00392 -> conv2d 8 3x3 relu -> maxpool2d 2 "
    "-> flatten -> dense {units} {activation}; adam 0.01; {loss}; metrics accuracy; "
    "fit epochs={epochs} batch_size=8"
)
# The Keras text-classification tutorial (IMDB), as one kdsl program, for text folders.
SENTIMENT = (
    "input 1 dtype=string -> textvectorization max_tokens=200 output_sequence_length=16 "
    "-> embedding 200 8 -> globalaveragepooling1d -> dense 1 sigmoid; adam 0.02; "
    "binary_crossentropy; metrics accuracy; fit epochs={epochs} batch_size=8"
)
