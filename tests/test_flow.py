"""The curate flow end to end, on the real Prefect ephemeral server and the real Beam DirectRunner."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


def test_sieve_run_publishes_kept_dropped_manifest_and_report(crawl_run):
    out, manifest, result = crawl_run
    assert "| kept    |" in result.stdout and f"manifest: {out / 'manifest.json'}" in result.stdout

    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["dropped"] + c["skipped"] == 96
    assert len(manifest["inputs"]) == 5 and all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["config"]["extract"]["extractor"] == "trafilatura" and len(manifest["config_hash"]) == 16
    assert manifest["versions"]["apache-beam"] == "2.77.0"
    kept_rows = sum(pq.read_metadata(out / s["path"]).num_rows for s in manifest["shards"]["kept"])
    assert kept_rows == c["kept"] == sum(s["rows"] for s in manifest["shards"]["kept"])
    assert "read/truncated_record" in (out / "report.md").read_text()
    assert "## Deduplication" in (out / "report.md").read_text() and "dedup" in manifest["passes"]
    run_dir = out / manifest["run_dir"]
    # no working files left; the dedup index and the texts dedup edited stay with the run
    assert sorted(p.name for p in run_dir.iterdir()) == ["dedup_index", "done", "dropped", "kept", "unedited"]


def test_curate_flow_is_recorded_by_the_prefect_server_and_reruns_are_skipped(data_dir, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from sieve.flows.curate import curate

    out = str(tmp_path / "out")
    inputs = [str(data_dir / "warcfile.warc.gz"), str(data_dir / "clipped.warc.gz")]
    state = curate(inputs=inputs, output=out, workers=1, return_state=True)
    assert state.is_completed()
    manifest = state.result()
    assert manifest["counts"]["read"] == 51
    first_bytes = shard_bytes(out, manifest)

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        this_run = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))  # the server also holds other tests' runs
        tasks = client.read_task_runs(flow_run_filter=this_run)
        flow_name = client.read_flow(run.flow_id).name
        artifacts = client.read_artifacts(flow_run_filter=this_run)
    assert run.state.is_completed() and flow_name == "curate"
    assert {"plan-inputs", "beam-job-1-of-1", "publish"} <= {t.name.rsplit("-", 1)[0] for t in tasks}
    check_artifacts(artifacts, out, manifest)

    mtime = Path(out, "manifest.json").stat().st_mtime_ns
    assert curate(inputs=inputs, output=out, workers=1)["counts"] == manifest["counts"]
    assert Path(out, "manifest.json").stat().st_mtime_ns == mtime  # up to date: nothing rewritten

    forced = curate(inputs=inputs, output=out, workers=1, force=True)
    assert forced["run_dir"] != manifest["run_dir"] and not Path(out, manifest["run_dir"]).exists()
    assert list(shard_bytes(out, forced).values()) == list(first_bytes.values())


def check_artifacts(artifacts: list, out: str, manifest: dict) -> None:
    """The flow run's artifacts, read back from the server: its counts table, its funnel down to the kept count and
    the link to its report.html, under the keys of its output."""
    from sieve.flows.artifacts import artifact_key

    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {artifact_key(kind, out) for kind in ("counts", "funnel", "report")}
    counts = {r["records"]: r["count"] for r in json.loads(by_key[artifact_key("counts", out)].data)}
    assert {k: counts[k] for k in manifest["counts"]} == manifest["counts"]
    assert counts["dropped: read/truncated_record"] == manifest["dropped_by_reason"]["read/truncated_record"]
    funnel = by_key[artifact_key("funnel", out)].data.splitlines()
    assert funnel[-1].startswith("| dedup ") and funnel[-1].endswith(f" {manifest['counts']['kept']} |")
    assert Path(out, "report.html").as_uri() in by_key[artifact_key("report", out)].data


def test_artifact_keys_stay_the_same_for_every_crawl_of_a_schedule_and_differ_per_output():
    from sieve.flows.artifacts import artifact_key

    key = artifact_key("funnel", "s3://corpus/{latest}/")
    assert key == artifact_key("funnel", "s3://corpus/{latest}") and re.fullmatch(r"[a-z0-9-]+", key)
    assert key.startswith("sieve-funnel-s3-corpus-latest-") and key != artifact_key("funnel", "s3://corpus2/{latest}")


def test_sieve_run_writes_a_dataset_card_that_datasets_loads(crawl_run, hf_datasets, tmp_path):
    out, manifest, _ = crawl_run
    assert manifest["kept_by_language"] == {"en": manifest["counts"]["kept"]}  # tests/data keeps English pages only
    ids = sorted(i for s in manifest["shards"]["kept"] for i in pq.read_table(out / s["path"])["doc_id"].to_pylist())
    for config in (None, "en"):
        assert sorted(hf_datasets.load_dataset(str(out), config, cache_dir=str(tmp_path))["train"]["doc_id"]) == ids


def shard_bytes(out: str, manifest: dict) -> dict[str, bytes]:
    return {
        s["path"]: Path(out, s["path"]).read_bytes() for kind in ("kept", "dropped") for s in manifest["shards"][kind]
    }


def test_prefect_state_lives_in_a_project_local_folder_with_telemetry_off(tmp_path, monkeypatch):
    from sieve.flows.prefect_env import configure_prefect

    for var in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "SIEVE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    home = configure_prefect()
    assert home == tmp_path / ".sieve" / "prefect" and home.is_dir()
    assert os.environ["PREFECT_HOME"] == str(home)
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
