"""A compressed JSONL file read by stride items (each decompresses the whole stream and parses the
lines starting in its own blocks) gives exactly what reading it whole gives: records, quarantine
rows, decisions and the file's stats, whatever the number of splits and the block size; and a
one-file input becomes enough work items for every worker, compressed or not."""
from __future__ import annotations

import gzip
import hashlib
import zlib

import pytest
import zstandard

from pipeline.config import RunConfig
from pipeline.io import splits
from pipeline.io.discovery import expand_inputs
from pipeline.io.sources import STRIDE, read_by_stride, read_split, stride_items
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


def whole_and_stride(path, splits_: int, block: int, cfg=CFG):
    """The reference (one item reading the file whole) and the stride items' union."""
    f = expand_inputs([str(path)])[0]
    items = stride_items(f, splits_, block)
    return read_items([whole_file_item(f)], cfg), read_items(items, cfg), items


ZSTD = zstandard.ZstdCompressor().compress
COMPRESSORS = pytest.mark.parametrize("compress", [gzip.compress, ZSTD], ids=["gzip", "zstd"])


def write(tmp_path, name: str, blob: bytes):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def suffix(compress) -> str:
    return ".jsonl.gz" if compress is gzip.compress else ".jsonl.zst"


@COMPRESSORS
@pytest.mark.parametrize("tail", [b"\n", b"", b"\n\n  \n"], ids=["newline", "no-newline", "blank-tail"])
@pytest.mark.parametrize("splits_,block", [(2, 700), (3, 1500), (2, 64), (1, 500)])
def test_stride_reads_exactly_as_the_whole_file(tmp_path, compress, tail, splits_, block):
    data = body(600).rstrip(b"\n") + tail
    path = write(tmp_path, "in" + suffix(compress), compress(data))
    whole, strided, items = whole_and_stride(path, splits_, block)
    assert canonical(strided) == canonical(whole)
    # the reference itself, checked against the file: every non-blank line has one outcome
    assert canonical(whole)["inputs"]["records"] == sum(1 for x in data.split(b"\n") if x.strip())
    assert canonical(whole)["inputs"]["sha256"] == [hashlib.sha256(path.read_bytes()).hexdigest()]
    assert canonical(whole)["inputs"]["bytes"] == [path.stat().st_size]
    assert len(whole["quarantine"]) > 50
    # every split parses a share: none reads the file whole, none is idle
    per_split = [read_items([item])["inputs"][0]["records"] for item in items]
    assert all(n > 0 for n in per_split) and sum(per_split) == canonical(whole)["inputs"]["records"]


def test_byte_order_mark_and_a_too_long_last_line(tmp_path):
    data = b"\xef\xbb\xbf" + body(80) + b'{"text": "' + b"y" * 5000 + b'"}'
    path = write(tmp_path, "bom.jsonl.gz", gzip.compress(data))
    for splits_, block in ((2, 700), (3, 256)):
        whole, strided, _ = whole_and_stride(path, splits_, block)
        assert canonical(strided) == canonical(whole)
    too_long = [q for q in whole["quarantine"] if q["reason"] == "record_too_large"]
    assert too_long[-1]["record_index"] == 80 and too_long[-1]["raw_bytes"] == 5000 + 12
    assert whole["records"][0]["record_index"] == 0 and whole["records"][0]["source_id"] == "a"


@pytest.mark.parametrize("splits_", [2, 3])
def test_lines_longer_than_a_block(tmp_path, splits_):
    """Lines spanning several blocks (one kept, one over max_record_bytes) are read once, by the
    split owning the block they start in; the lines after them keep their numbers."""
    lines = [b'{"id": "s%d", "text": "short %d"}' % (i, i) for i in range(40)]
    lines[5] = b'{"id": "long", "text": "' + b"k" * 1900 + b'"}'  # under max_record_bytes, 8 blocks
    lines[20] = b'{"id": "huge", "text": "' + b"h" * 9000 + b'"}'  # over it, 36 blocks
    data = b"\n".join(lines) + b"\n"
    path = write(tmp_path, "long.jsonl.gz", gzip.compress(data))
    whole, strided, _ = whole_and_stride(path, splits_, 256)
    assert canonical(strided) == canonical(whole)
    assert [r["source_id"] for r in strided["records"] if r["source_id"] == "long"] == ["long"]
    assert [(q["record_index"], q["reason"]) for q in whole["quarantine"]] == [(20, "record_too_large")]
    assert sorted(r["record_index"] for r in strided["records"]) == [i for i in range(40) if i != 20]


def test_multi_member_gzip(tmp_path):
    """Concatenated gzip members (as `cat a.gz b.gz` or bgzip make) are one stream."""
    data = body(400)
    cut = data.index(b"\n", len(data) // 3) + 1
    cut2 = len(data) * 2 // 3  # mid-line: a line continues into the next member
    blob = gzip.compress(data[:cut]) + gzip.compress(data[cut:cut2]) + gzip.compress(data[cut2:])
    path = write(tmp_path, "members.jsonl.gz", blob)
    whole, strided, _ = whole_and_stride(path, 2, 512)
    assert canonical(strided) == canonical(whole)
    assert canonical(whole)["inputs"]["records"] == sum(1 for x in data.split(b"\n") if x.strip())


@COMPRESSORS
@pytest.mark.parametrize("splits_,block", [(2, 4000), (3, 1000)])
def test_truncated_file_keeps_what_was_read_then_one_row(tmp_path, compress, splits_, block):
    data = body(3000, every_kind=False)
    blob = compress(data)
    path = write(tmp_path, "cut" + suffix(compress), blob[: len(blob) // 2])
    whole, strided, _ = whole_and_stride(path, splits_, block)
    assert canonical(strided) == canonical(whole)
    n = len(whole["records"])
    assert 0 < n < 3000 and [q["reason"] for q in strided["quarantine"]] == ["unreadable_file"]
    assert whole["quarantine"][0]["record_index"] == n


@pytest.mark.parametrize("splits_,block", [(2, 40_000), (3, 1 << 20)])
def test_corrupt_gzip_is_one_row_where_it_fails(tmp_path, splits_, block):
    """Bytes damaged in the middle of the deflate stream: the same records, then one
    ``unreadable_file`` row, whichever split owns the line being read when it fails."""
    data = body(40_000, every_kind=False)  # ~4 MB: it fails after some whole reads of the stream
    blob = bytearray(gzip.compress(data))
    for k in range(len(blob) // 2, len(blob) // 2 + 64):
        blob[k] ^= 0x5A
    path = write(tmp_path, "bad.jsonl.gz", bytes(blob))
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(bytes(blob))  # the oracle: the file really is corrupt
    whole, strided, _ = whole_and_stride(path, splits_, block)
    assert canonical(strided) == canonical(whole)
    # damaged deflate data may inflate to garbage lines before the decoder notices
    assert [q["reason"] for q in strided["quarantine"]].count("unreadable_file") == 1
    assert 0 < len(strided["records"]) < 40_000


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"not gzip at all\n"], ids=["empty", "bom-only", "not-gzip"])
def test_degenerate_files_read_by_stride_as_whole(tmp_path, content):
    path = write(tmp_path, "odd.jsonl.gz", gzip.compress(content) if content != b"not gzip at all\n" else content)
    whole, strided, _ = whole_and_stride(path, 3, 100)
    assert canonical(strided) == canonical(whole)
    assert canonical(strided)["inputs"]["sha256"] == [hashlib.sha256(path.read_bytes()).hexdigest()]


def test_missing_file_is_one_unreadable_row_either_way(tmp_path):
    path = write(tmp_path, "gone.jsonl.gz", gzip.compress(b'{"text": "x"}\n'))
    f = expand_inputs([str(path)])[0]
    path.unlink()
    strided = read_items(stride_items(f, 2, 100))
    whole = read_items([whole_file_item(f)])
    assert canonical(strided) == canonical(whole)
    assert [q["reason"] for q in strided["quarantine"]] == ["unreadable_file"]


def test_an_item_read_twice_gives_the_same_rows(tmp_path):
    """A retried bundle reads its item again: nothing was consumed by the first read."""
    path = write(tmp_path, "again.jsonl.gz", gzip.compress(body(300)))
    items = stride_items(expand_inputs([str(path)])[0], 2, 512)
    for item in items:
        first, second = read_items([item]), read_items([item])
        assert first["records"] and canonical(second) == canonical(first)


@pytest.mark.parametrize("workers", [2, 4])
def test_a_one_file_input_is_enough_items_for_every_worker(tmp_path, monkeypatch, workers):
    """>= 2 items per worker from ONE plain file; one stride item per worker from a compressed one."""
    data = body(20_000, every_kind=False)  # ~1.5 MB
    plain = write(tmp_path, "one.jsonl", data)
    packed = write(tmp_path, "one.jsonl.gz", gzip.compress(data))
    monkeypatch.setattr(splits, "MIN_SPLIT_BYTES", 64 * 1024)
    cfg = RunConfig()
    f_plain, f_gz = expand_inputs([str(plain)])[0], expand_inputs([str(packed)])[0]
    assert len(list(plan_splits(f_plain, cfg, workers))) >= 2 * workers
    assert read_by_stride(f_gz, workers) and not read_by_stride(f_gz, 1) and not read_by_stride(f_plain, workers)
    items = stride_items(f_gz, workers)
    assert [item[STRIDE][:2] for item in items] == [[k, workers] for k in range(workers)]
    assert sum(item["size"] for item in items) == packed.stat().st_size  # progress shares add up


def test_record_batches_stay_full_across_blocks(tmp_path):
    """Blocks hold fewer records than a batch: batches still fill up (all but each item's last)."""
    path = write(tmp_path, "many.jsonl.gz", gzip.compress(body(2000, every_kind=False)))
    for item in stride_items(expand_inputs([str(path)])[0], 2, 300):  # ~4 records per block
        sizes = [len(v) for tag, v in read_split(item, CFG, "r1") if tag == "records"]
        assert len(sizes) > 10 and set(sizes[:-1]) == {CFG.batch_size} and 0 < sizes[-1] <= CFG.batch_size
