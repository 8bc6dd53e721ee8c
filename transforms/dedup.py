"""The dedup corpus pass: exact and near-duplicate documents, boilerplate lines and repeated sentence spans, found by
Beam jobs over every committed file, then applied to each file's shards (transforms/corpus.py).

Order, and why: exact copies and near-duplicates (MinHash LSH) first, on the text as extracted; then boilerplate
lines and sentence spans over the documents left, so a syndicated article copied to 50 sites is one document
before its lines are counted (counted 50 times, its own lines would look like boilerplate and be cut from it).

Only small things cross a shuffle: hashes, band keys and node ids, as numpy arrays per file and hash partition.
Text never does; signatures are read from the per-file tables written by the first job. A node is a document's
place: (source << 32) | row, where a source is a committed file's document table or an earlier run's index part.

    documents   per file: exact hash, MinHash signature, band keys -> passes/dedup/docs/<i>.parquet;
                equal hashes and band keys grouped per partition -> candidate pairs -> verified -> edges
    components  connected components of the edges, large-star / small-star rounds until nothing changes (or
                numpy label propagation, where the launcher does it)
    clusters    per component: the document kept (earlier run, then quality score, crawl date, doc_id)
    lines       per partition, a combiner counts the documents holding each normalized line -> frequent lines
    spans       per partition, documents holding each span of consecutive sentences; all but the first lose it
    apply       per file, in the corpus rewrite job: duplicates moved out, lines and spans cut, and the perplexity
                of each document whose text changed scored again with its language's model (loaded once per
                worker), so the perplexity buckets, computed after this pass, see the text that is kept

Every step is a Beam job on the run's runner. On Beam's local DirectRunner the edges-only steps (components,
clusters) run in this process without Beam: Beam's fixed cost (0.2-0.3 s a job) was most of their time, so numpy
finds the components and the clusters job's own functions run grouped by dicts; so do the lines, spans and index
steps of a small run (under corpus.SMALL_RUN_DOCUMENTS documents), and its documents job and rewrite, whose
per-file steps run in the run's warm range processes (corpus.CorpusJobs.map_here).
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.filters import dedup as d
from sieve.filters.perplexity import Perplexity
from sieve.schemas.config import Config
from sieve.schemas.document import Document
from sieve.transforms import layout, storage
from sieve.transforms.corpus import (
    Before,
    CorpusJobs,
    RunFiles,
    as_dropped,
    combine_here,
    group_here,
    read_json,
    rows_before,
    write_json,
)

log = logging.getLogger("sieve")

READ = ["doc_id", "text", "language", "quality_score", "crawl_date"]
DOCS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("run", pa.string()),  # the earlier run an index row comes from; null for this run's rows
        pa.field("language", pa.string()),
        pa.field("quality_score", pa.float32()),
        pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
        pa.field("exact_hash", pa.int64(), nullable=False),
        pa.field("words", pa.int32(), nullable=False),
        pa.field("signature", pa.list_(pa.uint32())),
        pa.field("bands", pa.list_(pa.int64())),
    ]
)
INDEX = "dedup_index"  # folder of a run's index, beside its shards
INDEX_META = "dedup_index.json"
_SHIFT = 32
PAIR_COUNTS = ("exact", "candidates", "verified")  # the pairs counted by the documents job, in this order
_ROW = (1 << _SHIFT) - 1  # a node's row in its source: node & _ROW


def _node(source: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(source) << _SHIFT) | rows.astype(np.int64)


def _source(node: int) -> int:
    return node >> _SHIFT


def _write(uri: str, table: pa.Table) -> None:
    storage.write_parquet(uri, table.schema, [table], "zstd", None)


@lru_cache(maxsize=4)
def _docs_table(uri: str) -> pa.Table:
    """A document table (this run's or an earlier index part), read once per worker process."""
    return storage.read_parquet(uri)


def _signatures(uri: str) -> np.ndarray:
    sig = _docs_table(uri)["signature"].combine_chunks()
    return sig.values.to_numpy().reshape(len(sig), -1) if len(sig) else np.empty((0, 0), np.uint32)


class _Params:
    """What the workers need of the config, small enough to ship with every task."""

    def __init__(self, cfg: Config) -> None:
        near = cfg.dedup.near
        self.exact, self.near = cfg.dedup.exact, near.enabled
        self.num_perm, self.seed = near.num_perm, near.seed
        self.permutations: tuple[np.ndarray, np.ndarray] | None = None  # datasketch's, drawn by statistics
        self.bands, self.rows = d.lsh_params(
            near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight
        )
        self.min_jaccard, self.max_run = near.min_estimated_jaccard, near.max_bucket_pairs
        self.max_documents, self.span = cfg.dedup.lines.max_documents, cfg.dedup.sentences.span
        self.group_files = cfg.dedup.lines.group_files
        self.min_sentence_words = cfg.dedup.sentences.min_words
        self.lines, self.sentences = cfg.dedup.lines.enabled, cfg.dedup.sentences.enabled
        self.partitions = cfg.dedup.partitions
        self.index = cfg.dedup.index.write
        self.languages = {
            lang: (
                cfg.language(lang).dedup.keep_accents,
                cfg.language(lang).dedup.shingle_n,
                cfg.language(lang).dedup.min_words_left,
            )
            for lang in cfg.languages
        }
        self.default = self.languages["default"]

    def of(self, language: str | None) -> tuple[bool, int, int]:
        """(keep_accents, shingle_n, min_words_left) of a language."""
        return self.languages.get(language or "", self.default)

    def line_group(self, source: int) -> int:
        """The group of files whose documents a file's lines are counted with (its index in run order)."""
        return source // self.group_files

    def index_identity(self) -> dict[str, Any]:
        """What an index must share with this run to be compared: the hash family, the shingling and the sentence
        spans."""
        return {
            "num_perm": self.num_perm,
            "seed": self.seed,
            "bands": self.bands,
            "rows": self.rows,
            "languages": {k: list(v[:2]) for k, v in sorted(self.languages.items())},
            "span": self.span,
            "min_sentence_words": self.min_sentence_words,
        }


# ---- job 1: documents -> candidate pairs -> verified edges --------------------------------------------------------


def _documents(
    task: tuple[int, str, dict[str, Any], str, str], params: _Params, before: Before
) -> Iterator[tuple[tuple, Any]]:
    """One file's document table, then its hashes per partition: (("exact"|band, partition), (keys, nodes))."""
    source, run_dir, marker, name, out = task
    rows = rows_before(run_dir, marker, before, READ)
    texts, langs = rows["text"].to_pylist(), rows["language"].to_pylist()
    hasher = d.MinHasher(params.permutations)
    exact, shingles, words = [], [], []
    for text, lang in zip(texts, langs):
        keep_accents, n, _ = params.of(lang)
        tokens = d.words(text or "", keep_accents)
        exact.append(d.stable_hash(" ".join(tokens)))  # the normalized text: equal for copies that differ only in
        # case, digits, punctuation or spacing
        words.append(len(tokens))
        shingles.append(d.MinHasher.shingle_hashes(tokens, n))
    sig = hasher.signatures(shingles)
    bands = d.band_keys(sig, params.bands, params.rows).astype(np.int64)
    table = pa.table(
        {
            "doc_id": rows["doc_id"],
            "run": pa.nulls(rows.num_rows, pa.string()),
            "language": rows["language"],
            "quality_score": rows["quality_score"],
            "crawl_date": rows["crawl_date"],
            "exact_hash": pa.array(exact, pa.int64()),
            "words": pa.array(words, pa.int32()),
            "signature": pa.array(list(sig), pa.list_(pa.uint32())),
            "bands": pa.array(list(bands), pa.list_(pa.int64())),
        },
        schema=DOCS,
    )
    _write(out, table)
    yield from _hashes(source, table, params)


def _hashes(source: int, table: pa.Table, params: _Params) -> Iterator[tuple[tuple, Any]]:
    """A document table's exact hashes and band keys, split by partition (documents without words have none); each
    key's nodes go with their exact hashes, so that a band holds one copy of an exact duplicate (see _candidates)."""
    nodes = _node(source, np.arange(table.num_rows))
    exact = table["exact_hash"].to_numpy()
    has_words = table["words"].to_numpy() > 0
    groups = []
    if params.exact:
        groups.append(("exact", exact))
    if params.near and table.num_rows:
        bands = table["bands"].combine_chunks().values.to_numpy().reshape(table.num_rows, -1)
        groups += [(band, bands[:, band]) for band in range(bands.shape[1])]
    values = np.stack([nodes, exact], axis=1)[has_words]
    for kind, keys in groups:
        for part, (found, both) in _partitioned(keys[has_words], values, params.partitions):
            yield (kind, part), (found, both[:, 0], both[:, 1])


def _index_hashes(task: tuple[int, str], params: _Params) -> Iterator[tuple[tuple, Any]]:
    source, uri = task
    yield from _hashes(source, _docs_table(uri), params)


def _candidates(
    group: tuple[tuple, Iterable[tuple[np.ndarray, np.ndarray]]], params: _Params, earlier: int
) -> Iterator[tuple[str, np.ndarray]]:
    """(kind, pairs) of equal keys in one partition, as one (n, 2) array of nodes (a < b) per kind; pairs inside
    earlier runs' indexes are not needed. Arrays, not one element per pair: a page copied 20 times makes 190 pairs
    in each of its 15 keys, and Beam's per-element cost was most of the documents job."""
    (kind, _), arrays = group
    arrays = list(arrays)
    keys = np.concatenate([k for k, _, _ in arrays])
    nodes = np.concatenate([n for _, n, _ in arrays])
    if kind != "exact" and params.exact:
        # Exact copies share every band key and are linked by their exact pairs already: a band keeps the first copy
        # (the smallest node) of each text, so a page copied 20 times costs one candidate per near duplicate, not 190
        # pairs in each band. The components are the same; fewer candidates are verified.
        exact = np.concatenate([e for _, _, e in arrays])
        order = np.lexsort((nodes, exact, keys))
        keys, nodes, exact = keys[order], nodes[order], exact[order]
        first = np.ones(len(keys), bool)
        first[1:] = (keys[1:] != keys[:-1]) | (exact[1:] != exact[:-1])
        keys, nodes = keys[first], nodes[first]
    pairs = np.array(list(d.pairs_in_runs(keys, nodes, params.max_run)), np.int64).reshape(-1, 2)
    pairs = pairs[(pairs >> _SHIFT).min(axis=1) < earlier]
    if len(pairs):
        yield ("exact" if kind == "exact" else "band"), pairs


def _by_source(nodes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(source, mask of its nodes) for each source the nodes belong to."""
    sources = nodes >> _SHIFT
    for source in np.unique(sources).tolist():
        yield source, sources == source


def _first_signatures(
    group: tuple[int, Iterable[np.ndarray]], sources: list[str]
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Verification, first hop: the distinct candidate pairs whose first document is in one source, each with that
    document's signature (the source's table read once), keyed by the source of the second document."""
    sa, arrays = group
    pairs = np.unique(np.concatenate(list(arrays)), axis=0)
    signatures = _signatures(sources[sa])[pairs[:, 0] & _ROW]
    for sb, mask in _by_source(pairs[:, 1]):
        yield sb, (pairs[mask], signatures[mask])


def _verify(
    group: tuple[int, Iterable[tuple[np.ndarray, np.ndarray]]], sources: list[str], min_jaccard: float
) -> Iterator[np.ndarray]:
    """Verification, second hop: the candidate pairs whose second document is in one source (with the first one's
    signature) that agree on at least min_jaccard of their values. Each source's table is read once per hop, so the
    work grows with the sources and the pairs, not with the pairs of sources; a group holds one source's pairs."""
    sb, items = group
    items = list(items)
    pairs = np.concatenate([p for p, _ in items])
    a = np.concatenate([sig for _, sig in items])
    b = _signatures(sources[sb])[pairs[:, 1] & _ROW]
    verified = pairs[d.estimated_jaccard(a, b) >= min_jaccard]
    if len(verified):
        yield verified


# ---- job 2..k: connected components, large-star / small-star ---------------------------------------------------


def _large_star(item: tuple[int, Iterable[int]]) -> Iterator[tuple[str, Any]]:
    """Link every larger neighbour of u to the smallest node of u's neighbourhood."""
    u, neighbours = item
    neighbours = set(neighbours)
    m = min(neighbours | {u})
    larger = [v for v in neighbours if v > u]
    if m < u and larger:
        yield "changed", 1
    for v in larger:
        yield "edge", (v, m)


def _small_star(item: tuple[int, Iterable[int]]) -> Iterator[tuple[str, Any]]:
    """Link u and its smaller neighbours to the smallest of them."""
    u, smaller = item
    smaller = set(smaller)
    m = min(smaller | {u})
    if len(smaller) > 1:
        yield "changed", 1
    for v in smaller | {u}:
        if v != m:
            yield "edge", (v, m)


def _unsettled(item: tuple[int, Iterable[tuple[str, int]]]) -> int:
    """1 for a node a further round would still move: one linked to two nodes, or linked to one and linked from
    another; 0 for a component's smallest node (only linked from) or a node linked to it alone."""
    _, ends = item
    ends = list(ends)  # an edge can come twice (two nodes' small stars both link the node to the same one)
    to = {n for kind, n in ends if kind == "to"}
    return int(len(to) > 1 or (bool(to) and any(kind == "from" for kind, _ in ends)))


def _read_edges(uri: str) -> Iterator[tuple[int, int]]:
    t = storage.read_parquet(uri)
    yield from zip(t["a"].to_pylist(), t["b"].to_pylist())


def _write_edges(item: tuple[int, Iterable[tuple[int, int]]], folder: str) -> str:
    part, edges = item
    edges = sorted(set(edges))
    uri = storage.join(folder, f"part-{part:05d}.parquet")
    _write(
        uri,
        pa.table({"a": pa.array([a for a, _ in edges], pa.int64()), "b": pa.array([b for _, b in edges], pa.int64())}),
    )
    return uri


def _partition(edge: tuple[int, int], partitions: int) -> int:
    return hash(edge) % partitions  # a tuple of ints: the same in every process


def _star_edges(parts: list[str]) -> list[tuple[int, int]]:
    """The edges of the parts' graph as (node, the smallest node of its component), for every node but those
    smallest: what large-star / small-star rounds end with. Labels move to the smaller end of each edge and then
    to their own label's label (pointer jumping) until nothing moves; the smallest node of a component keeps its
    own label throughout, so the one label left in a component is its smallest node."""
    tables = [storage.read_parquet(u) for u in parts]
    ends = [np.concatenate([t[c].to_numpy() for t in tables]) if tables else np.empty(0, np.int64) for c in "ab"]
    nodes, index = np.unique(np.concatenate(ends), return_inverse=True)  # sorted: a smaller index, a smaller node
    a, b = index[: len(ends[0])], index[len(ends[0]) :]
    label = np.arange(len(nodes))
    while True:
        pulled = label.copy()
        smaller = np.minimum(label[a], label[b])
        np.minimum.at(pulled, a, smaller)
        np.minimum.at(pulled, b, smaller)
        pulled = pulled[pulled]
        if np.array_equal(pulled, label):
            break
        label = pulled
    moved = label != np.arange(len(nodes))
    return list(zip(nodes[moved].tolist(), nodes[label[moved]].tolist()))


def _pairs_here(
    hashes: list[tuple[tuple, Any]], params: _Params, earlier: int, sources: list[str], folder: str
) -> dict[str, int]:
    """The documents job's steps after each file's hashes, in this process: the same functions, grouped by
    group_here; writes the edges to folder as _WriteEdges does and returns the pair counts."""
    pairs = [kv for item in group_here(hashes).items() for kv in _candidates(item, params, earlier)]
    exact = [a for kind, a in pairs if kind == "exact"]
    band = [a for kind, a in pairs if kind == "band"]
    firsts = group_here((sa, a[mask]) for a in band for sa, mask in _by_source(a[:, 0]))
    seconds = group_here(kv for item in firsts.items() for kv in _first_signatures(item, sources))
    verified = [a for item in seconds.items() for a in _verify(item, sources, params.min_jaccard)]
    _write_edge_parts([tuple(e) for a in exact + verified for e in a.tolist()], folder, params.partitions)
    return {kind: sum(map(len, arrays)) for kind, arrays in zip(PAIR_COUNTS, (exact, band, verified))}


def _write_edge_parts(edges: list[tuple[int, int]], folder: str, partitions: int) -> None:
    """edges as _WriteEdges writes them: one part per hash partition that holds any."""
    for item in group_here((_partition(e, partitions), e) for e in edges).items():
        _write_edges(item, folder)


def _clusters_here(parts: list[str], sources: list[str], folder: str, sizes_uri: str, current: int) -> None:
    """Dedup._clusters' job as plain steps in this process: the same functions, grouped by group_here."""
    edges = [e for uri in parts for e in _read_edges(uri)]
    by_source = group_here(kv for u, v in edges for kv in ((_source(u), (u, v)), (_source(v), (v, v))))
    by_component = group_here(kv for item in sorted(by_source.items()) for kv in _ranked(item, sources))
    kept = [kv for item in by_component.items() for kv in _keep(item)]
    for item in group_here(value for kind, value in kept if kind == "member").items():
        _write_clusters(item, folder, current)
    write_json(sizes_uri, sorted(Counter(value for kind, value in kept if kind == "size").items()))


class _WriteEdges(beam.PTransform):
    """Edges, deduplicated, to folder/part-N.parquet (one part per hash partition); yields the part paths."""

    def __init__(self, folder: str, partitions: int) -> None:
        super().__init__()
        self.folder, self.partitions = folder, partitions

    def expand(self, edges):
        return (
            edges
            | "KeyByPartition" >> beam.Map(lambda e, n: (_partition(e, n), e), self.partitions)
            | "GroupByPartition" >> beam.GroupByKey()
            | "WritePart" >> beam.Map(_write_edges, self.folder)
        )


# ---- the pass ----------------------------------------------------------------------------------------------------


class Dedup:
    """Removes exact and near-duplicate documents, boilerplate lines and repeated sentence spans (see the module)."""

    name = "dedup"
    edits_text = True
    columns = ("dup_cluster_id", "dup_cluster_size")

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.params = _Params(cfg)
        self.jobs = CorpusJobs()  # the run's, set by statistics
        # the perplexity stage ran: the documents whose text this pass edits are scored again (see apply)
        self.rescore = cfg.language_id.enabled and cfg.quality.perplexity.enabled
        self._perplexity: Perplexity | None = None  # built on the worker that first needs it

    # -- statistics: the Beam jobs --

    def statistics(self, files: RunFiles) -> dict[str, Any]:
        work, names, params = files.workdir, files.names, self.params
        # more documents, more partitions: a group of a shuffle holds about partition_documents documents' keys; and
        # one per worker at least, so the grouped steps keep every worker busy
        params.partitions = max(
            self.cfg.dedup.partitions,
            files.jobs.workers,
            -(-files.jobs.documents // self.cfg.dedup.partition_documents),
        )
        start = time.perf_counter()
        params.permutations = d.permutations(params.num_perm, params.seed)  # shipped to the hashing processes
        self.jobs = files.jobs
        for cached in (_docs_table, _clusters_of, _frequent_lines, _spans_of):  # an earlier pass in this process
            cached.cache_clear()
        if storage.exists(work):  # what an interrupted pass left: every file below is written again
            storage.delete_tree(work)
        seconds: dict[str, float] = {}
        index, index_folders, index_lines = self._earlier_indexes()
        sources = [storage.join(work, "docs", f"{i:06d}.parquet") for i in range(len(names))] + [u for _, u in index]
        tasks = [(i, files.run_dir, files.markers[n], n, sources[i]) for i, n in enumerate(names)]
        edges0 = storage.join(work, "edges", "round-0")
        counts = storage.join(work, "counts")

        index_tasks = [(len(names) + k, u) for k, (_, u) in enumerate(index)]

        def documents(p):
            hashes = (
                p
                | "Files" >> beam.Create(tasks)
                | "Spread" >> beam.Reshuffle()
                | "Documents" >> beam.FlatMap(_documents, params, files.before)
            )
            if index:
                earlier = p | "Index" >> beam.Create(index_tasks) | "IndexHashes" >> beam.FlatMap(_index_hashes, params)
                hashes = (hashes, earlier) | "AllHashes" >> beam.Flatten()
            pairs = (
                hashes
                | "GroupKeys" >> beam.GroupByKey()
                | "Candidates" >> beam.FlatMap(_candidates, params, len(names))
            )
            # arrays of pairs from here on (see _candidates); the edges leave them at the end, one element each
            exact = pairs | "Exact" >> beam.Filter(lambda kv: kv[0] == "exact") | "ExactPairs" >> beam.Values()
            band = pairs | "Band" >> beam.Filter(lambda kv: kv[0] == "band") | "BandPairs" >> beam.Values()
            verified = (
                band
                | "ByFirstSource" >> beam.FlatMap(lambda a: ((sa, a[mask]) for sa, mask in _by_source(a[:, 0])))
                | "GroupByFirstSource" >> beam.GroupByKey()
                | "FirstSignatures" >> beam.FlatMap(_first_signatures, sources)
                | "GroupBySecondSource" >> beam.GroupByKey()
                | "Verify" >> beam.FlatMap(_verify, sources, params.min_jaccard)
            )
            (
                [
                    pc_ | f"Label{k}" >> beam.Map(lambda a, k: (k, len(a)), k)
                    for k, pc_ in zip(PAIR_COUNTS, (exact, band, verified))
                ]
                | "AllPairs" >> beam.Flatten()
                | "CountPairs" >> beam.CombinePerKey(sum)  # one global combine for the three counts
                | "AllCounts" >> beam.combiners.ToList()
                | "WriteCounts" >> beam.Map(lambda kv, u: write_json(u, dict(kv)), storage.join(counts, "pairs.json"))
            )
            (
                (exact, verified)
                | "Edges" >> beam.Flatten()
                | "EdgeRows" >> beam.FlatMap(lambda a: map(tuple, a.tolist()))
                | "WriteEdges" >> _WriteEdges(edges0, params.partitions)
            )

        if self.jobs.local():
            hashes = [kv for out in self.jobs.map_here(_documents, tasks, params, files.before) for kv in out]
            hashes += [kv for task in index_tasks for kv in _index_hashes(task, params)]
            pair_counts = _pairs_here(hashes, params, len(names), sources, edges0)
        else:
            self.jobs.run(documents)
            pair_counts = dict.fromkeys(PAIR_COUNTS, 0) | read_json(storage.join(counts, "pairs.json"), {})
        seconds["documents"] = time.perf_counter() - start
        t = time.perf_counter()
        edges, rounds = self._components(edges0, work)
        seconds["components"] = time.perf_counter() - t
        t = time.perf_counter()
        clusters = self._clusters(edges, sources, names, work)
        seconds["clusters"] = time.perf_counter() - t
        t = time.perf_counter()
        lines = self._lines(files, tasks, index_lines, work) if params.lines else 0
        seconds["lines"] = time.perf_counter() - t
        t = time.perf_counter()
        spans = self._spans(files, tasks, index, work) if params.sentences else {}
        seconds["spans"] = time.perf_counter() - t
        stats = {
            "workdir": work,
            "names": names,
            "params": {"bands": params.bands, "rows": params.rows, **self.cfg.dedup.near.model_dump()},
            "earlier_indexes": sorted({run for run, _ in index}),
            "earlier_index_folders": index_folders,
            "pairs": pair_counts,
            "component_rounds": rounds,
            "clusters": clusters,
            "frequent_lines": lines,
            "earlier_index_line_files": len(index_lines),
            "max_documents": params.max_documents,
            "line_group_files": params.group_files,
            "partitions": params.partitions,
            "spans": spans,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
        if self.cfg.dedup.index.write:
            self.write_index(files, stats)
        log.info(
            "dedup: %d exact and %d verified near pairs (of %d candidates), %d clusters after %d rounds, "
            "%d boilerplate lines, %d duplicated sentence spans, %.1f s",
            pair_counts["exact"],
            pair_counts["verified"],
            pair_counts["candidates"],
            clusters["count"],
            rounds,
            lines,
            spans.get("duplicated", 0),
            time.perf_counter() - start,
        )
        return stats

    def _earlier_indexes(self) -> tuple[list[tuple[str, str]], list[str], list[str]]:
        """(run, part uri) of every index part of the runs in dedup.index.against and of every index those were
        deduplicated against in turn (an index lists its own earlier ones, so the newest output stands for all),
        each checked to be comparable; the index folders read; and their boilerplate line files."""
        from sieve.schemas.errors import UsageError

        parts, folders, lines = [], [], []
        todo = [(place, "dedup.index.against") for place in self.cfg.dedup.index.against]
        while todo:
            place, named_by = todo.pop(0)
            folder = place
            if not storage.exists(storage.join(place, INDEX_META)) and (run := layout.run_dir(place)) is not None:
                folder = storage.join(run, INDEX)
            folder = storage.absolute(folder)
            if folder in folders:
                continue
            meta_uri = storage.join(folder, INDEX_META)
            if not storage.exists(meta_uri):
                raise UsageError(
                    f"{named_by}: no dedup index at {place} (expected {meta_uri}; an output written with "
                    "dedup.index.write: true has one)"
                )
            meta = json.loads(storage.read_text(meta_uri))
            if meta["identity"] != self.params.index_identity():
                raise UsageError(
                    f"{named_by}: {place} was written with other MinHash settings "
                    f"or sentence spans ({meta['identity']}); use the same dedup.near, dedup.sentences and "
                    "languages.*.dedup settings"
                )
            folders.append(folder)
            parts += [(meta["run"], storage.join(folder, p)) for p in meta["parts"]]
            lines += [storage.join(folder, p) for p in meta.get("lines", [])]
            todo += [(earlier, f"the dedup index at {folder}") for earlier in meta.get("earlier", [])]
        return parts, folders, lines

    def _components(self, edges: str, work: str) -> tuple[str, int]:
        """Every node linked to the smallest node of its component: the folder of those edges and the Beam rounds
        it took. Where the edges-only jobs would run in this process (Beam's DirectRunner), numpy does it here
        (_smallest_of_components, no round), as Beam's fixed cost per job is most of such a job's time; on
        another runner, large-star then small-star, one Beam job per round, until a round changes nothing or leaves
        only stars (a round more would change nothing)."""
        if self.jobs.local(small=True):
            out = storage.join(work, "edges", "components")
            parts = [f.uri for f in storage.list_files(edges)] if storage.exists(edges) else []
            _write_edge_parts(_star_edges(parts), out, self.params.partitions)
            return out, 0
        rounds = 0
        while True:
            rounds += 1
            out = storage.join(work, "edges", f"round-{rounds}")
            changed = storage.join(work, "counts", f"round-{rounds}.json")
            unsettled = storage.join(work, "counts", f"round-{rounds}-unsettled.json")
            parts = [f.uri for f in storage.list_files(edges)] if storage.exists(edges) else []

            def one_round(p, parts=parts, out=out, changed=changed, unsettled=unsettled):
                pairs = p | "Parts" >> beam.Create(parts) | "Read" >> beam.FlatMap(_read_edges)
                large = (
                    pairs
                    | "BothWays" >> beam.FlatMap(lambda e: [e, (e[1], e[0])])
                    | "Neighbours" >> beam.GroupByKey()
                    | "LargeStar" >> beam.FlatMap(_large_star)
                )
                small = (
                    large
                    | "LargeEdges" >> beam.Filter(lambda kv: kv[0] == "edge")
                    | "L" >> beam.Values()
                    | "Smaller" >> beam.GroupByKey()
                    | "SmallStar" >> beam.FlatMap(_small_star)
                )
                links = small | "SmallEdges" >> beam.Filter(lambda kv: kv[0] == "edge") | "S" >> beam.Values()
                links | "Write" >> _WriteEdges(out, self.params.partitions)
                (
                    links
                    | "Ends" >> beam.FlatMap(lambda e: [(e[0], ("to", e[1])), (e[1], ("from", e[0]))])
                    | "ByNode" >> beam.GroupByKey()
                    | "Unsettled" >> beam.Map(_unsettled)
                    | "SumUnsettled" >> beam.CombineGlobally(sum)
                    | "WriteUnsettled" >> beam.Map(lambda n, u: write_json(u, n), unsettled)
                )
                (
                    (large, small)
                    | "All" >> beam.Flatten()
                    | "Changes" >> beam.Filter(lambda kv: kv[0] == "changed")
                    | "Ones" >> beam.Values()
                    | "Sum" >> beam.CombineGlobally(sum)
                    | "WriteChanged" >> beam.Map(lambda n, u: write_json(u, n), changed)
                )

            if not parts:
                return edges, 0
            self.jobs.run(one_round)
            edges = out
            if read_json(changed, 0) == 0 or read_json(unsettled, 0) == 0:
                return edges, rounds

    def _clusters(self, edges: str, sources: list[str], names: list[str], work: str) -> dict[str, Any]:
        """Per component, the document kept and each member's reason, as clusters/<i>.parquet; the size histogram."""
        parts = [f.uri for f in storage.list_files(edges)] if storage.exists(edges) else []
        folder, sizes_uri = storage.join(work, "clusters"), storage.join(work, "counts", "cluster_sizes.json")

        def build(p):
            members = (
                p
                | "Parts" >> beam.Create(parts)
                | "Read" >> beam.FlatMap(_read_edges)
                | "Nodes" >> beam.FlatMap(lambda e: [(_source(e[0]), e), (_source(e[1]), (e[1], e[1]))])
                | "BySource" >> beam.GroupByKey()
                | "Ranked" >> beam.FlatMap(_ranked, sources)
                | "ByComponent" >> beam.GroupByKey()
                | "Keep" >> beam.FlatMap(_keep)
            )
            (
                members
                | "Members" >> beam.Filter(lambda kv: kv[0] == "member")
                | "M" >> beam.Values()
                | "MemberSource" >> beam.GroupByKey()
                | "WriteClusters" >> beam.Map(_write_clusters, folder, len(names))
            )
            (
                members
                | "Sizes" >> beam.Filter(lambda kv: kv[0] == "size")
                | "Z" >> beam.Values()
                | "CountSizes" >> beam.combiners.Count.PerElement()
                | "AllSizes" >> beam.combiners.ToList()
                | "WriteSizes" >> beam.Map(lambda s, u: write_json(u, sorted(s)), sizes_uri)
            )

        if parts and self.jobs.local(small=True):  # as _components: the same steps, here, without Beam
            _clusters_here(parts, sources, folder, sizes_uri, len(names))
        elif parts:
            self.jobs.run(build)
        sizes = {str(size): n for size, n in read_json(sizes_uri, [])}
        return {
            "count": sum(sizes.values()),
            "documents": sum(int(k) * n for k, n in sizes.items()),
            "removed": sum((int(k) - 1) * n for k, n in sizes.items()),
            "size_histogram": sizes,
        }

    def _lines(self, files: RunFiles, tasks: list, earlier: list[str], work: str) -> int:
        """Normalized lines held by more than max_documents of the documents left in their group of files, or by
        one of them and found boilerplate by an earlier crawl (its index's line files: earlier):
        lines/group-G/part-N.parquet."""
        folder = storage.join(work, "lines")
        count = storage.join(work, "counts", "lines.json")
        params = self.params

        def build(p):
            hashes = (
                p
                | "Files" >> beam.Create(tasks)
                | "Spread" >> beam.Reshuffle()
                | "LineHashes" >> beam.FlatMap(_line_hashes, params, work, files.before)
            )
            if earlier:  # each earlier boilerplate line counts as max_documents documents in every group
                groups = sorted({params.line_group(t[0]) for t in tasks})
                held = (
                    p
                    | "IndexLines" >> beam.Create(earlier)
                    | "EarlierHashes" >> beam.FlatMap(_index_lines, params.partitions)
                    | "ByPartition" >> beam.GroupByKey()
                    | "PerGroup" >> beam.FlatMap(_earlier_lines, groups, params.max_documents)
                )
                hashes = (hashes, held) | "AllLines" >> beam.Flatten()
            frequent = hashes | "CountDocuments" >> beam.CombinePerKey(CountHashes(params.max_documents))
            (
                frequent
                | "WriteLines" >> beam.Map(_write_lines, folder)
                | "Total" >> beam.CombineGlobally(sum)
                | "WriteCount" >> beam.Map(lambda n, u: write_json(u, n), count)
            )

        if self.jobs.local():  # a small local run: the same steps here, Beam's fixed cost being most of the job
            return _lines_here(self.jobs, tasks, params, work, files.before, earlier, folder)
        self.jobs.run(build)
        return read_json(count, 0)

    def _spans(self, files: RunFiles, tasks: list, index: list[tuple[str, str]], work: str) -> dict[str, int]:
        """Spans of consecutive sentences held by several documents: spans/<i>.parquet lists what each file's
        documents lose (all holders but the first: an earlier crawl's document, then run order)."""
        folder, count = storage.join(work, "spans"), storage.join(work, "counts", "spans.json")
        sources, first_index = [t[4] for t in tasks], len(tasks)

        def build(p):
            hashes = (
                p
                | "Files" >> beam.Create(tasks)
                | "Spread" >> beam.Reshuffle()
                | "SpanHashes" >> beam.FlatMap(_span_hashes, self.params, work, files.before)
            )
            if index:
                earlier = (
                    p
                    | "Index" >> beam.Create([(first_index + k, u) for k, (_, u) in enumerate(index)])
                    | "IndexSpans" >> beam.FlatMap(_index_spans, self.params.partitions)
                )
                hashes = (hashes, earlier) | "AllSpans" >> beam.Flatten()
            removals = (
                hashes
                | "ByPartition" >> beam.GroupByKey()
                | "Duplicated" >> beam.FlatMap(_duplicated_spans, first_index)
            )
            (
                removals
                | "Removals" >> beam.Filter(lambda kv: kv[0] == "remove")
                | "R" >> beam.Values()
                | "BySource" >> beam.GroupByKey()
                | "WriteSpans" >> beam.Map(_write_spans, folder, sources)
            )
            (
                removals
                | "Counts" >> beam.Filter(lambda kv: kv[0] != "remove")
                | "SumCounts" >> beam.CombinePerKey(sum)
                | "AllCounts" >> beam.combiners.ToList()
                | "WriteCount" >> beam.Map(lambda c, u: write_json(u, dict(sorted(c))), count)
            )

        if self.jobs.local():  # as _lines
            return _spans_here(self.jobs, tasks, self.params, work, files.before, index, folder)
        self.jobs.run(build)
        return read_json(count, 0) if storage.exists(count) else {}

    def write_index(self, files: RunFiles, stats: dict[str, Any]) -> None:
        """This run's kept documents' hashes, signatures, band keys and sentence spans, and its boilerplate lines,
        under <run>/dedup_index/ for later runs, with the index folders this run was deduplicated against (a later
        run reads those too: the index is cumulative). A Beam job writes the parts on the workers, so the launcher
        reads no document table; a small local run writes them here."""
        folder = storage.join(files.run_dir, INDEX)
        run = storage.absolute(files.run_dir).rsplit("/", 2)[0]  # the output: <output>/runs/<config hash>
        parts = [f"part-{i:06d}.parquet" for i in range(len(stats["names"]))]
        groups = sorted({self.params.line_group(i) for i in range(len(parts))})

        def build(p):  # each part written on a worker: the launcher reads no document table
            (
                p
                | "Parts" >> beam.Create(list(enumerate(parts)))
                | "Spread" >> beam.Reshuffle()
                | "WritePart" >> beam.Map(_write_index_part, files.workdir, folder, run)
            )
            if self.params.lines:
                (
                    p
                    | "LineParts" >> beam.Create(range(self.params.partitions))
                    | "SpreadLines" >> beam.Reshuffle()
                    | "WriteLines" >> beam.Map(_write_index_lines, groups, files.workdir, folder)
                )

        if self.jobs.local():  # a small local run: the same steps here, Beam's fixed cost being most of the job
            for item in enumerate(parts):
                _write_index_part(item, files.workdir, folder, run)
            for part in range(self.params.partitions) if self.params.lines else ():
                _write_index_lines(part, groups, files.workdir, folder)
        else:
            self.jobs.run(build)
        lines = [storage.relative(f.uri, folder) for f in storage.list_files(storage.join(folder, "lines"))]
        meta = {"identity": self.params.index_identity(), "parts": parts, "lines": lines, "run": run}
        write_json(storage.join(folder, INDEX_META), meta | {"earlier": stats["earlier_index_folders"]})

    # -- apply: one file --

    def apply(self, name: str, kept: pa.Table, stats: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
        work, i = stats["workdir"], stats["names"].index(name)
        clusters = _clusters_of(work, i)
        spans = _spans_of(work, i)
        frequent = _frequent_lines(work, self.params.line_group(i)) if self.params.lines else frozenset()
        texts, langs, ids = kept["text"].to_pylist(), kept["language"].to_pylist(), kept["doc_id"].to_pylist()
        out_text, signals, cluster_ids, cluster_sizes, reasons, details, moved = [], [], [], [], [], [], []
        for row, (doc_id, text, lang) in enumerate(zip(ids, texts, langs)):
            cluster = clusters.get(doc_id)
            keeper = cluster is not None and cluster["keeper"] == doc_id and cluster["keeper_run"] is None
            cluster_ids.append(None if cluster is None else cluster["keeper"])
            cluster_sizes.append(1 if cluster is None else cluster["size"])
            if cluster is not None and not keeper:
                where = f" of {cluster['keeper_run']}" if cluster["keeper_run"] else ""
                moved.append(row)
                reasons.append(cluster["reason"])
                details.append(f"duplicate of {cluster['keeper']}{where} (cluster of {cluster['size']})")
                out_text.append(text)
                signals.append(None)
                continue
            keep_accents, _, min_words = self.params.of(lang)
            edited, _ = d.edit(
                text or "",
                keep_accents,
                frequent,
                self.params.span,
                self.params.min_sentence_words,
                spans.get(doc_id, frozenset()),
            )
            out_text.append(edited.text)
            signals.append(
                {
                    "lines_removed": edited.lines_removed,
                    "sentences_removed": edited.sentences_removed,
                    "span_sentences_removed": edited.span_sentences_removed,
                    "chars_removed": edited.chars_removed,
                }
            )
            if edited.chars_removed and edited.words_left < min_words:
                moved.append(row)
                reasons.append("sentence_duplicate_residue")
                details.append(
                    f"{edited.words_left} words left < {min_words} ({lang}) after removing "
                    f"{edited.lines_removed} lines and "
                    f"{edited.sentences_removed + edited.span_sentences_removed} sentences"
                )
        table = _with_columns(kept, out_text, signals, cluster_ids, cluster_sizes)
        gone = np.zeros(table.num_rows, bool)
        gone[moved] = True
        if self.rescore:
            table, kept = self._rescored(table, kept, gone)
        # a dropped row keeps the text as extracted, so the drop can be audited
        dropped = kept.filter(pa.array(gone)).set_column(
            kept.schema.get_field_index("dup_cluster_id"),
            "dup_cluster_id",
            pa.array([cluster_ids[r] for r in moved], pa.string()),
        )
        dropped = dropped.set_column(
            dropped.schema.get_field_index("dup_cluster_size"),
            "dup_cluster_size",
            pa.array([cluster_sizes[r] for r in moved], pa.int32()),
        )
        dropped = _with_signals(dropped, "dedup", [None] * dropped.num_rows)  # its text is not edited
        return table.filter(pa.array(~gone)), as_dropped(dropped, self.name, reasons, details)

    def _rescored(self, table: pa.Table, kept: pa.Table, gone: np.ndarray) -> tuple[pa.Table, pa.Table]:
        """(table, kept) with the perplexity signals measured again where they no longer fit the text: a row kept
        with edited text, or a row edited by an earlier rewrite (its stored score is the edited text's; the text
        is the original again). table holds the rows as kept, kept the rows as they came (dropped ones keep it)."""
        before = (
            pc.struct_field(kept["signals"], ["dedup", "chars_removed"]).fill_null(0).to_numpy(zero_copy_only=False)
        )
        edited = pc.not_equal(table["text"], kept["text"]).fill_null(False).to_numpy(zero_copy_only=False)
        if self._perplexity is None:
            self._perplexity = Perplexity(self.cfg)
        redo = (edited & ~gone) | (before > 0)
        return (
            _with_perplexity(table, np.flatnonzero(redo & ~gone), self._perplexity),
            _with_perplexity(kept, np.flatnonzero(redo & gone), self._perplexity),
        )


# ---- workers of the later jobs ----------------------------------------------------------------------------------


def _rank(table: pa.Table, row: int) -> tuple:
    """The keep rule, smallest first: a document of an earlier run, then the highest quality score (when the
    classifier ran), then the earliest crawl date, then the smallest doc_id."""
    run, score, date = table["run"][row].as_py(), table["quality_score"][row].as_py(), table["crawl_date"][row].value
    return (run is None, -(score or 0.0), date if date is not None else 2**62, table["doc_id"][row].as_py())


def _ranked(item: tuple[int, Iterable[tuple[int, int]]], sources: list[str]) -> Iterator[tuple[int, tuple]]:
    """(component, (rank, node, doc_id, exact_hash, run)) of one source's nodes."""
    source, pairs = item
    table = _docs_table(sources[source])
    for node, component in sorted(set(pairs)):
        row = node & _ROW
        yield (
            component,
            (
                _rank(table, row),
                node,
                table["doc_id"][row].as_py(),
                table["exact_hash"][row].as_py(),
                table["run"][row].as_py(),
            ),
        )


def _keep(item: tuple[int, Iterable[tuple]]) -> Iterator[tuple[str, Any]]:
    """The kept member of a component and, per member, its cluster and reason."""
    _, members = item
    members = sorted(members)
    _, _, keeper, keeper_hash, keeper_run = members[0]
    yield "size", len(members)
    for _, node, doc_id, exact_hash, _ in members:
        reason = None if node == members[0][1] else d.EXACT_DUPLICATE if exact_hash == keeper_hash else d.NEAR_DUPLICATE
        yield "member", (_source(node), (doc_id, keeper, keeper_run, len(members), reason))


CLUSTERS = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("keeper", pa.string()),
        pa.field("keeper_run", pa.string()),
        pa.field("size", pa.int32()),
        pa.field("reason", pa.string()),
    ]
)


def _write_clusters(item: tuple[int, Iterable[tuple]], folder: str, current: int) -> None:
    source, rows = item
    if source >= current:  # an earlier run's documents are not rewritten
        return
    rows = sorted(rows)
    _write(
        storage.join(folder, f"{source:06d}.parquet"), pa.table(list(zip(*rows)) if rows else [[]] * 5, schema=CLUSTERS)
    )


@lru_cache(maxsize=8)
def _clusters_of(work: str, i: int) -> dict[str, dict[str, Any]]:
    uri = storage.join(work, "clusters", f"{i:06d}.parquet")
    if not storage.exists(uri):
        return {}
    return {r["doc_id"]: r for r in storage.read_parquet(uri).to_pylist()}


def _write_index_part(item: tuple[int, str], work: str, folder: str, run: str) -> None:
    """File i's documents left after dedup, as an index part of run, and their sentence spans as spans/<part>
    (row in the part, span hash)."""
    i, part = item
    table = _docs_table(storage.join(work, "docs", f"{i:06d}.parquet"))
    removed = _removed(work, i)
    table = table.filter(pa.array([x not in removed for x in table["doc_id"].to_pylist()], pa.bool_()))
    table = table.set_column(table.schema.get_field_index("run"), "run", pa.array([run] * table.num_rows, pa.string()))
    _write(storage.join(folder, part), table)
    held = storage.join(work, "span_hashes", f"{i:06d}.parquet")
    if storage.exists(held):
        spans = storage.read_parquet(held)
        row_of = {doc_id: r for r, doc_id in enumerate(table["doc_id"].to_pylist())}
        rows = [row_of[doc_id] for doc_id in spans["doc_id"].to_pylist()]
        _write(
            _part_spans(storage.join(folder, part)),
            pa.table({"row": pa.array(rows, pa.int32()), "span_hash": spans["span_hash"]}),
        )


def _part_spans(part_uri: str) -> str:
    """Where an index part's sentence spans are: spans/<the part's name> beside it."""
    folder, name = posixpath.split(part_uri)
    return storage.join(folder, "spans", name)


def _write_index_lines(part: int, groups: list[int], work: str, folder: str) -> None:
    """The boilerplate lines of every group of files in hash partition part, as the index's lines/part-N (a group's
    partition without one has no file: see _write_lines)."""
    held = (_line_file(storage.join(work, "lines"), g, part) for g in groups)
    found = [uri for uri in held if storage.exists(uri)]
    if found:
        hashes = np.unique(np.concatenate([storage.read_parquet(u)["hash"].to_numpy() for u in found]))
        uri = storage.join(folder, "lines", f"part-{part:05d}.parquet")
        _write(uri, pa.table({"hash": pa.array(hashes, pa.int64())}))


def _index_lines(uri: str, partitions: int) -> Iterator[tuple[int, np.ndarray]]:
    """An earlier index's boilerplate lines, per partition of this run."""
    yield from _partitioned(storage.read_parquet(uri)["hash"].to_numpy(), None, partitions)


def _earlier_lines(
    item: tuple[int, Iterable[np.ndarray]], groups: list[int], weight: int
) -> Iterator[tuple[tuple[int, int], tuple[np.ndarray, int]]]:
    """One partition's earlier boilerplate lines (each once, whatever the indexes holding it), weighing weight
    documents, to every group of this run: there one holder more makes it frequent."""
    part, arrays = item
    hashes = np.unique(np.concatenate(list(arrays)))
    for group in groups:
        yield (group, part), (hashes, weight)


def _index_spans(task: tuple[int, str], partitions: int) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """An earlier index part's sentence spans, per partition: (span hash, node)."""
    source, uri = task
    held = _part_spans(uri)
    if storage.exists(held):  # an index written with sentence dedup off has none
        t = storage.read_parquet(held)
        yield from _partitioned(t["span_hash"].to_numpy(), _node(source, t["row"].to_numpy()), partitions)


def _removed(work: str, i: int) -> set[str]:
    """doc_ids of file i that lose to another member of their cluster."""
    return {doc_id for doc_id, c in _clusters_of(work, i).items() if c["reason"] is not None}


def _survivors(
    task: tuple, work: str, before: Before
) -> tuple[int, list[int], list[str], list[str | None], list[str | None]]:
    """(source, rows, doc_ids, texts, languages) of a file's documents left after document-level dedup."""
    source, run_dir, marker, _, _ = task
    rows = rows_before(run_dir, marker, before, ["doc_id", "text", "language"])
    removed = _removed(work, source)
    ids = rows["doc_id"].to_pylist()
    keep = [r for r, doc_id in enumerate(ids) if doc_id not in removed]
    texts, langs = rows["text"].to_pylist(), rows["language"].to_pylist()
    return source, keep, [ids[r] for r in keep], [texts[r] for r in keep], [langs[r] for r in keep]


def _partitioned(keys: np.ndarray, values: np.ndarray | None, partitions: int) -> Iterator[tuple[int, Any]]:
    part = keys % partitions
    for p in np.unique(part):
        yield int(p), keys[part == p] if values is None else (keys[part == p], values[part == p])


def _line_hashes(
    task: tuple, params: _Params, work: str, before: Before
) -> Iterator[tuple[tuple[int, int], tuple[np.ndarray, int]]]:
    """Per (line group, partition), the hashes of each surviving document's distinct normalized lines (one entry
    per document, each weighing one document)."""
    source, _, _, texts, langs = _survivors(task, work, before)
    hashes = [h for text, lang in zip(texts, langs) for h in d.line_hashes(text or "", params.of(lang)[0])]
    group = params.line_group(source)
    for part, found in _partitioned(np.array(hashes, np.int64), None, params.partitions):
        yield (group, part), (found, 1)


class CountHashes(beam.CombineFn):
    """Documents per line hash, as sorted (hashes, counts) arrays plus the inputs not yet folded in: memory grows with
    the distinct hashes of a group's partition (and at most PENDING unfolded hashes), whatever the number of
    documents; the output keeps the hashes counted more than max_documents. An input is (hashes, the documents
    each stands for)."""

    PENDING = 1 << 20  # hashes added before they are folded into the counts: one sort per million, not per input

    def __init__(self, max_documents: int) -> None:
        self.max_documents = max_documents

    def create_accumulator(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, int]]]:
        return np.empty(0, np.int64), np.empty(0, np.int64), []

    def add_input(self, acc, item: tuple[np.ndarray, int]):
        keys, counts, pending = acc
        pending.append(item)
        return self._fold(acc) if sum(len(h) for h, _ in pending) >= self.PENDING else (keys, counts, pending)

    def merge_accumulators(self, accs):
        accs = list(accs)
        merged = (
            np.concatenate([k for k, _, _ in accs]),
            np.concatenate([c for _, c, _ in accs]),
            [h for _, _, pending in accs for h in pending],
        )
        return self._fold(merged, force=len(accs) > 1)

    def extract_output(self, acc) -> np.ndarray:
        keys, counts, _ = self._fold(acc)
        return keys[counts > self.max_documents]

    @staticmethod
    def _fold(acc, force: bool = False):
        """The counts with every pending hash added (each with its input's weight); force: also when none is pending
        (merged counts repeat keys)."""
        keys, counts, pending = acc
        if not pending and not force:
            return acc
        all_keys = np.concatenate([keys, *(h for h, _ in pending)])
        weights = np.concatenate([counts, *(np.full(len(h), w, np.int64) for h, w in pending)])
        unique, inverse = np.unique(all_keys, return_inverse=True)
        return unique, np.bincount(inverse, weights=weights, minlength=len(unique)).astype(np.int64), []


def _lines_here(
    jobs: CorpusJobs, tasks: list, params: _Params, work: str, before: Before, earlier: list[str], folder: str
) -> int:
    """Dedup._lines' job without Beam: each file's hashes by jobs.map_here, then a CountHashes output per (line
    group, partition) in this process."""
    held = group_here(kv for uri in earlier for kv in _index_lines(uri, params.partitions))
    groups = sorted({params.line_group(t[0]) for t in tasks})
    found = [kv for out in jobs.map_here(_line_hashes, tasks, params, work, before) for kv in out]
    found += [kv for item in held.items() for kv in _earlier_lines(item, groups, params.max_documents)]
    frequent = combine_here(CountHashes(params.max_documents), found)
    return sum(_write_lines(item, folder) for item in sorted(frequent.items()))


def _write_lines(item: tuple[tuple[int, int], np.ndarray], folder: str) -> int:
    (group, part), hashes = item
    if not len(hashes):  # no boilerplate line in this partition: no file (a small run writes none of its 16)
        return 0
    _write(_line_file(folder, group, part), pa.table({"hash": pa.array(hashes, pa.int64())}))
    return len(hashes)


def _line_file(folder: str, group: int, part: int) -> str:
    """A group's boilerplate lines in one hash partition, under the pass's lines/ folder."""
    return storage.join(folder, f"group-{group:05d}", f"part-{part:05d}.parquet")


@lru_cache(maxsize=4)
def _frequent_lines(work: str, group: int) -> frozenset[int]:
    """The boilerplate lines of one group of files."""
    folder = storage.join(work, "lines", f"group-{group:05d}")
    if not storage.exists(folder):
        return frozenset()
    return frozenset(h for f in storage.list_files(folder) for h in storage.read_parquet(f.uri)["hash"].to_pylist())


def _span_hashes(
    task: tuple, params: _Params, work: str, before: Before
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Per partition, (span hash, node) of each surviving document's distinct sentence spans, after line removal;
    with an index to write, also span_hashes/<i>.parquet: (doc_id, span hash)."""
    source, rows, ids, texts, langs = _survivors(task, work, before)
    frequent = _frequent_lines(work, params.line_group(source)) if params.lines else frozenset()
    hashes, nodes, holders = [], [], []
    for row, doc_id, text, lang in zip(rows, ids, texts, langs):
        _, spans = d.edit(text or "", params.of(lang)[0], frequent, params.span, params.min_sentence_words)
        for h in sorted(set(spans)):
            hashes.append(h)
            nodes.append(row)
            holders.append(doc_id)
    if params.index:
        table = {"doc_id": pa.array(holders, pa.string()), "span_hash": pa.array(hashes, pa.int64())}
        _write(storage.join(work, "span_hashes", f"{source:06d}.parquet"), pa.table(table))
    yield from _partitioned(np.array(hashes, np.int64), _node(source, np.array(nodes, np.int64)), params.partitions)


def _duplicated_spans(
    item: tuple[int, Iterable[tuple[np.ndarray, np.ndarray]]], first_index: int
) -> Iterator[tuple[str, Any]]:
    """Spans held by several documents: each holder but the first (an earlier crawl's document, whose source is
    first_index or more; else the smallest node) loses it; only this run's documents lose anything."""
    _, arrays = item
    arrays = list(arrays)
    keys = np.concatenate([k for k, _ in arrays])
    nodes = np.concatenate([n for _, n in arrays])
    current = (nodes >> _SHIFT) < first_index
    order = np.lexsort((nodes, current, keys))
    keys, nodes, current = keys[order], nodes[order], current[order]
    later = np.concatenate([[False], keys[1:] == keys[:-1]]) & current  # not the first holder of its span
    yield "duplicated", len(np.unique(keys[later]))
    yield "removals", int(np.count_nonzero(later))
    for key, node in zip(keys[later].tolist(), nodes[later].tolist()):
        yield "remove", (_source(node), (node, key))


def _spans_here(
    jobs: CorpusJobs,
    tasks: list,
    params: _Params,
    work: str,
    before: Before,
    index: list[tuple[str, str]],
    folder: str,
) -> dict[str, int]:
    """Dedup._spans' job without Beam: each file's spans by jobs.map_here, then each partition's (span hash, node)
    arrays grouped by group_here in this process."""
    sources, first_index = [t[4] for t in tasks], len(tasks)
    found = [kv for out in jobs.map_here(_span_hashes, tasks, params, work, before) for kv in out]
    found += [kv for k, (_, u) in enumerate(index) for kv in _index_spans((first_index + k, u), params.partitions)]
    outcomes = [kv for item in sorted(group_here(found).items()) for kv in _duplicated_spans(item, first_index)]
    for item in sorted(group_here(value for kind, value in outcomes if kind == "remove").items()):
        _write_spans(item, folder, sources)
    counts: Counter = Counter()
    for kind, value in outcomes:
        if kind != "remove":
            counts[kind] += value
    return dict(sorted(counts.items()))


SPANS = pa.schema([pa.field("doc_id", pa.string()), pa.field("span_hash", pa.int64())])


def _write_spans(item: tuple[int, Iterable[tuple[int, int]]], folder: str, sources: list[str]) -> None:
    source, removals = item
    ids = _docs_table(sources[source])["doc_id"].to_pylist()
    rows = sorted((ids[node & _ROW], key) for node, key in removals)
    _write(
        storage.join(folder, f"{source:06d}.parquet"),
        pa.table({"doc_id": [r[0] for r in rows], "span_hash": [r[1] for r in rows]}, schema=SPANS),
    )


@lru_cache(maxsize=8)
def _spans_of(work: str, i: int) -> dict[str, frozenset[int]]:
    uri = storage.join(work, "spans", f"{i:06d}.parquet")
    if not storage.exists(uri):
        return {}
    spans: dict[str, set[int]] = {}
    t = storage.read_parquet(uri)
    for doc_id, key in zip(t["doc_id"].to_pylist(), t["span_hash"].to_pylist()):
        spans.setdefault(doc_id, set()).add(key)
    return {k: frozenset(v) for k, v in spans.items()}


def _with_columns(kept: pa.Table, texts: list, signals: list, cluster_ids: list, sizes: list) -> pa.Table:
    """kept with the edited text, n_chars, the dedup signals and the cluster columns set."""
    columns = {
        "text": pa.array(texts, pa.string()),
        "n_chars": pa.array([len(t or "") for t in texts], pa.int64()),
        "dup_cluster_id": pa.array(cluster_ids, pa.string()),
        "dup_cluster_size": pa.array(sizes, pa.int32()),
    }
    table = kept
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return _with_signals(table, "dedup", signals)


def _with_perplexity(table: pa.Table, rows: np.ndarray, stage: Perplexity) -> pa.Table:
    """table with the perplexity column and signals of the given rows measured on their text by the perplexity
    stage (filters/perplexity.py): what the stage would have stored had it seen this text."""
    if not len(rows):
        return table
    perplexity = table["perplexity"].to_pylist()
    signals = pc.struct_field(table["signals"], "perplexity").to_pylist()
    for row in rows.tolist():
        known = {c: table[c][row].as_py() for c in ("warc_file", "warc_offset", "text", "language")}
        measured = stage.annotate(Document(**known))
        perplexity[row] = measured.pop("perplexity")
        signals[row] = measured
    table = table.set_column(
        table.schema.get_field_index("perplexity"), "perplexity", pa.array(perplexity, pa.float64())
    )
    return _with_signals(table, "perplexity", signals)


def _with_signals(table: pa.Table, stage: str, values: list) -> pa.Table:
    """table with one stage's signals (a struct per row, or None) replaced by values."""
    struct = table["signals"].combine_chunks()
    fields = [struct.type.field(k) for k in range(struct.type.num_fields)]
    arrays = [pa.array(values, f.type) if f.name == stage else struct.field(k) for k, f in enumerate(fields)]
    merged = pa.StructArray.from_arrays(arrays, fields=fields, mask=struct.is_null() if struct.null_count else None)
    return table.set_column(table.schema.get_field_index("signals"), "signals", merged)
