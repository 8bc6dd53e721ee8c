"""report.html, the run report a data team reads: built from the published crawl_run, checked as data and in a real
headless Chromium (tests/browser.py)."""

from __future__ import annotations

import re

import pytest

from sieve.flows.report_data import gather
from sieve.flows.report_html import render
from sieve.flows.tools.explain import find_row
from sieve.schemas.config import Config, load_config
from tests.browser import Chromium
from tests.conftest import write_config

pytestmark = [pytest.mark.slow]


def _section(page: str, key: str) -> str:
    return page[page.index(f'<section id="{key}">') :].split("</section>", 1)[0]


def _drop_tables(page: str) -> dict[str, str]:
    """Drop reason -> its sample table, from the sampled rejections section."""
    parts = _section(page, "rejections").split('<h3 id="drop-')[1:]
    return {part.split('"', 1)[0]: part for part in parts}


def test_every_drop_reason_has_its_seeded_sample_with_the_command_that_explains_each(crawl_run):
    out, manifest, _ = crawl_run
    page = (out / "report.html").read_text(encoding="utf-8")
    tables = _drop_tables(page)
    assert set(tables) == set(manifest["dropped_by_reason"])
    for reason, n in manifest["dropped_by_reason"].items():
        assert f": {min(10, n)} of {n:,}</h3>" in tables[reason]  # report.samples: 10 by default
        commands = re.findall(r"sieve explain (\w+) --run (\S+?)</code>", tables[reason])
        assert len(commands) == min(10, n) and {run for _, run in commands} == {str(out)}
        for doc_id, _ in commands:  # each command names a row of the run, dropped for this very reason
            row = find_row(str(out), doc_id)
            assert f"{row['stage']}/{row['reason']}" == reason
    # the kept documents nearest a threshold: e.g. English pages just above gopher_quality.min_words (50)
    assert "<h3>en: gopher_quality.min_words (min 50)</h3>" in _section(page, "near")


def test_the_page_is_self_contained_and_shows_the_runs_thresholds_funnel_and_cutoffs(crawl_run):
    out, manifest, _ = crawl_run
    page = (out / "report.html").read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(u.startswith("#") or u == "report.md" for u in links)  # nothing fetched, no image file
    charts = re.findall(r'<figure class="chart" role="img" aria-label="([^"]+)">(.*?)</figure>', page)
    assert len(charts) >= 8 and all(alt and body.count("<svg ") >= 1 for alt, body in charts)
    assert page.count("<svg ") == page.count("</svg>") > len(charts)  # the signals' charts hold a plot per measure
    signals = _section(page, "signals")
    assert '<td>gopher_quality.min_words</td><td>min</td><td class="n">50</td>' in signals  # the run's config
    head = manifest["passes"]["perplexity"]["cutoffs"]["en"]["head"]
    assert f'<td class="n">{head:.4g}</td>' in signals
    funnel = _section(page, "funnel").split("<h3>Drop reasons</h3>")[0]
    last = funnel.rsplit("<tr>", 1)[1]  # the last step (the dedup pass) leaves the kept documents
    assert last.startswith("<td>dedup</td>") and f'<td class="n">{manifest["counts"]["kept"]:,}</td>' in last
    for section in ("funnel", "signals", "dedup", "pii", "timings", "rejections", "near"):
        assert f'<section id="{section}">' in page


def test_sampling_is_seeded_and_bounded_by_the_config(crawl_run, tmp_path):
    out, manifest, _ = crawl_run
    cfg = load_config(write_config(tmp_path / "c.yaml", "report: {samples: 2, signal_rows: 1, seed: 3}\n"))
    data = gather(str(out), manifest, cfg)
    assert data.sampled_shards == 1  # whole shards until signal_rows rows: one
    assert set(data.sample["shard"].to_pylist()) == {data.sample["shard"][0].as_py()}
    for reason, n in manifest["dropped_by_reason"].items():
        assert len(data.drops[reason]) == min(2, n)
    assert all(len(rows) <= 2 for _, _, rows in data.near)
    for _, rule, rows in data.near:  # nearest first
        distances = [abs(r["value"] - rule.current) for r in rows]
        assert distances == sorted(distances)
    again = gather(str(out), manifest, cfg)
    assert [r["doc_id"] for rows in again.drops.values() for r in rows] == [
        r["doc_id"] for rows in data.drops.values() for r in rows
    ]
    last = data.funnel[-1]
    assert last.left["all"] == manifest["counts"]["kept"] == sum(data.counts.kept.values())
    assert {lang: last.left[lang] for lang in data.groups} == {lang: data.counts.kept[lang] for lang in data.groups}


def test_rendering_the_published_run_again_gives_the_same_samples(crawl_run):
    out, manifest, _ = crawl_run
    page = render(
        str(out), manifest, Config(**manifest["config"]), gather(str(out), manifest, Config(**manifest["config"]))
    )
    published = (out / "report.html").read_text(encoding="utf-8")
    for section in ("rejections", "near", "pii", "funnel"):
        assert _section(page, section) == _section(published, section), section


def test_report_html_renders_in_headless_chromium(crawl_run):
    out, manifest, _ = crawl_run
    with Chromium() as browser:
        browser.load((out / "report.html").as_uri())
        page = browser.evaluate(
            """({
              charts: [...document.querySelectorAll('figure.chart')].map(f => ({
                alt: f.getAttribute('aria-label'),
                plots: [...f.querySelectorAll('svg')].map(s => [s.getBoundingClientRect().width,
                                                               s.getBoundingClientRect().height]),
                shapes: f.querySelectorAll('rect, polygon').length})),
              samples: [...document.querySelectorAll('#rejections table.samples')].map(t => t.rows.length),
              near: document.querySelectorAll('#near table.samples').length,
            })"""
        )
        assert browser.errors() == []
    assert len(page["charts"]) >= 8
    for chart in page["charts"]:  # every chart laid out with plots of a readable size and something drawn in them
        assert chart["plots"] and all(w > 100 and h > 50 for w, h in chart["plots"]) and chart["shapes"], chart
    # one sample table per drop reason, with a header row and up to 10 documents each
    assert sorted(page["samples"]) == sorted(min(10, n) + 1 for n in manifest["dropped_by_reason"].values())
    assert page["near"] > 0
