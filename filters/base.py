"""The filter interface every document stage implements, and how a document runs through a list of stages."""

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
