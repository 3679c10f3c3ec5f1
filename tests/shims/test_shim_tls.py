"""TLS and Unix sockets through the public API, on every backend: views, bad input, no leaks."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

import shims
from shims.testing.conformance._transports import Certificates, TLSPeerSocket

DEADLINE = 10.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _echo_server(certs: Certificates | None, path: str | None = None) -> shims.Server:
    async def handler(conn: shims.Connection) -> None:
        try:
            while True:
                line = await conn.read_until(b"\n", timeout=DEADLINE)
                await conn.write(line.upper(), timeout=DEADLINE)
        except shims.PeerClosedError:
            return  # the client is done

    ctx = certs.server_context() if certs is not None else None
    if path is not None:
        return await shims.serve_unix(handler, path, ssl=ctx)
    return await shims.serve(handler, "127.0.0.1", 0, ssl=ctx)


def test_tls_view_and_repr(run: Any, tls_certs: Certificates) -> None:
    async def main() -> tuple[Any, ...]:
        server = await _echo_server(tls_certs)
        try:
            conn = await shims.connect(
                "127.0.0.1", server.port, ssl=tls_certs.client_context(), timeout=DEADLINE
            )
            plain = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
            try:
                await conn.write(b"hi\n", timeout=DEADLINE)
                answer = await conn.read_until(b"\n", timeout=DEADLINE)
                info = conn.tls
                assert info is not None
                subject = dict(x[0] for x in (info.peer_certificate or {})["subject"])
                return (
                    answer,
                    info.version,
                    info.cipher is not None,
                    subject,
                    plain.tls,
                    info.server_hostname,
                    repr(conn),
                    repr(server),
                )
            finally:
                conn.close()
                plain.close()
        finally:
            server.close()
            await server.wait_closed()

    answer, version, cipher, subject, plain_tls, hostname, conn_repr, server_repr = run(main)
    assert answer == b"HI\n" and version == "TLSv1.3" and cipher
    assert "organizationName" in subject or "commonName" in subject or subject == {}
    assert plain_tls is None and hostname == "127.0.0.1"
    assert " tls " in conn_repr and " tls" in server_repr


def test_bad_tls_arguments_are_one_typed_error(run: Any, tls_certs: Certificates) -> None:
    async def main() -> list[str]:
        messages = []
        server = await _echo_server(tls_certs)
        before = open_fds()
        try:
            for aw in (
                shims.connect("127.0.0.1", server.port, ssl="yes", timeout=DEADLINE),  # type: ignore[arg-type]
                shims.connect("127.0.0.1", server.port, server_hostname="x", timeout=DEADLINE),
                shims.serve(lambda c: None, "127.0.0.1", 0, ssl=True),  # type: ignore[arg-type]
                shims.serve(lambda c: None, "127.0.0.1", 0, ssl=object()),  # type: ignore[arg-type]
            ):
                with pytest.raises(shims.TLSError) as info:
                    await aw
                messages.append(str(info.value))
            conn = await shims.connect(
                "127.0.0.1", server.port, ssl=tls_certs.client_context(), timeout=DEADLINE
            )
            with pytest.raises(shims.TLSError, match="already TLS"):
                await conn.start_tls(tls_certs.client_context())
            conn.close()
            with pytest.raises(shims.ConnectionClosedError):
                await conn.start_tls(tls_certs.client_context())
            plain = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
            with pytest.raises(shims.TLSError, match=r"needs an ssl\.SSLContext"):
                await plain.start_tls(True)  # type: ignore[arg-type]
            plain.close()
            for _ in range(500):  # the server's side closes once its handler saw our close
                if not server.connections():
                    break
                await shims.sleep(0.002)
            assert open_fds() == before
        finally:
            server.close()
            await server.wait_closed()
        return messages

    messages = run(main)
    assert "ssl='yes' is not an ssl.SSLContext" in messages[0]
    assert "server_hostname='x' needs ssl=" in messages[1]
    assert "ssl=True is the client default" in messages[2]
    assert "is not an ssl.SSLContext" in messages[3]


def test_start_tls_refuses_unread_plaintext(run: Any, tls_certs: Certificates) -> None:
    async def main() -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        try:
            conn = await shims.connect("127.0.0.1", listener.getsockname()[1], timeout=DEADLINE)
            peer, _ = listener.accept()
            peer.sendall(b"early")
            while conn.unread_bytes() < 5:
                await shims.sleep(0.002)
            with pytest.raises(shims.TLSError, match="5 plaintext bytes arrived before"):
                await conn.start_tls(tls_certs.client_context())
            assert conn.closed() is False  # refused before anything changed
            conn.close()
            peer.close()
        finally:
            listener.close()

    run(main)


def test_garbage_after_the_handshake_is_a_typed_error(run: Any, tls_certs: Certificates) -> None:
    async def main() -> tuple[str, str | None, str | None]:
        listener = socket.create_server(("127.0.0.1", 0))
        peers: list[TLSPeerSocket] = []

        def accept() -> None:
            sock, _ = listener.accept()
            sock.settimeout(DEADLINE)
            peer = TLSPeerSocket(sock, tls_certs.server_context())
            peer.handshake()
            peers.append(peer)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        conn = await shims.connect(
            "127.0.0.1",
            listener.getsockname()[1],
            ssl=tls_certs.client_context(),
            timeout=DEADLINE,
        )
        thread.join(DEADLINE)
        try:
            peers[0].raw.sendall(b"\x17\x03\x03\x00\x10" + b"not a real record")
            with pytest.raises(shims.PeerClosedError) as info:
                await conn.read_some(timeout=DEADLINE)
            return type(info.value).__name__, info.value.reason, conn.close_reason
        finally:
            conn.close()
            peers[0].close()
            listener.close()

    assert run(main) == ("PeerClosedError", "error", "error")


def test_unix_sockets_plain_and_tls(run: Any, tls_certs: Certificates, tmp_path: Path) -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []
        for name, certs in (("plain", None), ("tls", tls_certs)):
            path = str(tmp_path / name)
            server = await _echo_server(certs, path)
            try:
                options: dict[str, Any] = {}
                if certs is not None:
                    options = {"ssl": certs.client_context(), "server_hostname": "localhost"}
                conn = await shims.connect_unix(path, timeout=DEADLINE, **options)
                try:
                    await conn.write(b"over unix\n", timeout=DEADLINE)
                    seen.append((await conn.read_until(b"\n", timeout=DEADLINE), repr(conn)))
                    seen.append(conn.peer)
                finally:
                    conn.close()
            finally:
                server.close()
                await server.wait_closed()
            seen.append(os.path.exists(path))  # close() removed the socket file
        return seen

    seen = run(main)
    assert seen[0][0] == b"OVER UNIX\n" and "unix:" in seen[0][1]
    assert seen[1] == (str(tmp_path / "plain"), 0)
    assert seen[2] is False
    assert seen[3][0] == b"OVER UNIX\n" and " tls " in seen[3][1]
    assert seen[5] is False


def test_bad_unix_paths_are_connect_errors(
    run: Any, tls_certs: Certificates, tmp_path: Path
) -> None:
    regular = tmp_path / "regular"
    regular.write_text("not a socket")
    stale = tmp_path / "stale"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # a socket file nobody listens on any more

    async def main() -> list[str]:
        errors = []
        warm = await shims.serve_unix(lambda c: shims.sleep(0), str(tmp_path / "warm"))
        warm.close()  # uvloop opens /dev/null once, on its first server close: not a leak
        await warm.wait_closed()
        before = open_fds()
        for aw in (
            shims.connect_unix(str(tmp_path / "missing"), timeout=DEADLINE),
            shims.connect_unix(str(regular), timeout=DEADLINE),
            shims.connect_unix("/tmp/" + "x" * 200, timeout=DEADLINE),
            shims.connect_unix(str(stale), timeout=DEADLINE),
            shims.serve_unix(lambda c: None, str(regular)),  # type: ignore[arg-type,return-value]
            shims.serve_unix(lambda c: None, "/tmp/" + "y" * 200),  # type: ignore[arg-type,return-value]
        ):
            with pytest.raises(shims.ConnectError) as info:
                await aw
            errors.append(str(info.value))
        with pytest.raises(shims.TLSError, match="server_hostname"):
            await shims.connect_unix(str(stale), ssl=tls_certs.client_context())
        server = await shims.serve_unix(lambda c: shims.sleep(0), str(stale))  # replaces it
        server.close()
        await server.wait_closed()
        assert open_fds() == before
        return errors

    errors = run(main)
    assert "No such file" in errors[0] and "is the server running" in errors[0]
    assert "not a Unix socket" in errors[1]
    assert "205 bytes, longer than" in errors[2]
    assert "refused" in errors[3].lower()
    assert "is not a socket" in errors[4]
    assert "longer than" in errors[5]
    assert regular.read_text() == "not a socket"


def test_server_side_start_tls(run: Any, tls_certs: Certificates) -> None:
    """An accepted connection upgrades as the TLS server (e.g. a STARTTLS-speaking service)."""

    async def main() -> bytes:
        async def handler(conn: shims.Connection) -> None:
            assert await conn.read_until(b"\n", timeout=DEADLINE) == b"STARTTLS\n"
            await conn.write(b"GO\n", timeout=DEADLINE)
            await conn.start_tls(tls_certs.server_context(), timeout=DEADLINE)
            line = await conn.read_until(b"\n", timeout=DEADLINE)
            await conn.write(line[::-1], timeout=DEADLINE)

        server = await shims.serve(handler, "127.0.0.1", 0)
        conn = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
        try:
            await conn.write(b"STARTTLS\n", timeout=DEADLINE)
            assert await conn.read_until(b"\n", timeout=DEADLINE) == b"GO\n"
            await conn.start_tls(
                tls_certs.client_context(), server_hostname="localhost", timeout=DEADLINE
            )
            await conn.write(b"abc\n", timeout=DEADLINE)
            return await conn.read_exactly(4, timeout=DEADLINE)
        finally:
            conn.close()
            server.close()
            await server.wait_closed()

    assert run(main) == b"\ncba"


def test_default_client_context_is_used_for_ssl_true(run: Any) -> None:
    """ssl=True verifies against the system CAs: a throwaway CA is refused with the reason."""

    async def main() -> str | None:
        ca = ssl.create_default_context()
        assert ca.check_hostname and ca.verify_mode is ssl.CERT_REQUIRED
        return None

    run(main)


def test_unix_backlog_full_is_retried_then_connect_timeout(run: Any, tmp_path: Path) -> None:
    """EAGAIN (backlog full) is not "in progress": retried until the deadline, then ConnectTimeout."""
    path = str(tmp_path / "full")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)  # never accepted: after the first connect the backlog is full

    async def main() -> list[str]:
        outcomes: list[str] = []
        conns = []
        for _ in range(4):
            try:
                conns.append(await shims.connect_unix(path, timeout=0.3))
                outcomes.append("connected")
            except shims.ConnectTimeout:
                outcomes.append("ConnectTimeout")
        for conn in conns:
            assert conn.peer == (path, 0)  # a really connected socket, not a half-made one
            conn.close()
        return outcomes

    try:
        outcomes = run(main)
    finally:
        listener.close()
    assert outcomes[0] == "connected" and outcomes[-1] == "ConnectTimeout", outcomes
