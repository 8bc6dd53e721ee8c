"""Where a run's time goes, recorded in the manifest (run.phases) and the report: the command's start and its Prefect
server, planning, the Beam job with each worker's warm-up and steady work and the tail where one worker waits for
the others, the corpus passes and publishing. Wall-clock seconds; they describe a run, no output depends on them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sieve.transforms import storage

_MARKS: dict[str, float] = {}


def mark(name: str) -> None:
    """Note the moment this process reached a point the flow cannot see (the command's start, its server ready)."""
    _MARKS.setdefault(name, time.time())


def mark_process_start() -> None:
    """Mark "command" at this process's start (Linux: its age from /proc, to 10 ms), so the interpreter's start and
    the imports before any sieve code count too; elsewhere, now."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = float(Path("/proc/uptime").read_text().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        age = 0.0
    _MARKS.setdefault("command", time.time() - max(age, 0.0))


def marks() -> dict[str, float]:
    return dict(_MARKS)


def workers(range_markers: list[str], since: float) -> dict[str, Any]:
    """Per Beam worker, from the markers of the ranges it finished after `since` (the job's start; earlier ones were
    reused): its warm-up (process start to its first document), when its first range began (seconds after since),
    its steady seconds in ranges, and its idle tail (from its last range's end to the last worker's); ranges reused
    or written before timings were recorded are left out."""
    seen: dict[str, dict[str, Any]] = {}
    for uri in range_markers:
        try:
            timing = json.loads(storage.read_text(uri)).get("timing")
        except (OSError, ValueError):
            continue
        if not timing or timing["began"] < since:
            continue
        w = seen.setdefault(
            timing["worker"], {"ranges": 0, "warmup": 0.0, "first": timing["began"], "steady": 0.0, "last": 0.0}
        )
        w["ranges"] += 1
        w["first"] = min(w["first"], timing["began"])
        w["warmup"] += timing.get("warmup", 0.0)
        w["steady"] += timing["ended"] - timing["began"]
        w["last"] = max(w["last"], timing["ended"])
    end = max((w["last"] for w in seen.values()), default=0.0)
    return {
        name: {
            "ranges": w["ranges"],
            "warmup": round(w["warmup"], 2),
            "first_range": round(w["first"] - since, 2),
            "steady": round(w["steady"], 2),
            "idle_tail": round(end - w["last"], 2),
        }
        for name, w in sorted(seen.items())
    }


def summary(flow_start: float, steps: dict[str, tuple[float, float]], worker_phases: dict[str, Any]) -> dict[str, Any]:
    """run.phases: seconds of each step (start, end as Unix times), from the command's start when the CLI marked it;
    launcher = command start to the flow's start (imports, checks, the lease), server_ready = command start to the
    Prefect server answering (or to the command first needing it, if later), first_record = command start to the
    first range's first document; tail = the longest idle tail of a worker."""
    m = marks()
    origin = m.get("command", flow_start)
    out: dict[str, Any] = {"launcher": round(flow_start - origin, 2)}
    if "server_ready" in m:
        out["server_ready"] = round(m["server_ready"] - origin, 2)
    out |= {name: round(end - start, 2) for name, (start, end) in steps.items()}
    if worker_phases and "beam_job" in steps:
        first = min(w["first_range"] for w in worker_phases.values())
        out["first_record"] = round(steps["beam_job"][0] + first - origin, 2)
    out["workers"] = worker_phases
    out["tail"] = max((w["idle_tail"] for w in worker_phases.values()), default=0.0)
    out["total"] = round(max((end for _, end in steps.values()), default=flow_start) - origin, 2)
    return out
