"""The plain-text table every bench script prints: one row per dict, columns in first-seen order."""

from __future__ import annotations


def table(rows: list[dict]) -> str:
    """rows as aligned columns under a header line; a key a row lacks prints empty."""
    headers = list(dict.fromkeys(h for r in rows for h in r))
    widths = [max(len(h), *(len(str(r.get(h, ""))) for r in rows)) for h in headers]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)), "-+-".join("-" * w for w in widths)]
    return "\n".join(lines + [" | ".join(str(r.get(h, "")).ljust(w) for h, w in zip(headers, widths)) for r in rows])
