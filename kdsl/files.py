"""Reading programs and writing outputs without ever leaving a half-written file."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kdsl.errors import InputError, OutputError, Source


def read_source(path: str) -> Source:
    """A program from a file, or from standard input for `-`; unreadable input is an error."""
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        name = path
        target = Path(path)
        if target.is_dir():
            raise InputError(path, "is a directory, not a .k file")
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except PermissionError:
            raise InputError(path, "permission denied: the file cannot be read") from None
        except OSError as error:
            raise InputError(path, f"cannot be read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            name,
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); "
            "save the file as UTF-8",
        ) from None
    if "\x00" in text:
        raise InputError(name, "contains NUL bytes: is this a binary file, not a .k program?")
    return Source(name, text.removeprefix("\ufeff"))


@contextmanager
def atomic_target(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write; when the block ends it is synced to disk
    and renamed into place, and on any error it is removed and `path` is untouched.

    A crash or Ctrl-C mid-write leaves either the old file or the new one, never half.
    A symbolic link is followed: the file it points to is replaced, the link stays.
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    except OSError as error:
        raise _cannot_write(path, error) from None
    os.close(fd)
    try:
        yield Path(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())  # on disk before it takes the name
        os.chmod(temp, file_mode(target))
        os.replace(temp, target)
    except OSError as error:
        Path(temp).unlink(missing_ok=True)
        raise _cannot_write(path, error) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _cannot_write(path: str | Path, error: OSError) -> OutputError:
    reason = why_unwritable(path) or f"cannot be written: {error.strerror or error}"
    return OutputError(str(path), reason)


def why_unwritable(path: str | Path) -> str | None:
    """Why `path` cannot be written (no folder, a directory, no permission), or None."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        return f"cannot be written: there is no folder {folder}"
    if target.is_dir():
        return "is a directory"
    if not os.access(folder, os.W_OK):
        return f"cannot be written: the folder {folder} is not writable"
    return None


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` through `atomic_target`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_target(path) as temp:
        temp.write_bytes(payload)


def file_mode(target: Path) -> int:
    """The permissions a replacement of `target` gets: its own, or the umask's for a new
    file (temporary files are created private)."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
