"""The reader interface and the registry of readers by format.

A reader declares its format ``name`` and the file ``extensions`` that select it, and implements
``read(split, raw)``: given the item's :class:`~pipeline.io.splits.Split` and the file opened as
stored, it yields ``(tag, value)`` pairs — record batches on ``records`` and side rows on
``quarantine``/``decisions`` — and leaves the file's byte count and sha256 on the split. It never
raises on bad input: what cannot be read becomes a quarantine row. Registering a class with
:func:`register` makes its extensions known to discovery and its format to ``read_split``.
"""
from __future__ import annotations

from typing import Any, Iterator

import orjson

from pipeline.io.splits import Split
from pipeline.io.streams import CountingReader, decompressed, error_text
from pipeline.records import Reason

READERS: dict[str, "Reader"] = {}  # format name → reader
FORMAT_EXTS: dict[str, str] = {}  # file extension → format name


class Reader:
    name: str = ""
    extensions: tuple[str, ...] = ()

    def read(self, sp: Split, raw) -> Iterator[tuple[str, Any]]:
        """Decompress the file (per the item's compression) and read it with :meth:`read_stream`;
        the bytes and sha256 cover the file as stored."""
        counter = CountingReader(raw)
        try:
            stream = decompressed(counter, sp.item["compression"])
        except Exception as exc:  # noqa: BLE001
            sp.seen = 1
            sp.quarantine(0, 0, Reason.UNREADABLE_FILE, error_text(exc), None)
            yield from sp.flush_side()
        else:
            yield from self.read_stream(sp, stream, counter)
        sp.hash_rest(counter)

    def read_stream(self, sp: Split, stream, counter: CountingReader) -> Iterator[tuple[str, Any]]:  # pragma: no cover - abstract
        """Records of a decompressed ``stream``; ``counter`` counts the raw bytes read (progress)."""
        raise NotImplementedError


def register(cls: type[Reader]) -> type[Reader]:
    """Class decorator: one instance of ``cls`` reads its format from now on."""
    READERS[cls.name] = cls()
    for ext in cls.extensions:
        FORMAT_EXTS[ext] = cls.name
    return cls


def stringify(value: Any) -> Any:
    """Optional string fields: strings stay, None stays, anything else becomes its JSON text."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    try:
        return orjson.dumps(value, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def field_label(path: tuple[str, ...]) -> str:
    """A field path as the operator wrote it, for quarantine details: ``meta.url``, or the list
    form ``["a.b", "c"]`` when a key holds a dot. Names come from the config, never from a record."""
    if any("." in key for key in path):
        return orjson.dumps(list(path)).decode("utf-8")
    return ".".join(path)


def descend(value: Any, keys: tuple[str, ...]) -> Any:
    """``value[k1][k2]...`` through nested objects; None when a key is absent or a level is not an object."""
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value
