"""Drops pages by their URL alone: blocked domains and adult or spam keywords, before any extraction work."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

SHIPPED_BLOCKLIST = Path(__file__).with_name("data") / "url_blocklist.txt"
_TOKEN = re.compile(r"[a-z]+|[0-9]+")  # letters and digits apart, so "nhacai88" yields "nhacai"


def fold(text: str) -> str:
    """Lowercase without diacritics, as Vietnamese URL slugs write words ("Nhà Cái" -> "nha cai")."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> tuple[str, ...]:
    """The words of a folded, percent-decoded URL part or keyword."""
    return tuple(_TOKEN.findall(fold(unquote(text))))


def blocklist_files(cfg: Config) -> list[str]:
    """The blocklist files a run reads: the configured one (the shipped list when none is set), then the extras."""
    return [cfg.url_filter.blocklist or str(SHIPPED_BLOCKLIST), *cfg.url_filter.extra_blocklists]


def blocklist_domains(text: str) -> set[str]:
    """Domains of one blocklist file's text: one per line, "#" starts a comment."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return {_domain(line) for line in lines if line.strip()}


def _domain(name: str) -> str:
    """A blocklist entry as hosts are compared: lowercase, no trailing dot, "www." meaning the whole site."""
    return name.strip().lower().rstrip(".").removeprefix("www.")


def blocked_domain(host: str, domains: set[str]) -> str | None:
    """The blocklist entry covering host or one of its parent domains (a.b.example.com -> example.com)."""
    labels = host.lower().rstrip(".").split(".")
    return next((d for d in (".".join(labels[i:]) for i in range(len(labels))) if d in domains), None)


class KeywordMatcher:
    """Finds keywords as whole-token sequences, so "sex cam" matches /sex-cam-live but "sex" never /essex."""

    def __init__(self, keywords: list[tuple[str, str]]) -> None:
        """keywords: (category, keyword as written); indexed by first token for one dict lookup per URL token."""
        self.by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for category, keyword in keywords:
            seq = tokens(keyword)
            if not seq:
                raise ValueError(f"url_filter keyword {keyword!r} has no letters or digits: remove it from the config")
            self.by_first.setdefault(seq[0], []).append((seq, category, keyword))

    def find(self, words: tuple[str, ...]) -> list[tuple[str, str]]:
        """(category, keyword) of each keyword occurring in words, once each, in order of first appearance."""
        hits: dict[tuple[str, str], None] = {}
        for i, word in enumerate(words):
            for seq, category, keyword in self.by_first.get(word, ()):
                if words[i : i + len(seq)] == seq:
                    hits[category, keyword] = None
        return list(hits)


class UrlFilter:
    """Drops URLs on a blocked domain, with an adult/spam keyword in the host, or with several in the path."""

    stage = "url"

    def __init__(self, cfg: Config, blocklists: list[str]) -> None:
        """blocklists: the texts of blocklist_files(cfg), read by the stage registry (transforms/stages.py)."""
        uc = cfg.url_filter
        self.domains = {_domain(d) for d in uc.extra_domains}
        for text in blocklists:
            self.domains |= blocklist_domains(text)
        self.path_keyword_hits = uc.path_keyword_hits
        self.matcher = KeywordMatcher(
            [("adult_keyword", word) for words in uc.adult_keywords.values() for word in words]
            + [("spam_keyword", word) for words in uc.spam_keywords.values() for word in words]
        )

    def annotate(self, doc: Document) -> dict[str, Any]:
        host, path = _host_and_path(doc.url or "")
        return {
            "url_blocked_domain": blocked_domain(host, self.domains) if host else None,
            "url_host_keywords": self.matcher.find(tokens(host)),
            "url_path_keywords": self.matcher.find(tokens(path)),
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        if signals["url_blocked_domain"]:
            return Drop(self.stage, "blocked_domain", signals["url_blocked_domain"])
        if signals["url_host_keywords"]:
            return _keyword_drop(self.stage, "host", signals["url_host_keywords"])
        if len(signals["url_path_keywords"]) >= self.path_keyword_hits:
            return _keyword_drop(self.stage, "path", signals["url_path_keywords"])
        return None


def _host_and_path(url: str) -> tuple[str, str]:
    """Host and path of a URL; the query is left out (search terms and tracking tags are not the page's name)."""
    try:
        parts = urlsplit(url)
        return parts.hostname or "", parts.path
    except ValueError:
        return "", ""


def _keyword_drop(stage: str, where: str, hits: list[tuple[str, str]]) -> Drop:
    """Adult wins over spam when both occur: it is the stronger reason to leave a page out."""
    categories = {category for category, _ in hits}
    reason = "adult_keyword" if "adult_keyword" in categories else "spam_keyword"
    return Drop(stage, reason, f"{where}: " + ", ".join(keyword for _, keyword in hits))
