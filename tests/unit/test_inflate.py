"""The gzip reader's inflate (zlib-ng's drop-in module when installed) gives what CPython's zlib
gives, byte for byte, on good and bad streams alike: the same decompressed bytes before a failure,
the same error type name and message (quarantine rows quote it), the same place of failure."""
from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest

from pipeline.io.streams import GzipReader, error_text, inflate_module

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng", reason="zlib-ng is a dependency (pyproject.toml); absent → zlib is used")


def drain(data: bytes, module) -> tuple[bytes, str | None]:
    """Everything the reader yields, then the failure as a quarantine row would word it."""
    reader = GzipReader(io.BytesIO(data), module)
    out = bytearray()
    while True:
        try:
            block = reader.read(1 << 20)
        except Exception as exc:  # noqa: BLE001 - the failure is what is compared
            return bytes(out), error_text(exc)
        if not block:
            return bytes(out), None
        out += block


def jsonl(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"\\u00e9t\\u00e9", b"delta", b"42"]
    return b"".join(b'{"id": %d, "text": "%s"}\n' % (i, b" ".join(rng.choice(words) for _ in range(rng.randrange(3, 400))))
                    for i in range(n))


BODY = jsonl(2500, 1)
HALF = len(BODY) // 2
MULTI = gzip.compress(BODY[:HALF], compresslevel=1) + gzip.compress(BODY[HALF:], compresslevel=9)


def test_the_fast_module_is_the_one_used():
    assert inflate_module() is zlib_ng


@pytest.mark.parametrize("data, expected", [
    (gzip.compress(BODY), BODY),
    (MULTI, BODY),  # two members, different levels
    (MULTI + b"\0" * 4096, BODY),  # zero padding after the last member
    (gzip.compress(b""), b""),
])
def test_good_streams_decompress_to_the_original(data, expected):
    assert drain(data, zlib_ng) == (expected, None)
    assert drain(data, zlib) == (expected, None)


def bad_streams() -> list[bytes]:
    rng = random.Random(7)
    cases = [MULTI + b"not gzip", MULTI[:10], MULTI[:1], b"\x1f"]
    for _ in range(60):  # truncated anywhere, mid-member and mid-header
        cases.append(MULTI[: rng.randrange(len(MULTI))])
    for _ in range(120):  # one flipped bit: bad block type, distance, length, CRC, ISIZE or header
        flipped = bytearray(MULTI)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        cases.append(bytes(flipped))
    return cases


def test_bad_streams_fail_exactly_as_with_zlib():
    errors = set()
    for data in bad_streams():
        fast, reference = drain(data, zlib_ng), drain(data, zlib)
        assert fast == reference
        errors.add((reference[1] or "").split(":")[0])
    # the cases reach every way of failing: truncation, a bad header, a bad block, a bad checksum
    assert {"EOFError", "BadGzipFile", "error"} <= errors


def test_error_messages_are_kept_for_zlib_ng_errors():
    flipped = bytearray(gzip.compress(BODY))
    flipped[-6] ^= 0xFF  # the CRC-32 of the member
    _, message = drain(bytes(flipped), zlib_ng)
    assert message == "error: Error -3 while decompressing data: incorrect data check"
