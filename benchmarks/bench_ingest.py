"""Ingest benchmarks: JSONL → records throughput on one core, and HTML main-text extraction speed.

    .venv/bin/python benchmarks/bench_ingest.py            # writes benchmarks/results/ingest.md
    .venv/bin/python benchmarks/bench_ingest.py --quick    # smaller sizes, for a smoke run

1. JSONL of 2–3 KB documents (real prose from /usr/share/doc and /usr/share/common-licenses,
   cut into paragraphs and mixed per document), in one process on one core, median of several runs:
   * floor: read the file in 1 MiB blocks, split lines, ``orjson.loads`` each line (no records);
   * ``pyarrow.json.read_json`` of the same file (multi-threaded Arrow C++; reference only);
   * ours: ``plan_splits`` + ``read_split`` (records with doc_ids, batches, stats, sha256) on the
     plain file, the ``.gz`` and the ``.zst`` of it (MB/s counted on the uncompressed JSONL);
   * the split planner's single scan (newline counts + sha256) alone;
   * ``ReadInputs`` on the offline local runner (FnApiRunner, one worker), records counted.
2. HTML main-text extraction (``pipeline.io.html.extract`` = trafilatura ``fast``) over real HTML
   pages (the mdBook pages of the Rust documentation shipped with the toolchain on this machine,
   else /usr/share/doc HTML): pages/s and MB/s on one core; also with trafilatura's fallback
   extractors on (``fast=False``) for comparison, and the whole WARC path (``read_split`` over a
   ``.warc.gz`` of the same pages).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from pipeline.config import RunConfig  # noqa: E402
from pipeline.io import html as html_mod  # noqa: E402
from pipeline.io.discovery import expand_inputs  # noqa: E402
from pipeline.io.sources import read_split  # noqa: E402
from pipeline.io.splits import plan_splits  # noqa: E402
from pipeline.runtime import tune_gc  # noqa: E402


# --- corpora -----------------------------------------------------------------------------------
def paragraphs() -> list[str]:
    paths = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/README*"))
    paras: list[str] = []
    for path in paths:
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, IsADirectoryError):
            continue
        for p in text.split("\n\n"):
            p = " ".join(p.split())
            if len(p) > 120:
                paras.append(p)
    return paras


def make_jsonl(path: Path, target_bytes: int, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    paras = paragraphs()
    n = size = 0
    with open(path, "wb") as fh:
        while size < target_bytes:
            parts, length = [], 0
            goal = rng.randint(2000, 3000)
            while length < goal:
                p = rng.choice(paras)
                parts.append(p)
                length += len(p) + 2
            line = orjson.dumps({"id": f"doc-{n}", "text": "\n\n".join(parts)[:goal], "url": f"https://example.org/{n}",
                                 "source": "bench", "meta": {"i": n}}) + b"\n"
            fh.write(line)
            size += len(line)
            n += 1
    return n, size


def html_pages(limit: int) -> list[tuple[str, bytes]]:
    base = "/root/.rustup/toolchains/*/share/doc/rust/html"
    paths = []
    for book in ("book", "rustc", "rustdoc", "cargo", "edition-guide", "embedded-book", "reference", "nomicon"):
        paths += sorted(glob.glob(f"{base}/{book}/**/*.html", recursive=True))
    paths = [p for p in paths if not p.endswith(("print.html", "toc.html", "404.html"))]
    if not paths:
        paths = sorted(glob.glob("/usr/share/doc/**/*.html", recursive=True))
    random.Random(3).shuffle(paths)
    pages = []
    for p in paths:
        data = open(p, "rb").read()
        if len(data) > 4000:
            pages.append((p, data))
        if len(pages) >= limit:
            break
    return pages


# --- measurements ------------------------------------------------------------------------------
def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def orjson_floor(path: Path) -> None:
    loads = orjson.loads
    pending = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line:
                    loads(line)


def ours(path: Path, cfg: RunConfig) -> int:
    n = 0
    for f in expand_inputs([str(path)]):
        for item in plan_splits(f, cfg):
            for tag, value in read_split(item, cfg, "bench"):
                if tag == "records":
                    n += len(value)
    return n


def planner_scan(path: Path) -> None:
    f = expand_inputs([str(path)])[0]
    list(plan_splits(f, RunConfig(split_bytes=16 << 20)))


def beam_read(path: Path, cfg: RunConfig) -> None:
    import apache_beam as beam

    from pipeline.io.sources import ReadInputs
    from pipeline.runners import local_pipeline

    files = expand_inputs([str(path)])
    with local_pipeline() as p:
        out = p | ReadInputs(files, cfg, "bench")
        _ = out.records | beam.Map(len) | beam.CombineGlobally(sum)


def write_warc(path: Path, pages: list[tuple[str, bytes]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for i, (_, body) in enumerate(pages):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"https://doc.example/{i}", "response", payload=io.BytesIO(body), http_headers=headers))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest.md"))
    args = ap.parse_args()
    tune_gc()  # as every worker does (ReadInputs' DoFn setup)
    mb_target = 16 if args.quick else 96
    runs = 3 if args.quick else 5
    n_pages = 60 if args.quick else 300

    import apache_beam
    import pyarrow
    import trafilatura
    import zstandard
    from pyarrow import json as pajson

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    path = tmp / "docs.jsonl"
    n_docs, size = make_jsonl(path, mb_target << 20)
    raw = path.read_bytes()
    (tmp / "docs.jsonl.gz").write_bytes(gzip.compress(raw, compresslevel=6))
    (tmp / "docs.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(raw))
    del raw
    mb = size / 1e6
    cfg = RunConfig()
    print(f"corpus: {n_docs} docs, {mb:.1f} MB in {tmp}", flush=True)

    rows = []

    def row(name, seconds, note=""):
        rows.append((name, mb / seconds, n_docs / seconds, note))
        print(f"{name}: {mb / seconds:.1f} MB/s, {n_docs / seconds:,.0f} docs/s", flush=True)

    assert ours(path, cfg) == n_docs
    row("floor: split lines + `orjson.loads` (no records)", median_time(lambda: orjson_floor(path), runs))
    row("`pyarrow.json.read_json` (Arrow C++, multi-threaded; reference)", median_time(lambda: pajson.read_json(path), runs))
    row("ours: `read_split`, plain `.jsonl`", median_time(lambda: ours(path, cfg), runs), "records + doc_ids + batches + sha256")
    row("ours: `read_split`, `.jsonl.gz`", median_time(lambda: ours(tmp / "docs.jsonl.gz", cfg), runs), "MB/s of uncompressed JSONL")
    row("ours: `read_split`, `.jsonl.zst`", median_time(lambda: ours(tmp / "docs.jsonl.zst", cfg), runs), "MB/s of uncompressed JSONL")
    row("split planner scan alone (newline counts + sha256)", median_time(lambda: planner_scan(path), runs))
    beam_runs = 1 if args.quick else 3
    row("`ReadInputs` on the local runner (FnApiRunner, 1 worker)", median_time(lambda: beam_read(path, cfg), beam_runs),
        f"median of {beam_runs}; includes pipeline start-up")
    split_cfg = RunConfig(split_bytes=16 << 20)
    row("`ReadInputs`, split into 16 MB ranges (1 worker)", median_time(lambda: beam_read(path, split_cfg), beam_runs),
        "planner scan + Reshuffle + ranged reads")

    # HTML extraction
    pages = html_pages(n_pages)
    html_mb = sum(len(b) for _, b in pages) / 1e6
    for _, body in pages[:5]:  # warm-up (imports, lxml)
        html_mod.extract(body)
    t_fast = median_time(lambda: [html_mod.extract(b) for _, b in pages], 3)
    empty = sum(1 for _, b in pages if not html_mod.extract(b)[0])

    def slow():
        for _, b in pages:
            trafilatura.extract(b, fast=False, include_comments=False)

    t_slow = median_time(slow, 1 if args.quick else 3)
    warc = tmp / "pages.warc.gz"
    write_warc(warc, pages)
    t_warc = median_time(lambda: ours(warc, cfg), 3)
    html_rows = [
        ("`html.extract` (trafilatura `fast=True`, meta tags, one parse)", len(pages) / t_fast, html_mb / t_fast),
        ("trafilatura `extract(fast=False)` (with fallback extractors)", len(pages) / t_slow, html_mb / t_slow),
        ("whole WARC path: `read_split` over a `.warc.gz` of the pages", len(pages) / t_warc, html_mb / t_warc),
    ]
    for name, pps, mbs in html_rows:
        print(f"{name}: {pps:.1f} pages/s, {mbs:.2f} MB/s", flush=True)

    lines = [
        "# Ingest benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()} {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"apache-beam {apache_beam.__version__}, pyarrow {pyarrow.__version__}, orjson {orjson.__version__}, "
        f"zstandard {zstandard.__version__}, trafilatura {trafilatura.__version__}.",
        f"Run: `.venv/bin/python benchmarks/bench_ingest.py{' --quick' if args.quick else ''}`; median of {runs} runs unless noted.",
        "",
        "## JSONL → records, one core",
        "",
        f"{n_docs:,} documents of 2–3 KB ({mb:.1f} MB uncompressed; real prose from /usr/share/doc and "
        "/usr/share/common-licenses, fields id, text, url, source, meta).",
        "",
        "| path | MB/s | docs/s | note |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {name} | {mbs:.1f} | {dps:,.0f} | {note} |" for name, mbs, dps, note in rows]
    lines += [
        "",
        "## HTML main text",
        "",
        f"{len(pages)} real HTML pages ({html_mb:.1f} MB; the mdBook pages of the Rust documentation installed with the "
        f"toolchain); {empty} gave no main text.",
        "",
        "| path | pages/s | MB/s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {pps:.1f} | {mbs:.2f} |" for name, pps, mbs in html_rows]
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return "(" + line.split(":", 1)[1].strip() + ")"
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    main()
