"""CPU seconds of ingest alone on one compressed JSONL file: one item reading it whole (what one
worker does) against each of the N stride items that N workers read at the same time.

    .venv/bin/python benchmarks/bench_stride.py benchmarks/work/corpus-v2-100000-s7.jsonl.gz --splits 2 --runs 3

Ingest only (read_split: decompress, split lines, parse JSON, build records), in this process,
time.process_time(); medians of ``--runs`` with (min-max). The stride items' record counts add up
to the whole file's (checked).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import RunConfig  # noqa: E402
from pipeline.io.discovery import expand_inputs  # noqa: E402
from pipeline.io.sources import read_split, stride_items  # noqa: E402
from pipeline.io.splits import whole_file_item  # noqa: E402


def records_of(item: dict, cfg: RunConfig) -> int:
    return sum(len(v) for tag, v in read_split(item, cfg, "bench") if tag == "records")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--splits", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = RunConfig()
    f = expand_inputs([args.path])[0]
    items = {"whole": whole_file_item(f), **{f"stride {k}/{args.splits}": it for k, it in enumerate(stride_items(f, args.splits))}}
    cpu: dict[str, list[float]] = {name: [] for name in items}
    counts: dict[str, int] = {}
    for _ in range(args.runs):
        for name, item in items.items():
            t = time.process_time()
            counts[name] = records_of(item, cfg)
            cpu[name].append(time.process_time() - t)
    assert sum(n for name, n in counts.items() if name != "whole") == counts["whole"], counts
    for name, v in cpu.items():
        print(f"{name}: {statistics.median(v):.2f} s CPU ({min(v):.2f}-{max(v):.2f}), {counts[name]:,} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
