"""Hostile input at ingest: decompression bombs, over-long records, quarantine excerpts that cut or
escape a value, column names and parser messages that carry personal data, and a library that
prints record bytes to stderr. Planted values are this file's own; outcomes are checked against
what was written, and every channel of a real run is scanned (conftest.scan_outputs)."""
from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import RunConfig
from pipeline.io.discovery import expand_inputs
from pipeline.io.sources import read_split
from pipeline.io.splits import plan_splits

from .conftest import scan_outputs, scan_text

ROOT = Path(__file__).resolve().parents[2]


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0


CARD = "4929 3812 0477 5567"  # a Luhn-valid test number with no repeated digit group
EMAIL = "mina.kim@example.org"
HANGUL_EMAIL = "seo.yun@example.kr"
COLUMN_EMAIL = "col.owner@example.com"
WARC_EMAIL = "warc.person@example.net"
assert luhn_valid(CARD)


def read(path, cfg: RunConfig | None = None) -> dict:
    cfg = cfg or RunConfig()
    out = {"records": [], "quarantine": []}
    for f in expand_inputs([str(path)]):
        for item in plan_splits(f, cfg):
            for tag, value in read_split(item, cfg, "r1"):
                if tag == "records":
                    out["records"].extend(value)
                elif tag == "quarantine":
                    out["quarantine"].append(value)
    return out


# --- bombs and over-long records ---------------------------------------------------------------
BOMB_BYTES = 200 << 20
CHILD = textwrap.dedent(r"""
    import json, sys
    from pipeline.config import RunConfig
    from pipeline.io.discovery import expand_inputs
    from pipeline.io.sources import read_split
    from pipeline.io.splits import plan_splits
    def status_mb(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    def read(path):
        cfg = RunConfig()
        rows, records = [], 0
        for f in expand_inputs([path]):
            for item in plan_splits(f, cfg):
                for tag, value in read_split(item, cfg, "t"):
                    if tag == "records":
                        records += len(value)
                    elif tag == "quarantine":
                        rows.append([value["reason"], value["raw_bytes"], len(value["raw"])])
        return rows, records
    # A small file of the same format first: lazy imports (and, on a fresh clone, their bytecode
    # compilation) belong to the baseline, not to the bomb.
    read(sys.argv[2])
    base = status_mb("VmRSS:")
    rows, records = read(sys.argv[1])
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS into ru_maxrss across fork and exec.
    print(json.dumps({"growth_mb": status_mb("VmHWM:") - base,
                      "records": records, "rows": rows}))
""")


def read_in_subprocess(path: Path, warmup: Path, timeout: float = 300) -> dict:
    """Read one file in a fresh process, after a small ``warmup`` file of the same format: its peak
    RSS growth over that baseline, records, quarantine rows."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(warmup)], capture_output=True, text=True, timeout=timeout,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_bomb(path: Path, head: bytes, size: int, tail: bytes) -> None:
    block = b"a" * (4 << 20)
    if path.name.endswith(".zst"):
        ctx = zstandard.ZstdCompressor(level=10).stream_writer(open(path, "wb"))
    else:
        ctx = gzip.open(path, "wb", compresslevel=6)
    with ctx as fh:
        fh.write(head)
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(tail)


@pytest.mark.parametrize("name", ["bomb.jsonl.zst", "bomb.jsonl.gz", "bomb.txt.zst"])
def test_bomb_inflates_under_a_fixed_memory_bound(tmp_path, name):
    """200 MiB from a few KB: one record_too_large row with the real size; the reading process
    grows by far less than the expansion (the bound is measured in benchmarks/bench_bombs.py)."""
    path = tmp_path / name
    head, tail = (b'{"text": "', b'"}\n') if ".jsonl" in name else (b"", b"")
    write_bomb(path, head, BOMB_BYTES, tail)
    warmup = tmp_path / f"small.{name}"
    write_bomb(warmup, head, 0, tail)
    result = read_in_subprocess(path, warmup)
    line = len(head) + BOMB_BYTES + len(tail.rstrip(b"\n"))
    assert result["records"] == 0
    assert result["rows"] == [["record_too_large", line, RunConfig().quarantine_raw_bytes]]
    assert result["growth_mb"] < 100, result  # 8 MiB max_record_bytes + a few decode steps


def test_warc_member_bomb_is_one_row_and_the_next_page_is_read(tmp_path):
    """A gzip member inflating to 200 MiB of a header line that never ends, between two pages."""
    def page_member(url: str) -> bytes:
        buf = io.BytesIO()
        w = WARCWriter(buf, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        body = b"<html><body><article><p>" + b"Boats are repainted by volunteers every summer. " * 8 + b"</p></article></body></html>"
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
        return buf.getvalue()

    bomb = tmp_path / "member.gz"
    write_bomb(bomb, b"WARC/1.0\r\nX-Filler: ", BOMB_BYTES, b"")
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(page_member("https://example.org/a") + bomb.read_bytes() + page_member("https://example.org/b"))
    # unbounded, warcio would grow one 200 MiB header line piece by piece: memory and a hang
    warmup = tmp_path / "small.warc.gz"
    warmup.write_bytes(page_member("https://example.org/warm"))
    result = read_in_subprocess(path, warmup, timeout=120)
    assert result["records"] == 2
    assert result["rows"] == [["record_too_large", 0, 0]]  # no excerpt: a header line is not a record's text
    assert result["growth_mb"] < 100, result


def test_over_long_jsonl_line_among_good_lines(tmp_path):
    cfg = RunConfig(max_record_bytes=4096, quarantine_raw_bytes=64)
    long_line = json.dumps({"text": "b" * 50_000}).encode()
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "first"}\n' + long_line + b'\n{"text": "last"}\n'))
    res = read(path, cfg)
    assert [r["text"] for r in res["records"]] == ["first", "last"]
    (q,) = res["quarantine"]
    assert (q["reason"], q["record_index"], q["raw_bytes"], len(q["raw"])) == ("record_too_large", 1, len(long_line), 64)


@pytest.mark.parametrize("binary", [False, True])
def test_over_long_parquet_cell_among_good_rows(tmp_path, binary):
    cfg = RunConfig(max_record_bytes=4096, quarantine_raw_bytes=64)
    big = "é" * 30_000  # two bytes each in UTF-8: 60,000 bytes
    values = ["first row", big, "last row"]
    column = pa.array([v.encode() for v in values]) if binary else pa.array(values)
    path = tmp_path / "cells.parquet"
    pq.write_table(pa.table({"text": column}), path)
    res = read(path, cfg)
    assert [r["text"] for r in res["records"]] == ["first row", "last row"]
    (q,) = res["quarantine"]
    assert (q["reason"], q["record_index"], q["raw_bytes"]) == ("record_too_large", 1, 60_000)
    assert q["raw"] == big.encode()[:64]


def _three_row_groups(path, middle: list[str]) -> None:
    texts = ["group zero a", "group zero b", *middle, "group two a", "group two b"]
    writer = pq.ParquetWriter(path, pa.schema([("text", pa.string())]), compression="zstd")
    for rows in (texts[:2], middle, texts[-2:]):
        writer.write_table(pa.table({"text": rows}))
    writer.close()


def test_a_parquet_page_over_the_bound_leaves_its_row_group_undecoded(tmp_path):
    """A page declaring more than run.max_parquet_page_bytes: its row group is not decoded, each of
    its rows is one record_too_large row numbered in place; the other row groups are read."""
    path = tmp_path / "groups.parquet"
    _three_row_groups(path, ["small one", "b" * (3 << 20), "small two"])
    res = read(path, RunConfig(max_parquet_page_bytes=1 << 20))  # max_record_bytes (8 MiB) would keep the cell
    assert [r["text"] for r in res["records"]] == ["group zero a", "group zero b", "group two a", "group two b"]
    assert [r["record_index"] for r in res["records"]] == [0, 1, 5, 6]
    assert [(q["reason"], q["record_index"], q["raw"]) for q in res["quarantine"]] == [
        ("record_too_large", i, b"") for i in (2, 3, 4)]
    assert all("row group 1 (3 rows) not decoded" in q["error"] and "'text'" in q["error"]
               and "run.max_parquet_page_bytes=1048576" in q["error"] for q in res["quarantine"])
    # under the bound, the same file reads as before: the cell alone is not too large
    assert len(read(path, RunConfig(max_parquet_page_bytes=4 << 20))["records"]) == 7


def test_a_damaged_parquet_page_header_costs_its_row_group_only(tmp_path):
    from pipeline.io.parquet_pages import chunk_span

    path = tmp_path / "groups.parquet"
    _three_row_groups(path, ["middle a", "middle b"])
    start, _ = chunk_span(pq.ParquetFile(path).metadata.row_group(1).column(0))
    data = bytearray(path.read_bytes())
    data[start : start + 12] = b"\xff" * 12
    path.write_bytes(bytes(data))
    res = read(path)
    assert [r["record_index"] for r in res["records"]] == [0, 1, 4, 5]
    assert [(q["reason"], q["record_index"]) for q in res["quarantine"]] == [("unreadable_record", 2), ("unreadable_record", 3)]
    assert all(f"unreadable page header at byte {start}" in q["error"] for q in res["quarantine"])


def test_parquet_batches_shrink_with_large_pages_and_read_the_same_records(tmp_path):
    """DuckDB writes pages of tens of MB: batches get fewer rows (the bound on what a batch's pages
    hold), the records are the same as in batches of run.batch_size."""
    import duckdb

    path = tmp_path / "duck.parquet"
    duckdb.connect().execute(f"COPY (SELECT repeat('word ', i % 1500) || i AS text, 'id' || i AS id FROM range(12000) t(i)) "
                             f"TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 6000)")
    whole = read(path, RunConfig(max_parquet_page_bytes=1 << 40))
    small = read(path, RunConfig(max_parquet_page_bytes=32 << 20))
    assert len(whole["records"]) == 12000 and not whole["quarantine"] and not small["quarantine"]
    assert [(r["record_index"], r["text"], r["source_id"]) for r in small["records"]] == \
        [(r["record_index"], r["text"], r["source_id"]) for r in whole["records"]]
    # and both are what DuckDB itself reads from the file, row by row
    rows = duckdb.connect().execute(
        f"SELECT file_row_number, text, id FROM read_parquet('{path}', file_row_number = true) ORDER BY 1").fetchall()
    assert [(r["record_index"], r["text"], r["source_id"]) for r in small["records"]] == [tuple(r) for r in rows]


def test_parquet_page_bomb_is_not_decoded(tmp_path):
    """A few KB of Parquet holding one 200 MiB cell: Arrow would decode the page whole (about
    800 MB); over the default run.max_parquet_page_bytes it is not decoded at all."""
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"text": ["a" * BOMB_BYTES]}), path, compression="zstd")
    assert path.stat().st_size < 200_000
    warmup = tmp_path / "small.parquet"
    pq.write_table(pa.table({"text": ["a small document"]}), warmup, compression="zstd")
    result = read_in_subprocess(path, warmup)
    assert result["records"] == 0
    assert result["rows"] == [["record_too_large", 0, 0]]
    assert result["growth_mb"] < 100, result


# --- quarantine excerpts ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine

    return PiiEngine.from_config(load_config())


def test_card_cut_at_the_excerpt_boundary_is_never_partly_visible(engine):
    from pipeline.graph import scrub_excerpt

    prefix = '{"text": 12, "note": "paid by card '
    raw = (prefix + CARD + ' on arrival, thanks"}').encode()
    groups = [CARD[i : i + 7] for i in range(len(CARD) - 6)]  # any 7 chars of the card, spaces included
    leaked_before = 0
    for limit in range(len(prefix) + 2, len(prefix) + len(CARD)):
        # what cutting first and scrubbing after would keep: the attack this guards against
        naive = engine.scrub(raw[:limit].decode(), None)[0]
        leaked_before += any(g in naive for g in groups)
        excerpt = scrub_excerpt(engine, raw, limit).decode()
        assert len(excerpt.encode()) <= limit
        assert not any(g in excerpt for g in groups), (limit, excerpt)
        assert not scan_text("excerpt", excerpt, [CARD])
    assert leaked_before > 0  # the naive order does leak partial card numbers


@pytest.mark.parametrize("raw", [
    b'{"text": 5, "contact": "mina.kim\\u0040example.org"}',  # valid JSON, text not a string
    b'{"text": "broken, "contact": "mina.kim\\u0040example\\u002eorg"',  # not JSON at all
    b'{"text": 5, "\\uc774\\uba54\\uc77c": "seo.yun\\u0040example.kr"}',  # Korean key, escaped
])
def test_json_escapes_do_not_hide_a_value_from_the_scrubber(engine, raw):
    from pipeline.graph import scrub_excerpt

    excerpt = scrub_excerpt(engine, raw, 2048).decode()
    assert not scan_text("excerpt", excerpt, [EMAIL, HANGUL_EMAIL]), excerpt
    assert "<EMAIL_ADDRESS" in excerpt


def test_excerpt_is_dropped_when_the_scrubber_fails():
    from pipeline.graph import _ScrubQuarantine
    from pipeline.io.splits import RAW_WINDOW

    class BrokenEngine:
        def analyze_batch(self, texts, langs):
            raise RuntimeError("analysis failed")

        resolve = scrub = analyze_batch

    step = _ScrubQuarantine.__new__(_ScrubQuarantine)  # setup() would load the real engine
    step._engine, step._limit, step._window_key = BrokenEngine(), 16, RAW_WINDOW
    (row,) = step.process({"raw": EMAIL.encode()[:16], RAW_WINDOW: EMAIL.encode(), "raw_bytes": len(EMAIL)})
    assert row == {"raw": b"", "raw_bytes": len(EMAIL)}


# --- error texts ---------------------------------------------------------------------------------
def test_parquet_column_names_stay_out_of_error_texts(tmp_path):
    path = tmp_path / "no-text.parquet"
    pq.write_table(pa.table({COLUMN_EMAIL: ["a"], "body": ["b"]}), path)
    (q,) = read(path)["quarantine"]
    assert q["reason"] == "missing_text" and "2 other columns" in q["error"]
    assert not scan_text("error", q["error"], [COLUMN_EMAIL])
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"text": pa.array([{COLUMN_EMAIL: 1}])}), nested)
    (q,) = read(nested)["quarantine"]
    assert q["reason"] == "text_not_string" and q["error"] == "'text' column is struct"


def test_parser_messages_that_quote_records_are_withheld(tmp_path):
    path = tmp_path / "not-a-warc.warc"
    path.write_bytes(f"GARBAGE {WARC_EMAIL}\r\n\r\n".encode())  # warcio's message quotes this line
    (q,) = read(path)["quarantine"]
    assert q["reason"] == "unreadable_file" and q["error"] == "ArchiveLoadFailed"
    stray = tmp_path / "stray-line.warc"  # five words: warcio takes the line for an ARC header
    stray.write_bytes(f"GARBAGE first line of {WARC_EMAIL}\r\n\r\n".encode())
    (q,) = read(stray)["quarantine"]
    assert q["reason"] == "unreadable_file" and not scan_text("error", q["error"], [WARC_EMAIL])


# --- a real run: every channel -------------------------------------------------------------------
def warc_with_remainder(path: Path) -> None:
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    body = b"<html><body><article><p>" + b"Harbour boats are repainted every summer by volunteers. " * 8 + b"</p></article></body></html>"
    w.write_record(w.create_warc_record("https://example.org/a", "response", payload=io.BytesIO(body), http_headers=headers))
    first = buf.getvalue()
    buf2 = io.BytesIO()
    w2 = WARCWriter(buf2, gzip=False)
    w2.write_record(w2.create_warc_record("https://example.org/b", "response", payload=io.BytesIO(body), http_headers=headers))
    # a line after the first record's block: warcio prints it to stderr as the "Remainder"
    path.write_bytes(first[:-4] + WARC_EMAIL.encode() + b"\r\n\r\n\r\n" + buf2.getvalue())


def test_a_run_over_hostile_inputs_leaks_no_planted_value(tmp_path, cli):
    data = tmp_path / "in"
    data.mkdir()
    prefix = '{"text": 12, "note": "paid by card '
    lines = [
        '{"text": "An ordinary document about harbour boats and the volunteers who repaint them."}',
        prefix + CARD + ' on arrival"}',  # text_not_string; the card straddles the 48-byte excerpt
        '{"text": 5, "contact": "mina.kim\\u0040example.org"}',
        '{"text": "broken, "contact": "seo.yun\\u0040example.kr"',
    ]
    (data / "records.jsonl").write_text("\n".join(lines) + "\n")
    pq.write_table(pa.table({COLUMN_EMAIL: ["x"]}), data / "columns.parquet")
    warc_with_remainder(data / "crawl.warc")
    (data / "bad.warc").write_bytes(f"GARBAGE {WARC_EMAIL}\r\n\r\n".encode())
    config = tmp_path / "config.yaml"
    config.write_text(f"run:\n  quarantine_raw_bytes: {len(prefix) + 12}\n")
    out = tmp_path / "out"
    res = cli("run", "--input", data, "--output", out, "--config", config)
    assert res.code == 0, res.stderr[-3000:]
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    assert sorted(q["reason"] for q in quarantine) == sorted(
        ["text_not_string", "text_not_string", "parse_error", "missing_text", "unreadable_file"])
    assert scan_outputs(out, [CARD, EMAIL, HANGUL_EMAIL, COLUMN_EMAIL, WARC_EMAIL], res.stdout, res.stderr) == []
    # the scanner looks for whole values; an excerpt must not hold part of one, nor an escaped one
    groups = [CARD[i : i + 7] for i in range(len(CARD) - 6)]
    for q in quarantine:
        excerpt = json.loads(json.dumps(q["raw"].decode("utf-8", "replace")))
        unescaped = excerpt.encode().decode("unicode_escape", errors="replace")
        assert not any(g in excerpt for g in groups), excerpt
        assert EMAIL not in unescaped and HANGUL_EMAIL not in unescaped, excerpt
