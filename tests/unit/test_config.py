import json

import pytest

from pipeline.config import Config, ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_spec_keys():
    cfg = load_config()
    assert cfg.license.enabled and cfg.quality.enabled and cfg.pii.enabled
    assert cfg.langid.allowed == ["*"] and cfg.langid.min_score == 0.0
    assert (cfg.dedup.exact, cfg.dedup.near, cfg.dedup.threshold, cfg.dedup.num_perm) == (True, True, 0.8, 128)
    assert cfg.trajectories.enabled is False and cfg.trajectories.teacher.backend == "replay"
    assert cfg.trajectories.teacher.path == "completions.jsonl"


def test_yaml_overrides_subset_and_keeps_other_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "dedup: {threshold: 0.7}\nlangid: {allowed: [ko, en], min_score: 0.5}\n"))
    assert cfg.dedup.threshold == 0.7 and cfg.dedup.num_perm == 128
    assert cfg.langid.allowed == ["ko", "en"] and cfg.langid.min_score == 0.5


@pytest.mark.parametrize(
    "text, key",
    [
        ("dedup: {treshold: 0.7}\n", "dedup.treshold"),
        ("nonsense: 1\n", "nonsense"),
        ("dedup: {num_perm: many}\n", "dedup.num_perm"),
        ("pii: {enabled: 'yes'}\n", "pii.enabled"),
        ("langid: {allowed: ko}\n", "langid.allowed"),
        ("trajectories: {teacher: {backend: gpt}}\n", "trajectories.teacher.backend"),
        ("trajectories: {teacher: {bogus: 1}}\n", "trajectories.teacher.bogus"),
        ("dedup: {threshold: 1.5}\n", "dedup.threshold"),
        ("run: {shard_max_rows: 0}\n", "run.shard_max_rows"),
        ("dedup: true\n", "dedup"),
        ("dedup: {num_perm: 1000000}\n", "dedup.num_perm"),
        ("dedup: {num_perm: 1}\n", "dedup.num_perm"),
        ("dedup: {threshold: 0}\n", "dedup.threshold"),
        ("dedup: {shingle_words: 0}\n", "dedup.shingle_words"),
        ("dedup: {shingle_chars: -3}\n", "dedup.shingle_chars"),
        ("dedup: {max_iterations: 0}\n", "dedup.max_iterations"),
        ("dedup: {max_iterations: 100000}\n", "dedup.max_iterations"),
        ("dedup: {one_step_max_nodes: -1}\n", "dedup.one_step_max_nodes"),
        ("dedup: {one_step_max_nodes: 0}\n", "dedup.one_step_max_nodes"),
        ("dedup: {components: union_find}\n", "dedup.components"),
        ("dedup: {one_step_max_nodes: 1.5}\n", "dedup.one_step_max_nodes"),
        ("dedup: {seed: -1}\n", "dedup.seed"),
        ("pii: {score_threshold: 1.5}\n", "pii.score_threshold"),
        ("pii: {score_threshold: -0.1}\n", "pii.score_threshold"),
        ("pii: {entities: []}\n", "pii.entities"),
        ("pii: {languages: []}\n", "pii.languages"),
        ("langid: {mixed_share: 1.2}\n", "langid.mixed_share"),
        ("langid: {allowed: []}\n", "langid.allowed"),
        ("run: {progress_seconds: 0}\n", "run.progress_seconds"),
        ("trajectories: {contamination_ngram: 0}\n", "trajectories.contamination_ngram"),
        ("trajectories: {teacher: {top_p: 0}}\n", "trajectories.teacher.top_p"),
        ("trajectories: {teacher: {concurrency: 0}}\n", "trajectories.teacher.concurrency"),
        ("trajectories: {teacher: {backoff_seconds: 10, max_backoff_seconds: 1}}\n", "trajectories.teacher.max_backoff_seconds"),
    ],
)
def test_bad_key_or_type_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert f"'{key}'" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_bad_yaml_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "a: [1,\n"))


def test_resolved_config_round_trips_and_hash_is_stable():
    cfg = load_config(overrides={"dedup": {"threshold": 0.9}})
    again = load_config(overrides=cfg.to_dict())  # the manifest's resolved config, given back
    assert again == cfg and again.sha256() == cfg.sha256()
    assert Config().sha256() != cfg.sha256()


def test_rules_ship_with_the_package():
    cfg = load_config()
    rules = cfg.rules_path()
    assert rules.is_dir() and any(rules.iterdir())


def test_custom_rules_dir_travels_with_the_config_to_workers(tmp_path):
    """A worker that never saw the submitting machine's rules_dir still reads the same rules."""
    import pickle
    import shutil

    from pipeline.resources import rules_dir

    custom = tmp_path / "my-rules"
    shutil.copytree(rules_dir(), custom)
    (custom / "quality.yaml").write_text((custom / "quality.yaml").read_text(encoding="utf-8") + "\n# reviewed 2026-11\n", encoding="utf-8")
    cfg = load_config(write(tmp_path, f"rules_dir: {custom}\n"))
    assert cfg.rule_file("quality.yaml") == custom / "quality.yaml"
    assert "_rules_snapshot" not in cfg.to_dict() and cfg.sha256() == load_config(write(tmp_path, f"rules_dir: {custom}\n")).sha256()

    shipped = pickle.dumps(cfg)  # what Beam does to the stage objects holding the config
    shutil.rmtree(custom)  # the worker's machine has no such folder
    on_worker = pickle.loads(shipped)
    path = on_worker.rule_file("quality.yaml")
    assert path != custom / "quality.yaml" and path.read_text(encoding="utf-8").endswith("# reviewed 2026-11\n")
    assert on_worker.rule_file("pii/recognizers.yaml").is_file()
    assert pickle.loads(shipped).rules_path() == on_worker.rules_path()  # written once per process


@pytest.mark.parametrize(
    "text",
    [
        "dedup: {num_perm: 2, threshold: 1.0, shingle_words: 1, max_iterations: 256, seed: 4294967295}\n",
        "pii: {score_threshold: 0.0}\nlangid: {min_scores: {ja: 1.0}, mixed_share: 0}\n",
        "trajectories: {teacher: {temperature: 0, top_p: 1.0, max_retries: 0}}\n",
    ],
)
def test_values_at_the_edges_of_their_ranges_are_accepted(tmp_path, text):
    load_config(write(tmp_path, text))


# --- preflight: what the YAML alone cannot show ------------------------------------------------
from pipeline.config import preflight  # noqa: E402


def test_pseudonym_operator_needs_its_secret(monkeypatch):
    cfg = load_config(overrides={"pii": {"operator": "pseudonym", "secret_env": "CURATE_TEST_SECRET"}})
    monkeypatch.delenv("CURATE_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError, match="'pii.operator'.*CURATE_TEST_SECRET"):
        preflight(cfg)
    monkeypatch.setenv("CURATE_TEST_SECRET", "s")
    preflight(cfg)
    # a disabled stage needs nothing
    monkeypatch.delenv("CURATE_TEST_SECRET")
    preflight(load_config(overrides={"pii": {"enabled": False, "operator": "pseudonym", "secret_env": "CURATE_TEST_SECRET"}}))


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"trajectories": {"enabled": True, "teacher": {"path": "{missing}"}}}, "trajectories.teacher.path"),
        ({"trajectories": {"enabled": True, "teacher": {"backend": "programmatic"}, "seeds": ["{present}", "{missing}"]}}, "trajectories.seeds[1]"),
        ({"trajectories": {"enabled": True, "teacher": {"path": "{present}"}, "decontaminate": ["{missing}"]}}, "trajectories.decontaminate[0]"),
        ({"trajectories": {"enabled": True, "teacher": {"path": "{present}"}, "tokenizer": "{missing}"}}, "trajectories.tokenizer"),
        ({"dedup": {"against": ["{folder}"]}}, "dedup.against[0]"),
        ({"dedup": {"against": ["{folder}/*.parquet"]}}, "dedup.against[0]"),
        ({"langid": {"model": "{missing}"}}, "langid.model"),
        ({"quality": {"rules": "{missing}"}}, "quality.rules"),
        ({"pii": {"spacy_model": "xx_no_such_model_sm"}}, "pii.spacy_model"),
    ],
)
def test_files_and_models_the_config_names_must_exist(tmp_path, overrides, key):
    present = tmp_path / "present.jsonl"
    present.write_text("{}\n", encoding="utf-8")
    (tmp_path / "empty-folder").mkdir()
    names = {"missing": str(tmp_path / "missing.jsonl"), "present": str(present), "folder": str(tmp_path / "empty-folder")}
    filled = json.loads(json.dumps(overrides).replace("{missing}", names["missing"]).replace("{present}", names["present"]).replace("{folder}", names["folder"]))
    with pytest.raises(ConfigError) as err:
        preflight(load_config(overrides=filled))
    assert f"'{key}'" in str(err.value) and "\n" not in str(err.value)


def test_present_files_pass_preflight(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("{}\n", encoding="utf-8")
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"question": "What is 2 + 2?"}\n\n"a bare string item"\n', encoding="utf-8")
    (tmp_path / "sigs").mkdir()
    (tmp_path / "sigs" / "part-00000.parquet").write_bytes(b"PAR1")
    preflight(load_config(overrides={
        "dedup": {"against": [str(tmp_path / "sigs")]},
        "trajectories": {"enabled": True, "teacher": {"backend": "programmatic"}, "seeds": [str(seeds)], "decontaminate": [str(bench)]},
    }))


@pytest.mark.parametrize("name, content, says", [
    ("bench.jsonl", b'{"question": "ok item"}\n{"question": "secret 010-1234-5678"\n', "line 2: not valid JSON"),
    ("bench.jsonl", b'{"question": "ok item"}\n\n{"answer": "42"}\n', "line 3: no text"),
    ("bench.jsonl", b'[1, 2]\n', "line 1: no text"),
    ("bench.txt", b"short line\n" + b"x" * 5000 + b"\n", "line 2: longer than 4096 bytes"),
    ("bench.jsonl.gz", __import__("gzip").compress(b'{"question": "ok"}\n' * 50)[:40], "cannot be read"),
    ("bench.jsonl.bz2", __import__("bz2").compress(b'{"question": "ok"}\n' * 50)[:40], "cannot be read"),
    ("bench.jsonl.zst", __import__("zstandard").ZstdCompressor().compress(b'{"question": "ok"}\n' * 50)[:30], "cannot be read"),
])
def test_a_decontamination_file_that_cannot_be_indexed_whole_is_refused_before_the_run(tmp_path, name, content, says):
    # A benchmark item left out of the index would let its contamination through unseen, so a bad
    # line is an error naming the file and line, never quoting it; an oversized line is never held whole.
    bench = tmp_path / name
    bench.write_bytes(content)
    cfg = load_config(overrides={"run": {"max_record_bytes": 4096},
                                 "trajectories": {"enabled": True, "teacher": {"backend": "programmatic"},
                                                  "seeds": [str(bench)], "decontaminate": [str(bench)]}})
    with pytest.raises(ConfigError, match="trajectories.decontaminate\\[0\\]") as error:
        preflight(cfg)
    assert says in str(error.value) and "010-1234" not in str(error.value) and "xxxx" not in str(error.value)


def test_unknown_pii_entity_is_named_before_the_run():
    with pytest.raises(ConfigError, match="'pii.entities'.*NOT_AN_ENTITY"):
        preflight(load_config(overrides={"pii": {"entities": ["EMAIL_ADDRESS", "NOT_AN_ENTITY"]}}))
