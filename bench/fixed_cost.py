"""Fixed cost of a short `sieve run`: what it pays besides the documents, before (commit 1aa772d) and after (this tree).

Pieces, each the median of --repeat runs, before and after interleaved (the machine is shared):
  usage error        wall time of `sieve run --input <missing>` (the answer to a typo)
  imports            wall time of a bare `python -c` importing the CLI and the flow module (what a run imports first)
  server ready       spawn -> health check answered, of the Prefect server the way each version starts it
                     (before: Prefect's ephemeral server, started by the flow call; after: flows/server.py)
  start -> flow      command start -> the flow's first log line (imports, checks, server start; overlapped after)
  flow end -> exit   the flow's last log line -> the command exits (summary, stopping the server)
  total              wall time of the whole `sieve run`, on tests/data/articles-sample.warc.gz and on --warcs
"Before" runs from a `git worktree` of 1aa772d (bare imports `flows`, `schemas`, ...) on the same venv.

    python bench/fixed_cost.py [--repeat 3] [--warcs '/work/shared/data/warc/*.warc.gz']
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fixed_cost.json"
BEFORE_COMMIT = "1aa772d"
BEFORE_TREE = Path(tempfile.gettempdir()) / "sieve-before"
SAMPLE = ROOT / "tests" / "data" / "articles-sample.warc.gz"

BEFORE_SERVER = """
import time
from flows.prefect_env import configure_prefect
configure_prefect()
from prefect.server.api.server import SubprocessASGIServer
start = time.perf_counter()
server = SubprocessASGIServer()
server.start()
print(time.perf_counter() - start)
server.stop()
"""
AFTER_SERVER = """
import time
from sieve.flows.server import PrefectServer
start = time.perf_counter()
with PrefectServer() as server:
    server.wait_ready()
    print(time.perf_counter() - start)
"""


@dataclass
class Version:
    name: str
    sieve: list[str]  # how to call the `sieve` command
    env: dict[str, str]
    modules: str  # what `sieve run` imports before its flow starts
    server_script: str


def versions(home: str) -> list[Version]:
    if not BEFORE_TREE.exists():
        # --force: a checkout that was deleted from /tmp is still registered with git
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(BEFORE_TREE), BEFORE_COMMIT],
            check=True,
            capture_output=True,
        )
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PYTHONPATH")}
    env.update(SIEVE_HOME=home, PYTHONWARNINGS="ignore")
    return [
        Version(
            "before",
            [sys.executable, "-m", "flows.cli"],
            {**env, "PYTHONPATH": str(BEFORE_TREE)},
            "flows.cli, flows.curate",
            BEFORE_SERVER,
        ),
        Version(
            "after",
            [str(Path(sys.executable).parent / "sieve")],
            env,
            "sieve.flows.cli, sieve.flows.curate",
            AFTER_SERVER,
        ),
    ]


def wall(cmd: list[str], env: dict[str, str], expect: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds


def server_ready(v: Version) -> float:
    done = subprocess.run(
        [sys.executable, "-c", v.server_script], env=v.env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def timed_run(v: Version, inputs: str, out: Path) -> dict[str, float]:
    """One real `sieve run`, every output line timestamped: where the flow starts and ends, when the command exits."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*v.sieve, "run", "--input", inputs, "--output", str(out)],
        env=v.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    flow_start = flow_end = None
    tail = []
    for line in proc.stdout:
        now = time.perf_counter() - start
        tail = (tail + [line])[-30:]
        if "Beginning flow run" in line and flow_start is None:
            flow_start = now
        if "flow_runs" in line and "Finished in state" in line:
            flow_end = now
    total = time.perf_counter() - start
    if proc.wait() != 0 or flow_start is None or flow_end is None:
        raise RuntimeError(f"{v.name} run on {inputs} failed (exit {proc.returncode}):\n{''.join(tail)}")
    return {
        "start -> flow": flow_start,
        "flow": flow_end - flow_start,
        "flow end -> exit": total - flow_end,
        "total": total,
    }


def measure(vs: list[Version], repeat: int, warcs: str, work: Path) -> dict[str, dict[str, list[float | str]]]:
    """Every piece of every repeat, per version; a failed run is recorded as "failed" and the rest goes on."""
    runs: dict[str, dict[str, list[float | str]]] = {v.name: {} for v in vs}

    def record(v: Version, piece: str, value: float | str) -> None:
        runs[v.name].setdefault(piece, []).append(value)

    for v in vs:  # warm-up: the first server start in a fresh PREFECT_HOME creates its database
        server_ready(v)
    for i in range(repeat):
        for v in vs:
            record(
                v,
                "usage error",
                wall(
                    [*v.sieve, "run", "--input", str(work / "missing.warc.gz"), "--output", str(work / "never")],
                    v.env,
                    expect=2,
                ),
            )
            record(v, "imports", wall([sys.executable, "-c", f"import {v.modules}"], v.env))
            record(v, "server ready", server_ready(v))
            for label, inputs in (("sample", str(SAMPLE)), ("warcs", warcs)):
                try:
                    pieces = timed_run(v, inputs, work / f"{v.name}-{label}-{i}")
                except RuntimeError as e:
                    print(f"  {e}", file=sys.stderr)
                    record(v, f"total ({label})", "failed")
                    continue
                if label == "sample":
                    for piece in ("start -> flow", "flow end -> exit"):
                        record(v, piece, pieces[piece])
                record(v, f"total ({label})", pieces["total"])
        print(f"repeat {i + 1}/{repeat} done", file=sys.stderr)
    return runs


def median(values: list[float | str]) -> float | None:
    numbers = [x for x in values if isinstance(x, float)]
    return round(statistics.median(numbers), 2) if numbers else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warcs", default="/work/shared/data/warc/*.warc.gz", help="a second, bigger input (a glob)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sieve-fixed-cost-") as tmp:
        vs = versions(str(Path(tmp) / "home"))
        runs = measure(vs, args.repeat, args.warcs, Path(tmp))
    pieces = list(runs["after"])
    table = {p: {v: median(runs[v].get(p, [])) for v in runs} for p in pieces}
    print(f"\n| piece (median of {args.repeat}, seconds) | before ({BEFORE_COMMIT}) | after | saved |")
    print("|---|---|---|---|")
    for p, row in table.items():
        saved = f"{row['before'] - row['after']:+.2f}" if None not in row.values() else "n/a"
        print(f"| {p} | {row['before']} | {row['after']} | {saved} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "before": {"commit": BEFORE_COMMIT, **{p: table[p]["before"] for p in pieces}},
                "after": {"tree": "working tree", **{p: table[p]["after"] for p in pieces}},
                "runs": runs,
                "repeat": args.repeat,
                "inputs": {"sample": str(SAMPLE), "warcs": args.warcs},
                "cpus": os.cpu_count(),
                "load_average_1min": {"start": load, "end": os.getloadavg()[0]},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
