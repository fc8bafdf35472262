"""Ingest in Beam: files → batches of records, quarantine rows, ingest decisions and per-file stats.

:class:`ReadInputs` plans splits (:mod:`pipeline.io.splits`), reshuffles them so splits are read in
parallel, and reads each with the reader registered for its format (:mod:`pipeline.io.readers`),
streaming: nothing is ever loaded whole. Every input record yields exactly one of

* a record (``records.new_record`` fields) in a batch on the main output ``records``;
* a quarantine row (``quarantine``) and its decisions row (``decisions``), reason one of
  ``parse_error``, ``not_an_object``, ``missing_text``, ``text_not_string``, ``invalid_utf8``,
  ``record_too_large``, ``unreadable_record`` (WARC: a damaged stretch, reading resumed after
  it), ``unreadable_file``;
* an ``ingest``/``empty`` drop decision (``decisions``) for empty or whitespace-only text.

A file that fails part-way (a truncated ``.gz``, a corrupt Parquet footer, a WARC cut short) keeps
what was read before the failure and then yields ONE ``unreadable_file`` quarantine row at the next
record index; the run goes on. The ``inputs`` output carries per-split stats ``{"uri", "records",
"bytes", "sha256"}``; bytes and sha256 (of the file as stored) are set on exactly one row per file.
``doc_id`` is a hash of (uri, record_index), so it is identical whether or not a file was split.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import apache_beam as beam
from apache_beam import pvalue

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.io.readers import READERS
from pipeline.io.splits import (
    DECISIONS,
    INPUTS,
    QUARANTINE,
    RECORDS,
    Split,
    plan_splits,
    whole_file_item,
)
from pipeline.io.streams import READ_BLOCK, CountingReader, decompressed, error_text, open_raw
from pipeline.records import Reason


def read_split(item: dict, cfg: RunConfig, run_id: str, fields: dict | None = None) -> Iterator[tuple[str, Any]]:
    """Read one work item; yields ``(tag, value)``: record batches and single side rows.
    ``fields`` (``IngestConfig.paths()``) says where text, id and url are; default ``text``/``id``/``url``.

    The last thing yielded is the split's ``inputs`` stats row. Never raises on bad input.
    """
    sp = Split(item, cfg, run_id, fields)
    stride = item.get(STRIDE)
    try:
        raw = open_raw(item["uri"])
    except Exception as exc:  # noqa: BLE001
        if not (stride and stride[0]):  # a file that cannot be opened is split 0's to report
            sp.seen = 1
            sp.quarantine(item.get("first_index", 0), item.get("start", 0), Reason.UNREADABLE_FILE, error_text(exc), None)
        yield from sp.flush_side()
        sp.log_done()
        sp.file_bytes = sp.file_sha256 = None
        yield INPUTS, sp.stats()
        return
    try:
        if stride:
            yield from _read_stride_file(sp, raw, *stride)
        else:
            yield from READERS[item["format"]].read(sp, raw)
    finally:
        try:
            raw.close()
        except Exception:  # noqa: BLE001
            pass
    yield from sp.flush_side()
    sp.log_done()
    yield INPUTS, sp.stats()


# A compressed JSONL file cannot be read from the middle. With several local workers it is read by
# ``splits`` stride items at once: each decompresses the whole stream (in parallel, nothing written
# or read back) and parses only the lines that START in its own blocks of ``block`` decompressed
# bytes (block number mod splits), counting the newlines of the others to number its own lines.
STRIDE = "stride"  # item key: [this split's number, the number of splits, block bytes]
STRIDE_BLOCK = 1 << 20  # decompressed bytes per block: small enough to even out stretches of a file


def read_by_stride(f: dict, workers: int) -> bool:
    """Whether file ``f`` is read by :func:`stride_items` (not as one item)."""
    return workers > 1 and f["format"] == "jsonl" and f["compression"] is not None


def stride_items(f: dict, splits: int, block: int = STRIDE_BLOCK) -> list[dict]:
    """``splits`` work items that together read compressed JSONL file ``f`` exactly as one item
    reading it whole would; split 0 also reports the file's stored size and sha256 (and a failure
    to open it). Each item's ``size`` is its share of the stored bytes (progress)."""
    base = whole_file_item(f)
    share = f["size"] // splits
    return [{**base, STRIDE: [k, splits, block], "size": share + (f["size"] - share * splits if k == 0 else 0)}
            for k in range(splits)]


class _ShareOfBytes:
    """Progress of one stride item: its share of the stored bytes read so far."""

    def __init__(self, counter: CountingReader, splits: int):
        self._counter = counter
        self._splits = splits

    @property
    def bytes(self) -> int:
        return self._counter.bytes // self._splits


class _StrideStream:
    """The decompressed stream as one stride split sees it: :meth:`window` reads from a line start
    in one of its blocks up to and including the newline after which a line starts in another
    split's block; :meth:`skip` moves to the next line start in one of its blocks, counting lines.

    Every underlying read is ``read(READ_BLOCK)``, as when the file is read whole, so a failing
    stream fails at the same byte for every split: the split owning the line being read reports it
    (through read_jsonl, its window being open), the others stop silently."""

    def __init__(self, read: Callable[[int], bytes], split: int, splits: int, block: int):
        self._read = read
        self._split, self._splits, self._block = split, splits, block
        self.buf = b""  # read, not yet consumed
        self.pos = 0  # stream offset of buf[0]
        self.index = 0  # line number of the line starting at pos (between windows)
        self.ended = False  # the stream ended, or failed
        self._open = False  # a window is open (:meth:`open_window` until its closing newline)
        self._closes_from = 0  # a newline at or after this offset may close the open window

    def owned(self, offset: int) -> bool:
        return (offset // self._block) % self._splits == self._split

    def open_window(self) -> None:
        self._closes_from = (self.pos // self._block + 1) * self._block - 1
        self._open = True

    def window(self, _n: int) -> bytes:
        """The next piece of the open window (``read`` for read_jsonl); b"" at its end."""
        if not self._open:
            return b""
        if not self.buf:
            try:
                self.buf = self._read(READ_BLOCK)
            except Exception:
                self.ended = True
                raise
            if not self.buf:
                self.ended, self._open = True, False
                return b""
        buf, pos = self.buf, self.pos
        rel = max(self._closes_from - pos, 0)
        while True:
            nl = buf.find(b"\n", rel)
            if nl < 0:
                self.buf, self.pos = b"", pos + len(buf)
                out = buf
                break
            if not self.owned(pos + nl + 1):
                out, self.buf, self.pos = buf[: nl + 1], buf[nl + 1 :], pos + nl + 1
                self._open = False
                break
            # the next line also starts in a block of this split (one split, or a line over a block)
            self._closes_from = ((pos + nl + 1) // self._block + 1) * self._block - 1
            rel = nl + 1
        self.index += out.count(b"\n")
        return out

    def skip(self) -> None:
        """Move to the first line start in the next block of this split (sets :attr:`ended` when
        the stream ends or fails first: the line being read is another split's)."""
        b = self.pos // self._block
        target = (b + (self._split - b) % self._splits) * self._block
        buf, pos, index = self.buf, self.pos, self.index
        while True:
            nl = buf.find(b"\n", max(target - 1 - pos, 0))
            if nl >= 0:
                self.index = index + buf.count(b"\n", 0, nl + 1)
                self.buf, self.pos = buf[nl + 1 :], pos + nl + 1
                return
            index += buf.count(b"\n")
            pos += len(buf)
            try:
                buf = self._read(READ_BLOCK)
            except Exception:  # noqa: BLE001 - reported by the split owning the line
                buf = b""
            if not buf:
                self.ended = True
                return


def _read_stride(sp: Split, read: Callable[[int], bytes], progress_of: _ShareOfBytes, split: int, splits: int,
                 block: int) -> Iterator[tuple[str, Any]]:
    """Records and side rows of the lines of decompressed stream ``read`` that start in this
    split's blocks (see :class:`_StrideStream`)."""
    from pipeline.io.readers.jsonl import read_jsonl

    stream = _StrideStream(read, split, splits, block)
    size = sp.cfg.batch_size
    batch: list[dict] = []  # full batches across windows, as when the file is read whole
    while not stream.ended:
        if stream.owned(stream.pos):
            stream.open_window()
            for tag, value in read_jsonl(sp, stream.window, stream.index, stream.pos, progress_of):
                if tag != RECORDS:
                    yield tag, value
                    continue
                batch += value
                if len(batch) >= size:
                    yield RECORDS, batch[:size]
                    batch = batch[size:]
        else:
            stream.skip()
            sp.progress(progress_of.bytes, sp.stored_size)
    if batch:
        yield RECORDS, batch


def _read_stride_file(sp: Split, raw, split: int, splits: int, block: int) -> Iterator[tuple[str, Any]]:
    """One stride item of a compressed JSONL file opened as ``raw`` (as the JSONL reader reads it
    whole: a stream that cannot be decompressed is one row, the stats cover the file as stored;
    both are split 0's alone)."""
    counter = CountingReader(raw, hashing=split == 0)
    try:
        stream = decompressed(counter, sp.item["compression"])
    except Exception as exc:  # noqa: BLE001
        if split == 0:
            sp.seen = 1
            sp.quarantine(0, 0, Reason.UNREADABLE_FILE, error_text(exc), None)
            yield from sp.flush_side()
    else:
        yield from _read_stride(sp, stream.read, _ShareOfBytes(counter, splits), split, splits, block)
    if split == 0:
        sp.hash_rest(counter)


class _PlanSplits(beam.DoFn):
    def __init__(self, cfg: RunConfig, workers: int):
        self._cfg = cfg
        self._workers = workers

    def process(self, f):
        if read_by_stride(f, self._workers):
            yield from stride_items(f, self._workers, min(STRIDE_BLOCK, self._cfg.split_bytes))
        else:
            yield from plan_splits(f, self._cfg, self._workers)


class _ReadSplit(beam.DoFn):
    def __init__(self, cfg: RunConfig, run_id: str, fields: dict | None):
        self._cfg = cfg
        self._run_id = run_id
        self._fields = fields

    def setup(self):
        from pipeline.runtime import tune_process

        tune_process()

    def process(self, item):
        for tag, value in read_split(item, self._cfg, self._run_id, self._fields):
            if tag == RECORDS:
                progress.add(progress.READ, len(value))
                yield value
            else:
                if tag == DECISIONS:  # one per record dropped or quarantined at ingest
                    progress.add(progress.READ)
                    progress.add(progress.DROPPED)
                yield pvalue.TaggedOutput(tag, value)

    def finish_bundle(self):
        progress.flush()  # the run's last progress line shows every bundle's counts


class ReadInputs(beam.PTransform):
    """files (from :func:`expand_inputs`) → outputs ``records`` (main: batches of records),
    ``quarantine`` (rows), ``decisions`` (rows) and ``inputs`` (per-split stats).

    ``workers=1`` (a runner with one worker, e.g. the default in-memory DirectRunner) reads every
    file whole, in order, with no split planning and no reshuffle: splitting a file pays only when
    its ranges are read at the same time, and planning costs a pass over the file. ``workers=N``
    (known, local) sizes splits so each worker gets some; ``workers=0`` (unknown: a distributed
    runner) splits at ``run.split_bytes``. With N > 1, a compressed JSONL file is read by N stride
    items (:func:`stride_items`). Outputs are identical either way (``doc_id`` and
    ``record_index`` do not depend on splitting).
    """

    def __init__(self, files: list[dict], run_config: RunConfig, run_id: str, workers: int = 0, fields: dict | None = None):
        super().__init__()
        self._files = list(files)
        self._cfg = run_config
        self._run_id = run_id
        self._workers = workers
        self._fields = fields

    def expand(self, pbegin):
        read = "read" >> beam.ParDo(_ReadSplit(self._cfg, self._run_id, self._fields)).with_outputs(QUARANTINE, DECISIONS, INPUTS, main=RECORDS)
        if self._workers == 1:
            return pbegin | "files" >> beam.Create([whole_file_item(f) for f in self._files], reshuffle=False) | read
        files = pbegin | "files" >> beam.Create(self._files, reshuffle=False)
        return (
            files
            | "plan" >> beam.ParDo(_PlanSplits(self._cfg, self._workers))
            | "distribute" >> beam.Reshuffle()
            | read
        )
