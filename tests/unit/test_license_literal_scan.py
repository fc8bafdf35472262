"""The license stage's one-pass shortcuts against the plain code each stands for, on real text
(Debian's license texts, the project's license and langid cases, keywords in several scripts):

* :class:`LiteralScan` (one Aho-Corasick pass) finds exactly ``{s for s in strings if s in text}``;
* :func:`may_match_found` (from that set and one fold test per document) answers as
  :func:`may_match` does for every declaration and pointer rule, and a restriction window of a
  document without folding characters answers the same with ``folded=False``;
* ``_Region.may_find`` (a restriction's words narrowed to those its document holds) answers as
  :func:`may_match` on every window;
* :func:`word_spans` (one vectorised pass) gives the spans of ``_WORD.finditer``;
* the cached ``_names_in`` gives what the uncached search gives, and its result is the caller's own.
"""
from __future__ import annotations

import json

import pytest

from pipeline.compliance.literals import LiteralScan, has_folds, may_match, may_match_found
from pipeline.stages.license import _WORD, word_spans

from license_support import COMMON, REPO, core  # noqa: F401 - core is a fixture


def _texts(core) -> list[str]:  # noqa: F811
    texts = [p.read_text(encoding="utf-8") for p in sorted(COMMON.iterdir()) if p.is_file() and not p.is_symlink()]
    assert len(texts) >= 10, "Debian's /usr/share/common-licenses is expected (package base-files)"
    for f in [REPO / "tests" / "data" / "langid" / "paragraphs.jsonl", *sorted((REPO / "tests" / "data" / "license").glob("*.jsonl"))]:
        texts += [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    hosts = ["plain ascii words around ", "texte français autour ", "日本語の文章の中に", "한국어 문장 안에 "]
    for k in core.keywords:  # each keyword alone, at the start, middle and end, and cut short
        texts += [k + hosts[0], hosts[1] + k + hosts[2], hosts[3] + k, hosts[0] + k[:-1]]
    # long s and dotted capital I: lower() keeps or expands them, a case-insensitive search folds them
    texts += ["", "x", "©", "Licen\u017fed under the MIT License", "L\u0130CENSED UNDER THE MIT LICENSE",
              "spdx-filecopyrighttext: 2020 x", "a\ud800b licensed under gpl", "x" * 5000 + "許可证licen"]
    return texts


def test_the_one_pass_scan_finds_exactly_the_strings_a_substring_test_finds(core):  # noqa: F811
    texts = [t.lower() for t in _texts(core)]
    for scan in (core._keyword_scan, core._rule_literals, LiteralScan(["ab", "b", "abc", "bc", "许可"])):
        assert scan._automaton is not None  # the dependency is installed: the fast path is what is tested
        found_any = 0
        for low in texts:
            want = {s for s in scan.strings if s in low}
            assert scan.found_in(low) == want, low[:80]
            assert scan.any_in(low) == bool(want)
            found_any += bool(want)
        assert 0 < found_any < len(texts)
    # nested strings are all reported, however they overlap
    assert LiteralScan(["ab", "b", "abc", "bc"]).found_in("xabcx") == {"ab", "b", "abc", "bc"}


def test_a_scan_for_the_empty_string_or_for_nothing_is_the_substring_test():
    for strings, text, want in ((["", "x"], "abc", {""}), (["", "x"], "", {""}), ([], "abc", set())):
        scan = LiteralScan(strings)
        assert scan._automaton is None
        assert scan.found_in(text) == want and scan.any_in(text) == bool(want)


def test_the_literal_test_from_the_found_set_answers_as_the_substring_test(core):  # noqa: F811
    rules = [d.needs for d in core.declarations] + list(core._pointer_needs)
    restrictions = [r.needs for r in core.restrictions]
    skipped = folded_docs = 0
    for text in _texts(core):
        low = text.lower()
        found, folded = core._rule_literals.found_in(low), has_folds(low)
        folded_docs += folded
        for needs in rules:
            want = may_match(needs, low)
            assert may_match_found(needs, found, folded) == want, needs
            skipped += not want
        if not folded:  # a window of a document without folding characters has none either
            for i in range(0, len(low), 150):
                window = low[i : i + 300]
                for needs in restrictions:
                    assert may_match(needs, window, False) == may_match(needs, window)
    assert skipped > 100 and folded_docs >= 1


def test_a_restriction_window_test_narrowed_to_the_document_words_answers_as_the_full_test(core):  # noqa: F811
    from pipeline.stages.license import _Region, _WordIndex

    skipped = searched = 0
    for text in _texts(core):
        low = text.lower()
        region = _Region(low, [], core.matcher.n, _WordIndex(low), has_folds(low), core._rule_literals.found_in(low))
        for i in range(0, len(low), 150):
            window = low[i : i + 300]
            for r in core.restrictions:
                want = may_match(r.needs, window)
                assert region.may_find(r, window) == want, (r.id, window[:80])
                skipped += not want
                searched += want
    assert skipped > 1000 and searched > 100


def test_word_spans_are_the_spans_of_the_word_pattern(core):  # noqa: F811
    texts = [t.lower() for t in _texts(core)] + ["İstanbul 2024 x", "\u017fed ab12 ×9", "\ud800ab\udfffcd", "   ", "a"]
    words = 0
    for low in texts:
        spans = [(m.start(), m.end()) for m in _WORD.finditer(low)]
        starts, ends = word_spans(low)
        assert list(zip(starts, ends)) == spans, low[:80]
        words += len(spans)
    assert words > 10000


@pytest.mark.parametrize("span", ["the MIT License", "GNU General Public License v2 or later and the Apache License 2.0",
                                  "LGPLv2.1+", "nothing here at all", ""])
def test_cached_names_equal_the_uncached_search_and_belong_to_the_caller(core, span):  # noqa: F811
    core._names_cache.clear()
    want = core._find_names(span)
    first = core._names_in(span)
    assert first == want
    first.append("MUTATED")  # a caller changing its list leaves the cache as it was
    assert core._names_in(span) == want
    assert span in core._names_cache


def test_the_restrictions_left_out_for_a_document_pass_no_window_of_it(core):  # noqa: F811
    from pipeline.stages.license import _Region, _WordIndex

    left_out = 0
    for text in _texts(core):
        low = text.lower()
        region = _Region(low, [], core.matcher.n, _WordIndex(low), has_folds(low), core._rule_literals.found_in(low))
        possible = region.possible(core.restrictions)
        for r in core.restrictions:
            if r in possible:
                continue
            left_out += 1
            assert not any(may_match(r.needs, low[i : i + 300]) for i in range(0, len(low), 150)), r.id
            assert not may_match(r.needs, low)
    assert left_out > 100


def _expressions(core) -> list[str]:  # noqa: F811
    # what the stage finds on real texts, with declared-field values as users write them
    found = [core.analyse(t).expression for t in _texts(core)]
    return sorted({e for e in found if e}) + ["GPL-2.0+", "MIT/Apache-2.0", "Apache License 2.0", "not a license (x)",
                                              "MIT AND (", "BSD-3-Clause OR MIT", "gpl-3.0-or-later", "LicenseRef-x"]


def test_the_cached_expression_answers_equal_a_fresh_parse(core):  # noqa: F811
    from pipeline.compliance.spdx import SpdxNormalizer

    fresh = SpdxNormalizer(core.aliases)
    exprs = _expressions(core)
    assert len(exprs) > 15
    for _ in range(2):  # the second round is answered from the caches
        for e in exprs:
            assert core.normalizer.normalize(e) == fresh._normalize(e)
            assert core.normalizer.keys(e) == fresh._parsed_keys(e)
            for op in ("AND", "OR"):
                assert core.normalizer.combine([e, "MIT", e], op) == fresh._combine([e, "MIT", e], op)
        for a, b in zip(exprs, exprs[1:]):
            assert core.normalizer.combine([a, b], "OR") == fresh._combine([a, b], "OR")
    keys = core.normalizer.keys("MIT AND Apache-2.0")
    keys.append("MUTATED")  # callers get their own lists
    assert core.normalizer.keys("MIT AND Apache-2.0") == fresh._parsed_keys("MIT AND Apache-2.0")
    assert core.normalizer.normalize(None) == (None, [])


def test_the_cached_status_equals_the_policy_on_a_fresh_parse(core):  # noqa: F811
    policies = [core.policies.base, *(pol for _, _, pol in core.policies.overrides)]
    statuses = set()
    for _ in range(2):
        for e in _expressions(core):
            for pol in policies:
                try:
                    want = pol.status(core.normalizer._licensing.parse(e, validate=False))
                except Exception:  # noqa: BLE001 - as the stage: the default status
                    want = pol.default_status
                assert core._status(pol, e) == want, e
                statuses.add(want)
    assert len(statuses) >= 2


def test_run_edges_equal_the_diff_of_the_padded_mask(core):  # noqa: F811
    import numpy as np

    from pipeline.compliance.spdx import run_edges

    rng = np.random.default_rng(7)
    masks = [np.zeros(0, dtype=bool), np.ones(1, dtype=bool), np.zeros(5, dtype=bool), np.ones(9, dtype=bool)]
    masks += [rng.random(n) < p for n in (1, 2, 17, 300) for p in (0.1, 0.5, 0.9)]
    # real masks: which words of Debian's GPL text the matcher's kept matches leave uncovered
    from license_support import _common
    from pipeline.stages.license import _Region, _WordIndex

    for name in ("GPL-2", "Apache-2.0", "MPL-1.1"):
        low = (_common(name) + "\nThis program may not be used for commercial purposes.\n").lower()
        region = _Region(low, core.matcher.match(low), core.matcher.n, _WordIndex(low), False, set())
        masks.append(~region.covered)
        assert region.uncovered_runs(0, region.size)  # the added sentence at least
    for mask in masks:
        want = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
        assert np.array_equal(run_edges(mask), want)


# -- rules tried only where a match can start (literals.prefix_literals / PrefixSearch) -----------------

def _all_rules(core):  # noqa: F811
    yield from ((f"declaration {d.id}", d.regex) for d in core.declarations)
    yield from ((f"restriction {r.id}", r.wording) for r in core.restrictions)
    yield from ((f"pointer {i}", p) for i, p in enumerate(core.pointer_notices))
    yield from ((f"copyright {p.id}", p.regex) for p in core.copyright.patterns)


def test_every_match_starts_with_one_of_the_prefixes_read_off_the_pattern(core):  # noqa: F811
    from pipeline.compliance.literals import prefix_literals

    texts = _texts(core)
    checked = 0
    for name, rule in _all_rules(core):
        prefixes = prefix_literals(rule.pattern)
        if prefixes is None:
            continue
        for text in texts:
            low = text.lower()
            if len(low) != len(text):
                continue
            for m in rule.finditer(text):
                assert low.startswith(prefixes, m.start()), (name, m.group(0)[:60])
                checked += 1
    assert checked > 100


def test_the_prefixes_are_the_rule_wording_a_reader_sees(core):  # noqa: F811
    from pipeline.compliance.literals import prefix_literals

    starts = {d.id: d.starts for d in core.declarations}
    # read off rules/licenses.yaml by hand
    assert starts["licensed_under"].prefixes == ("available", "dedicated", "distributed", "licen", "made available",
                                                 "modify", "offered", "placed", "provided", "published", "released")
    assert starts["cc_name"].prefixes == ("cc", "creative")
    assert starts["short_reference"] is None  # starts with an optional "GNU": no fixed start
    assert starts["gnu_url"] is None  # one leading literal: the regex module's own scan is fast there
    assert prefix_literals(r"\b(?:ab|cd)x") == ("ab", "cd")
    assert prefix_literals(r"(?<=x)(?=a)abc") == ("abc",)
    assert prefix_literals(r"(?:ab)?cd") is None and prefix_literals(r"a[bc]d") is None  # optional / one char
    assert prefix_literals(r"a(?:bc)d") == ("abcd",)  # a plain group is part of the run
    assert prefix_literals(r"(?:ab|c)d") is None and prefix_literals(r"\w+ab") is None
    assert prefix_literals(r"(?i:ab|cd)e") is None  # scoped flags: not read
    assert prefix_literals(r"(?:ab){e<=1}") is None  # fuzzy matching (regex only)


def _crafted() -> list[str]:
    return [
        "unlicensed under MIT; relicensed under the GPL; Licensed under the Apache License 2.0.\n",
        "Released under the MIT license.Released under the BSD license. made available under CC-BY 4.0",
        "## License: MIT\n   License: Apache-2.0\nmy license: none here\n* licence : GPL-3.0-or-later\n",
        "CC BY-SA 4.0 and Creative Commons Attribution 4.0 International, xcc by 3.0, CC-BY-NC 2.0",
        "LICENSED UNDER THE MIT LICENSE " * 30,
        "L\u0130CENSED UNDER THE MIT LICENSE, licensed under the GPL",  # lower() is longer: plain search
        "Licen\u017fed under the MIT License, distributed under the BSD",  # long s: folded, plain search
        "a\ud800 licensed under the MIT License",  # a lone surrogate: plain search
        "", "licen", "provided provided provided under",
    ]


def test_a_declaration_tried_only_where_it_can_start_finds_what_its_plain_search_finds(core):  # noqa: F811
    texts = _texts(core) + _crafted()
    fast = found = 0
    for d in core.declarations:
        if d.starts is None:
            continue
        for text in texts:
            low = text.lower()
            folded = has_folds(low)
            got = [(m.span(), m.groupdict()) for m in d.finditer(text, low, folded)]
            want = [(m.span(), m.groupdict()) for m in d.regex.finditer(text)]
            assert got == want, (d.id, text[:80])
            fast += len(low) == len(text) and not folded
            found += len(want)
    assert fast > 1000 and found > 50


def test_the_time_limit_holds_for_all_the_starts_together():
    import time

    import regex

    from pipeline.compliance.literals import prefix_search
    from pipeline.saferegex import RuleTimeout, compile_rule

    rule = compile_rule("test.slow", r"(?:ab|cd)(a|aa)+$", regex.I, timeout=0.2)
    starts = prefix_search(rule)
    assert starts is not None
    text = ("ab" + "a" * 40 + "!") * 60  # every start backtracks long: 60 limits would be 12 s
    began = time.monotonic()
    with pytest.raises(RuleTimeout) as err:
        starts.finditer(text, text.lower(), False)
    assert err.value.rule == "test.slow"
    assert time.monotonic() - began < 3  # one limit for the whole search, not one per start


def test_word_ids_are_the_vocabulary_ids_of_the_tokenised_words(core, monkeypatch):  # noqa: F811
    """:class:`WordIds` (packed words looked up in one vectorised pass, alone or for many texts
    at once) gives ``vocab.get(word, 0)`` for every word ``tokenize`` finds, on real texts and
    on words at and past the packed length, digits, folding characters and a lone surrogate."""
    from itertools import repeat

    import numpy as np

    from pipeline.compliance import spdx

    word_ids = core.matcher.word_ids
    vocab = core.matcher.vocab
    long_words = sorted((w for w in vocab if len(w) > spdx._PACKED_CHARS), key=len)[:5]
    edge_words = [w for w in vocab if len(w) == spdx._PACKED_CHARS][:5] + long_words + [w[:-1] for w in long_words]
    texts = [t.lower() for t in _texts(core)] + [
        " ".join(edge_words), "-".join(edge_words) + "zz", "gpl2 v2.0 \u212aelvin licen\u017fe x\ud800y 0000000000000 zzzzzzzzzzzzz",
        "aaaaaaaaaaaa aaaaaaaaaaaaa 999999999999 9999999999999 a0 0a", "\n\n", ""]

    def plain(low: str) -> np.ndarray:
        return np.fromiter(map(vocab.get, spdx.tokenize(low), repeat(0)), dtype=np.uint64)

    expected = [plain(low) for low in texts]
    assert sum(int((ids > 0).sum()) for ids in expected) > 10000 and any((ids == 0).any() for ids in expected)
    assert all(np.array_equal(word_ids(low), want) for low, want in zip(texts, expected))
    assert all(np.array_equal(got, want) for got, want in zip(word_ids.batch(texts), expected))
    monkeypatch.setattr(spdx, "_BATCH_CHARS", 3000)  # runs of a few texts, a longer text alone
    assert all(np.array_equal(got, want) for got, want in zip(word_ids.batch(texts), expected))


def test_a_batch_is_judged_as_its_records_one_by_one(core):  # noqa: F811
    """``process_batch`` (words of all texts looked up together) gives the records and verdicts
    ``process`` gives record by record."""
    from pipeline.records import new_record

    texts = _texts(core)
    one = [new_record(source_uri="t", record_index=i, text=t) for i, t in enumerate(texts)]
    many = [dict(r) for r in one]
    single = [core.process(r) for r in one]
    batched = core.process_batch(many)
    assert [(v.action, v.reason, v.detail) for v in batched] == [(v.action, v.reason, v.detail) for v in single]
    assert many == one
    assert sum(v.detail is not None and "found" in v.detail for v in single) > 10


def test_word_ids_of_a_text_longer_than_a_run_keep_no_table_of_its_size(core, monkeypatch):  # noqa: F811
    from itertools import repeat

    import numpy as np

    from pipeline.compliance import spdx

    monkeypatch.setattr(spdx, "_BATCH_CHARS", 64)
    word_ids = spdx.WordIds(core.matcher.vocab)
    text = " ".join(["the gnu general public license version 2 or any later version"] * 40)
    want = np.fromiter(map(core.matcher.vocab.get, spdx.tokenize(text), repeat(0)), dtype=np.uint64)
    assert np.array_equal(word_ids(text), want) and (want > 0).all()
    assert len(word_ids._powers[0]) <= 65
    assert np.array_equal(word_ids("short text gpl"), np.fromiter(map(core.matcher.vocab.get, ["short", "text", "gpl"], repeat(0)), dtype=np.uint64))


def test_packed_words_are_the_base_37_numbers_of_their_characters(core):  # noqa: F811
    """The oracle: Python integers, digit × 37**offset with a-z = 1…26, 0-9 = 27…36."""
    import numpy as np

    from pipeline.compliance import spdx

    digit = {c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789")}
    words = ["a", "z9", "gpl", "zzzzzzzzzzzz", "999999999999", "license", "a0b1c2d3e4f5"]
    want = [sum(digit[c] * 37**k for k, c in enumerate(w)) for w in words]
    assert max(want) < 2**64
    word_ids = core.matcher.word_ids
    cps, starts, ends = spdx.word_bounds(" ".join(words))
    assert word_ids._packed(cps, starts, ends).tolist() == want
    vocab_short = sorted(i for w, i in core.matcher.vocab.items() if len(w) <= spdx._PACKED_CHARS and w.isalnum() and w.isascii())
    assert sorted(word_ids.ids.tolist()) == vocab_short and np.all(np.diff(word_ids.keys.astype(object)) > 0)


def test_the_cached_refinement_test_equals_its_search(core):  # noqa: F811
    exprs = _expressions(core) + ["GFDL-1.3-or-later", "GFDL-1.2-only", "CC-BY-4.0", "GPL-2.0-only"]
    assert core.refinements
    hits = 0
    for _ in range(2):  # the second round is answered from the cache
        for k, r in enumerate(core.refinements):
            for e in exprs:
                want = r.ids.search(e) is not None
                assert core._refines(k, e) == want, (r.id, e)
                hits += want
    assert hits > 0
