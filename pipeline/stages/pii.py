"""Stage `pii`: replace personal data in the text before anything is shuffled or written.

What it decides: nothing is dropped here. Every record is kept with ``text`` scrubbed in place —
only the detected spans are replaced, by typed placeholders (``<EMAIL_ADDRESS>``,
``<PHONE_NUMBER>``, ``<KR_RRN>`` …) or, with ``pii.operator: pseudonym``, by keyed pseudonyms
(``<EMAIL_ADDRESS:3f2a9c1d>``, HMAC-SHA256 with the secret from ``pii.secret_env``; the same value
gives the same token). ``pii_counts`` gets the number of replacements per entity type, and the keep
verdict carries the same counts as detail. Raw values never reach decisions, logs or errors.

Why this way: detection is presidio (analyzer + anonymizer) configured by ``rules/pii/`` in
presidio's own YAML, so a reviewer adds a recognizer without code; validation that needs code
(checksums for cards, IBANs, Korean RRN/FRN/BRN, offline e-mail domains) lives in
:mod:`pipeline.pii.recognizers`. The record's language (set by langid) picks the context words;
languages without their own pipeline use the fallback set. The engine is built once per worker
and analyses a batch at a time, sending presidio only the windows the combined prefilter selects
(:mod:`pipeline.pii.prefilter`), with findings identical to presidio on the whole text.
"""
from __future__ import annotations

from pipeline.stages.base import StageCore, Verdict, keep
from pipeline.verdicts import RecordStage


class PiiScrubber(StageCore):
    name = "pii"
    version = "1"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._engine = None

    def setup(self) -> None:
        from pipeline.pii.engine import PiiEngine

        self._engine = PiiEngine.from_config(self.config)

    def process(self, record: dict) -> Verdict:
        return self.process_batch([record])[0]

    def process_batch(self, records: list[dict]) -> list[Verdict]:
        if self._engine is None:
            self.setup()
        idx = [i for i, r in enumerate(records) if isinstance(r.get("text"), str) and r["text"]]
        scrubbed = self._engine.scrub_batch([records[i]["text"] for i in idx], [records[i].get("lang") for i in idx])
        verdicts = [keep() for _ in records]
        for i, (text, counts) in zip(idx, scrubbed):
            record = records[i]
            record["text"] = text
            record["pii_counts"] = counts
            if counts:
                verdicts[i] = keep(detail={"pii_counts": counts})
        done = set(idx)
        for i, record in enumerate(records):
            if i not in done:
                record["pii_counts"] = {}
        return verdicts


class PiiStage(RecordStage):
    core_class = PiiScrubber

    def __init__(self, config, run_id: str) -> None:
        # Fail on the driver (exit 2) rather than on every worker when the pseudonym key is missing.
        from pipeline.pii.engine import pseudonym_key

        pseudonym_key(config)
        super().__init__(config, run_id)
