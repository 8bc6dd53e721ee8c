"""Where a run's time goes: run.phases in the manifest, from the command's marks and the range markers' timings."""

from __future__ import annotations

import json
import re

from sieve.flows import phases


def _marker(path, worker: str, began: float, ended: float, warmup: float | None = None) -> str:
    timing = {"worker": worker, "began": began, "ended": ended} | ({"warmup": warmup} if warmup is not None else {})
    path.write_text(json.dumps({"read": 1, "timing": timing}))
    return str(path)


def test_workers_sum_their_ranges_and_the_tail_is_measured_from_the_last_worker(tmp_path):
    markers = [
        _marker(tmp_path / "a1.json", "h:1", 100.0, 103.0, warmup=2.0),
        _marker(tmp_path / "a2.json", "h:1", 103.0, 104.5),
        _marker(tmp_path / "b1.json", "h:2", 100.5, 110.0, warmup=2.5),
        _marker(tmp_path / "old.json", "h:3", 50.0, 60.0, warmup=9.0),  # reused from an earlier run: left out
    ]
    (tmp_path / "torn.json").write_text("{")
    got = phases.workers([*markers, str(tmp_path / "torn.json"), str(tmp_path / "gone.json")], since=96.0)
    assert got == {
        "h:1": {"ranges": 2, "warmup": 2.0, "first_range": 4.0, "steady": 4.5, "idle_tail": 5.5},
        "h:2": {"ranges": 1, "warmup": 2.5, "first_range": 4.5, "steady": 9.5, "idle_tail": 0.0},
    }
    summary = phases.summary(95.0, {"plan": (95.0, 96.0), "beam_job": (96.0, 111.0)}, got)
    assert summary["plan"] == 1.0 and summary["beam_job"] == 15.0 and summary["tail"] == 5.5
    origin = phases.marks().get("command", 95.0)  # the command's start where this process marked one, else the flow's
    assert summary["first_record"] == round(100.0 - origin, 2)  # h:1's first range began at 100


def test_a_published_run_records_its_phases(crawl_run):
    """The CLI's run: the command's start and its server, planning, each Beam worker's warm-up and steady seconds,
    the tail, the passes and publishing, in seconds that add up within the total."""
    out, manifest, _ = crawl_run
    p = manifest["run"]["phases"]
    assert {
        "launcher",
        "server_ready",
        "plan",
        "beam_job",
        "passes",
        "publish",
        "tail",
        "total",
        "first_record",
    } <= set(p)
    assert len(p["workers"]) == 2  # --workers 2 on the DirectRunner: two worker processes, each ran ranges
    for w in p["workers"].values():
        assert w["ranges"] >= 1 and w["warmup"] > 0 and w["steady"] > 0 and w["idle_tail"] >= 0
    assert 0 < p["launcher"] < p["first_record"] < p["total"] and p["beam_job"] + p["passes"] < p["total"]
    assert p["tail"] == max(w["idle_tail"] for w in p["workers"].values())
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Where the time went (seconds)" in report
    assert re.search(rf"\| beam_job +\| +{p['beam_job']:.2f} \|", report)
