"""pipeline.io.streams.CountingReader: byte count and sha256 of what was read (hashed on a helper thread)."""
from __future__ import annotations

import hashlib
import io
import random

from pipeline.io.streams import CountingReader


def _data(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def test_hash_of_blocks_read_in_order_equals_the_whole_file():
    data = _data(3_000_017)
    counter = CountingReader(io.BytesIO(data))
    got = []
    for size in (1, 4096, 65_537, 1 << 20, 7, 1 << 20, 1 << 20):
        got.append(counter.read(size))
    counter.drain()  # the rest, as the readers do for the inputs row
    assert b"".join(got) == data[: sum(map(len, got))]
    assert counter.bytes == len(data)
    assert counter.sha256() == hashlib.sha256(data).hexdigest()
    assert counter.sha256() == hashlib.sha256(data).hexdigest()  # asking twice gives the same


def test_hash_of_a_partly_read_stream_covers_only_what_was_read():
    data = _data(100_000)
    counter = CountingReader(io.BytesIO(data))
    head = counter.read(40_000)
    assert counter.sha256() == hashlib.sha256(head).hexdigest()


def test_limit_and_no_hashing():
    data = _data(50_000)
    counter = CountingReader(io.BytesIO(data), hashing=False, limit=30_000)
    assert counter.read(-1) == data[:30_000] and counter.read(10) == b""
    assert counter.bytes == 30_000 and counter.sha256() is None


def test_empty_stream():
    counter = CountingReader(io.BytesIO(b""))
    assert counter.read(100) == b"" and counter.sha256() == hashlib.sha256(b"").hexdigest()
