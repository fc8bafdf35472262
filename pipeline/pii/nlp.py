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

import threading
from collections.abc import Mapping
from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc

from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.attrs import IDX, LENGTH

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


def blank_pipeline(lang: str, lemmas: bool = True) -> Language:
    """A blank, offline spaCy pipeline for ``lang`` with lower-cased lemmas.

    ``lemmas=False`` leaves the component out: :class:`PreloadedSpacyNlpEngine` with
    ``fast_artifacts`` derives the same lemmas from the token text without walking the Doc.
    """
    import spacy

    if lang in CJK_LANGS:
        nlp = _with_cjk_splits(lang).from_config({"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}})
    else:
        try:
            multi = spacy.util.get_lang_class(lang).lang == "xx"
            nlp = _with_cjk_splits(lang).from_config({}) if multi else spacy.blank(lang)
        except Exception:  # noqa: BLE001 - unknown code or a tokenizer needing extra packages
            nlp = _with_cjk_splits("xx").from_config({})
    if lemmas:
        nlp.add_pipe(LEMMA_COMPONENT)
    return nlp


@lru_cache(maxsize=None)
def _with_cjk_splits(lang: str) -> type[Language]:
    """spaCy's language class for ``lang`` whose tokenizer also splits at CJK punctuation and
    script changes (the fallback pipeline, xx, sees Korean/Japanese/Chinese too). The rules go in
    through ``Defaults``, so the tokenizer is built once with them: setting them on a built
    tokenizer reloads all its special cases, once per rule set."""
    import spacy

    base = spacy.util.get_lang_class(lang)

    class Defaults(base.Defaults):
        infixes = list(base.Defaults.infixes or []) + _CJK_INFIXES
        suffixes = list(base.Defaults.suffixes or []) + [rf"[{_CJK_PUNCT}]"]
        prefixes = list(base.Defaults.prefixes or []) + [rf"[{_CJK_PUNCT}]"]

    return type(base.__name__, (base,), {"Defaults": Defaults, "lang": base.lang})


def blank_defaults(lang: str) -> tuple[frozenset, frozenset]:
    """``(stop words, tokenizer exception strings)`` of ``blank_pipeline(lang)`` without building
    it: both come from the language's ``Defaults`` (what the prefilter reads)."""
    import spacy

    try:
        defaults = spacy.util.get_lang_class(lang).Defaults
    except Exception:  # noqa: BLE001 - as blank_pipeline: unknown code → the xx pipeline's
        defaults = spacy.util.get_lang_class("xx").Defaults
    return frozenset(defaults.stop_words), frozenset(defaults.tokenizer_exceptions or ())


class LazyPipelines(Mapping):
    """language → spaCy pipeline, each blank pipeline built on first use (most runs never need
    most languages; a pipeline costs a tokenizer with thousands of special cases). ``built`` are
    pipelines made elsewhere (an NER model)."""

    def __init__(self, languages, lemmas: bool, built: dict[str, Language] | None = None) -> None:
        self._languages = tuple(dict.fromkeys(list(languages) + list(built or ())))
        self._lemmas = lemmas
        self._built: dict[str, Language] = dict(built or {})
        self._lock = threading.Lock()

    def __getitem__(self, lang: str) -> Language:
        nlp = self._built.get(lang)
        if nlp is not None:
            return nlp
        if lang not in self._languages:
            raise KeyError(lang)
        with self._lock:
            nlp = self._built.get(lang)
            if nlp is None:
                nlp = self._built[lang] = blank_pipeline(lang, lemmas=self._lemmas)
        return nlp

    def __contains__(self, lang) -> bool:
        return lang in self._languages

    def __iter__(self):
        return iter(self._languages)

    def __len__(self) -> int:
        return len(self._languages)

    def pipe_names(self, lang: str) -> list[str]:
        """``self[lang].pipe_names``, without building a blank pipeline not built yet."""
        if lang in self._built or lang not in self._languages:
            return list(self[lang].pipe_names)
        return [LEMMA_COMPONENT] if self._lemmas else []

    def defaults(self, lang: str) -> tuple[frozenset, frozenset]:
        """``(stop words, tokenizer exception strings)`` of ``self[lang]``, without building a
        blank pipeline not built yet."""
        if lang in self._built or lang not in self._languages:
            nlp = self[lang]
            return frozenset(nlp.Defaults.stop_words), frozenset(nlp.tokenizer.rules or ())
        return blank_defaults(lang)


def load_ner_model(name: str) -> Language:
    """An installed spaCy model (package or folder). Never downloads: raises LookupError instead."""
    import spacy
    from pathlib import Path

    if not (spacy.util.is_package(name) or Path(name).exists()):
        raise LookupError(name)
    return spacy.load(name)


class PreloadedSpacyNlpEngine(SpacyNlpEngine):
    """presidio's SpacyNlpEngine over pipelines we built ourselves (its ``load`` would download)."""

    def __init__(self, pipelines: Mapping[str, Language], ner_model_configuration: NerModelConfiguration | None = None,
                 fast_artifacts: bool = True):
        super().__init__(
            models=[{"lang_code": lang, "model_name": f"curate-blank-{lang}"} for lang in pipelines],
            ner_model_configuration=ner_model_configuration,
        )
        self._pipelines = pipelines if isinstance(pipelines, LazyPipelines) else dict(pipelines)
        self.fast_artifacts = fast_artifacts
        self.load()

    def load(self) -> None:
        self.nlp = self._pipelines if isinstance(self._pipelines, LazyPipelines) else dict(self._pipelines)
        self._stop: dict[tuple[str, str], bool] = {}
        self._punct: dict[tuple[str, str], bool] = {}

    # presidio asks these once per token; the answers depend only on the string, so cache them.
    def is_stopword(self, word: str, language: str) -> bool:  # noqa: D102
        key = (word, language)
        v = self._stop.get(key)
        if v is None:
            v = self._stop[key] = bool(self.nlp[language].vocab[word].is_stop)
            if len(self._stop) > 200_000:
                self._stop.clear()
        return v

    def is_punct(self, word: str, language: str) -> bool:  # noqa: D102
        key = (word, language)
        v = self._punct.get(key)
        if v is None:
            v = self._punct[key] = bool(self.nlp[language].vocab[word].is_punct)
            if len(self._punct) > 200_000:
                self._punct.clear()
        return v

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        """As presidio's, with ``tokens`` as a list of strings.

        The context enhancer only iterates tokens and takes ``len(token)``; iterating a spaCy Doc
        builds a Token object per step, and it does so from the first token for every finding.
        """
        if not self.fast_artifacts or doc.has_annotation("ENT_IOB"):
            return super()._doc_to_nlp_artifact(doc, language)
        text = doc.text
        arr = doc.to_array([IDX, LENGTH]).tolist() if len(doc) else []
        tokens = [text[i : i + n] for i, n in arr]
        lemmas = [t.lemma_ for t in doc] if self._lemmas_differ(language) else [t.lower() for t in tokens]
        return NlpArtifacts(entities=[], tokens=tokens, tokens_indices=[i for i, _ in arr], lemmas=lemmas,
                            nlp_engine=self, language=language, scores=[])

    def _lemmas_differ(self, language: str) -> bool:
        """True unless the pipeline's lemmas are our lower-cased text (then we skip the Doc walk)."""
        return pipe_names(self.nlp, language) not in ([], [LEMMA_COMPONENT])


def pipe_names(pipelines: Mapping[str, Language], lang: str) -> list[str]:
    """The component names of ``pipelines[lang]``, not building a lazy pipeline to learn them."""
    if isinstance(pipelines, LazyPipelines):
        return pipelines.pipe_names(lang)
    return list(pipelines[lang].pipe_names)
