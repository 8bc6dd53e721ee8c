"""A run's figures read back from its committed shards, as one Beam job on the run's runner (CorpusJobs); a small
local run does the job's steps in the launcher without Beam (corpus.CorpusJobs.local).

Per file: its counts checked against its commit marker, drops by stage and reason, kept documents by language. Across
the run: the doc_ids that name more than one row, and the duplicate clusters dedup removed documents from. Row-level
work is spread over partitions of the doc_id and cluster id hashes (as dedup spreads its hashes), so no process holds
a share of the run's rows; the launching process reads back one small JSON. A problem (a file without its commit
marker, an unreadable shard, counts that disagree) is returned as data for the publisher to raise.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.filters.dedup import CLUSTER_REASONS
from sieve.schemas.errors import ConservationError
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import storage
from sieve.transforms.corpus import CorpusJobs, group_here, read_json, write_json
from sieve.transforms.storage import StorageError

PARTITION_ROWS = 1_000_000  # rows of the run per partition of the id and cluster checks (at least MIN_PARTITIONS)
MIN_PARTITIONS = 4  # each partition of a file is a Beam element: 16 cost a small run 0.1 s more (dedup's likewise)
_IDS = pa.schema([KEPT.field("doc_id"), KEPT.field("warc_offset")])
_DROPS = pa.schema([*_IDS, *(DROPPED.field(c) for c in ("stage", "reason", "dup_cluster_id", "dup_cluster_size"))])
_KEEPS = pa.schema([*_IDS, KEPT.field("language")])
Task = tuple[int, str, str, dict[str, Any] | None]


class Named(Protocol):
    """An input file as the summary needs it (flows/plan.py's InputFile)."""

    name: str


# (file index, run folder, file name, its commit marker)


def _shard(run_dir: str, marker: dict[str, Any], kind: str, schema: pa.Schema) -> pa.Table:
    """The columns of schema of one file's kept or dropped rows (none when it has no such shard)."""
    shard = marker["shards"].get(kind)
    if shard is None:
        return schema.empty_table()
    return storage.read_parquet(storage.join(run_dir, shard["path"]), columns=schema.names).cast(schema)


def _rows(task: Task) -> tuple[pa.Table, pa.Table] | str:
    """A file's kept and dropped rows (the columns the summary reads), or the problem that prevents reading them."""
    _, run_dir, name, marker = task
    if marker is None:
        return f"{name}: the job ended without committing this file (no commit marker)"
    tables = []
    for kind, schema in (("kept", _KEEPS), ("dropped", _DROPS)):
        try:
            tables.append(_shard(run_dir, marker, kind, schema))
        except StorageError as e:
            return f"{name}: its committed {kind} shard cannot be read ({e})"
    return tables[0], tables[1]


def _file_figures(task: Task) -> dict[str, Any]:
    """One file's row of the manifest, its drops by stage/reason and kept rows by language, checked against its
    marker; or its problem."""
    index, _, name, marker = task
    rows = _rows(task)
    if isinstance(rows, str):
        return {"index": index, "problem": rows}
    kept, dropped = rows
    skipped = sum(marker["skipped"].values())
    if marker["read"] != kept.num_rows + dropped.num_rows + skipped or kept.num_rows != marker["kept"]:
        problem = (
            f"{name}: read {marker['read']} != kept {kept.num_rows} + dropped {dropped.num_rows} + skipped {skipped}"
        )
        return {"index": index, "problem": problem}
    reasons = Counter(f"{s}/{r}" for s, r in zip(dropped["stage"].to_pylist(), dropped["reason"].to_pylist()))
    return {
        "index": index,
        "row": {"warc_file": name, "read": marker["read"], "kept": kept.num_rows, "dropped": dropped.num_rows}
        | {"skipped": skipped},
        "reasons": dict(reasons),
        "languages": dict(Counter(kept["language"].drop_null().to_pylist())),
    }


def _parts(table: pa.Table, key: str, partitions: int) -> Iterator[tuple[int, pa.Table]]:
    """table split by a stable hash of its key column (the same in every worker process) into partitions."""
    keys = np.array([zlib.crc32(k.encode()) % partitions for k in table[key].to_pylist()], np.int64)
    for part in np.unique(keys):
        yield int(part), table.filter(pa.array(keys == part))


def _id_parts(task: Task, partitions: int) -> Iterator[tuple[int, pa.Table]]:
    """(partition, doc_id, file index and offset) of every kept and dropped row of a file."""
    rows = _rows(task)
    if isinstance(rows, str):
        return
    ids = pa.concat_tables([t.select(_IDS.names) for t in rows])
    yield from _parts(ids.append_column("file", pa.array([task[0]] * ids.num_rows, pa.int32())), "doc_id", partitions)


def _cluster_parts(task: Task, partitions: int) -> Iterator[tuple[int, pa.Table]]:
    """(partition, cluster id and size) of every row of a file that dedup removed for its cluster's keeper."""
    rows = _rows(task)
    if isinstance(rows, str):
        return
    dropped = rows[1]
    removed = pc.and_(pc.equal(dropped["stage"], "dedup"), pc.is_in(dropped["reason"], pa.array(CLUSTER_REASONS)))
    clusters = dropped.filter(removed).select(["dup_cluster_id", "dup_cluster_size"])
    if clusters.num_rows:
        yield from _parts(clusters, "dup_cluster_id", partitions)


def _shared_ids(item: tuple[int, list[pa.Table]]) -> dict[str, Any]:
    """Of one partition's rows, the doc_ids on more than one row: how many, and the smallest with its rows."""
    table = pa.concat_tables(item[1])
    counts = table.group_by("doc_id").aggregate([("doc_id", "count")])
    shared = counts.filter(pc.greater(counts["doc_id_count"], 1))["doc_id"]
    if not len(shared):
        return {"shared": 0}
    doc_id = pc.min(shared).as_py()
    rows = table.filter(pc.equal(table["doc_id"], doc_id)).sort_by(
        [("file", "ascending"), ("warc_offset", "ascending")]
    )
    return {
        "shared": len(shared),
        "doc_id": doc_id,
        "rows": list(zip(rows["file"].to_pylist(), rows["warc_offset"].to_pylist())),
    }


def _cluster_figures(item: tuple[int, list[pa.Table]]) -> dict[str, Any]:
    """Of one partition's removed rows: its clusters, their documents, the rows removed and clusters by size."""
    table = pa.concat_tables(item[1])
    sizes = dict(zip(table["dup_cluster_id"].to_pylist(), table["dup_cluster_size"].to_pylist()))
    histogram = Counter(str(size) for size in sizes.values())
    return {"count": len(sizes), "documents": sum(sizes.values()), "removed": table.num_rows, "sizes": dict(histogram)}


def _figures_here(tasks: list[Task], partitions: int) -> list[tuple[str, Any]]:
    """_write_figures' steps as plain loops, each partition's tables grouped by group_here."""
    values: list[tuple[str, Any]] = [("files", _file_figures(task)) for task in tasks]
    for name, parts, figures in (("ids", _id_parts, _shared_ids), ("clusters", _cluster_parts, _cluster_figures)):
        groups = group_here(kv for task in tasks for kv in parts(task, partitions))
        values += [(name, figures(item)) for item in sorted(groups.items())]
    return values


def _write_figures(p: beam.Pipeline, tasks: list[Task], partitions: int, out: str) -> None:
    files = p | "Files" >> beam.Create(tasks) | "Spread" >> beam.Reshuffle()
    streams = {"files": files | "FileFigures" >> beam.Map(_file_figures)}
    streams["ids"] = (
        files
        | "Ids" >> beam.FlatMap(_id_parts, partitions)
        | "GroupIds" >> beam.GroupByKey()
        | "SharedIds" >> beam.Map(_shared_ids)
    )
    streams["clusters"] = (
        files
        | "Clusters" >> beam.FlatMap(_cluster_parts, partitions)
        | "GroupClusters" >> beam.GroupByKey()
        | "ClusterFigures" >> beam.Map(_cluster_figures)
    )
    tagged = [pcoll | f"Tag{name}" >> beam.Map(lambda v, n: (n, v), name) for name, pcoll in streams.items()]
    (
        tagged
        | "Together" >> beam.Flatten()
        | "All" >> beam.combiners.ToList()  # one combine for the three: each costs a job a third of a second to build
        | "Write" >> beam.Map(lambda values, uri: write_json(uri, values), out)
    )


def read_back(
    run_dir: str, names: list[str], markers: dict[str, dict[str, Any]], jobs: CorpusJobs | None = None
) -> dict[str, Any]:
    """The run's figures from its committed shards (names in run order): "files" (per file, in order: its row,
    reasons and languages, or its problem), "shared_ids" (how many doc_ids name several rows, and an example as
    (file index, offset) rows), "clusters" (count, documents, removed, size histogram)."""
    out = storage.join(run_dir, "passes", "summary.json")
    tasks = [(i, run_dir, name, markers.get(name)) for i, name in enumerate(names)]
    rows = sum(m["read"] for m in markers.values())
    partitions = max(MIN_PARTITIONS, -(-rows // PARTITION_ROWS))
    jobs = replace(jobs or CorpusJobs(), documents=rows)
    if jobs.local():  # a small local run: the job's steps here, Beam's fixed cost being most of the job
        values = json.loads(json.dumps(_figures_here(tasks, partitions)))  # as the job's JSON hands them over
    else:
        jobs.run(lambda p: _write_figures(p, tasks, partitions, out))
        values = read_json(out, [])
    found: dict[str, list] = {"files": [], "ids": [], "clusters": []}
    for name, value in values:
        found[name].append(value)
    files = sorted(found["files"], key=lambda f: f["index"])
    ids, parts = [v for v in found["ids"] if v["shared"]], found["clusters"]
    example = min(ids, key=lambda v: v["doc_id"]) if ids else None
    histogram: Counter = sum((Counter(v["sizes"]) for v in parts), Counter())
    return {
        "files": files,
        "shared_ids": {"count": sum(v["shared"] for v in ids), "example": example},
        "clusters": {
            "count": sum(v["count"] for v in parts),
            "documents": sum(v["documents"] for v in parts),
            "removed": sum(v["removed"] for v in parts),
            "size_histogram": {k: histogram[k] for k in sorted(histogram, key=int)},
        },
    }


def summarize(
    run_dir: str, files: list[Named], markers: dict[str, dict[str, Any]], jobs: CorpusJobs | None = None
) -> dict[str, Any]:
    """Counts by file, stage and reason, kept documents by language and the duplicate clusters, read back from the
    written shards by a Beam job on jobs' runner (transforms/summary.py); raises if any record is unaccounted for or
    two rows share a doc_id: dedup, the trainer's side tables, the train/validation split and `sieve explain` all
    take one id for one document."""
    figures = read_back(run_dir, [f.name for f in files], markers, jobs)
    problems = [f["problem"] for f in figures["files"] if "problem" in f]
    if problems:
        raise ConservationError("; ".join(problems))
    shared = figures["shared_ids"]
    if shared["count"]:
        example = shared["example"]
        where = " and ".join(f"{files[k].name} at offset {offset}" for k, offset in example["rows"])
        raise ConservationError(
            f"{shared['count']} doc_ids name more than one row of the run, e.g. {example['doc_id']}: {where}. "
            "Files committed by an older sieve (ids from the WARC-Record-ID alone) were resumed: "
            "run again with --force"
        )
    run = storage.relative(run_dir, run_dir.rsplit("/", 2)[0])  # runs/<name>, as the manifest lists paths
    by_reason, by_language, skipped_types = Counter(), Counter(), Counter()
    shards: dict[str, list[dict[str, Any]]] = {"kept": [], "dropped": []}
    for f, figure in zip(files, figures["files"]):
        by_reason.update(figure["reasons"])
        by_language.update(figure["languages"])
        skipped_types.update(markers[f.name]["skipped"])
        for kind, shard in sorted(markers[f.name]["shards"].items()):
            shards[kind].append({**shard, "path": storage.join(run, shard["path"])})
    rows = [figure["row"] for figure in figures["files"]]
    return {
        "counts": {k: sum(r[k] for r in rows) for k in ("read", "kept", "dropped", "skipped")},
        "dropped_by_reason": dict(sorted(by_reason.items())),
        "kept_by_language": dict(sorted(by_language.items())),  # rows with a language (none when language id is off)
        "skipped_by_type": dict(sorted(skipped_types.items())),
        "dedup_clusters": figures["clusters"],
        "files": rows,
        "shards": shards,
        "run_dir": run,
    }
