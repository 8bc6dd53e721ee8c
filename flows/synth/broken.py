"""Records a robust reader must survive: non-HTML payloads, HTTP errors, mislabelled charsets, empty bodies."""

from __future__ import annotations

import functools
import json
import random
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sieve.flows.synth.ascii import slugify
from sieve.flows.synth.pages import Site, article_page, page
from sieve.flows.synth.text import Article

_NGINX_ERROR = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_ERRORS = (
    (404, "Not Found"),
    (404, "Not Found"),
    (410, "Gone"),
    (403, "Forbidden"),
    (500, "Internal Server Error"),
    (503, "Service Unavailable"),
)


@dataclass(frozen=True)
class Payload:
    """An HTTP response body with what truth needs to know about it."""

    url: str
    status: int
    content_type: str | None  # the Content-Type header as sent; None when the server sent none
    body: bytes
    encoding: str | None  # the real encoding of a text body; None for binary payloads


def _png(rng: random.Random) -> bytes:
    """A small, valid RGB PNG with a random gradient."""
    width, height = rng.randint(8, 48), rng.randint(8, 48)
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((r0 + 5 * x) % 256, (g0 + 5 * y) % 256, b0))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def _pdf(text: str) -> bytes:
    """A one-page, valid PDF showing `text` (ASCII), with a compressed content stream and a correct xref table."""
    content = zlib.compress(f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("ascii"), 6)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def non_html(site: Site, rng: random.Random, doc_id: int, title: str) -> Payload:
    """A PDF, a PNG or a JSON API response served from a news site."""
    kind = rng.choice(("pdf", "png", "json"))
    base = f"https://{site.host}"
    if kind == "pdf":
        name = slugify(title)
        return Payload(f"{base}/files/{name}-{doc_id}.pdf", 200, "application/pdf", _pdf(name.replace("-", " ")), None)
    if kind == "png":
        return Payload(f"{base}/images/{doc_id}.png", 200, "image/png", _png(rng), None)
    data = {"id": doc_id, "title": title, "views": rng.randint(0, 10**6), "tags": list(site.sections[:3])}
    body = json.dumps({"status": "ok", "data": data}, ensure_ascii=False).encode("utf-8")
    return Payload(f"{base}/api/v1/articles/{doc_id}", 200, "application/json; charset=utf-8", body, "utf-8")


def http_error(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> Payload:
    """A 4xx/5xx answer: either the bare nginx page or the site's own error page."""
    status, reason = rng.choice(_ERRORS)
    url = site.url(rng.choice(site.related)[0], doc_id, moment)
    if rng.random() < 0.5:
        html = _NGINX_ERROR.format(status=status, reason=reason)
    else:
        text = site.bank.ui("notfound" if status < 500 else "error")
        main = f'<main class="container">\n<h1>{status}</h1>\n<p>{escape(rng.choice(text))}</p>\n</main>\n'
        html = page(site, str(status), main)
    return Payload(url, status, "text/html; charset=utf-8", html.encode("utf-8"), "utf-8")


def empty(site: Site, rng: random.Random, doc_id: int, moment: datetime) -> Payload:
    """200 OK with nothing to extract: no bytes, whitespace, or a script-only shell of a JS app."""
    body = rng.choice(
        (
            "",
            " \r\n\r\n\t \n",
            '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title></title>\n'
            f'<script src="https://{site.host}/static/js/app.{doc_id:x}.js" defer></script>\n</head>\n'
            '<body>\n<div id="root"></div>\n<noscript></noscript>\n</body>\n</html>\n',
            "<html><head><script>window.location.replace('/');</script></head><body></body></html>",
        )
    )
    url = site.url(rng.choice(site.related)[0], doc_id, moment)
    return Payload(url, 200, "text/html; charset=utf-8", body.encode("utf-8"), "utf-8")


# The five Vietnamese tone marks; windows-1258 has them as combining characters but lacks most toned letters.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


@functools.cache
def _cp1258_char(char: str) -> str:
    """A character as windows-1258 spells it: the letter without its tone (â, ơ, ư, ...) plus a combining tone mark."""
    decomposed = unicodedata.normalize("NFD", char)
    tones = "".join(c for c in decomposed if c in _TONE_MARKS)
    if not tones:
        return char
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS)) + tones


def encode_cp1258(text: str) -> bytes:
    """Vietnamese text in windows-1258, the way legacy Vietnamese sites stored it."""
    return "".join(map(_cp1258_char, text)).encode("cp1258", "xmlcharrefreplace")


# (actual encoding, Content-Type header, <meta charset>): the HTTP header's charset is wrong or missing in every case.
CHARSET_CASES = (
    ("windows-1258", "text/html; charset=utf-8", None),  # header lies
    ("windows-1258", "text/html; charset=utf-8", "utf-8"),  # header and meta lie
    ("utf-8", "text/html; charset=iso-8859-1", None),  # header lies the other way
    ("windows-1258", "text/html", "windows-1258"),  # only the <meta> tells
    ("windows-1258", None, None),  # nothing declared, not even a Content-Type
    ("utf-8", "text/html", None),  # nothing declared
)


def bad_charset(site: Site, article: Article, rng: random.Random, doc_id: int, moment: datetime) -> Payload:
    """A Vietnamese article page whose bytes are not in the charset the server (or page) declares, or in none."""
    encoding, content_type, meta = rng.choice(CHARSET_CASES)
    html = article_page(site, article, moment, rng, charset=meta)
    body = encode_cp1258(html) if encoding == "windows-1258" else html.encode(encoding)
    return Payload(site.url(article.title, doc_id, moment), 200, content_type, body, encoding)
