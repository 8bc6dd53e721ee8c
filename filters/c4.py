"""C4's cleanup (Raffel et al. 2020): drop boilerplate lines, then drop pages with placeholder text, code or too few
sentences. Each line rule is switched per language; the defaults are what measured well on real articles
(docs/quality-thresholds.md).
"""
from __future__ import annotations

import re
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.filters.textstats import SENTENCE_END
from sieve.schemas.config import C4Config, Config
from sieve.schemas.document import Document, Drop

_END_PUNCTUATION = (".", "?", "!", '"', "'")  # C4's terminal marks; a line ending in "..." is a teaser, not an end
LINE_RULES = ("long_word", "no_terminal_punct", "few_words", "javascript", "policy")


class C4:
    """Removes lines that are not prose (counted per rule in the signals), then drops lorem ipsum, code, stubs."""

    stage = "c4"

    def __init__(self, cfg: Config) -> None:
        self.thresholds = PerLanguage(cfg, "c4")

    def annotate(self, doc: Document) -> dict[str, Any]:
        t = self.thresholds(doc.language)
        policy = tuple(p.lower() for p in t.policy_phrases)
        text = doc.text or ""
        removed = dict.fromkeys(LINE_RULES, 0)
        paragraphs = []
        for paragraph in text.split("\n\n"):
            kept = []
            for line in paragraph.split("\n"):
                rule = _failed_rule(line.strip(), t, policy)
                if rule is None:
                    kept.append(line)
                else:
                    removed[rule] += 1
            if any(line.strip() for line in kept):
                paragraphs.append("\n".join(kept))
        if any(removed.values()):
            doc.text = "\n\n".join(paragraphs)
        signals: dict[str, Any] = {f"lines_removed_{rule}": n for rule, n in removed.items()}
        signals["lines_removed"] = sum(removed.values())
        signals["chars_removed"] = len(text) - len(doc.text or "")
        signals["lorem_ipsum"] = "lorem ipsum" in text.lower()
        signals["curly_bracket"] = "{" in (doc.text or "")
        signals["sentences"] = len(SENTENCE_END.findall(doc.text or ""))
        return signals

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        if t.drop_lorem_ipsum and signals["lorem_ipsum"]:
            return Drop(self.stage, "lorem_ipsum", f"placeholder text ({doc.language})")
        if t.drop_curly_bracket and signals["curly_bracket"]:
            return Drop(self.stage, "curly_bracket", f"'{{' in the text: code or markup ({doc.language})")
        if signals["sentences"] < t.min_sentences:
            return Drop(self.stage, "sentences", f"{signals['sentences']} < {t.min_sentences} ({doc.language})")
        return None


def _failed_rule(line: str, t: C4Config, policy: tuple[str, ...]) -> str | None:
    """The first C4 line rule a stripped line fails (None keeps it); blank lines are kept as paragraph breaks."""
    if not line:
        return None
    words = line.split()
    if t.max_word_length and len(line) > t.max_word_length and max(map(len, words)) > t.max_word_length:
        return "long_word"
    if t.remove_no_terminal_punct_lines and (not line.endswith(_END_PUNCTUATION) or line.endswith("...")):
        return "no_terminal_punct"
    if len(words) < t.min_words_per_line:
        return "few_words"
    lowered = line.lower()
    if t.remove_javascript_lines and "javascript" in lowered:
        return "javascript"
    if t.remove_policy_lines and any(phrase in lowered for phrase in policy):
        return "policy"
    return None
