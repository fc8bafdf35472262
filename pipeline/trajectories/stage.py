"""The trajectory stage: prompts → teacher → validated thinking-trajectory samples.

Input: batches of the final curated documents (kept, PII-scrubbed). Outputs ``.samples`` (rows of
``records.TRAJECTORIES_SCHEMA``, plus a ``license`` key inherited from the sources) and
``.decisions`` (one row per candidate, stage ``trajectory``: ``keep``/``kept`` or ``drop`` with the
first failed check as reason, every failed check in detail).

    prompts:  seeds (trajectories.seeds) ─┐
              documents × templates ──────┼→ source join → near-duplicate prompts → teacher ─┐
    replay (teacher.backend: replay) ─────┘   (CoGroupByKey)   (MinHash LSH, GroupByKey)     ├→ checks
                                                                   replay candidates ────────┘

Each arrow is a named sub-transform of :class:`TrajectoryStage`:

- :class:`~pipeline.trajectories.prompt_sources.ReadPromptFiles`,
  :class:`~pipeline.trajectories.prompt_sources.DocumentPrompts` and
  :class:`~pipeline.trajectories.prompt_sources.JoinSources`: where prompts come from, and
  ``source_dropped`` for those whose source documents were not all kept;
- :class:`~pipeline.trajectories.prompt_dedup.CollapseDuplicatePrompts`: ``near_duplicate_prompt``;
- :class:`AskTeacher`: ``programmatic`` or ``openai`` on batches of prompts (``teacher_error`` /
  ``no_completion`` decisions for prompts without a completion); ``replay`` candidates skip it.
  With the replay backend, seeds and document templates are not used (the replay file is the
  candidate set);
- :class:`CheckCandidates`: :class:`pipeline.trajectories.checks.Validator`.

The teacher step reports Beam counters in namespace ``curation_pipeline`` (:data:`TEACHER_COUNTERS`):
``teacher/prompts`` (sent to the teacher), ``teacher/completed`` and ``teacher/failed`` (so pending =
prompts − completed − failed), ``teacher/requests`` (HTTP requests, retries included),
``teacher/retries`` and ``teacher/connection_failures``.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline.beam_outputs import StageOutputs
from pipeline.records import DROP, KEEP, QUARANTINE, Reason
from pipeline.saferegex import RuleTimeout
from pipeline.trajectories.prompt_dedup import CollapseDuplicatePrompts
from pipeline.trajectories.prompt_sources import DocumentPrompts, JoinSources, ReadPromptFiles
from pipeline.trajectories.rows import DECISIONS, candidate_row, sample_row
from pipeline.trajectories.teachers import COMPLETION_TOO_LARGE

_LOG = logging.getLogger(__name__)
METRICS_NAMESPACE = "curation_pipeline"
TEACHER_COUNTERS = ("prompts", "completed", "failed", "requests", "retries", "connection_failures")
_TEACHER_TOTALS = ("requests_sent", "retries", "connection_failures")  # the teacher's running totals


class _TeacherFn(beam.DoFn):
    def __init__(self, config, run_id: str) -> None:
        self._config = config
        self._run_id = run_id
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, f"teacher/{name}") for name in TEACHER_COUNTERS}

    def setup(self) -> None:
        from pipeline.trajectories.teachers import make_teacher

        self._teacher = make_teacher(self._config)
        self._teacher.setup()

    def _totals(self) -> list[int]:
        return [getattr(self._teacher, name, 0) for name in _TEACHER_TOTALS]

    def teardown(self) -> None:
        close = getattr(getattr(self, "_teacher", None), "close", None)
        if close:
            close()

    def finish_bundle(self):
        progress.flush()  # the run's last progress line shows every bundle's counts

    def process(self, batch):
        self._counters["prompts"].inc(len(batch))
        progress.add(progress.TEACHER_PROMPTS, len(batch))
        before = self._totals()
        try:
            # TeacherError (401/403/404, the breaker) fails the run, by design
            results = self._teacher.complete(batch)
        finally:
            for name, old, new in zip(("requests", "retries", "connection_failures"), before, self._totals()):
                self._counters[name].inc(new - old)
        done = sum(1 for res in results if res.completions)
        self._counters["completed"].inc(done)
        self._counters["failed"].inc(len(results) - done)
        if not getattr(self._teacher, "publishes_progress", False):  # else counted prompt by prompt as each ends
            progress.add(progress.TEACHER_DONE, done)
            progress.add(progress.TEACHER_FAILED, len(results) - done)
        for item, res in zip(batch, results):
            if not res.completions:
                yield pvalue.TaggedOutput(
                    DECISIONS,
                    candidate_row(item, run_id=self._run_id, action=DROP, reason=res.error or "no_completion", detail=res.detail),
                )
                continue
            for k, completion in enumerate(res.completions):
                cand = dict(item)
                cand["sample_id"] = f"{item['prompt_id']}-{k}"
                cand["completion"] = completion
                cand["teacher"] = self._teacher.name
                yield cand


class _ValidateFn(beam.DoFn):
    def __init__(self, config, run_id: str) -> None:
        self._config = config
        self._run_id = run_id

    def setup(self) -> None:
        from pipeline.runtime import tune_gc
        from pipeline.trajectories.checks import Validator

        tune_gc()
        self._validator = Validator(self._config)
        self._validator.setup()
        self._max_completion_bytes = self._config.trajectories.teacher.max_completion_bytes

    def process(self, batch):
        for cand in batch:
            yield from validate_candidate(self._validator, cand, self._run_id, self._max_completion_bytes)


def completion_too_large(completion, max_bytes: int) -> bool:
    """More than ``max_bytes`` of UTF-8 (decided without encoding a huge text: ≤ 4 bytes a character)."""
    if not isinstance(completion, str) or len(completion) * 4 <= max_bytes:
        return False
    return len(completion) > max_bytes or len(completion.encode("utf-8", errors="replace")) > max_bytes


def validate_candidate(validator, cand: dict, run_id: str, max_completion_bytes: int | None = None):
    """Sample row (main) + keep decision, or a drop decision; an exception quarantines the candidate
    (detail: the exception type and, for a user pattern that timed out, the rule's name)."""
    if max_completion_bytes is not None and completion_too_large(cand.get("completion"), max_completion_bytes):
        detail = {"teacher": cand.get("teacher"), "max_completion_bytes": max_completion_bytes}
        yield pvalue.TaggedOutput(DECISIONS, candidate_row(cand, run_id=run_id, action=DROP, reason=COMPLETION_TOO_LARGE, detail=detail))
        return
    try:
        out = validator.validate(cand)
    except Exception as exc:  # noqa: BLE001 - one bad candidate must not fail the run
        detail = {"error": type(exc).__name__}
        if isinstance(exc, RuleTimeout):
            detail["rule"] = exc.rule
        _LOG.warning("trajectory checks failed on %s: %s%s", cand.get("sample_id"), type(exc).__name__, f" (rule {exc.rule})" if "rule" in detail else "")
        yield pvalue.TaggedOutput(DECISIONS, candidate_row(cand, run_id=run_id, action=QUARANTINE, reason=Reason.STAGE_ERROR, detail=detail))
        return
    base = {"teacher": cand.get("teacher"), "template_id": cand.get("template_id")}
    if out.accepted:
        yield sample_row(cand, out.thinking, out.answer, out.checks, run_id)
        yield pvalue.TaggedOutput(DECISIONS, candidate_row(cand, run_id=run_id, action=KEEP, reason=Reason.KEPT, detail=base))
        return
    detail = {**base, "failed": out.failed, "checks": out.checks}
    for name in out.failed:
        if name in out.details:
            detail[name] = out.details[name]
    yield pvalue.TaggedOutput(
        DECISIONS,
        candidate_row(cand, run_id=run_id, action=DROP, reason=validator.reason(out.failed[0]), detail=detail),
    )


def _in_batches(pcoll, fn: beam.DoFn, main: str, config) -> StageOutputs:
    """``fn`` on batches of ``trajectories.batch_size`` elements → ``main`` and ``decisions``."""
    batch = max(1, int(config.trajectories.batch_size))
    out = (
        pcoll
        | "batches" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch)
        | "process" >> beam.ParDo(fn).with_outputs(DECISIONS, main=main)
    )
    return StageOutputs(**{main: out[main], "decisions": out[DECISIONS]})


class _Step(beam.PTransform):
    """A part of the trajectory stage, built from the run's config and run id."""

    def __init__(self, config, run_id: str) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id


class AskTeacher(_Step):
    """Distinct prompt items → ``.candidates`` (one per completion) and ``.decisions`` for prompts
    the teacher gave no completion."""

    def expand(self, prompts):
        return _in_batches(prompts, _TeacherFn(self._config, self._run_id), "candidates", self._config)


class CheckCandidates(_Step):
    """Candidates → ``.samples`` (accepted) and ``.decisions`` (one per candidate)."""

    def expand(self, candidates):
        return _in_batches(candidates, _ValidateFn(self._config, self._run_id), "samples", self._config)


class TrajectoryStage(_Step):
    """Kept-document batches in; ``.samples`` rows and ``.decisions`` rows out."""

    def _prompt_items(self, docs) -> tuple[list, list]:
        """(item PCollections, decisions PCollections) from the configured prompt sources: the replay
        file alone with the replay backend; else the seed files and templates over kept documents."""
        cfg, run_id = self._config, self._run_id
        t = cfg.trajectories
        replay = t.teacher.backend == "replay"
        kind, paths = ("replay", [t.teacher.path]) if replay else ("seeds", t.seeds)
        items, decisions = [], []
        if paths:
            read = docs.pipeline | f"traj:{kind}" >> ReadPromptFiles(kind, paths, run_id, t.max_line_bytes)
            joined = {"prompts": read.prompts, "docs": docs} | "traj:join-sources" >> JoinSources(run_id)
            items.append(joined.prompts)
            decisions += [read.decisions, joined.decisions]
        if not replay and t.from_documents:
            items.append(docs | "traj:doc-prompts" >> DocumentPrompts(cfg))
        return items, decisions

    def expand(self, docs):
        cfg, run_id = self._config, self._run_id
        p = docs.pipeline
        items, decisions = self._prompt_items(docs)
        if not items:
            empty = p | "traj:nothing" >> beam.Create([])
            return StageOutputs(samples=empty, decisions=decisions[0] if decisions else p | "traj:no-decisions" >> beam.Create([]))
        all_items = items | "traj:items" >> beam.Flatten() if len(items) > 1 else items[0]
        unique = all_items | "traj:near-duplicate-prompts" >> CollapseDuplicatePrompts(cfg, run_id)
        decisions.append(unique.decisions)
        if cfg.trajectories.teacher.backend == "replay":
            candidates = unique.prompts
        else:
            taught = unique.prompts | "traj:teacher" >> AskTeacher(cfg, run_id)
            decisions.append(taught.decisions)
            candidates = taught.candidates
        checked = candidates | "traj:checks" >> CheckCandidates(cfg, run_id)
        decisions.append(checked.decisions)
        return StageOutputs(samples=checked.samples, decisions=decisions | "traj:decisions" >> beam.Flatten())


def check_config(config) -> None:
    """Driver-side checks of the trajectories settings and user patterns (a ``ConfigError``, exit 2,
    before OUT is touched): the size caps are positive; checks.yaml's answer markers compile."""
    from pipeline.config import ConfigError
    from pipeline.saferegex import RulePatternError
    from pipeline.trajectories.checks import answer_markers, load_checks

    t = config.trajectories
    for key, value in (("max_line_bytes", t.max_line_bytes), ("teacher.max_completion_bytes", t.teacher.max_completion_bytes), ("teacher.max_response_bytes", t.teacher.max_response_bytes)):
        if value < 1:
            raise ConfigError(f"config key 'trajectories.{key}' must be a positive number of bytes, got {value}")
    path = config.rule_file("trajectories/checks.yaml")
    try:
        answer_markers(load_checks(path))
    except RulePatternError as exc:
        raise ConfigError(f"rules file {path}: {exc}") from None
