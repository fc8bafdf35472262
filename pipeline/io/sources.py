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

from typing import Any, Iterator

import apache_beam as beam
from apache_beam import pvalue

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.io.readers import READERS
from pipeline.io.splits import DECISIONS, INPUTS, QUARANTINE, RECORDS, Split, plan_splits, whole_file_item
from pipeline.io.streams import error_text, open_raw
from pipeline.records import Reason


def read_split(item: dict, cfg: RunConfig, run_id: str, fields: dict | None = None) -> Iterator[tuple[str, Any]]:
    """Read one work item; yields ``(tag, value)``: record batches and single side rows.
    ``fields`` (``IngestConfig.paths()``) says where text, id and url are; default ``text``/``id``/``url``.

    The last thing yielded is the split's ``inputs`` stats row. Never raises on bad input.
    """
    sp = Split(item, cfg, run_id, fields)
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


class _PlanSplits(beam.DoFn):
    def __init__(self, cfg: RunConfig, workers: int):
        self._cfg = cfg
        self._workers = workers

    def process(self, f):
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
    runner) splits at ``run.split_bytes``. Outputs are identical either way (``doc_id`` and
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
        return (
            pbegin
            | "files" >> beam.Create(self._files, reshuffle=False)
            | "plan" >> beam.ParDo(_PlanSplits(self._cfg, self._workers))
            | "distribute" >> beam.Reshuffle()
            | read
        )
