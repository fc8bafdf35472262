"""The quality heuristics behind the ``quality`` stage (:mod:`pipeline.stages.quality`), one idea per
module:

* :mod:`~pipeline.quality.stats` — :class:`DocStats`, one shared tokenisation of a document and
  everything derived from it, computed on first use;
* :mod:`~pipeline.quality.measures` — the measures rules name in ``check:`` (``MEASURES``);
* :mod:`~pipeline.quality.ngrams` — exact word n-gram repetition (``top_ngram``, ``dup_ngram``);
* :mod:`~pipeline.quality.rules` — ``rules/quality.yaml`` loaded, resolved per language and checked.

docs/quality.md shows how to add a measure.
"""
from pipeline.quality.rules import QualityRules, RulesError, effective_lang
from pipeline.quality.stats import DocStats

__all__ = ["DocStats", "QualityRules", "RulesError", "effective_lang"]
