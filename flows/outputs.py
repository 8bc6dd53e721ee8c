"""The last step of a run or a rethreshold: what a published output holds besides its shards, written in order."""

from __future__ import annotations

from typing import Any

from sieve.flows.card import write_card
from sieve.flows.publish import commit
from sieve.flows.report import write_report
from sieve.flows.report_html import write_html_report
from sieve.schemas.config import Config
from sieve.transforms import lease


def publish(output: str, manifest: dict[str, Any], cfg: Config) -> None:
    """Check this process still holds the output's lease, write report.md, report.html and the dataset card, then
    commit the manifest, which makes them the output's."""
    lease.confirm(output)
    write_report(output, manifest)
    write_html_report(output, manifest, cfg)
    write_card(output, manifest, cfg)
    commit(output, manifest)
