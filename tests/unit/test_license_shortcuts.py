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
