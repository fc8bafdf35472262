"""Parquet: one record per row of the ``text`` column (string, or binary holding UTF-8), with the
optional columns ``id``, ``url``, ``source``, ``license`` and ``meta``; ``record_index`` is the row
number. A compressed ``.parquet.gz``/``.zst`` is spooled to a temporary file first (Parquet needs
random access)."""
from __future__ import annotations

from typing import Any, Iterator

import orjson

from pipeline.io.readers.base import Reader, register, stringify
from pipeline.io.splits import RECORDS, Split
from pipeline.io.streams import CountingReader, decompressed, error_text, hash_file, spool
from pipeline.records import Reason

PARQUET_FIELDS = ("text", "id", "url", "source", "license", "meta")


def _type_label(arrow_type) -> str:
    """``int64``, ``list``, ``struct``: a nested type's own text would list its field names."""
    return str(arrow_type).split("<", 1)[0]


def _row_raw(row: dict) -> bytes:
    return orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS)


def _split_oversized(column, maxb: int, window: int):
    """A string/binary ``text`` column → (the column with values over ``maxb`` bytes nulled, and
    ``{row: (first window bytes, size)}`` for those). Sizes come from Arrow's offsets, so an
    oversized value is never copied into a Python object whole."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return column, {}
    too_big = pc.greater(pc.binary_length(column), maxb)
    if not pc.any(too_big).as_py():
        return column, {}
    binary = pa.types.is_binary(t) or pa.types.is_large_binary(t)
    oversized = {}
    for row in pc.indices_nonzero(too_big).to_pylist():
        one = column.slice(row, 1)
        size = pc.binary_length(one)[0].as_py()
        head = (pc.binary_slice(one, 0, window) if binary else pc.utf8_slice_codeunits(one, 0, window))[0].as_py()
        oversized[row] = ((head if binary else head.encode("utf-8"))[:window], size)
    return pc.if_else(too_big, pa.scalar(None, t), column), oversized


def _read_parquet(sp: Split, source) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = sp.cfg
    maxb = cfg.max_record_bytes
    index = 0
    batch: list[dict] = []
    make = sp.make
    try:
        pf = pq.ParquetFile(source)
        names = pf.schema_arrow.names
        if "text" not in names:
            sp.seen = 1
            sp.quarantine(
                0, None, Reason.MISSING_TEXT,
                # column names are the user's data too: counted, never quoted
                f"parquet file has no 'text' column ({len(names)} other columns); its {pf.metadata.num_rows} rows were not read",
                None,
            )
            yield from sp.flush_side()
            return
        cols = [c for c in PARQUET_FIELDS if c in names]
        text_type = pf.schema_arrow.field("text").type
        text_is_binary = pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)
        decoded = 0  # Arrow bytes decoded so far (progress)
        for rb in pf.iter_batches(batch_size=cfg.batch_size, columns=cols):
            n = rb.num_rows
            text_column, oversized = _split_oversized(rb.column("text"), maxb, sp.window)
            columns = {c: (text_column if c == "text" else rb.column(c)).to_pylist() for c in cols}
            none = [None] * n
            texts = columns["text"]
            ids = columns.get("id", none)
            urls = columns.get("url", none)
            sources = columns.get("source", none)
            licenses = columns.get("license", none)
            metas = columns.get("meta", none)
            for i in range(n):
                text = texts[i]
                idx = index + i
                sp.seen += 1
                if i in oversized:
                    sp.too_large(idx, None, *oversized[i])
                    continue
                if text is None:
                    sp.quarantine(idx, None, Reason.MISSING_TEXT, "'text' is null", _row_raw({c: columns[c][i] for c in cols}))
                    continue
                if text_is_binary and type(text) is bytes:
                    if len(text) > maxb:
                        sp.too_large(idx, None, text[: sp.window], len(text))
                        continue
                    try:
                        text = text.decode("utf-8")
                    except UnicodeDecodeError as ue:
                        sp.quarantine(idx, None, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start} of 'text'", text)
                        continue
                elif type(text) is not str:
                    sp.quarantine(idx, None, Reason.TEXT_NOT_STRING, f"'text' column is {_type_label(text_type)}", _row_raw({c: columns[c][i] for c in cols}))
                    continue
                if len(text) * 4 > maxb:
                    size = len(text.encode("utf-8"))
                    if size > maxb:
                        sp.too_large(idx, None, text[: sp.window].encode("utf-8")[: sp.window], size)
                        continue
                record = make(idx, text, stringify(ids[i]), stringify(urls[i]), stringify(licenses[i]), stringify(sources[i]), metas[i])
                if not text or text.isspace():
                    sp.empty(record)
                    continue
                batch.append(record)
                if len(batch) >= cfg.batch_size:
                    yield RECORDS, batch
                    batch = []
            index += n
            yield from sp.flush_side()
            decoded += rb.nbytes
            sp.progress(decoded, None)
    except Exception as exc:  # noqa: BLE001 - corrupt or unreadable: keep what was read, then one row
        if batch:
            yield RECORDS, batch
            batch = []
        sp.seen += 1
        sp.quarantine(index, None, Reason.UNREADABLE_FILE, error_text(exc), None)
    yield from sp.flush(batch)


@register
class ParquetReader(Reader):
    name = "parquet"
    extensions = (".parquet",)

    def read(self, sp: Split, raw) -> Iterator[tuple[str, Any]]:
        compression = sp.item["compression"]
        if not compression:
            yield from _read_parquet(sp, raw)
        else:
            try:
                source = spool(decompressed(CountingReader(raw, hashing=False), compression))
            except Exception as exc:  # noqa: BLE001
                sp.seen = 1
                sp.quarantine(0, None, Reason.UNREADABLE_FILE, error_text(exc), None)
                yield from sp.flush_side()
            else:
                with source:
                    yield from _read_parquet(sp, source)
        # the file as stored, read again: the Parquet reader's own reads are not sequential
        sp.file_bytes, sp.file_sha256 = hash_file(sp.uri)
