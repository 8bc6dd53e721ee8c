"""The commit protocol of an output location, local or in an object store, which has no atomic rename:

    <output>/runs/<run>/...   shards and per-file commit markers, written by the job (transforms/parquet.py)
    <output>/report.md        the readable report
    <output>/manifest.json    the commit record, written last: readers and reruns trust only what it lists

A run folder is named after the config hash, so a rerun of a crashed run finds its committed files and
redoes only the others; --force starts a fresh folder. After a commit, other run folders are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from pydantic import ValidationError

from sieve.filters.perplexity import model_paths
from sieve.filters.pii import NO_TEXT
from sieve.flows.plan import InputFile
from sieve.schemas.config import Config
from sieve.schemas.errors import UsageError
from sieve.transforms import storage
from sieve.transforms.layout import MANIFEST, RUNS, read_manifest
from sieve.transforms.parquet import WORKING, damage, done_marker, is_range_marker, range_of, shard_stem
from sieve.transforms.storage import StorageError

VERSIONED = ["sieve", "apache-beam", "pyarrow", "trafilatura", "fastwarc", "resiliparse", "fasttext", "prefect"]
log = logging.getLogger("sieve")


def config_identity(cfg: Config) -> str:
    """The config hash, extended by the contents of the data files the config names (user blocklists): an edited
    list changes what a run writes, so it must not find the old run up to date or resume it."""
    try:
        digests = [hashlib.sha256(storage.read_bytes(path)).hexdigest() for path in data_files(cfg)]
    except StorageError as e:
        raise UsageError(f"config: a file it names cannot be read: {e}") from None
    return hashlib.sha256("\n".join([cfg.hash, *digests]).encode()).hexdigest()[:16] if digests else cfg.hash


def data_files(cfg: Config) -> list[str]:
    """Files the config names whose contents decide what a run writes; the config hash covers only their names."""
    models = (
        [str(path) for lang, folder in cfg.quality.perplexity.models.items() for path in model_paths(folder, lang)]
        if cfg.quality.perplexity.enabled
        else []
    )
    if cfg.quality.classifier.enabled:
        models += cfg.quality.classifier.models.values()
    lists = (
        [path for paths in cfg.quality.toxicity.extra_lists.values() for path in paths]
        if cfg.quality.toxicity.enabled
        else []
    )
    return [path for path in [cfg.url_filter.blocklist, *cfg.url_filter.extra_blocklists] if path] + models + lists


def run_folder(output: str, config_hash: str, force: bool = False) -> str:
    """Where this run writes: one folder per config, so the same command resumes; a fresh one when forced."""
    name = f"{config_hash}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}" if force else config_hash
    return storage.join(output, RUNS, name)


def _read_marker(uri: str) -> dict[str, Any] | None:
    """A marker's contents; None when it is torn (a crash or a full disk cut it short) or gone meanwhile."""
    try:
        return json.loads(storage.read_text(uri))
    except (StorageError, ValueError):
        return None


def _listed_files(marker: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a commit marker lists: its shards and, once a corpus pass edited text, the original texts."""
    return [*marker["shards"].values(), *([marker["unedited"]] if "unedited" in marker else [])]


def committed(run_dir: str, files: list[InputFile], checksums: bool = False) -> dict[str, dict[str, Any]]:
    """Commit markers of the planned files that are already finished in run_dir (same name, size and mtime), with
    every file the marker lists as it recorded it: its size (one listing per folder) and, with checksums, its SHA-256
    (each file read back, which a resume does once). A file whose marker is torn or whose shard is gone, torn or
    replaced is left out, with a warning, so the job does it again.

    One listing finds the markers; they are read in parallel (an object store answers each in milliseconds).
    """
    present = {f.uri for f in storage.list_files(storage.join(run_dir, "done"))}
    wanted = [f for f in files if done_marker(run_dir, f.name) in present]
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        markers = pool.map(lambda f: _read_marker(done_marker(run_dir, f.name)), wanted)
    same = {
        f.name: m
        for f, m in zip(wanted, markers)
        if m is None or (m["name"], m["size"], m["mtime_ns"]) == (f.name, f.size, f.mtime_ns)
    }
    folders = {entry["path"].split("/", 1)[0] for m in same.values() if m for entry in _listed_files(m)}
    listed = {f.uri: f.size for folder in folders for f in storage.list_files(storage.join(run_dir, folder))}
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        problems = dict(zip(same, pool.map(lambda m: _damaged(run_dir, m, listed, checksums), same.values())))
    for name, problem in problems.items():
        if problem is not None:
            log.warning("%s: doing this file again: %s", name, problem, extra=NO_TEXT)
    return {name: m for name, m in same.items() if problems[name] is None}


def _damaged(run_dir: str, marker: dict[str, Any] | None, listed: dict[str, int], checksums: bool) -> str | None:
    """Why a committed file cannot be trusted (its marker torn, a file it lists not as recorded), or None."""
    if marker is None:
        return "its commit marker is torn"
    entries = _listed_files(marker)
    problem = next(filter(None, (damage(run_dir, entry, listed) for entry in entries)), None)
    if problem is None and checksums:
        problem = next(filter(None, (damage(run_dir, entry) for entry in entries if "sha256" in entry)), None)
    return problem


def check_unchanged(run_dir: str, files: list[InputFile]) -> None:
    """Raise UsageError when an input file changed (another size or modification time) since run_dir recorded it, in
    its commit marker or in its finished ranges' markers: going on would mix the work of two versions of the file."""
    by_stem = {shard_stem(f.name): f for f in files}
    done = {f.uri for f in storage.list_files(storage.join(run_dir, "done"))}
    # where each file's identity is recorded: its commit marker, else the marker of one of its finished ranges
    where = {f.name: done_marker(run_dir, f.name) for f in files if done_marker(run_dir, f.name) in done}
    for uri, _, _ in finished_ranges(run_dir, files):
        where.setdefault(by_stem[range_of(uri)[0]].name, uri)
    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        recorded = dict(zip(where, pool.map(_read_marker, where.values())))
    planned = {f.name: f for f in files}
    changed = sorted(
        f"{name} ({change})"
        for name, marker in recorded.items()
        if marker is not None and (change := _change(marker.get("source", marker), planned[name]))
    )
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise UsageError(
            f"input {changed[0]}{more} changed since {run_dir} recorded it: its finished work would mix two versions "
            "of the file. Put the original back, or run again with --force to start over in a fresh run folder"
        )


def _change(was: dict[str, Any], now: InputFile) -> str:
    """How an input differs from what a marker recorded ('size 1200 -> 1300 bytes, modified <when> -> <when>'); empty
    when it does not."""

    def when(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    parts = [f"size {was['size']} -> {now.size} bytes"] if was["size"] != now.size else []
    if was["mtime_ns"] != now.mtime_ns:
        parts.append(f"modified {when(was['mtime_ns'])} -> {when(now.mtime_ns)}")
    return ", ".join(parts)


def finished_ranges(run_dir: str, files: list[InputFile]) -> list[tuple[str, int, int]]:
    """(marker, start, end) of each finished record range of these files, found by one listing: the ranges an
    interrupted run left for the job to reuse, and what the progress line counts. A temp file that a killed write left
    beside the markers is not one."""
    stems = {shard_stem(f.name) for f in files}
    markers = [m.uri for m in storage.list_files(storage.join(run_dir, "ranges")) if is_range_marker(m.uri)]
    return [(uri, start, end) for uri in markers for stem, start, end in [range_of(uri)] if stem in stems]


def clean_working_files(run_dir: str) -> None:
    """Remove the parts and range markers of a run, once it is committed."""
    for folder in WORKING:
        storage.delete_tree(storage.join(run_dir, folder))


# The columns publish reads back from each file's shards: ids and offsets of every row, drop reasons and clusters.
def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def manifest_for(
    summary: dict[str, Any],
    files: list[InputFile],
    markers: dict[str, dict[str, Any]],
    config: dict[str, Any],
    config_hash: str,
    run: dict[str, Any],
    passes: dict[str, Any],
) -> dict[str, Any]:
    """The commit record. The dedup pass's clusters are those its dropped rows show, so they cannot disagree with
    the shards."""
    if "dedup" in passes:
        passes = {**passes, "dedup": {**passes["dedup"], "clusters": summary["dedup_clusters"]}}
    return {
        "config_hash": config_hash,
        **{k: v for k, v in summary.items() if k != "dedup_clusters"},
        "passes": passes,
        "inputs": [{**f.as_dict(), "sha256": markers[f.name]["sha256"]} for f in files],
        "config": config,
        "versions": package_versions(),
        "run": run,
    }


def commit(output: str, manifest: dict[str, Any]) -> None:
    """Write manifest.json (the commit record), then remove the run folders it does not point to."""
    storage.write_text(storage.join(output, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True))
    current = storage.join(output, manifest["run_dir"])
    clean_working_files(current)
    runs = storage.join(output, RUNS)
    for folder in (storage.join(runs, name) for name in storage.list_folders(runs)):
        if folder != current:
            log.info("removing %s: a superseded or abandoned run", folder)
            storage.delete_tree(folder)


def published(output: str) -> tuple[dict[str, Any], Config]:
    """The manifest of a finished run and the config it ran under, for the commands that read a run back."""
    manifest = read_manifest(output)
    if manifest is None:
        raise UsageError(f"{output}: no {MANIFEST} (give the --output folder of a finished `sieve run`)")
    try:
        return manifest, Config(**manifest["config"])
    except ValidationError as e:
        raise UsageError(
            f"{output}: written by another version of sieve (its config does not validate: "
            f"{e.errors()[0]['loc']} {e.errors()[0]['msg']}); run it again with this version"
        ) from None


def up_to_date(
    output: str, inputs: list[InputFile], config_hash: str, check_shards: bool = True
) -> dict[str, Any] | None:
    """The published manifest if output already holds this exact run (same inputs and config; with check_shards,
    every shard it lists whole), else None."""
    manifest = read_manifest(output)
    if manifest is None or manifest.get("config_hash") != config_hash:
        return None
    published = [{k: i[k] for k in InputFile.__dataclass_fields__} for i in manifest.get("inputs", [])]
    same = published == [f.as_dict() for f in inputs]
    return manifest if same and (not check_shards or _shards_whole(output, manifest)) else None


def _shards_whole(output: str, manifest: dict[str, Any]) -> bool:
    """Whether every shard the manifest lists is there with its size (one listing per folder, nothing read). One that
    is gone or torn is logged, and the run goes on, which does its file again and publishes anew."""
    shards = [shard for kind in ("kept", "dropped") for shard in manifest["shards"][kind]]
    folders = {shard["path"].rsplit("/", 1)[0] for shard in shards}
    listed = {f.uri: f.size for folder in folders for f in storage.list_files(storage.join(output, folder))}
    problem = next(filter(None, (damage(output, shard, listed) for shard in shards)), None)
    if problem is not None:
        log.warning("%s is not as its manifest lists it: %s", output, problem, extra=NO_TEXT)
    return problem is None
