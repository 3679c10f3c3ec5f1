"""``duplex=`` on legacy connect/listen: the caller's word, carried as ``Connection.duplex``."""

from __future__ import annotations

from legacy import runtime


def test_duplex_is_recorded_on_dialled_and_accepted_connections() -> None:
    async def main() -> list[tuple[str, bool]]:
        accepted: list[runtime.Connection] = []

        async def keep(conn: runtime.Connection) -> None:
            accepted.append(conn)
            await conn.read_some(timeout=10.0)

        seen = []
        for duplex in (False, True):
            listener = await runtime.listen("127.0.0.1", 0, keep, duplex=duplex)
            conn = await runtime.connect("127.0.0.1", listener.port, timeout=10.0, duplex=duplex)
            while len(accepted) < 1 + duplex:
                await runtime.sleep(0.002)
            seen += [(conn.initiated_by, conn.duplex), ("peer", accepted[-1].duplex)]
            conn.close()
            listener.close()
        default = await runtime.listen("127.0.0.1", 0, keep)
        plain = await runtime.connect("127.0.0.1", default.port, timeout=10.0)
        seen.append(("default", plain.duplex))
        plain.close()
        default.close()
        return seen

    assert runtime.run(main) == [
        ("local", False),
        ("peer", False),
        ("local", True),
        ("peer", True),
        ("default", False),
    ]
