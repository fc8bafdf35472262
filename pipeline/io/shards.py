"""Bounded, atomically committed zstd Parquet shards.

Workers buffer rows and write each shard in one go under the run's staging folder
(``OUT/_staging/<run_id>/<table>/<uuid>.parquet``), hashing the bytes as they are written; each shard
is described by a small info dict (table, path, rows, bytes, sha256, first_key). After the pipeline
finishes, :func:`commit_shards` renames the staged files to ``OUT/<table>/part-NNNNN.parquet`` in a
deterministic order (by first key), so shard names never depend on worker ids or timing. Nothing
under ``OUT/<table>/`` exists until the run has succeeded; manifest.json is written after that.

Every path goes through Beam's FileSystems, so OUT may be local, gs:// or s3://.
"""
from __future__ import annotations

import hashlib
import io
import operator
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.records import TABLE_SCHEMAS

PARQUET_COMPRESSION = "zstd"


def encode_table(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return sink.getvalue()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path) as fh:
        fh.write(data)


def table_for(name: str, rows: list[dict], run_id: str) -> pa.Table:
    schema = TABLE_SCHEMAS[name].with_metadata({"run_id": run_id, "table": name})
    if not rows:
        return schema.empty_table()
    getter = operator.itemgetter(*schema.names)
    columns = list(zip(*map(getter, rows)))  # row dicts → column tuples in one C-level pass
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)


# The one large field per table dominates a row's size; the rest is a small constant.
_SIZE_FIELD = {"documents": "text", "quarantine": "raw", "trajectories": "thinking"}
_ROW_OVERHEAD = 256


class _ShardWriterFn(beam.DoFn):
    def __init__(self, table: str, staging: str, max_rows: int, max_bytes: int, run_id: str, key: str | None):
        self._table = table
        self._staging = staging
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._run_id = run_id
        self._key = key

    def start_bundle(self):
        self._rows: list[dict] = []
        self._bytes = 0

    def setup(self):
        from pipeline.runtime import tune_gc

        tune_gc()
        self._size_field = _SIZE_FIELD.get(self._table)

    def process(self, element):
        rows = element if isinstance(element, list) else (element,)
        field = self._size_field
        for row in rows:
            self._rows.append(row)
            self._bytes += _ROW_OVERHEAD + (len(row.get(field) or "") if field else 0)
            if len(self._rows) >= self._max_rows or self._bytes >= self._max_bytes:
                yield self._flush()

    def finish_bundle(self):
        if self._rows:
            yield WindowedValue(self._flush(), MIN_TIMESTAMP, [GlobalWindow()])

    def _flush(self) -> dict:
        rows, self._rows, self._bytes = self._rows, [], 0
        if self._key:
            rows.sort(key=lambda r: r.get(self._key) or "")
        data = encode_table(table_for(self._table, rows, self._run_id))
        path = FileSystems.join(self._staging, self._table, f"{uuid.uuid4().hex}.parquet")
        write_bytes(path, data)
        return {
            "table": self._table,
            "path": path,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "first_key": (rows[0].get(self._key) or "") if self._key else "",
        }


class WriteShards(beam.PTransform):
    """Rows (dicts, or lists of dicts) → staged Parquet shards; emits one info dict per shard."""

    def __init__(self, table: str, staging: str, run_config, run_id: str, sort_key: str | None = None):
        super().__init__()
        self._args = (table, staging, run_config.shard_max_rows, run_config.shard_max_bytes, run_id, sort_key)

    def expand(self, rows):
        return rows | beam.ParDo(_ShardWriterFn(*self._args))


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def commit_shards(out: str, infos: list[dict], run_id: str, tables: list[str]) -> list[dict]:
    """Rename staged shards to their final names; every table gets at least one (possibly empty) shard.

    Returns the outputs list for the manifest: path (relative to OUT), rows, bytes, sha256.
    """
    outputs = []
    for table in tables:
        mine = sorted((i for i in infos if i["table"] == table), key=lambda i: (i["first_key"], i["sha256"]))
        try:
            FileSystems.mkdirs(FileSystems.join(out, table))
        except IOError:
            pass  # exists already, or an object store without folders
        if not mine:
            # An empty, typed shard keeps the schema queryable (audit views never hit a missing glob).
            data = encode_table(table_for(table, [], run_id))
            final = FileSystems.join(out, table, shard_name(0))
            write_bytes(final, data)
            outputs.append(_output(out, final, 0, data))
            continue
        for index, info in enumerate(mine):
            final = FileSystems.join(out, table, shard_name(index))
            FileSystems.rename([info["path"]], [final])
            outputs.append(
                {"path": _relative(out, final), "rows": info["rows"], "bytes": info["bytes"], "sha256": info["sha256"]}
            )
    return outputs


def _output(out: str, path: str, rows: int, data: bytes) -> dict:
    return {"path": _relative(out, path), "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _relative(out: str, path: str) -> str:
    prefix = out.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path
