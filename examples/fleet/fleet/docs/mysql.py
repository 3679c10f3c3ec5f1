"""A small MySQL/MariaDB client: protocol 4.1 over the runtime's Connection.

Theory of operation: every exchange is a sequence of packets (3-byte little
endian length, 1-byte sequence id, payload). Connecting reads the server's
handshake v10, answers with a HandshakeResponse41 carrying a
mysql_native_password scramble (following an auth-switch request if the
server asks for one), and expects OK. With TLS the client first sends an SSL
request (the first 32 bytes of a HandshakeResponse41 with CLIENT_SSL set),
upgrades the same connection with ``start_tls``, and sends the full
response over TLS (sequence ids carry on: 1 for the SSL request, 2 after). COM_QUERY answers with OK, ERR, or a
text result set: column count, column definitions, EOF, rows, EOF. An ERR
packet becomes a ``MySQLError`` carrying code, SQL state and message; the
codes a server sends when it drops a connection (killed, idle timeout,
shutdown) become ``ServerGoneError``, so a pool can treat them like EOF.
"""

from __future__ import annotations

import hashlib
import ssl as ssl_module
import struct
from decimal import Decimal

import legacy.runtime

# Capability flags (include/mysql_com.h).
CLIENT_LONG_PASSWORD = 0x1
CLIENT_LONG_FLAG = 0x4
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CAPABILITIES = (
    CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
)
UTF8MB4_GENERAL_CI = 45
BINARY_CHARSET = 63
COM_QUIT, COM_QUERY, COM_PING = 0x01, 0x03, 0x0E
MAX_PACKET = 0xFFFFFF

# Server errors that mean "this connection is gone" (1927 ER_CONNECTION_KILLED,
# 4031 ER_CLIENT_INTERACTION_TIMEOUT, 1053 ER_SERVER_SHUTDOWN, 1317 query interrupted).
SERVER_GONE_CODES = frozenset({1053, 1317, 1927, 4031})
INT_TYPES = frozenset({1, 2, 3, 8, 9, 13})  # TINY SHORT LONG LONGLONG INT24 YEAR
FLOAT_TYPES = frozenset({4, 5})  # FLOAT DOUBLE
DECIMAL_TYPES = frozenset({0, 246})  # DECIMAL NEWDECIMAL


class MySQLError(Exception):
    """The server answered with an ERR packet."""

    def __init__(self, code, sqlstate, message):
        super().__init__(f"({code}, {sqlstate!r}) {message}")
        self.code = code
        self.sqlstate = sqlstate
        self.message = message


class ServerGoneError(MySQLError):
    """The server dropped this connection (killed, idle timeout, shutdown)."""


class ProtocolError(Exception):
    """The server sent something this client does not understand."""


class Result:
    """What a query returned: ``columns`` and ``rows`` for a SELECT, counts otherwise."""

    def __init__(self, columns=(), rows=(), affected_rows=0, insert_id=0):
        self.columns = list(columns)
        self.rows = list(rows)
        self.affected_rows = affected_rows
        self.insert_id = insert_id

    def __repr__(self):
        return (
            f"<Result columns={self.columns} rows={len(self.rows)} affected={self.affected_rows}>"
        )


def scramble_native(password, salt):
    """Return the mysql_native_password answer: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password.encode()).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mask = hashlib.sha1(salt + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))


def escape(value):
    """Return ``value`` as an SQL literal for the text protocol."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    if isinstance(value, str):
        table = {
            "\0": "\\0",
            "\n": "\\n",
            "\r": "\\r",
            "\\": "\\\\",
            "'": "\\'",
            '"': '\\"',
            "\x1a": "\\Z",
        }
        return "'" + "".join(table.get(ch, ch) for ch in value) + "'"
    raise TypeError(f"cannot send {value!r} to MySQL; use None, int, float, Decimal, str or bytes")


def format_query(sql, params):
    """Replace each ``%s`` in ``sql`` with the escaped parameter, in order."""
    pieces = sql.split("%s")
    if len(pieces) - 1 != len(params):
        raise ValueError(
            f"{sql!r} has {len(pieces) - 1} placeholders but got {len(params)} parameters"
        )
    out = [pieces[0]]
    for value, piece in zip(params, pieces[1:], strict=True):
        out += [escape(value), piece]
    return "".join(out)


class Reader:
    """Walk a packet payload: fixed ints, length-encoded ints and strings."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self, n):
        return int.from_bytes(self.take(n), "little")

    def lenenc_int(self):
        first = self.int(1)
        if first < 0xFB:
            return first
        if first == 0xFB:
            return None  # NULL in a text row
        return self.int({0xFC: 2, 0xFD: 3, 0xFE: 8}[first])

    def lenenc_bytes(self):
        n = self.lenenc_int()
        return None if n is None else self.take(n)

    def cstring(self):
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos : end]
        self.pos = end + 1
        return value

    def rest(self):
        return self.take(len(self.data) - self.pos)


def parse_error(payload):
    """Return the typed error an ERR packet describes."""
    r = Reader(payload)
    r.take(1)
    code = r.int(2)
    sqlstate = ""
    if r.data[r.pos : r.pos + 1] == b"#":
        r.take(1)
        sqlstate = r.take(5).decode()
    message = r.rest().decode(errors="replace")
    cls = ServerGoneError if code in SERVER_GONE_CODES else MySQLError
    return cls(code, sqlstate, message)


def convert(raw, column):
    """Turn one text-protocol value into a Python value from its column type."""
    if raw is None:
        return None
    kind = column["type"]
    if kind in INT_TYPES:
        return int(raw)
    if kind in FLOAT_TYPES:
        return float(raw)
    if kind in DECIMAL_TYPES:
        return Decimal(raw.decode())
    if column["charset"] == BINARY_CHARSET:
        return bytes(raw)
    return raw.decode()


class MySQLConnection:
    """One authenticated session; not safe for two requests at once (use a pool)."""

    def __init__(self, conn, *, timeout):
        self.conn = conn
        self.timeout = timeout
        self.server_version = ""  # both set by handshake()
        self.connection_id = 0
        self._seq = 0

    def closed(self):
        return self.conn.closed()

    def unread_bytes(self):
        return self.conn.unread_bytes()

    def close(self):
        self.conn.close()

    async def _read_packet(self):
        payload = b""
        while True:
            header = await self.conn.read_exactly(4, timeout=self.timeout)
            length = int.from_bytes(header[:3], "little")
            self._seq = (header[3] + 1) & 0xFF
            payload += await self.conn.read_exactly(length, timeout=self.timeout)
            if length < MAX_PACKET:
                return payload

    async def _write_packet(self, payload):
        frames = []
        for start in range(0, len(payload) + 1, MAX_PACKET):
            chunk = payload[start : start + MAX_PACKET]
            frames.append(struct.pack("<I", len(chunk))[:3] + bytes([self._seq]) + chunk)
            self._seq = (self._seq + 1) & 0xFF
        await self.conn.write(b"".join(frames), timeout=self.timeout)

    async def _command(self, command, argument=b""):
        self._seq = 0
        await self._write_packet(bytes([command]) + argument)

    async def handshake(self, user, password, database, *, ssl=None, server_hostname=None):
        """Authenticate (over TLS first with ``ssl``, an ``ssl.SSLContext``).

        Raises ``MySQLError`` (e.g. 1045 access denied), ``ProtocolError`` (e.g.
        a server without TLS when ``ssl`` is given) or the runtime's TLS error.
        """
        packet = await self._read_packet()
        if packet[0] == 0xFF:
            raise parse_error(packet)
        r = Reader(packet)
        if r.int(1) != 10:
            raise ProtocolError(f"expected handshake v10, got protocol {packet[0]!r}")
        self.server_version = r.cstring().decode()
        self.connection_id = r.int(4)
        salt = r.take(8)
        r.take(1)
        capabilities = r.int(2)
        r.take(3)  # character set, status flags
        capabilities |= r.int(2) << 16
        salt_len = r.int(1)
        r.take(10)
        salt += r.take(max(13, salt_len - 8))[:12]
        plugin = (
            r.cstring().decode() if capabilities & CLIENT_PLUGIN_AUTH else "mysql_native_password"
        )
        if not capabilities & CLIENT_PROTOCOL_41:
            raise ProtocolError(f"server {self.server_version!r} does not speak protocol 4.1")
        auth = scramble_native(password, salt) if plugin == "mysql_native_password" else b""
        flags = CAPABILITIES
        if ssl is not None:
            if not capabilities & CLIENT_SSL:
                raise ProtocolError(
                    f"server {self.server_version!r} does not offer TLS (no CLIENT_SSL); "
                    "enable ssl on the server or connect without ssl="
                )
            flags |= CLIENT_SSL
            await self._write_packet(struct.pack("<IIB23x", flags, MAX_PACKET, UTF8MB4_GENERAL_CI))
            await self.conn.start_tls(ssl, server_hostname=server_hostname, timeout=self.timeout)
        response = struct.pack("<IIB23x", flags, MAX_PACKET, UTF8MB4_GENERAL_CI)
        response += user.encode() + b"\0" + bytes([len(auth)]) + auth
        response += database.encode() + b"\0" + b"mysql_native_password\0"
        await self._write_packet(response)
        packet = await self._read_packet()
        if packet[0] == 0xFE:  # auth switch request: a new plugin and a new salt
            r = Reader(packet)
            r.take(1)
            plugin = r.cstring().decode()
            if plugin != "mysql_native_password":
                raise ProtocolError(
                    f"server wants auth plugin {plugin!r}; this client speaks mysql_native_password only"
                )
            await self._write_packet(scramble_native(password, r.rest()[:20]))
            packet = await self._read_packet()
        if packet[0] == 0xFF:
            raise parse_error(packet)
        if packet[0] != 0x00:
            raise ProtocolError(f"expected OK after authentication, got {packet[:16]!r}")

    async def query(self, sql, *params):
        """Run one statement; return a ``Result``. Raises ``MySQLError`` on an ERR packet."""
        if params:
            sql = format_query(sql, params)
        await self._command(COM_QUERY, sql.encode())
        packet = await self._read_packet()
        if packet[0] == 0xFF:
            raise parse_error(packet)
        if packet[0] == 0x00:
            r = Reader(packet)
            r.take(1)
            return Result(affected_rows=r.lenenc_int(), insert_id=r.lenenc_int())
        count = Reader(packet).lenenc_int()
        columns = [await self._read_column() for _ in range(count)]
        await self._read_eof()
        rows = []
        while True:
            packet = await self._read_packet()
            if packet[0] == 0xFE and len(packet) < 9:
                break
            if packet[0] == 0xFF:
                raise parse_error(packet)
            r = Reader(packet)
            rows.append(tuple(convert(r.lenenc_bytes(), column) for column in columns))
        return Result(columns=[c["name"] for c in columns], rows=rows)

    async def _read_column(self):
        r = Reader(await self._read_packet())
        for _ in range(4):  # catalog, schema, table, org_table
            r.lenenc_bytes()
        name = r.lenenc_bytes().decode()
        r.lenenc_bytes()  # org_name
        r.lenenc_int()  # length of the fixed fields
        charset = r.int(2)
        r.int(4)  # column length
        return {"name": name, "charset": charset, "type": r.int(1)}

    async def _read_eof(self):
        packet = await self._read_packet()
        if packet[0] == 0xFF:
            raise parse_error(packet)
        if not (packet[0] == 0xFE and len(packet) < 9):
            raise ProtocolError(f"expected EOF packet, got {packet[:16]!r}")

    async def ping(self):
        """Send COM_PING; raises ``MySQLError`` if the server refuses."""
        await self._command(COM_PING)
        packet = await self._read_packet()
        if packet[0] == 0xFF:
            raise parse_error(packet)
        return packet[0] == 0x00

    async def quit(self):
        """Send COM_QUIT and close; never raises for a connection already gone."""
        try:
            if not self.conn.closed():
                await self._command(COM_QUIT)
        except (EOFError, ConnectionError, TimeoutError):
            pass
        finally:
            self.conn.close()


async def connect(
    host, port, user, password="", database="", *, timeout=10.0, ssl=None, server_hostname=None
):
    """Dial and authenticate; close the socket if the handshake fails.

    ``ssl`` (an ``ssl.SSLContext``, or True for the default one) upgrades the
    connection in-band before authenticating; the certificate is checked
    against ``server_hostname`` (default: ``host``).
    """
    if ssl is True:
        ssl = ssl_module.create_default_context()
    conn = await legacy.runtime.connect(host, port, timeout=timeout)
    session = MySQLConnection(conn, timeout=timeout)
    try:
        await session.handshake(
            user, password, database, ssl=ssl or None, server_hostname=server_hostname or host
        )
    except BaseException:
        conn.close()
        raise
    return session
