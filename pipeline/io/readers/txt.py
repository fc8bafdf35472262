"""Plain text: a ``.txt`` file is one record (``record_index`` 0), its whole content the text."""
from __future__ import annotations

from typing import Any, Iterator

from pipeline.io.readers.base import Reader, register
from pipeline.io.splits import RECORDS, Split
from pipeline.io.streams import READ_BLOCK, CountingReader, error_text
from pipeline.records import Reason


@register
class TxtReader(Reader):
    name = "txt"
    extensions = (".txt",)

    def read_stream(self, sp: Split, stream, counter: CountingReader) -> Iterator[tuple[str, Any]]:
        maxb = sp.cfg.max_record_bytes
        chunks, size = [], 0
        try:
            while True:
                block = stream.read(READ_BLOCK)
                if not block:
                    break
                size += len(block)
                if size > maxb:
                    if not chunks or len(chunks[0]) < sp.window:
                        chunks.append(block)
                    while True:  # count the rest without keeping it
                        more = stream.read(READ_BLOCK)
                        if not more:
                            break
                        size += len(more)
                    break
                chunks.append(block)
        except Exception as exc:  # noqa: BLE001
            sp.seen = 1
            sp.quarantine(0, 0, Reason.UNREADABLE_FILE, error_text(exc), b"".join(chunks))
            return
        sp.seen = 1
        data = b"".join(chunks)
        if size > maxb:
            sp.too_large(0, 0, data[: sp.window], size)
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as ue:
            sp.quarantine(0, 0, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start}", data)
            return
        if text.startswith("\ufeff"):
            text = text[1:]
        record = sp.make(0, text)
        if not text or text.isspace():
            sp.empty(record)
        else:
            yield RECORDS, [record]

