"""Minimal WARC/1.0 writer: one gzip member per record, like CommonCrawl, with deterministic output."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import BinaryIO

_GZIP_LEVEL = 6
_REASONS = {
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def record_id(rng: random.Random) -> str:
    """A WARC-Record-ID drawn from the seeded generator, e.g. <urn:uuid:...>."""
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def warc_date(moment: datetime) -> str:
    """WARC-Date format (UTC, seconds precision)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sha1_digest(data: bytes) -> str:
    """WARC digest value (sha1, base32) of a byte string."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def http_response(status: int, headers: list[tuple[str, str]], body: bytes, moment: datetime) -> bytes:
    """HTTP/1.1 response bytes; Date and Content-Length are added here."""
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Date: {format_datetime(moment, usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_request(url_host: str, url_path: str) -> bytes:
    """The GET request a crawler would have sent for a URL."""
    return (
        f"GET {url_path} HTTP/1.1\r\n"
        f"User-Agent: CCBot/2.0 (https://commoncrawl.org/faq/)\r\n"
        f"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        f"Accept-Language: en-US,en;q=0.5\r\n"
        f"Host: {url_host}\r\n"
        f"Connection: Keep-Alive\r\n\r\n"
    ).encode("ascii")


class WarcWriter:
    """Writes WARC records to a binary stream, each record compressed as its own gzip member."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream

    def write(
        self,
        warc_type: str,
        rec_id: str,
        moment: datetime,
        content_type: str,
        block: bytes,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write one record; WARC-Block-Digest and Content-Length are computed here."""
        lines = [
            "WARC/1.0",
            f"WARC-Type: {warc_type}",
            f"WARC-Date: {warc_date(moment)}",
            f"WARC-Record-ID: {rec_id}",
            *(f"{name}: {value}" for name, value in headers),
            f"WARC-Block-Digest: {sha1_digest(block)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(block)}",
        ]
        record = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"
        # wbits=31 makes a gzip member; zlib writes mtime 0, so output depends only on the input bytes.
        self.stream.write(zlib.compress(record, _GZIP_LEVEL, wbits=31))
