"""The quality stage gives the verdicts and measured values it gave before its split and speed-up.

The golden (tests/golden/quality_measures.json) was written by the implementation before
pipeline/quality/ existed, on 333 documents built by tests/golden/quality_measures.py (18 languages
with and without a lang label, code, lists, boilerplate, repetition, edge cases).
"""
from __future__ import annotations

import json
import math

import pytest

from tests.golden import quality_measures as golden


# 0: one document at a time (check, DocStats); 37 and 1000: the batch path (check_batch,
# DocStats.batch) with batches that cut the corpus at odd places and one batch holding all of it
@pytest.fixture(scope="module", params=[0, 37, 1000], ids=["single", "batch37", "batch_all"])
def pairs(request):
    want = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))
    docs = golden.documents()
    assert len(docs) == len(want), "the document generator changed: the golden no longer describes it"
    got = json.loads(json.dumps(golden.compute(docs, batch_size=request.param), sort_keys=True))
    return list(zip(got, want))


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    return a == b


def test_golden_covers_every_language_and_many_rules(pairs):
    langs = {w["lang"] for _, w in pairs}
    assert {"en", "ko", "ja", "zh"} <= langs
    reasons = {f[0] for _, w in pairs for f in w["all"]}
    assert len(reasons) >= 10, reasons
    assert sum(1 for _, w in pairs if not w["first"]) >= 100  # kept documents too


def test_same_language_and_verdicts(pairs):
    bad = [i for i, (g, w) in enumerate(pairs) if (g["lang"], g["first"], g["all"]) != (w["lang"], w["first"], w["all"])]
    assert not bad, f"{len(bad)} of {len(pairs)} documents changed verdict, first: {bad[:10]}"


def test_same_measured_values(pairs):
    bad = [i for i, (g, w) in enumerate(pairs) if not _close(g["raw"], w["raw"]) or g["measures"] != w["measures"]]
    assert not bad, f"{len(bad)} of {len(pairs)} documents changed a measured value, first: {bad[:10]}"
