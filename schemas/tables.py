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

# Every stage's measurements, one sub-struct per stage (null for a stage that did not run on the row), so a
# user can re-threshold (sieve rethreshold), explain or calibrate without extracting again. A stage's annotate
# returns exactly these names; others it returns (working values) are not stored.
SIGNALS: dict[str, list[pa.Field]] = {
    "language_gate": [
        pa.field("language", pa.string()),  # top language of the fast extraction
        pa.field("score", pa.float64()),  # its probability
        pa.field("kept_score", pa.float64()),  # best kept-language probability: of the whole text, or of
        # its best long line when the whole text is below the gate;
        # 0 when none reaches the gate (lower scores are not computed)
    ],
}
# float64, as measured: a stored 0.3 must compare with a 0.3 threshold exactly as it did in the run.
_f64 = lambda *names: [pa.field(name, pa.float64()) for name in names]  # noqa: E731
_i32 = lambda *names: [pa.field(name, pa.int32()) for name in names]  # noqa: E731
SIGNALS["gopher_quality"] = (
    _i32("n_words")
    + _f64(
        "mean_word_length",
        "hash_word_ratio",
        "ellipsis_word_ratio",
        "bullet_lines_frac",
        "ellipsis_lines_frac",
        "alpha_words_frac",
    )
    + _i32("stop_words")
)
SIGNALS["c4"] = (
    _i32(
        "lines_removed_long_word",
        "lines_removed_no_terminal_punct",
        "lines_removed_few_words",
        "lines_removed_javascript",
        "lines_removed_policy",
        "lines_removed",
        "chars_removed",
    )
    + [pa.field("lorem_ipsum", pa.bool_())]
    + _i32("sentences", "code_lines")
    + _f64("code_char_frac")
)
SIGNALS["fineweb"] = _f64(
    "line_punct_frac", "short_line_frac", "short_line_char_frac", "dup_line_char_frac", "lines_per_word"
)
# The n-gram fractions Gopher's paper uses; a config that asks for other n measures them but stores these.
SIGNALS["gopher_repetition"] = _f64(
    "dup_line_frac",
    "dup_line_char_frac",
    "dup_paragraph_frac",
    "dup_paragraph_char_frac",
    *(f"top_{n}gram_char_frac" for n in (2, 3, 4)),
    *(f"dup_{n}gram_char_frac" for n in range(5, 11)),
)
SIGNALS["perplexity"] = [pa.field("perplexity_missing", pa.string())] + _f64(
    "word_order_gain", "pair_gain", "repeat_gain"
)
# perplexity_missing: no_model / no_text; the perplexity itself is a column
SIGNALS["classifier"] = [pa.field("classifier_missing", pa.string())]  # no_model; the score is a column
# toxicity = toxic_words / words (the drop score); profanity = the English model's highest sentence probability
# (null for other languages); bias = identity terms dominated by negative terms (a flag, never a drop).
SIGNALS["toxicity"] = (
    _f64("toxicity")
    + _i32("toxic_words", "words")
    + _f64("profanity")
    + _i32("profane_sentences", "identity_sentences", "identity_negative_sentences")
    + [pa.field("bias", pa.bool_())]
)
# The dedup pass's text edits: boilerplate lines, sentences repeated within the document, sentences of spans that
# another document holds, and the characters they took.
SIGNALS["dedup"] = _i32("lines_removed", "sentences_removed", "span_sentences_removed", "chars_removed")
SIGNALS_TYPE = pa.struct([pa.field(stage, pa.struct(fields)) for stage, fields in SIGNALS.items()])

# Columns both tables carry: the language, the scores named by the product, and the signal struct.
MEASURES = [
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float32()),
    pa.field("perplexity", pa.float64()),  # CCNet perplexity of the language's KenLM model; null without one
    pa.field("pp_bucket", pa.string()),  # head/middle/tail by the run's per-language percentiles
    pa.field("quality_score", pa.float32()),  # the quality classifier's probability of "reference-like"
    pa.field("dup_cluster_id", pa.string()),  # doc_id of the document kept for its duplicate cluster; null
    # for a document without duplicates
    pa.field("dup_cluster_size", pa.int32()),  # documents in that cluster (1 without duplicates)
    pa.field("signals", SIGNALS_TYPE),
    # PII spans replaced in the row's text, details and url, per entity type (filters/pii.py); a map, not a struct:
    # most rows have none, and a user's extra entity types (PERSON with an NER model) need no schema change.
    pa.field("pii_counts", pa.map_(pa.string(), pa.int32())),
]

KEPT = pa.schema(
    PROVENANCE
    + [
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
    ]
    + MEASURES
)

# A dropped row keeps the text it had when dropped (null when there was none) and the signals measured up to
# its drop, so a drop can be audited and re-decided.
DROPPED = pa.schema(
    PROVENANCE
    + [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("details", pa.string()),
        pa.field("text", pa.string()),
        pa.field("n_chars", pa.int64()),
    ]
    + MEASURES
)

TABLES = {"kept": KEPT, "dropped": DROPPED}
