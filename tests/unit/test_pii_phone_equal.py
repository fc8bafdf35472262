"""RegionalPhoneRecognizer.analyze_fast finds exactly what the reference finds.

Reference: ``RegionalPhoneRecognizer.analyze`` — presidio's PhoneRecognizer loop, one stock
python-phonenumbers ``PhoneNumberMatcher`` per region, no shortcut. The fast path shares the
candidate scan, rejects candidates by digit counts and by the regions' number patterns before
parsing, and remembers parse outcomes of repeated candidates within a call; these tests hold it to
the reference on technical text (the candidates it rejects) and on numbers of several regions
(the ones it must keep), and check the pattern rejection against phonenumbers itself.
"""
from __future__ import annotations

import glob
import gzip
import itertools
import random
import re

import pytest

from pipeline.pii.recognizers import RegionalPhoneRecognizer
from tests.presidio_literals import presidio_test_literals

# Technical text of the kinds that fill man pages and changelogs: dates, versions, time zones,
# sizes, ISBNs, addresses, hex — digit runs that look like numbers but are not.
TECHNICAL = """\
libfoo (2.10.18-1ubuntu0.2) jammy-security; urgency=medium
  * New upstream release 2.10.18 (Closes: #1023456, #998877).
  * Fix CVE-2023-44487 and CVE-2024-21626; bump Standards-Version to 4.6.2.
 -- Jane Packager <jane@example.org>  Tue, 14 Mar 2023 09:26:53 -0700
libfoo (2.10.17-3) unstable; urgency=low
  * Rebuild against libssl3 3.0.2-0ubuntu1.10 (LP: #2003456).
 -- Jane Packager <jane@example.org>  Mon, 02 Jan 2023 18:00:00 +0100
Copyright 1997-2002, 2003-2016 The Project Authors. ISBN 978-0-306-40615-7, 0-306-40615-2.
The default buffer is 65536 bytes (0x10000); up to 4294967295 entries; mode 0644, umask 022.
Listening on 192.168.10.254:8080 and [2001:db8::1]:443 since 1700000000 (epoch 1699999999.123).
Build 10.0.19045.3693, kernel 5.15.0-91-generic #101-Ubuntu SMP, glibc 2.35-0ubuntu3.6.
Timestamps: 2019-05-21 13:45:02, 2008-11-29T08:00:00Z, 20080212 and 1996-2022 (pages 115-131).
See RFC 2822, section 3.3; ports 1024-65535; exit codes 0, 1, 2, 126, 127 and 255.
Measured 3.14159 2.71828 1.41421 at 25 2006 -0700 and 00 2022 -0600; ranges 1 10000 100.
Versions (122.0.6261.111-1), (0.2.1.1-1), [4026531835], 5759725666041856, 0x43 0x59 0x7f.
"""

# Numbers of the configured regions, written as people write them (the reference keeps them).
PHONES = [
    "Call our office at (415) 555-0132 or 1-800-555-0199 during business hours.",
    "US desk: +1 212-555-0147; fax 212.555.0183.",
    "휴대폰 010-1234-5678 로 연락 주세요. 대표번호 02-312-4567, 경기 지사 031-123-4567.",
    "해외에서는 +82 10 1234 5678 또는 +82-2-312-4567 로 전화하세요.",
    "東京本社 03-1234-5678、携帯 090-1234-5678、国際 +81 3-1234-5678。",
    "India office: +91 98765 43210, also 91-98765-43210 and +91-80-2345-6789.",
    "Bangalore desk 080 2345 6789 (national, not kept) and 9876543210.",
    "London office 020 7946 0958, mobile 07700 900123, from abroad +44 20 7946 0958.",
    "Berlin: +49 30 901820, Munich +49 89 12345678; Hamburg 040 4289 0 (German national format).",
    "Tel Aviv 03-123-4567, mobile 050-123-4567; Beijing 010-6552-9988, mobile 138 0013 8000.",
    "Mixed: ext. (415) 555-0132 x 204, #12, ;3 and +1 (415) 555-0132 ext 12.",
]


def _key(results):
    return sorted((r.start, r.end, r.score, r.entity_type) for r in results)


@pytest.fixture(scope="module")
def rec():
    return RegionalPhoneRecognizer()


@pytest.mark.parametrize("text", [TECHNICAL, *PHONES, TECHNICAL + "\n".join(PHONES) + "\n" + TECHNICAL])
def test_fast_path_equals_reference(rec, text):
    assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == _key(rec.analyze(text, ["PHONE_NUMBER"]))


def test_reference_keeps_the_planted_numbers(rec):
    """Guards the test above against comparing two empty lists: the phone lines hold numbers the
    reference finds in every region."""
    found = {PHONES[i][r.start : r.end] for i in range(len(PHONES)) for r in rec.analyze(PHONES[i], ["PHONE_NUMBER"])}
    for number in ["(415) 555-0132", "010-1234-5678", "02-312-4567", "+82 10 1234 5678", "03-1234-5678",
                   "+91 98765 43210", "91-98765-43210", "020 7946 0958", "+44 20 7946 0958", "+49 30 901820",
                   "+49 89 12345678"]:
        assert number in found, number


def test_repeated_candidates_keep_their_own_surroundings(rec):
    """A candidate's parse is remembered across the call, but the letters around each occurrence
    still decide: the same digits glued to a word are not a number there."""
    text = "call 020 7946 0958 now; abc020 7946 0958 and 020 7946 0958def; again 020 7946 0958."
    got = _key(rec.analyze_fast(text, ["PHONE_NUMBER"]))
    assert got == _key(rec.analyze(text, ["PHONE_NUMBER"]))
    assert len(got) == 2


def _debian_changelogs(limit_chars: int = 120_000) -> str:
    """Real technical English: the start of this machine's Debian package changelogs."""
    out, size = [], 0
    for path in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            part = fh.read(3000)
        out.append(part)
        size += len(part)
        if size >= limit_chars:
            break
    return "\n".join(out)


def test_fast_path_equals_reference_on_debian_changelogs(rec):
    text = _debian_changelogs()
    if len(text) < 20_000:
        pytest.skip("fewer than 20k characters of /usr/share/doc/*/changelog.Debian.gz on this machine")
    chunks = [text[i : i + 8000] for i in range(0, len(text), 8000)]
    for chunk in chunks:
        assert _key(rec.analyze_fast(chunk, ["PHONE_NUMBER"])) == _key(rec.analyze(chunk, ["PHONE_NUMBER"]))


def test_national_number_patterns_never_reject_a_number_phonenumbers_finds():
    """The pattern rejection is a necessary condition: a digit string in which no stretch matches a
    region's number patterns holds no number phonenumbers finds for that region (written without
    '+' or an international prefix). Oracle: phonenumbers' own matcher."""
    from phonenumbers import PhoneNumberMatcher

    rng = random.Random(20)
    checked = rejected = 0
    for region in RegionalPhoneRecognizer.REGIONS + RegionalPhoneRecognizer.COUNTRY_CODE_REGIONS:
        numbers = RegionalPhoneRecognizer.national_numbers(region)
        bounds = RegionalPhoneRecognizer.national_bounds(region)
        if numbers is None:
            continue
        anywhere, _whole = numbers
        at_end = re.compile(anywhere.pattern + r"\Z")  # a number the matcher finds whole ends in a national number
        for _ in range(600):
            n = rng.randint(5, 14)
            digits = "".join(rng.choice("0123456789") for _ in range(n))
            if bounds[2].search(digits):
                continue
            for text in (digits, "-".join(digits[i : i + 3] for i in range(0, n, 3))):
                found = [m for m in PhoneNumberMatcher(text, region, leniency=1)]
                checked += 1
                if anywhere.search(digits) is None:
                    rejected += 1
                    assert found == [], (region, text)
                if found and found[0].start == 0 and found[0].end == len(text):
                    assert at_end.search(digits) is not None, (region, text)
    assert checked > 3000 and rejected > 100


def test_typed_patterns_exclude_common_technical_digits():
    """The rejection bites where it matters: ISO dates and short versions are no national number of
    the US, Korea or the UK (so they are never parsed for those regions)."""
    for region, digits in itertools.product(("US", "GB"), ("20190521", "1996", "65536")):
        numbers = RegionalPhoneRecognizer.national_numbers(region)
        assert numbers is not None and numbers[0].search(digits) is None, (region, digits)


# --- the shared skip of candidates no region can take, and international prefixes at part starts ---
# Each line is a failure class of those two short cuts: an international prefix ("00", "011", "001")
# at the start of a part vs. inside a run of digits, India's country code with and without '+',
# numbers at the very start and end of the text, Unicode and full-width digits, Korean particles
# glued to the number, numbers split by a line break, and long runs of short candidates between numbers.
EDGES = [
    "010-1234-5678",
    "+44 20 7946 0958",
    "12001 and 1-2001, 2001-1 and 1 2001; 0011 415 555 0132 vs 120011 415 555 0132.",
    "Dial 011 44 20 7946 0958 from the US, 00 44 20 7946 0958 from Europe, 001 415 555 0132 from Korea.",
    "ref 5011442079460958 / 50011442079460958 / 4100822-312-4567 and (0082) 2-312-4567.",
    "India 91 98765 43210, 091 98765 43210, 4591-98765-43210 and 919876543210 (cc without '+').",
    "전화 ٠١٠-١٢٣٤-٥٦٧٨ 또는 ０１０－１２３４－５６７８ 또는 ০১০-১২৩৪-৫৬৭৮, 국제 ＋８２ １０ １２３４ ５６７８.",
    "전화는 010-1234-5678에서 받고, 02-312-4567로 보내고, 031-123-4567으로 문의하세요.",
    "split 010-1234-\n5678 and +44 20\n7946 0958 and (415)\n555-0132 and 415-555-\r\n0132.",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (415) 555-0132 16 17 18 19 20 21 22 23 24 25 26 010-1234-5678",
    "v1.2.3 2.10 3.4.5-1 (1.2) [3.4] 12/34 2001-02 1:2 12.34.56 +1 00 99 010-1234-5678",
    "ids b7-0005834, x7-0044207946095, 7-0044 20 7946 0958 and 7-011 44 20 7946 0958 (a hyphen joining digits).",
    "12 -0044 20 7946 0958, 12- 0044 20 7946 0958, 12 - 011 44 20 7946 0958, 12.0044 20 7946 0958, 12/0044 20 7946 0958.",
    "ends with a number 020 7946 0958",
]


def _per_region(rec, text, fast: bool) -> dict:
    """Each region's matches (those :meth:`_written_for` it), from the stock matcher or the fast one."""
    from phonenumbers import Leniency, PhoneNumberMatcher

    from pipeline.pii.recognizers import CandidateScan, _SharedCandidateMatcher

    scan = CandidateScan()  # one scan for all regions, as analyze_fast shares it
    if fast:
        matchers = [_SharedCandidateMatcher(text, region, Leniency.VALID, scan, rec.min_digits(rec.supported_regions),
                                            rec.national_bounds(region), rec._cc_only(region))
                    for region in rec.supported_regions]
    else:
        matchers = [PhoneNumberMatcher(text, region, leniency=Leniency.VALID) for region in rec.supported_regions]
    return {region: [(m.start, m.end) for m in matcher if rec._written_for(region, m)]
            for region, matcher in zip(rec.supported_regions, matchers)}


@pytest.mark.parametrize("text", EDGES)
def test_fast_path_equals_reference_at_the_edges(rec, text):
    assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == _key(rec.analyze(text, ["PHONE_NUMBER"]))
    # region by region too: a region's miss can hide behind another region's find of the same span
    assert _per_region(rec, text, fast=True) == _per_region(rec, text, fast=False)


def test_edge_cases_hold_numbers():
    """Guards the test above against comparing empty lists: stock python-phonenumbers (the oracle)
    finds numbers at the text's start and end, after an international prefix and in full-width digits."""
    from phonenumbers import PhoneNumberMatcher

    def found(text, region):
        return [m.raw_string for m in PhoneNumberMatcher(text, region, leniency=1)]

    assert found(EDGES[0], "KR") == ["010-1234-5678"]
    assert found(EDGES[3], "US")[0] == "011 44 20 7946 0958"
    assert "０１０－１２３４－５６７８" in found(EDGES[6], "KR")
    assert found(EDGES[-1], "GB") == ["020 7946 0958"]


@pytest.mark.parametrize("tries", [3, 4, 5, 6])
def test_skipped_candidates_spend_tries_as_upstream(tries):
    """phonenumbers gives up after max_tries failed candidates; the shared skip spends one try per
    short candidate, as the stock matcher does for a candidate without inner parts. Oracle: the
    stock PhoneNumberMatcher with the same limit."""
    from phonenumbers import Leniency, PhoneNumberMatcher

    from pipeline.pii.recognizers import _SharedCandidateMatcher

    text = "12; 34; 56; 78; (415) 555-0132 and 212-555-0147"
    for region in ("US", "GB", "KR"):
        stock = [(m.start, m.end) for m in PhoneNumberMatcher(text, region, leniency=Leniency.VALID, max_tries=tries)]
        fast = _SharedCandidateMatcher(text, region, Leniency.VALID, None, RegionalPhoneRecognizer.min_digits(),
                                       RegionalPhoneRecognizer.national_bounds(region))
        fast._max_tries = tries
        assert [(m.start, m.end) for m in fast] == stock, (region, tries)
    assert [(m.start, m.end) for m in PhoneNumberMatcher(text, "US", leniency=Leniency.VALID, max_tries=6)]


def test_fast_path_equals_reference_on_presidio_test_sentences(rec):
    # presidio-analyzer's own phone tests: the literals holding digits
    strings = presidio_test_literals(("test_*phone*.py", "test_analyzer_engine.py"), lambda s: any(c.isdigit() for c in s))
    with_numbers = 0
    for text in strings:
        reference = _key(rec.analyze(text, ["PHONE_NUMBER"]))
        assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == reference, text
        with_numbers += bool(reference)
    assert with_numbers >= 10


# The same candidates with every neighbour the matcher reads: a Latin letter, a combining mark, a
# currency symbol or '%' touching either end, a time-stamp suffix after, the text's start and end.
_NEIGHBOURS = ["", " ", "a", "é", "\u0301", "$", "€", "%", "-", "(", "가", ":30", ":99", "\n"]
_REPEATED = ["212-555-0147", "(415) 555-0132", "010-1234-5678", "2012-01-02 08", "651-234-2345/332-445-1234",
             "+44 20 7946 0958", "12/31/2019", "03-1234-5678", "1-800-555-0199 x 204"]


def test_remembered_extractions_equal_reference_across_texts():
    """Extraction outcomes are remembered per (candidate, what it reads around it) across the
    texts of one recognizer: each text here repeats candidates of earlier texts with other
    neighbours. Reference: stock matchers per region (``analyze``) on each text."""
    rec = RegionalPhoneRecognizer()
    texts = [f"{before}{number}{after}" for number in _REPEATED for before in _NEIGHBOURS for after in _NEIGHBOURS]
    texts += [" and ".join(texts[k : k + 7]) for k in range(0, len(texts), 7)]
    found = 0
    for text in texts:
        reference = _key(rec.analyze(text, ["PHONE_NUMBER"]))
        assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == reference, text
        found += len(reference)
    assert found > 200 and sum(len(d) for d in rec._extracted_by_region.values()) > 100


# candidates whose inner parts spend tries (an invalid part after a valid one, parts of several lengths)
_TRYING = ", ".join(["111-111-1111/222-222-2222", "415-555-0132/415-555-01", "201-555-0123 / 2015550 / 2015",
                     "(212) 555-01 23 45", "020 7946 0958/020 7946", "+1 415 555 01/+1 415", "010-1234-56/010-1234"])
_TRYING += " and (415) 555-0132 or 212-555-0147 or 010-1234-5678 or 020 7946 0958"


@pytest.mark.parametrize("tries", [2, 5, 9, 14, 20, 26, 32, 40])
def test_remembered_extractions_spend_tries_as_the_first_run(tries):
    """A remembered outcome spends the tries its first run spent. Oracle: the same matcher with
    the same limit and nothing remembered; the outcomes were remembered by one without a limit."""
    from phonenumbers import Leniency

    from pipeline.pii.recognizers import _SharedCandidateMatcher

    def matcher(region, extracted):
        return _SharedCandidateMatcher(_TRYING, region, Leniency.VALID, None, RegionalPhoneRecognizer.min_digits(),
                                       RegionalPhoneRecognizer.national_bounds(region), extracted=extracted)

    for region in ("US", "GB", "KR"):
        extracted: dict = {}
        list(matcher(region, extracted))
        assert any(spent for spent, _ in extracted.values()), region  # parts did spend tries
        fresh, warm = matcher(region, {}), matcher(region, extracted)
        fresh._max_tries = warm._max_tries = tries
        assert [(m.start, m.end) for m in warm] == [(m.start, m.end) for m in fresh], (region, tries)


# --- rejections before parsing by the whole national form and the national-prefix rule ---
# Each line is a failure class: dates and versions read as national numbers without their national
# prefix (Israel, Japan), numbers written with the country code but no '+', with the national
# prefix, Japan's 000x numbers (its prefix transformation rule), extension marks, full-width digits.
NATIONAL = [
    "2017-01-13, 20170113, 2017-0113 and 03-123-4567, 050-123-4567, 972-3-123-4567, 9720501234567.",
    "2014-06-13, 20140613, 42 2022 -0700, 03-1234-5678, 81-3-1234-5678, 8103-1234-5678, 0120-123-456.",
    "00021234567, 0002-1234-567, 000212345, 0009 1234 5678 and 00777012345 (Japanese 000x numbers).",
    "2019-11-14 020 7946 0958 44 20 7946 0958 4402079460958 07700 900123 7700 900123.",
    "415 555 0132, 1 415 555 0132, 11 415 555 0132, 4155550132 and 14155550132 (US, no '+').",
    "02-312-4567, 2-312-4567, 82-2-312-4567, 8202-312-4567, 010-1234-5678, 10-1234-5678, 821012345678.",
    "010-6552-9988, 1065529988, 86-10-6552-9988, 138 0013 8000, 13800138000, 8613800138000.",
    "953008, #953096, 020 7946 0958 #12, 03-123-4567;4, 415-555-0132,22 and 212.555.0147 ~3.",
    "２０１７－０１－１３ ０３－１２３－４５６７ ２０１４０６１３ ０３－１２３４－５６７８ ９７２－３－１２３－４５６７.",
]


# --- candidates rejected when every stretch of digits a part can hold cannot be valid ---
# A date or a version read as a national number passes the region's number patterns somewhere in
# its digits (20100512 is an Israeli landline without its prefix) yet no part of it is valid; the
# same candidates with a valid number as an inner part (after '/', '(', ' - ', a wide hyphen, '. ',
# a space) must still be found, and a part ending inside a digit group is never one phonenumbers tries.
PARTS = [
    "2010-05-12, 20100512, 2010-0512, 2010.05.12 and 12.05.2010 (dates), 2.10.18-1 and 10.0.19045.3693.",
    "2010-05-12/03-123-4567, 2010-05-12 (03) 123-4567, 2010-05-12 - 050-123-4567, 2010-05-12－03-123-4567.",
    "2010-05-12. 03-123-4567, 2010-05-12 0501234567, 20100512 (050) 123-4567 and 2014-06-13/03-1234-5678.",
    "2019-11-14/020 7946 0958, 2019-11-14 (415) 555-0132, 20191114 010-1234-5678, 2019-11-14 - 138 0013 8000.",
    "12345 - 212-555-0147, 2017.03.14. 02-312-4567, 1996-2022/03-1234-5678 and 42 2022 -0700 07700 900123.",
    "03-123-4567/2010-05-12, 03-123-4567 - 2010-05-12, (03) 123-4567 (2010) and 03-1234-5678/2014-06-13.",
]


@pytest.mark.parametrize("text", NATIONAL + PARTS)
def test_fast_path_equals_reference_on_national_forms(rec, text):
    assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == _key(rec.analyze(text, ["PHONE_NUMBER"]))
    assert _per_region(rec, text, fast=True) == _per_region(rec, text, fast=False)


def test_national_forms_hold_numbers():
    """Guards the test above against comparing empty lists. Oracle: stock python-phonenumbers."""
    from phonenumbers import PhoneNumberMatcher

    def found(text, region):
        return [m.raw_string for m in PhoneNumberMatcher(text, region, leniency=1)]

    assert "03-123-4567" in found(NATIONAL[0], "IL") and "2017-01-13" not in found(NATIONAL[0], "IL")
    assert "03-1234-5678" in found(NATIONAL[1], "JP") and "20140613" not in found(NATIONAL[1], "JP")
    assert "4155550132" in found(NATIONAL[4], "US") and "14155550132" in found(NATIONAL[4], "US")
    assert "13800138000" in found(NATIONAL[6], "CN")


def _digit_strings(region: str, rng: random.Random) -> list[str]:
    """Plain digit strings for ``region``: random ones, and the region's example numbers as a
    person dials them (national significant number alone, after the national prefix, after the
    country code with and without the prefix), some with a digit changed."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    out = ["".join(rng.choice("0123456789") for _ in range(rng.randint(5, 15))) for _ in range(400)]
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    cc = str(phonenumbers.country_code_for_region(region))
    for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
                 PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.UAN):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        for digits in (nsn, (md.national_prefix or "") + nsn, cc + nsn, cc + (md.national_prefix or "") + nsn):
            out.append(digits)
            k = rng.randrange(len(digits))
            out.append(digits[:k] + rng.choice("0123456789") + digits[k + 1 :])
    return out


def test_whole_national_form_and_prefix_rule_never_reject_a_number_phonenumbers_finds():
    """Both rejections are necessary conditions: a plain digit string (no '+', no international
    prefix) that fails the whole national form, or lacks a national prefix its format rule requires,
    is no number stock phonenumbers finds in that region. Oracle: phonenumbers' own matcher."""
    from phonenumbers import PhoneNumberMatcher

    from pipeline.pii.recognizers import _national_prefix_missing

    rng = random.Random(5)
    checked, rejected, kept = 0, {"whole": 0, "prefix": 0}, 0
    for region in RegionalPhoneRecognizer.REGIONS + RegionalPhoneRecognizer.COUNTRY_CODE_REGIONS:
        numbers = RegionalPhoneRecognizer.national_numbers(region)
        idd = RegionalPhoneRecognizer.national_bounds(region)[2]
        assert numbers is not None, region  # every configured region has its patterns (Japan included)
        for digits in _digit_strings(region, rng):
            if idd.match(digits):
                continue
            found = [m for m in PhoneNumberMatcher(digits, region, leniency=1)]
            checked += 1
            kept += bool(found)
            if numbers[1].fullmatch(digits) is None:
                rejected["whole"] += 1
                assert found == [], (region, digits)
            elif _national_prefix_missing(region, digits):
                rejected["prefix"] += 1
                assert found == [], (region, digits)
    assert checked > 3000 and kept > 50 and min(rejected.values()) > 50, (checked, kept, rejected)


def test_international_prefixes_start_with_their_literal_head():
    """The IDD shortcut tries only parts starting with the prefix's first digit. Oracle: every
    four-digit string the region's international-prefix regex matches at its start."""
    from pipeline.pii.recognizers import _literal_head

    for region in RegionalPhoneRecognizer.REGIONS + RegionalPhoneRecognizer.COUNTRY_CODE_REGIONS:
        idd = RegionalPhoneRecognizer.national_bounds(region)[2]
        head = _literal_head(idd.pattern)
        starts = {s[0] for s in (f"{n:04d}" for n in range(10_000)) if idd.match(s)}
        assert starts and (head is None or starts == {head}), (region, head, starts)
    assert _literal_head("00|11") is None and _literal_head("0?11") is None and _literal_head("0(?:0|1)") == "0"


# --- one hopelessness mask per candidate for all regions of a scan ---
# Candidates hopeless in some regions only: dates read as Israeli or Japanese national numbers, a
# Korean mobile number (too short for Japan), an Indian one without its country code, a US number.
_MIXED_REGIONS = ["2017-01-13 010-1234-5678 91-98765-43210 9876543210 (415) 555-0132 03-123-4567",
                  "20170113 02-312-4567 2014-06-13 +44 20 7946 0958 050-123-4567 4155550132",
                  "2017-01-13 and 010-1234-5678 again, 42 2022 -0700, 972-3-123-4567"]


def test_masks_kept_across_texts_find_what_each_region_finds():
    """The masks of candidates are remembered across texts (candidates repeat, in new
    surroundings); each region still finds what its stock matcher finds. Oracle: stock
    PhoneNumberMatcher per region."""
    from phonenumbers import Leniency, PhoneNumberMatcher

    from pipeline.pii.recognizers import CandidateScan, _SharedCandidateMatcher

    rec = RegionalPhoneRecognizer()
    regions = rec.supported_regions
    live: dict = {}
    found = 0
    for text in _MIXED_REGIONS + _MIXED_REGIONS[::-1]:
        scan = CandidateScan(live)
        fast = [_SharedCandidateMatcher(text, region, Leniency.VALID, scan, rec.min_digits(regions),
                                        rec.national_bounds(region), rec._cc_only(region)) for region in regions]
        for region, matcher in zip(regions, fast):
            stock = [(m.start, m.end) for m in PhoneNumberMatcher(text, region, leniency=Leniency.VALID)
                     if rec._written_for(region, m)]
            assert [(m.start, m.end) for m in matcher if rec._written_for(region, m)] == stock, (region, text)
            found += len(stock)
    assert found > 20 and any(0 < mask < (1 << len(regions)) - 1 for mask in live.values())


def test_masks_follow_the_order_of_the_regions():
    """A recognizer whose regions come in another order gets its own masks (bit i is region i).
    Oracle: the reference ``analyze`` of the same recognizer."""
    rec = RegionalPhoneRecognizer()
    for text in _MIXED_REGIONS:
        rec.analyze_fast(text, ["PHONE_NUMBER"])
    rec.supported_regions = list(reversed(rec.supported_regions))
    for text in _MIXED_REGIONS:
        assert _key(rec.analyze_fast(text, ["PHONE_NUMBER"])) == _key(rec.analyze(text, ["PHONE_NUMBER"])), text


def test_a_matcher_cannot_join_a_scan_under_way():
    from phonenumbers import Leniency

    from pipeline.pii.recognizers import CandidateScan, _SharedCandidateMatcher

    text = "Call (415) 555-0132 or 010-1234-5678."
    scan = CandidateScan()
    first = _SharedCandidateMatcher(text, "US", Leniency.VALID, scan, RegionalPhoneRecognizer.min_digits(),
                                    RegionalPhoneRecognizer.national_bounds("US"))
    assert [m.raw_string for m in first] == ["(415) 555-0132"]
    with pytest.raises(ValueError):
        _SharedCandidateMatcher(text, "KR", Leniency.VALID, scan, RegionalPhoneRecognizer.min_digits(),
                                RegionalPhoneRecognizer.national_bounds("KR"))


def test_parts_of_dates_hold_numbers_and_hopeless_dates():
    """Guards the national-form test on PARTS: stock phonenumbers (the oracle) finds numbers
    written before and after a date, and the part check does reject dates that pass the region's
    number patterns."""
    from phonenumbers import Leniency, PhoneNumberMatcher

    from pipeline.pii.recognizers import CandidateScan, _Digits, _SharedCandidateMatcher

    found = {region: [m.raw_string for text in PARTS for m in PhoneNumberMatcher(text, region, leniency=1)]
             for region in ("IL", "JP", "KR", "GB", "US")}
    assert "03-123-4567" in found["IL"] and "(03) 123-4567" in found["IL"]
    before_a_date = [m.raw_string for m in PhoneNumberMatcher(PARTS[-1], "IL", leniency=1)]
    assert before_a_date.count("03-123-4567") == 2  # a number as the first part, a date after it
    assert "03-1234-5678" in found["JP"] and "010-1234-5678" in found["KR"] and "020 7946 0958" in found["GB"]
    israel = _SharedCandidateMatcher("", "IL", Leniency.VALID, CandidateScan(), RegionalPhoneRecognizer.min_digits(),
                                     RegionalPhoneRecognizer.national_bounds("IL"))
    assert israel._national_numbers[0].search("20100512")  # the patterns alone would keep it
    assert israel._hopeless(_Digits("2010-05-12")) and israel._hopeless(_Digits("20100512"))
    assert not israel._hopeless(_Digits("2010-05-12/03-123-4567"))


def test_phonenumbers_keeps_its_metadata_patterns_compiled():
    """Importing the recognizers turns on phonenumbers' own pattern cache (each metadata regex
    compiled once, not looked up in re's small cache on every parse); the cache fills with the
    patterns a validation uses, each the pattern ``re.compile`` gives for its key."""
    import phonenumbers.re_util as re_util

    assert re_util._COMPILED_PATTERNS is not None
    RegionalPhoneRecognizer().analyze("call 020 7946 0958 or 010-1234-5678", ["PHONE_NUMBER"])
    assert re_util._COMPILED_PATTERNS
    assert all(p == re.compile(s) for s, p in re_util._COMPILED_PATTERNS.items())  # re's own compile as oracle
