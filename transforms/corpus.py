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
again from it; that folder is part of the run. Likewise a pass starts from the rows a later pass moved out.

Both steps are Beam jobs on the run's runner (CorpusJobs), one element per file: the launching process plans
them, waits, and reads back the commit markers the workers wrote. A small run on Beam's local DirectRunner
(CorpusJobs.local) runs its jobs' own functions without Beam, since Beam's fixed cost per job was most of their
time: the per-file steps (dedup's documents, the rewrites) in the range processes its Beam job left warm, two at
once (CorpusJobs.map_here), the light steps (statistics over a few columns, edges, counts) in this process.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, Protocol, TypeVar

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.schemas.config import Config, OutputConfig
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import storage
from sieve.transforms.parquet import done_marker, file_entry, shard_path
from sieve.transforms.pipeline import pipeline_options
from sieve.transforms.supervise import in_range_process, range_processes

log = logging.getLogger("sieve")
SMALL_RUN_DOCUMENTS = 20_000  # below this many documents, a DirectRunner runs the corpus jobs in this process


@dataclass(frozen=True)
class CorpusJobs:
    """Where a run's corpus jobs run: its Beam runner and workers, the config's extra Beam options, the documents
    the passes see (run_passes counts them), and how a local run reaches the range processes its Beam job left warm."""

    runner: str = "DirectRunner"
    workers: int = 1
    options: tuple[str, ...] = ()
    documents: int = 0
    call: Callable[..., Any] | None = None  # call(fn, *args): fn(*args) in an idle warm range process of the run

    @classmethod
    def of(cls, cfg: Config, runner: str = "DirectRunner", workers: int = 1, run_dir: str | None = None) -> CorpusJobs:
        """The corpus jobs of a run of cfg on runner with workers; into run_dir, they use the range processes its
        local Beam job kept warm (run_job's keep_warm), if any."""
        warm = run_dir is not None and runner == "DirectRunner" and range_processes(cfg, run_dir) > 0
        return cls(
            runner, workers, tuple(cfg.beam.options), call=partial(in_range_process, cfg, run_dir) if warm else None
        )

    def local(self, small: bool = False) -> bool:
        """Whether a job (small: one over edges or counts only) runs in this process: on Beam's local DirectRunner,
        a small job always, any job of a run under SMALL_RUN_DOCUMENTS documents."""
        return self.runner == "DirectRunner" and (small or self.documents < SMALL_RUN_DOCUMENTS)

    def run(self, build: Callable[[beam.Pipeline], Any]) -> None:
        """Build one Beam job on the run's runner and workers and run it to completion (a step that local() keeps in
        this process is no Beam job)."""
        p = beam.Pipeline(options=pipeline_options(self.runner, self.workers, list(self.options)))
        build(p)
        p.run().wait_until_finish()

    def map_here(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> list[Any]:
        """[fn(item, *args) for item in items], a generator's items as a list, without a Beam job: the per-file step of
        a job a small local run does (local()). Where the run's Beam job left its range processes warm, each step runs
        in an idle one, the run's workers at once; else here, one after another."""
        if self.call is None:
            return [_listed(fn, item, *args) for item in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda item: self.call(_listed, fn, item, *args), items))


K = TypeVar("K")
V = TypeVar("V")


def group_here(pairs: Iterable[tuple[K, V]]) -> dict[K, list[V]]:
    """Beam's GroupByKey for a small local run's steps done in this process (CorpusJobs.local): each key's values."""
    groups: dict[K, list[V]] = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    return groups


def combine_here(combine: beam.CombineFn, pairs: Iterable[tuple[K, Any]]) -> dict[K, Any]:
    """Beam's CombinePerKey in this process, with the job's own CombineFn: each key's output."""
    accumulators: dict[K, Any] = {}
    for key, value in pairs:
        accumulators[key] = combine.add_input(accumulators.get(key) or combine.create_accumulator(), value)
    return {key: combine.extract_output(acc) for key, acc in accumulators.items()}


def _listed(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), a generator's items as a list (what crosses a process boundary)."""
    out = fn(*args)
    return list(out) if isinstance(out, Iterator) else out


@dataclass(frozen=True)
class Before:
    """What a pass starts from, so that a rerun over more files equals a first run: the kept rows plus those it or
    a later pass moved out (stages), without the columns they set, with the text as extracted when it or a later
    pass edits text."""

    stages: tuple[str, ...]  # this pass's name, then the later passes'
    original_text: bool
    columns: tuple[str, ...]  # the columns those passes set


@dataclass(frozen=True)
class RunFiles:
    """The committed files of a run as one pass sees them: each file's rows as they were before this pass."""

    run_dir: str
    markers: dict[str, dict[str, Any]]  # name -> commit marker
    before: Before
    jobs: CorpusJobs

    @property
    def names(self) -> list[str]:
        return sorted(self.markers)

    @property
    def workdir(self) -> str:
        """The pass's working folder (removed at commit, like every working file)."""
        return storage.join(self.run_dir, "passes", self.before.stages[0])


class CorpusPass(Protocol):
    """A decision over the whole run: statistics from every file's rows, then a rewrite of each file's rows."""

    name: str  # also the stage of the rows it drops
    edits_text: bool  # whether apply rewrites the text of kept rows
    columns: tuple[str, ...]  # the columns apply sets: null in the rows a pass starts from

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
    columns = ("pp_bucket",)

    def __init__(self, head_percentile: float, tail_percentile: float, drop_tail: bool) -> None:
        self.head, self.tail, self.drop_tail = head_percentile, tail_percentile, drop_tail

    def statistics(self, files: RunFiles) -> dict[str, Any]:
        """Per language, the head and tail percentiles of the run's perplexities: a Beam job counts each distinct
        value (exact: the same cut-offs as np.percentile over every value). Where the job would run in this process
        (a small run on the DirectRunner), its steps run here without Beam, whose fixed cost is most of the job."""
        percents, out = [self.head, self.tail], storage.join(files.workdir, "languages.json")

        def build(p):
            (
                p
                | "Files" >> beam.Create(files.names)
                | "Spread" >> beam.Reshuffle()
                | "Perplexities" >> beam.FlatMap(_perplexities, files.run_dir, files.before)
                | "CountValues" >> beam.CombinePerKey(CountValues())
                | "Cutoffs" >> beam.Map(_cutoffs, percents)
                | "AllLanguages" >> beam.combiners.ToList()
                | "Write" >> beam.Map(lambda rows, uri: write_json(uri, sorted(rows)), out)
            )

        if files.jobs.local():
            languages = _cutoffs_here(files, percents)
        else:
            if storage.exists(out):  # an interrupted pass's: a run without documents writes none
                storage.delete(out)
            files.jobs.run(build)
            languages = read_json(out, [])
        return {
            "head_percentile": self.head,
            "tail_percentile": self.tail,
            "drop_tail": self.drop_tail,
            "cutoffs": {lang: cut for lang, cut, _ in languages if cut is not None},
            "without_perplexity": {lang: n for lang, _, n in languages if n},  # languages without a model
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


def read_marker(run_dir: str, name: str) -> dict[str, Any]:
    """A committed file's marker as stored: a worker reads it rather than receive every marker through the job."""
    return json.loads(storage.read_text(done_marker(run_dir, name)))


def _perplexities(name: str, run_dir: str, before: Before) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray, int]]]:
    """One file's perplexities per language: (sorted distinct values, their counts, documents without one)."""
    rows = rows_before(run_dir, read_marker(run_dir, name), before, ["language", "perplexity"])
    for lang in sorted(set(rows["language"].to_pylist()) - {None}):
        values = rows.filter(pc.equal(rows["language"], lang))["perplexity"]
        distinct, counts = np.unique(values.drop_null().to_numpy(), return_counts=True)
        yield lang, (distinct, counts.astype(np.int64), values.null_count)


def _cutoffs_here(files: RunFiles, percents: list[float]) -> list[tuple]:
    """PerplexityBuckets.statistics' job as plain steps in this process: the same functions and CombineFn."""
    values = (kv for name in files.names for kv in _perplexities(name, files.run_dir, files.before))
    return sorted(_cutoffs(item, percents) for item in combine_here(CountValues(), values).items())


def _merged(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) pairs as one pair of sorted distinct values and their summed counts."""
    values = np.concatenate([v for v, _ in pairs]) if pairs else np.empty(0)
    distinct, inverse = np.unique(values, return_inverse=True)
    counts = np.zeros(len(distinct), np.int64)
    if pairs:
        np.add.at(counts, inverse, np.concatenate([c for _, c in pairs]))
    return distinct, counts


class CountValues(beam.CombineFn):
    """A language's perplexities as sorted (distinct values, counts), plus its documents without one. Exact, and its
    memory grows with the distinct values, not the documents: the perplexity stage rounds to 0.1, so a language
    holds at most 10 values per unit of its range, 16 bytes each (under 16 MB below perplexity 10^5, for any number
    of documents), where keeping every value would take 8 bytes a document (8 GB for a billion). Unrounded values
    (a column written by other means) would hold up to one entry per document."""

    def create_accumulator(self) -> list:
        return [[], 0]  # (values, counts) pairs not merged yet; documents without a perplexity

    def add_input(self, acc: list, value: tuple[np.ndarray, np.ndarray, int]) -> list:
        acc[0].append(value[:2])
        acc[1] += value[2]
        if len(acc[0]) >= 64:  # merged every 64 files, not every file: a merge costs the distinct values so far
            acc[0] = [_merged(acc[0])]
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        accs = list(accs)
        return [[_merged([pair for acc in accs for pair in acc[0]])], sum(acc[1] for acc in accs)]

    def extract_output(self, acc: list) -> tuple[np.ndarray, np.ndarray, int]:
        return (*_merged(acc[0]), acc[1])


def percentiles(values: np.ndarray, counts: np.ndarray, percents: list[float]) -> list[float]:
    """np.percentile(np.repeat(values, counts), percents) bit for bit, from sorted distinct values and their counts:
    numpy's default (linear) method, with its index and interpolation arithmetic."""
    n = int(counts.sum())
    ends = np.cumsum(counts)  # ends[j]: the sorted position after the last copy of values[j]
    out = []
    for index in (n - 1) * np.true_divide(np.asarray(percents, np.float64), 100):
        if index >= n - 1:  # numpy takes the last value
            out.append(float(values[-1]))
            continue
        below = np.floor(index)
        a, b = values[np.searchsorted(ends, [below, below + 1], side="right")]
        t = index - below
        out.append(float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t))  # numpy's _lerp
    return out


def _cutoffs(item: tuple[str, tuple[np.ndarray, np.ndarray, int]], percents: list[float]) -> tuple:
    """(language, its head and tail cut-offs and scored documents or None without one, documents without one)."""
    lang, (values, counts, missing) = item
    if not len(values):
        return lang, None, missing
    head, tail = percentiles(values, counts, percents)
    return lang, {"head": head, "tail": tail, "documents": int(counts.sum())}, missing


def write_json(uri: str, value: Any) -> None:
    """A small value a job hands to the launching process (a count, a table of statistics)."""
    storage.write_text(uri, json.dumps(value, sort_keys=True))


def read_json(uri: str, empty: Any) -> Any:
    """A value a job wrote; `empty` when it wrote none (a global combine of nothing writes nothing on some runners,
    Dask's among them)."""
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else empty


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


def rows_before(run_dir: str, marker: dict[str, Any], before: Before, columns: list[str] | None = None) -> pa.Table:
    """A file's rows as a pass first saw them, read from its shards (projected to columns when given): kept rows
    plus the rows it or a later pass moved out, with the text as extracted when before says so, in WARC order."""
    columns = columns or KEPT.names
    read = sorted({*columns, "doc_id", "warc_offset"})
    kept = _read(run_dir, marker, "kept", read)
    dropped = _read(run_dir, marker, "dropped", sorted({*read, "stage"}))
    rows = _restored(kept, dropped, before.stages, read)
    return (_unedited(run_dir, marker, rows) if before.original_text else rows).select(columns)


def _restored(kept: pa.Table | None, dropped: pa.Table | None, stages: tuple[str, ...], columns: list[str]) -> pa.Table:
    """Kept rows plus the rows the passes named in stages moved to dropped before, as kept rows."""
    tables = [] if kept is None else [kept]
    if dropped is not None:
        tables.append(dropped.filter(pc.is_in(dropped["stage"], pa.array(stages, pa.string()))).select(columns))
    schema = pa.schema([KEPT.field(c) for c in columns])
    rows = pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
    return rows.sort_by("warc_offset") if "warc_offset" in columns else rows


def _unedited(run_dir: str, marker: dict[str, Any], rows: pa.Table) -> pa.Table:
    """rows with the original text (and its n_chars) of every row a pass edited (text-less projections pass
    through)."""
    original = _read(run_dir, marker, "unedited")
    if original is None or "text" not in rows.column_names:
        return rows
    texts = dict(zip(original["doc_id"].to_pylist(), original["text"].to_pylist()))
    merged = [texts.get(d, t) for d, t in zip(rows["doc_id"].to_pylist(), rows["text"].to_pylist())]
    rows = rows.set_column(rows.schema.get_field_index("text"), "text", pa.array(merged, pa.string()))
    if "n_chars" not in rows.column_names:
        return rows
    n_chars = pa.array([None if t is None else len(t) for t in merged], pa.int64())
    return rows.set_column(rows.schema.get_field_index("n_chars"), "n_chars", n_chars)


def _cleared(rows: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """rows with the given columns null, as they were before the passes that set them."""
    for name in columns:
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, name, pa.nulls(rows.num_rows, rows.schema.field(i).type))
    return rows


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


@lru_cache(maxsize=4)
def _statistics(uri: str, digest: str) -> dict[str, Any]:
    """A pass's statistics as run_passes stored them, read once per worker process (digest: which ones)."""
    stats = json.loads(storage.read_text(uri))
    if _digest(stats) != digest:
        raise RuntimeError(f"{uri} changed during its rewrite job: is another run writing this run folder?")
    return stats


def _rewrite(name: str, run_dir: str, p: CorpusPass, before: Before, digest: str, out: OutputConfig) -> None:
    """Rewrite one file's shards under the pass's statistics, then its marker (dropped first, then kept): one
    element of a rewrite job, on a worker."""
    marker = read_marker(run_dir, name)
    stats = _statistics(storage.join(run_dir, "passes", f"{p.name}.json"), digest)
    # The dropped shard changes only where this or a later pass moved rows out before (they are restored) or this
    # pass moves rows now; otherwise it is neither read whole nor written again (most of a run's rows can be there).
    stages = pa.array(before.stages, pa.string())
    stage = _read(run_dir, marker, "dropped", ["stage"])
    restoring = stage is not None and bool(pc.any(pc.is_in(stage["stage"], stages)).as_py())
    dropped = _read(run_dir, marker, "dropped") if restoring else None
    rows = _restored(_read(run_dir, marker, "kept"), dropped, before.stages, KEPT.names)
    rows = _cleared(_unedited(run_dir, marker, rows) if before.original_text else rows, before.columns)
    kept, moved = p.apply(name, rows, stats)
    tables = {"kept": kept}
    if restoring or moved.num_rows:
        dropped = _read(run_dir, marker, "dropped") if dropped is None else dropped
        others = dropped.filter(pc.invert(pc.is_in(dropped["stage"], stages))) if dropped is not None else None
        tables["dropped"] = pa.concat_tables([t for t in (others, moved) if t is not None]).sort_by("warc_offset")
    compression = None if out.compression == "none" else out.compression
    unedited = marker.get("unedited")
    originals = _keep_originals(rows, kept, _read(run_dir, marker, "unedited")) if p.edits_text else None
    if originals is not None and originals.num_rows:  # written before the shards it lets a rerun undo
        uri = shard_path(run_dir, "unedited", name)
        written = storage.write_parquet(uri, UNEDITED, [originals], compression, out.row_group_rows)
        unedited = {**file_entry(uri, run_dir, written), "rows": originals.num_rows}
    shards = dict(marker["shards"])
    for kind in [k for k in ("dropped", "kept") if k in tables]:
        uri = shard_path(run_dir, kind, name)
        if tables[kind].num_rows:
            schema = KEPT if kind == "kept" else DROPPED  # the tables' own schemas, whatever a pass built
            written = storage.write_parquet(
                uri, schema, [tables[kind].select(schema.names).cast(schema)], compression, out.row_group_rows
            )
            shards[kind] = {**file_entry(uri, run_dir, written), "rows": tables[kind].num_rows}
        elif kind in shards:
            storage.delete(uri)
            del shards[kind]
    # the later passes' moves are undone here, so they are redone after this pass
    reasons = {k: v for k, v in marker["dropped"].items() if k.split("/", 1)[0] not in before.stages}
    for reason in moved["reason"].to_pylist():
        reasons[f"{p.name}/{reason}"] = reasons.get(f"{p.name}/{reason}", 0) + 1
    done = {k: v for k, v in marker.get("passes", {}).items() if k not in before.stages}
    new = {
        **marker,
        "kept": kept.num_rows,
        "dropped": dict(sorted(reasons.items())),
        "shards": shards,
        "passes": {**done, p.name: digest},
    } | ({"unedited": unedited} if unedited else {})
    storage.write_text(done_marker(run_dir, name), json.dumps(new, indent=1, sort_keys=True))


def _rewrites(
    pipeline: beam.Pipeline,
    todo: list[str],
    run_dir: str,
    p: CorpusPass,
    before: Before,
    digest: str,
    out: OutputConfig,
) -> None:
    """The rewrite job: each file's shards and marker rewritten on a worker."""
    (
        pipeline
        | "Files" >> beam.Create(todo)
        | "Spread" >> beam.Reshuffle()
        | "Rewrite" >> beam.Map(_rewrite, run_dir, p, before, digest, out)
    )


def run_passes(
    run_dir: str,
    markers: dict[str, dict[str, Any]],
    passes: list[CorpusPass],
    out: OutputConfig,
    jobs: CorpusJobs = CorpusJobs(),
) -> dict[str, Any]:
    """Run each pass over every committed file as Beam jobs on jobs' runner (markers: name -> commit marker, read
    back from the rewritten files); returns each pass's statistics, for the manifest."""
    results = {}
    names = sorted(markers)
    files = hashlib.sha256("\n".join(f"{n} {markers[n]['sha256']}" for n in names).encode()).hexdigest()[:16]
    stages = [p.name for p in passes]
    moved = (n for m in markers.values() for r, n in m["dropped"].items() if r.split("/", 1)[0] in stages)
    jobs = replace(jobs, documents=sum(m["kept"] for m in markers.values()) + sum(moved))
    for i, p in enumerate(passes):
        later = passes[i:]
        columns = tuple(c for q in later for c in q.columns)
        before = Before(tuple(q.name for q in later), any(q.edits_text for q in later), columns)
        uri = storage.join(run_dir, "passes", f"{p.name}.json")
        stored = json.loads(storage.read_text(uri)) if storage.exists(uri) else None
        if stored is None or stored["files"] != files:
            stored = {"files": files, **p.statistics(RunFiles(run_dir, markers, before, jobs))}
            storage.write_text(uri, json.dumps(stored, indent=1, sort_keys=True))
        digest = _digest(stored)
        todo = [n for n in names if markers[n].get("passes", {}).get(p.name) != digest]
        log.info("corpus pass %s: rewriting %d of %d files", p.name, len(todo), len(names))
        if todo:
            if jobs.local():
                jobs.map_here(_rewrite, todo, run_dir, p, before, digest, out)
            else:
                jobs.run(partial(_rewrites, todo=todo, run_dir=run_dir, p=p, before=before, digest=digest, out=out))
            with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
                markers.update(zip(todo, pool.map(partial(read_marker, run_dir), todo)))
        results[p.name] = {k: v for k, v in stored.items() if k != "files"}
    return results
