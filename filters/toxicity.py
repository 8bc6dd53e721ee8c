"""Toxicity: toxic terms counted per match from the project's per-language lists (ambiguous terms only with other
evidence), alt-profanity-check's English model per sentence (filters/profanity.py), and a bias flag for identity
terms that co-occur with negative terms (flagged, not dropped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.filters.profanity import profanity_model
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

LISTS = Path(__file__).with_name("data") / "toxicity"
SECTIONS = ("toxic", "ambiguous", "target", "allow", "identity", "negative")
_TOKEN = re.compile(r"\w+")
# A word written with symbols for some of its letters ("f***ing", "sh!t", "a$$hole", "f@ck", "b****d"): letters, then
# mask symbols, then optionally letters. Writers mask only words they know are obscene, so a masked list term counts
# as toxic. Not before a colon: shops mask reviewers' names ("b***h: giao hàng nhanh").
_MASKED = re.compile(r"(?<![\w*@#$!])([^\W\d_]+)([*@#$!]+)([^\W\d_]*)(?![\w*@#$!:])")
_ENDINGS = ("", "s", "es", "ed", "ing", "er", "ers")  # a masked word may carry an ending its list term lacks
_SENTENCE = re.compile(r"(?<=[.!?…])(?<!\b\w\.)\s+|\n+")  # not after an initial: "Philip K. Dick" is one name


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
        for term in sorted(terms, key=len, reverse=True):  # longest first, so a phrase wins over its first word
            if term:
                self.by_first.setdefault(term[0], []).append(term)

    def matches(self, tokens: list[str], skip: set[int] | frozenset[int] = frozenset()) -> list[range]:
        """Token spans of the matched terms, left to right, each the longest term starting there, none overlapping
        another or any position in skip (so "son of a bitch" is one match, and an allowed phrase is none)."""
        found: list[range] = []
        if self.by_first.keys().isdisjoint(tokens):  # most sentences start no term: one set test in C, no loop
            return found
        after = 0  # the end of the last match: no other starts inside it
        for i, token in enumerate(tokens):
            if i < after or token not in self.by_first:  # most tokens start no term: one dict lookup each
                continue
            for term in self.by_first[token]:
                end = i + len(term)
                if tuple(tokens[i:end]) == term and skip.isdisjoint(range(i, end)):
                    found.append(range(i, end))
                    after = end
                    break
        return found

    def covered(self, tokens: list[str]) -> set[int]:
        """Positions of the tokens inside any matched term."""
        return {i for span in self.matches(tokens) for i in span}


@dataclass(frozen=True)
class Lexicon:
    """One language's lists, ready to match."""

    terms: PhraseMatcher  # toxic and ambiguous terms together, so the longer of two overlapping terms counts, once
    ambiguous: frozenset[tuple[str, ...]]
    words: frozenset[str]  # the one-word toxic and ambiguous terms with their endings: what a masked word may be
    target: PhraseMatcher
    allow: PhraseMatcher
    identity: PhraseMatcher
    negative: PhraseMatcher


@lru_cache(maxsize=8)
def lexicon(lang: str, extra: tuple[tuple[str, str], ...]) -> Lexicon:
    """The shipped list of a language plus its extra list files ((name, text) pairs), parsed once per process."""
    terms: dict[str, set[tuple[str, ...]]] = {s: set() for s in SECTIONS}
    shipped = LISTS / f"{lang}.txt"
    if shipped.exists():
        read_lists(shipped.read_text(encoding="utf-8"), terms)
    for uri, text in extra:
        try:
            read_lists(text, terms)
        except ValueError as e:
            raise ValueError(f"quality.toxicity.extra_lists.{lang}: {uri}: {e}") from None
    words = {t[0] + ending for t in terms["toxic"] | terms["ambiguous"] if len(t) == 1 for ending in _ENDINGS}
    return Lexicon(
        PhraseMatcher(terms["toxic"] | terms["ambiguous"]),
        frozenset(terms["ambiguous"] - terms["toxic"]),
        frozenset(words),
        *(PhraseMatcher(terms[s]) for s in ("target", "allow", "identity", "negative")),
    )


# A word spelled letter by letter with dots or dashes between ("v.c.l", "f-u-c-k"), as writers dodge filters: three
# letters or more (two are initials: "D.M. Thomas"), joined, count when they are a list term.
_SPELLED = re.compile(r"(?<![\w.\-])[^\W\d_](?:[.\-][^\W\d_]){2,}(?![\w]|[.\-][^\W\d_])")


def spelled_terms(lex: Lexicon, sentence: str) -> int:
    """How many words of a (lowercased) sentence are list terms spelled with a dot or dash between their letters."""
    return sum(re.sub(r"[.\-]", "", spelled) in lex.words for spelled in _SPELLED.findall(sentence))


def masked_terms(lex: Lexicon, sentence: str) -> int:
    """How many words of a (lowercased) sentence are list terms with letters masked by symbols: the visible letters
    begin and end a term (with an ending), at least one letter hidden, about one symbol a hidden letter. A footnote
    star ("price*") or "Yahoo!" hides none, "**bold**" is no word, a product of two Latin letters ("s*t", "a@b") is
    too short to say which word it hides, and stars after more than one letter are how sites mask names ("Ni** from
    Seoul"). An address ("info@acme") is no list term."""
    if not any(mark in sentence for mark in "*@#$!"):
        return 0
    count = 0
    for head, stars, tail in _MASKED.findall(sentence):
        visible, written = len(head) + len(tail), len(head) + len(stars) + len(tail)
        product = visible <= 2 and len(stars) < 2 and (head + tail).isascii()  # "s*t"; "đ*t" is no formula
        if visible + len(stars) < 3 or product or (not tail and len(head) > 1):
            continue
        count += any(
            len(w) > visible and abs(len(w) - written) <= 2 and w.startswith(head) and w.endswith(tail)
            for w in lex.words
        )
    return count


class Toxicity:
    """Annotates toxicity (counted toxic terms / tokens) and its parts; drops with reason toxicity above a
    language's limit."""

    stage = "toxicity"

    def __init__(self, cfg: Config, extra_lists: dict[str, dict[str, str]]) -> None:
        """extra_lists: language -> {file: its text} for the files quality.toxicity.extra_lists names, read by the
        stage registry (transforms/stages.py)."""
        self.settings = cfg.quality.toxicity
        self.thresholds = PerLanguage(cfg, "toxicity")
        self.extra = {lang: tuple(files.items()) for lang, files in extra_lists.items()}
        for lang, files in self.extra.items():
            lexicon(lang, files)  # parsed now, so a bad list file fails the run at start
        if self.settings.model_languages:
            profanity_model()  # loaded now, not in the first document's time

    def annotate(self, doc: Document) -> dict[str, Any]:
        lang = doc.language or "default"
        lex = lexicon(lang, self.extra.get(lang, ()))
        window = self.thresholds(doc.language).target_window
        text = (doc.text or "").lower()
        sentences = [s for s in _SENTENCE.split(text) if s.strip()]
        words = toxic = 0
        ambiguous: list[tuple[int, bool]] = []  # per sentence: its ambiguous matches, and whether one is aimed
        identity = negative = 0
        for sentence in sentences:
            tokens = _TOKEN.findall(sentence)
            words += len(tokens)
            allowed = lex.allow.covered(tokens)
            found = lex.terms.matches(tokens, allowed)
            # who the text is aimed at: an addressed person, or a group by name (hate speech)
            named = lex.identity.covered(tokens)
            targets = (lex.target.covered(tokens) | named) - allowed
            unclear = [span for span in found if tuple(tokens[span.start : span.stop]) in lex.ambiguous]
            toxic += len(found) - len(unclear) + masked_terms(lex, sentence) + spelled_terms(lex, sentence)
            aimed = any(span.start - window <= t < span.stop + window for span in unclear for t in targets)
            ambiguous.append((len(unclear), aimed))
            if named:
                identity += 1
                negative += bool(lex.negative.covered(tokens) or found)
        # Ambiguous terms count only with evidence of abuse: a toxic term in the document, or one of the sentence's
        # ambiguous terms aimed at someone (a target near it: "you are a stupid ...", "thằng ngu").
        counted = toxic + sum(n for n, aimed in ambiguous if aimed or toxic)
        profanity, profane = None, None
        if lang in self.settings.model_languages and sentences:
            probs = profanity_model().predict_prob(sentences)
            profanity, profane = float(max(probs)), int(sum(p >= self.settings.profane_sentence_prob for p in probs))
        return {
            "toxicity": counted / words if words else 0.0,
            "toxic_words": counted,
            "words": words,
            "profanity": profanity,
            "profane_sentences": profane,
            "identity_sentences": identity,
            "identity_negative_sentences": negative,
            "bias": identity >= self.settings.bias_min_sentences
            and negative >= self.settings.bias_min_share * identity,
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        for name, limit in (
            ("toxicity", t.max_toxicity),
            ("toxic_words", t.max_toxic_words),
            ("profanity", t.max_profanity),
        ):
            value = signals.get(name)
            if limit is not None and value is not None and value > limit:
                shown = f"{value:.4g}" if isinstance(value, float) else value
                return Drop(self.stage, "toxicity", f"{name} {shown} > {limit:g} ({doc.language})")
        return None
