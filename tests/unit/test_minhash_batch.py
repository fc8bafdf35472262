"""The batch fast path (whole-batch shingling, blocked permutation) equals the per-document reference
and datasketch: signatures, LSH buckets and duplicate clusters, on real English, Korean, Japanese and
Chinese text from the machine's gettext catalogues and /usr/share/doc."""
from __future__ import annotations

import gettext
import glob
import random
import re

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline.minhash import SCHEME, MinHasher, band_keys, exact_key, exact_key_of_normalized, normalize, optimal_bands
from pipeline.minhash import minhash as mh_module
from pipeline.minhash import shingles
from tests.unit import test_minhash  # its real English documents (a module import: its tests are not collected twice)


def _catalog_paragraphs(lang: str, limit: int = 60) -> list[str]:
    """Translated messages of one language, joined into paragraph-sized documents."""
    messages: list[str] = []
    for path in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
        try:
            with open(path, "rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog
        except Exception:  # noqa: BLE001 - a catalogue we cannot parse is skipped
            continue
        messages.extend(v for k, v in sorted(catalog.items(), key=lambda kv: str(kv[0])) if isinstance(v, str) and k and len(v) > 20)
    docs = [" ".join(messages[i : i + 6]) for i in range(0, len(messages), 6)]
    return docs[:limit]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str | None]]:
    """Real documents of four languages, near-duplicate edits of some, and edge cases."""
    items: list[tuple[str, str | None]] = [(d, "en") for d in test_minhash._real_docs(60)]
    for lang, code in (("ko", "ko"), ("ja", "ja"), ("zh_CN", "zh")):
        docs = _catalog_paragraphs(lang)
        assert len(docs) >= 10, f"expected {lang} gettext catalogues on this machine"
        items += [(d, code) for d in docs]
        items += [(d, None) for d in docs[:5]]  # unlabelled: the script decides
    rng = random.Random(11)
    for text, lang in list(items)[::7]:  # near duplicates: one word or character dropped
        cut = rng.randrange(len(text))
        items.append((text[:cut] + text[cut + 1 :], lang))
    items += [("", None), ("!!! ???", "en"), ("one two", "en"), ("한국", "ko"), ("a" * 5, None), ("  \n", "ja")]
    rng.shuffle(items)
    return items


def test_word_char_table_is_isalnum_or_underscore():
    table = shingles.word_char_table()
    reference = np.fromiter((chr(c).isalnum() or c == ord("_") for c in range(0x110000)), dtype=bool, count=0x110000)
    np.testing.assert_array_equal(table, reference)


@pytest.mark.parametrize("shingle_words,shingle_chars", [(5, 5), (3, 4), (1, 1)])
def test_batch_shingles_equal_per_document_shingles(corpus, shingle_words, shingle_chars):
    hasher = MinHasher(shingle_words=shingle_words, shingle_chars=shingle_chars)
    texts, langs = zip(*corpus)
    norms = [normalize(t) for t in texts]
    modes = [None if shingles.base_lang(lang) is None else shingles.base_lang(lang) in hasher.char_shingle_langs for lang in langs]
    hv, docs, lengths = shingles.batch_shingle_hashes(norms, modes, shingle_words, shingle_chars)
    ends = np.cumsum(lengths)
    segments = {int(d): hv[e - n : e] for d, n, e in zip(docs, lengths, ends)}
    for i, (text, lang) in enumerate(corpus):
        expected = hasher.shingle_hashes(text, lang)
        np.testing.assert_array_equal(segments.get(i, np.empty(0, dtype=np.uint32)), expected)


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_batch_signatures_equal_datasketch_on_real_text(corpus, scheme):
    hasher = MinHasher(scheme=scheme)
    texts, langs = zip(*corpus)
    sigs = hasher.signatures(texts, langs)
    for i, (text, lang) in enumerate(corpus):
        ref = MinHash(num_perm=128, seed=1, hashfunc=lambda x: x, scheme=scheme)
        ref.update_batch([int(x) for x in hasher.shingle_hashes(text, lang)])
        np.testing.assert_array_equal(sigs[i], ref.hashvalues)


def test_blocks_and_large_documents_equal_single_signatures(corpus, monkeypatch):
    """Shingling groups and permutation blocks split anywhere between documents give the same rows
    as one document at a time."""
    texts, langs = zip(*corpus)
    big = " ".join(texts[j] for j in range(len(texts)) if langs[j] == "en")  # > one block of shingles
    texts, langs = (*texts, big), (*langs, "en")
    hasher = MinHasher()
    single = np.stack([hasher.signature(t, lang) for t, lang in zip(texts, langs)])
    for block, group in ((64, 1), (300, 5000), (mh_module._CHUNK_SHINGLES, mh_module._GROUP_CODEPOINTS)):
        monkeypatch.setattr(mh_module, "_CHUNK_SHINGLES", block)
        monkeypatch.setattr(mh_module, "_GROUP_CODEPOINTS", group)
        np.testing.assert_array_equal(MinHasher().signatures(texts, langs), single)
    assert hasher.shingle_hashes(big, "en").size > mh_module._CHUNK_SHINGLES


def test_buckets_and_clusters_equal_datasketch_lsh(corpus):
    """Documents sharing one of our band keys are exactly those datasketch's MinHashLSH returns."""
    hasher = MinHasher()
    texts, langs = zip(*corpus)
    sigs = hasher.signatures(texts, langs)
    bands, rows = optimal_bands(0.8, 128)
    keys = band_keys(sigs, bands, rows)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (lsh.b, lsh.r) == (bands, rows)
    nonempty = [i for i in range(len(texts)) if not (sigs[i] == hasher.empty_value).all()]
    for i in nonempty:
        lsh.insert(i, MinHash(num_perm=128, hashvalues=sigs[i], scheme=SCHEME), check_duplication=False)
    clustered = 0
    for i in nonempty:
        ours = {j for j in nonempty if (keys[j] == keys[i]).any()}
        theirs = set(lsh.query(MinHash(num_perm=128, hashvalues=sigs[i], scheme=SCHEME)))
        assert ours == theirs, i
        clustered += len(ours) > 1
    assert clustered >= 10  # the planted near duplicates do land in shared buckets


def test_exact_key_of_normalized_equals_exact_key(corpus):
    for text, _ in corpus:
        assert exact_key_of_normalized(normalize(text)) == exact_key(text)
    assert re.fullmatch(r"[0-9a-f]{32}", exact_key("x"))
