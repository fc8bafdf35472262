"""Content hashes of what ingest yields for a mixed, partly hostile corpus: the guard for reader refactors.

``tests/golden/outputs.py`` covers a whole run on examples/corpus; this covers the readers on inputs
that corpus lacks: every JSONL outcome (BOM, blank lines, non-objects, missing/non-string text,
invalid UTF-8, invalid JSON, over-long lines, a last line without newline), the same file gzip- and
zstd-compressed, cut short and mislabelled, JSONL read as newline-aligned byte ranges, ``.txt``
edge cases, Parquet (string and binary ``text``, no ``text`` column, a non-string ``text``, a cut
footer, ``.parquet.gz``) and WARC (plain, per-record gzip, several records in one member, a corrupt
member, a cut file, junk between records, a header that never ends). Every file is built here from
fixed bytes; each is read whole and as planned splits, and every yielded ``(tag, value)`` is hashed
in order, so records, quarantine rows (reasons, offsets, excerpts), decisions, ``doc_id`` and
per-split stats must all stay byte for byte the same.

Regenerate only for a change meant to alter ingest outputs (say which in the commit):

    PYTHONPATH=. .venv/bin/python tests/golden/readers.py --write
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

from tests.golden.outputs import _plain, emit  # one canonical form of a row for both goldens

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("readers.json")
# doc_id and source_uri derive from the absolute path, so every checkout writes the corpus to one place.
CORPUS = Path("/tmp") / "curation-pipeline-golden" / "readers"  # not $TMPDIR: it would change them
LIMITS = {"max_record_bytes": 3000, "quarantine_raw_bytes": 200, "batch_size": 4, "split_bytes": 4096}


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
        fh.write(data)
    return buf.getvalue()


def _zst(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def _jsonl() -> bytes:
    lines = [
        b'\xef\xbb\xbf{"text": "Harbour ferries run every twenty minutes in summer.", "id": "f-1"}',
        b"",
        b"   ",
        b'{"text": "Tide tables are printed at the pier office.", "id": 17, "url": {"host": "pier"}, "license": 3.5}',
        b"[1, 2, 3]",
        b'{"title": "no body here"}',
        b'{"text": 42}',
        b'{"text": "caf\xe9 au lait"}',
        b'{"text": "unterminated',
        b'{"text": "   "}',
        b'{"text": "' + b"long line of gravel paths " * 200 + b'"}',
        '{"text": "港の灯台は夜通し点いています。", "source": "harbour-notes", "meta": {"page": 4}}'.encode(),
        b'{"text": "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xeb\xac\xb8\xec\x9e\xa5\xec\x9e\x85\xeb\x8b\x88\xeb\x8b\xa4."}',
        b'{"text": "last line has no newline", "url": "https://example.org/last"}',
    ]
    return b"\n".join(lines)


def _splittable_jsonl() -> bytes:
    rows = []
    for i in range(400):
        if i % 37 == 5:
            rows.append(b'{"broken": ')
        elif i % 53 == 7:
            rows.append(b'{"text": "' + b"x" * 3100 + b'"}')
        else:
            rows.append(json.dumps({"text": f"Row {i} lists the opening hours of reading room {i % 9}.", "id": f"r{i}"}).encode())
    return b"\n".join(rows) + b"\n"


def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=3)
    return buf.getvalue()


def _parquets() -> dict[str, bytes]:
    import pyarrow as pa

    strings = pa.table({
        "text": ["Canal locks open at dawn.", None, "  ", "y" * 3100, "Die Schleuse schließt um acht.", "운하 갑문은 새벽에 열립니다."],
        "id": [1, 2, 3, 4, 5, 6],
        "url": ["https://example.org/a", None, None, None, {"k": 1}.__repr__(), None],
        "meta": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}, {"n": 6}],
    })
    binary = pa.table({"text": pa.array([b"Bridge tolls rose.", b"\xff\xfe bad", b"z" * 3100, b""], pa.binary()), "source": ["a", "b", "c", "d"]})
    no_text = pa.table({"body": ["one", "two"], "title": ["t1", "t2"]})
    ints = pa.table({"text": [1, 2, 3]})
    nested = pa.table({"text": pa.array([[1, 2], [3]], pa.list_(pa.int64()))})
    good = _parquet(strings)
    return {
        "strings.parquet": good,
        "binary.parquet": _parquet(binary),
        "no_text.parquet": _parquet(no_text),
        "ints.parquet": _parquet(ints),
        "nested.parquet": _parquet(nested),
        "cut.parquet": good[: len(good) - 40],
        "strings.parquet.gz": _gz(good),
        "junk.parquet.zst": b"not zstd at all",
    }


def _warc_record(n: int, kind: str = "response", status: str = "200 OK", ctype: str = "text/html", body: bytes | None = None) -> bytes:
    if body is None:
        body = (f"<html><head><title>Notice {n}</title></head><body><article><h1>Notice {n}</h1>"
                f"<p>The market square hosts notice number {n} for the residents of the old town. "
                "Stalls open early and close at noon on Saturdays.</p></article></body></html>").encode()
    if kind == "response":
        block = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n\r\n".encode() + body
        mime = "application/http; msgtype=response"
    else:
        block = b"GET /notice HTTP/1.1\r\nHost: example.org\r\n\r\n"
        mime = "application/http; msgtype=request"
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: https://example.org/notice/{n}\r\n"
            f"Content-Type: {mime}\r\nContent-Length: {len(block)}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def _warcs() -> dict[str, bytes]:
    recs = [_warc_record(1), _warc_record(2, kind="request"), _warc_record(3, status="404 Not Found"),
            _warc_record(4, ctype="image/png", body=b"\x89PNG\r\n"), _warc_record(5), _warc_record(6, body=b"   "),
            _warc_record(7, body=b"<html><body><p>" + b"w" * 3100 + b"</p></body></html>")]
    plain = b"".join(recs)
    members = [_gz(r) for r in recs]
    corrupt = bytearray(members[2])
    corrupt[20:40] = b"\x00" * 20
    endless = b"WARC/1.0\r\nWARC-Type: response\r\nX-Pad: " + b"p" * 5000 + b"\r\n\r\n"
    return {
        "plain.warc": plain,
        "members.warc.gz": b"".join(members),
        "multi_member.warc.gz": _gz(recs[0] + recs[1]) + b"".join(members[2:]),
        "corrupt_member.warc.gz": b"".join(members[:2]) + bytes(corrupt) + b"".join(members[3:]),
        "cut.warc.gz": b"".join(members)[:-30],
        "junk_between.warc": recs[0] + b"this line is not a WARC record\r\n" * 3 + b"".join(recs[1:]),
        "cut.warc": plain[:-100],
        "endless_header.warc": recs[0] + endless + recs[4],
        "not_gzip.warc.gz": plain,
    }


def corpus_files() -> dict[str, bytes]:
    jsonl = _jsonl()
    files = {
        "mixed.jsonl": jsonl,
        "mixed.jsonl.gz": _gz(jsonl),
        "mixed.ndjson.zst": _zst(jsonl),
        "cut.jsonl.gz": _gz(jsonl)[:-25],
        "cut.jsonl.zst": _zst(jsonl)[:-10],
        "mislabelled.jsonl.gz": jsonl,
        "splittable.jsonl": _splittable_jsonl(),
        "blank.jsonl": b"\n\n  \n",
        "note.txt": "Lantern repairs are booked at the guild hall.\n".encode(),
        "bom.txt": b"\xef\xbb\xbfA note that starts with a byte order mark.",
        "empty.txt": b"",
        "latin1.txt": b"na\xefve",
        "huge.txt": b"q" * 7000,
        "note.txt.gz": _gz("灯台守の日誌は図書館にあります。".encode()),
    }
    files.update(_parquets())
    files.update(_warcs())
    return files


def _write_corpus() -> Path:
    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir(parents=True)
    for name, data in corpus_files().items():
        (CORPUS / name).write_bytes(data)
    for src in sorted((REPO / "examples" / "corpus").rglob("*")):
        if src.is_file():
            dst = CORPUS / "examples" / src.relative_to(REPO / "examples" / "corpus")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    return CORPUS


def reader_hashes() -> dict:
    """``{file: {mode: {"items", "yields", "sha256"}}}`` for modes ``whole`` and ``splits``."""
    from pipeline.config import RunConfig
    from pipeline.io.discovery import expand_inputs
    from pipeline.io.sources import read_split
    from pipeline.io.splits import plan_splits, whole_file_item

    cfg = RunConfig(**LIMITS)
    root = _write_corpus()
    result = {}
    for f in expand_inputs([str(root)]):
        name = str(Path(f["uri"]).relative_to(root))
        modes = {"whole": [whole_file_item(f)], "splits": list(plan_splits(f, cfg))}
        result[name] = {}
        for mode, items in modes.items():
            sha, n = hashlib.sha256(), 0
            for item in items:
                for tag, value in read_split(item, cfg, "golden-run"):
                    sha.update(json.dumps([tag, _plain(value)], sort_keys=True, ensure_ascii=False).encode() + b"\n")
                    n += 1
            result[name][mode] = {"items": len(items), "yields": n, "sha256": sha.hexdigest()}
    return result


def main(argv: list[str]) -> int:
    return emit(GOLDEN, reader_hashes(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
