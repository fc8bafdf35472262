"""Teachers turn prompts into completions (``<think>…</think>`` + answer).

Every teacher has ``name`` (``backend:model``, the trajectories ``teacher`` column), ``setup()``
(heavy, once per worker) and ``complete(prompts) -> list[Result]``, one result per prompt in order:
``Result.completions`` (zero or more raw completions) or ``Result.error`` (a stable reason code and a
JSON-able detail, never prompt text). The ``replay`` backend has no teacher object: its file already
holds the completions (see :mod:`pipeline.trajectories.teachers.replay`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

COMPLETION_TOO_LARGE = "completion_too_large"  # reason: over trajectories.teacher.max_*_bytes


@dataclass
class Result:
    completions: list[str] = field(default_factory=list)
    error: str | None = None  # reason code: teacher_error | no_completion | completion_too_large
    detail: dict | None = None


class TeacherError(RuntimeError):
    """A teacher failure that must stop the run (401/403/404, an unreachable endpoint): its message
    is the one line ``curate run`` prints, naming the endpoint and the cause."""

    # Beam re-raises an exception marked as already tagged with its step as it is: without this it
    # logs the full traceback and appends "[while running '…']" to the one line.
    _tagged_with_step = True

    @classmethod
    def from_run_failure(cls, exc: BaseException) -> "TeacherError | None":
        """The teacher error behind a failed run, or None. Multi-process runners hand a worker's
        failure to the driver as a ``RuntimeError`` holding the worker's traceback text; its last
        ``…TeacherError: <line>`` is the line to show."""
        if isinstance(exc, cls):
            return exc
        marker = f"{cls.__module__}.{cls.__qualname__}: "
        text = str(exc)
        at = text.rfind(marker)
        if at < 0:
            return None
        return cls(text[at + len(marker):].splitlines()[0])


def make_teacher(config):
    """The teacher for ``config.trajectories.teacher.backend`` (None for replay)."""
    backend = config.trajectories.teacher.backend
    if backend == "programmatic":
        from pipeline.trajectories.teachers.programmatic import ProgrammaticTeacher

        return ProgrammaticTeacher.from_config(config)
    if backend == "openai":
        from pipeline.trajectories.teachers.openai import OpenAITeacher

        return OpenAITeacher.from_config(config)
    return None
