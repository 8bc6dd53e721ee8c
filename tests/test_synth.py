"""The synthetic corpus (flows/synth): determinism, a WARC that real readers accept, and truth that matches the bytes."""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import trafilatura
from fastwarc.warc import ArchiveIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from sieve.filters.language import identify
from sieve.flows.synth import pii, write_synthetic_corpus
from sieve.flows.synth.banks import ARTICLE_LANGS, BANK_DIR, load_bank
from sieve.flows.synth.corpus import KINDS
from sieve.flows.synth.text import NEAR_DUP_MAX, NEAR_DUP_MIN, Slots, jaccard, shingles, words

DOCS = 200
ARTICLE_LIKE = ("article", "exact_duplicate", "near_duplicate")
VI_DIACRITICS = re.compile("[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]")


def _generate(path: Path, docs: int = DOCS, seed: int = 11) -> Path:
    write_synthetic_corpus(path, docs=docs, seed=seed)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def truth(corpus) -> dict:
    return json.loads((corpus / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def responses(corpus) -> list[dict]:
    """Response records as fastwarc reads them, in file order."""
    out = []
    for record in ArchiveIterator(str(corpus / "corpus.warc.gz"), parse_http=True):
        if record.record_type == WarcRecordType.response:
            out.append(
                {
                    "id": record.headers.get("WARC-Record-ID"),
                    "url": record.headers.get("WARC-Target-URI"),
                    "status": record.http_headers.status_code,
                    "content_type": record.http_headers.get("Content-Type"),
                    "content_length": record.http_headers.get("Content-Length"),
                    "payload": record.reader.read(),
                }
            )
    return out


@pytest.fixture(scope="module")
def by_id(truth, responses) -> dict[str, tuple[dict, bytes]]:
    payloads = {r["id"]: r["payload"] for r in responses}
    return {t["record_id"]: (t, payloads[t["record_id"]]) for t in truth["records"]}


def test_same_seed_gives_identical_bytes_another_seed_differs(corpus, tmp_path):
    again, other = _generate(tmp_path / "again"), _generate(tmp_path / "other", seed=12)
    for name in ("corpus.warc.gz", "truth.json", "dedup_pairs.jsonl"):
        assert (again / name).read_bytes() == (corpus / name).read_bytes()
        assert (other / name).read_bytes() != (corpus / name).read_bytes()


def test_truth_header_counts_match_the_records(truth):
    records = truth["records"]
    assert truth["seed"] == 11 and truth["docs"] == DOCS == len(records)
    assert Counter(r["kind"] for r in records) == {k: n for k, n in truth["counts"].items() if n}
    assert set(truth["counts"]) == set(KINDS) and all(truth["counts"].values())
    assert truth["non_response_records"]["warcinfo"] == 1
    assert truth["non_response_records"]["request"] > 0 and truth["non_response_records"]["metadata"] > 0
    assert len({r["record_id"] for r in records}) == len({r["url"] for r in records}) == DOCS


def test_fastwarc_reads_responses_in_truth_order(corpus, truth, responses):
    assert [(r["id"], r["url"]) for r in responses] == [(t["record_id"], t["url"]) for t in truth["records"]]
    for response, record in zip(responses, truth["records"]):
        assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", response["id"])
        assert response["status"] == record["http_status"]
        assert response["content_type"] == record["content_type"]
        assert int(response["content_length"]) == len(response["payload"])
    types = Counter(str(r.record_type).rsplit(".", 1)[-1] for r in ArchiveIterator(str(corpus / "corpus.warc.gz")))
    assert types == {"response": DOCS, **truth["non_response_records"]}


def test_warcio_reads_every_record_with_valid_digests(corpus, truth):
    types = Counter()
    with open(corpus / "corpus.warc.gz", "rb") as f:
        for record in WarcioIterator(f, check_digests="raise"):
            record.content_stream().read()
            types[record.rec_type] += 1
    assert types == {"response": DOCS, **truth["non_response_records"]}


def test_record_fields_fit_their_kind(by_id):
    for record, payload in by_id.values():
        kind = record["kind"]
        if kind in ARTICLE_LIKE or kind == "bad_charset":
            assert record["lang"] in ARTICLE_LANGS and record["body_text"]
        else:
            assert record["lang"] is None and record["body_text"] is None
        if kind == "http_error":
            assert record["http_status"] >= 400
        else:
            assert record["http_status"] == 200
        if kind == "non_html":
            assert payload.startswith((b"%PDF-", b"\x89PNG", b"{"))
        if kind == "empty":
            assert not trafilatura.extract(payload.decode("utf-8"))


def test_planted_pii_appears_verbatim_in_the_page(by_id):
    planted = [(record, item, payload) for record, payload in by_id.values() for item in record["pii"]]
    assert planted, "no PII planted"
    for record, item, payload in planted:
        assert item["type"] in {t for t, _ in pii.GENERATORS.values()}
        assert item["value"] in record["body_text"]
        assert item["value"] in payload.decode("utf-8")
        if item["type"] == "credit_card":
            assert pii.luhn_ok(item["value"])


@pytest.mark.parametrize(
    "key, pattern",
    [
        ("email", r"[a-z0-9._]+@[a-z.]+\.[a-z]+"),
        ("phone_us", r"\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}|\d{3}\.\d{3}\.\d{4}"),
        (
            "phone_vn",
            r"0\d{3} \d{3} \d{3}|0\d{2} \d{3} \d{4}|\+84 \d{3} \d{3} \d{3}|0\d{3}\.\d{3}\.\d{3}|0\d{9}"
            r"|016\d \d{3} \d{4}|84 \d{3} \d{3} \d{3}|0\d{3}_\d{3}_\d{3}|0\d{3}–\d{3}–\d{3}",
        ),  # old plan, no +, _ and –
        (
            "landline_vn",
            r"02\d{1,2} [23]\d{3} \d{3,4}|\(0[48]\) [23]\d{3} \d{4}",
        ),  # (04)/(08): Hà Nội, TP.HCM before 2017
        ("cccd", r"0\d{11}"),
        ("cmnd", r"0\d{8}"),
        ("ipv4", r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})"),
        ("card", r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}"),
    ],
)
def test_pii_generators_write_the_documented_formats(key, pattern):
    rng = random.Random(key)
    for person in ("Nguyễn Thị Hương", "Sarah Mitchell") * 50:
        _, value = pii.generate(key, rng, person)
        match = re.fullmatch(pattern, value)
        assert match, value
        if key == "ipv4":
            assert all(0 <= int(octet) <= 255 for octet in match.groups())
        if key == "card":
            assert pii.luhn_ok(value)


def test_toxic_passages_are_planted_in_the_body(truth):
    toxic = [r for r in truth["records"] if r["toxic"]]
    assert toxic
    for record in toxic:
        assert record["lang"] in ("en", "vi") and record["toxic_passages"]
        assert all(p in record["body_text"] for p in record["toxic_passages"])
    assert not any(r["toxic_passages"] for r in truth["records"] if not r["toxic"])


def test_vietnamese_text_is_nfc_with_diacritics(by_id):
    vietnamese = [(r, p) for r, p in by_id.values() if r["lang"] == "vi"]
    assert vietnamese
    for record, payload in vietnamese:
        text = record["body_text"]
        assert unicodedata.normalize("NFC", text) == text
        assert len(VI_DIACRITICS.findall(text.lower())) > len(text) / 20
        if record["encoding"] == "utf-8":
            html = payload.decode("utf-8")
            assert unicodedata.normalize("NFC", html) == html


def test_bad_charset_pages_hold_vietnamese_in_an_undeclared_encoding(by_id):
    broken = [(r, p) for r, p in by_id.values() if r["kind"] == "bad_charset"]
    assert broken
    for record, payload in broken:
        declared = re.search(r"charset=([\w-]+)", record["content_type"] or "")
        assert record["encoding"] in ("utf-8", "windows-1258")
        assert declared is None or declared.group(1) != record["encoding"]
        html = unicodedata.normalize("NFC", payload.decode(record["encoding"]))
        assert record["body_text"].splitlines()[1] in html


def test_exact_duplicates_reserve_their_original_or_rerender_it_on_another_site(by_id):
    clusters: dict[int, list[tuple[dict, bytes]]] = {}
    for record, payload in by_id.values():
        if record["dup_cluster"] is not None:
            clusters.setdefault(record["dup_cluster"], []).append((record, payload))
    assert clusters
    renders = Counter()
    for members in clusters.values():
        kinds = Counter(r["kind"] for r, _ in members)
        assert kinds["article"] == 1 and kinds["exact_duplicate"] >= 1 and set(kinds) == {"article", "exact_duplicate"}
        ((original, body),) = [(r, p) for r, p in members if r["kind"] == "article"]
        for record, payload in members:
            if record["kind"] == "exact_duplicate":
                renders[record["dup_render"]] += 1
                assert record["dup_source"] == original["record_id"]
                assert (payload == body) == (record["dup_render"] == "same_bytes")
        assert len({r["body_text"] for r, _ in members}) == 1
        assert len({r["url"] for r, _ in members}) == len(members)
    assert set(renders) == {"same_bytes", "other_site"}


def test_near_duplicate_jaccard_vs_its_source_is_in_range_and_recomputable(truth):
    by_record = {r["record_id"]: r for r in truth["records"]}
    near = [r for r in truth["records"] if r["kind"] == "near_duplicate"]
    assert near
    for record in near:
        original = by_record[record["near_dup_source"]]
        assert original["near_dup_cluster"] == record["near_dup_cluster"]
        assert NEAR_DUP_MIN <= record["near_dup_jaccard"] <= NEAR_DUP_MAX
        recomputed = jaccard(shingles(original["body_text"]), shingles(record["body_text"]))
        assert recomputed == pytest.approx(record["near_dup_jaccard"], abs=1e-4)
        assert record["lang"] == original["lang"] and record["pii"] == original["pii"]


def test_articles_are_distinct_apart_from_planted_duplicates(truth):
    bodies = [r["body_text"] for r in truth["records"] if r["kind"] in ("article", "near_duplicate", "bad_charset")]
    assert len(set(bodies)) == len(bodies)
    articles = [shingles(r["body_text"]) for r in truth["records"] if r["kind"] == "article"]
    assert max(jaccard(a, b) for i, a in enumerate(articles) for b in articles[i + 1 :]) < NEAR_DUP_MIN


def test_trafilatura_recovers_the_body_and_drops_the_cookie_banner(by_id):
    recalls, with_cookie_text = [], 0
    pages = [(r, p) for r, p in by_id.values() if r["kind"] in ARTICLE_LIKE]
    for record, payload in pages:
        extracted = trafilatura.extract(payload.decode("utf-8"), favor_precision=True) or ""
        found = set(words(extracted))
        planted = words(record["body_text"])
        recalls.append(sum(w in found for w in planted) / len(planted))
        with_cookie_text += "cookie" in extracted.lower()
    assert sum(recalls) / len(recalls) >= 0.8
    assert with_cookie_text <= 0.1 * len(pages)


def test_language_id_agrees_with_the_planted_language(truth):
    articles = [r for r in truth["records"] if r["kind"] == "article"]
    for lang in ("en", "vi"):
        planted = [r for r in articles if r["lang"] == lang]
        agree = sum(identify(r["body_text"])[0] == lang for r in planted)
        assert planted and agree >= 0.95 * len(planted), f"{lang}: {agree}/{len(planted)}"
    others = [r for r in articles if r["lang"] not in ("en", "vi")]
    assert all(identify(r["body_text"])[0] not in ("en", "vi") for r in others)


@pytest.mark.parametrize("lang", ARTICLE_LANGS)
def test_every_bank_template_fills(lang):
    bank = load_bank(lang)
    sentences = [s for topic in bank.topics for s in bank.sentences[topic]]
    assert len(set(sentences)) == len(sentences) >= (300 if lang in ("en", "vi") else 60)
    assert len(bank.topics) >= 6 and all(bank.titles[t] for t in bank.topics)
    rng = random.Random(0)
    templates = sentences + [t for topic in bank.topics for t in bank.titles[topic]]
    templates += bank.sentences.get("_pii", ()) + bank.sentences.get("_toxic", ())
    for template in templates:
        filled = Slots(bank, rng).fill(template)
        assert "{" not in filled and "}" not in filled
    text = (BANK_DIR / f"{lang}.txt").read_text(encoding="utf-8")
    assert unicodedata.normalize("NFC", text) == text


def test_small_corpora_hold_most_kinds(tmp_path):
    counts = write_synthetic_corpus(tmp_path, docs=50, seed=1).counts
    assert sum(counts.values()) == 50 and sum(n > 0 for n in counts.values()) >= 10
    assert write_synthetic_corpus(tmp_path / "one", docs=1, seed=1).counts == {k: int(k == "article") for k in KINDS}


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> tuple[dict, list[dict]]:
    """A 2000-document corpus: its truth and its labelled pairs."""
    path = _generate(tmp_path_factory.mktemp("synth2000"), docs=2000, seed=5)
    lines = (path / "dedup_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    return json.loads((path / "truth.json").read_text(encoding="utf-8")), [json.loads(line) for line in lines]


def test_pairs_file_holds_every_cluster_pair_with_its_jaccard(big_corpus):
    truth, pairs = big_corpus
    by_url = {r["url"]: r for r in truth["records"]}
    keys = [(p["kind"], p["a"], p["b"]) for p in pairs]
    assert keys == sorted(keys, key=lambda k: (("exact", "near", "distinct").index(k[0]), k[1], k[2]))
    for label, field in (("exact", "dup_cluster"), ("near", "near_dup_cluster")):
        clusters: dict[int, list[str]] = {}
        for record in truth["records"]:
            if record[field] is not None:
                clusters.setdefault(record[field], []).append(record["url"])
        expected = {(a, b) for urls in clusters.values() for i, a in enumerate(urls) for b in urls[i + 1 :]}
        assert {(p["a"], p["b"]) for p in pairs if p["kind"] == label} == expected
    for pair in pairs:
        a, b = by_url[pair["a"]], by_url[pair["b"]]
        assert pair["jaccard"] == round(jaccard(shingles(a["body_text"]), shingles(b["body_text"])), 4)
        if pair["kind"] == "exact":
            assert pair["jaccard"] == 1.0
        if pair["kind"] == "distinct":
            assert (a["kind"], b["kind"]) == ("article", "article")
            assert (a["lang"], a["topic"]) == (b["lang"], b["topic"])
    near = sum(p["kind"] == "near" for p in pairs)
    assert sum(p["kind"] == "distinct" for p in pairs) == max(near, 100)


def test_near_duplicate_chains_reach_below_the_dedup_threshold(big_corpus):
    truth, pairs = big_corpus
    by_id = {r["record_id"]: r for r in truth["records"]}
    chained = [
        r for r in truth["records"] if r["near_dup_source"] and by_id[r["near_dup_source"]]["kind"] == "near_duplicate"
    ]
    assert len(chained) >= 0.2 * truth["counts"]["near_duplicate"]
    near = [p["jaccard"] for p in pairs if p["kind"] == "near"]
    assert min(near) < 0.6 and max(near) > 0.9
    copies = [r["near_dup_jaccard"] for r in truth["records"] if r["kind"] == "near_duplicate"]
    assert min(copies) < 0.65 and max(copies) > 0.9


def test_site_boilerplate_recurs_inside_article_bodies(corpus, truth, by_id):
    small = json.loads(
        (_generate(corpus.parent / "synth300", docs=300, seed=7) / "truth.json").read_text(encoding="utf-8")
    )
    lines = Counter(line for r in small["records"] for line in r["boilerplate"])
    print("boilerplate lines in the 300-doc corpus:", sorted(lines.values(), reverse=True))
    assert sum(n >= 5 for n in lines.values()) >= 3
    for record, payload in by_id.values():
        for line in record["boilerplate"]:
            assert line in record["body_text"].splitlines() and line in payload.decode("utf-8")


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_distinct_same_topic_articles_share_few_word_5_grams(big_corpus, lang):
    truth, _ = big_corpus
    groups: dict[str, list[set]] = {}
    for record in truth["records"]:
        if record["kind"] == "article" and record["lang"] == lang:
            groups.setdefault(record["topic"], []).append(shingles(record["body_text"]))
    rng = random.Random(lang)
    topics = [t for t, members in groups.items() if len(members) > 1]
    values = sorted(jaccard(*rng.sample(groups[t], 2)) for t in (rng.choice(topics) for _ in range(1000)))
    assert values[len(values) // 2] < 0.05 and values[-1] < 0.3
