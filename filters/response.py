"""Decides whether an HTTP response is worth extracting: a successful HTML page."""

from __future__ import annotations

from typing import Any

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop


class ResponseCheck:
    """Drops HTTP errors/redirects and content types that are not HTML before any parsing work."""

    stage = "response"

    def __init__(self, cfg: Config) -> None:
        self.html_types = {t.lower() for t in cfg.read.html_content_types}

    def annotate(self, doc: Document) -> dict[str, Any]:
        return {"http_status": doc.http_status}

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        status = signals["http_status"]
        if status is None or not 200 <= status < 300:
            return Drop(self.stage, "http_status", f"HTTP {status}")
        content_type = (doc.content_type or "").split(";")[0].strip().lower()
        if not content_type and _looks_like_html(doc.payload or b""):
            return None
        if content_type not in self.html_types:
            return Drop(self.stage, "non_html", content_type or "no Content-Type")
        return None


def _looks_like_html(payload: bytes) -> bool:
    """Sniff pages served without a Content-Type header."""
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head
