"""JSON Lines: one record per line with a string ``text`` field (``.jsonl``, ``.json``, ``.ndjson``);
``ingest.text_field``/``id_field``/``url_field`` name other keys or nested paths.

Reading is two parts: :class:`LineSplitter` cuts the byte stream into lines under a fixed memory
bound (a line longer than ``run.max_record_bytes`` streams past, only its head kept), and
:func:`line_parser` turns one line into a record or records its other outcome. ``record_index`` is
the 0-based line number (blank lines counted, but a blank line is not a record).
"""
from __future__ import annotations

import codecs

from typing import Any, Callable, Iterator

import orjson

from pipeline.io.readers.base import Reader, descend, field_label, register, stringify
from pipeline.io.splits import RECORDS, Split
from pipeline.io.streams import READ_BLOCK, CountingReader, error_text
from pipeline.records import Reason



class TooLong:
    """A line over ``run.max_record_bytes``: its first bytes and its full size."""

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int):
        self.head = head
        self.size = size


class LineSplitter:
    """Lines of a byte stream, one read block at a time, in memory bounded by one block plus
    ``max_bytes``.

    :meth:`blocks` yields ``(index, offset, lines)`` for each block that completes at least one
    line: the line number and byte offset of the first line, then each line as ``bytes`` (without
    its newline; blank lines included) or as :class:`TooLong`. :attr:`index` and :attr:`offset`
    are those of the line not yet complete; :meth:`tail` is the last line when the stream does not
    end with a newline, and :meth:`excerpt` what is held of the incomplete line.
    """

    def __init__(self, read: Callable[[int], bytes], index: int, offset: int, max_bytes: int, window: int):
        self._read = read
        self.index = index
        self.offset = offset
        self._max = max_bytes
        self._window = window
        self._parts: list[bytes] = []  # pieces of the current, still incomplete line
        self._plen = 0
        self._skipping = False  # inside a line longer than max_bytes
        self._skip_head = b""
        self._skip_len = 0

    def blocks(self) -> Iterator[tuple[int, int, list]]:
        maxb, window = self._max, self._window
        first = self.offset == 0
        while True:
            block = self._read(READ_BLOCK)
            if not block:
                return
            if first:
                first = False
                if block.startswith(codecs.BOM_UTF8):
                    block = block[3:]
                    self.offset += 3
            nl = block.find(b"\n")
            if nl < 0:
                if self._skipping:
                    self._skip_len += len(block)
                else:
                    self._parts.append(block)
                    self._plen += len(block)
                    if self._plen > maxb:
                        self._skip_head = b"".join(self._parts)[:window]
                        self._skip_len, self._parts, self._plen, self._skipping = self._plen, [], 0, True
                continue
            head: list = []  # the over-long line this block ends, if any
            advance = 0  # bytes from the first line's start to the incomplete line's
            if self._skipping:
                head.append(TooLong(self._skip_head, self._skip_len + nl))
                advance = self._skip_len + nl + 1
                self._skipping, self._skip_head, self._skip_len = False, b"", 0
                data = block[nl + 1 :]
            elif self._parts:
                self._parts.append(block)
                data = b"".join(self._parts)
                self._parts, self._plen = [], 0
            else:
                data = block
            lines: list = data.split(b"\n")
            last = lines.pop()
            advance += len(data) - len(last)
            if len(data) - len(last) > maxb:  # some line may be over-long (blank ones are just blank)
                lines = [TooLong(x[:window], len(x)) if len(x) > maxb and not x.isspace() else x for x in lines]
            if head:
                lines = head + lines
            index, offset = self.index, self.offset
            yield index, offset, lines
            self.index, self.offset = index + len(lines), offset + advance
            if last:
                self._parts, self._plen = [last], len(last)
                if self._plen > maxb:
                    self._skip_head, self._skip_len, self._parts, self._plen, self._skipping = last[:window], self._plen, [], 0, True

    def tail(self) -> bytes | TooLong | None:
        """After :meth:`blocks` ends: the last line when the stream did not end with a newline."""
        if self._skipping:
            return TooLong(self._skip_head, self._skip_len)
        return b"".join(self._parts) if self._parts else None

    def excerpt(self) -> bytes:
        """The held head of the incomplete line (for a quarantine row when reading fails)."""
        return self._skip_head if self._skipping else b"".join(self._parts)[: self._window]


def _bad_line(sp: Split, index: int, offset: int, line: bytes, exc: Exception) -> None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as ue:
        sp.quarantine(index, offset, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start} of the line", line)
        return
    sp.quarantine(index, offset, Reason.PARSE_ERROR, f"invalid JSON: {getattr(exc, 'msg', None) or type(exc).__name__}", line)


def _object_outcome(sp: Split, index: int, offset: int, line: bytes, obj: Any) -> dict | None:
    """A parsed line that is not a plain record: a record, or None after recording its other outcome."""
    if type(obj) is not dict:
        sp.quarantine(index, offset, Reason.NOT_AN_OBJECT, f"line holds a JSON {type(obj).__name__}, not an object", line)
        return None
    fields = sp.fields
    text = descend(obj, fields["text"])
    if text is None:
        sp.quarantine(index, offset, Reason.MISSING_TEXT, f"no '{field_label(fields['text'])}' field", line)
        return None
    if type(text) is not str:
        sp.quarantine(index, offset, Reason.TEXT_NOT_STRING, f"'{field_label(fields['text'])}' is a JSON {type(text).__name__}", line)
        return None
    g = obj.get
    sid, url = descend(obj, fields["id"]), descend(obj, fields["url"])
    record = sp.make(index, text, stringify(sid), stringify(url), stringify(g("license")), stringify(g("source")), g("meta"))
    if not text or text.isspace():
        sp.empty(record)
        return None
    return record


def line_parser(sp: Split) -> Callable[[int, int, bytes], dict | None]:
    """``parse(index, offset, line)`` → the line's record, or None after its quarantine row or
    drop decision was recorded on ``sp``. The common case (an object with non-blank string
    text and string or absent optional fields) takes the shortest path. Text, id and url are
    read from the paths in ``sp.fields``."""
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    make = sp.make
    # each path's first key, and the rest (empty for a top-level field: no descent per line)
    (tk, *t_rest), (ik, *i_rest), (uk, *u_rest) = sp.fields["text"], sp.fields["id"], sp.fields["url"]
    t_rest, i_rest, u_rest = tuple(t_rest), tuple(i_rest), tuple(u_rest)

    def parse(index: int, offset: int, line: bytes) -> dict | None:
        try:
            obj = loads(line)
        except JSONDecodeError as exc:
            _bad_line(sp, index, offset, line, exc)
            return None
        text = obj.get(tk) if type(obj) is dict else None
        if t_rest:
            text = descend(text, t_rest)
        if type(text) is str and text and not text.isspace():
            g = obj.get
            sid, url, lic, src = g(ik), g(uk), g("license"), g("source")
            if i_rest:
                sid = descend(sid, i_rest)
            if u_rest:
                url = descend(url, u_rest)
            if (sid is None or type(sid) is str) and (url is None or type(url) is str) and (
                lic is None or type(lic) is str
            ) and (src is None or type(src) is str):
                return make(index, text, sid, url, lic, src, g("meta"))
            return make(index, text, stringify(sid), stringify(url), stringify(lic), stringify(src), g("meta"))
        return _object_outcome(sp, index, offset, line, obj)

    return parse


def read_jsonl(sp: Split, read: Callable[[int], bytes], index: int, offset: int, counter: CountingReader) -> Iterator[tuple[str, Any]]:
    """Stream JSON lines from ``read`` (decompressed bytes starting at a line start).

    ``index``/``offset`` are the line number and byte offset (in the decompressed stream) of the
    first line. A file that fails part-way keeps what was read, then yields one ``unreadable_file``
    row for the line being read.
    """
    bs = sp.cfg.batch_size
    total = sp.item.get("size") if sp.item.get("end") is None else None
    splitter = LineSplitter(read, index, offset, sp.cfg.max_record_bytes, sp.window)
    parse = line_parser(sp)
    batch: list[dict] = []
    seen = sp.seen  # a stride item reads several windows into one split
    in_block = False  # True while the lines of a block are handled (not while reading)
    try:
        for index, offset, lines in splitter.blocks():
            in_block = True
            for line in lines:
                if type(line) is bytes:
                    n = len(line)
                    if n and not line.isspace():
                        seen += 1
                        record = parse(index, offset, line)
                        if record is not None:
                            batch.append(record)
                            if len(batch) >= bs:
                                yield RECORDS, batch
                                batch = []
                    offset += n + 1
                else:
                    seen += 1
                    sp.too_large(index, offset, line.head, line.size)
                    offset += line.size + 1
                index += 1
            sp.seen = seen
            if sp.side:
                yield from sp.flush_side()
            sp.progress(counter.bytes, total)
            in_block = False
    except Exception as exc:  # noqa: BLE001 - a file that fails mid-way: keep what was read, then one row
        if batch:
            yield RECORDS, batch
        if not in_block:
            index, offset = splitter.index, splitter.offset
        sp.seen = seen + 1
        sp.quarantine(index, offset, Reason.UNREADABLE_FILE, error_text(exc), b"" if in_block else splitter.excerpt())
        yield from sp.flush_side()
        return
    # end of stream: a last line without a newline is still a record
    last = splitter.tail()
    if type(last) is TooLong:
        seen += 1
        sp.too_large(splitter.index, splitter.offset, last.head, last.size)
    elif last is not None and not last.isspace():  # b"": a file holding only a BOM
        seen += 1
        record = parse(splitter.index, splitter.offset, last)
        if record is not None:
            batch.append(record)
    sp.seen = seen
    yield from sp.flush(batch)


@register
class JsonlReader(Reader):
    name = "jsonl"
    extensions = (".jsonl", ".json", ".ndjson")

    def read(self, sp: Split, raw) -> Iterator[tuple[str, Any]]:
        item = sp.item
        if item.get("end") is None:
            yield from super().read(sp, raw)
            return
        # a newline-aligned byte range of an uncompressed file (its stats come with the item)
        raw.seek(item["start"])
        counter = CountingReader(raw, hashing=False, limit=item["end"] - item["start"])
        yield from read_jsonl(sp, counter.read, item["first_index"], item["start"], counter)

    def read_stream(self, sp: Split, stream, counter: CountingReader) -> Iterator[tuple[str, Any]]:
        yield from read_jsonl(sp, stream.read, 0, 0, counter)
