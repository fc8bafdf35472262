"""The prefilter's one-pass rejection (``Prefilter.starts``) never skips a document the full union
scan would find a hit in.

Oracle: the union regex itself, scanned over the whole text (what ``hits`` did before the
rejection), and the planted values' own positions for documents holding real PII.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.pii.engine import PiiEngine
from pipeline.pii.prefilter import Prefilter

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "pii" / "labelled.jsonl"


@pytest.fixture(scope="module")
def engine():
    from pipeline.config import load_config

    return PiiEngine.from_config(load_config())


def full_scan(pre: Prefilter, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pre.pattern.finditer(text)]


def test_the_default_rules_get_the_one_pass_rejection(engine):
    # Every default recognizer's condition is guarded, so each prefiltered language rejects in one pass.
    for lang, pre in engine.prefilters.items():
        if pre is not None:
            assert pre.starts is not None, lang


def test_a_pattern_without_known_first_characters_turns_the_rejection_off():
    # \p{L} is regex syntax Python's re parser (which the guard is derived with) rejects
    pre = Prefilter.build([r"\d{3}", r"\p{L}ecret\w+"], 0, 1, 1, (), ())
    assert pre.starts is None
    assert pre.hits("a secretword here") == [(2, 12)]


def test_a_user_pattern_starting_at_a_letter_is_guarded_by_its_letter():
    pre = Prefilter.build([r"\d{3}", r"secret\w+"], regex.IGNORECASE, 1, 1, (), ())
    assert pre.starts is not None and pre.starts.search("S") and not pre.starts.search("a x")
    assert pre.hits("a SECRETword here") == [(2, 12)]


# Text drawn from everything: ASCII and other scripts, non-ASCII digits (Arabic-Indic, fullwidth,
# Devanagari), '@', ':' and the separators the recognizers allow between digit groups.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from("0123456789@:.-+() \n٣٤５６१२"),
    ),
    max_size=300,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, lang=st.sampled_from(["en", "ko"]))
def test_hits_equal_the_full_union_scan_on_random_text(engine, text, lang):
    pre = engine.prefilters[lang]
    assert pre.hits(text) == full_scan(pre, text)


# A digit is what the guard's ``\d`` matches: the regex module's Unicode tables are newer than
# Python 3.11's unicodedata (Unicode 14): 110 code points unassigned there, such as U+11BF0 (a
# digit since Unicode 16), are digits to the guard and the conditions alike.
_DIGIT = regex.compile(r"\d")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Nd"))
                    .filter(lambda c: c not in "@:" and not _DIGIT.match(c)), max_size=400))
def test_text_without_a_guard_character_has_no_hit_in_the_full_scan(engine, text):
    # The rejection's premise, checked against the union: no digit, '@' or ':' → no hit at all.
    pre = engine.prefilters["en"]
    assert pre.starts.search(text) is None
    assert full_scan(pre, text) == [] and pre.hits(text) == []


def planted_values():
    """Every planted PII value of the committed labelled set, with its language."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    return [(d["text"][p["start"] : p["end"]], d["lang"]) for d in rows for p in d["pii"]]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_document_with_a_real_candidate_is_never_skipped(engine, data):
    value, lang = data.draw(st.sampled_from(planted_values()))
    prose = st.text(alphabet=st.sampled_from("abcdefghij klmnop 가나다라 テスト,.\n"), max_size=200)
    before, after = data.draw(prose), data.draw(prose)
    text = f"{before} {value} {after}"
    pre = engine.prefilters.get(lang) or engine.prefilters["en"]
    hits = pre.hits(text)
    assert hits == full_scan(pre, text)
    at = len(before) + 1
    # the value lies in a window the engine will analyse
    assert any(s <= at and at + len(value) <= e for s, e in pre.windows(text)), value
