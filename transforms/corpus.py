"""Corpus passes: decisions that need the whole run (per-language perplexity percentiles, duplicates), applied to
the per-file shards once every input file is committed.

A pass does not fit the per-document Filter interface: its threshold depends on every other document. It
works in two steps, each safe to repeat after a crash:

    1. its statistics over the whole run, written to <run>/passes/<name>.json before any shard changes;
    2. each file's shards rewritten from them: new columns set, rows it removes moved from kept to dropped
       (stage = the pass's name). The file's commit marker records the statistics' digest afterwards.

A file is rewritten from its kept rows plus the rows this pass moved out earlier, so a rewrite under new
statistics (a resumed run over more files) gives the same shards as a first one. A pass that edits text (dedup
removes lines and sentences) keeps the original text of each row it edited in <run>/unedited/, so it can start
again from it; that folder is part of the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.schemas.config import OutputConfig
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import storage
from sieve.transforms.parquet import done_marker, shard_path

log = logging.getLogger("sieve")


@dataclass(frozen=True)
class RunFiles:
    """The committed files of a run as one pass sees them: each file's rows as they were before this pass."""

    run_dir: str
    markers: dict[str, dict[str, Any]]  # name -> commit marker
    pass_name: str

    @property
    def names(self) -> list[str]:
        return sorted(self.markers)

    @property
    def workdir(self) -> str:
        """The pass's working folder (removed at commit, like every working file)."""
        return storage.join(self.run_dir, "passes", self.pass_name)

    def rows(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One file's rows before this pass (projected to columns when given), in WARC order."""
        return rows_before(self.run_dir, self.markers[name], self.pass_name, columns)

    def all_rows(self, columns: list[str]) -> list[pa.Table]:
        with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
            return list(pool.map(lambda n: self.rows(n, columns), self.names))


class CorpusPass(Protocol):
    """A decision over the whole run: statistics from every file's rows, then a rewrite of each file's rows."""

    name: str  # also the stage of the rows it drops
    edits_text: bool  # whether apply rewrites the text of kept rows

    def statistics(self, files: RunFiles) -> dict[str, Any]:
        """JSON-able statistics from every file's rows (a pass may also leave files in files.workdir for apply)."""
        ...

    def apply(self, name: str, kept: pa.Table, stats: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
        """One file's (rows kept, with the pass's columns set; rows dropped, as DROPPED rows)."""
        ...


class PerplexityBuckets:
    """CCNet's head/middle/tail buckets: per-language perplexity percentiles over the run; the tail optionally dropped."""

    name = "perplexity"
    edits_text = False

    def __init__(self, head_percentile: float, tail_percentile: float, drop_tail: bool) -> None:
        self.head, self.tail, self.drop_tail = head_percentile, tail_percentile, drop_tail

    def statistics(self, files: RunFiles) -> dict[str, Any]:
        cutoffs, missing = {}, {}
        tables = files.all_rows(["language", "perplexity"])
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
        return {
            "head_percentile": self.head,
            "tail_percentile": self.tail,
            "drop_tail": self.drop_tail,
            "cutoffs": cutoffs,
            "without_perplexity": missing,
        }

    def apply(self, name: str, kept: pa.Table, stats: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
        cutoffs = stats["cutoffs"]
        buckets = []
        for lang, pp in zip(kept["language"].to_pylist(), kept["perplexity"].to_pylist()):
            cut = cutoffs.get(lang)
            buckets.append(
                None
                if pp is None or cut is None
                else "head"
                if pp <= cut["head"]
                else "middle"
                if pp <= cut["tail"]
                else "tail"
            )
        kept = kept.set_column(kept.schema.get_field_index("pp_bucket"), "pp_bucket", pa.array(buckets, pa.string()))
        if not self.drop_tail:
            return kept, DROPPED.empty_table()
        tail = pa.array([b == "tail" for b in buckets], pa.bool_())
        moved = kept.filter(tail)
        details = [
            f"{pp:.1f} > {cutoffs[lang]['tail']:.1f}, the {lang} p{self.tail:g} of this run"
            for lang, pp in zip(moved["language"].to_pylist(), moved["perplexity"].to_pylist())
        ]
        return kept.filter(pc.invert(tail)), as_dropped(moved, self.name, ["tail"] * moved.num_rows, details)


def as_dropped(rows: pa.Table, stage: str, reasons: list[str], details: list[str]) -> pa.Table:
    """Kept rows as DROPPED rows of a pass's stage, with a reason and details each."""
    extra = {
        "stage": pa.array([stage] * rows.num_rows, pa.string()),
        "reason": pa.array(reasons, pa.string()),
        "details": pa.array(details, pa.string()),
    }
    return pa.table({f.name: extra[f.name] if f.name in extra else rows[f.name] for f in DROPPED}, schema=DROPPED)


def _digest(stats: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(stats, sort_keys=True).encode()).hexdigest()[:16]


def _read(run_dir: str, marker: dict[str, Any], kind: str, columns: list[str] | None = None) -> pa.Table | None:
    shard = marker.get("unedited") if kind == "unedited" else marker["shards"].get(kind)
    if shard is None:
        return None
    return storage.read_parquet(storage.join(run_dir, shard["path"]), columns=columns)


def rows_before(run_dir: str, marker: dict[str, Any], name: str, columns: list[str] | None = None) -> pa.Table:
    """A file's rows as the pass named `name` first saw them, read from its shards (projected to columns when
    given): kept rows plus the rows it moved out, with the text it edited restored, in WARC order."""
    columns = columns or KEPT.names
    read = sorted({*columns, "doc_id", "warc_offset"})
    kept = _read(run_dir, marker, "kept", read)
    dropped = _read(run_dir, marker, "dropped", sorted({*read, "stage"}))
    return _unedited(run_dir, marker, _restored(kept, dropped, name, read)).select(columns)


def _restored(kept: pa.Table | None, dropped: pa.Table | None, name: str, columns: list[str]) -> pa.Table:
    """Kept rows plus the rows the pass named `name` moved to dropped before, as kept rows."""
    tables = [] if kept is None else [kept]
    if dropped is not None:
        tables.append(dropped.filter(pc.equal(dropped["stage"], name)).select(columns))
    schema = pa.schema([KEPT.field(c) for c in columns])
    rows = pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
    return rows.sort_by("warc_offset") if "warc_offset" in columns else rows


def _unedited(run_dir: str, marker: dict[str, Any], rows: pa.Table) -> pa.Table:
    """rows with the original text of every row a pass edited (text-less projections pass through)."""
    original = _read(run_dir, marker, "unedited")
    if original is None or "text" not in rows.column_names:
        return rows
    texts = dict(zip(original["doc_id"].to_pylist(), original["text"].to_pylist()))
    merged = [texts.get(d, t) for d, t in zip(rows["doc_id"].to_pylist(), rows["text"].to_pylist())]
    return rows.set_column(rows.schema.get_field_index("text"), "text", pa.array(merged, pa.string()))


UNEDITED = pa.schema([pa.field("doc_id", pa.string(), nullable=False), pa.field("text", pa.string(), nullable=False)])


def _keep_originals(before: pa.Table, after: pa.Table, old: pa.Table | None) -> pa.Table:
    """(doc_id, text) of the rows whose text a pass changed, as first written; earlier originals win."""
    originals = {} if old is None else dict(zip(old["doc_id"].to_pylist(), old["text"].to_pylist()))
    new = dict(zip(after["doc_id"].to_pylist(), after["text"].to_pylist()))
    for doc_id, text in zip(before["doc_id"].to_pylist(), before["text"].to_pylist()):
        if doc_id in new and new[doc_id] != text:
            originals.setdefault(doc_id, text)
    ids = sorted(originals)
    return pa.table({"doc_id": ids, "text": [originals[i] for i in ids]}, schema=UNEDITED)


def _rewrite(
    run_dir: str,
    name: str,
    marker: dict[str, Any],
    p: CorpusPass,
    stats: dict[str, Any],
    digest: str,
    out: OutputConfig,
) -> None:
    """Rewrite one file's shards under the pass's statistics, then its marker (dropped first, then kept)."""
    dropped = _read(run_dir, marker, "dropped")  # read once: the restored rows and the other drops both come from it
    before = _unedited(run_dir, marker, _restored(_read(run_dir, marker, "kept"), dropped, p.name, KEPT.names))
    kept, moved = p.apply(name, before, stats)
    others = dropped.filter(pc.not_equal(dropped["stage"], p.name)) if dropped is not None else DROPPED.empty_table()
    tables = {"dropped": pa.concat_tables([others, moved]).sort_by("warc_offset"), "kept": kept}
    compression = None if out.compression == "none" else out.compression
    unedited = marker.get("unedited")
    originals = _keep_originals(before, kept, _read(run_dir, marker, "unedited")) if p.edits_text else None
    if originals is not None and originals.num_rows:  # written before the shards it lets a rerun undo
        uri = shard_path(run_dir, "unedited", name)
        storage.write_parquet(uri, UNEDITED, [originals], compression, out.row_group_rows)
        unedited = {"path": storage.relative(uri, run_dir), "rows": originals.num_rows, "bytes": storage.stat(uri).size}
    shards = dict(marker["shards"])
    for kind in ("dropped", "kept"):
        uri = shard_path(run_dir, kind, name)
        if tables[kind].num_rows:
            schema = KEPT if kind == "kept" else DROPPED  # the tables' own schemas, whatever a pass built
            storage.write_parquet(
                uri, schema, [tables[kind].select(schema.names).cast(schema)], compression, out.row_group_rows
            )
            shards[kind] = {
                "path": storage.relative(uri, run_dir),
                "rows": tables[kind].num_rows,
                "bytes": storage.stat(uri).size,
            }
        elif kind in shards:
            storage.delete(uri)
            del shards[kind]
    reasons = {k: v for k, v in marker["dropped"].items() if not k.startswith(p.name + "/")}
    for reason in moved["reason"].to_pylist():
        reasons[f"{p.name}/{reason}"] = reasons.get(f"{p.name}/{reason}", 0) + 1
    new = {
        **marker,
        "kept": kept.num_rows,
        "dropped": dict(sorted(reasons.items())),
        "shards": shards,
        "passes": {**marker.get("passes", {}), p.name: digest},
    } | ({"unedited": unedited} if unedited else {})
    storage.write_text(done_marker(run_dir, name), json.dumps(new, indent=1, sort_keys=True))
    marker.clear()
    marker.update(new)


def run_passes(
    run_dir: str, markers: dict[str, dict[str, Any]], passes: list[CorpusPass], out: OutputConfig
) -> dict[str, Any]:
    """Run each pass over every committed file (markers: name -> commit marker, updated in place); returns each
    pass's statistics, for the manifest."""
    results = {}
    names = sorted(markers)
    for p in passes:
        uri = storage.join(run_dir, "passes", f"{p.name}.json")
        files = hashlib.sha256("\n".join(f"{n} {markers[n]['sha256']}" for n in names).encode()).hexdigest()[:16]
        stored = json.loads(storage.read_text(uri)) if storage.exists(uri) else None
        if stored is None or stored["files"] != files:
            stored = {"files": files, **p.statistics(RunFiles(run_dir, markers, p.name))}
            storage.write_text(uri, json.dumps(stored, indent=1, sort_keys=True))
        digest = _digest(stored)
        todo = [n for n in names if markers[n].get("passes", {}).get(p.name) != digest]
        log.info("corpus pass %s: rewriting %d of %d files", p.name, len(todo), len(names))
        with ThreadPoolExecutor(max_workers=min(8, storage.PARALLEL_REQUESTS)) as pool:
            list(pool.map(lambda n: _rewrite(run_dir, n, markers[n], p, stored, digest, out), todo))  # noqa: B023 (all run here)
        results[p.name] = {k: v for k, v in stored.items() if k != "files"}
    return results
