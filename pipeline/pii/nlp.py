"""Lightweight, download-free NLP for presidio: blank spaCy pipelines with lemmas.

Presidio's context enhancer (``LemmaContextAwareEnhancer``) compares the *lemmas* of the words before
a match with each recognizer's context words. A blank spaCy pipeline has a tokenizer but no
lemmatizer (every ``lemma_`` is empty), so context would never fire. Each pipeline here is a blank
``spacy.blank(lang)`` built from the language data that ships inside the spaCy wheel, plus one tiny
component, ``curate_lower_lemma``, that sets ``lemma_ = lower_``. Nothing is downloaded.

Korean and Japanese blank pipelines default to tokenizers that need mecab-ko / SudachiPy, and
Chinese to a per-character segmenter (which would cut every context word into single characters).
For ``ko``, ``ja`` and ``zh`` we use spaCy's rule-based ``spacy.Tokenizer.v1`` instead: it splits at
whitespace and at CJK punctuation and script changes (Hangul/Kanji/Kana ↔ digits/Latin), so
``주민등록번호는`` stays one word and presidio's default *substring* context matching finds
``주민등록번호`` in it. Any other language code gets ``spacy.blank(code)`` when spaCy knows it, else
the multi-language ``xx`` pipeline.
"""
from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

LEMMA_COMPONENT = "curate_lower_lemma"
CJK_LANGS = ("ko", "ja", "zh")

# Hangul syllables/jamo, CJK ideographs, kana and their compatibility forms.
_CJK = r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
# CJK and full-width punctuation that separates words in running text.
_CJK_PUNCT = r"\u3001\u3002\u300c-\u300f\u3010\u3011\u301c\uff01\uff08\uff09\uff0c\uff0e\uff1a\uff1b\uff1f\u00b7\u30fb"
_CJK_INFIXES = [
    rf"[{_CJK_PUNCT}]",
    rf"(?<=[{_CJK}])(?=[0-9A-Za-z+(])",
    rf"(?<=[0-9A-Za-z)])(?=[{_CJK}])",
]


@Language.component(LEMMA_COMPONENT)
def lower_lemma(doc: Doc) -> Doc:
    """Lemma = lower-cased token text (what presidio's context enhancer compares)."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def blank_pipeline(lang: str) -> Language:
    """A blank, offline spaCy pipeline for ``lang`` with lower-cased lemmas."""
    import spacy

    if lang in CJK_LANGS:
        nlp = spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}})
    else:
        try:
            nlp = spacy.blank(lang)
        except Exception:  # noqa: BLE001 - unknown code or a tokenizer needing extra packages
            nlp = spacy.blank("xx")
    if nlp.lang in CJK_LANGS or nlp.lang == "xx":
        # the fallback pipeline (xx) sees Korean/Japanese/Chinese too
        infixes = list(nlp.Defaults.infixes or []) + _CJK_INFIXES
        nlp.tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer
        suffixes = list(nlp.Defaults.suffixes or []) + [rf"[{_CJK_PUNCT}]"]
        nlp.tokenizer.suffix_search = spacy.util.compile_suffix_regex(suffixes).search
        prefixes = list(nlp.Defaults.prefixes or []) + [rf"[{_CJK_PUNCT}]"]
        nlp.tokenizer.prefix_search = spacy.util.compile_prefix_regex(prefixes).search
    nlp.add_pipe(LEMMA_COMPONENT)
    return nlp


def load_ner_model(name: str) -> Language:
    """An installed spaCy model (package or folder). Never downloads: raises LookupError instead."""
    import spacy
    from pathlib import Path

    if not (spacy.util.is_package(name) or Path(name).exists()):
        raise LookupError(name)
    return spacy.load(name)


class PreloadedSpacyNlpEngine(SpacyNlpEngine):
    """presidio's SpacyNlpEngine over pipelines we built ourselves (its ``load`` would download)."""

    def __init__(self, pipelines: dict[str, Language], ner_model_configuration: NerModelConfiguration | None = None):
        super().__init__(
            models=[{"lang_code": lang, "model_name": f"curate-blank-{lang}"} for lang in pipelines],
            ner_model_configuration=ner_model_configuration,
        )
        self._pipelines = dict(pipelines)
        self.nlp = dict(pipelines)

    def load(self) -> None:
        self.nlp = dict(self._pipelines)
