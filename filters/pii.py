"""PII detection (presidio-analyzer, offline) and redaction (presidio-anonymizer) of the text of every written row.

Not a Filter: it changes no decision. transforms/parquet.py write_rows calls scrub_rows on every row it writes,
kept or dropped, so no stage can write a row that was not scrubbed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import Counter
from typing import Any, NamedTuple

from sieve.filters.pii_formats import SIX_DIGIT_ENTITIES, SIX_DIGITS, entity_needs
from sieve.schemas.config import PiiConfig

LANGUAGES = ("en", "vi")  # presidio languages; any other document language is analyzed with the "en" recognizers
# Which Faker provider makes the fake value of each entity type (pii.replace: fake).
FAKERS = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone_number",
    "IP_ADDRESS": "ipv4_public",
    "CREDIT_CARD": "credit_card_number",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "VN_CCCD": "numerify",
    "VN_CMND": "numerify",
    "PASSPORT": "passport_number",
    "CA_SIN": "numerify",
    "UK_NINO": "numerify",
    "IN_PAN": "numerify",
    "IN_AADHAAR": "numerify",
    "AU_TFN": "numerify",
    "IE_PPSN": "numerify",
    "ZA_ID": "numerify",
    "SG_NRIC": "numerify",
    "MY_NRIC": "numerify",
    "DRIVER_LICENSE": "numerify",
    "PERSONAL_ID": "numerify",
    "VN_TAX_CODE": "numerify",
    "BANK_ACCOUNT": "numerify",
    "CREDENTIAL_URL": "url",
    "SECRET": "sha1",
    "ADDRESS": "street_address",
    "VN_LICENSE_PLATE": "license_plate",
    "PERSON": "name",
}


def _offline_tldextract() -> None:
    """presidio's e-mail check calls tldextract, which would fetch the public suffix list; use its bundled copy."""
    import tldextract.tldextract

    tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls = ()


class _Presidio(NamedTuple):
    analyzer: Any
    engine: Any
    anonymizer: Any


def _build_presidio(pii: PiiConfig) -> _Presidio:
    """presidio's analyzer on sieve's and presidio's recognizers for LANGUAGES (plus NER where configured), its NLP
    engine and the anonymizer: about 0.8 s and most of a worker's start, so built only once a text needs it."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_anonymizer import AnonymizerEngine

    from sieve.filters.pii_recognizers import recognizers

    _offline_tldextract()
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for lang in LANGUAGES:
        for recognizer in recognizers(lang):
            registry.add_recognizer(recognizer)
    engine = _nlp_engine(pii.spacy_models)
    if pii.spacy_models:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        for lang in pii.spacy_models:
            registry.add_recognizer(SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"]))
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=engine,
        supported_languages=list(LANGUAGES),
        default_score_threshold=pii.min_score,
    )
    return _Presidio(analyzer, engine, AnonymizerEngine())


class Scrubber:
    """Finds PII with presidio and replaces it with typed placeholders or consistent fake values. The prefilter needs
    no presidio: the analyzer is built on the first text that needs it (a worker whose texts hold no candidate never
    builds it), once per process."""

    def __init__(self, pii: PiiConfig) -> None:
        self.pii = pii
        # The prefilter: per entity, what any text one of its recognizers finds something in contains.
        self.needs = {e: [(re.compile(a), lowered) for a, lowered in alts] for e, alts in entity_needs().items()}
        self._presidio: _Presidio | None = None
        self._building = threading.Lock()  # Beam worker threads of one process share the scrubber
        self._fakers: dict[str, Any] = {}

    def presidio(self) -> _Presidio:
        """The analyzer, its NLP engine and the anonymizer, built on first use."""
        with self._building:
            if self._presidio is None:
                self._presidio = _build_presidio(self.pii)
            return self._presidio

    def scrub(self, text: str, lang: str | None) -> tuple[str, dict[str, int]]:
        """(text with every PII span replaced, count of replaced spans per entity type)."""
        if not text or not self.pii.enabled:
            return text, {}
        presidio_lang = lang if lang in LANGUAGES else "en"
        ner = presidio_lang in self.pii.spacy_models
        entities = self.pii.entities.get(lang or "default", self.pii.entities["default"])
        if self.pii.prefilter and not ner:
            entities = self.candidates(text, entities)
            if not entities:
                return text, {}
        presidio = self.presidio()
        # Without an NER model no recognizer reads tokens, so presidio's tokenization is skipped.
        artifacts = None if ner else _no_tokens(presidio.engine, presidio_lang)
        found = presidio.analyzer.analyze(text, presidio_lang, entities=entities, nlp_artifacts=artifacts)
        if not found:
            return text, {}
        found += _repeats(text, found)
        from presidio_anonymizer.entities import OperatorConfig

        if self.pii.replace == "fake":
            operators = {e: OperatorConfig("custom", {"lambda": self._faker(e, lang)}) for e in entities}
        else:
            operators = {e: OperatorConfig("replace", {"new_value": self.pii.placeholders[e]}) for e in entities}
        result = presidio.anonymizer.anonymize(text, found, operators)
        return result.text, dict(Counter(item.entity_type for item in result.items))

    def candidates(self, text: str, entities: list[str]) -> list[str]:
        """The entities some recognizer could find in text (its needs match): presidio runs for these only, which
        changes cost, never results. An entity no recognizer finds (PERSON without an NER model) is left out."""
        lowered = " " + text.lower()  # a space first: a lowered need may start "[^\w]" (filters/pii_formats.py Format)
        # whether text holds SIX_DIGITS, which every need of SIX_DIGIT_ENTITIES holds: searched once, if asked
        six = None
        found = []
        for e in entities:
            if e in SIX_DIGIT_ENTITIES:
                six = bool(SIX_DIGITS.search(text)) if six is None else six
                if not six:
                    continue
            if any(need.search(lowered if low else text) for need, low in self.needs.get(e, ())):
                found.append(e)
        return found

    def _faker(self, entity: str, lang: str | None) -> Any:
        """A replacement function giving the same fake value for the same original (seeded by its hash)."""
        locale = self.pii.fake_locales.get(lang or "default", self.pii.fake_locales["default"])
        if locale not in self._fakers:
            from faker import Faker

            self._fakers[locale] = Faker(locale)
        fake, provider = self._fakers[locale], FAKERS.get(entity, "word")

        def replace(value: str) -> str:
            fake.seed_instance(int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big"))
            return (
                fake.numerify("#" * sum(c.isdigit() for c in value))
                if provider == "numerify"
                else str(getattr(fake, provider)())
            )

        return replace

    def scrub_rows(self, rows: list[dict[str, Any]], dropped: bool) -> None:
        """Scrub the free-text columns (text, details, url) of rows in place and set their pii_counts; the text of
        dropped rows is scrubbed or, with pii.dropped_text: none, not stored."""
        for row in rows:
            counts: Counter = Counter()
            for column in ("text", "details", "url"):
                if row.get(column):
                    row[column], found = self.scrub(row[column], row.get("language"))
                    counts.update(found)
            if row.get("text") is not None and "n_chars" in row:
                row["n_chars"] = len(row["text"])  # the length of the text as written
            if dropped and self.pii.dropped_text == "none":
                row["text"] = None
            row["pii_counts"] = dict(counts) if self.pii.enabled else None


# A value found once is scrubbed wherever the text repeats it: a comment quoting an id card's number without its label
# ("Số 048095003127 đúng không bạn?") or a phone written again under a post. Short values are left alone (a name
# part, a house number): six characters at least.
MIN_REPEAT_CHARS = 6


def _repeats(text: str, found: list[Any]) -> list[Any]:
    """Spans of the text that repeat a found value elsewhere, standing alone (not inside a longer word or number) and
    overlapping no found span, typed as the value was."""
    from presidio_analyzer import RecognizerResult

    taken = sorted((r.start, r.end) for r in found)
    extra: list[Any] = []
    for r in sorted(found, key=lambda r: (r.start, r.end)):
        value = text[r.start : r.end]
        if len(value) < MIN_REPEAT_CHARS:
            continue
        for m in re.finditer(re.escape(value), text):
            start, end = m.span()
            alone = not (start and text[start - 1].isalnum()) and not (end < len(text) and text[end].isalnum())
            if alone and all(end <= a or start >= b for a, b in taken):
                taken.append((start, end))
                extra.append(RecognizerResult(r.entity_type, start, end, r.score))
    return extra


def _nlp_engine(spacy_models: dict[str, str]) -> Any:
    """presidio's spaCy engine on the user's NER models where configured, blank (tokenizer-only) models elsewhere:
    its default engine would download a model."""
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class OfflineSpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {
                lang: spacy.load(spacy_models[lang])
                if lang in spacy_models
                else spacy.blank(lang, config={"nlp": {"tokenizer": {"use_pyvi": False}}} if lang == "vi" else {})
                for lang in LANGUAGES
            }

    engine = OfflineSpacyEngine(
        models=[{"lang_code": lang, "model_name": spacy_models.get(lang, f"blank_{lang}")} for lang in LANGUAGES]
    )
    engine.load()
    return engine


def _no_tokens(engine: Any, lang: str) -> Any:
    from presidio_analyzer.nlp_engine import NlpArtifacts

    return NlpArtifacts(
        entities=[],
        tokens=engine.nlp[lang].make_doc(""),
        tokens_indices=[],
        lemmas=[],
        nlp_engine=engine,
        language=lang,
    )


_SCRUBBERS: dict[str, Scrubber] = {}
_SCRUBBERS_LOCK = threading.Lock()


def scrubber(pii: PiiConfig) -> Scrubber:
    """The process's scrubber for a config: presidio's analyzer is built once, not once per range or row."""
    key = pii.model_dump_json()
    with _SCRUBBERS_LOCK:  # Beam worker threads of one process share one scrubber, and so one presidio
        if key not in _SCRUBBERS:
            _SCRUBBERS[key] = Scrubber(pii)
        return _SCRUBBERS[key]


# `extra` of a log line made of counts, sizes, times and input names only: ScrubLogs passes it without building
# presidio, which a Beam worker or the launcher would otherwise build (about 1.3 s) just for its progress lines.
NO_TEXT = {"no_text": True}


class ScrubLogs(logging.Filter):
    """Scrubs PII from every record logged on the "sieve" logger, so a message quoting text leaks nothing; lines
    logged with extra=NO_TEXT quote no text and pass as they are."""

    def __init__(self, pii: PiiConfig) -> None:
        super().__init__()
        self.pii = pii

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "no_text", False):
            return True
        message = record.getMessage()
        scrubbed, found = scrubber(self.pii).scrub(message, None)
        if found:
            record.msg, record.args = scrubbed, ()
        return True


def install_log_scrubber(pii: PiiConfig) -> None:
    """Attach ScrubLogs to the "sieve" logger once per process (every sieve module logs on it)."""
    log = logging.getLogger("sieve")
    if pii.enabled and not any(isinstance(f, ScrubLogs) for f in log.filters):
        log.addFilter(ScrubLogs(pii))
