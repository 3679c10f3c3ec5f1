"""The realtime service's entry point: serve websocket clients until interrupted.

``python -m fleet.realtime.service [PORT]`` (default 8765) listens on
127.0.0.1 with a one-second heartbeat.
"""

from __future__ import annotations

import sys

import legacy.runtime

from fleet.realtime.server import RealtimeServer


async def main():
    server = RealtimeServer(heartbeat=1.0)
    port = await server.start("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8765)
    print(f"realtime: ws://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        await legacy.runtime.Event().wait()  # forever
    finally:
        await server.shutdown()


if __name__ == "__main__":
    legacy.runtime.run(main)
