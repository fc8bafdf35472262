"""PII stage: real presidio over the rules in rules/pii, a labelled English/Korean set, the fast
path's identity with presidio's plain AnalyzerEngine, offline operation and replacement."""
from __future__ import annotations

import ipaddress

import json
import logging
import random
import shutil
import socket
import warnings
from pathlib import Path

import pytest

from pipeline.config import ConfigError
from pipeline.pii.engine import PiiEngine

warnings.filterwarnings("ignore", message=".*NLP recognizer.*")

LABELLED = Path(__file__).resolve().parents[1] / "data" / "pii" / "labelled.jsonl"


@pytest.fixture(scope="module")
def cfg():
    from pipeline.config import load_config

    return load_config()


@pytest.fixture(scope="module")
def engine(cfg):
    return PiiEngine.from_config(cfg)


@pytest.fixture(scope="module")
def reference(cfg):
    return PiiEngine.reference(cfg)


@pytest.fixture(scope="module")
def labelled():
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


def _key(results):
    return sorted((r.entity_type, r.start, r.end, round(r.score, 9)) for r in results)


def _found(engine, text, lang):
    return {(r.entity_type, text[r.start : r.end]) for r in engine.resolve(engine.analyze_batch([text], [lang])[0])}


# --- labelled set -------------------------------------------------------------------------
def test_labelled_recall_per_type_and_decoys_preserved(engine, labelled):
    texts, langs = [d["text"] for d in labelled], [d["lang"] for d in labelled]
    results = engine.analyze_batch(texts, langs)
    per_type: dict[str, list[int]] = {}
    decoys_total = decoys_kept = 0
    kept_by_rules = engine.detect_batch(texts, langs)  # without suppression.yaml's non-PII
    for doc, res, kept_res, (scrubbed, counts) in zip(labelled, results, kept_by_rules, engine.scrub_batch(texts, langs)):
        chosen = engine.resolve(res)
        replaced = engine.resolve(kept_res)
        for p in doc["pii"]:
            covered = any(r.start <= p["start"] and r.end >= p["end"] for r in chosen)
            per_type.setdefault(p["type"], [0, 0])
            per_type[p["type"]][0] += covered
            per_type[p["type"]][1] += 1
            value = doc["text"][p["start"] : p["end"]]
            if covered and not any(r.start <= p["start"] and r.end >= p["end"] for r in replaced):
                # the only planted values suppression may keep: documentation addresses (RFC 3849/5737)
                # in a document with technical markers (reserved_addresses)
                assert p["type"] == "IP_ADDRESS" and ipaddress.ip_address(value) in ipaddress.ip_network("2001:db8::/32")
                continue
            assert value not in scrubbed or not covered
        for d in doc["decoys"]:
            decoys_total += 1
            value = doc["text"][d["start"] : d["end"]]
            # what is replaced: a bad-checksum RRN decoy is a structural match until
            # suppression.yaml's plain_numbers sees the id word before it (문서번호, Ticket)
            kept = not any(r.end > d["start"] and r.start < d["end"] for r in replaced)
            decoys_kept += kept
            if kept:
                assert value in scrubbed
        assert sum(counts.values()) == len(replaced)
    assert len(per_type) >= 13, per_type.keys()
    for entity, (hit, total) in per_type.items():
        assert total >= 10, entity
        assert hit / total >= 0.98, (entity, hit, total)
    assert decoys_total >= 300
    assert decoys_kept / decoys_total >= 0.95


def test_entity_types_match_on_labelled_set(engine, labelled):
    """Beyond being replaced, the planted values carry their own type (a few collide, e.g. a
    Luhn-valid account number is a card number)."""
    right = total = 0
    for doc, res in zip(labelled, engine.analyze_batch([d["text"] for d in labelled], [d["lang"] for d in labelled])):
        chosen = {(r.start, r.end): r.entity_type for r in engine.resolve(res)}
        for p in doc["pii"]:
            total += 1
            right += chosen.get((p["start"], p["end"])) == p["type"]
    assert right / total >= 0.97


# --- identity with presidio's plain AnalyzerEngine -----------------------------------------
def test_fast_path_identical_to_plain_presidio_on_labelled_set(engine, reference, labelled):
    texts, langs = [d["text"] for d in labelled], [d["lang"] for d in labelled]
    fast = engine.analyze_batch(texts, langs)
    for text, lang, got in zip(texts, langs, fast):
        assert _key(got) == _key(reference.analyzer.analyze(text=text, language=lang))


def test_fast_path_identical_to_plain_presidio_on_random_text(engine, reference, labelled):
    rng = random.Random(7)
    vocab = [w for d in labelled[:60] for w in d["text"].split()]
    vocab += ["주민등록번호", "계좌번호:", "전화", "card", "IBAN", "여권번호는", "운전면허", "ip", "wallet", "SSN",
              "사업자등록번호", "the", "a", "of", "입금", "-", "(", ")", "+82", "010", "::", "@", "x", "ext."]
    alphabet = "0123456789-. ()+:@/x"
    texts, langs = [], []
    for _ in range(120):
        parts = []
        for _ in range(rng.randint(5, 120)):
            r = rng.random()
            if r < 0.55:
                parts.append(rng.choice(vocab))
            elif r < 0.9:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))))
            else:
                parts.append(rng.choice(["\n", "\n\n", "\u3000", "\t"]))
        texts.append(rng.choice([" ", "  ", ""]).join(parts))
        langs.append(rng.choice(["en", "ko", None, "de", "ja", "zh"]))
    fast = engine.analyze_batch(texts, langs)
    assert sum(len(f) for f in fast) > 20  # the random text does contain findings
    for text, lang, got in zip(texts, langs, fast):
        want = reference.analyzer.analyze(text=text, language=engine_lang(engine, lang))
        assert _key(got) == _key(want)


def engine_lang(engine, lang):
    from pipeline.pii.engine import normalize_lang

    return normalize_lang(lang, engine.languages)


def test_fast_analyzer_serves_every_prefiltered_language(engine):
    """The identity tests above exercise pipeline.pii.fast, not a fallback to presidio's analyze."""
    assert engine.fast and set(engine.fast) == {lang for lang, pre in engine.prefilters.items() if pre is not None}


_FILLER = " ".join(["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] * 20)


@pytest.mark.parametrize(
    "lang,text",
    [
        # the enhancer walks forward to the next keyword even with context_suffix_count 0: past
        # the non-keywords "fe80::1" (colon) and "these" (stop word) to "scripts" ("ip" inside)
        ("en", "The router address fe80::1 these scripts are fine"),
        ("en", "address fe80::1 about these scripts here"),
        ("en", "The router address fe80::1 these\nscripts are fine"),
        # presidio's keyword list is the whole document's, with "a::b" split: a far-away
        # "fe80::call" makes the stop word "call" a context word for the phone number
        ("en", "Please call 02-312-4567 now.\n" + _FILLER + "\nsee fe80::call there"),
        ("en", "Please call 02-312-4567 now.\n" + _FILLER),
        ("ko", "연락처:010-1234-5678 입니다\n" + _FILLER + "\n계좌:110-123-456789"),
        ("en", "no context 02-312-4567\n\n" + "x " * 3 + "phone\n02-312-4568 and 02-312-4569"),
    ],
)
def test_fast_path_context_edge_cases(engine, reference, lang, text):
    assert _key(engine.analyze_batch([text], [lang])[0]) == _key(reference.analyzer.analyze(text=text, language=lang))


def test_fast_phone_matcher_identical_to_phonenumbers():
    """RegionalPhoneRecognizer.analyze_fast (shared candidates, digit-count rejections per region)
    finds what presidio's PhoneRecognizer.analyze finds, on numbers of every region in every format,
    mutated, with extensions and international prefixes, amid digit noise."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    from pipeline.pii.recognizers import RegionalPhoneRecognizer

    rec = RegionalPhoneRecognizer()
    rng = random.Random(5)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    formats = [PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL,
               PhoneNumberFormat.RFC3966]

    def number():
        region = rng.choice(regions if rng.random() < 0.5 else list(rec.REGIONS))
        example = phonenumbers.example_number_for_type(region, rng.randrange(11))
        if example is None:
            return "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 14)))
        s = phonenumbers.format_number(example, rng.choice(formats))
        if rng.random() < 0.3:
            i = rng.randrange(len(s))
            s = s[:i] + (rng.choice("0123456789") if s[i].isdigit() else s[i]) + s[i + 1 :]
        if s.startswith("+") and rng.random() < 0.2:
            s = rng.choice(["00", "011", "010", "001"]) + s[1:]
        elif s.startswith("+") and rng.random() < 0.2:
            s = s[1:]  # a country code without '+' (91-415-555-0132): kept only for its region
        if rng.random() < 0.1:
            s += rng.choice([" ext. 12", " #12", ";3", ", 45", " ~ 7", "~12", "#"])
        return s

    def noise():
        return "".join(rng.choice("0123456789 -.()+/~#,;x:" if rng.random() < 0.8 else "0123456789")
                       for _ in range(rng.randint(1, 25)))

    found = 0
    for _ in range(500):
        parts = [rng.choice([number, number, noise, lambda: rng.choice(["tel", "전화", "a", "\n", "１２３４５６７"])])()
                 for _ in range(rng.randint(1, 8))]
        text = rng.choice([" ", "  ", "", "\t"]).join(parts)
        want = sorted((r.start, r.end, r.score) for r in rec.analyze(text, ["PHONE_NUMBER"]))
        assert sorted((r.start, r.end, r.score) for r in rec.analyze_fast(text, ["PHONE_NUMBER"])) == want
        found += len(want)
    assert found > 200


def test_phone_digit_bounds_hold_for_short_numbers():
    """No string of fewer than min_digits digits is a valid number, from any configured region."""
    import itertools

    from phonenumbers import PhoneNumberMatcher

    from pipeline.pii.recognizers import RegionalPhoneRecognizer

    n = RegionalPhoneRecognizer.min_digits()
    assert n >= 3
    for k in range(1, n):
        for digits in itertools.islice(itertools.product("0123456789", repeat=k), 0, None, 7 if k > 3 else 1):
            d = "".join(digits)
            for text in (d, "+" + d, "(" + d[:1] + ")" + d[1:]):
                for region in RegionalPhoneRecognizer.REGIONS:
                    assert not list(PhoneNumberMatcher(text, region, leniency=1)), (text, region)


def test_prefilter_skips_text_without_candidates(engine):
    pre = engine.prefilters["en"]
    assert pre.windows("Plain prose with a year 2024 and version 1.2.3 has nothing to look at.") == []
    text = "Intro words here. " * 50 + "Mail me at someone@example.com today. " + "Closing words here. " * 50
    (s, e), = pre.windows(text)
    assert e - s < 300 and s <= text.index("someone") < e


# --- Korean rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,entity,value",
    [
        ("휴대폰 010-1234-5678 로 연락", "PHONE_NUMBER", "010-1234-5678"),
        ("대표번호 02-312-4567 입니다", "PHONE_NUMBER", "02-312-4567"),
        ("경기 지사 031-123-4567", "PHONE_NUMBER", "031-123-4567"),
        ("해외에서는 +82 10 1234 5678 로", "PHONE_NUMBER", "+82 10 1234 5678"),
        ("주민등록번호는 900101-1234568입니다", "KR_RRN", "900101-1234568"),
        ("외국인등록번호 900101-5234566", "KR_FRN", "900101-5234566"),
        ("사업자등록번호: 220-81-62517", "KR_BRN", "220-81-62517"),
        ("여권번호는 M123A4567 입니다", "KR_PASSPORT", "M123A4567"),
        ("운전면허번호 11-17-123456-61", "KR_DRIVER_LICENSE", "11-17-123456-61"),
        ("계좌번호: 110-123-456789 (신한)", "KR_BANK_ACCOUNT", "110-123-456789"),
    ],
)
def test_korean_recognizers_with_korean_context(engine, text, entity, value):
    assert (entity, value) in _found(engine, text, "ko")


def test_rrn_rules(engine):
    valid = "900101-1234568"  # check digit right
    assert ("KR_RRN", valid) in _found(engine, f"번호 {valid} 참고", "ko")  # no context needed
    assert ("KR_RRN", valid.replace("-", "")) in _found(engine, f"number {valid.replace('-', '')} noted", "en")
    bad = "900101-1234567"  # born 1990, wrong check digit: a real date and gender digit (presidio: 0.5)
    assert ("KR_RRN", bad) in _found(engine, f"참고 {bad} 번호", "ko")
    assert ("KR_RRN", bad) in _found(engine, f"see {bad} here", "en")
    # written without its dash outside Korean text, only with a context word
    assert not any(e == "KR_RRN" for e, _ in _found(engine, "number 9001011234567 noted", "en"))
    assert ("KR_RRN", "9001011234567") in _found(engine, "RRN 9001011234567 noted", "en")
    new_style = "210315-3987654"  # born 2021: new numbers carry no check digit
    assert ("KR_RRN", new_style) in _found(engine, f"번호 {new_style} 참고", "ko")
    for impossible in ("901301-1234568", "900231-1234568", "900101-5234568x"):  # month 13, Feb 31
        assert not any(e == "KR_RRN" for e, _ in _found(engine, f"주민등록번호 {impossible}", "ko"))
    assert _found(engine, "주민등록번호 9001011234568123", "ko") == set()  # 16 digits is no RRN


def test_weak_korean_numbers_need_context(engine):
    # outside Korean text a checksum-valid BRN or a licence number as bare/spaced digits needs context
    assert not any(e == "KR_BRN" for e, _ in _found(engine, "code 2208162517 noted", "en"))
    assert ("KR_BRN", "2208162517") in _found(engine, "business registration 2208162517", "en")
    assert _found(engine, "filed 11 17 123456 61 today", "en") == set()
    assert _found(engine, "모델 M123A4567 출시", "ko") == set()
    assert _found(engine, "번호 110-123-456789 참고", "ko") == set()


def test_unknown_language_falls_back_to_every_recognizer(engine):
    text = "Kontakt: max@example.de, Karte 4111 1111 1111 1111, 주민등록번호 900101-1234568"
    for lang in ("de", None, "fr-CA"):
        found = {e for e, _ in _found(engine, text, lang)}
        assert {"EMAIL_ADDRESS", "CREDIT_CARD", "KR_RRN"} <= found


# --- replacement ----------------------------------------------------------------------------
def test_scrub_replaces_only_spans_with_typed_placeholders(engine):
    text = "Mail kim@example.com or call 010-1234-5678; release 2.3.1 on 2024-01-05."
    out, counts = engine.scrub(text, "en")
    assert out == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>; release 2.3.1 on 2024-01-05."
    assert counts == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert engine.find(text, "en") == counts
    assert engine.scrub("", None) == ("", {})


def test_pseudonyms_are_keyed_and_stable(monkeypatch, make_config):
    monkeypatch.setenv("TEST_PII_KEY", "s3cret")
    cfg = make_config({"pii": {"operator": "pseudonym", "secret_env": "TEST_PII_KEY"}})
    eng = PiiEngine.from_config(cfg)
    out, counts = eng.scrub("a@example.com wrote to b@example.com, then a@example.com again", "en")
    tokens = out.replace(",", "").split()
    assert counts == {"EMAIL_ADDRESS": 3}
    assert tokens[0] == tokens[-2] != tokens[3]
    assert tokens[0].startswith("<EMAIL_ADDRESS:") and len(tokens[0]) == len("<EMAIL_ADDRESS:12345678>")
    assert "example.com" not in out
    monkeypatch.setenv("TEST_PII_KEY", "another")
    other = PiiEngine.from_config(cfg).scrub("a@example.com", "en")[0]
    assert other != tokens[0]


def test_missing_pseudonym_secret_is_a_config_error(monkeypatch, make_config):
    monkeypatch.delenv("NO_SUCH_PII_KEY", raising=False)
    cfg = make_config({"pii": {"operator": "pseudonym", "secret_env": "NO_SUCH_PII_KEY"}})
    with pytest.raises(ConfigError, match="NO_SUCH_PII_KEY"):
        PiiEngine.from_config(cfg)
    from pipeline.stages.pii import PiiStage

    with pytest.raises(ConfigError, match="NO_SUCH_PII_KEY"):
        PiiStage(cfg, "run")


# --- configuration and rules ------------------------------------------------------------------
def test_entities_filter_and_unknown_entity(make_config):
    eng = PiiEngine.from_config(make_config({"pii": {"entities": ["EMAIL_ADDRESS"]}}))
    assert eng.entities == ["EMAIL_ADDRESS"]
    assert eng.find("x@example.com 010-1234-5678", "ko") == {"EMAIL_ADDRESS": 1}
    with pytest.raises(ConfigError, match="pii.entities"):
        PiiEngine.from_config(make_config({"pii": {"entities": ["NOPE"]}}))


def test_a_reviewer_adds_a_yaml_recognizer_without_code(tmp_path, make_config, cfg):
    rules = tmp_path / "rules"
    shutil.copytree(cfg.rules_path(), rules)
    path = rules / "pii" / "recognizers.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + """
  - name: EmployeeId
    type: custom
    supported_entity: EMPLOYEE_ID
    patterns: [{name: emp, regex: 'EMP-\\d{6}', score: 0.9}]
    supported_languages: [en, ko, ja, zh, xx]
""",
        encoding="utf-8",
    )
    eng = PiiEngine.from_config(make_config({"rules_dir": str(rules)}))
    assert eng.scrub("ticket by EMP-123456 today", "en") == ("ticket by <EMPLOYEE_ID> today", {"EMPLOYEE_ID": 1})


def test_no_network_ever(monkeypatch, make_config):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import pipeline.pii.recognizers as rec

    monkeypatch.setattr(rec, "_TLD", None)  # rebuild the suffix-list extractor with sockets blocked
    eng = PiiEngine(make_config({"pii": {"score_threshold": 0.45}}))  # a fresh engine, not cached
    out, counts = eng.scrub("write to 김철수 <kim@mail.co.kr> or ops@example.org", "ko")
    assert counts == {"EMAIL_ADDRESS": 2}


def test_no_raw_values_in_logs_or_errors(engine, caplog):
    caplog.set_level(logging.DEBUG)
    text = "IBAN DE89 3704 0044 0532 0130 00 and ZZ12 ABCD EFGH IJKL, mail kim@example.com"
    out, counts = engine.scrub(text, "en")
    assert counts.get("IBAN_CODE") == 1
    for value in ("DE89", "ZZ12", "kim@example.com"):
        assert value not in caplog.text


# --- the stage ------------------------------------------------------------------------------
def test_stage_scrubs_in_place_and_keeps(cfg):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipeline.records import new_record
    from pipeline.runners import local_pipeline
    from pipeline.stages.pii import PiiScrubber, PiiStage

    recs = [
        new_record(source_uri="a.jsonl", record_index=0, text="연락처 010-1234-5678, 메일 kim@example.com"),
        new_record(source_uri="a.jsonl", record_index=1, text="Nothing personal in version 1.2.3."),
        new_record(source_uri="a.jsonl", record_index=2, text=""),
    ]
    recs[0]["lang"] = "ko"
    core = PiiScrubber(cfg)
    core.setup()
    verdicts = core.process_batch([dict(r) for r in recs])
    assert [v.action for v in verdicts] == ["keep"] * 3
    assert verdicts[0].detail == {"pii_counts": {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}}
    assert "010-1234-5678" not in json.dumps(verdicts[0].detail)

    with local_pipeline() as p:
        out = p | beam.Create([recs]) | PiiStage(cfg, "run1")
        texts = out.kept | beam.FlatMap(lambda batch: [(r["text"], r["pii_counts"]) for r in batch])
        assert_that(
            texts,
            equal_to([
                ("연락처 <PHONE_NUMBER>, 메일 <EMAIL_ADDRESS>", {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}),
                ("Nothing personal in version 1.2.3.", {}),
                ("", {}),
            ]),
            label="kept",
        )
        assert_that(out.decisions, equal_to([]), label="decisions")
