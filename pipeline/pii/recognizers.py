"""Recognizers that need code (checksums, offline validation), referenced by class name from
``rules/pii/recognizers.yaml`` (``type: predefined``, ``class_name: ...``).

presidio resolves ``type: predefined`` entries by looking the class name up among the loaded
subclasses of ``EntityRecognizer``; importing this module (the engine does) makes these classes
visible to that lookup. Presidio's YAML validator drops unknown keys of predefined recognizers, so
the tunables of these classes (regions, scores, cut-over dates) are class attributes here; context
words, languages and score thresholds stay in the YAML.

Every class carries ``PREFILTER``: a regex that occurs inside every match the recognizer can
return (a *necessary* condition, never a sufficient one). :mod:`pipeline.pii.prefilter` ORs them
into one pattern to skip text where no recognizer could fire.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import List

from phonenumbers import CountryCodeSource, Leniency, NumberParseException, PhoneNumber, PhoneNumberMatch, parse
from phonenumbers.phonenumbermatcher import (
    _LEAD_PATTERN,
    _MATCHING_BRACKETS,
    _PATTERN,
    _PUB_PAGES,
    _SECOND_NUMBER_START_PATTERN,
    _TIME_STAMPS_SUFFIX,
    PhoneNumberMatcher,
    _verify,
)
from phonenumbers.phonenumberutil import _PLUS_CHARS, normalize_digits_only
import phonenumbers.re_util as phonenumbers_re_util
from phonenumbers.re_util import fullmatch
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    PhoneRecognizer,
)

# Imported for presidio's class-name lookup (and for the fast path's type checks).
from pipeline.pii.cjk_ids import CnFirstGenerationIdRecognizer, CnResidentIdRecognizer, JpMyNumberRecognizer  # noqa: E402,F401
from pipeline.pii.korean_ids import (  # noqa: E402,F401
    KrBrnChecksumRecognizer,
    KrDriverLicenseContextRecognizer,
    KrFrnChecksumRecognizer,
    KrRrnChecksumRecognizer,
    _KrRegistrationMixin,
)

# phonenumbers compiles its metadata's patterns with re.compile on every parse, validation and
# format call (a lookup in re's small cache each time, a recompile once evicted); its own pattern
# cache, off by default, keeps each one compiled once (the patterns are fixed metadata: bounded).
if hasattr(phonenumbers_re_util, "enable_pattern_cache"):  # (phonenumbers releases before it lack it)
    phonenumbers_re_util.enable_pattern_cache()

_TLD = None


def offline_tldextract():
    """tldextract over its bundled public-suffix snapshot: no HTTP fetch, no cache writes."""
    global _TLD
    if _TLD is None:
        import tldextract

        _TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    return _TLD


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's EmailRecognizer, but the domain check uses the bundled suffix list.

    The stock class calls ``tldextract.extract`` whose default extractor downloads the public
    suffix list on first use; a curation run must never touch the network.
    """

    PREFILTER = r"@"
    # Every character of a match is one of these (the pattern's classes, '@' and the domain's
    # '-' and '.'), and the pattern reads outside its match only through ``\b``: a match lies
    # inside one maximal run of them, around a PREFILTER hit (see :mod:`pipeline.pii.fast`).
    MATCH_CHARACTERS = r"[!#$%&'*+\-/=?^_`{|}~\w.@]"

    def validate_result(self, pattern_text: str):  # noqa: D102
        return _has_domain(pattern_text)


@lru_cache(maxsize=1 << 14)
def _has_domain(address: str) -> bool:
    """The e-mail domain check (documents repeat their addresses: outcomes are remembered)."""
    return offline_tldextract()(address).fqdn != ""


def _isbn_like(text: str) -> bool:
    """A hyphenated ISBN-10/13 with a valid check digit (looks like a phone number to phonenumbers)."""
    groups = text.split("-")
    digits = "".join(groups).upper()
    if len(groups) not in (4, 5):
        return False
    if len(digits) == 10 and digits[:9].isdigit() and (digits[9].isdigit() or digits[9] == "X"):
        total = sum((10 - i) * int(d) for i, d in enumerate(digits[:9]))
        total += 10 if digits[9] == "X" else int(digits[9])
        return total % 11 == 0
    if len(digits) == 13 and digits.isdigit() and digits[:3] in ("978", "979"):
        total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits[:12]))
        return (10 - total % 10) % 10 == int(digits[12])
    return False


_ND = re.compile(r"\d")  # what phonenumbers reads as a digit (Unicode Nd)
_DIGIT_RUN = re.compile(r"\d+")
_LETTER = re.compile(r"[^\W\d_]")  # letters: vanity numbers and extensions ("ext", "x") take the slow path
_PLUS = re.compile(f"[{_PLUS_CHARS}]")
_EXTENSION_MARK = re.compile(r"[;,#＃~～]")  # extensions written without letters (phonenumbers' _EXTN_PATTERNS)


class _Digits:
    """What the region checks need to know about a candidate, computed once for all regions."""

    __slots__ = ("count", "letter", "plus", "_text", "_number", "_part_starts", "_part_ends", "_heads")

    def __init__(self, candidate: str):
        self.count = len(_ND.findall(candidate))
        self.letter = _LETTER.search(candidate) is not None
        self.plus = _PLUS.search(candidate) is not None
        self._text = candidate
        self._number = None
        self._part_starts = None
        self._part_ends = None
        self._heads = None

    def starts_with_at_a_part(self, prefix: re.Pattern, head: str | None = None) -> bool:
        """``prefix`` matches the digits of some part of the candidate at their start.

        Every part phonenumbers parses (the candidate, or an inner group of it) begins at the
        candidate's start or at or after a separator (slash, bracket, space, full stop, wide
        hyphen, or a hyphen with a space beside it), so its digits begin where a run of digits of
        the candidate begins, never after a hyphen joining two digits (``7-0005834`` has one part,
        starting at ``7``); parsing reads an international prefix only there. Non-ASCII candidates
        (where phonenumbers' digit normalisation decides the digits) are searched anywhere.
        ``head`` is the digit every match of ``prefix`` starts with, if there is one (the regions'
        international prefixes start with ``0``): parts that start otherwise are not tried."""
        if not self._text.isascii():
            return (head is None or head in self.number) and prefix.search(self.number) is not None
        starts = self.part_starts
        number = self.number
        if head is not None and head not in self.heads:
            return False
        return any(prefix.match(number, at) for at in starts)

    @property
    def heads(self) -> set[str] | None:
        """The digits the parts start with (an ASCII candidate's, see :meth:`starts_with_at_a_part`);
        None for a non-ASCII one."""
        heads = self._heads
        if heads is None and self._text.isascii():
            number = self.number
            heads = self._heads = {number[at] for at in self.part_starts}
        return heads

    @property
    def part_starts(self) -> list[int]:
        """Where the digits of a part can start, as offsets into :attr:`number` (an ASCII
        candidate's: see :meth:`starts_with_at_a_part`)."""
        starts = self._part_starts
        if starts is None:
            starts, ends, at, text = [], [], 0, self._text
            for run in _DIGIT_RUN.finditer(text):
                p = run.start()
                if at == 0 or not (text[p - 1] == "-" and text[p - 2].isdigit()):
                    starts.append(at)
                at += run.end() - p
                ends.append(at)
            self._part_starts, self._part_ends = starts, ends
        return starts

    @property
    def part_ends(self) -> list[int]:
        """Where the digits of a part can end, as offsets into :attr:`number` (an ASCII
        candidate's): at the end of a run of digits. A part is the candidate or an inner group
        of it (upstream's ``_INNER_MATCHES``), which ends at the candidate's end or before a
        separator (slash, bracket, space, full stop, hyphen), then loses trailing characters
        that are neither letters nor digits: never between two digits."""
        if self._part_ends is None:
            self.part_starts  # noqa: B018 - computes both
        return self._part_ends

    @property
    def number(self) -> str:
        """The candidate's digits as ASCII (phonenumbers' normalisation)."""
        if self._number is None:
            text = self._text
            self._number = "".join(_ND.findall(text)) if text.isascii() else normalize_digits_only(text)
        return self._number


class CandidateScan:
    """The candidate search one text's region matchers (:class:`_SharedCandidateMatcher`) share:
    ``found`` maps a search index to the next candidate some region may take, ``live`` maps a
    candidate to the bit mask of the matchers for which it is not hopeless (bit ``i``:
    ``matchers[i]``). ``live`` depends on the candidate and the regions only: it may be kept
    across texts whose scans have the same regions in the same order (``live`` passed in)."""

    __slots__ = ("found", "live", "matchers", "checks")

    def __init__(self, live: dict | None = None) -> None:
        self.found: dict[int, tuple] = {}
        self.live = {} if live is None else live
        self.matchers: list = []
        self.checks: list | None = None  # the matchers' region bounds, read at the first candidate

    def join(self, matcher) -> int:
        """Add a region's matcher; returns its bit. Every matcher joins before any searches: a
        candidate's mask is computed once, over the matchers there are then."""
        if self.found:
            raise ValueError("a matcher cannot join a candidate scan already under way")
        self.matchers.append(matcher)
        return 1 << (len(self.matchers) - 1)


class _SharedCandidateMatcher(PhoneNumberMatcher):
    """``PhoneNumberMatcher`` whose candidate search is shared by the regions of one text.

    ``_find`` is upstream's loop with two changes that leave its matches unchanged: the
    candidate found from a search index is looked up in the ``scan`` (:class:`CandidateScan`,
    the same for every region of the text: it depends only on the text and the index; the
    candidates no region of the scan can take are stepped over there once, not once per
    region), and a candidate none of whose parts can be valid (:meth:`_hopeless`) is skipped
    without parsing; ``_parse_and_verify`` rejects the inner parts of longer candidates by the
    same digit counts. A skipped candidate counts as one try, not one per inner part, so the
    65,535-try limit is reached later than upstream (never on realistic text).
    """

    def __init__(self, text, region, leniency, scan: "CandidateScan | None", min_digits: int,
                 national: tuple | None = None, country_code: str | None = None, verified: dict | None = None,
                 cannot: dict | None = None, extracted: dict | None = None, stretches: dict | None = None):
        super().__init__(text, region, leniency=leniency)
        self._extracted = {} if extracted is None else extracted  # _extract_match outcomes (this region)
        self._cannot_outcomes = {} if cannot is None else cannot  # candidate → _cannot_be_valid (this region)
        # digits of a part → _national_number_cannot_be_valid (this region): parts repeat across candidates
        self._stretch_outcomes = {} if stretches is None else stretches
        self._scan = CandidateScan() if scan is None else scan
        self._shared = self._scan.found
        self._bit = self._scan.join(self)
        self._verified = {} if verified is None else verified  # (region, candidate) → verified number or None
        self._national_numbers = RegionalPhoneRecognizer.national_numbers(region) if national is not None else None
        self._min_digits = min_digits
        self._national = national  # (fewest, most digits, IDD regex) of a national number of the region
        self._idd_head = None if national is None else _literal_head(national[2].pattern)
        self._country_code = country_code  # set when only numbers written with it are kept (India: "91")

    def _find(self, index):
        shared = self._shared
        while self._max_tries > 0:
            got = shared.get(index)
            if got is None:
                got = shared[index] = self._next_live(index)
            skipped, start, candidate, live = got
            if skipped:  # candidates no region can take, each one try as upstream counts it
                if self._max_tries <= skipped:
                    self._max_tries = 0
                    return None
                self._max_tries -= skipped
            if start is None:
                return None
            if len(candidate) >= self._min_candidate_length:
                if live & self._bit:  # else hopeless here (:meth:`_hopeless`): no part can be valid
                    found = self._extract_match(candidate, start)
                    if found is not None:
                        return found
                self._max_tries -= 1
            index = start + len(candidate)
        return None

    def _next_live(self, index: int) -> tuple:
        """``(skipped, start, candidate, live)``: the first candidate found searching from
        ``index`` on (upstream's search, trim and step) that some region of the group may take
        (``live``: the mask of those, :meth:`_live_mask`), after ``skipped`` tries spent on
        candidates :meth:`_hopeless` in every region; ``start`` is None when none is left. Depends
        on the text and the index only: the regions of one text share it."""
        text, skipped, shortest = self.text, 0, self._min_candidate_length
        while True:
            match = _PATTERN.search(text, index)
            if match is None:
                return skipped, None, None, 0
            start = match.start()
            candidate = self._trim_after_first_match(_SECOND_NUMBER_START_PATTERN, match.group())
            live = self._scan.live.get(candidate)
            if live is None:
                live = self._live_mask(candidate)
            if live:
                return skipped, start, candidate, live
            if len(candidate) >= shortest:
                skipped += 1
            index = start + len(candidate)

    def _live_mask(self, candidate: str) -> int:
        """The bit mask of the scan's matchers for which ``candidate`` is not :meth:`_hopeless`
        (remembered: it depends on the candidate and the scan's regions only). The region checks
        :meth:`_hopeless` makes run here for all regions in one loop (:meth:`_live_regions`); a
        candidate with a letter is live, one with too few digits hopeless, in every region."""
        d = _Digits(candidate)
        scan = self._scan
        if d.letter:
            live = (1 << len(scan.matchers)) - 1
        elif d.count < self._min_digits:
            live = 0
        else:
            live = self._live_regions(d)
        return _remember(scan.live, candidate, live, _LIVE_CACHE)

    def _live_regions(self, d: "_Digits") -> int:
        """:meth:`_hopeless` of every matcher of the scan, as a mask of those it is False for, for a
        candidate without a letter (the matchers' bounds are read once per scan)."""
        checks = self._scan.checks
        if checks is None:
            checks = self._scan.checks = [
                (1 << i, m._min_digits, m._national, m._national_numbers[0].search if m._national_numbers else None,
                 m._country_code, m._idd_head, m)
                for i, m in enumerate(self._scan.matchers)
            ]
        live, count, number, plus = 0, d.count, d.number, d.plus
        heads = d.heads  # (an international prefix starting with a digit no part starts with is not there)
        for bit, min_digits, national, anywhere, country_code, head, matcher in checks:
            if count < min_digits:
                continue
            if national is None or plus:
                live |= bit
                continue
            no_idd = heads is not None and head is not None and head not in heads
            if country_code is not None and country_code not in number \
                    and (no_idd or not d.starts_with_at_a_part(national[2], head)):
                continue
            if count >= national[0] and (anywhere is None or anywhere(number) is not None):
                if not matcher._every_part_cannot_be_valid(d):
                    live |= bit
            elif not no_idd and d.starts_with_at_a_part(national[2], head):
                live |= bit
        return live

    def _hopeless(self, d: "_Digits") -> bool:
        """No part of the candidate can be a valid number here: fewer digits than any valid number,
        or, when no part of it is international (no '+', no international prefix at the start of
        the digits of any of its parts), fewer than any national number of the region or no stretch of its digits that is
        one (:meth:`RegionalPhoneRecognizer.national_numbers`)."""
        if d.letter:
            return False
        if d.count < self._min_digits:
            return True
        national = self._national
        if national is None or d.plus:
            return False  # some part may be read as an international number
        if self._country_code is not None and self._country_code not in d.number \
                and not d.starts_with_at_a_part(national[2], self._idd_head):
            return True  # every part would be read as a national number, which this region does not keep
        if d.count >= national[0] and (self._national_numbers is None
                                       or self._national_numbers[0].search(d.number) is not None):
            # a part read as a national number of the region may be a valid one, unless every
            # stretch of digits a part can hold fails :meth:`_cannot_be_valid` (dates read in Israel)
            return self._every_part_cannot_be_valid(d)
        # hopeless unless some part is read as an international number
        return not d.starts_with_at_a_part(national[2], self._idd_head)

    def _every_part_cannot_be_valid(self, d: "_Digits") -> bool:
        """True when :meth:`_cannot_be_valid` rejects every part phonenumbers can parse from the
        candidate (no letter or '+': checked before). The digits of a part run from a part start
        (:attr:`_Digits.part_starts`) to a later part end (:attr:`_Digits.part_ends`); every such
        stretch is tried, a superset of the parts, the whole candidate first. Only for ASCII
        candidates without an extension mark and with few enough digits for the stretches to be
        cheap to try; otherwise False."""
        text = d._text
        if d.count > _MOST_PART_DIGITS or self._national_numbers is None or not text.isascii() \
                or _EXTENSION_MARK.search(text):
            return False
        number, known, ends = d.number, self._stretch_outcomes, d.part_ends[::-1]
        for s in d.part_starts:
            for e in ends:
                if e <= s:
                    continue
                stretch = number[s:e]
                cannot = known.get(stretch)
                if cannot is None:
                    cannot = _remember(known, stretch, self._national_number_cannot_be_valid(stretch, e - s))
                if not cannot:
                    return False
        return True

    def _cannot_be_valid(self, candidate: str) -> bool:
        """True when ``candidate`` read in this region cannot be a valid number, from its digit
        counts alone (depends on the candidate and region only: remembered per candidate)."""
        if _LETTER.search(candidate):
            return False
        digits = _ND.findall(candidate)
        n = len(digits)
        # the inner parts of a long candidate ("2.10.18" → "2", "10", "18") are mostly this short
        if n < self._min_digits:
            return True
        if self._national is None or _PLUS.search(candidate):
            return False
        number = "".join(digits) if candidate.isascii() else normalize_digits_only(candidate)
        if _EXTENSION_MARK.search(candidate):  # the digits may end in an extension: only too few count
            return n < self._national[0] and not self._national[2].match(number)
        return self._national_number_cannot_be_valid(number, n)

    def _national_number_cannot_be_valid(self, number: str, n: int) -> bool:
        """:meth:`_cannot_be_valid` of a candidate without letters, '+' or extension mark, whose
        ``n`` digits read ``number`` (phonenumbers' normalisation)."""
        if n < self._min_digits:
            return True
        # A candidate without '+' or the region's international prefix is parsed as a national
        # number of the region: its digits are [country code] [national prefix]* national
        # number, and a valid national number has one of the region's lengths.
        fewest, most, idd = self._national
        if n < fewest or n > most:
            return not idd.match(number)
        if self._national_numbers is None or idd.match(number):
            return False
        # parsed as a national number, its national significant number is a suffix of its digits
        if self._national_numbers[1].fullmatch(number) is None:
            return True
        return self.leniency != Leniency.POSSIBLE and _national_prefix_missing(self.preferred_region, number)

    def _extract_match(self, candidate, offset):
        """Upstream's ``_extract_match``, its outcome remembered: besides the candidate it reads
        only whether the characters just before and after it are ones a number may not touch
        (the neighbour checks of the whole candidate and of the inner parts at its ends) and
        whether a time-stamp suffix follows it. A remembered outcome spends the tries the first
        run spent, and is used only when more tries than that are left (so the limit cannot
        have cut either run short)."""
        text, end = self.text, offset + len(candidate)
        key = (candidate,
               None if offset == 0 else _touches_badly(text[offset - 1]),
               None if end >= len(text) else _touches_badly(text[end]),
               _TIME_STAMPS_SUFFIX.match(text, end) is not None)
        tries = self._max_tries
        known = self._extracted.get(key)
        if known is not None and tries > known[0]:
            spent, found = known
            self._max_tries = tries - spent
            if found is None:
                return None
            shift, raw, number = found
            numobj = PhoneNumber()
            numobj.merge_from(number)
            return PhoneNumberMatch(offset + shift, raw, numobj)
        match = super()._extract_match(candidate, offset)
        if self._max_tries > 0:
            if match is None:
                found = None
            else:
                number = PhoneNumber()
                number.merge_from(match.number)
                found = (match.start - offset, match.raw_string, number)
            if len(self._extracted) >= _VERIFIED_CACHE:
                self._extracted.clear()
            self._extracted[key] = (tries - self._max_tries, found)
        return match

    def _parse_and_verify(self, candidate, offset):
        cannot = self._cannot_outcomes.get(candidate)
        if cannot is None:
            cannot = _remember(self._cannot_outcomes, candidate, self._cannot_be_valid(candidate))
        if cannot:
            return None
        if self.leniency != Leniency.VALID:
            return super()._parse_and_verify(candidate, offset)
        # upstream's checks (all rejections without side effects); only the neighbour check reads the
        # text around the candidate, and parse + verify depend on the candidate and region only:
        # texts repeat candidates (versions, dates), so their outcome is remembered
        if not fullmatch(_MATCHING_BRACKETS, candidate) or _PUB_PAGES.search(candidate):
            return None
        key = (self.preferred_region, candidate)
        verified = self._verified.get(key, _UNSEEN)
        if verified is None:
            return None
        if offset > 0 and not _LEAD_PATTERN.match(candidate):
            previous_char = self.text[offset - 1]
            if self._is_invalid_punctuation_symbol(previous_char) or self._is_latin_letter(previous_char):
                return None
        last_char_index = offset + len(candidate)
        if last_char_index < len(self.text):
            next_char = self.text[last_char_index]
            if self._is_invalid_punctuation_symbol(next_char) or self._is_latin_letter(next_char):
                return None
        if verified is _UNSEEN:
            verified = _parse_verified(candidate, self.preferred_region)
            if len(self._verified) >= _VERIFIED_CACHE:
                self._verified.clear()
            self._verified[key] = verified
        if verified is None:
            return None
        numobj = PhoneNumber()
        numobj.merge_from(verified)
        return PhoneNumberMatch(offset, candidate, numobj)


def _typed_descs(md) -> list:
    """The number-type descriptions phonenumbers' ``number_type`` tries (all but the general one)."""
    descs = [md.premium_rate, md.toll_free, md.shared_cost, md.voip, md.personal_number, md.pager, md.uan,
             md.voicemail, md.fixed_line, md.mobile]
    return [d for d in descs if d is not None and d.national_number_pattern]


_UNSEEN = object()
_VERIFIED_CACHE = 1 << 14  # (region, candidate) parse outcomes remembered per recognizer (cleared when full)
_OUTCOME_CACHE = 1 << 13  # candidate → digit-count verdicts remembered per region (cleared when full)
_MOST_PART_DIGITS = 24  # a longer candidate is not checked part by part (most stretches to try)
_LIVE_CACHE = 1 << 16  # candidate → mask of the regions that may take it (one small int each)


def _remember(cache: dict, key, value, limit: int = _OUTCOME_CACHE):
    """Store ``value`` under ``key`` in a bounded outcome cache (emptied when full); returns it."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


_TOUCHING: dict[str, bool] = {}


def _touches_badly(char: str) -> bool:
    """A character a number may not touch (upstream's neighbour check: a Latin letter or
    combining mark, a currency symbol, '%'); remembered per character."""
    bad = _TOUCHING.get(char)
    if bad is None:
        if len(_TOUCHING) >= _OUTCOME_CACHE:
            _TOUCHING.clear()
        bad = _TOUCHING[char] = (PhoneNumberMatcher._is_invalid_punctuation_symbol(char)
                                 or PhoneNumberMatcher._is_latin_letter(char))
    return bad


@lru_cache(maxsize=None)
def _prefix_rules(region: str):
    """``(country code, national prefix regex, metadata of the country code's main region)``."""
    from phonenumbers import PhoneMetadata, country_code_for_region
    from phonenumbers.phonenumberutil import region_code_for_country_code

    md = PhoneMetadata.metadata_for_region(region)
    cc = country_code_for_region(region)
    prefix = md.national_prefix_for_parsing if md is not None else None
    return str(cc), re.compile(prefix) if prefix else None, PhoneMetadata.metadata_for_region(region_code_for_country_code(cc))


def _national_prefix_missing(region: str, digits: str) -> bool:
    """Upstream's ``_is_national_prefix_present_if_required`` fails for every parse of ``digits``
    (a candidate without '+', international prefix, extension or letters) in ``region``.

    Digits that start with neither the country code nor a national prefix are parsed whole as the
    national significant number, with the country code taken from the region; leniency VALID
    then wants a national prefix at the start of the raw digits when the number's format rule
    requires one, and there is none to strip."""
    from phonenumbers.phonenumberutil import _choose_formatting_pattern_for_number, _formatting_rule_has_first_group_only

    cc, prefix, md = _prefix_rules(region)
    if md is None or digits.startswith(cc) or (prefix is not None and prefix.match(digits)):
        return False
    rule = _choose_formatting_pattern_for_number(md.number_format, digits)
    return (rule is not None and bool(rule.national_prefix_formatting_rule)
            and not rule.national_prefix_optional_when_formatting
            and not _formatting_rule_has_first_group_only(rule.national_prefix_formatting_rule))


@lru_cache(maxsize=None)
def _literal_head(pattern: str) -> str | None:
    """The character every match of ``pattern`` starts with, when the pattern begins with a literal
    outside any alternation (``0(?:0|1[2-9])`` → ``0``); None otherwise."""
    from re import _constants as sre_constants
    from re import _parser as sre_parse

    parsed = sre_parse.parse(pattern)
    if len(parsed) and parsed[0][0] is sre_constants.LITERAL:
        return chr(parsed[0][1])
    return None


def _keeps_digits(md) -> bool:
    """Stripping the region's national prefix leaves a suffix of the digits, or all of them: no
    transformation rule, or one that puts back a first group that is the whole number
    (``(…)$|…`` with rule ``\\1``, as Japan's)."""
    rule = md.national_prefix_transform_rule
    if not rule:
        return True
    first = re.fullmatch(r"\(([^()]*)\)\$\|(.*)", md.national_prefix_for_parsing or "")
    return rule == "\\1" and first is not None and re.search(r"\((?!\?:)", first.group(2)) is None


def _parse_verified(candidate: str, region: str):
    """Upstream ``_parse_and_verify``'s text-independent part at leniency VALID: the number parsed
    from ``candidate`` with the fields the matcher clears already cleared, or None when it does not
    parse or is not valid."""
    try:
        numobj = parse(candidate, region, keep_raw_input=True)
    except NumberParseException:
        return None
    if not _verify(Leniency.VALID, numobj, candidate, None):
        return None
    numobj.country_code_source = CountryCodeSource.UNSPECIFIED
    numobj.raw_input = None
    numobj.preferred_domestic_carrier_code = None
    return numobj


class RegionalPhoneRecognizer(PhoneRecognizer):
    """presidio's PhoneRecognizer (python-phonenumbers, leniency VALID) with Korean regions.

    Numbers written with a ``+`` country code are found from any region; ``REGIONS`` decides which
    *national* formats are recognised (``010-1234-5678``, ``02-123-4567`` need ``KR``). Each region
    is one phonenumbers pass, so the list is kept short. ``COUNTRY_CODE_REGIONS`` are regions whose
    numbers are kept only when written with their country code, ``+`` or not (``91-415-555-0132``):
    India's national numbers include 10-digit Unix time stamps. A hyphenated string that is a valid
    ISBN is not a phone number.
    """

    REGIONS = ("KR", "US", "GB", "JP", "CN", "IL")
    COUNTRY_CODE_REGIONS = ("IN",)

    def __init__(self, context=None, supported_language="en", supported_entity="PHONE_NUMBER", name=None):
        super().__init__(
            context=context,
            supported_language=supported_language,
            supported_entity=supported_entity,
            supported_regions=self.REGIONS + self.COUNTRY_CODE_REGIONS,
            leniency=1,
            name=name,
        )

    def _written_for(self, region: str, match) -> bool:
        """The match counts for ``region``: any match of a national region, and only numbers that
        carry their country code for a ``COUNTRY_CODE_REGIONS`` one."""
        if region not in self.COUNTRY_CODE_REGIONS:
            return True
        import phonenumbers

        # the matcher clears the number's country_code_source: parse the match again to read it
        number = phonenumbers.parse(match.raw_string, region, keep_raw_input=True)
        return number.country_code_source != phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY

    def _results(self, matches, text: str, nlp_artifacts) -> List[RecognizerResult]:
        """presidio's ``PhoneRecognizer.analyze`` loop over ``(region, matcher)`` pairs, keeping
        the matches :meth:`_written_for` their region, without ISBNs."""
        import phonenumbers
        from phonenumbers import NumberParseException

        results = []
        for region, matcher in matches:
            for match in matcher:
                if not self._written_for(region, match):
                    continue
                try:
                    parsed_number = phonenumbers.parse(text[match.start : match.end])
                    found_region = phonenumbers.region_code_for_number(parsed_number)
                except NumberParseException:
                    found_region = region
                results.append(self._get_recognizer_result(match, text, found_region, nlp_artifacts))
        results = EntityRecognizer.remove_duplicates(results)
        return [r for r in results if not _isbn_like(text[r.start : r.end])]

    def analyze(self, text: str, entities: List[str], nlp_artifacts: NlpArtifacts = None) -> List[RecognizerResult]:
        return self._results(((region, PhoneNumberMatcher(text, region, leniency=self.leniency))
                              for region in self.supported_regions), text, nlp_artifacts)

    def analyze_fast(self, text: str, entities: List[str], nlp_artifacts: NlpArtifacts = None) -> List[RecognizerResult]:
        """The same results as :meth:`analyze` (presidio's ``PhoneRecognizer.analyze``), faster.

        presidio runs one ``PhoneNumberMatcher`` per region, and each one scans the text for
        candidates and parses every candidate again. Here the regions share the candidate scan
        (:class:`_SharedCandidateMatcher`), and a candidate with fewer digits than any valid number
        has (:meth:`min_digits`, no letters) is rejected without parsing — phonenumbers would reject
        it and every part of it, so the matches, and where each next search starts, are unchanged.
        Whether a candidate is hopeless is decided once for all regions (a bit mask per candidate,
        :class:`CandidateScan`, remembered across texts).
        """
        min_digits = self._min_digits_cached()
        # (region, candidate) → parse outcome, kept across calls: it depends on neither the text
        # nor the call (documents of a corpus repeat versions, dates, part numbers)
        verified = self.__dict__.get("_verified_outcomes")
        if verified is None:
            verified = self._verified_outcomes = {}
            self._live_by_regions = {}  # regions of a scan, in order → its candidates' masks
            self._cannot_by_region = {region: {} for region in self.supported_regions}
            self._extracted_by_region = {region: {} for region in self.supported_regions}
            self._stretches_by_region = {region: {} for region in self.supported_regions}
        cannot, extracted, stretches = self._cannot_by_region, self._extracted_by_region, self._stretches_by_region
        scan = CandidateScan(self._live_by_regions.setdefault(tuple(self.supported_regions), {}))
        matchers = [_SharedCandidateMatcher(text, region, self.leniency, scan, min_digits, self.national_bounds(region),
                                            self._cc_only(region), verified, cannot[region], extracted[region],
                                            stretches[region])
                    for region in self.supported_regions]  # all join the scan before any searches
        return self._results(zip(self.supported_regions, matchers), text, nlp_artifacts)

    def _cc_only(self, region: str) -> str | None:
        """The country code of a ``COUNTRY_CODE_REGIONS`` region, else None."""
        if region not in self.COUNTRY_CODE_REGIONS:
            return None
        from phonenumbers import country_code_for_region

        return str(country_code_for_region(region))

    _NATIONAL: dict = {}

    @classmethod
    def national_bounds(cls, region: str):
        """``(fewest, most, idd)``: the digit counts a candidate parsed as a *national* number of
        ``region`` can have and still be valid, and the region's international-prefix regex (a
        candidate starting with it is parsed as international). ``None`` when unsure (a national
        prefix transformation that adds digits).

        Valid means a national significant number of one of the lengths listed for the regions
        sharing the country code; the candidate's digits are those plus at most the country code
        and two national-prefix strips (phonenumbers strips once after the default country code
        and once more in ``parse``), plus an extension (marked by a letter or ``;,#~``)."""
        if region in cls._NATIONAL:
            return cls._NATIONAL[region]
        from re import _parser as sre_parse

        from phonenumbers import PhoneMetadata
        from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, country_code_for_region

        md = PhoneMetadata.metadata_for_region(region)
        bounds = None
        rule = md.national_prefix_transform_rule if md else None
        if md is not None and md.international_prefix and (rule is None or re.fullmatch(r"(?:\\\d)*", rule)):
            cc = country_code_for_region(region)
            lengths = []
            for other in COUNTRY_CODE_TO_REGION_CODE.get(cc, (region,)):
                omd = PhoneMetadata.metadata_for_region(other)
                own = [n for n in (omd.general_desc.possible_length if omd else ()) if n > 0]
                lengths += own or [2, 17]  # unlisted: phonenumbers' own limits
            prefix = md.national_prefix_for_parsing or md.national_prefix or ""
            widest = sre_parse.parse(prefix).getwidth()[1] if prefix else 0
            bounds = (min(lengths), max(lengths) + len(str(cc)) + 2 * widest, re.compile(md.international_prefix))
        cls._NATIONAL[region] = bounds
        return bounds

    _NATIONAL_NUMBERS: dict = {}

    @classmethod
    def national_numbers(cls, region: str):
        """``(anywhere, whole)``: regexes that find a part of a digit string that can be the
        national significant number of a valid number of a region sharing ``region``'s country code
        (one of their number-type patterns matches it whole) anywhere in it, and that fullmatch
        the digits when they can be that number after the prefixes parsing strips. None when unsure
        (a national prefix transformation rule that can change digits).

        Parsed as a national number, a candidate loses at most a leading country code and two
        national prefixes (one after the country code, one more in ``parse``), and an extension
        after it: what is validated is a suffix of its digits (without an extension) whose start
        is ``[country code] [national prefix] [national prefix]``, and a substring of the digits of
        any candidate it is a part of. Japan's rule (``\\1`` of a first alternative ``(…)$``) fires
        only when that group is the whole number, and then leaves it unchanged."""
        if region in cls._NATIONAL_NUMBERS:
            return cls._NATIONAL_NUMBERS[region]
        from phonenumbers import PhoneMetadata
        from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, country_code_for_region

        md = PhoneMetadata.metadata_for_region(region)
        found = None
        if md is not None and _keeps_digits(md):
            patterns = []
            for other in COUNTRY_CODE_TO_REGION_CODE.get(country_code_for_region(region), (region,)):
                omd = PhoneMetadata.metadata_for_region(other)
                if omd is None or not omd.general_desc.national_number_pattern:
                    patterns = None  # a region without a pattern: anything may be valid there
                    break
                # a valid number has a type: it matches the pattern of one of the number types
                patterns += [f"(?:{desc.national_number_pattern})" for desc in _typed_descs(omd)]
            if patterns:
                union = f"(?:{'|'.join(patterns)})"
                prefix = md.national_prefix_for_parsing or md.national_prefix
                national = f"(?:{prefix})?" if prefix else ""
                whole = f"(?:{country_code_for_region(region)})?{national}{national}{union}"
                found = (re.compile(union), re.compile(whole))  # (each compile costs: only what is used)
        cls._NATIONAL_NUMBERS[region] = found
        return found

    def _min_digits_cached(self) -> int:
        n = getattr(self, "_min_digits", None)
        if n is None:
            n = self._min_digits = self.min_digits(self.supported_regions)
        return n

    @classmethod
    def min_digits(cls, regions=None) -> int:
        """The fewest digits any number valid under ``regions`` (or any ``+CC`` number, including
        the non-geographic codes such as +800) has. A region without listed lengths counts as 2,
        phonenumbers' own minimum."""
        from phonenumbers import PhoneMetadata
        from phonenumbers.phonenumberutil import (
            COUNTRY_CODES_FOR_NON_GEO_REGIONS,
            SUPPORTED_REGIONS,
            country_code_for_region,
        )

        def shortest(md) -> int:
            lengths = [n for n in (md.general_desc.possible_length if md else ()) if n > 0]
            return min(lengths) if lengths else 2

        national = [shortest(PhoneMetadata.metadata_for_region(r)) for r in (regions or cls.REGIONS)]
        international = [
            len(str(country_code_for_region(r))) + shortest(PhoneMetadata.metadata_for_region(r))
            for r in SUPPORTED_REGIONS
        ] + [
            len(str(cc)) + shortest(PhoneMetadata.metadata_for_nongeo_region(cc))
            for cc in COUNTRY_CODES_FOR_NON_GEO_REGIONS
        ]
        return max(2, min(national + international))

    @classmethod
    def prefilter(cls) -> str:
        """Digit runs that phonenumbers' matcher could take for a number: ≥ min_digits digits,
        blocks separated by at most 4 of its punctuation characters (its own limit)."""
        from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

        n = cls.min_digits()
        return rf"\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d){{{n - 1}}}"


class PaymentCardRecognizer(CreditCardRecognizer):
    """Payment card numbers by issuer range (IIN/BIN) and length, with the Luhn check.

    presidio's CreditCardRecognizer accepts only numbers starting 1, 3, 4, 5[0-5] or 6, so
    Mastercard's 2-series (2221–2720) and Mir (2200–2204) are never found, and it matches
    left to right without overlap: in ``Order 1023 4539 1488 0343 6467`` it takes
    ``1023 4539 1488 0343``, which fails Luhn, and never tries the card after it. Here every
    digit group starts a candidate: the longest candidate from the leftmost start whose issuer
    range, length and Luhn digit are all right wins, and the search goes on after it.

    Candidates are digit groups joined by single spaces or hyphens (first group ≥ 4 digits,
    inner groups ≥ 3), 12–19 digits, not glued to letters, digits or a decimal point.
    """

    # (issuer, IIN ranges as inclusive (low, high) prefixes of equal length, valid lengths), from
    # the ISO/IEC 7812 issuer lists as published by the networks and collected in Wikipedia's
    # "Payment card number" article; UATP is in presidio's own tests.
    ISSUERS = [
        ("visa", [("4", "4")], (13, 16, 19)),
        ("mastercard", [("51", "55"), ("2221", "2720")], (16,)),
        ("amex", [("34", "34"), ("37", "37")], (15,)),
        ("discover", [("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")], (16, 17, 18, 19)),
        ("jcb", [("3528", "3589")], (16, 17, 18, 19)),
        ("unionpay", [("62", "62"), ("81", "81")], (16, 17, 18, 19)),
        ("diners", [("300", "305"), ("36", "36"), ("38", "39")], (14, 15, 16, 17, 18, 19)),
        ("maestro", [("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"), ("6304", "6304"),
                     ("6759", "6759"), ("6761", "6763"), ("56", "58"), ("639", "639"), ("67", "67")],
         (12, 13, 14, 15, 16, 17, 18, 19)),
        ("dankort", [("5019", "5019")], (16,)),
        ("mir", [("2200", "2204")], (16, 17, 18, 19)),
        ("rupay", [("60", "60"), ("65", "65"), ("81", "82"), ("508", "508"), ("353", "353"), ("356", "356")], (16,)),
        ("ukrcard", [("60400100", "60420099")], (16, 17, 18, 19)),
        ("uatp", [("1", "1")], (15,)),
        # national and regional schemes (the same article's table)
        ("verve", [("506099", "506198"), ("507865", "507964"), ("650002", "650027")], (16, 18, 19)),
        ("troy", [("9792", "9792")], (16,)),
        ("borica", [("2205", "2205")], (16,)),
        ("humo", [("9860", "9860")], (16,)),
        ("uzcard", [("8600", "8600")], (16,)),
        ("gpn", [("1946", "1946")], (16, 18, 19)),
        ("interpayment", [("636", "636")], (16, 17, 18, 19)),
        ("instapayment", [("637", "639")], (16,)),
    ]
    # digit groups joined by single separators; not inside a word, a longer number or a decimal
    _RUN = re.compile(r"(?<![0-9A-Za-z_])(?<![0-9][.,])[0-9]+(?:[ \-][0-9]+)*(?![0-9A-Za-z_]|[.,][0-9])")
    _GROUP = re.compile(r"[0-9]+")
    PREFILTER = r"\d{4}[- ]?\d{3}"

    def __init__(self, patterns=None, context=None, supported_language="en", supported_entity="CREDIT_CARD",
                 replacement_pairs=None, name=None):
        super().__init__(patterns=patterns, context=context, supported_language=supported_language,
                         supported_entity=supported_entity, replacement_pairs=replacement_pairs, name=name)
        self._lengths_by_prefix, self._prefix_sizes = self._issuer_table(type(self))

    @staticmethod
    @lru_cache(maxsize=None)
    def _issuer_table(klass) -> tuple[dict[str, frozenset[int]], list[int]]:
        """{prefix: card lengths} and the prefix sizes of ``klass.ISSUERS``, built once per process
        (one recognizer per language shares it; the ranges expand to tens of thousands of prefixes)."""
        table: dict[str, frozenset[int]] = {}
        for _issuer, ranges, lengths in klass.ISSUERS:
            lengths = frozenset(lengths)
            for low, high in ranges:
                for n in range(int(low), int(high) + 1):
                    key = str(n).zfill(len(low))
                    known = table.get(key)
                    table[key] = lengths if known is None else known | lengths
        return table, sorted({len(k) for k in table})

    @staticmethod
    def luhn(digits: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = ord(ch) - 48
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        return total % 10 == 0

    def issued(self, digits: str) -> bool:
        """An issuer range of some network gives out numbers of this length with this prefix."""
        n = len(digits)
        return any(n in self._lengths_by_prefix.get(digits[:k], ()) for k in self._prefix_sizes)

    def validate_result(self, pattern_text: str) -> bool:  # noqa: D102
        digits = "".join(ch for ch in pattern_text if "0" <= ch <= "9")
        return 12 <= len(digits) <= 19 and self.issued(digits) and self.luhn(digits)

    def _candidates(self, text: str, start: int, end: int):
        """Card spans inside the digit run text[start:end]."""
        groups = [m.span() for m in self._GROUP.finditer(text, start, end)]
        i = 0
        while i < len(groups):
            best = None
            if groups[i][1] - groups[i][0] >= 4:
                digits = ""
                for j in range(i, len(groups)):
                    size = groups[j][1] - groups[j][0]
                    if j > i and size < 3 and j < len(groups) - 1:
                        break  # a short inner group: no card is written that way
                    digits += text[groups[j][0] : groups[j][1]]
                    if len(digits) > 19:
                        break
                    if len(digits) >= 12 and self.issued(digits) and self.luhn(digits):
                        best = j  # keep going: the longest valid candidate wins
            if best is None:
                i += 1
                continue
            yield groups[i][0], groups[best][1]
            i = best + 1

    def analyze(self, text: str, entities: List[str], nlp_artifacts: NlpArtifacts = None,
                regex_flags: int = None) -> List[RecognizerResult]:
        results = []
        for run in self._RUN.finditer(text):
            if run.end() - run.start() < 12:
                continue
            for s, e in self._candidates(text, run.start(), run.end()):
                results.append(RecognizerResult(
                    entity_type=self.supported_entities[0], start=s, end=e, score=EntityRecognizer.MAX_SCORE,
                    analysis_explanation=AnalysisExplanation(self.name, EntityRecognizer.MAX_SCORE,
                                                             pattern_name="issuer range, length and Luhn",
                                                             validation_result=True),
                    recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                          RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
                ))
        return results


class CaseSensitiveIbanRecognizer(IbanRecognizer):
    """presidio's IbanRecognizer, matched case-sensitively as ISO 13616 writes IBANs (upper case).

    The registry's global IGNORECASE flag lets the pattern take a lower-case next word as the
    IBAN's last group and accept lower-case country and bank codes (presidio's own tests expect
    ``LV80 bANK …`` to be rejected and ``… 7601 failed`` not to match).
    """

    @property
    def global_regex_flags(self) -> int:
        return self._flags & ~re.IGNORECASE

    @global_regex_flags.setter
    def global_regex_flags(self, value) -> None:
        self._flags = value if value is not None else re.DOTALL | re.MULTILINE


# Necessary conditions for presidio's own recognizer classes used unchanged from the YAML.
# Every code-declared condition starts at a digit, '@' or ':' (the prefilter jumps between those
# characters): a condition that would start at a letter is written with a lookbehind instead.
BUILTIN_PREFILTERS = {
    # \b(?!1\d{12})(4\d{3}|5[0-5]\d{2}|6\d{3}|1\d{3}|3\d{3})[- ]?(\d{3,4})[- ]?…
    "CreditCardRecognizer": r"\d{4}[- ]?\d{3}",
    # [A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,6}… (matched case-insensitively)
    "IbanRecognizer": r"(?<=[a-z]{2})[0-9]{2}[ -]?[a-z0-9]{4}[ -]?[a-z0-9]{4}",
    # every IPv4 form has a dotted quad; every IPv6 form has '::' or seven 'h:' groups (≥ 6 ':h…:')
    "IpRecognizer": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|::|:(?:[0-9a-f]{1,4}:){6}",
    "UsSsnRecognizer": r"\d{5}-\d{4}|\d{3}-\d{6}|\d{9}|\d{3}[- .]\d{2}[- .]\d{4}",
    # (bc1|[13])[a-zA-HJ-NP-Z0-9]{25,59}: the '1' of bc1, or the leading 1/3, then 25 more
    "CryptoRecognizer": r"[13][a-z0-9]{25}",
    # [MSROD]\d{3}[A-Z]\d{4} | [MSROD]\d{8}
    "KrPassportRecognizer": r"(?<=[msrod])\d{3}[a-z0-9]\d{4}",
    "KrDriverLicenseRecognizer": r"\d{2}[- ]?\d{2}[- ]?\d{6}",
}


def prefilter_for(recognizer: EntityRecognizer) -> list[str] | None:
    """The necessary-condition regexes of a recognizer, or None when none is known.

    Code classes declare ``PREFILTER`` (or ``prefilter()``); presidio's own classes are looked up in
    :data:`BUILTIN_PREFILTERS`. YAML (``type: custom``) recognizers are handled by the engine: their
    ``prefilter`` key, else their own patterns.
    """
    cls = type(recognizer)
    if callable(getattr(cls, "prefilter", None)):
        return [cls.prefilter()]
    if getattr(cls, "PREFILTER", None):
        return [cls.PREFILTER]
    for klass in cls.__mro__:
        if klass.__name__ in BUILTIN_PREFILTERS and klass.__module__.startswith("presidio_analyzer"):
            return [BUILTIN_PREFILTERS[klass.__name__]]
    return None
