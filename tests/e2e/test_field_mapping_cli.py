"""`curate run --config` with ingest.text_field / url_field: a corpus whose text is under `content`
and whose url is nested in `meta` is kept, url filled, from JSONL and Parquet alike."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import ALL_STAGES_OFF
from tests.security.conftest import run_cli

DOCS = [
    ("Harbour ferries resume their winter timetable on Monday morning.", "https://news.example/ferries"),
    ("서울의 도서관들이 주말 개관 시간을 연장한다고 발표했다.", "https://news.example/ko/library"),
    ("図書館は週末の開館時間を延長すると発表した。", "https://news.example/ja/library"),
]


def test_run_reads_content_and_nested_url_from_jsonl_and_parquet(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "web.jsonl").write_text(
        "".join(json.dumps({"content": t, "meta": {"url": u}}, ensure_ascii=False) + "\n" for t, u in DOCS), encoding="utf-8"
    )
    meta = pa.array([{"url": u} for _, u in DOCS], type=pa.struct([("url", pa.string())]))
    pq.write_table(pa.table({"content": [t for t, _ in DOCS], "meta": meta}), inputs / "web.parquet")
    config = tmp_path / "fields.yaml"
    config.write_text(
        json.dumps({**ALL_STAGES_OFF, "ingest": {"text_field": "content", "url_field": "meta.url"}}), encoding="utf-8"
    )
    out = tmp_path / "out"

    result = run_cli("run", "--input", inputs, "--output", out, "--config", config)

    assert result.code == 0, result.stderr[-2000:]
    documents = pq.ParquetDataset(sorted(str(p) for p in (out / "documents").glob("*.parquet"))).read().to_pylist()
    kept = sorted((Path(d["source_uri"]).suffix, d["text"], d["url"]) for d in documents)
    assert kept == sorted((ext, t, u) for ext in (".jsonl", ".parquet") for t, u in DOCS)
    quarantine = list((out / "quarantine").glob("*.parquet"))
    assert sum(pq.read_metadata(p).num_rows for p in quarantine) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "content" in json.dumps(manifest)  # the mapping used is recorded with the run's config


def test_a_bad_field_path_exits_2_naming_the_key(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    config = tmp_path / "bad.yaml"
    config.write_text("ingest:\n  url_field: meta..url\n", encoding="utf-8")

    result = run_cli("run", "--input", tmp_path / "a.jsonl", "--output", tmp_path / "out", "--config", config)

    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "curate: config key 'ingest.url_field' must name a field (no empty name or empty part between dots), got 'meta..url'"
    ]
    assert not (tmp_path / "out").exists()
