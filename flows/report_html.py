"""report.html beside report.md: what a data team looks at to judge a run, as one self-contained page (charts are inline
SVG drawn by flows/charts.py; no script, nothing fetched): the funnel per language,
each stored signal per language against its thresholds, perplexity buckets, dedup, PII, timings, and for every drop
reason and threshold a seeded sample of documents with the command that explains each; after `sieve eval`, each stage's
precision and recall against the synthetic corpus's truth."""

from __future__ import annotations

import shlex
from collections import Counter
from html import escape
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sieve.filters.dedup import CLUSTER_REASONS
from sieve.flows.charts import Line, Series, figure, hbars, histogram, vbars
from sieve.flows.report import REPORT, REPORT_HTML
from sieve.flows.report_data import NO_LANGUAGE, OTHER, Measure, ReportData, gather, measures, thresholds
from sieve.flows.tools.calibrate import Rule
from sieve.flows.tools.truth_eval import HEADERS
from sieve.schemas.config import Config
from sieve.transforms import storage

BINS = 30
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2, h3 { margin-top: 1.6em; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; margin: 0; min-width: 30em; max-width: 48em; font-size: 12px; }
table.samples td:first-child { max-width: 20em; word-break: break-all; } table.samples code { word-break: break-all; }
code { font-size: 12px; }
figure.chart { display: flex; flex-wrap: wrap; gap: 8px 18px; margin: 0.6em 0; }
.legend { flex-basis: 100%; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
.note { color: #555; }
"""


def write_html_report(
    output: str, manifest: dict[str, Any], cfg: Config, evaluation: dict[str, Any] | None = None
) -> str:
    """Write report.html beside report.md from the manifest and the run's shards, with the run's scores against a
    synthetic corpus's truth when given (`sieve eval`); returns its location."""
    uri = storage.join(output, REPORT_HTML)
    storage.write_text(uri, render(output, manifest, cfg, gather(output, manifest, cfg), evaluation))
    return uri


def render(
    output: str, manifest: dict[str, Any], cfg: Config, data: ReportData, evaluation: dict[str, Any] | None = None
) -> str:
    """The whole page."""
    sections = [
        ("funnel", "Funnel", _funnel(data)),
        *([("truth", "Against the truth", _truth(evaluation))] if evaluation else []),
        ("signals", "Signals against thresholds", _signals(manifest, cfg, data)),
        ("dedup", "Deduplication", _dedup(manifest, data)),
        ("pii", "PII", _pii(data)),
        ("timings", "Timings and throughput", _timings(manifest)),
        ("rejections", "Sampled rejections", _rejections(output, cfg, data)),
        ("near", "Kept documents nearest each threshold", _near(output, data)),
    ]
    c = manifest["counts"]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>sieve run report: {escape(output)}</title>",
            f"<style>{STYLE}</style></head><body>",
            "<h1>sieve run report</h1>",
            f"<p>{escape(output)}: config <code>{escape(manifest['config_hash'])}</code>, read {c['read']:,}, "
            f"kept {c['kept']:,}, dropped {c['dropped']:,}, skipped {c['skipped']:,}. "
            f'The same run as tables: <a href="{REPORT}">{REPORT}</a>.</p>',
            "<nav>" + "".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections) + "</nav>",
            *(
                f'<section id="{key}"><h2>{title}</h2>\n' + "\n".join(body) + "</section>"
                for key, title, body in sections
            ),
            "</body></html>",
        ]
    )


class Raw(str):
    """Markup a table cell holds as it is (every other cell is escaped)."""


def _table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    """An HTML table; numbers right-aligned, every cell escaped unless it is Raw markup."""

    def cell(v: Any) -> str:
        if isinstance(v, Raw):
            return f"<td>{v}</td>"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f'<td class="n">{v:,}</td>' if isinstance(v, int) else f'<td class="n">{_num(v)}</td>'
        return f"<td>{escape(str(v))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "-"


def _link(anchor: str, text: str) -> Raw:
    return Raw(f'<a href="#{escape(anchor)}">{escape(text)}</a>')


def _colors(data: ReportData) -> dict[str, str]:
    return {lang: f"C{i}" for i, lang in enumerate(data.groups)} | {OTHER: "C8", NO_LANGUAGE: "C7"}


# The funnel.


def _funnel(data: ReportData) -> list[str]:
    """The funnel per language (chart and table) and the drop reasons per language."""
    groups = ["all", *data.groups]
    steps = [row.step for row in data.funnel]
    panels = [
        hbars(
            f"{group}: {data.funnel[-1].left.get(group, 0):,} kept",
            steps,
            [
                Series(
                    [row.left.get(group, 0) for row in data.funnel], "C2" if group == "all" else _colors(data)[group]
                ),
                Series([row.dropped.get(group, 0) for row in data.funnel], "C3", opacity=0.6),
            ],
            stacked=True,
            show_labels=group == "all",
            width=300 if group == "all" else 220,
        )
        for group in groups
    ]
    chart = figure(
        panels,
        "funnel: records left and dropped after each step, per language",
        [("left (all; languages in their colour)", "C2"), ("dropped", "C3")],
    )
    side = [g for g in (OTHER, NO_LANGUAGE) if any(g in row.dropped for row in data.funnel)]
    headers = ["step", "received", "dropped", "left"]
    headers += [f"{lang} {what}" for lang in data.groups for what in ("dropped", "left")]
    headers += [f"{g} dropped" for g in side]
    rows = [
        [row.step, row.received, row.dropped["all"], row.left["all"]]
        + [n for lang in data.groups for n in (row.dropped.get(lang, 0), row.left[lang])]
        + [row.dropped.get(g, 0) for g in side]
        for row in data.funnel
    ]
    reasons = data.counts.by_reason(data.groups)
    total = sum(n["all"] for n in reasons.values())
    reason_rows = [
        [_link(f"drop-{key}", key), n["all"], _share(n["all"], total)] + [n[g] for g in (*data.groups, *side)]
        for key, n in sorted(reasons.items(), key=lambda kv: (-kv[1]["all"], kv[0]))
    ]
    return [
        "<p>Each step receives what the steps above it left. A language's records enter at language id (rows "
        f"dropped earlier have no language: {NO_LANGUAGE}); {OTHER} are languages not kept.</p>",
        chart,
        _table(headers, rows),
        "<h3>Drop reasons</h3>",
        _table(["stage/reason", "dropped", "share of dropped", *data.groups, *side], reason_rows),
    ]


def _truth(evaluation: dict[str, Any]) -> list[str]:
    """Each stage's precision and recall against the synthetic corpus's truth (flows/tools/truth_eval.py)."""
    checks = evaluation["checks"]
    scored = [c for c in checks if c["precision"] is not None or c["recall"] is not None]
    names = [c["check"] for c in scored]
    series = [Series([c[key] or 0 for c in scored], color) for key, color in (("precision", "C0"), ("recall", "C2"))]
    chart = figure(
        [hbars("precision and recall", names, series, xmax=1, width=520)],
        "precision and recall per check against the truth",
        [("precision", "C0"), ("recall", "C2")],
    )
    records = evaluation["records"]
    return [
        f"<p>The run's rows checked against {escape(evaluation['truth'])}: {records['in_run']:,} of its "
        f"{records['truth']:,} records are in the run. <em>planted</em>: records the truth says the stage should "
        "remove; <em>reached</em>: those no earlier stage dropped (for duplicates: the copies to remove, one kept per "
        "cluster); <em>flagged</em>: rows the stage dropped that the truth labels; <em>correct</em>: those of them "
        "planted; <em>unscored</em>: drops the truth has no say on (a page of no planted language, a near copy below "
        "the Jaccard threshold); <em>removed</em>: planted records not kept, whichever stage took them. For PII, "
        "<em>correct</em> counts the planted values gone from the stored text and <em>flagged</em> the spans "
        "replaced; for the article text, the mean shingle precision and recall of kept text against the true body. "
        "Also in eval.json.</p>",
        chart,
        _table(HEADERS, [["-" if c[h] is None else c[h] for h in HEADERS] for c in checks]),
    ]


# Signals.


def _lines(manifest: dict[str, Any], rules: list[Rule], lang: str, m: Measure) -> list[tuple[float, str]]:
    """(value, line style) of the lines a measure's plot draws for a language: its thresholds (dashed), and for
    perplexity the head/tail cut-offs of the run's buckets (dotted)."""
    out = [(r.current, "--") for r in rules if (r.stage, r.signal) == (m.stage, m.name)]
    cutoffs = manifest.get("passes", {}).get("perplexity", {}).get("cutoffs", {}).get(lang)
    if m.column == "perplexity" and cutoffs:
        out += [(cutoffs["head"], ":"), (cutoffs["tail"], ":")]
    return out


def _bins(values: np.ndarray, extra: list[float]) -> tuple[np.ndarray, bool]:
    """Bin edges covering the values and the lines drawn; log-spaced (symlog axis) when they span many decades."""
    lo, hi = min([float(values.min()), *extra]), max([float(values.max()), *extra])
    if hi == lo:
        hi = lo + 1
    if lo >= 0 and (hi + 1) / (lo + 1) > 100:
        return np.expm1(np.linspace(np.log1p(lo), np.log1p(hi), BINS + 1)), True
    return np.linspace(lo, hi, BINS + 1), False


def _signals(manifest: dict[str, Any], cfg: Config, data: ReportData) -> list[str]:
    """Per stage (in pipeline order), its measures' histograms per language against their thresholds, and the share
    each threshold drops."""
    sample = data.sample
    langs = {lang: sample.filter(pc.fill_null(pc.equal(sample["language"], lang), False)) for lang in data.groups}
    shown = pc.is_in(sample["language"], pa.array(data.groups, pa.string()))
    langs[OTHER] = sample.filter(pc.and_(pc.is_valid(sample["language"]), pc.invert(shown)))  # languages not kept
    langs[NO_LANGUAGE] = sample.filter(pc.is_null(sample["language"]))  # dropped before language id
    rules = {lang: thresholds(cfg, lang if lang in data.groups else None) for lang in langs}
    steps = [row.step for row in data.funnel]
    stages = sorted(
        dict.fromkeys(m.stage for m in measures()), key=lambda s: steps.index(s) if s in steps else len(steps)
    )
    out = [
        f"<p>From {sample.num_rows:,} rows of {data.sampled_shards} of the run's "
        f"{len(manifest['shards']['kept']) + len(manifest['shards']['dropped'])} shards (a seeded sample of whole "
        f"shards; report.signal_rows), kept and dropped: every row a stage measured, by language ({OTHER}: "
        f"languages not kept, {NO_LANGUAGE}: rows dropped before language id). Each histogram is scaled to its own "
        "peak; dashed lines are thresholds in the language's colour, dotted ones perplexity's head/tail cut-offs. "
        "'Dropped by it' is the share of the measured rows beyond a threshold: what it drops alone.</p>"
    ]
    for stage in stages:
        out += _stage_signals(stage, manifest, langs, rules, _colors(data))
    return out


def _stage_signals(
    stage: str,
    manifest: dict[str, Any],
    langs: dict[str, pa.Table],
    rules: dict[str, list[Rule]],
    colors: dict[str, str],
) -> list[str]:
    """One stage's histograms (constant measures named instead), its thresholds' shares, perplexity's buckets."""
    plotted, constant = [], []
    shares: dict[tuple[str, str], dict[str, list[Any]]] = {}  # (threshold, bound) -> language -> its cells
    for m in (m for m in measures() if m.stage == stage):
        values = {lang: v for lang, t in langs.items() if len(v := t[m.column].drop_null().to_numpy())}
        if not values:
            continue
        if len(np.unique(np.concatenate(list(values.values())))) == 1:
            constant.append(f"{m.name} = {_num(float(next(iter(values.values()))[0]))}")
        else:
            plotted.append((m, values))
        for lang, v in values.items():
            for rule in (r for r in rules[lang] if (r.stage, r.signal) == (m.stage, m.name)):
                beyond = int(np.sum(v < rule.current) if rule.bound == "min" else np.sum(v > rule.current))
                cells = [rule.current, f"{beyond:,} of {len(v):,} ({_share(beyond, len(v))})"]
                shares.setdefault((rule.name, rule.bound), {})[lang] = cells
    if not plotted and not constant:
        return []
    out = [f"<h3>{escape(stage)}</h3>"]
    if plotted:
        out.append(_histograms(stage, plotted, manifest, rules, colors))
    if constant:
        out.append(f'<p class="note">The same in every measured row: {escape(", ".join(constant))}.</p>')
    if shares:
        shown = [lang for lang in langs if any(lang in by_lang for by_lang in shares.values())]
        headers = ["threshold", "bound"] + [f"{lang} {what}" for lang in shown for what in ("value", "dropped by it")]
        rows = [
            [*key, *(c for lang in shown for c in by_lang.get(lang, ["-", "-"]))] for key, by_lang in shares.items()
        ]
        out.append(_table(headers, rows))
    if stage == "perplexity":
        out += _buckets(manifest)
    return out


def _histograms(
    stage: str,
    plotted: list[tuple[Measure, dict[str, np.ndarray]]],
    manifest: dict[str, Any],
    rules: dict[str, list[Rule]],
    colors: dict[str, str],
) -> str:
    """One small plot per measure: each language's histogram (scaled to its peak) and lines in its colour."""
    panels = []
    for m, values in plotted:
        lines = {lang: _lines(manifest, rules[lang], lang, m) for lang in values}
        edges, log = _bins(np.concatenate(list(values.values())), [x for ls in lines.values() for x, _ in ls])
        series = [Series(np.histogram(v, edges)[0].tolist(), colors[lang]) for lang, v in values.items()]
        marks = [
            Line(x, colors[lang], "4 3" if style == "--" else "1 3") for lang in values for x, style in lines[lang]
        ]
        panels.append(histogram(m.name, edges.tolist(), series, marks, log))
    shown = [lang for lang in colors if any(lang in values for _, values in plotted)]
    return figure(
        panels,
        f"{stage}: histograms of its signals per language with thresholds",
        [(lang, colors[lang]) for lang in shown],
    )


def _buckets(manifest: dict[str, Any]) -> list[str]:
    """The perplexity buckets' cut-offs per language, as the corpus pass set them."""
    pp = manifest.get("passes", {}).get("perplexity")
    if not pp:
        return []
    rows = [
        [lang, cut["documents"], cut["head"], cut["tail"], pp["without_perplexity"].get(lang, 0)]
        for lang, cut in sorted(pp["cutoffs"].items())
    ]
    tail = "dropped" if pp["drop_tail"] else "kept"
    return [
        f"<p>Buckets per language over this run: head &le; p{pp['head_percentile']:g} &lt; middle &le; "
        f"p{pp['tail_percentile']:g} &lt; tail; the tail is {tail}.</p>",
        _table(
            [
                "language",
                "scored",
                f"p{pp['head_percentile']:g} (head)",
                f"p{pp['tail_percentile']:g} (tail)",
                "no model",
            ],
            rows,
        ),
    ]


# Deduplication, PII, timings.


def _dedup(manifest: dict[str, Any], data: ReportData) -> list[str]:
    """Cluster sizes, what each level found and removed, and the lines and sentences cut from kept documents."""
    dd = manifest.get("passes", {}).get("dedup")
    if not dd:
        return ["<p>Deduplication is off (dedup.enabled: false).</p>"]
    clusters, pairs, spans = dd["clusters"], dd["pairs"], dd["spans"]
    sizes = sorted((int(k), n) for k, n in clusters["size_histogram"].items())
    removed = dict.fromkeys(CLUSTER_REASONS, 0) | {
        k.split("/", 1)[1]: n for k, n in manifest["dropped_by_reason"].items() if k.startswith("dedup/")
    }
    found = {
        "exact pairs": pairs["exact"],
        "near candidates": pairs["candidates"],
        "near verified": pairs["verified"],
        "boilerplate lines": dd["frequent_lines"],
        "duplicated spans": spans.get("duplicated", 0),
    }
    edits = {
        k: data.counts.dedup_edits.get(k, 0) for k in ("lines_removed", "sentences_removed", "span_sentences_removed")
    }
    charts = [
        ("documents per cluster", [str(k) for k, _ in sizes], [n for _, n in sizes]),
        ("found per level", list(found), list(found.values())),
        ("documents removed per level", list(removed), list(removed.values())),
        ("cut from kept documents", list(edits), list(edits.values())),
    ]
    panels = [vbars(title if values else f"{title}: none", labels, values, "C0") for title, labels, values in charts]
    return [
        f"<p>{clusters['count']:,} clusters of {clusters['documents']:,} documents, {clusters['removed']:,} removed; "
        f"{dd['params']['bands']} bands x {dd['params']['rows']} rows, Jaccard threshold {dd['params']['threshold']}; "
        f"lines in more than {dd['max_documents']} documents of their group of {dd.get('line_group_files', 'all')} "
        "files are boilerplate.</p>",
        figure(panels, "dedup: cluster sizes, pairs found, documents removed and text cut per level"),
        _table(["cluster size", "clusters"], sizes) if sizes else "",
        _table(["level", "found"], [[k, n] for k, n in found.items()]),
        _table(["reason", "documents removed"], [[k, n] for k, n in removed.items()]),
        _table(
            ["cut from kept documents", "count"],
            [[k, n] for k, n in {**edits, "chars_removed": data.counts.dedup_edits.get("chars_removed", 0)}.items()],
        ),
    ]


def _pii(data: ReportData) -> list[str]:
    """PII spans replaced per entity type, over the run and per language."""
    by_type: Counter = Counter()
    for (_, kind), n in data.counts.pii.items():
        by_type[kind] += n
    if not by_type:
        return ["<p>No PII span was replaced in any row.</p>"]
    kinds = sorted(by_type, key=lambda k: (-by_type[k], k))
    langs = sorted({lang or NO_LANGUAGE for lang, _ in data.counts.pii})
    chart = hbars("spans replaced per type", kinds, [Series([by_type[k] for k in kinds], "C4")], width=420)
    per_lang = Counter({(lang or NO_LANGUAGE, kind): n for (lang, kind), n in data.counts.pii.items()})
    return [
        "<p>Spans replaced in the text, details and URL of every row written, kept and dropped.</p>",
        figure([chart], "PII spans replaced per entity type"),
        _table(["type", "spans", *langs], [[k, by_type[k], *(per_lang[(lang, k)] for lang in langs)] for k in kinds]),
    ]


def _timings(manifest: dict[str, Any]) -> list[str]:
    """Throughput, and the seconds of whatever phases the manifest records: the run's (run.phases, when recorded),
    each Beam job's and each dedup step's; per Beam worker its warm-up, steady work and idle tail."""
    run, c = manifest["run"], manifest["counts"]
    mb = sum(i["size"] for i in manifest["inputs"]) / 1e6
    recorded = run.get("phases", {})
    phases = [(name, s) for name, s in recorded.items() if isinstance(s, (int, float)) and name != "total"]
    phases += [
        (f"beam job {i + 1}: {b['files']} files", b["seconds"]) for i, b in enumerate(run["batches"]) if "seconds" in b
    ]
    phases += [(f"dedup: {k}", s) for k, s in manifest.get("passes", {}).get("dedup", {}).get("seconds", {}).items()]
    seconds = max(run["seconds"], 1e-9)
    rows = [
        ["runner", f"{run['runner']} ({run['workers']} workers)"],
        ["files", f"{len(manifest['files'])}, {run['files_resumed']} committed by an earlier run"],
        ["document stages and corpus passes", f"{run['seconds']:.1f} s"],
        ["records/s", f"{c['read'] / seconds:,.1f}"],
        ["kept documents/s", f"{c['kept'] / seconds:,.1f}"],
        ["input MB/s", f"{mb / seconds:,.2f} ({mb:,.1f} MB)"],
    ]
    if "total" in recorded:
        rows.append(["the whole command", f"{recorded['total']:.1f} s"])
    out = [_table(["", "this run"], rows)]
    if phases:
        labels = [name for name, _ in phases]
        chart = hbars("seconds per phase", labels, [Series([s for _, s in phases], "C1")], width=520)
        out += [figure([chart], "seconds per phase"), _table(["phase", "seconds"], [[p, s] for p, s in phases])]
    if recorded.get("workers"):
        workers = recorded["workers"]
        keys = list(next(iter(workers.values())))
        out.append(_table(["Beam worker", *keys], [[name, *(w.get(k) for k in keys)] for name, w in workers.items()]))
    return out


# Sampled documents.


def _explain(output: str, doc_id: str) -> Raw:
    return Raw(f"<code>{escape(f'sieve explain {doc_id} --run {shlex.quote(output)}')}</code>")


def _text(row: dict[str, Any]) -> Raw:
    text = row["text"]
    return Raw(f"<pre>{escape(text)}</pre>" if text else '<span class="note">(no text stored)</span>')


def _rejections(output: str, cfg: Config, data: ReportData) -> list[str]:
    """For every drop reason, its sampled documents: URL, language, the drop's details, first lines, explain."""
    out = [
        f"<p>For every drop reason, a seeded sample of up to {cfg.report.samples} of its documents (report.samples, "
        "report.seed), with the first lines of their text as stored (PII scrubbed) and the command that shows every "
        "stage's signals and settings for the document.</p>"
    ]
    total = data.counts.by_reason(data.groups)
    for key, rows in data.drops.items():
        out.append(f'<h3 id="drop-{escape(key)}">{escape(key)}: {len(rows)} of {total[key]["all"]:,}</h3>')
        out.append(
            _table(
                ["URL", "language", "signal against threshold", "first lines", "explain"],
                [
                    [
                        row["url"] or "-",
                        row["language"] or "-",
                        row["details"] or "-",
                        _text(row),
                        _explain(output, row["doc_id"]),
                    ]
                    for row in rows
                ],
                cls="samples",
            )
        )
    return out


def _near(output: str, data: ReportData) -> list[str]:
    """Per language and threshold, the sampled kept documents nearest it, with their value."""
    out = [
        "<p>Per language and threshold, the kept documents of the signal sample whose value is nearest it: what the "
        "threshold lets through at its edge.</p>"
    ]
    for lang, rule, rows in data.near:
        out.append(f"<h3>{escape(lang)}: {escape(rule.name)} ({rule.bound} {_num(rule.current)})</h3>")
        out.append(
            _table(
                ["URL", "value", "first lines", "explain"],
                [[row["url"] or "-", row["value"], _text(row), _explain(output, row["doc_id"])] for row in rows],
                cls="samples",
            )
        )
    return out
