"""Chinese and Japanese national identity numbers (the 18-digit Chinese one and the Japanese one
validated by python-stdnum, the 15-digit Chinese one by its birth date and province code).

presidio ships recognizers for Korean registration numbers (and ours in
:mod:`pipeline.pii.korean_ids` sharpen them) but none for China's resident identity card number or
Japan's Individual Number. Referenced by class name from ``rules/pii/recognizers.yaml``;
:mod:`pipeline.pii.recognizers` imports them so presidio's class-name lookup sees them.

The digits may be full-width (``１１０１…``), as Chinese and Japanese text often writes them: the
patterns' ``\\d`` matches any decimal digit, and a value is NFKC-normalised before validation.
"""
from __future__ import annotations

import datetime as _dt
import unicodedata
from typing import Optional

from presidio_analyzer import Pattern, PatternRecognizer


# A number is not part of a longer number, code or word: no digit, Latin letter or '-' touches it.
# CJK characters may (身份证号110105…的, 個人番号は1234…です): ``\w`` would count them as word
# characters and miss every number written without a space, as Chinese and Japanese text writes it.
_NOT_BEFORE = r"[\dA-Za-zＡ-Ｚａ-ｚ-]"
_NOT_AFTER = _NOT_BEFORE
# Every match of these recognizers holds seven digits in a row (or four and three around a dash or
# space): the card recognizer's condition. The prefilter's union, run over every text, gets that
# one (it has it already) instead of a longer alternative; each recognizer still runs only where
# its own condition (PREFILTER) matches.
_SEVEN_DIGITS = r"\d{4}[- ]?\d{3}"
# Each recognizer's own condition: twelve digits (in groups of four) from the start of a run of
# digits — where every match of each of them starts. One condition for all: the fast path scans for it once.
_TWELVE_DIGITS = r"(?<!\d)\d{4}[- ]?\d{4}[- ]?\d{4}"
# Any 18 characters of the right kinds: the date and the check character are validated on the
# digits' ASCII form (a range such as [1-9] would not match full-width digits).
_CN_ID = r"\d{17}[\dXxＸｘ]"


def _ascii(value: str) -> str:
    # NFKC, not boundaries.narrowed: ``\d`` also matches digits such as U+1D7CE (mathematical bold
    # zero) whose ASCII twin only NFKC gives.
    return unicodedata.normalize("NFKC", value).upper()


class _NumberRecognizer(PatternRecognizer):
    """A recognizer of one entity whose patterns and language are class attributes (the YAML
    entry gives the context words per language)."""

    ENTITY: str
    PATTERNS: list
    LANGUAGE = "zh"

    def __init__(self, patterns=None, context=None, supported_language=None, supported_entity=None, name=None):
        super().__init__(patterns=patterns or self.PATTERNS, context=context,
                         supported_language=supported_language or self.LANGUAGE,
                         supported_entity=supported_entity or self.ENTITY, name=name)


class CnResidentIdRecognizer(_NumberRecognizer):
    """China's resident identity card number (公民身份号码, GB 11643-1999): 18 characters — a
    6-digit address code, the birth date YYYYMMDD, a 3-digit order code and a check character
    (ISO 7064 MOD 11-2; ``X`` stands for 10).

    A value with a real birth date (1900 to today) and a right check character scores 1.0 and is
    replaced in any language without a context word: one 18-digit run in about ten thousand passes
    both by chance. Anything else is rejected. The address code is not looked up (stdnum's table
    of counties would reject numbers of counties it does not list). The 15-digit numbers of the
    first-generation cards: :class:`CnFirstGenerationIdRecognizer`.
    """

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS = [Pattern("CN resident id", rf"(?<!{_NOT_BEFORE}){_CN_ID}(?!{_NOT_AFTER})", 0.5)]
    PREFILTER = _TWELVE_DIGITS  # (its first twelve digits): the other two recognizers' too, one scan for all
    PREFILTER_IMPLIED_BY = _SEVEN_DIGITS

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        from stdnum.cn import ric
        from stdnum.exceptions import ValidationError

        number = _ascii(pattern_text)
        try:
            if len(number) != 18 or number[0] == "0" or ric.calc_check_digit(number) != number[-1]:
                return False
            born = ric.get_birth_date(number)
        except (ValidationError, ValueError):
            return False
        return 1900 <= born.year and born <= _dt.date.today()


# The province-level address codes (GB/T 2260) a mainland card's number starts with: 11–15 north,
# 21–23 north-east, 31–37 east, 41–46 south-central, 50–54 south-west, 61–65 north-west.
_MAINLAND_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split())


class CnFirstGenerationIdRecognizer(_NumberRecognizer):
    """The 15-digit number of China's first-generation resident identity card (issued until 2004,
    still on file in old records and scans): the 6-digit address code, the birth date YYMMDD of a
    year 19YY and a 3-digit order code — no check character. GB 11643-1999 turns it into the
    18-digit number by inserting ``19`` before the year and appending the check character.

    Without a check character about one 15-digit run in a hundred has a real date and a province
    code by chance (serial, account and order numbers), so a value is reported only next to a
    Chinese context word (身份证 …): the pattern scores 0.05, the context word adds 0.35, the YAML's
    threshold is 0.4. A date that does not exist or a code of no mainland province rejects.
    """

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS = [Pattern("CN first-generation resident id", rf"(?<!{_NOT_BEFORE})\d{{15}}(?!{_NOT_AFTER})", 0.05)]
    PREFILTER = _TWELVE_DIGITS  # (its first twelve digits)
    PREFILTER_IMPLIED_BY = _SEVEN_DIGITS

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        number = _ascii(pattern_text)
        if len(number) != 15 or not number.isascii() or not number.isdigit() or number[:2] not in _MAINLAND_PROVINCES:
            return False
        try:
            _dt.date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
        except ValueError:
            return False
        return None  # the pattern's score: a context word decides


class JpMyNumberRecognizer(_NumberRecognizer):
    """Japan's Individual Number (個人番号, "My Number"): 12 digits, the last a check digit
    (python-stdnum ``jp.in_``), written bare or in groups of four (``1234 5678 9012``).

    One 12-digit number in ten passes the check by chance — order, account and tracking numbers
    among them — so a value is reported only next to a context word (マイナンバー, 個人番号 …):
    the pattern scores 0.05, a context word adds 0.35, and the YAML's threshold is 0.4. A wrong
    check digit rejects.
    """

    ENTITY = "JP_MY_NUMBER"
    LANGUAGE = "ja"
    # not the first or last 12 digits of a longer grouped number (a card: 4313 5287 6128 3153)
    PATTERNS = [Pattern("JP my number", rf"(?<!{_NOT_BEFORE})(?<!\d[- ])\d{{4}}([- ]?)\d{{4}}\1\d{{4}}(?!{_NOT_AFTER})(?![- ]\d)",
                        0.05)]
    PREFILTER = _TWELVE_DIGITS
    PREFILTER_IMPLIED_BY = _SEVEN_DIGITS

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        from stdnum.jp import in_

        return None if in_.is_valid(_ascii(pattern_text)) else False
