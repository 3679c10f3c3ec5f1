"""Read, decode, re-encode and atomically replace Python source files.

Theory of operation: a file is read as bytes together with a ``Stamp`` (inode,
size, mtime) taken from the same open file descriptor. It is decoded the way
CPython decodes it (PEP 263 coding cookie or UTF-8 BOM, via
``tokenize.detect_encoding``) without newline translation, so CRLF and a BOM
survive the round trip; the result is encoded back with the same codec and
the BOM put back. ``replace_atomically`` re-checks the stamp and the bytes
right before an ``os.replace`` of a temporary file written in the same
directory, so a file edited by someone else during the run is never
overwritten, a reader never sees half a file, and the mode is kept. No fsync:
the rename is atomic for readers; durability across a power cut is the job of
the version control system the code lives in.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Decoded",
    "SourceError",
    "Stamp",
    "decode_source",
    "encode_source",
    "is_generated",
    "read_source",
    "replace_atomically",
]


# A file saying "@generated" in its first lines is tool output: edits belong in its source.
GENERATED_MARKER = b"@generated"
GENERATED_LINES = 10

# PEP 263's regular expression, on bytes.
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+", re.MULTILINE)


class SourceError(Exception):
    """A file cannot be read, decoded, encoded or written back safely (message says why)."""


@dataclass(frozen=True)
class Stamp:
    """What a file looked like when it was read."""

    inode: int
    size: int
    mtime_ns: int
    mode: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        """Return the stamp of a stat result."""
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))

    def same_file_state(self, other: Stamp) -> bool:
        """Return True when nothing suggests the file changed in between."""
        return (self.inode, self.size, self.mtime_ns) == (other.inode, other.size, other.mtime_ns)


@dataclass(frozen=True)
class Decoded:
    """Source text and what is needed to write it back byte-for-byte the same way."""

    text: str
    encoding: str
    bom: bool


def is_generated(data: bytes) -> bool:
    """Return True for a file marked ``@generated`` in its first lines (codemod and lint skip it)."""
    head = data[:4096].split(b"\n", GENERATED_LINES)[:GENERATED_LINES]
    return any(GENERATED_MARKER in line for line in head)


def read_source(path: Path) -> tuple[bytes, Stamp]:
    """Read a regular file's bytes and its stamp from one descriptor.

    Raises:
        SourceError: the file cannot be opened or read, or is not a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return data, Stamp.of(st)


def decode_source(data: bytes) -> Decoded:
    """Decode source bytes as CPython would, keeping the BOM and line endings.

    Raises:
        SourceError: NUL bytes, a bad or unknown coding declaration, or bytes
            that are not valid in the declared encoding.
    """
    if b"\0" in data:
        raise SourceError("contains NUL bytes; not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if _COOKIE.search(b"\n".join(data.split(b"\n", 2)[:2])):
            raise SourceError(f"bad coding declaration: {exc.msg}") from exc
        encoding = "utf-8"  # no cookie: the first lines are not UTF-8; say so precisely below
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"cannot decode as {encoding} ({exc.reason} at byte {exc.start}); "
            "fix the bytes or declare the right encoding (PEP 263 coding cookie)"
        ) from exc
    return Decoded(text=text, encoding=encoding, bom=bom)


def encode_source(text: str, like: Decoded) -> bytes:
    """Encode ``text`` the way ``like`` was stored (same codec, BOM kept).

    Raises:
        SourceError: the new text has characters the file's encoding cannot hold.
    """
    try:
        data = text.encode(like.encoding)
    except UnicodeEncodeError as exc:
        raise SourceError(
            f"result cannot be written in the file's encoding {like.encoding}: "
            f"{exc.object[exc.start : exc.end]!r} is not representable"
        ) from exc
    return codecs.BOM_UTF8 + data if like.bom else data


def replace_atomically(path: Path, data: bytes, *, original: bytes, stamp: Stamp) -> None:
    """Replace ``path`` with ``data`` unless it changed since it was read as ``original``.

    Raises:
        SourceError: the file was modified, replaced or removed during the run,
            is not writable, or the write failed; the file is left as it was.
    """
    try:
        now = read_source(path)
    except SourceError as exc:
        raise SourceError(f"changed during the run ({exc}); not overwritten") from exc
    if now[0] != original or not stamp.same_file_state(now[1]):
        raise SourceError("modified during the run; not overwritten (run again to pick it up)")
    if not stamp.mode & 0o222 or not os.access(path, os.W_OK):
        raise SourceError("file is read-only; not changed (make it writable to convert it)")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".migrate-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, stamp.mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SourceError(f"cannot write: {exc.strerror or exc}; file left unchanged") from exc
