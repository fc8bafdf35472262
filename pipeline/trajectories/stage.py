"""The trajectory stage: prompts → teacher → validated thinking-trajectory samples.

Input: batches of the final curated documents (kept, PII-scrubbed). Outputs ``.samples`` (rows of
``records.TRAJECTORIES_SCHEMA``, plus a ``license`` key inherited from the sources) and
``.decisions`` (one row per candidate, stage ``trajectory``: ``keep``/``kept`` or ``drop`` with the
first failed check as reason, every failed check in detail).

    prompts:  seeds (trajectories.seeds) ─┐
              documents × templates ──────┼→ source join → near-duplicate prompts → teacher ─┐
    replay (teacher.backend: replay) ─────┘   (CoGroupByKey)   (MinHash LSH, GroupByKey)     ├→ checks
                                                                   replay candidates ────────┘

- Source join: seeds and replay lines naming ``source_doc_ids`` are joined (CoGroupByKey) against
  the kept documents, by ``doc_id`` or by the input's own ``id`` (``source_id``). A candidate whose
  sources are not all kept is dropped (``source_dropped``) and never generated; the others get the
  resolved doc_ids and inherit their licenses (several → ``A AND B``). Document prompts come from
  kept documents by construction.
- Near-duplicate prompts (``near_duplicate_prompt``) are collapsed over the whole run, before any
  teacher call: identical prompts by exact hash (GroupByKey), near-identical ones by MinHash
  signatures (pipeline.minhash, the dedup stage's shingles and num_perm) grouped on LSH band keys;
  within a bucket, a prompt whose estimated Jaccard with a smaller-id prompt reaches the threshold
  is dropped (``dup_of`` = that prompt). Replay lines sharing one prompt are samples of the same
  prompt (``n``) and stay together.
- Teacher: ``programmatic`` or ``openai`` on batches of prompts (``teacher_error`` / ``no_completion``
  decisions for prompts without a completion); ``replay`` candidates skip it. With the replay
  backend, seeds and document templates are not used (the replay file is the candidate set).
- Checks: :class:`pipeline.trajectories.checks.Validator`.
"""
from __future__ import annotations

import hashlib
import logging
import unicodedata

import apache_beam as beam
from apache_beam import pvalue

from pipeline.records import DROP, KEEP, QUARANTINE, Reason, decision_row, entries
from pipeline.saferegex import RuleTimeout
from pipeline.trajectories.teachers import COMPLETION_TOO_LARGE

STAGE = "trajectory"
DECISIONS = "decisions"
SOURCE_DROPPED = "source_dropped"
NEAR_DUPLICATE_PROMPT = "near_duplicate_prompt"

_LOG = logging.getLogger(__name__)


class _Outputs(dict):
    """Dict-like with attribute access: ``out.samples``, ``out.decisions``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# --- helpers ---------------------------------------------------------------------------------
def candidate_row(item: dict, *, run_id: str, action: str, reason: str, detail: dict | None = None, dup_of: str | None = None, doc_id: str | None = None) -> dict:
    """A decisions row for a prompt or candidate (doc_id = sample id; never any text)."""
    pseudo = {
        "doc_id": doc_id or item.get("sample_id") or item["prompt_id"],
        "source_id": item.get("source_id"),
        "source_uri": item.get("source_uri"),
        "record_index": item.get("record_index"),
        "lang": item.get("lang"),
        "lang_score": None,
        "license": item.get("license"),
        "pii_counts": {},
    }
    return decision_row(pseudo, action=action, stage=STAGE, reason=reason, run_id=run_id, detail=detail, dup_of=dup_of)


def prompt_hash(prompt: str) -> str:
    norm = " ".join(unicodedata.normalize("NFKC", prompt).casefold().split())
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).hexdigest()


def combine_licenses(licenses) -> str | None:
    found = sorted({lic for lic in licenses if lic})
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return " AND ".join(f"({x})" if " " in x else x for x in found)


def sample_row(cand: dict, thinking: str, answer: str, checks: dict[str, bool], run_id: str) -> dict:
    prompt = cand["prompt"]
    return {
        "sample_id": cand["sample_id"],
        "source_doc_ids": list(cand.get("source_doc_ids") or []),
        "prompt": prompt,
        "thinking": thinking,
        "answer": answer,
        "reference_answer": cand.get("reference_answer"),
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"<think>\n{thinking}\n</think>\n\n{answer}"},
        ],
        "lang": cand.get("lang"),
        "teacher": cand.get("teacher"),
        "template_id": cand.get("template_id"),
        "checks": entries(checks),
        "license": cand.get("license"),
        "run_id": run_id,
    }


# --- prompt sources --------------------------------------------------------------------------
class _ReadFileFn(beam.DoFn):
    """A seeds or replay file → items (main) and bad-line decisions."""

    def __init__(self, kind: str, run_id: str, max_line_bytes: int) -> None:
        self._kind = kind
        self._run_id = run_id
        self._max_line_bytes = max_line_bytes

    def process(self, path: str):
        if self._kind == "replay":
            from pipeline.trajectories.teachers.replay import BAD_REPLAY as bad, parse_replay as parser
        else:
            from pipeline.trajectories.seeds import BAD_SEED as bad, parse_seed as parser
        from pipeline.records import make_doc_id
        from pipeline.trajectories.seeds import LINE_TOO_LARGE, read_lines

        try:
            lines = list(read_lines(path, parser, self._max_line_bytes))
        except OSError as exc:
            raise RuntimeError(f"cannot read trajectories {self._kind} file {path}: {type(exc).__name__}") from None
        for index, item, error in lines:
            if item is None:
                pseudo = {"prompt_id": make_doc_id(path, index), "source_uri": path, "record_index": index}
                if error == LINE_TOO_LARGE:
                    reason, detail = LINE_TOO_LARGE, {"max_line_bytes": self._max_line_bytes}
                else:
                    reason, detail = bad, {"error": error}
                yield pvalue.TaggedOutput(DECISIONS, candidate_row(pseudo, run_id=self._run_id, action=DROP, reason=reason, detail=detail))
            else:
                item["_key"] = f"{path}\x00{index}"
                yield item


class _DocumentPromptsFn(beam.DoFn):
    def __init__(self, config) -> None:
        self._config = config

    def setup(self) -> None:
        from pipeline.trajectories.templates import DocumentTemplates, load_templates

        data = load_templates(self._config.rule_file("trajectories/templates.yaml"))
        self._templates = DocumentTemplates(data, self._config.trajectories.max_prompts_per_doc)

    def process(self, batch):
        for doc in batch:
            for item in self._templates.prompts(doc):
                item["_key"] = f"{item['source_uri']}\x00{item['record_index']}"
                yield item


def _doc_keys(batch):
    """Kept documents as join keys: their doc_id and, when different, their input id."""
    for doc in batch:
        value = (doc["doc_id"], doc.get("license"))
        yield doc["doc_id"], value
        sid = doc.get("source_id")
        if sid is not None and str(sid) != doc["doc_id"]:
            yield str(sid), value


def _refs_to_items(element):
    ref, grouped = element
    docs = list(grouped["docs"])
    for key in grouped["refs"]:
        yield key, (ref, docs)


class _JoinSourcesFn(beam.DoFn):
    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        _key, grouped = element
        sources = list(grouped["src"])
        for item in grouped["item"]:
            missing = [ref for ref, docs in sources if not docs]
            wanted = set(item["source_doc_ids"])
            if missing or len({ref for ref, _ in sources}) < len(wanted):
                n_missing = len(wanted) - sum(1 for ref, docs in sources if docs)
                yield pvalue.TaggedOutput(
                    DECISIONS,
                    candidate_row(item, run_id=self._run_id, action=DROP, reason=SOURCE_DROPPED, detail={"sources": len(wanted), "not_kept": n_missing}),
                )
                continue
            doc_ids = sorted({d for _ref, docs in sources for d, _lic in docs})
            licenses = [lic for _ref, docs in sources for _d, lic in docs]
            item["source_doc_ids"] = doc_ids
            item["license"] = combine_licenses(licenses + ([item["license"]] if item.get("license") else []))
            yield item


# --- near-duplicate prompts ------------------------------------------------------------------
class _ExactPromptFn(beam.DoFn):
    """Items sharing one prompt (normalised) → one group; duplicate *prompts* (not replay samples) drop."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        phash, items = element
        items = sorted(items, key=lambda it: (str(it.get("sample_id") or it["prompt_id"]), it["_key"]))
        keep = []
        rep = items[0]
        for it in items:
            if "completion" in it or it is rep:
                keep.append(it)
            else:
                yield pvalue.TaggedOutput(
                    DECISIONS,
                    candidate_row(it, run_id=self._run_id, action=DROP, reason=NEAR_DUPLICATE_PROMPT, detail={"exact": True}, dup_of=rep["prompt_id"]),
                )
        yield {"hash": phash, "rep": str(rep["prompt_id"]), "prompt": rep["prompt"], "lang": rep.get("lang"), "items": keep}


class _BandKeysFn(beam.DoFn):
    def __init__(self, config, threshold: float) -> None:
        self._config = config
        self._threshold = threshold

    def setup(self) -> None:
        from pipeline.minhash.minhash import MinHasher, optimal_bands

        self._hasher = MinHasher.from_config(self._config.dedup)
        self._bands, self._rows = optimal_bands(self._threshold, self._hasher.num_perm)

    def process(self, group):
        import numpy as np

        from pipeline.minhash.lsh import band_keys

        sig = self._hasher.signature(group["prompt"], group.get("lang"))
        keys = band_keys(sig[None, :], self._bands, self._rows)[0]
        payload = ((group["rep"], group["hash"]), np.asarray(sig).tobytes())
        for b, k in enumerate(keys.tolist()):
            yield f"{b}:{k:x}", payload


def _losers(threshold: float, dtype: str):
    def fn(element):
        import numpy as np

        _key, members = element
        members = sorted(set(members))
        if len(members) < 2:
            return
        sigs = [np.frombuffer(s, dtype=dtype) for _, s in members]
        for j in range(1, len(members)):
            for i in range(j):
                if float(np.count_nonzero(sigs[i] == sigs[j])) / len(sigs[j]) >= threshold:
                    # (loser hash, winner rep id)
                    yield members[j][0][1], members[i][0][0]
                    break

    return fn


class _CollapseFn(beam.DoFn):
    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, element):
        _hash, grouped = element
        winners = sorted(set(grouped["loses_to"]))
        for group in grouped["group"]:
            if winners:
                for it in group["items"]:
                    yield pvalue.TaggedOutput(
                        DECISIONS,
                        candidate_row(it, run_id=self._run_id, action=DROP, reason=NEAR_DUPLICATE_PROMPT, detail={"exact": False}, dup_of=winners[0]),
                    )
            else:
                yield from group["items"]


# --- teacher and checks ----------------------------------------------------------------------
class _TeacherFn(beam.DoFn):
    def __init__(self, config, run_id: str) -> None:
        self._config = config
        self._run_id = run_id

    def setup(self) -> None:
        from pipeline.trajectories.teachers import make_teacher

        self._teacher = make_teacher(self._config)
        self._teacher.setup()

    def teardown(self) -> None:
        close = getattr(getattr(self, "_teacher", None), "close", None)
        if close:
            close()

    def process(self, batch):
        results = self._teacher.complete(batch)  # TeacherError (401/403/404) fails the run, by design
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


# --- the composite ---------------------------------------------------------------------------
class TrajectoryStage(beam.PTransform):
    """Kept-document batches in; ``.samples`` rows and ``.decisions`` rows out."""

    def __init__(self, config, run_id: str) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id

    def expand(self, docs):
        cfg, run_id = self._config, self._run_id
        t = cfg.trajectories
        p = docs.pipeline
        replay = t.teacher.backend == "replay"
        batch = max(1, int(t.batch_size))
        decisions = []
        joinable = []  # items naming source documents
        direct = []  # items from kept documents

        def read(kind, paths):
            out = (
                p
                | f"traj:{kind}:files" >> beam.Create(list(paths))
                | f"traj:{kind}:read" >> beam.ParDo(_ReadFileFn(kind, run_id, t.max_line_bytes)).with_outputs(DECISIONS, main="items")
            )
            decisions.append(out[DECISIONS])
            joinable.append(out.items)

        if replay:
            read("replay", [t.teacher.path])
        else:
            if t.seeds:
                read("seeds", t.seeds)
            if t.from_documents:
                direct.append(docs | "traj:doc-prompts" >> beam.ParDo(_DocumentPromptsFn(cfg)))

        items = []
        if joinable:
            loaded = joinable | "traj:loaded" >> beam.Flatten() if len(joinable) > 1 else joinable[0]
            need, free = loaded | "traj:has-sources" >> beam.Partition(lambda it, _n: 0 if it["source_doc_ids"] else 1, 2)
            kept = docs | "traj:kept-keys" >> beam.FlatMap(_doc_keys)
            refs = need | "traj:refs" >> beam.FlatMap(lambda it: [(ref, it["_key"]) for ref in sorted(set(it["source_doc_ids"]))])
            per_item = (
                {"refs": refs, "docs": kept}
                | "traj:join-docs" >> beam.CoGroupByKey()
                | "traj:refs-to-items" >> beam.FlatMap(_refs_to_items)
            )
            joined = (
                {"item": need | "traj:key-items" >> beam.Map(lambda it: (it["_key"], it)), "src": per_item}
                | "traj:join-items" >> beam.CoGroupByKey()
                | "traj:sources" >> beam.ParDo(_JoinSourcesFn(run_id)).with_outputs(DECISIONS, main="items")
            )
            decisions.append(joined[DECISIONS])
            items += [joined.items, free]
        items += direct
        if not items:
            empty = p | "traj:nothing" >> beam.Create([])
            return _Outputs(samples=empty, decisions=decisions[0] if decisions else p | "traj:no-decisions" >> beam.Create([]))
        all_items = items | "traj:items" >> beam.Flatten() if len(items) > 1 else items[0]

        # Identical prompts → groups; near-identical groups collapse through LSH buckets.
        grouped = (
            all_items
            | "traj:by-prompt" >> beam.Map(lambda it: (prompt_hash(it["prompt"]), it))
            | "traj:group-prompt" >> beam.GroupByKey()
            | "traj:exact" >> beam.ParDo(_ExactPromptFn(run_id)).with_outputs(DECISIONS, main="groups")
        )
        decisions.append(grouped[DECISIONS])
        groups = grouped.groups
        threshold, near_on = _near_settings(cfg)
        if near_on:
            dtype = "uint32"  # affine32 signatures (pipeline.minhash.SCHEME)
            losers = (
                groups
                | "traj:bands" >> beam.ParDo(_BandKeysFn(cfg, threshold))
                | "traj:group-bands" >> beam.GroupByKey()
                | "traj:losers" >> beam.FlatMap(_losers(threshold, dtype))
            )
            collapsed = (
                {"group": groups | "traj:key-groups" >> beam.Map(lambda g: (g["hash"], g)), "loses_to": losers}
                | "traj:join-losers" >> beam.CoGroupByKey()
                | "traj:collapse" >> beam.ParDo(_CollapseFn(run_id)).with_outputs(DECISIONS, main="items")
            )
            decisions.append(collapsed[DECISIONS])
            unique = collapsed.items
        else:
            unique = groups | "traj:ungroup" >> beam.FlatMap(lambda g: g["items"])

        if replay:
            candidates = unique
        else:
            taught = (
                unique
                | "traj:prompt-batches" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch)
                | "traj:teacher" >> beam.ParDo(_TeacherFn(cfg, run_id)).with_outputs(DECISIONS, main="candidates")
            )
            decisions.append(taught[DECISIONS])
            candidates = taught.candidates

        checked = (
            candidates
            | "traj:candidate-batches" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch)
            | "traj:checks" >> beam.ParDo(_ValidateFn(cfg, run_id)).with_outputs(DECISIONS, main="samples")
        )
        decisions.append(checked[DECISIONS])
        all_decisions = decisions | "traj:decisions" >> beam.Flatten()
        return _Outputs(samples=checked.samples, decisions=all_decisions)


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


def _near_settings(config) -> tuple[float, bool]:
    from pipeline.trajectories.checks import load_checks

    rules = load_checks(config.rule_file("trajectories/checks.yaml")).get("near_duplicate_prompt", {})
    return float(rules.get("threshold", 0.8)), bool(rules.get("enabled", True))
