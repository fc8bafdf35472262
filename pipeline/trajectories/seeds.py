"""Seed problems from JSONL files (``trajectories.seeds``) and the line reader shared with replay.

Seed line: ``question`` (or ``prompt``), ``reference_answer`` (or ``answer``), optional ``id``,
``lang``, ``source_doc_ids``, ``license`` and, for the programmatic teacher, ``expression`` (the
arithmetic that answers the question, e.g. ``"1200 * 7 - 350"``) and ``unit``.

Bad lines never stop a run: they become ``bad_seed`` / ``bad_replay_line`` decisions rows (no text).
Files are read through Beam's FileSystems (local, gs://, s3://; .gz/.zst by extension), in chunks:
a line longer than ``trajectories.max_line_bytes`` is skipped as it streams past (never held whole)
and becomes a ``line_too_large`` decisions row.
"""
from __future__ import annotations

import contextlib
import json
from typing import Iterator

from pipeline.records import make_doc_id
from pipeline.trajectories.templates import make_prompt

BAD_SEED = "bad_seed"
LINE_TOO_LARGE = "line_too_large"
_CHUNK_BYTES = 1 << 20


class _WholeStream:
    """A decompressed stream whose truncated or corrupt compressed input is an ``OSError`` (Beam's own
    decompressors end quietly there, losing the tail; the decoders raise their own error types)."""

    def __init__(self, reader) -> None:
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        import zlib

        import zstandard

        try:
            return self._reader.read(size)
        except (EOFError, zlib.error, zstandard.ZstdError) as exc:
            raise OSError(f"compressed stream cannot be read to its end ({type(exc).__name__})") from None


@contextlib.contextmanager
def open_binary(path: str):
    """A decompressed byte stream of ``path`` (``.gz``, ``.zst``, ``.bz2`` by extension) through
    ingest's bounded decoders; a truncated or corrupt compressed file raises ``OSError``."""
    from pipeline.io.streams import GzipReader, ZstdReader, open_raw

    lower = path.lower()
    with open_raw(path) as raw:
        if lower.endswith(".gz"):
            yield _WholeStream(GzipReader(raw))
        elif lower.endswith(".zst"):
            yield _WholeStream(ZstdReader(raw))
        elif lower.endswith(".bz2"):
            import bz2

            with bz2.BZ2File(raw, mode="rb") as reader:
                yield _WholeStream(reader)
        else:
            yield raw


def bounded_lines(stream, max_bytes: int, chunk_bytes: int = _CHUNK_BYTES) -> Iterator[str | None]:
    """Every line of a byte stream, decoded (UTF-8, bad bytes replaced, ``\r\n`` ends accepted),
    or None for a line over ``max_bytes``: its bytes are dropped as they are read, so memory stays
    about ``max_bytes + chunk_bytes`` whatever the file holds."""
    buf = bytearray()
    over = False
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            break
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not over:
                if len(buf) + len(piece) > max_bytes:
                    over = True
                    buf.clear()
                else:
                    buf += piece
            if end < 0:
                break
            yield None if over else _decode(buf)
            buf.clear()
            over = False
            start = end + 1
    if over:
        yield None
    elif buf:
        yield _decode(buf)


def _decode(buf: bytearray) -> str:
    text = buf.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\r") else text


def _ids(value) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    return None


def parse_seed(line: str, path: str, index: int) -> tuple[dict | None, str | None]:
    """(prompt, None) or (None, error) for one line; blank lines give (None, None)."""
    if not line.strip():
        return None, None
    try:
        obj = json.loads(line)
    except ValueError:
        return None, "invalid JSON"
    if not isinstance(obj, dict):
        return None, "not an object"
    question = obj.get("question", obj.get("prompt"))
    if not isinstance(question, str) or not question.strip():
        return None, "missing question"
    ref = obj.get("reference_answer", obj.get("answer"))
    if ref is not None and not isinstance(ref, (str, int, float)):
        return None, "reference_answer must be a string or number"
    sources = _ids(obj.get("source_doc_ids"))
    if sources is None:
        return None, "source_doc_ids must be a list of strings"
    sid = obj.get("id")
    task = None
    if isinstance(obj.get("expression"), str):
        task = {"kind": "expression", "expression": obj["expression"], "unit": obj.get("unit"), "plan": obj.get("plan")}
    return (
        make_prompt(
            prompt_id=str(sid) if sid is not None else make_doc_id(path, index),
            prompt=question.strip(),
            reference_answer=None if ref is None else str(ref),
            lang=obj.get("lang") if isinstance(obj.get("lang"), str) else None,
            template_id=str(obj.get("template_id") or "seed"),
            source_uri=path,
            record_index=index,
            source_doc_ids=sources,
            license=obj.get("license") if isinstance(obj.get("license"), str) else None,
            task=task,
            source_id=None if sid is None else str(sid),
        ),
        None,
    )


def read_lines(path: str, parser, max_line_bytes: int) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line index, parsed, error) for every non-blank line of a file (blank lines counted); a line
    over ``max_line_bytes`` gives (index, None, ``LINE_TOO_LARGE``) without being read whole."""
    with open_binary(path) as stream:
        for index, line in enumerate(bounded_lines(stream, max_line_bytes)):
            if line is None:
                yield index, None, LINE_TOO_LARGE
                continue
            item, error = parser(line, path, index)
            if item is not None or error is not None:
                yield index, item, error
