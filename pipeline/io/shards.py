"""Bounded, atomically committed zstd Parquet shards.

Workers buffer rows as Arrow record batches and write each shard, sorted by its key, in row groups
of about ``ROW_GROUP_BYTES`` under the run's staging folder
(``OUT/_staging/<run_id>/<table>/<uuid>.parquet``), hashing the bytes as they are written; each shard
is described by a small info dict (table, path, rows, bytes, sha256, first_key). After the pipeline
finishes, :func:`commit_shards` renames the staged files to ``OUT/<table>/part-NNNNN.parquet`` in a
deterministic order (by first key), so shard names never depend on worker ids or timing (a run
replacing a release whose files hold those names appends its run id). Nothing of a run reaches
``OUT/<table>/`` until its pipeline has succeeded; manifest.json is written after that.

Every path goes through Beam's FileSystems, so OUT may be local, gs:// or s3://.
"""
from __future__ import annotations

import hashlib
import io
import operator
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.records import TABLE_SCHEMAS
from pipeline.runtime import interrupts_held
from pipeline.tokens import language_totals

PARQUET_COMPRESSION = "zstd"


def encode_table(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, table.schema, compression=PARQUET_COMPRESSION) as writer:
        # An empty table gets no row group at all: Hugging Face datasets reads a file's first row
        # group size as its batch size and fails on a zero-row group.
        if table.num_rows:
            writer.write_table(table)
    return sink.getvalue()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path) as fh:
        fh.write(data)


def rows_to_batch(name: str, rows: list[dict]) -> pa.RecordBatch:
    """Row dicts → one Arrow record batch of table ``name`` (schema without metadata)."""
    schema = TABLE_SCHEMAS[name]
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=schema)
    getter = operator.itemgetter(*schema.names)
    columns = list(zip(*map(getter, rows)))  # row dicts → column tuples in one C-level pass
    return pa.RecordBatch.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)


def table_for(name: str, rows: list[dict], run_id: str) -> pa.Table:
    schema = TABLE_SCHEMAS[name].with_metadata({"run_id": run_id, "table": name})
    if not rows:
        return schema.empty_table()
    return pa.Table.from_batches([rows_to_batch(name, rows)]).replace_schema_metadata(schema.metadata)


class _HashingSink:
    """A write-only file object for ``pq.write_table``: forwards to a Beam FileSystems handle and
    hashes/counts the bytes on the way, so a shard is never held encoded in memory as a whole."""

    closed = False

    def __init__(self, fh):
        self._fh = fh
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        n = memoryview(data).nbytes
        self._sha.update(data)
        self._fh.write(data)
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def sha256(self) -> str:
        return self._sha.hexdigest()


# The one large field per table dominates a row's size; the rest is a small constant.
_SIZE_FIELD = {"documents": "text", "quarantine": "raw", "trajectories": "thinking"}
_ROW_OVERHEAD = 256
# Tables whose shards also report row counts by these columns (the manifest's stage_counts).
_COUNTED = {"decisions": ("stage", "action", "reason")}


def count_rows(table: pa.Table, columns: tuple[str, ...]) -> list[list]:
    """``[[value, ..., n], ...]``: the number of rows for each combination of ``columns``."""
    if not table.num_rows:
        return []
    grouped = table.select(list(columns)).group_by(list(columns), use_threads=False).aggregate(
        [(columns[0], "count", pc.CountOptions(mode="all"))]
    )
    n = grouped.column(f"{columns[0]}_count").to_pylist()
    keys = [grouped.column(c).to_pylist() for c in columns]
    return [[*k, c] for *k, c in zip(*keys, n)]


# Row dicts are converted to Arrow every this many rows: as Python objects a row costs several
# times its Arrow form (a signature row's 128 ints most of all).
_PENDING_ROWS = 1024
# A shard is written in row groups of about this many bytes (same accounting as max_bytes).
ROW_GROUP_BYTES = 32 * 1024 * 1024


def take_rows(batches: list[pa.RecordBatch], firsts: np.ndarray, rows: np.ndarray, release: bool = False) -> pa.Table:
    """Rows ``rows`` (row numbers over ``batches`` in turn, in any order; ``firsts[i]`` is batch
    ``i``'s first row number) as a one-chunk table in that order. Copies only those rows: each
    batch gives its rows in one take, then one take puts them in order. ``release``: empties
    ``batches`` once their rows are taken (the last rows wanted from them), so the buffered batches
    are freed before the rows are put in order."""
    rows = np.asarray(rows, dtype=np.int64)
    which = np.searchsorted(firsts, rows, side="right") - 1  # a row's batch (empty batches skipped)
    by_batch = np.argsort(which, kind="stable")
    grouped = which[by_batch]
    bounds = np.searchsorted(grouped, np.arange(len(batches) + 1))
    schema = batches[0].schema
    parts = [batches[b].take(pa.array(rows[by_batch[lo:hi]] - firsts[b]))
             for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])) if hi > lo]
    if release:
        batches.clear()
    gathered = pa.Table.from_batches(parts, schema=schema).combine_chunks()
    del parts
    position = np.empty(len(rows), dtype=np.int64)  # where each wanted row sits in ``gathered``
    position[by_batch] = np.arange(len(rows))
    return gathered.take(pa.array(position))


class _ShardWriterFn(beam.DoFn):
    """Buffers a bundle's rows as Arrow record batches; writes a shard whenever it reaches
    ``max_rows`` rows or ``max_bytes`` (the table's large field in bytes + a per-row constant).

    Elements are row dicts, lists of row dicts, or ``pa.RecordBatch``es of the table's schema (what
    the output step emits); arrival order is kept up to the final stable sort by ``key``.

    A full shard is put in order here, one row group at a time; each row group is encoded,
    compressed and written on a helper thread (Parquet encoding, zstd and the file write release the
    GIL) while the next one is gathered, and the shard's last row groups are written while the next
    shard fills. At most two row groups are in flight (the one being written, the one gathered), so
    a worker holds one shard and a row group more, never two shards. A shard's info is emitted once
    it is written: at the next shard's flush or at the bundle's end."""

    def __init__(self, table: str, staging: str, max_rows: int, max_bytes: int, run_id: str, key: str | None):
        self._table = table
        self._staging = staging
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._run_id = run_id
        self._key = key

    def setup(self):
        from pipeline.runtime import tune_process

        tune_process()
        self._size_field = _SIZE_FIELD.get(self._table)
        self._schema = TABLE_SCHEMAS[self._table]
        self._metadata = {"run_id": self._run_id, "table": self._table}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shard-writer-{self._table}")

    def teardown(self):
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.shutdown(wait=True)

    def start_bundle(self):
        self._writing = None  # the Future of the shard being written (its info)
        self._pending: list[dict] = []  # row dicts not yet converted, after every batch
        self._batches: list[pa.RecordBatch] = []
        self._rows = 0
        self._bytes = 0

    def process(self, element):
        if isinstance(element, pa.RecordBatch):
            yield from self._add_batch(element)
            return
        rows = element if isinstance(element, list) else (element,)
        field = self._size_field
        for row in rows:
            self._pending.append(row)
            self._rows += 1
            self._bytes += _ROW_OVERHEAD + (len(row.get(field) or "") if field else 0)
            if self._rows >= self._max_rows or self._bytes >= self._max_bytes:
                yield from self._flush()
            elif len(self._pending) >= _PENDING_ROWS:
                self._convert_pending()

    def _convert_pending(self) -> None:
        if self._pending:
            self._batches.append(rows_to_batch(self._table, self._pending))
            self._pending = []

    def _add_batch(self, rb: pa.RecordBatch):
        n = rb.num_rows
        if not n:
            return
        if rb.schema != self._schema:
            rb = pa.RecordBatch.from_arrays(rb.columns, schema=self._schema)
        self._convert_pending()
        if self._size_field:
            lengths = pc.binary_length(rb.column(self._size_field)).fill_null(0).to_numpy(zero_copy_only=False)
            cum = np.cumsum(lengths.astype(np.int64) + _ROW_OVERHEAD)
        else:
            cum = np.arange(1, n + 1, dtype=np.int64) * _ROW_OVERHEAD
        pos = 0
        while pos < n:
            before = int(cum[pos - 1]) if pos else 0
            # the same rule as row by row: a shard closes at the first row that reaches a bound
            cut_rows = self._max_rows - self._rows - 1
            cut_bytes = int(np.searchsorted(cum[pos:], self._max_bytes - self._bytes + before, side="left"))
            cut = min(cut_rows, cut_bytes)
            if cut >= n - pos:
                self._batches.append(rb.slice(pos) if pos else rb)
                self._rows += n - pos
                self._bytes += int(cum[-1]) - before
                return
            self._batches.append(rb.slice(pos, cut + 1))
            self._rows += cut + 1
            pos += cut + 1
            yield from self._flush()

    def finish_bundle(self):
        infos = list(self._flush()) if self._rows else []
        if self._writing is not None:
            infos.append(self._writing.result())
            self._writing = None
        for info in infos:
            yield WindowedValue(info, MIN_TIMESTAMP, [GlobalWindow()])

    def _flush(self) -> Iterator[dict]:
        """Write the buffered rows as one shard (its last row groups still being written when this
        returns), after the info of the shard written before it."""
        shard = self._take_buffered()
        previous, self._writing = self._writing, None
        if previous is not None:
            yield previous.result()  # its last row groups were written while this shard filled
        self._writing = self._write_shard(*shard)

    def _take_buffered(self) -> tuple[list[pa.RecordBatch], int]:
        """The buffered rows as batches, and their accounted bytes; the buffer starts over."""
        self._convert_pending()
        batches, self._batches = self._batches, []
        size, self._rows, self._bytes = self._bytes, 0, 0
        return batches, size

    def _write_shard(self, batches: list[pa.RecordBatch], size: int) -> Future:
        """Write ``batches`` (``size``: their accounted bytes) as one shard: its rows put in order
        here, row group by row group, each row group written on the helper thread while the next is
        gathered. The Future of the shard's info, done once the helper has closed the file."""
        table = pa.Table.from_batches(batches, schema=self._schema)
        n = table.num_rows
        extra = {}
        if self._table in _COUNTED:
            extra["counts"] = count_rows(table, _COUNTED[self._table])
        if self._table == "documents":  # the summary's per-language docs, bytes and estimated tokens
            extra["langs"] = language_totals(table)
        # Sorted by key (stable: equal keys keep their arrival order; a missing key sorts as ""),
        # gathered from the buffered batches and written one row group at a time: only a row
        # group is ever copied, never the whole shard, and the batches are let go before the
        # last row group is put in order.
        order = None
        if self._key:
            order = pc.sort_indices(table.column(self._key).fill_null("")).to_numpy()
            firsts = np.cumsum([0] + [b.num_rows for b in batches], dtype=np.int64)
            del table  # ``batches`` is then the only holder of the rows (take_rows releases it)
        per_group = n if size <= ROW_GROUP_BYTES else max(1, n * ROW_GROUP_BYTES // size)
        path = FileSystems.join(self._staging, self._table, f"{uuid.uuid4().hex}.parquet")
        first = None
        fh = FileSystems.create(path)
        sink = _HashingSink(fh)
        writer = pq.ParquetWriter(sink, self._schema.with_metadata(self._metadata), compression=PARQUET_COMPRESSION)

        def close() -> None:
            writer.close()
            fh.close()

        written = None  # the Future of the row group being written
        try:
            for start in range(0, n, per_group):
                if order is None:
                    part = table.slice(start, per_group)
                else:
                    part = take_rows(batches, firsts, order[start : start + per_group], release=start + per_group >= n)
                if start == 0 and self._key:
                    first = part.column(self._key)[0].as_py()
                if written is not None:
                    written.result()  # one row group written at a time, one gathered beside it
                with interrupts_held():  # the Future is ours before a signal's exception can unwind to close()
                    written = self._writer.submit(writer.write_table, part)
                del part
        except BaseException:
            if written is not None:
                written.exception()  # wait for the helper before the file is closed under it
            close()
            raise

        def finish() -> dict:
            # runs on the helper after the shard's last row group (a failed write fails the shard)
            try:
                if written is not None:
                    written.result()
            finally:
                close()
            return {
                "table": self._table,
                "path": path,
                "rows": n,
                "bytes": sink.size,
                "sha256": sink.sha256(),
                "first_key": first or "",
                **extra,
            }

        return self._writer.submit(finish)


class WriteShards(beam.PTransform):
    """Rows (dicts, lists of dicts, or Arrow record batches) → staged Parquet shards; emits one info dict per shard."""

    def __init__(self, table: str, staging: str, run_config, run_id: str, sort_key: str | None = None):
        super().__init__()
        self._args = (table, staging, run_config.shard_max_rows, run_config.shard_max_bytes, run_id, sort_key)

    def expand(self, rows):
        return rows | beam.ParDo(_ShardWriterFn(*self._args))


def sync_local(path: str) -> None:
    """fsync a local file or folder (durable before the manifest commits); object stores: nothing to do."""
    if FileSystems.get_scheme(path) not in (None, "file"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def shard_name(index: int, run_id: str | None = None) -> str:
    return f"part-{index:05d}.parquet" if run_id is None else f"part-{index:05d}-{run_id}.parquet"


def commit_shards(out: str, infos: list[dict], run_id: str, tables: list[str], taken: frozenset[str] = frozenset()) -> list[dict]:
    """Move staged shards to their final names; every table gets at least one (possibly empty) shard.

    ``taken`` holds the paths (relative to OUT) of the release being replaced: its files must stay
    readable until the new manifest commits, so a table whose plain names ``part-NNNNN.parquet``
    are taken gets ``part-NNNNN-<run_id>.parquet`` instead. Returns the outputs list for the
    manifest: path (relative to OUT), rows, bytes, sha256.
    """
    outputs = []
    for table in tables:
        mine = sorted((i for i in infos if i["table"] == table), key=lambda i: (i["first_key"], i["sha256"]))
        try:
            FileSystems.mkdirs(FileSystems.join(out, table))
        except IOError:
            pass  # exists already, or an object store without folders
        count = max(len(mine), 1)
        clash = any(f"{table}/{shard_name(i)}" in taken for i in range(count))
        names = [shard_name(i, run_id if clash else None) for i in range(count)]
        if not mine:
            # An empty, typed shard keeps the schema queryable (audit views never hit a missing glob).
            data = encode_table(table_for(table, [], run_id))
            final = FileSystems.join(out, table, names[0])
            write_bytes(final, data)
            sync_local(final)
            outputs.append(_output(out, final, 0, data))
        for name, info in zip(names, mine):
            final = FileSystems.join(out, table, name)
            FileSystems.rename([info["path"]], [final])
            sync_local(final)
            outputs.append(
                {"path": _relative(out, final), "rows": info["rows"], "bytes": info["bytes"], "sha256": info["sha256"]}
            )
        sync_local(FileSystems.join(out, table))
    return outputs


def _output(out: str, path: str, rows: int, data: bytes) -> dict:
    return {"path": _relative(out, path), "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _relative(out: str, path: str) -> str:
    prefix = out.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path
