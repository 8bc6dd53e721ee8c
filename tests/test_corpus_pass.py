"""Corpus passes over committed shards: perplexity buckets from the run's percentiles, tail drop, idempotent rewrites,
all run as Beam jobs."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pyarrow as pa
import pytest

from sieve.schemas.config import load_config
from sieve.schemas.document import Document, Drop
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms import corpus, storage
from sieve.transforms.corpus import CorpusJobs, PerplexityBuckets, percentiles, run_passes
from sieve.transforms.parquet import done_marker, file_entry, shard_path
from sieve.transforms.summary import read_back


def _commit(run_dir: str, name: str, perplexities: list[float | None], lang: str = "en") -> dict:
    """One committed file: a kept row per perplexity and one dropped row, with its shards and marker."""
    kept = []
    for i, pp in enumerate(perplexities):
        doc = Document(warc_file=name, warc_offset=100 * i, text=f"doc {i}", language=lang, language_score=0.9)
        if pp is not None:
            doc.signals["perplexity"] = {"perplexity": pp}
        kept.append(doc.kept_row())
    dropped = [
        Document(warc_file=name, warc_offset=100 * len(perplexities) + 1).dropped_row(Drop("extract", "empty_text"))
    ]
    shards = {}
    for kind, rows, schema in (("kept", kept, KEPT), ("dropped", dropped, DROPPED)):
        uri = shard_path(run_dir, kind, name)
        written = storage.write_parquet(uri, schema, [pa.Table.from_pylist(rows, schema=schema)], "zstd", 1000)
        shards[kind] = {**file_entry(uri, run_dir, written), "rows": len(rows)}  # as the job's merge lists them
    marker = {
        "name": name,
        "sha256": name * 2,
        "read": len(kept) + 1,
        "kept": len(kept),
        "dropped": {"extract/empty_text": 1},
        "skipped": {},
        "shards": shards,
    }
    storage.write_text(done_marker(run_dir, name), json.dumps(marker))
    return marker


def _tables(run_dir: str, markers: dict) -> dict[str, pa.Table]:
    return {
        kind: pa.concat_tables(
            [
                storage.read_parquet(storage.join(run_dir, m["shards"][kind]["path"]))
                for m in markers.values()
                if kind in m["shards"]
            ]
        )
        for kind in ("kept", "dropped")
    }


def test_buckets_follow_the_runs_percentiles_per_language(tmp_path):
    run = str(tmp_path)
    markers = {
        "a.warc.gz": _commit(run, "a.warc.gz", [10, 20, 30, 40, 50]),
        "b.warc.gz": _commit(run, "b.warc.gz", [60, 70, 80, 90, 100, None]),
        "c.warc.gz": _commit(run, "c.warc.gz", [1000, 2000, 3000], lang="vi"),
    }
    written = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    stats = run_passes(run, markers, [PerplexityBuckets(30, 60, drop_tail=False)], load_config().output)["perplexity"]
    # a pass that moves no row leaves the dropped shards as they were (not read whole, not written); kept ones change
    assert {p.parent.name for p, t in written.items() if p.stat().st_mtime_ns == t} == {"dropped"}
    assert stats["cutoffs"]["en"] == {"head": pytest.approx(37.0), "tail": pytest.approx(64.0), "documents": 10}
    assert set(stats["cutoffs"]) == {"en", "vi"}
    kept = _tables(run, markers)["kept"].to_pylist()
    bucket = {(r["language"], r["perplexity"]): r["pp_bucket"] for r in kept}
    assert [bucket[("en", float(p))] for p in (10, 30, 40, 60, 70, 100)] == [
        "head",
        "head",
        "middle",
        "middle",
        "tail",
        "tail",
    ]
    assert bucket[("en", None)] is None  # no model for a document: no bucket, still kept
    assert bucket[("vi", 1000.0)] == "head" and bucket[("vi", 3000.0)] == "tail"
    assert all(
        m["kept"] == storage.read_parquet(storage.join(run, m["shards"]["kept"]["path"])).num_rows
        for m in markers.values()
    )


def test_the_cutoffs_found_here_are_the_beam_jobs(tmp_path, monkeypatch):
    """A small local run finds the percentiles in this process without Beam: the same statistics as the Beam job
    of a run elsewhere, values, documents and languages without a model alike."""
    stats = []
    for way in ("here", "beam"):
        if way == "beam":
            monkeypatch.setattr(CorpusJobs, "local", lambda self, small=False: False)
        run = str(tmp_path / way)
        markers = {
            "a.warc.gz": _commit(run, "a.warc.gz", [10, 20.5, 30, 30, 40, 50]),
            "b.warc.gz": _commit(run, "b.warc.gz", [60, 70, 80, 90.25, 100, None]),
            "c.warc.gz": _commit(run, "c.warc.gz", [1000, 2000, 3000], lang="vi"),
            "d.warc.gz": _commit(run, "d.warc.gz", [None, None], lang="de"),
        }
        stats.append(run_passes(run, markers, [PerplexityBuckets(17, 83, drop_tail=True)], load_config().output))
    assert stats[0] == stats[1]
    assert set(stats[0]["perplexity"]["cutoffs"]) == {"en", "vi"}
    assert stats[0]["perplexity"]["without_perplexity"] == {"de": 2, "en": 1}


def test_tail_drop_conserves_rows_and_reruns_give_the_same_shards(tmp_path):
    run = str(tmp_path)
    markers = {
        "a.warc.gz": _commit(run, "a.warc.gz", [10, 20, 30, 40, 50]),
        "b.warc.gz": _commit(run, "b.warc.gz", [60, 70, 80, 90, 100]),
    }
    out = load_config().output
    run_passes(run, markers, [PerplexityBuckets(30, 60, drop_tail=True)], out)
    tables = _tables(run, markers)
    tail = tables["dropped"].filter(pa.compute.equal(tables["dropped"]["stage"], "perplexity"))
    assert sorted(tail["perplexity"].to_pylist()) == [70, 80, 90, 100]
    assert set(tail["reason"].to_pylist()) == {"tail"} and "the en p60 of this run" in tail["details"][0].as_py()
    assert tables["kept"].num_rows + tables["dropped"].num_rows == 12  # 10 kept + 2 dropped before the pass
    assert markers["b.warc.gz"]["dropped"] == {"extract/empty_text": 1, "perplexity/tail": 4}
    for marker in markers.values():  # shards, rewritten or not, keep their size and SHA-256 (resume checks them)
        for shard in marker["shards"].values():
            data = (tmp_path / shard["path"]).read_bytes()
            assert (shard["bytes"], shard["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    before = {p: open(p, "rb").read() for p in map(str, tmp_path.rglob("*.parquet"))}
    run_passes(run, markers, [PerplexityBuckets(30, 60, drop_tail=True)], out)  # nothing to redo
    assert before == {p: open(p, "rb").read() for p in map(str, tmp_path.rglob("*.parquet"))}
    # A third file joins (a resumed run over more files): the earlier files are redone from their original rows.
    markers["c.warc.gz"] = _commit(run, "c.warc.gz", [5, 6])
    run_passes(run, markers, [PerplexityBuckets(30, 60, drop_tail=True)], out)
    fresh = tmp_path / "fresh"
    again = {
        n: _commit(str(fresh), n, pps)
        for n, pps in (("a.warc.gz", [10, 20, 30, 40, 50]), ("b.warc.gz", [60, 70, 80, 90, 100]), ("c.warc.gz", [5, 6]))
    }
    run_passes(str(fresh), again, [PerplexityBuckets(30, 60, drop_tail=True)], out)
    for kind in ("kept", "dropped"):
        assert _tables(run, markers)[kind].equals(_tables(str(fresh), again)[kind])


def test_percentiles_from_value_counts_equal_numpy_bit_for_bit():
    rng = random.Random(5)
    for _ in range(300):
        n = rng.randint(1, 60)
        values = np.array([round(rng.uniform(1, 5000), rng.choice([0, 1, 3])) for _ in range(n)])
        percents = [rng.choice([0, 30, 60, 100, rng.uniform(0, 100)]) for _ in range(2)]
        distinct, counts = np.unique(values, return_counts=True)
        assert percentiles(distinct, counts, percents) == [float(v) for v in np.percentile(values, percents)]


def _recorded(function, calls: list[str]):
    """function, noting the path of each call in calls (in this process only)."""

    def call(uri, *args, **kwargs):
        calls.append(uri)
        return function(uri, *args, **kwargs)

    return call


def test_statistics_and_rewrites_run_in_beam_workers_not_in_the_launcher(tmp_path, monkeypatch):
    """With worker processes, this process reads and writes no Parquet file: the workers do every file's work."""
    run = str(tmp_path)
    markers = {n: _commit(run, n, pps) for n, pps in (("a.warc.gz", [10, 20, 30]), ("b.warc.gz", [40, 50, 60]))}
    monkeypatch.setattr(corpus, "SMALL_RUN_DOCUMENTS", 0)  # two worker processes, as a large run gets
    here: list[str] = []
    for name in ("read_parquet", "write_parquet"):
        monkeypatch.setattr(storage, name, _recorded(getattr(storage, name), here))
    stats = run_passes(
        run, markers, [PerplexityBuckets(30, 60, drop_tail=True)], load_config().output, CorpusJobs(workers=2)
    )
    figures = read_back(run, sorted(markers), markers, CorpusJobs(workers=2))  # publish's summary, likewise
    assert here == []
    assert stats["perplexity"]["cutoffs"]["en"]["documents"] == 6
    assert markers["b.warc.gz"]["dropped"] == {"extract/empty_text": 1, "perplexity/tail": 2}  # read back
    assert _tables(run, markers)["kept"]["pp_bucket"].to_pylist() == ["head", "head", "middle", "middle"]
    b = figures["files"][1]
    assert b["row"] == {"warc_file": "b.warc.gz", "read": 4, "kept": 1, "dropped": 3, "skipped": 0}
    assert b["reasons"] == markers["b.warc.gz"]["dropped"] and figures["shared_ids"]["count"] == 0
