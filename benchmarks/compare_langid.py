"""Old vs new langid stage core on the same documents, in the same process.

    .venv/bin/python benchmarks/compare_langid.py [--old REV] [--docs 10000] [--runs 3]

The old ``pipeline/lang/identifier.py`` and ``pipeline/stages/langid.py`` are loaded from git
revision REV (default HEAD) next to the working tree's; both run ``LanguageFilter.process_batch``
(batches of 512) over benchmarks/work/corpus-v2-<docs>-s7.jsonl, interleaved batch by batch, CPU
seconds, median of --runs.
Reports time, characters sent to fasttext, and agreement: labels, mixed flags, shares, scores.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.records import new_record  # noqa: E402
from pipeline.stages.langid import LanguageFilter  # noqa: E402


def old_core_class(rev: str):
    def load(path: str, name: str, replace: dict[str, str] | None = None):
        src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
        for a, b in (replace or {}).items():
            src = src.replace(a, b)
        mod = types.ModuleType(name)
        mod.__file__ = f"{rev}:{path}"
        sys.modules[name] = mod
        exec(compile(src, mod.__file__, "exec"), mod.__dict__)
        return mod

    load("pipeline/lang/identifier.py", "_old_identifier")
    stage = load("pipeline/stages/langid.py", "_old_langid", {"pipeline.lang.identifier": "_old_identifier"})
    return stage.LanguageFilter


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="HEAD")
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mixed-share", type=float, default=None, help="langid.mixed_share (default: the config's)")
    ap.add_argument("--min-score", type=float, default=None, help="langid.min_score (default: the config's)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus  # noqa: PLC0415

    path = corpus.build(args.docs)
    docs = corpus.texts(args.docs)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    langid = {k: v for k, v in (("mixed_share", args.mixed_share), ("min_score", args.min_score)) if v is not None}
    cfg = load_config(overrides={"langid": langid} if langid else None)
    cores = {"old": old_core_class(args.old)(cfg), "new": LanguageFilter(cfg)}
    sent = {}
    for name, c in cores.items():
        c.setup()
        real = c._ident.predict_many
        counter = sent.setdefault(name, [0, 0])

        def counting(lines, real=real, counter=counter):
            counter[0] += len(lines)
            counter[1] += sum(map(len, lines))
            return real(lines)

        c._ident.predict_many = counting

    # Interleaved batch by batch (old, new, new, old, …) and timed in CPU seconds of this process,
    # so that load from other processes on the machine hits both sides alike.
    times = {"old": [], "new": []}
    out = {}
    for _ in range(args.runs):
        recs = {k: [new_record(source_uri="bench", record_index=i, text=t) for i, t in enumerate(docs)] for k in cores}
        verdicts = {k: [] for k in cores}
        spent = {k: 0.0 for k in cores}
        for k in cores:
            sent[k][:] = [0, 0]
        for b, lo in enumerate(range(0, len(docs), 512)):
            for name in (("old", "new") if b % 2 == 0 else ("new", "old")):
                t0 = time.process_time()
                verdicts[name] += cores[name].process_batch(recs[name][lo : lo + 512])
                spent[name] += time.process_time() - t0
        for k in cores:
            times[k].append(spent[k])
            out[k] = (recs[k], verdicts[k])
    med = {k: statistics.median(v) for k, v in times.items()}
    (ro, vo), (rn, vn) = out["old"], out["new"]
    n = len(docs)
    same_lang = sum(a["lang"] == b["lang"] for a, b in zip(ro, rn))
    mo = [bool(v.detail and v.detail.get("mixed")) for v in vo]
    mn = [bool(v.detail and v.detail.get("mixed")) for v in vn]
    same_verdict = sum((a.action, a.reason) == (b.action, b.reason) for a, b in zip(vo, vn))
    both = [(a, b) for a, b, x, y in zip(vo, vn, mo, mn) if x and y]
    l1 = [sum(abs(a.detail["shares"].get(k, 0) - b.detail["shares"].get(k, 0)) for k in set(a.detail["shares"]) | set(b.detail["shares"])) for a, b in both]
    dscore = sorted(b["lang_score"] - a["lang_score"] for a, b in zip(ro, rn) if a["lang"] == b["lang"])
    score_same = sum(1 for d in dscore if abs(d) < 1e-6)
    diffs = [(a["lang"], b["lang"]) for a, b in zip(ro, rn) if a["lang"] != b["lang"]]
    print(f"corpus: {path.name}, {n} documents, {mb:.2f} MB; config langid.mixed_share = {cfg.langid.mixed_share}, min_score = {cfg.langid.min_score}")
    print("| | old ({}) | new (working tree) | new / old |".format(args.old))
    print("|---|---:|---:|---:|")
    print(f"| stage core, CPU s (median of {args.runs}; runs {', '.join(f'{t:.2f}' for t in times['old'])} / {', '.join(f'{t:.2f}' for t in times['new'])}) "
          f"| {med['old']:.2f} | {med['new']:.2f} | {med['new'] / med['old']:.2f} |")
    print(f"| docs/s | {n / med['old']:,.0f} | {n / med['new']:,.0f} | |")
    print(f"| MB/s | {mb / med['old']:.2f} | {mb / med['new']:.2f} | |")
    print(f"| lines sent to fasttext | {sent['old'][0]:,} | {sent['new'][0]:,} | {sent['new'][0] / sent['old'][0]:.2f} |")
    print(f"| characters sent to fasttext | {sent['old'][1]:,} | {sent['new'][1]:,} | {sent['new'][1] / sent['old'][1]:.2f} |")
    print()
    print(f"same lang: {same_lang}/{n}; same verdict (action, reason): {same_verdict}/{n}; lang changes: {diffs[:20]}")
    print(f"mixed flag: old {sum(mo)}, new {sum(mn)}, both {sum(a and b for a, b in zip(mo, mn))}")
    if l1:
        print(f"shares L1 distance where both flag mixed: median {statistics.median(l1):.4f}, max {max(l1):.4f}")
    if dscore:
        q = lambda f: dscore[min(len(dscore) - 1, int(f * len(dscore)))]  # noqa: E731
        print(f"lang_score new - old (same lang): identical {score_same}/{len(dscore)}; quantiles 1% {q(0.01):+.4f}, 10% {q(0.1):+.4f}, "
              f"50% {q(0.5):+.4f}, 90% {q(0.9):+.4f}, max {dscore[-1]:+.4f}; new > old: {sum(d > 1e-6 for d in dscore)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
