"""The one place the Beam graph is wired from the config, stage by stage.

    ingest → license → langid → quality → pii  ─┬→ dedup (first shuffle) → documents, signatures
                                                 └→ trajectories (when enabled)
    every stage's drops/quarantines ──────────────→ decisions

Per-record stages are fused ParDos over batches of records and all run before the first shuffle;
PII is scrubbed before any text is shuffled or written (quarantine excerpts, ids, URLs, copyright
notices and the decisions rows of records dropped before the PII stage included). Kept records
leave the graph as Arrow record batches (documents and their final `keep` decisions, built column by
column) straight into shard writers fused with the output step. Small run metadata (input stats and
shard infos, decision counts included) is gathered by one combiner-lifted CombineGlobally into one
JSON file next to the staged shards and read back by the driver to commit the run.
"""
from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from apache_beam import pvalue, typehints
from apache_beam.io.filesystems import FileSystems

from pipeline import progress
from pipeline.config import Config
from pipeline.io.shards import WriteShards
from pipeline.records import output_batches, output_batches_of_ingest
from pipeline.tokens import add_language_totals

from pipeline.stages import registry

# Stages, their order and their config sections are declared once, in pipeline.stages.registry.
TRAJECTORY_STAGE = "pipeline.trajectories.stage:TrajectoryStage"
TABLES = ["documents", "decisions", "quarantine", "signatures", "trajectories"]
META_DIR = "_meta"
META_FILE = "run.json"


def load_transform(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def check_rules(cfg: Config) -> None:
    """Compile the user patterns of the enabled stages on the driver, before OUT is touched: a
    pattern that does not compile is a ``ConfigError`` (exit 2) naming the rules file and the rule."""
    registry.check_plugins(cfg)
    for info in registry.record_stages():
        check = getattr(info.transform, "check_rules", None)  # a stage's own driver-side check
        if check is not None and info.enabled(cfg):
            check(cfg)
    if cfg.trajectories.enabled:
        from pipeline.trajectories.stage import check_config

        check_config(cfg)


def stage_switches(cfg: Config) -> dict[str, str]:
    """"on"/"off" for every stage a config can turn on, by config section, in run order (plugin
    stages by name, where they run)."""
    plugins = {name: "on" if name in registry.enabled_plugins(cfg) else "off" for name in sorted(cfg.plugins)}
    switches = {}
    for info in registry.stages():
        if info.order > registry.PLUGIN_ORDER:
            switches.update(plugins)
            plugins = {}
        if info.config_section is not None:
            switches[info.config_section] = "on" if info.enabled(cfg) else "off"
    return switches


def enabled_stages(cfg: Config) -> list[str]:
    return [name for name, state in stage_switches(cfg).items() if state == "on"]


class _DocumentsAndKeepDecisions(beam.DoFn):
    """A batch of kept records → a documents record batch (main) and its final `keep` decisions
    record batch (``records.output_batches``: column by column, sharing the common columns)."""

    def __init__(self, run_id: str):
        self._run_id = run_id

    def process(self, batch):
        if not len(batch):
            return
        progress.add(progress.KEPT, len(batch))
        if isinstance(batch, pa.RecordBatch):  # read straight into columns (no stage on)
            docs, decisions = output_batches_of_ingest(batch, self._run_id)
        else:
            docs, decisions = output_batches(batch, self._run_id)
        yield docs
        yield pvalue.TaggedOutput("decisions", decisions)

    def finish_bundle(self):
        progress.flush()  # the run's last progress line shows every bundle's counts


_JSON_ESCAPE = re.compile(
    r"\\(?:\\|/|u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4}))"
)


def _unescape(m: re.Match) -> str:
    high, low, single = m.groups()
    if high:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single:
        code = int(single, 16)
        # control characters and lone surrogates stay escaped: they hide nothing
        return m.group(0) if code < 0x20 or 0xD800 <= code <= 0xDFFF else chr(code)
    return m.group(0) if m.group(0) == "\\\\" else "/"


def decode_json_escapes(text: str) -> str:
    """``\\uXXXX`` escapes (surrogate pairs included) and ``\\/`` decoded, so ``a\\u0040b.org``
    reads ``a@b.org``; ``\\\\`` stays, so an escaped backslash never starts a false escape. Works
    on any text, a JSON line cut mid-string included."""
    return _JSON_ESCAPE.sub(_unescape, text) if "\\" in text else text


def scrub_excerpt(engine, raw: bytes, limit: int) -> bytes:
    """A quarantine excerpt of at most ``limit`` bytes from ``raw`` (a window longer than that),
    PII-scrubbed before it is cut.

    The window is read as text with JSON escapes decoded (a ``\\u0040`` cannot hide an e-mail),
    analysed whole, and the cut moved past any finding that straddles it; only then is the prefix
    scrubbed and cut. A value cut at the boundary is therefore replaced whole, never left partly
    visible (a card number's last digits, say).
    """
    text = decode_json_escapes(raw.decode("utf-8", errors="replace"))
    cut = len(text.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
    if cut < len(text):
        for finding in engine.resolve(engine.analyze_batch([text], [None])[0]):
            if finding.start < cut < finding.end:
                cut = finding.end
        text = text[:cut]
    scrubbed, _counts = engine.scrub(text, None)
    return scrubbed.encode("utf-8")[:limit].decode("utf-8", errors="ignore").encode("utf-8")


class _ScrubQuarantine(beam.DoFn):
    """Quarantine rows keep a raw excerpt; with PII on, the excerpt is scrubbed before it is
    written — from the longer window ingest attaches (``RAW_WINDOW``), so it is scrubbed before it
    is cut (:func:`scrub_excerpt`)."""

    def __init__(self, config: Config):
        self._config = config

    def setup(self):
        from pipeline.pii.engine import PiiEngine

        from pipeline.io.splits import RAW_WINDOW

        self._engine = PiiEngine.from_config(self._config)
        self._limit = self._config.run.quarantine_raw_bytes
        self._window_key = RAW_WINDOW

    def process(self, row):
        raw = row.get(self._window_key) or row.get("raw") or b""
        row = {k: v for k, v in row.items() if k != self._window_key}
        if raw:
            try:
                row["raw"] = scrub_excerpt(self._engine, raw, self._limit)
            except Exception:  # noqa: BLE001 - fail closed: no excerpt rather than an unscrubbed one
                row["raw"] = b""
        yield row


class _RunMeta(beam.CombineFn):
    """Everything the driver needs to commit a run, in one combiner-lifted pass over small rows:
    per-split input stats (rows with ``uri``) and shard infos (rows with ``table``). Decision counts
    come from the decisions shards' infos: each writer counts the (stage, action, reason) of the
    rows it wrote, so every number traces back to rows and no decisions row crosses a shuffle
    just to be counted. Per-language totals (docs, text bytes, estimated tokens) come the same way
    from the documents shards' infos."""

    def create_accumulator(self):
        return ({}, [], [], {})

    def add_input(self, acc, element):
        counts, inputs, shards, langs = acc
        if "table" not in element:
            inputs.append(element)
            return acc
        info = dict(element)
        for stage, action, reason, n in info.pop("counts", None) or ():
            key = (stage, action, reason)
            counts[key] = counts.get(key, 0) + n
        add_language_totals(langs, info.pop("langs", None))
        shards.append(info)
        return acc

    def merge_accumulators(self, accs):
        counts, inputs, shards, langs = {}, [], [], {}
        for c, i, s, l in accs:
            for key, n in c.items():
                counts[key] = counts.get(key, 0) + n
            inputs.extend(i)
            shards.extend(s)
            add_language_totals(langs, [[lang, *v] for lang, v in l.items()])
        return counts, inputs, shards, langs

    def extract_output(self, acc):
        counts, inputs, shards, langs = acc
        return {
            "counts": [dict(stage=k[0], action=k[1], reason=k[2], n=n) for k, n in sorted(counts.items())],
            "inputs": sorted(inputs, key=lambda r: json.dumps(r, sort_keys=True, default=str)),
            "shards": sorted(shards, key=lambda r: (r["table"], r["path"])),
            "langs": [[lang, *v] for lang, v in sorted(langs.items())],
        }


class _WriteMeta(beam.DoFn):
    """Writes the one run-metadata element to a fixed name (a retried bundle rewrites the same file)."""

    def __init__(self, staging: str):
        self._staging = staging

    def process(self, meta):
        with FileSystems.create(FileSystems.join(self._staging, META_DIR, META_FILE)) as fh:
            fh.write(json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))


def records_read(cfg: Config) -> bool:
    """Whether any stage reads the records between ingest and the output step: any stage or plugin on."""
    return "on" in stage_switches(cfg).values()


@dataclass
class GraphHandles:
    staging: str


def build(p: beam.Pipeline, cfg: Config, files: list[dict], staging: str, run_id: str, read_workers: int = 0) -> GraphHandles:
    """Wire the run. ``read_workers`` is what :func:`pipeline.run.read_workers` knows of the
    runner's workers: 1 reads each input file whole, unsplit; N > 1 cuts large JSONL files so each
    of N local workers reads some; 0 (unknown) splits at ``run.split_bytes``."""
    from pipeline.io.sources import ReadInputs
    from pipeline.io.splits import COLUMNAR

    run = cfg.run
    if not records_read(cfg):  # records go from ingest straight to the output step: read as columns
        files = [{**f, COLUMNAR: True} for f in files]
    ingest = p | "ingest" >> ReadInputs(files, run, run_id, workers=read_workers, fields=cfg.ingest.paths())
    records = ingest.records
    decisions = [ingest.decisions]
    quarantine = ingest.quarantine
    if cfg.pii.enabled:
        quarantine = quarantine | "quarantine:pii" >> beam.ParDo(_ScrubQuarantine(cfg))

    for info in registry.record_stages():
        if not info.enabled(cfg):
            continue
        out = records | info.name >> info.transform(cfg, run_id)
        records = out.kept
        decisions.append(out.decisions)
    for name in registry.enabled_plugins(cfg):
        out = records | f"plugin:{name}" >> registry.plugin_transform(cfg, name, run_id)
        records = out.kept
        decisions.append(out.decisions)
    if cfg.pii.enabled:
        # Rows made before (or by) the PII stage carry the input's id and details unscrubbed; each
        # stream is scrubbed where it is made (fused with its producer, no Flatten).
        from pipeline.stages.pii import ScrubDecisionFields

        # Declared Any (what Beam infers anyway): Beam's inference would disassemble the whole
        # scrubbing code behind ``process`` for each of these, the larger part of building the graph.
        decisions = [rows | f"decisions:pii:{i}" >> beam.ParDo(ScrubDecisionFields(cfg)).with_output_types(typehints.Any)
                     for i, rows in enumerate(decisions)]

    signatures = None
    dedup = registry.get("dedup")
    if dedup.enabled(cfg):
        out = records | "dedup" >> dedup.transform(cfg, run_id, staging=staging, local=read_workers > 0)
        records = out.kept
        decisions.append(out.decisions)
        signatures = out.signatures

    final = records | "output" >> beam.ParDo(_DocumentsAndKeepDecisions(run_id)).with_outputs("decisions", main="documents")

    # Kept documents' decisions (record batches, one row per document) are written right where
    # they are made; the other decisions rows (drops, quarantines: rows from ingest and stages)
    # go to a second writer of the same table. No Flatten of the big stream: the local runner
    # materialises a Flatten whose inputs come from several producers.
    shard_infos = [
        final.documents | "write:documents" >> WriteShards("documents", staging, run, run_id, sort_key="doc_id"),
        final.decisions | "write:decisions:kept" >> WriteShards("decisions", staging, run, run_id, sort_key="doc_id"),
        quarantine | "write:quarantine" >> WriteShards("quarantine", staging, run, run_id, sort_key="doc_id"),
    ]
    if signatures is not None:
        shard_infos.append(signatures | "write:signatures" >> WriteShards("signatures", staging, run, run_id, sort_key="doc_id"))

    if cfg.trajectories.enabled:
        traj = records | "trajectories" >> load_transform(TRAJECTORY_STAGE)(cfg, run_id)
        decisions.append(traj.decisions)
        shard_infos.append(traj.samples | "write:trajectories" >> WriteShards("trajectories", staging, run, run_id, sort_key="sample_id"))

    removed = decisions[0] if len(decisions) == 1 else decisions | "decisions:flatten" >> beam.Flatten()
    shard_infos.append(removed | "write:decisions" >> WriteShards("decisions", staging, run, run_id, sort_key="doc_id"))

    (
        [ingest.inputs, *shard_infos]
        | "meta:flatten" >> beam.Flatten()
        | "meta:combine" >> beam.CombineGlobally(_RunMeta()).without_defaults()
        | "meta:write" >> beam.ParDo(_WriteMeta(staging))
    )
    return GraphHandles(staging=staging)


def read_meta(staging: str, name: str) -> list[dict]:
    """One part of the run metadata: ``counts``, ``inputs``, ``shards`` or ``langs``."""
    path = FileSystems.join(staging, META_DIR, META_FILE)
    if not FileSystems.exists(path):
        raise RuntimeError(f"run metadata {path} was not written: the pipeline did not finish")
    with FileSystems.open(path) as fh:
        return json.loads(fh.read().decode("utf-8"))[name]
