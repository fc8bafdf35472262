"""The license matcher's compiled path (pipeline/compliance/kernels.py) against its NumPy reference
path, on real license texts: every finding equal, field by field (span, counts, coverage, the
document positions it covers, missing words). Texts: Debian's /usr/share/common-licenses, the
project's own license cases (tests/data/license) and texts built from them for each path the
matcher has (a notice above a full text, a truncated copy, a changed clause, two licenses)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.compliance.spdx import LicenseMatcher, index_bytes
from pipeline.config import load_config
from pipeline.stages.license import _load_yaml

from license_support import COMMON, REPO, _common

DATA = REPO / "tests" / "data" / "license"
_GPL2_NOTICE = (
    "This program is free software; you can redistribute it and/or modify it under the terms of the GNU "
    "General Public License as published by the Free Software Foundation; either version 2 of the License, "
    "or (at your option) any later version.\n\n"
)


def _matchers():
    cfg = load_config()
    matching = _load_yaml(cfg.rule_file("licenses.yaml")).get("matching") or {}
    refs = cfg.rule_file("license_refs.json.zst")
    return LicenseMatcher(refs, matching, fast=True), LicenseMatcher(refs, matching, fast=False)


@pytest.fixture(scope="module")
def matchers():
    return _matchers()


def _texts() -> dict[str, str]:
    names = sorted(p.name for p in COMMON.iterdir() if p.is_file() and not p.is_symlink())
    assert len(names) >= 10, f"{COMMON}: Debian's license texts are missing (package base-files)"
    texts = {f"common/{n}": _common(n) for n in names}
    for f in sorted(DATA.glob("*.jsonl")):
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            texts[f"{f.stem}/{i}"] = json.loads(line)["text"]
    gpl2, gpl3, apache = _common("GPL-2"), _common("GPL-3"), _common("Apache-2.0")
    texts["built/notice-above-gpl2"] = _GPL2_NOTICE + gpl2
    texts["built/gpl3-first-half"] = gpl3[: len(gpl3) // 2]
    texts["built/gpl3-last-third"] = gpl3[2 * len(gpl3) // 3 :]
    middle = len(apache) // 2
    texts["built/apache-clause-changed"] = apache[:middle] + " You may not use the Work for any commercial purpose. " + apache[middle + 400 :]
    texts["built/mit-and-bsd"] = _common("BSD") + "\n\n" + _common("MPL-2.0")[:3000]
    texts["built/gpl2-twice"] = gpl2 + "\n" + gpl2
    texts["built/no-license"] = "A plain paragraph about building the package from source with make and a C compiler."
    return texts


def _fields(m) -> tuple:
    return (m.expr, m.kind, m.start, m.end, m.matched, m.coverage, m.ref, m.repeated, m.covered.tolist(),
            m.missing_words, m.ref_words)


def test_compiled_path_finds_exactly_what_the_numpy_reference_finds(matchers):
    fast, reference = matchers
    assert fast._count is not reference._count  # two different paths are compared
    texts = _texts()
    found = 0
    for name, text in texts.items():
        got = [_fields(m) for m in fast.match(text)]
        want = [_fields(m) for m in reference.match(text)]
        assert got == want, name
        found += bool(want)
    assert found >= len(texts) // 2  # most of these texts are licenses: the comparison is not of empty lists


def test_the_paths_agree_on_labels_a_reader_can_check(matchers):
    # independent of both paths: what Debian's files are, read off their titles
    fast, _ = matchers
    assert any(m.expr.startswith("GPL-2.0") and m.kind == "text" for m in fast.match(_common("GPL-2")))
    assert any(m.expr == "Apache-2.0" and m.kind == "text" for m in fast.match(_common("Apache-2.0")))
    assert any(m.expr.startswith("MPL-2.0") for m in fast.match(_common("MPL-2.0")))
    assert fast.match(_texts()["built/no-license"]) == []


def test_counting_kernels_equal_their_numpy_references_on_postings_of_real_texts(matchers):
    from pipeline.compliance import kernels
    from pipeline.compliance.spdx import count_postings_numpy, select_postings_numpy

    fast, _ = matchers
    for text in (_common("GPL-3"), _GPL2_NOTICE + _common("LGPL-2.1")):
        ids = np.array([fast.vocab.get(t, 0) for t in text.lower().split()], dtype=np.uint64)
        uniq, first = np.unique(fast._grams(ids), return_index=True)
        slots = np.searchsorted(fast.gram_keys, uniq)
        np.minimum(slots, len(fast.gram_keys) - 1, out=slots)
        slots[fast.gram_keys[slots] != uniq] = -1
        assert np.array_equal(kernels.find_slots(uniq, fast.gram_keys, fast.bucket_starts), slots) and (slots >= 0).any()
        args = (slots, fast.gram_starts, fast.post_refs)
        counts = kernels.count_postings(*args, len(fast.ref_sizes))
        assert np.array_equal(counts, count_postings_numpy(*args, len(fast.ref_sizes))) and counts.sum() > 0
        ok = counts >= np.median(counts[counts > 0])
        got = kernels.select_postings(*args, ok, counts, first.astype(np.int64))
        want = select_postings_numpy(*args, ok, counts, first.astype(np.int64))
        assert len(got[0]) > 0 and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_rebuilding_the_index_gives_the_same_bytes(matchers):
    import zstandard

    from pipeline.compliance.spdx import _index_cache_path

    fast, _ = matchers
    raw = Path(load_config().rule_file("license_refs.json.zst")).read_bytes()
    data = json.loads(zstandard.ZstdDecompressor().decompress(raw))
    once = index_bytes(fast._build_index(data))
    cached = _index_cache_path(raw, fast.n)  # what the matchers above loaded (or wrote)
    again = cached.read_bytes() if cached is not None and cached.is_file() else index_bytes(fast._build_index(data))
    assert once == again and len(once) > 1_000_000


def test_an_index_file_whose_rows_point_outside_its_arrays_is_rebuilt_not_used(matchers, tmp_path, monkeypatch):
    # the compiled loops read without bounds checks: a damaged file (a valid header, a reference
    # number past the last reference) must be rebuilt, never walked
    import zstandard

    from pipeline.compliance.spdx import _index_cache_path

    fast, _ = matchers
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CURATE_NO_INDEX_CACHE", raising=False)
    refs = load_config().rule_file("license_refs.json.zst")
    raw = Path(refs).read_bytes()
    meta, arrays = fast._build_index(json.loads(zstandard.ZstdDecompressor().decompress(raw)))
    path = _index_cache_path(raw, fast.n)
    path.parent.mkdir(parents=True)
    path.write_bytes(index_bytes((meta, dict(arrays, post_refs=np.full_like(arrays["post_refs"], len(meta["exprs"]))))))
    rebuilt = LicenseMatcher(refs, {}, fast=True)
    assert int(rebuilt.post_refs.max()) < len(rebuilt.exprs)
    assert path.read_bytes() == index_bytes((meta, arrays))  # replaced by the good one


def test_resolving_from_arrays_keeps_exactly_what_resolving_every_candidate_keeps(matchers):
    # _resolve_candidates builds a Match only for a candidate that may be kept; _resolve (reference=True)
    # decides every candidate. Full texts (hundreds of candidates inside them), a notice above a text,
    # a text twice (repeated notices that may stand alone), two licenses, a changed clause.
    fast, _ = matchers
    texts = _texts()
    gpl2 = _common("GPL-2")
    texts["built/lgpl-notice-inside-gpl2"] = gpl2[:5000] + "\n\n" + _GPL2_NOTICE.replace("General", "Lesser General") + gpl2[5000:]
    texts["built/notice-twice-no-text"] = _GPL2_NOTICE * 2
    with_many = 0
    for name, text in texts.items():
        got = [_fields(m) for m in fast.match(text)]
        want = [_fields(m) for m in fast.match(text, reference=True)]
        assert got == want, name
        with_many += len(want) >= 2
    assert with_many >= 3  # overlap resolution had choices to make, not only single findings
