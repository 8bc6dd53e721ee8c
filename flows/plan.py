"""Turns what the user typed (files, directories, globs, a CommonCrawl listing; local, s3:// or gs://) into the
list of WARC files a run covers, each with the stable name its rows carry."""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from sieve.schemas.errors import UsageError
from sieve.transforms import layout, storage
from sieve.transforms.storage import StorageError

WARC_SUFFIXES = (".warc", ".warc.gz")
LISTING_SUFFIXES = (".paths", ".paths.gz")
# CommonCrawl's own bucket; listing lines are paths below it.
COMMONCRAWL_BASE = "s3://commoncrawl"
# Stands for the newest crawl in an input (and the output): s3://commoncrawl/crawl-data/{latest}/warc.paths.gz
LATEST = "{latest}"
# Input bytes per Beam job, per worker, by default: one CommonCrawl WARC file. A job's files are committed
# when it ends (its merge step waits for all of its ranges), and its start-up (about 2 s) stays well under 1%
# of its work. A crash costs less than a batch: finished ranges are reused by the rerun.
BATCH_BYTES_PER_WORKER = 1 << 30


@dataclass(frozen=True)
class InputFile:
    """One input WARC file: where it is, and the location-independent name written in its rows (warc_file).

    The name is the path below the inputs' common folder (or the listing's line), so the same crawl read from
    a laptop or from a bucket gives byte-identical shards.
    """

    uri: str
    name: str
    size: int
    mtime_ns: int

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_latest(inputs: list[str], output: str) -> tuple[list[str], str]:
    """Replace {latest} in inputs and output by the newest crawl folder (CC-MAIN-YYYY-WW sorts by date) where the
    inputs point, so a monthly schedule takes each new crawl and writes it to its own output."""
    specs = [s for s in inputs if LATEST in s]
    if not specs:
        return inputs, output
    parent = specs[0].split(LATEST, 1)[0]
    try:
        crawls = [name for name in storage.list_folders(parent) if name.startswith("CC-MAIN-")]
    except StorageError as e:
        raise UsageError(str(e)) from None
    if not crawls:
        raise UsageError(f"{LATEST} in {specs[0]}: no CC-MAIN-* crawl folder in {parent}")
    return [s.replace(LATEST, crawls[-1]) for s in inputs], output.replace(LATEST, crawls[-1])


def _listing(spec: str, base_url: str | None) -> list[tuple[str, str]]:
    """(uri, name) for every line of a CommonCrawl warc.paths(.gz) listing; names are the listed paths."""
    raw = storage.read_bytes(spec)
    try:
        text = (gzip.decompress(raw) if spec.endswith(".gz") else raw).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"input listing {spec} cannot be read ({e}); expected warc.paths.gz lines") from None
    names = [line.strip().lstrip("/") for line in text.splitlines() if line.strip()]
    if not names:
        raise UsageError(f"input listing {spec} lists no files")
    base = storage.absolute(base_url or COMMONCRAWL_BASE)
    return [(storage.join(base, n), n) for n in names]


def _expand(spec: str) -> list[storage.FileEntry]:
    if any(c in spec for c in "*?["):
        _, matches = storage.glob(spec)
        if not matches:
            raise UsageError(f"input glob matches no files: {spec}")
        return matches
    uri = storage.absolute(spec)
    if storage.is_file(uri):
        return [storage.stat(uri)]
    if storage.is_dir(uri):
        found = [f for f in storage.list_files(uri) if f.uri.endswith(WARC_SUFFIXES)]
        if not found:
            raise UsageError(f"input directory has no *.warc or *.warc.gz files: {spec}")
        return found
    raise UsageError(
        f"input not found: {spec} (give a WARC file, a directory of them, a glob or a warc.paths.gz listing)"
    )


def _common_folder(uris: list[str]) -> str:
    folders = [u.rsplit("/", 1)[0].split("/") for u in uris]
    common = folders[0]
    for parts in folders[1:]:
        n = next((i for i, (a, b) in enumerate(zip(common, parts)) if a != b), min(len(common), len(parts)))
        common = common[:n]
    return "/".join(common)


def _sampled(name: str, fraction: float) -> bool:
    """Deterministic: the same name is in or out of a fraction-F sample on every machine and rerun."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") < fraction * 2**64


def _stat_all(pairs: list[tuple[str, str]]) -> list[InputFile]:
    """Size and modification time of listed files; remote ones are asked in parallel (one request each)."""

    def one(pair: tuple[str, str]) -> InputFile:
        uri, name = pair
        try:
            entry = storage.stat(uri)
        except StorageError as e:
            raise UsageError(f"listed input {name}: {e}") from None
        return InputFile(uri, name, entry.size, entry.mtime_ns)

    with ThreadPoolExecutor(max_workers=storage.PARALLEL_REQUESTS) as pool:
        return list(pool.map(one, pairs))


def plan_inputs(
    specs: list[str], base_url: str | None = None, limit_files: int | None = None, sample_fraction: float | None = None
) -> list[InputFile]:
    """The input files of a run, sorted by name: resolved, optionally sampled (by a hash of the name) then
    limited to the first N; raises UsageError naming a bad spec."""
    if not specs:
        raise UsageError(
            "no input given: pass --input PATH (a WARC file, a directory, a glob or a warc.paths.gz listing)"
        )
    listed: dict[str, str] = {}  # uri -> name
    found: dict[str, storage.FileEntry] = {}
    try:
        for spec in specs:
            if spec.endswith(LISTING_SUFFIXES):
                listed.update(_listing(spec, base_url))
            else:
                found.update((f.uri, f) for f in _expand(spec))
    except StorageError as e:
        raise UsageError(str(e)) from None
    root = _common_folder(sorted(found)) if found else ""
    names = {**{u: storage.relative(u, root) for u in found}, **listed}
    by_name: dict[str, str] = {}
    for uri, name in sorted(names.items()):
        if by_name.setdefault(name, uri) != uri:
            raise UsageError(
                f"two inputs share the name {name}: {by_name[name]} and {uri} (give them one common folder)"
            )
    chosen = sorted(by_name)
    if sample_fraction is not None:
        chosen = [n for n in chosen if _sampled(n, sample_fraction)]
    if limit_files is not None:
        chosen = chosen[:limit_files]
    stated = [
        InputFile(by_name[n], n, found[by_name[n]].size, found[by_name[n]].mtime_ns)
        for n in chosen
        if by_name[n] in found
    ]
    stated += _stat_all([(by_name[n], n) for n in chosen if by_name[n] not in found])
    if stated:  # listing needs fewer rights than reading: missing credentials show up now, not in a worker
        try:
            with storage.open_input(stated[0].uri) as f:
                f.read(1)
        except StorageError as e:
            raise UsageError(str(e)) from None
    return sorted(stated, key=lambda f: f.name)


def batches(files: list[InputFile], workers: int, batch_files: int | None = None) -> list[list[InputFile]]:
    """Consecutive groups of files, one Beam job each: batch_files files, or by default about
    BATCH_BYTES_PER_WORKER bytes per worker (small inputs make one batch)."""
    if batch_files:
        return [files[i : i + batch_files] for i in range(0, len(files), batch_files)]
    groups: list[list[InputFile]] = [[]]
    for f in files:
        if sum(g.size for g in groups[-1]) >= BATCH_BYTES_PER_WORKER * workers:
            groups.append([])
        groups[-1].append(f)
    return groups if files else []


def check_output(output: str) -> str:
    """Fail early, with what to do, when output cannot receive a run; returns its absolute location."""
    out = storage.absolute(output)
    try:
        if storage.is_file(out):
            raise UsageError(f"output exists and is not a directory: {output}")
        ours = (layout.MANIFEST, layout.RUNS, layout.LEASE)
        if not any(storage.exists(storage.join(out, name)) for name in ours) and storage.list_files(out, limit=1):
            raise UsageError(
                f"output directory is not empty and is not a sieve output: {output} (choose a new directory)"
            )
        probe = storage.join(
            out, ".sieve-write-check"
        )  # missing credentials or permissions show up now, not at publish
        storage.write_bytes(probe, b"")
        storage.delete(probe)
    except StorageError as e:
        raise UsageError(f"output {output} cannot be used: {e}; choose a writable location") from None
    return out
