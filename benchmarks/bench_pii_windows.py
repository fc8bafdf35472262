"""The PII prefilter's windows: the index-based ``Prefilter.windows`` against the search-based
``Prefilter.windows_reference`` on whole corpora — equal on every document, and their CPU.

    .venv/bin/python benchmarks/bench_pii_windows.py --runs 3 \\
      benchmarks/work/corpus-english-v2-100000-s7.jsonl benchmarks/work/corpus-v2-100000-s7.jsonl

For each corpus and each prefiltered language (the windows depend on it through the stop words),
every document's windows are computed both ways, with the index path forced on every document
with a hit, and compared. CPU: ``time.process_time`` of the windows of every document (the union
scan for hits included, as in the stage), reference vs default (which takes the index path from
``Prefilter.index_from_hits`` hits on), one process, median (min–max) of ``--runs``, alternating.
Written to benchmarks/results/pii_windows.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT_MD = ROOT / "benchmarks" / "results" / "pii_windows.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="+")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", type=int, default=0, help="at most this many documents per corpus (0: all)")
    args = ap.parse_args(argv)
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine
    from pipeline.pii.prefilter import Prefilter, _character_classes

    engine = PiiEngine.from_config(load_config())
    default_from = Prefilter.index_from_hits
    _character_classes()  # built once per worker (a fraction of a second): not a per-document cost
    rows = []
    for path in args.corpora:
        texts = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                texts.append(json.loads(line)["text"])
                if args.docs and len(texts) >= args.docs:
                    break
        for lang, pre in sorted(engine.prefilters.items()):
            if pre is None:
                continue
            Prefilter.index_from_hits = 0
            differ = sum(pre.windows(t) != pre.windows_reference(t) for t in texts)
            Prefilter.index_from_hits = default_from
            with_hits = sum(bool(pre.hits(t)) for t in texts)
            row = {"corpus": Path(path).name, "lang": lang, "docs": len(texts), "with_hits": with_hits, "differ": differ}
            if lang == "en":
                ref, fast = [], []
                for _ in range(args.runs):
                    for way, out in ((pre.windows_reference, ref), (pre.windows, fast)):
                        pre._sure.clear()
                        t = time.process_time()
                        for text in texts:
                            way(text)
                        out.append(time.process_time() - t)
                row.update(reference=ref, default=fast)
            rows.append(row)
            print(row | {k: [round(x, 2) for x in row.get(k, [])] for k in ("reference", "default")}, flush=True)

    def med(xs):
        return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"

    L = ["# PII prefilter windows: index-based vs search-based", "",
         f"`.venv/bin/python benchmarks/bench_pii_windows.py --runs {args.runs} "
         + " ".join(os.path.relpath(p, ROOT) for p in args.corpora) + "`", "",
         f"{platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
         "one process, CPU seconds (`time.process_time`), median (min–max) of the runs, the two ways alternating.", "",
         "Equality: every document's windows, both ways, for every prefiltered language, the index path forced on "
         "every document with a hit.", "",
         "| corpus | language | documents | with a hit | windows differ |", "|---|---|---:|---:|---:|"]
    L += [f"| {r['corpus']} | {r['lang']} | {r['docs']:,} | {r['with_hits']:,} | {r['differ']} |" for r in rows]
    L += ["", "CPU of the windows of every document (English prefilter; the hits' union scan included, as in the stage):", "",
          "| corpus | documents | search-based (before) s | default (index from "
          f"{Prefilter.index_from_hits} hits) s | per 10k documents saved s |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "reference" in r:
            saved = (statistics.median(r["reference"]) - statistics.median(r["default"])) * 10_000 / r["docs"]
            L.append(f"| {r['corpus']} | {r['docs']:,} | {med(r['reference'])} | {med(r['default'])} | {saved:.2f} |")
    OUT_MD.write_text("\n".join(L) + "\n", encoding="utf-8")
    print(f"wrote {OUT_MD}")
    return 0 if all(r["differ"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
