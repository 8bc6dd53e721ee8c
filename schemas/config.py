"""The config model: defaults.yaml deep-merged with a user YAML file, validated strictly.

Every threshold lives in defaults.yaml; the models below only say what keys exist and what values are legal.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadConfig(_Strict):
    max_payload_bytes: Annotated[int, Field(gt=0)]
    html_content_types: list[str]
    records_per_split: Annotated[int, Field(gt=0)]


class ExtractConfig(_Strict):
    extractor: Literal["trafilatura", "resiliparse"]
    favor_precision: bool
    fast: bool
    include_tables: bool
    min_chars: Annotated[int, Field(ge=0)]
    unicode_form: Literal["NFC", "NFKC", "none"]


class GuardConfig(_Strict):
    document_timeout_seconds: Annotated[float, Field(ge=0)]


class UrlFilterConfig(_Strict):
    enabled: bool
    blocklist: str | None
    extra_blocklists: list[str]
    extra_domains: list[str]
    path_keyword_hits: Annotated[int, Field(ge=1)]
    adult_keywords: dict[str, list[str]]
    spam_keywords: dict[str, list[str]]


class LanguageIdConfig(_Strict):
    enabled: bool
    keep: list[str]


class CleanupConfig(_Strict):
    """Switches of the language-independent cleanup groups (filters/normalize.py)."""

    control_chars: bool
    zero_width: bool
    whitespace: bool
    quotes: bool
    dashes: bool
    ellipsis: bool
    fullwidth: bool


class NormalizeConfig(_Strict):
    cleanup: CleanupConfig
    vietnamese_tone_style: Literal["old", "new", "keep"]


class LanguageConfig(_Strict):
    """Settings that differ per language; every key may be overridden in a language's own section."""

    min_language_score: Annotated[float, Field(ge=0, le=1)]


class OutputConfig(_Strict):
    compression: Literal["zstd", "snappy", "gzip", "none"]
    row_group_rows: Annotated[int, Field(gt=0)]


class BeamConfig(_Strict):
    options: list[str]


class Config(_Strict):
    read: ReadConfig
    url_filter: UrlFilterConfig
    extract: ExtractConfig
    guard: GuardConfig
    language_id: LanguageIdConfig
    normalize: NormalizeConfig
    languages: dict[str, dict[str, Any]]
    output: OutputConfig
    beam: BeamConfig

    def model_post_init(self, _: Any) -> None:
        if "default" not in self.languages:
            raise ValueError("languages.default is required")
        for lang in self.languages:
            self.language(lang)  # validates every section eagerly

    def language(self, lang: str | None) -> LanguageConfig:
        """Settings for one language: its own section over the default section."""
        merged = {**self.languages["default"], **self.languages.get(lang or "default", {})}
        try:
            return LanguageConfig(**merged)
        except ValidationError as e:
            raise ValueError(f"languages.{lang}: {_first_error(e)}") from None

    def data_files(self) -> list[str]:
        """Files the config names whose contents decide what a run writes; the hash covers only their names."""
        return [path for path in [self.url_filter.blocklist, *self.url_filter.extra_blocklists] if path]

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False, allow_unicode=True)

    @property
    def hash(self) -> str:
        """Content hash of the settings that decide what a run writes; written into every manifest.

        The beam section (runner options, scheduler addresses) says how a job runs, not what it writes, so a
        run resumed on another cluster is still the same run.
        """
        decisive = {k: v for k, v in self.as_dict().items() if k != "beam"}
        canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return f"key '{key}': {msg}" if key else msg


def load_config(path: str | Path | None = None) -> Config:
    """Load defaults, overlay the user's YAML file (if any), validate, and return the effective config."""
    data = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    source = "built-in defaults"
    if path is not None:
        source = str(path)
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config {path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(user, dict):
            raise ConfigError(f"config {path}: expected a mapping of sections at the top level")
        data = _merge(data, user)
    try:
        return Config(**data)
    except ValidationError as e:
        raise ConfigError(f"config {source}: {_first_error(e)}") from None
    except ValueError as e:
        raise ConfigError(f"config {source}: {e}") from None
