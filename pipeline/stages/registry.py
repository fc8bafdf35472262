"""The one declaration of every stage: its name, its place in the order, its config section and
its reasons.

A built-in stage declares itself with a decorator on its PTransform, in its own module, next to
the dataclass of its config section::

    @dataclass
    class LicenseConfig:
        enabled: bool = True
        ...

    declare_stage("license", 10, config_class=LicenseConfig, reasons=[...],
                  transform="pipeline.stages.transforms:LicenseStage")

The PTransform is named as ``"module:Class"`` and imported only when the graph is built, so the
declarations, and with them ``load_config()``, need no Apache Beam (a config error, ``curate
verify`` and ``curate audit`` start without it). A class works too (``register_stage`` decorator).
The section becomes the ``license:`` key of the config (:func:`pipeline.config.config_class`
builds ``Config`` from the registered sections). Every module of the ``pipeline.stages`` package is imported once, on first use, so a new module
there is found without a list to edit. The graph, the run summary, the manifest's stage counts and
``curate verify`` read the order from here.

Plugin stages come from other packages through the entry-point group ``curation_pipeline.stages``
(see docs/plugins.md); they run after the built-in per-record stages and before dedup, in the
alphabetical order of their names, so the order can be recomputed from a run's outputs alone.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable

ENTRY_POINT_GROUP = "curation_pipeline.stages"
# Kinds: "record" stages see every record (one batch ParDo each); "chain" stages also pass
# records on but are not per-record ParDos (ingest, dedup, output); "candidates" stages count their
# own items, not input records (trajectory).
RECORD, CHAIN, CANDIDATES = "record", "chain", "candidates"
# Plugins sit between the last built-in per-record stage and dedup.
PLUGIN_ORDER = 45
# A plugin's name becomes a decisions `stage`, a summary key ("stage/reason") and a metric name.
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class TransformRef:
    """A stage's PTransform class named ``"module:Class"``, imported on first use: calling it
    builds the transform, and its attributes are the class's (``check_rules``)."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target

    def resolve(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def __eq__(self, other) -> bool:
        return isinstance(other, TransformRef) and other.target == self.target

    def __hash__(self) -> int:
        return hash(self.target)

    def __repr__(self) -> str:
        return f"TransformRef({self.target!r})"


def beam_half(module: str, names: tuple[str, ...] | None, target: str = "pipeline.stages.transforms"):
    """A module ``__getattr__`` handing out ``names`` (None: any name) from ``target``, imported on
    first use: ``from pipeline.stages.langid import LanguageStage`` keeps working while importing
    the stage module imports no Beam."""

    def __getattr__(name: str):
        if (names is None and not name.startswith("__")) or (names is not None and name in names):
            try:
                return getattr(importlib.import_module(target), name)
            except AttributeError:
                pass
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


@dataclass(frozen=True)
class StageInfo:
    name: str
    order: int
    config_section: str | None = None  # the config key whose `enabled` switches the stage
    config_class: type | None = None  # the dataclass of that section, when this stage declares it
    reasons: tuple[str, ...] = ()
    kind: str = RECORD
    transform: Any = None  # the PTransform class or a TransformRef to it; None for pseudo-stages
    enabled_when: Callable[[Any], bool] | None = field(default=None, compare=False)

    def enabled(self, cfg) -> bool:
        if self.enabled_when is not None:
            return bool(self.enabled_when(cfg))
        return self.config_section is not None and bool(getattr(cfg, self.config_section).enabled)


_STAGES: dict[str, StageInfo] = {}
_LOADED = False
_LOADING = False


def _add(info: StageInfo) -> None:
    known = _STAGES.get(info.name)
    if known is not None and known.transform != info.transform:
        raise RuntimeError(f"stage {info.name!r} is registered twice")
    for other in _STAGES.values():
        if (info.config_class is not None and other.name != info.name and other.config_class is not None
                and other.config_section == info.config_section):
            raise RuntimeError(f"config section {info.config_section!r} is declared by stages {other.name!r} and {info.name!r}")
    _STAGES[info.name] = info


def declare_stage(name: str, order: int, *, config_section: str | None = None, config_class: type | None = None,
                  reasons=(), kind: str = RECORD, transform: Any = None,
                  enabled_when: Callable[[Any], bool] | None = None) -> StageInfo:
    """Declare a stage; ``config_class`` (a dataclass) makes ``config_section`` (default: the
    stage's name) a section of the config; ``transform`` is the PTransform class or its
    ``"module:Class"`` (imported when the graph is built)."""
    if isinstance(transform, str):
        transform = TransformRef(transform)
    if config_class is not None and config_section is None:
        config_section = name
    info = StageInfo(name, order, config_section, config_class, tuple(reasons), kind, transform, enabled_when)
    _add(info)
    return info


def register_stage(name: str, order: int, **declaration):
    """Class decorator on a built-in stage's PTransform (see the module docstring and
    :func:`declare_stage` for the keywords)."""

    def decorate(cls):
        declare_stage(name, order, transform=cls, **declaration)
        return cls

    return decorate


# Pseudo-stages the counts use: where records enter and where kept ones get their final row.
declare_stage("ingest", 0, kind=CHAIN, reasons=("parse_error", "not_an_object", "missing_text", "text_not_string",
                                                "invalid_utf8", "record_too_large", "unreadable_file",
                                                "unreadable_record", "empty"))
declare_stage("output", 1000, kind=CHAIN, reasons=("kept",))


def _load_builtins() -> None:
    global _LOADED, _LOADING
    if _LOADED:
        return
    if _LOADING:  # a partial list would build a Config without the sections still to come
        raise RuntimeError("a pipeline.stages module read the stage registry (or pipeline.config.Config) while it was imported")
    import pipeline.stages as package

    _LOADING = True
    try:
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in ("base", "registry", "transforms"):  # transforms: the Beam half
                importlib.import_module(f"{package.__name__}.{module.name}")
    finally:
        _LOADING = False
    _LOADED = True


def stages() -> list[StageInfo]:
    """Every built-in stage and pseudo-stage, in run order."""
    _load_builtins()
    return sorted(_STAGES.values(), key=lambda s: (s.order, s.name))


def config_sections() -> list[tuple[str, type]]:
    """(section name, dataclass) of every section a stage declares, in run order."""
    return [(s.config_section, s.config_class) for s in stages() if s.config_class is not None]


def get(name: str) -> StageInfo:
    _load_builtins()
    return _STAGES[name]


def record_stages() -> list[StageInfo]:
    """The built-in per-record stages, in run order."""
    return [s for s in stages() if s.kind == RECORD]


def stage_order(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Names of the stages records flow through (chain and per-record, not candidates), in order;
    ``extra`` names (plugin stages) are placed where plugins run."""
    chain = [s for s in stages() if s.kind != CANDIDATES]
    before = [s.name for s in chain if s.order < PLUGIN_ORDER]
    after = [s.name for s in chain if s.order >= PLUGIN_ORDER]
    return before + sorted(n for n in extra if n not in _STAGES) + after


def counts_separately(name: str) -> bool:
    """True for stages whose counts are their own items (trajectory candidates), not records."""
    info = _STAGES.get(name) if _LOADED else None
    if info is None:
        _load_builtins()
        info = _STAGES.get(name)
    return info is not None and info.kind == CANDIDATES


# --- plugins ----------------------------------------------------------------------------------
def installed_plugins() -> dict[str, Any]:
    """Entry points of the ``curation_pipeline.stages`` group, by name."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def enabled_plugins(cfg) -> list[str]:
    """Names of the plugins the config turns on, in run order (alphabetical)."""
    return sorted(name for name, options in (cfg.plugins or {}).items() if options.get("enabled", False))


def check_plugins(cfg) -> None:
    """On the driver, before OUT is touched: every configured plugin is installed, names a
    ``StageCore`` subclass and does not reuse a built-in stage's name; otherwise a ``ConfigError``
    (exit 2) naming it and the installed ones."""
    from pipeline.config import ConfigError
    from pipeline.stages.base import StageCore

    if not cfg.plugins:
        return
    installed = installed_plugins()
    names = ", ".join(sorted(installed)) or "none"
    _load_builtins()
    taken = set(_STAGES) | {s.config_section for s in _STAGES.values() if s.config_section}
    for name in sorted(cfg.plugins):
        if not PLUGIN_NAME.fullmatch(name):
            raise ConfigError(f"config key 'plugins.{name}': a plugin name is lower-case letters, digits and _ (at most 64)")
        if name in taken:
            raise ConfigError(f"config key 'plugins.{name}': the name of a built-in stage")
        if name not in installed:
            raise ConfigError(f"config key 'plugins.{name}': no plugin stage of that name is installed (installed: {names})")
        if not cfg.plugins[name].get("enabled", False):
            continue
        try:
            core = installed[name].load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is the user's to fix: name it
            raise ConfigError(f"config key 'plugins.{name}': the plugin cannot be loaded ({type(exc).__name__})") from None
        if not (isinstance(core, type) and issubclass(core, StageCore)):
            raise ConfigError(f"config key 'plugins.{name}': entry point {installed[name].value} is not a StageCore subclass")


class PluginCoreFactory:
    """Builds a plugin's core on a worker: small to pickle (names, not the class), so any worker
    that can import the plugin's package can run it."""

    def __init__(self, name: str, target: str, config) -> None:
        self.name = name
        self.target = target
        self.config = config

    def __call__(self):
        module, _, attr = self.target.partition(":")
        obj = importlib.import_module(module.strip())
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
        core = obj(self.config)
        core.name = self.name  # decisions rows say the name the user configured
        core.options = {k: v for k, v in self.config.plugins[self.name].items() if k != "enabled"}
        return core


def plugin_transform(cfg, name: str, run_id: str):
    from pipeline.verdicts import RecordStage

    return RecordStage.from_factory(PluginCoreFactory(name, installed_plugins()[name].value, cfg), cfg, run_id)
