"""The one mechanism that turns every stage's verdicts into kept batches and decisions rows.

``RecordStage`` wraps any :class:`~pipeline.stages.base.StageCore` in a composite PTransform:
the main output carries batches (lists) of kept records on to the next stage; the ``decisions``
output carries one decisions row per record the stage dropped or quarantined. A core that raises on
one record quarantines that record (reason ``stage_error``) instead of failing the run. Stage
counts are derived from the decisions themselves, so every number traces back to rows.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import time
from typing import Callable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline.runtime import tune_process
from pipeline.saferegex import RuleTimeout
from pipeline.records import DROP, K_FLAGS, K_NOTES, KEEP, QUARANTINE, Reason, decision_row
from pipeline.stages.base import StageCore, Verdict

DECISIONS = "decisions"
KEPT = "kept"
# Beam metrics namespace: one counter per (stage, action, reason), named "stage/action/reason"
# ("stage/keep/kept" for records passed on), live on a Dataflow or Dask dashboard.
METRICS_NAMESPACE = "curation_pipeline"

_LOG = logging.getLogger(__name__)

# A folder: every process running stage cores keeps their CPU seconds there (stage-cpu-<pid>.json,
# rewritten after each batch; a worker ends without a chance to write on exit). For
# benchmarks/stage_cpu.py --cores: which stage a multi-worker run spends its extra CPU in.
STAGE_CPU_ENV = "CURATE_STAGE_CPU"
_stage_cpu: dict[str, list] = {}  # stage → [CPU seconds of its batch calls, records]


def _count_stage_cpu(folder: str, stage: str, seconds: float, records: int) -> None:
    entry = _stage_cpu.setdefault(stage, [0.0, 0])
    entry[0] += seconds
    entry[1] += records
    path = os.path.join(folder, f"stage-cpu-{os.getpid()}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump({k: {"cpu_s": round(v[0], 4), "records": v[1]} for k, v in _stage_cpu.items()}, fh)
    os.replace(path + ".tmp", path)


def apply_verdicts(
    core_name: str, records: list[dict], verdicts: list[Verdict], run_id: str
) -> tuple[list[dict], list[dict]]:
    """Split a batch by its verdicts into (kept records, decisions rows). Pure; tests call it."""
    if len(verdicts) != len(records):
        raise RuntimeError(f"stage {core_name} returned {len(verdicts)} verdicts for {len(records)} records")
    kept: list[dict] = []
    rows: list[dict] = []
    for record, verdict in zip(records, verdicts):
        if verdict.action == KEEP:
            if verdict.detail:
                record[K_NOTES][core_name] = verdict.detail
            if verdict.reason:
                record[K_FLAGS].append(verdict.reason)
            kept.append(record)
        else:
            rows.append(
                decision_row(
                    record,
                    action=verdict.action,
                    stage=core_name,
                    reason=verdict.reason or "unspecified",
                    detail=verdict.detail,
                    dup_of=verdict.dup_of,
                    run_id=run_id,
                )
            )
    return kept, rows


def stage_error_verdict(stage: str, record: dict, exc: BaseException) -> Verdict:
    """The quarantine verdict for a record a stage failed on. Only the exception type (and, for a
    rule that timed out, the rule's name) is kept: exception messages may quote the text, and so
    raw personal data."""
    detail = {"error": type(exc).__name__}
    rule = getattr(exc, "rule", None) if isinstance(exc, RuleTimeout) else None
    if rule:
        detail["rule"] = rule
    _LOG.warning("stage %s failed on doc %s: %s%s", stage, record.get("doc_id"), type(exc).__name__, f" (rule {rule})" if rule else "")
    return Verdict(QUARANTINE, Reason.STAGE_ERROR, detail)


class InvalidVerdict(TypeError):
    """A core returned something other than a Verdict with action keep, drop or quarantine."""


_ACTIONS = frozenset((KEEP, DROP, QUARANTINE))


def _checked(core: StageCore, record: dict, verdict) -> Verdict:
    # Plugin cores are third-party code: a malformed verdict quarantines its record, not the run.
    if isinstance(verdict, Verdict) and verdict.action in _ACTIONS:
        return verdict
    return stage_error_verdict(core.name, record, InvalidVerdict())


def run_core_on_batch(core: StageCore, records: list[dict], run_id: str) -> tuple[list[dict], list[dict]]:
    """Run a core on a batch; if the batch call fails (or returns a verdict count other than one
    per record), isolate the failing record(s)."""
    cpu_folder = os.environ.get(STAGE_CPU_ENV)
    started = time.thread_time() if cpu_folder else 0.0  # the bundle's thread: a worker runs several
    try:
        verdicts = list(core.process_batch(records))
        if len(verdicts) != len(records):
            raise InvalidVerdict()
    except Exception:  # noqa: BLE001 - isolate per record below
        verdicts = []
        for record in records:
            try:
                verdicts.append(core.process(record))
            except Exception as exc:  # noqa: BLE001 - one bad record must not fail the run
                # Only the exception type: messages may quote the text (and so raw PII).
                verdicts.append(stage_error_verdict(core.name, record, exc))
    verdicts = [_checked(core, record, verdict) for record, verdict in zip(records, verdicts)]
    out = apply_verdicts(core.name, records, verdicts, run_id)
    if cpu_folder:
        _count_stage_cpu(cpu_folder, core.name, time.thread_time() - started, len(records))
    return out


def metric_name(stage: str, action: str, reason: str | None) -> str:
    return f"{stage}/{action}/{reason or Reason.KEPT}"


class StageDoFn(beam.DoFn):
    def __init__(self, core_factory: Callable[[], StageCore], run_id: str) -> None:
        self._core_factory = core_factory
        self._run_id = run_id
        self._core: StageCore | None = None
        self._counters: dict = {}

    def setup(self) -> None:
        tune_process()
        self._core = self._core_factory()
        self._core.setup()

    def _count(self, action: str, reason: str | None, n: int) -> None:
        key = (action, reason)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Metrics.counter(METRICS_NAMESPACE, metric_name(self._core.name, action, reason))
        counter.inc(n)

    def process(self, batch: list[dict]):
        kept, rows = run_core_on_batch(self._core, batch, self._run_id)
        if kept:
            self._count(KEEP, None, len(kept))
        removed: dict = {}
        for row in rows:
            key = (row["action"], row["reason"])
            removed[key] = removed.get(key, 0) + 1
            yield pvalue.TaggedOutput(DECISIONS, row)
        for (action, reason), n in removed.items():
            self._count(action, reason, n)
        if rows:
            progress.add(progress.DROPPED, len(rows))
        if kept:
            yield kept

    def finish_bundle(self):
        progress.flush()  # the run's last progress line shows every bundle's counts


class RecordStage(beam.PTransform):
    """A per-record stage: batches in; ``kept`` batches and ``decisions`` rows out.

    Subclasses set ``core_class``. Usage::

        out = batches | "license" >> LicenseStage(config, run_id)
        out.kept, out.decisions
    """

    core_class: type[StageCore]

    def __init__(self, config, run_id: str) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id

    @classmethod
    def from_factory(cls, core_factory: Callable[[], StageCore], config, run_id: str) -> "RecordStage":
        """A stage whose core is built by ``core_factory`` on each worker (plugin stages)."""
        stage = cls(config, run_id)
        stage._core_factory = core_factory
        return stage

    def expand(self, batches):
        # A partial of the class and config, not a bound method: the DoFn must pickle small.
        factory = getattr(self, "_core_factory", None) or functools.partial(self.core_class, self._config)
        return batches | beam.ParDo(StageDoFn(factory, self._run_id)).with_outputs(DECISIONS, main=KEPT)
