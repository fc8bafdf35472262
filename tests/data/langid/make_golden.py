"""Write tests/data/langid/golden_verdicts.jsonl: the langid stage's verdicts on documents built from
the committed fixture paragraphs.jsonl, as the stage decided them when the golden was made.

    PYTHONPATH=$PWD .venv/bin/python tests/data/langid/make_golden.py          # rewrite the golden
    PYTHONPATH=$PWD .venv/bin/python tests/data/langid/make_golden.py --check  # exit 1 on any difference

tests/unit/test_langid.py compares the stage against this file, so a speed change that alters a
label, a score, a reason or a mixed-language flag fails. Rewrite it only for a deliberate change of
the decision rule, and say in the commit which rows changed and why.

Documents (all from the fixture, so no external data is needed):
* every fixture paragraph alone (432, 18 languages);
* three paragraphs of one language, two documents per language (paragraphs agree);
* two paragraphs of one language and one of another, for every ordered pair of
  en de fr es ru ja ko zh (paragraphs disagree: the mixed flag and the whole-text label);
* a few odd ones: a document of single lines without blank lines, noise only, empty text,
  a paragraph wrapped in markup and URLs, many short code-like lines around one paragraph.
Each under two configurations: the defaults, and strict minimum scores (``min_score: 0.9``,
``min_scores: {da: 0.9999}``), which exercises the fall-back to the whole text.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "paragraphs.jsonl"
GOLDEN = HERE / "golden_verdicts.jsonl"
PAIR_LANGS = ["en", "de", "fr", "es", "ru", "ja", "ko", "zh"]
CONFIGS = {"default": None, "strict": {"min_score": 0.9, "min_scores": {"da": 0.9999}}}


def documents() -> list[tuple[str, str]]:
    """(name, text) of every golden document, in a fixed order."""
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    by_lang: dict[str, list[str]] = {}
    for r in rows:
        by_lang.setdefault(r["lang"], []).append(r["text"])
    docs = [(f"single/{i}", r["text"]) for i, r in enumerate(rows)]
    for lang in sorted(by_lang):
        paras = by_lang[lang]
        docs += [(f"same/{lang}/{k}", "\n\n".join(paras[k : k + 3])) for k in (3, 6)]
    for a in PAIR_LANGS:
        for b in PAIR_LANGS:
            if a != b:
                docs.append((f"pair/{a}+{b}", "\n\n".join(by_lang[a][9:11] + by_lang[b][11:12])))
    de = by_lang["de"][12]
    docs += [
        ("odd/lines", "\n".join(by_lang["fr"][13:16])),
        ("odd/noise", "12345 https://example.org/a <b>*</b> 678"),
        ("odd/empty", ""),
        ("odd/markup", f"<div><p>{by_lang['ko'][13]}</p></div>\n\nhttps://example.org/x?y=1 &amp; 2026-12-05"),
        ("odd/code", "\n".join([f"$ make -j{i} target{i}" for i in range(12)]) + "\n\n" + de),
    ]
    return docs


def verdict_rows() -> list[dict]:
    sys.path.insert(0, str(HERE.parent.parent.parent))
    from pipeline.config import load_config
    from pipeline.records import new_record
    from pipeline.stages.langid import LanguageFilter

    docs = documents()
    out = []
    for cfg_name, langid in CONFIGS.items():
        core = LanguageFilter(load_config(overrides={"langid": langid} if langid else None))
        core.setup()
        recs = [new_record(source_uri="mem://golden.jsonl", record_index=i, text=t) for i, (_, t) in enumerate(docs)]
        verdicts = []
        for lo in range(0, len(recs), 64):  # several batches, as the stage sees them
            verdicts += core.process_batch(recs[lo : lo + 64])
        for (name, _), rec, v in zip(docs, recs, verdicts):
            out.append({"config": cfg_name, "doc": name, "lang": rec["lang"], "lang_score": rec["lang_score"],
                        "action": v.action, "reason": v.reason, "detail": v.detail})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the committed golden instead of writing it")
    args = ap.parse_args(argv)
    rows = verdict_rows()
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if args.check:
        old = GOLDEN.read_text(encoding="utf-8").splitlines()
        new = text.splitlines()
        diff = [(o, n) for o, n in zip(old, new) if o != n]
        print(f"{len(new)} rows, {len(diff)} differ, {abs(len(old) - len(new))} missing or extra")
        for o, n in diff[:10]:
            print(f"- {o}\n+ {n}")
        return 1 if diff or len(old) != len(new) else 0
    GOLDEN.write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} rows to {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
