"""TLS overhead: 64-byte request/response over TLS 1.3 on loopback, side by side in one run.

Cases: raw asyncio streams over TLS (``open_connection(ssl=...)``/
``start_server(ssl=...)``: asyncio's own sslproto) on the asyncio loop and on
uvloop (uvloop's sslproto), and the shim over TLS (its one MemoryBIO layer,
the same on every backend) on asyncio, uvloop and legacy. Scenarios: one
connection doing sequential round trips, and 50 concurrent connections.

Method (as bench_shim.py): a fresh loop per run; client and echo server in
this process on that loop with the same stack, so each round trip pays both
sides of the stack under test; set-up (handshakes included) is not timed,
only the round trips (wall and process CPU time); every case runs once per
round, the first round is dropped; ratios are paired (each round runs the
cases back to back) and their median is reported. Certificates come from
``trustme``; TLS 1.3 with the default cipher on both stacks.

Run: ``python benchmarks/bench_tls.py`` (``--quick`` for a CI smoke run).
Targets (issue 12): shim over TLS <= 1.05x raw streams over TLS on the same
loop (asyncio and uvloop); shim on legacy over TLS <= 1.5x raw asyncio TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ssl
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trustme
import uvloop
from _harness import print_ratios
from bench_shim import MSG, Sample, _ratio, _rounds, _shim, _timed

import shims

_CA = trustme.CA()
_CERT = _CA.issue_cert("localhost", "127.0.0.1")


def server_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CERT.configure_cert(ctx)
    return ctx


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    _CA.configure_trust(ctx)
    return ctx


# -- raw asyncio streams over TLS ------------------------------------------------


async def _raw_tls_streams(conns: int, trips: int) -> Sample:
    handlers: set[asyncio.Task[Any]] = set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                data = await reader.readexactly(64)
                writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()  # no SSL shutdown wait in the benchmark's teardown

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context())
    port = server.sockets[0].getsockname()[1]
    ctx = client_context()
    pairs = [await asyncio.open_connection("127.0.0.1", port, ssl=ctx) for _ in range(conns)]

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(trips):
            writer.write(MSG)
            await writer.drain()
            await reader.readexactly(64)

    sample = await _timed([client(r, w) for r, w in pairs], asyncio.gather)
    for _, writer in pairs:
        writer.transport.abort()
    if handlers:  # let the server's handlers see the aborts before the loop goes away
        await asyncio.wait(handlers, timeout=5)
    server.close()
    await server.wait_closed()
    return sample


def raw_case(
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None, conns: int, trips: int
) -> Callable[[], Sample]:
    def fn() -> Sample:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result: Sample = runner.run(_raw_tls_streams(conns, trips))
            return result

    return fn


# -- the shim over TLS -------------------------------------------------------------


def shim_case(backend: str, conns: int, trips: int) -> Callable[[], Sample]:
    def fn() -> Sample:
        result: Sample = shims.run(
            _shim, conns, trips, server_context(), client_context(), backend=backend
        )
        return result

    return fn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< ~20 s)")
    args = parser.parse_args(argv)
    single, concurrent, repeat = (2000, 100, 3) if args.quick else (15000, 600, 7)
    scenarios = [("1 connection", 1, single), ("50 concurrent connections", 50, concurrent)]
    base, ubase = "raw asyncio streams TLS", "raw uvloop streams TLS"
    summary: list[str] = []
    for title, conns, trips in scenarios:
        cases: dict[str, Callable[[], Sample]] = {
            base: raw_case(None, conns, trips),
            "shim TLS on asyncio": shim_case("asyncio", conns, trips),
            ubase: raw_case(uvloop.new_event_loop, conns, trips),
            "shim TLS on uvloop": shim_case("uvloop", conns, trips),
            "shim TLS on legacy": shim_case("legacy", conns, trips),
        }
        samples = _rounds(cases, repeat)
        for kind, index in (("wall time", 0), ("process CPU time", 1)):
            medians: dict[str, Any] = {
                name: statistics.median(v[index] for v in values)
                for name, values in samples.items()
            }
            print_ratios(
                f"64-byte request/response over TLS, {title} x {trips} round trips, {kind}",
                medians,
                baseline=base,
                unit_count=conns * trips,
                unit="round trip",
            )
        for kind, index in (("wall", 0), ("CPU", 1)):
            ratio = functools.partial(_ratio, samples, index)
            summary.append(
                f"  {title}, paired {kind}:\n"
                f"    shim TLS on asyncio = {ratio('shim TLS on asyncio', base):.3f}x raw asyncio "
                "streams TLS (target <= 1.05)\n"
                f"    shim TLS on uvloop = {ratio('shim TLS on uvloop', ubase):.3f}x raw uvloop "
                "streams TLS (target <= 1.05)\n"
                f"    shim TLS on legacy = {ratio('shim TLS on legacy', base):.3f}x raw asyncio "
                "streams TLS (target <= 1.5)"
            )
    print("\nsummary")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
