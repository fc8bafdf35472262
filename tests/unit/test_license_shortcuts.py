"""The license stage's per-document shortcuts against the rule each one stands for, on the real
reference index (rules/license_refs.json.zst): equal for every reference at every count that could
decide it."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.compliance.literals import FOLDS_TO_ASCII, may_match, required_literals
from pipeline.compliance.spdx import LicenseMatcher
from pipeline.config import load_config
from pipeline.stages.license import _load_yaml

from license_support import core  # noqa: F401 - the set-up detector fixture


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


# -- the literal test before a rule's regex search (pipeline/compliance/literals.py) -------------------

def _rules(core):
    yield from ((f"restriction {r.id}", r.wording, r.needs) for r in core.restrictions)
    yield from ((f"declaration {d.id}", d.regex, d.needs) for d in core.declarations)
    yield from ((f"pointer {i}", p, n) for i, (p, n) in enumerate(zip(core.pointer_notices, core._pointer_needs)))


def _real_texts() -> list[str]:
    import json

    from license_support import COMMON, REPO

    texts = [p.read_text(encoding="utf-8") for p in sorted(COMMON.iterdir()) if p.is_file() and not p.is_symlink()]
    for f in sorted((REPO / "tests" / "data" / "license").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


def test_a_rule_search_skipped_by_the_literal_test_would_have_found_nothing(core):
    # every place a rule finds something must pass may_match: on whole real texts and on windows of
    # them (restrictions are searched in windows of a few hundred characters)
    texts = _real_texts()
    windows = [t[i : i + 300] for t in texts for i in range(0, len(t), 150)]
    skipped = found = 0
    for name, rule, needs in _rules(core):
        for text in texts + windows:
            low = text.lower()
            hit = rule.search(text) is not None if name.startswith(("declaration", "pointer")) else rule.search(low) is not None
            if hit:
                found += 1
                assert may_match(needs, low), (name, needs)
            skipped += not may_match(needs, low)
    assert found > 200 and skipped > 1000  # both sides occur: the test is neither empty nor a no-op


def test_the_derived_words_are_the_rule_wording_a_reader_sees(core):
    # read off rules/licenses.yaml by hand
    needs = {name: n for name, _, n in _rules(core)}
    assert needs["restriction proprietary"] == ("confidential", "proprietary", "secret", "unpublished")
    assert needs["declaration cc_url"] == ("creativecommons.org/licenses/",)
    assert needs["restriction changed_grant"] is None  # "\bonly\b" alone would be a word; "restrict" etc. not
    assert required_literals(r"(?-i:abc)") is None and required_literals(r"(?a)abc") is None  # flags: not read
    assert required_literals(r"\w+\s+\d") is None  # nothing fixed in any match
    assert required_literals(r"foo|\w+") is None  # one branch needs nothing: no test
    assert required_literals(r"(?:ab)?cd") == ("cd",)
    assert required_literals(r"x(?:abc|de)+y") == ("abc", "de")
    assert required_literals("abc", ignore_case=False) is None
    # read differently by the `regex` module than by the standard parser: never a wrong word
    assert required_literals(r"foo[[:alpha:]]bar") is None  # a POSIX class, not the text "]bar"
    assert required_literals(r"(?:licensed){e<=1}") is None  # fuzzy: "licenced" matches too
    assert required_literals(r"(?:ab){2,3}cd") in (("ab",), ("cd",))  # a plain repeat count is read


def test_characters_that_fold_to_an_ascii_letter_are_searched_anyway():
    import sys

    import regex

    # a case-insensitive search matches these to "s" / "k" although lower() keeps the long s
    everything = "".join(chr(c) for c in range(128, sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    folding = set(regex.findall(r"(?i)[a-z0-9]", everything))
    assert folding == set(FOLDS_TO_ASCII)
    needs = required_literals(r"\blicensed\b")
    for text in ("Licen\u017fed under the MIT License", "L\u0130CENSED UNDER THE MIT LICENSE"):
        assert regex.search(r"(?i)\blicensed\b", text) and "licensed" not in text.lower()
        assert may_match(needs, text.lower())
    assert "keep" in "\u212aEEP".lower()  # the Kelvin sign lower-cases to a plain "k": no guard needed


def test_non_ascii_letters_in_the_derived_words_match_only_themselves(core):
    import sys

    import regex

    everything = "".join(chr(c) for c in range(128, sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    letters = {ch for _, _, needs in _rules(core) for word in needs or () for ch in word if not ch.isascii()}
    assert letters  # the CJK and Korean declarations give some
    for ch in sorted(letters):
        assert regex.findall("(?i)" + regex.escape(ch), everything) == [ch]

