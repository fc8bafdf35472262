"""`curate forget` wall time on a stages-off release of N synthetic documents.

    .venv/bin/python benchmarks/bench_forget.py --docs 20000 --repeat 3

The release is made once (`curate run`, every stage off, shards of --shard-rows rows); each repeat
copies it and times, as a fresh process from launch to exit: an erasure of one document by
``--source-id`` (rewrites one shard per table that holds it), and one of about 1% of the documents by
``--where`` (rewrites most shards); and ``curate verify`` of the release alone, which forget runs
first. Prints the median and range of each, and the shards rewritten.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def curate(*args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"curate {args[0]} failed: {proc.stderr.strip()[-400:]}")
    return wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shard-rows", type=int, default=2000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-forget-"))
    try:
        inp = work / "in.jsonl"
        with inp.open("w", encoding="utf-8") as fh:
            for i in range(args.docs):
                fh.write(json.dumps({"id": f"s{i}", "url": f"https://example.org/{i}",
                                     "text": f"Document {i} about the orchard, the river and the mill. " * 8}) + "\n")
        cfg = work / "off.yaml"
        cfg.write_text("license: {enabled: false}\nlangid: {enabled: false}\nquality: {enabled: false}\n"
                       f"pii: {{enabled: false}}\ndedup: {{enabled: false}}\nrun: {{shard_max_rows: {args.shard_rows}}}\n")
        release = work / "release"
        curate("run", "--input", str(inp), "--output", str(release), "--config", str(cfg), "--quiet")
        manifest = json.loads((release / "manifest.json").read_text())
        print(f"release: {manifest['summary']['kept']} documents, {len(manifest['outputs'])} shards")
        checks = [curate("verify", str(release))[0] for _ in range(args.repeat)]
        print(f"curate verify (which forget runs first): median {statistics.median(checks):.2f}s "
              f"(range {min(checks):.2f}-{max(checks):.2f}s, {args.repeat} runs)")
        cases = {
            "--source-id (1 document)": lambda: ["--source-id", f"s{args.docs // 2}"],
            "--where (~1% of documents)": lambda: ["--where", "record_index % 100 = 7"],
        }
        for name, selector in cases.items():
            walls, said = [], ""
            for r in range(args.repeat):
                out = work / f"out-{r}"
                shutil.rmtree(out, ignore_errors=True)
                shutil.copytree(release, out)
                wall, said = curate("forget", str(out), *selector(), "--reason", "bench")
                walls.append(wall)
                curate("verify", str(out))
            print(f"{name}: median {statistics.median(walls):.2f}s (range {min(walls):.2f}-{max(walls):.2f}s, "
                  f"{args.repeat} runs); {said.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
