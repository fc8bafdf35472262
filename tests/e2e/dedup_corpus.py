"""A labelled near-duplicate set built from real text on the machine (not shipped in the repo).

Bases: long English messages and their Korean translations from the gettext catalogues under
/usr/share/locale/ko (msgid = English, msgstr = Korean), paragraphs from /usr/share/doc. Bases
that are near-duplicates of each other are discarded (true shingle Jaccard ≥ 0.3), so every
labelled pair is a pair derived from one base. Variants of a base: whitespace/case changes, light
edits (one word per ~100 words; one syllable per ~150 Hangul characters), boilerplate
header/footer, and an exact copy.
"""
from __future__ import annotations

import gettext
import glob
import itertools
import random
import re

from pipeline.minhash import MinHasher

HANGUL = re.compile(r"[\uac00-\ud7a3]")
EN_BOILER = ("Home | About | Contact\n", "\n\nAll rights reserved.")
KO_BOILER = ("홈 | 소개 | 문의 | 개인정보처리방침\n", "\n\n이 글을 공유하세요. 무단 전재 및 재배포 금지.")


def _catalog_texts() -> tuple[list[str], list[str]]:
    en, ko = [], []
    for path in sorted(glob.glob("/usr/share/locale/ko/LC_MESSAGES/*.mo")):
        try:
            with open(path, "rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog
        except Exception:  # noqa: BLE001 - a catalogue we cannot parse is just not used
            continue
        for msgid, msgstr in sorted((k, v) for k, v in catalog.items() if isinstance(k, str) and k and isinstance(v, str)):
            if len(re.findall(r"[A-Za-z]+", msgid)) >= 120:
                en.append(msgid)
            if len(HANGUL.findall(msgstr)) >= 250:
                ko.append(msgstr)
    return en, ko


def _distinct(texts: list[str], lang: str, hasher: MinHasher, limit: int) -> list[str]:
    kept, sets = [], []
    for text in texts:
        s = set(hasher.shingle_hashes(text, lang).tolist())
        if all(len(s & t) / len(s | t) < 0.3 for t in sets):
            kept.append(text)
            sets.append(s)
        if len(kept) >= limit:
            break
    return kept


def _edit_en(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 100)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["really", "also", "indeed", "quite", "simply"])
    return " ".join(words)


def _edit_ko(text: str, rng: random.Random) -> str:
    chars = list(text)
    positions = [i for i, c in enumerate(chars) if HANGUL.match(c)]
    for _ in range(max(1, len(positions) // 150)):
        chars[rng.choice(positions)] = rng.choice("가나다라마바사")
    return "".join(chars)


def _spacing_case(text: str, lang: str, rng: random.Random) -> str:
    out = re.sub(r"\s+", lambda m: rng.choice([" ", "  ", "\n", " \t "]), text)
    return out.upper() if lang == "en" else out.replace(" ", "", 3)


def labelled_set(per_lang: int = 40, seed: int = 5):
    """→ (docs, families): docs are (text, lang, family); families index the base of each doc."""
    hasher = MinHasher()
    en, ko = _catalog_texts()
    en = _distinct(en, "en", hasher, per_lang)
    ko = _distinct(ko, "ko", hasher, per_lang)
    rng = random.Random(seed)
    docs = []
    family = 0
    for lang, bases in (("en", en), ("ko", ko)):
        head, foot = EN_BOILER if lang == "en" else KO_BOILER
        edit = _edit_en if lang == "en" else _edit_ko
        for base in bases:
            variants = [base, _spacing_case(base, lang, rng), edit(base, rng), head + base + foot]
            if family % 3 == 0:
                variants.append(base)  # an exact copy
            docs += [(v, lang, family) for v in variants]
            family += 1
    # singletons: real text with no duplicate (not in any family)
    return docs, en, ko


def true_pairs(docs) -> set[tuple[int, int]]:
    by_family: dict[int, list[int]] = {}
    for i, (_, _, fam) in enumerate(docs):
        by_family.setdefault(fam, []).append(i)
    return {tuple(sorted(p)) for members in by_family.values() for p in itertools.combinations(members, 2)}
