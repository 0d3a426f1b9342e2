"""The warm path: ``search`` and ``ask`` answered by a running ``llmforge serve``, and the
``llmforge`` command's entry point, which takes that path before anything else is imported.

A command started from the shell pays for importing the index and loading the model before its
first result; a server has paid for both already. So when the project's server listens on its
local socket (:mod:`llmforge.serve.local`: the owner's processes only, no credential needed),
the command sends its query there; with ``--server URL`` (or ``$LLMFORGE_SERVER``) it asks that
server instead, with the API key in ``$LLMFORGE_API_KEY`` (never an option: a command line is
visible to every user of the machine) and, for HTTPS with a private CA, ``$LLMFORGE_CA_FILE``.
Without a server (none started, a stale socket a stopped one left, or ``--server off``) the
command answers in its own process. The output is the same either way: the server returns what
the library call returns (through the local socket with the server's paths too, as the shell sees
them), printed by the same :func:`render_search` and :func:`render_answer`; its errors come back
as the same error class with the same message, so the exit code is the same too.

Even the command-line framework costs more start-up time (Typer, every command's module, DuckDB:
~0.2 s on an idle machine) than a warm search takes, so :func:`main` first tries the plain forms
of ``search QUERY`` and ``ask QUESTION`` (with ``-p``, ``-q``, ``--json``, ``-k``, ``--mode``,
``--lang``, ``--agent``, ``--sources``, ``--server``) against a server, importing only this
module, the socket's and, to print text, Rich's console. Anything else (another command, any
other option, ``--stdin``, no server, an error the server answered) runs the full command, which
prints the same results, or the error, exactly as it always does. HTTP/1.0 is spoken by hand for
the same reason: ``http.client`` alone imports the e-mail parser.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from llmforge import errors
from llmforge.errors import LlmforgeError, UsageError
from llmforge.serve import local

SERVER_ENV = "LLMFORGE_SERVER"
KEY_ENV = "LLMFORGE_API_KEY"
CA_ENV = "LLMFORGE_CA_FILE"
OFF = "off"
TIMEOUT = 600.0   # seconds without a byte from the server before the command gives up on it


class Server:
    """A running server, as the CLI calls it: ``connect`` opens a fresh connection per request."""

    def __init__(self, connect: Callable[[], socket.socket], host: str, headers: dict[str, str] | None = None,
                 prefix: str = "") -> None:
        self._connect = connect
        self._host = host
        self._headers = headers or {}
        self._prefix = prefix

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer of ``POST path``.

        Raises:
            LlmforgeError: the server's error, as the same class with the same message.
        """
        with self._exchange(path, body) as reply:
            return json.loads(reply.read())

    def events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The server-sent events of ``POST path``, each as its JSON object; an ``error`` event is
        raised as the error it names."""
        with self._exchange(path, body) as reply:
            for line in reply:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event.get("type") == "error":
                        raise _error(event["error"], 500)
                    yield event

    def _exchange(self, path: str, body: dict[str, Any]) -> BinaryIO:
        """The reply's body after its status line and headers (the server closes it at its end:
        an HTTP/1.0 request is answered without chunks)."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = "".join(f"{name}: {value}\r\n" for name, value in {
            "Host": self._host, "Content-Type": "application/json", "Content-Length": str(len(payload)),
            **self._headers}.items())
        try:
            sock = self._connect()
            with sock:
                sock.sendall(f"POST {self._prefix}{path} HTTP/1.0\r\n{head}\r\n".encode("latin-1") + payload)
                reply = sock.makefile("rb")
            status = int(reply.readline().split()[1])
            while reply.readline().strip():
                pass
        except (OSError, ValueError, IndexError) as exc:
            raise LlmforgeError(f"the server did not answer ({exc}); run the command again, with "
                                f"--server {OFF} to answer without it") from None
        if status >= 400:
            with reply:
                try:
                    detail = json.loads(reply.read()).get("error", {})
                except (ValueError, AttributeError, OSError):
                    detail = {"message": f"the server answered HTTP {status}"}
            raise _error(detail, status)
        return reply


def _error(detail: dict[str, Any], status: int) -> LlmforgeError:
    """The library error a server's error body stands for: the class it names (any other name,
    e.g. a body the server could not parse, is a usage error for a 4xx status)."""
    kind = getattr(errors, str(detail.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, LlmforgeError)):
        kind = UsageError if 400 <= status < 500 else LlmforgeError
    return kind(str(detail.get("message", "the server failed")))


def remote(url: str) -> Server:
    """The server at ``url`` (http or https), with the API key of ``$LLMFORGE_API_KEY``.

    Raises:
        UsageError: not an http(s) URL, or a key that is not one word.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--server {url!r} is not an http:// or https:// URL (or '{OFF}')")
    key = os.environ.get(KEY_ENV, "")
    if key and (not key.isprintable() or " " in key):
        raise UsageError(f"${KEY_ENV} is not an API key (one word, printable)")
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))

    def connect() -> socket.socket:
        sock = socket.create_connection(address, timeout=TIMEOUT)
        if parts.scheme == "http":
            return sock
        import ssl

        return ssl.create_default_context(cafile=os.environ.get(CA_ENV) or None).wrap_socket(
            sock, server_hostname=parts.hostname)

    return Server(connect, parts.netloc, {"Authorization": f"Bearer {key}"} if key else {}, parts.path.rstrip("/"))


def project_server(root: Path) -> Server | None:
    """The server of the project at ``root`` when one listens on its local socket, else None."""
    path = local.socket_path(root)
    try:
        local.connect(path, timeout=1.0).close()
    except OSError:   # none, or the stale socket of a stopped one (refused): answer here
        return None
    return Server(lambda: local.connect(path, timeout=TIMEOUT), "localhost")


def chosen(server: str | None, root: Path | None) -> Server | None:
    """The server a command goes through: ``--server`` (a URL, or ``off`` for none), else the
    project's own when it runs (``root``: the project, None when none was found)."""
    if server and server != OFF:
        return remote(server)
    if server == OFF or root is None:
        return None
    return project_server(root)


def without_nones(body: dict[str, Any]) -> dict[str, Any]:
    """A request body without the options left to the server's defaults."""
    return {key: value for key, value in body.items() if value is not None}


def render_search(console: Any, result: dict[str, Any]) -> None:
    """``search``'s text: each hit's rank, citation, score and chunk, and its snippet."""
    from rich.markup import escape

    if not result["hits"]:
        console.print("no results")
    for hit in result["hits"]:
        console.print(f"[bold]{hit['rank']}.[/] {escape(hit['citation'])}  [dim]{hit['score']:.3f} · {hit['chunk_id']}[/]")
        console.print("   " + _marked(hit["snippet"]), highlight=False)
    console.print(f"[dim]{result['mode']} search, {result['language']}, {result['took_ms']:.0f} ms[/]")


def _marked(snippet: str) -> str:
    """The snippet for the terminal: ``**word**`` marks become bold."""
    from rich.markup import escape

    parts = snippet.split("**")
    return "".join(f"[bold yellow]{escape(part)}[/]" if i % 2 else escape(part) for i, part in enumerate(parts))


def render_answer(console: Any, answer: dict[str, Any], agent_id: str, show_sources: bool) -> None:
    """``ask``'s text: the answer, why it is a refusal, its citations (and every source with
    ``show_sources``), then agent, model and times."""
    from rich.markup import escape

    console.print(escape(answer["answer"]), highlight=False)
    if answer["refused"]:
        console.print(f"  [dim]({escape(answer['reason'])})[/]")
    for citation in answer["citations"]:
        console.print(f"  [dim][{citation['number']}][/] {escape(citation['citation'])}  [dim]{citation['chunk_id']}[/]")
    if show_sources:
        for source in answer["sources"]:
            console.print(f"  [dim]source [{source['number']}] {escape(source['citation'])}[/]")
    first = answer.get("first_token_ms")
    after = f", first words after {first / 1000:.1f} s" if first is not None else ""
    console.print(f"[dim]{agent_id}, {escape(answer['model'])}, {answer['took_ms'] / 1000:.1f} s{after}[/]")


def shown_while_written(console: Any, events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """The answer's final event from :func:`~llmforge.inference.rag.ask_stream` (or a server's
    stream of the same events), its pieces shown on ``console`` as they come meanwhile. They are
    cleared at the end: the answer as checked, cleaned and cited is printed in their place (a
    refusal replaces them; a restart clears them too)."""
    from rich.live import Live
    from rich.text import Text

    written, final = "", {}
    with Live(Text(), console=console, transient=True, auto_refresh=False) as live:
        for event in events:   # deltas and restarts, then the answer
            if event["type"] == "answer":
                final = event
                break
            written = written + event["text"] if event["type"] == "delta" else ""
            live.update(Text(written), refresh=True)
    return {key: value for key, value in final.items() if key != "type"}


# --- the entry point ------------------------------------------------------------------------------

_FLAGS = {"search": {"--json"}, "ask": {"--json", "--sources"}}
_VALUED = {"search": {"-k", "--mode", "--lang", "--server"}, "ask": {"-k", "--agent", "--server"}}
_GLOBAL_FLAGS = {"-q", "--quiet"}


def main() -> None:
    """The ``llmforge`` command: ``search`` and ``ask`` through the project's running server when
    one answers them; everything else (and these otherwise) by the full command line."""
    if not _answered_warm(sys.argv[1:]):
        from llmforge.cli import main as full_command

        full_command()


def _answered_warm(argv: list[str]) -> bool:
    """Whether ``argv`` was a plain ``search`` or ``ask`` a server answered, its output printed."""
    parsed = _parse(argv)
    if parsed is None:
        return False
    command, text, options = parsed
    server = options.pop("--server", os.environ.get(SERVER_ENV))
    if server == OFF:
        return False
    root = None if server else _project_root(options.pop("-p", None))
    try:
        warm = chosen(server, root)
        if warm is None:
            return False
        k = int(options["-k"]) if "-k" in options else None
        console = None if "--json" in options else _console()
        if command == "search":
            result = warm.post("/v1/search", without_nones({"query": text, "k": k, "mode": options.get("--mode"),
                                                            "lang": options.get("--lang")}))
            _print(result, console, lambda shown: render_search(shown, result))
            return True
        streaming = console is not None and console.is_terminal   # as the full command decides
        body = without_nones({"question": text, "agent": options.get("--agent"), "k": k, "stream": streaming})
        answer = shown_while_written(console, warm.events("/v1/ask", body)) if streaming else \
            warm.post("/v1/ask", body)
    except (LlmforgeError, ValueError):
        return False   # the full command says it as it always does (or answers without the server)
    agent_id = answer.pop("agent")
    _print({**answer, "agent": agent_id}, console,
           lambda shown: render_answer(shown, answer, agent_id, "--sources" in options))
    return True


def _parse(argv: list[str]) -> tuple[str, str, dict[str, str]] | None:
    """``(command, text, options)`` for ``[-p DIR] [-q] search|ask TEXT [options]`` in any order,
    each option given once; None for anything else."""
    options: dict[str, str] = {}
    words: list[str] = []
    command = ""
    index = 0
    while index < len(argv):
        arg = argv[index]
        valued = arg in ("-p", "--project") or (command and arg in _VALUED[command])
        if valued and index + 1 < len(argv):
            name = "-p" if arg == "--project" else arg
            if name in options:
                return None
            options[name] = argv[index + 1]
            index += 2
            continue
        if arg in _GLOBAL_FLAGS or (command and arg in _FLAGS[command]):
            options[arg] = ""
        elif not command and arg in _FLAGS:
            command = arg
        elif command and not arg.startswith("-"):
            words.append(arg)
        else:
            return None
        index += 1
    return (command, words[0].strip(), options) if command and len(words) == 1 and words[0].strip() else None


def _project_root(explicit: str | None) -> Path | None:
    """The project directory the full command would open: ``-p``, else ``$LLMFORGE_PROJECT``,
    else the nearest parent holding ``llmforge.toml``, as :func:`llmforge.project.find_project`
    finds it (which imports DuckDB). None when that finds none: the full command says why."""
    named = explicit or os.environ.get("LLMFORGE_PROJECT")
    if named:
        path = Path(named).expanduser().absolute()
        return path if (path / "llmforge.toml").is_file() else None
    start = Path.cwd().absolute()
    return next((folder for folder in (start, *start.parents) if (folder / "llmforge.toml").is_file()), None)


UNLIMITED_WIDTH = 10_000


def full_width(console: Any) -> Any:
    """Without a terminal (a pipe, a file, cron), ``console`` does not cut tables to 80 columns:
    identifiers and paths print in full, so ``documents list | cat`` loses nothing. The full
    commands' console (cli._common) and this module's follow the same rule, from here."""
    if not console.is_terminal:
        console.width = UNLIMITED_WIDTH
    return console


def print_json(data: Any) -> None:
    """``--json`` output, for the full commands and this module alike."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _console() -> Any:
    """Standard output as the full command's console prints on it."""
    from rich.console import Console

    return full_width(Console(soft_wrap=True))


def _print(data: dict[str, Any], console: Any, render: Callable[[Any], None]) -> None:
    """``data`` as JSON when there is no ``console`` (``--json``), else rendered on it."""
    if console is None:
        print_json(data)
    else:
        render(console)
