"""Columnar output (records.output_batches) and the shard writer over record batches."""
from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.shards import _ShardWriterFn, rows_to_batch, table_for
from pipeline.records import (
    DECISIONS_SCHEMA,
    DOCUMENTS_SCHEMA,
    K_FLAGS,
    K_NOTES,
    new_record,
    output_batches,
)


# Row-by-row reference builders, spelled out column by column so the columnar writer (built from
# the column declarations in pipeline.records) is held to an independent statement of each row.
def _entries(mapping):
    return [{"key": k, "value": v} for k, v in (mapping or {}).items()]


def document_row(record: dict, run_id: str) -> dict:
    text = record["text"]
    return {
        "doc_id": record["doc_id"],
        "source_id": record.get("source_id"),
        "source_uri": record["source_uri"],
        "record_index": record["record_index"],
        "url": record.get("url"),
        "text": text,
        "content_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lang": record.get("lang"),
        "lang_score": record.get("lang_score"),
        "license": record.get("license"),
        "copyright": list(record.get("copyright") or []),
        "pii_counts": _entries(record.get("pii_counts")),
        "dup_cluster": record.get("dup_cluster"),
        "run_id": run_id,
    }


def final_keep_row(record: dict, run_id: str) -> dict:
    """The decisions row of a document every stage kept: reason = its first flag (else ``kept``),
    detail = JSON of its flags and the stages' notes."""
    flags, notes = record.get(K_FLAGS) or [], record.get(K_NOTES) or {}
    detail = {"flags": flags, **notes} if flags else notes
    return {
        "doc_id": record["doc_id"],
        "source_id": record.get("source_id"),
        "source_uri": record.get("source_uri"),
        "record_index": record.get("record_index"),
        "action": "keep",
        "stage": "output",
        "reason": flags[0] if flags else "kept",
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        "lang": record.get("lang"),
        "lang_score": record.get("lang_score"),
        "license": record.get("license"),
        "dup_of": None,
        "pii_counts": _entries(record.get("pii_counts")),
        "run_id": run_id,
    }


def _records(n: int, rich: bool = True) -> list[dict]:
    out = []
    for i in range(n):
        text = ("문서 본문 %d " % i) * (1 + i % 7) if i % 3 == 0 else f"document {i} " * (1 + i % 5)
        r = new_record(source_uri="/data/in.jsonl", record_index=i, text=text, source_id=None if i % 4 == 0 else f"id-{i}",
                       url=None if i % 2 else f"https://example.org/{i}")
        if rich:
            if i % 5 == 0:
                r["lang"], r["lang_score"] = "ko", 0.75
            if i % 6 == 0:
                r["license"] = "CC-BY-4.0"
                r["copyright"] = ["Copyright 2020 Someone"]
            if i % 4 == 1:
                r["pii_counts"] = {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1}
            if i % 7 == 0:
                r[K_FLAGS].append("license_review")
            if i % 3 == 1:
                r[K_NOTES]["quality"] = {"score": 0.5}
            if i % 9 == 0:
                r["dup_cluster"] = f"c{i}"
        out.append(r)
    return out


@pytest.mark.parametrize("rich", [True, False])
def test_output_batches_equal_row_functions(rich):
    recs = _records(40, rich)
    docs, decisions = output_batches(recs, "run-1")
    assert docs.schema.equals(DOCUMENTS_SCHEMA) and decisions.schema.equals(DECISIONS_SCHEMA)
    want_docs = table_for("documents", [document_row(r, "run-1") for r in recs], "run-1")
    want_dec = table_for("decisions", [final_keep_row(r, "run-1") for r in recs], "run-1")
    assert pa.Table.from_batches([docs]).to_pylist() == want_docs.to_pylist()
    assert pa.Table.from_batches([decisions]).to_pylist() == want_dec.to_pylist()
    assert docs.column("content_hash").to_pylist() == [hashlib.sha256(r["text"].encode()).hexdigest() for r in recs]


def test_output_batches_empty_and_lenient():
    docs, decisions = output_batches([], "r")
    assert docs.num_rows == 0 and decisions.num_rows == 0
    partial = {"doc_id": "d1", "source_uri": "u", "record_index": 3, "text": "hello"}  # built by hand
    docs, decisions = output_batches([partial], "r")
    assert docs.to_pylist()[0] == document_row(partial, "r")
    assert decisions.to_pylist()[0] == final_keep_row(partial, "r")


def _write(tmp_path, table, elements, max_rows, max_bytes, key="doc_id"):
    fn = _ShardWriterFn(table, str(tmp_path), max_rows, max_bytes, "run-1", key)
    fn.setup()
    fn.start_bundle()
    infos = []
    for e in elements:
        infos.extend(fn.process(e))
    infos.extend(wv.value for wv in fn.finish_bundle())
    return infos


def _read(info):
    return pq.read_table(info["path"])


@pytest.mark.parametrize("max_rows,max_bytes", [(7, 1 << 30), (1000, 3000), (5, 2000), (100_000, 1 << 30)])
def test_writer_batches_and_rows_give_the_same_shards(tmp_path, max_rows, max_bytes):
    recs = _records(53)
    rows = [document_row(r, "run-1") for r in recs]
    batches = [output_batches(recs[i:i + 8], "run-1")[0] for i in range(0, len(recs), 8)]
    by_rows = _write(tmp_path / "rows", "documents", [rows[i:i + 8] for i in range(0, len(rows), 8)], max_rows, max_bytes)
    by_batches = _write(tmp_path / "batches", "documents", batches, max_rows, max_bytes)
    if max_bytes >= 1 << 30:  # row bound only: the same cuts (the byte bound counts UTF-8 bytes for batches, chars for rows)
        assert [i["rows"] for i in by_batches] == [i["rows"] for i in by_rows]
    else:
        assert len(by_batches) > 1
    assert sum(i["rows"] for i in by_batches) == len(recs)
    assert all(i["rows"] <= max_rows for i in by_batches)
    seen = []
    for info in by_batches:
        t = _read(info)
        assert t.num_rows == info["rows"]
        ids = t.column("doc_id").to_pylist()
        assert ids == sorted(ids) and info["first_key"] == ids[0]
        assert t.schema.metadata == {b"run_id": b"run-1", b"table": b"documents"}
        data = open(info["path"], "rb").read()
        assert info["bytes"] == len(data) and info["sha256"] == hashlib.sha256(data).hexdigest()
        seen.extend(t.to_pylist())
    assert sorted(seen, key=lambda r: r["doc_id"]) == sorted(rows, key=lambda r: r["doc_id"])


def test_writer_mixes_rows_and_batches_in_arrival_order(tmp_path):
    recs = _records(10)
    docs, decisions = output_batches(recs[:6], "run-1")
    extra = [final_keep_row(r, "run-1") for r in recs[6:]]
    infos = _write(tmp_path, "decisions", [extra[0], decisions, extra[1:]], 100, 1 << 30)
    assert len(infos) == 1 and infos[0]["rows"] == 10
    got = _read(infos[0]).to_pylist()
    assert sorted(r["doc_id"] for r in got) == sorted(r["doc_id"] for r in recs)


def test_writer_row_groups_stay_sorted(tmp_path, monkeypatch):
    import pipeline.io.shards as shards

    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 4000)
    recs = _records(60)
    infos = _write(tmp_path, "documents", [output_batches(recs, "run-1")[0]], 1000, 1 << 30)
    assert len(infos) == 1
    f = pq.ParquetFile(infos[0]["path"])
    assert f.metadata.num_row_groups > 1
    ids = f.read(columns=["doc_id"]).column("doc_id").to_pylist()
    assert ids == sorted(ids) and len(ids) == 60


def test_rows_to_batch_empty():
    assert rows_to_batch("quarantine", []).num_rows == 0


def test_decisions_shards_count_their_rows(tmp_path):
    from collections import Counter

    from pipeline.records import decision_row

    recs = _records(30)
    _, keeps = output_batches(recs[:20], "run-1")
    drops = [decision_row(r, action="drop", stage="quality", reason="short" if i % 2 else "dup_ngram", run_id="run-1")
             for i, r in enumerate(recs[20:])]
    infos = _write(tmp_path, "decisions", [keeps, drops[:4], drops[4:]], 12, 1 << 30)
    got = Counter()
    for info in infos:
        for stage, action, reason, n in info["counts"]:
            got[(stage, action, reason)] += n
    rows = [r for info in infos for r in _read(info).to_pylist()]
    assert got == Counter((r["stage"], r["action"], r["reason"]) for r in rows)
    assert sum(got.values()) == 30 and got[("output", "keep", "license_review")] == 3
    assert "counts" not in _write(tmp_path / "docs", "documents", [output_batches(recs, "run-1")[0]], 100, 1 << 30)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_take_rows_gathers_rows_across_batches_in_the_order_asked(seed):
    """Against plain list indexing of the rows: any order, rows of many batches (empty ones too)."""
    import random

    import numpy as np

    from pipeline.io.shards import take_rows

    rng = random.Random(seed)
    recs = _records(70)
    sizes = [0, 9, 1, 0, 23, 17, 0, 20]
    batches, at = [], 0
    for size in sizes:
        batches.append(output_batches(recs[at:at + size], "run-1")[0])
        at += size
    everything = [row for b in batches for row in b.to_pylist()]
    firsts = np.cumsum([0] + sizes, dtype=np.int64)
    for want in (list(range(70)), rng.sample(range(70), 70), rng.sample(range(70), 13), [69, 0, 35], []):
        got = take_rows(batches, firsts, np.array(want, dtype=np.int64))
        assert got.to_pylist() == [everything[i] for i in want]
        assert all(col.num_chunks <= 1 for col in got.columns)


def test_shards_are_the_bytes_of_the_whole_shard_sorted_at_once(tmp_path, monkeypatch):
    """Row groups gathered from the buffered batches give the same file as sorting a combined copy
    of the whole shard (the way shards were written before) and writing it in the same row groups."""
    import io

    import pyarrow.compute as pc

    import pipeline.io.shards as shards

    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 3000)
    recs = _records(90)
    batches = [output_batches(recs[i:i + 11], "run-1")[0] for i in range(0, len(recs), 11)]
    infos = _write(tmp_path, "documents", batches, 1000, 1 << 30)
    assert len(infos) == 1 and pq.ParquetFile(infos[0]["path"]).metadata.num_row_groups > 2
    whole = pa.Table.from_batches(batches).combine_chunks()
    order = pc.sort_indices(whole.column("doc_id"))
    per_group = pq.ParquetFile(infos[0]["path"]).metadata.row_group(0).num_rows
    sink = io.BytesIO()
    schema = whole.schema.with_metadata({"run_id": "run-1", "table": "documents"})
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for start in range(0, whole.num_rows, per_group):
            writer.write_table(whole.take(order.slice(start, per_group)))
    assert open(infos[0]["path"], "rb").read() == sink.getvalue()


def test_rows_converted_in_parts_give_the_same_shard_bytes(tmp_path, monkeypatch):
    """Row dicts turned into Arrow every few rows (bounded Python objects) write the same file as
    all rows converted at once."""
    import numpy as np

    import pipeline.io.shards as shards

    rng = np.random.default_rng(3)
    rows = [{"doc_id": f"{rng.integers(1 << 60):016x}", "exact_hash": f"h{i}",
             "minhash": None if i % 9 == 0 else rng.integers(0, 1 << 32, 128).tolist(),
             "lang": "en" if i % 2 else None, "run_id": "run-1"} for i in range(60)]
    elements = [rows[:3], *rows[3:40], rows[40:]]
    whole = _write(tmp_path / "whole", "signatures", elements, 1000, 1 << 30)
    monkeypatch.setattr(shards, "_PENDING_ROWS", 4)
    parts = _write(tmp_path / "parts", "signatures", elements, 1000, 1 << 30)
    assert len(whole) == len(parts) == 1
    assert open(whole[0]["path"], "rb").read() == open(parts[0]["path"], "rb").read()
    got = sorted(_read(parts[0]).to_pylist(), key=lambda r: r["doc_id"])
    assert got == sorted(rows, key=lambda r: r["doc_id"])


def test_row_groups_are_written_on_one_helper_thread_with_at_most_two_in_flight(tmp_path, monkeypatch):
    """A shard's rows are put in order on the bundle's thread and written row group by row group on
    one helper thread: never on the bundle's thread, never two writes at once, never more than two
    row groups gathered and not yet written (a worker holds one shard and a row group more, not two
    shards); every shard's info comes out, with all its rows in key order."""
    import threading
    import time

    import pipeline.io.shards as shards

    monkeypatch.setattr(shards, "ROW_GROUP_BYTES", 1)  # one row per row group
    main = threading.get_ident()
    lock = threading.Lock()
    state = {"in_flight": 0, "most_in_flight": 0, "writing": 0, "most_writing": 0}
    writers = set()
    real_take, real_write = shards.take_rows, pq.ParquetWriter.write_table

    def take(*args, **kwargs):
        part = real_take(*args, **kwargs)
        with lock:
            state["in_flight"] += 1
            state["most_in_flight"] = max(state["most_in_flight"], state["in_flight"])
        return part

    def write(self, table, *args, **kwargs):
        writers.add(threading.get_ident())
        with lock:
            state["writing"] += 1
            state["most_writing"] = max(state["most_writing"], state["writing"])
        try:
            time.sleep(0.003)  # slower than gathering: the bundle's thread would run ahead if it could
            return real_write(self, table, *args, **kwargs)
        finally:
            with lock:
                state["writing"] -= 1
                state["in_flight"] -= 1

    monkeypatch.setattr(shards, "take_rows", take)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", write)
    recs = _records(40)
    batches = [output_batches(recs[i:i + 4], "run-1")[0] for i in range(0, 40, 4)]
    infos = _write(tmp_path, "documents", batches, 6, 1 << 30)
    assert sorted(i["rows"] for i in infos) == [4] + [6] * 6
    assert len(writers) == 1 and main not in writers
    assert state["most_writing"] == 1 and state["most_in_flight"] == 2 and state["in_flight"] == 0
    for info in infos:
        shard = pq.ParquetFile(info["path"])
        assert shard.metadata.num_row_groups == info["rows"]
        ids = shard.read().column("doc_id").to_pylist()
        assert ids == sorted(ids) and hashlib.sha256(open(info["path"], "rb").read()).hexdigest() == info["sha256"]
    got = sorted(r["doc_id"] for info in infos for r in _read(info).to_pylist())
    assert got == sorted(r["doc_id"] for r in recs)


def test_a_shard_that_fails_to_write_fails_the_bundle(tmp_path):
    """An error on the writer thread reaches the runner (here: the staging folder is a file)."""
    blocker = tmp_path / "staging"
    blocker.write_text("not a folder")
    fn = _ShardWriterFn("documents", str(blocker), 5, 1 << 30, "run-1", "doc_id")
    fn.setup()
    fn.start_bundle()
    recs = _records(8)
    with pytest.raises(Exception):
        list(fn.process(output_batches(recs, "run-1")[0]))
        list(fn.finish_bundle())
    fn.teardown()


# A SIGTERM (or Ctrl-C) handled in the main thread after ``submit`` has queued a row group for the
# helper but before the writer holds its Future: the writer must not close the Parquet file under
# that row group (it did, and Arrow crashed the process, under load in about one terminated run in
# thirty). Each signal with the handler `curate run` installs for it.
_SIGNAL_INSIDE_SUBMIT = r"""
import signal, sys, threading
from pipeline.cli import interrupt_handler
from pipeline.io import shards
from pipeline.records import new_record, output_batches
from pipeline.runtime import terminate

signum = getattr(signal, sys.argv[2])
fn = shards._ShardWriterFn("documents", sys.argv[1], 10**6, 1 << 40, "run-1", "doc_id")
fn.setup()
fn.start_bundle()
signal.signal(signal.SIGTERM, lambda *_: terminate(signal.SIGTERM))
signal.signal(signal.SIGINT, interrupt_handler(threading.Event()))
real_submit, gate, futures = fn._writer.submit, threading.Event(), []

def submit(task, *args):
    futures.append(None)
    if len(futures) != 2:
        futures[-1] = real_submit(task, *args)
        return futures[-1]
    real_submit(gate.wait)  # the helper reaches the second row group only after the main thread reacted
    futures[-1] = real_submit(task, *args)
    threading.Timer(0.5, gate.set).start()
    signal.raise_signal(signum)  # the handler runs here: queued, Future not yet returned
    return futures[-1]

fn._writer.submit = submit
records = [new_record(source_uri="/in.jsonl", record_index=i, text=f"row {i} " * 20) for i in range(40)]
stopped = None
try:
    fn._write_shard([output_batches(records, "run-1")[0]], 4 * shards.ROW_GROUP_BYTES)  # 4 row groups
except (SystemExit, KeyboardInterrupt) as exc:
    stopped = type(exc).__name__
fn.teardown()
print(stopped, len(futures), repr(futures[1].exception()))
"""


@pytest.mark.parametrize("signame,stopped", [("SIGTERM", "SystemExit"), ("SIGINT", "KeyboardInterrupt")])
def test_a_signal_inside_submit_does_not_close_the_file_under_a_queued_row_group(tmp_path, signame, stopped):
    import os
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _SIGNAL_INSIDE_SUBMIT, str(tmp_path), signame], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert res.returncode == 0, res.stderr[-3000:]  # -11: Arrow wrote a row group into a closed writer
    assert res.stdout.split() == [stopped, "2", "None"], res.stdout  # the run still stops; the row group was written
