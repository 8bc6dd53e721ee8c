"""Presidio recognizers for the PII formats presidio does not ship (filters/pii_formats.py: Vietnamese and US phones,
ids and bank accounts in context, credential URLs, keys and tokens, obfuscated e-mails, street addresses), and the
presidio recognizers the scrubber runs beside them. Regex-only: everything runs offline without an NER model."""

from __future__ import annotations

from collections.abc import Callable

from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult, predefined_recognizers
from presidio_analyzer.nlp_engine import NlpArtifacts

from sieve.filters.pii_formats import OURS, PRESIDIO_NEEDS, Format


class RegexRecognizer(LocalRecognizer):
    """One entity found by the regexes of its formats, each match optionally checked by a validator; context is
    written into the regexes, so no NLP model is needed (the formats' needs make the prefilter: pii_formats)."""

    def __init__(
        self,
        name: str,
        entity: str,
        formats: list[Format],
        language: str,
        score: float = 0.9,
        validate: Callable[[str], bool] | None = None,
    ) -> None:
        self.formats, self.score, self.validate = formats, score, validate
        super().__init__(supported_entities=[entity], name=f"{name}_{language}", supported_language=language)

    def load(self) -> None:
        """Nothing to load: the regexes are compiled at import."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for regex, *_ in self.formats:
            group = "id" if "id" in regex.groupindex else 0
            for m in regex.finditer(text):
                if self.validate is None or self.validate(m.group(group)):
                    results.append(
                        RecognizerResult(self.supported_entities[0], m.start(group), m.end(group), self.score)
                    )
        return results


def recognizers(language: str) -> list[EntityRecognizer]:
    """Every recognizer the scrubber runs for one presidio language. Every format is offered to every language (an
    English page may quote a Vietnamese phone); the config's entity lists choose which run."""
    return [RegexRecognizer(s.name, s.entity, s.formats, language, s.score, s.validate) for s in OURS] + [
        getattr(predefined_recognizers, name)(supported_language=language) for name in PRESIDIO_NEEDS
    ]
