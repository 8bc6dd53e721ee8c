"""`sieve calibrate`: per-language thresholds proposed from a run's signals and a clean reference sample.

The FineWeb-2 way: a threshold should drop little of a language's clean text, whatever the English value was.
For each rule (a per-language setting `min_<signal>` or `max_<signal>` of a stage; `{n: value}` settings such as
max_top_ngram_char_frac pair with top_<n>gram_char_frac) the proposal is the quantile of the reference that
keeps `keep` of it (p1 for a minimum, p99 for a maximum, by default). Clean text only shows where a threshold
is too strict, not where junk begins, so by default a rule is only loosened (a current value that already keeps
the reference stays); `tighten` also moves it in, which is sound only with a broad reference. The report shows,
per rule, how much of the reference and of the run the current and the proposed value would drop.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel

from sieve.flows.models.kenlm import read_documents
from sieve.flows.publish import published
from sieve.flows.report import markdown_table
from sieve.schemas.config import Config
from sieve.schemas.document import Document
from sieve.schemas.errors import UsageError
from sieve.schemas.tables import SIGNALS
from sieve.transforms import storage
from sieve.transforms.stages import build_filters


@dataclass(frozen=True)
class Rule:
    """One threshold: the stage, its setting key (and n for {n: value} settings), the signal it bounds, which side."""

    stage: str
    key: str
    n: int | None
    signal: str
    bound: str  # "min" drops below, "max" drops above
    current: float

    @property
    def name(self) -> str:
        return f"{self.stage}.{self.key}" + (f"[{self.n}]" if self.n is not None else "")


def rules(cfg: Config, lang: str) -> list[Rule]:
    """The stored-signal thresholds of a language's settings, found by the min_/max_ naming convention."""
    settings = cfg.language(lang)
    found = []
    for stage, fields in SIGNALS.items():
        section = getattr(settings, stage, None)
        if not isinstance(section, BaseModel):
            continue
        names = {f.name for f in fields}
        for key, value in section.model_dump().items():
            bound, _, rest = key.partition("_")
            if bound not in ("min", "max"):
                continue
            if isinstance(value, dict):
                found += [
                    Rule(stage, key, int(n), rest.replace("ngram", f"{n}gram"), bound, v)
                    for n, v in sorted(value.items())
                    if rest.replace("ngram", f"{n}gram") in names
                ]
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                signal = rest if rest in names else f"n_{rest}" if f"n_{rest}" in names else None
                if signal:
                    found.append(Rule(stage, key, None, signal, bound, value))
    return found


def run_signals(output: str, lang: str) -> Iterator[dict[str, Any]]:
    """The signal struct of every row in language lang of a published run, kept and dropped."""
    manifest, _ = published(output)
    for kind in ("kept", "dropped"):
        for shard in manifest["shards"][kind]:
            table = storage.read_parquet(storage.join(output, shard["path"]), columns=["language", "signals"])
            table = table.filter(pc.fill_null(pc.equal(table["language"], lang), False))
            yield from table["signals"].to_pylist()


def reference_signals(cfg: Config, source: str, lang: str) -> Iterator[dict[str, Any]]:
    """Signals the stages after language id measure on clean reference text (annotate only: nothing is dropped)."""
    filters = build_filters(cfg)
    after = filters[[f.stage for f in filters].index("language_id") + 1 :]
    for text in read_documents(source, lang):
        doc = Document(warc_file="reference", warc_offset=0, text=text, language=lang, language_score=1.0)
        yield {f.stage: f.annotate(doc) for f in after}


def _values(rows: list[dict[str, Any]], rule: Rule) -> np.ndarray:
    return np.array(
        [r[rule.stage][rule.signal] for r in rows if r.get(rule.stage) and r[rule.stage].get(rule.signal) is not None],
        dtype=float,
    )


def _drops(values: np.ndarray, rule: Rule, threshold: float) -> float:
    if not len(values):
        return float("nan")
    return float(np.mean(values < threshold) if rule.bound == "min" else np.mean(values > threshold))


def _round(value: float, rule: Rule) -> float | int:
    """Three significant digits (whole numbers for counts), rounded away from the reference: down for a minimum,
    up for a maximum, so rounding never drops more of it."""
    step = 1.0 if isinstance(rule.current, int) or value == 0 else 10.0 ** (math.floor(math.log10(abs(value))) - 2)
    rounded = (math.floor if rule.bound == "min" else math.ceil)(value / step) * step
    return int(rounded) if isinstance(rule.current, int) else float(f"{rounded:.3g}")


def calibrate(
    cfg: Config, output: str, lang: str, reference: str, keep: float, tighten: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """(config snippet of the thresholds that change, report lines) for language lang."""
    if not 0.5 < keep < 1:
        raise UsageError(f"--keep must be in (0.5, 1), got {keep}")
    run = list(run_signals(output, lang))
    ref = list(reference_signals(cfg, reference, lang))
    if not ref:
        raise UsageError(f"--reference {reference}: no documents")
    proposed: dict[str, dict[str, Any]] = {}
    table = []
    for rule in rules(cfg, lang):
        ref_values, run_values = _values(ref, rule), _values(run, rule)
        if not len(ref_values):
            continue
        value = _round(np.quantile(ref_values, 1 - keep if rule.bound == "min" else keep), rule)
        if not tighten:
            value = min(value, rule.current) if rule.bound == "min" else max(value, rule.current)
        if value != rule.current:
            section = proposed.setdefault(rule.stage, {})
            if rule.n is None:
                section[rule.key] = value
            else:
                section.setdefault(rule.key, {})[rule.n] = value
        pct = lambda x: "-" if math.isnan(x) else f"{x:.1%}"  # noqa: E731
        table.append(
            [
                rule.name,
                rule.bound,
                rule.current,
                value,
                pct(_drops(ref_values, rule, rule.current)),
                pct(_drops(ref_values, rule, value)),
                pct(_drops(run_values, rule, rule.current)),
                pct(_drops(run_values, rule, value)),
                len(run_values),
            ]
        )
    snippet = {"languages": {lang: proposed}}
    lines = [
        f"# sieve calibrate: {lang}",
        "",
        f"- run: `{output}` ({len(run)} rows in {lang}); reference: `{reference}` ({len(ref)} documents)",
        f"- proposal: the reference quantile that keeps {keep:.0%} of it (p{(1 - keep) * 100:g} for a minimum, "
        f"p{keep * 100:g} for a maximum), " + ("loosening or tightening" if tighten else "only loosening"),
        "- each rule alone: the share of documents measured by its stage that it would drop",
        "",
        *markdown_table(
            [
                "rule",
                "bound",
                "current",
                "proposed",
                "ref drop now",
                "ref drop proposed",
                "run drop now",
                "run drop proposed",
                "run docs",
            ],
            table,
        ),
        "",
        "Config snippet (also written as YAML):",
        "",
        "```yaml",
        yaml.safe_dump(snippet, sort_keys=False, allow_unicode=True).rstrip(),
        "```",
    ]
    return snippet, lines
