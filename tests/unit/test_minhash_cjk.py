"""Batch shingling and signatures on the cases the whole-batch arithmetic can get wrong: CJK and
mixed scripts, documents touching at batch boundaries, empty and tiny documents, astral-plane
characters, and documents larger than a shingling group or a permutation block.

Oracles: a pure-Python re-implementation of the shingle hash spec in
:mod:`pipeline.minhash.shingles` (``re``'s ``\\w+``, Python integers), the per-document reference
(:meth:`MinHasher.shingle_hashes` / :meth:`MinHasher.signature`) and datasketch."""
from __future__ import annotations

import pickle
import random
import re

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.minhash import MinHasher, normalize
from pipeline.minhash import minhash as mh_module
from pipeline.minhash import shingles

_MASK = (1 << 64) - 1


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def _char_hash(ch: str, pos: int) -> int:
    return _fmix64(ord(ch) ^ (pos << 32) ^ 0x9E3779B97F4A7C15)


def _python_shingles(text: str, char_mode: bool, n: int) -> list[int]:
    """The documented shingle hashes, one Python integer at a time."""
    words = re.findall(r"\w+", normalize(text))
    if char_mode:
        tokens = [_char_hash(ch, 0) for word in words for ch in word]
    else:
        tokens = [_fmix64((sum(_char_hash(ch, i) for i, ch in enumerate(w)) + len(w)) & _MASK) for w in words]
    if not tokens:
        return []
    n = min(n, len(tokens))
    out = []
    for j in range(len(tokens) - n + 1):
        acc = 0
        for t in tokens[j : j + n]:
            acc = (acc * 0xA0761D6478BD642F + t) & _MASK
        out.append(_fmix64((acc + n) & _MASK) >> 32)
    return out


_HAN = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳"
_KANA = "いろはにほへとちりぬるをわかよたれそつねならむうゐのおくやまけふこえて"
_HANGUL = "다람쥐헌쳇바퀴에타고파"


def _edge_documents() -> list[tuple[str, str | None]]:
    rng = random.Random(5)
    docs: list[tuple[str, str | None]] = [
        ("東京タワーは333メートル。Tokyo Tower is 333 m tall!", "ja"),  # kana, Han, Latin, digits
        ("東京タワーは333メートル。Tokyo Tower is 333 m tall!", None),  # the same, script decides
        ("Python 3.11 では match 文が使えます。", "ja"),
        ("Seoul 서울특별시 is the capital; 서울 means capital.", "ko"),
        ("mostly English words with one 漢字 inside a long sentence", None),
        ("𠀀𠀁𠀂𠀃𠀄𠀅 𪜀𪜁 emoji 😀 between 𠀆𠀇", "zh"),  # CJK extension B (astral) characters
        ("ｆｕｌｌ　ｗｉｄｔｈ　ＡＢＣ　１２３", "en"),  # NFKC folds these to ASCII words
        ("", "zh"),
        ("。、！？", "ja"),  # punctuation only: no shingles
        ("字", "zh"),
        ("四个汉字", "zh"),  # fewer characters than a 5-character shingle
        ("五个汉字啊", "zh"),  # exactly one shingle
        ("one", "en"),
        ("exactly five words here now", "en"),
        ("under_score snake_case_word __init__", "en"),
        ("ไทยภาษาไทย ไม่มีช่องว่าง", "th"),
        ("ΑΒΓ αβγ ß straße STRASSE", "de"),  # casefold changes lengths
    ]
    # a document ending in a word character followed by one starting with one (boundary must hold)
    docs += [("末尾の文字", "ja"), ("字から始まる", "ja"), ("tail", "en"), ("head", "en")]
    # huge documents: larger than a shingling group and than a permutation block
    big_zh = "".join(rng.choice(_HAN) for _ in range(mh_module._GROUP_CODEPOINTS + 3000))
    big_ja = "".join(rng.choice(_KANA + "、。 ") for _ in range(9000))
    big_mixed = " ".join(rng.choice([_HAN[:4], _HANGUL[:3], "word", "語", "x1"]) for _ in range(6000))
    docs += [(big_zh, "zh"), (big_ja, "ja"), (big_mixed, None), (big_mixed, "ko"), (big_mixed, "en")]
    return docs


@pytest.fixture(scope="module")
def edge_docs() -> list[tuple[str, str | None]]:
    return _edge_documents()


def _modes(hasher: MinHasher, langs) -> list[bool | None]:
    return [None if shingles.base_lang(x) is None else shingles.base_lang(x) in hasher.char_shingle_langs for x in langs]


def _segments(norms, modes, n_words, n_chars) -> dict[int, np.ndarray]:
    hv, docs, lengths = shingles.batch_shingle_hashes(norms, modes, n_words, n_chars)
    ends = np.cumsum(lengths)
    return {int(d): hv[e - n : e] for d, n, e in zip(docs, lengths, ends)}


@pytest.mark.parametrize("n_words,n_chars", [(5, 5), (2, 3), (1, 1)])
def test_batch_shingles_equal_the_python_spec(edge_docs, n_words, n_chars):
    hasher = MinHasher(shingle_words=n_words, shingle_chars=n_chars)
    texts, langs = zip(*edge_docs)
    modes = _modes(hasher, langs)
    segments = _segments([normalize(t) for t in texts], modes, n_words, n_chars)
    for i, (text, lang) in enumerate(edge_docs):
        char_mode = hasher.uses_chars(shingles.codepoints(normalize(text)), lang)
        expected = _python_shingles(text, char_mode, n_chars if char_mode else n_words)
        got = segments.get(i, np.empty(0, dtype=np.uint32))
        assert got.tolist() == expected, (i, lang, text[:40])
        np.testing.assert_array_equal(got, hasher.shingle_hashes(text, lang))


def test_unlabelled_mixed_text_decides_by_its_script():
    hasher = MinHasher()
    # 4 of 9 word characters are Han (>= 30 %): characters; 1 of 20 is not: words
    assert hasher.uses_chars(shingles.codepoints(normalize("漢字漢字 abcde")), None)
    assert not hasher.uses_chars(shingles.codepoints(normalize("字 abcdefghij klmnopqrs")), None)
    segs = _segments([normalize("漢字漢字 abcde"), normalize("字 abcdefghij klmnopqrs")], [None, None], 5, 5)
    assert segs[0].tolist() == _python_shingles("漢字漢字 abcde", True, 5)
    assert segs[1].tolist() == _python_shingles("字 abcdefghij klmnopqrs", False, 5)


@pytest.mark.parametrize("only", ["char", "word"])
def test_batches_of_one_mode_only(edge_docs, only):
    """A batch with no word-mode (or no char-mode) document takes the one-mode path."""
    hasher = MinHasher()
    picked = [(t, lang) for t, lang in edge_docs if (lang in ("zh", "ja", "ko")) == (only == "char") and lang]
    texts, langs = zip(*picked)
    segments = _segments([normalize(t) for t in texts], _modes(hasher, langs), 5, 5)
    for i, (text, lang) in enumerate(picked):
        np.testing.assert_array_equal(segments.get(i, np.empty(0, dtype=np.uint32)), hasher.shingle_hashes(text, lang))


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signatures_equal_datasketch_and_single_documents(edge_docs, scheme, monkeypatch):
    texts, langs = zip(*edge_docs)
    hasher = MinHasher(scheme=scheme)
    single = np.stack([hasher.signature(t, lang) for t, lang in zip(texts, langs)])
    for i, (text, lang) in enumerate(edge_docs):
        ref = MinHash(num_perm=128, seed=1, hashfunc=lambda x: x, scheme=scheme)
        ref.update_batch(_python_shingles(text, hasher.uses_chars(shingles.codepoints(normalize(text)), lang), 5))
        np.testing.assert_array_equal(single[i], ref.hashvalues)
    for block, group in ((97, 1), (1000, 700), (mh_module._CHUNK_SHINGLES, mh_module._GROUP_CODEPOINTS)):
        monkeypatch.setattr(mh_module, "_CHUNK_SHINGLES", block)
        monkeypatch.setattr(mh_module, "_GROUP_CODEPOINTS", group)
        np.testing.assert_array_equal(MinHasher(scheme=scheme).signatures(texts, langs), single)


def test_reused_and_unpickled_hashers_give_the_same_signatures(edge_docs):
    """The permutation buffers are per hasher, rebuilt after pickling and when a block grows."""
    texts, langs = zip(*edge_docs)
    hasher = MinHasher()
    first = hasher.signatures(texts, langs)
    np.testing.assert_array_equal(hasher.signatures(texts[::-1], langs[::-1]), first[::-1])
    clone = pickle.loads(pickle.dumps(hasher))
    assert "_b_rows" not in clone.__dict__
    np.testing.assert_array_equal(clone.signatures(texts, langs), first)
