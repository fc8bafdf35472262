"""Byte streams of ingest: opening files as stored, counting and hashing what is read, bounded
decompression (gzip members, zstd frames) and error texts that cannot quote record content.

Compressed inputs inflate in bounded steps (:class:`Inflater`), so memory does not depend on the
compression ratio; a stream cut short raises only after the bytes decoded before the cut are read.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import tempfile

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_LOG = logging.getLogger("pipeline.ingest")

READ_BLOCK = 1 << 20  # bytes per read() of a decompressed stream
HASH_BLOCK = 8 << 20
_SKIP_BLOCK = 1 << 20  # bytes read at a time to move forward in a stream that cannot seek


_HASHER = None  # the helper thread that hashes what CountingReaders read, started on first use


def _hasher():
    global _HASHER
    if _HASHER is None:
        from concurrent.futures import ThreadPoolExecutor

        _HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="input-sha256")
    return _HASHER


class CountingReader:
    """Wraps a raw (as stored) stream: counts bytes read and, optionally, hashes them.

    Each block read is hashed on a helper thread (hashlib releases the GIL on large buffers) while
    the reader parses it; blocks are hashed in order, one in flight per reader."""

    def __init__(self, raw, hashing: bool = True, limit: int | None = None):
        self._raw = raw
        self._sha = hashlib.sha256() if hashing else None
        self._hashing = None  # the Future of the block being hashed
        self._left = limit
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        if self._left is not None:
            if self._left <= 0:
                return b""
            n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._raw.read(n)
        if data:
            self.bytes += len(data)
            if self._sha is not None:
                if self._hashing is not None:
                    self._hashing.result()
                self._hashing = _hasher().submit(self._sha.update, data)
            if self._left is not None:
                self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read the rest so the hash and byte count cover the whole file."""
        while self.read(HASH_BLOCK):
            pass

    def sha256(self) -> str | None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None
        return self._sha.hexdigest() if self._sha is not None else None

    def close(self) -> None:
        self._raw.close()


class Inflater:
    """Incremental decompression under a fixed memory bound, delivering everything decodable before
    an error.

    Compressed bytes are read ``_IN`` at a time and fed to a codec object one bounded step at a
    time, member after member (gzip members, zstd frames): a step never produces more than about
    ``_OUT`` bytes whatever the compression ratio, so a decompression bomb inflates in bounded
    memory (``read(n)`` holds at most ``n`` plus one step). A stream that ends inside a member
    raises — unlike ``zstandard``'s ``stream_reader``, which would silently shorten a truncated
    ``.zst`` — and an error is raised only once the bytes decoded before it have been read, so the
    records before a cut are kept.
    """

    _IN = 256 << 10
    _OUT = 4 << 20
    _FEED: int | None = None  # most compressed bytes fed per step (None: all pending)

    def __init__(self, src):
        self._src = src
        self._obj = None  # the codec object of the current member
        self._pending = b""  # compressed bytes read but not yet fed
        self._pos = 0  # how much of _pending has been fed
        self._buf = bytearray()
        self._eof = False
        self._error: BaseException | None = None

    def _new(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, data: bytes) -> tuple[bytes, int]:  # pragma: no cover - abstract
        """Feed (a prefix of) ``data`` to the current member: ``(output, bytes consumed)``; input
        after the member's end is not consumed."""
        raise NotImplementedError

    def _check_member_start(self, data: bytes) -> bool:
        """False when ``data`` is ignorable padding; raise when it is not a member."""
        return True

    def _truncated(self) -> BaseException:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fill(self) -> None:
        """One bounded step: read a compressed chunk when none is pending, else decode a piece."""
        if self._pos >= len(self._pending):
            chunk = self._src.read(self._IN)
            if not chunk:
                self._eof = True
                if self._obj is not None:
                    raise self._truncated()
                return
            self._pending, self._pos = chunk, 0
            return
        if self._FEED:
            data = self._pending[self._pos : self._pos + self._FEED]
        else:
            data = self._pending[self._pos :] if self._pos else self._pending
        if self._obj is None:
            if not self._check_member_start(data):
                self._pos = len(self._pending)
                return
            self._obj = self._new()
        out, used = self._step(data)
        self._pos += used
        self._buf += out
        if self._obj.eof:
            self._obj = None
            self._member_end()

    def _member_end(self) -> None:
        """Called when a member (gzip member, zstd frame) has been decoded to its end."""

    def read(self, n: int = -1) -> bytes:
        want_all = n is None or n < 0
        while self._error is None and not self._eof and (want_all or len(self._buf) < n):
            try:
                self._fill()
            except Exception as exc:  # noqa: BLE001 - raised after the buffered bytes are read
                self._error = exc
        if not self._buf and self._error is not None:
            exc, self._error = self._error, None
            self._eof = True
            raise exc
        if want_all or n >= len(self._buf):
            out = bytes(self._buf)
            self._buf.clear()
        else:
            out = bytes(self._buf[:n])
            del self._buf[:n]
        return out

    def readable(self) -> bool:
        return True


def inflate_module():
    """zlib-ng's drop-in ``zlib`` module when installed (a faster inflate, the same output, errors
    and messages as zlib, byte for byte: tests/unit/test_inflate.py), else zlib."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        import zlib

        return zlib
    return zlib_ng


class GzipReader(Inflater):
    def __init__(self, src, zlib_module=None):
        super().__init__(src)
        self._zlib = zlib_module or inflate_module()

    def _new(self):
        return self._zlib.decompressobj(wbits=31)

    def _step(self, data: bytes) -> tuple[bytes, int]:
        obj = self._obj
        out = obj.decompress(data, self._OUT)  # max_length: the rest stays in unconsumed_tail
        left = len(obj.unused_data) if obj.eof else len(obj.unconsumed_tail)
        return out, len(data) - left

    def _check_member_start(self, data: bytes) -> bool:
        if data.startswith(b"\x1f\x8b") or (len(data) < 2 and data == b"\x1f"):
            return True
        if not data.strip(b"\x00"):
            return False  # zero padding after the last member
        raise gzip.BadGzipFile("Not a gzipped file")

    def _truncated(self) -> BaseException:
        return EOFError("Compressed file ended before the end-of-stream marker was reached")


class ZstdReader(Inflater):
    # zstandard's decompressobj has no max_length, so input is fed in slices: one zstd block
    # (at most 128 KiB of output) takes at least 4 compressed bytes, which bounds one step's
    # output to about _FEED * 32 KiB whatever the ratio.
    _FEED = 128

    def __init__(self, src):
        import zstandard

        super().__init__(src)
        self._dctx = zstandard.ZstdDecompressor()
        self._zstd_error = zstandard.ZstdError

    def _new(self):
        return self._dctx.decompressobj()

    def _step(self, data: bytes) -> tuple[bytes, int]:
        out = self._obj.decompress(data)
        return out, len(data) - (len(self._obj.unused_data) if self._obj.eof else 0)

    def _truncated(self) -> BaseException:
        return self._zstd_error("truncated zstd stream: the last frame is incomplete")


def open_raw(uri: str):
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def decompressed(counting: CountingReader, compression: str | None):
    """A readable byte stream over the decompressed content (incremental, never whole)."""
    if compression is None:
        return counting
    if compression == "gzip":
        return GzipReader(counting)
    if compression == "zstd":
        return ZstdReader(counting)
    raise ValueError(f"unknown compression {compression}")


class ReadError(Exception):
    """A failure ingest itself detected; its message is composed of counts and fixed words only."""


def _safe_message_types() -> tuple[type, ...]:
    import zlib

    import zstandard

    # Decoders and the OS word their errors themselves (fixed texts, offsets, the path already in
    # ``source_uri``); other libraries' messages may quote what they were parsing.
    return (ReadError, EOFError, OSError, zlib.error, inflate_module().error, zstandard.ZstdError)


def error_text(exc: BaseException) -> str:
    """The exception type, and its message only when it cannot quote record content: a parser's
    message (pyarrow, warcio, ...) may carry a column name, a header line or a value."""
    name = type(exc).__name__
    if not isinstance(exc, _safe_message_types()) or type(exc).__module__.startswith(("pyarrow", "warcio")):
        return name
    msg = str(exc).replace("\n", " ")[:200]
    return f"{name}: {msg}" if msg else name



def spool(stream):
    """A compressed Parquet file decompressed to a temporary file (Parquet needs random access)."""
    tmp = tempfile.TemporaryFile(prefix="curate-ingest-")
    while True:
        block = stream.read(HASH_BLOCK)
        if not block:
            break
        tmp.write(block)
    tmp.seek(0)
    return tmp


def hash_file(uri: str) -> tuple[int | None, str | None]:
    try:
        with open_raw(uri) as fh:
            counter = CountingReader(fh)
            counter.drain()
            return counter.bytes, counter.sha256()
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("ingest %s: cannot hash file: %s", uri, error_text(exc))
        return None, None



def open_at(uri: str, offset: int):
    fh = open_raw(uri)
    try:
        fh.seek(offset)
    except Exception:  # noqa: BLE001 - a stream that cannot seek is read forward
        left = offset
        while left > 0:
            skipped = fh.read(min(left, _SKIP_BLOCK))
            if not skipped:
                break
            left -= len(skipped)
    return fh

