"""The quality measures' fast paths equal plain-Python definitions on randomized text (hypothesis).

Oracle: each measure written the obvious way over strings — word n-grams as tuples of the
document's words, lines and paragraphs as stripped strings — not the arrays or hashes the
pipeline computes, and a document measured alone and inside a batch.
"""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.quality import DocStats
from pipeline.quality.measures import m_bullet_lines, m_ellipsis_lines, m_line_punct
from pipeline.quality.ngrams import dup_ngram_fraction
from pipeline.quality.stats import _dup_fractions
from test_quality import _reference_dup as naive_dup_ngram  # the plain-Python definitions, tests/unit
from test_quality import _reference_top as naive_top_ngram

# A small vocabulary (Latin, Hangul, Han, punctuation, line and paragraph breaks) so that words,
# n-grams, lines and paragraphs repeat often.
PIECES = ["the", "cat", "sat", "on", "mat", "a", "학교에서", "공부", "日本", "語", "- item", "• dot", "...", "end.",
          "why?", " ", " ", "\n", "\n\n", "\t", "42"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=120).map(lambda parts: " ".join(parts))


def naive_dup_items(items: list[str]) -> tuple[float, float]:
    if len(items) < 2:
        return 0.0, 0.0
    seen: set[str] = set()
    dup = dup_chars = 0
    for item in items:
        if item in seen:
            dup += 1
            dup_chars += len(item)
        seen.add(item)
    total = sum(map(len, items))
    return dup / len(items), (dup_chars / total if total else 0.0)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=6), n=st.integers(min_value=1, max_value=6))
def test_dup_ngram_fraction_equals_the_definition_alone_and_in_a_batch(texts, n):
    batch = DocStats.batch(texts, [None] * len(texts))
    for text, in_batch in zip(texts, batch):
        alone = DocStats(text, None)
        expected = naive_dup_ngram(alone.words, n)
        assert dup_ngram_fraction(alone, n) == expected
        assert dup_ngram_fraction(in_batch, n) == expected


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_lines_paragraphs_and_their_repeats_equal_the_definition(text):
    s = DocStats(text, None)
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    paragraphs = [p.strip() for p in re.split(r"\n[ \t\r\f\v]*\n", text) if p.strip()]
    assert s.lines == lines and s.paragraphs == paragraphs
    assert _dup_fractions(lines) == naive_dup_items(lines)
    assert _dup_fractions(paragraphs) == naive_dup_items(paragraphs)


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_line_share_measures_equal_the_definition(text):
    s = DocStats(text, None)
    lines = s.lines
    bullets, endings = ("- ", "• "), ("...", ".", "?")
    share = (lambda k: k / len(lines)) if lines else (lambda k: 0.0)
    assert m_bullet_lines(s, {"_bullets": bullets}) == share(sum(1 for ln in lines if ln.startswith(bullets)))
    assert m_ellipsis_lines(s, {"_endings": endings}) == share(sum(1 for ln in lines if ln.endswith(endings)))
    assert m_line_punct(s, {"_endings": endings}) == share(sum(1 for ln in lines if ln.endswith(endings)))


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=6), n=st.integers(min_value=1, max_value=6))
def test_the_batch_top_ngram_bound_is_never_below_the_share_it_bounds(texts, n):
    # A text is let through top_ngram without sorting when this bound is under the limit.
    stats = DocStats.batch(texts, [None] * len(texts))
    bound = stats[0]._batch_words[0].ngram_bucket_maxima(n, 8)
    for i, text in enumerate(texts):
        assert bound[i] >= naive_top_ngram(DocStats(text, None).words, n)
