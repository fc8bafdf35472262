"""The rules' YAML files read with libyaml's parser when PyYAML was built with it.

``yaml.CSafeLoader`` builds the same documents as ``yaml.safe_load`` (the same safe constructors and
resolvers, with a C scanner and parser) several times faster; every worker reads each rules file its
stages use when it sets them up, and the driver reads them once more to check them. Errors are
``yaml.YAMLError`` subclasses either way (their message wording differs slightly).
"""
from __future__ import annotations

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream):
    """``yaml.safe_load(stream)`` through :data:`LOADER`."""
    return yaml.load(stream, Loader=LOADER)  # noqa: S506 - a safe loader (C or Python)
