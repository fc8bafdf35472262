"""The document record, the decision record, reason codes and the Arrow schemas of OUT.

Records flow through Beam as plain dicts (Beam's fast primitive coder handles them) grouped in
lists ("batches") so per-element framework overhead is paid once per batch, not per document.

Public fields of a document record are the `documents` columns of SPEC.md. Fields whose name starts
with an underscore are internal (provenance signals, per-stage notes) and never written as columns.
"""
from __future__ import annotations

import hashlib
import json
import operator
from typing import Any

import numpy as np
import pyarrow as pa

# --- actions -------------------------------------------------------------------------------
KEEP = "keep"
DROP = "drop"
QUARANTINE = "quarantine"
ACTIONS = (KEEP, DROP, QUARANTINE)


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
    # trajectories
    ANSWER_MISMATCH = "answer_mismatch"


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


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def entries_dict(column_value: list[dict] | None) -> dict:
    """The inverse of :func:`entries`: a ``pii_counts`` / ``checks`` value as read back → dict."""
    return {e["key"]: e["value"] for e in column_value or ()}


def _json(detail: Any) -> str | None:
    if detail is None:
        return None
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


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
    """One decisions row. Never copies text: raw PII must not reach decisions."""
    return {
        "doc_id": record["doc_id"],
        "source_id": record.get("source_id"),
        "source_uri": record.get("source_uri"),
        "record_index": record.get("record_index"),
        "action": action,
        "stage": stage,
        "reason": reason,
        "detail": _json(detail),
        "lang": record.get("lang"),
        "lang_score": record.get("lang_score"),
        "license": record.get("license"),
        "dup_of": dup_of,
        "pii_counts": entries(record.get("pii_counts")),
        "run_id": run_id,
    }


def keep_reason_detail(flags: list | None, notes: dict | None) -> tuple[str, dict | None]:
    """Reason and detail of the final ``keep`` row: the first flag (e.g. a kept license review) or
    ``kept``; detail carries the flags and the stages' notes."""
    flags = flags or []
    notes = notes or {}
    return (flags[0] if flags else Reason.KEPT), (({"flags": flags, **notes} if flags else notes) or None)


def final_keep_row(record: dict, run_id: str) -> dict:
    """The decisions row of a document that every stage kept."""
    reason, detail = keep_reason_detail(record.get(K_FLAGS), record.get(K_NOTES))
    return decision_row(record, action=KEEP, stage="output", reason=reason, detail=detail, run_id=run_id)


def document_row(record: dict, run_id: str) -> dict:
    text = record["text"]
    return {
        "doc_id": record["doc_id"],
        "source_id": record.get("source_id"),
        "source_uri": record["source_uri"],
        "record_index": record["record_index"],
        "url": record.get("url"),
        "text": text,
        "content_hash": content_hash(text),
        "lang": record.get("lang"),
        "lang_score": record.get("lang_score"),
        "license": record.get("license"),
        "copyright": list(record.get("copyright") or []),
        "pii_counts": entries(record.get("pii_counts")),
        "dup_cluster": record.get("dup_cluster"),
        "run_id": run_id,
    }


# --- columnar output: a batch of kept records → Arrow record batches ----------------------
# The documents batch and the final `keep` decisions batch share their common columns (the same
# Arrow arrays), and content_hash is computed from the Arrow text buffer (no second UTF-8 encode).
_OUT_FIELDS = ("doc_id", "source_id", "source_uri", "record_index", "url", "text", "lang", "lang_score",
               "license", "copyright", "pii_counts", "dup_cluster", K_FLAGS, K_NOTES)
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


def _string_column(values: tuple) -> pa.Array:
    return pa.array(values, pa.string())


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


def output_batches(records: list[dict], run_id: str) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Kept records → (documents batch, final ``keep`` decisions batch), column by column.

    Row for row equal to ``document_row`` / ``final_keep_row`` (a unit test holds it to that).
    """
    n = len(records)
    (doc_id, source_id, source_uri, record_index, url, text, lang, lang_score, license_, copyright_, pii, dup_cluster,
     flags, notes) = _out_columns(records) if n else ((),) * len(_OUT_FIELDS)
    a_doc_id = _string_column(doc_id)
    a_source_id = _string_column(source_id)
    a_source_uri = _string_column(source_uri)
    a_index = pa.array(record_index, pa.int64())
    a_text = _string_column(text)
    a_lang = _string_column(lang)
    a_score = pa.array(lang_score, pa.float32())
    a_license = _string_column(license_)
    a_pii = _entries_column(pii, PII_COUNTS)
    a_run = _const(run_id, n)
    docs = pa.RecordBatch.from_arrays(
        [a_doc_id, a_source_id, a_source_uri, a_index, _string_column(url), a_text,
         pa.array(sha256_hex_of_strings(a_text), pa.string()), a_lang, a_score, a_license,
         _list_column(copyright_, DOCUMENTS_SCHEMA.field("copyright").type), a_pii, _string_column(dup_cluster), a_run],
        schema=DOCUMENTS_SCHEMA,
    )
    if any(flags) or any(notes):
        reasons, details = zip(*map(_final_reason_detail, flags, notes))
        a_reason, a_detail = _string_column(reasons), _string_column(details)
    else:
        a_reason, a_detail = _const(Reason.KEPT, n), _const(None, n)
    decisions = pa.RecordBatch.from_arrays(
        [a_doc_id, a_source_id, a_source_uri, a_index, _const(KEEP, n), _const("output", n), a_reason, a_detail,
         a_lang, a_score, a_license, _const(None, n), a_pii, a_run],
        schema=DECISIONS_SCHEMA,
    )
    return docs, decisions


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
    return {
        "doc_id": qrow["doc_id"],
        "source_id": None,
        "source_uri": qrow["source_uri"],
        "record_index": qrow["record_index"],
        "action": QUARANTINE,
        "stage": stage,
        "reason": qrow["reason"],
        "detail": _json({"error": qrow["error"], "offset": qrow["offset"]}),
        "lang": None,
        "lang_score": None,
        "license": None,
        "dup_of": None,
        "pii_counts": [],
        "run_id": qrow["run_id"],
    }


# --- Arrow schemas of OUT -------------------------------------------------------------------
# Mappings are stored as lists of {key, value} structs (see `entries`): every column type of OUT
# must be one that Hugging Face datasets, pandas, polars and DuckDB all read; an Arrow map is not.
def entries_type(value_type: pa.DataType) -> pa.DataType:
    return pa.list_(pa.struct([("key", pa.string()), ("value", value_type)]))


PII_COUNTS = entries_type(pa.int32())  # entity type → replacements
CHECKS = entries_type(pa.bool_())  # trajectory check → passed

DOCUMENTS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_id", pa.string()),
        ("source_uri", pa.string()),
        ("record_index", pa.int64()),
        ("url", pa.string()),
        ("text", pa.string()),
        ("content_hash", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("license", pa.string()),
        ("copyright", pa.list_(pa.string())),
        ("pii_counts", PII_COUNTS),
        ("dup_cluster", pa.string()),
        ("run_id", pa.string()),
    ]
)

DECISIONS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_id", pa.string()),
        ("source_uri", pa.string()),
        ("record_index", pa.int64()),
        ("action", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("license", pa.string()),
        ("dup_of", pa.string()),
        ("pii_counts", PII_COUNTS),
        ("run_id", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_uri", pa.string()),
        ("record_index", pa.int64()),
        ("offset", pa.int64()),
        ("reason", pa.string()),
        ("error", pa.string()),
        ("raw", pa.binary()),
        ("raw_truncated", pa.bool_()),
        ("raw_bytes", pa.int64()),
        ("run_id", pa.string()),
    ]
)

TRAJECTORIES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("source_doc_ids", pa.list_(pa.string())),
        ("prompt", pa.string()),
        ("thinking", pa.string()),
        ("answer", pa.string()),
        ("reference_answer", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("lang", pa.string()),
        ("teacher", pa.string()),
        ("template_id", pa.string()),
        ("checks", CHECKS),
        # Inherited from the source documents (several -> "A AND B"), so a sample carries the
        # license verdict of what it was grounded in; null for seed problems without a license.
        ("license", pa.string()),
        ("run_id", pa.string()),
    ]
)

# Filled by the dedup stage; the schema lives here so a later run can read it back.
SIGNATURES_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("exact_hash", pa.string()),
        ("minhash", pa.list_(pa.uint32())),
        ("lang", pa.string()),
        ("run_id", pa.string()),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "documents": DOCUMENTS_SCHEMA,
    "decisions": DECISIONS_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA,
    "trajectories": TRAJECTORIES_SCHEMA,
    "signatures": SIGNATURES_SCHEMA,
}
