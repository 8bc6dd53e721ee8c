"""A flaky object store, for real: `sieve run` reads its input from and writes its output to moto's S3 server on
loopback through the fault-injecting proxy of tests/s3_faults.py. With 5% of the requests answered 500, 503 or 503
SlowDown, reset half way through the answer or stalled for 1 s, the run publishes the bytes a clean run publishes, in
at most twice its time plus the stalls it met. A store that goes down while the last record range is written ends the run with one line
naming the location and what to do, within a bounded time; once the store is back, the same command resumes from the
finished ranges and publishes the same bytes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sieve.transforms import storage
from tests.conftest import DATA, SIEVE, write_config
from tests.s3_faults import DEFAULT_RATES, FaultProxy

INPUT = "articles-sample.warc.gz"  # 12 real pages
INPUTS = "s3://warcs/s3-faults"
# Ranges of 3 records (4 ranges); the fast extractor, and no stage that loads a model: the store's traffic is the test.
CONFIG = """
read: {records_per_split: 3}
extract: {extractor: resiliparse}
url_filter: {enabled: false}
language_id: {enabled: false}
pii: {enabled: false}
"""
SEED = 121  # its faults: 21 in the first 420 requests (3 to 5 of each kind), every kind within the first 52
TRIES = 3  # AWS_MAX_ATTEMPTS of the run that meets the store down: waits of at most 1 + 2 s per request

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


# Reads every object named on the command line with the storage layer and prints its size and SHA-256.
READER = """
import hashlib, sys
from sieve.transforms import storage

for uri in sys.argv[1:]:
    data = storage.read_bytes(uri)
    print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""


@dataclass
class Run:
    done: subprocess.CompletedProcess
    seconds: float  # wall time


@dataclass
class Clean:
    """The run through the proxy with no fault: what the others must publish, its time, and its requests in order."""

    config: str
    shards: dict[str, bytes]
    seconds: float
    requests: list[tuple[str, str, str | None]]


def sieve(output: str, endpoint: str, config: str, **env: str) -> Run:
    """`sieve run` of INPUTS into output, its S3 clients pointed at endpoint."""
    start = time.monotonic()
    done = subprocess.run(
        [SIEVE, "run", "--input", INPUTS, "--output", output, "--workers", "1", "--config", config],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(config).parent,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint, "PYTHONWARNINGS": "ignore", **env},
    )
    return Run(done, time.monotonic() - start)


def published(output: str) -> dict[str, bytes]:
    """The bytes of every shard output's manifest lists, by path (read straight from moto, not through the proxy)."""
    manifest = json.loads(storage.read_text(f"{output}/manifest.json"))
    listed = [s["path"] for kind in ("kept", "dropped") for s in manifest["shards"][kind]]
    return {path: storage.read_bytes(f"{output}/{path}") for path in listed}


@pytest.fixture(scope="module")
def clean(s3_env, tmp_path_factory) -> Clean:
    import boto3

    boto3.client("s3").upload_file(str(DATA / INPUT), "warcs", f"s3-faults/{INPUT}")
    config = write_config(tmp_path_factory.mktemp("s3-faults") / "config.yaml", CONFIG)
    with FaultProxy(s3_env["AWS_ENDPOINT_URL"], rates={}) as proxy:
        run = sieve("s3://corpus/s3-faults-clean", proxy.url, config)
    assert run.done.returncode == 0, run.done.stderr[-3000:]
    shards = published("s3://corpus/s3-faults-clean")
    assert len(shards) == 1 and all(shards.values())  # the kept shard (the config drops none of these pages)
    return Clean(config, shards, run.seconds, proxy.log)


def test_reads_through_broken_answers_get_whole_objects(s3_env):
    """Small objects read while a quarter of the answers are S3 errors or cut half way: every read returns the whole
    object. (pyarrow does not retry an error answer to a small read itself: its XML body overflows the read.)"""
    import boto3

    objects = {f"s3://corpus/s3-faults-reads/{i}.json": json.dumps({"n": i}).encode() * (i + 1) for i in range(10)}
    for uri, data in objects.items():
        boto3.client("s3").put_object(Bucket="corpus", Key=uri.removeprefix("s3://corpus/"), Body=data)
    with FaultProxy(s3_env["AWS_ENDPOINT_URL"], seed=SEED, rates={"500": 0.05, "slowdown": 0.1, "reset": 0.1}) as proxy:
        done = subprocess.run(
            [sys.executable, "-c", READER, *objects],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = [f"{len(data)} {hashlib.sha256(data).hexdigest()}" for data in objects.values()]
    assert done.stdout.splitlines() == expected
    broken = Counter(kind for method, _, kind in proxy.log if method == "GET" and kind)
    assert broken["500"] + broken["slowdown"] and broken["reset"], broken  # the reads themselves met both


def test_a_run_through_a_flaky_store_publishes_the_clean_runs_bytes_in_at_most_twice_its_time_and_stalls(s3_env, clean):
    with FaultProxy(s3_env["AWS_ENDPOINT_URL"], seed=SEED) as proxy:
        run = sieve("s3://corpus/s3-faults-flaky", proxy.url, clean.config)
    faults = {kind: proxy.counts[kind] for kind in DEFAULT_RATES}
    assert run.done.returncode == 0, (faults, run.done.stderr[-3000:])
    assert published("s3://corpus/s3-faults-flaky") == clean.shards
    assert all(faults.values()), faults  # every kind of fault was met
    # twice the clean run's time, plus the stalls met: each is a wait the store imposes, whatever the client does
    assert run.seconds <= 2 * clean.seconds + proxy.stall_seconds * faults["stall"], (
        run.seconds,
        clean.seconds,
        faults,
    )


def test_a_store_that_goes_down_ends_the_run_in_one_line_and_the_same_command_resumes_once_it_is_back(s3_env, clean):
    out = "s3://corpus/s3-faults-down"
    # The store goes down at the first request for the last range's kept part (the names sort by record offset).
    parts = [
        path.split("?")[0].rsplit("/parts/kept/", 1)[-1] for _, path, _ in clean.requests if "/parts/kept/" in path
    ]
    down_after = next(i for i, (_, path, _) in enumerate(clean.requests) if max(parts) in path)
    with FaultProxy(s3_env["AWS_ENDPOINT_URL"], rates={}, down_after=down_after) as proxy:
        run = sieve(out, proxy.url, clean.config, AWS_MAX_ATTEMPTS=str(TRIES))
        assert proxy.down_at is not None
        took = time.monotonic() - proxy.down_at

        said = run.done.stderr.strip().splitlines()
        errors = [line for line in said if line.startswith("sieve: error: ")]
        assert run.done.returncode == 1 and errors == said[-1:], run.done.stderr[-3000:]
        # Beam and Prefect log the failure with its traceback as it passes them; once the flow has ended, no more.
        ended = max(i for i, line in enumerate(said) if "Finished in state Failed" in line)
        assert all(line.startswith(("WARNING:", "sieve: error: ")) for line in said[ended + 1 :]), said[ended + 1 :]
        assert re.match(rf"sieve: error: cannot (read|write|list) {out}/runs/\S+: ", errors[0]), errors[0]
        assert errors[0].endswith(
            f"(the store did not answer after {TRIES} tries: check AWS_ENDPOINT_URL and the network, then run the "
            "same command again, which resumes from the work already finished)"
        )
        assert took < 30, took  # a few requests' tries (at most 3 s of waits each), not minutes
        assert not storage.exists(f"{out}/manifest.json")
        finished = [f.uri for f in storage.list_files(f"{out}/runs") if "/ranges/" in f.uri]
        assert 0 < len(finished) < len(set(parts)), finished

        proxy.stop()
        proxy.down_after = None
        proxy.start()  # the store is back, at the same address
        rerun = sieve(out, proxy.url, clean.config)
    assert rerun.done.returncode == 0, rerun.done.stderr[-3000:]
    assert f"reusing {len(finished)} finished record ranges" in rerun.done.stderr
    assert published(out) == clean.shards
