"""Fictional news sites and the HTML around article text: nav, cookie banner, sidebar, share bar, footer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sieve.flows.synth.ascii import slugify
from sieve.flows.synth.banks import Bank
from sieve.flows.synth.text import Article, Slots, person_name

# Few sites per language, so each site's pasted boilerplate line recurs in 5+ articles even in a 300-document corpus.
_SITES_PER_LANG = 5
_RELATED_PER_SITE = 24
_DATE_FORMATS = {"en": "%m/%d/%Y", "vi": "%d/%m/%Y", "fr": "%d/%m/%Y", "de": "%d.%m.%Y", "es": "%d/%m/%Y"}


@dataclass(frozen=True)
class Site:
    """A fictional site: its boilerplate is rendered once and repeated on every page of the site."""

    bank: Bank
    name: str
    host: str
    layout: int
    dated_urls: bool
    sections: tuple[str, ...]
    section_slugs: tuple[str, ...]
    top: str
    bottom: str
    related: tuple[tuple[str, str], ...]  # (title, <li> link HTML) of the site's other stories
    share: str
    comments: str
    login_to_comment: str
    related_heading: str
    newsletter: str
    boilerplate: tuple[str, ...]  # lines this site pastes into some article bodies; no other site uses them

    def url(self, title: str, doc_id: int, moment: datetime, section: str | None = None) -> str:
        """A unique URL on this site in the site's URL style (doc_id makes it unique)."""
        slug = slugify(title)
        if self.dated_urls:
            return f"https://{self.host}/{moment:%Y/%m/%d}/{slug}-{doc_id}/"
        section = slugify(section) if section else self.section_slugs[doc_id % len(self.sections)]
        return f"https://{self.host}/{section}/{slug}-{doc_id}.html"


def build_sites(bank: Bank, rng: random.Random) -> list[Site]:
    """The fictional sites of one language, with pre-rendered boilerplate."""
    names = rng.sample(bank.ui("site"), min(_SITES_PER_LANG, len(bank.ui("site"))))
    lines = list(bank.ui("boilerplate"))
    rng.shuffle(lines)
    own = [tuple(lines.pop() for _ in range(min(rng.randint(1, 2), len(lines)))) for _ in names]
    return [_build_site(bank, name, boilerplate, rng) for name, boilerplate in zip(names, own)]


def _build_site(bank: Bank, name: str, boilerplate: tuple[str, ...], rng: random.Random) -> Site:
    def ui(key: str) -> str:
        return rng.choice(bank.ui(key))

    host = slugify(name).replace("-", "") + rng.choice(bank.slots["tld"])
    if bank.lang != "vi" and rng.random() < 0.7:
        host = "www." + host
    sections = tuple(rng.sample(bank.ui("nav"), min(8, len(bank.ui("nav")))))
    section_slugs = tuple(slugify(s) for s in sections)
    nav = "".join(f'<li><a href="/{slug}/">{escape(s)}</a></li>' for s, slug in zip(sections, section_slugs))
    related = []
    for _ in range(_RELATED_PER_SITE):
        title = Slots(bank, rng).fill(rng.choice(bank.titles[rng.choice(bank.topics)]))
        href = f"/{rng.choice(section_slugs)}/{slugify(title)}.html"
        related.append((title, f'<li><a href="{href}">{escape(title)}</a></li>'))
    cookie = (
        f'<div id="cookie-consent" class="cookie-banner"><p>{escape(ui("cookie"))}</p>'
        f'<button type="button">{escape(ui("accept"))}</button></div>\n'
    )
    cookie_on_top = rng.random() < 0.5
    header = (
        f'<header class="site-header">\n<div class="logo"><a href="/">{escape(name)}</a></div>\n'
        f'<p class="tagline">{escape(ui("tagline"))}</p>\n<nav class="main-nav"><ul>{nav}</ul></nav>\n'
        f'<form class="search" action="/search"><input type="text" name="q" placeholder="{escape(ui("search"))}">'
        f"</form>\n</header>\n"
    )
    footer_links = "".join(f'<li><a href="/{slugify(s)}">{escape(s)}</a></li>' for s in bank.ui("footer"))
    rights = rng.choice(bank.ui("rights")).format(year=2024, site=name)
    footer = f'<footer class="site-footer">\n<ul class="footer-links">{footer_links}</ul>\n<p>{escape(rights)}</p>\n</footer>\n'
    analytics = (
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        f"gtag('js',new Date());gtag('config','G-{rng.getrandbits(40):010X}');</script>\n"
    )
    return Site(
        bank=bank,
        name=name,
        host=host,
        layout=rng.randrange(3),
        dated_urls=rng.random() < 0.4,
        sections=sections,
        section_slugs=section_slugs,
        top="<body>\n" + (cookie if cookie_on_top else "") + header,
        bottom=footer + ("" if cookie_on_top else cookie) + analytics + "</body>\n</html>\n",
        related=tuple(related),
        share=" ".join(f'<a class="share" href="#">{escape(s)}</a>' for s in bank.ui("share")),
        comments=ui("comments"),
        login_to_comment=ui("login"),
        related_heading=ui("related"),
        newsletter=(
            f'<div class="newsletter"><p>{escape(ui("newsletter"))}</p><input type="email" placeholder="Email">'
            f'<button type="submit">{escape(ui("subscribe"))}</button></div>'
        ),
        boilerplate=boilerplate,
    )


def head(site: Site, title: str, charset: str | None = "utf-8", extra: str = "") -> str:
    """<!DOCTYPE> through <head>; `charset` None leaves out the <meta charset> declaration."""
    meta = f'<meta charset="{charset}">\n' if charset else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{site.bank.lang}">\n<head>\n{meta}'
        f"<title>{escape(title)} | {escape(site.name)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="stylesheet" href="https://{site.host}/static/css/main.css">\n{extra}</head>\n'
    )


def page(site: Site, title: str, main: str, charset: str | None = "utf-8", extra_head: str = "") -> str:
    """A full page of the site around some main-content HTML."""
    return head(site, title, charset, extra_head) + site.top + main + site.bottom


def _related_html(site: Site, rng: random.Random) -> str:
    items = "".join(item for _, item in rng.sample(site.related, rng.randint(4, 6)))
    return f'<h3>{escape(site.related_heading)}</h3>\n<ul class="related">{items}</ul>\n'


def article_page(
    site: Site, article: Article, moment: datetime, rng: random.Random, charset: str | None = "utf-8"
) -> str:
    """The article wrapped in one of three common CMS layouts plus the site's boilerplate."""
    byline = escape(rng.choice(site.bank.ui("by")).format(person=person_name(site.bank, rng)))
    meta = f'<span class="author">{byline}</span> · <time>{moment.strftime(_DATE_FORMATS[site.bank.lang])}</time>'
    paragraphs = "\n".join(f"<p>{escape(' '.join(p), quote=False)}</p>" for p in article.paragraphs)
    title = escape(article.title, quote=False)
    share = f'<div class="share-bar">{site.share}</div>'
    comments = (
        f'<section class="comments"><h3>{escape(site.comments.format(n=rng.randint(0, 250)))}</h3>'
        f"<p>{escape(site.login_to_comment)}</p></section>\n"
    )
    sidebar = _related_html(site, rng) + site.newsletter
    if site.layout == 0:
        main = (
            f'<main class="container">\n<article class="post">\n<h1>{title}</h1>\n<div class="byline">{meta}</div>\n'
            f'{share}\n{paragraphs}\n</article>\n<aside class="sidebar">\n{sidebar}\n</aside>\n</main>\n{comments}'
        )
    elif site.layout == 1:
        main = (
            f'<div id="main-content">\n<div class="article-header"><h1 class="title">{title}</h1>'
            f'<p class="meta">{meta}</p></div>\n<div class="article-body">\n{paragraphs}\n</div>\n{share}\n'
            f'{comments}</div>\n<div class="sidebar">\n{sidebar}\n</div>\n'
        )
    else:
        main = (
            '<div class="container"><div class="row">\n<div class="col-md-8">\n'
            f'<h1 class="entry-title">{title}</h1>\n<div class="entry-meta">{meta}</div>\n'
            f'<div class="entry-content">\n{paragraphs}\n</div>\n{share}\n{comments}</div>\n'
            f'<div class="col-md-4"><div class="widget">\n{sidebar}\n</div></div>\n</div></div>\n'
        )
    return page(site, article.title, main, charset)
