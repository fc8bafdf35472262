import pytest

from pipeline.config import Config, ConfigError, from_dict, load_config


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
    again = from_dict(cfg.to_dict())
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
