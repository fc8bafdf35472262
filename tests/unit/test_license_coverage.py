"""Coverage of the widened reference set (every ScanCode license, all categories, with its rules):
one case per class of text it newly names, in this file's own words, and the matcher conditions that
keep the wider set from naming a common text as a rarer relative."""
from __future__ import annotations

import json

import zstandard

from pipeline.compliance.spdx import LicenseMatcher
from pipeline.stages.license import UNKNOWN_SPDX
from tests.unit.license_support import REPO, core, rec  # noqa: F401 - core is a fixture

PROPRIETARY = "LicenseRef-scancode-proprietary-license"


def test_a_proprietary_notice_is_named_as_itself_and_goes_to_review(core):
    # the well-known "unauthorized copying ... prohibited" header: before the widening it left unlabelled
    text = "/* Unauthorized copying of this file, via any medium, is strictly prohibited.\n * Proprietary and confidential. */"
    assert core.analyse(text).expression == PROPRIETARY
    v = core.process(rec(text))
    assert (v.action, v.reason, v.detail["status"]) == ("quarantine", "license_review", "review")


def test_a_license_of_a_widened_category_is_named_by_its_notice(core):
    text = ("Kai Moreno's toolkit. This program is free software. It comes without any warranty, to the extent "
            "permitted by applicable law. You can redistribute it and/or modify it under the terms of the Do What "
            "The Fuck You Want To Public License, Version 2, as published by Sam Hocevar.")
    assert core.analyse(text).expression == "WTFPL"


def test_an_spdx_identifier_naming_no_known_license_is_reviewed_not_ignored(core):
    for line in ("# SPDX-License-Identifier: LicenseRef-Zorbex-Internal", "// SPDX-License-Identifier: {a license} WITH X"):
        f = core.analyse(line + "\nprint('hello')\n")
        assert f.expression == UNKNOWN_SPDX and f.unknown
        v = core.process(rec(line))
        assert (v.action, v.reason) == ("quarantine", "license_review")
    # next to a permissive identifier the unknown part still keeps the record from "allowed"
    v = core.process(rec("SPDX-License-Identifier: MIT\nSPDX-License-Identifier: LicenseRef-Zorbex-Internal"))
    assert v.detail["status"] == "review"


def test_a_truncated_mit_grant_stays_mit_next_to_negated_relatives(core):
    # ScanCode has proprietary texts that are the MIT text with "NOT granted" / "with restriction": the
    # plain grant without its disclaimer shares most of their words but is MIT
    grant = ("Copyright (c) 2022 Ines Laine\n\nPermission is hereby granted, free of charge, to any person obtaining "
             "a copy of this software and associated documentation files (the \"Software\"), to deal in the Software "
             "without restriction, including without limitation the rights to use, copy, modify, merge, publish, "
             "distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software "
             "is furnished to do so, subject to the following conditions:\n\nThe above copyright notice and this "
             "permission notice shall be included in all copies or substantial portions of the Software.\n")
    assert core.analyse(grant).expression == "MIT"
    negated = grant.replace("is hereby granted, free of charge,", "is hereby NOT granted")
    assert core.process(rec(negated)).detail["status"] != "allowed"


def _refs(tmp_path, refs: list[dict]):
    path = tmp_path / "refs.json.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(json.dumps({"refs": refs, "aliases": {}}).encode()))
    return path


WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def test_a_required_phrase_must_be_there(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_NO_INDEX_CACHE", "1")
    body = " ".join(WORDS + [f"{w}2" for w in WORDS] + [f"{w}3" for w in WORDS])  # long: one changed word keeps 85 %
    m = LicenseMatcher(_refs(tmp_path, [{"expr": "X-1", "kind": "notice", "text": body, "required": ["golf hotel"]}]), {})
    assert [x.expr for x in m.match(body)] == ["X-1"]
    assert m.match(body.replace("golf hotel", "golf zulu hotel")) == []


def test_minimum_coverage_and_whole_only_texts(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_NO_INDEX_CACHE", "1")
    long_text = " ".join(f"{w}{i}" for i in range(10) for w in WORDS)  # 160 distinct words
    half = " ".join(long_text.split()[:80])
    part = {"expr": "P-1", "kind": "text", "text": long_text}
    assert [x.expr for x in LicenseMatcher(_refs(tmp_path, [part]), {}).match(half)] == ["P-1"]  # a partial copy counts
    for extra in ({"partial": False}, {"min_coverage": 0.9}):
        assert LicenseMatcher(_refs(tmp_path, [{**part, **extra}]), {}).match(half) == []
        assert [x.expr for x in LicenseMatcher(_refs(tmp_path, [{**part, **extra}]), {}).match(long_text)] == ["P-1"]


def test_a_notice_repeated_only_inside_its_text_is_part_of_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_NO_INDEX_CACHE", "1")
    clause = "this product includes software written by the quill project for use in the quill kit and its tools"
    text = " ".join(WORDS[:8]) + " " + clause + " " + " ".join(WORDS[8:]) + " " + clause + " end of terms"
    # one license's full text and its notice (a notice counts on its own only beside its own license's text)
    refs = [{"expr": "Quill", "kind": "text", "text": text}, {"expr": "Quill", "kind": "notice", "text": clause}]
    m = LicenseMatcher(_refs(tmp_path, refs), {})
    assert [(x.expr, x.kind) for x in m.match(text)] == [("Quill", "text")]
    # the same notice standing once more outside the text is a notice of its own
    assert sorted((x.expr, x.kind) for x in m.match(clause + " file header " + text)) == [("Quill", "notice"), ("Quill", "text")]


def test_reference_set_covers_every_category_under_its_own_ids():
    data = json.loads(zstandard.ZstdDecompressor().decompress((REPO / "rules" / "license_refs.json.zst").read_bytes()))
    exprs = {r["expr"] for r in data["refs"] if r["kind"] in ("notice", "reference")}
    # a notice or name of a commercial, patent, CLA, proprietary-free and unstated license each
    for spdx in (PROPRIETARY, "LicenseRef-scancode-google-patent-license-golang", "LicenseRef-scancode-generic-cla",
                 "LicenseRef-scancode-free-unknown", "WTFPL", "NCSA"):
        assert spdx in exprs, spdx


def test_a_notice_cut_short_still_names_its_license_under_the_shipped_threshold(tmp_path, monkeypatch):
    """A notice whose last lines were edited away (a quarter of its 4-grams missing) is still that
    notice under rules/licenses.yaml's matching settings; one missing most of its words is not."""
    import yaml

    monkeypatch.setenv("CURATE_NO_INDEX_CACHE", "1")
    matching = yaml.safe_load((REPO / "rules" / "licenses.yaml").read_text(encoding="utf-8"))["matching"]
    words = [f"w{i}x" for i in range(41)]  # 41 distinct words: 38 distinct 4-grams
    refs = [{"expr": "Quill", "kind": "notice", "text": " ".join(words)}]
    m = LicenseMatcher(_refs(tmp_path, refs), matching)
    kept = 32  # 29 of 38 4-grams (0.76)
    assert [x.expr for x in m.match("header " + " ".join(words[:kept]) + " unrelated closing words here")] == ["Quill"]
    assert m.match("header " + " ".join(words[:24]) + " unrelated closing words here") == []  # 21 of 38 (0.55)
