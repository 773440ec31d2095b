"""`kdsl lsp`, driven with LSP messages as an editor sends them.

The server runs in a thread of this process (or as `python -m kdsl lsp` for the
end-to-end test) and a small JSON-RPC client talks to it over pipes, so every message
goes through pygls's real framing and serialization. No sleeps: each wait is for a
message, with a timeout.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import pytest
from conftest import ROOT, heavy_imports
from grammar_strategies import design_programs
from hypothesis import given, settings
from hypothesis import strategies as st

from kdsl.tools import lsp
from kdsl.tools.lsp import complete, create_server, hover_text

TIMEOUT = 20  # seconds for any one answer; they take milliseconds
URI = "file:///tmp/model.k"
GOOD = (
    "input 4\n"
    "  -> dense 5 relu\n"
    "  -> batchnorm\n"
    "  -> dense 3 softmax;\n"
    "adam 0.01; categorical_crossentropy; metrics acc\n"
)


class Client:
    """The editor's side of an LSP connection: framed JSON-RPC over two byte streams."""

    def __init__(self, to_server: BinaryIO, from_server: BinaryIO):
        self.to_server = to_server
        self.from_server = from_server
        self.inbox: queue.Queue[dict | None] = queue.Queue()
        self.held: list[dict] = []  # messages read while waiting for another one
        self.next_id = 0
        self.capabilities: dict = {}  # what the server announced, once initialized
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                headers = {}
                while (line := self.from_server.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                if not line:
                    break
                body = self.from_server.read(int(headers["content-length"]))
                self.inbox.put(json.loads(body))
        finally:
            self.inbox.put(None)  # the server closed the connection

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.to_server.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.to_server.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict | None) -> Any:
        answer = self.answer(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    def answer(self, method: str, params: dict | None) -> dict:
        """The server's whole answer to a request: its result or its error."""
        self.next_id += 1
        request_id = self.next_id
        self.send({"id": request_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == request_id and "method" not in m)

    def wait(self, matches: Callable[[dict], bool]) -> dict:
        for index, message in enumerate(self.held):
            if matches(message):
                return self.held.pop(index)
        while True:
            message = self.inbox.get(timeout=TIMEOUT)
            assert message is not None, "the server closed the connection"
            if matches(message):
                return message
            self.held.append(message)

    def diagnostics(self, uri: str = URI) -> dict:
        message = self.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
            )
        )
        return message["params"]

    def initialize(self) -> dict:
        result = self.request(
            "initialize", {"processId": None, "rootUri": None, "capabilities": {}}
        )
        self.notify("initialized", {})
        self.capabilities = result["capabilities"]
        return result

    def open(self, text: str, uri: str = URI) -> dict:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "kdsl", "version": 1, "text": text}},
        )
        return self.diagnostics(uri)

    def hover(self, line: int, character: int, uri: str = URI) -> dict | None:
        position = {"line": line, "character": character}
        return self.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
        )

    def complete_at(self, line: int, character: int, uri: str = URI) -> list[str]:
        """The items' inserted texts at a position of the open document."""
        position = {"line": line, "character": character}
        result = self.request(
            "textDocument/completion", {"textDocument": {"uri": uri}, "position": position}
        )
        return [item.get("insertText", item["label"]) for item in result["items"]]

    def complete(self, text: str) -> list[str]:
        """Opens `text` and completes at its end; the items' inserted texts."""
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": URI, "version": self.next_id + 100},
                "contentChanges": [{"text": text}],
            },
        )
        lines = text.split("\n")
        return self.complete_at(len(lines) - 1, len(lines[-1]))

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.to_server.close()


@contextmanager
def serving(**options: Any) -> Iterator[Client]:
    """A fresh server (`create_server(**options)`) in a thread, connected by two pipes."""
    client_to_server, server_to_client = os.pipe(), os.pipe()
    server = create_server(**options)
    thread = threading.Thread(
        target=server.start_io,
        args=(os.fdopen(client_to_server[0], "rb"), os.fdopen(server_to_client[1], "wb")),
        daemon=True,
    )
    thread.start()
    editor = Client(os.fdopen(client_to_server[1], "wb"), os.fdopen(server_to_client[0], "rb"))
    editor.initialize()
    yield editor
    editor.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the server did not stop on `exit`"


@pytest.fixture
def client() -> Iterator[Client]:
    with serving() as editor:
        yield editor


def _range(line: int, start: int, end: int, end_line: int | None = None) -> dict:
    return {
        "start": {"line": line, "character": start},
        "end": {"line": line if end_line is None else end_line, "character": end},
    }


def test_the_server_announces_its_features(client: Client) -> None:
    capabilities = client.capabilities
    assert capabilities["hoverProvider"]
    assert set(capabilities["completionProvider"]["triggerCharacters"]) >= {">", "=", ","}
    assert capabilities["textDocumentSync"]["openClose"]
    assert capabilities["documentFormattingProvider"]


def test_every_problem_is_published_with_its_range_and_hint(client: Client) -> None:
    text = "dense 5 in 4\n  -> dens 3\n  -> dense 3 activation=relux;\nadma; mse\n"
    published = client.open(text)
    assert published["version"] == 1
    found = [
        (d["range"], d["severity"], d["source"], d["message"]) for d in published["diagnostics"]
    ]
    assert found == [
        (_range(1, 5, 9), 1, "kdsl", "unknown layer `dens`\nhint: did you mean `dense`?"),
        (
            _range(2, 24, 29),
            1,
            "kdsl",
            "unknown activation `relux` for `dense`\nhint: did you mean `relu`?",
        ),
        (_range(3, 0, 4), 1, "kdsl", "unknown optimizer `adma`\nhint: did you mean `adam`?"),
    ]


def test_syntax_errors_and_warnings_are_published(client: Client) -> None:
    published = client.open("dense 5 in 4 -> -> dense 3; adam; mse")
    [diagnostic] = published["diagnostics"]
    assert diagnostic["range"] == _range(0, 16, 18)
    assert diagnostic["message"].startswith("unexpected `->`: expected a layer after `->`")

    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [{"text": "dense 3 in 4 -> flatten; adam; mse"}],
        },
    )
    published = client.diagnostics()
    assert published["version"] == 2
    [warning] = published["diagnostics"]
    assert warning["severity"] == 2
    assert warning["range"] == _range(0, 16, 23)
    assert warning["message"] == (
        "`flatten` on an already flat input (None, 3) does nothing\nhint: remove it"
    )


def test_ranges_count_utf16_units(client: Client) -> None:
    # 😀 is one code point (one column for kdsl) but two UTF-16 units for the editor.
    published = client.open('input 4 name="😀" -> dens 3; adam; mse')
    ranges = [d["range"] for d in published["diagnostics"]]
    assert ranges == [_range(0, 13, 17), _range(0, 21, 25)]


def test_fixing_the_program_clears_its_diagnostics_and_closing_forgets_them(
    client: Client,
) -> None:
    assert client.open("dense 3 in 4 -> dens 3; adam; mse")["diagnostics"]
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [
                {"range": _range(0, 16, 20), "text": "dense"}  # an incremental edit
            ],
        },
    )
    assert client.diagnostics() == {"uri": URI, "version": 2, "diagnostics": []}
    client.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    assert client.diagnostics()["diagnostics"] == []


def test_hover_shows_a_layers_output_shape_and_parameters(client: Client) -> None:
    assert client.open(GOOD)["diagnostics"] == []
    hover = client.hover(3, 8)  # on `dense 3 softmax`
    assert hover["range"] == _range(3, 5, 20)
    assert hover["contents"]["kind"] == "markdown"
    assert hover["contents"]["value"] == (
        "**dense_1**: `keras.layers.Dense`\n\n"
        "Positional arguments: units, activation\n\n"
        "Output shape: `(None, 3)`\n\n"
        "Parameters: 18"
    )
    batchnorm = client.hover(2, 6)["contents"]["value"]
    assert batchnorm.startswith(
        "**batch_normalization**: `keras.layers.BatchNormalization` "
        "(`batchnorm` is short for `batchnormalization`)"
    )
    assert "Output shape: `(None, 5)`" in batchnorm
    assert "Parameters: 20 (10 trainable, 10 non-trainable)" in batchnorm
    assert "Output shape: `(None, 4)`" in client.hover(0, 2)["contents"]["value"]
    assert client.hover(4, 1)["contents"]["value"] == (
        "**`keras.optimizers.Adam`**\n\nPositional arguments: learning_rate"
    )
    assert client.hover(1, 0) is None  # blank space before `->`


def test_hover_still_names_the_keras_class_in_a_broken_program(client: Client) -> None:
    client.open("dense 5 in 4 -> conv2d 8 3 -> dense 2; adam; mse")
    first = client.hover(0, 1)["contents"]["value"]
    assert "Output shape: `(None, 5)`" in first and "Parameters: 25" in first
    after = client.hover(0, 20)["contents"]["value"]
    assert after.startswith("**conv2d**: `keras.layers.Conv2D`")
    assert "Output shape: `?`" in after and "Unknown from the first shape error on" in after

    client.open("dense 5 in 4 -> dens 3; adam; mse", uri="file:///tmp/other.k")
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 3},
            "contentChanges": [{"text": "dense 5 in 4 -> dens 3; adam; mse"}],
        },
    )
    client.diagnostics()
    assert client.hover(0, 2)["contents"]["value"] == (
        "**`keras.layers.Dense`**\n\nPositional arguments: units, activation\n\n"
        "*Shapes show once the program has no errors.*"
    )


def test_completion_offers_layer_kinds_after_an_arrow(client: Client) -> None:
    client.open("dense 5 in 4")
    first = client.complete("")
    assert {"input", "dense", "conv2d", "maxpool2d"} <= set(first)
    after_arrow = client.complete("dense 5 in 4 -> ")
    assert {"dense", "lstm", "batchnorm", "gap2d"} <= set(after_arrow)
    assert "input" not in after_arrow
    assert "adam" not in after_arrow


def test_completion_offers_keywords_and_activations_of_the_layer(client: Client) -> None:
    client.open("dense 5 in 4")
    items = client.complete("dense 5 in 4 -> dense 3 ")
    assert {"activation=", "use_bias=", "kernel_initializer=", "relu", "softmax"} <= set(items)
    assert "units=" not in items  # given by position
    assert "input_shape=" not in items  # kdsl's `in SHAPE` replaces it
    assert "relu" not in client.complete("input 4 -> dense 3 tanh ")
    assert set(client.complete("input 4 -> dense 3 activation=")) >= {"relu", "gelu", "softmax"}
    assert client.complete("input 4 -> dense 3 use_bias=") == ["true", "false"]
    assert {"he_normal", "glorot_uniform"} <= set(
        client.complete("input 4 -> dense 3 kernel_initializer=")
    )
    assert "max_norm" in client.complete("input 4 -> embedding 9 2 embeddings_constraint=")
    assert "l2" in client.complete("input 4 -> dense 3 activity_regularizer=")
    assert "int32" in client.complete("input 10 dtype=")
    assert "return_sequences=" in client.complete("input 5x2 -> bidirectional lstm 8 ")
    assert client.complete("input 4 # a comment ") == []
    assert client.complete("dense 3 in (None, ") == []


def test_completion_in_sections(client: Client) -> None:
    client.open("dense 5 in 4")
    optimizers = client.complete("dense 3 in 4; ")
    assert {"adam", "sgd", "rmsprop", "loss", "metrics", "fit"} <= set(optimizers)
    assert "categorical_crossentropy" not in optimizers
    assert "learning_rate=" not in client.complete("dense 3 in 4; adam 0.01 ")
    assert "beta_1=" in client.complete("dense 3 in 4; adam 0.01 ")
    losses = client.complete("dense 3 in 4; adam; ")
    assert {"categorical_crossentropy", "mse", "metrics", "fit"} <= set(losses)
    assert "optimizer" not in losses
    metrics = client.complete("dense 3 in 4; adam; mse; metrics accuracy, ")
    assert {"auc", "precision", "mae"} <= set(metrics)
    fit = client.complete("dense 3 in 4;\nadam; mse;\nfit epochs=5 ")
    assert {"batch_size=", "validation_split=", "early_stopping="} <= set(fit)
    assert "epochs=" not in fit
    assert "adam" in client.complete("dense 3 in 4; loss mse; ")  # the optimizer's turn


def _lsp_process() -> tuple[subprocess.Popen, Client]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kdsl", "lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdin and process.stdout
    return process, Client(process.stdin, process.stdout)


def test_kdsl_lsp_serves_over_stdio_and_exits_cleanly() -> None:
    process, editor = _lsp_process()
    try:
        editor.initialize()
        published = editor.open("dense 3 in 4 -> dens 3; adam; mse")
        assert published["diagnostics"][0]["message"].startswith("unknown layer `dens`")
        editor.close()
        assert process.wait(TIMEOUT) == 0
    finally:
        process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
        assert process.stdout is not None
        process.stdout.close()


def test_the_server_never_imports_tensorflow() -> None:
    code = (
        "from kdsl.tools.lsp import analyze_text, complete, hover_text\n"
        "text = 'input 4 -> dense 3 softmax; adam; categorical_crossentropy'\n"
        "analyze_text(text); hover_text(text, 1, 12); complete('input 4 -> ')"
    )
    assert heavy_imports(code) == []


def test_without_pygls_kdsl_lsp_says_what_to_install() -> None:
    code = (
        "import sys\nsys.modules['pygls'] = None\n"
        "from kdsl.tools.cli import main\nsys.exit(main(['lsp']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: `kdsl lsp` needs pygls, which is not installed: pip install 'kdsl[lsp]'"
    )
    assert "Traceback" not in result.stderr


def test_every_position_of_every_sample_program_answers() -> None:
    """Hover and completion never fail, wherever the cursor is and however broken the
    text before it (every prefix of the examples, golden programs and error cases)."""
    paths = [
        *sorted((ROOT / "examples").glob("*.k")),
        *sorted((ROOT / "tests" / "golden").glob("*.k")),
        *sorted((ROOT / "tests" / "errors").glob("*.k")),
        *sorted((ROOT / "examples" / "graphs").glob("*.k")),  # v2
    ]
    assert len(paths) > 50
    texts = [path.read_bytes().decode("utf-8", errors="replace") for path in paths]
    texts += [text for _, text in design_programs()]
    hovers = completions = 0
    for text in texts:
        for end in range(len(text) + 1):
            completions += bool(complete(text[:end]))
        for number, line in enumerate(text.split("\n"), 1):
            for column in range(1, len(line) + 2):
                hovers += hover_text(text, number, column) is not None
    assert hovers > 1000 and completions > 1000


def test_formatting_replaces_the_document_with_kdsl_fmts_layout(client: Client) -> None:
    messy = "# iris 🌸\ndense 5 in 4->dense 3 relu  ->dense 3 softmax;adam;categorical_crossentropy"
    client.open(messy)
    request = {"textDocument": {"uri": URI}, "options": {"tabSize": 4, "insertSpaces": True}}
    edits = client.request("textDocument/formatting", request)
    assert edits == [
        {
            "range": _range(0, 0, 75, end_line=1),
            "newText": "# iris 🌸\n"
            "dense 5 in 4 -> dense 3 relu -> dense 3 softmax; adam; categorical_crossentropy\n",
        }
    ]
    client.open(edits[0]["newText"])
    assert client.request("textDocument/formatting", request) == []
    client.open("dense 3 ->")
    assert client.request("textDocument/formatting", request) is None


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_positions_are_what_the_codec_gives(encoding: str) -> None:
    """Positions are measured once per line (linear in diagnostics), the codec's way."""
    from lsprotocol.types import PositionEncodingKind
    from pygls.workspace.position_codec import PositionCodec

    from kdsl.tools.lsp import _ClientLines, _to_lsp

    codec = PositionCodec(PositionEncodingKind(encoding))
    text = 'dense 1 in 4 name="é𝕖x" -> dense 2\n\n  -> dense 3 # 𝕖𝕧 é\r\n; adam; mse'
    lines = text.split("\n")
    client = _ClientLines(codec, text)
    for line in range(0, len(lines) + 2):
        for column in range(0, 40):
            assert client.position(line, column) == _to_lsp(codec, lines, line, column)


def _labels(items) -> list[str]:
    return [item.label for item in items]


def _contexts() -> list[tuple[str, Callable[[], list[str]]]]:
    """(text before the cursor, the items expected there): where completion decides what
    is being written, in each kind of place, pinned before it was rewritten on the
    grammar's tokens."""
    from kdsl.semantics.catalog import DTYPES, load
    from kdsl.tools import lsp

    catalog = load()
    dense, lstm = catalog.layer("dense"), catalog.layer("lstm")
    bidirectional = catalog.layer("bidirectional")
    forbidden = frozenset(lsp.FORBIDDEN_LAYER_KWARGS)
    table = catalog.compile_table
    adam = table("optimizer")[1]["adam"]
    auc = table("metrics")[1]["auc"]

    def layers(first: bool = False, wrappers: bool = True) -> Callable[[], list[str]]:
        return lambda: _labels(lsp._layer_kinds(catalog, first, wrappers))

    def dense_keywords(given: set[str], activations: bool = True) -> Callable[[], list[str]]:
        items = lsp._keywords(dense, given, forbidden)
        return lambda: _labels(items + (lsp._activations(catalog) if activations else []))

    def names(kind: str | None, heads: tuple[str, ...] = ()) -> Callable[[], list[str]]:
        return lambda: _labels(lsp._names(kind, catalog)) + list(heads)

    def fit(given: set[str]) -> Callable[[], list[str]]:
        keywords = _labels(lsp._keywords(catalog.fit, given))
        return lambda: keywords + [n for n in lsp.FIT_CALLBACKS if n not in given]

    nothing: Callable[[], list[str]] = list
    every_head = ("optimizer", "loss", "metrics", "fit", "callbacks")
    return [
        # the layer chain
        ("", layers(first=True)),
        ("den", layers(first=True)),
        ("  # a comment\n", layers(first=True)),
        ("3 ", layers(first=True)),
        ("dense 3 -> ", layers()),
        ("dense 3\n  -> conv", layers()),
        ("dense 3 'a->b' -> ", layers()),
        ("dense 3 ", dense_keywords({"units"})),
        ("dense 3 rel", dense_keywords({"units"})),
        ("dense 3 in 4 ", dense_keywords({"units"})),
        ("dense 3 in (None, 4) ", dense_keywords({"units"})),
        ("dense 3 relu ", dense_keywords({"units", "activation"}, activations=False)),
        ("dense units=3 ", dense_keywords({"units"})),
        # a string is not seen: the cursor counts as just after `name=`
        ("dense 3 name='a;b' ", nothing),
        ("dense 3 -", dense_keywords({"units"})),
        ("dense 3 1e-", dense_keywords({"units"})),
        ("dense ", dense_keywords(set())),
        # text the grammar refuses: a run of stray characters is one word, odd space parts
        ("dense 3- ", dense_keywords({"units"})),
        ("dense 3 -relu, ", dense_keywords({"units", "activation"}, activations=False)),
        ("dense\v3\xa0", dense_keywords({"units"})),
        ("dense 3 use_bias=", lambda: ["true", "false"]),
        ("dense 3 use_bias=tr", lambda: ["true", "false"]),
        ("dense 3 activation = ", lambda: _labels(lsp._activations(catalog))),
        ("dense 3 units=", nothing),
        ("dense 3 in ", nothing),
        ("dense 3 in (", nothing),
        ("dense 3 kernel_size=(3, ", nothing),
        ("dense 3 # relu ", nothing),
        ("dense 3 'rel", nothing),
        ('dense 3 name="a\\"', nothing),
        ("dens 3 ", nothing),
        ("input 4 ", lambda: ["dtype", "name"]),
        ("input 4 dtype=", lambda: list(DTYPES)),
        ("input 4 name=", nothing),
        ("input 4 -> ", layers()),
        ("bidirectional ", layers(wrappers=False)),
        (
            "bidirectional lstm 8 ",
            lambda: _labels(
                lsp._keywords(lstm, {"units"}, forbidden)
                + lsp._keywords(bidirectional, set(), frozenset({"layer", "backward_layer"}))
            ),
        ),
        ("bidirectional lstm 8 return_sequences=", lambda: ["true", "false"]),
        # the sections
        ("dense 3;", names("optimizer", every_head)),
        ("dense 3; ", names("optimizer", every_head)),
        ("dense 3 (1; ", names("optimizer", every_head)),
        ("dense 3; ad", names("optimizer", every_head)),
        ("dense 3; adam; ", names("loss", ("loss", "metrics", "fit", "callbacks"))),
        ("dense 3;\nadam;\n# the loss\n", names("loss", ("loss", "metrics", "fit", "callbacks"))),
        ("dense 3; adam; mse; ", names(None, ("metrics", "fit", "callbacks"))),
        ("dense 3; adam; mse; metrics; ", names(None, ("fit", "callbacks"))),
        ("dense 3; loss mse; ", names("optimizer", ("optimizer", "metrics", "fit", "callbacks"))),
        ("dense 3; optimizer ", names("optimizer")),
        ("dense 3; optimizer ad", names("optimizer")),
        ("dense 3; adam; mse; metrics ", names("metrics")),
        ("dense 3; adam; mse; metrics accuracy, ", names("metrics")),
        ("dense 3; adam; mse; metrics accuracy,", names("metrics")),
        ("dense 3; adam; mse; metrics accuracy, a", names("metrics")),
        ("dense 3; adam; mse; metrics auc ", lambda: _labels(lsp._keywords(auc, set()))),
        ("dense 3; adam; mse; metrics accuracy, auc ", lambda: _labels(lsp._keywords(auc, set()))),
        ("dense 3; adam ", lambda: _labels(lsp._keywords(adam, set()))),
        ("dense 3; adam 0.01 ", lambda: _labels(lsp._keywords(adam, {"learning_rate"}))),
        ("dense 3; optimizer adam ", lambda: _labels(lsp._keywords(adam, set()))),
        ("dense 3; adam amsgrad=", lambda: ["true", "false"]),
        ("dense 3; adam (1, 2) ", lambda: _labels(lsp._keywords(adam, {"learning_rate"}))),
        ("dense 3; adam name='x, y' ", nothing),
        ("dense 3; adam name='x' amsgrad=", lambda: ["true", "false"]),
        ("dense 3; fit ", fit(set())),
        ("dense 3; fit epochs=5 ", fit({"epochs"})),
        ("dense 3; fit verbose=", lambda: ["auto", "0", "1", "2"]),
        ("dense 3; fit shuffle=", lambda: ["true", "false"]),
        ("dense 3; fit epochs=", nothing),
        ("dense 3; fit epochs=(", nothing),
        ("dense 3; adam; mse; metrics; fit; ", lambda: ["callbacks"]),
        ("dense 3; adam; mse; metrics; fit; callbacks; ", nothing),
        ("dense 3; adam; mse; callbacks ", names("callbacks")),
        ("dense 3; adam; mse; callbacks csv_logger, ", names("callbacks")),
        (
            "dense 3; adam; mse; callbacks early_stopping ",
            lambda: _labels(lsp._keywords(catalog.callbacks["early_stopping"], set())),
        ),
        ("dense 3; nadamx ", nothing),
        ("dense 3; adam; mse # the loss", nothing),
    ]


@pytest.mark.parametrize("index", range(len(_contexts())))
def test_completion_reads_what_is_being_written(index: int) -> None:
    text, expected = _contexts()[index]
    assert _labels(complete(text)) == expected(), text


def test_scan_reads_unfinished_text_with_the_grammars_tokens() -> None:
    """Completion's tokens: the grammar's, plus a string the line leaves open and a
    character no terminal matches, so that every character is accounted for."""
    from kdsl.language import syntax

    text = "dense 3 in 4x4 -> x @ 'a;b # not a comment\n; adam 1e-3 # note\n  name='"
    tokens = list(syntax.scan(text))
    assert [(t.type, t.text) for t in tokens] == [
        ("NAME", "dense"),
        ("INT", "3"),
        ("IN", "in"),
        ("DIMS", "4x4"),
        (syntax.terminal_named("->"), "->"),
        ("NAME", "x"),
        ("UNKNOWN", "@"),
        ("UNCLOSED_STRING", "'a;b # not a comment"),
        ("SEMICOLON", ";"),
        ("NAME", "adam"),
        ("FLOAT", "1e-3"),
        ("COMMENT", "# note"),
        ("NAME", "name"),
        ("EQUAL", "="),
        ("UNCLOSED_STRING", "'"),
    ]
    assert all(text[t.start : t.end] == t.text for t in tokens)


# -- every request answered, and none held up (issue 19) ------------------------------

# Positions an editor (or a fuzzer) may send: LSP's positions are 0 to 2**31 - 1.
OUT_OF_RANGE = [(-1, 0), (0, -5), (-(2**63), 2**64), (2**31, 0), (0, 2**31), (2**40, 3)]


def _nearest(text: str, line: int, character: int) -> tuple[int, int]:
    """The place in `text` nearest a position: the end of the document past its last line,
    a line's end past the line's."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(lines) - 1, len(lines[-1])
    line = max(line, 0)
    return line, min(max(character, 0), len(lines[line]))


@pytest.mark.parametrize(("line", "character"), OUT_OF_RANGE)
def test_a_position_out_of_range_is_answered_at_the_nearest_place(
    client: Client, line: int, character: int
) -> None:
    client.open(GOOD)
    nearest = _nearest(GOOD, line, character)
    assert client.hover(line, character) == client.hover(*nearest)
    assert client.complete_at(line, character) == client.complete_at(*nearest)


def test_an_edit_out_of_range_is_applied_at_the_nearest_place(client: Client) -> None:
    """An incremental edit's range is a pair of positions: clamped too, not dropped (which
    would leave the server with another text than the editor's)."""
    assert client.open("dense 2; adam; mse")["diagnostics"]  # no input shape
    for version, (line, character), text in [
        (2, (-1, -(2**40)), "input 4 -> "),
        (3, (2**40, 2**40), "\n# the end"),
    ]:
        position = {"line": line, "character": character}
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": URI, "version": version},
                "contentChanges": [{"range": {"start": position, "end": position}, "text": text}],
            },
        )
        assert client.diagnostics()["version"] == version
    request = {"textDocument": {"uri": URI}, "options": {"tabSize": 4, "insertSpaces": True}}
    [edit] = client.request("textDocument/formatting", request)
    assert edit["newText"] == "input 4 -> dense 2; adam; mse\n# the end\n"


def test_a_document_not_opened_gets_an_empty_answer(client: Client, tmp_path) -> None:
    """Never an error with a traceback, and the file is not read from disk: a FIFO there
    would block the server for good."""
    fifo = tmp_path / "pipe.k"
    os.mkfifo(fifo)
    (tmp_path / "model.k").write_text(GOOD)
    for path in (tmp_path / "missing.k", fifo, tmp_path / "model.k"):
        uri = path.as_uri()
        assert client.hover(0, 2, uri=uri) is None
        assert client.complete_at(0, 0, uri=uri) == []
        options = {"tabSize": 4, "insertSpaces": True}
        formatting = {"textDocument": {"uri": uri}, "options": options}
        assert client.request("textDocument/formatting", formatting) is None


@pytest.mark.parametrize(
    "params",
    [
        {"textDocument": {"uri": URI}, "position": {"line": "two", "character": 0}},
        {"textDocument": {"uri": URI}, "position": {"line": 1e300, "character": 0}},
        {"textDocument": {"uri": URI}},
        {"position": {"line": 0, "character": 0}},
        None,
    ],
)
def test_a_request_it_cannot_read_gets_an_error_without_a_traceback(
    client: Client, params: dict | None
) -> None:
    client.open(GOOD)
    for method in ("textDocument/hover", "textDocument/completion"):
        answer = client.answer(method, params)
        assert answer["error"]["code"] == -32602  # invalid params
        assert answer["error"]["message"] == f"invalid parameters for '{method}'"
        assert "data" not in answer["error"]
    assert client.hover(0, 2) is not None  # and it goes on serving


def _changes(versions: list[tuple[int, str]]) -> bytes:
    """`didChange` notifications as one write: they reach the server together, as fast
    typing does."""
    frames = []
    for version, text in versions:
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": URI, "version": version},
                    "contentChanges": [{"text": text}],
                },
            }
        ).encode()
        frames.append(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return b"".join(frames)


def test_while_the_user_types_only_the_text_they_stop_at_is_analyzed(monkeypatch) -> None:
    analyzed: list[str] = []
    real = lsp.lsp_diagnostics

    def counting(codec, text: str) -> list:
        analyzed.append(text)
        return real(codec, text)

    monkeypatch.setattr(lsp, "lsp_diagnostics", counting)
    typed = "dense 3 in 4 -> dense 2 softmax; adam; mse"
    with serving(debounce=1.0) as client:
        assert client.open("")["version"] == 1
        versions = [(2 + n, typed[:n]) for n in range(1, len(typed) + 1)]
        client.to_server.write(_changes(versions))
        client.to_server.flush()
        published = client.diagnostics()
        assert published == {"uri": URI, "version": versions[-1][0], "diagnostics": []}
        assert client.hover(0, 2) is not None  # a round trip: nothing else was published
        assert not [m for m in client.held if m.get("method") == "textDocument/publishDiagnostics"]
    assert analyzed == ["", typed]


def test_a_long_analysis_holds_up_no_other_request(client: Client) -> None:
    """A document with thousands of errors takes seconds to check: meanwhile the server
    reads and answers, and another document's diagnostics and hover come first."""
    lsp.analyze_text.cache_clear()
    long_uri = "file:///tmp/long.k"
    long_text = "input 4\n" + "  -> dense 3 relux\n" * 3000 + "; adam; mse\n"
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": long_uri, "languageId": "kdsl", "version": 1, "text": long_text}},
    )
    assert client.open(GOOD)["diagnostics"] == []
    assert "Output shape" in client.hover(3, 8)["contents"]["value"]
    assert client.complete_at(1, 5) != []
    published = [m["params"]["uri"] for m in client.held if "params" in m and "uri" in m["params"]]
    assert long_uri not in published  # still being checked
    assert client.hover(1, 6, uri=long_uri) is not None  # waits for the long one's analysis
    assert len(client.diagnostics(long_uri)["diagnostics"]) == 3000


# Pieces of text where a scan restarted after white space could go wrong: line ends
# (`\r\n` too), strings and comments that hold spaces and stop at a line end, escapes,
# numbers whose kind a later character decides (`1e5`), operators read by the characters
# around them, a character the grammar does not skip (`\v`).
_PIECES = [
    "\n", "\r\n", " ", "\t", "dense", "3", "1e", "5", ".", "x", "4", "*", "**", "-", "+",
    "/", "(", ")", "@", "'", '"', "\\", "#", ";", "=", "{", "}", "def", "shared", "->",
    "in", "é", "\x0b",
]  # fmt: skip
_TEXTS = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(before=_TEXTS, at=st.integers(0, 200), cut=st.integers(0, 8), typed=_TEXTS)
def test_a_scan_after_an_edit_reads_what_a_fresh_scan_reads(
    before: str, at: int, cut: int, typed: str
) -> None:
    """Completion scans again only from the last token before the change that white
    space follows: whatever the edit, the tokens are those of a scan from the start."""
    from kdsl.language import syntax

    at = min(at, len(before))
    after = before[:at] + typed + before[at + cut :]
    syntax._scan_reusing(before)
    assert syntax._scan_reusing(after) == tuple(syntax._scan(after)), (before, after)


def test_typing_a_program_scans_as_reading_it_whole() -> None:
    """Each prefix of a program, typed one character after another, then deleted seven
    characters at a time from its end: the tokens of a scan from the start every time."""
    from kdsl.language import syntax

    for path in sorted((ROOT / "examples" / "graphs").glob("*.k"))[:3]:
        text = path.read_text()
        prefixes = [text[:end] for end in range(len(text) + 1)]
        for prefix in (*prefixes, *reversed(prefixes[::7])):
            assert syntax._scan_reusing(prefix) == tuple(syntax._scan(prefix)), prefix


def test_scan_reads_v2s_tokens() -> None:
    from kdsl.language import syntax

    text = "def b n @m { [x | @m] * n }\nshared e { y }\na: input 4 -> b 2 @a; @a -> e"
    scanned = [(t.type, t.text) for t in syntax.scan(text)]
    assert scanned[:12] == [
        (syntax.DEF, "def"),
        (syntax.NAME, "b"),
        (syntax.NAME, "n"),
        (syntax.REF, "@m"),
        (syntax.LBRACE, "{"),
        (syntax.LSQB, "["),
        (syntax.NAME, "x"),
        (syntax.VBAR, "|"),
        (syntax.REF, "@m"),
        (syntax.RSQB, "]"),
        (syntax.STAR, "*"),
        (syntax.NAME, "n"),
    ]
    assert scanned[13:15] == [(syntax.SHARED, "shared"), (syntax.NAME, "e")]
    assert (syntax.NAME, "a") in scanned and (syntax.COLON, ":") in scanned


# -- v2's names (issue 13) -------------------------------------------------------------

GRAPH = (
    "def res f @skip { conv2d f 1 -> add @skip -> relu }\n"
    "a: input 8x8x4 -> s: conv2d 4 1 -> res 4 @s * 2 -> [gap2d | globalmaxpool2d]\n"
    "  -> concatenate;\n"
    "adam; mse\n"
)


def _at(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """The 0-based (line, character) of a needle's first character."""
    lines = text.split("\n")
    found = [
        (n, m)
        for n, line in enumerate(lines)
        for m in range(len(line))
        if line.startswith(needle, m)
    ]
    return found[occurrence]


def test_go_to_the_definition_of_a_block_a_label_and_a_parameter(client: Client) -> None:
    assert client.open(GRAPH)["diagnostics"] == []
    assert client.capabilities["definitionProvider"]

    def definition(needle: str, occurrence: int = 0) -> dict | None:
        line, character = _at(GRAPH, needle, occurrence)
        position = {"line": line, "character": character + 1}
        request = {"textDocument": {"uri": URI}, "position": position}
        return client.request("textDocument/definition", request)

    def where(needle: str, occurrence: int = 0) -> dict:
        line, character = _at(GRAPH, needle, occurrence)
        return {"uri": URI, "range": _range(line, character, character + len(needle))}

    assert definition("res 4") == where("res")  # a block call: its def
    assert definition("@s ") == {"uri": URI, "range": _range(1, 18, 19)}  # the label `s`
    assert definition("@skip ->") == where("@skip")  # a tensor parameter
    assert definition("f 1") == {"uri": URI, "range": _range(0, 8, 9)}  # a value parameter
    assert definition("conv2d 4") is None and definition("adam") is None


def test_hover_on_a_reference_shows_the_tensors_shape(client: Client) -> None:
    client.open(GRAPH)
    line, character = _at(GRAPH, "@s ")
    hover = client.hover(line, character + 1)
    assert hover["contents"]["value"] == (
        "**@s**: the output of `conv2d`\n\nOutput shape: `(None, 8, 8, 4)`"
    )
    assert hover["range"] == _range(line, character, character + 2)
    line, character = _at(GRAPH, "res 4")
    assert client.hover(line, character)["contents"]["value"] == (
        "**`def res f @skip`**: a block, called like a layer"
    )


def test_completion_in_graphs() -> None:
    labels = lambda text: _labels(complete(text))  # noqa: E731
    program = "def up f { conv2dtranspose f 2 } a: input 4 -> b: dense 3 -> "
    assert {"up", "dense", "conv2d"} <= set(labels(program))  # blocks are called like layers
    assert "up" in labels(program + "[dense 2 | ") and "up" in labels(program + "b2: ")
    assert labels(program + "add @") == ["a", "b"]  # the labels written before
    assert labels(program + "add @b") == ["a", "b"]
    assert labels("def r @m { dense 3 -> x: relu -> add @") == ["x", "m", "in"]
    assert "up" not in labels("def up f { dense 3 -> ")  # no recursion
    assert labels(program + "up ") == []  # a block's parameters: nothing to offer
    # a later chain is a chain, and the sections after it count as before
    assert "input" in labels("input 4 -> dense 3; t: ")
    assert "beta_1" in labels("input 4 -> x: dense 3; @x -> dense 1; adam ")
    assert "categorical_crossentropy" in labels("input 4 -> x: dense 3; @x -> dense 1; adam; ")


def test_a_checker_crash_is_one_diagnostic_not_silence(monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(lsp, "analyze", crash)
    lsp.analyze_text.cache_clear()
    try:
        [diagnostic] = lsp.analyze_text("input 4 -> dense 3 -> relu; adam; mse").diagnostics
    finally:
        lsp.analyze_text.cache_clear()
    assert diagnostic.message == "internal error (IndexError): a bug in kdsl"
    assert "please report it" in (diagnostic.hint or "")


def test_a_reference_reads_the_label_of_its_own_scope() -> None:
    """`@a` in a body is the body's `a:`; `@a` in the program is the program's."""
    text = (
        "def r { a: dense 5 -> dense 5 -> add @a }\na: input 4 -> r -> dense 4 -> add @a; adam; mse"
    )
    in_body, _ = hover_text(text, 1, text.index("@a") + 2)
    assert in_body.startswith("**@a**: the output of `dense") and "(None, 5)" in in_body
    in_program, _ = hover_text(text, 2, text.split("\n")[1].index("@a") + 2)
    assert in_program == "**@a**: `keras.Input`\n\nOutput shape: `(None, 4)`"
