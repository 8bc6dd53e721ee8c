"""Document ids are unique within a run, and the published dedup figures are the rows dedup moved (issue 23)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed, manifest_for
from sieve.flows.report import write_report
from sieve.schemas.errors import ConservationError
from sieve.transforms.summary import summarize
from tests.conftest import run_beam


@pytest.fixture(scope="module")
def twice(data_dir, tmp_path_factory):
    """One real WARC file given twice under two names, run through the real Beam job and corpus passes."""
    crawl = tmp_path_factory.mktemp("twice")
    for name in ("a.warc.gz", "b.warc.gz"):
        shutil.copy(data_dir / "articles-sample.warc.gz", crawl / name)
    run_dir = tmp_path_factory.mktemp("twice-run") / "run"
    _, summary = run_beam([crawl / "a.warc.gz", crawl / "b.warc.gz"], run_dir)
    tables = {kind: pq.read_table(run_dir / kind) for kind in ("kept", "dropped")}
    return crawl, run_dir, summary, tables


def test_a_file_given_twice_keeps_one_copy_of_each_document(twice):
    _, _, summary, tables = twice
    kept, dropped = tables["kept"].to_pylist(), tables["dropped"].to_pylist()
    ids = [r["doc_id"] for r in kept + dropped]
    assert len(ids) == len(set(ids)) == summary["counts"]["read"]  # every record its own id; no skipped records here
    copies = [r for r in dropped if r["stage"] == "dedup"]
    others = Counter((r["stage"], r["reason"], r["warc_offset"]) for r in dropped if r["stage"] != "dedup")
    assert all(n == 2 for n in others.values())  # a record dropped before dedup is dropped in both copies
    assert kept and len(copies) == len(kept) and {r["reason"] for r in copies} == {"exact_duplicate"}
    # the record at each offset is kept once, from either file, and its other copy names it as the keeper
    assert sorted(r["warc_offset"] for r in kept) == sorted(r["warc_offset"] for r in copies)
    keeper = {r["warc_offset"]: r for r in kept}
    for copy in copies:
        assert copy["warc_file"] != keeper[copy["warc_offset"]]["warc_file"]
        assert copy["dup_cluster_id"] == keeper[copy["warc_offset"]]["doc_id"] and copy["dup_cluster_size"] == 2
    counts = summary["counts"]
    assert counts["read"] == counts["kept"] + counts["dropped"] + counts["skipped"] == 2 * (len(kept) + len(others))


def test_published_dedup_figures_are_the_rows_moved(twice, tmp_path):
    crawl, run_dir, summary, tables = twice
    files = plan_inputs([str(crawl / "a.warc.gz"), str(crawl / "b.warc.gz")])
    passes = {"dedup": json.loads((run_dir / "passes" / "dedup.json").read_text())}
    manifest = manifest_for(summary, files, committed(str(run_dir), files), {}, "hash", {}, passes)
    moved = tables["dropped"].filter(pc.equal(tables["dropped"]["stage"], "dedup"))
    clusters = manifest["passes"]["dedup"]["clusters"]
    assert clusters["removed"] == moved.num_rows == manifest["dropped_by_reason"]["dedup/exact_duplicate"]
    assert clusters["count"] == len(set(moved["dup_cluster_id"].to_pylist())) == tables["kept"].num_rows
    assert clusters["size_histogram"] == {"2": clusters["count"]} and clusters["documents"] == 2 * clusters["count"]
    assert "dedup_clusters" not in manifest  # one figure, in the pass's section
    run = {"runner": "DirectRunner", "workers": 2, "seconds": 1.0, "files_resumed": 0, "batches": [{"files": 2}]}
    report = (tmp_path / write_report(str(tmp_path), {**manifest, "run": run})).read_text()
    assert f"{clusters['count']} clusters of {clusters['documents']} documents, {moved.num_rows} removed" in report


def test_publish_refuses_two_rows_with_one_id(twice, tmp_path):
    """Shards whose ids came from the record alone (an older sieve, resumed) name one document twice."""
    crawl, run_dir, _, _ = twice
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    files = plan_inputs([str(crawl / "a.warc.gz"), str(crawl / "b.warc.gz")])
    markers = committed(str(copy), files)
    a, b = (copy / markers[name]["shards"]["kept"]["path"] for name in ("a.warc.gz", "b.warc.gz"))
    shared = pq.read_table(a)["doc_id"][0]
    table = pq.read_table(b)
    pq.write_table(table.set_column(0, "doc_id", pa.array([shared.as_py()] + table["doc_id"].to_pylist()[1:])), b)
    with pytest.raises(ConservationError, match=f"{shared.as_py()}: a.warc.gz at offset \\d+ and b.warc.gz at offset"):
        summarize(str(copy), files, markers)
