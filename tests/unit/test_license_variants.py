"""Stage `license`: a permissive text with material of its own never leaves with the permissive label.

The oracle is the construction of each case: a real license text (Debian's common-licenses, the MIT
text) with a clause written here inserted, changed or removed. Whatever the clause, the result must
not be the base license's id; with a restriction it is the restricted-variant id, and the policy
sends it to review. Unchanged texts (with copyright and author lines) keep their plain id.
"""
from __future__ import annotations

import shutil

import pytest
import yaml

from pipeline.config import load_config
from pipeline.stages.license import LicenseDetector, is_variant_id, variant_id
from tests.unit.license_support import REPO, _common, _core, core, rec  # noqa: F401 - core is a fixture


MIT_GRANT = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    'associated documentation files (the "Software"), to deal in the Software without restriction, including '
    "without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell "
    "copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the "
    "following conditions:\n\n"
)
MIT_CONDITION = "The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.\n\n"
MIT_DISCLAIMER = (
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT '
    "LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO "
    "EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER "
    "IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR "
    "THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n"
)
MIT = "Copyright (c) 2023 Mira Okafor\n\n" + MIT_GRANT + MIT_CONDITION + MIT_DISCLAIMER

# one clause per failure class, in this file's own words
RESTRICTIONS = {
    "non_commercial": "The Software is not to be used for commercial purposes of any kind.",
    "field_of_use": "You agree not to use the Software in the operation of nuclear plants or military systems.",
    "proprietary": "This Software is proprietary to Lumen Works and contains its trade secrets.",
    "no_redistribution": "Copies of the Software may not be redistributed to third parties.",
    "use_limited": "The Software may only be used together with hosted services sold by Lumen Works.",
    "permission_required": "Any use beyond evaluation requires you to first obtain a paid license key from the author.",
}


def _bsd() -> str:
    return "Copyright (c) 2019 The Regents of Somewhere. All rights reserved.\n\n" + _common("BSD").split("\n", 2)[-1]


# ScanCode's rules name some restricting wordings themselves ("not to be used for commercial purposes",
# a "with restriction" MIT text): the license's id then comes with that restricted id, never alone
PROPRIETARY = "LicenseRef-scancode-proprietary-license"


def _restricted_label(expr: str, spdx: str) -> bool:
    return expr == variant_id(spdx, restricted=True) or set(expr.split(" AND ")) <= {spdx, PROPRIETARY} and PROPRIETARY in expr


def _insertions(base: str, clause: str) -> list[str]:
    """``clause`` before the text, after the conditions (inside it), and after the text."""
    paras = base.split("\n\n")
    middle = "\n\n".join(paras[: len(paras) // 2 + 1] + [clause] + paras[len(paras) // 2 + 1 :])
    return [clause + "\n\n" + base, middle, base + "\n" + clause + "\n"]


def test_unchanged_texts_keep_their_plain_id(core):
    assert core.analyse(MIT).expression == "MIT"
    assert core.analyse(_bsd()).expression == "BSD-3-Clause"
    # a derived-from / author line between copyright and grant is not material of the license
    bsd = _bsd().replace("All rights reserved.\n", "All rights reserved.\n\nThis code is derived from software "
                                                   "contributed to the Somewhere project by Ana Lima and Bo Chen.\n")
    assert core.analyse(bsd).expression == "BSD-3-Clause"


@pytest.mark.parametrize("restriction", sorted(RESTRICTIONS))
@pytest.mark.parametrize("base, spdx", [("MIT", "MIT"), ("BSD", "BSD-3-Clause"), ("Apache-2.0", "Apache-2.0")])
def test_a_restriction_clause_never_leaves_with_the_permissive_label(core, base, spdx, restriction):
    text = MIT if base == "MIT" else _bsd() if base == "BSD" else _common("Apache-2.0")
    for doc in _insertions(text, RESTRICTIONS[restriction]):
        f = core.analyse(doc)
        assert _restricted_label(f.expression, spdx), (restriction, f.expression)
        if f.expression == variant_id(spdx, restricted=True):
            assert restriction in f.restrictions and f.variant_of == [spdx]
        v = core.process(rec(doc))
        assert (v.action, v.reason) == ("quarantine", "license_review")
        assert v.detail["status"] == "review"


@pytest.mark.parametrize(
    "base, old, new",
    [
        ("BSD", "are permitted provided", "are not permitted provided"),
        ("MIT", "hereby granted", "hereby restricted"),
        ("MIT", "without restriction, including without limitation", "with restriction, including with limitation"),
    ],
)
def test_a_grant_turned_into_its_opposite_is_a_restricted_variant(core, base, old, new):
    text = MIT if base == "MIT" else _bsd()
    assert old in text
    f = core.analyse(text.replace(old, new))
    spdx = "MIT" if base == "MIT" else "BSD-3-Clause"
    assert _restricted_label(f.expression, spdx), f.expression
    if f.expression == variant_id(spdx, restricted=True):
        assert "changed_grant" in f.restrictions


def test_a_declaration_next_to_a_restriction_is_a_restricted_variant(core):
    f = core.analyse("This library is licensed under the MIT License. Commercial use is prohibited without a separate agreement.")
    assert f.expression == variant_id("MIT", restricted=True)
    # the declaration's own words are the name, not a restriction: a CC NC declaration stays itself
    assert core.analyse("Photos: licensed under CC BY-NC 4.0.").expression == "CC-BY-NC-4.0"


def test_an_added_clause_without_a_restriction_is_a_variant_for_review(core):
    clause = ("Any scientific publication that reports results obtained with the Software shall cite the "
              "accompanying paper by the authors in its list of references.")
    f = core.analyse("Copyright (c) 2023 Mira Okafor\n\n" + MIT_GRANT + MIT_CONDITION + clause + "\n\n" + MIT_DISCLAIMER)
    assert f.expression == variant_id("MIT", restricted=False)
    assert f.restrictions == []
    v = core.process(rec("Copyright (c) 2023 Mira Okafor\n\n" + MIT_GRANT + MIT_CONDITION + clause + "\n\n" + MIT_DISCLAIMER))
    assert (v.reason, v.detail["status"], v.detail["variant_of"]) == ("license_review", "review", ["MIT"])
    assert "cite" not in str(v.detail)  # ids only, no words of the document


def test_a_text_missing_one_of_its_clauses_is_a_variant(core):
    bsd = _bsd()
    start = bsd.index("2. Redistributions in binary form")
    end = bsd.index("3. ")
    f = core.analyse(bsd[:start] + bsd[end:])
    assert f.expression == variant_id("BSD-3-Clause", restricted=False)


def test_variant_ids_are_valid_spdx_license_refs(core):
    for spdx in ("MIT", "LicenseRef-scancode-public-domain", "BSD-3-Clause OR LGPL-2.0-or-later"):
        vid = variant_id(spdx, restricted=True)
        assert is_variant_id(vid) and vid.startswith("LicenseRef-curate-")
        expr, bad = core.normalizer.normalize(vid)
        assert expr == vid and " " not in vid


def test_restriction_phrases_are_data(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    data = yaml.safe_load((rules / "licenses.yaml").read_text(encoding="utf-8"))
    data["restrictions"].append({"id": "no_robots", "wording": r"\bno\s+robots\b"})
    (rules / "licenses.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    text = MIT + "\nNo robots.\n"
    default = LicenseDetector(load_config())
    default.setup()
    assert default.analyse(text).expression == "MIT"
    f = _core(rules_dir=rules).analyse(text)
    assert f.expression == variant_id("MIT", restricted=True) and f.restrictions == ["no_robots"]


def test_all_densest_spans_at_once_equal_the_one_by_one_ones():
    """The matcher's one-pass span finder against its one-reference-at-a-time original (the oracle)."""
    import numpy as np

    from pipeline.compliance.spdx import LicenseMatcher, _densest_spans

    rng = np.random.default_rng(7)
    for _ in range(500):
        sizes = rng.integers(1, 400, size=12)
        refs = np.sort(rng.choice(12, size=int(rng.integers(1, 7)), replace=False))
        pair_ref, pair_pos = [], []
        for r in refs:
            pos = np.sort(rng.choice(3000, size=int(rng.integers(1, 40)), replace=False))
            pair_ref += [int(r)] * len(pos)
            pair_pos += pos.tolist()
        pair_ref, pair_pos = np.array(pair_ref), np.array(pair_pos)
        seg_start = np.r_[0, np.nonzero(np.diff(pair_ref))[0] + 1]
        seg_end = np.r_[seg_start[1:], len(pair_ref)]
        first, last = _densest_spans(pair_ref, pair_pos, seg_start, sizes)
        for k, (a, b) in enumerate(zip(seg_start, seg_end)):
            assert (int(first[k]), int(last[k])) == LicenseMatcher._densest_span(pair_pos[a:b], int(sizes[pair_ref[a]]))
