"""The default chain after extraction on the held-out pages (tests/data/heldout: written on December 6 by sessions
that never read sieve's filters, lists or tests): what it keeps and drops, every exception named with its reason."""

from __future__ import annotations

import pytest

from sieve.schemas.config import load_config
from tests.conftest import DATA
from tests.test_perplexity import after_extraction, verdicts

HELD_OUT = DATA / "heldout"
# Ordinary and contact pages the chain loses: Gopher's and FineWeb's own rules, which drop tables of figures and
# pages whose lines end without punctuation (comment threads, lyrics, timetables) by design.
ORDINARY_LOST = {
    "en/ordinary/10-football-results-table.txt": "gopher_quality/alpha_words_frac",
    "en/ordinary/11-song-lyrics.txt": "fineweb/line_punct_frac",
    "en/ordinary/22-car-forum-gear-knob.txt": "fineweb/line_punct_frac",
    "en/ordinary/23-bakery-facebook-comments.txt": "fineweb/line_punct_frac",
    "en/ordinary/27-bus-timetable-service-42.txt": "gopher_quality/alpha_words_frac",  # 0.690: stop times
    "vi/ordinary/06-ket-qua-v-league.txt": "gopher_quality/alpha_words_frac",
    "vi/ordinary/20-lich-xe-buyt.txt": "fineweb/line_punct_frac",
}
# Abusive pages kept (no list word: "con lợn", "muốn ói"), and junk pages kept: synonym-spun text, fluent keyword
# pages, filler and interleaved articles keep everyday word pairs and a fluent word order (docs/quality-thresholds.md).
TOXIC_KEPT = {"vi/toxic/08-chat-bat-nat-hoc-sinh.txt"}
JUNK_KEPT = {
    "en/junk/01-spinner-fitness-article.txt",
    "en/junk/02-word-salad-seo-insurance.txt",
    "en/junk/03-word-salad-seo-crypto-health.txt",
    "en/junk/05-machine-filler-importance.txt",
    "en/junk/06-interleaved-three-articles.txt",
    "en/junk/07-spun-product-description.txt",
    "vi/junk/01-bai-viet-spin-tu-dong.txt",
    "vi/junk/03-seo-word-salad-b.txt",
    "vi/junk/05-van-ban-may-sinh-rong-tuech.txt",
    "vi/junk/06-ba-bai-xen-ke.txt",
    "vi/junk/07-mo-ta-san-pham-spin.txt",
}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[str | None, str | None]]:
    """page (lang/group/name) -> (language identified, stage/reason of its drop or None)."""
    paths = sorted(HELD_OUT.glob("*/*/*.txt"))
    found = verdicts(after_extraction(load_config()), [p.read_text(encoding="utf-8") for p in paths])
    return {
        str(p.relative_to(HELD_OUT)): (doc.language, drop and f"{drop.stage}/{drop.reason}")
        for p, (doc, drop) in zip(paths, found)
    }


def test_every_held_out_page_is_identified_in_its_language(outcomes):
    assert len(outcomes) == 102
    assert {page for page, (lang, _) in outcomes.items() if lang != page[:2]} == set()


def test_ordinary_and_contact_pages_are_kept_but_the_named_ones(outcomes):
    lost = {page: drop for page, (_, drop) in outcomes.items() if page.split("/")[1] in ("ordinary", "pii") and drop}
    assert lost == ORDINARY_LOST


def test_abusive_pages_are_dropped_but_the_named_ones(outcomes):
    kept = {page for page, (_, drop) in outcomes.items() if "/toxic/" in page and drop is None}
    assert kept == TOXIC_KEPT


def test_junk_the_chain_catches_stays_caught(outcomes):
    kept = {page for page, (_, drop) in outcomes.items() if "/junk/" in page and drop is None}
    assert kept == JUNK_KEPT
