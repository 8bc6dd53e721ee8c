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
        """Keep (None) or drop with a reason, using thresholds from the config the filter was built with."""
        ...


def run_filters(doc: Document, filters: list[Filter], on_stage: Callable[[int], None] | None = None) -> Drop | None:
    """Apply filters in order; the first drop ends the document's journey. Signals are kept on the document.

    on_stage(i) is called before filter i runs, so a supervisor can name the stage a stuck document is in.
    """
    for i, f in enumerate(filters):
        if on_stage is not None:
            on_stage(i)
        signals = f.annotate(doc)
        doc.signals.update(signals)
        drop = f.decide(doc, signals)
        if drop is not None:
            return drop
    return None


def build_filters(cfg: Config) -> list[Filter]:
    """The per-document stages after reading, in pipeline order. Add a new stage here and nowhere else."""
    from sieve.filters.extract import Extraction
    from sieve.filters.language import LanguageId
    from sieve.filters.normalize import CleanText, Normalize
    from sieve.filters.response import ResponseCheck
    from sieve.filters.url import UrlFilter

    stages: list[Filter] = [ResponseCheck(cfg)]
    if cfg.url_filter.enabled:
        stages.append(UrlFilter(cfg))  # the URL alone can drop a page, so before extraction, the costly stage
    stages.append(Extraction(cfg))
    stages.append(CleanText(cfg))  # language-independent, so it runs for every document and language id reads clean text
    if cfg.language_id.enabled:
        stages += [LanguageId(cfg), Normalize(cfg)]  # normalization is per language, so it needs the language
    return stages
