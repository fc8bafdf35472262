"""The license stage's per-document shortcuts against the rule each one stands for, on the real
reference index (rules/license_refs.json.zst): equal for every reference at every count that could
decide it."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.compliance.spdx import LicenseMatcher
from pipeline.config import load_config
from pipeline.stages.license import _load_yaml


@pytest.fixture(scope="module")
def matcher():
    cfg = load_config()
    matching = _load_yaml(cfg.rule_file("licenses.yaml")).get("matching") or {}
    return LicenseMatcher(cfg.rule_file("license_refs.json.zst"), matching)


def test_the_folded_threshold_passes_exactly_the_references_the_rule_passes(matcher):
    # match() compares counts with one precomputed array; reference_ok() is the rule as written
    # (whole-match need, or for a partial text both the partial minimum and the partial coverage)
    need = matcher.need
    partial = np.ceil(matcher.ref_sizes * matcher.partial_cov).astype(np.int64)
    edges = [need, partial, np.full_like(need, matcher.partial_min)]
    probes = [np.zeros_like(need)] + [np.maximum(0, e + d) for e in edges for d in (-1, 0, 1)]
    probes += [np.full_like(need, c) for c in range(0, 64)]
    passed = 0
    for counts in probes:
        want = matcher.reference_ok(counts)
        assert np.array_equal(counts >= matcher.match_need, want)
        passed += int(want.sum())
    assert passed > 0 and (matcher.partial_text.sum() > 0)
    # where the partial threshold is the lower one it is the one used (the fold is not just `need`)
    assert (matcher.match_need < need).any()


def _doc_arrays(matcher, text: str):
    from pipeline.compliance.spdx import tokenize

    ids = np.array([matcher.vocab.get(t, 0) for t in tokenize(text)], dtype=np.uint64)
    return np.unique(matcher._grams(ids), return_inverse=True)


def test_membership_shortcuts_equal_numpy_isin_on_real_license_texts(matcher):
    from license_support import _common

    from pipeline.compliance.spdx import in_sorted, in_subset

    gpl2, apache = _common("GPL-2"), _common("Apache-2.0")
    texts = (gpl2, gpl2[: len(gpl2) // 3] + apache[len(apache) // 2 :], apache)
    refs = {m.ref for text in texts for m in matcher.match(text) if matcher.is_text[m.ref]}
    checked = 0
    for text in texts:
        uniq, inverse = _doc_arrays(matcher, text)
        for ref in sorted(refs):
            ref_grams = matcher._text_grams(ref)  # what _longest_missing looks up
            want = np.isin(ref_grams, uniq)
            assert np.array_equal(in_sorted(ref_grams, uniq), want)
            checked += int(want.sum()) > 0 and int((~want).sum()) > 0
        for subset in (np.arange(0, len(uniq), 3), np.flatnonzero(uniq % np.uint64(5) == 0), np.zeros(0, dtype=np.int64)):
            assert np.array_equal(in_subset(inverse, subset, len(uniq)), np.isin(inverse, subset))
    assert checked >= 2  # both answers occurred: the comparison is not of all-true or all-false arrays
    assert not in_sorted(uniq[:3], uniq[:0]).any()
