"""Ingest over real files: every bad-input case, splits, compression, Parquet, WARC, inputs, Beam."""
from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import logging
import threading

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import ConfigError, RunConfig
from pipeline.io import splits, streams
from pipeline.io.discovery import InputError, expand_inputs
from pipeline.io.readers import jsonl
from pipeline.io.sources import ReadInputs, read_split
from pipeline.io.splits import plan_splits, record_factory
from pipeline.records import make_doc_id, new_record
from pipeline.runners import local_pipeline

SECRET = "SECRET-jane.doe@example.com"  # must never reach an error message or a decision detail


# --- helpers -----------------------------------------------------------------------------------
def read_direct(path, cfg: RunConfig | None = None, run_id: str = "r1") -> dict:
    """Plan and read one file without Beam; returns records, quarantine, decisions, inputs."""
    cfg = cfg or RunConfig()
    out = {"records": [], "quarantine": [], "decisions": [], "inputs": [], "batches": []}
    for f in expand_inputs([str(path)]):
        for item in plan_splits(f, cfg):
            for tag, value in read_split(item, cfg, run_id):
                if tag == "records":
                    out["batches"].append(value)
                    out["records"].extend(value)
                else:
                    out[tag].append(value)
    return out


_SINK: dict[str, list] = {}
_SINK_LOCK = threading.Lock()


def _collect(key, value):
    with _SINK_LOCK:
        _SINK.setdefault(key, []).append(value)


def run_beam(inputs, cfg: RunConfig | None = None, run_id: str = "r1") -> dict:
    """ReadInputs on the real local Beam runner; returns every output, gathered in-process."""
    cfg = cfg or RunConfig()
    token = f"run{len(_SINK)}-{id(cfg)}"
    files = expand_inputs([str(i) for i in inputs])
    with local_pipeline() as p:
        out = p | ReadInputs(files, cfg, run_id)
        for tag in ("records", "quarantine", "decisions", "inputs"):
            _ = out[tag] | f"sink:{tag}" >> beam.Map(_collect_tag, f"{token}:{tag}")
    res = {tag: _SINK.pop(f"{token}:{tag}", []) for tag in ("records", "quarantine", "decisions", "inputs")}
    res["batches"] = res.pop("records")
    res["records"] = [r for b in res["batches"] for r in b]
    return res


def _collect_tag(value, key):
    _collect(key, value)


def outcomes(res, by_uri=False) -> dict:
    """record_index (or (uri, record_index)) → outcome; asserts each input record has exactly one."""
    got: dict[tuple, tuple] = {}

    def put(uri, idx, what):
        assert (uri, idx) not in got, f"two outcomes for {uri}#{idx}: {got[(uri, idx)]} and {what}"
        got[(uri, idx)] = what

    for r in res["records"]:
        put(r["source_uri"], r["record_index"], ("record",))
    qids = {q["doc_id"] for q in res["quarantine"]}
    for d in res["decisions"]:
        if d["action"] == "quarantine":
            assert d["doc_id"] in qids
            put(d["source_uri"], d["record_index"], ("quarantine", d["reason"]))
        else:
            assert (d["action"], d["stage"], d["reason"]) == ("drop", "ingest", "empty")
            put(d["source_uri"], d["record_index"], ("drop", "empty"))
    assert len(res["quarantine"]) == sum(1 for v in got.values() if v[0] == "quarantine")
    assert sum(s["records"] for s in res["inputs"]) == len(got)
    if by_uri:
        return got
    assert len({uri for uri, _ in got}) <= 1
    return {idx: v for (_, idx), v in got.items()}


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prose_lines(n: int) -> list[bytes]:
    words = "the quick brown fox jumps over a lazy dog while 한국어 문장 と 日本語 and 中文 text flows".split()
    out = []
    for i in range(n):
        text = " ".join(itertools.islice(itertools.cycle(words), i % 7, i % 7 + 5 + (i * 13) % 40))
        out.append(json.dumps({"id": f"d{i}", "text": f"{text} #{i}"}, ensure_ascii=i % 2 == 0).encode())
    return out


BAD_LINES = [
    b'{"id": "a", "text": "A good first document.", "url": "https://example.org/a", "license": "MIT", "source": "web", "meta": {"k": [1, 2]}}',
    b"",  # 1 blank: counted in numbering, not a record
    b'{"text": "' + SECRET.encode() + b'", broken',  # 2 malformed JSON
    b'["' + SECRET.encode() + b'"]',  # 3 not an object
    b'{"id": 7, "body": "' + SECRET.encode() + b'"}',  # 4 missing text
    b'{"id": 8, "text": 12345}',  # 5 text not a string
    b'{"id": 9, "text": "caf\xe9 ' + SECRET.encode() + b'"}',  # 6 invalid UTF-8 (latin-1 byte)
    b'{"id": 10, "text": "' + b"x" * 500 + b'"}',  # 7 over max_record_bytes
    b'{"id": 11, "text": "   \\n\\t  "}',  # 8 whitespace-only text
    b'{"id": 12, "text": ""}',  # 9 empty text
    b"   ",  # 10 whitespace-only line: blank
    b'{"id": 13, "text": null}',  # 11 null text: missing
    b'{"id": 14, "text": "CRLF line stays fine."}\r',  # 12
    b'{"id": [1, 2], "text": "Non-string ids are stringified.", "url": 5}',  # 13
    b'{"id": "last", "text": "No newline at the end of the file."}',  # 14
]


# --- JSONL -------------------------------------------------------------------------------------
def test_jsonl_every_bad_case_has_exactly_one_outcome(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES))
    cfg = RunConfig(max_record_bytes=300, quarantine_raw_bytes=40)
    res = read_direct(path, cfg)
    got = outcomes(res)
    assert got == {
        0: ("record",),
        2: ("quarantine", "parse_error"),
        3: ("quarantine", "not_an_object"),
        4: ("quarantine", "missing_text"),
        5: ("quarantine", "text_not_string"),
        6: ("quarantine", "invalid_utf8"),
        7: ("quarantine", "record_too_large"),
        8: ("drop", "empty"),
        9: ("drop", "empty"),
        11: ("quarantine", "missing_text"),
        12: ("record",),
        13: ("record",),
        14: ("record",),
    }
    recs = {r["record_index"]: r for r in res["records"]}
    first = recs[0]
    assert first["source_id"] == "a" and first["url"] == "https://example.org/a"
    assert first["_declared_license"] == "MIT" and first["_source"] == "web" and first["_meta"] == {"k": [1, 2]}
    assert first["source_uri"] == str(path) and first["doc_id"] == make_doc_id(str(path), 0)
    assert recs[13]["source_id"] == "[1,2]" and recs[13]["url"] == "5"
    assert recs[12]["text"] == "CRLF line stays fine." and recs[14]["source_id"] == "last"

    q = {row["record_index"]: row for row in res["quarantine"]}
    offsets = [0]
    for line in BAD_LINES[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    for idx, row in q.items():
        assert row["source_uri"] == str(path)
        assert row["offset"] == offsets[idx]  # byte offset of the line
        assert row["raw"] == BAD_LINES[idx][:40] and len(row["raw"]) <= 40
        assert row["raw_truncated"] == (len(BAD_LINES[idx]) > 40)
        assert SECRET not in row["error"] and "jane" not in row["error"]
    assert q[7]["raw_bytes"] == len(BAD_LINES[7]) and "max_record_bytes" in q[7]["error"]
    for d in res["decisions"]:
        assert SECRET not in (d["detail"] or "")
    assert res["inputs"] == [{"uri": str(path), "records": 13, "bytes": path.stat().st_size, "sha256": sha(path)}]


def test_blank_lines_count_in_record_index(tmp_path):
    path = tmp_path / "blanks.jsonl"
    path.write_text('\n\n{"text": "third line"}\n\n\n{"text": "sixth line"}\n\n', encoding="utf-8")
    res = read_direct(path)
    assert [(r["record_index"], r["text"]) for r in res["records"]] == [(2, "third line"), (5, "sixth line")]
    assert res["inputs"][0]["records"] == 2 and not res["decisions"]


def test_bom_at_file_start_is_ignored(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "first"}\n{"text": "second"}\n')
    res = read_direct(path)
    assert [r["text"] for r in res["records"]] == ["first", "second"] and not res["quarantine"]


def test_line_longer_than_read_blocks_is_skipped_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 64)  # the long line spans many reads
    long_line = b'{"text": "' + b"y" * 5000 + b'"}'
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"text": "before"}\n' + long_line + b'\n{"text": "after"}\n' + long_line)
    cfg = RunConfig(max_record_bytes=1000, quarantine_raw_bytes=30)
    res = read_direct(path, cfg)
    assert outcomes(res) == {0: ("record",), 1: ("quarantine", "record_too_large"), 2: ("record",), 3: ("quarantine", "record_too_large")}
    q = res["quarantine"][0]
    assert q["raw"] == long_line[:30] and q["raw_bytes"] == len(long_line) and q["raw_truncated"]
    assert q["offset"] == len(b'{"text": "before"}\n')
    assert [r["text"] for r in res["records"]] == ["before", "after"]


def test_record_factory_matches_new_record():
    make = record_factory("/data/x.jsonl")
    a = make(41, "text", "sid", "https://u", "MIT", "web", {"m": 1}, {"x-robots-tag": "noai"}, {"robots": "noai"})
    b = new_record(source_uri="/data/x.jsonl", record_index=41, text="text", source_id="sid", url="https://u",
                   license="MIT", source="web", meta={"m": 1}, http_headers={"x-robots-tag": "noai"}, html_meta={"robots": "noai"})
    assert a == b
    c, d = make(0, "t"), make(1, "t")
    assert c == new_record(source_uri="/data/x.jsonl", record_index=0, text="t")
    c["_flags"].append("x")
    c["pii_counts"]["EMAIL"] = 1
    assert d["_flags"] == [] and d["pii_counts"] == {}  # containers are fresh per record


# --- splits ------------------------------------------------------------------------------------
def test_plan_splits_are_newline_aligned_with_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "HASH_BLOCK", 37)  # boundaries' newlines fall in later blocks
    lines = prose_lines(120)
    lines[10] = b""
    lines[50] = b'{"text": "' + b"z" * 400 + b'"}'  # longer than split_bytes
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    f = expand_inputs([str(path)])[0]
    items = list(plan_splits(f, RunConfig(split_bytes=300)))
    assert len(items) > 5
    assert items[0]["start"] == 0 and items[-1]["end"] == len(data)
    for prev, nxt in zip(items, items[1:]):
        assert prev["end"] == nxt["start"]
        assert data[nxt["start"] - 1 : nxt["start"]] == b"\n"
        assert nxt["first_index"] == data[: nxt["start"]].count(b"\n")
    assert [i["sha256"] for i in items] == [sha(path)] + [None] * (len(items) - 1)
    assert [i["bytes"] for i in items] == [len(data)] + [None] * (len(items) - 1)


def test_local_workers_each_get_splits_of_a_file_below_split_bytes(tmp_path, monkeypatch):
    # 2 workers, a file far below run.split_bytes: it is still cut so both workers read some,
    # about two ranges per worker, and never below the minimum split size.
    monkeypatch.setattr(splits, "MIN_SPLIT_BYTES", 1000)
    data = b"\n".join(prose_lines(400)) + b"\n"
    path = tmp_path / "mid.jsonl"
    path.write_bytes(data)
    f = expand_inputs([str(path)])[0]
    cfg = RunConfig()  # split_bytes = 64 MiB, far above this file
    assert len(list(plan_splits(f, cfg))) == 1  # workers unknown: only split_bytes counts
    assert len(list(plan_splits(f, cfg, workers=1))) == 1
    two = list(plan_splits(f, cfg, workers=2))
    assert len(two) == 2 * splits.SPLITS_PER_WORKER
    assert two[0]["start"] == 0 and two[-1]["end"] == len(data)
    monkeypatch.setattr(splits, "MIN_SPLIT_BYTES", len(data))
    assert len(list(plan_splits(f, cfg, workers=2))) == 1  # too small to be worth splitting


def test_read_workers_follows_the_runner_options():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.run import read_workers

    assert read_workers(PipelineOptions([])) == 1  # in-memory DirectRunner: one worker
    assert read_workers(PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])) == 2
    assert read_workers(PipelineOptions(["--direct_num_workers=3", "--direct_running_mode=in_memory"])) == 1
    assert read_workers(PipelineOptions(["--runner=FlinkRunner"])) == 0  # the runner decides


def test_split_and_unsplit_reads_are_identical_through_beam(tmp_path):
    lines = prose_lines(400)
    lines[3] = b""
    lines[77] = b"{oops"
    lines[150] = b'{"text": " "}'
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b"\n".join(lines))  # no trailing newline
    whole = run_beam([path], RunConfig(batch_size=64))
    split = run_beam([path], RunConfig(batch_size=64, split_bytes=2000))
    assert len(split["inputs"]) > 5 and len(whole["inputs"]) == 1

    def key(res):
        return (
            sorted((r["doc_id"], r["record_index"], r["text"], r["source_id"]) for r in res["records"]),
            sorted((q["doc_id"], q["record_index"], q["offset"], q["reason"], q["raw"]) for q in res["quarantine"]),
            sorted((d["doc_id"], d["reason"]) for d in res["decisions"]),
        )

    assert key(whole) == key(split)
    assert len(whole["records"]) == 397
    assert outcomes(split)[77] == ("quarantine", "parse_error")
    assert sum(s["records"] for s in split["inputs"]) == 399
    assert [s["sha256"] for s in split["inputs"] if s["sha256"]] == [sha(path)]
    assert [s["bytes"] for s in split["inputs"] if s["bytes"] is not None] == [path.stat().st_size]
    assert all(len(b) <= 64 for b in split["batches"])
    # same file, same records → the same doc_ids on a rerun (and under another run_id)
    again = run_beam([path], RunConfig(batch_size=64), run_id="r2")
    assert key(again) == key(whole)


# --- compression -------------------------------------------------------------------------------
def _body(n=300) -> bytes:
    return b"\n".join(prose_lines(n)) + b"\n"


def test_gzip_and_zstd_are_read_transparently(tmp_path):
    data = _body()
    (tmp_path / "plain.jsonl").write_bytes(data)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data[:5000]) + gzip.compress(data[5000:]))  # two members
    cctx = zstandard.ZstdCompressor()
    (tmp_path / "a.jsonl.zst").write_bytes(cctx.compress(data[:7000]) + cctx.compress(data[7000:]))  # two frames
    plain = read_direct(tmp_path / "plain.jsonl")
    expected = [(r["record_index"], r["text"]) for r in plain["records"]]
    for name, comp in (("a.jsonl.gz", "gzip"), ("a.jsonl.zst", "zstd")):
        assert expand_inputs([str(tmp_path / name)])[0]["compression"] == comp
        res = read_direct(tmp_path / name)
        assert [(r["record_index"], r["text"]) for r in res["records"]] == expected
        assert not res["quarantine"]
        assert res["inputs"][0]["sha256"] == sha(tmp_path / name)  # of the file as stored
        assert res["inputs"][0]["bytes"] == (tmp_path / name).stat().st_size


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_compressed_file_keeps_what_was_read_then_one_quarantine_row(tmp_path, suffix):
    data = _body(2000)
    blob = gzip.compress(data) if suffix.endswith(".gz") else zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(blob[: len(blob) // 2])
    res = read_direct(path)
    got = outcomes(res)
    n = len(res["records"])
    assert 0 < n < 2000
    assert [r["record_index"] for r in res["records"]] == list(range(n))
    assert got[n] == ("quarantine", "unreadable_file") and len(res["quarantine"]) == 1
    q = res["quarantine"][0]
    assert q["record_index"] == n and q["error"].split(":")[0] in ("EOFError", "ZstdError")
    assert data.startswith(b"\n".join(prose_lines(n)) + b"\n" + q["raw"])  # raw is the cut line's start
    assert res["inputs"][0]["records"] == n + 1 and res["inputs"][0]["sha256"] == sha(path)


def test_file_that_is_not_gzip_is_unreadable_not_a_crash(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(b'{"text": "plain text, not gzip"}\n')
    res = read_direct(path)
    assert outcomes(res) == {0: ("quarantine", "unreadable_file")}
    assert res["quarantine"][0]["error"].startswith("BadGzipFile")


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_inflaters_hold_a_bounded_buffer_whatever_the_ratio(codec):
    """64 MiB of zeros from a few KB: one read(1 MiB) never buffers more than a few decode steps
    (the memory bound itself is measured in tests/security and benchmarks/bench_bombs.py)."""
    zeros = bytes(64 << 20)
    packed = gzip.compress(zeros, 9) if codec == "gzip" else zstandard.ZstdCompressor(level=19).compress(zeros)
    reader = (streams.GzipReader if codec == "gzip" else streams.ZstdReader)(io.BytesIO(packed))
    largest, total = 0, 0
    while True:
        block = reader.read(1 << 20)
        largest = max(largest, len(reader._buf))
        if not block:
            break
        total += len(block)
    assert total == len(zeros)
    assert largest <= 8 << 20, largest  # a whole-chunk decode would buffer all 64 MiB at once


# --- .txt ----------------------------------------------------------------------------------------
def test_txt_files_are_one_document_each(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "ok.txt").write_bytes("\ufeff첫 줄입니다.\nSecond line.\n".encode())
    (d / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (d / "blank.txt").write_text(" \n\n\t", encoding="utf-8")
    (d / "big.txt.gz").write_bytes(gzip.compress(b"w" * 5000))
    cfg = RunConfig(max_record_bytes=1000)
    res = {p.name: read_direct(p, cfg) for p in sorted(d.iterdir())}
    ok = res["ok.txt"]["records"]
    assert [(r["record_index"], r["text"]) for r in ok] == [(0, "첫 줄입니다.\nSecond line.\n")]
    assert outcomes(res["latin1.txt"]) == {0: ("quarantine", "invalid_utf8")}
    assert outcomes(res["blank.txt"]) == {0: ("drop", "empty")}
    assert outcomes(res["big.txt.gz"]) == {0: ("quarantine", "record_too_large")}
    assert res["big.txt.gz"]["quarantine"][0]["raw_bytes"] == 5000


# --- Parquet -----------------------------------------------------------------------------------
def test_parquet_rows_follow_the_jsonl_field_rules(tmp_path):
    table = pa.table({
        "id": [1, 2, 3, 4, 5],
        "text": ["First row of prose.", None, "   ", "Fourth row.", "Fifth row."],
        "url": ["https://a", None, None, None, "https://e"],
        "license": ["CC-BY-4.0", None, None, None, None],
        "meta": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}],
        "other": ["x"] * 5,
    })
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=2)
    res = read_direct(path, RunConfig(batch_size=2))
    assert outcomes(res) == {0: ("record",), 1: ("quarantine", "missing_text"), 2: ("drop", "empty"), 3: ("record",), 4: ("record",)}
    r0 = res["records"][0]
    assert (r0["source_id"], r0["url"], r0["_declared_license"], r0["_meta"]) == ("1", "https://a", "CC-BY-4.0", {"n": 1})
    assert res["inputs"][0]["sha256"] == sha(path) and res["inputs"][0]["records"] == 5


def test_parquet_without_text_column_or_corrupt_is_quarantined(tmp_path):
    pq.write_table(pa.table({"body": ["a", "b", "c"]}), tmp_path / "notext.parquet")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), good, row_group_size=100)
    blob = good.read_bytes()
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    # keep the footer, wreck the middle: row groups before the damage are read, then one row
    wrecked = bytearray(blob)
    mid = len(blob) // 2
    wrecked[mid : mid + 300] = b"\xff" * 300
    (tmp_path / "wrecked.parquet").write_bytes(bytes(wrecked))

    notext = read_direct(tmp_path / "notext.parquet")
    assert outcomes(notext) == {0: ("quarantine", "missing_text")}
    assert "no 'text' column" in notext["quarantine"][0]["error"] and "3 rows" in notext["quarantine"][0]["error"]

    garbage = read_direct(tmp_path / "garbage.parquet")
    assert outcomes(garbage) == {0: ("quarantine", "unreadable_file")}

    wrecked_res = read_direct(tmp_path / "wrecked.parquet", RunConfig(batch_size=100))
    got = outcomes(wrecked_res)
    n = len(wrecked_res["records"])
    assert n < 1000 and got[n] == ("quarantine", "unreadable_file")
    assert [r["text"] for r in wrecked_res["records"]] == [f"row {i}" for i in range(n)]


# --- WARC --------------------------------------------------------------------------------------
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>{meta}</head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>{title}</h1><p>{para}</p><p>{para}</p></article>
<footer>Site footer with links</footer></body></html>"""
PARA = ("The river town keeps a small museum of boats, and every summer the volunteers repaint the "
        "oldest hull by hand while visitors watch and ask about the history of the harbour.")


def write_warc(path, gz=True):
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))  # 0

        def response(url, body, ctype, extra=(), status="200 OK"):
            headers = StatusAndHeaders(status, [("Content-Type", ctype), *extra], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))

        req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
        w.write_record(w.create_warc_record("https://example.org/a", "request", payload=io.BytesIO(b""), http_headers=req))  # 1
        response("https://example.org/a", PAGE.format(title="Boats", meta='<meta name="robots" content="noai">', para=PARA).encode(),
                 "text/html; charset=utf-8")  # 2
        response("https://example.org/logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")  # 3
        response("https://example.org/b", PAGE.format(title="Harbour", meta="", para=PARA.replace("boats", "ships")).encode(),
                 "text/html", extra=[("X-Robots-Tag", "noai"), ("X-Robots-Tag", "noimageai")])  # 4
        response("https://example.org/empty", b"<html><head><meta name='tdm-reservation' content='1'></head><body></body></html>",
                 "text/html")  # 5
        response("https://example.org/missing", PAGE.format(title="Gone", meta="", para=PARA).encode(), "text/html",
                 status="404 Not Found")  # 6


def test_warc_html_responses_become_records_with_headers_and_meta(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_warc(path)
    assert expand_inputs([str(path)])[0]["format"] == "warc"
    res = read_direct(path)
    assert outcomes(res) == {2: ("record",), 4: ("record",), 5: ("drop", "empty")}
    a, b = res["records"]
    assert a["url"] == "https://example.org/a" and a["source_id"].startswith("<urn:uuid:")
    assert "river town keeps a small museum of boats" in a["text"] and "Site footer" not in a["text"]
    assert a["_html_meta"]["robots"] == "noai" and a["_http_headers"]["content-type"].startswith("text/html")
    assert b["_http_headers"]["x-robots-tag"] == "noai, noimageai" and "robots" not in b["_html_meta"]
    assert res["inputs"][0]["records"] == 3 and res["inputs"][0]["sha256"] == sha(path)
    plain = tmp_path / "crawl.warc"  # uncompressed: the same pages, no false truncation
    write_warc(plain, gz=False)
    res_plain = read_direct(plain)
    assert outcomes(res_plain) == outcomes(res)
    assert [r["text"] for r in res_plain["records"]] == [r["text"] for r in res["records"]]


def test_truncated_warc_keeps_earlier_pages(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_warc(path)
    blob = path.read_bytes()
    plain = tmp_path / "crawl.warc"
    write_warc(plain, gz=False)
    cuts = {"a.warc.gz": blob[: int(len(blob) * 0.3)], "b.warc.gz": blob[: int(len(blob) * 0.75)],
            "c.warc": plain.read_bytes()[: int(plain.stat().st_size * 0.6)]}
    for name, data in cuts.items():
        cut = tmp_path / name
        cut.write_bytes(data)
        res = read_direct(cut)
        got = outcomes(res)
        unreadable = [k for k, v in got.items() if v == ("quarantine", "unreadable_file")]
        assert len(unreadable) == 1 and unreadable[0] == max(got), (name, got)
        # every page before the cut is kept, the page the cut falls in is not half-read
        assert all(v == ("record",) for k, v in got.items() if k < unreadable[0] and k != 5), (name, got)
        assert res["quarantine"][0]["error"].startswith("EOFError") or name == "c.warc", res["quarantine"]
    assert outcomes(read_direct(tmp_path / "b.warc.gz"))[2] == ("record",)


# --- inputs ------------------------------------------------------------------------------------
def test_expand_inputs_directories_globs_and_errors(tmp_path, caplog, monkeypatch):
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.jsonl").write_text('{"text": "a"}\n')
    (root / "sub" / "b.json.zst").write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "b"}\n'))
    (root / "sub" / "deeper" / "c.txt").write_text("c")
    (root / "sub" / "d.parquet").write_bytes(b"")
    (root / "sub" / "e.warc.gz").write_bytes(b"")
    (root / "README.md").write_text("not input")
    (root / "sub" / "image.png").write_bytes(b"\x89PNG")

    with caplog.at_level(logging.WARNING, logger="pipeline.ingest"):
        files = expand_inputs([str(root)])
    assert [f["uri"] for f in files] == sorted(str(p) for p in [
        root / "a.jsonl", root / "sub" / "b.json.zst", root / "sub" / "deeper" / "c.txt",
        root / "sub" / "d.parquet", root / "sub" / "e.warc.gz"])
    assert {(f["format"], f["compression"]) for f in files} == {
        ("jsonl", None), ("jsonl", "zstd"), ("txt", None), ("parquet", None), ("warc", "gzip")}
    assert files[0]["size"] == (root / "a.jsonl").stat().st_size
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "README.md" in warning and "image.png" in warning and "2 file(s)" in warning

    # globs (recursive too), de-duplicated against an explicit path, relative paths made absolute
    monkeypatch.chdir(tmp_path)
    files = expand_inputs(["in/**/*.txt", str(root / "*.jsonl"), "in/a.jsonl"])
    assert [f["uri"] for f in files] == [str(root / "a.jsonl"), str(root / "sub" / "deeper" / "c.txt")]

    with pytest.raises(InputError, match="nothing.jsonl") as err:
        expand_inputs([str(root / "nothing.jsonl")])
    assert isinstance(err.value, ConfigError)
    with pytest.raises(InputError, match=r"\*\.csv"):
        expand_inputs([str(root / "*.csv")])
    with pytest.raises(InputError, match="README.md"):
        expand_inputs([str(root / "README.md")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty"):
        expand_inputs([str(empty)])


def test_progress_is_logged_with_file_records_and_rate(tmp_path, caplog):
    path = tmp_path / "p.jsonl"
    path.write_bytes(_body(500))
    # DEBUG: the run-wide progress (pipeline.progress) is what INFO shows
    with caplog.at_level(logging.DEBUG, logger="pipeline.ingest"):
        read_direct(path, RunConfig(progress_seconds=0.0))
    msgs = [r.getMessage() for r in caplog.records if r.name == "pipeline.ingest"]
    assert any(str(path) in m and "500 records" in m and "MB/s" in m for m in msgs), msgs


# --- Beam: every format together -----------------------------------------------------------------
def test_read_inputs_through_beam_over_a_mixed_directory(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "bad.jsonl").write_bytes(b"\n".join(BAD_LINES))
    (root / "note.txt").write_text("A note about spring gardening.", encoding="utf-8")
    pq.write_table(pa.table({"text": ["Parquet row one.", "Parquet row two."], "id": ["p1", "p2"]}), root / "rows.parquet")
    write_warc(root / "crawl.warc.gz")
    cut = gzip.compress(_body(1000))
    (root / "cut.jsonl.gz").write_bytes(cut[: len(cut) // 3])
    cfg = RunConfig(batch_size=4, max_record_bytes=300)
    res = run_beam([root], cfg)
    got = outcomes(res, by_uri=True)  # asserts exactly one outcome per input record across all files
    by_file: dict[str, int] = {}
    for s in res["inputs"]:
        by_file[s["uri"].rsplit("/", 1)[-1]] = by_file.get(s["uri"].rsplit("/", 1)[-1], 0) + s["records"]
        if s["sha256"]:
            assert s["sha256"] == sha(tmp_path / "mixed" / s["uri"].rsplit("/", 1)[-1])
    assert by_file["bad.jsonl"] == 13 and by_file["note.txt"] == 1 and by_file["rows.parquet"] == 2
    assert by_file["crawl.warc.gz"] == 3
    assert len([s for s in res["inputs"] if s["sha256"]]) == 5
    assert all(0 < len(b) <= 4 for b in res["batches"])
    reasons = {q["reason"] for q in res["quarantine"]}
    assert {"parse_error", "not_an_object", "missing_text", "text_not_string", "invalid_utf8",
            "record_too_large", "unreadable_file"} <= reasons
    assert len(got) == sum(by_file.values())


def test_compressed_parquet_is_spooled_and_read(tmp_path):
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": ["eins", "zwei", "drei"], "id": ["a", "b", "c"]}), buf)
    path = tmp_path / "rows.parquet.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    assert expand_inputs([str(path)])[0][("format")] == "parquet"
    res = read_direct(path)
    assert [(r["record_index"], r["text"], r["source_id"]) for r in res["records"]] == [(0, "eins", "a"), (1, "zwei", "b"), (2, "drei", "c")]
    assert res["inputs"][0]["sha256"] == sha(path)
