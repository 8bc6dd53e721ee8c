"""What report.html shows, read back from a published run's shards with bounded work however many files it has:

- counts: a few small columns of every shard (language, stage, reason, PII counts, dedup edits), summed in Arrow;
- signals: the score columns of whole shards taken in a seeded order until they hold report.signal_rows rows, for the
  histograms and the kept documents nearest each threshold;
- sampled documents: a seeded sample of each drop reason's rows, found by their position among that reason's rows,
  and the kept documents picked from the signals; only the row groups that hold them are read.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sieve.flows.funnel import funnel
from sieve.flows.tools.calibrate import Rule, rules
from sieve.schemas.config import Config
from sieve.schemas.tables import SIGNALS
from sieve.transforms import storage

# Scores stored as columns rather than in the signal struct: (stage, column).
SCORE_COLUMNS = [("language_id", "language_score"), ("perplexity", "perplexity"), ("classifier", "quality_score")]
NO_LANGUAGE = "(none)"  # rows dropped before language id
OTHER = "(other)"  # rows in a language the report does not show on its own


@dataclass(frozen=True)
class Shard:
    uri: str
    kind: str  # kept or dropped
    rows: int


@dataclass(frozen=True)
class Measure:
    """One numeric stored signal and its column in a flattened table."""

    stage: str
    name: str
    column: str


@dataclass
class Counts:
    """Every row of the run, counted."""

    kept: Counter = field(default_factory=Counter)  # language -> rows
    dropped: Counter = field(default_factory=Counter)  # (language, stage, reason) -> rows; language None before id
    pii: Counter = field(default_factory=Counter)  # (language, entity type) -> spans replaced, kept and dropped rows
    dedup_edits: Counter = field(default_factory=Counter)  # dedup signal -> its sum over the kept rows
    reasons: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # "stage/reason" -> (shard, rows) in order

    def by_reason(self, groups: list[str]) -> dict[str, Counter]:
        """ "stage/reason" -> its dropped rows, over the run ("all") and per language group (group_of)."""
        out: dict[str, Counter] = {}
        for (lang, stage, reason), n in self.dropped.items():
            out.setdefault(f"{stage}/{reason}", Counter()).update({"all": n, group_of(lang, groups): n})
        return out

    def add(self, other: Counts) -> None:
        for name in ("kept", "dropped", "pii", "dedup_edits"):
            getattr(self, name).update(getattr(other, name))
        for reason, where in other.reasons.items():
            self.reasons.setdefault(reason, []).extend(where)


@dataclass(frozen=True)
class FunnelRow:
    step: str
    received: int  # records that reached the step, over the run
    dropped: dict[str, int]  # "all" or a language group -> records the step dropped
    left: dict[str, int]  # "all" or a language shown -> records after it


@dataclass
class ReportData:
    counts: Counts
    funnel: list[FunnelRow]
    groups: list[str]  # the languages shown on their own
    sample: pa.Table  # kind, shard, doc_id, language, stage and every measure of the sampled shards
    sampled_shards: int
    drops: dict[str, list[dict[str, Any]]]  # "stage/reason" -> its sampled dropped rows
    near: list[tuple[str, Rule, list[dict[str, Any]]]]  # (language, rule, kept rows nearest its threshold)


def group_of(lang: str | None, groups: list[str]) -> str:
    """The group a row's language falls in: a language shown on its own, OTHER, or NO_LANGUAGE."""
    return NO_LANGUAGE if lang is None else lang if lang in groups else OTHER


def measures() -> list[Measure]:
    """Every numeric stored signal: the signal struct's numbers and the score columns, in SIGNALS order."""
    found = [
        Measure(stage, f.name, f"signals.{stage}.{f.name}")
        for stage, fields in SIGNALS.items()
        for f in fields
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    ]
    return [Measure(stage, column, column) for stage, column in SCORE_COLUMNS] + found


def thresholds(cfg: Config, lang: str | None) -> list[Rule]:
    """The thresholds on stored signals that apply to a language (None: to rows without one): the language gate's,
    and a language's own on the score columns and the signal struct (calibrate's rules)."""
    gate = [
        Rule(
            "language_gate",
            "min_kept_language_score",
            None,
            "kept_score",
            "min",
            cfg.language_gate.min_kept_language_score,
        )
    ]
    if lang is None:
        return gate
    settings = cfg.language(lang)
    columns = [
        Rule("language_id", "min_language_score", None, "language_score", "min", settings.min_language_score),
        Rule("perplexity", "max_perplexity", None, "perplexity", "max", settings.perplexity.max_perplexity),
        Rule("classifier", "min_score", None, "quality_score", "min", settings.classifier.min_score),
    ]
    return gate + [r for r in columns if r.current is not None] + rules(cfg, lang)


def run_shards(output: str, manifest: dict[str, Any]) -> list[Shard]:
    return [
        Shard(storage.join(output, s["path"]), kind, s["rows"])
        for kind in ("kept", "dropped")
        for s in manifest["shards"][kind]
    ]


def _grouped(table: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    return table.group_by(keys).aggregate([([], "count_all")]).to_pylist()


def _pii(table: pa.Table) -> Counter:
    """(language, entity type) -> spans, from the pii_counts map of each row."""
    maps = table["pii_counts"].combine_chunks()
    entries = pa.ListArray.from_arrays(maps.offsets, maps.values)  # a map is a list of key/value structs
    flat = pa.table(
        {
            "language": pc.take(table["language"], pc.list_parent_indices(entries)),
            "type": maps.keys,
            "n": maps.items,
        }
    )
    return Counter(
        {
            (r["language"], r["type"]): r["n_sum"]
            for r in flat.group_by(["language", "type"]).aggregate([("n", "sum")]).to_pylist()
        }
    )


def _shard_counts(index: int, shard: Shard) -> Counts:
    counts = Counts()
    if shard.kind == "kept":
        table = storage.read_parquet(shard.uri, columns=["language", "pii_counts", "signals.dedup"])
        counts.kept.update({r["language"]: r["count_all"] for r in _grouped(table, ["language"])})
        for f in SIGNALS["dedup"]:
            counts.dedup_edits[f.name] = pc.sum(pc.struct_field(table["dedup"], f.name)).as_py() or 0
    else:
        table = storage.read_parquet(shard.uri, columns=["language", "stage", "reason", "pii_counts"])
        for r in _grouped(table, ["language", "stage", "reason"]):
            counts.dropped[(r["language"], r["stage"], r["reason"])] += r["count_all"]
        counts.reasons = {
            f"{r['stage']}/{r['reason']}": [(index, r["count_all"])] for r in _grouped(table, ["stage", "reason"])
        }
    counts.pii = _pii(table)
    return counts


def count_rows(shards: list[Shard]) -> Counts:
    """The counts of every shard (small columns only), merged in shard order."""
    total = Counts()
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        for counts in pool.map(_shard_counts, range(len(shards)), shards):
            total.add(counts)
    return total


def language_funnel(steps: list[dict[str, Any]], counts: Counts, groups: list[str]) -> list[FunnelRow]:
    """The run's funnel (flows/funnel.py) with each step's drops split by language: the languages shown (whose rows
    enter at language id), the other languages, and the rows dropped before language id."""
    by_step: dict[str, Counter] = {}
    for (lang, stage, _), n in counts.dropped.items():
        by_step.setdefault(stage, Counter())[group_of(lang, groups)] += n
    left = {lang: counts.kept[lang] + sum(n for (g, _, _), n in counts.dropped.items() if g == lang) for lang in groups}
    rows = []
    for step in steps:
        dropped = {"all": step["dropped"], **by_step.get(step["step"], {})}
        left = {g: n - dropped.get(g, 0) for g, n in left.items()}
        rows.append(FunnelRow(step["step"], step["in"], dropped, {"all": step["out"], **left}))
    return rows


def sample_schema() -> pa.Schema:
    """The signal sample's columns: where each row is, and every measure as float64."""
    where = [("kind", pa.string()), ("shard", pa.int32()), ("doc_id", pa.string()), ("language", pa.string())]
    return pa.schema(where + [("stage", pa.string())] + [(m.column, pa.float64()) for m in measures()])


def _signals(index: int, shard: Shard, schema: pa.Schema) -> pa.Table:
    """One shard's rows in the signal sample's columns."""
    names = ["doc_id", "language", "signals", *(c for _, c in SCORE_COLUMNS)]
    table = storage.read_parquet(shard.uri, columns=names + (["stage"] if shard.kind == "dropped" else []))
    flat = table.flatten().flatten()
    n = table.num_rows
    flat = flat.append_column("kind", pa.array([shard.kind] * n, pa.string()))
    flat = flat.append_column("shard", pa.array([index] * n, pa.int32()))
    if shard.kind == "kept":
        flat = flat.append_column("stage", pa.nulls(n, pa.string()))
    return flat.select(schema.names).cast(schema)


def signal_sample(shards: list[Shard], rows: int, seed: int) -> tuple[pa.Table, int]:
    """(the measures of whole shards taken in a seeded order until they hold `rows` rows, how many shards)."""
    order = list(range(len(shards)))
    random.Random(seed).shuffle(order)
    picked, total = [], 0
    for i in order:
        if total >= rows:
            break
        picked.append(i)
        total += shards[i].rows
    schema = sample_schema()
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        tables = list(pool.map(lambda i: _signals(i, shards[i], schema), sorted(picked)))
    return pa.concat_tables([schema.empty_table(), *tables]), len(picked)


def drop_positions(counts: Counts, k: int, seed: int) -> dict[int, dict[str, set[int]]]:
    """A seeded sample of k rows of each drop reason, as shard -> reason -> positions among its rows of that reason."""
    picked: dict[int, dict[str, set[int]]] = {}
    for reason, where in sorted(counts.reasons.items()):
        total = sum(n for _, n in where)
        picks = sorted(random.Random(f"{seed}/{reason}").sample(range(total), min(k, total)))
        start = 0
        for shard, n in where:
            local = {p - start for p in picks if start <= p < start + n}
            if local:
                picked.setdefault(shard, {})[reason] = local
            start += n
    return picked


def nearest_kept(
    sample: pa.Table, cfg: Config, langs: list[str], k: int
) -> list[tuple[str, Rule, list[dict[str, Any]]]]:
    """Per language and threshold, the k sampled kept rows whose value is nearest it (ties by doc_id)."""
    kept = sample.filter(pc.equal(sample["kind"], "kept"))
    columns = {(m.stage, m.name): m.column for m in measures()}
    out = []
    for lang in langs:
        rows = kept.filter(pc.fill_null(pc.equal(kept["language"], lang), False))
        for rule in thresholds(cfg, lang):
            column = columns[(rule.stage, rule.signal)]
            values = [
                (abs(v - rule.current), d, s, v)
                for d, s, v in zip(rows["doc_id"].to_pylist(), rows["shard"].to_pylist(), rows[column].to_pylist())
                if v is not None
            ]
            nearest = sorted(values)[:k]
            if nearest:
                out.append((lang, rule, [{"doc_id": d, "shard": s, "value": v} for _, d, s, v in nearest]))
    return out


def excerpt(text: str | None, lines: int, chars: int) -> str | None:
    """The first non-empty lines of a text, at most chars characters."""
    if text is None:
        return None
    head = "\n".join([line for line in text.splitlines() if line.strip()][:lines])
    return head if len(head) <= chars else head[: chars - 1] + "…"


def _picked_rows(shard: Shard, reasons: dict[str, set[int]], doc_ids: set[str], cfg: Config) -> list[dict[str, Any]]:
    """The rows of one shard at the given positions of their drop reason or with the given doc_ids, read from the
    row groups that hold them only; their text cut to its first lines."""
    columns = ["doc_id", "url", "language", "text"] + (
        ["stage", "reason", "details"] if shard.kind == "dropped" else []
    )
    rows, seen = [], Counter()
    try:
        with storage.open_input(shard.uri) as f:  # remote reads retried whole, as every read of a shard is
            parquet = pq.ParquetFile(f)
            for group in range(parquet.num_row_groups):
                if shard.kind == "dropped":
                    keys = parquet.read_row_group(group, columns=["stage", "reason"])
                    take = []
                    for i, (stage, reason) in enumerate(zip(keys["stage"].to_pylist(), keys["reason"].to_pylist())):
                        key = f"{stage}/{reason}"
                        if seen[key] in reasons.get(key, ()):
                            take.append(i)
                        seen[key] += 1
                else:
                    ids = parquet.read_row_group(group, columns=["doc_id"])["doc_id"].to_pylist()
                    take = [i for i, doc_id in enumerate(ids) if doc_id in doc_ids]
                if take:
                    rows += parquet.read_row_group(group, columns=columns).take(take).to_pylist()
    except (OSError, pa.ArrowException) as e:
        raise storage.storage_error(shard.uri, "read", e) from None
    for row in rows:
        row["text"] = excerpt(row["text"], cfg.report.text_lines, cfg.report.text_chars)
    return rows


def gather(output: str, manifest: dict[str, Any], cfg: Config) -> ReportData:
    """Everything report.html shows that the manifest does not hold, read from the run's shards."""
    shards = run_shards(output, manifest)
    counts = count_rows(shards)
    # the kept languages (those the config keeps, or every one kept) that have rows
    seen = set(counts.kept) | {lang for lang, _, _ in counts.dropped}
    groups = sorted(lang for lang in (cfg.language_id.keep or counts.kept) if lang is not None and lang in seen)
    sample, sampled = signal_sample(shards, cfg.report.signal_rows, cfg.report.seed)
    near = nearest_kept(sample, cfg, groups, cfg.report.samples)
    drops = drop_positions(counts, cfg.report.samples, cfg.report.seed)
    kept_ids: dict[int, set[str]] = {}
    for _, _, rows in near:
        for row in rows:
            kept_ids.setdefault(row["shard"], set()).add(row["doc_id"])
    wanted = sorted(set(drops) | set(kept_ids))
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        found = pool.map(lambda i: _picked_rows(shards[i], drops.get(i, {}), kept_ids.get(i, set()), cfg), wanted)
        picked = [row for rows in found for row in rows]
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for row in picked:
        if "reason" in row:
            by_reason.setdefault(f"{row['stage']}/{row['reason']}", []).append(row)
    by_id = {row["doc_id"]: row for row in picked if "reason" not in row}
    near = [(lang, rule, [{**by_id[r["doc_id"]], "value": r["value"]} for r in rows]) for lang, rule, rows in near]
    return ReportData(
        counts,
        language_funnel(funnel(manifest, cfg), counts, groups),
        groups,
        sample,
        sampled,
        dict(sorted(by_reason.items())),
        near,
    )
