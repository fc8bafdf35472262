"""Per-document statistics the quality measures read: one tokenisation of the lower-cased text
(code points, character flags, word spans, word hashes, n-gram hashes), lines and paragraphs, each
computed on first use and cached on the :class:`DocStats` of that document."""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from pipeline.text import WORD_RE, codepoints, flags_of_codepoints, span_hashes, word_spans

_PARAGRAPH_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # 64-bit golden-ratio multiplier for n-gram hash combining


class cached_property:  # noqa: N801 - functools.cached_property without its per-access lock (3.11)
    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # later reads find the instance attribute
        return value


class DocStats:
    """Everything the rules measure, each computed on first use and cached."""

    def __init__(self, text: str, lang: str | None) -> None:
        self.text = text
        self.lang = lang
        self._c: dict[str, Any] = {}

    def _get(self, key: str, fn: Callable[[], Any]) -> Any:
        c = self._c
        if key not in c:
            c[key] = fn()
        return c[key]

    # cached_property: after the first use, a plain attribute read (these are read many times)
    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def lines(self) -> list[str]:
        """Non-empty lines, stripped."""
        return [s for s in (ln.strip() for ln in self.text.split("\n")) if s]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [s for s in (p.strip() for p in _PARAGRAPH_SPLIT.split(self.text)) if s]

    @cached_property
    def codepoints(self) -> np.ndarray:
        """Code points of the lower-cased text."""
        return codepoints(self.lower)

    @cached_property
    def char_flags(self) -> np.ndarray:
        """Per character of the lower-cased text: SPACE | LETTER | CJK | ALNUM | DECIMAL | JOINER
        (:func:`pipeline.text.char_flags`). Lower-casing keeps every character's space-ness,
        whether it holds a letter and the count of Han/Kana characters (tested over all of Unicode),
        so whitespace tokens, letters and CJK counts are those of the text itself."""
        return flags_of_codepoints(self.codepoints)

    @cached_property
    def word_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the words in the lower-cased text: the spans of :attr:`words`."""
        return word_spans(self.char_flags)

    @cached_property
    def n_words(self) -> int:
        return len(self.word_spans[0])

    @cached_property
    def words(self) -> list[str]:
        """Lower-cased words (Han/Kana characters one by one) — the rules use their spans, lengths
        and hashes; the strings are for callers (``split_words`` of the lower-cased text)."""
        return WORD_RE.findall(self.lower)

    @cached_property
    def word_lengths(self) -> np.ndarray:
        starts, ends = self.word_spans
        return (ends - starts).astype(np.int64)

    @cached_property
    def cum_lengths(self) -> np.ndarray:
        """Characters of words[:i] at index i (n-gram characters = cum[i + n] - cum[i])."""
        return np.concatenate(([0], np.cumsum(self.word_lengths)))

    @cached_property
    def word_hashes(self) -> np.ndarray:
        """64-bit hash per word (:func:`pipeline.text.span_hashes`); only equality matters."""
        return span_hashes(self.codepoints, *self.word_spans)

    def dup_stats(self, what: str) -> tuple[float, float]:
        """(share of items, share of their characters) repeating an earlier item, for "lines" or
        "paragraphs" — one pass serves both rules."""
        return self._get(f"dup_{what}", lambda: _dup_fractions(getattr(self, what)))

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of every word n-gram: h(n)[i] = h(n-1)[i] * MULT + word_hash[i + n - 1] (so each n
        costs two array operations, built on the one before and cached)."""
        if n <= 1:
            return self.word_hashes

        def build():
            h = self.word_hashes
            m = len(h) - n + 1
            if m <= 0:
                return np.empty(0, dtype=np.uint64)
            g = self.ngram_hashes(n - 1)[:m] * _MULT
            g += h[n - 1 :]
            return g

        return self._get(f"ngrams{n}", build)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _dup_fractions(items: list[str]) -> tuple[float, float]:
    if len(items) < 2:
        return 0.0, 0.0
    seen: set[str] = set()
    dup = dup_chars = total = 0
    for it in items:
        n = len(it)
        total += n
        if it in seen:
            dup += 1
            dup_chars += n
        else:
            seen.add(it)
    return dup / len(items), _ratio(dup_chars, total)

