"""Folders of class subfolders: images or text files, one subfolder per class
(`photos/cats/001.jpg`), optionally under `train/`, `val/` (or `validation/`) and `test/`.

Keras reads them (`image_dataset_from_directory`, `text_dataset_from_directory`, in the
generated script's `load_data`); this module decides what a folder holds and checks it
before any of that starts: classes, files that Keras would skip or fail on mid-training,
and the model's input, output and loss against them. Every problem is a `DataError`
naming the folder or the file. One pass over the folder's names, and a few bytes of each
image (the whole of each text file, which must be UTF-8).

How a `--data` folder is told apart (see README, "Image and text folders"): a folder
holding `.npy` files at its top is a folder of arrays, as before; otherwise one whose
subfolders hold images is an image folder, and one whose subfolders hold `.txt` files a
text folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kdsl import ir
from kdsl.errors import DataError
from kdsl.options import LABEL_MODES, DataKind, image_input

# The suffixes Keras's readers take (keras.utils's ALLOWLIST_FORMATS); others it skips.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_SUFFIXES = (".txt",)
# What each image format's files start with: tf.io.decode_image reads these four.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
# A split's folder names, in the order they are looked for (the script's SPLIT_FOLDERS).
SPLIT_FOLDERS = (("train", "train"), ("val", "val"), ("val", "validation"), ("test", "test"))
SHOWN = 5  # files named in a message, at most


@dataclass
class FolderData:
    """A checked folder: its splits' folders, the class names (the training folder's
    subfolders, sorted as Keras sorts them) and how many files each split has."""

    kind: DataKind
    root: str
    splits: dict[str, Path]  # "train" (always), "val", "test" → a folder of class folders
    class_names: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def _visible_subfolders(folder: Path) -> list[Path]:
    """Class folders as Keras finds them: subfolders not starting with a dot, sorted."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError as error:
        raise DataError(str(folder), f"cannot be read: {error.strerror}") from None
    return [
        folder / name for name in entries if not name.startswith(".") and (folder / name).is_dir()
    ]


def data_kind(path: str | Path) -> DataKind | None:
    """`images` or `text` for a folder of class subfolders, else None (a folder of .npy
    files, or not a folder): decided by the first file with a known suffix found in the
    subfolders. Cheap: stops at that file."""
    folder = Path(path)
    if not folder.is_dir() or any(folder.glob("*.npy")):
        return None
    for _, _, names in _walk_classes(folder):
        for name in names:
            kind = kind_of_file(name)
            if kind:
                return kind
    return "images" if _visible_subfolders(folder) else None


def kind_of_file(name: str | Path) -> DataKind | None:
    """What a file's suffix says it is: an image, a text file, or neither (None)."""
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "images"
    return "text" if suffix in TEXT_SUFFIXES else None


def _walk_classes(folder: Path):
    """(class folder, its path, file names) for every folder below the class folders
    (Keras reads a class's nested folders too), splits' class folders included."""
    for sub in _visible_subfolders(folder):
        for top, dirs, names in os.walk(sub):
            dirs.sort()
            yield sub, Path(top), sorted(names)


def splits_of(root: Path) -> dict[str, Path]:
    """`train`, `val`, `test` folders when the root has a `train/` folder, else the root
    as the training folder."""
    found: dict[str, Path] = {}
    for part, name in SPLIT_FOLDERS:
        if part not in found and (root / name).is_dir():
            found[part] = root / name
    if "train" not in found:
        extra = [p.name for p in found.values()]
        if extra:
            raise DataError(
                str(root),
                f"has a `{extra[0]}/` folder but no `train/` folder beside it",
                "put the training files in train/CLASS/..., or every class folder at the top",
            )
        return {"train": root}
    others = [
        p.name
        for p in _visible_subfolders(root)
        if p.name not in {name for _, name in SPLIT_FOLDERS}
    ]
    if others:
        raise DataError(
            str(root),
            f"has a `train/` folder and also `{others[0]}/`: with train/, every class folder "
            "goes inside train/, val/ and test/",
            f"move `{others[0]}/` into train/ (and its held-out files into val/ or test/)",
        )
    return found


def scan(path: str | Path, kind: DataKind) -> FolderData:
    """Check every split's class folders and files; raise `DataError` for no files, one
    class only, a file Keras would skip or cannot read (named), a class in val/ or test/
    that train/ lacks, or an empty training class."""
    root = Path(path)
    splits = splits_of(root)
    suffixes = IMAGE_SUFFIXES if kind == "images" else TEXT_SUFFIXES
    what = "images" if kind == "images" else "text files (.txt)"
    class_names: list[str] = []
    counts: dict[str, int] = {}
    for part, folder in splits.items():
        classes = _visible_subfolders(folder)
        if not classes:
            raise DataError(
                str(folder),
                f"has no class subfolders: kdsl reads {what} in one subfolder per class",
                f"put the files in {folder}/CLASS_NAME/..., one folder per class",
            )
        names = [c.name for c in classes]
        per_class = dict.fromkeys(names, 0)
        others: list[Path] = []
        broken: list[str] = []
        for sub, top, files in _walk_classes(folder):
            for name in files:
                file = top / name
                if name.startswith("."):
                    continue  # .DS_Store and the like: hidden, and Keras skips them too
                if Path(name).suffix.lower() not in suffixes:
                    others.append(file)
                    continue
                problem = unreadable(file, kind)
                if problem:
                    broken.append(f"{file} ({problem})")
                per_class[sub.name] += 1
        if others:
            raise DataError(
                str(folder),
                f"holds files that are not {what}, which Keras would skip: "
                + listed([str(f) for f in others]),
                f"remove them, or move them out of the class folders (kdsl reads "
                f"{', '.join(suffixes)})",
            )
        if broken:
            raise DataError(
                str(folder),
                f"holds files that cannot be read as {what}: " + listed(broken),
                "remove or replace them",
            )
        counts[part] = sum(per_class.values())
        if part == "train":
            class_names = names
            _check_classes(folder, per_class, what)
        else:
            extra = [name for name in names if name not in class_names]
            if extra:
                raise DataError(
                    str(folder),
                    f"has a class folder `{extra[0]}` that {splits['train']} does not have "
                    f"(its classes: {', '.join(class_names)})",
                    "use the training folder's class names in every split",
                )
            if counts[part] == 0:
                raise DataError(str(folder), f"has no {what} in its class folders")
    return FolderData(kind, str(root), splits, class_names, counts)


def _check_classes(folder: Path, per_class: dict[str, int], what: str) -> None:
    total = sum(per_class.values())
    if total == 0:
        raise DataError(
            str(folder),
            f"has no {what} in its class folders ({', '.join(per_class)})",
            f"put the {what} in one subfolder per class",
        )
    if len(per_class) == 1:
        raise DataError(
            str(folder),
            f"has one class only (`{next(iter(per_class))}`): a classifier needs two or more",
            "add a subfolder for each other class",
        )
    empty = [name for name, count in per_class.items() if count == 0]
    if empty:
        raise DataError(
            str(folder),
            f"has a class folder with no {what}: `{empty[0]}`",
            "add files to it, or remove it",
        )


def unreadable(file: Path, kind: DataKind) -> str | None:
    """Why a file cannot be read as what its suffix says, or None: an image must start
    as a PNG, JPEG, GIF or BMP does; a text file must be UTF-8."""
    try:
        if kind == "images":
            with open(file, "rb") as stream:
                head = stream.read(8)
            if not head:
                return "empty"
            return None if head.startswith(IMAGE_MAGIC) else "not a PNG, JPEG, GIF or BMP image"
        file.read_bytes().decode("utf-8")
    except OSError as error:
        return error.strerror or "unreadable"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    return None


def listed(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def check_model(path: str, model: ir.Model, kind: DataKind, classes: int | None = None) -> str:
    """The model against the folder: one input an image of fixed size (or, for text, one
    string) and a classification loss (`classes`: how many, for the hint; the outputs
    are checked against them once the model is built). Returns Keras's `label_mode`."""
    flag = "an image folder" if kind == "images" else "a folder of text files"
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise DataError(
            path,
            f"is {flag}, which kdsl reads for a model of one input and one output",
            "save the data as arrays in an .npz, one per input and output",
        )
    source = model.input_node()
    shape = tuple(source.shape)
    if kind == "images" and image_input(shape) is None:
        raise DataError(
            path,
            f"is an image folder, but the model's input {ir.show_shape(shape)} is not an "
            "image of fixed height, width and 1, 3 or 4 channels",
            "start the model with `input HEIGHTxWIDTHxCHANNELS`, e.g. `input 180x180x3` "
            "(channels 1: grayscale, 3: RGB, 4: RGBA)",
        )
    if kind == "text" and (source.dtype != "string" or shape != (1,)):
        raise DataError(
            path,
            f"is a folder of text files, but the model's input is {ir.show_shape(shape)} "
            f"{source.dtype}, not one string per file",
            "start the model with `input 1 dtype=string -> textvectorization ...`",
        )
    label_mode = LABEL_MODES.get(model.loss_key or "")
    if label_mode is None:
        raise DataError(
            path,
            f"labels each file with its class folder, but `{model.loss_key}` is not a "
            "classification loss",
            f"end the model with `dense {classes or 'N'} softmax` (N classes) and use "
            "`sparse_categorical_crossentropy`",
        )
    return label_mode


def check_options(
    path: str,
    model: ir.Model,
    folder: FolderData,
    *,
    test_split: bool,
    validation_split: bool,
    standardize: bool,
) -> None:
    """What `kdsl run` cannot do with a folder of files: those options work on arrays."""
    if model.fit_option("validation_split"):
        raise DataError(
            path,
            "is a folder of class subfolders, which Keras cannot split with "
            "`fit validation_split=...`",
            "drop it from the fit section and run with --validation-split, or add a val/ folder",
        )
    if model.fit_option("sample_weight") is True:
        raise DataError(
            path,
            "is a folder of class subfolders: it has no `sample_weight` array for "
            "`fit sample_weight=true`",
            "drop `fit sample_weight=true` (class_weight weighs classes)",
        )
    if test_split:
        raise DataError(
            path,
            "is a folder of class subfolders: --test-split splits arrays",
            "put the test files in test/CLASS/... (beside train/CLASS/...)",
        )
    if standardize:
        raise DataError(
            path,
            "is a folder of class subfolders: --standardize scales array features",
            "start the model with `rescaling 0.00392` (1/255) or a `normalization` layer",
        )
    if validation_split and "val" in folder.splits:
        raise DataError(
            path,
            f"has a validation folder ({folder.splits['val']}) and --validation-split asks "
            "for another",
            "drop --validation-split, or the val/ folder",
        )
