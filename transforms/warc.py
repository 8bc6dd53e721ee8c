"""Reads one WARC file (gzip or plain) into Documents, robust to what real crawls contain.

Every record read becomes exactly one item: a response Document for the stages, a skipped
non-response record (counted by WARC type), or a Document already dropped at the read stage
(truncated record, corrupt file) whose details name the file and offset.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from fastwarc.warc import ArchiveIterator, WarcRecordType

from sieve.schemas.document import Document, Drop
from sieve.transforms import storage

STAGE = "read"


@dataclass
class ReadItem:
    """One record's outcome: a Document (possibly with a read-stage drop) or a skipped record type."""

    doc: Document | None = None
    drop: Drop | None = None
    skipped_type: str | None = None


def _record_type(record) -> str:
    return str(record.record_type).rsplit(".", 1)[-1]


class _Hashing(io.RawIOBase):
    """A reader that hashes every byte it passes on, so the index pass also checksums the file."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw, self.sha256 = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """fastwarc asks for its position this way; moving would leave bytes unhashed, so it is refused."""
        here = self.raw.tell()
        if {io.SEEK_SET: offset, io.SEEK_CUR: here + offset}.get(whence) != here:
            raise io.UnsupportedOperation("the checksumming reader reads forward only")
        return here

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.sha256.update(memoryview(buffer)[:n])
        return n


def split_warc(uri: str, max_records: int, min_splits: int = 1) -> tuple[list[tuple[int, int]], str]:
    """Byte ranges [start, end) cut at record boundaries (at least min_splits when the file has enough records,
    none longer than max_records), and the file's SHA-256.

    A fast index pass (headers only) so one big file can be read by many workers; the last range runs to the
    end of the file, so records past an unreadable point still reach read_warc, which reports them.
    """
    offsets = []
    with storage.open_input(uri) as raw:
        hashing = _Hashing(raw)
        try:
            offsets = [record.stream_pos for record in ArchiveIterator(hashing, parse_http=False)]
        except OSError:
            pass  # read_warc meets the same error in the last range and reports it with its offset
        while hashing.read(1 << 20):  # checksum the whole file, also past a point the index could not read
            pass
        size = raw.tell()
    per_split = max(1, min(max_records, -(-len(offsets) // min_splits)))
    starts = offsets[::per_split] or [0]
    return list(zip(starts, [*starts[1:], size])), hashing.sha256.hexdigest()


def read_warc(
    uri: str, max_payload_bytes: int, start: int = 0, end: int | None = None, name: str | None = None
) -> Iterator[ReadItem]:
    """Yield one ReadItem per record starting in [start, end) of the WARC file at uri, never raising for bad content.

    name is what rows record as warc_file (default: the uri), so outputs do not depend on where the file lies.
    """
    name = name or uri
    offset, records = start, 0
    try:
        with storage.open_input(uri, start) as f:
            # quirks_mode: real crawls (ClueWeb) have LF-only HTTP header lines
            for record in ArchiveIterator(f, parse_http=True, quirks_mode=True):
                if end is not None and record.stream_pos >= end:
                    break
                offset, records = record.stream_pos, records + 1
                if record.record_type != WarcRecordType.response:
                    yield ReadItem(skipped_type=_record_type(record))
                    record.reader.consume()
                    continue
                yield _response(name, offset, record, max_payload_bytes)
            not_warc = records == 0 and start == 0 and f.seek(0) == 0 and f.read(1) != b""
    except OSError as e:
        yield ReadItem(
            doc=Document(warc_file=name, warc_offset=offset),
            drop=Drop(
                STAGE,
                "corrupt_file",
                (
                    f"{name}: unreadable after offset {offset} ({e}); "
                    "records after this point are lost: re-download or repair the file"
                ),
            ),
        )
        return
    if not_warc:
        yield ReadItem(
            doc=Document(warc_file=name, warc_offset=0),
            drop=Drop(STAGE, "not_warc", (f"{name}: no WARC record found; is it a WARC file?")),
        )


def _response(path: str, offset: int, record, max_payload_bytes: int) -> ReadItem:
    headers = record.headers
    doc = Document(
        warc_file=path,
        warc_offset=offset,
        warc_record_id=headers.get("WARC-Record-ID"),
        url=headers.get("WARC-Target-URI"),
        crawl_date=record.record_date,
    )
    http = record.http_headers
    if http is None:
        return ReadItem(
            doc=doc,
            drop=Drop(STAGE, "not_http", f"{path}: response record at offset {doc.warc_offset} has no HTTP message"),
        )
    doc.http_status = http.status_code
    doc.http_charset = record.http_charset
    doc.content_type = record.http_content_type
    expected = record.content_length
    payload = record.reader.read(max_payload_bytes + 1)
    if len(payload) > max_payload_bytes:
        record.reader.consume()
        return ReadItem(
            doc=doc, drop=Drop(STAGE, "too_large", f"payload over {max_payload_bytes} bytes (read.max_payload_bytes)")
        )
    if len(payload) < expected:
        return ReadItem(
            doc=doc,
            drop=Drop(
                STAGE,
                "truncated_record",
                (
                    f"{path}: record at offset {doc.warc_offset} ends after {len(payload)} of {expected} payload bytes "
                    "(file cut off mid gzip member); re-download the file to recover it"
                ),
            ),
        )
    if payload[:2] == b"\x1f\x8b":  # some crawlers store the body still gzip-encoded, as the server sent it
        payload = _gunzip(payload, max_payload_bytes)
        if payload is None:
            return ReadItem(
                doc=doc,
                drop=Drop(
                    STAGE,
                    "bad_content_encoding",
                    (f"gzip-encoded payload that does not decompress, or decompresses past {max_payload_bytes} bytes"),
                ),
            )
    doc.payload = payload
    return ReadItem(doc=doc)


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """Decompressed gzip data, or None when it is corrupt or longer than limit bytes (a zip bomb guard)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    return out if inflater.eof and len(out) <= limit else None
