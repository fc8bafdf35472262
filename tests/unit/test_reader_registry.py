"""Formats come from the reader registry: the extensions docs/ingest.md lists select their reader,
compression suffixes are stripped first, anything else is unsupported."""
from __future__ import annotations

import pytest

from pipeline.io.discovery import detect_format
from pipeline.io.readers import FORMAT_EXTS, READERS, Reader


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.jsonl", ("jsonl", None)),
        ("dir.v2/A.JSON", ("jsonl", None)),
        ("a.ndjson.zst", ("jsonl", "zstd")),
        ("notes.txt.gzip", ("txt", "gzip")),
        ("gs://bucket/t.parquet", ("parquet", None)),
        ("crawl.warc.gz", ("warc", "gzip")),
        ("crawl.warc.zstd", ("warc", "zstd")),
        ("table.csv", None),
        ("archive.gz", None),
        ("jsonl", None),
    ],
)
def test_detect_format(name, expected):
    assert detect_format(name) == expected


def test_every_format_has_one_reader_and_its_extensions():
    assert sorted(READERS) == ["jsonl", "parquet", "txt", "warc"]
    assert FORMAT_EXTS == {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".txt": "txt", ".parquet": "parquet", ".warc": "warc"}
    for name, reader in READERS.items():
        assert isinstance(reader, Reader) and reader.name == name
