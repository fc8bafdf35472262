"""Rebuild tests/data/langid/paragraphs.jsonl from Debian documentation installed on this machine.

    .venv/bin/python tests/data/langid/build_fixture.py          # needs `make bench-setup` packages

The fixture is committed (CI has no apt step); this script only documents and reproduces how it
was made. Sources: the paragraphs that benchmarks/corpus.py extracts from debian-reference-*,
debian-faq-*, gimp-help-*, libreoffice-help-ko, maint-guide-*, developers-reference-* and
manpages-{ja,de,fr,es,zh}; plus translated man pages under /usr/share/man/{nl,sv,da,pl,tr,uk,ro,id}
(installed by ordinary Debian packages). All are DFSG-free documentation (GPL, GFDL, or similar);
see each package's /usr/share/doc/<package>/copyright.

The label of a paragraph is the language of the documentation it comes from. Translated manuals
keep untranslated English (commands, output, notes), so a paragraph is taken only when checks that
do NOT use fasttext agree with the label — otherwise the accuracy test would measure the filter:

* script: Hangul for ko; Kana+Han for ja; Han without Kana for zh; Cyrillic for ru/uk (uk needs
  і/ї/є/ґ, ru needs none of them); Latin for the rest;
* Latin-script languages: the label's stop words (rules/stopwords.yaml) must outnumber every other
  language's stop words by 1.5x and be at least 4;
* no code: few markup/shell symbols and digits.

Then at most PER_LANG paragraphs per language are drawn (seeded), at most 2 per source unit.
"""
from __future__ import annotations

import glob
import json
import os
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402

import corpus  # noqa: E402  (benchmarks/corpus.py)
from pipeline.text import script_counts, split_words  # noqa: E402

PER_LANG = 24
MIN_CHARS, MAX_CHARS = 200, 700
SEED = 4
MAN_EXTRA = ["nl", "sv", "da", "pl", "tr", "uk", "ro", "id"]
CJK = {"ko", "ja", "zh"}
CYRILLIC = {"ru", "uk"}

STOP = yaml.safe_load((ROOT / "rules" / "stopwords.yaml").read_text(encoding="utf-8"))["languages"]
LATIN_STOP = {lang: set(spec["words"]) for lang, spec in STOP.items() if spec["mode"] == "words" and lang not in CYRILLIC}
CODEY = re.compile(r"[{}\[\]<>=$\\|_#@/~`*]")
# groff accented-letter escapes (\('o ó, \(:a ä, \(oa å, \(/l ł …) → Unicode, before markup stripping.
_GROFF_ACCENT = re.compile(r"\\\((['`:^~,])([A-Za-z])")
_COMBINING = {"'": "\u0301", "`": "\u0300", ":": "\u0308", "^": "\u0302", "~": "\u0303", ",": "\u0327"}
_GROFF_LETTERS = {"oa": "å", "oA": "Å", "/l": "ł", "/L": "Ł", "/o": "ø", "/O": "Ø", "ss": "ß", "ae": "æ", "AE": "Æ"}


def groff_letters(raw: bytes) -> bytes:
    import unicodedata

    src = raw.decode("utf-8", errors="replace")
    src = _GROFF_ACCENT.sub(lambda m: unicodedata.normalize("NFC", m.group(2) + _COMBINING[m.group(1)]), src)
    for esc, ch in _GROFF_LETTERS.items():
        src = src.replace("\\(" + esc, ch)
    return src.encode("utf-8")


def label_of(source: str) -> str:
    lang = source.split("/", 1)[1]
    return "zh" if lang.startswith("zh") else lang.split("-")[0]


def agrees(text: str, lang: str) -> bool:
    if not MIN_CHARS <= len(text) <= MAX_CHARS:
        return False
    if len(CODEY.findall(text)) > 0.01 * len(text) or sum(c.isdigit() for c in text) > 0.05 * len(text):
        return False
    sc = script_counts(text)
    letters = sum(sc.values()) or 1
    share = lambda *names: sum(sc.get(n, 0) for n in names) / letters  # noqa: E731
    if lang == "ko":
        return share("hangul") >= 0.7
    if lang == "ja":
        kana = share("hiragana", "katakana")
        return kana >= 0.2 and share("hiragana", "katakana", "han") >= 0.8
    if lang == "zh":
        return share("han") >= 0.85 and share("hiragana", "katakana", "hangul") == 0
    if lang in CYRILLIC:
        if share("cyrillic") < 0.9:
            return False
        uk_letters = len(re.findall(r"[іїєґІЇЄҐ]", text))
        return uk_letters >= 3 if lang == "uk" else uk_letters == 0 and bool(re.search(r"[ыэъЫЭЪ]", text))
    if share("latin") < 0.95:
        return False
    words = [w.lower() for w in split_words(text)]
    hits = {l: sum(w in s for w in words) for l, s in LATIN_STOP.items()}
    own = hits.get(lang, 0)
    rival = max(v for l, v in hits.items() if l != lang)
    return own >= 4 and own >= 1.5 * rival


def candidates() -> dict[str, list[tuple[str, str]]]:
    """lang → [(source unit, paragraph)]"""
    out: dict[str, list[tuple[str, str]]] = {}
    for n, unit in enumerate(corpus.units()):
        lang = label_of(unit["source"])
        for para in unit["paras"]:
            if agrees(para, lang):
                out.setdefault(lang, []).append((f"{unit['source']}#{n}", para))
    for lang in MAN_EXTRA:
        for path in sorted(glob.glob(f"/usr/share/man/{lang}/man*/*")):
            if not os.path.isfile(path):
                continue
            try:
                paras = corpus.man_paragraphs(groff_letters(corpus._read(path)))
            except (OSError, EOFError):
                continue
            for para in paras:
                if agrees(para, lang):
                    out.setdefault(lang, []).append((path.replace("/usr/share/", ""), para))
    return out


def main() -> None:
    rng = random.Random(SEED)
    rows = []
    for lang, items in sorted(candidates().items()):
        seen: set[str] = set()
        rng.shuffle(items)
        per_unit: dict[str, int] = {}
        picked = []
        for unit, para in items:
            if para in seen or per_unit.get(unit, 0) >= 2:
                continue
            seen.add(para)
            per_unit[unit] = per_unit.get(unit, 0) + 1
            picked.append({"lang": lang, "text": para, "source": unit})
            if len(picked) >= PER_LANG:
                break
        if len(picked) >= 10:
            rows += picked
        print(f"{lang}: {len(items)} candidates, {len(picked)} taken", file=sys.stderr)
    out = HERE / "paragraphs.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} paragraphs to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
