"""Old vs new langid stage core on the same documents, in the same process.

    .venv/bin/python benchmarks/compare_langid.py [--old REV] [--docs 10000] [--runs 3]

The old ``pipeline/lang/identifier.py`` and ``pipeline/stages/langid.py`` are loaded from git
revision REV (default HEAD) next to the working tree's; both run ``LanguageFilter.process_batch``
(batches of 512) over benchmarks/work/corpus-v2-<docs>-s7.jsonl, interleaved batch by batch, CPU
seconds, median of --runs.
Reports time, characters sent to fasttext, model calls (per-line C predict calls) per document, and
agreement: labels, mixed flags, shares, scores. Remembered predictions are forgotten before every
run, so each run starts cold. ``--natural`` keeps only the corpus's natural documents (consecutive
paragraphs of one file), leaving out the mixes of random paragraphs that benchmarks/corpus.py adds
when natural documents run out — those reuse paragraphs far more than real text does.
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


def probe_whole_first(docs: list[str], cfg) -> None:
    """The alternative not taken: predict every document's prepared text (cut to K characters) once and
    label paragraphs only when its score is under T. Compared with the current stage on the same
    documents: characters the model reads, documents that would fall back, and the mixed-language
    flags the stage sets today that the alternative would not find (it sees no paragraphs)."""
    from pipeline.lang.identifier import PARAGRAPH_PREDICT_CHARS, _predict_line  # noqa: PLC0415

    core = LanguageFilter(cfg)
    core.setup()
    ident = core._ident
    labelled = []
    for lo in range(0, len(docs), 512):
        labelled += ident.label_documents(docs[lo : lo + 512], min_score=core._need)
    mixed = [x.shares is not None and x.shares.get(x.lang, 0.0) < cfg.langid.mixed_share for x in labelled]
    parts = [ident.prepare_parts(d) for d in docs]
    para_chars = [sum(len(_predict_line(u)) for u in units) if len(units) >= 2 else 0 for _, units, _ in parts]
    now = sum(p if p else len(doc) for p, (doc, _, _) in zip(para_chars, parts))
    now += sum(len(doc) for x, (doc, _, _) in zip(labelled, parts) if x.whole_text and x.shares is not None)
    print(f"current stage: {now:,} characters read by the model (no line remembered; paragraph lines ≤ {PARAGRAPH_PREDICT_CHARS})")
    from pipeline.text import script_counts  # noqa: PLC0415

    def second_script_share(text: str) -> float:
        """Share of the letters outside the document's main script (Han and Kana count as one)."""
        groups: dict[str, int] = {}
        for script, n in script_counts(text).items():
            key = "cjk" if script in ("han", "hiragana", "katakana") else script
            groups[key] = groups.get(key, 0) + n
        total = sum(groups.values())
        return 1.0 - max(groups.values()) / total if total else 0.0

    script_mix = [second_script_share(doc) for doc, _, _ in parts]
    print("| whole text cut to K | fall back when score < T | characters read | vs current | documents falling back | same label | mixed flags lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for k in (4000, 1000):
        heads = [doc[:k].rstrip() for doc, _, _ in parts]
        preds = ident.predict_many(heads)
        head_chars = sum(map(len, heads))
        for t, mix in ((0.9, None), (0.95, None), (0.99, None), (0.9, 0.05), (0.9, 0.2)):
            back = [score < t or (mix is not None and m >= mix) for (_, score), m in zip(preds, script_mix)]
            chars = head_chars + sum(p for p, b in zip(para_chars, back) if b)
            same = sum(1 for (lang, _), x, b in zip(preds, labelled, back) if b or lang == x.lang)
            lost = sum(1 for m, b in zip(mixed, back) if m and not b)
            rule = f"{t}" + (f" or letters outside the main script ≥ {mix}" if mix is not None else "")
            print(f"| {k} | {rule} | {chars:,} | {chars / now:.2f} | {sum(back)}/{len(docs)} | {same}/{len(docs)} | {lost}/{sum(mixed)} |")


def document_set(seed: int = 5) -> list[tuple[str, str, str]]:
    """(set, true language, text): labelled documents built from bench_langid's real paragraphs (the
    Debian documentation, 18 languages). ``one language``: 2–6 paragraphs of one language;
    ``one foreign paragraph``: 3–6 paragraphs of one language and one of another (English, or German
    in an English document) at a random place; ``one short foreign line``: the same with the start of
    a foreign paragraph holding about a twelfth of the characters — the document's language is still
    the first one."""
    import random  # noqa: PLC0415

    import bench_langid  # noqa: PLC0415

    rows, _ = bench_langid.long_set(150)
    by_lang: dict[str, list[str]] = {}
    for r in rows:
        by_lang.setdefault(r["lang"], []).append(r["text"])
    rng = random.Random(seed)
    out = []
    for lang, paras in sorted(by_lang.items()):
        pool = paras[:]
        rng.shuffle(pool)
        i = 0
        while i + 6 <= len(pool):
            k = rng.randint(2, 6)
            out.append(("one language", lang, "\n\n".join(pool[i : i + k])))
            i += k
        foreign = by_lang["de" if lang == "en" else "en"]
        for j in range(0, len(paras) - 6, 6):
            part = paras[j : j + rng.randint(3, 6)]
            part.insert(rng.randint(0, len(part)), rng.choice(foreign))
            out.append(("one foreign paragraph", lang, "\n\n".join(part)))
            # a short foreign line (a caption, a quoted command's output): 5–10% of the characters
            part = paras[j : j + rng.randint(3, 6)]
            line = rng.choice(foreign)[: max(40, sum(map(len, part)) // 12)]
            part.insert(rng.randint(0, len(part)), line[: line.rfind(" ")] if " " in line[20:] else line)
            out.append(("one short foreign line", lang, "\n\n".join(part)))
    return out


def documents_accuracy(rev: str, cfg) -> None:
    """Per-language accuracy of the old and the new stage core on :func:`document_set`."""
    from collections import defaultdict  # noqa: PLC0415

    docs = document_set()
    cores = {"old": old_core_class(rev)(cfg), "new": LanguageFilter(cfg)}
    hits: dict = defaultdict(lambda: [0, 0, 0])  # (set, lang) → [old right, new right, documents]
    changed = []
    for name, core in cores.items():
        core.setup()
        recs = [new_record(source_uri="bench", record_index=i, text=t) for i, (_, _, t) in enumerate(docs)]
        for lo in range(0, len(recs), 512):
            core.process_batch(recs[lo : lo + 512])
        for (kind, lang, _), r in zip(docs, recs):
            hits[kind, lang][0 if name == "old" else 1] += r["lang"] == lang
            hits[kind, lang][2] += name == "old"
        cores[name] = recs
    changed = [i for i, (a, b) in enumerate(zip(cores["old"], cores["new"])) if a["lang"] != b["lang"]]
    print(f"labelled documents: {len(docs)}; label changed old → new: {len(changed)}")
    print(f"| set | lang | documents | old ({rev}) | new |")
    print("|---|---|---:|---:|---:|")
    for kind in ("one language", "one foreign paragraph", "one short foreign line"):
        tot = [0, 0, 0]
        for (k, lang), (o, n, d) in sorted(hits.items()):
            if k == kind:
                print(f"| {kind} | {lang} | {d} | {o / d:.3f} | {n / d:.3f} |")
                tot = [tot[0] + o, tot[1] + n, tot[2] + d]
        print(f"| {kind} | all | {tot[2]} | {tot[0] / tot[2]:.4f} | {tot[1] / tot[2]:.4f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="HEAD")
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mixed-share", type=float, default=None, help="langid.mixed_share (default: the config's)")
    ap.add_argument("--min-score", type=float, default=None, help="langid.min_score (default: the config's)")
    ap.add_argument("--probe-whole-first", action="store_true", help="measure the whole-text-first alternative instead")
    ap.add_argument("--natural", action="store_true", help="only the natural documents (not the random-paragraph mixes)")
    ap.add_argument("--documents-accuracy", action="store_true", help="per-language accuracy of old and new on labelled documents")
    ap.add_argument("--corpus", default="multilingual", choices=["multilingual", "english"], help="benchmarks/corpus.py's corpus")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import json  # noqa: PLC0415

    import corpus  # noqa: PLC0415

    if args.documents_accuracy:
        documents_accuracy(args.old, load_config())
        return 0
    path = corpus.build(args.docs, corpus=args.corpus)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    docs = [r["text"] for r in rows if not (args.natural and "mixed" in r["source"])]
    mb = sum(len(d.encode()) for d in docs) / 1e6
    langid = {k: v for k, v in (("mixed_share", args.mixed_share), ("min_score", args.min_score)) if v is not None}
    cfg = load_config(overrides={"langid": langid} if langid else None)
    if args.probe_whole_first:
        print(f"corpus: {path.name}{' (natural documents only)' if args.natural else ''}, {len(docs)} documents")
        probe_whole_first(docs, cfg)
        return 0
    cores = {"old": old_core_class(args.old)(cfg), "new": LanguageFilter(cfg)}
    sent = {}
    model_calls = {}
    for name, c in cores.items():
        c.setup()
        model = c._ident._model
        calls = model_calls.setdefault(name, [0, 0])

        class CountingC:  # the per-line C predict of the loaded model, counted
            def __init__(self, real, calls=calls):
                self.real, self.calls = real, calls

            def predict(self, *a):
                self.calls[0] += 1
                self.calls[1] += len(a[0]) - 1  # the line without its newline
                return self.real.predict(*a)

        model.f = CountingC(model.f)
        native = getattr(c._ident, "_native", None)
        if native is not None:  # the batch kernel: one native call for many lines
            def native_counting(lines, real=native.predict, calls=calls):
                calls[0] += 1
                calls[1] += sum(map(len, lines))
                return real(lines)

            native.predict = native_counting
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
        for k, c in cores.items():
            sent[k][:] = [0, 0]
            model_calls[k][:] = [0, 0]
            getattr(c._ident, "_memo", {}).clear()
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
    rows_same = sum(
        (a["lang"], a["lang_score"], x.action, x.reason, x.detail) == (b["lang"], b["lang_score"], y.action, y.reason, y.detail)
        for a, b, x, y in zip(ro, rn, vo, vn)
    )
    diffs = [(a["lang"], b["lang"]) for a, b in zip(ro, rn) if a["lang"] != b["lang"]]
    print(f"corpus: {path.name}{' (natural documents only)' if args.natural else ''}, {n} documents, {mb:.2f} MB; config langid.mixed_share = {cfg.langid.mixed_share}, min_score = {cfg.langid.min_score}")
    print("| | old ({}) | new (working tree) | new / old |".format(args.old))
    print("|---|---:|---:|---:|")
    print(f"| stage core, CPU s (median of {args.runs}; runs {', '.join(f'{t:.2f}' for t in times['old'])} / {', '.join(f'{t:.2f}' for t in times['new'])}) "
          f"| {med['old']:.2f} | {med['new']:.2f} | {med['new'] / med['old']:.2f} |")
    print(f"| docs/s | {n / med['old']:,.0f} | {n / med['new']:,.0f} | |")
    print(f"| MB/s | {mb / med['old']:.2f} | {mb / med['new']:.2f} | |")
    print(f"| lines handed to the identifier | {sent['old'][0]:,} | {sent['new'][0]:,} | {sent['new'][0] / sent['old'][0]:.2f} |")
    print(f"| model calls per document (per-line C predict, or batch kernel calls) | {model_calls['old'][0] / n:.3f} | {model_calls['new'][0] / n:.3f} | {model_calls['new'][0] / max(1, model_calls['old'][0]):.2f} |")
    print(f"| characters predicted by the model | {model_calls['old'][1]:,} | {model_calls['new'][1]:,} | {model_calls['new'][1] / max(1, model_calls['old'][1]):.2f} |")
    print(f"| characters handed to the identifier | {sent['old'][1]:,} | {sent['new'][1]:,} | {sent['new'][1] / sent['old'][1]:.2f} |")
    print()
    print(f"same lang: {same_lang}/{n}; same verdict (action, reason): {same_verdict}/{n}; lang changes: {diffs[:20]}")
    print(f"identical rows (lang, lang_score, action, reason, detail): {rows_same}/{n}")
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
