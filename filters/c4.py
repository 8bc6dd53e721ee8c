"""C4's cleanup (Raffel et al. 2020): drop boilerplate lines, then drop pages with placeholder text, too few sentences,
or mostly code. Each line rule is switched per language; the defaults are what measured well on real articles
(docs/quality-thresholds.md).

C4 dropped any page with a "{"; that loses every tutorial with one snippet and every page of maths (\frac{a}{b},
{1, 2, 3}). Here a page goes only when code or markup lines carry most of its characters: a snippet inside prose
stays, a source file, stylesheet, JSON response, stack trace or raw template goes.
"""

from __future__ import annotations

import re
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.filters.textstats import SENTENCE_END, text_stats
from sieve.schemas.config import C4Config, Config
from sieve.schemas.document import Document, Drop

# Two sentences the extractor glued where a paragraph break was ("on Wednesday.The stabbing"): a word's last two
# lowercase letters, the mark, then a capitalised word. Counted as an end too ("U.S.", "Ph.D" and "e.g.The" are not).
# The mark comes first, so re skips to each mark in C instead of trying the lookbehind at every position (9x faster).
_GLUED_END = re.compile(r"[.!?](?<=[^\W\d_A-Z]{2}[.!?])(?=[A-Z][^\W\d_A-Z])")
_END_PUNCTUATION = (".", "?", "!", '"', "'")  # C4's terminal marks; a line ending in "..." is a teaser, not an end
# Shapes of a stripped line of code or markup, none of which a line of prose takes (docs/quality-thresholds.md
# measures them on real articles and Vietnamese prose). Keywords are case-sensitive: prose lines start capitalized.
# A line of code or markup: one of these at its start (matched there only: searched, an anchored alternative was
# tried at every position of a long prose line, three times the time) ...
_CODE_START = re.compile(
    r"""
    </?[a-z][a-z\d-]*[\s/>] | <[!?]                           # a markup tag: <div, </p>, <!--, <?php
  | (?:def|class|function|return|import|var|let|const|elif|else|try|except|finally|catch|switch|case|package|
        public|private|protected|static|void|int|char|double|float|using|namespace|echo|print)\b
        (?!\s+[a-z]+\s+[a-z])                                   # unless two lowercase words follow: "class sizes in"
  | from\s+[\w.]+\s+import\b | (?:if|for|while|with)\b.*[:{]$    # Python import, block headers
  | \#(?:include|define|if|endif|pragma|!/)                    # C preprocessor, shebang
  | (?:SELECT|FROM|WHERE|GROUP\ BY|ORDER\ BY|INSERT|UPDATE|DELETE|CREATE|JOIN|HAVING|LIMIT)\s+[a-z_*'(\d]  # SQL
  | [\w.$\[\]'"]+\s*(?:[-+*/%|&]?=|:=|=>)\s*\S                  # assignment: total = 0, x += 1
  | [\w.$]+\(.*\)[;,]?$                                       # a call on its own: print(x), foo(a, b);
  | [a-z-]+:\s*[^;]+;$                                        # a CSS declaration: color: red;
  | "[^"]*"\s*:                                               # a JSON member: "key": value
  | (?://|/\*|\*/|\$\ |>>>\ )                                  # comment, shell or REPL prompt
  | @(?:media|import|font-face|keyframes|supports)\b | @[\w.]+\(    # CSS at-rule, decorator call (not a @handle)
  | (?:Traceback\ \(most|File\ ".*",\ line\ \d|at\ [\w$.]+\(.*\)$|[\w.]+(?:Error|Exception)\b:)  # stack trace
""",
    re.VERBOSE,
)
# ... or one of these anywhere in it.
_CODE_ANYWHERE = re.compile(
    r"""
    \{\{ | \}\} | \{% | %\}                                    # template placeholders and tags: {{ x }}, {% for %}
  | (?:[{}\[(]|[}\]][;,]|\);)$                                 # opens or closes a block: {  }  };  ],  },  );
  | (?:=|\w\().*;$                                              # a statement: ends in ";" after "=" or a call
""",
    re.VERBOSE,
)
# An indented line holding an operator or bracket: the body of a block (prose lines carry no indentation).
_INDENTED_CODE = re.compile(r"^\s+\S.*[=(){}\[\];<>+*/]")
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
        # a line of verse ends a sentence of its own (textstats.verse_lines: poems and lyrics punctuate no line)
        kept_text = doc.text or ""
        signals["sentences"] = (
            len(SENTENCE_END.findall(kept_text)) + len(_GLUED_END.findall(kept_text)) + len(text_stats(kept_text).verse)
        )
        signals.update(code_lines(kept_text))
        return signals

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        t = self.thresholds(doc.language)
        if t.drop_lorem_ipsum and signals["lorem_ipsum"]:
            return Drop(self.stage, "lorem_ipsum", f"placeholder text ({doc.language})")
        if signals["code_char_frac"] > t.max_code_char_frac:
            return Drop(
                self.stage,
                "code_char_frac",
                f"{signals['code_char_frac']} > {t.max_code_char_frac} of the "
                f"characters in {signals['code_lines']} code or markup lines ({doc.language})",
            )
        if signals["sentences"] < t.min_sentences:
            return Drop(self.stage, "sentences", f"{signals['sentences']} < {t.min_sentences} ({doc.language})")
        return None


def code_lines(text: str) -> dict[str, Any]:
    """How many non-blank lines look like code or markup, and their share of the characters of all non-blank
    lines (stripped): characters, not lines, because a prose paragraph is one long line and a snippet many short."""
    code = total = n = 0
    for line in text.split("\n"):
        stripped = line.strip()
        total += len(stripped)
        if stripped and (_CODE_START.match(stripped) or _anywhere(stripped) or _INDENTED_CODE.match(line)):
            code += len(stripped)
            n += 1
    return {"code_lines": n, "code_char_frac": round(code / total, 4) if total else 0.0}


def _anywhere(line: str) -> bool:
    """_CODE_ANYWHERE in a stripped line, searched only where it can match: a brace, or a line ending in one of its
    marks (a prose line has neither; the search tried every position of it, 0.4 ms a page)."""
    return (line[-1] in "{}[(;," or "{" in line or "}" in line) and _CODE_ANYWHERE.search(line) is not None


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
