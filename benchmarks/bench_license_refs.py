"""CPU cost of stage `license` with the current reference set (rules/license_refs.json.zst).

    .venv/bin/python benchmarks/bench_license_refs.py [--docs 2000] [--runs 3] [--out FILE]

For the size of the reference set: how much a bigger set costs per document and per worker. CPU
seconds (``time.process_time``: user + system of this process), not wall time, so a loaded machine
does not skew the figures; median of --runs with the range. Measured on the same inputs as
benchmarks/bench_license.py (``mixed``: the benchmark corpus with 5% license/copyright documents;
``dense``: Debian copyright files only), plus the setup cost with and without the on-disk index
cache and the peak resident memory after setup. Prints a Markdown table (``--out``: also writes it).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_license import bench_sets, records  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.stages.license import LicenseDetector  # noqa: E402


def cpu_of(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def run_batches(core: LicenseDetector, texts: list[str]) -> float:
    recs = records(texts)
    t0 = time.process_time()
    for i in range(0, len(recs), 512):
        core.process_batch(recs[i : i + 512])
    return time.process_time() - t0


def fmt(values: list[float], unit: str = "s") -> str:
    return f"{statistics.median(values):.2f} {unit} ({min(values):.2f}–{max(values):.2f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    refs = ROOT / "rules" / "license_refs.json.zst"
    setups_cold, setups_warm = [], []
    core = None
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # a fresh index cache: the first setup builds it
        for _ in range(args.runs):
            for d in Path(cache).rglob("*.npz"):
                d.unlink()
            core = LicenseDetector(load_config())
            setups_cold.append(cpu_of(core.setup))
            core = LicenseDetector(load_config())
            setups_warm.append(cpu_of(core.setup))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _, mixed, dense = bench_sets(args.docs, random.Random(7))
    sets = {f"mixed ({len(mixed)} docs: corpus + 5% license/copyright docs)": mixed,
            f"dense ({len(dense)} Debian copyright files)": dense}
    rows = []
    for name, texts in sets.items():
        runs = [run_batches(core, texts) for _ in range(args.runs)]
        rows.append(f"| {name} | {fmt(runs)} | {statistics.median(runs) / len(texts) * 1e3:.2f} ms |")
    m = core.matcher
    lines = [
        f"`benchmarks/bench_license_refs.py --docs {args.docs} --runs {args.runs}` — {platform.machine()}, "
        f"Python {platform.python_version()}; CPU seconds (user+sys) of one process, median (range) of {args.runs}.",
        "",
        f"Reference set: {refs.stat().st_size / 1e6:.2f} MB zst, {len(m.exprs)} references, "
        f"{len(m.post_refs)} 4-gram postings. Setup: {fmt(setups_cold)} building the index, "
        f"{fmt(setups_warm)} with the index cached; peak RSS after setup {rss_mb:.0f} MB.",
        "",
        "| set | CPU per run | per document |",
        "|---|---:|---:|",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
