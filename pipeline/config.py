"""Typed configuration: embedded defaults + a user's YAML, validated before anything runs.

Every section is a dataclass whose defaults *are* the embedded default config. A user's YAML
overrides any subset. An unknown key or a value of the wrong type raises :class:`ConfigError`
naming the dotted key (the CLI turns that into exit code 2).

A stage's section is declared with the stage (``register_stage(..., config_class=...)`` in its
module); sections that belong to no stage (``run``, ``ingest``) are listed in :data:`CORE_SECTIONS` here.
``Config`` is the dataclass :func:`config_class` builds from both. A section class may carry
``RANGES`` (bounds per key, see :func:`at_least`) and an ``invalid()`` method for other checks.
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
from typing import Any, ClassVar, Literal

import yaml

from pipeline.stages import registry


class ConfigError(ValueError):
    """A usage or configuration error: one line, naming the key or file."""


# --- sections -------------------------------------------------------------------------------
# A section's RANGES: (key, low, high, low_inclusive, high_inclusive); None leaves that side open.
def at_least(low, *keys: str, strict: bool = False) -> list[tuple]:
    return [(key, low, None, not strict, True) for key in keys]


def unit_interval(*keys: str, open_low: bool = False) -> list[tuple]:
    return [(key, 0.0, 1.0, not open_low, True) for key in keys]


@dataclass
class RunConfig:
    batch_size: int = 512  # records per Beam element between per-record stages
    max_record_bytes: int = 8 * 1024 * 1024  # larger records are quarantined (record_too_large)
    quarantine_raw_bytes: int = 2048  # raw bytes kept per quarantine row
    shard_max_rows: int = 100_000
    shard_max_bytes: int = 128 * 1024 * 1024  # uncompressed Arrow bytes buffered per shard
    split_bytes: int = 64 * 1024 * 1024  # uncompressed JSONL files larger than this are read in parallel chunks
    progress_seconds: float = 5.0  # log reading progress at most this often
    max_parquet_page_bytes: int = 128 * 1024 * 1024  # a Parquet row group with a larger page is not decoded

    RANGES: ClassVar[list[tuple]] = [
        *at_least(1, "batch_size", "shard_max_rows", "shard_max_bytes", "max_record_bytes", "split_bytes",
                  "max_parquet_page_bytes"),
        *at_least(0, "quarantine_raw_bytes"),
        *at_least(0, "progress_seconds", strict=True),
    ]


@dataclass
class IngestConfig:
    """Which JSONL keys / Parquet columns hold each record's text, id and url (docs/ingest.md).

    Each is a name, a dotted path into nested objects ("meta.url"), or a list of keys
    (["meta", "url"]) when a key itself contains a dot. Typed Any so :func:`field_path` gives the
    one message for every wrong value.
    """

    text_field: Any = "text"
    id_field: Any = "id"
    url_field: Any = "url"

    def __post_init__(self) -> None:
        for name in ("text_field", "id_field", "url_field"):
            field_path(getattr(self, name), f"ingest.{name}")

    def paths(self) -> dict[str, tuple[str, ...]]:
        """``{"text": keys, "id": keys, "url": keys}``: each field as its tuple of keys."""
        return {name: field_path(getattr(self, f"{name}_field"), f"ingest.{name}_field") for name in ("text", "id", "url")}


def field_path(value: Any, key: str) -> tuple[str, ...]:
    """A configured field path → its keys: ``"meta.url"`` → ``("meta", "url")``, a list as given.
    Raises ConfigError naming ``key`` for anything but a non-empty name or list of names."""
    if isinstance(value, str):
        parts = tuple(value.split("."))
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = tuple(value)
    else:
        raise ConfigError(f"config key '{key}' must be a field name or a list of names, got {value!r}")
    if not parts or not all(parts):
        raise ConfigError(f"config key '{key}' must name a field (no empty name or empty part between dots), got {value!r}")
    return parts


# Sections that belong to no stage, in the order they are written out; a stage's own section is
# declared with the stage.
CORE_SECTIONS: list[tuple[str, type]] = [("run", RunConfig), ("ingest", IngestConfig)]


class ConfigBase:
    """What every ``Config`` can do; the fields come from :func:`config_class`."""

    # -- derived ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not data["plugins"]:
            del data["plugins"]  # a config without plugins keeps the sha256 it had before plugins existed
        if data["ingest"] == dataclasses.asdict(IngestConfig()):
            del data["ingest"]  # likewise the default field mapping
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


_CONFIG_CLASSES: dict[tuple, type] = {}


def config_class() -> type:
    """The ``Config`` dataclass: ``rules_dir``, the core sections, every section a registered stage
    declares (in run order) and ``plugins``. Built once per set of sections, so ``Config`` is the
    same class for every caller (and pickles by name)."""
    sections = tuple(CORE_SECTIONS) + tuple(registry.config_sections())
    cls = _CONFIG_CLASSES.get(sections)
    if cls is None:
        names = [name for name, _ in sections]
        clash = {name for name in names if names.count(name) > 1 or name in ("rules_dir", "plugins")}
        if clash:
            raise RuntimeError(f"config sections declared twice: {sorted(clash)}")
        cls = dataclasses.make_dataclass(
            "Config",
            [
                ("rules_dir", str | None, field(default=None)),  # a copy of rules/ to use instead of the packaged one
                *((name, section, field(default_factory=section)) for name, section in sections),
                # Plugin stages by entry-point name: {"enabled": bool, ...the plugin's own keys} (docs/plugins.md).
                ("plugins", dict[str, dict[str, Any]], field(default_factory=dict)),
            ],
            bases=(ConfigBase,),
        )
        cls.__module__ = __name__
        _CONFIG_CLASSES[sections] = cls
    return cls


def __getattr__(name: str) -> Any:
    # `from pipeline.config import Config`: the class is built from the registry on first use.
    if name == "Config":
        return config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _range_text(low, high, low_inc, high_inc) -> str:
    if high is None:
        return f"must be at least {low}" if low_inc else f"must be greater than {low}"
    return f"must be in {'[' if low_inc else '('}{low}, {high}{']' if high_inc else ')'}"


def _check_ranges(obj: Any, prefix: str) -> None:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"config key '{prefix + '.' if prefix else ''}{key}' {why}")

    for key, low, high, low_inc, high_inc in getattr(type(obj), "RANGES", ()):
        value = getattr(obj, key)
        too_low = low is not None and (value < low if low_inc else value <= low)
        too_high = high is not None and (value > high if high_inc else value >= high)
        if too_low or too_high:
            raise bad(key, f"{_range_text(low, high, low_inc, high_inc)}, got {value!r}")
    invalid = getattr(obj, "invalid", None)
    problem = invalid() if invalid is not None else None
    if problem is not None:
        raise bad(*problem)


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> ConfigBase:
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
    cfg = _build(config_class(), data)
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


def _need_decontamination_items(key: str, path: str, max_line_bytes: int) -> None:
    """Every line of a decontamination file indexable, before OUT is touched (workers re-read it)."""
    from pipeline.trajectories.checks import decontamination_items

    try:
        for number, _text, problem in decontamination_items(path, max_line_bytes):
            if problem:
                raise ConfigError(f"config key '{key}': {path}: line {number}: {problem}")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable, or a broken compressed stream (zstd's own error type)
        raise ConfigError(f"config key '{key}': {path}: cannot be read ({type(exc).__name__})") from None


def preflight(cfg: ConfigBase) -> None:
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
            _need_decontamination_items(f"trajectories.decontaminate[{i}]", path, int(cfg.run.max_record_bytes))
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
