"""PII detection and redaction (filters/pii.py) with the real presidio engines: formats, recall, false positives."""
from __future__ import annotations

import logging
import random

import pyarrow.parquet as pq
import pytest

from sieve.filters.pii import Scrubber, install_log_scrubber, scrubber
from sieve.filters.pii_recognizers import luhn
from sieve.flows.synth.banks import load_bank
from sieve.flows.synth.text import build_article
from sieve.schemas.config import load_config
from sieve.schemas.document import Document, Drop
from sieve.schemas.tables import DROPPED, KEPT
from sieve.transforms.parquet import write_rows

PII = load_config().pii


@pytest.fixture(scope="module")
def scrub():
    return scrubber(PII).scrub


@pytest.mark.parametrize("phone", ["0912 345 678", "091 234 5678", "0912.345.678", "0912-345-678", "0912345678",
                                   "+84 912 345 678", "+84912345678", "0084 912 345 678", "(+84) 912 345 678",
                                   "033.456.7890", "028 3822 1234", "(028) 3822 1234", "0236.3822.123", "024-3822-1234"])
def test_vietnamese_phones_with_spaces_dots_and_dashes_are_replaced(scrub, phone):
    text, counts = scrub(f"Mọi thông tin xin liên hệ số {phone} trong giờ hành chính.", "vi")
    assert text == "Mọi thông tin xin liên hệ số <PHONE> trong giờ hành chính." and counts == {"PHONE_NUMBER": 1}


@pytest.mark.parametrize("phone", ["(212) 555-0199", "212-555-0199", "212.555.0199", "+1 212 555 0199", "1-800-555-0199",
                                   "+44 20 7946 0958", "+33 1 42 68 53 00", "+65 6123 4567"])
def test_us_and_international_phones_are_replaced(scrub, phone):
    assert scrub(f"Call the desk at {phone} today.", "en")[0] == "Call the desk at <PHONE> today."


@pytest.mark.parametrize("text", ["On 2024-05-12 at 10:30:00 the index rose 1.5%.", "Ngày 12/05/2024, giá 35.000.000 đồng.",
                                  "Revenue was $1,234,567.89 in 2023-2024.", "ISBN 978-3-16-148410-0 (2019), 12.05.2024.",
                                  "Dân số 12.345.678 người, tăng 0,9%.", "A bare id 001099012345 without a context word.",
                                  "Version 2.4.6 and build 20240512 shipped."])
def test_dates_prices_versions_and_bare_ids_are_not_pii(scrub, text):
    assert scrub(text, "vi" if "Ngày" in text or "Dân" in text else "en") == (text, {})


@pytest.mark.parametrize("written, entity", [
    ("CCCD số 001099012345", "VN_CCCD"), ("căn cước công dân: 001 099 012 345", "VN_CCCD"),
    ("số CCCD 079.203.004.567", "VN_CCCD"), ("CMND số 012345678", "VN_CMND"),
    ("chứng minh nhân dân 012-345-678", "VN_CMND"), ("so CMND 023 456 789", "VN_CMND")])
def test_vietnamese_ids_in_context_with_separators(scrub, written, entity):
    text, counts = scrub(f"Người khai báo, {written}, thường trú tại Hà Nội.", "vi")
    assert "<ID>" in text and not any(ch.isdigit() for ch in text) and counts == {entity: 1}


def test_luhn_decides_card_numbers(scrub):
    valid = "4539 1488 0343 6467"
    assert luhn(valid) and scrub(f"card {valid} used", "en")[0] == "card <CARD> used"
    invalid = valid[:-1] + "8"
    assert not luhn(invalid) and scrub(f"card {invalid} used", "en") == (f"card {invalid} used", {})
    rng = random.Random(0)
    numbers = ["".join(rng.choice("0123456789") for _ in range(16)) for _ in range(500)]
    tagged = [n for n in numbers if scrub(f"order {n} shipped", "en")[1]]
    assert all(luhn(n) for n in tagged) and len(tagged) < 0.1 * len(numbers)


@pytest.mark.parametrize("value, placeholder", [
    ("203.113.14.9", "<IP>"), ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "<IP>"), ("2001:db8::ff00:42:8329", "<IP>"),
    ("536-22-1987", "<ID>"), ("DE89 3704 0044 0532 0130 00", "<IBAN>"), ("mai.nguyen@yahoo.com.vn", "<EMAIL>"),
    ("https://bob:hunter2@db.example.com/admin", "<URL>"), ("https://api.example.com/v1/export?api_key=9f8e7d6c5b4a", "<URL>"),
    ("1600 Pennsylvania Avenue", "<ADDRESS>"), ("số 12 đường Lê Lợi", "<ADDRESS>")])
def test_other_structured_types(scrub, value, placeholder):
    assert scrub(f"Seen: {value} yesterday", "en")[0] == f"Seen: {placeholder} yesterday"


def _synthetic(docs: int, seed: int) -> list:
    rng = random.Random(seed)
    banks = {lang: load_bank(lang) for lang in ("en", "vi")}
    out = []
    for i in range(docs):
        lang = ("en", "vi")[i % 2]
        article = build_article(banks[lang], rng, with_pii=rng.random() < 0.5, with_toxic=False)
        out.append((lang, article.body_text, list(article.pii)))
    return out


def test_recall_per_type_and_false_positives_on_the_synthetic_truth(scrub):
    recall: dict[str, list[int]] = {}
    clean = touched = 0
    for lang, text, planted in _synthetic(1200, seed=3):
        scrubbed, counts = scrub(text, lang)
        clean += not planted
        touched += bool(not planted and counts)
        for p in planted:
            digits = "".join(c for c in p["value"] if c.isdigit())
            gone = p["value"] not in scrubbed and (p["type"] == "email" or digits not in scrubbed.replace(" ", ""))
            recall.setdefault(p["type"], []).append(gone)
    assert {"email", "phone_us", "phone_vn", "vn_cccd", "vn_cmnd", "ipv4", "credit_card"} <= set(recall)
    for pii_type, hits in recall.items():
        assert sum(hits) / len(hits) >= 0.99, pii_type
    assert touched < 0.01 * clean


def test_prefilter_changes_cost_not_results():
    on, off = Scrubber(PII), Scrubber(PII.model_copy(update={"prefilter": False}))
    for lang, text, _ in _synthetic(200, seed=5):
        assert on.scrub(text, lang) == off.scrub(text, lang)


def test_fake_values_are_consistent_and_replace_the_original():
    fake = Scrubber(PII.model_copy(update={"replace": "fake"}))
    a, _ = fake.scrub("Write to lan.tran@gmail.com or call 0912 345 678.", "vi")
    b, _ = fake.scrub("Again: lan.tran@gmail.com.", "vi")
    assert "lan.tran@gmail.com" not in a + b and "0912 345 678" not in a and "<" not in a
    assert a.split()[2] == b.split()[1].rstrip(".")  # the same address got the same fake address


def test_written_rows_are_scrubbed_and_dropped_text_can_be_left_out(tmp_path):
    doc = Document(warc_file="f.warc.gz", warc_offset=1, url="https://u:secret@example.com/p",
                   text="Call 0912 345 678 now.", language="vi")
    write_rows([doc.kept_row()], KEPT, str(tmp_path / "k.parquet"))
    row = pq.read_table(tmp_path / "k.parquet").to_pylist()[0]
    assert row["text"] == "Call <PHONE> now." and "secret" not in row["url"]
    assert dict(row["pii_counts"]) == {"PHONE_NUMBER": 1, "CREDENTIAL_URL": 1}
    none = PII.model_copy(update={"dropped_text": "none"})
    write_rows([doc.dropped_row(Drop("c4", "sentences", "quoted: 0912 345 678"))], DROPPED, str(tmp_path / "d.parquet"), none)
    row = pq.read_table(tmp_path / "d.parquet").to_pylist()[0]
    assert row["text"] is None and row["details"] == "quoted: <PHONE>"


def test_log_messages_are_scrubbed(caplog):
    install_log_scrubber(PII)
    with caplog.at_level(logging.INFO, logger="sieve"):
        logging.getLogger("sieve").info("bad record near %s", "mai.nguyen@yahoo.com.vn, CCCD 001099012345")
    assert caplog.messages == ["bad record near <EMAIL>, CCCD <ID>"]
