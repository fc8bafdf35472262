"""Chinese resident identity card numbers (CN_RESIDENT_ID) and Japanese Individual Numbers
(JP_MY_NUMBER) as the default engine finds them in text.

Ground truth: the numbers python-stdnum's own tests and docs give as valid or invalid
(tests/test_cn_ric.doctest: 360426199101010071, 44011320141005001x valid; 360426199113010079 a
13th month; 36042619910102009X a wrong check character; stdnum.jp.in_: 621498320257 valid,
621498320258 a wrong check digit) and the example number of the standard itself, GB 11643-1999
(11010519491231002X). A first-generation (15-digit) number is the 18-digit one without the
century "19" and the check character, GB 11643-1999's own conversion rule run backwards:
110105491231002 is the standard's example person's old card. What is tested here is ours: finding them in Chinese, Japanese and English
text as it is written — no space before a particle, full-width digits, grouped digits — and the
context rule for the Japanese number.
"""
from __future__ import annotations

import pytest

from tests.unit.test_pii import _found, cfg, engine  # noqa: F401 - cfg, engine are fixtures

CN_VALID = ["360426199101010071", "44011320141005001x", "11010519491231002X"]
JP_VALID = "621498320257"


@pytest.mark.parametrize("number", CN_VALID)
@pytest.mark.parametrize("template, lang", [
    ("身份证号码：{}", "zh"),
    ("我的身份证号是{}，请核对。", "zh"),  # CJK characters touch the number on both sides
    ("申请人{}的材料已收到", "zh"),  # no context word: a right check character is enough
    ("The applicant's ID {} is on file.", "en"),
    ("신분증 번호 {}입니다", "ko"),
])
def test_a_chinese_id_is_found_as_written(engine, template, lang, number):
    assert ("CN_RESIDENT_ID", number) in _found(engine, template.format(number), lang)


def test_a_chinese_id_in_full_width_digits_is_found(engine):
    wide = "３６０４２６１９９１０１０１００７１"
    assert ("CN_RESIDENT_ID", wide) in _found(engine, f"身份证号码{wide}。", "zh")
    assert engine.scrub(f"身份证号码{wide}。", "zh") == ("身份证号码<CN_RESIDENT_ID>。", {"CN_RESIDENT_ID": 1})


@pytest.mark.parametrize("text", [
    "身份证号码：360426199113010079",  # month 13 (stdnum's invalid date)
    "身份证号码：36042619910102009X",  # wrong check character (stdnum's)
    "身份证号码：360426209101010078",  # born in 2091 (check character right): a future date
    "身份证号码：060426199101010070",  # no address code starts with 0 (check character right)
    "编号 1360426199101010071 已作废",  # the digits of a longer number
    "编号 360426199101010071-2 已作废",
    "hash a360426199101010071 b",
])
def test_what_is_not_a_chinese_id(engine, text):
    assert not any(entity == "CN_RESIDENT_ID" for entity, _ in _found(engine, text, "zh"))


def _first_generation(number: str) -> str:
    """The 15-digit number of the card an 18-digit number replaced (GB 11643-1999's conversion
    inserts "19" before the year and appends the check character)."""
    assert number[6:8] == "19"
    return number[:6] + number[8:17]


CN_FIRST_GENERATION = [_first_generation(n) for n in CN_VALID if n[6:8] == "19"]


def test_the_first_generation_oracle():
    assert CN_FIRST_GENERATION == ["360426910101007", "110105491231002"]


@pytest.mark.parametrize("number", CN_FIRST_GENERATION)
@pytest.mark.parametrize("template, lang", [
    ("身份证号码：{}", "zh"),
    ("旧身份证号是{}，已换领新证。", "zh"),  # CJK characters touch the number on both sides
    ("身分證號碼 {}", "zh"),
    ("Old card (身份证): {}", "en"),
])
def test_a_first_generation_chinese_id_is_found_next_to_a_context_word(engine, template, lang, number):
    assert ("CN_RESIDENT_ID", number) in _found(engine, template.format(number), lang)


def test_a_first_generation_id_in_full_width_digits_is_replaced(engine):
    wide = "１１０１０５４９１２３１００２"
    assert engine.scrub(f"身份证号{wide}。", "zh") == ("身份证号<CN_RESIDENT_ID>。", {"CN_RESIDENT_ID": 1})


@pytest.mark.parametrize("text, lang", [
    ("订单号 110105491231002 已发货", "zh"),  # a real date and province, no context word: one run in a hundred
    ("user id 110105491231002 created", "en"),  # English context words do not count for the old card
    ("身份证号码：110105491331002", "zh"),  # month 13
    ("身份证号码：110105490230002", "zh"),  # 30 February 1949
    ("身份证号码：910105491231002", "zh"),  # 91 is no province
    ("身份证号码：1101054912310021", "zh"),  # 16 digits
    ("身份证号码：a110105491231002", "zh"),
])
def test_what_is_not_a_first_generation_chinese_id(engine, text, lang):
    assert not any(entity == "CN_RESIDENT_ID" for entity, _ in _found(engine, text, lang))


@pytest.mark.parametrize("text, lang, value", [
    ("マイナンバー：6214 9832 0257", "ja", "6214 9832 0257"),
    ("個人番号は621498320257です。", "ja", JP_VALID),  # particles touch the digits
    ("個人番号 6214-9832-0257 を記入", "ja", "6214-9832-0257"),
    ("マイナンバーカード（６２１４ ９８３２ ０２５７）", "ja", "６２１４ ９８３２ ０２５７"),
    ("Her individual number is 621498320257.", "en", JP_VALID),
])
def test_a_japanese_individual_number_is_found_next_to_a_context_word(engine, text, lang, value):
    assert ("JP_MY_NUMBER", value) in _found(engine, text, lang)


@pytest.mark.parametrize("text", [
    "注文番号 621498320257 を発送しました",  # right check digit, no context word: one number in ten passes
    "マイナンバー：621498320258",  # wrong check digit (stdnum's)
    "マイナンバー：6214 9832-0257",  # mixed separators: not one number
    "マイナンバー欄の下にカード 4313 5287 6128 3153",  # the first 12 digits of a longer grouped number
    "マイナンバー：1621498320257",
])
def test_what_is_not_a_japanese_individual_number(engine, text):
    assert not any(entity == "JP_MY_NUMBER" for entity, _ in _found(engine, text, "ja"))


def test_ids_are_replaced_by_typed_placeholders(engine):
    text = "身份证号码：11010519491231002X；マイナンバー：6214 9832 0257。"
    assert engine.scrub(text, "ja") == ("身份证号码：<CN_RESIDENT_ID>；マイナンバー：<JP_MY_NUMBER>。",
                                        {"CN_RESIDENT_ID": 1, "JP_MY_NUMBER": 1})


# --- full-width forms: Japanese, Chinese and Korean text writes digits, letters and signs wide ----
def test_narrowed_maps_each_full_width_form_to_its_nfkc_twin_and_keeps_offsets():
    import unicodedata

    from pipeline.pii.boundaries import narrowed

    wide = "".join(map(chr, range(0xFF01, 0xFF5F))) + "\u3000"
    assert narrowed(wide) == unicodedata.normalize("NFKC", wide)  # the oracle: Unicode's own mapping
    text = "住所：東京都　ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ（半角ｶﾅ）한국어 ①"
    got = narrowed(text)
    assert len(got) == len(text)
    assert [a for a, b in zip(got, text) if a != b] == [unicodedata.normalize("NFKC", b) for a, b in zip(got, text) if a != b]
    assert "ｶﾅ" in got and "①" in got  # half-width kana and other compatibility forms are left alone
    assert narrowed("plain ASCII") == "plain ASCII"
    assert narrowed("括弧（かっこ）だけ：　") == "括弧（かっこ）だけ：　"  # punctuation alone: nothing a value holds


@pytest.mark.parametrize("text, lang, entity", [
    ("주민등록번호 ９２０７０４－１１２３４５７입니다", "ko", "KR_RRN"),
    ("카드 ４１１１ １１１１ １１１１ １１１１로 결제", "ko", "CREDIT_CARD"),
    ("メール：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐまで", "ja", "EMAIL_ADDRESS"),
    ("接続元 １９２．１６８．１０．２３ から", "ja", "IP_ADDRESS"),
    ("振込先　ＩＢＡＮ　ＤＥ８９　３７０４　００４４　０５３２　０１３０　００", "ja", "IBAN_CODE"),
    ("身份证号码：３６０４２６１９９１０１０１００７１", "zh", "CN_RESIDENT_ID"),
])
def test_full_width_values_are_found_and_replaced_in_place(engine, text, lang, entity):
    scrubbed, counts = engine.scrub(text, lang)
    assert counts == {entity: 1}, scrubbed
    head = text[: scrubbed.index("<")]
    assert scrubbed.startswith(head) and f"<{entity}>" in scrubbed  # the text around it is untouched, wide as it was


def test_a_full_width_version_number_is_still_not_an_address(engine):
    assert engine.scrub("バージョン１．２．３．４をリリース", "ja") == ("バージョン１．２．３．４をリリース", {})


@pytest.mark.parametrize("cls_name", ["CnResidentIdRecognizer", "CnFirstGenerationIdRecognizer", "JpMyNumberRecognizer"])
def test_every_match_holds_the_recognizers_condition_and_the_one_the_union_gets(cls_name):
    """The prefilter's union gets ``PREFILTER_IMPLIED_BY`` for these recognizers: sound only if
    every match holds a hit of it (and of the recognizer's own ``PREFILTER``)."""
    import regex
    from hypothesis import given, settings, strategies as st

    from pipeline.pii import cjk_ids

    cls = getattr(cjk_ids, cls_name)
    pattern = regex.compile(cls.PATTERNS[0].regex, regex.IGNORECASE)
    own, implied = regex.compile(cls.PREFILTER), regex.compile(cls.PREFILTER_IMPLIED_BY)
    digits = st.text(alphabet="0123456789０１２３４５６７８９", min_size=18, max_size=18)
    matched = []

    @settings(max_examples=400, deadline=None)
    @given(digits, st.sampled_from(["", " ", "-", "－", "　"]), st.sampled_from(["", "号", "a", "1", " "]),
           st.sampled_from(["X", "ｘ", "7", "号", ""]))
    def check(run, sep, around, last):
        text = (f"{around}{run[:4]}{sep}{run[4:8]}{sep}{run[8:12]}{around}" + f" {around}{run[:17]}{last}{around}"
                + f" {around}{run[:15]}{around}")
        for m in pattern.finditer(text):
            matched.append(m.group())
            assert own.search(m.group()) and implied.search(m.group()), (text, m.group())

    check()
    assert len(matched) > 50  # the property was checked on many matches, not vacuously


def test_a_full_width_value_gets_the_pseudonym_of_its_ascii_twin(monkeypatch, make_config):
    from pipeline.pii.engine import PiiEngine
    from pipeline.stages.pii import FieldScrubber

    monkeypatch.setenv("CJK_TEST_KEY", "a test secret")
    eng = PiiEngine(make_config({"pii": {"operator": "pseudonym", "secret_env": "CJK_TEST_KEY"}}))
    wide, _ = eng.scrub("メール：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "ja")
    ascii_, _ = eng.scrub("メール：taro@example.jp", "ja")
    assert wide == ascii_ and wide.startswith("メール：<EMAIL_ADDRESS:")
    other, _ = eng.scrub("メール：jiro@example.jp", "ja")
    assert other != ascii_
    # a URL parameter replaced whole gets the same token as the value found in text
    url = FieldScrubber(eng).scrub_values(["https://a.example/u?email=ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ"])[0][0]
    assert url.endswith("email=" + wide.split("：", 1)[1])
