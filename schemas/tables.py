"""Arrow schemas of the tables sieve writes, defined once and used by writers, readers and tests."""
from __future__ import annotations

import pyarrow as pa

# Where a row came from: enough to find the exact WARC record again.
PROVENANCE = [
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("warc_file", pa.string(), nullable=False),
    pa.field("warc_offset", pa.int64(), nullable=False),
    pa.field("warc_record_id", pa.string()),
    pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
    pa.field("content_type", pa.string()),
]

KEPT = pa.schema(
    PROVENANCE
    + [
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float32()),
    ]
)

# A dropped row keeps the text it had when dropped (null when there was none) so a drop can be audited.
DROPPED = pa.schema(
    PROVENANCE
    + [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("details", pa.string()),
        pa.field("text", pa.string()),
        pa.field("n_chars", pa.int64()),
    ]
)

TABLES = {"kept": KEPT, "dropped": DROPPED}
