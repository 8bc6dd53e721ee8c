"""Sentence banks: per-language slot values, topic sentences, title templates and UI strings.

Bank file format (flows/synth/banks/<lang>.txt, UTF-8):
  "# ..."            comment
  "@name: a | b | c" slot values ("ui_*" slots are boilerplate strings)
  "~ a | b | c"      interchangeable phrases: every whole-word "a" in a topic sentence becomes "[a|b|c]"
  "== topic"         starts a section; names starting with "_" (e.g. "_pii", "_toxic") are not article topics
  "T: ..."           a title template of the current section
  anything else      a sentence template of the current section
Templates use {slot} placeholders and [a|b] alternatives (one picked per use; an empty option drops the words),
see sieve.flows.synth.text.Slots. Variation inside templates keeps distinct articles from sharing long word runs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

BANK_DIR = Path(__file__).parent / "banks"
ARTICLE_LANGS = ("en", "vi", "fr", "de", "es")
# Languages that also get PII, toxic passages, low-quality and error pages.
FULL_LANGS = ("en", "vi")


@dataclass(frozen=True)
class Bank:
    """All generation material for one language."""

    lang: str
    slots: dict[str, tuple[str, ...]]
    sentences: dict[str, tuple[str, ...]]
    titles: dict[str, tuple[str, ...]]

    @functools.cached_property
    def topics(self) -> tuple[str, ...]:
        """Article topics (sections not starting with an underscore)."""
        return tuple(t for t in self.sentences if not t.startswith("_"))

    def ui(self, name: str) -> tuple[str, ...]:
        """Boilerplate strings of one UI slot, e.g. ui("cookie")."""
        return self.slots["ui_" + name]


def parse_bank(lang: str, text: str) -> Bank:
    """Parse the bank file format described in the module docstring."""
    slots: dict[str, tuple[str, ...]] = {}
    variants: list[list[str]] = []
    sentences: dict[str, list[str]] = {}
    titles: dict[str, list[str]] = {}
    section = None
    for number, raw in enumerate(unicodedata.normalize("NFC", text).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            name, _, values = line[1:].partition(":")
            slots[name.strip()] = tuple(v.strip() for v in values.split("|") if v.strip())
        elif line.startswith("~ "):
            variants.append([v.strip() for v in line[2:].split("|")])
        elif line.startswith("== "):
            section = line[3:].strip()
            sentences.setdefault(section, [])
            titles.setdefault(section, [])
        elif section is None:
            raise ValueError(f"{lang}.txt:{number}: text before the first '== section'")
        elif line.startswith("T: "):
            titles[section].append(line[3:].strip())
        else:
            sentences[section].append(line)
    vary = _variant_expander(variants)
    return Bank(
        lang=lang,
        slots=slots,
        sentences={k: tuple(v if k.startswith("_") else vary(v)) for k, v in sentences.items()},
        titles={k: tuple(v) for k, v in titles.items()},
    )


def _variant_expander(variants: list[list[str]]):
    """A function rewriting each sentence's phrases from `variants` as [a|b|c] groups (longest phrase first)."""
    if not variants:
        return lambda sentences: sentences
    groups = {group[0]: "[" + "|".join(group) + "]" for group in variants}
    # Whole words ("two" but not "two-factor"; ", but" may follow a word), outside {slots} and [groups] only:
    # a phrase must not sit inside a bracket that is still open.
    phrase = re.compile(
        r"(?<![{\[|])(?:(?<!\w)(?=\w)|(?=\W))("
        + "|".join(re.escape(p) for p in sorted(groups, key=len, reverse=True))
        + r")(?![\w}|\]'’-])"
    )

    def expand(sentence: str) -> str:
        return phrase.sub(
            lambda m: groups[m.group(1)] if _outside_brackets(sentence, m.start()) else m.group(1), sentence
        )

    return lambda sentences: [expand(s) for s in sentences]


def _outside_brackets(text: str, position: int) -> bool:
    head = text[:position]
    return head.count("[") == head.count("]") and head.count("{") == head.count("}")


@functools.cache
def load_bank(lang: str) -> Bank:
    """Load (once per process) the bank of one language."""
    return parse_bank(lang, (BANK_DIR / f"{lang}.txt").read_text(encoding="utf-8"))
