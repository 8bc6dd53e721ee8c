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
    fallback: Literal["always", "when_short", "never"]
    fallback_min_chars: Annotated[int, Field(ge=0)]
    fallback_min_share: Annotated[float, Field(ge=0)]
    fallback_favor_precision: bool
    include_tables: bool
    prune_classes: dict[str, list[str]]
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


class LanguageGateConfig(_Strict):
    """The cheap language check before extraction (filters/gate.py)."""

    enabled: bool
    min_kept_language_score: Annotated[float, Field(ge=0, le=1)]
    min_line_chars: Annotated[int, Field(ge=1)]
    head_chars: Annotated[int, Field(ge=1)]


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


class PerplexityLanguageConfig(_Strict):
    max_perplexity: Annotated[float, Field(gt=0)] | None
    min_word_order_gain: Annotated[float, Field(gt=0)] | None
    salad_max_pair_gain: float | None
    spun_max_pair_gain: float | None
    spun_max_word_order_gain: Annotated[float, Field(gt=0)] | None
    spun_max_repeat_gain: float | None
    spun_repeat_max_pair_gain: float | None


class ClassifierLanguageConfig(_Strict):
    min_score: Annotated[float, Field(ge=0, le=1)] | None


class GopherQualityConfig(_Strict):
    min_words: Annotated[int, Field(ge=0)]
    max_words: Annotated[int, Field(gt=0)]
    min_mean_word_length: Annotated[float, Field(ge=0)]
    max_mean_word_length: Annotated[float, Field(gt=0)]
    max_hash_word_ratio: Annotated[float, Field(ge=0)]
    max_ellipsis_word_ratio: Annotated[float, Field(ge=0)]
    max_bullet_lines_frac: Annotated[float, Field(ge=0, le=1)]
    max_ellipsis_lines_frac: Annotated[float, Field(ge=0, le=1)]
    min_alpha_words_frac: Annotated[float, Field(ge=0, le=1)]
    min_stop_words: Annotated[int, Field(ge=0)]
    stop_words: list[str]


class GopherRepetitionConfig(_Strict):
    max_dup_line_frac: Annotated[float, Field(ge=0, le=1)]
    max_dup_paragraph_frac: Annotated[float, Field(ge=0, le=1)]
    max_dup_line_char_frac: Annotated[float, Field(ge=0, le=1)]
    max_dup_paragraph_char_frac: Annotated[float, Field(ge=0, le=1)]
    max_top_ngram_char_frac: dict[Annotated[int, Field(ge=1)], Annotated[float, Field(ge=0, le=1)]]
    max_dup_ngram_char_frac: dict[Annotated[int, Field(ge=1)], Annotated[float, Field(ge=0, le=1)]]


class C4Config(_Strict):
    """C4's line rules (each switchable) and page rules; filters/c4.py."""

    max_word_length: Annotated[int, Field(ge=0)]
    remove_no_terminal_punct_lines: bool
    min_words_per_line: Annotated[int, Field(ge=0)]
    remove_javascript_lines: bool
    remove_policy_lines: bool
    policy_phrases: list[str]
    drop_lorem_ipsum: bool
    max_code_char_frac: Annotated[float, Field(ge=0, le=1)]
    min_sentences: Annotated[int, Field(ge=0)]


class FineWebConfig(_Strict):
    min_line_punct_frac: Annotated[float, Field(ge=0, le=1)]
    short_line_chars: Annotated[int, Field(ge=0)]
    max_short_line_frac: Annotated[float, Field(ge=0, le=1)] | None
    max_short_line_char_frac: Annotated[float, Field(ge=0, le=1)] | None
    max_dup_line_char_frac: Annotated[float, Field(ge=0, le=1)]
    max_lines_per_word: Annotated[float, Field(ge=0)]


class DedupLanguageConfig(_Strict):
    keep_accents: bool
    shingle_n: Annotated[int, Field(ge=1)]
    min_words_left: Annotated[int, Field(ge=0)]


class ToxicityLanguageConfig(_Strict):
    """Per-language settings of the toxicity stage (filters/toxicity.py): how near an addressed person must be for an
    ambiguous term to count, and drop thresholds (null switches one off)."""

    target_window: Annotated[int, Field(ge=0)]
    max_toxicity: Annotated[float, Field(ge=0, le=1)] | None
    max_toxic_words: Annotated[int, Field(ge=0)] | None
    max_profanity: Annotated[float, Field(ge=0, le=1)] | None


class LanguageConfig(_Strict):
    """Settings that differ per language; every key may be overridden in a language's own section."""

    min_language_score: Annotated[float, Field(ge=0, le=1)]
    perplexity: PerplexityLanguageConfig
    classifier: ClassifierLanguageConfig
    gopher_quality: GopherQualityConfig
    gopher_repetition: GopherRepetitionConfig
    c4: C4Config
    fineweb: FineWebConfig
    dedup: DedupLanguageConfig
    toxicity: ToxicityLanguageConfig


class PerplexityConfig(_Strict):
    """The KenLM perplexity stage (filters/perplexity.py); models maps a language to a `sieve lm train` folder."""

    enabled: bool
    models: dict[str, str]
    drop_tail: bool
    head_percentile: Annotated[float, Field(ge=0, le=100)]
    tail_percentile: Annotated[float, Field(ge=0, le=100)]

    def model_post_init(self, _: Any) -> None:
        if self.head_percentile > self.tail_percentile:
            raise ValueError(f"head_percentile {self.head_percentile:g} > tail_percentile {self.tail_percentile:g}")


class ClassifierConfig(_Strict):
    """The fastText quality classifier stage (filters/classifier.py); models maps a language to a model file."""

    enabled: bool
    models: dict[str, str]


class ToxicityConfig(_Strict):
    """The toxicity stage (filters/toxicity.py): shipped word lists, extra list files per language, the English model
    and the bias flag rule."""

    enabled: bool
    extra_lists: dict[str, list[str]]
    model_languages: list[str]
    profane_sentence_prob: Annotated[float, Field(ge=0, le=1)]
    bias_min_sentences: Annotated[int, Field(ge=1)]
    bias_min_share: Annotated[float, Field(ge=0, le=1)]


class QualityConfig(_Strict):
    """Document quality stages after language id; the heuristic ones are on/off here, thresholds per language."""

    gopher_quality: bool
    gopher_repetition: bool
    c4: bool
    fineweb: bool
    perplexity: PerplexityConfig
    classifier: ClassifierConfig
    toxicity: ToxicityConfig


class NearDedupConfig(_Strict):
    enabled: bool
    threshold: Annotated[float, Field(gt=0, le=1)]
    num_perm: Annotated[int, Field(ge=2)]
    seed: int
    false_positive_weight: Annotated[float, Field(ge=0, le=1)]
    false_negative_weight: Annotated[float, Field(ge=0, le=1)]
    min_estimated_jaccard: Annotated[float, Field(ge=0, le=1)]
    max_bucket_pairs: Annotated[int, Field(ge=2)]


class LineDedupConfig(_Strict):
    enabled: bool
    max_documents: Annotated[int, Field(ge=1)]
    group_files: Annotated[int, Field(ge=1)]


class SentenceDedupConfig(_Strict):
    enabled: bool
    span: Annotated[int, Field(ge=1)]
    min_words: Annotated[int, Field(ge=1)]


class DedupIndexConfig(_Strict):
    write: bool
    against: list[str]


class DedupConfig(_Strict):
    """Corpus passes that remove duplicates at document, line and sentence level (transforms/dedup.py)."""

    enabled: bool
    exact: bool
    near: NearDedupConfig
    lines: LineDedupConfig
    sentences: SentenceDedupConfig
    index: DedupIndexConfig
    partitions: Annotated[int, Field(ge=1)]
    partition_documents: Annotated[int, Field(ge=1)]


class PiiConfig(_Strict):
    """PII redaction of every written row (filters/pii.py): entity types per language ("default" for the others)."""

    enabled: bool
    entities: dict[str, list[str]]
    placeholders: dict[str, str]
    replace: Literal["placeholder", "fake"]
    fake_locales: dict[str, str]
    dropped_text: Literal["scrubbed", "none"]
    spacy_models: dict[str, str]
    prefilter: bool
    min_score: Annotated[float, Field(ge=0, le=1)]

    def model_post_init(self, _: Any) -> None:
        if "default" not in self.entities or "default" not in self.fake_locales:
            raise ValueError("pii.entities and pii.fake_locales need a default entry")
        unknown = {e for names in self.entities.values() for e in names} - set(self.placeholders)
        if unknown:
            raise ValueError(f"pii.entities names {sorted(unknown)}, which have no pii.placeholders entry")


class CardConfig(_Strict):
    """The licence fields of an output's dataset card (flows/card.py), as the Hugging Face card metadata names them:
    a licence id, and for "other" the name and link of the terms that apply."""

    license: Annotated[str, Field(min_length=1)]
    license_name: str | None
    license_link: str | None


class ReportConfig(_Strict):
    """report.html beside report.md (flows/report_html.py): how many documents it samples and how much it reads."""

    samples: Annotated[int, Field(ge=0)]
    seed: int
    signal_rows: Annotated[int, Field(gt=0)]
    text_lines: Annotated[int, Field(ge=1)]
    text_chars: Annotated[int, Field(ge=1)]


class OutputConfig(_Strict):
    compression: Literal["zstd", "snappy", "gzip", "none"]
    row_group_rows: Annotated[int, Field(gt=0)]
    card: CardConfig


class TokenizerConfig(_Strict):
    """`sieve tokenizer train`: a SentencePiece model for the training token files (trainer/tokenizer.py)."""

    vocab_size: Annotated[int, Field(gt=0)]
    model_type: Literal["bpe", "unigram"]
    character_coverage: Annotated[float, Field(gt=0, le=1)]
    sample_docs: Annotated[int, Field(gt=0)]
    seed: int


class TrainingDataConfig(_Strict):
    """Training shards and Megatron token files made from a run's kept documents (trainer/)."""

    target_bytes: Annotated[int, Field(gt=0)]
    row_group_rows: Annotated[int, Field(gt=0)]
    row_group_bytes: Annotated[int, Field(gt=0)]
    compression: Literal["zstd", "snappy", "gzip", "none"]
    validation_fraction: Annotated[float, Field(ge=0, lt=1)]
    tokenizer: TokenizerConfig
    decontamination_ngram: Annotated[int, Field(ge=1)]
    workers: Annotated[int, Field(ge=1)]


class ParallelismConfig(_Strict):
    """How `sieve train` spreads the model over its processes (trainer/parallel.py)."""

    dp_shard: Literal["ddp", "fsdp"]
    cpu_offload: bool
    tp: Annotated[int, Field(ge=1)]
    pp: Annotated[int, Field(ge=1)]
    pp_microbatches: Annotated[int, Field(ge=1)] | None


class TrainingConfig(_Strict):
    """`sieve train`: the GPT pretraining run (trainer/train.py); the model's shape comes from its preset."""

    preset: str
    seq_len: Annotated[int, Field(gt=0)] | None
    micro_batch_size: Annotated[int, Field(gt=0)]
    global_batch_size: Annotated[int, Field(gt=0)]
    steps: Annotated[int, Field(gt=0)]
    lr: Annotated[float, Field(gt=0)]
    min_lr: Annotated[float, Field(ge=0)]
    warmup_steps: Annotated[int, Field(ge=0)]
    weight_decay: Annotated[float, Field(ge=0)]
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]]
    grad_clip: Annotated[float, Field(gt=0)]
    log_interval: Annotated[int, Field(gt=0)]
    eval_interval: Annotated[int, Field(gt=0)]
    eval_batches: Annotated[int, Field(gt=0)]
    checkpoint_interval: Annotated[int, Field(gt=0)]
    seed: int
    datasets: dict[str, Annotated[float, Field(ge=0)]]
    parallelism: ParallelismConfig
    activation_checkpointing: bool
    dtype: Literal["auto", "bf16", "fp32"]
    device: Literal["auto", "cuda", "cpu"]
    peak_flops: Annotated[float, Field(gt=0)]


class BeamConfig(_Strict):
    options: list[str]


class LeaseConfig(_Strict):
    """One writer per output (transforms/lease.py): how long a run's hold on its output lasts without renewal, and
    how often the run renews it."""

    duration_seconds: Annotated[float, Field(gt=0)]
    renew_seconds: Annotated[float, Field(gt=0)]

    def model_post_init(self, _: Any) -> None:
        if self.renew_seconds >= self.duration_seconds:
            raise ValueError("lease.renew_seconds must be less than lease.duration_seconds")


class Config(_Strict):
    read: ReadConfig
    url_filter: UrlFilterConfig
    language_gate: LanguageGateConfig
    extract: ExtractConfig
    guard: GuardConfig
    language_id: LanguageIdConfig
    normalize: NormalizeConfig
    quality: QualityConfig
    dedup: DedupConfig
    pii: PiiConfig
    languages: dict[str, dict[str, Any]]
    output: OutputConfig
    report: ReportConfig
    training_data: TrainingDataConfig
    training: TrainingConfig
    beam: BeamConfig
    lease: LeaseConfig

    def model_post_init(self, _: Any) -> None:
        if "default" not in self.languages:
            raise ValueError("languages.default is required")
        for lang in self.languages:
            self.language(lang)  # validates every section eagerly

    def language(self, lang: str | None) -> LanguageConfig:
        """Settings for one language: its own section deep-merged over the default section (a nested threshold
        group may override one key and inherit the rest)."""
        merged = _merge(self.languages["default"], self.languages.get(lang or "default", {}))
        try:
            return LanguageConfig(**merged)
        except ValidationError as e:
            raise ValueError(f"languages.{lang}: {_first_error(e)}") from None

    def stage_settings(self, stage: str, lang: str | None) -> dict[str, Any]:
        """Everything in the config that a stage's decision reads, for one language: its top-level section (or its
        section under quality:) and its per-language thresholds. For explain and calibrate reports."""
        section = (
            getattr(self, stage, None) or getattr(self, f"{stage}_filter", None) or getattr(self.quality, stage, None)
        )
        settings = section.model_dump(mode="json") if isinstance(section, BaseModel) else {}
        if stage == "language_id":
            settings["min_language_score"] = self.language(lang).min_language_score
        per_language = getattr(self.language(lang), stage, None)
        if isinstance(per_language, BaseModel):
            settings.update(per_language.model_dump(mode="json"))
        return settings

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False, allow_unicode=True)

    @property
    def hash(self) -> str:
        """Content hash of the settings that decide what a run writes; written into every manifest.

        The beam and lease sections (runner options, scheduler addresses, lease timing) say how a job runs, not what
        it writes, so a run resumed on another cluster is still the same run; the training and training_data sections
        are read only by the commands after a run (`sieve shards`, `tokenize`, `train`).
        """
        how = ("beam", "lease", "report", "training", "training_data")
        decisive = {k: v for k, v in self.as_dict().items() if k not in how}
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


# Keys that were removed, and what replaced them: a config still naming one is told what to write instead.
_REPLACED_KEYS = {
    "drop_curly_bracket": "removed: c4 now drops a page by the share of its characters in code or markup lines, "
    "set by max_code_char_frac (1.0 keeps every page); see docs/quality-thresholds.md",
}


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and err["loc"] and err["loc"][-1] in _REPLACED_KEYS:
        msg = _REPLACED_KEYS[err["loc"][-1]]
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
