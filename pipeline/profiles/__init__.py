"""Runner profiles: named, documented sets of Beam options (``curate run --profile NAME``).

A profile is a YAML file in this folder (or any path ending in ``.yaml``)::

    description: one line saying what the profile is for
    options:                      # Beam options without the leading "--"
      runner: DataflowRunner
      project: ${GCP_PROJECT}     # ${VAR} / ${VAR:-default} come from the environment
      max_num_workers: 50
      experiments: [use_runner_v2]     # a list repeats the flag; true → --flag; false/null → omitted
      setup_file: "@source"       # the pyproject.toml of the checkout this package runs from

Options given on the command line win over the profile's (the profile's value for that option is
left out), so ``--profile dataflow --max_num_workers=5`` works and needs no edit. A ``${VAR}`` with
no value and no default is a usage error naming both the variable and the option, unless the
command line sets that option itself.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from pipeline.config import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
SOURCE = "@source"


def available() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PROFILES_DIR.glob("*.yaml"))}


def load(name_or_path: str) -> dict:
    """The profile's raw mapping: ``{"description": str, "options": {name: value}}``."""
    profiles = available()
    if name_or_path in profiles:
        path = profiles[name_or_path]
    elif name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"profile file not found: {name_or_path}")
    else:
        raise ConfigError(f"unknown profile '{name_or_path}' (known: {', '.join(profiles)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    unknown = set(data) - {"description", "options"}
    if unknown or not isinstance(data.get("options", {}), dict):
        raise ConfigError(f"profile {path}: expected keys 'description' and 'options' (a mapping), got {sorted(data)}")
    return {"description": str(data.get("description", "")), "options": data.get("options") or {}}


def source_pyproject() -> Path:
    """pyproject.toml of the source tree the running package comes from (for ``--setup_file``)."""
    candidate = Path(__file__).resolve().parent.parent.parent / "pyproject.toml"
    if not candidate.is_file():
        raise ConfigError(
            "setup_file '@source': this package is not running from a source checkout; "
            "pass --setup_file=/path/to/checkout/pyproject.toml, --extra_package=WHEEL or use a custom container"
        )
    return candidate


def _expand(value: str, option: str, profile: str, env) -> str:
    def repl(m: re.Match) -> str:
        var, default = m.group(1), m.group(2)
        if env.get(var):
            return env[var]
        if default is not None:
            return default
        raise ConfigError(f"profile {profile}: option --{option} needs ${{{var}}} set in the environment (or pass --{option}=...)")

    return _VAR.sub(repl, value)


def option_names(args: list[str]) -> set[str]:
    """Names of the options set in a Beam-style argument list (``--name=value``, ``--name value``, ``--flag``)."""
    return {a[2:].split("=", 1)[0].replace("-", "_") for a in args if a.startswith("--") and len(a) > 2}


def to_args(name_or_path: str, override: list[str] | None = None, env=None) -> list[str]:
    """The profile as ``--name=value`` arguments, minus every option that ``override`` sets."""
    env = os.environ if env is None else env
    skip = option_names(override or [])
    args: list[str] = []
    for option, value in load(name_or_path)["options"].items():
        if option in skip or value is None or value is False:
            continue
        if value is True:
            args.append(f"--{option}")
            continue
        for item in value if isinstance(value, list) else [value]:
            item = _expand(str(item), option, name_or_path, env)
            if item == SOURCE:
                item = str(source_pyproject())
            args.append(f"--{option}={item}")
    return args


def apply(name_or_path: str | None, beam_args: list[str], env=None) -> list[str]:
    """``beam_args`` with the profile's options in front (command-line options win)."""
    if not name_or_path:
        return list(beam_args)
    return [*to_args(name_or_path, beam_args, env), *beam_args]
