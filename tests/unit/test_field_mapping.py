"""ingest.text_field / id_field / url_field: which JSONL keys or Parquet columns hold a record's
text, id and url — flat names, dotted paths into nested objects or struct columns, the list form
for a key holding a dot, and what a record without the configured text gets."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, Config, IngestConfig, RunConfig, load_config
from pipeline.io.discovery import expand_inputs
from pipeline.io.sources import read_split
from pipeline.io.splits import plan_splits

PRIVATE = "Call Mina at 010-5555-0199 about the lease"  # record content: never in a quarantine detail


def read(path, **fields) -> dict:
    """Read one file without Beam with ``ingest.<name>_field`` set from ``fields``."""
    paths = IngestConfig(**{f"{k}_field": v for k, v in fields.items()}).paths()
    out = {"records": [], "quarantine": [], "decisions": []}
    for f in expand_inputs([str(path)]):
        for item in plan_splits(f, RunConfig()):
            for tag, value in read_split(item, RunConfig(), "r1", paths):
                if tag == "records":
                    out["records"].extend(value)
                elif tag in out:
                    out[tag].append(value)
    return out


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- config ------------------------------------------------------------------------------------
def test_defaults_are_the_names_read_before_the_keys_existed():
    assert IngestConfig().paths() == {"text": ("text",), "id": ("id",), "url": ("url",)}
    # the default mapping is not in the resolved config, so a run's config hash is what it was
    assert "ingest" not in Config().to_dict()
    custom = load_config(overrides={"ingest": {"text_field": "content"}})
    assert custom.to_dict()["ingest"]["text_field"] == "content"
    assert custom.sha256() != Config().sha256()


def test_dotted_and_list_forms(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("ingest:\n  text_field: body\n  id_field: [meta.v2, key]\n  url_field: meta.source.url\n", encoding="utf-8")
    assert load_config(cfg_file).ingest.paths() == {"text": ("body",), "id": ("meta.v2", "key"), "url": ("meta", "source", "url")}


@pytest.mark.parametrize("value", ["", "meta..url", ".url", "url.", [], ["meta", ""], 7, None, ["meta", 3], {"a": "b"}, True])
def test_a_bad_field_path_is_a_config_error_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"^config key 'ingest\.url_field' "):
        load_config(overrides={"ingest": {"url_field": value}})


def test_an_unknown_ingest_key_is_refused():
    with pytest.raises(ConfigError, match="unknown config key 'ingest.txt_field'"):
        load_config(overrides={"ingest": {"txt_field": "content"}})


# --- JSONL -------------------------------------------------------------------------------------
def test_jsonl_flat_fields(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"content": "첫 번째 문서입니다.", "doc": "k1", "link": "https://ex.kr/1", "text": "ignored"}])
    (record,) = read(path, text="content", id="doc", url="link")["records"]
    assert (record["text"], record["source_id"], record["url"]) == ("첫 번째 문서입니다.", "k1", "https://ex.kr/1")


def test_jsonl_nested_paths_and_non_string_id(tmp_path):
    rows = [
        {"body": {"main": "日本語の本文です。"}, "meta": {"url": "https://ex.jp/a", "ids": {"n": 31}}},
        {"body": {"main": "第二の文書。"}, "meta": "not an object"},  # url/id path through a string: absent
    ]
    got = read(write_jsonl(tmp_path / "n.jsonl", rows), text="body.main", id="meta.ids.n", url="meta.url")
    assert [(r["text"], r["source_id"], r["url"]) for r in got["records"]] == [
        ("日本語の本文です。", "31", "https://ex.jp/a"),
        ("第二の文書。", None, None),
    ]
    assert got["records"][0]["_meta"] == {"url": "https://ex.jp/a", "ids": {"n": 31}}  # meta still travels whole


def test_jsonl_list_form_reads_a_key_holding_a_dot(tmp_path):
    rows = [{"meta.url": "https://literal.example/", "meta": {"url": "https://nested.example/"}, "text": "中文文档内容。"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert read(path, url=["meta.url"])["records"][0]["url"] == "https://literal.example/"
    assert read(path, url="meta.url")["records"][0]["url"] == "https://nested.example/"


def test_jsonl_missing_or_wrong_type_text_is_quarantined_naming_the_field(tmp_path):
    rows = [
        {"text": PRIVATE},  # the default field is not read once another is configured
        {"body": {"other": PRIVATE}},
        {"body": {"main": 42}},
        {"body": PRIVATE},  # the path runs through a string
        {"body": {"main": "   "}},  # blank: dropped as empty, like a blank `text`
        {"body": {"main": "Kept."}},
    ]
    got = read(write_jsonl(tmp_path / "m.jsonl", rows), text="body.main")
    assert [r["text"] for r in got["records"]] == ["Kept."]
    assert [(q["record_index"], q["reason"], q["error"]) for q in got["quarantine"]] == [
        (0, "missing_text", "no 'body.main' field"),
        (1, "missing_text", "no 'body.main' field"),
        (2, "text_not_string", "'body.main' is a JSON int"),
        (3, "missing_text", "no 'body.main' field"),
    ]
    assert [d["reason"] for d in got["decisions"] if d["action"] == "drop"] == ["empty"]
    assert not any(PRIVATE in json.dumps(d, default=str) for d in got["decisions"])


def test_jsonl_list_form_label_in_detail(tmp_path):
    got = read(write_jsonl(tmp_path / "l.jsonl", [{"text": "x"}]), text=["doc.v1", "body"])
    assert got["quarantine"][0]["error"] == 'no \'["doc.v1","body"]\' field'


def test_jsonl_default_mapping_still_rejects_content(tmp_path):
    got = read(write_jsonl(tmp_path / "c.jsonl", [{"content": "Some prose."}]))
    assert [(q["reason"], q["error"]) for q in got["quarantine"]] == [("missing_text", "no 'text' field")]


# --- Parquet -----------------------------------------------------------------------------------
def write_parquet(path, table: pa.Table):
    pq.write_table(table, path)
    return path


def test_parquet_flat_columns(tmp_path):
    table = pa.table({"content": ["Erste Zeile.", "두 번째 행."], "doc": [7, 8], "link": ["https://ex.de/1", None]})
    got = read(write_parquet(tmp_path / "f.parquet", table), text="content", id="doc", url="link")
    assert [(r["record_index"], r["text"], r["source_id"], r["url"]) for r in got["records"]] == [
        (0, "Erste Zeile.", "7", "https://ex.de/1"),
        (1, "두 번째 행.", "8", None),
    ]


def test_parquet_struct_field_paths(tmp_path):
    meta = pa.array(
        [{"url": "https://ex.org/a", "lang": "ko"}, None, {"url": None, "lang": "ja"}],
        type=pa.struct([("url", pa.string()), ("lang", pa.string())]),
    )
    doc = pa.array([{"body": "본문 하나."}, {"body": "本文二。"}, {"body": None}], type=pa.struct([("body", pa.string())]))
    got = read(write_parquet(tmp_path / "s.parquet", pa.table({"doc": doc, "meta": meta})), text="doc.body", url="meta.url")
    assert [(r["text"], r["url"]) for r in got["records"]] == [("본문 하나.", "https://ex.org/a"), ("本文二。", None)]
    assert [(q["record_index"], q["reason"], q["error"]) for q in got["quarantine"]] == [(2, "missing_text", "'doc.body' is null")]


def test_parquet_list_form_reads_a_column_named_with_a_dot(tmp_path):
    table = pa.table({"text": ["Row one."], "meta.url": ["https://literal.example/"]})
    got = read(write_parquet(tmp_path / "d.parquet", table), url=["meta.url"])
    assert got["records"][0]["url"] == "https://literal.example/"


def test_parquet_missing_text_column_or_field(tmp_path):
    column_name = "mina.kim@example.org"  # the file's column names are its data: never quoted
    path = write_parquet(tmp_path / "m.parquet", pa.table({"text": [PRIVATE], "meta": pa.array([{"a": 1}]), column_name: [1]}))
    for text, label in (("content", "content"), ("meta.body", "meta.body"), ("text.body", "text.body")):
        got = read(path, text=text)
        assert got["records"] == []
        ((q),) = got["quarantine"]
        assert (q["reason"], q["error"]) == ("missing_text", f"parquet file has no '{label}' column (3 other columns); its 1 rows were not read")


def test_parquet_wrong_type_text(tmp_path):
    got = read(write_parquet(tmp_path / "w.parquet", pa.table({"n": [1, 2]})), text="n")
    assert [(q["reason"], q["error"]) for q in got["quarantine"]] == [("text_not_string", "'n' column is int64")] * 2


def test_parquet_absent_id_and_url_columns_read_as_null(tmp_path):
    got = read(write_parquet(tmp_path / "a.parquet", pa.table({"body": ["Text only."]})), text="body", id="meta.id", url="link")
    assert [(r["text"], r["source_id"], r["url"]) for r in got["records"]] == [("Text only.", None, None)]
