"""Unix-socket servers and clients agree on every backend: file, mode, peers, reuse of a path."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

import shims
from shims.backends import UNIX_BACKLOG, connect_unix_socket, peer_address, socket_file_mode

DEADLINE = 10.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _plain_bind_mode(path: Path) -> int:
    """The permission bits a plain ``bind()`` gives a socket file in this process right now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        mode = stat.S_IMODE(os.stat(path).st_mode)
    os.unlink(path)
    return mode


async def _upper(conn: shims.Connection) -> None:
    line = await conn.read_until(b"\n", timeout=DEADLINE)
    await conn.write(line.upper(), timeout=DEADLINE)


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_socket_file_mode_is_what_a_plain_bind_gives(run: Any, tmp_path: Path, umask: int) -> None:
    """No backend widens the file (Twisted's listenUNIX alone would make it 0o666)."""
    path = tmp_path / "s"

    async def main() -> int:
        server = await shims.serve_unix(_upper, path)
        try:
            return stat.S_IMODE(os.stat(path).st_mode)
        finally:
            server.close()
            await server.wait_closed()

    previous = os.umask(umask)
    try:
        expected = _plain_bind_mode(tmp_path / "plain")
        assert socket_file_mode() == expected
        assert run(main) == expected
    finally:
        os.umask(previous)


def test_peers_and_server_address(run: Any, tmp_path: Path) -> None:
    """Both ends name the path; the server reports (path, 0) as its host and port."""
    path = str(tmp_path / "s")

    async def main() -> list[Any]:
        accepted: list[Any] = []

        async def handler(conn: shims.Connection) -> None:
            accepted.append((conn.peer, conn.initiated_by, repr(conn).split()[1]))
            await _upper(conn)

        server = await shims.serve_unix(handler, path)
        try:
            conn = await shims.connect_unix(Path(path), timeout=DEADLINE)
            try:
                await conn.write(b"x\n", timeout=DEADLINE)
                answer = await conn.read_until(b"\n", timeout=DEADLINE)
                return [answer, conn.peer, (server.host, server.port), accepted, repr(server)]
            finally:
                conn.close()
        finally:
            server.close()
            await server.wait_closed()

    answer, peer, address, accepted, server_repr = run(main)
    assert answer == b"X\n"
    assert peer == (path, 0)
    assert address == (path, 0)
    assert accepted == [((path, 0), "peer", f"unix:{path}")]
    assert server_repr.startswith(f"<Server unix:{path} ")


def test_a_new_server_on_the_path_outlives_the_old_ones_close(run: Any, tmp_path: Path) -> None:
    """Closing one server never removes the file of the server that replaced it."""
    path = str(tmp_path / "s")

    async def main() -> list[Any]:
        old = await shims.serve_unix(_upper, path)
        old.close()  # the file goes now; a backend may release the socket a turn later
        new = await shims.serve_unix(_upper, path)
        try:
            await old.wait_closed()
            await shims.sleep(0.05)
            still_there = os.path.exists(path)
            conn = await shims.connect_unix(path, timeout=DEADLINE)
            try:
                await conn.write(b"again\n", timeout=DEADLINE)
                answer = await conn.read_until(b"\n", timeout=DEADLINE)
            finally:
                conn.close()
        finally:
            new.close()
            await new.wait_closed()
        return [still_there, answer, os.path.exists(path)]

    assert run(main) == [True, b"AGAIN\n", False]


def test_cannot_listen_is_one_connect_error_and_leaks_nothing(run: Any, tmp_path: Path) -> None:
    """A path in a missing directory: the same ConnectError everywhere, no descriptor left."""
    path = str(tmp_path / "missing-dir" / "s")

    async def main() -> tuple[str, Any, bool]:
        warm = await shims.serve_unix(_upper, str(tmp_path / "warm"))  # one-time descriptors
        warm.close()
        await warm.wait_closed()
        before = open_fds()
        with pytest.raises(shims.ConnectError) as info:
            await shims.serve_unix(_upper, path)
        return str(info.value), info.value.__cause__, open_fds() == before

    message, cause, no_leak = run(main)
    assert message == f"could not listen on Unix socket {path!r}: No such file or directory"
    assert isinstance(cause, FileNotFoundError)
    assert no_leak


def test_refused_is_one_connect_error_with_the_native_cause(run: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)  # a socket file nobody listens on

    async def main() -> tuple[str, Any]:
        with pytest.raises(shims.ConnectError) as info:
            await shims.connect_unix(path, timeout=DEADLINE)
        return str(info.value), info.value.__cause__

    message, cause = run(main)
    assert message == f"could not connect to Unix socket {path!r}: Connection refused"
    assert isinstance(cause, ConnectionRefusedError)


def test_a_full_backlog_connects_once_the_server_accepts(run: Any, tmp_path: Path) -> None:
    """The retried connect completes as soon as the listener makes room, well before its deadline."""
    path = str(tmp_path / "full")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect(path)  # the backlog is full now

    async def main() -> tuple[Any, float]:
        def make_room() -> None:
            listener.accept()[0].close()  # blocking: the filler is queued, so it returns at once

        shims.call_later(0.1, make_room)
        start = shims.monotonic()
        conn = await shims.connect_unix(path, timeout=DEADLINE)
        conn.close()
        return conn.peer, shims.monotonic() - start

    try:
        peer, took = run(main)
    finally:
        filler.close()
        listener.close()
    assert peer == (path, 0)
    assert 0.05 < took < DEADLINE / 2


def test_neutral_helpers() -> None:
    assert UNIX_BACKLOG == 512
    assert peer_address("/run/a.sock", lambda: "unused") == ("/run/a.sock", 0)
    assert peer_address("", lambda: b"/run/listening.sock") == ("/run/listening.sock", 0)
    assert peer_address(("::1", 80, 0, 0), lambda: None) == ("::1", 80)
    assert peer_address(None, lambda: None) == ("?", 0)


def test_connect_unix_socket_closes_its_socket_when_refused(tmp_path: Path) -> None:
    import asyncio

    path = str(tmp_path / "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        before = open_fds()
        with pytest.raises(ConnectionRefusedError):
            asyncio.run(connect_unix_socket(path, asyncio.sleep))
        assert open_fds() == before
