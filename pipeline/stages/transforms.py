"""The Beam half of the built-in per-record stages: each one's thin PTransform (a
:class:`~pipeline.verdicts.RecordStage` around the stage's core) and its driver-side checks.

Kept apart from the stage modules so their declarations (:mod:`pipeline.stages.registry`) and
``load_config()`` import no Apache Beam; the registry names these classes as
``"pipeline.stages.transforms:<Class>"`` and imports this module when the graph is built.
"""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import yaml
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import ruleyaml
from pipeline.compliance.copyright import CopyrightExtractor
from pipeline.compliance.optout import OptOutChecker
from pipeline.quality.rules import QualityRules, RulesError
from pipeline.stages.langid import LanguageFilter
from pipeline.stages.license import LicenseDetector
from pipeline.stages.pii import FieldScrubber, PiiScrubber, load_url_parameters, scrub_decision_rows
from pipeline.stages.quality import QualityFilter
from pipeline.verdicts import RecordStage


class LicenseStage(RecordStage):
    """``batches | "license" >> LicenseStage(config, run_id)`` → ``.kept`` batches, ``.decisions`` rows."""

    core_class = LicenseDetector

    @staticmethod
    def check_rules(config) -> None:
        """Compile the user patterns of rules/copyright.yaml and rules/optout.yaml on the driver: a
        broken file or pattern is a ``ConfigError`` (exit 2) naming the file and the rule."""
        from pipeline.config import ConfigError
        from pipeline.saferegex import RulePatternError

        for name, build in (("copyright.yaml", CopyrightExtractor), ("optout.yaml", OptOutChecker)):
            path = config.rule_file(name)
            try:
                data = ruleyaml.safe_load(path.read_text(encoding="utf-8")) or {}
                if not isinstance(data, dict):
                    raise ValueError("top level must be a mapping")
                build(data)
            except (yaml.YAMLError, ValueError, RulePatternError) as exc:
                raise ConfigError(f"rules file {path}: {str(exc).splitlines()[0]}") from None


class LanguageStage(RecordStage):
    core_class = LanguageFilter

    def __init__(self, config, run_id: str) -> None:
        # Fail on the driver (exit 2) when the configured model file is missing, not on every worker.
        from pathlib import Path

        from pipeline.config import ConfigError

        if config.langid.model and not Path(config.langid.model).is_file():
            raise ConfigError(f"config key 'langid.model': fasttext model file not found: {config.langid.model}")
        if not 0.0 <= config.langid.mixed_share <= 1.0:
            raise ConfigError("config key 'langid.mixed_share' must be in [0, 1]")
        super().__init__(config, run_id)


class QualityStage(RecordStage):
    core_class = QualityFilter

    def __init__(self, config, run_id: str) -> None:
        self.check_rules(config)
        super().__init__(config, run_id)

    @staticmethod
    def check_rules(config) -> None:
        """Validate the rules on the driver: a broken rules file is a usage error (exit 2)."""
        from pipeline.config import ConfigError

        if config.quality.rules and not Path(config.quality.rules).is_file():
            raise ConfigError(f"config key 'quality.rules': file not found: {config.quality.rules}")
        try:
            QualityRules.from_config(config)
        except RulesError as exc:
            raise ConfigError(str(exc)) from None


class PiiStage(RecordStage):
    core_class = PiiScrubber

    def __init__(self, config, run_id: str) -> None:
        # Fail on the driver (exit 2) rather than on every worker when the pseudonym key is missing
        # or a rules file is broken.
        from pipeline.pii.engine import pseudonym_key

        pseudonym_key(config)
        load_url_parameters(config)
        super().__init__(config, run_id)


class ScrubDecisionFields(beam.DoFn):
    """Decisions rows made before the PII stage (ingest, license, langid, quality, and the PII
    stage's own ``stage_error`` rows) → the same rows with ``source_id`` and every string in
    ``detail`` scrubbed. A value the engine fails on is written as null.

    Rows are held and scrubbed ``BATCH`` at a time (one engine call per row cost more than the
    scrubbing); the last ones of a bundle leave in ``finish_bundle``, in the global window (the
    only one this pipeline uses)."""

    BATCH = 256

    def __init__(self, config) -> None:
        self._config = config
        self._fields: FieldScrubber | None = None
        self._held: list[dict] = []

    def setup(self) -> None:
        from pipeline.pii.engine import PiiEngine

        self._fields = FieldScrubber(PiiEngine.from_config(self._config))

    def start_bundle(self) -> None:
        self._held = []

    def process(self, row):
        self._held.append(row)
        if len(self._held) >= self.BATCH:
            yield from self._scrub_held()

    def finish_bundle(self):
        for row in self._scrub_held():
            yield WindowedValue(row, MIN_TIMESTAMP, [GlobalWindow()])

    def _scrub_held(self) -> list[dict]:
        held, self._held = self._held, []
        return scrub_decision_rows(self._fields, held) if held else []
