"""A fuzzing harness for `kdsl compile` and `kdsl check`: never a crash, never a hang.

Used by tests/test_fuzz.py (a fast profile, in CI) and benchmarks/fuzz.py (the long
profile, 100,000+ inputs). Each input goes through the real CLI entry point in-process;
the only acceptable outcomes are exit 0, or exit 1 with a kdsl message on stderr.
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kdsl.language.parser import lark_parser
from kdsl.semantics.catalog import POSITIONAL, load
from kdsl.tools.cli import main

# A hang detector, not a speed target (speed lives in benchmarks/speed.py): the largest
# special input takes ~2.5 s alone, and CI runs four test processes on two cores.
SECONDS_PER_INPUT = 60


class Hang(Exception):
    pass


@dataclass
class Report:
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    failures: list[tuple[bytes, str]] = field(default_factory=list)


def _alarm(signum, frame):
    raise Hang()


def run_one(data: bytes, folder: Path, report: Report) -> dict[str, str]:
    """Compile and check one input; record anything but a clean success or kdsl error.
    Returns what each command wrote on stderr."""
    path = folder / "input.k"
    path.write_bytes(data)
    errors: dict[str, str] = {}
    code: int | None = None
    for command in ("check", "compile"):
        stdout, stderr = io.StringIO(), io.StringIO()
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(SECONDS_PER_INPUT)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main([command, str(path)])
        except Hang:
            report.failures.append((data, f"{command}: no answer in {SECONDS_PER_INPUT} s"))
            continue
        except BaseException as error:  # the point: nothing may escape main()
            report.failures.append((data, f"{command}: {type(error).__name__}: {error}"))
            continue
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        err = errors[command] = stderr.getvalue()
        if code not in (0, 1) or "Traceback" in err or "internal error" in err:
            report.failures.append((data, f"{command}: exit {code}: {err[-500:]}"))
        elif code == 1 and not err.strip():
            report.failures.append((data, f"{command}: exit 1 without a message"))
    report.inputs += 1
    if code == 0:
        report.accepted += 1
    else:
        report.rejected += 1
    return errors


# -- inputs ----------------------------------------------------------------------------

SPECIALS: list[bytes] = [
    b"",
    b"\x00",
    b"dense 5 in 4\x00; adam; mse",
    b"\xff\xfe\xfd",
    b"dense 5 in 4; adam; mse # caf\xe9",
    b"\xef\xbb\xbfdense 5 in 4; adam; mse",  # a UTF-8 byte-order mark
    b"(" * 100_000,
    b"dense 1 in 4; adam; mse; fit shuffle=" + b"(" * 5000 + b")" * 5000,
    b"dense 1 in 4 " + b"-> dense 1 " * 20_000 + b"; adam; mse",
    b"dense 1 in " + b"9" * 5000 + b"; adam; mse",
    b"dense 1e99999 in 4; adam; mse",
    b"dense " + b"x" * 1_000_000,
    b"# " + b"a" * 1_000_000,
    b"dense 1 in 4; adam; mse; metrics " + b"accuracy, " * 5000 + b"auc",
    b"\r\n".join([b"dense 5 in 4", b"-> dense 3 softmax;", b"adam; categorical_crossentropy"]),
    "dense 5 in 4 -> dense 3 r\u0435lu; adam; mse".encode(),  # Cyrillic 'е' look-alike
    "dense 5 in 4 \u2028-> dense 3; adam; mse".encode(),
]


def tokens(text: str) -> list[str]:
    try:
        return [str(t) for t in lark_parser().lex(text, dont_ignore=False)]
    except Exception:
        return text.split()


class ProgramGenerator:
    """Random but mostly well-formed programs over the catalog, and one-token mutations."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)
        catalog = load()
        self.kinds = sorted(catalog.layers) + sorted(catalog.layer_aliases)
        self.activations = list(catalog.activations)
        self.optimizers = sorted(catalog.optimizers)
        self.losses = sorted(catalog.losses) + sorted(catalog.loss_aliases)
        self.metrics = sorted(catalog.metrics)
        self.params = {k: [p.name for p in e.params] for k, e in catalog.layers.items()}
        self.vocabulary = [
            "->",
            ";",
            ",",
            "=",
            "(",
            ")",
            "in",
            "input",
            "none",
            "true",
            "x",
            "3x3",
            "0.5",
            "-1",
            "1e-3",
            "'s'",
            "metrics",
            "fit",
            "loss",
            "optimizer",
            "epochs",
            "28x28x1",
            "(None, 8)",
            "relu",
        ]

    def value(self) -> str:
        r = self.random
        return r.choice(
            [
                str(r.randint(-2, 64)),
                f"{r.random():.3f}",
                r.choice(self.activations),
                f"{r.randint(1, 9)}x{r.randint(1, 9)}",
                "true",
                "false",
                "none",
                "same",
                "valid",
                f"({r.randint(1, 5)}, {r.randint(1, 5)})",
                "'he_normal'",
                "(None,)",
            ]
        )

    def layer(self) -> str:
        r = self.random
        kind = r.choice(self.kinds)
        parts = [kind]
        key = kind if kind in self.params else load().layer_aliases.get(kind, kind)
        for _ in range(len(POSITIONAL.get(key, ())) if r.random() < 0.7 else r.randint(0, 3)):
            parts.append(self.value())
        for _ in range(r.randint(0, 2)):
            names = self.params.get(key) or ["units"]
            parts.append(f"{r.choice(names)}={self.value()}")
        return " ".join(parts)

    def program(self) -> str:
        r = self.random
        shape = r.choice(["4", "28x28x1", "20", "(None, 8)", "8x8x3", "10x4", "6x6x6x1"])
        dtype = " dtype=int32" if r.random() < 0.2 else ""
        layers = [f"input {shape}{dtype}"] + [self.layer() for _ in range(r.randint(1, 6))]
        sections = [
            r.choice(self.optimizers) + (f" {r.random():.3f}" if r.random() < 0.3 else ""),
            r.choice(self.losses),
        ]
        if r.random() < 0.4:
            sections.append("metrics " + ", ".join(r.sample(self.metrics, r.randint(1, 3))))
        if r.random() < 0.4:
            sections.append(f"fit epochs={r.randint(1, 5)} batch_size={r.randint(1, 64)}")
        return " -> ".join(layers) + "; " + "; ".join(sections)

    def mutate(self, text: str) -> str:
        """Delete, duplicate, swap or replace one token."""
        r = self.random
        parts = tokens(text)
        if not parts:
            return text
        i = r.randrange(len(parts))
        operation = r.choice(["delete", "duplicate", "replace", "insert", "swap"])
        if operation == "delete":
            del parts[i]
        elif operation == "duplicate":
            parts.insert(i, parts[i])
        elif operation == "replace":
            parts[i] = r.choice(self.vocabulary + [self.value()])
        elif operation == "insert":
            parts.insert(i, r.choice(self.vocabulary + [self.value()]))
        elif len(parts) > 1:
            j = r.randrange(len(parts))
            parts[i], parts[j] = parts[j], parts[i]
        return " ".join(parts)

    def noise(self) -> bytes:
        r = self.random
        size = r.choice([1, 8, 64, 512])
        if r.random() < 0.5:
            return bytes(r.randrange(256) for _ in range(size))
        alphabet = "dense 0123456789x()->;,=#'\"\n\t in relu adam mse \\é\u2028"
        return "".join(r.choice(alphabet) for _ in range(size)).encode("utf-8", "replace")


def fuzz(count: int, seed: int = 0, specials: bool = True) -> Report:
    """`count` inputs: the specials (unless left out), then a mix of programs, mutants
    and noise."""
    generator = ProgramGenerator(seed)
    report = Report()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for data in SPECIALS if specials else ():
            run_one(data, folder, report)
        while report.inputs < count:
            roll = generator.random.random()
            if roll < 0.35:
                data = generator.program().encode()
            elif roll < 0.85:
                text = generator.program()
                for _ in range(generator.random.randint(1, 2)):
                    text = generator.mutate(text)
                data = text.encode()
            else:
                data = generator.noise()
            run_one(data, folder, report)
    return report
