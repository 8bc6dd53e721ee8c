"""The stage registry: the per-document stages a run applies, in pipeline order, built in one place above the
stages (which import nothing of it, as CCNet's mine.py builds its steps). It also reads the list files the config
names (local, s3://, gs://), so the filters below stay free of storage and only parse text."""

from __future__ import annotations

from sieve.filters.base import Filter
from sieve.filters.c4 import C4
from sieve.filters.classifier import QualityClassifier
from sieve.filters.extract import Extraction
from sieve.filters.fineweb import FineWeb
from sieve.filters.gate import LanguageGate
from sieve.filters.gopher import GopherQuality, GopherRepetition
from sieve.filters.language import LanguageId
from sieve.filters.normalize import CleanText, Normalize
from sieve.filters.perplexity import Perplexity
from sieve.filters.response import ResponseCheck
from sieve.filters.toxicity import Toxicity
from sieve.filters.url import UrlFilter, blocklist_files
from sieve.schemas.config import Config
from sieve.transforms import storage


def build_filters(cfg: Config) -> list[Filter]:
    """The per-document stages after reading, in pipeline order. Add a new stage to stage_classes and nowhere else."""
    return [_BUILDERS.get(cls, cls)(cfg) for cls in stage_classes(cfg)]


def stage_names(cfg: Config) -> list[str]:
    """The names of the stages build_filters returns, in order, without building them (building loads models)."""
    return [cls.stage for cls in stage_classes(cfg)]


def stage_classes(cfg: Config) -> list[type]:
    """The classes of the per-document stages cfg switches on, in pipeline order."""
    stages: list[type] = [ResponseCheck]
    if cfg.url_filter.enabled:
        stages.append(UrlFilter)  # the URL alone can drop a page, so before extraction, the costly stage
    if (
        cfg.language_id.enabled
        and cfg.language_id.keep
        and cfg.language_gate.enabled
        and cfg.extract.extractor != "resiliparse"
    ):
        stages.append(LanguageGate)  # a page in no kept language never pays for the costly extractor
    stages.append(Extraction)
    stages.append(CleanText)  # language-independent, so it runs for every document and language id reads clean text
    if cfg.language_id.enabled:
        stages += [LanguageId, Normalize]  # normalization is per language, so it needs the language
        stages += _heuristic_stages(cfg)  # per-language thresholds; cheap, so before the model-based stages
        if cfg.quality.toxicity.enabled:
            stages.append(Toxicity)  # measures the text the heuristic stages kept; cheaper than the models after
        if cfg.quality.perplexity.enabled:
            stages.append(Perplexity)  # per-language models, so after language id
        if cfg.quality.classifier.enabled:
            stages.append(QualityClassifier)  # scores the final text, after every stage that rewrites it
    return stages


def url_stage(cfg: Config) -> UrlFilter:
    """The URL stage with its blocklist files read, once per worker (when the stages are built)."""
    return UrlFilter(cfg, [storage.read_text(uri) for uri in blocklist_files(cfg)])


def toxicity_stage(cfg: Config) -> Toxicity:
    """The toxicity stage with each language's extra list files read, once per worker."""
    return Toxicity(
        cfg,
        {
            lang: {uri: storage.read_text(uri) for uri in uris}
            for lang, uris in cfg.quality.toxicity.extra_lists.items()
        },
    )


def _heuristic_stages(cfg: Config) -> list[type]:
    """The switched-on heuristic quality stages, cheapest and most specific first, so fewer pages reach the costly
    n-gram counts: Gopher quality (word counts; drops stubs, gibberish, code), C4 (cleans lines, so the later
    stages measure the text that is kept; drops lorem ipsum and code), FineWeb (line shapes), Gopher repetition."""
    switches = cfg.quality
    return [
        stage
        for on, stage in (
            (switches.gopher_quality, GopherQuality),
            (switches.c4, C4),
            (switches.fineweb, FineWeb),
            (switches.gopher_repetition, GopherRepetition),
        )
        if on
    ]


# Stages built from more than the config: the list files the config names, read here.
_BUILDERS = {UrlFilter: url_stage, Toxicity: toxicity_stage}
