"""What kdsl reads and writes as files: inputs that are not files (a FIFO, a device, a
socket, a directory) are refused at once, never waited on; outputs are replaced
atomically, never over a read-only file, and a killed writer's temporary file is named
for what it is and removed by the next write."""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, kdsl_main, run_kdsl

from kdsl.errors import OutputError
from kdsl.files import atomic_target, remove_stale_temporaries, write_atomic

IRIS = str(ROOT / "examples" / "iris.k")
# Long enough for Python to start, short enough that a hang fails rather than blocks.
HANG = 60


@pytest.fixture(params=["fifo", "device", "socket", "directory"])
def special(request, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(path, what `kdsl` must call it) for each kind of path that is not a regular file.
    Its name ends in every suffix kdsl reads, which must not matter."""
    kind = request.param
    if kind == "device":
        yield "/dev/zero", "is a character device"
        return
    path = tmp_path / f"{kind}.k"
    if kind == "fifo":
        os.mkfifo(path)
        yield str(path), "is a named pipe (FIFO)"
    elif kind == "directory":
        path.mkdir()
        yield str(path), "is a directory"
    else:
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
        except OSError as error:  # a path too long for a socket's address
            pytest.skip(f"cannot make a socket here: {error}")
        yield str(path), "is a socket"
        server.close()


def _alias(tmp_path: Path, target: str, suffix: str) -> str:
    """A symbolic link named `*.suffix` to `target`: the suffix picks the reader."""
    link = tmp_path / f"link{suffix}"
    link.symlink_to(target)
    return str(link)


def _model_file(tmp_path: Path) -> str:
    """The least `.keras` file `kdsl predict` reads before it looks at the data."""
    path = tmp_path / "tiny.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    return str(path)


COMMANDS = {
    "check": lambda special, tmp: ["check", special],
    "compile": lambda special, tmp: ["compile", special, "-o", str(tmp / "out.py")],
    "fmt": lambda special, tmp: ["fmt", "--check", special],
    "import": lambda special, tmp: ["import", special],
    "import .keras": lambda special, tmp: ["import", _alias(tmp, special, ".keras")],
    "run --data": lambda special, tmp: ["run", IRIS, "--data", special],
    "run --data .csv": lambda special, tmp: ["run", IRIS, "--data", _alias(tmp, special, ".csv")],
    "run --data .npz": lambda special, tmp: ["run", IRIS, "--data", _alias(tmp, special, ".npz")],
    "predict MODEL": lambda special, tmp: [
        "predict",
        _alias(tmp, special, ".keras"),
        str(ROOT / "examples" / "iris.npz"),
    ],
    "predict .npz": lambda special, tmp: [
        "predict",
        _model_file(tmp),
        _alias(tmp, special, ".npz"),
    ],
    "predict .npy": lambda special, tmp: [
        "predict",
        _model_file(tmp),
        _alias(tmp, special, ".npy"),
    ],
    "predict .csv": lambda special, tmp: [
        "predict",
        _model_file(tmp),
        _alias(tmp, special, ".csv"),
    ],
}


class Hang(BaseException):
    """A command still waiting after HANG seconds (a BaseException: no handler in kdsl
    takes it for an error of its own)."""


def _hang(signum, frame):
    raise Hang


def kdsl_at_once(args: list[str], capsys) -> tuple[int, str]:
    """`kdsl ARGS` in this process, as `kdsl_main` runs it: (exit code, stderr). SIGALRM
    interrupts an `open` or a `read` that waits (Python retries neither once the handler
    raises), so a command that would wait forever fails the test instead. Where nothing
    interrupts the wait (native code retrying it, a handler that swallows `Hang`), the
    process itself is ended with every thread's traceback after twice as long, as the
    old fresh process's timeout did; and the command may leave no thread behind (one
    waiting on the FIFO would hang this process's exit)."""
    threads = threading.active_count()
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(HANG)
    faulthandler.dump_traceback_later(2 * HANG, exit=True, file=sys.__stderr__)
    try:
        code, _, err = kdsl_main(args, capsys)
    except Hang:
        pytest.fail(f"kdsl {' '.join(args)} still waits after {HANG} s")
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert threading.active_count() == threads, "the command left a thread running"
    return code, err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_what_is_not_a_file_is_refused_at_once(
    command: str, special, tmp_path: Path, capsys, plain_output
) -> None:
    """Every file kdsl reads, given a FIFO (which waits for a writer forever), /dev/zero
    (which never ends), a socket or a directory: one line saying what it is, exit 1."""
    path, kind = special
    if kind == "is a directory" and command.startswith(("run --data", "fmt")):
        pytest.skip("a folder is data (of .npy files), or programs to format: its own tests")
    code, err = kdsl_at_once(COMMANDS[command](path, tmp_path), capsys)
    assert code == 1, err
    assert kind in err, err
    assert "Traceback" not in err


def test_a_program_is_read_to_a_bound(tmp_path: Path, monkeypatch) -> None:
    """A regular file larger than any program is refused, not read whole."""
    from kdsl import files
    from kdsl.errors import InputError

    monkeypatch.setattr(files, "MAX_SOURCE_BYTES", 1000)
    big = tmp_path / "big.k"
    big.write_text("dense 1 in 4; adam; mse\n" + "# padding\n" * 200)
    with pytest.raises(InputError, match="larger than"):
        files.read_source(str(big))
    monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": big.open("rb")})())
    with pytest.raises(InputError, match="larger than"):
        files.read_source("-")


# -- outputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o444, 0o400, 0o555])
def test_a_read_only_output_is_refused(tmp_path: Path, mode: int) -> None:
    """As `cp` refuses to replace a file it may not write, kdsl refuses a read-only output
    (root included: the mode bits decide), before any work, and leaves it as it was."""
    output = tmp_path / "model.py"
    output.write_text("keep me\n")
    output.chmod(mode)
    result = run_kdsl("compile", IRIS, "-o", str(output))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{output}: error: is read-only")
    assert output.read_text() == "keep me\n"
    with pytest.raises(OutputError, match="read-only"):
        write_atomic(output, "new")
    assert output.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_fmt_leaves_a_read_only_program_as_it_is(tmp_path: Path) -> None:
    program = tmp_path / "ugly.k"
    program.write_text("dense 5 in 4->dense 1;adam;mse\n")
    program.chmod(0o444)
    result = run_kdsl("fmt", str(program))
    assert result.returncode == 1
    assert f"{program}: error: is read-only" in result.stderr
    assert program.read_text() == "dense 5 in 4->dense 1;adam;mse\n"


def test_a_writable_output_is_replaced_keeping_its_mode(tmp_path: Path) -> None:
    output = tmp_path / "model.py"
    output.write_text("old\n")
    output.chmod(0o640)
    write_atomic(output, "new\n")
    assert output.read_text() == "new\n"
    assert output.stat().st_mode & 0o777 == 0o640


WRITER = """
import sys
from kdsl.files import atomic_target
with atomic_target(sys.argv[1]) as temp:
    print(temp, flush=True)
    temp.write_bytes(b"half")
    sys.stdin.read()  # until killed
"""


def _killed_writer(target: Path) -> Path:
    """The temporary file a writer of `target` left when it was killed mid-write."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    temp = Path(process.stdout.readline().strip())
    process.send_signal(signal.SIGKILL)
    process.wait()
    return temp


def test_a_killed_writers_temporary_is_named_and_cleaned(tmp_path: Path) -> None:
    """`kill -9` mid-write leaves the temporary file (nothing can stop that): it is named
    `.NAME.kdsl-tmp-...` beside the output, and the next write of the output removes it."""
    target = tmp_path / "out.py"
    target.write_text("old\n")
    leftovers = [_killed_writer(target) for _ in range(3)]
    for temp in leftovers:
        assert temp.parent == tmp_path
        assert temp.name.startswith(".out.py.kdsl-tmp-"), temp.name
    # Each writer removed the one killed before it; the last one's is there.
    assert [temp.exists() for temp in leftovers] == [False, False, True]
    assert target.read_text() == "old\n"
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.py"]


def test_a_live_writers_temporary_is_kept(tmp_path: Path) -> None:
    """Only the temporaries of writers that are gone are removed: one being written now
    (this process's, another output's, a living process's) stays."""
    target = tmp_path / "out.py"
    other = tmp_path / "other.py"
    with atomic_target(target) as mine, atomic_target(other) as others:
        mine.write_text("mine")
        others.write_text("others")
        parent_pid = os.getppid()  # alive: it runs pytest's runner or a shell
        living = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{parent_pid}-"))
        living.write_text("living")
        assert remove_stale_temporaries(target) == []
        assert mine.exists() and others.exists() and living.exists()
        living.unlink()
    assert target.read_text() == "mine" and other.read_text() == "others"


def test_stale_temporaries_of_a_name_with_glob_characters(tmp_path: Path) -> None:
    """An output named `a[1]*.py` matches only its own temporaries."""
    target = tmp_path / "a[1]*.py"
    temp = _killed_writer(target)
    bystander = tmp_path / ".a1x.py.kdsl-tmp-somehost-1-x.tmp"
    bystander.write_text("")
    time.sleep(0.01)
    write_atomic(target, "x")
    assert not temp.exists() and bystander.exists()


@pytest.mark.parametrize("through_a_link", [False, True])
def test_an_output_that_is_a_pipe_or_device_is_written_into(
    tmp_path: Path, through_a_link: bool
) -> None:
    """`-o /dev/stdout`, `-o /dev/null`, a named pipe: the output is written into it, as
    `cp` writes; renaming a temporary file over it would replace the pipe or the device
    itself (as root, /dev/null: this test uses a FIFO of its own, never /dev/null)."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    output = fifo
    if through_a_link:  # as /dev/stdout links to /proc/self/fd/1
        output = tmp_path / "link"
        output.symlink_to(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_kdsl("compile", IRIS, "-o", str(output), timeout=HANG)
    reader.join(HANG)
    assert result.returncode == 0, result.stderr
    assert fifo.is_fifo()
    assert received and received[0].startswith(b'"""A Keras model generated by kdsl')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"pipe", output.name})


def test_a_text_is_written_a_chunk_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """A long text is encoded a chunk at a time (a 100,000-layer script held no second,
    encoded copy of itself), byte for byte its UTF-8 whatever straddles a chunk's edge."""
    import tracemalloc

    from kdsl import files

    target = tmp_path / "out.py"
    text = "x = 'é→𝔁'\n" * 300_000  # ~4.5 MB of UTF-8, characters of 1 to 4 bytes
    tracemalloc.start()
    try:
        write_atomic(target, text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert target.read_bytes() == text.encode("utf-8")
    assert peak < len(text.encode("utf-8")) / 2, peak  # a whole copy before
    monkeypatch.setattr(files, "_CHUNK", 7)  # edges inside every line
    write_atomic(target, text[:1000])
    assert target.read_bytes() == text[:1000].encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "ok" * 10 + "\ud800")
    assert target.read_bytes() == text[:1000].encode("utf-8")  # untouched
