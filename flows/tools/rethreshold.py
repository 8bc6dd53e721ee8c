"""`sieve rethreshold`: re-decide a published run under new thresholds from its stored text and signals.

Every row stores the signals its stages measured, and dropped rows keep their text, so new thresholds need no
extraction: each row that reached extraction goes through the stages after it again, reusing stored signals
and measuring only what was never measured (a stage the row did not reach, or one the new config switches on).
Rows dropped before extraction (response, URL, language gate) stay as they are: redeciding them needs the page.
The output is a published run like `sieve run` writes (shards, commit markers, corpus passes, report, manifest).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from fnmatch import fnmatch
from functools import lru_cache
from typing import Any

import pyarrow as pa

from sieve.filters.base import Filter
from sieve.flows.outputs import publish
from sieve.flows.plan import InputFile, check_output
from sieve.flows.publish import committed, config_identity, manifest_for, published, run_folder
from sieve.schemas.config import Config, load_config
from sieve.schemas.document import Document
from sieve.schemas.errors import UsageError
from sieve.schemas.tables import DROPPED, KEPT, SIGNALS
from sieve.transforms import lease, storage
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.parquet import done_marker, file_entry, shard_path
from sieve.transforms.passes import passes_for
from sieve.transforms.stages import build_filters, stage_names
from sieve.transforms.summary import summarize

# Config keys that may differ from the run's: they change decisions, not what a stage measures or writes into
# the text. Anything else (extraction, cleanup, URL lists, a different model for a language) needs `sieve run`,
# and so do c4's line rules, which rewrite the text every later stage measured.
REWRITES = [
    "quality.c4",
    "languages.*.c4.remove_*",
    "languages.*.c4.min_words_per_line",
    "languages.*.c4.max_word_length",
    "languages.*.c4.policy_phrases",
]
DECISIONS = [
    "languages.*",
    "quality.gopher_quality",
    "quality.gopher_repetition",
    "quality.fineweb",
    "quality.*.enabled",
    "quality.perplexity.drop_tail",
    "quality.perplexity.*_percentile",
    "output.*",
    "beam.*",
    "lease.*",
    "report.*",
]
# Signals restored from columns rather than the signal struct.
COLUMN_SIGNALS = {"language_id", "perplexity", "classifier"}


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def check_compatible(old: Config, new: Config) -> None:
    """Raise UsageError naming the first setting that rethresholding cannot honour (it changes measurements)."""
    a, b = _flat(old.as_dict()), _flat(new.as_dict())
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        if key == "language_id.keep" and a[key] and set(b[key]) <= set(a[key]):
            continue  # fewer languages: a re-decision; more would need the pages the language gate dropped unread
        if any(fnmatch(key, p) for p in DECISIONS) and not any(fnmatch(key, p) for p in REWRITES):
            continue
        if key.startswith("quality.") and key.count(".") >= 3 and ".models." in key and a.get(key) is None:
            continue  # a model for a language the run had none for: measured now from the stored text
        raise UsageError(
            f"--config changes {key} ({a.get(key)!r} -> {b.get(key)!r}): that changes what a stage measures "
            "or writes, not only a threshold; run `sieve run` with this config instead"
        )


@lru_cache(maxsize=1)
def _stages(config_json: str) -> tuple[Config, list[Filter]]:
    """The new config and its stages after extraction, built once per worker process."""
    cfg = Config(**json.loads(config_json))
    filters = build_filters(cfg)
    return cfg, filters[[f.stage for f in filters].index("extract") + 1 :]


def redecidable(*configs: Config) -> set[str]:
    """The stages and passes whose dropped rows can be re-decided: those after extraction (the row kept its text) in
    any of the configs, so a row dropped by a stage the new config switches off goes through the new stages."""
    names: set[str] = set()
    for cfg in configs:
        stages = stage_names(cfg)
        names |= set(stages[stages.index("extract") + 1 :]) | {p.name for p in passes_for(cfg)}
    return names


def redecide(row: dict[str, Any], filters: list[Filter]) -> tuple[Document, Any]:
    """(document, drop or None): the row through the stages after extraction, stored signals reused."""
    doc = Document.from_row(row)
    for f in filters:
        stored = f.stage in doc.signals and (f.stage in SIGNALS or f.stage in COLUMN_SIGNALS)
        signals = doc.signals[f.stage] if stored else f.annotate(doc)
        doc.signals[f.stage] = signals
        drop = f.decide(doc, signals)
        if drop is not None:
            return doc, drop
    return doc, None


def _file(task: tuple[str, str, dict[str, Any], str, frozenset[str]]) -> dict[str, Any]:
    """Re-decide one input file's rows; write its shards and commit marker under the new run folder."""
    old_run, new_run, marker, config_json, stages_redecided = task
    cfg, filters = _stages(config_json)
    rows = [
        dict(r, _kind=kind)
        for kind, shard in sorted(marker["shards"].items())
        for r in storage.read_parquet(storage.join(old_run, shard["path"])).to_pylist()
    ]
    if "unedited" in marker:  # texts the dedup pass edited: re-decided from the text as extracted
        original = storage.read_parquet(storage.join(old_run, marker["unedited"]["path"]))
        texts = dict(zip(original["doc_id"].to_pylist(), original["text"].to_pylist()))
        # their stored perplexity is the edited text's (dedup scores it again): the stage measures it anew
        rows = [
            dict(r, text=texts[r["doc_id"]], perplexity=None, signals={**(r["signals"] or {}), "perplexity": None})
            if r["doc_id"] in texts
            else r
            for r in rows
        ]
    out: dict[str, list[dict[str, Any]]] = {"kept": [], "dropped": []}
    dropped: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["warc_offset"]):
        if row["_kind"] == "dropped" and row["stage"] not in stages_redecided:
            out["dropped"].append({k: row.get(k) for k in DROPPED.names})
            key = f"{row['stage']}/{row['reason']}"
        else:
            doc, drop = redecide(row, filters)
            if drop is None:
                out["kept"].append(doc.kept_row())
                continue
            out["dropped"].append(doc.dropped_row(drop))
            key = f"{drop.stage}/{drop.reason}"
        dropped[key] = dropped.get(key, 0) + 1
    shards = {}
    compression = None if cfg.output.compression == "none" else cfg.output.compression
    for kind, schema in (("kept", KEPT), ("dropped", DROPPED)):
        if out[kind]:
            uri = shard_path(new_run, kind, marker["name"])
            written = storage.write_parquet(
                uri, schema, [pa.Table.from_pylist(out[kind], schema=schema)], compression, cfg.output.row_group_rows
            )
            shards[kind] = {**file_entry(uri, new_run, written), "rows": len(out[kind])}
    new = {k: v for k, v in marker.items() if k not in ("passes", "unedited")} | {
        "kept": len(out["kept"]),
        "dropped": dict(sorted(dropped.items())),
        "shards": shards,
    }
    storage.write_text(done_marker(new_run, marker["name"]), json.dumps(new, indent=1, sort_keys=True))
    return new


def rethreshold(run_output: str, config: str | None, output: str, workers: int | None = None) -> dict[str, Any]:
    """Re-decide the run published in run_output under config; publish the result in output. Returns its manifest."""
    manifest, old = published(run_output)
    if storage.absolute(output).rstrip("/") == storage.absolute(run_output).rstrip("/"):
        raise UsageError("--output must differ from the run it re-decides")
    new = load_config(config)
    check_compatible(old, new)
    output = check_output(output)
    with lease.holding(output, new.lease):  # one writer per output: a second run fails here, naming this one
        return _rethreshold(run_output, manifest, old, new, output, workers)


def _rethreshold(
    run_output: str, manifest: dict[str, Any], old: Config, new: Config, output: str, workers: int | None
) -> dict[str, Any]:
    """The re-decision and its commit, while this run holds output's lease."""
    identity = config_identity(new)
    run_dir, old_run = run_folder(output, identity), storage.join(run_output, manifest["run_dir"])
    files = [InputFile(**{k: i[k] for k in InputFile.__dataclass_fields__}) for i in manifest["inputs"]]
    start = time.perf_counter()
    old_markers = committed(old_run, files)
    stages_redecided = frozenset(redecidable(old, new))
    tasks = [(old_run, run_dir, old_markers[f.name], json.dumps(new.as_dict()), stages_redecided) for f in files]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if workers == 1:
        markers = [_file(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            markers = list(pool.map(_file, tasks))
    by_name = {m["name"]: m for m in markers}
    passes = run_passes(run_dir, by_name, passes_for(new), new.output, CorpusJobs.of(new, "DirectRunner", workers))
    run = {
        "runner": "rethreshold",
        "workers": workers,
        "seconds": round(time.perf_counter() - start, 3),
        "files_resumed": 0,
        "batches": [{"files": len(files)}],
        "rethreshold_of": run_output,
        "rethreshold_of_config_hash": manifest["config_hash"],
    }
    result = manifest_for(
        summarize(run_dir, files, committed(run_dir, files)), files, by_name, new.as_dict(), identity, run, passes
    )
    publish(output, result, new)
    return result
