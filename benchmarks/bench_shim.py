"""Shim overhead: 64-byte request/response over loopback, side by side in one run.

Cases (each a full client + echo server in one process, fresh loop per run):
raw asyncio streams (the baseline), the shim on asyncio, raw uvloop streams,
the shim on uvloop, the shim on legacy. Scenarios: one connection doing
sequential round trips, and 50 concurrent connections. Then the cost of
``closed()`` and of the pool's checkout liveness check, against one ping
round trip.

Run: ``python benchmarks/bench_shim.py`` (``--quick`` for a CI smoke run).
Each table is printed twice: wall time (what the harness measures) and the
process's CPU time, which stays meaningful when other jobs share the cores.
Targets (issue 3): shim/asyncio <= 1.05x raw asyncio streams; raw asyncio
streams / shim on uvloop >= 2.5x; checkout liveness < 5 us.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from _harness import interleaved_medians, print_ratios

import shims

MSG = b"x" * 64


# -- raw asyncio streams ------------------------------------------------------


async def _raw_streams(conns: int, trips: int) -> None:
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

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(trips):
            writer.write(MSG)
            await writer.drain()
            await reader.readexactly(64)
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(conns)))
    server.close()
    await server.wait_closed()


def raw_case(
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None, conns: int, trips: int
) -> Callable[[], None]:
    def fn() -> None:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_raw_streams(conns, trips))

    return fn


# -- the shim -----------------------------------------------------------------


async def _shim(conns: int, trips: int) -> None:
    async def echo(conn: shims.Connection) -> None:
        try:
            while True:
                await conn.write(await conn.read_exactly(64))
        except shims.PeerClosedError:
            pass

    server = await shims.serve(echo, "127.0.0.1", 0)

    async def client() -> None:
        conn = await shims.connect("127.0.0.1", server.port)
        for _ in range(trips):
            await conn.write(MSG)
            await conn.read_exactly(64)
        conn.close()

    await shims.gather(*(client() for _ in range(conns)))
    server.close()
    await server.wait_closed()


def shim_case(backend: str, conns: int, trips: int) -> Callable[[], None]:
    def fn() -> None:
        shims.run(_shim, conns, trips, backend=backend)

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


def _timed(fn: Callable[[], Any], samples: list[tuple[float, float]]) -> Callable[[], None]:
    """Wrap ``fn`` to record (wall, process CPU) seconds of each call."""

    def timed() -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))

    return timed


def _paired(samples: dict[str, list[tuple[float, float]]], a: str, b: str, kind: int) -> float:
    """Median over rounds of time(a) / time(b), the two measured back to back (warm-up dropped)."""
    return statistics.median(
        x[kind] / y[kind] for x, y in zip(samples[a][1:], samples[b][1:], strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< ~20 s)")
    args = parser.parse_args(argv)
    single, concurrent, repeat = (3000, 150, 5) if args.quick else (20000, 1000, 7)

    scenarios = [("1 connection", 1, single), ("50 concurrent connections", 50, concurrent)]
    summary: list[str] = []
    for title, conns, trips in scenarios:
        cases: dict[str, Callable[[], Any]] = {
            "raw asyncio streams": raw_case(None, conns, trips),
            "shim on asyncio": shim_case("asyncio", conns, trips),
            "raw uvloop streams": raw_case(uvloop.new_event_loop, conns, trips),
            "shim on uvloop": shim_case("uvloop", conns, trips),
            "shim on legacy": shim_case("legacy", conns, trips),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        timed = {name: _timed(fn, samples[name]) for name, fn in cases.items()}
        wall = interleaved_medians(timed, repeat=repeat)
        cpu = {
            name: statistics.median(v[1] for v in values[1:]) for name, values in samples.items()
        }
        for kind, medians in (("wall time", wall), ("process CPU time", cpu)):
            print_ratios(
                f"64-byte request/response, {title} x {trips} round trips, {kind}",
                medians,
                baseline="raw asyncio streams",
                unit_count=conns * trips,
                unit="round trip",
            )
        # Paired ratios (each round runs every case back to back) resist the load of a
        # shared machine better than a ratio of two medians.
        for kind, index in (("wall", 0), ("CPU", 1)):
            base = "raw asyncio streams"
            summary.append(
                f"  {title}, paired {kind}: shim/asyncio = "
                f"{_paired(samples, 'shim on asyncio', base, index):.3f}x raw asyncio "
                f"(target <= 1.05); shim on uvloop "
                f"{1 / _paired(samples, 'shim on uvloop', base, index):.2f}x faster than raw "
                f"asyncio (target >= 2.5; raw uvloop "
                f"{1 / _paired(samples, 'raw uvloop streams', base, index):.2f}x); shim on uvloop "
                f"= {_paired(samples, 'shim on uvloop', 'raw uvloop streams', index):.3f}x raw "
                f"uvloop; shim on legacy = {_paired(samples, 'shim on legacy', base, index):.2f}x "
                "raw asyncio"
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
