"""Stage `quality`: drop documents that are not natural prose — too short, symbol soup, repeated
lines, boilerplate — by the Gopher / C4 / FineWeb heuristics, in every supported language.

What it decides: a record is dropped with the ``name`` of the first rule in ``rules/quality.yaml``
that it fails (``word_count``, ``dup_lines``, ``top_ngram``, ``lorem_ipsum`` …); the decisions
detail holds the measured value and the threshold it broke (``{"value": 0.41, "max": 0.3}``, plus
``"n"`` for n-gram rules). Kept records carry no detail.

Why this way: these are the published, widely reproduced web-text filters; their thresholds are data
(``rules/quality.yaml``, per-language overrides, an ``enabled`` flag per rule) so tuning needs no code.
They are made CJK-aware through :func:`pipeline.text.split_words`: Han and Kana characters are words
(zh, ja), Korean words are eojeol with their own thresholds and a particle-suffix stop-word check
(``rules/stopwords.yaml``). The record's ``lang`` (from langid) picks the overrides; a record without
one gets ja / zh / ko from its script when the script decides it.

How: the measures, the statistics they share and the rule engine live in :mod:`pipeline.quality`
(docs/quality.md has the module map and how to add a measure); this module is the stage — a core
that checks a batch of records at once (one tokenisation per batch) and its PTransform.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.quality.rules import QualityRules, effective_lang
from pipeline.stages.base import StageCore, Verdict, drop, keep
from pipeline.stages.registry import beam_half, declare_stage


class QualityFilter(StageCore):
    name = "quality"
    version = "1"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._rules: QualityRules | None = None

    def setup(self) -> None:
        self._rules = QualityRules.from_config(self.config)

    def process(self, record: dict) -> Verdict:
        return self.process_batch([record])[0]

    def process_batch(self, records: list[dict]) -> list[Verdict]:
        if self._rules is None:
            self.setup()
        texts = [t if isinstance(t := r.get("text"), str) else "" for r in records]
        langs = [effective_lang(r.get("lang"), t) for r, t in zip(records, texts)]
        return [drop(*failures[0]) if failures else keep() for failures in self._rules.check_batch(texts, langs)]


@dataclass
class QualityConfig:
    enabled: bool = True
    rules: str | None = None  # another quality.yaml; default: rules/quality.yaml


declare_stage("quality", 30, config_section="quality", config_class=QualityConfig, reasons=[],  # reasons: the rule names of rules/quality.yaml
              transform="pipeline.stages.transforms:QualityStage")


__getattr__ = beam_half(__name__, ("QualityStage",))  # the PTransform: pipeline.stages.transforms
