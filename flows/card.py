"""The dataset card of a published output: README.md with Hugging Face's card metadata, so that
`datasets.load_dataset(<output>)` loads every kept document and `load_dataset(<output>, "vi")` one language's.

The kept shards hold one input file each, every language mixed, so a language's config reads them all and keeps its
rows with the Parquet builder's `filters` (pushed down to row groups). `datasets` has no feature type for an Arrow
map, so the configs leave the map columns (pii_counts) out by `columns`; they stay in the shards, for pyarrow.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pyarrow as pa
import yaml

from sieve.flows.funnel import funnel
from sieve.flows.report import markdown_table
from sieve.schemas.config import Config
from sieve.schemas.tables import KEPT
from sieve.transforms import layout, storage

CARD = "README.md"
ALL = "all"  # the default config: every kept document
SPLIT = "train"
# Hugging Face's size_categories, by their upper bounds.
SIZES = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M")]
SIZES += [(10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B")]
SIZES += [(10**12, "100B<n<1T"), (float("inf"), "n>1T")]
# The float names `datasets` gives (Arrow's own are halffloat, float and double); every other type is named alike.
_DTYPES = {pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64"}


class _NoAliases(yaml.SafeDumper):
    """Repeated values written out in full, not as YAML anchors: plain metadata for every reader of the card."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def columns(schema: pa.Schema = KEPT) -> list[pa.Field]:
    """The columns `datasets` can load: all but maps, which it has no feature type for."""
    return [f for f in schema if not pa.types.is_map(f.type)]


def feature(field: pa.Field) -> dict[str, Any]:
    """A column as the card's `dataset_info.features` spells it (datasets' Features._to_yaml_list)."""
    if pa.types.is_struct(field.type):
        return {"name": field.name, "struct": [feature(f) for f in field.type]}
    return {"name": field.name, "dtype": _DTYPES.get(field.type, str(field.type))}


def data_files(output: str, manifest: dict[str, Any]) -> str | list[str]:
    """The kept shards the manifest lists, relative to output: a glob of their folder when it holds no others (short,
    and what a reader expects), else one by one (files committed under this config but left out of this run stay)."""
    listed = layout.listed_shards(manifest, "kept")
    present = layout.shards(storage.join(output, manifest["run_dir"]), "kept") or []
    folders = {posixpath.dirname(path) for path in listed}
    if len(folders) == 1 and {storage.relative(uri, output) for uri in present} == set(listed):
        return f"{folders.pop()}/*.parquet"
    return listed


def header(output: str, manifest: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """The card's YAML metadata: licence, languages, size, one config per language and one for all (the default),
    each with its features (no split sizes: `datasets` wants their Arrow bytes, which a run does not know)."""
    card = cfg.output.card
    languages = manifest["kept_by_language"]
    kept = manifest["counts"]["kept"]
    files = [{"split": SPLIT, "path": data_files(output, manifest)}]
    names = [f.name for f in columns()]
    features = [feature(f) for f in columns()]
    configs = [{"config_name": ALL, "data_files": files, "columns": names, "default": True}] + [
        {"config_name": lang, "data_files": files, "columns": names, "filters": [["language", "==", lang]]}
        for lang in languages
    ]
    licence = {"license": card.license, "license_name": card.license_name, "license_link": card.license_link}
    return {
        **{k: v for k, v in licence.items() if v is not None},
        **({"language": list(languages)} if languages else {}),
        "task_categories": ["text-generation"],
        "size_categories": [next(name for bound, name in SIZES if kept < bound)],
        "tags": ["sieve", "web-crawl", "pretraining"],
        "configs": configs,
        "dataset_info": [{"config_name": c["config_name"], "features": features} for c in configs],
    }


def body(output: str, manifest: dict[str, Any], cfg: Config) -> list[str]:
    """The card's text: what the corpus holds, how to load it, each curation step with its counts, provenance."""
    c, languages = manifest["counts"], manifest["kept_by_language"]
    missing = [f.name for f in KEPT if f not in columns()]
    return [
        "# Web documents curated by sieve",
        "",
        f"{c['kept']} documents kept of {c['read']} WARC records read from {len(manifest['inputs'])} file(s): main text "
        "extracted, cleaned and normalized, language-identified, filtered for quality and toxicity, deduplicated, "
        "and scrubbed of personal data (emails, phone numbers, ids: typed placeholders in the text).",
        "",
        *markdown_table(["config (language)", "documents"], [[ALL, c["kept"]], *languages.items()]),
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'corpus = load_dataset("{output}")  # every kept document (config "{ALL}")',
        *(f'{lang} = load_dataset("{output}", "{lang}")  # the {lang} documents' for lang in list(languages)[:2]),
        "```",
        "",
        f"The data files are the Parquet shards under `{manifest['run_dir']}/` that `manifest.json` lists. They also "
        f"hold {', '.join(f'`{m}`' for m in missing)} (PII replacements per entity type), an Arrow map `datasets` has "
        "no type for, so the configs leave it out; pyarrow, polars or DuckDB read it. Loading the shards as plain "
        "Parquet takes the card's columns and features for the same reason:",
        "",
        "```python",
        "import json",
        "from datasets import load_dataset, load_dataset_builder",
        "",
        f'out = "{output}"',
        'shards = [f"{out}/{s[\'path\']}" for s in json.load(open(f"{out}/manifest.json"))["shards"]["kept"]]',
        "card = load_dataset_builder(out)",
        'corpus = load_dataset("parquet", data_files=shards, columns=card.config.columns, features=card.info.features)',
        "```",
        "",
        "## Curation",
        "",
        "Each step in the order it runs, with the records it received, dropped and passed on (skipped: WARC records "
        "that are not pages: requests, metadata, warcinfo). Every dropped record is kept in `dropped/` shards "
        "beside the kept ones, with its stage, reason, text and signals; `sieve explain <doc_id>` says why.",
        "",
        *markdown_table(
            ["step", "records in", "dropped", "records out"],
            [[r["step"], r["in"], r["dropped"], r["out"]] for r in funnel(manifest, cfg)],
        ),
        *_reasons(manifest),
        *_passes(manifest),
        "",
        "## Provenance",
        "",
        f"- sieve {manifest['versions'].get('sieve', '?')}, config hash `{manifest['config_hash']}`; "
        "`manifest.json` holds the full config, every input with its size and SHA-256, and every shard",
        "- `report.md` (and `report.html`) beside this card: the run's report",
        "",
        "## Licence",
        "",
        *_licence(cfg),
    ]


def _reasons(manifest: dict[str, Any]) -> list[str]:
    drops = manifest["dropped_by_reason"]
    if not drops:
        return []
    return ["", "Drop reasons:", "", *markdown_table(["stage/reason", "documents"], [[k, n] for k, n in drops.items()])]


def _passes(manifest: dict[str, Any]) -> list[str]:
    """The corpus passes' outcomes a user filters or counts on: duplicate clusters, perplexity buckets."""
    passes, lines = manifest.get("passes", {}), []
    if clusters := passes.get("dedup", {}).get("clusters"):
        lines += [
            "",
            f"Deduplication: {clusters['count']} clusters of duplicates ({clusters['documents']} documents); "
            f"{clusters['removed']} removed, one kept per cluster (`dup_cluster_id`, `dup_cluster_size`).",
        ]
    if pp := passes.get("perplexity"):
        tail = "dropped" if pp["drop_tail"] else "kept"
        cutoffs = "; ".join(f"{lang} {c['head']:.1f} / {c['tail']:.1f}" for lang, c in pp["cutoffs"].items())
        lines += [
            "",
            f"Perplexity buckets (`pp_bucket`, per language): head up to the {pp['head_percentile']:g}th percentile, "
            f"tail above the {pp['tail_percentile']:g}th ({tail}); cut-offs {cutoffs or 'none'}.",
        ]
    return lines


def _licence(cfg: Config) -> list[str]:
    card = cfg.output.card
    terms = f" ([{card.license_name}]({card.license_link}))" if card.license_name and card.license_link else ""
    return [
        f"`{card.license}`{terms}. The pages belong to their owners; the corpus is a derivative of the crawl, and "
        "the crawl's terms of use apply (for Common Crawl: https://commoncrawl.org/terms-of-use). The "
        "`output.card` settings of sieve's config set these fields.",
    ]


def write_card(output: str, manifest: dict[str, Any], cfg: Config) -> str:
    """Write README.md (the card) into output, before the manifest commits the run; returns its location."""
    meta = yaml.dump(header(output, manifest, cfg), Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=120)
    uri = storage.join(output, CARD)
    storage.write_text(uri, "\n".join(["---", meta.rstrip("\n"), "---", "", *body(output, manifest, cfg)]) + "\n")
    return uri
