"""Ingest: input URIs → batches of records, quarantine rows, ingest decisions and per-file stats.

Driver side, :func:`expand_inputs` turns ``--input`` values (local paths, directories, globs, or any
Beam filesystem URI such as ``gs://`` / ``s3://``) into a sorted list of files with their format and
compression, from metadata only.

Worker side, :class:`ReadInputs` plans splits (large uncompressed JSONL files become newline-aligned
byte ranges; every other file is one split), reshuffles them so splits are read in parallel, and
streams each split: nothing is ever loaded whole. Every input record yields exactly one of

* a record (``records.new_record`` fields) in a batch on the main output ``records``;
* a quarantine row (``quarantine``) and its decisions row (``decisions``), reason one of
  ``parse_error``, ``not_an_object``, ``missing_text``, ``text_not_string``, ``invalid_utf8``,
  ``record_too_large``, ``unreadable_record`` (WARC: a damaged stretch, reading resumed after
  it), ``unreadable_file``;
* an ``ingest``/``empty`` drop decision (``decisions``) for empty or whitespace-only text.

A file that fails part-way (a truncated ``.gz``, a corrupt Parquet footer, a WARC cut short) keeps
what was read before the failure and then yields ONE ``unreadable_file`` quarantine row at the next
record index; the run goes on (a damaged WARC is read past its damage: :class:`_WarcReader`).
Compressed inputs inflate in bounded steps (:class:`_Inflater`) and over-long records stream past
without being held, so memory does not depend on the input. The ``inputs`` output carries
per-split stats ``{"uri", "records", "bytes", "sha256"}``; bytes and sha256 (of the file as
stored) are set on exactly one row per file.

JSONL ``record_index`` is the 0-based line number (blank lines counted, but a blank line is not a
record); Parquet's is the row number; WARC's is the WARC record's position in the file (every WARC
record counted: warcinfo, request, response, ...; an unreadable stretch counts as one); ``.txt``
files are one record (index 0).
``doc_id`` is a hash of (uri, record_index), so it is identical whether or not a file was split.
"""
from __future__ import annotations

import bisect
import functools
import glob
import gzip
import hashlib
import logging
import os
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

import apache_beam as beam
import orjson
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, RunConfig
from pipeline.records import (
    DROP,
    Reason,
    decision_row,
    new_record,
    quarantine_decision,
    quarantine_row,
)

_LOG = logging.getLogger("pipeline.ingest")

RECORDS = "records"
QUARANTINE = "quarantine"
DECISIONS = "decisions"
INPUTS = "inputs"
STAGE = "ingest"

FORMAT_EXTS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".txt": "txt", ".parquet": "parquet", ".warc": "warc"}
COMPRESSION_EXTS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_GLOB_CHARS = set("*?[")
_READ_BLOCK = 1 << 20  # bytes per read() of a JSONL stream
_HASH_BLOCK = 8 << 20
_BOM = b"\xef\xbb\xbf"
# A quarantine row keeps ``run.quarantine_raw_bytes`` of raw bytes; with PII on, a window this much
# longer travels with it (key RAW_WINDOW) so the excerpt is scrubbed before it is cut: a value
# straddling the cut is found whole and replaced, never left half-visible.
EXCERPT_SCRUB_MARGIN = 1024
RAW_WINDOW = "_raw_window"


class InputError(ConfigError):
    """An ``--input`` that matches nothing or names an unsupported file (a usage error, exit 2)."""


# --- driver side: inputs → files ---------------------------------------------------------------
def detect_format(name: str) -> tuple[str, str | None] | None:
    """``(format, compression)`` from a file name, or None when unsupported.

    ``.gz``/``.zst`` are stripped first, so ``x.jsonl.zst`` is zstd JSONL and ``x.warc.gz`` is a
    gzip WARC (warcio reads its per-record gzip members itself).
    """
    base = name.rsplit("/", 1)[-1].lower()
    stem, ext = os.path.splitext(base)
    compression = COMPRESSION_EXTS.get(ext)
    if compression:
        stem, ext = os.path.splitext(stem)
    fmt = FORMAT_EXTS.get(ext)
    if fmt is None:
        return None
    return fmt, compression


def _has_glob(uri: str) -> bool:
    return any(c in _GLOB_CHARS for c in uri)


def _local_files(uri: str) -> tuple[list[tuple[str, int]], bool] | None:
    """Local matches as ``[(abs path, size)]`` and whether the file was named explicitly."""
    path = os.path.abspath(os.path.expanduser(uri[7:] if uri.startswith("file://") else uri))
    if os.path.isfile(path):
        return [(path, os.path.getsize(path))], True
    if os.path.isdir(path):
        roots = [path]
    elif _has_glob(path):
        roots = sorted(glob.glob(path, recursive=True))
    else:
        return None
    found = []
    for root in roots:
        if os.path.isfile(root):
            found.append((os.path.abspath(root), os.path.getsize(root)))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if os.path.isfile(full):
                    found.append((os.path.abspath(full), os.path.getsize(full)))
    return found, False


def _remote_files(uri: str) -> tuple[list[tuple[str, int]], bool]:
    """Matches through Beam's FileSystems (gs://, s3://, ...): a file, a glob, or a prefix/folder."""
    try:
        if _has_glob(uri):
            result = FileSystems.match([uri])[0]
            return [(m.path, m.size_in_bytes) for m in result.metadata_list], False
        result = FileSystems.match([uri])[0]
        exact = [(m.path, m.size_in_bytes) for m in result.metadata_list if m.path == uri]
        if exact:
            return exact, True
        result = FileSystems.match([uri.rstrip("/") + "/**"])[0]
        return [(m.path, m.size_in_bytes) for m in result.metadata_list if not m.path.endswith("/")], False
    except Exception as exc:  # noqa: BLE001 - a filesystem error names the input, never a traceback
        raise InputError(f"--input {uri}: cannot list ({type(exc).__name__}: {str(exc)[:200]})") from None


def expand_inputs(uris: list[str]) -> list[dict]:
    """``--input`` values → sorted, de-duplicated ``[{"uri", "size", "format", "compression"}]``.

    Local paths become absolute (so ``doc_id`` does not depend on the working directory).
    Directories are walked recursively; files with unsupported extensions inside a directory or a
    glob are skipped with one warning listing them; an explicitly named unsupported file, or an
    input that matches no supported file, raises :class:`InputError`.
    """
    files: dict[str, dict] = {}
    for uri in uris:
        if FileSystems.get_scheme(uri) not in (None, "file"):
            matched, explicit = _remote_files(uri)
        else:
            local = _local_files(uri)
            if local is None:
                raise InputError(f"--input {uri}: no such file, directory or matching glob")
            matched, explicit = local
        supported, skipped = [], []
        for path, size in matched:
            kind = detect_format(path)
            if kind is None:
                skipped.append(path)
            else:
                supported.append({"uri": path, "size": int(size), "format": kind[0], "compression": kind[1]})
        if explicit and skipped:
            raise InputError(
                f"--input {uri}: unsupported file type (supported: .jsonl, .json, .txt, .parquet, .warc, "
                "optionally with .gz or .zst)"
            )
        if skipped:
            shown = ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
            _LOG.warning("--input %s: skipping %d file(s) of unsupported type: %s", uri, len(skipped), shown)
        if not supported:
            raise InputError(f"--input {uri}: matches no supported input file")
        for f in supported:
            files[f["uri"]] = f
    return [files[k] for k in sorted(files)]


# --- streams -----------------------------------------------------------------------------------
class _CountingReader:
    """Wraps a raw (as stored) stream: counts bytes read and, optionally, hashes them."""

    def __init__(self, raw, hashing: bool = True, limit: int | None = None):
        self._raw = raw
        self._sha = hashlib.sha256() if hashing else None
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
                self._sha.update(data)
            if self._left is not None:
                self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read the rest so the hash and byte count cover the whole file."""
        while self.read(_HASH_BLOCK):
            pass

    def sha256(self) -> str | None:
        return self._sha.hexdigest() if self._sha is not None else None

    def close(self) -> None:
        self._raw.close()


class _Inflater:
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


class _GzipReader(_Inflater):
    def __init__(self, src):
        import zlib

        super().__init__(src)
        self._zlib = zlib

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


class _ZstdReader(_Inflater):
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


def _open_raw(uri: str):
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def _decompressed(counting: _CountingReader, compression: str | None):
    """A readable byte stream over the decompressed content (incremental, never whole)."""
    if compression is None:
        return counting
    if compression == "gzip":
        return _GzipReader(counting)
    if compression == "zstd":
        return _ZstdReader(counting)
    raise ValueError(f"unknown compression {compression}")


class ReadError(Exception):
    """A failure ingest itself detected; its message is composed of counts and fixed words only."""


def _safe_message_types() -> tuple[type, ...]:
    import zlib

    import zstandard

    # Decoders and the OS word their errors themselves (fixed texts, offsets, the path already in
    # ``source_uri``); other libraries' messages may quote what they were parsing.
    return (ReadError, EOFError, OSError, zlib.error, zstandard.ZstdError)


def _error_text(exc: BaseException) -> str:
    """The exception type, and its message only when it cannot quote record content: a parser's
    message (pyarrow, warcio, ...) may carry a column name, a header line or a value."""
    name = type(exc).__name__
    if not isinstance(exc, _safe_message_types()) or type(exc).__module__.startswith(("pyarrow", "warcio")):
        return name
    msg = str(exc).replace("\n", " ")[:200]
    return f"{name}: {msg}" if msg else name


def _stringify(value: Any) -> Any:
    """Optional string fields: strings stay, None stays, anything else becomes its JSON text."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    try:
        return orjson.dumps(value, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


# --- per-split context -------------------------------------------------------------------------
class _Split:
    """State of one split being read: the record factory, side rows, counters and progress."""

    def __init__(self, item: dict, cfg: RunConfig, run_id: str):
        self.uri: str = item["uri"]
        self.item = item
        self.cfg = cfg
        self.run_id = run_id
        self.seen = 0  # input records seen (kept + dropped + quarantined)
        self.side: list[tuple[str, dict]] = []  # (tag, row) waiting to be emitted
        self.make = record_factory(self.uri)
        self._started = self._last_log = time.monotonic()
        self.window = cfg.quarantine_raw_bytes + EXCERPT_SCRUB_MARGIN  # raw bytes worth keeping
        self._where = self.uri if item.get("end") is None else f"{self.uri} [bytes {item['start']}-{item['end']}]"

    # -- outcomes other than a kept record ------------------------------------------------------
    def quarantine(self, index: int | None, offset: int | None, reason: str, error: str, raw: bytes | None) -> None:
        q = quarantine_row(
            source_uri=self.uri,
            record_index=index,
            offset=offset,
            reason=reason,
            error=error,
            raw=raw,
            raw_limit=self.cfg.quarantine_raw_bytes,
            run_id=self.run_id,
        )
        if raw and len(raw) > self.cfg.quarantine_raw_bytes:
            q[RAW_WINDOW] = raw[: self.window]  # for the excerpt scrubber; never written
        self.side.append((QUARANTINE, q))
        self.side.append((DECISIONS, quarantine_decision(q, stage=STAGE)))

    def empty(self, record: dict) -> None:
        self.side.append((DECISIONS, decision_row(record, action=DROP, stage=STAGE, reason=Reason.EMPTY, run_id=self.run_id)))

    def flush_side(self) -> Iterator[tuple[str, Any]]:
        if self.side:
            rows, self.side = self.side, []
            yield from rows

    def progress(self, nbytes: int, total: int | None = None) -> None:
        now = time.monotonic()
        if now - self._last_log < self.cfg.progress_seconds:
            return
        self._last_log = now
        mb = nbytes / 1e6
        rate = mb / max(now - self._started, 1e-9)
        of = f" of {total / 1e6:.1f} MB ({100.0 * nbytes / total:.0f}%)" if total else " MB"
        _LOG.info("ingest %s: %d records, %.1f%s, %.1f MB/s", self._where, self.seen, mb, of, rate)

    def stats(self, nbytes: int | None, sha256: str | None) -> dict:
        return {"uri": self.uri, "records": self.seen, "bytes": nbytes, "sha256": sha256}


def record_factory(uri: str) -> Callable[..., dict]:
    """A fast equivalent of ``new_record(source_uri=uri, ...)`` for one file.

    The blake2b state of the ``uri`` prefix of ``make_doc_id`` is computed once and copied per
    record, and the record starts as a copy of a ``new_record`` template (fresh containers for its
    mutable fields), so the result is equal to ``new_record``'s — a unit test holds it to that.
    """
    template = new_record(source_uri=uri, record_index=0, text="")
    fresh = tuple((k, type(v)) for k, v in template.items() if isinstance(v, (dict, list)))
    prefix = hashlib.blake2b(f"{uri}\x00".encode("utf-8"), digest_size=16)
    copy_prefix = prefix.copy

    def make(
        index: int,
        text: str,
        source_id: str | None = None,
        url: str | None = None,
        license: str | None = None,
        source: str | None = None,
        meta: Any = None,
        http_headers: dict | None = None,
        html_meta: dict | None = None,
    ) -> dict:
        h = copy_prefix()
        h.update(b"%d" % index)
        r = template.copy()
        r["doc_id"] = h.hexdigest()
        r["record_index"] = index
        r["text"] = text
        r["source_id"] = source_id
        r["url"] = url
        r["_declared_license"] = license
        r["_source"] = source
        r["_meta"] = meta
        for k, t in fresh:
            r[k] = t()
        if http_headers:
            r["_http_headers"] = http_headers
        if html_meta:
            r["_html_meta"] = html_meta
        return r

    return make


# --- JSONL -------------------------------------------------------------------------------------
def _object_outcome(sp: _Split, index: int, offset: int, line: bytes, obj: Any) -> dict | None:
    """The slow path of a parsed line: a record, or None after recording its other outcome."""
    if type(obj) is not dict:
        sp.quarantine(index, offset, Reason.NOT_AN_OBJECT, f"line holds a JSON {type(obj).__name__}, not an object", line)
        return None
    text = obj.get("text")
    if text is None:
        sp.quarantine(index, offset, Reason.MISSING_TEXT, "no 'text' field", line)
        return None
    if type(text) is not str:
        sp.quarantine(index, offset, Reason.TEXT_NOT_STRING, f"'text' is a JSON {type(text).__name__}", line)
        return None
    g = obj.get
    record = sp.make(index, text, _stringify(g("id")), _stringify(g("url")), _stringify(g("license")), _stringify(g("source")), g("meta"))
    if not text or text.isspace():
        sp.empty(record)
        return None
    return record


def _bad_line(sp: _Split, index: int, offset: int, line: bytes, exc: Exception) -> None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as ue:
        sp.quarantine(index, offset, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start} of the line", line)
        return
    sp.quarantine(index, offset, Reason.PARSE_ERROR, f"invalid JSON: {getattr(exc, 'msg', None) or type(exc).__name__}", line)


def _too_large(sp: _Split, index: int, offset: int, head: bytes, size: int) -> None:
    sp.quarantine(index, offset, Reason.RECORD_TOO_LARGE, f"line of {size} bytes exceeds run.max_record_bytes={sp.cfg.max_record_bytes}", head)
    # the row reports the real size, not the excerpt's
    sp.side[-2][1]["raw_bytes"] = size
    sp.side[-2][1]["raw_truncated"] = size > len(sp.side[-2][1]["raw"])


def read_jsonl(sp: _Split, read: Callable[[int], bytes], index: int, offset: int, counter: _CountingReader) -> Iterator[tuple[str, Any]]:
    """Stream JSON lines from ``read`` (decompressed bytes starting at a line start).

    ``index``/``offset`` are the line number and byte offset (in the decompressed stream) of the
    first line. Memory is bounded by one read block plus ``max_record_bytes``: a longer line is
    skipped as it streams, keeping only its first ``quarantine_raw_bytes`` (plus the scrub margin).
    """
    cfg = sp.cfg
    maxb = cfg.max_record_bytes
    qraw = sp.window
    bs = cfg.batch_size
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    make = sp.make
    batch: list[dict] = []
    parts: list[bytes] = []  # pieces of the current, still incomplete line
    plen = 0
    skipping = False  # inside a line longer than max_record_bytes
    skip_head = b""
    skip_len = 0
    seen = 0
    first = offset == 0
    try:
        while True:
            block = read(_READ_BLOCK)
            if not block:
                break
            if first:
                first = False
                if block.startswith(_BOM):
                    block = block[3:]
                    offset += 3
            nl = block.find(b"\n")
            if nl < 0:
                if skipping:
                    skip_len += len(block)
                else:
                    parts.append(block)
                    plen += len(block)
                    if plen > maxb:
                        skip_head = b"".join(parts)[:qraw]
                        skip_len, parts, plen, skipping = plen, [], 0, True
                continue
            if skipping:
                skip_len += nl
                seen += 1
                _too_large(sp, index, offset, skip_head, skip_len)
                offset += skip_len + 1
                index += 1
                skipping, skip_head, skip_len = False, b"", 0
                data = block[nl + 1 :]
            elif parts:
                parts.append(block)
                data = b"".join(parts)
                parts, plen = [], 0
            else:
                data = block
            lines = data.split(b"\n")
            last = lines.pop()
            for line in lines:
                n = len(line)
                if n and not line.isspace():
                    seen += 1
                    if n > maxb:
                        _too_large(sp, index, offset, line[:qraw], n)
                    else:
                        try:
                            obj = loads(line)
                        except JSONDecodeError as exc:
                            _bad_line(sp, index, offset, line, exc)
                        else:
                            text = obj.get("text") if type(obj) is dict else None
                            if type(text) is str and text and not text.isspace():
                                g = obj.get
                                sid, url, lic, src = g("id"), g("url"), g("license"), g("source")
                                if (sid is None or type(sid) is str) and (url is None or type(url) is str) and (
                                    lic is None or type(lic) is str
                                ) and (src is None or type(src) is str):
                                    batch.append(make(index, text, sid, url, lic, src, g("meta")))
                                else:
                                    batch.append(make(index, text, _stringify(sid), _stringify(url), _stringify(lic), _stringify(src), g("meta")))
                                if len(batch) >= bs:
                                    yield RECORDS, batch
                                    batch = []
                            else:
                                record = _object_outcome(sp, index, offset, line, obj)
                                if record is not None:  # pragma: no cover - the fast path took it
                                    batch.append(record)
                index += 1
                offset += n + 1
            if last:
                parts, plen = [last], len(last)
                if plen > maxb:
                    skip_head, skip_len, parts, plen, skipping = last[:qraw], plen, [], 0, True
            sp.seen = seen
            if sp.side:
                yield from sp.flush_side()
            sp.progress(counter.bytes, sp.item.get("size") if sp.item.get("end") is None else None)
    except Exception as exc:  # noqa: BLE001 - a file that fails mid-way: keep what was read, then one row
        if batch:
            yield RECORDS, batch
            batch = []
        seen += 1
        raw = skip_head if skipping else b"".join(parts)[:qraw]
        sp.seen = seen
        sp.quarantine(index, offset, Reason.UNREADABLE_FILE, _error_text(exc), raw)
        yield from sp.flush_side()
        return
    # end of stream: a last line without a newline is still a record
    if skipping:
        seen += 1
        _too_large(sp, index, offset, skip_head, skip_len)
    elif parts:
        line = b"".join(parts)
        if not line.isspace():
            seen += 1
            try:
                obj = loads(line)
            except JSONDecodeError as exc:
                _bad_line(sp, index, offset, line, exc)
            else:
                record = _object_outcome(sp, index, offset, line, obj)
                if record is not None:
                    batch.append(record)
    sp.seen = seen
    if batch:
        yield RECORDS, batch
    yield from sp.flush_side()


# --- .txt --------------------------------------------------------------------------------------
def _read_txt(sp: _Split, stream, counter: _CountingReader) -> Iterator[tuple[str, Any]]:
    maxb = sp.cfg.max_record_bytes
    chunks, size = [], 0
    try:
        while True:
            block = stream.read(_READ_BLOCK)
            if not block:
                break
            size += len(block)
            if size > maxb:
                if not chunks or len(chunks[0]) < sp.window:
                    chunks.append(block)
                while True:  # count the rest without keeping it
                    more = stream.read(_READ_BLOCK)
                    if not more:
                        break
                    size += len(more)
                break
            chunks.append(block)
    except Exception as exc:  # noqa: BLE001
        sp.seen = 1
        sp.quarantine(0, 0, Reason.UNREADABLE_FILE, _error_text(exc), b"".join(chunks))
        return
    sp.seen = 1
    data = b"".join(chunks)
    if size > maxb:
        _too_large(sp, 0, 0, data[: sp.window], size)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ue:
        sp.quarantine(0, 0, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start}", data)
        return
    if text.startswith("\ufeff"):
        text = text[1:]
    record = sp.make(0, text)
    if not text or text.isspace():
        sp.empty(record)
    else:
        yield RECORDS, [record]


# --- Parquet -----------------------------------------------------------------------------------
PARQUET_FIELDS = ("text", "id", "url", "source", "license", "meta")


def _type_label(arrow_type) -> str:
    """``int64``, ``list``, ``struct``: a nested type's own text would list its field names."""
    return str(arrow_type).split("<", 1)[0]


def _row_raw(row: dict) -> bytes:
    return orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS)


def _split_oversized(column, maxb: int, window: int):
    """A string/binary ``text`` column → (the column with values over ``maxb`` bytes nulled, and
    ``{row: (first window bytes, size)}`` for those). Sizes come from Arrow's offsets, so an
    oversized value is never copied into a Python object whole."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return column, {}
    too_big = pc.greater(pc.binary_length(column), maxb)
    if not pc.any(too_big).as_py():
        return column, {}
    binary = pa.types.is_binary(t) or pa.types.is_large_binary(t)
    oversized = {}
    for row in pc.indices_nonzero(too_big).to_pylist():
        one = column.slice(row, 1)
        size = pc.binary_length(one)[0].as_py()
        head = (pc.binary_slice(one, 0, window) if binary else pc.utf8_slice_codeunits(one, 0, window))[0].as_py()
        oversized[row] = ((head if binary else head.encode("utf-8"))[:window], size)
    return pc.if_else(too_big, pa.scalar(None, t), column), oversized


def _read_parquet(sp: _Split, source) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = sp.cfg
    maxb = cfg.max_record_bytes
    index = 0
    batch: list[dict] = []
    make = sp.make
    try:
        pf = pq.ParquetFile(source)
        names = pf.schema_arrow.names
        if "text" not in names:
            sp.seen = 1
            sp.quarantine(
                0, None, Reason.MISSING_TEXT,
                # column names are the user's data too: counted, never quoted
                f"parquet file has no 'text' column ({len(names)} other columns); its {pf.metadata.num_rows} rows were not read",
                None,
            )
            yield from sp.flush_side()
            return
        cols = [c for c in PARQUET_FIELDS if c in names]
        text_type = pf.schema_arrow.field("text").type
        text_is_binary = pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)
        decoded = 0  # Arrow bytes decoded so far (progress)
        for rb in pf.iter_batches(batch_size=cfg.batch_size, columns=cols):
            n = rb.num_rows
            text_column, oversized = _split_oversized(rb.column("text"), maxb, sp.window)
            columns = {c: (text_column if c == "text" else rb.column(c)).to_pylist() for c in cols}
            none = [None] * n
            texts = columns["text"]
            ids = columns.get("id", none)
            urls = columns.get("url", none)
            sources = columns.get("source", none)
            licenses = columns.get("license", none)
            metas = columns.get("meta", none)
            for i in range(n):
                text = texts[i]
                idx = index + i
                sp.seen += 1
                if i in oversized:
                    _too_large(sp, idx, None, *oversized[i])
                    continue
                if text is None:
                    sp.quarantine(idx, None, Reason.MISSING_TEXT, "'text' is null", _row_raw({c: columns[c][i] for c in cols}))
                    continue
                if text_is_binary and type(text) is bytes:
                    if len(text) > maxb:
                        _too_large(sp, idx, None, text[: sp.window], len(text))
                        continue
                    try:
                        text = text.decode("utf-8")
                    except UnicodeDecodeError as ue:
                        sp.quarantine(idx, None, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start} of 'text'", text)
                        continue
                elif type(text) is not str:
                    sp.quarantine(idx, None, Reason.TEXT_NOT_STRING, f"'text' column is {_type_label(text_type)}", _row_raw({c: columns[c][i] for c in cols}))
                    continue
                if len(text) * 4 > maxb:
                    size = len(text.encode("utf-8"))
                    if size > maxb:
                        _too_large(sp, idx, None, text[: sp.window].encode("utf-8")[: sp.window], size)
                        continue
                record = make(idx, text, _stringify(ids[i]), _stringify(urls[i]), _stringify(licenses[i]), _stringify(sources[i]), metas[i])
                if not text or text.isspace():
                    sp.empty(record)
                    continue
                batch.append(record)
                if len(batch) >= cfg.batch_size:
                    yield RECORDS, batch
                    batch = []
            index += n
            yield from sp.flush_side()
            decoded += rb.nbytes
            sp.progress(decoded, None)
    except Exception as exc:  # noqa: BLE001 - corrupt or unreadable: keep what was read, then one row
        if batch:
            yield RECORDS, batch
            batch = []
        sp.seen += 1
        sp.quarantine(index, None, Reason.UNREADABLE_FILE, _error_text(exc), None)
    if batch:
        yield RECORDS, batch
    yield from sp.flush_side()


def _spool(stream):
    """A compressed Parquet file decompressed to a temporary file (Parquet needs random access)."""
    tmp = tempfile.TemporaryFile(prefix="curate-ingest-")
    while True:
        block = stream.read(_HASH_BLOCK)
        if not block:
            break
        tmp.write(block)
    tmp.seek(0)
    return tmp


def _hash_file(uri: str) -> tuple[int | None, str | None]:
    try:
        with _open_raw(uri) as fh:
            counter = _CountingReader(fh)
            counter.drain()
            return counter.bytes, counter.sha256()
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("ingest %s: cannot hash file: %s", uri, _error_text(exc))
        return None, None


# --- WARC --------------------------------------------------------------------------------------
_RESYNC_BLOCK = 1 << 20  # bytes read at a time while looking for the next record start
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGIC = b"WARC/1."


class ShortRecord(ReadError):
    """A WARC record whose block ends before its Content-Length."""


WARC_HEADER_MIN_LIMIT = 1 << 20


class HeaderTooLarge(ReadError):
    """A WARC record whose header lines run past the header bound."""


@functools.lru_cache(maxsize=None)
def _bounded_line_reader():
    """warcio's buffered reader whose line reads stop at ``header_limit`` bytes in a row."""
    from warcio.bufferedreaders import DecompressingBufferedReader

    class BoundedLines(DecompressingBufferedReader):
        header_limit = WARC_HEADER_MIN_LIMIT
        in_lines = 0  # bytes read by readline since the last read()

        def read(self, length=None):
            self.in_lines = 0
            return super().read(length)

        def readline(self, length=None):
            room = self.header_limit - self.in_lines + 1
            line = super().readline(room if length is None else min(length, room))
            self.in_lines += len(line)
            if self.in_lines > self.header_limit:
                raise HeaderTooLarge(f"WARC record header lines exceed {self.header_limit} bytes")
            return line

    return BoundedLines


def _archive_iterator(stream, header_limit: int, decompressed: bool = False):
    """warcio's ``ArchiveIterator`` whose line reads (record and HTTP headers, the blank lines
    between records) stop at ``header_limit`` bytes in a row (``max(run.max_record_bytes, 1 MiB)``):
    warcio keeps header lines whole in memory, so a header that never ends would be held whole."""
    from warcio.archiveiterator import ArchiveIterator

    it = ArchiveIterator(stream)
    # decompressed: gzip members already inflated here, so warcio need not try to inflate them
    it.reader = _bounded_line_reader()(it.fh, block_size=it.reader.block_size, decomp_type=None if decompressed else "gzip")
    it.reader.header_limit = header_limit
    return it


class _QuietSys:
    """What warcio's modules see as ``sys``: the real module, except that ``stderr`` discards.
    warcio writes a record's bytes to stderr on some errors (``Remainder: b'...'``) and a decoder's
    message on others; no record byte may reach the run's stderr, so its writes go nowhere."""

    class _Discard:
        def write(self, text) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    stderr = _Discard()

    def __getattr__(self, name):
        return getattr(sys, name)


def _silence_warcio() -> None:
    """Point warcio's stderr writes at a sink and its logger (which quotes target URIs) above
    CRITICAL: targeted at warcio's modules, so other threads' stderr is untouched."""
    import warcio.archiveiterator
    import warcio.bufferedreaders
    import warcio.digestverifyingreader

    for module in (warcio.archiveiterator, warcio.bufferedreaders, warcio.digestverifyingreader):
        if not isinstance(module.sys, _QuietSys):
            module.sys = _QuietSys()
    logging.getLogger("warcio").setLevel(logging.CRITICAL + 1)


def _header_dict(pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.strip().lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class _GzipMembers(_GzipReader):
    """The gzip members of a WARC one at a time, so each is parsed on its own and a bad member costs
    only itself: ``read`` ends at the end of the current member; :meth:`next_member` moves on. The
    source is a :class:`_CountingReader` whose first byte is at raw offset ``start``."""

    def __init__(self, src: _CountingReader, start: int = 0, joined: bool = False):
        super().__init__(src)
        self._start = start
        # joined: members run on as one stream (records that span members, as some writers cut
        # them); (decoded offset, raw offset) of each member start maps warcio's offsets back
        self.joined = joined
        self._decoded = 0  # bytes decoded so far
        self._member_decoded = 0  # ... when the current member started
        self._starts: list[tuple[int, int]] = [(0, start)]
        self._open = False  # a member has been started and not yet finished
        self.current = start  # raw offset of the member being read (or of the bytes that failed)
        self.broken = False  # the compressed data failed: corrupt, cut short, or not gzip
        self.failure: BaseException | None = None  # why (warcio swallows an EOFError mid-record)

    def raw_offset(self) -> int:
        return self._start + self._src.bytes - (len(self._pending) - self._pos)

    def _fill(self) -> None:
        try:
            super()._fill()
        except Exception as exc:
            self.broken, self.failure = True, exc
            raise

    def _step(self, data: bytes) -> tuple[bytes, int]:
        out, used = super()._step(data)
        self._decoded += len(out)
        return out, used

    def _member_end(self) -> None:
        if not self.joined:
            self._eof = True  # read() returns b"" until next_member()
            return
        self._starts.append((self._decoded, self.raw_offset()))
        if len(self._starts) > 4096:  # records are read in order: old starts are never asked for
            del self._starts[:2048]

    def locate(self, decoded_offset: int) -> int:
        """Raw offset of the member holding a decoded byte (the current member when not joined)."""
        if not self.joined:
            return self.current
        i = bisect.bisect_right(self._starts, (decoded_offset, float("inf"))) - 1
        return self._starts[max(i, 0)][1]

    def next_member(self) -> int | None:
        """Finish the current member and start the next: its raw offset, or None at the end.
        Raises (with :attr:`broken` set) when the data is not gzip or the member is corrupt."""
        if self._open:
            while self.read(self._OUT):
                pass
        self._open = False
        self._buf.clear()
        self._eof = False
        while len(self._pending) - self._pos < len(_GZIP_MAGIC):
            chunk = self._src.read(self._IN)
            if not chunk:
                break
            self._pending, self._pos = self._pending[self._pos :] + chunk, 0
        self.current = self.raw_offset()
        rest = self._pending[self._pos :]
        if not rest:
            return None
        if not rest.startswith(b"\x1f\x8b"):
            while not rest.strip(b"\x00"):  # zero padding after the last member ends the file
                rest = self._src.read(self._IN)
                if not rest:
                    return None
            self.broken = True
            self.failure = ReadError("bytes that are not a gzip member")
            raise self.failure
        self._open = True
        self._member_decoded = self._decoded
        return self.current

    def member_size(self) -> int:
        """Bytes the current member has decoded to so far (all of it once read to its end)."""
        return self._decoded - self._member_decoded


def _open_at(uri: str, offset: int):
    fh = _open_raw(uri)
    try:
        fh.seek(offset)
    except Exception:  # noqa: BLE001 - a stream that cannot seek is read forward
        left = offset
        while left > 0:
            skipped = fh.read(min(left, _RESYNC_BLOCK))
            if not skipped:
                break
            left -= len(skipped)
    return fh


def _plausible_member(data: bytes) -> bool:
    import zlib

    try:
        zlib.decompressobj(wbits=31).decompress(data, 1 << 16)
    except zlib.error:
        return False
    return True


def _resync(uri: str, after: int, gz: bool) -> int | None:
    """Raw offset of the first plausible record start at or after ``after``: a gzip member whose
    first bytes decompress, or a ``WARC/1.`` line (one that directly follows ``after`` with only
    blank space between is the failed record's own header, and is passed over). None: no more."""
    magic = _GZIP_MAGIC if gz else _WARC_MAGIC
    with _open_at(uri, after) as fh:
        base, data = after, b""
        while True:
            block = fh.read(_RESYNC_BLOCK)
            if not block:
                return None
            data += block
            i = data.find(magic)
            while i >= 0:
                if gz:
                    if len(data) - i < (64 << 10):
                        data += fh.read(64 << 10)  # enough to try the member's start
                    if _plausible_member(data[i : i + (64 << 10)]):
                        return base + i
                elif base + i == 0 or data[i - 1 : i] == b"\n":
                    if not (base == after and not data[:i].strip()):
                        return base + i
                i = data.find(magic, i + 1)
            keep = len(magic)
            base += len(data) - keep
            data = data[-keep:]


class _WarcReader:
    """One WARC file → records, drops and quarantine rows.

    warcio parses the records. A ``.warc.gz`` is decompressed member by member here and each member
    parsed on its own, so a file warcio refuses as a whole (a multi-record member, a corrupt or cut
    member in the middle) still gives every record of its readable members. When the data itself
    fails (a corrupt member; in a plain ``.warc`` an unparsable record), one quarantine row stands
    for the unreadable stretch and reading resumes at the next plausible record start
    (:func:`_resync`). Such a row is ``unreadable_record`` when something after it was read, else
    ``unreadable_file`` (the rest of the file was lost, as with a file cut short).
    """

    def __init__(self, sp: _Split):
        from pipeline.io import html as html_mod

        _silence_warcio()
        self.sp = sp
        self.html = html_mod
        self.position = 0  # WARC record position in the file; an unreadable stretch counts as one
        self.end = 0  # offset just after the last complete record (gzip: of its member)
        self.decoded_end = 0
        self.skipped = 0
        self._replayed = 0  # records below this index were read before a re-read; not emitted again
        # header lines are never a document: a bound no smaller than 1 MiB, whatever max_record_bytes
        self.header_limit = max(sp.cfg.max_record_bytes, WARC_HEADER_MIN_LIMIT)
        self.batch: list[dict] = []
        self._loss: tuple[int, int | None, str, bool] | None = None  # the last unreadable stretch, not yet written
        self.on_record: Callable[[int, int, Any], None] | None = None  # (index, offset, warcio record): for evaluation

    # -- outcomes ------------------------------------------------------------------------------
    def lost(self, offset: int | None, exc: BaseException) -> None:
        self._settle(Reason.UNREADABLE_RECORD)
        self._loss = (self.position, offset, _error_text(exc), isinstance(exc, HeaderTooLarge))
        self.position += 1

    def _settle(self, reason: str) -> None:
        if self._loss is not None:
            index, offset, error, too_large = self._loss
            self._loss = None
            self.sp.seen += 1
            self.sp.quarantine(index, offset, Reason.RECORD_TOO_LARGE if too_large else reason, error, None)

    def finish(self) -> Iterator[tuple[str, Any]]:
        self._settle(Reason.UNREADABLE_FILE)
        if self.skipped:
            _LOG.debug("ingest %s: skipped %d non-HTML, non-2xx or non-response WARC records", self.sp.uri, self.skipped)
        if self.batch:
            yield RECORDS, self.batch
            self.batch = []
        yield from self.sp.flush_side()

    def pages(self, it, locate: Callable[[int], int]) -> Iterator[tuple[str, Any]]:
        """The records of one warcio iterator; ``locate`` maps warcio's offset (in the bytes it was
        given) to the record's offset in the file (a plain WARC: the byte; gzip: the member's)."""
        sp = self.sp
        for rec in it:
            self._settle(Reason.UNREADABLE_RECORD)
            if sp.side:
                yield from sp.flush_side()
            if len(self.batch) >= sp.cfg.batch_size:
                yield RECORDS, self.batch
                self.batch = []
            index = self.position
            if index < self._replayed:  # already read before a re-read across members
                self.position = index + 1
                continue
            try:
                self._record(rec, it, index, locate)
            except Exception:
                self.position = index  # the failed record's index goes to its quarantine row
                raise
            self.position = index + 1

    def _record(self, rec, it, index: int, locate: Callable[[int], int]) -> None:
        sp, html_mod = self.sp, self.html
        cfg = sp.cfg
        maxb = cfg.max_record_bytes
        if rec.format != "warc":  # warcio reads a stray line as an ARC header: not a WARC record
            raise ReadError("a record that is not WARC")
        http = rec.http_headers
        page = rec.rec_type == "response" and http is not None and (http.get_statuscode() or "").startswith("2")
        body = b""
        if page:
            ctype = http.get_header("Content-Type")
            body = rec.content_stream().read(maxb + 1)
            page = html_mod.is_html_content_type(ctype) if ctype else html_mod.looks_like_html(body)
        offset = it.get_record_offset()  # reads the record to its end: only after the body
        decoded_end = offset + it.get_record_length()  # in the bytes warcio was given
        missing = getattr(rec.raw_stream, "limit", 0)
        if missing:  # warcio ends a cut record quietly: a short record was not read whole
            raise ShortRecord(f"WARC record ends {missing} bytes before its Content-Length")
        if rec.rec_headers.get_header("Content-Length") is None:  # warcio also takes a header cut short
            raise ShortRecord("WARC record header without Content-Length")
        # only a record read whole moves the point reading resumes after
        self.decoded_end, self.end = decoded_end, locate(decoded_end)
        offset = locate(offset)
        if self.on_record is not None:
            self.on_record(index, offset, rec)
        if not page:
            self.skipped += 1
            return
        sp.seen += 1
        if len(body) > maxb:
            _too_large(sp, index, offset, body[: sp.window], len(body))
            return
        url = rec.rec_headers.get_header("WARC-Target-URI")
        headers = _header_dict(rec.http_headers.headers)
        try:
            text, meta = html_mod.extract(body, url)
        except Exception as exc:  # noqa: BLE001 - one page the extractor cannot handle
            sp.quarantine(index, offset, Reason.PARSE_ERROR, f"HTML extraction failed: {type(exc).__name__}", body)
            return
        record = sp.make(index, text, rec.rec_headers.get_header("WARC-Record-ID"), url, http_headers=headers, html_meta=meta)
        if not text or text.isspace():
            sp.empty(record)
            return
        self.batch.append(record)

    # -- layouts -------------------------------------------------------------------------------
    def read_members(self, counter: _CountingReader) -> Iterator[tuple[str, Any]]:
        members = _GzipMembers(counter)
        handles = []
        try:
            while members is not None:
                try:
                    start = members.next_member()
                    if start is None:
                        break
                except Exception as exc:  # noqa: BLE001 - the member before is corrupt, or junk follows it
                    if members.current == 0:  # not gzip at all: a plain WARC named .gz, as warcio reads it
                        handles.append(_open_at(self.sp.uri, 0))
                        yield from self.read_plain(_CountingReader(handles[-1], hashing=False))
                        return
                    start = None
                    self.lost(members.current, exc)
                if start is not None:
                    self.sp.progress(start, self.sp.item.get("size"))
                    first, self.decoded_end = self.position, 0
                    try:
                        # the member reaches warcio decompressed, as a plain WARC of its own records
                        yield from self.pages(_archive_iterator(members, self.header_limit, decompressed=True), members.locate)
                        if members.failure is not None:
                            raise members.failure
                        if not members.joined and members.member_size() - self.decoded_end > 4:
                            # warcio stops quietly at a record cut by the member's end
                            raise ShortRecord("a WARC record runs past the end of its gzip member")
                        continue
                    except ShortRecord as short:
                        if not members.joined and not members.broken:
                            # a record runs on past its member's end: read on across members from
                            # this member, as one stream (its records before the short one are
                            # not emitted twice)
                            self._replayed, self.position = self.position, first
                            handles.append(_open_at(self.sp.uri, start))
                            members = _GzipMembers(_CountingReader(handles[-1], hashing=False), start, joined=True)
                            continue
                        self.lost(max(self.end, start), members.failure or short)
                    except Exception as exc:  # noqa: BLE001 - this member's record(s) cannot be read
                        self.lost(max(self.end, start), exc)
                    if not members.broken and not members.joined:
                        continue  # the member's data is sound: go on with the next one
                # resume after the last record read whole (joined: members may hold several)
                resume = _resync(self.sp.uri, max(self.end, members.current) + 1, gz=True)
                members = None
                if resume is not None:
                    handles.append(_open_at(self.sp.uri, resume))
                    members = _GzipMembers(_CountingReader(handles[-1], hashing=False), resume)
        finally:
            for fh in handles:
                fh.close()
        yield from self.finish()

    def read_plain(self, counter: _CountingReader) -> Iterator[tuple[str, Any]]:
        stream, base, handle = counter, 0, None
        try:
            while stream is not None:
                try:
                    yield from self.pages(_archive_iterator(stream, self.header_limit), lambda offset, base=base: base + offset)
                    # warcio also stops quietly at a record cut inside its headers: bytes left after
                    # the last complete record mean a record that could not be read.
                    stream.drain()
                    leftover = base + stream.bytes - self.end
                    if leftover <= 4:
                        break
                    raise ReadError(f"{leftover} bytes after the last complete WARC record could not be read")
                except Exception as exc:  # noqa: BLE001 - an unparsable record: one row, then resume
                    self.lost(self.end, exc)
                resume = _resync(self.sp.uri, self.end, gz=False)
                stream = None
                if handle is not None:
                    handle.close()
                    handle = None
                if resume is not None:
                    handle = _open_at(self.sp.uri, resume)
                    stream, base, self.end = _CountingReader(handle, hashing=False), resume, resume
        finally:
            if handle is not None:
                handle.close()
        yield from self.finish()


def _read_warc(sp: _Split, counter: _CountingReader) -> Iterator[tuple[str, Any]]:
    reader = _WarcReader(sp)
    if sp.item.get("compression") == "gzip":
        yield from reader.read_members(counter)
    else:
        yield from reader.read_plain(counter)


# --- splits ------------------------------------------------------------------------------------
# Below this a split is not worth its own work item (planning, a shuffle element, a reader).
MIN_SPLIT_BYTES = 4 * 1024 * 1024
SPLITS_PER_WORKER = 2  # more items than workers, so one slow range does not leave a worker idle


def split_size(file_bytes: int, split_bytes: int, workers: int = 0) -> int:
    """Byte size of one split of a file. ``split_bytes`` caps it; when the number of workers is
    known (local multi-worker runs) a file is also cut into about ``SPLITS_PER_WORKER`` ranges per
    worker (not below ``MIN_SPLIT_BYTES``), so a 30 MB file keeps two workers busy instead of one."""
    if workers <= 1:
        return split_bytes
    share = -(-file_bytes // (workers * SPLITS_PER_WORKER))
    return max(1, min(split_bytes, max(MIN_SPLIT_BYTES, share)))


def plan_splits(f: dict, cfg: RunConfig, workers: int = 0) -> Iterator[dict]:
    """Work items for one file. An uncompressed JSONL file larger than one split (see
    :func:`split_size`) is scanned once (newline counts per block, and its sha256) into
    newline-aligned byte ranges, each with the line number at its start; everything else is one
    item read from the start."""
    whole = whole_file_item(f)
    step = split_size(f["size"], cfg.split_bytes, workers)
    if not (f["format"] == "jsonl" and f["compression"] is None and f["size"] > step):
        yield whole
        return
    try:
        starts = [(0, 0)]  # (byte offset, line number) of each chunk start
        sha = hashlib.sha256()
        pos = 0  # absolute offset of the current block
        lines_before = 0  # newlines before the current block
        target = step
        with _open_raw(f["uri"]) as fh:
            while True:
                block = fh.read(_HASH_BLOCK)
                if not block:
                    break
                sha.update(block)
                end = pos + len(block)
                while target - 1 < end:
                    nl = block.find(b"\n", max(target - 1 - pos, 0))
                    if nl < 0:
                        break  # the boundary's newline is in a later block
                    start = pos + nl + 1
                    starts.append((start, lines_before + block.count(b"\n", 0, nl + 1)))
                    target = start + step
                lines_before += block.count(b"\n")
                pos = end
        size = pos
    except Exception as exc:  # noqa: BLE001 - the reader will report the file as unreadable
        _LOG.warning("ingest %s: cannot plan splits (%s); reading it whole", f["uri"], _error_text(exc))
        yield whole
        return
    starts = [s for s in starts if s[0] < size] or [(0, 0)]
    for i, (start, line) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else size
        yield {
            **f,
            "start": start,
            "end": end,
            "first_index": line,
            "sha256": sha.hexdigest() if i == 0 else None,
            "bytes": size if i == 0 else None,
        }


def read_split(item: dict, cfg: RunConfig, run_id: str) -> Iterator[tuple[str, Any]]:
    """Read one work item; yields ``(tag, value)``: record batches and single side rows.

    The last thing yielded is the split's ``inputs`` stats row. Never raises on bad input.
    """
    sp = _Split(item, cfg, run_id)
    fmt = item["format"]
    counter: _CountingReader | None = None
    nbytes, sha = item.get("bytes"), item.get("sha256")
    try:
        raw = _open_raw(item["uri"])
    except Exception as exc:  # noqa: BLE001
        sp.seen = 1
        sp.quarantine(item.get("first_index", 0), item.get("start", 0), Reason.UNREADABLE_FILE, _error_text(exc), None)
        yield from sp.flush_side()
        yield INPUTS, sp.stats(None, None)
        return
    try:
        if item.get("end") is not None:  # a byte range of an uncompressed JSONL file
            raw.seek(item["start"])
            counter = _CountingReader(raw, hashing=False, limit=item["end"] - item["start"])
            yield from read_jsonl(sp, counter.read, item["first_index"], item["start"], counter)
        elif fmt == "parquet":
            counter = None
            if item["compression"]:
                raw_counter = _CountingReader(raw)
                try:
                    source = _spool(_decompressed(raw_counter, item["compression"]))
                except Exception as exc:  # noqa: BLE001
                    sp.seen = 1
                    sp.quarantine(0, None, Reason.UNREADABLE_FILE, _error_text(exc), None)
                    yield from sp.flush_side()
                    source = None
                if source is not None:
                    with source:
                        yield from _read_parquet(sp, source)
            else:
                yield from _read_parquet(sp, raw)
            nbytes, sha = _hash_file(item["uri"])
        elif fmt == "warc":
            counter = _CountingReader(raw)
            yield from _read_warc(sp, counter)
        else:
            counter = _CountingReader(raw)
            try:
                stream = _decompressed(counter, item["compression"])
            except Exception as exc:  # noqa: BLE001
                sp.seen = 1
                sp.quarantine(0, 0, Reason.UNREADABLE_FILE, _error_text(exc), None)
                yield from sp.flush_side()
                stream = None
            if stream is not None:
                if fmt == "txt":
                    yield from _read_txt(sp, stream, counter)
                else:
                    yield from read_jsonl(sp, stream.read, 0, 0, counter)
        if counter is not None and item.get("end") is None:
            try:
                counter.drain()
                nbytes, sha = counter.bytes, counter.sha256()
            except Exception as exc:  # noqa: BLE001
                _LOG.warning("ingest %s: cannot finish reading for the hash: %s", item["uri"], _error_text(exc))
                nbytes, sha = None, None
    finally:
        try:
            raw.close()
        except Exception:  # noqa: BLE001
            pass
    yield from sp.flush_side()
    elapsed = time.monotonic() - sp._started
    if elapsed >= cfg.progress_seconds:
        _LOG.info("ingest %s: done, %d records in %.1fs", sp._where, sp.seen, elapsed)
    yield INPUTS, sp.stats(nbytes, sha)


# --- Beam --------------------------------------------------------------------------------------
class _PlanSplits(beam.DoFn):
    def __init__(self, cfg: RunConfig, workers: int):
        self._cfg = cfg
        self._workers = workers

    def process(self, f):
        yield from plan_splits(f, self._cfg, self._workers)


class _ReadSplit(beam.DoFn):
    def __init__(self, cfg: RunConfig, run_id: str):
        self._cfg = cfg
        self._run_id = run_id

    def setup(self):
        from pipeline.runtime import tune_process

        tune_process()

    def process(self, item):
        for tag, value in read_split(item, self._cfg, self._run_id):
            if tag == RECORDS:
                yield value
            else:
                yield pvalue.TaggedOutput(tag, value)


def whole_file_item(f: dict) -> dict:
    """The work item that reads file ``f`` from its start, in one piece."""
    return {**f, "start": 0, "end": None, "first_index": 0, "sha256": None, "bytes": None}


class ReadInputs(beam.PTransform):
    """files (from :func:`expand_inputs`) → outputs ``records`` (main: batches of records),
    ``quarantine`` (rows), ``decisions`` (rows) and ``inputs`` (per-split stats).

    ``workers=1`` (a runner with one worker, e.g. the default in-memory DirectRunner) reads every
    file whole, in order, with no split planning and no reshuffle: splitting a file pays only when
    its ranges are read at the same time, and planning costs a pass over the file. ``workers=N``
    (known, local) sizes splits so each worker gets some; ``workers=0`` (unknown: a distributed
    runner) splits at ``run.split_bytes``. Outputs are identical either way (``doc_id`` and
    ``record_index`` do not depend on splitting).
    """

    def __init__(self, files: list[dict], run_config: RunConfig, run_id: str, workers: int = 0):
        super().__init__()
        self._files = list(files)
        self._cfg = run_config
        self._run_id = run_id
        self._workers = workers

    def expand(self, pbegin):
        read = "read" >> beam.ParDo(_ReadSplit(self._cfg, self._run_id)).with_outputs(QUARANTINE, DECISIONS, INPUTS, main=RECORDS)
        if self._workers == 1:
            return pbegin | "files" >> beam.Create([whole_file_item(f) for f in self._files], reshuffle=False) | read
        return (
            pbegin
            | "files" >> beam.Create(self._files, reshuffle=False)
            | "plan" >> beam.ParDo(_PlanSplits(self._cfg, self._workers))
            | "distribute" >> beam.Reshuffle()
            | read
        )
