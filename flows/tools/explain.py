"""`sieve explain`: one document's journey through every stage: its signals, the thresholds they met, each decision.

From a WARC file it runs the stages now, and goes on past the first drop while there is text, so a user sees
what the later stages would have said too. From a published run it reads the row back (signals are stored
with every row) and re-decides each stage under the run's own config, without extracting again.
"""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from sieve.filters.base import Filter
from sieve.flows.publish import published
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop
from sieve.schemas.errors import UsageError
from sieve.transforms import storage
from sieve.transforms.stages import build_filters
from sieve.transforms.warc import read_warc

WIDTH = 110


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        shown = ", ".join(_value(x) for x in v[:6])
        return f"[{shown}{', ...' if len(v) > 6 else ''}]"
    if isinstance(v, dict):
        return (
            "{" + ", ".join(f"{k}: {_value(x)}" for k, x in list(v.items())[:8]) + (", ..." if len(v) > 8 else "") + "}"
        )
    return str(v)


def _wrapped(label: str, values: dict[str, Any]) -> list[str]:
    """'  label: a=1 b=2 ...' folded at WIDTH, continuation lines indented under the first value."""
    lines, line = [], f"  {label:<11}"
    for k, v in values.items():
        item = f"{k}={_value(v)}"
        if len(line) + len(item) + 1 > WIDTH and line.strip() != label:
            lines.append(line.rstrip())
            line = " " * 13
        line += item + " "
    return lines + [line.rstrip()]


def _verdict(drop: Drop | None) -> str:
    return "keep" if drop is None else f"DROP {drop.reason}" + (f" ({drop.details})" if drop.details else "")


def stage_report(
    f: Filter, doc: Document, signals: dict[str, Any], drop: Drop | None, cfg: Config, after: bool
) -> list[str]:
    """One stage's block: its verdict, its signals and the settings its decision reads for the document's language."""
    note = "   (after the decision: what this stage would say)" if after else ""
    lines = [f"[{f.stage}] {_verdict(drop)}{note}"]
    shown = {k: v for k, v in signals.items() if not k.startswith("_")}
    if shown:
        lines += _wrapped("signals:", shown)
    settings = cfg.stage_settings(f.stage, doc.language)
    if settings:
        lines += _wrapped("settings:", settings)
    return lines


def _header(doc: Document, lines: list[str], decision: str) -> list[str]:
    return [
        f"document {doc.doc_id}",
        f"  url:       {doc.url}",
        f"  record:    {doc.warc_file} @ {doc.warc_offset}",
        f"  language:  {doc.language} ({_value(doc.language_score)})",
        f"  decision:  {decision}",
        "",
    ] + lines


def explain_record(doc: Document, cfg: Config) -> list[str]:
    """Run every stage on a freshly read record; after the first drop, go on while the document has text."""
    lines, first = [], None
    for f in build_filters(cfg):
        if first is not None and f.stage != "extract" and doc.text is None and doc.payload is None:
            lines.append(f"[{f.stage}] not reached: no text")
            continue
        signals = f.annotate(doc)
        doc.signals[f.stage] = signals
        drop = f.decide(doc, signals)
        lines += stage_report(f, doc, signals, drop, cfg, after=first is not None)
        first = first or drop
    decision = "kept" if first is None else f"dropped by {first.stage}: {first.reason} ({first.details})"
    return _header(doc, lines, decision)


def explain_row(row: dict[str, Any], cfg: Config) -> list[str]:
    """Re-decide each stage whose signals the row stores, under the run's config; no extraction."""
    doc = Document.from_row(row)
    lines = []
    for f in build_filters(cfg):
        if f.stage in doc.signals:
            lines += stage_report(f, doc, doc.signals[f.stage], f.decide(doc, doc.signals[f.stage]), cfg, after=False)
        elif f.stage == row.get("stage"):
            lines.append(f"[{f.stage}] DROP {row['reason']} ({row['details']})   (its signals are not stored)")
        else:
            lines.append(f"[{f.stage}] no stored signals (this stage measures nothing to store, or was not reached)")
    kept = row.get("stage") is None
    decision = "kept" if kept else f"dropped by {row['stage']}: {row['reason']} ({row['details']})"
    if kept and row.get("pp_bucket"):
        decision += f"; perplexity bucket {row['pp_bucket']}"
    return _header(doc, lines, decision)


def _matches(doc: Document, key: str) -> bool:
    return key in (doc.doc_id, doc.url, doc.warc_record_id)


def find_record(warc: str, key: str, cfg: Config) -> Document:
    """The record of a WARC file whose URL, doc_id or WARC-Record-ID is key."""
    if not storage.exists(warc):
        raise UsageError(f"--warc {warc}: no such file")
    name = warc.rstrip("/").rsplit("/", 1)[-1]
    for item in read_warc(warc, cfg.read.max_payload_bytes, name=name):
        if item.doc is not None and _matches(item.doc, key):
            if item.drop is not None:
                raise UsageError(
                    f"{key}: dropped while reading, before any stage: {item.drop.reason} ({item.drop.details})"
                )
            return item.doc
    raise UsageError(f"{key}: no response record in {warc} has this URL, doc_id or WARC-Record-ID")


def find_row(output: str, key: str) -> dict[str, Any]:
    """The kept or dropped row of a published run whose doc_id, URL or WARC-Record-ID is key."""
    manifest, _ = published(output)
    for kind in ("kept", "dropped"):
        for shard in manifest["shards"][kind]:
            table = storage.read_parquet(storage.join(output, shard["path"]))
            hit = pc.or_(
                pc.or_(pc.equal(table["doc_id"], key), pc.equal(table["url"], key)),
                pc.equal(table["warc_record_id"], key),
            )
            rows = table.filter(pc.fill_null(hit, False)).to_pylist()
            if rows:
                return rows[0]
    raise UsageError(f"{key}: no row of the run in {output} has this doc_id, URL or WARC-Record-ID")
