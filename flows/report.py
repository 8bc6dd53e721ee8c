"""Human-readable run reports: a terminal summary table and report.md beside the outputs."""

from __future__ import annotations

from typing import Any

from sieve.transforms import storage

REPORT = "report.md"
REPORT_HTML = "report.html"
MAX_ROWS = 100


def markdown_table(headers: list[str], rows: list[list[Any]], bars: bool = False) -> list[str]:
    """Markdown table: first column left-aligned, numbers right-aligned, a trailing bar column left-aligned."""
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    left = {0, len(headers) - 1} if bars else {0}

    def fmt(r: list[str]) -> str:
        return (
            "| " + " | ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
        )

    return [fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in cells[1:]]


def _capped(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A table of at most MAX_ROWS rows (a snapshot has 90,000 files); the manifest lists every one."""
    more = ["", f"... and {len(rows) - MAX_ROWS} more, listed in manifest.json"] if len(rows) > MAX_ROWS else []
    return markdown_table(headers, rows[:MAX_ROWS]) + more


def _bar(n: int, total: int, width: int = 30) -> str:
    return "#" * round(width * n / total) if total else ""


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    """Totals and drops by stage/reason, as aligned text tables."""
    c = manifest["counts"]
    lines = markdown_table(
        ["records", "count", "share"],
        [[k, c[k], f"{c[k] / c['read']:.1%}" if c["read"] else "-"] for k in ("read", "kept", "dropped", "skipped")],
    )
    drops = sorted(manifest["dropped_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
    if drops:
        lines += [""] + markdown_table(
            ["dropped: stage/reason", "count", ""], [[k, n, _bar(n, c["dropped"])] for k, n in drops], bars=True
        )
    if manifest["skipped_by_type"]:
        lines += [""] + markdown_table(
            ["skipped: WARC type", "count"], [[k, n] for k, n in manifest["skipped_by_type"].items()]
        )
    return lines


def _passes(manifest: dict[str, Any]) -> list[str]:
    """The corpus passes' statistics."""
    passes = manifest.get("passes", {})
    return _perplexity(passes.get("perplexity")) + _dedup(passes.get("dedup"), manifest["dropped_by_reason"])


def _dedup(dd: dict[str, Any] | None, dropped: dict[str, int]) -> list[str]:
    """What each dedup level found and removed, and the cluster sizes: the removals and clusters as the dropped rows
    show them (publish reads them back), the pairs as the Beam jobs found them."""
    if not dd:
        return []
    pairs, clusters, spans = dd["pairs"], dd["clusters"], dd["spans"]
    rows = [
        ["exact copies", f"{pairs['exact']} pairs", dropped.get("dedup/exact_duplicate", 0)],
        [
            "near-duplicates (MinHash LSH)",
            f"{pairs['verified']} of {pairs['candidates']} candidate pairs verified",
            dropped.get("dedup/near_duplicate", 0),
        ],
        [
            "boilerplate lines",
            f"{dd['frequent_lines']} lines in > {dd['max_documents']} documents of a group of "
            f"{dd.get('line_group_files', 'all')} files",
            "-",
        ],
        [
            "sentence spans",
            f"{spans.get('duplicated', 0)} spans held by several documents, {spans.get('removals', 0)} removals",
            dropped.get("dedup/sentence_duplicate_residue", 0),
        ],
    ]
    sizes = sorted(clusters["size_histogram"].items(), key=lambda kv: int(kv[0]))
    # components in Beam rounds on a distributed runner; none where the launcher found them (DirectRunner)
    rounds = f" after {dd['component_rounds']} connected-component rounds" if dd["component_rounds"] else ""
    return [
        "",
        "## Deduplication",
        "",
        f"{clusters['count']} clusters of {clusters['documents']} documents, {clusters['removed']} removed{rounds}; "
        f"{dd['params']['bands']} bands x {dd['params']['rows']} rows, threshold {dd['params']['threshold']}",
        "",
        *markdown_table(["level", "found", "documents dropped"], rows),
        "",
        *markdown_table(["cluster size", "clusters"], [[k, n] for k, n in sizes]),
    ]


def _perplexity(pp: dict[str, Any] | None) -> list[str]:
    """Perplexity cutoffs per language and the documents no model scored."""
    if not pp:
        return []
    langs = sorted(set(pp["cutoffs"]) | set(pp["without_perplexity"]))
    rows = [
        [
            lang,
            pp["cutoffs"].get(lang, {}).get("documents", 0),
            f"{pp['cutoffs'][lang]['head']:.1f}" if lang in pp["cutoffs"] else "-",
            f"{pp['cutoffs'][lang]['tail']:.1f}" if lang in pp["cutoffs"] else "-",
            pp["without_perplexity"].get(lang, 0),
        ]
        for lang in langs
    ]
    tail = "dropped" if pp["drop_tail"] else "kept (quality.perplexity.drop_tail: false)"
    return [
        "",
        "## Perplexity buckets (per language, over this run)",
        "",
        f"head <= p{pp['head_percentile']:g} < middle <= p{pp['tail_percentile']:g} < tail; the tail is {tail}",
        "",
        *markdown_table(
            [
                "language",
                "scored",
                f"p{pp['head_percentile']:g}",
                f"p{pp['tail_percentile']:g}",
                "no model (perplexity null)",
            ],
            rows,
        ),
    ]


# run.phases in the order they happen (flows/phases.py); the manifest's JSON sorts its keys
PHASES = ("launcher", "server_ready", "plan", "first_record", "beam_job", "tail", "passes", "publish", "total")


def _phases(phases: dict[str, Any] | None) -> list[str]:
    """Where the time went: the run's phases, then each Beam worker's warm-up, first range, steady seconds and idle
    tail."""
    if not phases:
        return []
    return [
        "",
        "## Where the time went (seconds)",
        "",
        *markdown_table(["phase", "s"], [[k, f"{phases[k]:.2f}"] for k in PHASES if k in phases]),
        "",
        *markdown_table(
            ["worker", "ranges", "warm-up", "first range", "steady", "idle tail"],
            [
                [
                    name,
                    w["ranges"],
                    f"{w['warmup']:.2f}",
                    f"{w['first_range']:.2f}" if "first_range" in w else "-",  # runs published before it was kept
                    f"{w['steady']:.2f}",
                    f"{w['idle_tail']:.2f}",
                ]
                for name, w in phases.get("workers", {}).items()
            ],
        ),
    ]


def write_report(output: str, manifest: dict[str, Any]) -> str:
    """Write report.md: totals, drop reasons, per-file conservation, output shards; returns its location."""
    run = manifest["run"]
    sizes = {i["name"]: i["size"] for i in manifest["inputs"]}
    lines = [
        "# sieve run report",
        "",
        f"- runner: {run['runner']} ({run['workers']} workers), {run['seconds']:.1f} s, "
        f"{manifest['counts']['read'] / max(run['seconds'], 1e-9):.1f} records/s",
        f"- files: {len(manifest['files'])}, of which {run['files_resumed']} committed by an earlier run "
        f"and {sum(b['files'] for b in run['batches'])} processed in {len(run['batches'])} batch(es)",
        f"- config hash: `{manifest['config_hash']}`; shards under `{manifest['run_dir']}/`",
        "",
        "## Records",
        "",
        *summary_lines(manifest),
        "",
        "## Per input file (read = kept + dropped + skipped)",
        "",
        *_capped(
            ["file", "MB", "read", "kept", "dropped", "skipped"],
            [
                [f["warc_file"], f"{sizes[f['warc_file']] / 1e6:.2f}", f["read"], f["kept"], f["dropped"], f["skipped"]]
                for f in manifest["files"]
            ],
        ),
        *_passes(manifest),
        *_phases(run.get("phases")),
        "",
        "## Output shards",
        "",
        *_capped(
            ["shard", "rows", "MB"],
            [
                [s["path"], s["rows"], f"{s['bytes'] / 1e6:.2f}"]
                for kind in ("kept", "dropped")
                for s in manifest["shards"][kind]
            ],
        ),
    ]
    uri = storage.join(output, REPORT)
    storage.write_text(uri, "\n".join(lines) + "\n")
    return uri
