"""trafilatura's lxml work without Python callbacks: its pruning XPaths answered in Python (the same elements in the
same order, three to six times faster) and its parser's element classes looked up in C.

trafilatura 2.3 tests element ids and classes with EXSLT regular expressions (`re:test`), which lxml runs as a Python
callback for every element and attribute it visits; its seven pruning expressions were a third of its time on real
pages. Each matcher below answers one of those expressions, and `install` puts it in trafilatura's list in place of
the expression only when the expression's text is the one the matcher was written from (its digest): another
trafilatura version keeps its own XPaths. lxml.html's parser also calls a Python lookup for the class of every element
Python touches (forms and inputs get their own); trafilatura uses none of those classes' extras, so its parser gets
lxml's C lookup with the same HtmlElement for every tag. Two of its functions do work a fast extraction never uses
(FUNCTIONS, pinned by their source the same way). tests/test_trafilatura_fast.py checks every matcher against its
XPath, and the text with all these changes against the text without, on real pages.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from copy import copy
from types import ModuleType

from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura import core as C
from trafilatura import utils as U
from trafilatura import xpaths as X

# The XPath tests `self::a or self::b ...` that the expressions filter on.
_BLOCKS = ("div", "item", "list", "p", "section", "span")
_CONTAINERS = ("div", "section", "aside")
_COMMENT_BLOCKS = ("div", "list", "section", "details")


def _first(el: HtmlElement, a: str, b: str) -> str:
    """XPath's string(@a|@b): the value of whichever of the two attributes comes first in the tag, '' if neither."""
    x, y = el.get(a), el.get(b)
    if x is None or y is None:
        return x if x is not None else (y or "")
    keys = el.keys()
    return x if keys.index(a) < keys.index(b) else y


def _search(pattern: str) -> Callable[[str], re.Match | None]:
    return re.compile(pattern).search


_RAW_ANY = _search("mvp-post-add-(?:box|wrap)|infinite-?scroll")
_RAW_BOX = _search("mvp-post-add-(?:box|wrap)")


def _raw_tree_prune(tree: HtmlElement) -> list[HtmlElement]:
    out = []
    for el in tree.iterdescendants(*_CONTAINERS):
        i, c = el.get("id") or "", el.get("class") or ""
        if (_RAW_ANY(i) or _RAW_ANY(c)) and (
            next(el.iterdescendants("h1"), None) is None or _RAW_BOX(i) or _RAW_BOX(c)
        ):
            out.append(el)
    return out


def _share_buttons(tree: HtmlElement) -> list[HtmlElement]:
    return [el for el in tree.iterdescendants(*_CONTAINERS) if "elementor-share-buttons" in (el.get("class") or "")]


_COMMENT_ID = _search(f"^(?:{X._COMMENTS_ID}|disqus_thread|dsq-comments)")
_COMMENT_LIST_ID = _search(f"^(?:{X._COMMENTS_ID})")
_COMMENT_CLASS = _search(X._COMMENTS_CLASS)


def _comments(tree: HtmlElement) -> list[HtmlElement]:
    return [
        el
        for el in tree.iterdescendants(*_COMMENT_BLOCKS)
        if _COMMENT_ID(el.get("id") or "") or _COMMENT_CLASS(el.get("class") or "")
    ]


def _comments_and_lists(tree: HtmlElement) -> list[HtmlElement]:
    out = []
    for el in tree.iterdescendants(*_COMMENT_BLOCKS, "ol", "ul"):
        i, c = el.get("id") or "", el.get("class") or ""
        if el.tag in ("ol", "ul"):
            if _COMMENT_LIST_ID(i) or _COMMENT_CLASS(c):
                out.append(el)
        elif _COMMENT_ID(i) or _COMMENT_CLASS(c):
            out.append(el)
    return out


_CONSENT = _search(X._alt(X._CONSENT_ID_CLASS_TOKENS))
_DISCARD_ID = _search(X._alt(X._OVERALL_DISCARD_BOTH_TOKENS + X._OVERALL_DISCARD_ID_TOKENS))
_DISCARD_CLASS = _search(X._alt(X._OVERALL_DISCARD_BOTH_TOKENS + X._OVERALL_DISCARD_CLASS_TOKENS))


def _overall_discard(tree: HtmlElement) -> list[HtmlElement]:
    return [
        el
        for el in tree.iterdescendants(*_BLOCKS)
        if el.get("data-lp-replacement-content") is not None
        or "nav" in (el.get("role") or "").replace("N", "n")
        or "MostPopularStories" in (el.get("data-component") or "")
        or _CONSENT(_first(el, "id", "class"))
        or _DISCARD_ID(el.get("id") or "")
        or _DISCARD_CLASS(el.get("class") or "")
    ]


_HIDDEN_ID = _search("reader-comments|akismet")
_HIDDEN_CLASS = _search(
    "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint"
    "|notloaded"
)


def _hidden(tree: HtmlElement) -> list[HtmlElement]:
    out = []
    for el in tree.iterdescendants(etree.Element):  # every element, not comments or processing instructions
        c, style = el.get("class"), el.get("style") or ""
        if (
            c == "comments-title"
            or _first(el, "id", "class").startswith("reply-")
            or "hidden" in _first(el, "id", "style")
            or "display:none" in style
            or "display: none" in style
            or _HIDDEN_ID(el.get("id") or "")
            or _HIDDEN_CLASS(c or "")
            or el.get("aria-hidden") == "true"
        ):
            out.append(el)
    return out


_BOTTOM = _search(r"(^|\s)bottom|bottom(\s|$)")
_LINK = _search(r"(^|\s)link(\s|$)")


def _precision(tree: HtmlElement) -> list[HtmlElement]:
    out = []
    for el in tree.iterdescendants(*_BLOCKS):
        first = _first(el, "id", "class")
        if _BOTTOM(first) or _LINK(first) or "border" in (el.get("style") or ""):
            out.append(el)
    return out


def _teasers(tree: HtmlElement) -> list[HtmlElement]:
    return [
        el
        for el in tree.iterdescendants(*_BLOCKS)
        if "teaser" in (el.get("id") or "").replace("T", "t") or "teaser" in (el.get("class") or "").replace("T", "t")
    ]


def _captions(tree: HtmlElement) -> list[HtmlElement]:
    return [
        el
        for el in tree.iterdescendants(*_BLOCKS)
        if "caption" in (el.get("id") or "") or "caption" in (el.get("class") or "")
    ]


_ARTICLES = ("article", "div", "main", "section")
_ARTICLE_ID = _search(X._alt(X._ARTICLE_CONTENT_ID_TOKENS))
_ARTICLE_CLASS = _search(X._alt(X._ARTICLE_CONTENT_CLASS_TOKENS))
_STORY_ID = _search(X._alt(X._STORY_ID_TOKENS))
_STORY_CLASS = _search(X._alt(X._STORY_CLASS_TOKENS))
_FULLTEXT = re.compile("fulltext", re.IGNORECASE).search
_MAIN_ID = _search(X._alt(X._MAIN_CONTENT_ID_TOKENS))
_MAIN_CLASS = _search(X._alt(X._MAIN_CONTENT_CLASS_TOKENS))


def _article_bodies(tree: HtmlElement) -> list[HtmlElement]:
    """`.//*[...][1]`: the first matching child of every element, in document order."""
    out, parents = [], set()
    for el in tree.iterdescendants(*_ARTICLES):
        i, c = el.get("id"), el.get("class")
        if (
            c in ("post", "entry")
            or el.get("itemprop") == "articleBody"
            or i == "articleContent"
            or _ARTICLE_ID(i or "")
            or _ARTICLE_CLASS(c or "")
        ):
            parent = el.getparent()
            if parent not in parents:
                parents.add(parent)
                out.append(el)
    return out


def _first_story(tree: HtmlElement) -> list[HtmlElement]:
    """`(.//*[...])[1]`: the first matching element."""
    for el in tree.iterdescendants(*_ARTICLES):
        i, c = el.get("id"), el.get("class")
        if (
            el.get("role") == "article"
            or i in ("article", "story")
            or c in ("postarea", "art-postcontent", "text", "cell", "story")
            or _STORY_ID(i or "")
            or _FULLTEXT(c or "")
            or _STORY_CLASS(c or "")
        ):
            return [el]
    return []


def _first_main(tree: HtmlElement) -> list[HtmlElement]:
    """`(.//*[...])[1]`: the first matching element."""
    for el in tree.iterdescendants(*_ARTICLES):
        i, c = el.get("id") or "", el.get("class") or ""
        if (
            "content" in (i, c)
            or _MAIN_ID(i)
            or _MAIN_CLASS(c)
            or "main-content" in i.replace("C", "c").replace("M", "m")
            or "main-content" in c.replace("C", "c").replace("M", "m")
            or "page-content" in c.replace("C", "c").replace("P", "p")
        ):
            return [el]
    return []


# (trafilatura's list, position in it, sha256 of the XPath's text the matcher answers, the matcher)
MATCHERS: list[tuple[str, int, str, Callable[[HtmlElement], list[HtmlElement]]]] = [
    ("RAW_TREE_PRUNE_XPATH", 0, "01e7c660fd6406f2", _raw_tree_prune),
    ("RAW_TREE_PRUNE_XPATH", 1, "3c7afe92279543d5", _share_buttons),
    ("REMOVE_COMMENTS_XPATH", 0, "5d97216ca15d0558", _comments),
    ("REMOVE_COMMENTS_AND_LISTS_XPATH", 0, "9cc18d34e6e2d258", _comments_and_lists),
    ("OVERALL_DISCARD_XPATH", 0, "a837e58a1b1ea116", _overall_discard),
    ("OVERALL_DISCARD_XPATH", 1, "c1d5b70b8cd03783", _hidden),
    ("PRECISION_DISCARD_XPATH", 1, "53d31ea1df47920a", _precision),
    ("TEASER_DISCARD_XPATH", 0, "ebb02f066626551d", _teasers),
    ("DISCARD_IMAGE_ELEMENTS", 0, "cb1ab981e44913f7", _captions),
    ("BODY_XPATH", 0, "caaa561ceca17064", _article_bodies),
    ("BODY_XPATH", 2, "6c9b5e1fdc092943", _first_story),
    ("BODY_XPATH", 3, "10a7ceacc0ff8cdf", _first_main),
]


# What trafilatura's INVALID_XML_CHARS removes: one `in` test each costs 0.3 ms on a real page, its regex scan 1 ms.
_INVALID_XML = "".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]))


def _repair_faulty_html(htmlstring: str, beginning: str) -> str:
    """trafilatura's repair_faulty_html, its regex removal of invalid XML characters run only on a page that has one."""
    if any(c in htmlstring for c in _INVALID_XML):
        htmlstring = U.INVALID_XML_CHARS.sub("", htmlstring)
    if "doctype" in beginning:
        firstline, _, rest = htmlstring.partition("\n")
        htmlstring = U.DOCTYPE_TAG.sub("", firstline, count=1) + "\n" + rest
    for line in htmlstring[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            return U.FAULTY_HTML.sub(r"\1>", htmlstring, count=1)
    return htmlstring


def _prepare_tree(tree: HtmlElement, options: C.Extractor, url: str | None) -> tuple[HtmlElement, HtmlElement | None]:
    """trafilatura's _prepare_tree without the copy of the cleaned tree that only its comment capture and fallback
    comparison read: an extraction in fast mode with comments off never reads it (0.6 ms a real page)."""
    if not options.fast or options.comments:
        return FUNCTIONS_REPLACED["_prepare_tree"](tree, options, url)
    return C.convert_tags(C.tree_cleaning(copy(tree), options), options, url), None


# (module, its functions whose source is pinned, sha256 of that source, the function replaced, the replacement).
# _prepare_tree's pin covers its callers too: they are what never read the copy in fast mode without comments.
FUNCTIONS: list[tuple[ModuleType, tuple[str, ...], str, str, Callable]] = [
    (U, ("repair_faulty_html",), "7e68c7a3cb24910c", "repair_faulty_html", _repair_faulty_html),
    (
        C,
        ("_prepare_tree", "_extract_and_compare", "trafilatura_sequence"),
        "f193d16fe4765762",
        "_prepare_tree",
        _prepare_tree,
    ),
]
# The functions install replaced, by name: what _prepare_tree falls back on and the tests compare with.
FUNCTIONS_REPLACED: dict[str, Callable] = {}


def source_digest(module: ModuleType, names: tuple[str, ...]) -> str:
    """Short sha256 of the source of a module's functions, what FUNCTIONS pin."""
    return hashlib.sha256("".join(inspect.getsource(getattr(module, n)) for n in names).encode()).hexdigest()[:16]


def digest(expression: etree.XPath) -> str:
    """Short sha256 of an XPath's text, what MATCHERS pin."""
    return hashlib.sha256(expression.path.encode()).hexdigest()[:16]


# The XPaths install replaced, by (list, position): what the tests compare the matchers with.
REPLACED: dict[tuple[str, int], etree.XPath] = {}


# lxml's C lookup giving every node the class lxml.html's Python lookup gives all but forms and their fields.
C_LOOKUP = etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
)


def install() -> list[str]:
    """Put each matcher in trafilatura's list where the XPath there is the one it answers, each function where the
    source there is the one it was written from, and the C lookup in its parser; returns the places swapped
    (idempotent: a matcher or function already in place counts)."""
    U.HTML_PARSER.set_element_class_lookup(C_LOOKUP)
    done = []
    for name, index, pinned, matcher in MATCHERS:
        expressions = getattr(X, name)
        current = expressions[index]
        if isinstance(current, etree.XPath) and digest(current) == pinned:
            REPLACED[name, index] = current
            expressions[index] = matcher
        if expressions[index] is matcher:
            done.append(f"{name}[{index}]")
    for module, pinned_names, pinned, name, function in FUNCTIONS:
        if getattr(module, name) is not function and source_digest(module, pinned_names) == pinned:
            FUNCTIONS_REPLACED[name] = getattr(module, name)
            setattr(module, name, function)
        if getattr(module, name) is function:
            done.append(f"{module.__name__}.{name}")
    return done
