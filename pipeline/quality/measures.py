"""The quality measures: each ``(stats, params) -> value`` (None: not judged for this document), by
the ``check`` name a rule in ``rules/quality.yaml`` uses."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pipeline.quality.ngrams import dup_ngram_fraction, top_ngram_fraction
from pipeline.quality.stats import DocStats, _ratio


def m_word_count(s: DocStats, p: dict) -> float:
    return s.n_words


def m_mean_word_length(s: DocStats, p: dict) -> float | None:
    """Mean length of space-separated words; Han/Kana characters (one-character words) are left
    out, so an English page quoting Japanese is not "short-worded". None: no such words."""
    n_cjk = s.n_cjk  # each Han/Kana character is one word
    n = s.n_words - n_cjk
    return (float(s.word_lengths.sum()) - n_cjk) / n if n > 0 else None


def m_symbol_word_ratio(s: DocStats, p: dict) -> float:
    text = s.text
    return _ratio(sum(text.count(sym) for sym in p["symbols"]), s.n_words)


def m_alpha_words(s: DocStats, p: dict) -> float:
    """Share of whitespace tokens (or words, ``unit: words``) holding at least one letter."""
    if p.get("unit") == "words":
        # words are letter runs, digit runs or single Han/Kana characters; count the all-digit ones
        n = s.n_words
        return 1.0 - s.n_digit_words / n if n else 0.0
    n_tokens, with_letter = s.token_counts
    return with_letter / n_tokens if n_tokens else 0.0


def m_bullet_lines(s: DocStats, p: dict) -> float:
    return _ratio(s.lines_with_affix(p["_bullets"], False), s.n_lines)


def m_ellipsis_lines(s: DocStats, p: dict) -> float:
    return _ratio(s.lines_with_affix(p["_endings"], True), s.n_lines)


def m_line_punct(s: DocStats, p: dict) -> float:
    return _ratio(s.lines_with_affix(p["_endings"], True), s.n_lines)


def m_short_lines(s: DocStats, p: dict) -> float:
    return _ratio(s.short_lines(int(p["chars"])), s.n_lines)


def m_line_pattern(s: DocStats, p: dict) -> float:
    pat = p["_pattern"]
    text = s.text
    needles = p.get("_needles")  # (characters, holding one is a match): rules.required_chars
    if needles is not None:
        chars, sufficient = needles
        if not any(c in text for c in chars):  # no match possible
            return 0.0
        if sufficient:  # a line matches exactly when it holds one of the characters
            lines = s.lines
            return _ratio(sum(1 for ln in lines if any(c in ln for c in chars)), len(lines))
    run = p.get("_lowercase_run")  # a plain literal: no match unless the lower-cased text holds this
    if run is not None and run not in s.lower:
        return 0.0
    if not pat.search(text):  # one C scan decides most documents
        return 0.0
    lines = s.lines
    return _ratio(sum(1 for ln in lines if pat.search(ln)), len(lines))


def m_contains(s: DocStats, p: dict) -> float:
    low = s.lower
    return float(sum(low.count(pat) for pat in p["_patterns"]))


def m_dup_lines(s: DocStats, p: dict) -> float:
    return s.dup_stats("lines")[0]


def m_dup_line_chars(s: DocStats, p: dict) -> float:
    return s.dup_stats("lines")[1]


def m_dup_paragraphs(s: DocStats, p: dict) -> float:
    return s.dup_stats("paragraphs")[0]


def m_dup_paragraph_chars(s: DocStats, p: dict) -> float:
    return s.dup_stats("paragraphs")[1]


def m_stop_words(s: DocStats, p: dict) -> float | None:
    spec = p["_stopwords"].get(s.lang or "")
    if spec is None:
        return None  # no list for this language: not judged
    mode = spec["mode"]
    if mode == "chars":
        chars = spec["_chars"]
        low = s.lower
        return float(sum(low.count(c) for c in chars))
    hashes = s.word_hashes
    if not len(hashes):
        return 0.0
    hits = _member(hashes, spec["_hashes"])
    if mode == "suffix":  # Korean: a listed word, or an eojeol ending in a particle/ending syllable
        hits |= _member(s.codepoints[s.word_spans[1] - 1], spec["_suffix_cps"])
    return float(np.count_nonzero(hits))


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values ∈ sorted_set, elementwise (one binary search each; np.isin would sort both)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(sorted_set, values)
    np.minimum(idx, len(sorted_set) - 1, out=idx)
    return sorted_set[idx] == values


MEASURES: dict[str, Callable[[DocStats, dict], Any]] = {
    "word_count": m_word_count,
    "mean_word_length": m_mean_word_length,
    "symbol_word_ratio": m_symbol_word_ratio,
    "alpha_words": m_alpha_words,
    "stop_words": m_stop_words,
    "bullet_lines": m_bullet_lines,
    "ellipsis_lines": m_ellipsis_lines,
    "line_punct": m_line_punct,
    "short_lines": m_short_lines,
    "line_pattern": m_line_pattern,
    "contains": m_contains,
    "dup_lines": m_dup_lines,
    "dup_line_chars": m_dup_line_chars,
    "dup_paragraphs": m_dup_paragraphs,
    "dup_paragraph_chars": m_dup_paragraph_chars,
    "top_ngram": None,  # tables {n: max}: handled in QualityRules.check
    "dup_ngram": None,
}
NGRAM_MEASURES = {"top_ngram": top_ngram_fraction, "dup_ngram": dup_ngram_fraction}
