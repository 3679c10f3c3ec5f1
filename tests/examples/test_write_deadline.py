"""An RPC peer that stops reading: the fleet's client fails at its write deadline, never hangs."""

from __future__ import annotations

from typing import Any

import shims
from shims.testing import FaultProxy

WRITE_TIMEOUT = 1.0
BODY = 16 * 1024 * 1024  # far more than the kernel buffers between client and proxy


def test_render_to_a_renderer_that_stopped_reading_fails_at_the_write_deadline(
    backend: str, fleet: Any
) -> None:
    async def main() -> dict[str, Any]:
        renderer = fleet.renderer.Renderer()
        port = await renderer.start()
        with FaultProxy("127.0.0.1", port) as proxy:
            client = fleet.client.RenderClient(
                proxy.host, proxy.port, write_timeout=WRITE_TIMEOUT, read_timeout=30.0
            )
            try:
                small = await client.render("warm-up", key="k0")
                proxy.stop_reading()
                started = shims.monotonic()
                try:
                    await client.render("huge", body="z" * BODY, key="k1")
                except shims.WriteTimeout as exc:
                    error: BaseException = exc
                elapsed = shims.monotonic() - started
                proxy.stop_reading(False)
                after = await client.render("after", key="k2")
            finally:
                client.close()
                renderer.close()
            return {
                "small": small,
                "error": error,
                "elapsed": elapsed,
                "forwarded": proxy.bytes_to_upstream,
                "after": after,
                "stats": dict(client.pool.stats),
            }

    outcome = shims.run(main, backend=backend)
    assert isinstance(outcome["error"], shims.WriteTimeout)
    # One deadline for the whole write: not much earlier, and nowhere near a hang.
    assert WRITE_TIMEOUT * 0.9 <= outcome["elapsed"] < WRITE_TIMEOUT + 10.0, outcome
    assert outcome["forwarded"] < BODY, "the proxy forwarded the body: nothing stalled"
    # The stalled connection was discarded, and the client works again afterwards.
    assert outcome["stats"]["discarded"] >= 1, outcome
    assert outcome["after"]["key"] == "k2"


def test_overloaded_renderer_that_stops_reading_fails_at_the_write_deadline(
    backend: str, fleet: Any
) -> None:
    async def main() -> tuple[type[BaseException] | None, float]:
        renderer = fleet.renderer.Renderer(max_active=0, overload="stop_reading")
        port = await renderer.start()
        client = fleet.client.RenderClient("127.0.0.1", port, write_timeout=WRITE_TIMEOUT)
        started = shims.monotonic()
        kind: type[BaseException] | None = None
        try:
            await client.render("huge", body="z" * 2 * BODY)
        except Exception as exc:
            kind = type(exc)
        finally:
            client.close()
            renderer.close()
        return kind, shims.monotonic() - started

    kind, elapsed = shims.run(main, backend=backend)
    assert kind is shims.WriteTimeout
    assert WRITE_TIMEOUT * 0.9 <= elapsed < WRITE_TIMEOUT + 10.0
