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

import codecs
import hashlib
import io
from typing import Any, Iterator

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.io.readers import READERS
from pipeline.io.splits import (
    DECISIONS,
    EXCERPT_SCRUB_MARGIN,
    INPUTS,
    QUARANTINE,
    RECORDS,
    Split,
    plan_splits,
    whole_file_item,
)
from pipeline.io.streams import CountingReader, decompressed, error_text, open_raw
from pipeline.records import Reason


def read_split(item: dict, cfg: RunConfig, run_id: str, fields: dict | None = None) -> Iterator[tuple[str, Any]]:
    """Read one work item; yields ``(tag, value)``: record batches and single side rows.
    ``fields`` (``IngestConfig.paths()``) says where text, id and url are; default ``text``/``id``/``url``.

    The last thing yielded is the split's ``inputs`` stats row. Never raises on bad input.
    """
    sp = Split(item, cfg, run_id, fields)
    if item.get(PART) is not None:
        yield from _read_part(sp, item)
        yield from sp.flush_side()
        sp.log_done()
        yield INPUTS, sp.stats()
        return
    try:
        raw = open_raw(item["uri"])
    except Exception as exc:  # noqa: BLE001
        sp.seen = 1
        sp.quarantine(item.get("first_index", 0), item.get("start", 0), Reason.UNREADABLE_FILE, error_text(exc), None)
        yield from sp.flush_side()
        sp.log_done()
        sp.file_bytes = sp.file_sha256 = None
        yield INPUTS, sp.stats()
        return
    try:
        yield from READERS[item["format"]].read(sp, raw)
    finally:
        try:
            raw.close()
        except Exception:  # noqa: BLE001
            pass
    yield from sp.flush_side()
    sp.log_done()
    yield INPUTS, sp.stats()


# A compressed JSONL file cannot be read from the middle. With several local workers, the one that
# plans it decompresses it once and cuts it into parts of whole lines (spilled to files under the
# run's staging folder, so only their names cross the shuffle), which the reshuffle spreads over
# every worker. Part kinds:
PART = "part"
LINES = "lines"  # whole lines (the file's last one may lack its newline), in the file ``chunk``
TOO_LONG = "too_long"  # one line over run.max_record_bytes: its head and size
ERROR = "error"  # the file failed here (open, decompression): the error and the held excerpt
END = "end"  # no records: the file's stored byte count and sha256, once per file
PART_LEVEL = 1  # zstd level of a part on disk: fast, as the dedup stage's held batches
PART_BYTES = 4 << 20  # decompressed bytes per LINES part: parts enough to balance the workers


def cuts_stream(f: dict, workers: int) -> bool:
    """Whether file ``f`` is read as parts cut by :func:`cut_stream` (not as one item)."""
    return workers > 1 and f["format"] == "jsonl" and f["compression"] is not None


def cut_stream(f: dict, cfg: RunConfig, folder: str, part_bytes: int = PART_BYTES) -> Iterator[dict]:
    """Work items that read compressed JSONL file ``f`` in parts: it is decompressed here, once,
    and cut at line ends into ``LINES`` parts of about ``part_bytes`` (files under ``folder``);
    a line over ``run.max_record_bytes`` becomes a ``TOO_LONG`` part (its head only), a failure an
    ``ERROR`` part, and the last item is an ``END`` part with the file's stored size and sha256.
    Reading the parts (:func:`read_split`) yields exactly what reading the file whole yields."""
    from pipeline.io.readers.jsonl import LineSplitter, TooLong

    import zstandard

    # compressed on disk: what waits in the staging folder stays near the input's own size, a
    # decompression bomb of repeated lines included
    pack = zstandard.ZstdCompressor(level=PART_LEVEL).compress
    base = whole_file_item(f)
    file_key = hashlib.sha1(f["uri"].encode("utf-8")).hexdigest()[:16]  # part names: a rerun rewrites the same
    stored = 0  # stored bytes read when the last part was cut (each part's share, for progress)
    counter = None
    number = 0

    def part(kind: str, index: int, offset: int, **extra) -> dict:
        nonlocal stored
        now = counter.bytes if counter is not None else 0
        item = {**base, PART: kind, "first_index": index, "start": offset, "size": now - stored, **extra}
        stored = now
        return item

    def lines_part(index: int, offset: int, lines: list[bytes], newline: bool) -> dict:
        nonlocal number
        path = FileSystems.join(folder, f"{file_key}-{number}.jsonl.zst")
        number += 1
        data = b"\n".join(lines) + b"\n" if newline else b"\n".join(lines)
        with FileSystems.create(path) as fh:
            fh.write(pack(data))
        return part(LINES, index, offset, chunk=path)

    try:
        raw = open_raw(f["uri"])
    except Exception as exc:  # noqa: BLE001 - the reader's own outcome for a file that cannot be opened
        yield part(ERROR, 0, 0, error=error_text(exc), excerpt=None)
        yield {**part(END, 0, 0), "bytes": None, "sha256": None}
        return
    counter = CountingReader(raw)
    try:
        try:
            stream = decompressed(counter, f["compression"])
        except Exception as exc:  # noqa: BLE001
            yield part(ERROR, 0, 0, error=error_text(exc), excerpt=None)
        else:
            splitter = LineSplitter(stream.read, 0, 0, cfg.max_record_bytes, cfg.quarantine_raw_bytes + EXCERPT_SCRUB_MARGIN)
            pending: list[bytes] = []
            size = 0
            first = (0, 0)
            try:
                for index, offset, lines in splitter.blocks():
                    for line in lines:
                        if type(line) is TooLong:
                            if pending:
                                yield lines_part(*first, pending, True)
                                pending, size = [], 0
                            yield part(TOO_LONG, index, offset, head=line.head, line_size=line.size)
                            offset += line.size + 1
                        else:
                            if not pending:
                                first = (index, offset)
                            pending.append(line)
                            size += len(line) + 1
                            offset += len(line) + 1
                            if size >= part_bytes:
                                yield lines_part(*first, pending, True)
                                pending, size = [], 0
                        index += 1
            except Exception as exc:  # noqa: BLE001 - a file failing part-way: what was read, then one row
                if pending:
                    yield lines_part(*first, pending, True)
                yield part(ERROR, splitter.index, splitter.offset, error=error_text(exc), excerpt=splitter.excerpt())
            else:
                last = splitter.tail()
                if type(last) is TooLong:
                    if pending:
                        yield lines_part(*first, pending, True)
                    yield part(TOO_LONG, splitter.index, splitter.offset, head=last.head, line_size=last.size)
                elif last == b"" and splitter.index == 0:
                    # a file holding only a byte order mark: its reader's own outcome, from the same bytes
                    yield lines_part(0, 0, [codecs.BOM_UTF8], False)
                elif last:
                    if not pending:
                        first = (splitter.index, splitter.offset)
                    yield lines_part(*first, [*pending, last], False)
                elif pending:
                    yield lines_part(*first, pending, True)
        try:
            counter.drain()  # the stats cover the whole file as stored, as when it is read whole
            stats = {"bytes": counter.bytes, "sha256": counter.sha256()}
        except Exception:  # noqa: BLE001
            stats = {"bytes": None, "sha256": None}
        yield {**part(END, 0, 0), **stats}
    finally:
        try:
            raw.close()
        except Exception:  # noqa: BLE001
            pass


def _read_part(sp: Split, item: dict) -> Iterator[tuple[str, Any]]:
    """Records and side rows of one part cut by :func:`cut_stream`."""
    from pipeline.io.readers.jsonl import read_jsonl

    kind, index, offset = item[PART], item["first_index"], item["start"]
    if kind == LINES:
        try:
            import zstandard

            with FileSystems.open(item["chunk"]) as fh:
                data = zstandard.ZstdDecompressor().decompress(fh.read())
            FileSystems.delete([item["chunk"]])  # read once: the folder only ever holds unread parts
        except Exception as exc:  # noqa: BLE001 - a part that cannot be read is the file's failure
            sp.seen = 1
            sp.quarantine(index, offset, Reason.UNREADABLE_FILE, error_text(exc), None)
            return
        counter = CountingReader(io.BytesIO(data), hashing=False)
        yield from read_jsonl(sp, counter.read, index, offset, counter)
    elif kind == TOO_LONG:
        sp.seen = 1
        sp.too_large(index, offset, item["head"], item["line_size"])
    elif kind == ERROR:
        sp.seen = 1
        sp.quarantine(index, offset, Reason.UNREADABLE_FILE, item["error"], item["excerpt"])


def _spill_folder() -> str:
    """A local folder for the parts of compressed files when no run staging folder is given
    (tests, tools): removed when the process that built the pipeline exits normally."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="curate-parts-")
    atexit.register(shutil.rmtree, path, True)
    return path


class _PlanSplits(beam.DoFn):
    def __init__(self, cfg: RunConfig, workers: int, spill: str | None = None):
        self._cfg = cfg
        self._workers = workers
        self._spill = spill

    def process(self, f):
        if self._spill is not None and cuts_stream(f, self._workers):
            yield from cut_stream(f, self._cfg, self._spill, min(PART_BYTES, self._cfg.split_bytes))
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
    runner) splits at ``run.split_bytes``. With N > 1, a compressed JSONL file is cut into parts
    (:func:`cut_stream`) kept under ``parts_dir`` (the run's staging folder) until read. Outputs are identical either way (``doc_id`` and
    ``record_index`` do not depend on splitting).
    """

    def __init__(self, files: list[dict], run_config: RunConfig, run_id: str, workers: int = 0, fields: dict | None = None,
                 parts_dir: str | None = None):
        super().__init__()
        self._parts_dir = parts_dir
        self._files = list(files)
        self._cfg = run_config
        self._run_id = run_id
        self._workers = workers
        self._fields = fields

    def expand(self, pbegin):
        read = "read" >> beam.ParDo(_ReadSplit(self._cfg, self._run_id, self._fields)).with_outputs(QUARANTINE, DECISIONS, INPUTS, main=RECORDS)
        if self._workers == 1:
            return pbegin | "files" >> beam.Create([whole_file_item(f) for f in self._files], reshuffle=False) | read
        streams = sum(cuts_stream(f, self._workers) for f in self._files)
        files = pbegin | "files" >> beam.Create(self._files, reshuffle=False)
        if streams > 1:  # each compressed file is cut by one worker: spread them first
            files = files | "spread" >> beam.Reshuffle()
        spill = (self._parts_dir or _spill_folder()) if streams else None
        return (
            files
            | "plan" >> beam.ParDo(_PlanSplits(self._cfg, self._workers, spill))
            | "distribute" >> beam.Reshuffle()
            | read
        )
