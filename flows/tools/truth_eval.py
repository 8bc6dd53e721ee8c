"""`sieve eval RUN --truth truth.json`: each stage's precision and recall on the synthetic corpus, from the run's real
rows checked against the ground truth `sieve synth` writes beside its WARC (what every response record is).

A record's row (kept, or dropped with its stage) is found by its WARC-Record-ID. For a check, "planted" counts the
records the truth says the stage should remove; "reached" those of them that no earlier stage dropped; "flagged" the
rows the stage dropped that the truth labels, "correct" those of them that are planted. Precision is correct/flagged,
recall correct/reached, and "removed" counts the planted records that are not kept, whichever stage took them.
Rows the truth says nothing about (a language filter dropping a page of no planted language) count apart.

Duplicates are counted per truth cluster: of the members that reached dedup, all but one should go, whichever one is
kept. A near copy whose Jaccard to its source is below the configured threshold is not scored, as in `sieve
dedup-eval`. PII is counted per planted value: gone from the row's stored text, or still there (a leak); replaced
spans of a type beyond the planted values gone count against its precision. The article text of kept documents is
scored with the extraction benchmark's shingle precision and recall against the article's true body.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sieve.filters.c4 import C4
from sieve.filters.classifier import QualityClassifier
from sieve.filters.dedup import EXACT_DUPLICATE, NEAR_DUPLICATE
from sieve.filters.fineweb import FineWeb
from sieve.filters.gate import LanguageGate
from sieve.filters.gopher import GopherQuality, GopherRepetition
from sieve.filters.language import LanguageId
from sieve.filters.perplexity import Perplexity
from sieve.filters.toxicity import Toxicity
from sieve.flows.funnel import funnel
from sieve.flows.report import markdown_table
from sieve.flows.report_data import run_shards
from sieve.flows.synth.lowq import PAGES as LOW_QUALITY_KINDS
from sieve.flows.tools.evaluate import shingle_f1
from sieve.schemas.config import Config
from sieve.schemas.errors import UsageError
from sieve.transforms import storage
from sieve.transforms.dedup import Dedup

EVAL = "eval.json"
KEPT = "kept"  # a kept row's outcome, after every step
LANGUAGE_STAGES = (LanguageGate.stage, LanguageId.stage)
QUALITY_STAGES = tuple(s.stage for s in (GopherQuality, C4, FineWeb, GopherRepetition, Perplexity, QualityClassifier))
# Each planted PII type of flows/synth/pii.py and the entity type the scrubber replaces it as (filters/pii.py).
PII_ENTITIES = {
    "email": "EMAIL_ADDRESS",
    "phone_us": "PHONE_NUMBER",
    "phone_vn": "PHONE_NUMBER",
    "vn_cccd": "VN_CCCD",
    "vn_cmnd": "VN_CMND",
    "ipv4": "IP_ADDRESS",
    "credit_card": "CREDIT_CARD",
}
# The truth fields the checks read, in every record truth.json holds.
FIELDS = {"record_id", "kind", "lang", "toxic", "pii", "body_text", "boilerplate", "dup_source", "near_dup_source",
          "near_dup_jaccard"}  # fmt: skip
HEADERS = ["check", "planted", "reached", "flagged", "correct", "unscored", "precision", "recall", "removed", "stage"]


@dataclass
class Check:
    """One check's counts and scores (see the module docstring); None where a figure does not apply."""

    check: str
    stage: str
    planted: int = 0
    reached: int = 0
    flagged: int | None = 0
    correct: int | None = 0
    unscored: int | None = 0
    removed: int | None = 0
    precision: float | None = None
    recall: float | None = None

    def scored(self) -> Check:
        """The check with its precision and recall computed from its counts (None when nothing was measured)."""
        self.precision = round(self.correct / self.flagged, 4) if self.flagged else None
        self.recall = round(self.correct / self.reached, 4) if self.reached else None
        return self


@dataclass
class Row:
    """What a run made of one record."""

    outcome: str  # the stage that dropped it, or KEPT
    reason: str | None
    language: str | None  # language id's, else the language gate's
    text: str | None
    pii: dict[str, int]


def read_truth(path: str) -> list[dict[str, Any]]:
    """The response records of a truth.json written by `sieve synth`."""
    try:
        text = storage.read_text(path)
    except OSError as e:
        raise UsageError(f"--truth: {e}") from None
    try:
        records = json.loads(text)["records"]
        if all(FIELDS <= record.keys() for record in records):
            return records
        problem = f"a record lacks one of {sorted(FIELDS)}"
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        problem = f"{type(e).__name__}: {e}"
    raise UsageError(f"{path}: not a truth.json of `sieve synth` ({problem}); give the one written with the corpus")


def read_rows(output: str, manifest: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Row]:
    """record id -> its row, for the truth's records in the run; texts only where a check reads them."""
    wanted = {r["record_id"] for r in records}
    texts = {r["record_id"] for r in records if r["pii"] or r["body_text"]}
    rows: dict[str, Row] = {}
    for shard in run_shards(output, manifest):
        extra = ["stage", "reason"] if shard.kind == "dropped" else []
        columns = ["warc_record_id", "language", "signals.language_gate.language", "text", "pii_counts", *extra]
        table = storage.read_parquet(shard.uri, columns=columns)
        table = table.rename_columns(["id", "language", "gate_language", "text", "pii", *extra]).to_pydict()
        for i, record_id in enumerate(table["id"]):
            if record_id in wanted:
                rows[record_id] = Row(
                    table["stage"][i] if extra else KEPT,
                    table["reason"][i] if extra else None,
                    table["language"][i] or table["gate_language"][i],
                    table["text"][i] if record_id in texts else None,
                    dict(table["pii"][i] or []),
                )
    return rows


def evaluate(output: str, manifest: dict[str, Any], cfg: Config, truth_path: str) -> dict[str, Any]:
    """Every check of a published run against a truth file, as the JSON eval.json holds."""
    records = read_truth(truth_path)
    rows = read_rows(output, manifest, records)
    if not rows:
        raise UsageError(
            f"{truth_path}: none of its {len(records)} records is in {output} (give the truth.json of the corpus "
            f"this run read)"
        )
    found = [r for r in records if r["record_id"] in rows]
    steps = [s["step"] for s in funnel(manifest, cfg)] + [KEPT]
    at = {rid: steps.index(row.outcome) for rid, row in rows.items()}
    keep = set(cfg.language_id.keep)

    def drops(name: str, stages: tuple[str, ...], label) -> Check:
        return _drops(name, stages, label, found, rows, at, _first(stages, steps))

    checks = [
        drops("language filter", LANGUAGE_STAGES, lambda r: None if r["lang"] is None else r["lang"] not in keep),
        *_language_id(found, rows),
        drops("low quality", QUALITY_STAGES, lambda r: r["kind"] in LOW_QUALITY_KINDS),
        drops("toxicity", (Toxicity.stage,), lambda r: r["toxic"]),
        *_duplicates(found, rows, at, _first((Dedup.name,), steps), cfg.dedup.near.threshold),
        *_pii(found, rows),
        _article_text(found, rows),
    ]
    return {
        "output": output,
        "truth": truth_path,
        "config_hash": manifest["config_hash"],
        "records": {"truth": len(records), "in_run": len(found)},
        "checks": [asdict(c) for c in checks],
    }


def _first(stages: tuple[str, ...], steps: list[str]) -> int:
    """Where the first of the stages runs; a stage this run did not have sits just before the kept rows."""
    return min((steps.index(s) for s in stages if s in steps), default=len(steps) - 1)


def _drops(name, stages, label, found, rows, at, first) -> Check:
    """A check of the stages' drops against a per-record label: True (should go), False (should stay), None (no say)."""
    c = Check(name, ", ".join(stages))
    for r in found:
        row, planted = rows[r["record_id"]], label(r)
        if planted:
            c.planted += 1
            c.reached += at[r["record_id"]] >= first
            c.removed += row.outcome != KEPT
        if row.outcome in stages:
            if planted is None:
                c.unscored += 1
            else:
                c.flagged += 1
                c.correct += planted
    return c.scored()


def _language_id(found, rows) -> list[Check]:
    """Per true language: precision and recall of the language the run gave the record (language id's, else the
    language gate's), over the records that got one."""
    pairs = [(r["lang"], rows[r["record_id"]].language) for r in found if r["lang"]]
    pairs = [(true, given) for true, given in pairs if given]
    checks = []
    for lang in sorted({true for true, _ in pairs}, key=lambda g: (-sum(t == g for t, _ in pairs), g)):
        c = Check(f"language id: {lang}", ", ".join(LANGUAGE_STAGES), removed=None, unscored=None)
        c.planted = c.reached = sum(true == lang for true, _ in pairs)
        c.flagged = sum(given == lang for _, given in pairs)
        c.correct = sum(true == given == lang for true, given in pairs)
        checks.append(c.scored())
    return checks


def _duplicates(found, rows, at, first, threshold: float) -> list[Check]:
    """Exact and near duplicates, counted per truth cluster (see the module docstring)."""
    checks = []
    for name, reason, kind, field in (
        ("exact duplicates", EXACT_DUPLICATE, "exact_duplicate", "dup_source"),
        ("near duplicates", NEAR_DUPLICATE, "near_duplicate", "near_dup_source"),
    ):
        copies = [r for r in found if r["kind"] == kind]
        grey = {r["record_id"] for r in copies if kind == "near_duplicate" and r["near_dup_jaccard"] < threshold}
        links = [(r["record_id"], r[field]) for r in copies if r["record_id"] not in grey]
        c = Check(name, f"{Dedup.name} ({reason})", planted=len(links))
        c.removed = sum(rows[copy].outcome != KEPT for copy, _ in links)
        for members in _clusters([r["record_id"] for r in found], links):
            should_go = max(sum(at[m] >= first for m in members) - 1, 0)
            gone = [m for m in members if rows[m].outcome == Dedup.name and rows[m].reason == reason]
            right = min(len(gone), should_go)
            not_scored = min(len(gone) - right, sum(m in grey for m in gone))
            c.reached += should_go
            c.correct += right
            c.flagged += len(gone) - not_scored
            c.unscored += not_scored
        checks.append(c.scored())
    return checks


def _clusters(ids: list[str], links: list[tuple[str, str]]) -> list[list[str]]:
    """The records joined by links into connected components (union-find); a link to a record not in ids is ignored."""
    parent = {i: i for i in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]
        return x

    for a, b in links:
        if b in parent:
            parent[root(a)] = root(b)
    clusters: dict[str, list[str]] = {}
    for i in ids:
        clusters.setdefault(root(i), []).append(i)
    return list(clusters.values())


def _left_in(value: str, text: str) -> bool:
    """Whether a planted value is still in the text, as written or (numbers) as the same digits."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return value in text or ("@" not in value and digits in "".join(ch for ch in text if ch.isdigit()))


def _pii(found, rows) -> list[Check]:
    """Per entity type: "flagged" counts the spans the scrubber replaced as the type in every row (text, details, URL),
    "correct" the planted values gone from the rows' stored text (recall; the rest are leaks); precision is the share
    of the spans that planted values gone account for, so a value taken for another type, or a span of a type the
    corpus has none planted of, lowers precision."""

    def check(entity: str) -> Check:
        return checks.setdefault(entity, Check(f"PII: {entity}", "pii", unscored=None, removed=None))

    checks: dict[str, Check] = {}
    for r in found:
        row = rows[r["record_id"]]
        for entity, n in row.pii.items():
            check(entity).flagged += n
        for p in r["pii"] if row.text is not None else []:
            c = check(PII_ENTITIES.get(p["type"], p["type"].upper()))  # a type not mapped yet: a row of its own
            c.planted += 1
            c.reached += 1
            c.correct += not _left_in(p["value"], row.text)
    for c in checks.values():
        c.scored()
        c.precision = round(min(c.correct, c.flagged) / c.flagged, 4) if c.flagged else None
    return [checks[e] for e in sorted(checks)]


def _article_text(found, rows) -> Check:
    """Kept articles' text against their true body without the site boilerplate pasted in: mean shingle precision
    (no menus, boilerplate or foreign text left) and recall (no article text lost)."""
    scores = []
    for r in found:
        row = rows[r["record_id"]]
        if row.outcome == KEPT and r["body_text"]:
            boilerplate = set(r["boilerplate"])
            body = "\n".join(line for line in r["body_text"].splitlines() if line not in boilerplate)
            scores.append(shingle_f1(row.text or "", body)[:2])
    c = Check(
        "article text", "extract", len(scores), len(scores), flagged=None, correct=None, unscored=None, removed=None
    )
    if scores:
        c.precision = round(sum(p for p, _ in scores) / len(scores), 4)
        c.recall = round(sum(r for _, r in scores) / len(scores), 4)
    return c


def table_lines(result: dict[str, Any]) -> list[str]:
    """The checks as a markdown table with a line on what was matched."""
    records = result["records"]
    rows = [[_cell(c[h]) for h in HEADERS] for c in result["checks"]]
    return [
        f"{result['output']} against {result['truth']}: {records['in_run']} of {records['truth']} truth records "
        f"found in the run",
        "",
        *markdown_table(HEADERS, rows, bars=True),  # the stage names last, left-aligned
    ]


def _cell(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
