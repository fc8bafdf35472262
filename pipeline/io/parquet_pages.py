"""The page sizes a Parquet file declares, read before Arrow decodes anything.

Arrow decodes a Parquet column page by page, and for each it allocates the uncompressed size the
page's header declares: that number, not the file's size, bounds the memory a page takes. A few
kilobytes of zstd can declare (and hold) a page of gigabytes. :func:`largest_pages` reads every
page header of the column chunks a reader is about to decode — Thrift compact structs in front of
each page (Parquet's ``PageHeader``: field 1 the page type, 2 the uncompressed size, 3 the
compressed size) — without decompressing a byte, so a row group with a page over the bound can be
left undecoded.

Only the three leading fields are interpreted; every other field is skipped by its wire type, so
headers of any Parquet writer or version parse. A header that cannot be parsed (truncated, a wire
type Thrift does not define, a page running past its column chunk) raises :class:`PageHeaderError`.
"""
from __future__ import annotations

from typing import BinaryIO

READ_AHEAD = 1 << 13  # bytes first read at a page header (most are a few dozen bytes; more is read as needed)
MAX_HEADER = 16 << 20  # a longer page header is refused (Arrow's own reader refuses them too)
MAX_DEPTH = 16  # nesting of Thrift structs and containers in a header: PageHeader needs 3


class PageHeaderError(ValueError):
    """A page header that cannot be read; the message names the byte offset, never content."""


class _Buffer:
    """Reads a Thrift compact struct from ``data`` starting at ``pos``."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise IndexError
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, wire: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValueError("nested too deep")
        if wire in (1, 2):  # boolean true / false: in the field header itself
            return
        if wire == 3:  # byte
            self.byte()
        elif wire in (4, 5, 6):  # i16, i32, i64: zigzag varints
            self.varint()
        elif wire == 7:  # double
            self.take(8)
        elif wire == 8:  # binary
            self.take(self.varint())
        elif wire in (9, 10):  # list, set
            head = self.byte()
            size, element = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                if element in (1, 2):  # booleans in a container: one byte each
                    self.byte()
                else:
                    self.skip(element, depth + 1)
        elif wire == 11:  # map
            size = self.varint()
            if size:
                kinds = self.byte()
                for _ in range(size):
                    for kind in (kinds >> 4, kinds & 0x0F):
                        if kind in (1, 2):
                            self.byte()
                        else:
                            self.skip(kind, depth + 1)
        elif wire == 12:  # struct
            self.struct(depth + 1, None)
        else:
            raise ValueError(f"wire type {wire}")

    def take(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise IndexError
        self.pos += n

    def struct(self, depth: int, wanted: dict | None) -> None:
        """Read a struct up to its stop byte; i32 fields whose ids are keys of ``wanted`` are
        stored there."""
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            wire, delta = head & 0x0F, head >> 4
            field = last + delta if delta else self.zigzag()
            last = field
            if wanted is not None and field in wanted and wire == 5:
                wanted[field] = self.zigzag()
            else:
                self.skip(wire, depth)


def page_header(data: bytes, pos: int = 0) -> tuple[int, int, int, int] | None:
    """``(page type, uncompressed size, compressed size, header end)`` of the header at ``pos`` in
    ``data``; None when ``data`` ends before the header does (read more). Raises ValueError for
    bytes that are no page header."""
    fields = {1: None, 2: None, 3: None}
    buf = _Buffer(data, pos)
    try:
        buf.struct(0, fields)
    except IndexError:
        return None
    if fields[1] is None or fields[2] is None or fields[3] is None:
        raise ValueError("a required field is missing")
    return fields[1], fields[2], fields[3], buf.pos


def chunk_pages(fh: BinaryIO, start: int, length: int) -> list[tuple[int, int, int, int]]:
    """``(page type, uncompressed size, compressed size, header length)`` of every page of the column chunk
    stored at ``start`` (``length`` bytes, headers included), read from ``fh``."""
    pages = []
    pos, end = start, start + length
    data, data_at = b"", start
    while pos < end:
        size = READ_AHEAD
        while True:
            rel = pos - data_at
            if 0 <= rel < len(data):
                try:
                    header = page_header(data, rel)
                except ValueError as exc:
                    raise PageHeaderError(f"unreadable page header at byte {pos} ({exc})") from None
                if header is not None:
                    break
                if data_at + len(data) >= end:
                    raise PageHeaderError(f"the page header at byte {pos} runs past its column chunk")
                if len(data) - rel >= MAX_HEADER:
                    raise PageHeaderError(f"the page header at byte {pos} is over {MAX_HEADER} bytes")
            want = min(size, end - pos)
            fh.seek(pos)
            data, data_at = fh.read(want), pos
            if len(data) < want:
                raise PageHeaderError(f"the file ends inside a column chunk, at byte {pos + len(data)}")
            size *= 2
        kind, uncompressed, compressed, header_end = header
        if uncompressed < 0 or compressed < 0:
            raise PageHeaderError(f"a negative page size in the header at byte {pos}")
        pages.append((kind, uncompressed, compressed, data_at + header_end - pos))
        pos = data_at + header_end + compressed
    if pos != end:
        raise PageHeaderError(f"the last page runs past its column chunk (byte {pos} > {end})")
    return pages


def chunk_span(column_meta) -> tuple[int, int]:
    """(first byte, length) of a column chunk, from pyarrow's ``ColumnChunkMetaData``."""
    start = column_meta.data_page_offset
    dictionary = column_meta.dictionary_page_offset
    if column_meta.has_dictionary_page and dictionary is not None and 0 < dictionary < start:
        start = dictionary
    return start, column_meta.total_compressed_size


def largest_pages(fh: BinaryIO, metadata, row_group: int, columns: list[int]) -> dict[int, int]:
    """Column index → the largest uncompressed size a page of it declares in ``row_group``."""
    rg = metadata.row_group(row_group)
    out = {}
    for c in columns:
        start, length = chunk_span(rg.column(c))
        out[c] = max((page[1] for page in chunk_pages(fh, start, length)), default=0)
    return out
