"""The contract every per-record stage core follows.

A core is built cheaply on the driver (it must pickle: no models, no compiled engines in
``__init__``), set up once per worker in ``setup()`` (load models, compile patterns), then called on
records. It returns a :class:`Verdict` per record and may annotate the record in place (``lang``,
``license``, ``copyright``, ``pii_counts``, scrubbed ``text``). Counting, routing to decisions and
error isolation are not the core's job: :mod:`pipeline.verdicts` does them once for every stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline.records import DROP, KEEP, QUARANTINE


@dataclass(slots=True, frozen=True)
class Verdict:
    action: str = KEEP  # keep | drop | quarantine
    reason: str | None = None  # stable code when not kept; a flag such as "license_review" on keep
    detail: dict | None = None  # JSON-able, never raw PII
    dup_of: str | None = None

    @property
    def kept(self) -> bool:
        return self.action == KEEP


KEEP_VERDICT = Verdict()


def keep(detail: dict | None = None, flag: str | None = None) -> Verdict:
    """Keep. ``detail`` lands in the record's final decisions row; ``flag`` marks keep-and-flag."""
    if detail is None and flag is None:
        return KEEP_VERDICT
    return Verdict(KEEP, flag, detail)


def drop(reason: str, detail: dict | None = None, dup_of: str | None = None) -> Verdict:
    return Verdict(DROP, reason, detail, dup_of)


def quarantine(reason: str, detail: dict | None = None) -> Verdict:
    return Verdict(QUARANTINE, reason, detail)


class StageCore:
    """Base of every per-record stage core. Subclasses set ``name`` and implement ``process``."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    # A plugin stage's own keys from its `plugins.<name>` config section (`enabled` left out).
    options: dict = {}  # noqa: RUF012 - replaced per instance, never mutated

    def __init__(self, config: Any) -> None:
        # The whole resolved pipeline Config; a core reads its own section.
        self.config = config

    def setup(self) -> None:
        """Heavy, once per worker: load models, compile regexes, build engines."""

    def process(self, record: dict) -> Verdict:
        raise NotImplementedError

    def process_batch(self, records: list[dict]) -> list[Verdict]:
        """Override to vectorise; the default calls ``process`` per record."""
        return [self.process(r) for r in records]
