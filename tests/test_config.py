"""The config model: defaults, overrides, per-language sections, errors that name the key."""

from __future__ import annotations

import pytest

from sieve.schemas.config import ConfigError, load_config
from tests.conftest import write_config


def test_defaults_load_and_hash_is_stable():
    a, b = load_config(), load_config()
    assert a.hash == b.hash and len(a.hash) == 16
    assert a.extract.extractor == "trafilatura"


def test_user_file_overrides_only_the_keys_it_names(tmp_path):
    cfg = load_config(write_config(tmp_path / "c.yaml", "extract:\n  extractor: resiliparse\n"))
    assert cfg.extract.extractor == "resiliparse"
    assert cfg.extract.favor_precision == load_config().extract.favor_precision
    assert cfg.hash != load_config().hash


def test_runner_options_do_not_change_the_config_hash(tmp_path):
    cfg = load_config(write_config(tmp_path / "c.yaml", 'beam:\n  options: ["--dask_client_address=tcp://h:8786"]\n'))
    assert cfg.beam.options == ["--dask_client_address=tcp://h:8786"] and cfg.hash == load_config().hash


def test_language_sections_override_the_default_section(tmp_path):
    cfg = load_config(write_config(tmp_path / "c.yaml", "languages:\n  vi: {min_language_score: 0.9}\n"))
    assert cfg.language("vi").min_language_score == 0.9
    assert cfg.language("en").min_language_score == 0.65
    assert cfg.language("fr").min_language_score == cfg.language("default").min_language_score


@pytest.mark.parametrize(
    "text, message",
    [
        ("extract:\n  bogus: 1\n", "key 'extract.bogus': unknown key"),
        ("nonsense: {}\n", "key 'nonsense': unknown key"),
        ("guard:\n  document_timeout_seconds: -1\n", "key 'guard.document_timeout_seconds'"),
        ("extract:\n  extractor: magic\n", "key 'extract.extractor'"),
        ("languages:\n  vi: {min_language_score: 2}\n", "languages.vi: key 'min_language_score'"),
        ("languages:\n  vi: {min_score: 0.5}\n", "languages.vi: key 'min_score': unknown key"),
        ("- just\n- a list\n", "expected a mapping"),
        ("extract: [\n", "not valid YAML"),
    ],
)
def test_bad_config_is_an_error_naming_file_and_key(tmp_path, text, message):
    path = write_config(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert message in str(e.value) and path in str(e.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
