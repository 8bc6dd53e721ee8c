"""Prefect artifacts of a curate run: its counts table, its funnel and a link to its HTML report, each under a key
stable per output, so the Prefect UI keeps every run of a scheduled deployment (one a month) under the same keys."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from sieve.flows.funnel import funnel
from sieve.flows.report import REPORT_HTML, markdown_table
from sieve.schemas.config import Config
from sieve.transforms import storage


def artifact_key(kind: str, output: str) -> str:
    """`sieve-<kind>-<output>-<hash>` in the lowercase letters, digits and dashes Prefect allows. Given the output as
    the deployment names it ({latest} unresolved), every month's run adds a version to the same key; the hash of
    the whole location keeps two outputs apart when their readable tails agree."""
    where = storage.absolute(output)
    slug = re.sub(r"[^a-z0-9]+", "-", where.lower())[-40:].strip("-")
    return f"sieve-{kind}-{slug}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


def counts_table(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The records by outcome, then by drop reason and skipped WARC type, with their share of the records read."""
    c = manifest["counts"]
    rows = [(k, c[k]) for k in ("read", "kept", "dropped", "skipped")]
    rows += [(f"dropped: {k}", n) for k, n in manifest["dropped_by_reason"].items()]
    rows += [(f"kept: {lang}", n) for lang, n in manifest["kept_by_language"].items()]
    rows += [(f"skipped: {k}", n) for k, n in manifest["skipped_by_type"].items()]
    return [{"records": k, "count": n, "share": f"{n / c['read']:.1%}" if c["read"] else "-"} for k, n in rows]


def funnel_markdown(output: str, manifest: dict[str, Any], cfg: Config) -> str:
    """The funnel as a Markdown table: each step with the records it received, dropped and passed on."""
    rows = [[r["step"], r["in"], r["dropped"], r["out"]] for r in funnel(manifest, cfg)]
    languages = ", ".join(f"{lang} {n}" for lang, n in manifest["kept_by_language"].items()) or "no language"
    return "\n".join(
        [
            f"# Curation funnel of {output}",
            "",
            f"Config `{manifest['config_hash']}`; kept by language: {languages}.",
            "",
            *markdown_table(["step", "records in", "dropped", "records out"], rows),
        ]
    )


def report_link(output: str) -> str:
    """Where the run's report.html is: a file:// URL on this machine, the object's location in a store."""
    uri = storage.join(output, REPORT_HTML)
    return uri if storage.is_remote(uri) else Path(uri).as_uri()


def publish_artifacts(deployed_output: str, output: str, manifest: dict[str, Any], cfg: Config) -> None:
    """Attach the run's counts, funnel and report link to the current flow run, keyed by deployed_output (the
    output as the flow was given it) and describing output (where this run published)."""
    create_table_artifact(
        counts_table(manifest), key=artifact_key("counts", deployed_output), description=f"Records of {output}"
    )
    create_markdown_artifact(
        funnel_markdown(output, manifest, cfg),
        key=artifact_key("funnel", deployed_output),
        description=f"Curation funnel of {output}",
    )
    create_link_artifact(
        report_link(output),
        link_text=REPORT_HTML,
        key=artifact_key("report", deployed_output),
        description=f"The run report of {output}",
    )
