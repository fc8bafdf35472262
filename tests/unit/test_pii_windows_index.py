"""The index-based ``Prefilter.windows`` (words and cut points found once per document, array
look-ups per hit) returns exactly the windows of ``Prefilter.windows_reference``, which finds the
same words by regex searches around each hit — the definition the PII equality tests (windows vs
presidio on the whole text) were written against.

Inputs: random text over the characters the window rules turn on (every kind of space the word
regex knows, the line breaks that are spaces and the three that are not, ASCII and other digits,
CJK, long and short words, '@', PII-shaped values), the committed labelled PII set, and a corpus
of real documents (examples/corpus).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.pii.engine import PiiEngine
from pipeline.pii.prefilter import Prefilter, _inert, _words

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "pii" / "labelled.jsonl"

PIECES = [
    " ", "  ", "\t", "\n", "\r\n", "\u2028", "\x85", "\u3000", "\xa0", "\u2009", "\x0b", "\x0c",
    "\x1c", "\x1d", "\x1e", "\x1f",  # \x1c-\x1e: line breaks to the cut rule, but word characters
    "😀", "𠀀", "\U0001d7d8",  # above the Basic Multilingual Plane: an emoji, CJK Extension B, a math digit (Nd)
    "a", "word", "another", "extraordinary", "is", "the", "be", "cannot", "Call", "phone", "email",
    "0", "7", "12", "555", "2024", "٣٤", "５６", "१२", "가나다", "テスト", "漢字", "ｶﾀ",
    "@", ":", "-", ".", "(", ")", "+",
    "555-123-4567", "+1 (415) 555-0132", "jane.doe@example.com", "4111 1111 1111 1111",
    "078-05-1120", "192.168.0.1", "GB82 WEST 1234 5698 7654 32", "010-1234-5678",
]
TEXT = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


@pytest.fixture(scope="module")
def engine():
    from pipeline.config import load_config

    return PiiEngine.from_config(load_config())


@pytest.fixture(autouse=True)
def index_always(monkeypatch):
    """The index-based path on every text with a hit (by default texts with few hits take the
    reference path, which would compare it with itself)."""
    monkeypatch.setattr(Prefilter, "index_from_hits", 0)


def assert_same(pre, text):
    assert pre.windows(text) == pre.windows_reference(text), repr(text[:200])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, lang=st.sampled_from(["en", "ko", "ja", "zh", "xx"]))
def test_windows_equal_the_reference_on_random_text(engine, text, lang):
    assert_same(engine.prefilters[lang], text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300))
def test_windows_equal_the_reference_on_any_characters(engine, text):
    assert_same(engine.prefilters["en"], text + " 555-123-4567 " + text)


def test_windows_equal_the_reference_on_labelled_and_real_documents(engine):
    texts = [json.loads(line)["text"] for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    for path in sorted((ROOT / "examples" / "corpus").glob("*.jsonl")):
        for line in path.read_bytes().decode("utf-8", "replace").splitlines():  # one file holds broken bytes on purpose
            try:
                text = json.loads(line).get("text")
            except (ValueError, AttributeError):
                continue
            if isinstance(text, str):
                texts.append(text)
    with_windows = 0
    for lang, pre in engine.prefilters.items():
        for text in texts:
            assert_same(pre, text)
            with_windows += bool(pre.windows(text))
    assert with_windows > 50  # the documents do exercise the window rules


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_one_word_texts_are_one_window_as_in_the_reference(engine, lang):
    # identifiers and URL pieces (the fields the PII stage scrubs) take a short path: one window
    pre = engine.prefilters[lang]
    words = ["d7-0009127", "jane.doe@example.com", "+1(415)555-0132", "٣٤٥٦٧٨٩٠١٢٣", "id\u200b078-05-1120",
             "a\x1c555-123-4567", "문의010-1234-5678에서", "55512345678901234567890", "@@@", "x:y:z:w:v:u:t:s"]
    for text in words:
        assert pre.windows(text) == pre.windows_reference(text), repr(text)
    assert pre.windows("d7-0009127") == [(0, 10)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from([p for p in PIECES if not p.isspace() and " " not in p]), max_size=30).map("".join))
def test_windows_of_texts_without_spaces_equal_the_reference(engine, text):
    for lang in ("en", "ko"):
        assert_same(engine.prefilters[lang], text)


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_words_and_cut_points_are_the_regex_words_and_the_inert_rule(text):
    import regex

    spans = [m.span() for m in regex.finditer(r"\S+", text)]
    got = _words(text)
    if not spans:
        assert got is None
        return
    starts, ends, cuts = got
    assert list(zip(starts, ends)) == spans
    want = [i for i, (a, b) in enumerate(zip(spans, spans[1:]))
            if regex.search(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]", text[a[1]:b[0]])
            or (_inert(text[a[0]:a[1]]) and _inert(text[b[0]:b[1]]))]
    assert cuts == want


def test_by_default_only_documents_with_several_hits_take_the_index_path(engine, monkeypatch):
    monkeypatch.undo()
    pre = engine.prefilters["en"]
    calls = []
    monkeypatch.setattr("pipeline.pii.prefilter._words", lambda text: calls.append(text))  # None: falls back
    one = "Call 555-123-4567 today."
    many = " ".join(["Call 555-123-4567 or mail jane.doe@example.com."] * 3)
    assert len(pre.hits(one)) < Prefilter.index_from_hits <= len(pre.hits(many))
    assert pre.windows(one) == pre.windows_reference(one) and calls == []
    assert pre.windows(many) == pre.windows_reference(many) and calls == [many]
