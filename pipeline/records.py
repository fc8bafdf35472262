"""The document record, the decision record, reason codes and the Arrow schemas of OUT.

Records flow through Beam as plain dicts (Beam's fast primitive coder handles them) grouped in
lists ("batches") so per-element framework overhead is paid once per batch, not per document.

Public fields of a document record are the `documents` columns (docs/audit.md). Fields whose name
starts with an underscore are internal (provenance signals, per-stage notes) and never written as
columns.

Each table of OUT is declared once, as an ordered tuple of :class:`Column` (name, Arrow type, where
the value comes from); its Arrow schema, its row builder and the columnar writer all read that
declaration.
"""
from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

# --- actions -------------------------------------------------------------------------------
KEEP = "keep"
DROP = "drop"
QUARANTINE = "quarantine"


class Reason:
    """Stable reason codes. A stage may add its own; these are the shared ones."""

    KEPT = "kept"
    # ingest
    PARSE_ERROR = "parse_error"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_TEXT = "missing_text"
    TEXT_NOT_STRING = "text_not_string"
    INVALID_UTF8 = "invalid_utf8"
    RECORD_TOO_LARGE = "record_too_large"
    UNREADABLE_FILE = "unreadable_file"
    # one stretch of a file (a WARC record or gzip member) could not be read; reading resumed after it
    UNREADABLE_RECORD = "unreadable_record"
    EMPTY = "empty"
    # any stage whose core raised on a record: the run goes on, the record is quarantined
    STAGE_ERROR = "stage_error"
    # compliance
    COPYRIGHT_NOTICE = "copyright_notice"
    LICENSE_DENIED = "license_denied"
    LICENSE_REVIEW = "license_review"
    OPT_OUT = "opt_out"
    # langid
    LANG_NOT_ALLOWED = "lang_not_allowed"
    LANG_LOW_CONFIDENCE = "lang_low_confidence"
    # dedup
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"


# Internal record keys (never written as document columns).
K_NOTES = "_notes"  # {stage: detail-dict} accumulated from keep verdicts carrying detail
K_FLAGS = "_flags"  # [flag, ...] e.g. "license_review" for keep-and-flag
K_HTTP_HEADERS = "_http_headers"  # {lower-cased header: value} from WARC responses
K_HTML_META = "_html_meta"  # {lower-cased meta name/http-equiv: content} from HTML
K_DECLARED_LICENSE = "_declared_license"  # the `license` field as given on input
K_SOURCE = "_source"  # the input's `source` field (per-source policy overrides)
K_META = "_meta"  # the input's `meta` field, kept for provenance


def make_doc_id(source_uri: str, record_index: int) -> str:
    """Stable id: the same file and record position give the same id on every rerun."""
    h = hashlib.blake2b(f"{source_uri}\x00{record_index}".encode("utf-8"), digest_size=16)
    return h.hexdigest()


def new_record(
    *,
    source_uri: str,
    record_index: int,
    text: str,
    source_id: str | None = None,
    url: str | None = None,
    license: str | None = None,
    source: str | None = None,
    meta: Any = None,
    http_headers: dict | None = None,
    html_meta: dict | None = None,
) -> dict:
    """A document record as ingest produces it; later stages fill lang, license, pii_counts, …"""
    return {
        "doc_id": make_doc_id(source_uri, record_index),
        "source_id": source_id,
        "source_uri": source_uri,
        "record_index": record_index,
        "url": url,
        "text": text,
        "lang": None,
        "lang_score": None,
        "license": None,
        "copyright": [],
        "pii_counts": {},
        "dup_cluster": None,
        K_DECLARED_LICENSE: license,
        K_SOURCE: source,
        K_META: meta,
        K_HTTP_HEADERS: http_headers or {},
        K_HTML_META: html_meta or {},
        K_NOTES: {},
        K_FLAGS: [],
    }


def entries(mapping: dict | None) -> list[dict]:
    """``{k: v}`` → ``[{"key": k, "value": v}, ...]``: how OUT stores a mapping (``pii_counts``,
    ``checks``). An Arrow map has no Hugging Face ``datasets`` type, so ``load_dataset`` would refuse
    the table; a list of key/value structs reads the same in datasets, pandas, polars and DuckDB
    (``map_from_entries``), and this is what ``to_pylist()`` gives back."""
    return [{"key": k, "value": v} for k, v in mapping.items()] if mapping else []


def _json(detail: Any) -> str | None:
    if detail is None:
        return None
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


# --- the tables of OUT ----------------------------------------------------------------------
# Mappings are stored as lists of {key, value} structs (see `entries`): every column type of OUT
# must be one that Hugging Face datasets, pandas, polars and DuckDB all read; an Arrow map is not.
def entries_type(value_type: pa.DataType) -> pa.DataType:
    return pa.list_(pa.struct([("key", pa.string()), ("value", value_type)]))


def _is_entries(type_: pa.DataType) -> bool:
    return (pa.types.is_list(type_) and pa.types.is_struct(type_.value_type)
            and [f.name for f in type_.value_type] == ["key", "value"])


PII_COUNTS = entries_type(pa.int32())  # entity type → replacements
CHECKS = entries_type(pa.bool_())  # trajectory check → passed

# Where a column's value comes from, for the tables whose rows this module builds.
FROM_RECORD = "record"  # the document record's field of the same name (mappings as entries, lists never null)
FROM_VERDICT = "verdict"  # the decision being recorded: action, stage, reason, detail (JSON), dup_of
FROM_RUN = "run"  # the run id
FROM_TEXT = "text"  # computed from the record's text (content_hash: sha256 hex of its UTF-8 bytes)
BY_WRITER = "writer"  # filled by the module that writes the table (named in the table's comment)


@dataclass(frozen=True)
class Column:
    """One column of an OUT table: its name, its Arrow type and where its value comes from."""

    name: str
    type: pa.DataType
    source: str = BY_WRITER


def _schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([(c.name, c.type) for c in columns])


_STRING = pa.string()

# Columns documents and decisions share: the same values, and in the columnar writer the same arrays.
_INPUT_POSITION = (  # which input record: stable id, the input's own id, file, 0-based position
    Column("doc_id", _STRING, FROM_RECORD),
    Column("source_id", _STRING, FROM_RECORD),
    Column("source_uri", _STRING, FROM_RECORD),
    Column("record_index", pa.int64(), FROM_RECORD),
)
_LANG_AND_LICENSE = (
    Column("lang", _STRING, FROM_RECORD),
    Column("lang_score", pa.float32(), FROM_RECORD),
    Column("license", _STRING, FROM_RECORD),
)
_PII_COUNTS = Column("pii_counts", PII_COUNTS, FROM_RECORD)
_RUN_ID = Column("run_id", _STRING, FROM_RUN)

DOCUMENTS_COLUMNS = (
    *_INPUT_POSITION,
    Column("url", _STRING, FROM_RECORD),
    Column("text", _STRING, FROM_RECORD),
    Column("content_hash", _STRING, FROM_TEXT),
    *_LANG_AND_LICENSE,
    Column("copyright", pa.list_(_STRING), FROM_RECORD),
    _PII_COUNTS,
    Column("dup_cluster", _STRING, FROM_RECORD),
    _RUN_ID,
)

DECISIONS_COLUMNS = (
    *_INPUT_POSITION,
    Column("action", _STRING, FROM_VERDICT),
    Column("stage", _STRING, FROM_VERDICT),
    Column("reason", _STRING, FROM_VERDICT),
    Column("detail", _STRING, FROM_VERDICT),
    *_LANG_AND_LICENSE,
    Column("dup_of", _STRING, FROM_VERDICT),
    _PII_COUNTS,
    _RUN_ID,
)

# Built by `quarantine_row` (ingest).
QUARANTINE_COLUMNS = (
    Column("doc_id", _STRING),
    Column("source_uri", _STRING),
    Column("record_index", pa.int64()),
    Column("offset", pa.int64()),
    Column("reason", _STRING),
    Column("error", _STRING),
    Column("raw", pa.binary()),
    Column("raw_truncated", pa.bool_()),
    Column("raw_bytes", pa.int64()),
    Column("run_id", _STRING),
)

# Built by the trajectories stage.
TRAJECTORIES_COLUMNS = (
    Column("sample_id", _STRING),
    Column("source_doc_ids", pa.list_(_STRING)),
    Column("prompt", _STRING),
    Column("thinking", _STRING),
    Column("answer", _STRING),
    Column("reference_answer", _STRING),
    Column("messages", pa.list_(pa.struct([("role", _STRING), ("content", _STRING)]))),
    Column("lang", _STRING),
    Column("teacher", _STRING),
    Column("template_id", _STRING),
    Column("checks", CHECKS),
    # Inherited from the source documents (several -> "A AND B"), so a sample carries the
    # license verdict of what it was grounded in; null for seed problems without a license.
    Column("license", _STRING),
    Column("run_id", _STRING),
)

# Filled by the dedup stage; the schema lives here so a later run can read it back.
SIGNATURES_COLUMNS = (
    Column("doc_id", _STRING),
    Column("exact_hash", _STRING),
    Column("minhash", pa.list_(pa.uint32())),
    Column("lang", _STRING),
    Column("run_id", _STRING),
)

TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "documents": DOCUMENTS_COLUMNS,
    "decisions": DECISIONS_COLUMNS,
    "quarantine": QUARANTINE_COLUMNS,
    "trajectories": TRAJECTORIES_COLUMNS,
    "signatures": SIGNATURES_COLUMNS,
}
TABLE_SCHEMAS: dict[str, pa.Schema] = {name: _schema(columns) for name, columns in TABLE_COLUMNS.items()}
DOCUMENTS_SCHEMA = TABLE_SCHEMAS["documents"]
DECISIONS_SCHEMA = TABLE_SCHEMAS["decisions"]
TRAJECTORIES_SCHEMA = TABLE_SCHEMAS["trajectories"]
SIGNATURES_SCHEMA = TABLE_SCHEMAS["signatures"]


# --- row builders ---------------------------------------------------------------------------
def _row_value(type_: pa.DataType):
    """How a record's field becomes a row value of a column of this type (None: as it is)."""
    if _is_entries(type_):
        return entries
    if pa.types.is_list(type_):
        return lambda value: list(value) if value else []
    return None


_DECISION_RECORD_FIELDS = tuple(c.name for c in DECISIONS_COLUMNS if c.source == FROM_RECORD)
_DECISION_CONVERTED = tuple((c.name, _row_value(c.type)) for c in DECISIONS_COLUMNS
                            if c.source == FROM_RECORD and _row_value(c.type))
_decision_record_getter = operator.itemgetter(*_DECISION_RECORD_FIELDS)


def decision_row(
    record: dict,
    *,
    action: str,
    stage: str,
    reason: str,
    run_id: str,
    detail: dict | None = None,
    dup_of: str | None = None,
) -> dict:
    """One decisions row: the record's columns (never its text: raw PII must not reach decisions),
    then the verdict's. Keys are the decisions columns; the writer orders them by the schema."""
    try:
        row = dict(zip(_DECISION_RECORD_FIELDS, _decision_record_getter(record)))
    except KeyError:  # a partial record (e.g. a quarantined line's position): absent fields are null
        row = {name: record.get(name) for name in _DECISION_RECORD_FIELDS}
        row["doc_id"] = record["doc_id"]  # every decision names its document
    for name, convert in _DECISION_CONVERTED:
        row[name] = convert(row[name])
    row.update(action=action, stage=stage, reason=reason, detail=_json(detail), dup_of=dup_of, run_id=run_id)
    return row


def keep_reason_detail(flags: list | None, notes: dict | None) -> tuple[str, dict | None]:
    """Reason and detail of the final ``keep`` row: the first flag (e.g. a kept license review) or
    ``kept``; detail carries the flags and the stages' notes."""
    flags = flags or []
    notes = notes or {}
    return (flags[0] if flags else Reason.KEPT), (({"flags": flags, **notes} if flags else notes) or None)


def quarantine_row(
    *,
    source_uri: str,
    record_index: int | None,
    offset: int | None,
    reason: str,
    error: str,
    raw: bytes | None,
    raw_limit: int,
    run_id: str,
) -> dict:
    raw = raw or b""
    return {
        "doc_id": make_doc_id(source_uri, record_index if record_index is not None else -1),
        "source_uri": source_uri,
        "record_index": record_index,
        "offset": offset,
        "reason": reason,
        "error": error,
        "raw": raw[:raw_limit],
        "raw_truncated": len(raw) > raw_limit,
        "raw_bytes": len(raw),
        "run_id": run_id,
    }


def quarantine_decision(qrow: dict, *, stage: str = "ingest") -> dict:
    """The decisions row matching a quarantine row (same doc_id)."""
    where = {"doc_id": qrow["doc_id"], "source_uri": qrow["source_uri"], "record_index": qrow["record_index"]}
    return decision_row(where, action=QUARANTINE, stage=stage, reason=qrow["reason"],
                        detail={"error": qrow["error"], "offset": qrow["offset"]}, run_id=qrow["run_id"])


# --- columnar output: a batch of kept records → Arrow record batches ----------------------
# The documents batch and the final `keep` decisions batch share their common columns (the same
# Arrow arrays), and content_hash is computed from the Arrow text buffer (no second UTF-8 encode).
_OUT_RECORD_COLUMNS = tuple({c.name: c for c in DOCUMENTS_COLUMNS + DECISIONS_COLUMNS if c.source == FROM_RECORD}.values())
_OUT_FIELDS = tuple(c.name for c in _OUT_RECORD_COLUMNS) + (K_FLAGS, K_NOTES)
_out_getter = operator.itemgetter(*_OUT_FIELDS)


def _out_columns(records: list[dict]) -> list[tuple]:
    """The ``_OUT_FIELDS`` of every record as column tuples (one C-level transpose)."""
    try:
        return list(zip(*map(_out_getter, records)))
    except KeyError:  # a record built by hand without every key: the lenient path
        return [tuple(r.get(k) for r in records) for k in _OUT_FIELDS]


def _const(value: str | None, n: int, type_=None) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_ or pa.string())
    return pa.repeat(pa.scalar(value, type_ or pa.string()), n)


def _empty_lists(n: int, type_: pa.DataType) -> pa.Array:
    offsets = pa.array(np.zeros(n + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array([], type_.value_type), type=type_)


def _list_column(values: tuple, type_: pa.DataType) -> pa.Array:
    """list<string> column; None and empty become empty lists (never null)."""
    if not any(values):
        return _empty_lists(len(values), type_)
    return pa.array([list(v) if v else [] for v in values], type=type_)


def _entries_column(mappings: tuple, type_: pa.DataType) -> pa.Array:
    """Dicts → a list<struct<key, value>> column (the :func:`entries` form) from flat key and value
    arrays; None and empty become empty lists (never null)."""
    n = len(mappings)
    if not any(mappings):
        return _empty_lists(n, type_)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum([len(m) if m else 0 for m in mappings], out=offsets[1:])
    key_field, value_field = type_.value_type
    keys = pa.array([k for m in mappings if m for k in m], key_field.type)
    values = pa.array([v for m in mappings if m for v in m.values()], value_field.type)
    structs = pa.StructArray.from_arrays([keys, values], fields=[key_field, value_field])
    return pa.ListArray.from_arrays(pa.array(offsets), structs, type=type_)


def _record_column(values: tuple, type_: pa.DataType) -> pa.Array:
    """A FROM_RECORD column from the records' values, as :func:`_row_value` would give them."""
    if _is_entries(type_):
        return _entries_column(values, type_)
    if pa.types.is_list(type_):
        return _list_column(values, type_)
    return pa.array(values, type_)


def sha256_hex_of_strings(arr: pa.Array) -> list[str]:
    """sha256 hex of each value of a string array, hashed from Arrow's UTF-8 buffer in place."""
    n = len(arr)
    if n == 0:
        return []
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4).tolist()
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    sha = hashlib.sha256
    return [sha(data[a:b]).hexdigest() for a, b in zip(offsets, offsets[1:])]


def _final_reason_detail(flags, notes) -> tuple[str, str | None]:
    reason, detail = keep_reason_detail(flags, notes)
    return reason, _json(detail)


# Records as ingest reads them straight into Arrow when no stage reads them (the JSONL columnar
# path): the input-position columns, url and text.
INGEST_SCHEMA = _schema(_INPUT_POSITION + (Column("url", _STRING), Column("text", _STRING)))


def output_batches_of_ingest(batch: pa.RecordBatch, run_id: str) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """An :data:`INGEST_SCHEMA` batch of records no stage has touched → what :func:`output_batches`
    gives for the same records (no language, license, copyright, PII counts, flags or notes)."""
    n = batch.num_rows
    arrays = {name: batch.column(name) for name in INGEST_SCHEMA.names}
    arrays["content_hash"] = pa.array(sha256_hex_of_strings(arrays["text"]), pa.string())
    arrays["run_id"] = _const(run_id, n)
    for c in _OUT_RECORD_COLUMNS:
        if c.name not in arrays:
            arrays[c.name] = _empty_lists(n, c.type) if pa.types.is_list(c.type) else _const(None, n, c.type)
    verdict = {"action": _const(KEEP, n), "stage": _const("output", n), "reason": _const(Reason.KEPT, n),
               "detail": _const(None, n), "dup_of": _const(None, n)}
    docs = pa.RecordBatch.from_arrays([arrays[c.name] for c in DOCUMENTS_COLUMNS], schema=DOCUMENTS_SCHEMA)
    decisions = pa.RecordBatch.from_arrays(
        [verdict[c.name] if c.source == FROM_VERDICT else arrays[c.name] for c in DECISIONS_COLUMNS],
        schema=DECISIONS_SCHEMA,
    )
    return docs, decisions


def output_batches(records: list[dict], run_id: str) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Kept records → (documents batch, final ``keep`` decisions batch), column by column.

    The decisions batch holds, row for row, what :func:`decision_row` gives with action ``keep``,
    stage ``output`` and :func:`keep_reason_detail` (tests/unit/test_shards.py holds both batches to
    row-by-row reference builders).
    """
    n = len(records)
    values = dict(zip(_OUT_FIELDS, _out_columns(records) if n else ((),) * len(_OUT_FIELDS)))
    arrays = {c.name: _record_column(values[c.name], c.type) for c in _OUT_RECORD_COLUMNS}
    arrays["content_hash"] = pa.array(sha256_hex_of_strings(arrays["text"]), pa.string())
    arrays["run_id"] = _const(run_id, n)
    flags, notes = values[K_FLAGS], values[K_NOTES]
    if any(flags) or any(notes):
        reasons, details = zip(*map(_final_reason_detail, flags, notes))
        reason, detail = pa.array(reasons, pa.string()), pa.array(details, pa.string())
    else:
        reason, detail = _const(Reason.KEPT, n), _const(None, n)
    verdict = {"action": _const(KEEP, n), "stage": _const("output", n), "reason": reason, "detail": detail,
               "dup_of": _const(None, n)}
    docs = pa.RecordBatch.from_arrays([arrays[c.name] for c in DOCUMENTS_COLUMNS], schema=DOCUMENTS_SCHEMA)
    decisions = pa.RecordBatch.from_arrays(
        [verdict[c.name] if c.source == FROM_VERDICT else arrays[c.name] for c in DECISIONS_COLUMNS],
        schema=DECISIONS_SCHEMA,
    )
    return docs, decisions
