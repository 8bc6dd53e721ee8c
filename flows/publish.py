"""Counts what a job wrote, checks that every record is accounted for, and publishes the run atomically."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sieve.flows.plan import MANIFEST, InputFile, UsageError, check_output
from sieve.transforms.pipeline import STATS_FILE

VERSIONED = ["sieve", "apache-beam", "pyarrow", "trafilatura", "fastwarc", "resiliparse", "fasttext", "prefect"]


class ConservationError(RuntimeError):
    """Some input record is neither kept, dropped nor skipped: a bug, never a user error."""


def prepare_output(output: str) -> Path:
    """Create a staging folder beside the output (same filesystem, so publishing is a rename)."""
    out = check_output(output)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as e:
        raise UsageError(f"cannot write the output directory {output}: {e.strerror} (choose a writable location)") from None


def _count_rows(directory: Path, columns: list[str]) -> tuple[Counter, list[dict[str, Any]]]:
    counts: Counter = Counter()
    shards = []
    for path in sorted(directory.glob("*.parquet")):
        table = pq.read_table(path, columns=columns)
        for group in table.group_by(columns).aggregate([([], "count_all")]).to_pylist():
            counts[tuple(group[c] for c in columns)] += group["count_all"]
        shards.append({"path": f"{directory.name}/{path.name}", "rows": table.num_rows, "bytes": path.stat().st_size})
    return counts, shards


def summarize(staging: Path) -> dict[str, Any]:
    """Counts by file, stage and reason, read back from the written tables; raises if any record is unaccounted for."""
    leftovers = list((staging / "parts").rglob("*.parquet"))
    if leftovers:
        raise ConservationError(f"{len(leftovers)} Parquet parts were never merged into shards, e.g. {leftovers[0]}")
    stats = json.loads((staging / STATS_FILE).read_text(encoding="utf-8"))
    kept, kept_shards = _count_rows(staging / "kept", ["warc_file"])
    dropped, dropped_shards = _count_rows(staging / "dropped", ["warc_file", "stage", "reason"])
    files, by_reason, skipped_types = [], Counter(), Counter()
    for s in stats:  # one entry per input file (MergeShards sums its ranges), sorted by file
        f, read = s["warc_file"], s["read"]
        n_kept = kept[(f,)]
        n_dropped = sum(n for (wf, *_), n in dropped.items() if wf == f)
        n_skipped = sum(s["skipped"].values())
        if read != n_kept + n_dropped + n_skipped:
            raise ConservationError(f"{f}: read {read} != kept {n_kept} + dropped {n_dropped} + skipped {n_skipped}")
        files.append({"warc_file": f, "read": read, "kept": n_kept, "dropped": n_dropped, "skipped": n_skipped})
        skipped_types.update(s["skipped"])
    for (_, stage, reason), n in dropped.items():
        by_reason[f"{stage}/{reason}"] += n
    totals = {k: sum(f[k] for f in files) for k in ("read", "kept", "dropped", "skipped")}
    return {
        "counts": totals,
        "dropped_by_reason": dict(sorted(by_reason.items())),
        "skipped_by_type": dict(sorted(skipped_types.items())),
        "files": files,
        "shards": {"kept": kept_shards, "dropped": dropped_shards},
    }


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_manifest(staging: Path, summary: dict[str, Any], inputs: list[InputFile], config: dict[str, Any],
                   config_hash: str, run: dict[str, Any]) -> dict[str, Any]:
    manifest = {
        "config_hash": config_hash,
        **summary,
        "inputs": [i.as_dict() for i in inputs],
        "config": config,
        "versions": package_versions(),
        "run": run,
    }
    # The job's working files are not part of the published output.
    (staging / STATS_FILE).unlink()
    shutil.rmtree(staging / "parts", ignore_errors=True)
    shutil.rmtree(staging / "progress", ignore_errors=True)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return manifest


def publish(staging: Path, output: str) -> Path:
    """Replace output with staging in two renames; readers see the old run or the new one, never a mix."""
    out = Path(output).absolute()
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old)
    return out


def up_to_date(output: str, inputs: list[InputFile], config_hash: str) -> dict[str, Any] | None:
    """The existing manifest if output already holds this exact run (same inputs and config), else None."""
    path = Path(output) / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    same = manifest.get("config_hash") == config_hash and manifest.get("inputs") == [i.as_dict() for i in inputs]
    return manifest if same else None
