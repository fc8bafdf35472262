"""Two short cuts of the PII fast path change no finding:

* the context enhancer is skipped for a window whose stretch holds none of its results'
  recognizers' context words (and then the document's colon keywords are not computed), and
  for a result whose own part of the stretch holds none;
* a text too short, from its first guard character, for any condition's shortest match is not
  scanned by the union.

Oracles: the same engine with the short cut turned off (presidio's enhancer on every window; the
union scan on every text) and, for findings, presidio's plain AnalyzerEngine
(``PiiEngine.reference``); for the widths, the ``regex`` module's own matches.
"""
from __future__ import annotations

import json
import random

import pytest
import regex

from pipeline.pii.fast import FastAnalyzer
from pipeline.pii.prefilter import Prefilter, start_widths
from tests.unit.test_pii import LABELLED, _key, cfg, engine, reference  # noqa: F401 - fixtures

BOUNDARY = LABELLED.with_name("boundary_cases.jsonl")

# Our own cases for each way the enhancer short cut could go wrong: a context word right before,
# after, glued to, or inside a longer word ("hotel" holds "tel"), in capitals, behind a colon
# keyword elsewhere in the document, a capital sigma (lower-cased by its position), several
# matches in one window, and matches with no context word anywhere.
CONTEXT_CASES = [
    ("en", "Call 212-555-0143 after nine."),
    ("en", "Reach the desk on 212 555 0143 or the HOTEL front line 212-555-0199 today."),
    ("en", "PHONE:212-555-0143 and FAX: 212-555-0144, both staffed weekdays."),
    ("en", "Our number 212-555-0143 is listed; no keyword nearby for 646-555-0100 in the archive list."),
    ("en", "Item code 4111 1111 1111 1111 printed on the box; nothing more to say about it."),
    ("en", "visa:4111111111111111 was rejected, later 4111 1111 1111 1111 passed the retry queue."),
    ("en", "ΣΥΣΤΗΜΑΣ ΤΗΛΕΦΩΝΟ 212-555-0143 ΣΑΣ, contact desk ΟΔΟΣ 646-555-0100."),
    ("en", "Release 2.10.18 shipped 2019-04-01 with 3 fixes; mirrors 10.0.0.1 and 10.0.0.2 updated."),
    ("ko", "고객센터 전화번호 010-2345-6789에서 상담 예약을 받습니다. 다른 번호 02-345-6789도 있습니다."),
    ("ko", "계좌번호는 110-123-456789 이고 예금주는 회사입니다. 참고 번호 110-123-456780"),
    ("en", "acct:deposit 110-123-456789 and later 3333-01-1234567 without a word before it."),
    (None, "Ticket 88213 from bob@example.net, phone 1-800-555-0199, IP 8.8.4.4, card 378282246310005."),
]


def _real_texts() -> list[tuple[str | None, str]]:
    out = list(CONTEXT_CASES)
    for path in (LABELLED, BOUNDARY):
        out += [(d.get("lang"), d["text"]) for d in map(json.loads, path.read_text(encoding="utf-8").splitlines())]
    return out


def _analyze(engine, texts, langs, *, shortcut: bool, monkeypatch) -> list:
    with monkeypatch.context() as m:
        if not shortcut:
            m.setattr(FastAnalyzer, "_no_context_word", lambda self, stretch, results, delta: False)
        return engine.analyze_batch(texts, langs)


def test_skipping_the_enhancer_changes_no_finding(engine, monkeypatch):
    cases = _real_texts()
    texts, langs = [t for _, t in cases], [lang for lang, _ in cases]
    calls = {"skipped": 0, "enhanced": 0, "split": 0}
    original, original_near = FastAnalyzer._no_context_word, FastAnalyzer._near_context_word

    def counted(self, stretch, results, delta):
        skipped = original(self, stretch, results, delta)
        calls["skipped" if skipped else "enhanced"] += 1
        return skipped

    def split(self, *args):
        near = original_near(self, *args)
        calls["split"] += any(near) and not all(near)
        return near

    with monkeypatch.context() as m:
        m.setattr(FastAnalyzer, "_no_context_word", counted)
        m.setattr(FastAnalyzer, "_near_context_word", split)
        fast = engine.analyze_batch(texts, langs)
    full = _analyze(engine, texts, langs, shortcut=False, monkeypatch=monkeypatch)
    assert [_key(r) for r in fast] == [_key(r) for r in full]
    # both branches ran on these texts: the comparison covers skipped and enhanced windows
    assert calls["skipped"] > 20 and calls["enhanced"] > 20 and calls["split"] >= 2, calls


@pytest.mark.parametrize("lang, text", CONTEXT_CASES)
def test_context_cases_equal_plain_presidio(engine, reference, lang, text):
    got = engine.analyze_batch([text], [lang])[0]
    assert got
    assert _key(got) == _key(reference.analyze_batch([text], [lang])[0])


def test_a_context_word_still_raises_the_score(engine):
    # KR_BANK_ACCOUNT needs its context word (pattern score 0.05, threshold 0.4)
    with_word = engine.find("계좌번호는 110-123-456789 입니다.", "ko")
    without = engine.find("참고 번호는 110-123-456789 입니다.", "ko")
    assert with_word.get("KR_BANK_ACCOUNT") == 1 and "KR_BANK_ACCOUNT" not in without


# --- short texts ---------------------------------------------------------------------------------

_ALPHABET = list("0123456789-.:@/_ ab") + ["٣", "５", "\n", "x", "+", "("]


def _short_texts(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    texts = [f"doc-{i}" for i in range(0, 200_000, 997)] + ["", "1", "12", "a@", "@", "::", ":", "1.2.3.4",
                                                              "1.2.3", "doc-12345", "00000", "0000"]
    texts += ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 30))) for _ in range(n)]
    return texts


def _full_scan(pre: Prefilter, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pre.pattern.finditer(text)]


def test_short_text_checks_keep_every_hit_of_the_union(engine):
    texts = _short_texts(6000)
    skipped = 0
    for lang, pre in engine.prefilters.items():
        if pre is None:
            continue
        assert pre.short_checks, lang
        for text in texts:
            want = _full_scan(pre, text)
            assert pre.hits(text) == want, (lang, text)
            first = pre.starts.search(text)
            if first is not None and len(text) - first.start() < pre.short_limit and not want:
                skipped += not pre._long_enough(text, first.start())
    assert skipped > 1000  # the check did reject texts (and each rejection was right)


@pytest.mark.parametrize("pattern, flags", [
    (r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|::|:(?:[0-9a-f]{1,4}:){6}", 0),
    (r"(?<=[a-z]{2})[0-9]{2}[ -]?[a-z0-9]{4}", regex.IGNORECASE),
    (r"(?<![\d-])(?!01[016789]-)\d{3,6}-\d{2,6}-\d{4,7}(?:-\d{2,3})?(?![\d-])", 0),
    (r"x*(?:ab|c?d)", 0),
    (r"(a)b?\1", 0),
])
def test_start_widths_hold_for_every_match(pattern, flags):
    widths = start_widths(pattern, flags)
    assert widths
    classes = [(Prefilter.build([pattern], flags, 1, 1, (), ()).starts, min(n for _, n in widths))]
    compiled = regex.compile(pattern, flags)
    rng = random.Random(11)
    alphabet = list("0123456789" * 3 + "abcdxABX---.: :")
    matched = 0
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for m in compiled.finditer(text, overlapped=True):
            matched += 1
            assert m.end() - m.start() >= classes[0][1], (pattern, text, m.span())
            assert classes[0][0].match(text, m.start()), (pattern, text, m.span())
    assert matched > 20


@pytest.mark.parametrize("pattern", [r"a*", r"(?:ab){e<=1}", r"\p{L}x", r"x|"])
def test_start_widths_unknown_when_a_match_can_be_empty_or_syntax_is_unread(pattern):
    assert start_widths(pattern) is None


def test_an_unknown_width_turns_the_short_text_checks_off():
    pre = Prefilter.build([r"\d{5}", r"\p{N}{4}"], 0, 1, 1, (), ())
    assert pre.short_checks == () and pre.short_limit == 0
    assert pre.hits("doc-1234") == [(4, 8)]
