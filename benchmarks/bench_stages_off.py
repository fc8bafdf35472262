"""Stages-off `curate run` vs the pyarrow floor, interleaved in one run (issue 2's target).

    .venv/bin/python benchmarks/bench_stages_off.py --docs 10000 100000 --repeat 3

For each size: the 1-thread floor, the threaded floor and ``curate run`` with every stage off are
run ``--repeat`` times, interleaved (floor, ours, floor, ours …) so machine noise hits both alike;
the figure is the median of each, and the ratio is median(ours) / median(1-thread floor). Each is a
fresh process timed from launch to exit, with the peak RSS of its process tree (bench_e2e.measure).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_e2e  # noqa: E402
import corpus  # noqa: E402


def measure_size(docs: int, repeat: int, workers: int = 1) -> dict:
    path = corpus.build(docs)
    work = corpus.WORK / f"stages-off-{docs}"
    work.mkdir(parents=True, exist_ok=True)
    st, mt, ours = [], [], []
    for _ in range(repeat):
        st.append(bench_e2e.run_floor(path, work, False))
        mt.append(bench_e2e.run_floor(path, work, True))
        ours.append(bench_e2e.run_ours(path, work, [], workers, tag="off"))
    med = lambda rs, k="wall": statistics.median(r[k] for r in rs)  # noqa: E731
    res = {
        "docs": docs,
        "mb": path.stat().st_size / 1e6,
        "floor_st": med(st),
        "floor_st_inner": statistics.median(r["inner"]["seconds"] for r in st),
        "floor_mt": med(mt),
        "floor_mt_inner": statistics.median(r["inner"]["seconds"] for r in mt),
        "ours": med(ours),
        "ours_all": [round(r["wall"], 2) for r in ours],
        "ours_inner": med(ours, "inner_wall"),
        "ours_peak_rss_mb": max(r["peak_rss_mb"] for r in ours),
        "floor_st_peak_rss_mb": max(r["peak_rss_mb"] for r in st),
    }
    res["ratio_st"] = res["ours"] / res["floor_st"]
    res["ratio_mt"] = res["ours"] / res["floor_mt"]
    res["ratio_inner_st"] = res["ours_inner"] / res["floor_st_inner"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    rows = [measure_size(d, args.repeat, args.workers) for d in args.docs]
    print("| docs | MB | floor 1t s | floor mt s | ours s (runs) | ratio vs 1t | vs mt | excl. start-up vs 1t | ours peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['docs']:,} | {r['mb']:.1f} | {r['floor_st']:.2f} | {r['floor_mt']:.2f} | {r['ours']:.2f} ({', '.join(map(str, r['ours_all']))}) "
            f"| **{r['ratio_st']:.2f}x** | {r['ratio_mt']:.2f}x | {r['ratio_inner_st']:.2f}x | {r['ours_peak_rss_mb']:.0f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
