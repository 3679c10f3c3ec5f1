"""Legacy runtime vs raw asyncio streams: 64-byte request/response round trips over loopback.

Run: ``python benchmarks/bench_legacy.py [--quick]``.

Two scenarios, each with client and server in one process on one event loop:
one connection doing sequential round trips, and 50 connections doing them
concurrently. Every case is timed in turn, round after round (interleaved
medians from ``_harness``), so machine noise hits all of them alike. The
target is the legacy runtime within 1.5x of raw asyncio streams
(``asyncio.open_connection``/``asyncio.start_server``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import interleaved_medians, print_ratios

from legacy import runtime

SIZE = 64
REQUEST = b"q" * SIZE
RESPONSE = b"r" * SIZE


def legacy_case(connections: int, round_trips: int) -> Callable[[], None]:
    """Return a callable running ``connections`` clients x ``round_trips`` on the legacy runtime."""

    async def handle(conn: runtime.Connection) -> None:
        try:
            while True:
                await conn.read_exactly(SIZE)
                await conn.write(RESPONSE)
        except EOFError:
            pass

    async def client(port: int) -> None:
        conn = await runtime.connect("127.0.0.1", port)
        try:
            for _ in range(round_trips):
                await conn.write(REQUEST)
                if await conn.read_exactly(SIZE) != RESPONSE:
                    raise AssertionError("bad response")
        finally:
            conn.close()

    async def main() -> None:
        listener = await runtime.listen("127.0.0.1", 0, handle)
        try:
            await runtime.wait_all([client(listener.port) for _ in range(connections)])
        finally:
            listener.close()

    return lambda: runtime.run(main)


def asyncio_case(connections: int, round_trips: int) -> Callable[[], None]:
    """Return a callable running the same workload on raw asyncio streams."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readexactly(SIZE)
                writer.write(RESPONSE)
                await writer.drain()
        except EOFError:
            pass
        finally:
            writer.close()

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(round_trips):
                writer.write(REQUEST)
                await writer.drain()
                if await reader.readexactly(SIZE) != RESPONSE:
                    raise AssertionError("bad response")
        finally:
            writer.close()
            await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await asyncio.gather(*(client(port) for _ in range(connections)))
        finally:
            server.close()
            await server.wait_closed()

    return lambda: asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (a few seconds)")
    args = parser.parse_args()
    if args.quick:
        scenarios = [(1, 2000), (50, 60)]
        repeat = 3
    else:
        scenarios = [(1, 20000), (50, 400)]
        repeat = 9
    worst = 0.0
    for connections, round_trips in scenarios:
        cases: dict[str, Callable[[], object]] = {
            "asyncio streams": asyncio_case(connections, round_trips),
            "legacy.runtime": legacy_case(connections, round_trips),
        }
        medians = interleaved_medians(cases, repeat=repeat)
        total = connections * round_trips
        print_ratios(
            f"{SIZE}-byte round trips, {connections} connection(s) x {round_trips}",
            medians,
            baseline="asyncio streams",
            unit_count=total,
            unit="round trip",
        )
        ratio = medians["legacy.runtime"] / medians["asyncio streams"]
        worst = max(worst, ratio)
        verdict = "within" if ratio <= 1.5 else "OUTSIDE"
        print(f"  legacy / asyncio = {ratio:.2f}x ({verdict} the 1.5x target)")
    print(f"\nworst ratio: {worst:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
