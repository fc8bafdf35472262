"""Regenerate the binary sample inputs from their text sources, byte for byte.

    .venv/bin/python examples/make_examples.py

* ``examples/src/articles.jsonl``  → ``examples/corpus/articles.parquet`` (zstd, one row group)
* ``examples/src/pages/*.html``    → ``examples/corpus/crawl.warc.gz`` (per-record gzip WARC/1.0:
  a warcinfo record, a request, four HTML responses — one with ``<meta name="robots"
  content="noai">``, one served with ``X-Robots-Tag: noai``, one with ``tdm-reservation`` — an
  image response and a 404 page that ingest skips)

Record ids and dates are fixed (and warcio writes gzip members with mtime 0), so rerunning the
script reproduces the committed files exactly. The text files of the corpus (``web.jsonl``,
``bad.jsonl``, ``notes/*.txt``) are edited by hand.
"""
from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
CORPUS = HERE / "corpus"
DATE = "2024-03-15T09:00:00Z"

# (file under src/pages or None, target URI, status, extra HTTP headers, content type)
PAGES = [
    ("walden.html", "https://classics.example.org/thoreau/walden/economy", "200 OK", [], "text/html; charset=utf-8"),
    ("frog-king.html", "https://tales.example.org/grimm/frog-king", "200 OK", [], "text/html; charset=utf-8"),
    ("chumon.html", "https://bunko.example.jp/miyazawa/chumon", "200 OK", [("X-Robots-Tag", "noai, noimageai")], "text/html; charset=utf-8"),
    ("chun.html", "https://reading.example.cn/zhu-ziqing/chun", "200 OK", [], "text/html; charset=utf-8"),
]


def _rid(name: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'curation-pipeline-examples/' + name)}>"


def make_parquet() -> Path:
    rows = [json.loads(line) for line in (SRC / "articles.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    table = pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "text": pa.array([r["text"] for r in rows], pa.string()),
            "url": pa.array([r["url"] for r in rows], pa.string()),
            "license": pa.array([r["license"] for r in rows], pa.string()),
            "source": pa.array([r["source"] for r in rows], pa.string()),
            "meta": pa.array([{"title": r["title"], "lang_hint": r["lang_hint"]} for r in rows],
                             pa.struct([("title", pa.string()), ("lang_hint", pa.string())])),
        }
    )
    out = CORPUS / "articles.parquet"
    pq.write_table(table, out, compression="zstd")
    return out


def make_warc() -> Path:
    out = CORPUS / "crawl.warc.gz"
    with open(out, "wb") as fh:
        w = WARCWriter(fh, gzip=True)

        def write(rec_type, uri, payload, http_headers, name, content_type=None):
            warc_headers = {"WARC-Record-ID": _rid(name), "WARC-Date": DATE}
            kwargs = {"warc_content_type": content_type} if content_type else {}
            rec = w.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), http_headers=http_headers,
                                       warc_headers_dict=warc_headers, **kwargs)
            w.write_record(rec)

        info = b"software: curation-pipeline examples/make_examples.py\r\nformat: WARC File Format 1.0\r\n"
        write("warcinfo", None, info, None, "warcinfo", content_type="application/warc-fields")
        req = StatusAndHeaders("GET /thoreau/walden/economy HTTP/1.1", [("Host", "classics.example.org"), ("User-Agent", "example-crawler/1.0")],
                               is_http_request=True)
        write("request", PAGES[0][1], b"", req, "request-0")
        for name, uri, status, extra, ctype in PAGES:
            body = (SRC / "pages" / name).read_bytes()
            headers = StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(body))), *extra], protocol="HTTP/1.1")
            write("response", uri, body, headers, name)
        png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                            "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a0d2b3e40000000049454e44ae426082")
        write("response", "https://classics.example.org/logo.png", png,
              StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1"), "logo.png")
        missing = b"<!DOCTYPE html><html><head><title>Not found</title></head><body><h1>404</h1><p>No such page.</p></body></html>"
        write("response", "https://classics.example.org/missing", missing,
              StatusAndHeaders("404 Not Found", [("Content-Type", "text/html")], protocol="HTTP/1.1"), "missing")
    return out


if __name__ == "__main__":
    for path in (make_parquet(), make_warc()):
        print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size} bytes)")
