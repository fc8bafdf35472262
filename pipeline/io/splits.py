"""Work items and their state: how a file is cut into splits, and the state of one split being read.

An uncompressed JSONL file larger than one split becomes newline-aligned byte ranges, each with the
line number at its start (:func:`plan_splits`); every other file is one item read from its start
(:func:`whole_file_item`). :class:`Split` is what a reader writes to while it reads one item: the
record factory, side rows (quarantine and decisions), the count of records seen, progress logging
and the file's byte count and sha256 for the ``inputs`` stats row.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Callable, Iterator

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.io.streams import HASH_BLOCK, CountingReader, error_text, open_raw
from pipeline.records import DROP, Reason, decision_row, new_record, quarantine_decision, quarantine_row

_LOG = logging.getLogger("pipeline.ingest")

RECORDS = "records"
QUARANTINE = "quarantine"
DECISIONS = "decisions"
INPUTS = "inputs"
STAGE = "ingest"

# A quarantine row keeps ``run.quarantine_raw_bytes`` of raw bytes; with PII on, a window this much
# longer travels with it (key RAW_WINDOW) so the excerpt is scrubbed before it is cut: a value
# straddling the cut is found whole and replaced, never left half-visible.
EXCERPT_SCRUB_MARGIN = 1024
RAW_WINDOW = "_raw_window"


# Item key: True when no stage reads the records, so JSONL may be read straight into Arrow columns
# (:func:`pipeline.io.readers.jsonl.columnar_reader`); record batches then reach the output step as
# ``records.INGEST_SCHEMA`` Arrow record batches.
COLUMNAR = "columnar"


# Where each record's text, id and url are read from (JSONL keys, Parquet columns): the keys of
# each path, as ``IngestConfig.paths()`` gives them. These defaults are the names read before
# ``ingest.*_field`` existed.
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {"text": ("text",), "id": ("id",), "url": ("url",)}


class Split:
    """State of one split being read: the record factory, side rows, counters and progress.
    ``fields`` maps ``text``/``id``/``url`` to the keys of the path each is read from."""

    def __init__(self, item: dict, cfg: RunConfig, run_id: str, fields: dict[str, tuple[str, ...]] | None = None):
        self.uri: str = item["uri"]
        self.item = item
        self.cfg = cfg
        self.fields = fields or DEFAULT_FIELDS
        self.run_id = run_id
        self.seen = 0  # input records seen (kept + dropped + quarantined)
        self.side: list[tuple[str, dict]] = []  # (tag, row) waiting to be emitted
        self.make = record_factory(self.uri)
        self._started = self._last_log = time.monotonic()
        self.window = cfg.quarantine_raw_bytes + EXCERPT_SCRUB_MARGIN  # raw bytes worth keeping
        self._where = self.uri if item.get("end") is None else f"{self.uri} [bytes {item['start']}-{item['end']}]"
        # the file as stored, for the ``inputs`` row: set on exactly one split per file
        self.file_bytes: int | None = item.get("bytes")
        self.file_sha256: str | None = item.get("sha256")
        # bytes of this item as stored (a byte range, or the whole file), for progress
        self.stored_size: int | None = item["end"] - item["start"] if item.get("end") is not None else item.get("size")
        self._bytes_published = 0

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

    def too_large(self, index: int, offset: int | None, head: bytes, size: int) -> None:
        self.quarantine(index, offset, Reason.RECORD_TOO_LARGE, f"line of {size} bytes exceeds run.max_record_bytes={self.cfg.max_record_bytes}", head)
        # the row reports the real size, not the excerpt's
        self.side[-2][1]["raw_bytes"] = size
        self.side[-2][1]["raw_truncated"] = size > len(self.side[-2][1]["raw"])

    def empty(self, record: dict) -> None:
        self.side.append((DECISIONS, decision_row(record, action=DROP, stage=STAGE, reason=Reason.EMPTY, run_id=self.run_id)))

    def flush_side(self) -> Iterator[tuple[str, Any]]:
        if self.side:
            rows, self.side = self.side, []
            yield from rows

    def flush(self, batch: list[dict]) -> Iterator[tuple[str, Any]]:
        """The last record batch of a reader (when not empty), then the side rows waiting."""
        if batch:
            yield RECORDS, batch
        yield from self.flush_side()

    def progress(self, nbytes: int, total: int | None = None, stored: bool = True) -> None:
        """``nbytes`` read of this item so far (of ``total`` when known); ``stored`` says they are
        bytes of the file as stored (the units of the input sizes the run's ETA is based on)."""
        if stored:
            self._publish_bytes(nbytes)
        now = time.monotonic()
        if now - self._last_log < self.cfg.progress_seconds:
            return
        self._last_log = now
        mb = nbytes / 1e6
        rate = mb / max(now - self._started, 1e-9)
        of = f" of {total / 1e6:.1f} MB ({100.0 * nbytes / total:.0f}%)" if total else " MB"
        _LOG.debug("ingest %s: %d records, %.1f%s, %.1f MB/s", self._where, self.seen, mb, of, rate)

    def _publish_bytes(self, nbytes: int) -> None:
        nbytes = min(nbytes, self.stored_size) if self.stored_size is not None else nbytes
        if nbytes > self._bytes_published:
            progress.add(progress.BYTES, nbytes - self._bytes_published)
            self._bytes_published = nbytes

    def log_done(self) -> None:
        if self.stored_size is not None:
            self._publish_bytes(self.stored_size)  # the whole item is read (or unreadable: done with)
        elapsed = time.monotonic() - self._started
        if elapsed >= self.cfg.progress_seconds:
            _LOG.debug("ingest %s: done, %d records in %.1fs", self._where, self.seen, elapsed)

    def hash_rest(self, counter: CountingReader) -> None:
        """Read the rest of the file through ``counter`` so its byte count and sha256 cover it all."""
        try:
            counter.drain()
            self.file_bytes, self.file_sha256 = counter.bytes, counter.sha256()
        except Exception as exc:  # noqa: BLE001
            _LOG.warning("ingest %s: cannot finish reading for the hash: %s", self.uri, error_text(exc))
            self.file_bytes, self.file_sha256 = None, None

    def stats(self) -> dict:
        return {"uri": self.uri, "records": self.seen, "bytes": self.file_bytes, "sha256": self.file_sha256}


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


# Below this a split is not worth its own work item (planning, a shuffle element, a reader).
MIN_SPLIT_BYTES = 1024 * 1024
# The local runner deals a stage's items to its workers once, in turn (no work stealing), and
# stretches of a file differ in cost (languages, lengths): many items per worker even them out.
SPLITS_PER_WORKER = 8


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
        with open_raw(f["uri"]) as fh:
            while True:
                block = fh.read(HASH_BLOCK)
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
        _LOG.warning("ingest %s: cannot plan splits (%s); reading it whole", f["uri"], error_text(exc))
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


def whole_file_item(f: dict) -> dict:
    """The work item that reads file ``f`` from its start, in one piece."""
    return {**f, "start": 0, "end": None, "first_index": 0, "sha256": None, "bytes": None}

