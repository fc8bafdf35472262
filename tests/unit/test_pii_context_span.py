"""``Prefilter.context_span`` finds the words around the matches by search (from the matches'
positions) instead of reading every word from the window start; the stretch it returns is the one
the word-by-word walk returns.

Oracle: :func:`_walked_span`, the walk written out plainly: every word of ``text[lo:]`` in order,
then back and forward from the matches' words, counting sure keywords.
"""
from __future__ import annotations

import dataclasses
import json
import random

import pytest
import regex

from tests.unit.test_pii import LABELLED, cfg, engine  # noqa: F401 - fixtures

BOUNDARY = LABELLED.with_name("boundary_cases.jsonl")

# Our own cases: a window starting inside a word, matches at the text's start and end, inside
# and between words, in runs of spaces and line breaks, stop words and punctuation-glued words
# (not sure keywords) around them, too few keywords before or after, and a text of spaces.
CASES = [
    "Call 212-555-0143 after nine.",
    "   leading spaces, then 212-555-0143\n\n and the   end   ",
    "the of and a 212-555-0143 to in is, (it) was-it 646-555-0100",
    "x@y.com",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z 010-1234-5678 a b c",
    "Phone:212-555-0143;fax:212-555-0144 — contact us at desk@example.org today or tomorrow.",
    "     ",
    "전화 010-2345-6789 로 연락 주세요. 대표번호 02-312-4567, 경기 지사 031-123-4567.",
]


def _walked_span(pre, text: str, lo: int, first: int, last: int) -> tuple[int, int]:
    words = [m.span() for m in regex.finditer(r"\S+", text[lo:])]
    words = [(s + lo, e + lo) for s, e in words]
    f = next((i for i, (_, e) in enumerate(words) if e > first), None)
    if f is None:
        return lo, len(text)
    l = next((i for i, (_, e) in enumerate(words) if e > last), None)
    start, need, i = lo, pre.words_before, f
    while need > 0 and i > 0:
        i -= 1
        if pre.sure_keyword(text[words[i][0] : words[i][1]]):
            need -= 1
    if need == 0:
        start = words[i][0]
    if l is None:
        return start, len(text)
    end, need = words[l][1], pre.words_after
    for s, e in words[l + 1 :]:
        if need <= 0:
            break
        end = e
        if pre.sure_keyword(text[s:e]):
            need -= 1
    return start, (end if need <= 0 else len(text))


def _texts() -> list[str]:
    texts = list(CASES)
    for path in (LABELLED, BOUNDARY):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    return texts


@pytest.mark.parametrize("before,after", [(6, 1), (1, 0), (0, 3), (3, 6)])
def test_searched_span_equals_the_walk(engine, before, after):
    pre = dataclasses.replace(engine.prefilters["en"], words_before=before, words_after=after)
    rng = random.Random(before * 10 + after)
    checked = differs_from_whole = 0
    for text in _texts():
        n = len(text)
        for _ in range(12):
            lo = rng.choice([0, rng.randrange(n + 1)])
            first = rng.randrange(lo, n + 1)
            last = rng.randrange(first, n + 1)
            assert pre.context_span(text, lo, first, last) == _walked_span(pre, text, lo, first, last), \
                (text, lo, first, last)
            checked += 1
            differs_from_whole += pre.context_span(text, lo, first, last) != (lo, n)
    assert checked > 3000 and differs_from_whole > checked // 4  # most spans are a part of the text
