"""Quality-stage benchmark: docs/s and MB/s per core, and what the default rules drop, by language.

    .venv/bin/python benchmarks/bench_quality.py [--docs 5000] [--runs 3] [--corpus english]

Input: a benchmark corpus of benchmarks/corpus.py (default the multilingual one, real Debian
documentation in ten languages; ``--corpus english`` the English-heavy one), built or reused under
benchmarks/work/ (the committed langid fixture grouped into documents when it cannot be built). Languages come from the langid stage, computed once before timing.
Timed: ``QualityFilter.process_batch`` over batches of ``batch_size`` records (first failing rule
decides, as in a run) and ``QualityRules.check_batch(all_failures=True)`` (every rule measured). One
process (= one core), CPU seconds, median of --runs with the range. Writes
benchmarks/results/quality.md, keeping the block benchmarks/compare_quality.py writes there.
"""
from __future__ import annotations

import argparse
import os
import importlib.metadata
import json
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline.config import load_config  # noqa: E402
from pipeline.lang.identifier import LanguageIdentifier  # noqa: E402
from pipeline.records import new_record  # noqa: E402
from compare_quality import COMPARE_BEGIN, COMPARE_END  # noqa: E402
from pipeline.quality import effective_lang  # noqa: E402
from pipeline.stages.quality import QualityFilter  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl"
OUT = ROOT / "benchmarks" / "results" / "quality.md"


def compare_block() -> str:
    """The old-vs-new block benchmarks/compare_quality.py last wrote into OUT (kept on rewrite)."""
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if COMPARE_BEGIN in text and COMPARE_END in text:
        return text[text.index(COMPARE_BEGIN) : text.index(COMPARE_END) + len(COMPARE_END)] + "\n"
    return f"{COMPARE_BEGIN}\n(run benchmarks/compare_quality.py for the old-vs-new table)\n{COMPARE_END}\n"


def load_docs(n: int, which: str = "multilingual") -> tuple[list[str], str]:
    name = "corpus" if which == "multilingual" else f"corpus-{which}"
    path = ROOT / "benchmarks" / "work" / f"{name}-v2-{n}-s7.jsonl"
    if not path.exists():
        try:
            import corpus  # noqa: PLC0415

            corpus.build(n, corpus=which)
        except Exception as exc:  # noqa: BLE001
            print(f"corpus unavailable ({type(exc).__name__}); using the fixture", file=sys.stderr)
    if path.exists():
        return [json.loads(l)["text"] for l in path.read_text(encoding="utf-8").splitlines()], f"benchmarks/work/{path.name}"
    by = defaultdict(list)
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by[row["lang"]].append(row["text"])
    docs = ["\n\n".join(p[i : i + 4]) for p in by.values() for i in range(0, len(p), 4)] * 20
    return docs, "fixture paragraphs grouped by 4, x20"


def records(docs: list[str], langs: list[str | None]) -> list[dict]:
    """Pipeline records of the documents, each with its language as the langid stage set it."""
    recs = []
    for i, (text, lang) in enumerate(zip(docs, langs)):
        r = new_record(source_uri="bench", record_index=i, text=text)
        r["lang"] = lang
        recs.append(r)
    return recs


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return times


def rate(n: int, times: list[float]) -> str:
    """n per second at the median time, and the range over the runs."""
    return f"{n / statistics.median(times):,.0f} ({n / max(times):,.0f}–{n / min(times):,.0f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corpus", choices=("multilingual", "english"), default="multilingual")
    args = ap.parse_args(argv)

    cfg = load_config()
    docs, source = load_docs(args.docs, args.corpus)
    langs = [lang for lang, _ in LanguageIdentifier.from_config(cfg).predict_batch(docs)]
    mb = sum(len(d.encode()) for d in docs) / 1e6
    recs = records(docs, langs)

    core = QualityFilter(cfg)
    t0 = time.perf_counter()
    core.setup()
    setup_s = time.perf_counter() - t0
    rules = core._rules

    bs = cfg.run.batch_size
    batches = [recs[i : i + bs] for i in range(0, len(recs), bs)]
    eff = [effective_lang(lang, d) for d, lang in zip(docs, langs)]
    core.process_batch(batches[0])  # warm-up: numba's compiled kernels load from their cache on first use
    t_first = timed(lambda: [core.process_batch(b) for b in batches], args.runs)
    t_all = timed(lambda: [rules.check_batch(docs[i : i + bs], eff[i : i + bs], all_failures=True) for i in range(0, len(docs), bs)], args.runs)

    verdicts = [v for b in batches for v in core.process_batch(b)]
    per_lang = Counter(langs)
    dropped = Counter()
    reasons = Counter()
    by_lang_reason = defaultdict(Counter)
    for lang, v in zip(langs, verdicts):
        if not v.kept:
            dropped[lang] += 1
            reasons[v.reason] += 1
            by_lang_reason[lang][v.reason] += 1

    load = os.getloadavg()
    lines = [
        "# Quality-stage benchmark",
        "",
        f"`.venv/bin/python benchmarks/bench_quality.py --docs {args.docs} --runs {args.runs} --corpus {args.corpus}` — "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, NumPy {importlib.metadata.version('numpy')}, numba {importlib.metadata.version('numba')}; "
        f"one process (= one core), CPU seconds of the process, median of {args.runs} runs (range in brackets), batches of {bs}. Rules: rules/quality.yaml defaults "
        f"({len(rules.rules)} rules); setup {setup_s * 1000:.0f} ms once per worker. Machine load average at the end: {load[0]:.1f} "
        f"on {os.cpu_count()} cores (other processes share the cores: compare figures within one run).",
        "",
        f"Input: {len(docs)} documents, {mb:.2f} MB UTF-8 ({source}); languages from the langid stage.",
        "",
        "## Speed (per core)",
        "",
        "| what | docs/s (range) | MB/s |",
        "|---|---:|---:|",
        f"| `QualityFilter.process_batch` (stage: first failing rule decides) | {rate(len(docs), t_first)} | {mb / statistics.median(t_first):.2f} |",
        f"| `QualityRules.check_batch(all_failures=True)` (every rule measured) | {rate(len(docs), t_all)} | {mb / statistics.median(t_all):.2f} |",
        "",
        "## Dropped by the default rules, by language",
        "",
        "The corpus is technical documentation (manual pages, help systems), not web text: what is dropped",
        "is mostly reference material with repeated phrasing (option lists, tables) — the point of the",
        "table is that the rates are of the same order in every script, i.e. the CJK adaptations hold.",
        "",
        "| lang | docs | dropped | share | top reasons |",
        "|---|---:|---:|---:|---|",
    ]
    for lang, n in per_lang.most_common():
        if n < 10:
            continue
        top = ", ".join(f"{r} {c}" for r, c in by_lang_reason[lang].most_common(3))
        lines.append(f"| {lang} | {n} | {dropped[lang]} | {dropped[lang] / n:.1%} | {top} |")
    lines += [
        "",
        "All reasons: " + ", ".join(f"`{r}` {c}" for r, c in reasons.most_common()) + ".",
        "",
    ]
    lines.append(compare_block())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
