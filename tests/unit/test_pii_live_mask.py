"""The phone recognizer's one-loop region check (``_live_mask``) answers as the region-by-region
``_hopeless`` checks, and the fast path still finds what presidio's stock path finds.

Real text: the 432 documentation paragraphs of tests/data/langid (the same Debian sources the
benchmark corpora are cut from, 18 languages) and source ids shaped as the corpora's
(``b7-0008126``: one 8-digit candidate each, the PII stage scrubs every record's id). Oracles:
``_hopeless`` per region with nothing remembered between candidates, and presidio's
``PhoneRecognizer.analyze`` loop over stock python-phonenumbers matchers (``analyze``).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from phonenumbers import Leniency

from pipeline.pii.recognizers import (
    _PATTERN, _SECOND_NUMBER_START_PATTERN, CandidateScan, RegionalPhoneRecognizer, _Digits, _SharedCandidateMatcher,
)

PARAGRAPHS = Path(__file__).resolve().parents[1] / "data" / "langid" / "paragraphs.jsonl"
# numbers of the regions and shapes the masks tell apart (see test_pii_phone_equal._MIXED_REGIONS)
PLANTED = ["2017-01-13 010-1234-5678 91-98765-43210 9876543210 (415) 555-0132 03-123-4567",
           "20170113 02-312-4567 2014-06-13 +44 20 7946 0958 050-123-4567 4155550132 ０３-１２３４-５６７８",
           "2017-01-13 and 010-1234-5678 again, 42 2022 -0700, 972-3-123-4567 02-123-4567 03-1234-5678",
           "020 7946 0958 91-415-555-0132 2010-05-12 1234567 12345678 0311234567 (0)20 7946 0958 82-2-312-4567"]


def _texts() -> list[str]:
    paragraphs = [json.loads(line)["text"] for line in PARAGRAPHS.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(7)
    ids = [f"b7-{rng.randrange(10_000_000):07d}" for _ in range(400)]
    return paragraphs + ids + PLANTED


def _candidates(texts: list[str]) -> list[str]:
    from phonenumbers import PhoneNumberMatcher

    trim = PhoneNumberMatcher._trim_after_first_match
    found = [trim(None, _SECOND_NUMBER_START_PATTERN, m.group()) for t in texts for m in _PATTERN.finditer(t)]
    return list(dict.fromkeys(found))


class _NoMemory(dict):
    """An outcome cache that remembers nothing: every check is made again."""

    def __setitem__(self, key, value) -> None:
        pass


def test_live_mask_equals_the_region_by_region_checks():
    rec = RegionalPhoneRecognizer()
    regions = rec.supported_regions
    scan = CandidateScan()
    matchers = [_SharedCandidateMatcher("", region, Leniency.VALID, scan, rec.min_digits(regions),
                                        rec.national_bounds(region), rec._cc_only(region)) for region in regions]
    reference = [_SharedCandidateMatcher("", region, Leniency.VALID, CandidateScan(), rec.min_digits(regions),
                                         rec.national_bounds(region), rec._cc_only(region), stretches=_NoMemory())
                 for region in regions]
    candidates = _candidates(_texts())
    masks = {c: matchers[0]._live_mask(c) for c in candidates}
    for c in candidates:  # twice: the second answers come from the kept stretch outcomes
        assert matchers[0]._live_mask(c) == masks[c], c
    expected = {c: sum(1 << i for i, m in enumerate(reference) if not m._hopeless(_Digits(c))) for c in candidates}
    assert masks == expected
    # the comparison covers every kind of answer
    full = (1 << len(regions)) - 1
    assert len(candidates) > 300
    assert any(m == 0 for m in masks.values()) and any(m == full for m in masks.values())
    assert sum(0 < m < full for m in masks.values()) >= 4


def test_fast_path_finds_what_presidio_finds_on_real_paragraphs_and_ids():
    rec = RegionalPhoneRecognizer()
    texts = _texts()
    chunks = ["\n".join(texts[i : i + 60]) for i in range(0, len(texts), 60)]
    found = 0
    for chunk in chunks:
        fast = [(r.start, r.end, r.score) for r in rec.analyze_fast(chunk, ["PHONE_NUMBER"])]
        stock = [(r.start, r.end, r.score) for r in rec.analyze(chunk, ["PHONE_NUMBER"])]
        assert fast == stock
        found += len(stock)
    assert found >= 5  # the planted numbers at least: the comparison is not of empty lists
