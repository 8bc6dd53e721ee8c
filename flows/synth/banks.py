"""Sentence banks: per-language slot values, topic sentences, title templates and UI strings.

Bank file format (flows/synth/banks/<lang>.txt, UTF-8):
  "# ..."            comment
  "@name: a | b | c" slot values ("ui_*" slots are boilerplate strings)
  "== topic"         starts a section; names starting with "_" (e.g. "_pii", "_toxic") are not article topics
  "T: ..."           a title template of the current section
  anything else      a sentence template of the current section
Templates use {slot} placeholders, see sieve.flows.synth.text.Slots.
"""

from __future__ import annotations

import functools
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
    return Bank(
        lang=lang,
        slots=slots,
        sentences={k: tuple(v) for k, v in sentences.items()},
        titles={k: tuple(v) for k, v in titles.items()},
    )


@functools.cache
def load_bank(lang: str) -> Bank:
    """Load (once per process) the bank of one language."""
    return parse_bank(lang, (BANK_DIR / f"{lang}.txt").read_text(encoding="utf-8"))
