"""Reading real WARC files, including the malformed ones real crawls contain."""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections import Counter
from datetime import UTC

from sieve.transforms.warc import read_warc, split_warc

CAP = 2_000_000


def outcomes(path) -> Counter:
    return Counter(i.skipped_type or (i.drop.reason if i.drop else "response") for i in read_warc(str(path), CAP))


def test_commoncrawl_file_yields_every_record_by_type(data_dir):
    assert outcomes(data_dir / "warcfile.warc.gz") == {"warcinfo": 1, "request": 17, "response": 16, "metadata": 16}


def test_plain_uncompressed_warc_reads_the_same(data_dir, tmp_path):
    plain = tmp_path / "warcfile.warc"
    plain.write_bytes(gzip.decompress((data_dir / "warcfile.warc.gz").read_bytes()))
    gz = [(i.doc.url, i.doc.payload) for i in read_warc(str(data_dir / "warcfile.warc.gz"), CAP) if i.doc]
    raw = [(i.doc.url, i.doc.payload) for i in read_warc(str(plain), CAP) if i.doc]
    assert gz == raw and len(gz) == 16


def test_clipped_file_reports_the_truncated_record_with_file_and_offset(data_dir):
    items = list(read_warc(str(data_dir / "clipped.warc.gz"), CAP))
    assert len(items) == 1
    drop = items[0].drop
    assert (drop.stage, drop.reason) == ("read", "truncated_record")
    assert "clipped.warc.gz" in drop.details and "offset 0" in drop.details and "re-download" in drop.details
    assert items[0].doc.url.startswith("http://www.houstonpress.com/")


def test_clueweb_quirks_parse_http_headers_with_bare_newlines(data_dir):
    items = [i for i in read_warc(str(data_dir / "clueweb-quirk.warc.gz"), CAP) if i.doc]
    assert len(items) == 29
    assert {i.doc.content_type for i in items} == {"text/html"}
    assert {i.doc.http_charset for i in items} == {"euc-jp"}
    assert all(i.doc.payload.lstrip().lower().startswith(b"<html") for i in items)


def test_records_on_buffer_boundaries_are_all_read(data_dir):
    assert outcomes(data_dir / "block-sized-records.warc.gz") == {"unknown": 3}


def test_oversized_payload_is_dropped_without_reading_it(data_dir):
    drops = Counter(i.drop.reason for i in read_warc(str(data_dir / "warcfile.warc.gz"), 1000) if i.drop)
    assert drops["too_large"] > 0


def test_corrupt_gzip_is_one_named_drop_not_a_crash(tmp_path):
    bad = tmp_path / "garbage.warc.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 100)
    [item] = read_warc(str(bad), CAP)
    assert item.drop.reason == "corrupt_member" and "garbage.warc.gz" in item.drop.details


def test_corruption_mid_file_costs_only_the_damaged_record(data_dir, tmp_path):
    raw = (data_dir / "warcfile.warc.gz").read_bytes()
    bad = tmp_path / "damaged.warc.gz"
    bad.write_bytes(raw[:62000] + b"\x00" * 500 + raw[62500:])  # inside the gzip member at 61090
    items = list(read_warc(str(bad), CAP))
    assert len(items) == 50  # the records after the damage are read too
    [damaged] = [i for i in items if i.drop is not None and i.drop.stage == "read"]
    assert damaged.drop.reason == "corrupt_member" and "damaged.warc.gz: the gzip member at offset" in (
        damaged.drop.details
    )
    assert damaged.doc.warc_offset == 61090


def test_a_file_that_is_not_warc_is_named(tmp_path):
    text = tmp_path / "notes.warc"
    text.write_text("hello world\n" * 50)
    [item] = read_warc(str(text), CAP)
    assert item.drop.reason == "not_warc" and "notes.warc" in item.drop.details


def test_empty_file_has_no_records(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert list(read_warc(str(empty), CAP)) == []


def test_split_ranges_cover_every_record_exactly_once(data_dir):
    path = str(data_dir / "warcfile.warc.gz")
    ranges, sha256 = split_warc(path, 7)
    raw = (data_dir / "warcfile.warc.gz").read_bytes()
    assert len(ranges) == 8 and ranges[0][0] == 0 and ranges[-1][1] == len(raw)
    assert sha256 == hashlib.sha256(raw).hexdigest()  # the index pass checksums the file too
    pieces = [(i.skipped_type, i.doc and i.doc.warc_offset) for s, e in ranges for i in read_warc(path, CAP, s, e)]
    whole = [(i.skipped_type, i.doc and i.doc.warc_offset) for i in read_warc(path, CAP)]
    assert pieces == whole and len(whole) == 50


def test_a_lone_file_is_cut_into_enough_ranges_for_every_worker(data_dir):
    path = str(data_dir / "warcfile.warc.gz")
    assert len(split_warc(path, 500)[0]) == 1
    assert len(split_warc(path, 500, min_splits=4)[0]) == 4
    assert len(split_warc(path, 10, min_splits=2)[0]) == 5  # max_records still caps a range


def test_split_of_a_damaged_file_still_reports_the_damage(data_dir, tmp_path):
    raw = (data_dir / "warcfile.warc.gz").read_bytes()
    bad = tmp_path / "damaged.warc.gz"
    bad.write_bytes(raw[:60000] + b"\x00" * 500 + raw[60500:])
    ranges, sha256 = split_warc(str(bad), 5)
    items = [i for s, e in ranges for i in read_warc(str(bad), CAP, s, e)]
    assert sha256 == hashlib.sha256(bad.read_bytes()).hexdigest()  # past the damage too
    assert [i.drop.reason for i in items if i.drop] == ["corrupt_member"]
    assert len(items) == len(list(read_warc(str(bad), CAP)))


def write_warc(path, bodies: list[bytes], headers: list[tuple[str, str]]) -> None:
    """A small real WARC of HTTP responses, written with the synthetic corpus' writer."""
    from datetime import datetime

    from sieve.flows.synth.warc import WarcWriter, http_response

    moment = datetime(2024, 1, 1, tzinfo=UTC)
    with open(path, "wb") as f:
        writer = WarcWriter(f)
        for i, body in enumerate(bodies):
            block = http_response(200, headers, body, moment)
            writer.write(
                "response",
                f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>",
                moment,
                "application/http; msgtype=response",
                block,
                [("WARC-Target-URI", f"https://example.com/{i}")],
            )


def test_gzip_encoded_payloads_are_decompressed_and_bombs_are_dropped(tmp_path):
    page = b"<html><body><p>" + b"Hello world. " * 2000 + b"</p></body></html>"
    path = tmp_path / "encoded.warc.gz"
    write_warc(
        path,
        [gzip.compress(page), gzip.compress(page)[:100]],
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
    )
    ok, broken = read_warc(str(path), CAP)
    assert ok.drop is None and ok.doc.payload == page
    assert broken.drop.reason == "bad_content_encoding"
    bomb = next(read_warc(str(path), 1000))  # 26 kB of text in a 200-byte gzip body, cap 1000 bytes
    assert bomb.drop.reason == "bad_content_encoding" and "past 1000 bytes" in bomb.drop.details


def gzip_members(path) -> list[bytes]:
    """The records of a per-record WARC.gz, each decompressed from its own gzip member."""
    data, records = path.read_bytes(), []
    while data:
        inflater = zlib.decompressobj(wbits=31)
        records.append(inflater.decompress(data))
        data = inflater.unused_data
    return records


def test_a_wrong_content_length_is_one_named_drop_and_spares_the_next_record(tmp_path):
    good = tmp_path / "good.warc.gz"
    write_warc(good, [b"<html><body>page %d</body></html>" % i for i in range(3)], [("Content-Type", "text/html")])
    records = gzip_members(good)
    for declared, name in ((b"Content-Length: 999", "long"), (b"Content-Length: 20", "short")):
        bad = tmp_path / f"{name}.warc.gz"
        broken = re.sub(rb"Content-Length: \d+\r\n\r\nHTTP", declared + b"\r\n\r\nHTTP", records[1])
        bad.write_bytes(b"".join(gzip.compress(r) for r in [records[0], broken, records[2]]))
        items = list(read_warc(str(bad), CAP))
        assert [i.drop and i.drop.reason for i in items] == [None, "bad_content_length", None], name
        assert "declares Content-Length " + declared.split()[1].decode() in items[1].drop.details
        assert items[2].doc.url == "https://example.com/2" and items[2].doc.payload.endswith(b"page 2</body></html>")


def test_a_damaged_gzip_member_is_skipped_by_the_index_and_the_reader(tmp_path):
    good = tmp_path / "good.warc.gz"
    write_warc(good, [b"<html><body>page %d</body></html>" % i for i in range(4)], [("Content-Type", "text/html")])
    members = [gzip.compress(r) for r in gzip_members(good)]
    members[1] = members[1][:40] + bytes(30) + members[1][70:]  # deflate data overwritten
    members[2] = members[2][: len(members[2]) // 2]  # cut short, the next member follows
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(b"".join(members))
    ranges, _ = split_warc(str(bad), 1)
    assert len(ranges) == 4  # every member is a record offset, damaged or not
    items = [i for s, e in ranges for i in read_warc(str(bad), CAP, s, e)]
    assert [i.drop and i.drop.reason for i in items] == [None, "corrupt_member", "corrupt_member", None]
    assert [i.doc.warc_offset for i in items] == [s for s, _ in ranges]
    assert items[3].doc.url == "https://example.com/3"
