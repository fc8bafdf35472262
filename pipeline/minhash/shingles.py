"""Text normalisation and shingle hashing, vectorised with NumPy.

Two normalisations, both starting from Unicode NFKC + casefold:

* the **exact key** (``exact_key``): whitespace collapsed, punctuation kept — two documents with the
  same key are the same text up to Unicode form, case and spacing;
* the **shingle tokens**: maximal runs of word characters (``str.isalnum()`` or ``_``, what ``re``'s
  ``\\w`` matches) of the NFKC-casefolded text, found by a code-point lookup table in NumPy — so
  punctuation and spacing edits do not change the shingles.

Shingles are n-grams of *tokens*. Space-separated languages use word n-grams; languages written
without spaces between words (or, like Korean, with unreliable spacing) use character n-grams of the
text with spaces and punctuation removed. Either way every token is hashed exactly once, in NumPy, and the n-gram
hashes are combined from the token hashes with a few array operations — no Python loop over
shingles, no string per shingle:

* a character's hash is ``fmix64(codepoint ^ (position_in_word << 32) ^ K)``;
* a word's hash is ``fmix64(sum of its characters' hashes + length)`` (``np.add.reduceat``);
* an n-gram's hash is the polynomial ``sum(h[j+i] * C**(n-1-i)) mod 2**64``, finalised with
  ``fmix64`` and cut to the top 32 bits (the input width of datasketch's ``affine32`` scheme).

A document with fewer than n tokens has one shingle: all its tokens. A document with no word
characters has no shingles (its MinHash is datasketch's empty MinHash).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np



_U64 = np.uint64
_M1 = _U64(0xFF51AFD7ED558CCD)
_M2 = _U64(0xC4CEB9FE1A85EC53)
_S33 = _U64(33)
_S32 = _U64(32)
_CHAR_KEY = _U64(0x9E3779B97F4A7C15)
_NGRAM_MUL = _U64(0xA0761D6478BD642F)  # odd 64-bit multiplier (wyhash constant)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection) on a uint64 array; wraps modulo 2**64."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def normalize(text: str) -> str:
    """NFKC + casefold: the form both the exact key and the shingles start from."""
    return unicodedata.normalize("NFKC", text).casefold()


def exact_key(text: str) -> str:
    """Hash of the normalised text (NFKC, casefold, whitespace collapsed); 32 hex characters."""
    norm = " ".join(normalize(text).split())
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).hexdigest()


_WORD_TABLE: np.ndarray | None = None


def word_char_table() -> np.ndarray:
    """bool per code point: a word character (``str.isalnum()`` or ``_``, i.e. what ``re``'s ``\\w``
    matches in a str). Built once per process, then looked up for whole documents at once."""
    global _WORD_TABLE
    if _WORD_TABLE is None:
        table = np.fromiter((chr(c).isalnum() for c in range(0x110000)), dtype=bool, count=0x110000)
        table[ord("_")] = True
        _WORD_TABLE = table
    return _WORD_TABLE


def base_lang(lang: str | None) -> str | None:
    """``zh-cn`` / ``zh_Hans`` / ``ZH`` → ``zh``."""
    if not lang:
        return None
    return re.split(r"[-_]", lang, maxsplit=1)[0].lower()


def codepoints(norm: str) -> np.ndarray:
    """uint32 code points of a string (one C-level encode, no Python loop)."""
    return np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def looks_unspaced(cps: np.ndarray) -> bool:
    """True when at least 30% of the word characters are Han, kana, Hangul or Thai."""
    word = word_char_table()[cps]
    letters = int(np.count_nonzero(word))
    if not letters:
        return False
    c = cps[word]
    unspaced = (
        ((c >= 0x0E00) & (c <= 0x0E7F))  # Thai
        | ((c >= 0x1100) & (c <= 0x11FF))  # Hangul Jamo
        | ((c >= 0x3040) & (c <= 0x30FF))  # kana
        | ((c >= 0x3130) & (c <= 0x318F))  # Hangul compatibility Jamo
        | ((c >= 0x3400) & (c <= 0x9FFF))  # CJK ideographs
        | ((c >= 0xAC00) & (c <= 0xD7AF))  # Hangul syllables
        | ((c >= 0xF900) & (c <= 0xFAFF))  # CJK compatibility ideographs
        | ((c >= 0x20000) & (c <= 0x3FFFF))  # CJK extension planes
    )
    return int(np.count_nonzero(unspaced)) >= 0.3 * letters


def word_hashes(cps: np.ndarray) -> np.ndarray:
    """One uint64 hash per word (maximal run of word characters) of normalised code points."""
    word = word_char_table()[cps]
    c = cps[word].astype(np.uint64)
    if c.size == 0:
        return np.empty(0, dtype=np.uint64)
    prev = np.empty_like(word)
    prev[0] = False
    prev[1:] = word[:-1]
    first = (word & ~prev)[word]  # True at the first character of each word
    starts = np.flatnonzero(first)
    idx = np.arange(c.size, dtype=np.int64)
    pos = (idx - np.maximum.accumulate(np.where(first, idx, 0))).astype(np.uint64)
    h = fmix64(c ^ (pos << _S32) ^ _CHAR_KEY)
    sums = np.add.reduceat(h, starts)
    lengths = np.diff(np.append(starts, c.size)).astype(np.uint64)
    return fmix64(sums + lengths)


def char_hashes(cps: np.ndarray) -> np.ndarray:
    """One uint64 hash per word character (spaces and punctuation removed)."""
    c = cps[word_char_table()[cps]].astype(np.uint64)
    return fmix64(c ^ _CHAR_KEY)


def ngram_hashes(tokens: np.ndarray, n: int) -> np.ndarray:
    """uint32 hashes of the token n-grams (one shingle of all tokens when fewer than n)."""
    m = tokens.size
    if m == 0:
        return np.empty(0, dtype=np.uint32)
    if m < n:
        n = m
    k = m - n + 1
    acc = tokens[:k].copy()
    for i in range(1, n):
        acc *= _NGRAM_MUL
        acc += tokens[i : i + k]
    acc += _U64(n)
    return (fmix64(acc) >> _S32).astype(np.uint32)
