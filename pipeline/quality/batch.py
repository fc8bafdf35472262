"""The rules checked for a whole batch of texts at once: every measure as one array over the
batch's texts (NaN: not judged), every threshold as one comparison, so the per-document Python
work is only building the detail of the documents that fail.

It gives exactly what :meth:`QualityRules.check_stats` gives document by document (the reference:
same rule order, same values to the last bit, same details) — ``tests/unit/test_quality_kernels.py``
compares the two on real documents of every script. A ``line_pattern`` that needs more than one
of a few characters runs the per-document measure on the texts that may match; substring counts
stay ``str.count`` calls (C speed) in a loop over the texts.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pipeline.quality import compiled
from pipeline.quality.measures import MEASURES
from pipeline.quality.stats import TextBatch


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b, else 0.0 (``stats._ratio`` elementwise)."""
    out = np.zeros(len(a), dtype=np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _per_document(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    fn = MEASURES[p["check"]]
    doc = batch.doc
    return np.array([np.nan if (v := fn(doc(t), p)) is None else float(v) for t in texts.tolist()], dtype=np.float64)


def b_symbol_word_ratio(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    """``measures.m_symbol_word_ratio``: ``str.count`` (C speed) of each symbol, per text."""
    symbols, all_texts = p["symbols"], batch.texts
    hits = np.array([sum(all_texts[t].count(sym) for sym in symbols) for t in texts.tolist()], dtype=np.int64)
    return _ratio(hits, batch.n_words[texts])


def b_contains(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    """``measures.m_contains``: ``str.count`` of each pattern in the lower-cased text."""
    patterns, lows = p["_patterns"], batch.lows
    return np.array([sum(lows[t].count(pat) for pat in patterns) for t in texts.tolist()], dtype=np.float64)


def b_word_count(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    return batch.n_words[texts].astype(np.float64)


def b_mean_word_length(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    cum = batch.words.cum_lengths()
    bounds = batch.words.text_bounds
    chars = (cum[bounds[texts + 1]] - cum[bounds[texts]]).astype(np.float64)
    n_cjk = batch.n_cjk[texts]
    n = batch.n_words[texts] - n_cjk
    out = np.full(len(texts), np.nan)
    np.divide(chars - n_cjk, n, out=out, where=n > 0)
    return out


def b_alpha_words(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    if p.get("unit") == "words":
        n = batch.n_words[texts]
        out = np.zeros(len(texts), dtype=np.float64)
        np.divide(batch.n_digit_words[texts], n, out=out, where=n != 0)
        return np.subtract(1.0, out, out=out, where=n != 0)
    return _ratio(batch.n_letter_tokens[texts], batch.n_tokens[texts])


def b_stop_words(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    langs = {batch.langs[t] for t in texts.tolist()}
    if len(langs) != 1:
        return _per_document(batch, texts, p)
    spec = p["_stopwords"].get(langs.pop() or "")
    if spec is None:  # no list for this language: not judged
        return np.full(len(texts), np.nan)
    if spec["mode"] == "chars":  # occurrences of the listed characters (C scans, no per-document pass)
        chars, lows = spec["_chars"], batch.lows
        return np.array([sum(lows[t].count(c) for c in chars) for t in texts.tolist()], dtype=np.float64)
    table = spec.get("_hash_table")
    if table is None:  # the list as the kernel's hash set, built once per rule set
        table = spec["_hash_table"] = compiled.hash_set(spec["_hashes"])
    words = batch.words
    if spec["mode"] != "suffix":
        return compiled.stop_word_counts(words.hashes, words.text_bounds, texts, *table, np.zeros(0, dtype=np.uint32),
                                         spec["_suffix_cps"], False).astype(np.float64)
    # by suffix: the last characters of these texts' words only (not of the whole batch's)
    first, end = words.text_bounds[texts], words.text_bounds[texts + 1]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(end - first, out=bounds[1:])
    at = np.repeat(first - bounds[:-1], end - first) + np.arange(bounds[-1], dtype=np.int64)
    last_cps = batch.lower_cps[words.ends[at] - 1]
    return compiled.stop_word_counts(words.hashes[at], bounds, np.arange(len(texts), dtype=np.int64), *table, last_cps,
                                     spec["_suffix_cps"], True).astype(np.float64)


def b_line_pattern(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    """``measures.m_line_pattern``: a pattern that one of a few characters matches (``[{}]``)
    counted over the batch's lines at once; for any other pattern, the texts its first tests
    (needed characters, lower-case literal) rule out measure 0.0 without a per-document pass."""
    needles, run = p.get("_needles"), p.get("_lowercase_run")
    out = np.zeros(len(texts), dtype=np.float64)
    all_texts, lows = batch.texts, batch.lows
    chars = needles[0] if needles is not None else ()
    maybe = np.array([j for j, t in enumerate(texts.tolist())
                      if (not chars or any(c in all_texts[t] for c in chars)) and (run is None or run in lows[t])], dtype=np.int64)
    if len(maybe):
        if needles is not None and needles[1]:  # a line matches exactly when it holds one of the characters
            out[maybe] = _line_share(batch, texts[maybe], batch.lines.holding(chars))
        else:
            out[maybe] = _per_document(batch, texts[maybe], p)
    return out


def _line_share(batch: TextBatch, texts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return _ratio(counts[texts], batch.lines.n_lines[texts])


def b_bullet_lines(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    return _line_share(batch, texts, batch.lines.with_affix(p["_bullets"], False))


def b_line_endings(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    return _line_share(batch, texts, batch.lines.with_affix(p["_endings"], True))


def b_short_lines(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
    return _line_share(batch, texts, batch.lines.short(int(p["chars"])))


def _dup(col: int, chars: bool) -> Callable:
    """A repeat share from the per-text counts of ``kernels.lines_and_paragraphs`` (``stats._dup_fractions``)."""

    def measure(batch: TextBatch, texts: np.ndarray, p: dict) -> np.ndarray:
        items, distinct, total, distinct_total = batch.lines.dup[texts, col : col + 4].T
        if chars:
            return np.where(items < 2, 0.0, _ratio(total - distinct_total, total))
        return np.where(items < 2, 0.0, _ratio(items - distinct, items))

    return measure


BATCH_MEASURES: dict[str, Callable[[TextBatch, np.ndarray, dict], np.ndarray]] = {
    "word_count": b_word_count,
    "mean_word_length": b_mean_word_length,
    "symbol_word_ratio": b_symbol_word_ratio,
    "alpha_words": b_alpha_words,
    "stop_words": b_stop_words,
    "bullet_lines": b_bullet_lines,
    "ellipsis_lines": b_line_endings,
    "line_punct": b_line_endings,
    "short_lines": b_short_lines,
    "line_pattern": b_line_pattern,
    "contains": b_contains,
    "dup_lines": _dup(0, False),
    "dup_line_chars": _dup(0, True),
    "dup_paragraphs": _dup(4, False),
    "dup_paragraph_chars": _dup(4, True),
}


def check_batch(rules_for_lang: Callable[[Any], list[dict]], texts: list[str], langs: list[str | None], all_failures: bool = False) -> list[list[tuple[str, dict]]]:
    """:meth:`QualityRules.check_stats` of every text, computed a rule at a time over the batch."""
    batch = TextBatch(texts, langs)
    failures: list[list[tuple[str, dict]]] = [[] for _ in texts]
    by_lang: dict[Any, list[int]] = {}
    for i, lang in enumerate(langs):
        by_lang.setdefault(lang, []).append(i)
    for lang, members in by_lang.items():
        todo = np.array(members, dtype=np.int64)
        for p in rules_for_lang(lang):
            if not len(todo):
                break
            check, name = p["check"], p["name"]
            failed = []
            if check in ("top_ngram", "dup_ngram"):
                ks, values = compiled.ngram_first_failures(check == "top_ngram", batch.words.hashes, batch.words.lengths,
                                                          batch.words.text_bounds, todo, p["_ns"], p["_limits"])
                for j in np.flatnonzero(ks >= 0).tolist():
                    n, limit = p["_table"][ks[j]]
                    failures[todo[j]].append((name, {"n": n, "value": round(float(values[j]), 4), "max": limit}))
                    failed.append(j)
            else:
                measure = BATCH_MEASURES.get(check)
                values = measure(batch, todo, p) if measure is not None else _per_document(batch, todo, p)
                lo, hi = p.get("min"), p.get("max")
                below = values < lo if lo is not None else np.zeros(len(todo), dtype=bool)
                above = ~below & (values > hi) if hi is not None else np.zeros(len(todo), dtype=bool)
                for j in np.flatnonzero(below | above).tolist():
                    bound = {"min": lo} if below[j] else {"max": hi}
                    failures[todo[j]].append((name, {"value": round(float(values[j]), 4), **bound}))
                    failed.append(j)
            if failed and not all_failures:  # the first failure decides: stop checking those
                todo = np.delete(todo, failed)
    return failures
