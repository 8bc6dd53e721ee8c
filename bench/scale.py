"""Scale figures on one real input, side by side in one run: Beam throughput per runner, resume after a kill at
half way against a full run, and an S3 (moto on loopback) run against a local one.

The input is the real pages of ../shared/data/warc: articles.warc.gz copied --copies times as separate files,
plus the four small real files (989 records with the default 5 copies).
  runners   in-process Beam job only (no Prefect): DirectRunner with 1 and 2 workers, DaskRunner on a 2-worker
            LocalCluster (started before the clock); docs/s = records read / job seconds
  resume    `sieve run` whole; then the same command killed (SIGKILL) once half of the input's bytes are in
            finished record ranges, and rerun: the rerun's wall time against the whole run's
  storage   `sieve run` from a local folder to a local folder against s3:// to s3:// (moto server), --repeat
            times each, interleaved; medians and their ratio
Fixed costs (imports, server start, publish) before and after are measured by bench/fixed_cost.py.

    python bench/scale.py [--copies 5] [--repeat 2] [--skip dask,resume,storage]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sieve.flows.jobs import run_files
from sieve.schemas.config import load_config
from sieve.transforms.parquet import range_of

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "warc"
RESULTS = ROOT / "bench" / "results"
SIEVE = str(Path(sys.executable).parent / "sieve")
SMALL = ["warcfile.warc.gz", "clueweb-quirk.warc.gz", "clipped.warc.gz", "block-sized-records.warc.gz"]


def real_input(folder: Path, copies: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        shutil.copy(REAL / "articles.warc.gz", folder / f"articles-{i}.warc.gz")
    for name in SMALL:
        shutil.copy(REAL / name, folder / name)
    return folder


def beam_rate(folder: Path, work: Path, runner: str, workers: int, options: list[str]) -> dict:
    cfg = load_config()
    cfg = cfg.model_copy(update={"beam": cfg.beam.model_copy(update={"options": options})})
    run_dir = str(work / f"{runner.rsplit('.', 1)[-1]}-{workers}")
    start = time.perf_counter()
    _, summary = run_files([str(folder)], cfg, run_dir, runner=runner, workers=workers)
    seconds = time.perf_counter() - start
    read = summary["counts"]["read"]
    return {
        "runner": runner.rsplit(".", 1)[-1],
        "workers": workers,
        "records": read,
        "seconds": round(seconds, 2),
        "docs_per_s": round(read / seconds, 1),
    }


def runners(folder: Path, work: Path, dask: bool) -> list[dict]:
    rows = [beam_rate(folder, work, "DirectRunner", w, []) for w in (1, 2)]
    if dask:
        from dask.distributed import LocalCluster, default_client

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            rows.append(
                beam_rate(
                    folder,
                    work,
                    "apache_beam.runners.dask.dask_runner.DaskRunner",
                    2,
                    [f"--dask_client_address={cluster.scheduler_address}"],
                )
            )
            default_client().close()  # the runner's client, closed before its cluster goes
    return rows


def sieve_run(inputs: str, output: str, env: dict | None = None, extra: tuple[str, ...] = ()) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [SIEVE, "run", "--input", inputs, "--output", output, "--workers", "2", *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise SystemExit(f"sieve run failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def finished_bytes(out: Path) -> int:
    return sum(end - start for _, start, end in map(range_of, map(str, out.glob("runs/*/ranges/*.json"))))


def resume(folder: Path, work: Path) -> dict:
    whole = sieve_run(str(folder), str(work / "whole"))
    out = work / "killed"
    total = sum(p.stat().st_size for p in folder.glob("*.warc.gz"))
    proc = subprocess.Popen(
        [SIEVE, "run", "--input", str(folder), "--output", str(out), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while finished_bytes(out) < total / 2 and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    share = finished_bytes(out) / total
    rerun = sieve_run(str(folder), str(out))
    return {
        "finished_at_kill": f"{share:.0%}",
        "whole_run_s": round(whole, 2),
        "rerun_after_kill_s": round(rerun, 2),
        "rerun_vs_whole": round(rerun / whole, 3),
    }


def storage(folder: Path, work: Path, repeat: int) -> dict:
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="crawl")
        s3.create_bucket(Bucket="corpus")
        for path in sorted(folder.glob("*.warc.gz")):
            s3.upload_file(str(path), "crawl", f"warc/{path.name}")
        local, remote = [], []
        for i in range(repeat):
            local.append(sieve_run(str(folder), str(work / f"local-{i}")))
            remote.append(sieve_run("s3://crawl/warc", f"s3://corpus/run-{i}", env))
    finally:
        server.kill()
        server.wait()
    return {
        "local_s": round(statistics.median(local), 2),
        "s3_s": round(statistics.median(remote), 2),
        "s3_vs_local": round(statistics.median(remote) / statistics.median(local), 3),
        "runs_each": repeat,
    }


def table(rows: list[dict]) -> str:
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)), "-+-".join("-" * w for w in widths)]
    return "\n".join(lines + [" | ".join(str(r[h]).ljust(w) for h, w in zip(headers, widths)) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=5, help="copies of the 181 real article pages, as separate files")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side of the storage comparison")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: dask, resume, storage")
    ap.add_argument("--json", default=str(RESULTS / "scale.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp:
        work = Path(tmp)
        folder = real_input(work / "input", args.copies)
        results["runners"] = runners(folder, work, dask="dask" not in skip)
        print(table(results["runners"]), flush=True)
        if "resume" not in skip:
            results["resume"] = resume(folder, work)
            print("\n" + table([results["resume"]]), flush=True)
        if "storage" not in skip:
            results["storage"] = storage(folder, work, args.repeat)
            print("\n" + table([results["storage"]]), flush=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
