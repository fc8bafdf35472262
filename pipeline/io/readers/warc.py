"""WARC: one record per HTML response with a 2xx status, its text extracted by
:mod:`pipeline.io.html`; other WARC records (warcinfo, request, non-HTML, non-2xx) are skipped.
``record_index`` is the WARC record's position in the file (every WARC record counted; an unreadable
stretch counts as one).

warcio parses the records. A ``.warc.gz`` is decompressed member by member here and each member
parsed on its own, so a file warcio refuses as a whole (a multi-record member, a corrupt or cut
member in the middle) still gives every record of its readable members; a damaged stretch becomes
one quarantine row and reading resumes after it.
"""
from __future__ import annotations

import bisect
import functools
import logging
import sys
from typing import Any, Callable, Iterator

from pipeline.io.readers.base import Reader, register
from pipeline.io.splits import RECORDS, Split
from pipeline.io.streams import CountingReader, GzipReader, ReadError, error_text, open_at
from pipeline.records import Reason

_LOG = logging.getLogger("pipeline.ingest")

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


class _GzipMembers(GzipReader):
    """The gzip members of a WARC one at a time, so each is parsed on its own and a bad member costs
    only itself: ``read`` ends at the end of the current member; :meth:`next_member` moves on. The
    source is a :class:`CountingReader` whose first byte is at raw offset ``start``."""

    def __init__(self, src: CountingReader, start: int = 0, joined: bool = False):
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
    with open_at(uri, after) as fh:
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


class WarcFileReader:
    """One WARC file → records, drops and quarantine rows.

    warcio parses the records. A ``.warc.gz`` is decompressed member by member here and each member
    parsed on its own, so a file warcio refuses as a whole (a multi-record member, a corrupt or cut
    member in the middle) still gives every record of its readable members. When the data itself
    fails (a corrupt member; in a plain ``.warc`` an unparsable record), one quarantine row stands
    for the unreadable stretch and reading resumes at the next plausible record start
    (:func:`_resync`). Such a row is ``unreadable_record`` when something after it was read, else
    ``unreadable_file`` (the rest of the file was lost, as with a file cut short).
    """

    def __init__(self, sp: Split):
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
        self._loss = (self.position, offset, error_text(exc), isinstance(exc, HeaderTooLarge))
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
        batch, self.batch = self.batch, []
        yield from self.sp.flush(batch)

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
            sp.too_large(index, offset, body[: sp.window], len(body))
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
    def read_members(self, counter: CountingReader) -> Iterator[tuple[str, Any]]:
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
                        handles.append(open_at(self.sp.uri, 0))
                        yield from self.read_plain(CountingReader(handles[-1], hashing=False))
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
                            handles.append(open_at(self.sp.uri, start))
                            members = _GzipMembers(CountingReader(handles[-1], hashing=False), start, joined=True)
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
                    handles.append(open_at(self.sp.uri, resume))
                    members = _GzipMembers(CountingReader(handles[-1], hashing=False), resume)
        finally:
            for fh in handles:
                fh.close()
        yield from self.finish()

    def read_plain(self, counter: CountingReader) -> Iterator[tuple[str, Any]]:
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
                    handle = open_at(self.sp.uri, resume)
                    stream, base, self.end = CountingReader(handle, hashing=False), resume, resume
        finally:
            if handle is not None:
                handle.close()
        yield from self.finish()


@register
class WarcReader(Reader):
    name = "warc"
    extensions = (".warc",)

    def read(self, sp: Split, raw) -> Iterator[tuple[str, Any]]:
        counter = CountingReader(raw)
        reader = WarcFileReader(sp)
        if sp.item.get("compression") == "gzip":
            yield from reader.read_members(counter)
        else:
            yield from reader.read_plain(counter)
        sp.hash_rest(counter)
