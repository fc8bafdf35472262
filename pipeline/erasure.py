"""`curate forget`: erase documents from a release, as a new manifest version.

The matching documents go from every table: their documents rows, signatures and quarantine rows,
and every trajectory sample grounded in them (``source_doc_ids``). Their decisions rows stay, for
the audit trail, without content: ``doc_id``, ``action``, ``stage``, ``reason``, ``lang``,
``lang_score``, ``license``, ``dup_of``, ``pii_counts`` and ``run_id`` are kept; ``source_id``,
``source_uri`` and ``record_index`` become null and ``detail`` becomes ``{"erased_in_version": N}``.

The commit is a run's: OUT's lock is held throughout; only the shards holding a matched row are
rewritten, under new names beside the old; the current manifest.json is archived under
``OUT/versions/`` and the new one renamed over it (the commit point); the old shard files are
deleted only after that. An erasure that fails or is killed before the rename leaves the previous
version as it was (the next ``forget`` or ``run --overwrite`` removes what it wrote).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pipeline.io.fs import FileSystems  # Beam's, imported only for remote paths and writes

from pipeline.config import ConfigError
from pipeline.io import outdir, versions
from pipeline.io.shards import PARQUET_COMPRESSION, _HashingSink, sync_local
from pipeline.io.manifest import (
    ERASED_DETAIL_PREFIX,
    ERASED_KEY,
    MANIFEST,
    REPORT,
    SHARD_PATH,
    STAGING,
    is_report_entry,
    list_files,
    verify,
    write_manifest,
)

_LOG = logging.getLogger("pipeline.erasure")
SELECTORS = ("doc-id", "source-id", "url-pattern", "where")
TRAJECTORY_STAGE = "trajectory"
# A document-grounded trajectory candidate's decisions row names its document here.
DOCUMENT_PROMPT_PREFIX = "document:"
MAX_REASON_CHARS = 200
# Decisions columns that say where a record came from: nulled for an erased document.
_DECISIONS_NULLED = ("source_id", "source_uri", "record_index")


class ForgetError(ConfigError):
    """A usage error of `curate forget` (bad selector or SQL, OUT not a release): exit 2."""


class NothingMatched(Exception):
    """The selector matched no document: nothing changes, exit 1."""


@dataclass
class Selector:
    kind: str  # one of SELECTORS
    values: list[str]  # ids; or one glob; or one SQL expression

    def describe(self) -> dict:
        return {"kind": self.kind, "count": len(self.values)}


@dataclass
class Plan:
    """What an erasure removes: the matched doc_ids, the samples grounded in them, and per shard
    (relative path) the row mask of the rows it removes (or, in decisions, anonymises)."""

    doc_ids: set[str]
    sample_ids: set[str] = field(default_factory=set)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=lambda: {"documents": 0, "signatures": 0, "trajectories": 0, "quarantine": 0})
    decisions: int = 0

    def id_hashes(self) -> list[str]:
        return sorted(sha256_id(i) for i in self.doc_ids)


@dataclass
class ForgetResult:
    out: str
    plan: Plan
    version: int | None  # None for a dry run
    dry_run: bool


def sha256_id(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()


# --- reading the release ----------------------------------------------------------------------
def _load_current(out: str) -> tuple[bytes, dict]:
    data = versions.read_bytes(FileSystems.join(out, MANIFEST))
    manifest = versions.parse(data)
    if manifest is None or not isinstance(manifest.get("outputs"), list) or not isinstance(manifest.get("run_id"), str):
        raise ForgetError(f"{FileSystems.join(out, MANIFEST)}: missing or not a curate manifest (not a finished release)")
    return data, manifest


def _shards(manifest: dict, table: str) -> list[str]:
    return sorted(e["path"] for e in manifest["outputs"]
                  if isinstance(e, dict) and isinstance(e.get("path"), str) and SHARD_PATH.match(e["path"])
                  and e["path"].split("/", 1)[0] == table)


def _dataset(out: str, rels: list[str]):
    """The shards as one pyarrow dataset (DuckDB scans it lazily, column by column)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if outdir.is_remote(out):
        fs, root = pafs.FileSystem.from_uri(out)
    else:
        fs, root = pafs.LocalFileSystem(), os.path.abspath(out)
    return ds.dataset([f"{root.rstrip('/')}/{rel}" for rel in rels], format="parquet", filesystem=fs)


def _read_columns(out: str, rel: str, columns: list[str]) -> pa.Table:
    with FileSystems.open(FileSystems.join(out, rel)) as fh:
        return pq.read_table(fh, columns=columns)


# --- selection ----------------------------------------------------------------------------------
def check_where(expression: str) -> str:
    """A ``--where`` expression: one SQL expression, nothing around it. Parsed (not run) by DuckDB:
    the query it makes must differ from ``SELECT doc_id FROM documents WHERE (true)`` in its WHERE
    clause only (a closing parenthesis cannot smuggle in a UNION, ORDER BY, LIMIT, GROUP BY …)."""
    import duckdb

    if ";" in expression:
        raise ForgetError("--where: must be one SQL expression (no ';')")
    sql = f"SELECT doc_id FROM documents WHERE ({expression})"
    parsed, template = _parse(sql), _parse("SELECT doc_id FROM documents WHERE (true)")
    if parsed.get("error"):
        raise ForgetError(f"--where: SQL error: {str(parsed.get('error_message', 'cannot parse')).splitlines()[0]}")
    strip = lambda tree: {k: v for k, v in tree["statements"][0]["node"].items() if k != "where_clause"}  # noqa: E731
    if len(parsed["statements"]) != 1 or strip(parsed) != strip(template):
        raise ForgetError("--where: must be one SQL expression over the documents view")
    try:
        if len(duckdb.extract_statements(sql)) != 1:
            raise ForgetError("--where: must be one SQL expression over the documents view")
    except duckdb.Error as exc:
        raise ForgetError(f"--where: SQL error: {_first_line(exc)}") from None
    return sql


def _parse(sql: str) -> dict:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        return json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connect(out: str, manifest: dict):
    """A DuckDB connection that sees only this release's tables (registered as Arrow datasets) and
    can read or write no file: external access off, configuration locked."""
    import duckdb

    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    for table in ("documents", "decisions", "quarantine"):
        con.register(table, _dataset(out, _shards(manifest, table)))
    con.execute("SET lock_configuration = true")
    return con


def select(out: str, manifest: dict, selector: Selector) -> set[str]:
    """The doc_ids the selector matches in the release (ids as query parameters, never in SQL text).
    A decisions row already erased matches nothing."""
    import duckdb

    not_erased = "stage <> ? AND NOT starts_with(coalesce(detail, ''), ?)"
    if selector.kind == "doc-id":
        queries = [("SELECT doc_id FROM documents WHERE list_contains(?, doc_id)", [selector.values]),
                   ("SELECT doc_id FROM quarantine WHERE list_contains(?, doc_id)", [selector.values]),
                   (f"SELECT doc_id FROM decisions WHERE list_contains(?, doc_id) AND {not_erased}",
                    [selector.values, TRAJECTORY_STAGE, ERASED_DETAIL_PREFIX])]
    elif selector.kind == "source-id":
        queries = [("SELECT doc_id FROM documents WHERE list_contains(?, source_id)", [selector.values]),
                   (f"SELECT doc_id FROM decisions WHERE list_contains(?, source_id) AND {not_erased}",
                    [selector.values, TRAJECTORY_STAGE, ERASED_DETAIL_PREFIX])]
    elif selector.kind == "url-pattern":
        queries = [("SELECT doc_id FROM documents WHERE url GLOB ?", [selector.values[0]])]
    elif selector.kind == "where":
        queries = [(check_where(selector.values[0]), [])]
    else:
        raise ForgetError(f"unknown selector {selector.kind}")
    con = _connect(out, manifest)
    matched: set[str] = set()
    try:
        for sql, params in queries:
            try:
                rows = con.execute(sql, params).fetchall()
            except duckdb.Error as exc:
                raise ForgetError(f"--{selector.kind}: SQL error: {_first_line(exc)}") from None
            matched.update(r[0] for r in rows if isinstance(r[0], str))
    finally:
        con.close()
    return matched


# --- planning -------------------------------------------------------------------------------------
def _is_in(column: pa.ChunkedArray, values: set[str]) -> np.ndarray:
    if not values or not len(column):
        return np.zeros(len(column), dtype=bool)
    hit = pc.is_in(column, value_set=pa.array(sorted(values), pa.string()))
    return hit.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _any_in(lists: pa.ChunkedArray, values: set[str]) -> np.ndarray:
    """Rows of a list<string> column holding any of ``values``."""
    mask = np.zeros(len(lists), dtype=bool)
    offset = 0
    for chunk in lists.chunks:
        if len(chunk) and values:
            flat = pc.list_flatten(chunk)
            parents = pc.list_parent_indices(chunk).to_numpy(zero_copy_only=False)
            hit = _is_in(pa.chunked_array([flat], pa.string()), values)
            mask[offset + parents[hit]] = True
        offset += len(chunk)
    return mask


def plan(out: str, manifest: dict, doc_ids: set[str]) -> Plan:
    """Which rows of which shards go (or, in decisions, lose their content)."""
    result = Plan(doc_ids=set(doc_ids))
    counted = {"documents": "documents", "signatures": "signatures", "quarantine": "quarantine"}
    for table, key in counted.items():
        for rel in _shards(manifest, table):
            mask = _is_in(_read_columns(out, rel, ["doc_id"]).column("doc_id"), doc_ids)
            if mask.any():
                result.masks[rel] = mask
                result.removed[key] += int(mask.sum())
    for rel in _shards(manifest, "trajectories"):
        table = _read_columns(out, rel, ["sample_id", "source_doc_ids"])
        mask = _any_in(table.column("source_doc_ids"), doc_ids)
        if mask.any():
            result.masks[rel] = mask
            result.removed["trajectories"] += int(mask.sum())
            result.sample_ids.update(table.column("sample_id").filter(pa.array(mask)).to_pylist())
    prompts = {DOCUMENT_PROMPT_PREFIX + d for d in doc_ids}
    for rel in _shards(manifest, "decisions"):
        table = _read_columns(out, rel, ["doc_id", "stage", "source_uri", "detail"])
        trajectory = pc.equal(table.column("stage"), TRAJECTORY_STAGE).fill_null(False).to_numpy(zero_copy_only=False)
        records = _is_in(table.column("doc_id"), doc_ids) & ~trajectory
        samples = (_is_in(table.column("doc_id"), result.sample_ids) | _is_in(table.column("source_uri"), prompts)) & trajectory
        erased = pc.starts_with(table.column("detail").fill_null(""), ERASED_DETAIL_PREFIX).to_numpy(zero_copy_only=False)
        mask = (records | samples) & ~erased
        if mask.any():
            result.masks[rel] = mask
            result.decisions += int(mask.sum())
    return result


# --- rewriting ----------------------------------------------------------------------------------
def _new_name(rel: str, erasure_id: str) -> str:
    table, name = rel.split("/", 1)
    index = re.match(r"part-([0-9]{5})", name).group(1)
    return f"{table}/part-{index}-{erasure_id}.parquet"


def _anonymise(batch: pa.Table, mask: np.ndarray, version: int) -> pa.Table:
    flags = pa.array(mask)
    columns = []
    for name in batch.column_names:
        column = batch.column(name)
        if name in _DECISIONS_NULLED:
            column = pc.if_else(flags, pa.scalar(None, column.type), column)
        elif name == "detail":
            column = pc.if_else(flags, json.dumps({ERASED_KEY: version}), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=batch.schema)


def _rewrite(out: str, rel: str, target: str, mask: np.ndarray, version: int, removed_docs: list) -> dict:
    """Write ``target``: ``rel`` without the masked rows (decisions: with them anonymised), row
    group by row group, keeping the schema and its metadata. Its rows, bytes and sha256."""
    table_name = rel.split("/", 1)[0]
    source = FileSystems.join(out, rel)
    rows = 0
    with FileSystems.open(source) as src, FileSystems.create(target) as dst:
        reader = pq.ParquetFile(src)
        sink = _HashingSink(dst)
        with pq.ParquetWriter(sink, reader.schema_arrow, compression=PARQUET_COMPRESSION) as writer:
            start = 0
            for group in range(reader.num_row_groups):
                part = reader.read_row_group(group)
                part_mask = mask[start:start + part.num_rows]
                start += part.num_rows
                if table_name == "decisions":
                    part = _anonymise(part, part_mask, version)
                else:
                    if table_name == "documents" and part_mask.any():
                        removed_docs.append(part.select(["lang", "text"]).filter(pa.array(part_mask)))
                    part = part.filter(pa.array(~part_mask))
                if part.num_rows:  # an empty shard keeps its schema and no row group (see shards.encode_table)
                    writer.write_table(part)
                    rows += part.num_rows
    sync_local(target)
    return {"rows": rows, "bytes": sink.size, "sha256": sink.sha256()}


def _summary_after(summary: dict, removed: dict[str, int], removed_docs: list) -> dict:
    """The summary of the release after the erasure: the run's counts, less what was removed."""
    from pipeline.tokens import add_language_totals, language_totals, languages_summary

    summary = json.loads(json.dumps(summary))
    summary["kept"] = summary.get("kept", 0) - removed["documents"]
    if isinstance(summary.get("trajectories"), dict):
        summary["trajectories"]["accepted"] -= removed["trajectories"]
    if isinstance(summary.get("languages"), dict):
        gone: dict[str, list[int]] = {}
        for part in removed_docs:
            add_language_totals(gone, language_totals(part))
        rows = []
        for lang, entry in summary["languages"].items():
            minus = gone.get(lang, [0, 0, 0])
            docs = entry["docs"] - minus[0]
            if docs > 0:
                rows.append([lang, docs, entry["bytes"] - minus[1], entry["est_tokens"] - minus[2]])
        summary["languages"] = languages_summary(rows)
    erased = summary.get("erased") or {k: 0 for k in removed}
    summary["erased"] = {k: erased.get(k, 0) + removed.get(k, 0) for k in removed}
    return summary


# --- the command ----------------------------------------------------------------------------------
def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ForgetError("--reason: required (why these documents are erased, e.g. 'GDPR art. 17 request #123')")
    if len(reason) > MAX_REASON_CHARS or any(c in reason for c in "\r\n"):
        raise ForgetError(f"--reason: one line of at most {MAX_REASON_CHARS} characters")
    try:
        found = personal_data_in(reason)
    except Exception as exc:  # noqa: BLE001 - a message of the engine could quote the text
        raise ForgetError(f"--reason: could not be checked for personal data ({type(exc).__name__})") from None
    if found:
        # The reason stays in every later manifest version: naming the person there would keep the
        # very data being erased. The message names the entity types only, never the text.
        raise ForgetError(f"--reason: looks like it holds personal data ({', '.join(found)}); it is kept in the "
                          "manifest for good: name the request (e.g. 'GDPR art. 17 request #123'), not the person")
    return reason


def personal_data_in(text: str) -> list[str]:
    """The entity types the default PII stage would replace in ``text``, in every language it serves."""
    from pipeline.config import load_config
    from pipeline.pii.engine import PiiEngine

    engine = PiiEngine.from_config(load_config(None))
    found = set()
    for lang in engine.languages:
        for hit in engine.detect_batch([text], [lang])[0]:
            found.add(hit.entity_type)
    return sorted(found)


def forget(out: str, selector: Selector, reason: str, dry_run: bool = False) -> ForgetResult:
    """Erase what ``selector`` matches from the release in ``out``; raises :class:`ForgetError`
    (usage, exit 2) or :class:`NothingMatched` (exit 1)."""
    from pipeline.run import new_run_id

    reason = check_reason(reason)
    if selector.kind == "where":
        check_where(selector.values[0])  # a bad expression is a usage error before OUT is touched
    if not outdir.is_remote(out):
        out = os.path.abspath(out)
    data, manifest = _load_current(out)  # OUT without a manifest: a usage error before the lock
    if dry_run:
        matched = select(out, manifest, selector)
        if not matched:
            raise NothingMatched(f"0 matched ({selector.kind}, {len(selector.values)} value(s)); nothing would change")
        return ForgetResult(out, plan(out, manifest, matched), None, True)
    erasure_id = new_run_id()
    lock = outdir.RunLock(out, erasure_id)
    lock.acquire()
    try:
        if lock.took_over is not None:
            _LOG.warning("took over the stale lock of %s", outdir.describe(lock.took_over))
        outdir.remove_leftovers(out)
        data, manifest = _load_current(out)  # again, under the lock
        _remove_uncommitted_shards(out, manifest)
        problems = verify(out)
        if problems:
            raise ForgetError(f"{out} fails curate verify ({len(problems)} problem(s), first: {problems[0]}); "
                              "erase only from an intact release")
        matched = select(out, manifest, selector)
        if not matched:
            raise NothingMatched(f"0 matched ({selector.kind}, {len(selector.values)} value(s)); nothing changed")
        todo = plan(out, manifest, matched)
        version = _commit(out, data, manifest, todo, selector, reason, erasure_id)
        return ForgetResult(out, todo, version, False)
    finally:
        lock.release()


def _remove_uncommitted_shards(out: str, manifest: dict) -> None:
    """Shard files an interrupted erasure or run moved into OUT but no manifest lists."""
    listed = {e.get("path") for e in manifest["outputs"] if isinstance(e, dict)}
    for rel in list_files(out):
        if SHARD_PATH.match(rel) and rel not in listed:
            outdir.delete_quietly(FileSystems.join(out, rel))


def _commit(out: str, data: bytes, manifest: dict, todo: Plan, selector: Selector, reason: str, erasure_id: str) -> int:
    fields = versions.next_version_fields(out, data, versions.ERASURE)
    version = fields["version"]
    written: list[str] = []
    replaced: dict[str, dict] = {}
    removed_docs: list = []
    staging = FileSystems.join(out, STAGING, erasure_id)
    try:
        # Written under staging (run machinery, which readers and verify ignore), then moved beside
        # the old shards just before the manifest commits.
        try:
            FileSystems.mkdirs(staging)
        except IOError:
            pass  # an object store without folders
        staged = {}
        for rel in sorted(todo.masks):
            staged[rel] = FileSystems.join(staging, rel.replace("/", "-"))
            stats = _rewrite(out, rel, staged[rel], todo.masks[rel], version, removed_docs)
            replaced[rel] = {"path": _new_name(rel, erasure_id), **stats}
        for rel, entry in replaced.items():
            written.append(entry["path"])
            FileSystems.rename([staged[rel]], [FileSystems.join(out, entry["path"])])
        for table in {rel.split("/", 1)[0] for rel in replaced}:
            sync_local(FileSystems.join(out, table))
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        entry = {
            "version": version,
            "at": now,
            "reason": reason,
            "selector": selector.describe(),
            "removed": dict(todo.removed),
            "id_sha256": todo.id_hashes(),
        }
        new = {k: v for k, v in manifest.items() if k != "signature"}
        new.update(fields)
        new["created_at"] = now
        # The data card counted the documents being erased: it leaves with them (curate report makes a new one).
        new["outputs"] = [replaced.get(e.get("path"), e) if isinstance(e, dict) else e
                          for e in manifest["outputs"] if not is_report_entry(e)]
        stale_report = any(is_report_entry(e) for e in manifest["outputs"])
        new["summary"] = _summary_after(manifest["summary"], todo.removed, removed_docs)
        new["erasures"] = [*(manifest.get("erasures") or []), entry]
        written.append(versions.archive(out, fields["parent"]["version"], data))
        write_manifest(out, new)  # the commit point
    except BaseException:
        current = versions.read_bytes(FileSystems.join(out, MANIFEST))
        if current is not None and current != data:
            raise  # failed after the commit point: the new version stands; the next forget or run tidies up
        for rel in written:
            outdir.delete_quietly(FileSystems.join(out, rel))
        outdir.remove_leftovers(out)  # staging, the half-written manifest, the archive of the current version
        raise
    outdir.remove_leftovers(out)
    if stale_report and _delete(out, REPORT):
        _LOG.warning("%s of version %d could not be removed; it is no longer listed in the manifest", REPORT, version - 1)
    left = [rel for rel in replaced if _delete(out, rel)]
    if left:
        _LOG.warning("%d shard file(s) of version %d could not be removed; the next forget or --overwrite run removes them",
                     len(left), version - 1)
    return version


def _delete(out: str, rel: str) -> bool:
    """Delete an old shard after the commit; True when it could not be."""
    try:
        FileSystems.delete([FileSystems.join(out, rel)])
    except OSError:
        return True
    return False


def format_result(result: ForgetResult) -> str:
    p = result.plan
    counts = (f"{p.removed['documents']} document(s), {p.removed['signatures']} signature(s), "
              f"{p.removed['trajectories']} trajectory sample(s), {p.removed['quarantine']} quarantine row(s); "
              f"{p.decisions} decisions row(s) keep their audit columns without content")
    if result.dry_run:
        lines = [f"dry run: {len(p.doc_ids)} matched; would remove {counts}; nothing changed",
                 f"shards that would be rewritten: {len(p.masks)}",
                 "matched ids (sha256 of doc_id):"]
        lines.extend(f"  {h}" for h in p.id_hashes())
        return "\n".join(lines)
    return (f"erased {len(p.doc_ids)} matched: removed {counts}; {len(p.masks)} shard(s) rewritten; "
            f"{result.out} is now version {result.version} (curate log {result.out})")
