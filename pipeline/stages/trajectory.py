"""The ``trajectory`` stage's declaration: its ``trajectories:`` config section and its place in the
counts (after the output, counting its own candidates). Its transform,
:class:`pipeline.trajectories.stage.TrajectoryStage`, is wired by the graph when the section is
enabled (docs/trajectories.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from pipeline.config import at_least, unit_interval
from pipeline.stages.registry import CANDIDATES, declare_stage


@dataclass
class TeacherConfig:
    backend: Literal["replay", "programmatic", "openai"] = "replay"
    path: str = "completions.jsonl"  # replay input
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 2048
    n: int = 1
    concurrency: int = 4
    timeout_seconds: float = 60.0
    max_retries: int = 4
    backoff_seconds: float = 1.0  # first retry delay (doubles, with jitter) unless Retry-After says otherwise
    max_backoff_seconds: float = 30.0
    cache_dir: str | None = None  # response cache folder; default $XDG_CACHE_HOME/curation-pipeline/teacher
    max_completion_bytes: int = 1024 * 1024  # larger completions (UTF-8) are rejected: completion_too_large
    max_response_bytes: int = 8 * 1024 * 1024  # an HTTP response body is read up to this, then rejected
    max_consecutive_failures: int = 5  # connection failures in a row (per worker) that stop the run

    RANGES: ClassVar[list[tuple]] = [
        ("temperature", 0.0, 2.0, True, True),
        *unit_interval("top_p", open_low=True),
        *at_least(1, "max_tokens", "n", "concurrency", "max_consecutive_failures"),
        *at_least(0, "timeout_seconds", strict=True),
        *at_least(0, "max_retries", "backoff_seconds", "max_backoff_seconds"),
    ]

    def invalid(self) -> tuple[str, str] | None:
        if self.max_backoff_seconds < self.backoff_seconds:
            return "max_backoff_seconds", "must be at least teacher.backoff_seconds"
        return None


@dataclass
class TrajectoriesConfig:
    enabled: bool = False
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    seeds: list[str] = field(default_factory=list)
    decontaminate: list[str] = field(default_factory=list)
    from_documents: bool = True  # derive prompts from curated documents through rules/trajectories templates
    max_prompts_per_doc: int = 1
    contamination_ngram: int = 13
    tokenizer: str | None = None  # a tokenizer.json for the length check; default: a fast estimate
    batch_size: int = 64  # prompts per teacher call / candidates per validation call
    max_line_bytes: int = 4 * 1024 * 1024  # longer seeds/replay lines are skipped unread: line_too_large

    RANGES: ClassVar[list[tuple]] = at_least(1, "max_prompts_per_doc", "contamination_ngram", "batch_size")


declare_stage("trajectory", 2000, config_section="trajectories", config_class=TrajectoriesConfig, kind=CANDIDATES)
