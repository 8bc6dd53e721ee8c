"""Toxicity: the share of tokens in the project's per-language toxic word/phrase lists, alt-profanity-check's English
model per sentence, and a bias flag for identity terms that co-occur with negative terms (flagged, not dropped)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop
from sieve.transforms import storage

LISTS = Path(__file__).with_name("data") / "toxicity"
SECTIONS = ("toxic", "identity", "negative")
_TOKEN = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")


def read_lists(text: str, into: dict[str, set[tuple[str, ...]]]) -> None:
    """Add the terms of one list file ("== section" headers, one term per line, "#" comments) to into."""
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("== "):
            section = line[3:].strip()
            if section not in SECTIONS:
                raise ValueError(f"toxicity list: unknown section {section!r}; use one of {', '.join(SECTIONS)}")
        elif line:
            if section is None:
                raise ValueError(f"toxicity list: term {line!r} before any '== toxic' section header")
            into[section].add(tuple(_TOKEN.findall(line.lower())))


class PhraseMatcher:
    """Finds terms as whole token sequences, indexed by first token: one dict lookup per token of the text."""

    def __init__(self, terms: set[tuple[str, ...]]) -> None:
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for term in terms:
            if term:
                self.by_first.setdefault(term[0], []).append(term)

    def covered(self, tokens: list[str]) -> set[int]:
        """Positions of the tokens inside a matched term (a token inside two overlapping terms counts once)."""
        hits: set[int] = set()
        for i, token in enumerate(tokens):
            for term in self.by_first.get(token, ()):
                if tuple(tokens[i:i + len(term)]) == term:
                    hits.update(range(i, i + len(term)))
        return hits


@lru_cache(maxsize=8)
def matchers(lang: str, extra: tuple[str, ...]) -> dict[str, PhraseMatcher]:
    """The shipped list of a language plus its extra list files, read once per process."""
    terms: dict[str, set[tuple[str, ...]]] = {s: set() for s in SECTIONS}
    shipped = LISTS / f"{lang}.txt"
    if shipped.exists():
        read_lists(shipped.read_text(encoding="utf-8"), terms)
    for uri in extra:
        try:
            read_lists(storage.read_text(uri), terms)
        except ValueError as e:
            raise ValueError(f"quality.toxicity.extra_lists.{lang}: {uri}: {e}") from None
    return {section: PhraseMatcher(terms[section]) for section in SECTIONS}


@lru_cache(maxsize=1)
def _profanity_model() -> Any:
    from profanity_check import predict_prob

    return predict_prob


class Toxicity:
    """Annotates toxicity (toxic tokens / tokens) and its parts; drops with reason toxicity above a language's limit."""

    stage = "toxicity"

    def __init__(self, cfg: Config) -> None:
        self.settings = cfg.quality.toxicity
        self.thresholds = PerLanguage(cfg, "toxicity")
        for lang, files in self.settings.extra_lists.items():
            matchers(lang, tuple(files))  # read now, so a bad list file fails the run at start
        if self.settings.model_languages:
            _profanity_model()

    def annotate(self, doc: Document) -> dict[str, Any]:
        lang = doc.language or "default"
        lists = matchers(lang, tuple(self.settings.extra_lists.get(lang, ())))
        text = (doc.text or "").lower()
        tokens = _TOKEN.findall(text)
        toxic = len(lists["toxic"].covered(tokens))
        sentences = [s for s in _SENTENCE.split(text) if s.strip()]
        profanity, profane = None, None
        if lang in self.settings.model_languages and sentences:
            probs = _profanity_model()(sentences)
            profanity, profane = float(max(probs)), int(sum(p >= self.settings.profane_sentence_prob for p in probs))
        identity = negative = 0
        for sentence in sentences:
            words = _TOKEN.findall(sentence)
            if lists["identity"].covered(words):
                identity += 1
                negative += bool(lists["negative"].covered(words) or lists["toxic"].covered(words))
        return {
            "toxicity": toxic / len(tokens) if tokens else 0.0,
            "toxic_words": toxic,
            "words": len(tokens),
            "profanity": profanity,
            "profane_sentences": profane,
            "identity_sentences": identity,
            "identity_negative_sentences": negative,
            "bias": identity >= self.settings.bias_min_sentences and negative >= self.settings.bias_min_share * identity,
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        for name, limit in (("toxicity", t.max_toxicity), ("toxic_words", t.max_toxic_words),
                            ("profanity", t.max_profanity)):
            value = signals.get(name)
            if limit is not None and value is not None and value > limit:
                shown = f"{value:.4g}" if isinstance(value, float) else value
                return Drop(self.stage, "toxicity", f"{name} {shown} > {limit:g} ({doc.language})")
        return None
