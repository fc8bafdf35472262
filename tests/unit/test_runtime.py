"""Process tuning (malloc arenas) and the run's Beam options (views built once)."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipeline.runners import CachedViewOptions, pipeline_options

_PROBE = (
    "import json, os; from pipeline.runtime import limit_malloc_arenas; cap = limit_malloc_arenas(); "
    "child = __import__('subprocess').run([__import__('sys').executable, '-c', "
    "'import os; print(os.environ.get(\"MALLOC_ARENA_MAX\"))'], capture_output=True, text=True).stdout.strip(); "
    "print(json.dumps([cap, os.environ.get('MALLOC_ARENA_MAX'), child]))"
)


def _probe(env_value: str | None) -> list:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if env_value is not None:
        env["MALLOC_ARENA_MAX"] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas exist on Linux only")
def test_malloc_arenas_are_capped_for_the_process_and_the_workers_it_starts():
    from pipeline.runtime import MALLOC_ARENAS

    cap, own, child = _probe(None)
    assert cap == MALLOC_ARENAS and own == str(MALLOC_ARENAS)
    assert child == str(MALLOC_ARENAS)  # a local SDK worker process starts with the same cap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas exist on Linux only")
def test_malloc_arena_cap_set_by_the_user_wins():
    assert _probe("4") == [4, "4", "4"]


def test_option_views_are_built_once_and_share_their_values():
    options = pipeline_options(["--direct_num_workers=2", "--runner=DirectRunner"])
    assert isinstance(options, CachedViewOptions)
    direct = options.view_as(DirectOptions)
    assert options.view_as(DirectOptions) is direct
    assert direct.direct_num_workers == 2 and options.view_as(StandardOptions).runner == "DirectRunner"

    direct.direct_num_workers = 3  # a write through one view is seen by every view and by the options
    assert options.view_as(DirectOptions).direct_num_workers == 3
    assert options.get_all_options()["direct_num_workers"] == 3
    # same values as Beam's own PipelineOptions built from the same arguments
    plain = PipelineOptions(["--direct_num_workers=3", "--runner=DirectRunner"])
    assert options.get_all_options(drop_default=True) == plain.get_all_options(drop_default=True)


def test_option_view_cache_is_not_pickled():
    options = pipeline_options(["--direct_num_workers=2"])
    options.view_as(DirectOptions)
    assert "_view_cache" in options.__dict__
    again = pickle.loads(pickle.dumps(options))
    assert "_view_cache" not in again.__dict__
    assert again.view_as(DirectOptions).direct_num_workers == 2
