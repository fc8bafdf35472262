"""The batch kernel (pipeline.lang.fastpredict) against fasttext's own C++ predict: the oracle is
the fasttext-predict binding on the same model file, line by line; labels and probabilities must be
equal bit for bit, and the stage must give the same records and verdicts with and without it."""
from __future__ import annotations

import json
import random
import shutil
import struct
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.lang import fastpredict
from pipeline.lang.identifier import LanguageIdentifier, _predict_line, prepare
from pipeline.records import new_record
from pipeline.resources import langid_model_path
from pipeline.stages.langid import LanguageFilter

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "langid" / "paragraphs.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def kernel() -> fastpredict.FastPredictor:
    k = fastpredict.load(langid_model_path())
    assert k is not None, "lid.176.ftz must be supported by the batch kernel (numba installed with the package)"
    return k


@pytest.fixture(scope="module")
def reference():
    import fasttext

    c_predict = fasttext.load_model(str(langid_model_path())).f.predict

    def predict(line: str) -> tuple[str, float] | None:
        res = c_predict(line + "\n", 1, 0.0, "replace")
        return (res[0][1], res[0][0]) if res else None

    return predict


def assert_same(kernel, reference, lines: list[str]) -> None:
    labels, probs = kernel.predict(lines)
    assert len(labels) == len(probs) == len(lines)
    differ = []
    for line, lab, prob in zip(lines, labels.tolist(), probs.tolist()):
        got = (kernel.labels[lab], prob) if lab >= 0 else None
        if got != reference(line):
            differ.append((line[:60], got, reference(line)))
    assert not differ, f"{len(differ)} of {len(lines)} lines differ, first: {differ[:3]}"


def test_real_paragraphs_their_heads_and_snippets_equal_fasttext_bit_for_bit(kernel, reference):
    """432 real paragraphs in 18 languages (Latin, Cyrillic, Han, Kana, Hangul …): prepared whole,
    cut to paragraph heads as the stage predicts them, and cut into word snippets of every length."""
    prepared = [prepare(r["text"]) for r in ROWS]
    rng = random.Random(3)
    snippets = []
    for p in prepared:
        words = p.split(" ")
        for n in (1, 2, 3, 5, 8):
            at = rng.randrange(max(1, len(words) - n))
            snippets.append(" ".join(words[at : at + n]))
        snippets.append(p[: rng.randint(1, 40)])  # cut anywhere (inside a UTF-8 character's word)
    lines = prepared + [_predict_line(p) for p in prepared] + snippets
    assert len({kernel.labels[i] for i in kernel.predict(prepared)[0]}) >= 15
    assert_same(kernel, reference, lines)


def test_whole_documents_of_mixed_languages_equal_fasttext(kernel, reference):
    """Prepared multi-paragraph documents up to max_chars, the lines the stage predicts for mixed texts."""
    rng = random.Random(5)
    docs = []
    for _ in range(60):
        picked = rng.sample(ROWS, rng.randint(2, 12))
        docs.append(prepare("\n\n".join(r["text"] for r in picked)))
    assert_same(kernel, reference, docs)


def test_tokenizer_edge_cases_equal_fasttext(kernel, reference):
    """fastText splits on space, tab, CR, VT, FF and NUL; '</s>' ends a line; '__label__…' tokens are
    labels, not words; long words and multi-byte characters go through the n-gram hashing."""
    lines = [
        "", " ", "   a  ", "a", "é", "한", "日本", "Hello", "hello\tworld\rcr\x0bvt\x0cff", "nul\x00inside word",
        "before </s> after the end marker", "</s>", "word</s>", "__label__en is a label token", "__label__", "__label",
        "a" * 1000, "é" * 500, "한국어" * 200, "😀🎉 emoji 🇰🇷 flags", "cafe\u0301 combining", "\u200bzero\u200dwidth",
        "Ünïcödé ÄÖÜ ß Ærø Łódź Čeština Ελληνικά Русский עברית العربية हिन्दी ไทย",
        " ".join(["mixed 한국어 English 日本語 Deutsch"] * 50),
    ]
    assert_same(kernel, reference, lines)


def test_empty_batch_and_batch_order(kernel):
    labels, probs = kernel.predict([])
    assert len(labels) == len(probs) == 0
    lines = [prepare(r["text"]) for r in ROWS[:40]]
    labels, probs = kernel.predict(lines)
    back_l, back_p = kernel.predict(lines[::-1])
    assert labels.tolist() == back_l.tolist()[::-1] and probs.tolist() == back_p.tolist()[::-1]


def _stage(native: bool) -> LanguageFilter:
    c = LanguageFilter(load_config())
    c.setup()
    ident = c._ident
    c._ident = LanguageIdentifier(ident.model_path, ident._normalise, max_chars=ident.max_chars, native=native)
    return c


def test_stage_gives_the_same_records_and_verdicts_with_and_without_the_kernel():
    with_kernel, binding = _stage(True), _stage(False)
    assert with_kernel._ident._native is not None and binding._ident._native is None
    rng = random.Random(7)
    texts = []
    for i in range(120):
        picked = rng.sample(ROWS, rng.randint(1, 6))
        sep = "\n\n" if i % 3 else "\n"
        texts.append(sep.join(r["text"] for r in picked))
    texts += [r["text"] for r in ROWS[:50]] + ["", "1234 5678", "https://example.org/only-a-url"]
    got = {}
    for name, c in (("kernel", with_kernel), ("binding", binding)):
        recs = [new_record(source_uri="mem://t.jsonl", record_index=i, text=t) for i, t in enumerate(texts)]
        verdicts = c.process_batch(recs)
        got[name] = [(r["lang"], r["lang_score"], v.action, v.reason, v.detail) for r, v in zip(recs, verdicts)]
    assert got["kernel"] == got["binding"]
    assert sum(1 for row in got["kernel"] if row[4]) >= 10  # mixed documents were among them


def _model_with(tmp_path: Path, offset: int, value: int) -> Path:
    path = tmp_path / "model.ftz"
    shutil.copy(langid_model_path(), path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<i", data, offset, value)
    path.write_bytes(bytes(data))
    return path


def test_models_the_kernel_does_not_reproduce_fall_back_to_the_binding(tmp_path):
    # header: magic, version, then dim ws epoch minCount neg wordNgrams loss … (int32 each)
    softmax = _model_with(tmp_path, 4 * 8, 3)  # loss = softmax
    with pytest.raises(fastpredict.UnsupportedModel):
        fastpredict.ModelTables(softmax)
    assert fastpredict.load(softmax) is None
    bigrams = _model_with(tmp_path, 4 * 7, 2)  # wordNgrams = 2
    assert fastpredict.load(bigrams) is None
    truncated = tmp_path / "cut.ftz"
    truncated.write_bytes(langid_model_path().read_bytes()[:5000])
    assert fastpredict.load(truncated) is None
    not_a_model = tmp_path / "x.bin"
    not_a_model.write_bytes(b"not a model at all")
    assert fastpredict.load(not_a_model) is None

    cfg = load_config(overrides={"langid": {"model": str(bigrams)}})
    ident = LanguageIdentifier.from_config(cfg)  # the binding reads it; the kernel declines
    assert ident._native is None
    assert ident.predict("Das ist ein ganz gewöhnlicher deutscher Satz über das Wetter.")[0] == "de"


def test_remembered_words_table_starting_over_when_full_gives_the_same_answers(monkeypatch, reference):
    """Tiny tables: the kernel's table of words seen before fills and starts over many times within
    one call, and a word longer than the whole table is never remembered — answers stay fasttext's."""
    monkeypatch.setattr(fastpredict, "SEEN_SLOTS", 16)
    monkeypatch.setattr(fastpredict, "SEEN_BYTES", 64)
    monkeypatch.setattr(fastpredict, "SEEN_ROWS", 48)
    small = fastpredict.load(langid_model_path())
    lines = [_predict_line(prepare(r["text"])) for r in ROWS[::4]] + ["x" * 200 + " short words", "日本語の文章" * 20]
    assert_same(small, reference, lines)
    assert_same(small, reference, lines[::-1])  # a second call over a table filled by the first
    assert 0 < small._seen_used[0] <= 8 and small._seen_used[1] <= 64


def test_a_kernel_that_fails_or_differs_on_its_first_call_is_not_used(monkeypatch):
    import pipeline.lang.identifier as identifier

    ident = LanguageIdentifier.from_config(load_config())

    class Broken:
        labels = ["__label__en"]

        def predict(self, lines):
            raise RuntimeError("compilation failed")

    class Wrong(Broken):
        def predict(self, lines):
            import numpy as np

            return np.zeros(len(lines), dtype=np.int32), np.full(len(lines), 0.5, dtype=np.float32)

    for fake in (Broken, Wrong):
        monkeypatch.setattr(identifier, "_NATIVE", {})
        monkeypatch.setattr(fastpredict, "load", lambda path, fake=fake: fake())
        built = LanguageIdentifier(ident.model_path, ident._normalise)
        assert built._native is None
        assert built.predict("Das ist ein ganz gewöhnlicher deutscher Satz über das Wetter.")[0] == "de"
