"""The http client's errors: one tree, each naming what the server did."""

from __future__ import annotations


class HTTPError(Exception):
    """Base of every error the http client raises for a request (I/O deadlines aside)."""


class RemoteDisconnected(HTTPError, ConnectionError):
    """The server closed or reset the connection before the response was complete.

    On a reused keep-alive connection this is the race the pool absorbs: an
    idempotent request is retried once on a fresh connection. ``partial``
    holds how many bytes of the response had arrived.
    """

    def __init__(self, message, *, partial=0):
        super().__init__(message)
        self.partial = partial


class ProtocolError(HTTPError):
    """The server broke HTTP/1.1: bad status line, body shorter than its length, cut chunk.

    Never retried: the same server would most likely do it again.
    """


class HeaderTooLarge(ProtocolError):
    """The response's header block is larger than the client accepts (``max_header_bytes``)."""


class BodyTooLarge(ProtocolError):
    """The response's body is larger than the client accepts (``max_body_bytes``)."""
