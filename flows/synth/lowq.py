"""Low-quality pages a quality filter should drop: link lists, keyword stuffing, lorem ipsum, code, gibberish, stubs."""

from __future__ import annotations

import json
import random
import string
from datetime import datetime
from html import escape

from sieve.flows.synth.ascii import slugify
from sieve.flows.synth.pages import Site, page
from sieve.flows.synth.text import Slots

_LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo "
    "consequat duis aute irure in reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur "
    "sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum"
).split()
_IDENTIFIERS = ("user", "order", "item", "config", "record", "session", "cache", "token", "payload", "event", "report")
_VERBS = ("load", "parse", "build", "update", "fetch", "validate", "render", "merge", "sync", "compute")
_PYTHON = (
    'def ${verb}_${noun}($noun, limit=$n):\n    """$Verb a $noun."""\n    result = []\n    for entry in $noun:\n'
    "        if entry.get('$attr', 0) > limit:\n            result.append(entry)\n    return result\n",
    "class $Noun$Verb:\n    def __init__(self, path):\n        self.path = path\n        self.items = {}\n\n"
    "    def $verb(self, key):\n        if key not in self.items:\n            raise KeyError(key)\n"
    "        return self.items[key]\n",
    "try:\n    $noun = ${verb}_${noun}(data['$attr'])\nexcept (KeyError, ValueError) as err:\n"
    "    logger.warning('cannot $verb $noun: %s', err)\n    $noun = None\n",
)
_JAVASCRIPT = (
    "function $verb$Noun($noun) {\n  const out = $noun.map((x) => x.$attr * $n);\n  return out.filter(Boolean);\n}\n",
    "export async function $verb$Noun(id) {\n  const res = await fetch(`/api/$noun/$${id}`);\n"
    "  if (!res.ok) { throw new Error('HTTP ' + res.status); }\n  return res.json();\n}\n",
    "document.querySelectorAll('.$noun').forEach((el) => {\n  el.addEventListener('click', () => {\n"
    "    el.classList.toggle('active');\n  });\n});\n",
)


def link_list(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """A tag/sitemap page: a heading and 40-120 links, almost no prose."""
    title = rng.choice(site.bank.ui("links"))
    bank = site.bank
    anchors = [
        Slots(bank, rng).fill(rng.choice(bank.titles[rng.choice(bank.topics)])) for _ in range(rng.randint(40, 120))
    ]
    items = "\n".join(
        f'<li><a href="/{slugify(a)}-{rng.randint(1000, 99999)}.html">{escape(a)}</a></li>' for a in anchors
    )
    main = f'<main class="container">\n<h1>{escape(title)}</h1>\n<ul class="link-list">\n{items}\n</ul>\n</main>\n'
    return site.url(title, doc_id, moment), page(site, title, main)


def keyword_stuffing(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """An SEO spam page repeating the same 3-4 keyword phrases."""
    keywords = rng.sample(site.bank.slots["kw"], rng.randint(3, 4))
    title = " - ".join(keywords)
    paragraphs = []
    for _ in range(rng.randint(4, 9)):
        phrases = [rng.choice(keywords) for _ in range(rng.randint(20, 60))]
        paragraphs.append(f"<p>{escape(' '.join(phrases))}</p>")
    main = f'<main class="container">\n<h1>{escape(title)}</h1>\n' + "\n".join(paragraphs) + "\n</main>\n"
    extra = f'<meta name="keywords" content="{escape(", ".join(keywords))}">\n'
    return site.url(title, doc_id, moment), page(site, title, main, extra_head=extra)


def lorem_ipsum(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """An unfinished page still holding placeholder Latin."""
    paragraphs = []
    for _ in range(rng.randint(3, 7)):
        sentences = [
            " ".join(rng.choices(_LOREM, k=rng.randint(6, 16))).capitalize() + "." for _ in range(rng.randint(3, 6))
        ]
        paragraphs.append(f"<p>{' '.join(sentences)}</p>")
    title = "Lorem ipsum dolor sit amet"
    main = (
        f'<main class="container">\n<article>\n<h1>{title}</h1>\n' + "\n".join(paragraphs) + "\n</article>\n</main>\n"
    )
    return site.url(title, doc_id, moment), page(site, title, main)


def _code(rng: random.Random) -> tuple[str, str]:
    """(file name, source) of a random Python, JavaScript or JSON file."""
    language = rng.choice(("py", "js", "json"))
    if language == "json":
        items = [
            {
                "id": rng.randint(1, 99999),
                "name": rng.choice(_IDENTIFIERS),
                "enabled": rng.random() < 0.5,
                "tags": rng.sample(_IDENTIFIERS, 3),
                "score": round(rng.random() * 100, 2),
            }
            for _ in range(rng.randint(4, 12))
        ]
        return "data.json", json.dumps({"status": "ok", "count": len(items), "items": items}, indent=2)
    templates = _PYTHON if language == "py" else _JAVASCRIPT
    header = (
        "import json\nimport logging\n\nlogger = logging.getLogger(__name__)\n\n"
        if language == "py"
        else "'use strict';\n\n"
    )
    chunks = []
    for _ in range(rng.randint(3, 8)):
        noun, verb = rng.choice(_IDENTIFIERS), rng.choice(_VERBS)
        chunks.append(
            string.Template(rng.choice(templates)).substitute(
                noun=noun,
                Noun=noun.capitalize(),
                verb=verb,
                Verb=verb.capitalize(),
                attr=rng.choice(_IDENTIFIERS),
                n=rng.randint(1, 100),
            )
        )
    return f"{rng.choice(_VERBS)}_{rng.choice(_IDENTIFIERS)}.{language}", header + "\n\n".join(chunks)


def code(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """A bare page that is only a source file or JSON dump inside <pre>."""
    name, source = _code(rng)
    html = (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{name}</title>\n</head>\n<body>\n'
        f"<pre><code>{escape(source, quote=False)}</code></pre>\n</body>\n</html>\n"
    )
    return f"https://{site.host}/dev/snippets/{doc_id}/{name}", html


def _gibberish_word(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(12, 32)))
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 11)))


def gibberish(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """A spam page injected into a hacked site: random character strings, no language."""
    paragraphs = [" ".join(_gibberish_word(rng) for _ in range(rng.randint(30, 90))) for _ in range(rng.randint(2, 6))]
    title = " ".join(_gibberish_word(rng) for _ in range(4))
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    html = f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n'
    return f"https://{site.host}/?p={doc_id}&{_gibberish_word(rng)}={_gibberish_word(rng)}", html


def short(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> tuple[str, str]:
    """A stub page: full boilerplate around a one-line body."""
    title = rng.choice(site.sections)
    main = f'<main class="container">\n<h1>{escape(title)}</h1>\n<p>{escape(rng.choice(site.bank.ui("short")))}</p>\n</main>\n'
    return site.url(title, doc_id, moment, section=title), page(site, title, main)


PAGES = {
    "link_list": link_list,
    "keyword_stuffing": keyword_stuffing,
    "lorem_ipsum": lorem_ipsum,
    "code": code,
    "gibberish": gibberish,
    "short": short,
}
