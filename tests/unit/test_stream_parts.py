"""A compressed JSONL file read in parts (cut by one worker, read by many) gives exactly what
reading it whole gives: records, quarantine rows, decisions and the file's stats; and a one-file
input becomes enough work items for every worker, compressed or not."""
from __future__ import annotations

import gzip
import hashlib
import os

import pytest
import zstandard

from pipeline.config import RunConfig
from pipeline.io import splits, sources
from pipeline.io.discovery import expand_inputs
from pipeline.io.sources import LINES, PART, cut_stream, cuts_stream, read_split
from pipeline.io.splits import plan_splits, whole_file_item

SECRET = "SECRET-jane.doe@example.com"
LINES_OF_EVERY_KIND = [
    b'{"id": "a", "text": "A good first document.", "url": "https://example.org/a", "license": "MIT"}',
    b"",  # blank: numbered, not a record
    b'{"text": "' + SECRET.encode() + b'", broken',  # malformed JSON
    b'["' + SECRET.encode() + b'"]',  # not an object
    b'{"id": 7, "body": "' + SECRET.encode() + b'"}',  # missing text
    b'{"id": 9, "text": "caf\xe9 ' + SECRET.encode() + b'"}',  # invalid UTF-8
    b'{"id": 10, "text": "' + b"x" * 3000 + b'"}',  # over max_record_bytes (below)
    b'{"id": 12, "text": ""}',  # empty text
    b'{"id": 14, "text": "CRLF line stays fine."}\r',
]


def body(n: int, every_kind: bool = True) -> bytes:
    lines = []
    for i in range(n):
        if every_kind and i % 25 < len(LINES_OF_EVERY_KIND):
            lines.append(LINES_OF_EVERY_KIND[i % 25])
        else:
            lines.append(b'{"id": "d%d", "text": "document number %d with some words \\u00e9t\\u00e9 %s"}' % (i, i, b"w" * (i % 90)))
    return b"\n".join(lines) + b"\n"


CFG = RunConfig(max_record_bytes=2000, batch_size=16, quarantine_raw_bytes=64)


def read_items(items, cfg=CFG) -> dict:
    out = {"records": [], "quarantine": [], "decisions": [], "inputs": []}
    for item in items:
        for tag, value in read_split(item, cfg, "r1"):
            if tag == "records":
                out["records"].extend(value)
            else:
                out[tag].append(value)
    return out


def canonical(res: dict) -> dict:
    """What a run writes, whatever the cut: rows sorted, stats summed per file."""
    stats = {"records": sum(s["records"] for s in res["inputs"]),
             "bytes": [s["bytes"] for s in res["inputs"] if s["bytes"] is not None],
             "sha256": [s["sha256"] for s in res["inputs"] if s["sha256"]]}
    return {
        "records": sorted((r["doc_id"], r["record_index"], r["text"], r["source_id"], r["url"]) for r in res["records"]),
        "quarantine": sorted(tuple(sorted((k, repr(v)) for k, v in q.items())) for q in res["quarantine"]),
        "decisions": sorted(tuple(sorted((k, repr(v)) for k, v in d.items())) for d in res["decisions"]),
        "inputs": stats,
    }


def whole_and_parts(path, tmp_path, part_bytes: int):
    f = expand_inputs([str(path)])[0]
    spill = tmp_path / "spill"
    spill.mkdir(exist_ok=True)
    parts = list(cut_stream(f, CFG, str(spill), part_bytes))
    return read_items([whole_file_item(f)]), read_items(parts), parts, spill


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress], ids=["gzip", "zstd"])
@pytest.mark.parametrize("tail", [b"\n", b"", b"\n\n  \n"], ids=["newline", "no-newline", "blank-tail"])
def test_parts_read_exactly_as_the_whole_file(tmp_path, compress, tail):
    data = body(600).rstrip(b"\n") + tail
    path = tmp_path / ("in.jsonl.gz" if compress is gzip.compress else "in.jsonl.zst")
    path.write_bytes(compress(data))
    whole, parted, parts, spill = whole_and_parts(path, tmp_path, part_bytes=1500)
    assert sum(p[PART] == LINES for p in parts) > 10
    assert canonical(parted) == canonical(whole)
    # the reference itself, checked against the file: every non-blank line has one outcome
    assert canonical(whole)["inputs"]["records"] == sum(1 for x in data.split(b"\n") if x.strip())
    assert canonical(whole)["inputs"]["sha256"] == [hashlib.sha256(path.read_bytes()).hexdigest()]
    assert canonical(whole)["inputs"]["bytes"] == [path.stat().st_size]
    assert len(whole["quarantine"]) > 50
    assert os.listdir(spill) == []  # each part's file is removed once read


def test_byte_order_mark_and_a_too_long_last_line(tmp_path):
    data = b"\xef\xbb\xbf" + body(80) + b'{"text": "' + b"y" * 5000 + b'"}'
    path = tmp_path / "bom.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    whole, parted, parts, _ = whole_and_parts(path, tmp_path, part_bytes=700)
    assert canonical(parted) == canonical(whole)
    too_long = [q for q in whole["quarantine"] if q["reason"] == "record_too_large"]
    assert too_long[-1]["record_index"] == 80 and too_long[-1]["raw_bytes"] == 5000 + 12
    assert whole["records"][0]["record_index"] == 0 and whole["records"][0]["source_id"] == "a"


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress], ids=["gzip", "zstd"])
def test_truncated_file_read_in_parts_keeps_what_was_read_then_one_row(tmp_path, compress):
    data = body(3000, every_kind=False)
    blob = compress(data)
    path = tmp_path / ("cut.jsonl.gz" if compress is gzip.compress else "cut.jsonl.zst")
    path.write_bytes(blob[: len(blob) // 2])
    whole, parted, _, _ = whole_and_parts(path, tmp_path, part_bytes=4000)
    assert canonical(parted) == canonical(whole)
    n = len(whole["records"])
    assert 0 < n < 3000 and [q["reason"] for q in whole["quarantine"]] == ["unreadable_file"]
    assert whole["quarantine"][0]["record_index"] == n


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"not gzip at all\n"], ids=["empty", "bom-only", "not-gzip"])
def test_degenerate_files_read_in_parts_as_whole(tmp_path, content):
    path = tmp_path / "odd.jsonl.gz"
    path.write_bytes(gzip.compress(content) if content != b"not gzip at all\n" else content)
    whole, parted, parts, _ = whole_and_parts(path, tmp_path, part_bytes=100)
    assert canonical(parted) == canonical(whole)
    assert parts[-1][PART] == sources.END and parts[-1]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file_is_one_unreadable_row_either_way(tmp_path):
    path = tmp_path / "gone.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "x"}\n'))
    f = expand_inputs([str(path)])[0]
    path.unlink()
    parted = read_items(list(cut_stream(f, CFG, str(tmp_path), 100)))
    whole = read_items([whole_file_item(f)])
    assert canonical(parted) == canonical(whole)
    assert [q["reason"] for q in parted["quarantine"]] == ["unreadable_file"]


@pytest.mark.parametrize("workers", [2, 4])
def test_a_one_file_input_is_enough_items_for_every_worker(tmp_path, monkeypatch, workers):
    """>= 2 items per worker from ONE file, plain or compressed, at sizes a real run sees."""
    data = body(20_000, every_kind=False)  # ~1.5 MB
    plain = tmp_path / "one.jsonl"
    plain.write_bytes(data)
    packed = tmp_path / "one.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    monkeypatch.setattr(splits, "MIN_SPLIT_BYTES", 64 * 1024)
    cfg = RunConfig()
    f_plain, f_gz = expand_inputs([str(plain)])[0], expand_inputs([str(packed)])[0]
    assert len(list(plan_splits(f_plain, cfg, workers))) >= 2 * workers
    assert cuts_stream(f_gz, workers) and not cuts_stream(f_gz, 1) and not cuts_stream(f_plain, workers)
    parts = [p for p in cut_stream(f_gz, cfg, str(tmp_path), len(data) // (2 * workers) - 1) if p[PART] == LINES]
    assert len(parts) >= 2 * workers


def test_parts_of_a_decompression_bomb_stay_small_on_disk(tmp_path):
    """A small .gz of millions of repeated lines: its parts wait compressed, not inflated."""
    line = b'{"text": "same words again and again"}\n'
    inflated = line * 60_000  # ~2.4 MB
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(inflated, 9))
    f = expand_inputs([str(path)])[0]
    spill = tmp_path / "spill"
    spill.mkdir()
    parts = list(cut_stream(f, CFG, str(spill), 256 << 10))
    on_disk = sum(p.stat().st_size for p in spill.iterdir())
    assert sum(p[PART] == LINES for p in parts) >= 7
    assert on_disk < len(inflated) // 100
    assert sum(s["records"] for s in read_items(parts)["inputs"]) == 60_000
