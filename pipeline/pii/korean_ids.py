"""Korean registration numbers that need code: dates, gender/century digits and check digits.

Referenced by class name from ``rules/pii/recognizers.yaml`` like the other code recognizers;
:mod:`pipeline.pii.recognizers` imports them so presidio's class-name lookup sees them.
"""
from __future__ import annotations

import datetime as _dt
from typing import Optional

from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    KrBrnRecognizer,
    KrDriverLicenseRecognizer,
    KrFrnRecognizer,
    KrRrnRecognizer,
)


def _kr_birth_date(digits: str, century: int) -> _dt.date | None:
    try:
        return _dt.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None


def _registration_pattern(name: str, gender_digits: str) -> Pattern:
    """YYMMDD-GNNNNNC: a real month and day, G one of ``gender_digits`` (a regex class body)."""
    return Pattern(name, r"(?<![\d-])\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-?[%s]\d{6}(?![\d-])" % gender_digits, 0.5)


# Languages whose text reports a Korean ID written as bare (or spaced) digits without a context
# word: Korean, and text whose language is unknown (the engine's fallback runs every recognizer).
KOREAN_TEXT = frozenset({"ko", "xx"})


class _KoreanIdMixin:
    """Score without context from the written form and the text's language, for every Korean ID.

    presidio registers these recognizers for Korean text only and reports a value with a valid
    structure at 0.5 without context. Here they also run on other languages, where a bare digit
    run (a time stamp, an order number) is far more often something else: in text that is not in
    ``KOREAN_TEXT`` an unconfirmed value written without dashes scores ``BARE_SCORE``, below every
    threshold, so only a context word reports it. A value confirmed by its check digit keeps 1.0.
    Weak findings of technical text are dropped by rules/pii/suppression.yaml (``plain_numbers``).
    """

    BARE_SCORE = 0.3

    def score_without_context(self, value: str, score: float) -> float:
        if score < 1.0 and "-" not in value and self.supported_language not in KOREAN_TEXT:
            return min(score, self.BARE_SCORE)
        return score


def _analyze_rescored(self, text, entities, nlp_artifacts=None, regex_flags=None):
    """presidio's pattern matching, each finding then scored by ``score_without_context``.

    Assigned as ``analyze`` in each class that rescores: the fast path (pipeline/pii/fast.py)
    accepts a class's own ``analyze`` only from the classes it lists, and this one never reads
    the NLP artifacts."""
    results = PatternRecognizer.analyze(self, text, entities, nlp_artifacts, regex_flags)
    for r in results:
        r.score = self.score_without_context(text[r.start : r.end], r.score)
    return results


class _KrRegistrationMixin(_KoreanIdMixin):
    """Shared RRN/FRN logic: a real birth date, the gender/century digit, and the check digit.

    A value with a real birth date (not in the future) and a gender/century digit of its type
    is reported without context at the pattern score (0.5, as presidio does): numbers issued since
    October 2020 end in random digits instead of a check digit, and an older number with a wrong
    one may be re-issued or mistyped. A valid region code and check digit give 1.0. A gender digit
    in ``CONTEXT_ONLY`` keeps ``BARE_SCORE`` whatever its form: only a context word reports it.
    """

    CENTURY: dict = {}
    CONTEXT_ONLY: frozenset = frozenset()  # gender/century digits reported only with a context word
    ENTITY = ""
    PATTERNS: list = []
    PREFILTER = r"\d{6}-?\d{7}"

    def __init__(self, patterns=None, context=None, supported_language="ko", supported_entity=None,
                 replacement_pairs=None, name=None):
        super().__init__(patterns=patterns or self.PATTERNS, context=context, supported_language=supported_language,
                         supported_entity=supported_entity or self.ENTITY, replacement_pairs=replacement_pairs, name=name)

    def _classify(self, pattern_text: str) -> str:
        digits = pattern_text.replace("-", "")
        if len(digits) != 13 or not digits.isdigit() or digits[6] not in self.CENTURY:
            return "invalid"
        born = _kr_birth_date(digits, self.CENTURY[digits[6]])
        if born is None or born > _dt.date.today():
            return "invalid"
        if digits[6] in self.CONTEXT_ONLY:
            return "context_only"
        if self._validate_region_code(int(digits[7:9])) and self._validate_checksum(digits):
            return "valid"
        return "structure"

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        kind = self._classify(pattern_text)
        return True if kind == "valid" else False if kind == "invalid" else None

    def score_without_context(self, value: str, score: float) -> float:
        if self._classify(value) == "context_only":
            return self.BARE_SCORE
        return super().score_without_context(value, score)

    analyze = _analyze_rescored


class KrRrnChecksumRecognizer(_KrRegistrationMixin, KrRrnRecognizer):
    """Korean resident registration number (주민등록번호) YYMMDD-GNNNNNC.

    G (the 7th digit, gender and century of birth): 1/2 born 1900–1999, 3/4 born 2000–2099,
    9/0 born 1800–1899; 5–8 are the same digits for registered foreigners (KR_FRN). Source: the
    Resident Registration Act's numbering rule as summarised in the Korean Wikipedia article
    "주민등록번호" (section 구성) and the Ministry of the Interior and Safety's notice of the
    October 2020 change (digits after G random). Nobody born in the 1800s is alive, and presidio's
    tests treat 9/0 as invalid, so a 9/0 number is reported only with a context word
    (주민등록번호 …): an old register may still quote one.
    """

    CENTURY = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "9": 1800, "0": 1800}
    CONTEXT_ONLY = frozenset("90")
    ENTITY = "KR_RRN"
    PATTERNS = [_registration_pattern("RRN", "012349")]


class KrFrnChecksumRecognizer(_KrRegistrationMixin, KrFrnRecognizer):
    """Korean foreigner registration number (외국인등록번호): G is 5/6 (1900s) or 7/8 (2000s)."""

    CENTURY = {"5": 1900, "6": 1900, "7": 2000, "8": 2000}
    ENTITY = "KR_FRN"
    PATTERNS = [_registration_pattern("FRN", "5-8")]


class KrBrnChecksumRecognizer(_KoreanIdMixin, KrBrnRecognizer):
    """Korean business registration number (사업자등록번호) NNN-NN-NNNNC, check digit validated.

    presidio's class scores every checksum-valid 10-digit number 1.0 — one random number in ten.
    Here a valid checksum keeps the pattern score (0.5): reported without context written
    NNN-NN-NNNNN, and as a bare 10-digit run in Korean text (elsewhere a bare run, a Unix time
    stamp or an id, needs a context word). A wrong checksum rejects.
    """

    PREFILTER = r"\d{3}-\d{2}-\d{5}|\d{10}"

    def __init__(self, patterns=None, context=None, supported_language="ko", supported_entity="KR_BRN",
                 replacement_pairs=None, name=None):
        # presidio scores per pattern: the bare form's score is set for the language here
        super().__init__(patterns=patterns or self.patterns_for(supported_language), context=context,
                         supported_language=supported_language, supported_entity=supported_entity,
                         replacement_pairs=replacement_pairs, name=name)

    @classmethod
    def patterns_for(cls, language: str) -> list:
        """Dashed NNN-NN-NNNNN at 0.5; bare digits at 0.5 in Korean text, else ``BARE_SCORE``."""
        return [
            Pattern("BRN (dashed)", r"(?<![\d-])\d{3}-\d{2}-\d{5}(?![\d-])", 0.5),
            Pattern("BRN (digits)", r"(?<![\d-])\d{10}(?![\d-])", 0.5 if language in KOREAN_TEXT else cls.BARE_SCORE),
        ]

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        return None if super().validate_result(pattern_text) else False


class KrDriverLicenseContextRecognizer(_KoreanIdMixin, KrDriverLicenseRecognizer):
    """Korean driver's licence number RR-YY-NNNNNN-CC (RR: issuing region code).

    presidio's class returns 1.0 for every 12-digit number starting with a region code; here the
    region check only rejects, and a value with a region code scores ``STRUCTURE_SCORE``: reported
    without context written RR-YY-NNNNNN-CC, and spaced or bare in Korean text (elsewhere those
    need a context word: 운전면허, 면허번호, …).
    """

    PREFILTER = r"\d{2}[- ]?\d{2}[- ]?\d{6}"
    STRUCTURE_SCORE = 0.5

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        return None if super().validate_result(pattern_text) else False

    def score_without_context(self, value: str, score: float) -> float:
        return super().score_without_context(value, max(score, self.STRUCTURE_SCORE))

    analyze = _analyze_rescored
