"""Corpus passes: decisions that need the whole run (per-language percentiles now; duplicates are the next),
applied to the per-file shards once every input file is committed.

A pass does not fit the per-document Filter interface: its threshold depends on every other document. It
works in two steps, each safe to repeat after a crash:

    1. its statistics over the whole run, written to <run>/passes/<name>.json before any shard changes;
    2. each file's shards rewritten from them: new columns set, rows it removes moved from kept to dropped
       (stage = the pass's name). The file's commit marker records the statistics' digest afterwards.

A file is rewritten from its kept rows plus the rows this pass moved out earlier, so a rewrite under new
statistics (a resumed run over more files) gives the same shards as a first one.
"""
from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.schemas.config import Config, OutputConfig
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import storage
from sieve.transforms.parquet import done_marker, shard_path

log = logging.getLogger("sieve")


class CorpusPass(Protocol):
    """A decision over the whole run: statistics from every file's rows, then a rewrite of each file's rows."""

    name: str  # also the stage of the rows it drops
    columns: list[str]  # the kept-table columns its statistics read

    def statistics(self, tables: list[pa.Table]) -> dict[str, Any]:
        """JSON-able statistics from every file's (projected) rows."""
        ...

    def apply(self, kept: pa.Table, stats: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
        """(rows kept, with the pass's columns set; rows dropped, as DROPPED rows with stage/reason/details)."""
        ...


class PerplexityBuckets:
    """CCNet's head/middle/tail buckets: per-language perplexity percentiles over the run; the tail optionally dropped."""

    name = "perplexity"
    columns = ["language", "perplexity"]

    def __init__(self, head_percentile: float, tail_percentile: float, drop_tail: bool) -> None:
        self.head, self.tail, self.drop_tail = head_percentile, tail_percentile, drop_tail

    def statistics(self, tables: list[pa.Table]) -> dict[str, Any]:
        cutoffs, missing = {}, {}
        table = pa.concat_tables(tables) if tables else None
        if table is not None:
            for lang in sorted(set(table["language"].to_pylist()) - {None}):
                values = table.filter(pc.equal(table["language"], lang))["perplexity"]
                scored = values.drop_null().to_numpy()
                if len(scored) < len(values):  # a language without a model: counted, never a crash
                    missing[lang] = len(values) - len(scored)
                if len(scored):
                    head, tail = np.percentile(scored, [self.head, self.tail])
                    cutoffs[lang] = {"head": float(head), "tail": float(tail), "documents": int(len(scored))}
        return {"head_percentile": self.head, "tail_percentile": self.tail, "drop_tail": self.drop_tail,
                "cutoffs": cutoffs, "without_perplexity": missing}

    def apply(self, kept: pa.Table, stats: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
        cutoffs = stats["cutoffs"]
        buckets = []
        for lang, pp in zip(kept["language"].to_pylist(), kept["perplexity"].to_pylist()):
            cut = cutoffs.get(lang)
            buckets.append(None if pp is None or cut is None else
                           "head" if pp <= cut["head"] else "middle" if pp <= cut["tail"] else "tail")
        kept = kept.set_column(kept.schema.get_field_index("pp_bucket"), "pp_bucket", pa.array(buckets, pa.string()))
        if not self.drop_tail:
            return kept, DROPPED.empty_table()
        tail = pa.array([b == "tail" for b in buckets], pa.bool_())
        moved = kept.filter(tail)
        details = [f"{pp:.1f} > {cutoffs[lang]['tail']:.1f}, the {lang} p{self.tail:g} of this run"
                   for lang, pp in zip(moved["language"].to_pylist(), moved["perplexity"].to_pylist())]
        return kept.filter(pc.invert(tail)), _as_dropped(moved, self.name, "tail", details)


def passes_for(cfg: Config) -> list[CorpusPass]:
    """The corpus passes a config asks for, in order. Add a new pass here and nowhere else."""
    passes: list[CorpusPass] = []
    pp = cfg.quality.perplexity
    if cfg.language_id.enabled and pp.enabled:
        passes.append(PerplexityBuckets(pp.head_percentile, pp.tail_percentile, pp.drop_tail))
    return passes


def _as_dropped(rows: pa.Table, stage: str, reason: str, details: list[str]) -> pa.Table:
    n = rows.num_rows
    extra = {"stage": pa.array([stage] * n, pa.string()), "reason": pa.array([reason] * n, pa.string()),
             "details": pa.array(details, pa.string())}
    return pa.table({f.name: extra[f.name] if f.name in extra else rows[f.name] for f in DROPPED}, schema=DROPPED)


def _digest(stats: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(stats, sort_keys=True).encode()).hexdigest()[:16]


def _read(run_dir: str, marker: dict[str, Any], kind: str, columns: list[str] | None = None) -> pa.Table | None:
    shard = marker["shards"].get(kind)
    if shard is None:
        return None
    return storage.read_parquet(storage.join(run_dir, shard["path"]), columns=columns)


def _rows_of(run_dir: str, marker: dict[str, Any], name: str, columns: list[str] | None = None) -> pa.Table:
    """A file's rows as this pass first saw them, read from its shards (projected to columns when given)."""
    kept = _read(run_dir, marker, "kept", columns or KEPT.names)
    dropped = _read(run_dir, marker, "dropped", None if columns is None else sorted({*columns, "stage"}))
    return _restored(kept, dropped, name, columns or KEPT.names)


def _restored(kept: pa.Table | None, dropped: pa.Table | None, name: str, columns: list[str]) -> pa.Table:
    """Kept rows plus the rows the pass named `name` moved to dropped before, as kept rows."""
    tables = [] if kept is None else [kept]
    if dropped is not None:
        tables.append(dropped.filter(pc.equal(dropped["stage"], name)).select(columns))
    schema = pa.schema([KEPT.field(c) for c in columns])
    rows = pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
    return rows.sort_by("warc_offset") if "warc_offset" in columns else rows


def _rewrite(run_dir: str, name: str, marker: dict[str, Any], p: CorpusPass, stats: dict[str, Any], digest: str,
             out: OutputConfig) -> None:
    """Rewrite one file's shards under the pass's statistics, then its marker (dropped first, then kept)."""
    dropped = _read(run_dir, marker, "dropped")  # read once: the restored rows and the other drops both come from it
    kept, moved = p.apply(_restored(_read(run_dir, marker, "kept"), dropped, p.name, KEPT.names), stats)
    others = dropped.filter(pc.not_equal(dropped["stage"], p.name)) if dropped is not None else DROPPED.empty_table()
    tables = {"dropped": pa.concat_tables([others, moved]).sort_by("warc_offset"), "kept": kept}
    compression = None if out.compression == "none" else out.compression
    shards = dict(marker["shards"])
    for kind in ("dropped", "kept"):
        uri = shard_path(run_dir, kind, name)
        if tables[kind].num_rows:
            storage.write_parquet(uri, tables[kind].schema, [tables[kind]], compression, out.row_group_rows)
            shards[kind] = {"path": storage.relative(uri, run_dir), "rows": tables[kind].num_rows,
                            "bytes": storage.stat(uri).size}
        elif kind in shards:
            storage.delete(uri)
            del shards[kind]
    reasons = {k: v for k, v in marker["dropped"].items() if not k.startswith(p.name + "/")}
    for reason in moved["reason"].to_pylist():
        reasons[f"{p.name}/{reason}"] = reasons.get(f"{p.name}/{reason}", 0) + 1
    new = {**marker, "kept": kept.num_rows, "dropped": dict(sorted(reasons.items())), "shards": shards,
           "passes": {**marker.get("passes", {}), p.name: digest}}
    storage.write_text(done_marker(run_dir, name), json.dumps(new, indent=1, sort_keys=True))
    marker.clear()
    marker.update(new)


def run_passes(run_dir: str, markers: dict[str, dict[str, Any]], passes: list[CorpusPass], out: OutputConfig) -> dict[str, Any]:
    """Run each pass over every committed file (markers: name -> commit marker, updated in place); returns each
    pass's statistics, for the manifest."""
    results = {}
    names = sorted(markers)
    for p in passes:
        uri = storage.join(run_dir, "passes", f"{p.name}.json")
        files = hashlib.sha256("\n".join(f"{n} {markers[n]['sha256']}" for n in names).encode()).hexdigest()[:16]
        stored = json.loads(storage.read_text(uri)) if storage.exists(uri) else None
        if stored is None or stored["files"] != files:
            with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
                tables = list(pool.map(lambda n: _rows_of(run_dir, markers[n], p.name, p.columns), names))
            stored = {"files": files, **p.statistics(tables)}
            storage.write_text(uri, json.dumps(stored, indent=1, sort_keys=True))
        digest = _digest(stored)
        todo = [n for n in names if markers[n].get("passes", {}).get(p.name) != digest]
        log.info("corpus pass %s: rewriting %d of %d files", p.name, len(todo), len(names))
        with ThreadPoolExecutor(max_workers=min(8, storage.PARALLEL_REQUESTS)) as pool:
            list(pool.map(lambda n: _rewrite(run_dir, n, markers[n], p, stored, digest, out), todo))
        results[p.name] = {k: v for k, v in stored.items() if k != "files"}
    return results
