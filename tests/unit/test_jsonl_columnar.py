"""JSONL read straight into Arrow columns (stages off) against the record path, on an adversarial
file: every quarantine class, blank and empty texts, unicode, escapes, nested metadata, fields of
other types, duplicate keys, NaN/Infinity literals, deep nesting, over-long lines and a BOM.

The record path (orjson, line by line) is the reference: the columnar path must give the same
records, side rows and, run end to end, the same shard bytes. Each line's expected outcome is
written next to it (the oracle), so the reference itself is checked too."""
from __future__ import annotations

import glob
import io
import json
import os
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.io.readers import jsonl
from pipeline.io.sources import read_split
from pipeline.io.splits import COLUMNAR, DECISIONS, INPUTS, QUARANTINE, RECORDS, Split, whole_file_item
from pipeline.records import output_batches, output_batches_of_ingest

DEEP = b"[" * 1024 + b"]" * 1024  # with the object: 1025 levels, one more than orjson reads
NESTED_OK = b"[" * 1023 + b"]" * 1023  # 1024 levels: the most orjson reads
LONG_TEXT = "long line " * 500  # over the max_record_bytes set below

# (line, outcome): "kept", "empty" (ingest drop) or the quarantine reason
CASES: list[tuple[bytes, str]] = [
    (b'{"text": "plain first line", "id": "a1", "url": "https://example.org/a"}', "kept"),
    (b'{"text": "caf\\u00e9 \\ud83d\\ude00 \\/ slash \\u0000 nul", "id": "esc"}', "kept"),
    ('{"text": "日本語のテキスト、全角\u3000空白", "meta": {"k": [1, {"z": null}], "s": "ü"}}'.encode(), "kept"),
    ('{"text": "\u3000先頭が全角空白", "id": "lead-ideographic-space"}'.encode(), "kept"),
    (b'{"text": "  leading spaces, then words"}', "kept"),
    (b' \t{"text": "object after white space", "meta": {"a": [{"b": 1}]}}', "kept"),
    (b'{"text": "Information, NaNa, Infinite and Inf-ish words: not literals", "meta": "NaN}"}', "kept"),
    (b'{"text": "NaN inside a string, and [NaN] and :Infinity too", "meta": "x, NaN"}', "kept"),
    (b'{"text": "with license", "license": "MIT", "source": "web", "id": null, "url": null}', "kept"),
    (b'{"text": "nested ok", "meta": ' + NESTED_OK + b"}", "kept"),
    (b'{"text": "crlf line"}\r', "kept"),
    (b'{"text": "ignored key twice", "meta": 1, "meta": 2}', "kept"),
    (b'{"text": "int id", "id": 17}', "kept"),
    (b'{"text": "float id", "id": 1e5}', "kept"),
    (b'{"text": "object id", "id": {"x": [1, 2]}, "url": true}', "kept"),
    (b'{"text": "text twice", "text": "the second wins"}', "kept"),
    (b'{"text": "id via escaped key", "id": "x", "\\u0069d": "y"}', "kept"),
    (b'{"text": "big number", "meta": 123456789012345678901234567890}', "kept"),
    (b"null", "not_an_object"),
    (b"[1, 2]", "not_an_object"),
    (b"5", "not_an_object"),
    (b'"just a string"', "not_an_object"),
    (b'{"id": "no text"}', "missing_text"),
    (b'{"text": null}', "missing_text"),
    (b'{"text": 5}', "text_not_string"),
    (b'{"text": ["a"]}', "text_not_string"),
    (b'{"text": ""}', "empty"),
    (b'{"text": "   \\n\\t "}', "empty"),
    ('{"text": "\u3000\u2003\u00a0\x1c"}'.encode("utf-8").replace(b"\x1c", b"\\u001c"), "empty"),
    (b'{"text": "bad \xff utf8"}', "invalid_utf8"),
    (b'{"text": "bad key utf8", "\xc3\x28": 1}', "invalid_utf8"),
    (b'{"text": "bad ignored utf8", "meta": "\xed\xa0\x80"}', "invalid_utf8"),
    (b'{"text": "nan literal", "meta": NaN}', "parse_error"),
    (b'{"text": "inf literal", "meta": [1, -Infinity]}', "parse_error"),
    (b'{"text": "inf literal last", "meta": Inf}', "parse_error"),
    (b'{"text": "nan literal, tab", "meta": [NaN\t]}', "parse_error"),
    (b'{"text": "deep", "meta": ' + DEEP + b"}", "parse_error"),
    (b'{"text": "two"} {"text": "objects"}', "parse_error"),
    (b'{"text": "then null"} null', "parse_error"),
    (b'{"text": "trailing comma",}', "parse_error"),
    (b'{"text": "lone \\ud800 surrogate"}', "parse_error"),
    (b'{"text": "raw \x01 control"}', "parse_error"),
    (b"\xef\xbb\xbf" + b'{"text": "BOM inside the file"}', "parse_error"),
    (json.dumps({"text": LONG_TEXT}).encode(), "record_too_large"),
    (b"", "blank"),
    (b"   ", "blank"),
    (b'{"text": "after the blank lines", "id": "z9"}', "kept"),
]
MAX_RECORD_BYTES = 4096


def _file(tmp_path: Path, order: list[int], bom: bool = True, last_newline: bool = False) -> Path:
    lines = [CASES[i][0] for i in order]
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + (b"\n" if last_newline else b"")
    path = tmp_path / "adversarial.jsonl"
    path.write_bytes(data)
    return path


def _orders() -> list[list[int]]:
    n = len(CASES)
    kept = [i for i, (_, outcome) in enumerate(CASES) if outcome == "kept"]
    return [
        list(range(n)),
        list(reversed(range(n))),  # `null` in the middle, the BOM line first after the file's BOM
        [j for i in range(n) for j in (kept[i % len(kept)], i)],  # good lines around each bad one
    ]


def _read(path: Path, columnar: bool) -> dict:
    """Every outcome of reading ``path`` whole: documents and keep decisions as row lists (through
    the output step's builders), quarantine and decisions side rows, the inputs row."""
    item = whole_file_item({"uri": str(path), "format": "jsonl", "compression": None, "size": path.stat().st_size})
    if columnar:
        item[COLUMNAR] = True
    got: dict = {"documents": [], "keep": [], QUARANTINE: [], DECISIONS: [], INPUTS: [], "columnar_batches": 0, "sizes": []}
    for tag, value in read_split(item, RunConfig(max_record_bytes=MAX_RECORD_BYTES, batch_size=7), "run-1"):
        if tag == RECORDS:
            got["sizes"].append(len(value))  # the same batches: shard writers cut row groups by them
            if isinstance(value, list):
                docs, keep = output_batches(value, "run-1")
            else:
                got["columnar_batches"] += 1
                docs, keep = output_batches_of_ingest(value, "run-1")
            got["documents"] += docs.to_pylist()
            got["keep"] += keep.to_pylist()
        else:
            got[tag].append(value)
    return got


@pytest.mark.parametrize("block", [64, 700, 5000, 1 << 20])
@pytest.mark.parametrize("order", range(3))
def test_columnar_read_gives_what_the_record_path_gives(tmp_path, monkeypatch, block, order):
    monkeypatch.setattr(jsonl, "READ_BLOCK", block)  # blocks of one line up to the whole file
    cases = _orders()[order]
    path = _file(tmp_path, cases, last_newline=order == 1)
    columnar, reference = _read(path, True), _read(path, False)
    batches = columnar.pop("columnar_batches")
    assert batches > 0 or block > 64  # blocks of about one line: the good ones take the columnar path
    assert reference.pop("columnar_batches") == 0
    assert columnar == reference
    # the oracle: each line's outcome, by line number
    want = {i: CASES[c][1] for i, c in enumerate(cases) if CASES[c][1] != "blank"}
    got = {d["record_index"]: "kept" for d in reference["documents"]}
    got.update({q["record_index"]: q["reason"] for q in reference[QUARANTINE]})
    got.update({d["record_index"]: d["reason"] for d in reference[DECISIONS] if d["action"] == "drop"})
    assert got == want
    assert reference[INPUTS][0]["records"] == len(want)


def test_every_line_the_record_path_does_not_keep_alike_is_refused_on_its_own():
    """Line by line: the columnar reader reads only lines the record path keeps with the same
    fields (a NaN literal, a duplicate text key or an int id pyarrow would read differently)."""
    item = {**whole_file_item({"uri": "mem://x.jsonl", "format": "jsonl", "compression": None, "size": 0}), COLUMNAR: True}
    columns = jsonl.columnar_reader(Split(item, RunConfig(), "run-1"))
    plain = {b'{"text": "text twice", "text": "the second wins"}', b'{"text": "id via escaped key", "id": "x", "\\u0069d": "y"}',
             b'{"text": "int id", "id": 17}', b'{"text": "float id", "id": 1e5}', b'{"text": "object id", "id": {"x": [1, 2]}, "url": true}',
             b' \t{"text": "object after white space", "meta": {"a": [{"b": 1}]}}'}  # a block's first byte must be its '{'
    for line, outcome in CASES:
        if outcome in ("blank", "record_too_large"):  # the line splitter's: never in a whole block
            continue
        batch = columns(0, line + b"\n")
        if outcome == "kept" and line not in plain:
            assert batch is not None and batch.num_rows == 1, line[:60]
        else:
            assert batch is None, line[:60]


def test_whole_blocks_hold_the_lines_the_split_blocks_hold(monkeypatch):
    data = b'{"a": 1}\n\n  \n' + b"x" * 50 + b'\n{"b": 2}\nlast'
    for block in (3, 16, 1 << 20):
        monkeypatch.setattr(jsonl, "READ_BLOCK", block)
        split_blocks = list(jsonl.LineSplitter(io.BytesIO(data).read, 0, 0, 20, 4).blocks())
        whole = jsonl.LineSplitter(io.BytesIO(data).read, 0, 0, 20, 4)
        whole_blocks = [(i, o, jsonl.split_lines(b) if type(b) is bytes else b) for i, o, b in whole.blocks(whole=True)]
        assert [(i, o, [x if type(x) is bytes else (x.head, x.size) for x in lines]) for i, o, lines in whole_blocks] == \
            [(i, o, [x if type(x) is bytes else (x.head, x.size) for x in lines]) for i, o, lines in split_blocks]
        assert whole.tail() == b"last"


def test_a_run_with_every_stage_off_writes_the_same_bytes_either_way(tmp_path, monkeypatch):
    """End to end (Beam, shard writers, manifest): the same files, byte for byte, with one run id."""
    from pipeline import cli
    from pipeline import run as run_module

    monkeypatch.setattr(jsonl, "READ_BLOCK", 700)
    monkeypatch.setattr(run_module, "new_run_id", lambda: "20260101T000000Z-00000000")
    order = _orders()[2]
    path = _file(tmp_path, order)
    config = tmp_path / "off.yaml"
    # small batches and shards: batch boundaries decide where shards and row groups are cut
    config.write_text(f"run: {{max_record_bytes: {MAX_RECORD_BYTES}, batch_size: 7, shard_max_rows: 20}}\n"
                      + "".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "quality", "pii", "dedup", "trajectories")))
    outputs = {}
    for name in ("columnar", "record"):
        if name == "record":
            monkeypatch.setattr(jsonl, "columnar_reader", lambda sp: None)
        out = tmp_path / name
        assert cli.main(["run", "--input", str(path), "--output", str(out), "--config", str(config), "--quiet"]) == 0
        files = {os.path.relpath(f, out): Path(f).read_bytes() for f in glob.glob(f"{out}/*/*.parquet")}
        manifest = json.loads((out / "manifest.json").read_text())
        for varying in ("created_at", "config"):  # timestamps; the config holds the (temporary) paths
            manifest.pop(varying)
        for timing in ("wall_seconds", "docs_per_second"):
            manifest["summary"].pop(timing)
        outputs[name] = files, manifest
    assert outputs["columnar"][0] == outputs["record"][0]
    assert outputs["columnar"][1] == outputs["record"][1]
    assert outputs["record"][1]["summary"]["records_in"] == sum(1 for c in order if CASES[c][1] != "blank")
    assert len(outputs["record"][0]) > 5  # several shards per table


def test_every_white_space_character_starts_with_a_byte_the_blank_check_decodes():
    """A text whose first byte is not in ``_SPACE_LEADS`` is taken as not blank without decoding:
    every character ``str.isspace`` accepts must start with one of those bytes."""
    missed = [c for c in range(0x110000)
              if not 0xD800 <= c <= 0xDFFF and chr(c).isspace() and not jsonl._SPACE_LEADS[chr(c).encode()[0]]]
    assert missed == []


@pytest.mark.parametrize("after", [b" ", b"\t", b"\n", b"\r", b"\f", b"\v", b",", b"]", b"}", b"x", b"", b"\xc2\xa0"])
@pytest.mark.parametrize("literal", [b"NaN", b"Inf", b"Infinity", b"-Infinity", b"- NaN", b"Na", b"nan", b"Infinit"])
@pytest.mark.parametrize("before", [b'{"a": ', b'{"a": [1,', b'{"a": "str ', b'{"a": "q\\" ', b'{"a": "e\\\\", "b": '])
def test_the_re2_pass_rules_out_only_blocks_without_a_literal(before, literal, after):
    """The one-pass RE2 check (``whole`` given) against the exact check alone (the reference):
    literals in and out of strings, each character that may or may not end one."""
    data = b'{"text": "a first line"}\n' + before + literal + after + b"\n"
    whole = jsonl._one_value(jsonl.pa.py_buffer(data))
    assert jsonl._non_json_literal(data, whole) == jsonl._non_json_literal(data)
    # the oracle for the cases it is plain about: a bare literal as a value, followed by what ends one
    bare = not before.endswith((b'"str ', b'" ')) and literal.lstrip(b"- ") in (b"NaN", b"Inf", b"Infinity")
    if bare and after in (b" ", b"\t", b"\n", b"\r", b"\f", b"\v", b",", b"]", b"}"):
        assert jsonl._non_json_literal(data, whole)
    if literal in (b"Na", b"nan", b"Infinit") or after in (b"x", b"\xc2\xa0"):
        assert not jsonl._non_json_literal(data, whole)
