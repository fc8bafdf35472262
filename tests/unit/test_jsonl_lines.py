"""The JSONL line splitter on its own: positions, over-long lines and the last line, with reads far
smaller than a line so every line crosses read boundaries."""
from __future__ import annotations

import io

import pytest

from pipeline.io.readers import jsonl
from pipeline.io.readers.jsonl import LineSplitter, TooLong


def split(data: bytes, max_bytes: int = 20, window: int = 4, offset: int = 0, index: int = 0):
    """Every line as (index, offset, bytes or ("too long", head, size)), and the tail."""
    splitter = LineSplitter(io.BytesIO(data).read, index, offset, max_bytes, window)
    got = []
    for first_index, first_offset, lines in splitter.blocks():
        i, o = first_index, first_offset
        for line in lines:
            if type(line) is TooLong:
                got.append((i, o, ("too long", line.head, line.size)))
                o += line.size + 1
            else:
                got.append((i, o, line))
                o += len(line) + 1
            i += 1
        assert (splitter.index, splitter.offset) == (first_index, first_offset)  # moves on after the block
    tail = splitter.tail()
    return got, (splitter.index, splitter.offset, ("too long", tail.head, tail.size) if type(tail) is TooLong else tail)


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_positions_blank_lines_and_bom(monkeypatch, block):
    monkeypatch.setattr(jsonl, "READ_BLOCK", block)
    got, tail = split(b"\xef\xbb\xbfab\n\n  \ncde\nfg")
    assert got == [(0, 3, b"ab"), (1, 6, b""), (2, 7, b"  "), (3, 10, b"cde")]
    assert tail == (4, 14, b"fg")


def test_bom_is_only_stripped_at_the_start_of_a_file(monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 5)
    got, tail = split(b"\xef\xbb\xbfab\n", offset=100, index=7)
    assert got == [(7, 100, b"\xef\xbb\xbfab")]
    assert tail == (8, 106, None)


@pytest.mark.parametrize("block", [3, 1 << 20])
def test_over_long_line_keeps_its_head_and_real_size(monkeypatch, block):
    monkeypatch.setattr(jsonl, "READ_BLOCK", block)
    long = b"0123456789" * 5  # 50 bytes, limit 20
    got, tail = split(b"ok\n" + long + b"\nnext\n")
    assert got == [(0, 0, b"ok"), (1, 3, ("too long", b"0123", 50)), (2, 54, b"next")]
    assert tail == (3, 59, None)


def test_over_long_whitespace_line_inside_one_read_is_blank(monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 1 << 20)
    got, _ = split(b"a\n" + b" " * 30 + b"\nb\n")
    assert got == [(0, 0, b"a"), (1, 2, b" " * 30), (2, 33, b"b")]


def test_over_long_last_line_without_newline(monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BLOCK", 8)
    got, tail = split(b"x\n" + b"y" * 25)
    assert got == [(0, 0, b"x")]
    assert tail == (1, 2, ("too long", b"yyyy", 25))


def test_excerpt_of_the_incomplete_line_when_reading_fails():
    chunks = [b'{"text": "cut', b""]

    def read(n):
        data = chunks.pop(0)
        if not data:
            raise EOFError("stream ended early")
        return data

    splitter = LineSplitter(read, 0, 0, 20, 6)
    with pytest.raises(EOFError):
        list(splitter.blocks())
    assert (splitter.index, splitter.offset, splitter.excerpt()) == (0, 0, b'{"text')


def test_file_holding_only_a_bom_gives_one_empty_line(tmp_path):
    # the splitter hands back an empty last line; ingest quarantines it as unparsable, as it always has
    got, tail = split(b"\xef\xbb\xbf")
    assert got == [] and tail == (0, 3, b"")

    from pipeline.config import RunConfig
    from pipeline.io.discovery import expand_inputs
    from pipeline.io.sources import read_split
    from pipeline.io.splits import whole_file_item

    path = tmp_path / "bom-only.jsonl"
    path.write_bytes(b"\xef\xbb\xbf")
    rows = [v for tag, v in read_split(whole_file_item(expand_inputs([str(path)])[0]), RunConfig(), "r") if tag == "quarantine"]
    assert [(q["record_index"], q["offset"], q["reason"]) for q in rows] == [(0, 3, "parse_error")]
