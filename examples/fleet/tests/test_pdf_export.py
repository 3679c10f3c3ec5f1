"""The renderer and its RPC client over loopback, including overload."""

from __future__ import annotations

import pytest
from legacy import runtime

from fleet.pdf_export.client import RemoteError, RenderClient
from fleet.pdf_export.renderer import Renderer


@pytest.mark.parity
async def test_render_round_trips(parity):
    renderer = Renderer()
    port = await renderer.start()
    client = RenderClient("127.0.0.1", port, max_size=4)
    try:
        one = await client.render("invoice-1", pages=3, body="x" * 1000, key="k1")
        parity.record("render", one)
        results = await runtime.wait_all(
            [client.render(f"doc-{i}", key=f"key-{i}") for i in range(20)]
        )
        parity.record("keys", [r["key"] for r in results])
        parity.record("big body bytes", (await client.render("big", body="y" * 3_000_000))["bytes"])
        with pytest.raises(RemoteError) as unknown:
            await client.call("rasterize", {})
        parity.record("unknown method", unknown.value.code)
        parity.record("max open", client.pool.stats["opened"] <= 4)
    finally:
        client.close()
        renderer.close()
    parity.record("served", renderer.served)


@pytest.mark.parity
async def test_overloaded_renderer_that_closes_fails_fast_and_recovers(parity, wait_until):
    renderer = Renderer(max_active=1, overload="close", work_seconds=0.2)
    port = await renderer.start()
    busy = RenderClient("127.0.0.1", port)
    client = RenderClient("127.0.0.1", port)
    try:
        slow = runtime.spawn(busy.render("slow"))
        await runtime.sleep(0.05)
        # The renderer is busy: it hangs up on the second connection at once.
        with pytest.raises(EOFError):
            await client.render("rejected")
        parity.record("slow result", (await slow)["doc"])
        busy.close()  # its idle connection was what kept the renderer busy
        await wait_until(lambda: renderer.active == 0)
        parity.record("after overload", (await client.render("accepted"))["doc"])
    finally:
        busy.close()
        client.close()
        renderer.close()


@pytest.mark.parity
async def test_renderer_that_stops_reading_hits_the_write_deadline(parity):
    renderer = Renderer(max_active=0, overload="stop_reading")
    port = await renderer.start()
    client = RenderClient("127.0.0.1", port, write_timeout=0.5)
    started = runtime.monotonic()
    try:
        # Far more than the kernel buffers on both ends hold: the write must stall.
        with pytest.raises(TimeoutError):
            await client.render("huge", body="z" * 32_000_000)
        elapsed = runtime.monotonic() - started
        parity.record("failed at the deadline, not hanging", 0.4 < elapsed < 10.0)
        parity.record("connection discarded", client.pool.stats["discarded"])
    finally:
        client.close()
        renderer.close()
