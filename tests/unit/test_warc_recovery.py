"""WARC recovery: every record of an archive whose gzip members are individually sound is read,
however warcio judges the file as a whole; what cannot be read is one quarantine row with its
offset. Archives are built here with warcio's writer; expected pages come from what was written."""
from __future__ import annotations

import gzip
import io
import zlib

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import RunConfig
from pipeline.io.discovery import expand_inputs
from pipeline.io.sources import read_split
from pipeline.io.splits import plan_splits

TOPICS = ["lighthouse keepers", "orchard grafting", "tram timetables", "glacier walks", "kite festivals"]


def page(topic: str) -> bytes:
    para = f"This article is about {topic}. " + "Volunteers explain the history to visitors every weekend. " * 3
    return f"<html><head><title>{topic}</title></head><body><article><h1>{topic}</h1><p>{para}</p><p>{para}</p></article></body></html>".encode()


def record_bytes(topic: str, gz: bool) -> bytes:
    """One response record as written by warcio: a gzip member when ``gz``."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record(f"https://example.org/{topic.replace(' ', '-')}", "response",
                                        payload=io.BytesIO(page(topic)), http_headers=headers))
    return buf.getvalue()


def read(path, cfg: RunConfig | None = None) -> dict:
    cfg = cfg or RunConfig()
    out = {"records": [], "quarantine": [], "inputs": []}
    for f in expand_inputs([str(path)]):
        for item in plan_splits(f, cfg):
            for tag, value in read_split(item, cfg, "r1"):
                if tag == "records":
                    out["records"].extend(value)
                elif tag in out:
                    out[tag].append(value)
    return out


def topics_read(res) -> list[str]:
    return [t for r in res["records"] for t in TOPICS if t in r["text"]]


def warcio_count(data: bytes) -> tuple[int, str | None]:
    """How many records warcio's own iterator gives, and how it fails (the baseline)."""
    n = 0
    try:
        for _ in ArchiveIterator(io.BytesIO(data)):
            n += 1
    except ArchiveLoadFailed as exc:
        return n, type(exc).__name__
    return n, None


def test_one_corrupt_member_costs_only_its_record(tmp_path):
    members = [record_bytes(t, gz=True) for t in TOPICS]
    broken = bytearray(members[2])
    broken[len(broken) // 2 : len(broken) // 2 + 8] = b"\xff" * 8  # inside the deflate data
    members[2] = bytes(broken)
    path = tmp_path / "one-bad.warc.gz"
    path.write_bytes(b"".join(members))
    res = read(path)
    assert topics_read(res) == [t for i, t in enumerate(TOPICS) if i != 2]
    (q,) = res["quarantine"]
    assert q["reason"] == "unreadable_record" and q["record_index"] == 2
    assert q["offset"] == sum(len(m) for m in members[:2])
    assert res["inputs"][0]["records"] == len(TOPICS)  # four pages + one unreadable member


def test_member_warcio_refuses_as_a_whole_is_read_record_by_record(tmp_path):
    # the whole WARC in ONE gzip member: valid records, but warcio stops after the first
    plain = b"".join(record_bytes(t, gz=False) for t in TOPICS)
    data = gzip.compress(plain)
    n, failure = warcio_count(data)
    assert failure == "ArchiveLoadFailed" and n < len(TOPICS)
    path = tmp_path / "single-member.warc.gz"
    path.write_bytes(data)
    res = read(path)
    assert topics_read(res) == TOPICS and res["quarantine"] == []


def test_records_cut_across_members_are_read_whole(tmp_path):
    # members cut at arbitrary points, not at record boundaries
    plain = b"".join(record_bytes(t, gz=False) for t in TOPICS)
    cuts = [0, 150, 700, 1500, 2600, len(plain)]
    data = b"".join(gzip.compress(plain[a:b]) for a, b in zip(cuts, cuts[1:]))
    assert warcio_count(data)[1] == "ArchiveLoadFailed"
    path = tmp_path / "wrong-chunks.warc.gz"
    path.write_bytes(data)
    res = read(path)
    assert topics_read(res) == TOPICS and res["quarantine"] == []


def test_truncated_last_member_keeps_every_earlier_page(tmp_path):
    members = [record_bytes(t, gz=True) for t in TOPICS]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(b"".join(members)[: -len(members[-1]) // 2])
    res = read(path)
    assert topics_read(res) == TOPICS[:-1]
    (q,) = res["quarantine"]
    assert q["reason"] == "unreadable_file" and q["record_index"] == len(TOPICS) - 1
    assert q["offset"] == sum(len(m) for m in members[:-1])


def test_junk_between_members_is_one_row_and_reading_resumes(tmp_path):
    members = [record_bytes(t, gz=True) for t in TOPICS]
    path = tmp_path / "junk.warc.gz"
    junk = b"this is not gzip at all " * 10
    path.write_bytes(b"".join(members[:2]) + junk + b"".join(members[2:]))
    res = read(path)
    assert topics_read(res) == TOPICS
    (q,) = res["quarantine"]
    assert q["reason"] == "unreadable_record" and q["offset"] == len(members[0]) + len(members[1])


def test_plain_warc_with_a_garbled_record_resumes_at_the_next(tmp_path):
    recs = [record_bytes(t, gz=False) for t in TOPICS]
    garbled = recs[1].replace(b"WARC/1.", b"WxRC/9.", 1)  # warcio cannot parse this record
    path = tmp_path / "garbled.warc"
    path.write_bytes(recs[0] + garbled + b"".join(recs[2:]))
    res = read(path)
    assert topics_read(res) == [t for i, t in enumerate(TOPICS) if i != 1]
    (q,) = res["quarantine"]
    # a plain WARC's row points just after the last record read (its block's end)
    assert q["reason"] == "unreadable_record" and q["record_index"] == 1 and q["offset"] == len(recs[0]) - 4


@pytest.mark.parametrize("gz", [True, False])
def test_a_header_that_never_ends_is_record_too_large_and_not_held(tmp_path, gz):
    recs = [record_bytes(t, gz=False) for t in TOPICS[:3]]
    endless = b"WARC/1.0\r\nWARC-Type: response\r\nX-Filler: " + b"z" * (3 << 20) + b"\r\n"  # no blank line, ever
    parts = [recs[0], endless + b"\r\n\r\n" if not gz else endless, recs[1], recs[2]]
    path = tmp_path / ("endless.warc.gz" if gz else "endless.warc")
    path.write_bytes(b"".join(gzip.compress(p) for p in parts) if gz else b"".join(parts))
    res = read(path, RunConfig(max_record_bytes=1 << 20))
    assert topics_read(res) == TOPICS[:3]
    (q,) = res["quarantine"]
    assert q["reason"] == "record_too_large" and q["record_index"] == 1
    assert q["error"] == "HeaderTooLarge: WARC record header lines exceed 1048576 bytes"


PLANTED = "planted.person@example.net"


def test_malformed_warc_never_prints_record_bytes_to_stderr(tmp_path, capfd, monkeypatch):
    # a line after a record's block (as if its Content-Length were short): warcio writes the
    # line, record bytes, to stderr as the "Remainder"
    rec = record_bytes("glacier walks", gz=False)
    data = rec[:-4] + PLANTED.encode() + b"\r\n\r\n\r\n" + record_bytes("kite festivals", gz=False)
    import sys

    import warcio.archiveiterator

    monkeypatch.setattr(warcio.archiveiterator, "sys", sys)  # warcio as shipped (ingest may have run)
    for _ in ArchiveIterator(io.BytesIO(data)):  # the baseline: warcio itself does print it
        pass
    assert PLANTED in capfd.readouterr().err
    path = tmp_path / "short-length.warc"
    path.write_bytes(data)
    res = read(path)
    captured = capfd.readouterr()
    assert PLANTED not in captured.err and PLANTED not in captured.out
    assert topics_read(res) == ["glacier walks", "kite festivals"]
    assert all(PLANTED not in (q["error"] or "") for q in res["quarantine"])


@pytest.mark.parametrize("gz", [True, False])
def test_every_member_offset_matches_zlib(tmp_path, gz):
    """Offsets are where each record starts in the file (counted here with zlib / byte lengths)."""
    recs = [record_bytes(t, gz=gz) for t in TOPICS]
    path = tmp_path / ("ok.warc.gz" if gz else "ok.warc")
    path.write_bytes(b"".join(recs))
    starts, pos = [], 0
    data = path.read_bytes()
    while pos < len(data):
        starts.append(pos)
        if gz:
            d = zlib.decompressobj(wbits=31)
            d.decompress(data[pos:])
            pos = len(data) - len(d.unused_data)
        else:
            pos += len(recs[len(starts) - 1])
    from pipeline.io.readers import warc

    seen = []
    orig = warc.WarcFileReader.__init__

    def spy(self, sp):
        orig(self, sp)
        self.on_record = lambda index, offset, rec: seen.append(offset)

    warc.WarcFileReader.__init__ = spy
    try:
        read(path)
    finally:
        warc.WarcFileReader.__init__ = orig
    assert seen == starts


def test_plain_warc_named_gz_is_read_as_warcio_would(tmp_path):
    path = tmp_path / "misnamed.warc.gz"
    path.write_bytes(b"".join(record_bytes(t, gz=False) for t in TOPICS))
    res = read(path)
    assert topics_read(res) == TOPICS and res["quarantine"] == []


@pytest.mark.parametrize("gz", [True, False])
def test_a_content_length_that_overstates_its_block_costs_only_its_record(tmp_path, gz):
    recs = [record_bytes(t, gz=False) for t in TOPICS]
    head, sep, rest = recs[1].partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    recs[1] = head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length * 50)) + sep + rest
    path = tmp_path / ("overstated.warc.gz" if gz else "overstated.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in recs) if gz else b"".join(recs))
    res = read(path)
    assert topics_read(res) == [t for i, t in enumerate(TOPICS) if i != 1]
    (q,) = res["quarantine"]
    assert q["reason"] == "unreadable_record" and q["record_index"] == 1
