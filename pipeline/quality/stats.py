"""Per-document statistics the quality measures read: one tokenisation of the lower-cased text
(code points, character flags, word spans, word hashes, n-gram hashes), lines and paragraphs, each
computed on first use and cached on the :class:`DocStats` of that document.

Speed: no Python loop over words or characters. The lower-cased text's code points get bit flags
from a per-process table (space, letter, Han/Kana, word character, digit); word spans, lengths,
whitespace tokens and the Han/Kana count follow with a few array operations (equal to the regex
definitions, tested), words are hashed in one vectorised pass, and n-gram hashes are built each from
the one before. :meth:`DocStats.batch` does the tokenisation once for a whole batch of documents
(joined by a newline, which no word or whitespace token crosses) and hands each document views of
it, so the fixed cost of an array operation is paid per batch, not per document.
"""
from __future__ import annotations

import functools
import re
from itertools import repeat
from typing import Any, Callable

import numpy as np

from pipeline.text import CJK, DECIMAL, LETTER, SPACE, WORD_RE, _flag_table, codepoints, flags_of_codepoints, span_hashes, word_spans

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

    @classmethod
    def batch(cls, texts: list[str], langs: list[str | None]) -> list["DocStats"]:
        """One :class:`DocStats` per text, the shared tokenisation computed once over the batch.

        The lower-cased texts are joined by ``"\\n"``: a space, so no word (a joiner needs word
        characters on both sides) and no whitespace token crosses from one text into the next, and
        every value below equals the one computed on the text alone (tested on the golden corpus).
        Word hashes are sums of code point × P^offset, so a span hashes the same at any offset."""
        return TextBatch(texts, langs).docs

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
        return list(filter(None, map(str.strip, self.text.split("\n"))))

    @cached_property
    def paragraphs(self) -> list[str]:
        return list(filter(None, map(str.strip, _PARAGRAPH_SPLIT.split(self.text))))

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

    _batch_words: tuple | None = None  # (BatchWords, first word, end word, first character, index)

    @cached_property
    def word_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the words in the lower-cased text: the spans of :attr:`words`."""
        if self._batch_words is not None:
            words, a, b, offset, _ = self._batch_words
            return words.starts[a:b] - offset, words.ends[a:b] - offset
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
        if self._batch_words is not None:
            words, a, b, _, _ = self._batch_words
            cum = words.cum_lengths()
            return cum[a : b + 1] - cum[a]
        return np.concatenate(([0], np.cumsum(self.word_lengths)))

    @cached_property
    def n_cjk(self) -> int:
        """Han/Kana characters (each one word)."""
        return int(np.count_nonzero(self.char_flags & CJK))

    @cached_property
    def n_digit_words(self) -> int:
        """Words made of decimal digits only."""
        starts, ends = self.word_spans
        digits = np.concatenate(([0], np.cumsum((self.char_flags & DECIMAL) != 0)))
        return int(np.count_nonzero(digits[ends] - digits[starts] == ends - starts))

    @cached_property
    def token_counts(self) -> tuple[int, int]:
        """(whitespace tokens, those holding a letter)."""
        tokens, with_letter = whitespace_token_counts(self.char_flags, np.zeros(1, dtype=np.int64), np.array([len(self.char_flags)]))
        return tokens[0], with_letter[0]

    @cached_property
    def word_hashes(self) -> np.ndarray:
        """64-bit hash per word (:func:`pipeline.text.span_hashes`); only equality matters."""
        return span_hashes(self.codepoints, *self.word_spans)

    _batch_lines: tuple | None = None  # (BatchLines, index of the text)

    def dup_stats(self, what: str) -> tuple[float, float]:
        """(share of items, share of their characters) repeating an earlier item, for "lines" or
        "paragraphs" — one pass serves both rules."""
        if self._batch_lines is not None:
            lines, i = self._batch_lines
            col = 0 if what == "lines" else 4
            return _dup_fractions_of_counts(*lines.dup[i, col : col + 4].tolist())
        return self._get(f"dup_{what}", lambda: _dup_fractions(getattr(self, what)))

    @cached_property
    def n_lines(self) -> int:
        if self._batch_lines is not None:
            lines, i = self._batch_lines
            return int(lines.n_lines[i])
        return len(self.lines)

    def lines_with_affix(self, affixes: tuple[str, ...], at_end: bool) -> int:
        """Lines starting (``at_end``: ending) with one of ``affixes``."""
        if self._batch_lines is not None:
            lines, i = self._batch_lines
            return int(lines.with_affix(affixes, at_end)[i])
        return sum(map(str.endswith if at_end else str.startswith, self.lines, repeat(affixes)))

    def short_lines(self, chars: int) -> int:
        """Lines of at most ``chars`` characters."""
        if self._batch_lines is not None:
            lines, i = self._batch_lines
            return int(lines.short(chars)[i])
        return sum(1 for ln in self.lines if len(ln) <= chars)

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of every word n-gram: h(n)[i] = h(n-1)[i] * MULT + word_hash[i + n - 1] (so each n
        costs two array operations, built on the one before and cached)."""
        if n <= 1:
            return self.word_hashes
        if self._batch_words is not None:  # a view of the batch's n-gram hashes
            words, a, b, _, _ = self._batch_words
            return words.ngram_hashes(n)[a : max(a, b - n + 1)]

        def build():
            h = self.word_hashes
            m = len(h) - n + 1
            if m <= 0:
                return np.empty(0, dtype=np.uint64)
            g = self.ngram_hashes(n - 1)[:m] * _MULT
            g += h[n - 1 :]
            return g

        return self._get(f"ngrams{n}", build)


class TextBatch:
    """A batch of texts tokenised together (:meth:`DocStats.batch`): per-text counts as arrays
    (what the vectorised rule check, :mod:`pipeline.quality.batch`, reads) and, on demand, a
    :class:`DocStats` per text (:meth:`doc`) holding views of the shared arrays."""

    def __init__(self, texts: list[str], langs: list[str | None]) -> None:
        from pipeline.quality.compiled import lines_and_paragraphs, tokenise  # noqa: PLC0415 - kernels: loaded on first use

        lows = [t.lower() for t in texts]
        cps = codepoints("\n".join(lows))
        flags = flags_of_codepoints(cps)
        lens = np.fromiter(map(len, lows), dtype=np.int64, count=len(lows))
        char_start = np.zeros(len(lows) + 1, dtype=np.int64)  # text i: char_start[i] … char_end[i]
        np.cumsum(lens + 1, out=char_start[1:])
        char_start = char_start[:-1]
        char_end = char_start + lens
        # one compiled pass: word spans, hashes and the per-text counts (equal to word_spans,
        # span_hashes and whitespace_token_counts: tests/unit/test_quality_kernels.py)
        starts, ends, hashes, word_bound, n_tokens, n_letter_tokens, n_cjk, n_digit_words = tokenise(cps, flags, char_start, char_end)
        lengths = ends - starts
        words = BatchWords(starts, ends, hashes, lengths, word_bound)
        # lines and paragraphs are those of the original text (lower-casing may change lengths)
        orig_cps = codepoints("\n".join(texts))
        orig_start = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1, out=orig_start[1:])
        orig_end = orig_start[1:] - 1
        lines = BatchLines(orig_cps, *lines_and_paragraphs(orig_cps, _flag_table(), orig_start[:-1], orig_end, np.flatnonzero(orig_cps == 10)))
        self.words, self.lines = words, lines
        self.lower_cps, self.lower_start, self.lower_end = cps, char_start, char_end
        self.orig_cps, self.orig_start, self.orig_end = orig_cps, orig_start[:-1], orig_end
        self.n_words = np.diff(words.text_bounds)
        self.n_tokens, self.n_letter_tokens, self.n_cjk, self.n_digit_words = n_tokens, n_letter_tokens, n_cjk, n_digit_words
        self.texts, self.langs, self.lows, self._flags = texts, langs, lows, flags
        self._docs: dict[int, DocStats] = {}
        self._counts: dict[tuple, np.ndarray] = {}

    def doc(self, i: int) -> DocStats:
        """The :class:`DocStats` of text ``i``, made on first use, holding views of the batch's arrays."""
        s = self._docs.get(i)
        if s is None:
            words, lines = self.words, self.lines
            a, b = int(words.text_bounds[i]), int(words.text_bounds[i + 1])
            o, e = int(self.lower_start[i]), int(self.lower_end[i])
            s = self._docs[i] = DocStats(self.texts[i], self.langs[i])
            s.__dict__.update(
                lower=self.lows[i],
                codepoints=self.lower_cps[o:e],
                char_flags=self._flags[o:e],
                _batch_words=(words, a, b, o, i),
                n_words=b - a,
                word_lengths=words.lengths[a:b],
                word_hashes=words.hashes[a:b],
                token_counts=(int(self.n_tokens[i]), int(self.n_letter_tokens[i])),
                n_cjk=int(self.n_cjk[i]),
                n_digit_words=int(self.n_digit_words[i]),
                _batch_lines=(lines, i),
            )
        return s

    @property
    def docs(self) -> list[DocStats]:
        return [self.doc(i) for i in range(len(self.texts))]


def _positions_of(cps: np.ndarray, chars: tuple[str, ...]) -> np.ndarray:
    """Ascending indexes of ``cps`` holding one of the single characters ``chars``."""
    return np.flatnonzero(_char_table(chars)[cps])


@functools.lru_cache(maxsize=64)
def _char_table(chars: tuple[str, ...]) -> np.ndarray:
    """Per code point (all of Unicode): whether it is one of the single characters ``chars``."""
    if any(len(c) != 1 for c in chars):
        raise ValueError(f"single characters expected, got {chars!r}")
    table = np.zeros(0x110000, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


class BatchLines:
    """The lines of a batch of texts (:meth:`DocStats.batch`) as spans of the original texts' code
    points, and per-text counts over them, computed for the whole batch on first use."""

    def __init__(self, cps: np.ndarray, starts: np.ndarray, ends: np.ndarray, bounds: np.ndarray, dup: np.ndarray) -> None:
        self.cps, self.starts, self.ends, self.bounds = cps, starts, ends, bounds
        self.dup = dup  # per text: lines, distinct lines, their characters; the same of paragraphs
        self.n_lines = np.diff(bounds)
        self._counts: dict[tuple, np.ndarray] = {}

    def with_affix(self, affixes: tuple[str, ...], at_end: bool) -> np.ndarray:
        """Per text: its lines starting (``at_end``: ending) with one of ``affixes``."""
        key = (affixes, at_end)
        hit = self._counts.get(key)
        if hit is None:
            from pipeline.quality.compiled import count_affixed  # noqa: PLC0415

            pat = codepoints("".join(affixes))
            offs = np.zeros(len(affixes) + 1, dtype=np.int64)
            np.cumsum([len(a) for a in affixes], out=offs[1:])
            hit = self._counts[key] = count_affixed(self.cps, self.starts, self.ends, self.bounds, pat, offs, at_end)
        return hit

    def holding(self, chars: tuple[str, ...]) -> np.ndarray:
        """Per text: its lines holding one of the single characters ``chars``."""
        key = ("holding", chars)
        hit = self._counts.get(key)
        if hit is None:
            at = _positions_of(self.cps, chars)
            line = np.searchsorted(self.starts, at, "right") - 1  # the last line starting at or before
            inside = line >= 0
            inside[inside] = at[inside] < self.ends[line[inside]]  # not in the stripped part or between lines
            lines = np.unique(line[inside])
            hit = self._counts[key] = np.searchsorted(lines, self.bounds[1:]) - np.searchsorted(lines, self.bounds[:-1])
        return hit

    def short(self, chars: int) -> np.ndarray:
        """Per text: its lines of at most ``chars`` characters."""
        key = ("short", chars)
        hit = self._counts.get(key)
        if hit is None:
            cum = np.zeros(len(self.starts) + 1, dtype=np.int64)
            np.cumsum(self.ends - self.starts <= chars, out=cum[1:])
            hit = self._counts[key] = cum[self.bounds[1:]] - cum[self.bounds[:-1]]
        return hit


class BatchWords:
    """The words of a batch of texts (:meth:`DocStats.batch`) and what is derived from all of them
    at once on first use. The n-gram at word i covers words i … i + n - 1, so a text's n-grams are
    the batch's at its first n_words - n + 1 word positions, with the hashes the text alone gives."""

    def __init__(self, starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray, lengths: np.ndarray, text_bounds: np.ndarray) -> None:
        self.starts, self.ends, self.hashes, self.lengths = starts, ends, hashes, lengths
        self.text_bounds = text_bounds  # text i's words: text_bounds[i] … text_bounds[i + 1]
        self._ngrams: dict[int, np.ndarray] = {1: hashes}
        self._cum: np.ndarray | None = None
        self._texts: tuple[np.ndarray, np.ndarray] | None = None
        self._bucket_maxima: dict[tuple[int, int], np.ndarray] = {}

    def ngram_bucket_maxima(self, n: int, bits: int) -> np.ndarray:
        """Per text, the largest sum of characters of its word n-grams falling in one of 2^bits
        buckets by hash, as a share of its word characters (0 for a text without words) — one
        table for the whole batch, so an upper bound of every text's top n-gram share."""
        hit = self._bucket_maxima.get((n, bits))
        if hit is None:
            g = self.ngram_hashes(n)
            m = len(g)
            cum = self.cum_lengths()
            bounds = self.text_bounds
            n_texts = len(bounds) - 1
            text_of, past_last = self.word_texts()
            keys = (text_of[:m] << bits) | (g >> np.uint64(64 - bits)).astype(np.intp)
            weights = cum[n:] - cum[:m]
            # an n-gram running into the next text weighs nothing (adding 0.0 changes no sum)
            weights[past_last[:m] < n] = 0
            sums = np.bincount(keys, weights=weights, minlength=n_texts << bits)
            totals = (cum[bounds[1:]] - cum[bounds[:-1]]).astype(np.float64)
            hit = sums.reshape(n_texts, 1 << bits).max(axis=1) / np.maximum(totals, 1.0)
            self._bucket_maxima[(n, bits)] = hit
        return hit

    def word_texts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per word of the batch: the index of its text, and how many words of that text start
        at it (an n-gram starting there stays in its text when n is at most that)."""
        if self._texts is None:
            bounds = self.text_bounds
            text_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
            self._texts = text_of, bounds[1:][text_of] - np.arange(len(text_of))
        return self._texts

    def cum_lengths(self) -> np.ndarray:
        if self._cum is None:
            self._cum = np.zeros(len(self.lengths) + 1, dtype=np.int64)
            np.cumsum(self.lengths, out=self._cum[1:])
        return self._cum

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of the n-gram at every word position that has n words after it (same recurrence
        as :meth:`DocStats.ngram_hashes`)."""
        g = self._ngrams.get(n)
        if g is None:
            h = self.hashes
            m = max(len(h) - n + 1, 0)
            g = self.ngram_hashes(n - 1)[:m] * _MULT
            g += h[n - 1 :]
            self._ngrams[n] = g
        return g


def whitespace_token_counts(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[list[int], list[int]]:
    """Per text ``flags[starts[i]:ends[i]]`` (texts separated by at least one space): its whitespace
    tokens (maximal runs of non-space characters) and how many of them hold a letter."""
    nonspace = (flags & SPACE) == 0
    edge = np.empty(len(flags) + 1, dtype=bool)  # a token starts or ends between j - 1 and j
    edge[0], edge[-1] = nonspace[:1].any(), nonspace[-1:].any()
    np.not_equal(nonspace[1:], nonspace[:-1], out=edge[1:-1])
    bounds = np.flatnonzero(edge)
    token_start, token_end = bounds[0::2], bounds[1::2]
    letter_cum = np.zeros(len(flags) + 1, dtype=np.int32 if len(flags) < 2**31 else np.int64)
    np.cumsum((flags & LETTER) != 0, out=letter_cum[1:])
    letter_token_cum = np.zeros(len(token_start) + 1, dtype=np.int64)
    np.cumsum(letter_cum[token_end] > letter_cum[token_start], out=letter_token_cum[1:])
    t0, t1 = np.searchsorted(token_start, starts), np.searchsorted(token_start, ends)
    return (t1 - t0).tolist(), (letter_token_cum[t1] - letter_token_cum[t0]).tolist()


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _dup_fractions_of_counts(n_items: int, n_distinct: int, total: int, distinct_total: int) -> tuple[float, float]:
    """:func:`_dup_fractions` from the counts (``kernels.lines_and_paragraphs``)."""
    if n_items < 2:
        return 0.0, 0.0
    return (n_items - n_distinct) / n_items, _ratio(total - distinct_total, total)


def _dup_fractions(items: list[str]) -> tuple[float, float]:
    if len(items) < 2:
        return 0.0, 0.0
    # An item repeats an earlier one unless it is the first of its distinct value.
    distinct = set(items)
    total = sum(map(len, items))
    dup_chars = total - sum(map(len, distinct))
    return (len(items) - len(distinct)) / len(items), _ratio(dup_chars, total)

