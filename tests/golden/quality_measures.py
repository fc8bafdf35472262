"""Golden for the quality refactor: verdicts and every measured value on a few hundred varied documents.

    PYTHONPATH=$PWD .venv/bin/python tests/golden/quality_measures.py          # rewrite the golden
    PYTHONPATH=$PWD .venv/bin/python tests/golden/quality_measures.py --check  # compare only

The golden (``quality_measures.json``) was written by the quality stage as it was before it was split
into ``pipeline/quality/`` and sped up; ``tests/unit/test_quality_golden.py`` asserts that the current
code gives the same first failure, the same list of all failures and the same measured values (floats
within 1e-9). Regenerate it only for an intended behaviour change, never for a refactor.

Documents (seeded, built from files in this repository): the langid fixture's paragraphs in 18
languages (en, ko, ja, zh among them) grouped into documents of 1–6 paragraphs, each also with
``lang`` unset (script guess) — plus shapes the rules exist for: source code, bullet lists, menus and
navigation boilerplate, repeated lines and paragraphs, repeated n-grams, lorem ipsum, symbol soup,
number tables, very short texts, empty and whitespace-only text, and mixed-script text.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "langid" / "paragraphs.jsonl"
GOLDEN = Path(__file__).with_name("quality_measures.json")
SEED = 18


def _paragraphs() -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by.setdefault(row["lang"], []).append(row["text"])
    return by


CODE = '''def parse(path):
    with open(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            key, _, value = line.partition("=")
            yield key.strip(), value.strip()

class Config:
    def __init__(self, items):
        self.items = dict(items)  # {"a": 1}
    def get(self, key, default=None):
        return self.items.get(key, default)
'''
JS = "function f(a) { return a.map(x => { return {k: x, v: x * 2}; }); }\nconst y = f([1, 2, 3]);\n"
MENU = ["Home", "About us", "Contact", "Privacy policy", "Terms of use", "Log in", "Sign up", "Cookie settings"]
MENU_KO = ["홈", "회사 소개", "문의하기", "개인정보처리방침", "이용약관", "로그인", "회원가입"]
MENU_JA = ["ホーム", "会社概要", "お問い合わせ", "プライバシーポリシー", "利用規約", "ログイン"]
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore."
BULLETS = ["- ", "* ", "• ", "‣ ", "1. "]


def documents() -> list[dict]:
    """[{"text": …, "lang": … or None}], deterministic."""
    rng = random.Random(SEED)
    by = _paragraphs()
    docs: list[dict] = []
    for lang in sorted(by):
        paras = by[lang]
        for i in range(0, len(paras), 3):
            k = rng.randint(1, 6)
            text = "\n\n".join(paras[i : i + k])
            docs.append({"text": text, "lang": lang})
            if i % 6 == 0:
                docs.append({"text": text, "lang": None})  # script guess (ja/zh/ko) or no overrides
    pool = [p for lang in sorted(by) for p in by[lang]]
    cjk = by["ko"] + by["ja"] + by["zh"]
    for j in range(12):  # repetition: lines, paragraphs, n-grams
        p = rng.choice(pool)
        docs.append({"text": "\n".join([p] * rng.randint(2, 5)), "lang": None})
        q = rng.choice(cjk)
        docs.append({"text": "\n\n".join([q, rng.choice(cjk), q, q][: rng.randint(2, 4)]), "lang": rng.choice(["ko", "ja", "zh", None])})
        words = rng.choice(pool).split()
        phrase = " ".join(words[: rng.randint(2, 5)])
        docs.append({"text": " ".join([phrase] * rng.randint(3, 30)) + " " + " ".join(words), "lang": "en" if j % 2 else None})
    for j in range(10):  # code
        text = CODE * rng.randint(1, 3) + (JS * rng.randint(0, 4))
        docs.append({"text": text, "lang": rng.choice(["en", None])})
    for j in range(10):  # lists
        b = rng.choice(BULLETS)
        items = rng.sample(pool, rng.randint(3, 12))
        docs.append({"text": "\n".join(b + it[: rng.randint(10, 120)] for it in items), "lang": rng.choice(["en", "de", "ko", None])})
    for j, menu in enumerate([MENU, MENU_KO, MENU_JA] * 3):  # navigation boilerplate around prose
        body = "\n\n".join(rng.sample(pool, 2))
        docs.append({"text": "\n".join(menu) + "\n\n" + body + "\n\n" + " | ".join(menu), "lang": [None, "ko", "ja"][j % 3]})
    for j in range(6):  # lorem ipsum, ellipses, symbols, curly brackets
        docs.append({"text": LOREM + " " + rng.choice(pool), "lang": "en"})
        docs.append({"text": "\n".join(p[:60] + " ..." for p in rng.sample(pool, 6)), "lang": None})
        docs.append({"text": " ".join("#" * rng.randint(1, 3) + w for w in rng.choice(pool).split()), "lang": "en"})
        docs.append({"text": rng.choice(pool) + " {x} {y} " * rng.randint(1, 5), "lang": None})
    for j in range(8):  # number tables, short texts, edge cases, mixed scripts
        docs.append({"text": "\n".join(" ".join(str(rng.randint(0, 10**6)) for _ in range(6)) for _ in range(10)), "lang": None})
        docs.append({"text": " ".join(rng.choice(pool).split()[: rng.randint(1, 40)]), "lang": rng.choice(["en", "fr", None])})
        docs.append({"text": rng.choice(by["en"]) + " " + rng.choice(cjk) + "\n" + rng.choice(by["ru"]), "lang": None})
    docs += [{"text": "", "lang": None}, {"text": "   \n\n\t ", "lang": "en"}, {"text": "a", "lang": "ko"}, {"text": "日本", "lang": None}]
    return docs


def _api():
    """(QualityRules, effective_lang, DocStats, MEASURES, NGRAM_MEASURES) wherever they live."""
    try:
        from pipeline.quality.measures import MEASURES, NGRAM_MEASURES
        from pipeline.quality.rules import QualityRules, effective_lang
        from pipeline.quality.stats import DocStats
    except ImportError:  # before the split into pipeline/quality/
        from pipeline.stages.quality import MEASURES, NGRAM_MEASURES, DocStats, QualityRules, effective_lang
    return QualityRules, effective_lang, DocStats, MEASURES, NGRAM_MEASURES


def raw_measures(rules, MEASURES, NGRAM_MEASURES, stats) -> dict:
    """Every enabled rule's value unrounded ({n: value} for n-gram rules), by rule name."""
    out: dict = {}
    for p in rules.for_lang(stats.lang):
        check = p["check"]
        if check in NGRAM_MEASURES:
            out[p["name"]] = {str(n): float(NGRAM_MEASURES[check](stats, n)) for n, _ in p["_table"]}
        else:
            v = MEASURES[check](stats, p)
            out[p["name"]] = None if v is None else float(v)
    return out


def compute(docs: list[dict], batch_size: int = 0) -> list[dict]:
    """Per document: language, first failure, all failures, rounded and raw measures. With
    ``batch_size``, the rules run on batches of that many documents (``check_batch``, ``DocStats.batch``)."""
    from pipeline.config import load_config

    QualityRules, effective_lang, DocStats, MEASURES, NGRAM_MEASURES = _api()
    rules = QualityRules.from_config(load_config())
    texts = [d["text"] for d in docs]
    langs = [effective_lang(d["lang"], d["text"]) for d in docs]
    if batch_size:
        first, every, stats = [], [], []
        for lo in range(0, len(docs), batch_size):
            first += rules.check_batch(texts[lo : lo + batch_size], langs[lo : lo + batch_size])
            every += rules.check_batch(texts[lo : lo + batch_size], langs[lo : lo + batch_size], all_failures=True)
            stats += DocStats.batch(texts[lo : lo + batch_size], langs[lo : lo + batch_size])
    else:
        first = [rules.check(t, lang) for t, lang in zip(texts, langs)]
        every = [rules.check(t, lang, all_failures=True) for t, lang in zip(texts, langs)]
        stats = [DocStats(t, lang) for t, lang in zip(texts, langs)]
    return [
        {
            "lang": lang,
            "first": [list(f) for f in f1],
            "all": [list(f) for f in fa],
            "measures": rules.measure(t, lang),
            "raw": raw_measures(rules, MEASURES, NGRAM_MEASURES, st),
        }
        for t, lang, f1, fa, st in zip(texts, langs, first, every, stats)
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the golden instead of writing it")
    args = ap.parse_args(argv)
    docs = documents()
    got = json.loads(json.dumps(compute(docs), sort_keys=True))
    if args.check:
        want = json.loads(GOLDEN.read_text(encoding="utf-8"))
        bad = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
        print(f"{len(docs)} documents, {len(bad)} differ" + (f": {bad[:10]}" if bad else ""))
        return 1 if bad or len(got) != len(want) else 0
    GOLDEN.write_text(json.dumps(got, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(docs)} documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
