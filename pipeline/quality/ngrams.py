"""Word n-gram repetition: ``top_ngram`` (the most frequent n-gram's share of word characters) and
``dup_ngram`` (the share covered by repeated n-grams), exact, over the n-gram hashes of
:class:`~pipeline.quality.stats.DocStats`."""
from __future__ import annotations

import numpy as np

from pipeline.quality.stats import DocStats


def ngram_groups(s: DocStats, n: int):
    """Groups of equal word n-grams: (first position of each group, its count, dup positions).

    One stable ``argsort`` per n: the first occurrence of a group is the first of its run in sorted
    order; every other occurrence is a duplicate.
    """
    def build():
        g = s.ngram_hashes(n)
        m = len(g)
        if m < 2:
            return None
        order = np.argsort(g, kind="stable")  # equal hashes keep position order: a group's first is its first
        gs = g[order]
        edge = np.empty(m + 1, dtype=bool)  # where a run of equal hashes starts (and the end)
        edge[0] = edge[m] = True
        np.not_equal(gs[1:], gs[:-1], out=edge[1:m])
        bounds = np.flatnonzero(edge)
        starts = bounds[:-1]
        return order[starts], bounds[1:] - starts

    return s._get(f"groups{n}", build)


def top_ngram_fraction(s: DocStats, n: int) -> float:
    """Characters of the most frequent word n-gram × its count ÷ characters of all words (spaces
    and punctuation not counted)."""
    groups = ngram_groups(s, n)
    if groups is None:
        return 0.0
    first, counts = groups
    best = int(counts.max())
    if best < 2:
        return 0.0
    pos = int(first[counts == best].min())  # ties: the n-gram seen first (as Counter.most_common)
    lens = s.word_lengths
    return best * float(lens[pos : pos + n].sum()) / float(lens.sum())


_BUCKET_BITS = 12  # 4096 buckets for one text
_BATCH_BUCKET_BITS = 8  # 256 per text in a batch's shared table (BatchWords.ngram_bucket_maxima)


def _top_ngram_bound(s: DocStats, n: int) -> float:
    """An upper bound of ``top_ngram_fraction(s, n)`` without sorting: the n-grams are put in
    buckets by their hash and each bucket sums count × characters of the n-grams in it, so the
    largest bucket is at least the top n-gram's count × characters."""
    if s._batch_words is not None:
        words, _, _, _, index = s._batch_words
        return float(words.ngram_bucket_maxima(n, _BATCH_BUCKET_BITS)[index])
    g = s.ngram_hashes(n)
    m = len(g)
    total = float(s.cum_lengths[-1])
    if m < 2 or total <= 0:
        return 0.0
    cum = s.cum_lengths
    buckets = (g >> np.uint64(64 - _BUCKET_BITS)).astype(np.intp)  # the top bits are the well-mixed ones
    return float(np.bincount(buckets, weights=cum[n:] - cum[:m], minlength=1 << _BUCKET_BITS).max()) / total


def top_ngram_first_failure(s: DocStats, table: list[tuple[int, float]]) -> tuple[int, float, float] | None:
    """The first (n, value, limit) of ``table`` with ``top_ngram_fraction(s, n) > limit``, or None.

    Exact, but the n-grams are sorted only when a cheap upper bound (:func:`_top_ngram_bound`)
    does not already prove the fraction under its limit (rarely, on prose).
    """
    for n, limit in table:
        if _top_ngram_bound(s, n) <= limit:
            continue
        value = top_ngram_fraction(s, n)
        if value > limit:
            return n, value, limit
    return None


def dup_ngram_fraction(s: DocStats, n: int) -> float:
    """Characters of words covered by any repeated (2nd, 3rd, …) occurrence of a word n-gram ÷ all.

    The repeated occurrences are read straight off one stable sort: after it, an n-gram equal to
    the one before it in sorted order is a later occurrence (a group's first comes first), so no
    group table is built."""
    g = s.ngram_hashes(n)
    if len(g) < 2:
        return 0.0
    order = np.argsort(g, kind="stable")
    gs = g[order]
    repeat = gs[1:] == gs[:-1]
    if not repeat.any():
        return 0.0
    dup_starts = order[1:][repeat]
    lens = s.word_lengths
    total = len(lens)
    edge = np.bincount(dup_starts, minlength=total + 1) - np.bincount(dup_starts + n, minlength=total + 1)
    covered = np.cumsum(edge[:total]) > 0
    return float(lens[covered].sum()) / float(lens.sum())


def dup_ngram_first_failure(s: DocStats, table: list[tuple[int, float]]) -> tuple[int, float, float] | None:
    """The first (n, value, limit) of ``table`` with ``dup_ngram_fraction(s, n) > limit``, or None."""
    for i, (n, limit) in enumerate(table):
        value = dup_ngram_fraction(s, n)
        if value > limit:
            return n, value, limit
        # Repeated (n+1)-grams lie inside repeated n-grams: coverage only shrinks with n, so once
        # it is under every remaining limit the larger n cannot fail.
        if value <= min(lim for _, lim in table[i:]):
            return None
    return None
