"""The language gate: a fast language check that drops pages in no kept language before the costly extractor,
and never a page the full path would keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from sieve.filters.base import run_filters
from sieve.filters.extract import Extraction, main_text
from sieve.filters.gate import LanguageGate, language_probabilities
from sieve.filters.language import LanguageId
from sieve.filters.normalize import CleanText
from sieve.schemas.config import load_config
from sieve.schemas.document import Document
from sieve.transforms.stages import build_filters
from sieve.transforms.warc import read_warc
from tests.conftest import DATA, write_config

FR = (
    "Le conseil municipal a voté jeudi soir un nouveau plan de circulation pour le centre-ville, après des mois de "
    "concertation avec les commerçants et les habitants du quartier."
)
DE = (
    "Der Stadtrat hat am Donnerstagabend einen neuen Verkehrsplan für die Innenstadt beschlossen, nach monatelangen "
    "Gesprächen mit Geschäftsleuten und Anwohnern."
)
EN = (
    "The city council approved a new traffic plan for the town centre on Thursday evening, after months of talks "
    "with shop owners and residents. Buses will get their own lanes on the main road from next spring."
)
VI = (
    "Hội đồng thành phố đã thông qua kế hoạch giao thông mới cho khu trung tâm vào tối thứ Năm, sau nhiều tháng "
    "trao đổi với các chủ cửa hàng và người dân trong khu phố."
)


def html_doc(html: str) -> Document:
    return Document(
        warc_file="t.warc.gz",
        warc_offset=0,
        warc_record_id="<urn:uuid:1>",
        url="https://example.com/a",
        http_status=200,
        content_type="text/html",
        payload=html.encode("utf-8"),
    )


def article(*paragraphs: str, extra: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>t</title></head><body><article><h1>News</h1>{body}</article>{extra}</body></html>"


@pytest.mark.parametrize("text, lang", [(FR, "fr"), (DE, "de")])
def test_french_and_german_pages_are_dropped_before_extraction(text, lang):
    doc = html_doc(article(text, text))
    drop = run_filters(doc, build_filters(load_config()))
    assert (drop.stage, drop.reason) == ("language_gate", "language_not_kept")
    assert drop.details.startswith(f"{lang} ") and "< 0.1" in drop.details
    assert doc.text is None and "extract" not in doc.signals  # trafilatura never ran
    assert doc.signals["language_gate"]["language"] == lang


@pytest.mark.parametrize("text, lang", [(EN, "en"), (VI, "vi")])
def test_english_and_vietnamese_pages_pass_and_are_extracted_from_the_decoded_page(text, lang):
    cfg = load_config()
    doc = html_doc(article(text, text))
    assert run_filters(doc, [LanguageGate(cfg), Extraction(cfg)]) is None
    signals = doc.signals["language_gate"]
    assert signals["language"] == lang and signals["score"] > 0.9 and signals["kept_score"] > 0.9
    assert text in doc.text
    assert doc.payload is None and doc.html is None  # the page is released once extracted


def test_page_without_extractable_text_passes_the_gate():
    cfg = load_config()
    doc = html_doc("<html><head><script>var x = 1;</script></head><body><img src='a.png'></body></html>")
    assert run_filters(doc, [LanguageGate(cfg)]) is None
    assert doc.signals["language_gate"] == {"language": None, "score": None, "kept_score": None}


def test_english_article_on_a_mostly_french_page_passes():
    """The English article is a minority of the fast text (French comments), but trafilatura keeps only the article."""
    cfg = load_config()
    html = article(EN, EN, extra='<div id="comments">' + f"<p>{FR}</p>" * 10 + "</div>")
    whole = language_probabilities(main_text(html))
    assert (
        max(whole, key=whole.__getitem__) == "fr" and whole.get("en", 0.0) < cfg.language_gate.min_kept_language_score
    )
    full = html_doc(html)
    assert run_filters(full, [Extraction(cfg), CleanText(cfg), LanguageId(cfg)]) is None and full.language == "en"
    gated = html_doc(html)
    assert run_filters(gated, [LanguageGate(cfg)]) is None
    assert gated.signals["language_gate"]["language"] == "fr"


def test_stored_signals_redecided_with_every_language_kept_pass(tmp_path):
    everything = load_config(write_config(tmp_path / "c.yaml", "language_id:\n  keep: []\n"))
    signals = {"language": "fr", "score": 0.99, "kept_score": 0.0}
    assert LanguageGate(load_config()).decide(html_doc(""), signals).reason == "language_not_kept"
    assert LanguageGate(everything).decide(html_doc(""), signals) is None


@pytest.mark.parametrize(
    "yaml", ["language_gate:\n  enabled: false\n", "language_id:\n  enabled: false\n", "language_id:\n  keep: []\n"]
)
def test_gate_is_wired_before_extraction_only_when_switched_on(tmp_path, yaml):
    stages = [f.stage for f in build_filters(load_config())]
    assert stages[stages.index("language_gate") + 1] == "extract" and stages.index("url") < stages.index(
        "language_gate"
    )
    assert "language_gate" not in [f.stage for f in build_filters(load_config(write_config(tmp_path / "c.yaml", yaml)))]


def up_to_language_id(cfg) -> list:
    """The stages up to the full path's language decision; later stages judge the same text either way."""
    stages = build_filters(cfg)
    return stages[: [f.stage for f in stages].index("language_id") + 1]


def kept_ids(path: Path, filters: list) -> tuple[set[str], int]:
    """doc_ids that pass a stage list from a WARC file, and how many pages the language gate dropped."""
    kept, gated = set(), 0
    for item in read_warc(str(path), load_config().read.max_payload_bytes):
        if item.doc is None or item.drop:
            continue
        drop = run_filters(item.doc, filters)
        kept |= {item.doc.doc_id} if drop is None else set()
        gated += drop is not None and drop.stage == "language_gate"
    return kept, gated


@pytest.mark.parametrize(
    "path", sorted(DATA.glob("*.warc.gz")) + [DATA / "articles" / "articles.warc.gz"], ids=lambda p: p.name
)
def test_gate_keeps_every_real_page_the_full_path_keeps(tmp_path, path):
    """Compared at the language decision, the strictest point: warcfile has a Chinese page whose trafilatura text
    is an English copyright line (kept as en 0.72), which the whole fast text scores at 0.0016 English."""
    off = load_config(write_config(tmp_path / "c.yaml", "language_gate:\n  enabled: false\n"))
    with_gate, gated = kept_ids(path, up_to_language_id(load_config()))
    without_gate, _ = kept_ids(path, up_to_language_id(off))
    assert with_gate == without_gate
    if path.name in ("warcfile.warc.gz", "clueweb-quirk.warc.gz", "articles.warc.gz"):
        assert gated >= 10  # mostly non-English crawl: the gate saves the extractor real work


def gate_drops(path: Path, cfg) -> set[str]:
    """doc_ids the language gate alone drops from a WARC file."""
    gate = LanguageGate(cfg)
    return {
        item.doc.doc_id
        for item in read_warc(str(path), cfg.read.max_payload_bytes)
        if item.doc is not None and not item.drop and run_filters(item.doc, [gate]) is not None
    }


@pytest.mark.parametrize(
    "path", sorted(DATA.glob("*.warc.gz")) + [DATA / "articles" / "articles.warc.gz"], ids=lambda p: p.name
)
def test_the_head_of_the_text_changes_no_gate_decision_on_real_pages(tmp_path, path):
    """A kept language in the first head_chars characters lets a page through without scoring the whole text; it
    could only let more through, and on real pages it lets none."""
    whole = load_config(write_config(tmp_path / "c.yaml", "language_gate:\n  head_chars: 100000000\n"))
    assert gate_drops(path, load_config()) == gate_drops(path, whole)
