"""Shared text utilities: script detection and CJK-aware word splitting.

Scripts are counted vectorised (the text's code points as a NumPy array, one ``searchsorted`` over a
table of Unicode ranges), so detection costs about the same for 100 characters as for 100 KB.

Word splitting follows how each writing system marks words:

* space-separated scripts (Latin, Cyrillic, Greek, Arabic, …): a word is a run of word characters,
  with inner apostrophes and hyphens kept (``don't``, ``state-of-the-art``);
* Han and Kana (Chinese, Japanese): no spaces between words, so every character is one "word" —
  the Gopher/C4 statistics then run on characters, the usual practice for these languages;
* Korean: Hangul text *is* space-separated, into eojeol (a stem plus its particles, e.g. ``학교에서``),
  so Korean words are eojeol; they are longer in characters-per-word terms than English syllables
  suggest but short in characters (mean ≈ 3), which is why the quality rules carry Korean-specific
  thresholds and a particle-suffix stop-word check (see ``rules/quality.yaml``).
"""
from __future__ import annotations

import re

import numpy as np

# --- scripts -------------------------------------------------------------------------------------
SCRIPTS = (
    "none",  # digits, punctuation, symbols, spaces, anything unlisted
    "latin",
    "cyrillic",
    "greek",
    "arabic",
    "hebrew",
    "devanagari",
    "thai",
    "hangul",
    "han",
    "hiragana",
    "katakana",
)
_S = {name: i for i, name in enumerate(SCRIPTS)}

# (first code point, last code point, script) — letters only; gaps are "none".
_RANGES = [
    (0x41, 0x5A, "latin"), (0x61, 0x7A, "latin"),
    (0xAA, 0xAA, "latin"), (0xBA, 0xBA, "latin"),
    (0xC0, 0xD6, "latin"), (0xD8, 0xF6, "latin"), (0xF8, 0x24F, "latin"),
    (0x250, 0x2AF, "latin"),
    (0x370, 0x3FF, "greek"),
    (0x400, 0x52F, "cyrillic"),
    (0x591, 0x5F4, "hebrew"),
    (0x600, 0x65F, "arabic"), (0x66E, 0x6FF, "arabic"), (0x750, 0x77F, "arabic"),
    (0x900, 0x97F, "devanagari"),
    (0xE00, 0xE7F, "thai"),
    (0x1100, 0x11FF, "hangul"),
    (0x1C80, 0x1C8F, "cyrillic"),
    (0x1E00, 0x1EFF, "latin"),
    (0x1F00, 0x1FFF, "greek"),
    (0x2DE0, 0x2DFF, "cyrillic"),
    (0x2E80, 0x2FDF, "han"),  # radicals
    (0x3005, 0x3007, "han"),  # 々 〆 〇
    (0x3041, 0x309F, "hiragana"),
    (0x30A0, 0x30FF, "katakana"),
    (0x3130, 0x318F, "hangul"),
    (0x31F0, 0x31FF, "katakana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xA640, 0xA69F, "cyrillic"),
    (0xA720, 0xA7FF, "latin"),
    (0xA960, 0xA97F, "hangul"),
    (0xAB30, 0xAB6F, "latin"),
    (0xAC00, 0xD7FF, "hangul"),
    (0xF900, 0xFAFF, "han"),
    (0xFB00, 0xFB06, "latin"),
    (0xFB1D, 0xFB4F, "hebrew"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0xFF21, 0xFF3A, "latin"), (0xFF41, 0xFF5A, "latin"),
    (0xFF66, 0xFF9F, "katakana"),
    (0xFFA0, 0xFFDC, "hangul"),
    (0x20000, 0x3134F, "han"),
]


def _build_table() -> tuple[np.ndarray, np.ndarray]:
    starts = [0]
    ids = [0]
    for lo, hi, name in sorted(_RANGES):
        if starts[-1] == lo:  # a range starting right where a gap would begin
            ids[-1] = _S[name]
        else:
            starts.append(lo)
            ids.append(_S[name])
        starts.append(hi + 1)
        ids.append(0)
    return np.asarray(starts, dtype=np.uint32), np.asarray(ids, dtype=np.int8)


_STARTS, _IDS = _build_table()


def codepoints(text: str) -> np.ndarray:
    """The text's code points as a uint32 array (no Python loop)."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def script_ids(text: str) -> np.ndarray:
    """Per character, the index into :data:`SCRIPTS` of its script (0 = not a letter)."""
    cps = codepoints(text)
    return _IDS[np.searchsorted(_STARTS, cps, side="right") - 1]


def script_counts(text: str) -> dict[str, int]:
    """Letters per script, e.g. ``{"hangul": 120, "latin": 8}`` (scripts with no letters left out)."""
    if not text:
        return {}
    counts = np.bincount(script_ids(text), minlength=len(SCRIPTS))
    return {SCRIPTS[i]: int(n) for i, n in enumerate(counts) if i and n}


def guess_lang_from_script(text: str) -> str | None:
    """A language for scripts that pin one down (for texts with no langid label).

    Kana → ``ja`` (Japanese mixes Han and Kana); Hangul → ``ko``; Han without Kana → ``zh``;
    anything else → None (the script alone does not say which language).
    """
    counts = script_counts(text)
    if not counts:
        return None
    total = sum(counts.values())
    kana = counts.get("hiragana", 0) + counts.get("katakana", 0)
    han = counts.get("han", 0)
    hangul = counts.get("hangul", 0)
    if hangul >= 0.5 * total:
        return "ko"
    if kana and kana + han >= 0.5 * total and kana >= 0.05 * (kana + han):
        return "ja"
    if han >= 0.5 * total:
        return "zh"
    return None


# --- words ---------------------------------------------------------------------------------------
# Characters written without spaces between words: Han (incl. CJK radicals, 々〆〇) and Kana.
CJK_CHAR_CLASS = (
    "\u2e80-\u2fdf\u3005-\u3007\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_WORD_BODY = rf"[^\W_{CJK_CHAR_CLASS}]"
WORD_RE = re.compile(rf"[{CJK_CHAR_CLASS}]|{_WORD_BODY}+(?:['’\-]{_WORD_BODY}+)*")
CJK_RE = re.compile(rf"[{CJK_CHAR_CLASS}]")
LETTER_RE = re.compile(r"[^\W\d_]")


def split_words(text: str) -> list[str]:
    """Words: runs of word characters in space-separated scripts (Korean eojeol included),
    single characters for Han and Kana. Digits-only runs are words too (``2024``); punctuation is not.

    >>> split_words("Hello, world! 東京は晴れ。 서울에서 만나요")
    ['Hello', 'world', '東', '京', 'は', '晴', 'れ', '서울에서', '만나요']
    """
    return WORD_RE.findall(text)


# --- character classes and words, vectorised ------------------------------------------------------
# Per code point, bit flags, each defined by the regex class it stands for (so the vectorised word
# statistics equal the regex ones): SPACE \s (= str.isspace), LETTER [^\W\d_], CJK (CJK_CHAR_CLASS),
# ALNUM [^\W_] (a word character of WORD_RE), DECIMAL \d (= str.isdecimal), JOINER ['’-] (joins two
# runs of word characters). The BMP table is built once per process from those regexes; other planes are looked up per distinct character.
SPACE, LETTER, CJK, ALNUM, DECIMAL, JOINER = 1, 2, 4, 8, 16, 32
_FLAG_RES = (
    (SPACE, re.compile(r"\s")),
    (LETTER, LETTER_RE),
    (CJK, CJK_RE),
    (ALNUM, re.compile(r"[^\W_]")),
    (DECIMAL, re.compile(r"\d")),
    (JOINER, re.compile(r"['’\-]")),
)
_FLAG_TABLE: np.ndarray | None = None
_ASTRAL_FLAGS: dict[int, int] = {}


def _flags_of(ch: str) -> int:
    return sum(flag for flag, rx in _FLAG_RES if rx.match(ch))


def _flag_table() -> np.ndarray:
    global _FLAG_TABLE
    if _FLAG_TABLE is None:
        every = "".join(map(chr, range(0x10000)))
        table = np.zeros(0x10000, dtype=np.uint8)
        for flag, rx in _FLAG_RES:
            hit = codepoints(rx.sub("\0", every)) == 0  # a 1-for-1 substitution keeps positions
            hit[0] = bool(rx.match("\0"))
            table[hit] |= flag
        _FLAG_TABLE = table
    return _FLAG_TABLE


def flags_of_codepoints(cps: np.ndarray) -> np.ndarray:
    """Per code point, its SPACE | LETTER | CJK | ALNUM | DECIMAL | JOINER bit flags (uint8)."""
    table = _flag_table()
    if not cps.size or int(cps.max()) < 0x10000:
        return table[cps]
    out = np.empty(cps.size, dtype=np.uint8)
    low = cps < 0x10000
    out[low] = table[cps[low]]
    high = cps[~low]
    uniq, inverse = np.unique(high, return_inverse=True)
    flags = []
    for cp in uniq.tolist():
        f = _ASTRAL_FLAGS.get(cp)
        if f is None:
            f = _ASTRAL_FLAGS[cp] = _flags_of(chr(cp))
        flags.append(f)
    out[~low] = np.asarray(flags, dtype=np.uint8)[inverse]
    return out


def char_flags(text: str) -> np.ndarray:
    """Per character of ``text``, its bit flags (uint8), with no Python loop over characters."""
    return flags_of_codepoints(codepoints(text))


def word_spans(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the words of a text given its :func:`char_flags` — exactly the spans of
    ``WORD_RE.finditer`` (:func:`split_words`), without a Python loop: a word is a Han/Kana
    character, or a maximal run of word characters (not Han/Kana) and of ``' ’ -`` standing
    between two of them."""
    cjk = (flags & CJK) != 0
    body = ((flags & ALNUM) != 0) & ~cjk
    inword = body.copy()
    if len(flags) > 2:
        inword[1:-1] |= ((flags[1:-1] & JOINER) != 0) & body[:-2] & body[2:]
    first = inword.copy()
    first[1:] &= ~inword[:-1]
    last = inword.copy()
    last[:-1] &= ~inword[1:]
    return np.flatnonzero(first | cjk), np.flatnonzero(last | cjk) + 1


# Polynomial hash of a span of code points, Σ cp[j] × P^(j - start) mod 2^64, computed for all spans
# at once from one prefix sum of cp × P^j (P odd, so P^-start exists mod 2^64), then mixed with the
# span length. Only equality matters (n-gram grouping); for two different words of L characters the
# chance that they collide is below L × 2^-60.
_P = 0xC2B2AE3D27D4EB4F  # odd (xxHash's PRIME64_2)
_P_INV = pow(_P, -1, 1 << 64)
_POW = np.ones(1, dtype=np.uint64)
_POW_INV = np.ones(1, dtype=np.uint64)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    global _POW, _POW_INV
    if len(_POW) < n:  # P^0 … P^(size-1) and the inverses, products wrapping mod 2^64
        size = max(n, 2 * len(_POW), 4096)
        _POW = np.concatenate((np.ones(1, dtype=np.uint64), np.cumprod(np.full(size - 1, _P, dtype=np.uint64))))
        _POW_INV = np.concatenate((np.ones(1, dtype=np.uint64), np.cumprod(np.full(size - 1, _P_INV, dtype=np.uint64))))
    return _POW, _POW_INV


def span_hashes(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each span ``cps[start:end]`` (equal spans, equal hashes)."""
    if not len(starts):
        return np.empty(0, dtype=np.uint64)
    pw, pw_inv = _powers(len(cps))
    prefix = np.empty(len(cps) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(cps.astype(np.uint64) * pw[: len(cps)], out=prefix[1:])
    h = (prefix[ends] - prefix[starts]) * pw_inv[starts]
    h ^= (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return h
