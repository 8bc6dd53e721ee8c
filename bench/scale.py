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
  cost      the measured part of docs/scale.md, on tests/data only. Per stage, CPU ms per document: bench/quality.py's
            stage_costs over the 181 real article pages in this process, plus reading and the PII scrub of the kept
            text. Then three runs, each the Beam job (2 workers), the corpus passes and publish's summary (a Beam job
            too: transforms/summary.py), without Prefect: a baseline
            of the four small real files; those plus --cost-copies copies of the article pages; those plus a
            synthetic corpus of --cost-docs documents (flows/synth, with its exact and near duplicates). Each
            run's figures beyond the baseline's, per document it adds, so the fixed costs of a job (starting the
            workers and their range processes) cancel: CPU ms of the job and of the passes (this process and its
            child processes, from getrusage: Beam reaps its workers at each job's end; CPU seconds, not wall time,
            as the machine is shared), bytes entering each shuffle (every GroupByKey's input PCollection: Beam's
            own sampled element size times its element count; a combiner's input before combiner lifting, so an
            upper bound there), bytes of the working files (ranges/, passes/, unedited/; parts/ are removed once
            merged, and hold the same rows as the shards) and of the shards per kept or dropped document; and the
            peak resident memory (VmHWM) of this process, of a Beam worker and of a range process.
  growth    the same measured run (Beam job, corpus passes, publish's summary; 2 workers, no Prefect) on crawls of
            --growth-docs documents (20,000 and 100,000; files of 5,000): the launching process's CPU seconds
            against the whole run's, and the peak memory of the launcher, of a Beam worker and of a range process
            at each size. Targets (issue 23): the launcher's growth under 1% of the run's growth between the two
            sizes, every peak at 100,000 within 1.25x of its peak at 20,000. On Beam's local DirectRunner the
            launching process is also the runner (it holds every shuffle) and its Beam workers are threads of it;
            --growth-runner dask runs the same on a Dask cluster started as an operator starts one (`dask scheduler`,
            two single-threaded `dask worker` processes on 127.0.0.1; a new one per size), where the launcher is
            only the client. The workers' CPU is then read from the cluster's process tree (psutil).
Fixed costs (imports, server start, publish) before and after are measured by bench/fixed_cost.py.

    python bench/scale.py [--copies 5] [--repeat 2] [--skip dask,resume,storage,cost,growth] [--part growth]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import apache_beam as beam
import psutil
import pyarrow.parquet as pq
from apache_beam.metrics import monitoring_infos
from quality import stage_costs  # bench/quality.py, beside this script
from tables import table  # bench/tables.py, beside this script

from sieve.filters.pii import scrubber
from sieve.flows.jobs import run_files
from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed
from sieve.flows.runners import DASK_RUNNER, local_dask_cluster
from sieve.flows.synth.corpus import write_synthetic_corpus
from sieve.schemas.config import Config, load_config
from sieve.transforms import corpus
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.parquet import range_of
from sieve.transforms.passes import passes_for
from sieve.transforms.pipeline import run_job
from sieve.transforms.summary import summarize
from sieve.transforms.supervise import warm_up
from sieve.transforms.warc import read_warc

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "warc"
TEST_DATA = ROOT / "tests" / "data"
ARTICLES = TEST_DATA / "articles" / "articles.warc.gz"
RESULTS = ROOT / "bench" / "results"
SIEVE = str(Path(sys.executable).parent / "sieve")
SMALL = ["warcfile.warc.gz", "clueweb-quirk.warc.gz", "clipped.warc.gz", "block-sized-records.warc.gz"]


def real_input(folder: Path, copies: int, articles: Path = REAL / "articles.warc.gz", small: Path = REAL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        shutil.copy(articles, folder / f"articles-{i}.warc.gz")
    for name in SMALL:
        shutil.copy(small / name, folder / name)
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


# --- cost: the measured part of docs/scale.md -------------------------------------------------------------------

KIB = 1024


def _peak_kib(pid: int | str) -> int:
    """A process's peak resident memory so far (VmHWM, KiB; Linux), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) if found else 0


def _trees(pids: list[int]) -> Iterator[psutil.Process]:
    """Long-lived processes and every live process below them."""
    for pid in pids:
        with suppress(psutil.Error):
            root = psutil.Process(pid)
            yield from [root, *root.children(recursive=True)]


def tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds so far of long-lived processes and everything below them, live or reaped by them."""
    total = 0.0
    for proc in _trees(pids):
        with suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class Usage:
    """CPU seconds and peak resident memory of a block: this process's (the launcher's), and its child processes'
    (Beam's workers and the range process each starts; Beam reaps its workers at each job's end, so getrusage counts
    them whole; a cluster's processes, trees, live on and are read from their process tree). Child peaks are
    sampled every 0.2 s from VmHWM, which only grows, so a sample misses at most the last 0.2 s of a process."""

    def __init__(self, trees: list[int] | None = None) -> None:
        self.trees = trees or []

    def __enter__(self) -> Usage:
        Path("/proc/self/clear_refs").write_text("5")  # resets this process's VmHWM, so the peak is this block's
        for proc in _trees(self.trees):  # and a cluster's processes' (Dask workers live on from block to block)
            with suppress(OSError):
                Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        self._tree_start = tree_cpu_s(self.trees)
        self._start = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (kind, peak KiB)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            for child in me.children(recursive=True):
                with suppress(psutil.Error):
                    kind, peak = self.peaks.get(child.pid) or (_kind(child.cmdline()), 0)
                    self.peaks[child.pid] = (kind, max(peak, _peak_kib(child.pid)))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sampler.join()
        self.launcher_peak_kib = _peak_kib("self")
        end = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
        self.launcher_cpu_s, self.workers_cpu_s = (
            (e.ru_utime + e.ru_stime) - (s.ru_utime + s.ru_stime) for s, e in zip(self._start, end)
        )
        self.workers_cpu_s += tree_cpu_s(self.trees) - self._tree_start

    def peak_kib(self, kind: str) -> int:
        return max([0, *(peak for k, peak in self.peaks.values() if k == kind)])

    def started(self, kind: str) -> int:
        return sum(k == kind for k, _ in self.peaks.values())


def _kind(cmdline: list[str]) -> str:
    """What a child process is: a Beam worker (one per worker slot), the range process each starts (the guard's
    child, which runs the document stages: transforms/supervise.py), a Dask worker (the process its nanny
    spawns), or another (a shell in between, a Dask nanny or scheduler)."""
    line = " ".join(cmdline)
    if "supervise import serve" in line:
        return "range process"
    return "beam worker" if "sdk_worker" in line else "dask worker" if "spawn_main" in line else "other"


COMBINED = "combined: "  # the name prefix of a combiner's input: Beam combines it on the sending side first


def _shuffle_inputs(p: beam.Pipeline) -> dict[str, str]:
    """PCollection id -> the name of the grouping it enters, for every GroupByKey of the job (each Reshuffle and
    CombinePerKey holds one), the ids those the runner reports element counts and sizes under. A CombinePerKey's
    input is named with COMBINED: combiner lifting shrinks it before the shuffle, so its bytes are an upper bound."""
    transforms = p.to_runner_api().components.transforms.values()
    combines = [t.unique_name + "/" for t in transforms if t.spec.urn == "beam:transform:combine_per_key:v1"]
    names = {}
    for t in transforms:
        if t.spec.urn == "beam:transform:group_by_key:v1":
            name = re.sub(r"(/ReshufflePerKey)?/GroupByKey$", "", t.unique_name)
            combined = any(t.unique_name.startswith(c) for c in combines)
            names[next(iter(t.inputs.values()))] = COMBINED + name if combined else name
    return names


@contextmanager
def shuffled(into: dict[str, float]) -> Iterator[None]:
    """Adds to into, by grouping name, the bytes entering each GroupByKey of every Beam job this process runs inside
    the block: Beam's sampled mean element size times its element count, per PCollection. The jobs are the
    pipeline's own (run_job, run_passes), unchanged; only Pipeline.run is wrapped to read their results."""
    run = beam.Pipeline.run

    def recording_run(self, *args, **kwargs):
        inputs = _shuffle_inputs(self)
        result = run(self, *args, **kwargs)
        result.wait_until_finish()
        counts, sizes = {}, {}
        if not hasattr(result, "monitoring_infos"):  # Beam's DaskRunner reports no metrics
            return result
        for info in result.monitoring_infos():
            pcoll = info.labels.get("PCOLLECTION")
            if pcoll in inputs and info.urn == monitoring_infos.ELEMENT_COUNT_URN:
                counts[pcoll] = monitoring_infos.extract_counter_value(info)
            elif pcoll in inputs and info.urn == monitoring_infos.SAMPLED_BYTE_SIZE_URN:
                sampled, total, _, _ = monitoring_infos.extract_distribution(info)
                sizes[pcoll] = total / sampled if sampled else 0.0
        for pcoll, n in counts.items():
            into[inputs[pcoll]] = into.get(inputs[pcoll], 0.0) + n * sizes.get(pcoll, 0.0)
        return result

    beam.Pipeline.run = recording_run
    try:
        yield
    finally:
        beam.Pipeline.run = run


def folder_bytes(run_dir: Path, *names: str) -> int:
    return sum(f.stat().st_size for name in names for f in (run_dir / name).rglob("*") if f.is_file())


WORKING = {"job": ("parts", "ranges"), "passes": ("passes", "unedited")}  # a run's working files, by phase


def measure_run(
    inputs: list[str],
    run_dir: Path,
    cfg: Config,
    workers: int = 2,
    runner: str = "DirectRunner",
    trees: list[int] | None = None,
) -> dict:
    """One run without Prefect or publishing (flows/jobs.py's run_files, with its two phases measured apart): the
    documents, CPU seconds, shuffled bytes and peak memory of the Beam job and of the corpus passes, and the bytes
    of the working files and the shards. Nothing publishes, so the working files are still there to weigh. trees:
    the processes of a cluster the runner uses (their CPU is the workers')."""
    with Usage() as plan:
        files = plan_inputs(inputs)
    shuffles: dict[str, dict[str, float]] = {"job": {}, "passes": {}}
    jobs = CorpusJobs.of(cfg, runner, workers)
    with Usage(trees) as job, shuffled(shuffles["job"]):
        if runner == "DirectRunner":  # as `sieve run` does: the range processes load while the job is built
            warm_up(cfg, str(run_dir), workers)
        run_job([f.as_dict() for f in files], cfg, str(run_dir), runner=runner, workers=workers)
    markers = committed(str(run_dir), files)
    with Usage(trees) as passes, shuffled(shuffles["passes"]):
        run_passes(str(run_dir), markers, passes_for(cfg), cfg.output, jobs)
    with Usage(trees) as publish:
        summary = summarize(str(run_dir), files, committed(str(run_dir), files), jobs)
    phases = {"job": job, "passes": passes, "publish": publish}
    counts, stages = summary["counts"], {q.name for q in passes_for(cfg)}
    moved = sum(n for k, n in summary["dropped_by_reason"].items() if k.split("/", 1)[0] in stages)
    folders = {p.relative_to(run_dir).as_posix() for p in [*(run_dir / "passes").glob("*/*"), run_dir / "unedited"]}
    return {
        "docs": counts["kept"] + counts["dropped"],
        "kept": counts["kept"],
        "dropped": counts["dropped"],
        "passes_docs": counts["kept"] + moved,  # the documents the corpus passes see
        "input_bytes": sum(f.size for f in files),
        "files": len(files),
        "plan_cpu_s": plan.launcher_cpu_s,
        **{f"{phase}_launcher_cpu_s": u.launcher_cpu_s for phase, u in phases.items()},
        **{f"{phase}_workers_cpu_s": u.workers_cpu_s for phase, u in phases.items()},
        **{
            f"{phase}_{kind}_bytes": sum(v for k, v in shuffles[phase].items() if k.startswith(COMBINED) == combined)
            for phase in shuffles
            for kind, combined in (("shuffle", False), ("combined", True))
        },
        **{f"{phase}_working_bytes": folder_bytes(run_dir, *WORKING[phase]) for phase in WORKING},
        "kept_bytes": folder_bytes(run_dir, "kept"),
        "dropped_bytes": folder_bytes(run_dir, "dropped"),
        "shuffles": {f"{phase}: {k}": v for phase in shuffles for k, v in sorted(shuffles[phase].items())},
        "working": {name: folder_bytes(run_dir, name) for name in sorted(folders) if (run_dir / name).is_dir()},
        "launcher_peak_mib": round(max(u.launcher_peak_kib for u in phases.values()) / KIB),
        "beam_worker_peak_mib": round(max(u.peak_kib("beam worker") for u in phases.values()) / KIB),
        **{
            f"{kind.replace(' ', '_')}_peak_mib_by_phase": {k: round(u.peak_kib(kind) / KIB) for k, u in phases.items()}
            for kind in ("beam worker", "dask worker")
        },
        "range_process_peak_mib": round(max(u.peak_kib("range process") for u in phases.values()) / KIB),
        "dask_worker_peak_mib": round(max(u.peak_kib("dask worker") for u in phases.values()) / KIB),
        "processes_started": job.started("beam worker") + job.started("range process"),
    }


def per_document(run: dict, base: dict) -> dict:
    """A run's figures per document, beyond a baseline run of a few files that the run also holds: its differences
    over the documents it adds, so the fixed costs of a job (starting the workers and their range processes, about
    10 CPU seconds here, which a crawl pays once per worker) and the baseline's own documents cancel out, as long as
    both start as many processes (shown: one more range process is about 4 CPU seconds). Peaks are the run's own."""
    docs, kept, dropped, seen = (run[k] - base[k] for k in ("docs", "kept", "dropped", "passes_docs"))

    def per(*keys: str, n: int = docs, scale: float = 1.0) -> float:
        return round(scale * sum(run[k] - base[k] for k in keys) / n, 1)

    return {
        "documents added": docs,
        "seen by the corpus passes": seen,
        "kept": kept,
        "input bytes": per("input_bytes"),
        "job CPU ms": per("job_launcher_cpu_s", "job_workers_cpu_s", scale=1000),
        "job CPU ms, launcher": per("job_launcher_cpu_s", scale=1000),
        "passes CPU ms": per("passes_launcher_cpu_s", "passes_workers_cpu_s", scale=1000),
        "passes CPU ms per document they see": per("passes_launcher_cpu_s", "passes_workers_cpu_s", n=seen, scale=1000),
        "passes CPU ms, launcher": per("passes_launcher_cpu_s", scale=1000),
        "launcher's planning CPU ms per input file": round(1000 * run["plan_cpu_s"] / run["files"], 1),
        "job shuffle bytes": per("job_shuffle_bytes"),
        "job combiner input bytes (upper bound)": per("job_combined_bytes"),
        "passes shuffle bytes": per("passes_shuffle_bytes"),
        "passes shuffle bytes per document they see": per("passes_shuffle_bytes", n=seen),
        "passes combiner input bytes (upper bound)": per("passes_combined_bytes"),
        "job working bytes": per("job_working_bytes"),
        "passes working bytes": per("passes_working_bytes"),
        "kept bytes per kept doc": per("kept_bytes", n=kept),
        "dropped bytes per dropped doc": per("dropped_bytes", n=dropped),
        "launcher peak MiB": run["launcher_peak_mib"],
        "Beam worker peak MiB": run["beam_worker_peak_mib"],
        "range process peak MiB": run["range_process_peak_mib"],
        "job processes started, run / baseline": f"{run['processes_started']} / {base['processes_started']}",
        "shuffles": {k: round((v - base["shuffles"].get(k, 0.0)) / docs, 1) for k, v in run["shuffles"].items()},
        "working": {k: round((v - base["working"].get(k, 0)) / docs, 1) for k, v in run["working"].items()},
    }


def read_and_pii_ms(path: Path, kept_shards: Path, cfg: Config) -> list[dict]:
    """CPU ms per document of reading the WARC records of path, and of the PII scrub of the kept texts of a run
    (already scrubbed there, so the few values found on these pages are not replaced again: a slight undercount)."""
    start = time.process_time()
    docs = sum(item.doc is not None for item in read_warc(str(path), cfg.read.max_payload_bytes))
    read_ms = 1000 * (time.process_time() - start) / docs
    rows = [
        r
        for f in sorted(kept_shards.glob("*.parquet"))
        for r in pq.read_table(f, columns=["text", "language"]).to_pylist()
    ]
    scrub = scrubber(cfg.pii)
    scrub.scrub(rows[0]["text"], rows[0]["language"])  # lazy loads are not counted
    start = time.process_time()
    for row in rows:
        scrub.scrub(row["text"], row["language"])
    pii_ms = 1000 * (time.process_time() - start) / len(rows)
    return [
        {"stage": "read (WARC record -> document)", "docs_in": docs, "dropped": "-", "ms_per_doc": round(read_ms, 3)},
        {"stage": "pii (kept text)", "docs_in": len(rows), "dropped": "-", "ms_per_doc": round(pii_ms, 3)},
    ]


def cost(work: Path, copies: int, docs: int) -> dict:
    """Per-stage CPU ms per document on the real pages, and two measured runs per document beyond a baseline run
    of the four small real files, which both runs also hold (see the module docstring)."""
    cfg = load_config()
    base_input = real_input(work / "cost-base", 0, ARTICLES, TEST_DATA)
    real_input(work / "cost-real", copies, ARTICLES, TEST_DATA)
    shutil.copytree(base_input, work / "cost-synth")
    write_synthetic_corpus(work / "cost-synth", docs, seed=0)
    base = measure_run([str(base_input)], work / "run-base", cfg)
    runs = {
        f"real pages x{copies}": per_document(measure_run([str(work / "cost-real")], work / "run-real", cfg), base),
        f"synthetic {docs}": per_document(measure_run([str(work / "cost-synth")], work / "run-synth", cfg), base),
    }
    rows, _ = stage_costs(ARTICLES, cfg)
    stages = [{k: r[k] for k in ("stage", "docs_in", "dropped", "ms_per_doc")} for r in rows]
    stages += read_and_pii_ms(ARTICLES, work / "run-real" / "kept", cfg)
    return {"stages": stages, "baseline": base, "runs": runs}


def synthetic_input(folder: Path, docs: int, per_file: int) -> Path:
    """A crawl of docs synthetic documents (flows/synth) in files of per_file documents, seeds 0, 1, ...: each file
    holds its own exact and near duplicates."""
    for i in range(0, docs, per_file):
        write_synthetic_corpus(folder / f"seg{i // per_file:04d}", min(per_file, docs - i), seed=i // per_file)
    return folder


def growth(
    work: Path,
    sizes: list[int],
    per_file: int,
    partition_documents: int | None,
    dask: bool = False,
    dask_memory: str | None = None,
) -> dict:
    """The same measured run (Beam job, then corpus passes; 2 workers, no Prefect) at each size of synthetic crawl:
    what the launching process does and the peak memory of every kind of process, and how both grow between the
    smallest and the largest size against the whole run's growth. A launcher that plans and waits grows only with
    the files it plans; a step that holds a share of the corpus in one process shows as a peak that grows. dask:
    on a Dask cluster of two worker processes (one per size) instead of the local DirectRunner, each worker with
    dask_memory as its memory limit when given (Dask spills results to disk past 70% of it)."""
    settings = {"dedup": {"partition_documents": partition_documents}} if partition_documents else {}
    # partition_documents: partitions that grow with the run from the smaller size on, not only past a million
    corpus.SMALL_RUN_DOCUMENTS = 0  # corpus jobs on worker processes at both sizes, not in this process at the smaller
    runs = {}
    for docs in sizes:
        inputs = synthetic_input(work / f"growth-{docs}", docs, per_file)
        started = time.monotonic()
        cluster = local_dask_cluster(work / f"dask-{docs}.log", memory_limit=dask_memory) if dask else nullcontext()
        with cluster as dask_run:
            trees = dask_run.started if dask_run else []
            if dask_run:
                settings["beam"] = {"options": [f"--dask_client_address={dask_run.address}"]}
            override = work / "growth.yaml"
            override.write_text(json.dumps(settings))  # JSON is YAML
            runner = DASK_RUNNER if dask else "DirectRunner"
            run = measure_run(
                [str(inputs)], work / f"growth-run-{docs}", load_config(override), runner=runner, trees=trees
            )
            if dask:
                from dask.distributed import default_client

                with suppress(ValueError):  # the runner's clients (one a job), closed before their cluster goes
                    while True:
                        default_client().close()
        run["runner"] = runner.rsplit(".", 1)[-1]
        run["wall_s"] = round(time.monotonic() - started, 1)
        run["launcher_cpu_s"] = run["plan_cpu_s"] + sum(
            run[f"{k}_launcher_cpu_s"] for k in ("job", "passes", "publish")
        )
        run["run_cpu_s"] = run["launcher_cpu_s"] + sum(run[f"{k}_workers_cpu_s"] for k in ("job", "passes", "publish"))
        runs[docs] = {k: v for k, v in run.items() if not isinstance(v, dict) or k.endswith("_by_phase")}
        shutil.rmtree(work / f"growth-run-{docs}")
        shutil.rmtree(inputs)
        print(f"growth: {docs} documents measured in {run['wall_s']} s", flush=True)
    small, large = runs[min(sizes)], runs[max(sizes)]
    peaks = ("launcher_peak_mib", "dask_worker_peak_mib" if dask else "beam_worker_peak_mib", "range_process_peak_mib")
    return {
        "runs": runs,
        "launcher growth / run growth": round(
            (large["launcher_cpu_s"] - small["launcher_cpu_s"]) / (large["run_cpu_s"] - small["run_cpu_s"]), 4
        ),
        **{f"{k} ratio": round(large[k] / small[k], 3) for k in peaks},
    }


def print_growth(result: dict) -> None:
    keys = ["runner", "docs", "files", "wall_s", "launcher_cpu_s", "run_cpu_s", "launcher_peak_mib"]
    keys += ["beam_worker_peak_mib", "dask_worker_peak_mib", "range_process_peak_mib"]
    keys += ["beam_worker_peak_mib_by_phase", "dask_worker_peak_mib_by_phase"]
    rows = [
        {k: round(run[k], 2) if isinstance(run[k], float) else run[k] for k in keys} for run in result["runs"].values()
    ]
    print("\nThe same run at two sizes of synthetic crawl (Beam job and corpus passes, 2 workers):")
    print(table(rows))
    print(table([{k: v for k, v in result.items() if k != "runs"}]), flush=True)


def print_cost(result: dict) -> None:
    print("\nCPU ms per document that reaches each stage (181 real article pages, one process):")
    print(table(result["stages"]))
    runs = result["runs"]
    scalars = [k for k, v in next(iter(runs.values())).items() if not isinstance(v, dict)]
    print("\nWhole runs (Beam job, then corpus passes; 2 workers), per document beyond the baseline run:")
    print(table([{"figure": k, **{name: run[k] for name, run in runs.items()}} for k in scalars]))
    for part in ("shuffles", "working"):
        keys = sorted({k for run in runs.values() for k in run[part]})
        print(f"\nBytes per document, {'entering each shuffle' if part == 'shuffles' else 'working files by folder'}:")
        print(table([{part: k, **{name: run[part].get(k, 0.0) for name, run in runs.items()}} for k in keys]))
    print(flush=True)


PARTS = ("runners", "resume", "storage", "cost", "growth")  # growth is the longest: about 20 minutes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=5, help="copies of the 181 real article pages, as separate files")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side of the storage comparison")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: dask, resume, storage, cost, growth")
    ap.add_argument("--part", choices=[*PARTS, "growth"], help="run this part only")
    ap.add_argument("--cost-copies", type=int, default=2, help="cost: copies of the real article pages")
    ap.add_argument("--cost-docs", type=int, default=1000, help="cost: documents of the synthetic corpus")
    ap.add_argument("--growth-docs", default="20000,100000", help="growth: the sizes of synthetic crawl to compare")
    ap.add_argument("--growth-file-docs", type=int, default=5000, help="growth: documents per input file")
    ap.add_argument("--growth-partition-documents", type=int, help="growth: dedup.partition_documents (default 1M)")
    ap.add_argument("--growth-runner", choices=["direct", "dask"], default="direct", help="growth: the runner")
    ap.add_argument("--growth-dask-memory", help="growth: each Dask worker's --memory-limit (default: Dask's)")
    ap.add_argument("--json", default=str(RESULTS / "scale.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    parts = [args.part] if args.part else [p for p in PARTS if p not in skip]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.json)
    results: dict = {**(json.loads(out.read_text()) if out.exists() else {}), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp:
        work = Path(tmp)
        folder = real_input(work / "input", args.copies) if {"runners", "resume", "storage"} & set(parts) else None
        if "runners" in parts:
            results["runners"] = runners(folder, work, dask="dask" not in skip)
            print(table(results["runners"]), flush=True)
        if "resume" in parts:
            results["resume"] = resume(folder, work)
            print("\n" + table([results["resume"]]), flush=True)
        if "storage" in parts:
            results["storage"] = storage(folder, work, args.repeat)
            print("\n" + table([results["storage"]]), flush=True)
        if "cost" in parts:
            results["cost"] = cost(work, args.cost_copies, args.cost_docs)
            print_cost(results["cost"])
        if "growth" in parts:
            sizes = [int(n) for n in args.growth_docs.split(",")]
            dask = args.growth_runner == "dask"
            key = "growth-dask" if dask else "growth"
            key += f"-{args.growth_dask_memory}" if dask and args.growth_dask_memory else ""
            results[key] = growth(
                work, sizes, args.growth_file_docs, args.growth_partition_documents, dask, args.growth_dask_memory
            )
            print_growth(results[key])
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json} ({', '.join(parts)})")


if __name__ == "__main__":
    main()
