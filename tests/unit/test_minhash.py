"""MinHash signatures equal datasketch's; shingling per language; LSH parameters equal datasketch's."""
from __future__ import annotations

import glob
import pickle
import random

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from pipeline.config import load_config
from pipeline.minhash import SCHEME, MinHasher, band_keys, exact_key, jaccard, optimal_bands
from pipeline.minhash import minhash as mh_module

EN = (
    "The GNU General Public License is a free, copyleft license for software and other kinds of works. "
    "The licenses for most software and other practical works are designed to take away your freedom "
    "to share and change the works. By contrast, the GNU General Public License is intended to guarantee "
    "your freedom to share and change all versions of a program to make sure it remains free software."
)
KO = (
    "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다. "
    "모든 국민은 인간으로서의 존엄과 가치를 가지며, 행복을 추구할 권리를 가진다. 국가는 개인이 가지는 "
    "불가침의 기본적 인권을 확인하고 이를 보장할 의무를 진다."
)
JA = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。"


def _real_docs(limit=40):
    docs = []
    for path in sorted(glob.glob("/usr/share/doc/*/copyright")):
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        if len(text) > 400:
            docs.append(text[:6000])
        if len(docs) >= limit:
            break
    assert len(docs) >= min(limit, 10), "expected real text under /usr/share/doc"
    return docs


def _datasketch(hv, num_perm=128, seed=1, scheme=SCHEME):
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda x: x, scheme=scheme)
    m.update_batch([int(x) for x in hv])
    return m


def test_scheme_is_datasketch_2_default():
    assert SCHEME == "affine32"
    assert MinHash().scheme == SCHEME
    assert MinHasher().signature(EN, "en").dtype == MinHash().hashvalues.dtype == np.uint32


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7), (256, 42)])
def test_signature_equals_datasketch_on_same_shingle_hashes(scheme, num_perm, seed):
    hasher = MinHasher(num_perm=num_perm, seed=seed, scheme=scheme)
    for text, lang in [(EN, "en"), (KO, "ko"), (JA, "ja"), *[(d, "en") for d in _real_docs(8)]]:
        hv = hasher.shingle_hashes(text, lang)
        assert hv.size > 0
        ours = hasher.signature(text, lang)
        ref = _datasketch(hv, num_perm, seed, scheme)
        assert ours.dtype == ref.hashvalues.dtype
        np.testing.assert_array_equal(ours, ref.hashvalues)


def test_permutations_equal_datasketch():
    for scheme in ("affine32", "legacy"):
        a, b = mh_module.permutations(128, 3, scheme)
        ref = MinHash(128, 3, scheme=scheme).permutations
        np.testing.assert_array_equal(a, ref[0])
        np.testing.assert_array_equal(b, ref[1])


def test_batch_signatures_equal_single_and_datasketch():
    hasher = MinHasher()
    docs = _real_docs(40) + ["", "!!! ???", EN, KO]
    langs = ["en"] * 40 + [None, None, "en", "ko"]
    sigs = hasher.signatures(docs, langs)
    assert sigs.shape == (len(docs), 128)
    for i, (doc, lang) in enumerate(zip(docs, langs)):
        np.testing.assert_array_equal(sigs[i], _datasketch(hasher.shingle_hashes(doc, lang)).hashvalues)
    # no shingles: datasketch's empty MinHash
    np.testing.assert_array_equal(sigs[-4], MinHash(128, 1).hashvalues)
    np.testing.assert_array_equal(sigs[-3], MinHash(128, 1).hashvalues)


def test_large_document_is_chunked_identically():
    hasher = MinHasher()
    rng = random.Random(3)
    words = [f"w{rng.randrange(50000)}" for _ in range(80_000)]  # > one permutation chunk of shingles
    doc = " ".join(words)
    hv = hasher.shingle_hashes(doc, "en")
    assert hv.size > mh_module._CHUNK_SHINGLES
    sig = hasher.signatures([EN, doc, KO], ["en", "en", "ko"])
    np.testing.assert_array_equal(sig[1], _datasketch(hv).hashvalues)
    np.testing.assert_array_equal(sig[2], hasher.signature(KO, "ko"))


def test_word_shingles_ignore_case_spacing_punctuation_but_not_order():
    hasher = MinHasher()
    base = hasher.shingle_hashes(EN, "en")
    variant = EN.upper().replace(" ", "   \n").replace(",", " ;")
    np.testing.assert_array_equal(hasher.shingle_hashes(variant, "en"), base)
    # one word shingle per 5-gram
    n_words = len(EN.replace(",", " ").replace(".", " ").split())
    assert base.size == n_words - 4
    swapped = EN.replace("free, copyleft", "copyleft, free")
    assert not np.array_equal(hasher.shingle_hashes(swapped, "en"), base)
    assert hasher.shingle_hashes("just three words", "en").size == 1
    assert hasher.shingle_hashes("just three words", "en")[0] != hasher.shingle_hashes("just words three", "en")[0]


def test_char_shingles_for_korean_japanese_chinese():
    hasher = MinHasher()
    ko = hasher.shingle_hashes(KO, "ko")
    letters = sum(1 for c in KO if c.isalnum())
    assert ko.size == letters - 4  # character 5-grams, spaces and punctuation removed
    # Korean spacing is unreliable: removing or adding spaces does not change the shingles
    np.testing.assert_array_equal(hasher.shingle_hashes(KO.replace(" ", ""), "ko"), ko)
    # without a language label the script decides
    np.testing.assert_array_equal(hasher.shingle_hashes(KO, None), ko)
    np.testing.assert_array_equal(hasher.shingle_hashes(JA, None), hasher.shingle_hashes(JA, "ja"))
    np.testing.assert_array_equal(hasher.shingle_hashes(EN, None), hasher.shingle_hashes(EN, "en"))
    # the setting is per language: Korean with word shingles when not listed
    words_ko = MinHasher(char_shingle_langs=("ja", "zh")).shingle_hashes(KO, "ko-KR")
    assert words_ko.size == len(KO.split()) - 4


def test_estimated_jaccard_tracks_true_jaccard():
    hasher = MinHasher(num_perm=256)
    docs = _real_docs(6)
    for doc in docs:
        words = doc.split()
        edited = " ".join(words[: len(words) // 2] + ["inserted", "words", "here"] + words[len(words) // 2 :])
        a, b = set(hasher.shingle_hashes(doc, "en").tolist()), set(hasher.shingle_hashes(edited, "en").tolist())
        true = len(a & b) / len(a | b)
        est = jaccard(hasher.signature(doc, "en"), hasher.signature(edited, "en"))
        assert abs(true - est) < 0.12


def test_exact_key_normalisation():
    assert exact_key("Hello   World\n") == exact_key("hello world")
    assert exact_key("ｈｅｌｌｏ") == exact_key("hello")  # NFKC full-width
    assert exact_key("Straße") == exact_key("STRASSE")  # casefold
    assert exact_key("hello, world") != exact_key("hello world")
    assert len(exact_key(KO)) == 32


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.66, 0.7, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("num_perm", [16, 64, 100, 128, 256])
def test_optimal_bands_equal_datasketch(threshold, num_perm):
    # ours integrates with one exact Gauss-Legendre rule, datasketch with scipy quad per (b, r)
    assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_band_keys():
    hasher = MinHasher()
    sigs = hasher.signatures([EN, EN + " extra words at the end", KO], ["en", "en", "ko"])
    b, r = optimal_bands(0.8, 128)
    keys = band_keys(sigs, b, r)
    assert keys.shape == (3, b) and keys.dtype == np.uint64
    for band in range(b):
        same = np.array_equal(sigs[0, band * r : (band + 1) * r], sigs[1, band * r : (band + 1) * r])
        assert (keys[0, band] == keys[1, band]) == same
    assert not (keys[0] == keys[2]).any()
    # one changed value changes that band's key only
    changed = sigs[:1].copy()
    changed[0, r] ^= 1
    k2 = band_keys(changed, b, r)[0]
    assert k2[0] == keys[0, 0] and k2[1] != keys[0, 1] and (k2[2:] == keys[0, 2:]).all()


def test_from_config_and_pickles_small():
    cfg = load_config(overrides={"dedup": {"num_perm": 64, "seed": 5, "shingle_words": 3, "char_shingle_langs": ["ja"]}})
    hasher = MinHasher.from_config(cfg.dedup)
    assert (hasher.num_perm, hasher.seed, hasher.shingle_words) == (64, 5, 3)
    assert hasher.signature(EN, "en").shape == (64,)
    assert len(pickle.dumps(hasher)) < 1000  # permutation tables are not shipped, they are re-drawn
    clone = pickle.loads(pickle.dumps(hasher))
    np.testing.assert_array_equal(clone.signature(KO, "ko"), hasher.signature(KO, "ko"))
