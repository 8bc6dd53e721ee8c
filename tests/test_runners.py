"""Runners are options: the real job on Dask and on the portable runner matches the DirectRunner; bad setups are one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
import yaml

from sieve.flows.runners import DASK_RUNNER as DASK
from sieve.flows.runners import LocalDask, local_dask_cluster
from sieve.schemas.config import load_config
from sieve.transforms.pipeline import pipeline_options
from tests.conftest import LIGHT_CONFIG, free_port, run_beam, write_config
from tests.test_cli import assert_one_line_error, sieve_in_process

pytestmark = pytest.mark.usefixtures("prefect_api")  # one Prefect server for the session


def sieve_run(
    inputs: Path, out: Path, runner: str, options: list[str], workers: int = 2, settings: dict | None = None
) -> dict[str, Any]:
    """`sieve run` with the runner on the command line and its options (and any other settings) in the config, as a
    user runs it."""
    config = out.parent / f"{out.name}.yaml"
    config.write_text(yaml.safe_dump({**(settings or {}), "beam": {"options": options}}))
    cmd = [
        str(Path(sys.executable).parent / "sieve"),
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--runner",
        runner,
        "--config",
        str(config),
        "--workers",
        str(workers),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "manifest.json").read_text())


def assert_conserved(out: Path, manifest: dict[str, Any]) -> None:
    """Every record read is kept, dropped or skipped, per file and in all, and the listed shards hold those rows."""
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["dropped"] + c["skipped"] == 96
    for f in manifest["files"]:
        assert f["read"] == f["kept"] + f["dropped"] + f["skipped"]
    for kind in ("kept", "dropped"):
        assert sum(pq.read_metadata(out / s["path"]).num_rows for s in manifest["shards"][kind]) == c[kind]


def assert_same_outcome(out: Path, manifest: dict[str, Any], direct: tuple[Path, dict[str, Any]]) -> None:
    """Same counts per file, stage and reason, and byte-identical shards, as the DirectRunner run of the same inputs."""
    direct_out, direct_manifest = direct
    assert_conserved(out, manifest)
    assert_conserved(direct_out, direct_manifest)
    for key in ("counts", "files", "dropped_by_reason", "skipped_by_type", "shards"):
        assert manifest[key] == direct_manifest[key], key
    for shard in manifest["shards"]["kept"] + manifest["shards"]["dropped"]:
        assert (out / shard["path"]).read_bytes() == (direct_out / shard["path"]).read_bytes(), shard["path"]


def beam_counters(manifest: dict[str, Any]) -> Counter:
    """Beam's own counters, summed over the run's batches."""
    return sum((Counter(b["beam_counters"]) for b in manifest["run"]["batches"]), Counter())


@pytest.fixture(scope="module")
def direct_run(crawl_run) -> tuple[Path, dict[str, Any]]:
    return crawl_run[0], crawl_run[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Iterator[LocalDask]:
    """A real Dask cluster started as an operator starts one: `dask scheduler` and two single-threaded `dask worker`
    processes on 127.0.0.1 (their logs in dask.log), stopped at the end of the module."""
    with local_dask_cluster(tmp_path_factory.mktemp("dask") / "dask.log") as cluster:
        yield cluster


def range_workers(manifest: dict[str, Any]) -> dict[int, int]:
    """Ranges run per worker process id, from the range markers' timings (run.phases.workers: host:pid, /n after
    the pid for a process's second and later supervisor)."""
    ranges: Counter = Counter()
    for w, t in manifest["run"]["phases"]["workers"].items():
        ranges[int(w.rsplit(":", 1)[1].split("/")[0])] += t["ranges"]
    return dict(ranges)


@pytest.mark.slow
def test_dask_runner_on_a_real_cluster_writes_what_the_direct_runner_writes(
    crawl_dir, tmp_path, dask_cluster, direct_run
):
    out = tmp_path / "out"
    manifest = sieve_run(crawl_dir, out, DASK, [f"--dask_client_address={dask_cluster.address}"])
    assert set(range_workers(manifest)) <= dask_cluster.task_pids  # the ranges ran in this cluster's workers
    assert manifest["run"]["runner"] == DASK
    assert not beam_counters(manifest)  # Beam's DaskRunner reports no metrics: the tables carry the counts
    assert_same_outcome(out, manifest, direct_run)


@pytest.mark.slow
def test_dask_runner_spreads_one_big_file_over_both_workers(data_dir, tmp_path, dask_cluster):
    """Beam's DaskRunner only spreads created items: the ranges, planned by a first job, are what it creates. The
    shards equal those of the same job on the DirectRunner, run in this process (the light config: this is about
    where ranges run, not about the filters)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(data_dir / "articles-sample.warc.gz", inputs)
    settings = {**yaml.safe_load(LIGHT_CONFIG), "read": {"records_per_split": 2}}  # its 12 records: 6 ranges
    on_dask = sieve_run(
        inputs, tmp_path / "dask", DASK, [f"--dask_client_address={dask_cluster.address}"], settings=settings
    )
    cfg = load_config(write_config(tmp_path / "direct.yaml", yaml.safe_dump(settings)))
    _, direct = run_beam([inputs / "articles-sample.warc.gz"], tmp_path / "direct", cfg)
    assert on_dask["counts"] == direct["counts"] and on_dask["files"] == direct["files"]
    ranges = range_workers(on_dask)
    assert set(ranges) == dask_cluster.task_pids and sum(ranges.values()) == 6, ranges  # both ran some
    shards = [Path(s["path"]) for kind in ("kept", "dropped") for s in on_dask["shards"][kind]]
    assert shards
    for shard in shards:
        in_run = shard.relative_to(on_dask["run_dir"])
        assert (tmp_path / "dask" / shard).read_bytes() == (tmp_path / "direct" / in_run).read_bytes(), shard


@pytest.mark.slow
def test_portable_runner_with_an_embedded_job_service_writes_what_the_direct_runner_writes(
    crawl_dir, tmp_path, direct_run
):
    out = tmp_path / "out"
    manifest = sieve_run(crawl_dir, out, "PortableRunner", ["--job_endpoint=embed", "--environment_type=LOOPBACK"])
    assert manifest["run"]["runner"] == "PortableRunner"
    assert_same_outcome(out, manifest, direct_run)
    counters = beam_counters(manifest)  # the portable job API reports metrics: a second, independent tally
    assert counters["read"] == manifest["counts"]["read"] and counters["kept"] == manifest["counts"]["kept"]


BAD_SETUPS = {
    "unknown option": (
        "DirectRunner",
        ["--direct_num_worker=2"],
        ["Beam does not know", "did you mean --direct_num_workers?"],
    ),
    "bad value": ("DirectRunner", ["--direct_num_workers=many"], ["--direct_num_workers", "invalid int value"]),
    "runner in the config": ("DirectRunner", ["--runner=DataflowRunner"], ["belongs on the command line"]),
    "dask short name": ("DaskRunner", [], ["--runner DaskRunner", DASK]),
    "dask scheduler down": (
        DASK,
        ["--dask_client_address=tcp://127.0.0.1:{port}"],
        ["cannot connect", "start a scheduler"],
    ),
    "dataflow without project": ("DataflowRunner", [], ["--project, --region, --temp_location"]),
    "dataflow local temp": (
        "DataflowRunner",
        ["--project=p", "--region=europe-west1", "--temp_location=/tmp/t"],
        ["--temp_location /tmp/t", "gs://"],
    ),
    "dataflow local output": (
        "DataflowRunner",
        ["--project=p", "--region=europe-west1", "--temp_location=gs://b/t", "--sdk_container_image=r/sieve-worker:1"],
        ["cannot write", "gs:// or s3://"],
    ),
    "portable without endpoint": ("PortableRunner", [], ["needs --job_endpoint", "embed"]),
    "portable job server down": (
        "PortableRunner",
        ["--job_endpoint=localhost:{port}"],
        ["cannot connect", "job server"],
    ),
    "portable default docker image": ("PortableRunner", ["--job_endpoint=embed"], ["no sieve installed", "LOOPBACK"]),
}


@pytest.mark.parametrize("case", BAD_SETUPS)
def test_bad_runner_setup_is_one_line_saying_what_to_do(case, data_dir, tmp_path, capsys):
    runner, options, needles = BAD_SETUPS[case]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"beam": {"options": [o.format(port=free_port()) for o in options]}}))
    result = sieve_in_process(
        capsys,
        "run",
        "--input",
        str(data_dir / "clipped.warc.gz"),
        "--output",
        str(tmp_path / "o"),
        "--runner",
        runner,
        "--config",
        str(config),
    )
    assert_one_line_error(result, *needles)


def test_direct_runner_jobs_stay_on_the_fn_api_runner(monkeypatch):
    """Beam's DirectRunner hands a job to its Prism runner (a binary it fetches from GitHub) where it can, and falls
    back when that fails, as it does offline: our options keep every job off Prism, with or without a network."""
    from apache_beam.runners.portability import prism_runner

    tried = []

    def offline(self, pipeline, options):
        tried.append(pipeline)
        raise RuntimeError("no network")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", offline)
    with beam.Pipeline(options=pipeline_options("DirectRunner", 1, [])) as p:
        p | beam.Create([1, 2]) | beam.Map(lambda x: x)
    assert not tried
