"""Parquet page headers read without decoding (pipeline/io/parquet_pages.py). The oracle is each
writer's own footer: a column chunk's stored size is the sum of its page headers and compressed
pages, its uncompressed size the sum of its headers and uncompressed pages — totals written by
Arrow's C++ writer and by DuckDB's, neither of which shares code with the header parser."""
from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.parquet_pages import PageHeaderError, chunk_pages, chunk_span, page_header

ROWS = 6000


def _table() -> pa.Table:
    return pa.table({
        "text": [("word " * (i % 700)) + str(i) for i in range(ROWS)],
        "id": [f"d-{i}" if i % 7 else None for i in range(ROWS)],
        "meta": [{"n": i, "tags": ["a", "b"][: i % 3]} for i in range(ROWS)],
    })


def _check_totals(path) -> int:
    md = pq.ParquetFile(path).metadata
    pages = 0
    with open(path, "rb") as fh:
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                meta = md.row_group(g).column(c)
                start, length = chunk_span(meta)
                found = chunk_pages(fh, start, length)
                assert sum(h + comp for _k, _u, comp, h in found) == meta.total_compressed_size
                assert sum(h + u for _k, u, _c, h in found) == meta.total_uncompressed_size, (g, c)
                pages += len(found)
    return pages


@pytest.mark.parametrize("options", [
    {},
    {"compression": "zstd", "row_group_size": 1000},
    {"use_dictionary": False, "data_page_version": "2.0", "compression": "snappy"},
    {"write_statistics": False, "data_page_size": 4096},
    {"compression": "gzip", "write_page_index": True, "data_page_size": 1 << 16},
])
def test_page_headers_add_up_to_arrows_column_chunk_totals(tmp_path, options):
    path = tmp_path / "t.parquet"
    pq.write_table(_table(), path, **options)
    assert _check_totals(path) >= 3


def test_page_headers_add_up_to_duckdbs_column_chunk_totals(tmp_path):
    path = tmp_path / "d.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT repeat('y', i % 3000) || i AS text, i AS n, {{'k': i}} AS meta FROM range(20000) t(i)) "
                f"TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 7000)")
    assert _check_totals(path) >= 9


def test_a_page_declaring_more_than_its_file_holds_is_read_from_its_header(tmp_path):
    # 64 MiB of one letter compresses to a few KB: the header still declares the whole page
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"text": ["short", "a" * (64 << 20), "short"]}), path, compression="zstd")
    assert path.stat().st_size < 100_000
    md = pq.ParquetFile(path).metadata
    with open(path, "rb") as fh:
        found = chunk_pages(fh, *chunk_span(md.row_group(0).column(0)))
    assert max(u for _k, u, _c, _h in found) > 64 << 20


def test_a_damaged_header_is_a_page_header_error(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(_table(), path, row_group_size=2000)
    md = pq.ParquetFile(path).metadata
    start, length = chunk_span(md.row_group(1).column(0))
    data = bytearray(path.read_bytes())
    data[start : start + 12] = b"\xff" * 12  # a varint that never ends
    path.write_bytes(bytes(data))
    with open(path, "rb") as fh, pytest.raises(PageHeaderError, match=f"byte {start}"):
        chunk_pages(fh, start, length)
    with open(path, "rb") as fh, pytest.raises(PageHeaderError, match="runs past|ends inside"):
        chunk_pages(fh, *chunk_span(md.row_group(0).column(0))[:1], 10)  # a chunk cut short


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_to_a_header_more_bytes_or_a_value_error(data):
    try:
        found = page_header(data)
    except ValueError:
        return
    if found is not None:
        assert 0 < found[3] <= len(data)
