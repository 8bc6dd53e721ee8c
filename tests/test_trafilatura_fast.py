"""trafilatura without Python callbacks (filters/trafilatura_fast.py): each matcher finds the same elements, in the same
order, as the XPath it replaces, on real pages and on random trees built to hit every branch; and the extracted text
is the same as with trafilatura's own XPaths and lxml.html's Python class lookup."""

from __future__ import annotations

import random

import pytest
from lxml import etree
from lxml.html import HtmlElementClassLookup, fromstring
from trafilatura import utils as U
from trafilatura import xpaths as X

from sieve.filters import trafilatura_fast as P
from sieve.filters.extract import decode_html, extract_text
from sieve.schemas.config import load_config
from sieve.transforms.warc import read_warc


@pytest.fixture(scope="module")
def replaced() -> dict:
    """Every matcher installed; (list, position) -> the XPath it replaced."""
    # the trafilatura sieve pins: every expression and function is the one answered
    assert len(P.install()) == len(P.MATCHERS) + len(P.FUNCTIONS)
    return dict(P.REPLACED)


def test_an_expression_other_than_the_pinned_one_keeps_its_xpath(replaced, monkeypatch):
    other = etree.XPath(".//*[self::div][contains(@class, 'teaser-box')]")
    monkeypatch.setattr(X, "TEASER_DISCARD_XPATH", [other])
    assert "TEASER_DISCARD_XPATH[0]" not in P.install()
    assert X.TEASER_DISCARD_XPATH == [other]


@pytest.fixture(scope="module")
def pages(data_dir) -> list[str]:
    """The 57 real pages of tests/data (several languages, articles, forums, listings), decoded."""
    cfg = load_config()
    return [
        decode_html(item.doc.payload, item.doc.http_charset)
        for name in ("articles-sample.warc.gz", "clueweb-quirk.warc.gz", "warcfile.warc.gz")
        for item in read_warc(str(data_dir / name), cfg.read.max_payload_bytes)
        if item.doc and (item.doc.content_type or "").startswith("text/html") and item.doc.payload
    ]


def _texts(pages: list[str]) -> list[str]:
    """Each page's text with and without trafilatura's fallback (which prunes the raw tree again)."""
    cfg = load_config()
    return [
        extract_text(cfg.extract.model_copy(update={"fallback": mode}), html)
        for mode in ("always", "never")
        for html in pages
    ]


def test_text_is_the_same_as_with_trafilaturas_own_xpaths_and_class_lookup(replaced, pages):
    fast = _texts(pages)
    matchers = {key: getattr(X, key[0])[key[1]] for key in replaced}
    try:
        for (name, index), xpath in replaced.items():
            getattr(X, name)[index] = xpath
        for module, _, _, name, _ in P.FUNCTIONS:
            setattr(module, name, P.FUNCTIONS_REPLACED[name])
        U.HTML_PARSER.set_element_class_lookup(HtmlElementClassLookup())
        assert _texts(pages) == fast
    finally:
        for (name, index), matcher in matchers.items():
            getattr(X, name)[index] = matcher
        for module, _, _, name, function in P.FUNCTIONS:
            setattr(module, name, function)
        U.HTML_PARSER.set_element_class_lookup(P.C_LOOKUP)
    assert len(pages) == 57 and sum(map(bool, fast)) > 100


def test_matchers_answer_what_their_xpaths_do_while_trafilatura_extracts_real_pages(replaced, pages):
    """Checked at the point trafilatura asks (raw tree, cleaned tree, converted tags), with and without its fallback
    (which prunes the raw tree again), on the 57 real pages of tests/data."""
    asked: dict[tuple[str, int], int] = {}
    found: dict[tuple[str, int], int] = {}

    def checked(key, matcher, xpath):
        def answer(tree):
            expected = list(xpath(tree))
            assert matcher(tree) == expected, key
            asked[key] = asked.get(key, 0) + 1
            found[key] = found.get(key, 0) + len(expected)
            return expected

        return answer

    matchers = {key: getattr(X, key[0])[key[1]] for key in replaced}
    try:  # trafilatura's modules import the lists themselves: swap their items, then put the matchers back
        for (name, index), xpath in replaced.items():
            getattr(X, name)[index] = checked((name, index), matchers[name, index], xpath)
        _texts(pages)
    finally:
        for (name, index), matcher in matchers.items():
            getattr(X, name)[index] = matcher
    assert set(asked) == set(replaced)
    assert sum(found.values()) > 1000  # the pages give the matchers real elements to find, not only empty answers


def test_repair_faulty_html_gives_trafilaturas_own_result(replaced, pages):
    """On the real pages, and on pages with each invalid character, a doctype and a self-closing <html/>."""
    own = P.FUNCTIONS_REPLACED["repair_faulty_html"]
    made = {
        c: f'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" />\n<html lang="en" />\n<p>a{c}b</p>'
        for c in ["", *P._INVALID_XML, "\t", "\ufffd"]
    }
    for html in pages + list(made.values()):
        beginning = html[:50].lower()
        assert P._repair_faulty_html(html, beginning) == own(html, beginning)
    assert all("<p>ab</p>" in own(made[c], "<!doctype") for c in P._INVALID_XML)  # each one is what it removes


TAGS = ["div", "section", "aside", "article", "main", "p", "span", "item", "list", "ol", "ul", "details", "h1", "b"]
VALUES = {  # "|"-separated: some values test spaces
    "id": (
        "comments|Comment-3|commentary|disqus_thread|mvp-post-add-box|infinite-scroll|nav-top|footer|related|ad-top"
        "|hidden-x|reply-4|reader-comments|bottom|link|Teaser|my_caption|articleContent|article|story|primary|content"
        "|Main-Content|x"
    ).split("|"),
    "class": (
        "comment-list|post-comments|share-box|social|cookie-bar|menu| ad |widget|elementor-share-buttons|comments-title"
        "|hide-me|a hidden|noprint|page bottom|link|bottom-bar|post|entry|postarea|FullText|story-body|content"
        "|Page-Content|content-main|teaser|caption|x y"
    ).split("|"),
    "style": ["display:none", "display: none", "border: 1px", "hidden", "color: red"],
    "role": ["navigation", "Nav", "article", "main"],
    "aria-hidden": ["true", "false"],
    "itemprop": ["articleBody"],
    "data-component": ["MostPopularStories"],
    "data-lp-replacement-content": [""],
}


def random_tree(rng: random.Random) -> etree._Element:
    """A page of nested elements whose attributes, in random order, draw from the values the expressions test."""

    def element(depth: int) -> str:
        tag = rng.choice(TAGS)
        names = rng.sample(list(VALUES), rng.randint(0, 3))
        attrs = "".join(f' {n}="{rng.choice(VALUES[n])}"' for n in names)
        kids = "".join(element(depth + 1) for _ in range(rng.randint(0, 3) if depth < 4 else 0))
        return f"<{tag}{attrs}>t{kids}</{tag}>"

    return fromstring("<html><body>" + "".join(element(0) for _ in range(4)) + "</body></html>")


def test_matchers_answer_what_their_xpaths_do_on_random_trees(replaced):
    rng = random.Random(7)
    hits = dict.fromkeys(replaced, 0)
    for _ in range(400):
        tree = random_tree(rng)
        for (name, index), xpath in replaced.items():
            expected = list(xpath(tree))
            assert getattr(X, name)[index](tree) == expected, (name, index, etree.tostring(tree))
            hits[name, index] += len(expected)
    assert all(hits.values()), hits  # every expression matched something, so every branch was compared
