"""The PII engine's set-up shortcuts change nothing the engine does.

* Blank spaCy pipelines are built on first use (:class:`pipeline.pii.nlp.LazyPipelines`): what the
  engine reads before that (stop words, tokenizer exceptions, component names) must be what the
  built pipeline has. Oracle: the pipeline spaCy builds (``blank_pipeline``).
* The card issuer table is built once per process. Oracle: the issuer ranges read directly
  (prefix between low and high, length listed), not the table.
"""
from __future__ import annotations

import json
import random

import pytest

from pipeline.pii.engine import FALLBACK_LANG, PiiEngine
from pipeline.pii.nlp import LEMMA_COMPONENT, LazyPipelines, blank_defaults, blank_pipeline
from pipeline.pii.recognizers import PaymentCardRecognizer
from tests.unit.test_pii import LABELLED, cfg, engine, reference  # noqa: F401 - cfg, engine, reference are fixtures

LANGS = ["en", "ko", "ja", "zh", FALLBACK_LANG, "de", "qq"]  # analyzer.yaml's, one more spaCy knows, one it does not


@pytest.mark.parametrize("lang", LANGS)
def test_defaults_read_without_building_are_the_built_pipelines(lang):
    nlp = blank_pipeline(lang, lemmas=False)
    stop_words, special_cases = blank_defaults(lang)
    assert stop_words == frozenset(nlp.Defaults.stop_words)
    assert special_cases == frozenset(nlp.tokenizer.rules or ())
    assert special_cases or lang in ("ko", "ja", "zh")  # the comparison is not of two empty sets


@pytest.mark.parametrize("lemmas", [True, False])
def test_lazy_pipelines_answer_as_the_built_ones(lemmas):
    lazy = LazyPipelines(["en", "ko", FALLBACK_LANG], lemmas=lemmas)
    assert list(lazy) == ["en", "ko", FALLBACK_LANG] and "ja" not in lazy and len(lazy) == 3
    before = {lang: (lazy.pipe_names(lang), lazy.defaults(lang)) for lang in lazy}
    assert not lazy._built  # nothing was built to answer
    for lang in lazy:
        nlp = lazy[lang]
        assert lazy[lang] is nlp  # built once
        assert before[lang] == (nlp.pipe_names, (frozenset(nlp.Defaults.stop_words), frozenset(nlp.tokenizer.rules or ())))
        assert (LEMMA_COMPONENT in nlp.pipe_names) is lemmas
    with pytest.raises(KeyError):
        lazy["ja"]


def test_engine_builds_a_pipeline_only_when_a_language_needs_one(cfg):
    engine = PiiEngine(cfg)
    pipelines = engine.analyzer.nlp_engine.nlp
    assert isinstance(pipelines, LazyPipelines) and not pipelines._built
    # the weak SSN form needs its context word: the context walk tokenizes the words before it
    assert engine.scrub("ssn 078051121", "en") == ("ssn <US_SSN>", {"US_SSN": 1})
    assert set(pipelines._built) == {"en"}
    assert engine.scrub("사업자등록번호 220-81-62517", "ko") == ("사업자등록번호 <KR_BRN>", {"KR_BRN": 1})
    assert set(pipelines._built) == {"en", "ko"}


# context words and values in the languages the labelled set lacks
_CJK_TEXTS = [
    ("電話 03-3581-4321 メール taro@example.co.jp", "ja"),
    ("连络 电话 010-12345678 邮箱 li@example.cn 银行卡 4111 1111 1111 1111", "zh"),
    ("no language: tel 212-555-0187, card 5500 0000 0000 0004", None),
]


def test_lazy_engine_scrubs_labelled_texts_as_presidio_does(engine, reference):
    """Every labelled text (en, ko) and the cases above (ja, zh, fallback) through the engine with
    lazy pipelines give presidio's plain AnalyzerEngine's replacements and counts."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    texts = [r["text"] for r in rows] + [t for t, _ in _CJK_TEXTS]
    langs = [r.get("lang") for r in rows] + [lang for _, lang in _CJK_TEXTS]
    assert {"en", "ko", "ja", "zh", None} <= set(langs)
    got = engine.scrub_batch(texts, langs)
    assert all(counts for _, counts in got[-len(_CJK_TEXTS):])  # the added cases hold findings
    assert got == reference.scrub_batch(texts, langs)


def _issued_by_ranges(digits: str) -> bool:
    for _issuer, ranges, lengths in PaymentCardRecognizer.ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            if len(digits) >= len(low) and int(low) <= int(digits[: len(low)]) <= int(high):
                return True
    return False


def test_card_issuer_table_is_the_issuer_ranges():
    card = PaymentCardRecognizer(supported_language="en")
    assert card._lengths_by_prefix is PaymentCardRecognizer(supported_language="ko")._lengths_by_prefix
    rng = random.Random(7)
    candidates = []
    for _issuer, ranges, lengths in PaymentCardRecognizer.ISSUERS:
        for low, high in ranges:
            for edge in (int(low) - 1, int(low), int(high), int(high) + 1):
                prefix = str(edge).zfill(len(low))
                for n in sorted(set(lengths) | {min(lengths) - 1, max(lengths) + 1}):
                    if n > len(prefix):
                        candidates.append(prefix + "".join(rng.choice("0123456789") for _ in range(n - len(prefix))))
    candidates += ["".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19))) for _ in range(5000)]
    agree = [card.issued(d) == _issued_by_ranges(d) for d in candidates]
    assert all(agree)
    assert 0 < sum(map(_issued_by_ranges, candidates)) < len(candidates)  # both answers occur


def _blank_pipeline_as_set_after(lang: str):
    """The reference: spaCy's blank pipeline with the CJK split rules set on its built tokenizer
    (how pipeline.pii.nlp built it before the rules went in through the language's Defaults)."""
    import spacy

    from pipeline.pii.nlp import _CJK_INFIXES, _CJK_PUNCT, CJK_LANGS

    if lang in CJK_LANGS:
        nlp = spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}})
    else:
        try:
            nlp = spacy.blank(lang)
        except Exception:  # noqa: BLE001 - as the code under test: unknown code → xx
            nlp = spacy.blank("xx")
    if nlp.lang in CJK_LANGS or nlp.lang == "xx":
        nlp.tokenizer.infix_finditer = spacy.util.compile_infix_regex(list(nlp.Defaults.infixes or []) + _CJK_INFIXES).finditer
        nlp.tokenizer.suffix_search = spacy.util.compile_suffix_regex(list(nlp.Defaults.suffixes or []) + [rf"[{_CJK_PUNCT}]"]).search
        nlp.tokenizer.prefix_search = spacy.util.compile_prefix_regex(list(nlp.Defaults.prefixes or []) + [rf"[{_CJK_PUNCT}]"]).search
    return nlp


@pytest.mark.parametrize("lang", LANGS)
def test_blank_pipeline_tokenizes_as_the_rules_set_on_a_built_tokenizer(lang):
    """Same language, rules, special cases and tokens on the labelled texts and CJK cases."""
    got, want = blank_pipeline(lang, lemmas=False), _blank_pipeline_as_set_after(lang)
    assert got.lang == want.lang
    for attr in ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match"):
        a, b = getattr(got.tokenizer, attr), getattr(want.tokenizer, attr)
        assert (a.__self__.pattern if a else None) == (b.__self__.pattern if b else None), attr
    assert got.tokenizer.rules == want.tokenizer.rules
    texts = [json.loads(line)["text"] for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    texts += [t for t, _ in _CJK_TEXTS] + ["연락처는 010-1234-5678이고, 電話番号は「03-1234」です。「邮箱：li@example.cn」"]
    for text in texts:
        assert [t.text for t in got(text)] == [t.text for t in want(text)]
