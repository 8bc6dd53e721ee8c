"""The filter interface every document stage implements, and the ordered list of stages the pipeline runs."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop


class Filter(Protocol):
    """A stage that measures a document (annotate) and then keeps it (None) or drops it (Drop)."""

    stage: str

    def annotate(self, doc: Document) -> dict[str, Any]:
        """Compute this stage's signals, set the document columns it owns, and return the signals."""
        ...

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        """Keep (None) or drop with a reason, using thresholds from the config the filter was built with.

        Reads only the signals and doc.language, never the text, so stored signals can be re-decided under other
        thresholds (sieve rethreshold) without extracting again."""
        ...


class PerLanguage:
    """One per-language threshold group (e.g. "c4"), merged once per language and worker, not once per document."""

    def __init__(self, cfg: Config, group: str) -> None:
        self.cfg, self.group = cfg, group
        self._merged: dict[str | None, Any] = {}

    def __call__(self, lang: str | None) -> Any:
        if lang not in self._merged:
            self._merged[lang] = getattr(self.cfg.language(lang), self.group)
        return self._merged[lang]


def run_filters(doc: Document, filters: list[Filter], on_stage: Callable[[int], None] | None = None) -> Drop | None:
    """Apply filters in order; the first drop ends the document's journey. Each stage's signals are kept on the
    document under its stage name (doc.signals[stage]), so rows can carry them and decisions can be redone.

    on_stage(i) is called before filter i runs, so a supervisor can name the stage a stuck document is in.
    """
    for i, f in enumerate(filters):
        if on_stage is not None:
            on_stage(i)
        signals = f.annotate(doc)
        doc.signals[f.stage] = signals
        drop = f.decide(doc, signals)
        if drop is not None:
            return drop
    return None


def build_filters(cfg: Config) -> list[Filter]:
    """The per-document stages after reading, in pipeline order. Add a new stage here and nowhere else."""
    from sieve.filters.extract import Extraction
    from sieve.filters.gate import LanguageGate
    from sieve.filters.language import LanguageId
    from sieve.filters.normalize import CleanText, Normalize
    from sieve.filters.response import ResponseCheck
    from sieve.filters.url import UrlFilter

    stages: list[Filter] = [ResponseCheck(cfg)]
    if cfg.url_filter.enabled:
        stages.append(UrlFilter(cfg))  # the URL alone can drop a page, so before extraction, the costly stage
    if cfg.language_id.enabled and cfg.language_id.keep and cfg.language_gate.enabled and cfg.extract.extractor != "resiliparse":
        stages.append(LanguageGate(cfg))  # a page in no kept language never pays for the costly extractor
    stages.append(Extraction(cfg))
    stages.append(CleanText(cfg))  # language-independent, so it runs for every document and language id reads clean text
    if cfg.language_id.enabled:
        stages += [LanguageId(cfg), Normalize(cfg)]  # normalization is per language, so it needs the language
        stages += _heuristic_stages(cfg)  # per-language thresholds; cheap, so before the model-based stages
        if cfg.quality.toxicity.enabled:
            from sieve.filters.toxicity import Toxicity

            stages.append(Toxicity(cfg))  # measures the text the heuristic stages kept; cheaper than the models after
        if cfg.quality.perplexity.enabled:
            from sieve.filters.perplexity import Perplexity

            stages.append(Perplexity(cfg))  # per-language models, so after language id
        if cfg.quality.classifier.enabled:
            from sieve.filters.classifier import QualityClassifier

            stages.append(QualityClassifier(cfg))  # scores the final text, after every stage that rewrites it
    return stages


def _heuristic_stages(cfg: Config) -> list[Filter]:
    """The switched-on heuristic quality stages, cheapest and most specific first, so fewer pages reach the costly
    n-gram counts: Gopher quality (word counts; drops stubs, gibberish, code), C4 (cleans lines, so the later
    stages measure the text that is kept; drops lorem ipsum and code), FineWeb (line shapes), Gopher repetition."""
    from sieve.filters.c4 import C4
    from sieve.filters.fineweb import FineWeb
    from sieve.filters.gopher import GopherQuality, GopherRepetition

    switches = cfg.quality
    return [stage(cfg) for on, stage in ((switches.gopher_quality, GopherQuality), (switches.c4, C4),
                                         (switches.fineweb, FineWeb), (switches.gopher_repetition, GopherRepetition))
            if on]
