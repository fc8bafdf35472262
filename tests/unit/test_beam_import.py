"""pipeline.beam_import: Beam and pyarrow's pandas probe without importing pandas, pandas usable after."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_beam_and_arrow_conversions_do_not_import_pandas():
    out = _python(
        "import sys\n"
        "from pipeline.beam_import import import_beam\n"
        "beam = import_beam()\n"
        "import pyarrow as pa\n"
        "from apache_beam.io.filesystems import FileSystems\n"
        "pa.array(['a', None]); pa.array(('x',), pa.string()); pa.array([{'key': 'k', 'value': 1}])\n"
        "print(beam.__name__, 'pandas' in sys.modules, sys.modules.get('pandas', 0) is None)\n"
    )
    assert out == "apache_beam False False"


def test_pandas_still_imports_and_converts_afterwards():
    out = _python(
        "from pipeline.beam_import import import_beam\n"
        "import_beam()\n"
        "import pyarrow as pa\n"
        "import pandas as pd\n"
        "frame = pa.table({'n': [1, 2], 's': ['a', None]}).to_pandas()\n"
        "back = pa.Table.from_pandas(frame, preserve_index=False)\n"
        "print(type(frame).__name__, back.column('s').to_pylist(), pa.array(pd.Series(['x', None])).to_pylist())\n"
    )
    assert out == "DataFrame ['a', None] ['x', None]"


def test_already_imported_beam_is_returned_as_is():
    out = _python(
        "import apache_beam, sys\n"
        "from pipeline.beam_import import import_beam\n"
        "print(import_beam() is apache_beam, 'pandas' in sys.modules)\n"
    )
    assert out == "True True"  # imported the usual way first: nothing hidden, nothing undone


def test_a_stages_off_run_writes_its_release_without_importing_pandas(tmp_path):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text('{"id": "1", "text": "one short document"}\n{"id": "2", "text": "another one"}\nnot json\n',
                      encoding="utf-8")
    config = tmp_path / "off.yaml"
    config.write_text("".join(f"{s}: {{enabled: false}}\n" for s in ("license", "langid", "quality", "pii", "dedup")),
                      encoding="utf-8")
    out = _python(
        "import sys\n"
        "from pipeline.cli import main\n"
        f"rc = main(['run', '--input', {str(corpus)!r}, '--output', {str(tmp_path / 'out')!r}, '--config', {str(config)!r}, '--quiet'])\n"
        "print(rc, 'apache_beam' in sys.modules, 'pandas' in sys.modules)\n"
    ).splitlines()[-1]
    assert out == "0 True False"
    gcp = _python(  # the same run, local paths only: Beam's GCP client libraries were never imported
        "import sys\n"
        "from pipeline.cli import main\n"
        f"rc = main(['run', '--input', {str(corpus)!r}, '--output', {str(tmp_path / 'out')!r}, '--config', {str(config)!r}, '--quiet', '--overwrite'])\n"
        "print(rc, [m for m in ('google.cloud.storage', 'apitools', 'apache_beam.io.gcp.bigquery') if m in sys.modules])\n"
    ).splitlines()[-1]
    assert gcp == "0 []"
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "documents").num_rows == 2
    assert pq.read_table(tmp_path / "out" / "quarantine").column("reason").to_pylist() == ["parse_error"]


def test_reading_parquet_after_pyarrow_without_pandas_does_not_import_it(tmp_path):
    out = _python(
        "import sys\n"
        "from pipeline.beam_import import pyarrow_without_pandas\n"
        "pyarrow_without_pandas()\n"
        "import pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset\n"
        f"pq.write_table(pa.table({{'s': ['a', None]}}), {str(tmp_path / 't.parquet')!r})\n"
        f"got = pq.read_table({str(tmp_path / 't.parquet')!r}).column('s').to_pylist()\n"
        "print(got, 'pandas' in sys.modules, type(pa.table({'n': [1]}).to_pandas()).__name__)\n"
    )
    assert out == "['a', None] False DataFrame"


_FILESYSTEMS = (
    "import sys\n"
    "from apache_beam.io.filesystems import FileSystems\n"
    "def scheme(path):\n"
    "    try:\n"
    "        return type(FileSystems.get_filesystem(path)).__name__\n"
    "    except ValueError:\n"
    "        return 'unknown'\n"
    "print(scheme('/tmp/x'), scheme('gs://bucket/x'), 'google.cloud.storage' in sys.modules, 'apitools' in sys.modules)\n"
)


def test_local_only_leaves_the_gcp_clients_unimported():
    out = _python("from pipeline.beam_import import import_beam\nimport_beam(local_only=True)\n" + _FILESYSTEMS)
    assert out == "LocalFileSystem unknown False False"


def test_local_only_comes_from_the_environment_for_worker_processes(monkeypatch):
    monkeypatch.setenv("CURATE_LOCAL_PATHS_ONLY", "1")
    assert _python("from pipeline.beam_import import import_beam\nimport_beam()\n" + _FILESYSTEMS) == "LocalFileSystem unknown False False"
    monkeypatch.setenv("CURATE_LOCAL_PATHS_ONLY", "0")
    assert _python("from pipeline.beam_import import import_beam\nimport_beam()\n" + _FILESYSTEMS) == "LocalFileSystem GCSFileSystem True True"


def test_gcp_clients_are_kept_whenever_a_run_may_need_them():
    import argparse

    from pipeline.cli import _local_paths_only
    from pipeline.config import Config

    def local(inputs=("in.jsonl",), output="out", against=None, beam_args=()):
        return _local_paths_only(argparse.Namespace(input=list(inputs), output=output, dedup_against=against), Config(), list(beam_args))

    assert local() and local(beam_args=["--runner=DirectRunner", "--direct_running_mode=multi_processing"])
    assert not local(inputs=["in.jsonl", "gs://bucket/crawl/"])
    assert not local(output="GS://bucket/out")
    assert not local(against=["gs://bucket/old-release"])
    assert not local(beam_args=["--temp_location=gs://bucket/tmp"])
    assert not local(beam_args=["--runner=DataflowRunner"]) and not local(beam_args=["--runner", "FlinkRunner"])


def test_every_spelling_beam_resolves_to_its_direct_or_fnapi_runner_is_the_offline_local_runner():
    # Oracle: Beam's own runner-name table. A spelling Beam would send to its DirectRunner (which
    # tries the downloading Prism runner first) must select our offline local runner instead.
    from apache_beam.runners.runner import _RUNNER_MAP

    from pipeline.beam_import import is_local_runner
    from pipeline.runners import runner_name

    local_paths = {
        "apache_beam.runners.direct.direct_runner.DirectRunner",
        "apache_beam.runners.direct.direct_runner.SwitchingDirectRunner",
        "apache_beam.runners.portability.fn_api_runner.FnApiRunner",
    }
    assert local_paths <= set(_RUNNER_MAP.values())
    for key, path in _RUNNER_MAP.items():
        short = key.removesuffix("runner")
        spellings = [key, key.upper(), short, short.title(), path, path.lower()]
        for spelled in spellings:
            assert is_local_runner(spelled) == (path in local_paths), spelled
        assert (runner_name_of(runner_name, key) == "DirectRunner") == (path in local_paths)
    assert is_local_runner(None) and is_local_runner("")
    assert not is_local_runner("mycompany.runners.DirectRunner")  # not Beam's: Beam imports it as given


def runner_name_of(runner_name, runner):
    from pipeline.runners import pipeline_options

    return runner_name(pipeline_options([f"--runner={runner}"]))


def test_a_run_named_with_a_lower_case_direct_runner_is_local_and_keeps_gcp_clients_unimported(tmp_path):
    import argparse

    from pipeline.cli import _local_paths_only
    from pipeline.config import Config

    args = argparse.Namespace(input=["in.jsonl"], output="out", dedup_against=None)
    for spelled in ("directrunner", "Direct", "apache_beam.runners.direct.direct_runner.DirectRunner"):
        assert _local_paths_only(args, Config(), [f"--runner={spelled}"]), spelled
    assert not _local_paths_only(args, Config(), ["--runner=PrismRunner"])


def test_beam_imports_without_the_mongodb_driver_silently_and_the_driver_imports_afterwards():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import sys\n"
            "from pipeline.beam_import import import_beam\n"
            "import_beam()\n"
            "print('pymongo' in sys.modules, 'bson' in sys.modules)\n"
            "import pymongo\n"
            "print(pymongo.__name__)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "False", "pymongo"]
    assert "bson" not in proc.stderr  # the connector's "Could not find a compatible bson package" warning
