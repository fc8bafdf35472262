"""Old vs new quality stage on the same documents, in the same process.

    .venv/bin/python benchmarks/compare_quality.py [--old REV] [--docs 10000] [--runs 3]

The single-file ``pipeline/stages/quality.py`` of git revision REV (default 6d8c888, the last one
before the rules moved to ``pipeline/quality/``) is loaded next to the working tree's
:mod:`pipeline.quality`; both run ``QualityRules.check`` (first failure, as the stage) and ``check(all_failures=True)``
over benchmarks/work/corpus-v2-<docs>-s7.jsonl with languages from the langid stage, alternating,
interleaved in chunks of ``batch_size`` documents (the new one through ``check_batch``, as the stage
runs), CPU seconds, median of --runs with the range. The results must be identical (rule, n, value,
threshold) for every document. The table replaces the compare block of benchmarks/results/quality.md.
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
from pipeline import quality as new_quality  # noqa: E402
from pipeline.stages.langid import LanguageFilter  # noqa: E402
from pipeline.records import new_record  # noqa: E402


OUT = ROOT / "benchmarks" / "results" / "quality.md"
COMPARE_BEGIN, COMPARE_END = "<!-- compare_quality -->", "<!-- /compare_quality -->"


def old_module(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:pipeline/stages/quality.py"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("_old_quality")
    mod.__file__ = f"{rev}:pipeline/stages/quality.py"
    sys.modules[mod.__name__] = mod
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="6d8c888", help="a revision with the single-file stage")
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus  # noqa: PLC0415

    path = corpus.build(args.docs)
    docs = corpus.texts(args.docs)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    cfg = load_config()
    lid = LanguageFilter(cfg)
    lid.setup()
    recs = [new_record(source_uri="bench", record_index=i, text=t) for i, t in enumerate(docs)]
    for i in range(0, len(recs), 512):
        lid.process_batch(recs[i : i + 512])
    bs = cfg.run.batch_size
    langs = [new_quality.effective_lang(r["lang"], r["text"]) for r in recs]

    mods = {"old": old_module(args.old), "new": new_quality}
    rules = {k: m.QualityRules.from_config(cfg) for k, m in mods.items()}
    # Interleaved in chunks of one batch (old, new, new, old, …) and timed in CPU seconds of
    # this process, so that load from other processes on the machine hits both sides alike.
    times = {k: {"first": [], "all": []} for k in mods}
    results = {k: ([], []) for k in mods}
    for run in range(args.runs):
        spent = {k: {"first": 0.0, "all": 0.0} for k in mods}
        for c, lo in enumerate(range(0, len(docs), bs)):
            texts, chunk_langs = docs[lo : lo + bs], langs[lo : lo + bs]
            for name in (("old", "new") if c % 2 == 0 else ("new", "old")):
                r = rules[name]
                t0 = time.process_time()
                if name == "old":
                    first = [r.check(d, l) for d, l in zip(texts, chunk_langs)]
                    t1 = time.process_time()
                    every = [r.check(d, l, all_failures=True) for d, l in zip(texts, chunk_langs)]
                else:
                    first = r.check_batch(texts, chunk_langs)
                    t1 = time.process_time()
                    every = r.check_batch(texts, chunk_langs, all_failures=True)
                t2 = time.process_time()
                spent[name]["first"] += t1 - t0
                spent[name]["all"] += t2 - t1
                if run == 0:
                    results[name][0].extend(first)
                    results[name][1].extend(every)
        for name in mods:
            for key in ("first", "all"):
                times[name][key].append(spent[name][key])
    same_first = sum(a == b for a, b in zip(results["old"][0], results["new"][0]))
    same_all = sum(a == b for a, b in zip(results["old"][1], results["new"][1]))
    n = len(docs)
    out = [COMPARE_BEGIN, "## Before and after the split into pipeline/quality/", "",
           f"`.venv/bin/python benchmarks/compare_quality.py --old {args.old} --docs {args.docs} --runs {args.runs}` — "
           f"corpus: benchmarks/work/{path.name}, {n} documents, {mb:.2f} MB; languages from the langid stage; one process "
           f"(= one core), old and new alternating batch by batch, CPU seconds of the process.", "",
           f"| | old ({args.old}) | new (working tree) | new / old |", "|---|---:|---:|---:|"]
    for key, label in (("first", "`check` (first failure decides, as the stage)"), ("all", "`check(all_failures=True)`")):
        o, w = statistics.median(times["old"][key]), statistics.median(times["new"][key])
        ro, rw = times["old"][key], times["new"][key]
        out.append(f"| {label}, CPU s (median of {args.runs}, range) | {o:.2f} ({min(ro):.2f}–{max(ro):.2f}) | {w:.2f} ({min(rw):.2f}–{max(rw):.2f}) | {w / o:.2f} |")
        out.append(f"| … docs/s per core | {n / o:,.0f} | {n / w:,.0f} | {o / w:.2f}x faster |")
    out += ["", f"Identical results: first failure {same_first}/{n}, all failures {same_all}/{n} documents.", COMPARE_END]
    print("\n".join(out))
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if COMPARE_BEGIN in text and COMPARE_END in text:
        text = text[: text.index(COMPARE_BEGIN)] + "\n".join(out) + text[text.index(COMPARE_END) + len(COMPARE_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(out) + "\n"
    OUT.write_text(text, encoding="utf-8")
    return 0 if same_first == n and same_all == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
