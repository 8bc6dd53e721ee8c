"""The URL stage: blocked domains and adult/spam keywords in English and Vietnamese, decided before extraction."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from sieve.filters.base import run_filters
from sieve.filters.url import UrlFilter
from sieve.schemas.config import load_config
from sieve.schemas.document import Document
from sieve.transforms.stages import build_filters, url_stage
from sieve.transforms.warc import read_warc
from tests.conftest import run_beam, write_config

ARTICLES = "tests/data/articles/articles.warc.gz"


def verdict(url: str, stage: UrlFilter | None = None) -> tuple[str, str] | None:
    doc = Document(warc_file="t.warc.gz", warc_offset=0, url=url)
    drop = run_filters(doc, [stage or url_stage(load_config())])
    return (drop.reason, drop.details) if drop else None


@pytest.mark.parametrize(
    "url, reason",
    [
        # Vietnamese betting spam: diacritics dropped, hyphenated, glued, percent-encoded, brand digits attached.
        ("https://nhacai88.com/", "spam_keyword"),
        ("https://soi-keo.net/bong-da-hom-nay", "spam_keyword"),
        ("https://taixiu.club/", "spam_keyword"),
        ("https://example.vn/nha-cai-uy-tin-ca-cuoc-bong-da", "spam_keyword"),
        ("https://example.vn/top-10-nhacai-no-hu-doi-thuong.html", "spam_keyword"),
        ("https://example.vn/nh%C3%A0-c%C3%A1i-t%C3%A0i-x%E1%BB%89u", "spam_keyword"),
        ("https://example.vn/danh-bai-online-lo-de", "spam_keyword"),
        # Vietnamese adult pages.
        ("https://phimsex.xyz/", "adult_keyword"),
        ("https://example.vn/phim-sex-gai-goi-ha-noi", "adult_keyword"),
        # English adult and spam.
        ("https://www.freeporn.xxx/", "adult_keyword"),
        ("https://porn-videos.example.com/", "adult_keyword"),
        ("https://example.com/live/sex-cam-milf", "adult_keyword"),
        ("https://casino-bonus.example.com/", "spam_keyword"),
        ("https://example.com/buy-viagra-cialis-online", "spam_keyword"),
        ("https://example.com/online-casino-poker-roulette", "spam_keyword"),
        # Mixed: adult is the stronger reason.
        ("https://example.com/casino-porn", "adult_keyword"),
    ],
)
def test_adult_and_spam_urls_are_dropped_in_both_languages(url, reason):
    assert verdict(url)[0] == reason


@pytest.mark.parametrize(
    "url",
    [
        # English words that merely contain a keyword.
        "https://www.essexlive.news/news/essex-news/middlesex-hospital-opens-new-ward",
        "https://en.wikipedia.org/wiki/Sextant",
        "https://example.com/blog/analysis-of-sussex-sextant-data",
        "https://example.com/pornography-law-debate",
        "https://example.com/pokerface-lady-gaga-review",
        # News about a single banned topic on an ordinary news domain.
        "https://www.reuters.com/business/macau-casino-regulation-tightens-2024",
        "https://www.bbc.com/news/technology-porn-age-checks-uk",
        "https://vnexpress.net/triet-pha-duong-day-ca-cuoc-bong-da-nghin-ty-4567890.html",
        "https://tuoitre.vn/bat-nhom-danh-bai-tai-quan-cafe-20240101.htm",
        # Glued forms are keywords only where listed: "lode" (lô đề) and "cado" (cá độ) are real names.
        "https://www.lode-mining.com/mother-lode-history",
        "https://cado.example.com/air-purifiers",
        # A keyword only in the query string: search terms are not the page's name.
        "https://example.com/search?q=casino+poker+porn",
    ],
)
def test_ordinary_urls_including_false_positive_traps_are_kept(url):
    assert verdict(url) is None


def test_keyword_drop_names_what_matched_and_where():
    assert verdict("https://nhacai88.com/") == ("spam_keyword", "host: nhacai")
    assert verdict("https://example.vn/nha-cai-uy-tin-ca-cuoc") == ("spam_keyword", "path: nhà cái, cá cược")


@pytest.mark.parametrize(
    "url",
    [
        "https://pornhub.com/view",
        "https://www.pornhub.com/",
        "https://m.fr.pornhub.com/a",
        "https://FB88.com./",
    ],
)
def test_blocked_domain_covers_its_subdomains(url):
    assert verdict(url)[0] == "blocked_domain"


@pytest.mark.parametrize(
    "url", ["https://notpornhub.com/", "https://pornhub.com.example.org/", "https://example.com/pornhub.com"]
)
def test_blocked_domain_does_not_match_lookalikes(url):
    assert verdict(url) is None


def test_user_blocklist_file_and_inline_domains_add_to_the_shipped_list(tmp_path):
    blocklist = tmp_path / "mine.txt"
    blocklist.write_text("# my list\nspam-farm.example  # inline comment\n\nWWW.Other.Example\n", encoding="utf-8")
    cfg = load_config(
        write_config(
            tmp_path / "c.yaml",
            f"url_filter:\n  extra_blocklists: ['{blocklist}']\n  extra_domains: [inline.example]\n",
        )
    )
    stage = url_stage(cfg)
    assert verdict("https://a.b.spam-farm.example/x", stage) == ("blocked_domain", "spam-farm.example")
    assert verdict("https://other.example/", stage) == ("blocked_domain", "other.example")
    assert verdict("https://inline.example/", stage) == ("blocked_domain", "inline.example")
    assert verdict("https://pornhub.com/", stage)[0] == "blocked_domain"


def test_blocklist_path_replaces_the_shipped_list(tmp_path):
    blocklist = tmp_path / "only.txt"
    blocklist.write_text("only.example\n", encoding="utf-8")
    stage = url_stage(load_config(write_config(tmp_path / "c.yaml", f"url_filter:\n  blocklist: '{blocklist}'\n")))
    assert verdict("https://only.example/", stage)[0] == "blocked_domain"
    assert verdict("https://pornhub.com/", stage) is None


def test_missing_blocklist_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    cfg = load_config(write_config(tmp_path / "c.yaml", f"url_filter:\n  extra_blocklists: ['{missing}']\n"))
    with pytest.raises(OSError, match="nope.txt"):
        url_stage(cfg)


def test_path_keyword_threshold_is_configurable(tmp_path):
    strict = url_stage(load_config(write_config(tmp_path / "c.yaml", "url_filter:\n  path_keyword_hits: 1\n")))
    assert verdict("https://www.reuters.com/business/macau-casino-regulation", strict)[0] == "spam_keyword"


@pytest.mark.parametrize(
    "path",
    [
        "tests/data/articles-sample.warc.gz",
        "tests/data/clueweb-quirk.warc.gz",
        "tests/data/warcfile.warc.gz",
        "tests/data/clipped.warc.gz",
        ARTICLES,
    ],
)
def test_every_real_url_is_kept(path):
    stage = url_stage(load_config())
    docs = [item.doc for item in read_warc(path, load_config().read.max_payload_bytes) if item.doc and item.doc.url]
    assert docs
    assert [d.url for d in docs if run_filters(d, [stage])] == []
    if path == ARTICLES:
        assert len(docs) == 181


def test_url_stage_runs_after_the_response_check_and_before_extraction(tmp_path):
    assert [f.stage for f in build_filters(load_config())][:4] == ["response", "url", "language_gate", "extract"]
    off = load_config(write_config(tmp_path / "c.yaml", "url_filter:\n  enabled: false\n"))
    assert "url" not in [f.stage for f in build_filters(off)]


def test_blocked_page_is_dropped_by_the_pipeline_without_being_extracted(data_dir, tmp_path):
    cfg = load_config(write_config(tmp_path / "c.yaml", "url_filter:\n  extra_domains: [uraharajuku.st]\n"))
    run_beam([data_dir / "clueweb-quirk.warc.gz"], tmp_path / "run", cfg, workers=1)
    dropped = [
        r for p in sorted((tmp_path / "run" / "dropped").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    blocked = [r for r in dropped if r["domain"] == "www.uraharajuku.st"]
    assert len(blocked) == 29
    assert all((r["stage"], r["reason"], r["details"]) == ("url", "blocked_domain", "uraharajuku.st") for r in blocked)
    assert all(r["text"] is None and r["n_chars"] is None for r in blocked)
