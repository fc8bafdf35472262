"""Fast paths of the dedup stage equal their references on real text: the whitespace collapse of the
exact key (``" ".join(text.split())``) and the signature rows built as one Arrow batch (one dict per
kept record, its signature a list of ints, converted by the shard writer's ``rows_to_batch``)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline.io.shards import rows_to_batch
from pipeline.minhash import MinHasher, normalize
from pipeline.minhash.shingles import collapse_whitespace, exact_key_of_normalized, nfkc
from pipeline.stages.dedup.transform import signature_batch
from tests.unit import test_minhash, test_minhash_batch  # real documents (module imports: their tests are not collected twice)

EVERY_SPACE = [ch for ch in map(chr, range(0x110000)) if ch.isspace()]


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str | None]]:
    """Real English, Korean, Japanese and Chinese documents, with whitespace of every kind planted."""
    items: list[tuple[str, str | None]] = [(d, "en") for d in test_minhash._real_docs(40)]
    for lang, code in (("ko", "ko"), ("ja", "ja"), ("zh_CN", "zh")):
        items += [(d, code) for d in test_minhash_batch._catalog_paragraphs(lang, 20)]
    rng = random.Random(5)
    planted = []
    for text, lang in items[::3]:  # runs of mixed whitespace, at the ends and inside
        cuts = sorted(rng.randrange(len(text) + 1) for _ in range(6))
        parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        spaces = ["".join(rng.choice(EVERY_SPACE) for _ in range(rng.randrange(1, 9))) for _ in parts]
        planted.append(("".join(s + p for s, p in zip(spaces, parts)) + spaces[0], lang))
    edge = ["", " ", "   ", "\u3000x\u3000\u3000y\u3000", "a  b", "\x1c\x1d\x1e\x1fz", "\x85\xa0\u2028\u2029", "x" + " " * 33 + "y"]
    return items + planted + [(e, None) for e in edge]


def test_every_whitespace_character_is_at_most_u3000():
    assert max(map(ord, EVERY_SPACE)) == 0x3000  # what _OTHER_SPACES relies on


def test_collapse_whitespace_equals_split_and_join(texts):
    for text, _ in texts:
        for form in (text, normalize(text)):
            assert collapse_whitespace(form) == " ".join(form.split())
    for ch in EVERY_SPACE:
        assert collapse_whitespace(f"{ch}a{ch}{ch}b{ch}") == "a b"


def test_nfkc_line_by_line_equals_nfkc_of_the_whole_text(texts):
    import unicodedata

    # combining marks, jamo, compatibility forms and Hangul around line breaks, where a wrong
    # split would compose or reorder differently
    tricky = ["e\n\u0301x", "\u1100\n\u1161", "\u1100\u1161\n\uff21\ufb01", "a\u0323\u0307\nb\u0307\u0323", "\n\u0301", "\u2460\n\n\u3000"]
    for text in [t for t, _ in texts] + tricky + [t.replace(" ", "\n\u0301", 3) for t, _ in texts[::4]]:
        assert nfkc(text) == unicodedata.normalize("NFKC", text)
    assert normalize("ＡＢ\nＣ") == unicodedata.normalize("NFKC", "ＡＢ\nＣ").casefold() == "ab\nc"


def test_exact_key_is_blake2b_of_the_collapsed_text(texts):
    import hashlib

    for text, _ in texts:
        norm = normalize(text)
        assert exact_key_of_normalized(norm) == hashlib.blake2b(" ".join(norm.split()).encode("utf-8"), digest_size=16).hexdigest()


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signature_batch_equals_the_row_dicts(texts, scheme):
    hasher = MinHasher(scheme=scheme)
    sigs = hasher.signatures([t for t, _ in texts], [lang for _, lang in texts])
    signed, rows = [], []
    for i, (text, lang) in enumerate(texts):
        sig = None if i % 5 == 0 else sigs[i].tobytes()  # dedup.near off: no signature
        key = exact_key_of_normalized(normalize(text))
        signed.append((f"doc{i:04d}", key, sig, lang))
        rows.append({
            "doc_id": f"doc{i:04d}", "exact_hash": key, "lang": lang, "run_id": "run-1",
            "minhash": None if sig is None else np.frombuffer(sig, dtype=hasher.dtype).tolist(),
        })
    got = signature_batch(signed, "run-1", np.dtype(hasher.dtype).str)
    want = rows_to_batch("signatures", rows)
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()
    assert got.equals(want)
    every_null = signature_batch([(d, k, None, lang) for d, k, _, lang in signed[:3]], "run-1", "<u4")
    assert every_null.equals(rows_to_batch("signatures", [{**r, "minhash": None} for r in rows[:3]]))


def test_exact_groups_join_a_key_split_over_packs_and_bundles():
    from pipeline.stages.dedup.exact import EXACT_VERDICTS, V_EXACT_DROP, V_GROUP, ExactGroups, coarse_key
    from pipeline.stages.dedup.packing import PackPerBundle

    def light(doc_id, name):
        return ((doc_id, name), b"bands-" + doc_id.encode())

    # key "k1": c (file f2) and a (f1) in one bundle, b (f1) and a prior release's doc in another
    bundle1 = [("k1", light("c", "f2")), ("k2", light("d", "f1")), ("k1", light("a", "f1"))]
    bundle2 = [("k1", light("b", "f1")), ("k1", light("!p", ""))]
    packs = []
    for bundle in (bundle1, bundle2):
        fn = PackPerBundle(coarse_key)
        fn.start_bundle()
        for keyed in bundle:
            assert list(fn.process(keyed)) == []
        packs += [wv.value for wv in fn.finish_bundle()]
    by_coarse: dict[int, list] = {}
    for coarse, pack in packs:
        by_coarse.setdefault(coarse, []).append(pack)
    survivors, verdicts = [], []
    for coarse, grouped in by_coarse.items():
        for out in ExactGroups().process((coarse, grouped)):
            if getattr(out, "tag", None) == EXACT_VERDICTS:
                verdicts.append(out.value)
            else:
                survivors.append(out)
    # the prior release's "!p" sorts first: it survives and no file gets a verdict for it
    assert sorted(survivors) == [light("!p", ""), light("d", "f1")]
    assert sorted(verdicts) == [
        ("f1", ("a", (V_EXACT_DROP, "!p"))), ("f1", ("b", (V_EXACT_DROP, "!p"))), ("f2", ("c", (V_EXACT_DROP, "!p"))),
    ]
    # without the prior document, a (the smallest) survives and is marked as its group's survivor
    fn = PackPerBundle(coarse_key)
    fn.start_bundle()
    for keyed in bundle1 + bundle2[:1]:
        list(fn.process(keyed))
    outs = [o for coarse, pack in (wv.value for wv in fn.finish_bundle()) for o in ExactGroups().process((coarse, [pack]))]
    assert sorted(o for o in outs if getattr(o, "tag", None) is None) == [light("a", "f1"), light("d", "f1")]
    assert sorted(o.value for o in outs if getattr(o, "tag", None) == EXACT_VERDICTS) == [
        ("f1", ("a", (V_GROUP, "a"))), ("f1", ("b", (V_EXACT_DROP, "a"))), ("f2", ("c", (V_EXACT_DROP, "a"))),
    ]
