"""Parquet: one record per row of the ``text`` column (string, or binary holding UTF-8), with the
optional columns ``id``, ``url``, ``source``, ``license`` and ``meta``; ``record_index`` is the row
number. ``ingest.text_field``/``id_field``/``url_field`` name other columns, or a field of a struct
column (``meta.url``). A compressed ``.parquet.gz``/``.zst`` is spooled to a temporary file first (Parquet needs
random access)."""
from __future__ import annotations

from typing import Any, Iterator

import orjson

from pipeline.io.readers.base import Reader, field_label, register, stringify
from pipeline.io.splits import RECORDS, Split
from pipeline.io.streams import CountingReader, decompressed, error_text, hash_file, spool
from pipeline.records import Reason

FIXED_COLUMNS = ("source", "license", "meta")  # read by these names whatever ingest.* says
# A batch's rows may take their values from pages holding up to this many times
# run.max_parquet_page_bytes in all (a file of ordinary 1 MiB pages keeps batches of run.batch_size)
BATCH_PAGES = 16


def _path_type(schema, path: tuple[str, ...]):
    """The Arrow type at ``path`` (a column, then fields of struct columns), or None when absent."""
    import pyarrow as pa

    if path[0] not in schema.names:
        return None
    arrow_type = schema.field(path[0]).type
    for key in path[1:]:
        if not pa.types.is_struct(arrow_type) or arrow_type.get_field_index(key) < 0:
            return None
        arrow_type = arrow_type.field(key).type
    return arrow_type


def _path_column(rb, path: tuple[str, ...]):
    """The values at ``path`` in a record batch: the column itself, or its struct field (null where
    an enclosing struct is null)."""
    import pyarrow.compute as pc

    column = rb.column(path[0])
    return pc.struct_field(column, list(path[1:])) if len(path) > 1 else column


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


def _bounded_batches(sp: Split, pf, source, cols: list[str], text_column: str, text_label: str):
    """``pf``'s record batches of columns ``cols``, row group by row group, in memory bounded by
    the page sizes the file declares (:mod:`pipeline.io.parquet_pages`): a row group with a page
    over ``run.max_parquet_page_bytes`` in a column read is not decoded — each of its rows gets a
    ``record_too_large`` quarantine row (``unreadable_record`` when a page header cannot be read),
    and its row count is yielded (an int) in place of batches;
    the others are read in batches of at most ``run.batch_size`` rows and few enough that the
    pages their values come from hold at most ``BATCH_PAGES × max_parquet_page_bytes`` bytes (k
    rows take their values from at most k pages of each column)."""
    from pipeline.io.parquet_pages import PageHeaderError, largest_pages

    cfg = sp.cfg
    bound = cfg.max_parquet_page_bytes
    md = pf.metadata
    paths = [md.schema.column(i).path for i in range(md.num_columns)]

    def leaves_of(name: str) -> list[int]:  # (a name with a dot may take more leaves: a stricter check)
        return [i for i, path in enumerate(paths) if path == name or path.startswith(name + ".")]

    leaves = sorted({i for name in cols for i in leaves_of(name)})
    text_leaves = set(leaves_of(text_column))
    first = 0  # the row number (record_index) of the row group's first row
    for g in range(md.num_row_groups):
        rows = md.row_group(g).num_rows
        reason = Reason.RECORD_TOO_LARGE
        try:
            largest = largest_pages(source, md, g, leaves)
        except PageHeaderError as exc:  # Arrow would fail on it too: the next row group may still read
            reason, problem = Reason.UNREADABLE_RECORD, str(exc)
        else:
            over = [c for c in leaves if largest[c] > bound]
            if not over:
                per_row = sum(largest.values())
                size = max(1, min(cfg.batch_size, (BATCH_PAGES * bound) // per_row if per_row else cfg.batch_size))
                yield from pf.iter_batches(batch_size=size, row_groups=[g], columns=cols)
                first += rows
                continue
            # column names are the user's data: only the configured text field is named
            c = over[0]
            where = f"'{text_label}'" if c in text_leaves else "another column"
            problem = (f"a page of {largest[c]} bytes in {where} exceeds run.max_parquet_page_bytes={bound}")
        for i in range(rows):
            sp.seen += 1
            sp.quarantine(first + i, None, reason, f"row group {g} ({rows} rows) not decoded: {problem}", None)
            if len(sp.side) >= 2 * cfg.batch_size:
                yield 0
        first += rows
        yield rows


def _read_parquet(sp: Split, source) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = sp.cfg
    maxb = cfg.max_record_bytes
    index = 0
    batch: list[dict] = []
    make = sp.make
    fields = sp.fields
    text_path = fields["text"]
    text_label = field_label(text_path)
    try:
        pf = pq.ParquetFile(source)
        schema = pf.schema_arrow
        names = schema.names
        text_type = _path_type(schema, text_path)
        if text_type is None:
            sp.seen = 1
            sp.quarantine(
                0, None, Reason.MISSING_TEXT,
                # column names are the user's data too: counted, never quoted (the configured one is the operator's)
                f"parquet file has no '{text_label}' column ({len(names)} other columns); its {pf.metadata.num_rows} rows were not read",
                None,
            )
            yield from sp.flush_side()
            return
        # id/url paths absent from this file's schema read as null, as a missing id/url column always has
        optional = {name: fields[name] for name in ("id", "url") if _path_type(schema, fields[name]) is not None}
        wanted = (text_path[0], fields["id"][0], fields["url"][0], *FIXED_COLUMNS)
        cols = [c for c in dict.fromkeys(wanted) if c in names]
        text_is_binary = pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)
        decoded = 0  # Arrow bytes decoded so far (progress)
        for rb in _bounded_batches(sp, pf, source, cols, text_path[0], text_label):
            if type(rb) is int:  # a row group left undecoded: its rows are quarantined, numbered on
                index += rb
                yield from sp.flush_side()
                continue
            n = rb.num_rows
            text_column, oversized = _split_oversized(_path_column(rb, text_path), maxb, sp.window)
            texts = text_column.to_pylist()
            none = [None] * n
            ids, urls = (_path_column(rb, optional[k]).to_pylist() if k in optional else none for k in ("id", "url"))
            sources, licenses, metas = (rb.column(c).to_pylist() if c in names else none for c in FIXED_COLUMNS)

            def raw_row(i: int) -> bytes:
                # a top-level text column as read (its oversized values nulled), every other column as stored
                return _row_raw({c: texts[i] if (c,) == text_path else rb.column(c)[i].as_py() for c in cols})

            for i in range(n):
                text = texts[i]
                idx = index + i
                sp.seen += 1
                if i in oversized:
                    sp.too_large(idx, None, *oversized[i])
                    continue
                if text is None:
                    sp.quarantine(idx, None, Reason.MISSING_TEXT, f"'{text_label}' is null", raw_row(i))
                    continue
                if text_is_binary and type(text) is bytes:
                    if len(text) > maxb:
                        sp.too_large(idx, None, text[: sp.window], len(text))
                        continue
                    try:
                        text = text.decode("utf-8")
                    except UnicodeDecodeError as ue:
                        sp.quarantine(idx, None, Reason.INVALID_UTF8, f"invalid UTF-8 at byte {ue.start} of '{text_label}'", text)
                        continue
                elif type(text) is not str:
                    sp.quarantine(idx, None, Reason.TEXT_NOT_STRING, f"'{text_label}' column is {_type_label(text_type)}", raw_row(i))
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
            sp.progress(decoded, None, stored=False)
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
