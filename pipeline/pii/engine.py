"""The PII engine shared by the `pii` stage, quarantine excerpts and the trajectory checks.

Built once per worker from the config and ``rules/pii/`` (presidio's own YAML formats):

* an ``AnalyzerEngine`` made by presidio's ``AnalyzerEngineProvider`` from ``analyzer.yaml`` and
  ``recognizers.yaml``, over blank offline spaCy pipelines (:mod:`pipeline.pii.nlp`);
* one combined prefilter per language (:mod:`pipeline.pii.prefilter`): only windows that could hold
  a finding go to presidio, many windows per presidio call, with findings identical to presidio on
  the whole text;
* presidio's ``analyze`` steps run over those windows by :mod:`pipeline.pii.fast` (each recognizer
  on its own windows, phonenumbers without hopeless parses, context from small token stretches);
* presidio-anonymizer operators: ``replace`` with ``<ENTITY_TYPE>`` placeholders, or ``custom``
  keyed pseudonyms ``<ENTITY_TYPE:hmac8>``.

Nothing here logs or raises with input text: presidio's loggers are silenced (one of them logs
raw IBAN candidates) and analysis errors are re-raised as :class:`PiiError` naming only the type.
"""
from __future__ import annotations

import bisect
import hashlib
import hmac
import logging
import os
import threading
import warnings
from dataclasses import dataclass

import yaml

from pipeline import ruleyaml
from pipeline.config import ConfigError
from pipeline.pii.boundaries import WIDE_CHARACTER, given_narrowed, narrowed, use_cjk_boundaries
from pipeline.saferegex import RuleTimeout, compile_rule

ANALYZER_FILE = "pii/analyzer.yaml"
RECOGNIZERS_FILE = "pii/recognizers.yaml"
FALLBACK_LANG = "xx"
MAX_CALL_CHARS = 16_000  # characters of joined windows per presidio call (its context lookup is O(tokens) per finding)

_LOG = logging.getLogger(__name__)
_CACHE: dict[tuple, "PiiEngine"] = {}
_CACHE_LOCK = threading.Lock()


class PiiError(RuntimeError):
    """Analysis failed; the message never quotes the text."""


def _silence_presidio() -> None:
    # presidio logs matched text (e.g. "Failed to validate text <IBAN>") — never let it through.
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def pseudonym_token(key: bytes, entity: str, value: str) -> str:
    """``<ENTITY:xxxxxxxx>``: the first 8 hex digits of HMAC-SHA256(key, ``ENTITY \0 value``), the
    value read as the recognizers read it (full-width forms as ASCII: ``ＡＢＣ`` and ``ABC`` are one
    value, one token)."""
    digest = hmac.new(key, f"{entity}\x00{narrowed(value)}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"<{entity}:{digest[:8]}>"


def pseudonym_key(config) -> bytes | None:
    """The HMAC key for ``pii.operator: pseudonym`` (ConfigError naming the variable if unset)."""
    pii = config.pii
    if pii.operator != "pseudonym":
        return None
    secret = os.environ.get(pii.secret_env)
    if not secret:
        raise ConfigError(
            f"config key 'pii.operator' is 'pseudonym' but environment variable {pii.secret_env} "
            f"(pii.secret_env) is not set"
        )
    return secret.encode("utf-8")


def normalize_lang(lang: str | None, languages: tuple[str, ...]) -> str:
    """Record language → analysis language (``zh-cn`` → ``zh``; unknown/None → fallback)."""
    if not lang:
        return FALLBACK_LANG
    base = str(lang).replace("_", "-").split("-")[0].lower()
    return base if base in languages else FALLBACK_LANG


@dataclass
class _Window:
    doc: int
    doc_start: int
    joined_start: int
    length: int


class PiiEngine:
    """Detect and replace PII. Build with :meth:`from_config` (cached per process)."""

    def __init__(self, config, *, use_prefilter: bool = True, fast_nlp: bool = True) -> None:
        _silence_presidio()
        from presidio_analyzer import AnalyzerEngineProvider, PatternRecognizer, RecognizerRegistry
        from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider
        from presidio_anonymizer import AnonymizerEngine

        from pipeline.pii import recognizers as custom  # noqa: F401 - registers our recognizer classes
        from pipeline.pii.nlp import LazyPipelines, PreloadedSpacyNlpEngine, load_ner_model
        from pipeline.pii.prefilter import BARRIER_WORD, Prefilter

        pii = config.pii
        self.config = config
        self._key = pseudonym_key(config)
        analyzer_file = config.rule_file(ANALYZER_FILE)
        registry_file = config.rule_file(RECOGNIZERS_FILE)
        self.rule_files = [analyzer_file, registry_file]
        try:
            analyzer_conf = ruleyaml.safe_load(analyzer_file.read_text(encoding="utf-8")) or {}
            registry_conf = ruleyaml.safe_load(registry_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise ConfigError(f"rules file {analyzer_file.parent}: invalid YAML") from None
        yaml_langs = list(analyzer_conf.get("supported_languages") or [])
        wanted = [normalize_lang(l, tuple(yaml_langs)) for l in pii.languages]
        languages = [l for l in yaml_langs if l in wanted and l != FALLBACK_LANG] + [FALLBACK_LANG]
        self.languages = tuple(languages)

        # NLP: blank pipelines (each built when a language first needs it), or an installed NER
        # model for its language
        ner_pipelines = {}
        ner_langs: set[str] = set()
        if pii.spacy_model:
            try:
                ner = load_ner_model(pii.spacy_model)
            except LookupError:
                raise ConfigError(
                    f"config key 'pii.spacy_model': spaCy model {pii.spacy_model!r} is not installed "
                    "(models are never downloaded)"
                ) from None
            if "lemmatizer" not in ner.pipe_names:
                from pipeline.pii.nlp import LEMMA_COMPONENT

                ner.add_pipe(LEMMA_COMPONENT)
            ner_lang = ner.lang if ner.lang in languages else FALLBACK_LANG
            ner_pipelines[ner_lang] = ner
            ner_langs.add(ner_lang)
        pipelines = LazyPipelines(languages, lemmas=not fast_nlp, built=ner_pipelines)
        nlp_engine = PreloadedSpacyNlpEngine(pipelines, fast_artifacts=fast_nlp)

        registry_conf = dict(registry_conf, supported_languages=languages)
        recs = []
        for rec in registry_conf.get("recognizers") or []:
            if isinstance(rec, dict) and (rec.get("class_name") or rec.get("name")) == "SpacyRecognizer":
                rec = dict(rec, enabled=bool(ner_langs), supported_languages=sorted(ner_langs) or None)
            recs.append(rec)
        registry_conf["recognizers"] = recs
        analyzer_conf = dict(analyzer_conf, supported_languages=languages,
                             default_score_threshold=pii.score_threshold)

        class _Provider(AnalyzerEngineProvider):
            def get_configuration(self, conf_file):  # noqa: D102 - our dict, validated by presidio
                from presidio_analyzer.input_validation import ConfigurationValidator

                return ConfigurationValidator.validate_analyzer_configuration(analyzer_conf)

            def _load_nlp_engine(self):
                return nlp_engine

            def _load_recognizer_registry(self, supported_languages, nlp_engine):
                provider = RecognizerRegistryProvider(registry_configuration=registry_conf, nlp_engine=nlp_engine)
                return provider.create_recognizer_registry()

        try:
            with warnings.catch_warnings():  # "NLP recognizer … not in the list": disabled on purpose
                warnings.simplefilter("ignore", UserWarning)
                self.analyzer = _Provider().create_engine()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"rules file {registry_file}: {str(exc).splitlines()[0]}") from None
        registry: RecognizerRegistry = self.analyzer.registry
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.recognizers = [
            r for r in registry.recognizers
            if not isinstance(r, SpacyRecognizer) or r.supported_language in ner_langs
        ]
        if pii.entities is not None:
            known = {e for r in registry.recognizers for e in r.supported_entities}
            unknown = sorted(set(pii.entities) - known)
            if unknown:
                raise ConfigError(f"config key 'pii.entities': unknown entity type(s) {unknown}; known: {sorted(known)}")
            registry.recognizers = [r for r in registry.recognizers if set(r.supported_entities) & set(pii.entities)]
        self.entities = sorted({e for r in registry.recognizers for e in r.supported_entities})
        user_rules = _time_limit_user_patterns(registry.recognizers)
        use_cjk_boundaries(registry.recognizers)

        # one prefilter per language, from the same recognizers
        enhancer = self.analyzer.context_aware_enhancer
        before = int(getattr(enhancer, "context_prefix_count", 5)) + 1
        # the enhancer walks forward to context_suffix_count + 1 keywords, even when that is 0
        after = int(getattr(enhancer, "context_suffix_count", 0)) + 1
        flags = registry.global_regex_flags or 0
        self.prefilters: dict[str, Prefilter | None] = {}
        anchors: dict[str, dict] = {}
        context_words: set[str] = set()
        yaml_prefilters = {
            rec.get("name"): rec.get("prefilter")
            for rec in registry_conf["recognizers"]
            if isinstance(rec, dict) and rec.get("type", "custom") == "custom"
        }
        for lang in languages:
            rs = [r for r in registry.recognizers if r.supported_language == lang]
            context_words |= {w.lower() for r in rs for w in (r.context or [])}
            conditions: list[str] = []
            own: dict[str, list[str]] = {}  # recognizer id → its own condition
            known = True
            for r in rs:
                p = custom.prefilter_for(r)
                if p is not None:
                    own[r.id] = p
                    implied = getattr(type(r), "PREFILTER_IMPLIED_BY", None)
                    if implied:  # the union gets a weaker condition it already has; the recognizer keeps its own
                        conditions.append(implied)
                        continue
                elif r.name in yaml_prefilters and yaml_prefilters[r.name]:
                    own[r.id] = [yaml_prefilters[r.name]]  # declared in the YAML
                    user_rules.append(compile_rule(f"{r.name} (prefilter)", yaml_prefilters[r.name], flags))
                elif isinstance(r, PatternRecognizer) and type(r) is PatternRecognizer and r.patterns:
                    own[r.id] = [pat.regex for pat in r.patterns]  # its own patterns: exactly necessary
                else:
                    known = False  # a recognizer without a known condition (NER): analyse everything
                    continue
                conditions.extend(own[r.id])
            if not use_prefilter or not known or lang in ner_langs:
                self.prefilters[lang] = None
            else:
                stop_words, special_cases = pipelines.defaults(lang)
                # The conditions are written for ASCII ('@', '.', [0-9]) while the recognizers read
                # full-width forms as ASCII (boundaries.narrowed): a full-width digit or '@' opens a
                # window too, and the window is read narrowed.
                self.prefilters[lang] = Prefilter.build(
                    [*conditions, WIDE_CHARACTER], flags, before, after, stop_words, special_cases, user_rules=user_rules,
                )
                anchors[lang] = {}
                for r in rs:
                    if r.id not in own:
                        continue
                    anchor = Prefilter.union(own[r.id], flags, guard=False)
                    if type(r) is PatternRecognizer:  # a YAML recognizer: its patterns are the user's
                        anchor = compile_rule(r.name, anchor.pattern, flags)
                    anchors[lang][r.id] = anchor
        # presidio's analyze step by step, where every step is one we reproduce (pipeline.pii.fast)
        from pipeline.pii.fast import FastAnalyzer

        if any(w in BARRIER_WORD for w in context_words):
            raise ConfigError(f"rules file {registry_file}: a context word occurs in the barrier word {BARRIER_WORD!r}")
        self._barrier = "\n" + " ".join([BARRIER_WORD] * max(before, after, 1)) + "\n"
        self.fast: dict[str, FastAnalyzer] = {
            lang: FastAnalyzer(self.analyzer, lang, pre, anchors[lang], self._barrier)
            for lang, pre in self.prefilters.items()
            if pre is not None and FastAnalyzer.supports(self.analyzer, lang)
        }
        from pipeline.pii.suppress import SUPPRESSION_FILE, Suppressor

        # the score a finding has without context, for recognizers whose context raises it
        base_scores = {r.supported_entities[0]: float(r.SCORE) for r in registry.recognizers
                       if isinstance(getattr(type(r), "SCORE", None), (int, float))}
        context_by_entity: dict[str, set[str]] = {}
        for r in registry.recognizers:
            context_by_entity.setdefault(r.supported_entities[0], set()).update(r.context or ())
        self.suppressor = Suppressor.from_config(config, base_scores, context_by_entity)
        if self.suppressor is not None:
            self.rule_files.append(config.rules_path() / SUPPRESSION_FILE)
        self.anonymizer = AnonymizerEngine()
        self._operators: dict[str, object] = {}

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config) -> "PiiEngine":
        """The engine for this config, built once per process (worker) and shared."""
        key = (config.sha256(), hashlib.sha256(pseudonym_key(config) or b"").hexdigest())
        with _CACHE_LOCK:
            engine = _CACHE.get(key)
            if engine is None:
                engine = _CACHE[key] = cls(config)
        return engine

    @classmethod
    def reference(cls, config) -> "PiiEngine":
        """presidio's plain AnalyzerEngine with the same recognizers: no prefilter, presidio's own
        NLP artifacts. What tests and benchmarks compare the fast path with."""
        return cls(config, use_prefilter=False, fast_nlp=False)

    # -- analysis ----------------------------------------------------------------------------
    def analyze_batch(self, texts: list[str], langs: list[str | None]) -> list[list]:
        """Findings per text (presidio RecognizerResults, offsets into each text)."""
        try:
            return self._analyze_batch(texts, langs)
        except (ConfigError, RuleTimeout):
            raise  # a RuleTimeout names the rule only: the stage quarantines the record with it
        except Exception as exc:  # noqa: BLE001 - never let a message quoting the text escape
            raise PiiError(f"PII analysis failed ({type(exc).__name__})") from None

    def _analyze_batch(self, texts, langs):
        from presidio_analyzer import RecognizerResult

        out: list[list] = [[] for _ in texts]
        by_lang: dict[str, list[int]] = {}
        for i, (text, lang) in enumerate(zip(texts, langs)):
            if text:
                by_lang.setdefault(normalize_lang(lang, self.languages), []).append(i)
        for lang, idxs in by_lang.items():
            pre = self.prefilters.get(lang)
            if pre is None:
                for i in idxs:
                    out[i] = self.analyzer.analyze(text=texts[i], language=lang)
                continue
            parts: list[str] = []
            windows: list[_Window] = []
            size = 0
            fast = self.fast.get(lang)

            def flush():
                nonlocal parts, windows, size
                if not windows:
                    return
                joined = "".join(parts)
                starts = [w.joined_start for w in windows]
                if fast is not None:  # its own per-recognizer conditions read the windows as the recognizers do
                    with given_narrowed():
                        found = fast.analyze(narrowed(joined), windows, texts)
                else:
                    found = self.analyzer.analyze(text=joined, language=lang)
                for r in found:
                    w = windows[bisect.bisect_right(starts, r.start) - 1]
                    shift = w.doc_start - w.joined_start
                    out[w.doc].append(
                        RecognizerResult(r.entity_type, r.start + shift, r.end + shift, r.score,
                                         recognition_metadata=r.recognition_metadata)
                    )
                parts, windows, size = [], [], 0

            for i in idxs:
                text = texts[i]
                for s, e in pre.windows(text):
                    parts.append(self._barrier)
                    size += len(self._barrier)
                    windows.append(_Window(i, s, size, e - s))
                    parts.append(text[s:e])
                    size += e - s
                    if size >= MAX_CALL_CHARS:
                        flush()
            flush()
        for res in out:
            res.sort(key=lambda r: (r.start, r.end, r.entity_type))
        return out

    # -- replacement -------------------------------------------------------------------------
    @staticmethod
    def resolve(results: list) -> list:
        """Non-overlapping findings: higher score, then longer span, then earlier, wins."""
        chosen: list = []
        for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start, r.entity_type)):
            if all(r.end <= c.start or r.start >= c.end for c in chosen):
                chosen.append(r)
        return sorted(chosen, key=lambda r: r.start)

    def _operator(self, entity: str):
        op = self._operators.get(entity)
        if op is None:
            from presidio_anonymizer.entities import OperatorConfig

            if self._key is None:
                op = OperatorConfig("replace", {"new_value": f"<{entity}>"})
            else:
                key = self._key

                def pseudonym(value: str, _entity=entity) -> str:
                    return pseudonym_token(key, _entity, value)

                op = OperatorConfig("custom", {"lambda": pseudonym})
            self._operators[entity] = op
        return op

    def _replace(self, text: str, results: list) -> tuple[str, dict[str, int]]:
        if not results:
            return text, {}
        from presidio_anonymizer.entities import RecognizerResult as AnonResult

        chosen = self.resolve(results)
        counts: dict[str, int] = {}
        for r in chosen:
            counts[r.entity_type] = counts.get(r.entity_type, 0) + 1
        try:
            done = self.anonymizer.anonymize(
                text=text,
                analyzer_results=[AnonResult(r.entity_type, r.start, r.end, r.score) for r in chosen],
                operators={e: self._operator(e) for e in counts},
            )
        except Exception as exc:  # noqa: BLE001
            raise PiiError(f"PII replacement failed ({type(exc).__name__})") from None
        return done.text, dict(sorted(counts.items()))

    # -- public API --------------------------------------------------------------------------
    def detect_batch(self, texts: list[str], langs: list[str | None]) -> list[list]:
        """:meth:`analyze_batch` without the findings ``rules/pii/suppression.yaml`` shows are not
        personal data (allow-list, version numbers, plain numbers of technical documents): what
        :meth:`scrub_batch` and :meth:`find` replace and count."""
        found = self.analyze_batch(texts, langs)
        if self.suppressor is None:
            return found
        try:  # the rules read a finding's full-width digits and signs as the recognizers did (ASCII)
            return [self.suppressor.apply(narrowed(t) if r else t, r) for t, r in zip(texts, found)]
        except RuleTimeout:
            raise
        except Exception as exc:  # noqa: BLE001 - never let a message quoting the text escape
            raise PiiError(f"PII suppression failed ({type(exc).__name__})") from None

    def scrub_batch(self, texts: list[str], langs: list[str | None]) -> list[tuple[str, dict[str, int]]]:
        """Each text with its findings replaced, and the replacements counted by entity type."""
        found = self.detect_batch(texts, langs)
        return [self._replace(t, r) if t else (t, {}) for t, r in zip(texts, found)]

    def scrub(self, text: str, lang: str | None = None) -> tuple[str, dict[str, int]]:
        return self.scrub_batch([text], [lang])[0]

    def find(self, text: str, lang: str | None = None) -> dict[str, int]:
        """Counts by entity type of what :meth:`scrub` would replace (nothing is replaced)."""
        counts: dict[str, int] = {}
        for r in self.resolve(self.detect_batch([text], [lang])[0]):
            counts[r.entity_type] = counts.get(r.entity_type, 0) + 1
        return dict(sorted(counts.items()))


class _TimedPattern:
    """Stands in for a presidio ``Pattern.compiled_regex``: the user's pattern under saferegex's
    time limit. A timeout raises :class:`RuleTimeout` naming the rule (presidio would log the
    timeout and skip the pattern, leaving the record's values in place)."""

    def __init__(self, rule) -> None:
        self.rule = rule

    def finditer(self, text: str, timeout=None):  # noqa: ARG002 - saferegex's limit applies
        return self.rule.finditer(text)


def _time_limit_user_patterns(recognizers) -> list:
    """Run every pattern of the YAML (``type: custom``) recognizers under a time limit; returns
    the compiled rules (the prefilter names the culprit with them when its union times out)."""
    from presidio_analyzer import PatternRecognizer

    rules = []
    for rec in recognizers:
        if type(rec) is not PatternRecognizer:
            continue
        flags = rec.global_regex_flags or 0
        for pat in rec.patterns:
            rule = compile_rule(f"{rec.name}: {pat.name}", pat.regex, flags)
            pat.compiled_regex, pat.compiled_with_flags = _TimedPattern(rule), flags
            rules.append(rule)
    return rules
