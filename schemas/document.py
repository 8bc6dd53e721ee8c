"""The in-flight document and the one drop-row contract every stage uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Drop:
    """A stage's verdict that a record leaves the corpus: which stage, a short machine-readable reason, free details."""

    stage: str
    reason: str
    details: str = ""


@dataclass
class Document:
    """One WARC record on its way through the stages; becomes exactly one kept or one dropped row."""

    warc_file: str
    warc_offset: int
    warc_record_id: str | None = None
    url: str | None = None
    crawl_date: datetime | None = None
    content_type: str | None = None
    text: str | None = None
    language: str | None = None
    language_score: float | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    pii_counts: dict[str, int] | None = None  # set when the row is written (transforms/parquet.py write_rows)
    # Transient inputs of the extract stages; never written to a table.
    http_status: int | None = None
    http_charset: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    html: str | None = field(default=None, repr=False)  # payload decoded once by the language gate, for Extraction
    main_chars: int | None = None  # length of the gate's resiliparse main text, for Extraction's first pass

    @property
    def doc_id(self) -> str:
        """The record's place in the run: its input's name (unique in a run), offset and WARC-Record-ID. Unique
        even when one record is in two inputs (a file given twice, overlapping listings) or twice in one file, so
        dedup sees two documents and keeps one; stable across reruns, reshards and machines. The record id tells
        a record from the read error reported at its offset."""
        key = f"{self.warc_file}@{self.warc_offset}#{self.warc_record_id or ''}"
        return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()

    @property
    def domain(self) -> str | None:
        if not self.url:
            return None
        try:
            return urlsplit(self.url).hostname
        except ValueError:
            return None

    def _provenance(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "url": self.url,
            "domain": self.domain,
            "warc_file": self.warc_file,
            "warc_offset": self.warc_offset,
            "warc_record_id": self.warc_record_id,
            "crawl_date": self.crawl_date,
            "content_type": self.content_type,
        }

    def _measures(self) -> dict[str, Any]:
        """The measure columns (sieve.schemas.tables.MEASURES): language, scores and each stage's stored signals."""
        from sieve.schemas.tables import SIGNALS  # pyarrow (~0.2 s) only where rows are built, not in every filter

        signals = {
            stage: {f.name: self.signals[stage].get(f.name) for f in fields} if stage in self.signals else None
            for stage, fields in SIGNALS.items()
        }
        return {
            "language": self.language,
            "language_score": self.language_score,
            "perplexity": self.signals.get("perplexity", {}).get("perplexity"),
            "pp_bucket": None,  # set by the run's corpus pass, once every document's perplexity is known
            "quality_score": self.signals.get("classifier", {}).get("quality_score"),
            "dup_cluster_id": None,  # set by the dedup corpus pass
            "dup_cluster_size": None,
            "signals": signals,
            "pii_counts": self.pii_counts,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        """A kept or dropped row back as a document with its text and stored signals, to re-decide or explain it."""
        doc = cls(
            warc_file=row["warc_file"],
            warc_offset=row["warc_offset"],
            warc_record_id=row.get("warc_record_id"),
            url=row.get("url"),
            crawl_date=row.get("crawl_date"),
            content_type=row.get("content_type"),
            text=row.get("text"),
            language=row.get("language"),
            language_score=row.get("language_score"),
            pii_counts=_as_dict(row.get("pii_counts")),
        )
        doc.signals = {stage: values for stage, values in (row.get("signals") or {}).items() if values is not None}
        # Scores the product names as columns join the stage's stored signals.
        for stage, columns in (
            ("language_id", ("language", "language_score")),
            ("perplexity", ("perplexity",)),
            ("classifier", ("quality_score",)),
        ):
            if row.get(columns[0]) is not None or stage in doc.signals:
                doc.signals[stage] = {**doc.signals.get(stage, {}), **{c: row.get(c) for c in columns}}
        return doc

    def kept_row(self) -> dict[str, Any]:
        """The row this document becomes in kept/ (columns of sieve.schemas.tables.KEPT)."""
        row = self._provenance()
        row.update(text=self.text, n_chars=len(self.text or ""), **self._measures())
        return row

    def dropped_row(self, drop: Drop) -> dict[str, Any]:
        """The row this document becomes in dropped/ (columns of sieve.schemas.tables.DROPPED)."""
        row = self._provenance()
        row.update(
            stage=drop.stage,
            reason=drop.reason,
            details=drop.details,
            text=self.text,
            n_chars=None if self.text is None else len(self.text),
            **self._measures(),
        )
        return row


def _as_dict(pairs: Any) -> dict[str, int] | None:
    """A Parquet map read back (a list of (key, value) pairs) as a dict; None stays None."""
    return None if pairs is None else dict(pairs)
