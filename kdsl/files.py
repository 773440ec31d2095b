"""Reading programs and writing outputs without ever leaving a half-written file."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kdsl.errors import InputError, OutputError, PathError, Source

# The largest program kdsl reads: far above any real one, and a bound on what a runaway
# input (a huge or endless file) can make kdsl read.
MAX_SOURCE_BYTES = 64 << 20


def not_a_file(path: str | Path) -> str | None:
    """What `path` is when it exists but is not a regular file (`a named pipe (FIFO)`,
    `a character device`...), else None.

    Reading a FIFO waits for a writer forever and `/dev/zero` never ends, so every input
    kdsl reads is checked first; `os.stat` itself never blocks.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing or unreadable: opening it says which
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def check_regular_file(
    path: str | Path, error: type[PathError], what: str, hint: str | None = None
) -> None:
    """Raise `error` (`PATH: error: is a named pipe (FIFO), not WHAT`, `permission denied`)
    unless `path` is a regular file this process may read, or is missing (the caller's own
    check reports a missing file); `hint` is for what is not a directory.

    Readers that probe a file (`zipfile.is_zipfile`) take any OSError for "not that
    format": trying to open it first says what is true.
    """
    kind = not_a_file(path)
    if kind:
        raise error(str(path), f"is {kind}, not {what}", None if "directory" in kind else hint)
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        return
    except PermissionError:
        raise error(str(path), "permission denied: the file cannot be read") from None
    except OSError as problem:
        raise error(str(path), f"cannot be read: {problem.strerror or problem}") from None


def read_source(path: str) -> Source:
    """A program from a file, or from standard input for `-`; unreadable input is an error."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
        name = "<stdin>"
    else:
        name = path
        target = Path(path)
        check_regular_file(
            path, InputError, "a .k file", "to read a program from a pipe, use `-` (stdin)"
        )
        try:
            with target.open("rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except PermissionError:
            raise InputError(path, "permission denied: the file cannot be read") from None
        except OSError as error:
            raise InputError(path, f"cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise InputError(
            name, f"is larger than {MAX_SOURCE_BYTES >> 20} MB: is this really a .k program?"
        )
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
    A read-only `path` is refused, as `cp` refuses it. Only `kill -9` (or a power cut)
    can leave the temporary file behind: it is named `.NAME.kdsl-tmp-HOST-PID-...`, so
    anyone can see what it is, and the next write of `path` removes those of writers
    that are gone.
    """
    kind = not_a_file(path)
    if kind and "directory" not in kind:
        # `-o /dev/stdout`, `-o /dev/null`, a named pipe: renaming a file over it would
        # replace the device itself (as root, /dev/null), so the output is written into
        # it, as `cp` does.
        with _into_special(path, suffix) as scratch:
            yield scratch
        return
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if is_read_only(target):
        raise OutputError(str(path), READ_ONLY, READ_ONLY_HINT)
    remove_stale_temporaries(target)
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=suffix)
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


@contextmanager
def _into_special(path: str | Path, suffix: str) -> Iterator[Path]:
    """A private temporary file to write, then copied into `path` (a device or a FIFO)."""
    with tempfile.TemporaryDirectory(prefix="kdsl-") as folder:
        temp = Path(folder, f"output{suffix}")
        temp.touch()
        yield temp
        try:
            with open(temp, "rb") as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink)
        except OSError as error:
            raise _cannot_write(path, error) from None


READ_ONLY = "is read-only: refusing to replace it"
READ_ONLY_HINT = "make it writable (chmod u+w FILE), or write somewhere else"


def is_read_only(target: Path) -> bool:
    """An existing file nobody may write (mode 0444), or that this user may not write.

    Root may write anything, so the mode bits decide for root, as they do for `mv -i`.
    """
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and (not mode & 0o222 or not os.access(target, os.W_OK))


def _host() -> str:
    """This machine's name as it goes into a file name: letters and digits only."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.kdsl-tmp-{_host()}-{os.getpid()}-"


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporary files a killed writer of `target` on this machine left beside
    it (see `atomic_target`); a live writer's, or another machine's, are kept. Returns
    those removed."""
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.kdsl-tmp-{re.escape(_host())}-(\d+)-[^/]*\Z"
    )
    removed: list[Path] = []
    try:
        candidates = list(target.parent.glob(f".{glob_escape(target.name)}.kdsl-tmp-*"))
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match and not _alive(int(match.group(1))):
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:  # not ours to remove after all: leave it
                pass
    return removed


def glob_escape(name: str) -> str:
    """`name` with glob's special characters (`*?[`) matching themselves."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):  # someone else's process, or unsure
        return True
    return True


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
    if is_read_only(target):
        return READ_ONLY
    if not os.access(folder, os.W_OK):
        return f"cannot be written: the folder {folder} is not writable"
    return None


# How many characters of a text `write_atomic` encodes at a time.
_CHUNK = 1 << 16


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` through `atomic_target`; a text as UTF-8, encoded a chunk
    at a time: a 100,000-layer script is tens of MB, and its whole encoded copy beside it
    was the last peak of a compile's memory."""
    with atomic_target(path) as temp:
        if isinstance(data, bytes):
            temp.write_bytes(data)
            return
        with temp.open("wb") as stream:
            for start in range(0, len(data), _CHUNK):
                stream.write(data[start : start + _CHUNK].encode("utf-8"))


def file_mode(target: Path) -> int:
    """The permissions a replacement of `target` gets: its own, or the umask's for a new
    file (temporary files are created private)."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
