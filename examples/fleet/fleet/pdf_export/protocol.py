"""Length-prefixed JSON frames: a 4-byte big-endian length, then a UTF-8 JSON object."""

from __future__ import annotations

import json
import struct

from legacy import runtime

MAX_FRAME = 64 * 1024 * 1024


class FrameError(Exception):
    """A frame was malformed or larger than ``MAX_FRAME``."""


def frame(message):
    """Return the bytes of one frame carrying ``message``."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


@runtime.coroutine
def read_frame(conn, *, timeout=None):
    """Read one frame and return its object; raises ``EOFError`` at a clean end."""
    header = yield conn.read_exactly(4, timeout=timeout)
    (length,) = struct.unpack(">I", header)
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")
    body = yield conn.read_exactly(length, timeout=timeout)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {body[:60]!r}") from exc
