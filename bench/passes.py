"""A local run's corpus passes alone, on one Beam job's output: in the launcher's in-memory runner (a run without
range processes) against the range processes the job leaves warm (run_job's keep_warm), side by side (issue 24).

    .venv/bin/python bench/passes.py [--copies 10] [--files 24] [--repeat 3] [--workers 2]

Steps: the English input of bench/quality.py's side-by-side part (real article pages; written there if missing); one
Beam job (run_job) into a folder kept as it is; then --repeat rounds, each timing the two ways in turn on a fresh copy
of that folder, at the same path (the dedup index names its run's folder): `in the launcher` runs run_passes with
CorpusJobs.of(cfg, runner, workers); `in range processes` first starts --workers range processes for the run and has
them import Beam, as a finished job leaves them, then runs run_passes with CorpusJobs.of(..., run_dir).
Every Beam job of the passes and every step handed to the range processes (map_here) is timed. The shards, dropped rows and index of the two ways are compared byte for byte.
Prints a table and writes bench/results/passes.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from quality import RESULTS, inputs, write_input  # bench/quality.py, beside this script
from tables import table  # bench/tables.py

from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed
from sieve.schemas.config import load_config
from sieve.transforms import corpus, supervise
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.passes import passes_for
from sieve.transforms.pipeline import run_job

WAYS = ("in the launcher", "in range processes")


def timing_jobs(seconds: list[tuple[str, float]]) -> None:
    """Record each corpus job's wall seconds under the name of the function that ran it (Dedup.statistics: the
    documents job; run_passes: a rewrite)."""
    depth = [0]  # a job timed once, whatever it calls
    for method in ("run", "map_here"):
        untimed = getattr(CorpusJobs, method)

        def timed(self, *args, _untimed=untimed, **kwargs):
            frame = sys._getframe(1)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return _untimed(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    seconds.append((frame.f_code.co_qualname, time.perf_counter() - start))

        setattr(CorpusJobs, method, timed)


def outputs(run_dir: Path) -> dict[str, str]:
    """sha256 of every shard, dropped-row and index file of a run folder."""
    files = [p for d in ("kept", "dropped", "dedup_index") for p in sorted((run_dir / d).rglob("*")) if p.is_file()]
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def passes(job: Path, run_dir: Path, files, warm: bool, workers: int, cfg, seconds: list) -> float:
    """Wall seconds of the run's passes on a fresh copy of the job's output at run_dir."""
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(job, run_dir)
    if warm:
        supervise.warm_up(cfg, str(run_dir), workers)
        for process in list(supervise._live):  # as an idle range process of a run with passes prepares (serve)
            process._ready()
            process.call(exec, "import apache_beam")
    start = time.perf_counter()
    try:
        jobs = CorpusJobs.of(cfg, "DirectRunner", workers, str(run_dir) if warm else None)
        assert (jobs.call is not None) == warm
        run_passes(str(run_dir), committed(str(run_dir), files), passes_for(cfg), cfg.output, jobs)
        return time.perf_counter() - start
    finally:
        supervise.close_idle()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=10, help="copies of the real captures, as bench/quality.py")
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "passes.json"))
    args = ap.parse_args()
    folder = RESULTS / f"english-pages-only-x{args.copies}-{args.files}files"
    write_input(inputs(args.copies)["English pages only"], folder, args.files)
    cfg = load_config()
    files = plan_inputs([str(folder)])
    seconds: list[tuple[str, float]] = []
    timing_jobs(seconds)
    rounds: dict[str, list[dict]] = {way: [] for way in WAYS}
    digests = {}
    with tempfile.TemporaryDirectory(dir=RESULTS) as work:
        job, run_dir = Path(work) / "job", Path(work) / "copy" / "runs" / "r"
        start = time.perf_counter()
        run_job([f.as_dict() for f in files], cfg, str(job), workers=args.workers)
        print(f"Beam job: {time.perf_counter() - start:.1f} s, {len(files)} files", flush=True)
        for r in range(args.repeat):
            for way in WAYS:
                seconds.clear()
                total = passes(job, run_dir, files, way == WAYS[1], args.workers, cfg, seconds)
                jobs: dict[str, float] = {}
                for name, s in seconds:
                    key = name if name not in jobs else f"{name} #{sum(k.startswith(name) for k in jobs) + 1}"
                    jobs[key] = round(s, 3)
                rounds[way].append({"total": round(total, 3), **jobs})
                digests[way] = outputs(run_dir)
                print(f"round {r + 1}: {way:20s} {total:.2f} s", flush=True)
    same = digests[WAYS[0]] == digests[WAYS[1]]
    rows = []
    for way, runs in rounds.items():
        row = {"passes": way, "runs": len(runs)}
        for key in runs[0]:
            row[key] = round(statistics.median(run[key] for run in runs), 2)
        rows.append(row)
    print(
        f"\ncorpus passes alone on one Beam job's output ({folder.name}, {args.workers} workers), wall seconds, medians "
        f"of {args.repeat}; outputs byte-identical: {same}\n{table(rows)}"
    )
    Path(args.json).write_text(json.dumps({"input": folder.name, "same_outputs": same, "rounds": rounds}, indent=1))
    print(f"\nwrote {args.json}")
    if not same:
        sys.exit("the two ways wrote different outputs")


if __name__ == "__main__":
    corpus.log.setLevel("WARNING")
    main()
