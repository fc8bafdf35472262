"""JSON Lines: one record per line with a string ``text`` field (``.jsonl``, ``.json``, ``.ndjson``);
``ingest.text_field``/``id_field``/``url_field`` name other keys or nested paths.

Reading is two parts: :class:`LineSplitter` cuts the byte stream into lines under a fixed memory
bound (a line longer than ``run.max_record_bytes`` streams past, only its head kept), and
:func:`line_parser` turns one line into a record or records its other outcome. ``record_index`` is
the 0-based line number (blank lines counted, but a blank line is not a record).
"""
from __future__ import annotations

import codecs
import hashlib
import re
from typing import Any, Callable, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.io.readers.base import Reader, descend, field_label, register, stringify
from pipeline.io.splits import COLUMNAR, RECORDS, Split
from pipeline.io.streams import READ_BLOCK, CountingReader, error_text
from pipeline.records import INGEST_SCHEMA, Reason



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

    def blocks(self, whole: bool = False) -> Iterator[tuple[int, int, list | bytes]]:
        """``whole``: a block whose complete lines are all within ``max_bytes`` comes as one
        ``bytes`` holding them, each with its newline (split it with :func:`split_lines`)."""
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
            complete = data.rfind(b"\n") + 1  # the bytes of the lines this block completes
            last = data[complete:]
            advance += complete
            if whole and not head and complete <= maxb:
                lines: list | bytes = data[:complete]
                count = lines.count(b"\n")
            else:
                lines = data.split(b"\n")
                lines.pop()
                if complete > maxb:  # some line may be over-long (blank ones are just blank)
                    lines = [TooLong(x[:window], len(x)) if len(x) > maxb and not x.isspace() else x for x in lines]
                if head:
                    lines = head + lines
                count = len(lines)
            index, offset = self.index, self.offset
            yield index, offset, lines
            self.index, self.offset = index + count, offset + advance
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


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a ``whole`` block of :meth:`LineSplitter.blocks` (each ends with a newline)."""
    lines = data.split(b"\n")
    lines.pop()
    return lines


# pyarrow's JSON parser (RapidJSON) reads NaN, Inf and Infinity (signed too) as numbers; orjson,
# the reference, refuses them. Such a literal ends where a value ends: at white space, ',', ']' or
# '}'. (Each pattern starts with a literal, which the regex engine finds fast.)
_NON_JSON_LITERALS = (re.compile(rb"NaN[\s,\]}]"), re.compile(rb"Inf(?:inity)?[\s,\]}]"))
_BEFORE_VALUE = (b":", b",", b"[", b"")  # b"": only white space before it in the window looked at
# orjson refuses nesting deeper than this; a line with more opening brackets (in strings or not)
# takes the record path.
_MAX_NESTING = 1024
# Every byte but newline and the opening brackets: deleted, they leave each line's brackets.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b"\n{[")))
# Lead bytes of the UTF-8 encodings of the characters str.isspace() accepts (ASCII and U+0085,
# U+00A0, U+1680, U+2000-U+205F, U+3000): a text starting with any other byte is not blank.
_SPACE_LEADS = np.zeros(256, dtype=bool)
_SPACE_LEADS[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0xC2, 0xE1, 0xE2, 0xE3]] = True


# The same patterns for RE2 (pyarrow.compute), which finds that a block holds none of them in one
# fast pass; Python's bytes ``\s`` is ASCII white space, spelled out here.
_NON_JSON_LITERALS_RE2 = (r"NaN[ \t\n\r\f\v,\]}]", r"Inf(?:inity)?[ \t\n\r\f\v,\]}]")


def _non_json_literal(data: bytes, whole: pa.BinaryArray | None = None) -> bool:
    """Whether ``data`` (lines of JSON) may hold a NaN or Infinity literal where a value goes:
    after ``:``, ``,`` or ``[`` (white space and a sign between) with an even number of unescaped
    quotes before it on its line. Exact for a line that is valid JSON apart from such literals;
    pyarrow's parser refuses any other line. ``whole``: ``data`` as a one-value binary array
    (:func:`_one_value`), to rule out every literal at once before the exact check."""
    if whole is not None and not any(pc.match_substring_regex(whole, pattern)[0].as_py() for pattern in _NON_JSON_LITERALS_RE2):
        return False
    for literal in _NON_JSON_LITERALS:
        for hit in literal.finditer(data):
            at = hit.start()
            before = data[max(at - 32, 0) : at].rstrip(b" \t\r")
            if before.endswith(b"-"):
                before = before[:-1].rstrip(b" \t\r")
            if before[-1:] in _BEFORE_VALUE:
                line = data[data.rfind(b"\n", 0, at) + 1 : at]
                if line.replace(b"\\\\", b"").replace(b'\\"', b"").count(b'"') % 2 == 0:
                    return True
    return False


def _one_value(buffer: pa.Buffer, kind: pa.DataType = pa.binary()) -> pa.Array:
    """``buffer`` as a one-value binary (or string) array (no copy)."""
    return pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(np.array([0, buffer.size], dtype=np.int32)), buffer])


def _utf8_valid(buffer: pa.Buffer) -> bool:
    whole = _one_value(buffer, pa.string())
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _blank(text: pa.StringArray) -> bool:
    """Whether any value of ``text`` is empty or all white space (``str.isspace``)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=text.offset * 4)
    if (offsets[1:] == offsets[:-1]).any():
        return True
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    for row in np.flatnonzero(_SPACE_LEADS[data[offsets[:-1]]]):
        value = text[int(row)].as_py()
        if value.isspace():
            return True
    return False


def columnar_reader(sp: Split) -> Callable[[int, bytes], pa.RecordBatch | None] | None:
    """``columns(index, data)``: the records of ``data`` (complete lines, the first numbered
    ``index``) as one :data:`~pipeline.records.INGEST_SCHEMA` record batch, read by pyarrow's JSON
    reader; or None when any line may not be a plain record (not an object, bad UTF-8 or JSON, a
    field of another type, blank or missing text, a duplicate key, deep nesting, …) — then the
    lines take the record path (:func:`line_parser`), which gives each its outcome. Only what both
    paths read alike is read here, so the records are those the record path makes.

    None (no columnar reading) unless the split asks for it (``COLUMNAR``: no stage reads the
    records) and text, id and url are top-level keys; a stride item is read line by line."""
    if not sp.item.get(COLUMNAR) or sp.item.get("stride") or any(len(sp.fields[k]) != 1 for k in ("text", "id", "url")):
        return None
    (tk,), (ik,), (uk,) = sp.fields["text"], sp.fields["id"], sp.fields["url"]
    keys = tuple(dict.fromkeys((tk, ik, uk, "license", "source")))  # license and source: strings or absent
    parse_options = pj.ParseOptions(explicit_schema=pa.schema([(k, pa.string()) for k in keys]),
                                    unexpected_field_behavior="ignore")
    uri = sp.uri
    prefix = hashlib.blake2b(f"{uri}\x00".encode("utf-8"), digest_size=16)  # as records.make_doc_id

    def columns(index: int, data: bytes) -> pa.RecordBatch | None:
        # Each line's opening brackets. Every line must hold an object, its first bracket a '{'
        # (blank lines and lines without one never reach pyarrow: it mishandles a leading `null`),
        # and no line more brackets than orjson nests. With no blank line, pyarrow gives each
        # line at least one row; a line holding more than one value is caught by the row count.
        # (``data`` ends with a newline: a line without a bracket leaves "\n\n", one whose first
        # bracket is a '[' leaves "\n[", and the first line must start with its '{'.)
        structure = data.translate(None, _NOT_STRUCTURE)
        n = structure.count(b"\n")
        if data[:1] != b"{" or b"\n\n" in structure or b"\n[" in structure:
            return None
        if len(structure) - n > _MAX_NESTING and max(map(len, structure.split(b"\n"))) > _MAX_NESTING:
            return None
        buffer = pa.py_buffer(data)
        if not _utf8_valid(buffer):
            return None
        if _non_json_literal(data, _one_value(buffer)):
            return None
        try:
            table = pj.read_json(pa.BufferReader(buffer), parse_options=parse_options,
                                 read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1))
        except pa.ArrowInvalid:  # a duplicate key, a field of another type, invalid JSON, …
            return None
        if table.num_rows != n:  # a line holding more than one value
            return None
        text = table.column(tk).combine_chunks()
        if text.null_count or _blank(text):
            return None
        copy = prefix.copy
        ids = []
        for i in range(index, index + n):
            h = copy()
            h.update(b"%d" % i)
            ids.append(h.hexdigest())
        return pa.RecordBatch.from_arrays(
            [pa.array(ids, pa.string()), table.column(ik).combine_chunks(), pa.repeat(pa.scalar(uri), n),
             pa.array(np.arange(index, index + n, dtype=np.int64)), table.column(uk).combine_chunks(), text],
            schema=INGEST_SCHEMA,
        )

    return columns


class _ColumnBatches:
    """Ingest-schema record batches cut into the record path's batches: ``size`` rows each (the
    last one of a read shorter), so each step after ingest sees the same batches either way."""

    def __init__(self, size: int):
        self._size = size
        self._parts: list[pa.RecordBatch] = []
        self._rows = 0

    def add(self, part: pa.RecordBatch | list[dict]) -> Iterator[tuple[str, pa.RecordBatch]]:
        """``part``: a columnar block's records, or records of the record path (dicts)."""
        if type(part) is list:
            part = pa.RecordBatch.from_pylist(part, schema=INGEST_SCHEMA)
        self._parts.append(part)
        self._rows += part.num_rows
        while self._rows >= self._size:
            held = pa.Table.from_batches(self._parts, schema=INGEST_SCHEMA)
            yield RECORDS, pa.concat_batches(held.slice(0, self._size).to_batches())
            self._parts = held.slice(self._size).to_batches()
            self._rows -= self._size

    def rest(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        if self._rows:
            yield RECORDS, pa.concat_batches(self._parts)
        self._parts, self._rows = [], 0


def read_jsonl(sp: Split, read: Callable[[int], bytes], index: int, offset: int, counter: CountingReader) -> Iterator[tuple[str, Any]]:
    """Stream JSON lines from ``read`` (decompressed bytes starting at a line start).

    ``index``/``offset`` are the line number and byte offset (in the decompressed stream) of the
    first line. A file that fails part-way keeps what was read, then yields one ``unreadable_file``
    row for the line being read. Records come in batches of ``run.batch_size`` (the last one
    shorter): lists of record dicts, or ingest-schema Arrow record batches when the split is read
    as columns (:func:`columnar_reader`).
    """
    bs = sp.cfg.batch_size
    total = sp.item.get("size") if sp.item.get("end") is None else None
    splitter = LineSplitter(read, index, offset, sp.cfg.max_record_bytes, sp.window)
    parse = line_parser(sp)
    columns = columnar_reader(sp)
    column_batches = _ColumnBatches(bs) if columns is not None else None

    def out(records: list[dict], last: bool = False) -> Iterator[tuple[str, Any]]:
        """A batch of records of the record path (``last``: the read's last), as this read yields them."""
        if column_batches is None:
            if records:
                yield RECORDS, records
            return
        if records:
            yield from column_batches.add(records)
        if last:
            yield from column_batches.rest()

    batch: list[dict] = []
    seen = sp.seen  # a stride item reads several windows into one split
    in_block = False  # True while the lines of a block are handled (not while reading)
    try:
        for index, offset, lines in splitter.blocks(whole=columns is not None):
            in_block = True
            if type(lines) is bytes:
                records = columns(index, lines)
                if records is not None:
                    if batch:  # arrival order is file order
                        yield from column_batches.add(batch)
                        batch = []
                    yield from column_batches.add(records)
                    seen += records.num_rows
                    sp.seen = seen
                    sp.progress(counter.bytes, total)
                    in_block = False
                    continue
                lines = split_lines(lines)
            for line in lines:
                if type(line) is bytes:
                    n = len(line)
                    if n and not line.isspace():
                        seen += 1
                        record = parse(index, offset, line)
                        if record is not None:
                            batch.append(record)
                            if len(batch) >= bs:
                                yield from out(batch)
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
        yield from out(batch, last=True)
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
    yield from out(batch, last=True)
    yield from sp.flush_side()


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
