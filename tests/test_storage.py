"""The storage layer against a real S3 API (moto's server on loopback) and the local disk; a whole run from bucket
to bucket equals a local run byte for byte; missing credentials are one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sieve.transforms import storage

SIEVE = str(Path(sys.executable).parent / "sieve")
pytestmark = pytest.mark.usefixtures("prefect_api")  # one Prefect server for the session


@pytest.mark.parametrize("root", ["local", "s3"])
def test_write_read_list_delete_round_trip(root, tmp_path, request):
    base = str(tmp_path) if root == "local" else f"s3://corpus/unit-{request.node.name[-6:-1]}"
    if root == "s3":
        request.getfixturevalue("s3_env")
    storage.write_text(storage.join(base, "a", "x.json"), '{"n": 1}')
    storage.write_bytes(storage.join(base, "b.bin"), b"\x00\x01")
    assert [storage.relative(f.uri, base) for f in storage.list_files(base)] == ["a/x.json", "b.bin"]
    assert json.loads(storage.read_text(storage.join(base, "a", "x.json"))) == {"n": 1}
    assert storage.stat(storage.join(base, "b.bin")).size == 2 and storage.is_dir(base)
    with storage.open_input(storage.join(base, "a", "x.json"), start=2) as f:
        assert f.read() == b'n": 1}'
    storage.delete_tree(storage.join(base, "a"))
    storage.delete(storage.join(base, "missing"))  # missing is fine
    assert [storage.relative(f.uri, base) for f in storage.list_files(base)] == ["b.bin"]


def sieve(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SIEVE, "run", *args], capture_output=True, text=True, cwd=cwd, timeout=300, env={**os.environ, **env}
    )


def shards(manifest: dict, read) -> dict[str, bytes]:
    return {s["path"]: read(s["path"]) for kind in ("kept", "dropped") for s in manifest["shards"][kind]}


@pytest.mark.slow
def test_a_run_from_bucket_to_bucket_equals_a_local_run_byte_for_byte(s3_env, crawl_dir, crawl_run, tmp_path):
    import boto3

    s3 = boto3.client("s3")
    names = sorted(p.name for p in crawl_dir.iterdir())
    for name in names:
        s3.upload_file(str(crawl_dir / name), "warcs", f"crawl/{name}")
    remote = sieve(
        "--input",
        "s3://warcs/crawl",
        "--output",
        "s3://corpus/run",
        "--runner",
        "DirectRunner",
        "--workers",
        "1",
        env=s3_env,
        cwd=tmp_path,
    )
    assert remote.returncode == 0, remote.stderr[-3000:]

    local_out, local_manifest, _ = crawl_run  # the same files read from the local disk
    remote_manifest = json.loads(storage.read_text("s3://corpus/run/manifest.json"))
    assert remote_manifest["counts"] == local_manifest["counts"] and remote_manifest["counts"]["read"] == 96
    assert [i["uri"] for i in remote_manifest["inputs"]] == [f"s3://warcs/crawl/{n}" for n in names]
    assert [i["sha256"] for i in remote_manifest["inputs"]] == [i["sha256"] for i in local_manifest["inputs"]]
    remote_shards = shards(remote_manifest, lambda p: storage.read_bytes(f"s3://corpus/run/{p}"))
    assert remote_shards == shards(local_manifest, lambda p: (local_out / p).read_bytes())
    assert storage.exists("s3://corpus/run/report.md") and storage.exists("s3://corpus/run/report.html")
    leftovers = [
        f.uri for f in storage.list_files("s3://corpus/run/runs") if "/parts/" in f.uri or "/progress/" in f.uri
    ]
    assert not leftovers


def test_missing_credentials_are_one_line_naming_the_variables(s3_env, tmp_path):
    import boto3

    boto3.client("s3").put_object(Bucket="warcs", Key="one/a.warc.gz", Body=b"WARC/1.0\r\n")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = subprocess.run(
        [SIEVE, "run", "--input", "s3://warcs/one", "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sieve: error: cannot read s3://warcs/one/a.warc.gz") and "AWS_ACCESS_KEY_ID" in line


def test_parquet_written_table_by_table_equals_one_write_of_all_rows(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = [pa.table({"n": list(range(i, i + k))}) for i, k in ((0, 2), (2, 5), (7, 1), (8, 4))]
    storage.write_parquet(str(tmp_path / "x.parquet"), parts[0].schema, iter(parts), "zstd", row_group_rows=3)
    whole = io.BytesIO()
    pq.write_table(pa.concat_tables(parts), whole, compression="zstd", row_group_size=3)
    assert (tmp_path / "x.parquet").read_bytes() == whole.getvalue()
    assert [pq.ParquetFile(tmp_path / "x.parquet").metadata.row_group(i).num_rows for i in range(4)] == [3, 3, 3, 3]


@pytest.mark.parametrize("env, backend", [({}, "system"), ({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, "mimalloc")])
def test_a_sieve_process_allocates_arrow_buffers_from_the_system_allocator_unless_told(env, backend):
    """mimalloc keeps freed pages, so long-lived workers grew with the run (docs/scale.md); a user's choice wins."""
    child = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"  # a process sieve starts
    code = (
        "import subprocess, sys, pyarrow as pa; from sieve.transforms import storage; "
        f"print(pa.default_memory_pool().backend_name); subprocess.run([sys.executable, '-c', {child!r}])"
    )
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [backend, backend]
