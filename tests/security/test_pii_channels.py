"""Issue 14: personal data on every channel, not only `text`.

Real `curate run`s over JSONL, Parquet and WARC/HTML inputs in which personal data is planted in
every field a record can carry: the text, a copyright notice inside it, the input's `id`
(→ `source_id`), its `url` (query string, path, fragment; literal and percent-encoded), HTML
`<title>` and `<meta>` tags, HTTP response headers, the JSONL `meta` object, and the ids of records
that an earlier stage drops (their decisions rows are written without passing the PII stage).
With PII on (the default config) no planted value may appear anywhere under OUT, in stdout or in
stderr, nor in the batches the dedup stage holds on disk. With PII off, exactly the documented
channels carry them (docs/pii.md, "Channels").

Every value below is made up for these tests; the numbers are valid where validity matters
(Luhn-valid cards, RRNs and Chinese and Japanese ID numbers with the right check digit), so a miss cannot be blamed on the detector.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.security.conftest import run_cli, scan_outputs, scan_text

# --- planted values, by the channel they are planted in -------------------------------------
TEXT = ["mina.text@example.com", "010-2345-6789", "4111 1111 1111 1111", "920704-1123457", "jiwoo.ko@example.kr", "010-8765-4321",
        "11010519491231002X", "6214 9832 0257", "110105491231002"]
NOTICE = ["notice.holder@example.org", "010-3456-7890", "minsu.kim@example.kr"]
SOURCE_ID = ["id.owner@example.net", "850315-2345615"]
URL = ["url.query@example.com", "010-4567-8901", "5555555555554444", "770102-2456787", "url.encoded@example.com", "url.pq@example.com",
       "jroe77"]
WARC_URL = ["warc.target@example.com", "010-1357-2468"]
HTML_TITLE = ["title.page@example.com"]
HTML_META = ["meta.author@example.com", "010-5678-9012"]
HTTP_HEADERS = ["cookie.user@example.com", "010-7890-1234", "6011111111111117"]
RECORD_META = ["meta.json@example.com", "010-9876-5432"]
DROPPED_IDS = ["empty.id@example.com", "short.id@example.com", "010-2468-1357"]

CHANNELS = {
    "text": TEXT,
    "copyright notice": NOTICE,
    "source_id": SOURCE_ID,
    "url": URL + WARC_URL,
    "html title": HTML_TITLE,
    "html meta": HTML_META,
    "http headers": HTTP_HEADERS,
    "jsonl meta": RECORD_META,
    "ids of dropped records": DROPPED_IDS,
}
ALL = [v for values in CHANNELS.values() for v in values]

EN_BODY = (
    "The harbour museum opened a new room this spring, and the volunteers who restored the old "
    "fishing boats wrote a long guide about the work. Visitors can read how each hull was cleaned, "
    "how the paint was chosen, and why some planks were kept even when they were cracked. The guide "
    "also explains how the tides shaped the town and which families built the first piers along the "
    "river mouth more than a century ago."
)
WEB_BODY = (
    "Our bakery on the corner of Mill Street has changed its opening hours for the winter. From "
    "November the ovens start an hour later, so the first loaves come out at seven, and on Sundays "
    "we close at noon to give the bakers a proper rest. The rye sourdough is back after a short "
    "break, the seed rolls now use local sunflower seeds, and the apple cake returns every Friday."
)
WEB_BODY_2 = (
    "Thank you to everyone who joined the tasting evening last month. We collected many kind notes "
    "and a few useful complaints: the coffee was too weak, the chairs were too few, and the music "
    "was far too loud for anyone to hear the talk about flour and fermentation that followed."
)
KO_BODY = (
    "지난 주말 시립 도서관에서 열린 지역 역사 강연에는 많은 주민이 참석했다. 강연자는 오래된 시장 골목이 "
    "어떻게 만들어졌는지, 그리고 전쟁 이후 상인들이 어떤 방식으로 가게를 다시 열었는지를 자세히 설명했다. "
    "참석자들은 옛 사진을 함께 보면서 어린 시절의 기억을 나누었고, 도서관은 다음 달에도 비슷한 강연을 "
    "준비하고 있다고 밝혔다. 강연 자료는 도서관 누리집에서 누구나 내려받을 수 있으며 질문은 안내 데스크에서 "
    "받는다고 한다."
)


def _jsonl_records() -> list[dict]:
    text = (
        f"{EN_BODY}\n"
        f"Write to mina.text@example.com or call 010-2345-6789 for a tour. Deposits were paid with the "
        f"card 4111 1111 1111 1111 and the registration number 920704-1123457 is on file. A visitor from "
        f"Beijing showed the card 11010519491231002X, one from Osaka her 個人番号 6214 9832 0257, and an "
        f"old record keeps her father's first card (旧身份证 110105491231002).\n"
        f"Copyright (c) 2023 Jane Roe, notice.holder@example.org, tel 010-3456-7890\n"
    )
    url = (
        "https://shop.example.com/u/5555555555554444/profile"
        "?email=url.query@example.com&tel=010-4567-8901&alt=url.encoded%40example.com&ref=home&user=jroe77"
        "#rrn=770102-2456787"
    )
    return [
        {"id": "id.owner@example.net", "url": url, "text": text,
         "meta": {"author_email": "meta.json@example.com", "phone": "010-9876-5432"}},
        {"id": "empty.id@example.com", "url": "https://example.com/empty", "text": "   "},
        {"id": "short.id@example.com", "url": "https://example.com/short?tel=010-2468-1357", "text": "hi there"},
    ]


def _parquet_table() -> pa.Table:
    text = (
        f"{KO_BODY}\n문의는 jiwoo.ko@example.kr 또는 010-8765-4321 로 연락 주시기 바랍니다.\n"
        f"© 2024 김민수 minsu.kim@example.kr\n"
    )
    return pa.table({
        "id": pa.array([8503152345615], pa.int64()),
        "url": ["https://news.example.kr/article/1?reporter=url.pq@example.com"],
        "text": [text],
    })


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Contact title.page@example.com</title>
<meta name="author" content="Jane Roe meta.author@example.com 010-5678-9012">
<meta name="description" content="Bakery news">
</head><body><nav><a href="/">Home</a></nav>
<article><h1>Bakery news</h1><p>{para}</p><p>{para2}</p></article>
<footer>Footer</footer></body></html>"""


def _write_warc(path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body = PAGE.format(para=WEB_BODY, para2=WEB_BODY_2).encode("utf-8")
    headers = StatusAndHeaders("200 OK", [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Set-Cookie", "session=ab12; user=cookie.user@example.com"),
        ("X-Contact-Phone", "010-7890-1234"),
        ("X-Card", "6011111111111117"),
    ], protocol="HTTP/1.1")
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        w.write_record(w.create_warc_record(
            "https://bakery.example.org/news?contact=warc.target@example.com&phone=010-1357-2468",
            "response", payload=io.BytesIO(body), http_headers=headers))


def _inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "records.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _jsonl_records()), encoding="utf-8")
    parquet = folder / "records.parquet"
    pq.write_table(_parquet_table(), parquet)
    warc = folder / "crawl.warc.gz"
    _write_warc(warc)
    return [jsonl, parquet, warc]


def _run(inputs: list[Path], tmp: Path, config: dict | None) -> tuple[Path, object]:
    out = tmp / "out"
    args = []
    for path in inputs:
        args += ["--input", path]
    if config is not None:
        cfg = tmp / "config.yaml"
        cfg.write_text(json.dumps(config), encoding="utf-8")
        args += ["--config", cfg]
    result = run_cli("run", *args, "--output", out)
    assert result.code == 0, result.stderr[-2000:]
    return out, result


@pytest.fixture(scope="module")
def planted_inputs(tmp_path_factory):
    """One set of input files for both runs: doc_id depends on the file path."""
    return _inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def pii_on_run(planted_inputs, tmp_path_factory):
    return _run(planted_inputs, tmp_path_factory.mktemp("pii_on"), None)


@pytest.fixture(scope="module")
def pii_off_run(planted_inputs, tmp_path_factory):
    return _run(planted_inputs, tmp_path_factory.mktemp("pii_off"), {"pii": {"enabled": False}})


def _documents(out: Path) -> list[dict]:
    return pq.read_table(out / "documents").to_pylist()


def test_the_planted_records_are_kept(pii_on_run):
    """The scans below prove something only if the planted documents reach the output."""
    out, _ = pii_on_run
    docs = _documents(out)
    assert len(docs) == 3, [d["source_uri"] for d in docs]
    decisions = pq.read_table(out / "decisions").to_pylist()
    reasons = sorted((d["stage"], d["reason"]) for d in decisions if d["action"] != "keep")
    assert reasons == [("ingest", "empty"), ("quality", "word_count")]


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_pii_on_no_planted_value_reaches_any_output(pii_on_run, channel):
    out, result = pii_on_run
    leaks = scan_outputs(out, CHANNELS[channel], result.stdout, result.stderr)
    assert leaks == [], leaks


def test_pii_on_urls_keep_their_structure(pii_on_run):
    out, _ = pii_on_run
    urls = {d["source_uri"].rsplit("/", 1)[-1]: d["url"] for d in _documents(out)}
    jsonl = urls["records.jsonl"]
    # Scheme, host, path and parameter names stay; only the values that were personal data change.
    assert jsonl.startswith("https://shop.example.com/u/<CREDIT_CARD>/profile?email=<EMAIL_ADDRESS>&tel=<PHONE_NUMBER>&alt=")
    assert jsonl.endswith("&ref=home&user=<USERNAME>#rrn=<KR_RRN>")
    assert "url.encoded" not in unquote(jsonl)
    assert urls["records.parquet"] == "https://news.example.kr/article/1?reporter=<EMAIL_ADDRESS>"
    assert urls["crawl.warc.gz"] == "https://bakery.example.org/news?contact=<EMAIL_ADDRESS>&phone=<PHONE_NUMBER>"


def test_pii_on_copyright_notices_keep_their_holder(pii_on_run):
    out, _ = pii_on_run
    notices = sorted(n for d in _documents(out) for n in d["copyright"])
    assert len(notices) == 2, notices
    # The extractor may end the English notice inside the e-mail address (at its first dot): the
    # notice still shows the whole replacement, never the cut-off local part.
    assert notices[0].startswith("Copyright (c) 2023 Jane Roe, <EMAIL_ADDRESS>"), notices
    assert notices[1] == "© 2024 김민수 <EMAIL_ADDRESS>"
    assert not any("@" in n or "notice" in n or "minsu" in n for n in notices), notices


def test_pii_on_source_ids_and_doc_ids(pii_on_run, pii_off_run):
    """source_id is scrubbed like text; doc_id (hash of file and position) is the same either way,
    so audits join documents, decisions and an earlier run's rows on it."""
    on, _ = pii_on_run
    off, _ = pii_off_run
    ids_on = {d["doc_id"]: d["source_id"] for d in _documents(on)}
    ids_off = {d["doc_id"]: d["source_id"] for d in _documents(off)}
    assert set(ids_on) == set(ids_off)
    assert sorted(map(str, ids_on.values())) == sorted(["<EMAIL_ADDRESS>", "<KR_RRN>", ids_off[next(k for k, v in ids_off.items() if v.startswith("<urn:"))]])
    dropped = {d["reason"]: d["source_id"] for d in pq.read_table(on / "decisions").to_pylist() if d["action"] == "drop"}
    assert dropped == {"empty": "<EMAIL_ADDRESS>", "word_count": "<EMAIL_ADDRESS>"}


def test_pii_on_the_keep_decision_counts_what_each_field_lost(pii_on_run):
    out, _ = pii_on_run
    keep = {d["source_uri"].rsplit("/", 1)[-1]: json.loads(d["detail"]) for d in pq.read_table(out / "decisions").to_pylist()
            if d["action"] == "keep"}
    fields = keep["records.jsonl"]["pii"]["fields"]
    # notices are pieces of the text: their replacements are already in pii_counts
    assert fields == {
        "source_id": {"EMAIL_ADDRESS": 1},
        "url": {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 2, "KR_RRN": 1, "PHONE_NUMBER": 1, "USERNAME": 1},
    }


def _where(leak: str) -> str:
    """``documents/part-00000.parquet:url: '...'`` → ``documents.url``."""
    location = leak.split(": ", 1)[0]
    path, _, column = location.partition(":")
    return f"{path.split('/', 1)[0]}.{column}" if column else path


def test_pii_off_only_the_documented_channels_carry_personal_data(pii_off_run):
    """With `pii.enabled: false` nothing is scrubbed: the record's own fields are written as given.
    What must still hold is that nothing else carries them (no headers, meta tags, JSONL meta,
    manifest, logs): those are never written, whatever the PII setting."""
    out, result = pii_off_run
    leaks = scan_outputs(out, ALL, result.stdout, result.stderr)
    where = {}
    for leak in leaks:
        where.setdefault(_where(leak), set()).add(leak.split(": ", 1)[1])
    assert sorted(where) == ["decisions.source_id", "documents.copyright", "documents.source_id", "documents.text", "documents.url"]
    # every value of the record's own fields is there: the run above really planted them
    found = {v for vs in where.values() for v in vs}
    expected = TEXT + NOTICE + SOURCE_ID + URL + WARC_URL + DROPPED_IDS[:2]
    assert {repr(v) for v in expected if v != "url.encoded@example.com"} <= found
    # never written, PII on or off
    for value in HTML_META + HTTP_HEADERS + RECORD_META:
        assert repr(value) not in found


@pytest.fixture(scope="module")
def held_batches(planted_inputs, tmp_path_factory):
    """Everything the dedup stage writes to its held batches under OUT/_staging (deleted after
    the run) during an in-process run with PII on: what crossed the PII stage, internal fields
    included."""
    import pipeline.stages.dedup.transform as dedup
    from pipeline.config import load_config
    from pipeline.run import run

    held: list[str] = []
    write = dedup.write_held

    def spy(path, batch):
        held.append(repr(batch))
        write(path, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "write_held", spy)
        run(load_config(), [str(p) for p in planted_inputs], str(tmp_path_factory.mktemp("held") / "out"), [])
    assert held, "the dedup stage held no batch: nothing was checked"
    return "\n".join(held)


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_batches_held_on_disk_by_dedup_carry_no_planted_value(held_batches, channel):
    leaks = scan_text("held batch", held_batches, CHANNELS[channel])
    assert leaks == [], leaks


# --- the pieces, without Beam -----------------------------------------------------------------
@pytest.fixture(scope="module")
def fields():
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine
    from pipeline.stages.pii import FieldScrubber

    return FieldScrubber(PiiEngine.from_config(load_config()))


@pytest.mark.parametrize("value, expected", [
    # percent-encoded values are decoded before analysis; a replaced piece is re-encoded around it
    ("https://a.example/u/kay%40example.com/posts?page=2", "https://a.example/u/<EMAIL_ADDRESS>/posts?page=2"),
    ("https://a.example/s?q=call+010-2222-3333&lang=ko", "https://a.example/s?q=call%20<PHONE_NUMBER>&lang=ko"),
    # user info names an account and may hold a password: removed; host and port stay
    ("https://kay:s3cret@a.example:8443/x", "https://a.example:8443/x"),
    ("mailto:kay@example.com", "mailto:<EMAIL_ADDRESS>"),
    ("https://a.example/p;id=1#tel=010-2222-3333", "https://a.example/p;id=1#tel=<PHONE_NUMBER>"),
    # not a URL: the whole value, nothing decoded
    ("user kay@example.com 50%", "user <EMAIL_ADDRESS> 50%"),
    ("https://a.example/2024/05/17/news?id=12345", "https://a.example/2024/05/17/news?id=12345"),
    # parameters named in rules/pii/url_parameters.yaml: the value is replaced whole, whatever it is
    ("https://a.example/p?User_Name=kay%20lee&page=2&tel=0", "https://a.example/p?User_Name=<USERNAME>&page=2&tel=<PHONE_NUMBER>"),
    ("https://a.example/#/profile?name=kay&tab=1", "https://a.example/#/profile?name=<PERSON>&tab=1"),
])
def test_identifier_and_url_scrubbing(fields, value, expected):
    assert fields.scrub_values([value])[0][0] == expected


def test_pseudonyms_are_the_same_token_in_text_url_and_id(make_config, monkeypatch):
    """With `pii.operator: pseudonym` a value gets one token wherever it is, so joins on it survive."""
    from pipeline.records import new_record
    from pipeline.stages.pii import PiiScrubber

    monkeypatch.setenv("CHANNELS_TEST_KEY", "a test secret")
    core = PiiScrubber(make_config({"pii": {"operator": "pseudonym", "secret_env": "CHANNELS_TEST_KEY"}}))
    core.setup()
    record = new_record(source_uri="x.jsonl", record_index=0, text=f"{EN_BODY} Mail kay@example.com.\n(c) 2020 Kay Lee, kay@example.com\n",
                        source_id="kay@example.com", url="https://a.example/u?m=kay%40example.com&email=kay%40example.com")
    record["copyright"] = ["(c) 2020 Kay Lee, kay"]  # cut inside the address, as the extractor may
    core.process_batch([record])
    token = record["source_id"]
    assert token.startswith("<EMAIL_ADDRESS:") and token.endswith(">")
    assert f"Mail {token}." in record["text"]
    # the token's hex digits must not be aligned with letters of the address: the whole token
    assert record["copyright"] == [f"(c) 2020 Kay Lee, {token}"]
    # found by the recognizer (m=) or replaced as a named parameter (email=): the same token
    assert record["url"] == f"https://a.example/u?m={token}&email={token}"


def test_a_notice_cut_inside_a_value_shows_the_whole_replacement(make_config):
    from pipeline.records import new_record
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(make_config())
    core.setup()
    text = f"{EN_BODY}\nCopyright 2020 Kay   Lee, kay.lee@example.com and friends\nEnd."
    record = new_record(source_uri="x.jsonl", record_index=0, text=text)
    # as the extractor may store them: cut inside the address, whitespace collapsed; and one
    # notice that is not in the text at all
    record["copyright"] = ["Copyright 2020 Kay Lee, kay", "Copyright 2020 Kay Lee", "© Lee 010-2222-3333"]
    core.process_batch([record])
    assert record["copyright"] == ["Copyright 2020 Kay Lee, <EMAIL_ADDRESS>", "Copyright 2020 Kay Lee", "© Lee <PHONE_NUMBER>"]


def test_a_notice_in_a_huge_one_line_text_is_aligned_over_a_bounded_window():
    """Notices are aligned with their scrubbed form (difflib, quadratic) over a window around
    them, never over the whole line: a one-line text of any size costs the same per notice."""
    from pipeline.stages.pii import NOTICE_MARGIN, notice_window

    filler = " ".join(f"write to user{i}@example.com about item {i}." for i in range(20000))
    notice = "Copyright 2021 Kay Lee, kay"
    text = f"{filler} {notice}.lee@example.com {filler}"
    ws, we, s, e = notice_window(text, notice)
    assert text[s:e] == notice
    assert "kay.lee@example.com" in text[ws:we]
    assert we - ws <= len(notice) + 3 * NOTICE_MARGIN
    assert text[ws - 1].isspace() and text[we].isspace()  # whole words only


def test_stage_notes_and_fields_read_before_pii(make_config):
    """A stage note quoting a value is scrubbed; the raw headers, meta tags and JSONL meta are
    emptied once the license stage has read them."""
    from pipeline.records import K_HTML_META, K_HTTP_HEADERS, K_META, K_NOTES, new_record
    from pipeline.stages.pii import PiiScrubber

    core = PiiScrubber(make_config())
    core.setup()
    record = new_record(source_uri="x.jsonl", record_index=0, text=EN_BODY, meta={"email": "kay@example.com"},
                        http_headers={"set-cookie": "u=kay@example.com"}, html_meta={"author": "010-2222-3333"})
    record[K_NOTES]["some_stage"] = {"quote": "write to kay@example.com", "n": 3}
    verdict = core.process_batch([record])[0]
    assert record[K_NOTES]["some_stage"] == {"quote": "write to <EMAIL_ADDRESS>", "n": 3}
    assert (record[K_META], record[K_HTTP_HEADERS], record[K_HTML_META]) == (None, {}, {})
    assert verdict.detail is None


def test_decision_rows_made_before_the_pii_stage(fields):
    from pipeline.records import DROP, decision_row, new_record
    from pipeline.stages.pii import scrub_decision_row

    record = new_record(source_uri="x.jsonl", record_index=3, text="x", source_id="kay@example.com")
    row = decision_row(record, action=DROP, stage="quality", reason="r", run_id="run",
                       detail={"value": 0.5, "sample": ["ok", "call 010-2222-3333"]})
    clean = scrub_decision_row(fields, row)
    assert clean["source_id"] == "<EMAIL_ADDRESS>"
    assert json.loads(clean["detail"]) == {"value": 0.5, "sample": ["ok", "call <PHONE_NUMBER>"]}
    assert {k: v for k, v in clean.items() if k not in ("source_id", "detail")} == {
        k: v for k, v in row.items() if k not in ("source_id", "detail")}


def test_a_broken_url_parameters_rule_file_is_a_usage_error(tmp_path):
    import shutil

    from pipeline.resources import rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    (rules / "pii" / "url_parameters.yaml").write_text("parameters: [user]\n", encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"rules_dir": str(rules)}), encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": EN_BODY}) + "\n", encoding="utf-8")
    result = run_cli("run", "--input", data, "--output", tmp_path / "out", "--config", cfg)
    assert result.code == 2, result.stderr[-500:]
    assert "url_parameters.yaml" in result.stderr and "Traceback" not in result.stderr
