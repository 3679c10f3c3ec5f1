"""Shim overhead: 64-byte request/response over loopback, side by side in one run.

Cases: raw asyncio streams (the baseline), the shim on asyncio, raw uvloop
streams, the shim on uvloop, the shim on legacy, and raw asyncio/uvloop
protocols (callbacks only, no task, no buffer: what the loop itself costs),
and a bare await on a uvloop protocol (a bytearray and one future per read,
no checks: the floor of any await-based API on uvloop). Scenarios: one connection doing sequential round
trips, and 50 concurrent connections. Then the cost of ``closed()`` and of the
pool's checkout liveness check, against one ping round trip.

Method, identical for every case: a fresh loop per run; the client and its
echo server run in this process on that loop with the same stack (so each
round trip pays both sides of the stack under test); the loop, the server and
the connections are set up first and only the round trips are timed (wall
and process CPU time); every case runs once per round, rounds repeat, the
first round (warm-up) is dropped. No debug mode, no ``-X dev``, TCP_NODELAY
everywhere (asyncio, uvloop and the shim all set it), GC left on.

Run: ``python benchmarks/bench_shim.py`` (``--quick`` for a CI smoke run).
Targets (issue 3): shim/asyncio <= 1.05x raw asyncio streams; raw asyncio
streams / shim on uvloop >= 2.5x; checkout liveness < 5 us.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ssl
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from _harness import print_ratios

import shims

MSG = b"x" * 64
Sample = tuple[float, float]  # (wall seconds, process CPU seconds) of the round trips


async def _timed(clients: list[Awaitable[None]], gather: Any) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    await gather(*clients)
    return time.perf_counter() - wall, time.process_time() - cpu


# -- raw asyncio streams ------------------------------------------------------


async def _raw_streams(conns: int, trips: int) -> Sample:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.readexactly(64)
                writer.write(data)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(conns)]

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(trips):
            writer.write(MSG)
            await writer.drain()
            await reader.readexactly(64)

    sample = await _timed([client(r, w) for r, w in pairs], asyncio.gather)
    for _, writer in pairs:
        writer.close()
        await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return sample


# -- raw protocols: the ceiling of any task-based API ---------------------------


class _EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _PingProtocol(asyncio.Protocol):
    """Client side: send 64 bytes each time ``go`` is set or the 64-byte answer is complete."""

    def __init__(self, loop: asyncio.AbstractEventLoop, trips: int) -> None:
        self.left, self.got = trips, 0
        self.done: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got < 64:
            return
        self.got -= 64
        self.left -= 1
        if self.left:
            self.transport.write(MSG)
        else:
            self.done.set_result(None)


async def _raw_protocols(conns: int, trips: int) -> Sample:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    protos = []
    for _ in range(conns):
        _, proto = await loop.create_connection(
            functools.partial(_PingProtocol, loop, trips), "127.0.0.1", port
        )
        protos.append(proto)

    async def client(proto: _PingProtocol) -> None:
        proto.transport.write(MSG)
        await proto.done

    sample = await _timed([client(p) for p in protos], asyncio.gather)
    for proto in protos:
        proto.transport.close()
    server.close()
    await server.wait_closed()
    return sample


class _AwaitProtocol(asyncio.Protocol):
    """The least an await-based read can cost: a bytearray and one future per wait."""

    def __init__(self, on_made: Callable[[_AwaitProtocol], object] | None = None) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.on_made = on_made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.create_future = asyncio.get_running_loop().create_future
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read_exactly(self, n: int) -> bytes:
        buf = self.buf
        while len(buf) < n:
            self.waiter = self.create_future()
            await self.waiter
            self.waiter = None
        data = bytes(buf[:n])
        del buf[:n]
        return data


async def _bare_await(conns: int, trips: int) -> Sample:
    loop = asyncio.get_running_loop()
    handlers: list[asyncio.Task[None]] = []

    async def echo(proto: _AwaitProtocol) -> None:
        while True:
            proto.transport.write(await proto.read_exactly(64))

    def accepted(proto: _AwaitProtocol) -> None:
        handlers.append(loop.create_task(echo(proto)))

    server = await loop.create_server(lambda: _AwaitProtocol(accepted), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    protos = []
    for _ in range(conns):
        _, proto = await loop.create_connection(_AwaitProtocol, "127.0.0.1", port)
        protos.append(proto)

    async def client(proto: _AwaitProtocol) -> None:
        for _ in range(trips):
            proto.transport.write(MSG)
            await proto.read_exactly(64)

    sample = await _timed([client(p) for p in protos], asyncio.gather)
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for proto in protos:
        proto.transport.close()
    server.close()
    await server.wait_closed()
    return sample


def asyncio_case(
    scenario: Callable[[int, int], Awaitable[Sample]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
    conns: int,
    trips: int,
) -> Callable[[], Sample]:
    def fn() -> Sample:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(cast("Coroutine[Any, Any, Sample]", scenario(conns, trips)))

    return fn


# -- the shim -----------------------------------------------------------------


async def _shim(
    conns: int,
    trips: int,
    server_ssl: ssl.SSLContext | None = None,
    client_ssl: ssl.SSLContext | None = None,
) -> Sample:
    """Round trips over the shim; over TLS when given both contexts (bench_tls.py)."""

    async def echo(conn: shims.Connection) -> None:
        try:
            while True:
                await conn.write(await conn.read_exactly(64))
        except shims.PeerClosedError:
            pass

    server = await shims.serve(echo, "127.0.0.1", 0, ssl=server_ssl)
    clients = [await shims.connect("127.0.0.1", server.port, ssl=client_ssl) for _ in range(conns)]

    async def client(conn: shims.Connection) -> None:
        for _ in range(trips):
            await conn.write(MSG)
            await conn.read_exactly(64)

    sample = await _timed([client(c) for c in clients], shims.gather)
    for conn in clients:
        conn.close()
    server.close()
    await server.wait_closed()
    return sample


def shim_case(backend: str, conns: int, trips: int) -> Callable[[], Sample]:
    def fn() -> Sample:
        result: Sample = shims.run(_shim, conns, trips, backend=backend)
        return result

    return fn


# -- closed() and checkout liveness -------------------------------------------


async def _micro(n: int) -> dict[str, float]:
    async def echo(conn: shims.Connection) -> None:
        try:
            while True:
                await conn.write(await conn.read_exactly(64))
        except shims.PeerClosedError:
            pass

    server = await shims.serve(echo, "127.0.0.1", 0)
    pool = shims.ConnectionPool(lambda: shims.connect("127.0.0.1", server.port), max_size=1)
    async with pool.acquire() as conn:
        await conn.write(MSG)
        await conn.read_exactly(64)
    out: dict[str, float] = {}

    start = time.perf_counter()
    for _ in range(n * 10):
        conn.closed()
    out["closed()"] = (time.perf_counter() - start) / (n * 10)

    start = time.perf_counter()
    for _ in range(n):
        conn._probe()
    out["checkout liveness probe (state + poll)"] = (time.perf_counter() - start) / n

    start = time.perf_counter()
    for _ in range(n):
        async with pool.acquire():
            pass
    out["pool acquire+release (with probe)"] = (time.perf_counter() - start) / n

    start = time.perf_counter()
    for _ in range(n):
        async with pool.acquire() as c:
            await c.write(MSG)
            await c.read_exactly(64)
    out["ping round trip (64 B, pooled)"] = (time.perf_counter() - start) / n

    await pool.close()
    server.close()
    await server.wait_closed()
    return out


def _rounds(cases: dict[str, Callable[[], Sample]], repeat: int) -> dict[str, list[Sample]]:
    """Run every case once per round, ``repeat + 1`` rounds; drop the first (warm-up) round."""
    samples: dict[str, list[Sample]] = {name: [] for name in cases}
    for _ in range(repeat + 1):
        for name, fn in cases.items():
            samples[name].append(fn())
    return {name: values[1:] for name, values in samples.items()}


def _paired(samples: dict[str, list[Sample]], a: str, b: str, kind: int) -> float:
    """Median over rounds of time(a) / time(b), the two measured back to back."""
    return statistics.median(x[kind] / y[kind] for x, y in zip(samples[a], samples[b], strict=True))


def _ratio(samples: dict[str, list[Sample]], kind: int, a: str, b: str) -> float:
    return _paired(samples, a, b, kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< ~20 s)")
    args = parser.parse_args(argv)
    single, concurrent, repeat = (3000, 150, 4) if args.quick else (20000, 1000, 7)

    scenarios = [("1 connection", 1, single), ("50 concurrent connections", 50, concurrent)]
    summary: list[str] = []
    base = "raw asyncio streams"
    for title, conns, trips in scenarios:
        cases: dict[str, Callable[[], Sample]] = {
            base: asyncio_case(_raw_streams, None, conns, trips),
            "shim on asyncio": shim_case("asyncio", conns, trips),
            "raw uvloop streams": asyncio_case(_raw_streams, uvloop.new_event_loop, conns, trips),
            "shim on uvloop": shim_case("uvloop", conns, trips),
            "shim on legacy": shim_case("legacy", conns, trips),
            "raw asyncio protocols": asyncio_case(_raw_protocols, None, conns, trips),
            "raw uvloop protocols": asyncio_case(
                _raw_protocols, uvloop.new_event_loop, conns, trips
            ),
            "bare await on uvloop protocol": asyncio_case(
                _bare_await, uvloop.new_event_loop, conns, trips
            ),
        }
        samples = _rounds(cases, repeat)
        for kind, index in (("wall time", 0), ("process CPU time", 1)):
            print_ratios(
                f"64-byte request/response, {title} x {trips} round trips, {kind}",
                {
                    name: statistics.median(v[index] for v in values)
                    for name, values in samples.items()
                },
                baseline=base,
                unit_count=conns * trips,
                unit="round trip",
            )
        # Paired ratios (each round runs every case back to back) resist the load of a
        # shared machine better than a ratio of two medians.
        for kind, index in (("wall", 0), ("CPU", 1)):
            ratio = functools.partial(_ratio, samples, index)

            summary.append(
                f"  {title}, paired {kind}:\n"
                f"    shim on asyncio = {ratio('shim on asyncio', base):.3f}x raw asyncio streams "
                "(target <= 1.05)\n"
                f"    shim on uvloop {1 / ratio('shim on uvloop', base):.2f}x faster than raw "
                f"asyncio streams (target >= 2.5); raw uvloop streams "
                f"{1 / ratio('raw uvloop streams', base):.2f}x; shim on uvloop = "
                f"{ratio('shim on uvloop', 'raw uvloop streams'):.3f}x raw uvloop streams\n"
                f"    ceiling: raw uvloop protocols "
                f"{ratio('raw asyncio protocols', 'raw uvloop protocols'):.2f}x faster than raw "
                f"asyncio protocols, {1 / ratio('raw uvloop protocols', base):.2f}x faster than "
                "raw asyncio streams\n"
                f"    floor of any await-based API on uvloop (bare await on a protocol, one "
                f"future per read): {1 / ratio('bare await on uvloop protocol', base):.2f}x "
                f"faster than raw asyncio streams; shim on uvloop = "
                f"{ratio('shim on uvloop', 'bare await on uvloop protocol'):.3f}x of it\n"
                f"    shim on legacy = {ratio('shim on legacy', base):.2f}x raw asyncio streams"
            )

    micro = shims.run(_micro, 2000 if args.quick else 20000, backend="asyncio")
    print("\nliveness costs on asyncio (per call)")
    for name, seconds in micro.items():
        print(f"  {name:<42} {seconds * 1e6:9.3f} us")
    ping = micro["ping round trip (64 B, pooled)"]
    probe = micro["checkout liveness probe (state + poll)"]
    print("\nsummary")
    print("\n".join(summary))
    print(
        f"  checkout liveness = {probe * 1e6:.2f} us (target < 5 us), "
        f"{ping / probe:.0f}x cheaper than a ping round trip ({ping * 1e6:.1f} us); "
        f"closed() = {micro['closed()'] * 1e9:.0f} ns, no system call"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
