"""Reads one WARC file (gzip or plain) into Documents, robust to what real crawls contain.

Every record read becomes exactly one item: a response Document for the stages, a skipped
non-response record (counted by WARC type), or a Document already dropped at the read stage
(truncated record, corrupt file) whose details name the file and offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


_GZIP = b"\x1f\x8b\x08"  # the first bytes of a gzip member (deflate)
_CHUNK = 1 << 16
_HEAD = 1 << 15  # fastwarc's limit on a record's WARC header block


class _Hashing(io.RawIOBase):
    """A reader that hashes every byte of the file once and in order, so the index pass also checksums the file:
    a seek back rereads without hashing again, a seek forward reads and hashes the bytes it passes."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw, self.sha256, self.hashed = raw, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + self.raw.tell() if whence == io.SEEK_CUR else offset
        if whence == io.SEEK_END or target > self.hashed:
            self.raw.seek(self.hashed)
            while (whence == io.SEEK_END or self.hashed < target) and self.read(_CHUNK):
                pass
            if whence == io.SEEK_END:
                return self.raw.tell()
        return self.raw.seek(min(target, self.hashed))

    def readinto(self, buffer) -> int:
        here = self.raw.tell()
        n = self.raw.readinto(buffer)
        fresh = here + n - self.hashed
        if fresh > 0:
            self.sha256.update(memoryview(buffer)[n - fresh : n])
            self.hashed += fresh
        return n


class _Member(io.RawIOBase):
    """The decompressed bytes of the one gzip member that starts at f's position; its end reads as end of file.

    A WARC.gz holds one record per member, so the member's bounds check the record's Content-Length (head and
    tail keep its first and last bytes for that); a damaged member raises zlib.error (and is marked damaged)
    without taking the members after it along; cut: the file ended inside the member."""

    def __init__(self, f: io.IOBase) -> None:
        self.f, self.inflater = f, zlib.decompressobj(wbits=31)
        self.pending, self.head, self.tail = b"", b"", b""
        self.size, self.cut, self.damaged = 0, False, False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def readinto(self, buffer) -> int:
        while not self.inflater.eof:
            if not self.pending:
                self.pending = self.f.read(_CHUNK)
                if not self.pending:
                    self.cut = self.size > 0
                    return 0
            try:
                out = self.inflater.decompress(self.pending, len(buffer))
            except zlib.error:
                self.damaged = True
                raise
            self.pending = self.inflater.unconsumed_tail
            if out:
                buffer[: len(out)] = out
                self.head += out[: _HEAD - len(self.head)]
                self.tail = (self.tail + out[-8:])[-8:]
                self.size += len(out)
                return len(out)
        return 0

    def end(self) -> int:
        """The file offset right after the member (once it is read to its end)."""
        return self.f.tell() - len(self.inflater.unused_data)  # what it read past the member's end

    def block_size(self) -> int | None:
        """Bytes after the record's WARC headers, less the CRLFs that end the record; None when they cannot be told."""
        ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := self.head.find(sep)) >= 0]
        if not ends:
            return None
        trailer = len(self.tail) - len(self.tail.rstrip(b"\r\n"))
        return self.size - min(ends) - min(trailer, 4)


def _is_gzip(f: io.IOBase, start: int) -> bool:
    f.seek(start)
    magic = f.read(len(_GZIP))
    f.seek(start)
    return magic == _GZIP


def _starts_record(data: bytes) -> bool:
    """Whether data begins a gzip member whose first bytes are a WARC header."""
    try:
        return zlib.decompressobj(wbits=31).decompress(data, 8).startswith(b"WARC/")
    except zlib.error:
        return False


def _next_member(f: io.IOBase, pos: int) -> int | None:
    """The offset of the first gzip member at or after pos that starts a WARC record, or None: where reading
    resumes after a damaged member."""
    while True:
        f.seek(pos)
        window = f.read(_CHUNK + 1024)  # a hit near the end still has 1 kB of member to check
        hit = window.find(_GZIP, 0, _CHUNK)
        if hit >= 0 and _starts_record(window[hit:]):
            return pos + hit
        if hit < 0 and len(window) <= _CHUNK:
            return None
        pos += hit + 1 if hit >= 0 else _CHUNK


def _members(f: io.IOBase, start: int, end: int | None) -> Iterator[tuple[int, _Member]]:
    """(offset, member) for every gzip member starting in [start, end) of f, for the caller to read; past a damaged
    member, the next one that starts a WARC record."""
    pos = start
    while end is None or pos < end:
        f.seek(pos)
        member = _Member(f)
        yield pos, member
        with contextlib.suppress(zlib.error):
            while not member.damaged and member.read(_CHUNK):
                pass
        if member.damaged:
            pos = _next_member(f, pos + 1)
            if pos is None:
                return
        elif member.cut or member.size == 0:
            return
        else:
            pos = member.end()


def _holds_data(member: _Member) -> bool:
    """Whether the member has any bytes, or is damaged (a record's place either way)."""
    try:
        return bool(member.read(1))
    except zlib.error:
        return True


def _fastwarc_offsets(f: io.IOBase) -> list[int]:
    """Record offsets of a WARC that is not gzip per record (plain, or another codec fastwarc reads)."""
    offsets = []
    try:
        offsets += (record.stream_pos for record in ArchiveIterator(f, parse_http=False))
    except OSError:
        pass  # read_warc meets the same error in the last range and reports it with its offset
    return offsets


def split_warc(uri: str, max_records: int, min_splits: int = 1) -> tuple[list[tuple[int, int]], str]:
    """Byte ranges [start, end) cut at record boundaries (at least min_splits when the file has enough records,
    none longer than max_records), and the file's SHA-256.

    A fast index pass (gzip members, or record headers) so one big file can be read by many workers; a damaged
    member is a record offset too, so the range that holds it reports it.
    """
    with storage.open_input(uri) as raw:
        hashing = _Hashing(raw)
        if _is_gzip(hashing, 0):
            offsets = [pos for pos, member in _members(hashing, 0, None) if _holds_data(member)]
        else:
            offsets = _fastwarc_offsets(hashing)
        size = hashing.seek(0, io.SEEK_END)  # checksum the whole file, also past a point the index could not read
    per_split = max(1, min(max_records, -(-len(offsets) // min_splits)))
    starts = offsets[::per_split] or [0]
    return list(zip(starts, [*starts[1:], size])), hashing.sha256.hexdigest()


def record_ranges(source: dict[str, Any], max_records: int) -> list[tuple[dict[str, Any], int, int]]:
    """An input file's record ranges (split_warc, at least source["min_splits"]), each carrying the file's identity
    and checksum for its commit marker."""
    ranges, sha256 = split_warc(source["uri"], max_records, source["min_splits"])
    source = {k: v for k, v in source.items() if k != "min_splits"} | {"sha256": sha256}
    return [(source, start, end) for start, end in ranges]


def read_warc(
    uri: str, max_payload_bytes: int, start: int = 0, end: int | None = None, name: str | None = None
) -> Iterator[ReadItem]:
    """Yield one ReadItem per record starting in [start, end) of the WARC file at uri, never raising for bad content.

    name is what rows record as warc_file (default: the uri), so outputs do not depend on where the file lies.
    """
    name = name or uri
    with storage.open_input(uri, start) as f:
        if _is_gzip(f, start):
            yield from _read_members(f, name, max_payload_bytes, start, end)
        else:
            yield from _read_stream(f, name, max_payload_bytes, start, end)


def _item(name: str, offset: int, record, max_payload_bytes: int) -> ReadItem:
    if record.record_type != WarcRecordType.response:
        record.reader.consume()
        return ReadItem(skipped_type=_record_type(record))
    return _response(name, offset, record, max_payload_bytes)


def _read_members(f: io.IOBase, name: str, max_payload_bytes: int, start: int, end: int | None) -> Iterator[ReadItem]:
    """Records of a gzip WARC, member by member: a damaged member or a wrong Content-Length costs that record only."""
    for pos, member in _members(f, start, end):
        first, n = None, 0
        try:
            # quirks_mode: real crawls (ClueWeb) have LF-only HTTP header lines
            for n, record in enumerate(ArchiveIterator(member, parse_http=True, quirks_mode=True), 1):
                item = _item(name, pos, record, max_payload_bytes)
                if n == 1:
                    first, length = item, record.headers.get("Content-Length")  # the block's, not the HTTP body's
                    continue
                if n == 2:  # several records in one member: not the usual layout, read as they come
                    yield first
                yield item
        except (OSError, zlib.error) as e:
            member.damaged = True
            if n <= 1:  # the record is lost with its member; with several, the ones before it were read
                doc = first.doc if first is not None and first.doc else Document(warc_file=name, warc_offset=pos)
                yield ReadItem(doc=doc, drop=_corrupt(name, pos, e))
            continue
        if n == 1:
            yield _framed(first, member, length, name, pos)
        elif n == 0 and member.size:
            reason = "truncated_record" if member.cut else "not_warc"
            yield ReadItem(
                doc=Document(warc_file=name, warc_offset=pos),
                drop=Drop(STAGE, reason, f"{name}: gzip member at offset {pos} holds no whole WARC record"),
            )


def _corrupt(name: str, pos: int, e: Exception) -> Drop:
    return Drop(
        STAGE,
        "corrupt_member",
        f"{name}: the gzip member at offset {pos} does not decompress ({e}); its record is lost, the next are read",
    )


def _framed(item: ReadItem, member: _Member, length: str | None, name: str, pos: int) -> ReadItem:
    """item, or a bad_content_length drop when the record's Content-Length is not what its gzip member holds (too
    long, it would swallow the next record; too short, it would cut this one)."""
    block = member.block_size()
    if item.doc is None or member.cut or block is None or str(block) == length:
        return item
    details = (
        f"{name}: record at offset {pos} declares Content-Length {length} but its gzip member holds {block} bytes; "
        "repair the file's writer"
    )
    return ReadItem(doc=item.doc, drop=Drop(STAGE, "bad_content_length", details))


def _read_stream(f: io.IOBase, name: str, max_payload_bytes: int, start: int, end: int | None) -> Iterator[ReadItem]:
    """Records of a WARC that is not gzip per record (plain, or another codec fastwarc reads), in one stream: an
    unreadable point ends the range with one corrupt_file drop."""
    offset, records = start, 0
    try:
        for record in ArchiveIterator(f, parse_http=True, quirks_mode=True):
            if end is not None and record.stream_pos >= end:
                break
            offset, records = record.stream_pos, records + 1
            yield _item(name, offset, record, max_payload_bytes)
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
