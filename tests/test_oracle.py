"""`kdsl check` agrees with Keras: the differential test's fast profile (tests/oracle.py).

A few hundred programs drawn from the catalog with a fixed seed, each checked by kdsl
and, when accepted, built and run by real Keras in one Keras process: no program kdsl
accepts may be refused by Keras, and shapes and parameter counts must be Keras's own.
The long profile is `python benchmarks/oracle.py` (10,000 programs and more).
"""

from __future__ import annotations

import random

import pytest
from oracle import (
    KERAS_ACCEPTS,
    SKIPPED,
    WRAPPER_SKIPPED,
    WRAPS,
    Case,
    KerasProcess,
    generate,
    judge,
    run,
)

import kdsl
from kdsl.semantics.catalog import load

FAST_PROGRAMS = 240


@pytest.fixture(scope="module")
def keras_process():
    process = KerasProcess()
    yield process
    process.close()


def test_check_agrees_with_keras(keras_process: KerasProcess) -> None:
    report = run(FAST_PROGRAMS, seed=19, keras=keras_process)
    assert report.accepted > FAST_PROGRAMS // 3, report.summary()  # the test tests something
    shown = "\n".join(f"{text}\n    {why}" for text, why in report.disagreements[:20])
    assert not report.disagreements, f"{report.summary()}\n{shown}"


def test_the_generator_covers_every_layer_kind() -> None:
    catalog = load()
    rng = random.Random(0)
    cases = [generate(rng, catalog) for _ in range(3000)]
    assert {case.kind for case in cases} >= set(catalog.layers)
    for case in cases:  # each program holds its kind (a merge or attention in a graph)
        assert f" {case.kind}" in case.text, case


def test_the_generator_covers_every_argument_of_every_kind() -> None:
    """The claim is over the catalog: each layer kind with each of its arguments (but
    the objects kdsl cannot write), a wrapper's own among them, in the long profile's
    number of programs or so."""
    catalog = load()
    rng = random.Random(0)
    seen = set()
    for _ in range(30_000):
        case = generate(rng, catalog)
        after = case.text.split(f" {case.kind}", 1)[1].split(";")[0].split()
        positional = [word for word in after if "=" not in word and not word.startswith("@")]
        entry = catalog.layers[case.kind]
        seen.update((case.kind, name) for name in entry.positional[: len(positional)])
        seen.update((case.kind, word.split("=")[0]) for word in after if "=" in word)
    missing = [
        (key, param.name)
        for key, entry in catalog.layers.items()
        for param in entry.params
        if param.name not in (WRAPPER_SKIPPED if key in WRAPS else SKIPPED)
        and (key, param.name) not in seen
    ]
    assert not missing, missing


@pytest.mark.parametrize("text", KERAS_ACCEPTS)
def test_what_keras_accepts_kdsl_accepts(text: str, keras_process: KerasProcess) -> None:
    errors = [d for d in kdsl.check(text) if d.severity == "error"]
    assert not errors, errors[0].message
    report = run(0, keras=keras_process)
    judge(keras_process, Case(text, "float32"), report)
    assert report.agreed == 1, report.disagreements
