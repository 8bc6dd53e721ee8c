"""Synthetic CommonCrawl-like WARC plus a truth.json saying what every record is, for testing the pipeline."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TextIO
from urllib.parse import urlsplit

from sieve.flows.synth import broken, lowq
from sieve.flows.synth.banks import ARTICLE_LANGS, FULL_LANGS, load_bank
from sieve.flows.synth.broken import Payload
from sieve.flows.synth.pages import Site, article_page, build_sites
from sieve.flows.synth.pairs import PairLog
from sieve.flows.synth.text import Article, build_article, near_duplicate, paste_boilerplate
from sieve.flows.synth.warc import WarcWriter, http_request, http_response, record_id, sha1_digest

# Share of response records per kind; small corpora still get one of each (see _kind_counts).
KIND_WEIGHTS = {
    "article": 0.73,
    "exact_duplicate": 0.06,
    "near_duplicate": 0.06,
    "link_list": 0.02,
    "keyword_stuffing": 0.02,
    "lorem_ipsum": 0.015,
    "code": 0.015,
    "gibberish": 0.015,
    "short": 0.015,
    "non_html": 0.0125,
    "http_error": 0.0125,
    "bad_charset": 0.0125,
    "empty": 0.0125,
}
KINDS = tuple(KIND_WEIGHTS)
ARTICLE_LANG_WEIGHTS = {"en": 0.50, "vi": 0.44, "fr": 0.02, "de": 0.02, "es": 0.02}
PII_RATE = 0.15  # of en/vi articles
TOXIC_RATE = 0.05  # of en/vi articles
BOILERPLATE_RATE = 0.4  # of a site's articles that get the site's boilerplate lines pasted into the body
CHAIN_RATE = 1 / 3  # of near duplicates copied from an earlier near duplicate instead of the original
OTHER_SITE_RATE = 0.5  # of exact duplicates re-rendered with another site's page template
REQUEST_RATE = 0.5  # responses preceded by a request record
METADATA_RATE = 0.5  # responses followed by a metadata record
# Copies pick their original among the last DUP_WINDOW articles, so only that many originals stay in memory.
DUP_WINDOW = 1000
CRAWL_START = datetime(2024, 5, 20, 6, 0, 0, tzinfo=UTC)
_SERVERS = ("nginx", "Apache", "cloudflare", "LiteSpeed", "nginx/1.18.0 (Ubuntu)")


@dataclass
class _Planned:
    """What one response record will be, decided before any text is generated."""

    kind: str
    lang: str | None
    request: bool
    metadata: bool
    source: int | None = None  # plan index of the record copied, for duplicates
    dup_cluster: int | None = None
    near_dup_cluster: int | None = None
    other_site: bool = False  # exact duplicate rendered with another site's page template


def _kind_counts(docs: int) -> dict[str, int]:
    """Exact record count per kind; every kind gets at least one once there is room for it."""
    counts = {kind: int(weight * docs) for kind, weight in KIND_WEIGHTS.items() if kind != "article"}
    if docs >= 2 * len(KINDS):
        counts = {kind: max(1, n) for kind, n in counts.items()}
    return {"article": docs - sum(counts.values()), **counts}


def _plan(docs: int, rng: random.Random) -> list[_Planned]:
    """Kinds in shuffled order (an article first, so copies always have an original), languages and clusters."""
    kinds = [kind for kind, n in _kind_counts(docs).items() for _ in range(n)]
    rng.shuffle(kinds)
    if kinds:
        first = kinds.index("article")
        kinds[0], kinds[first] = kinds[first], kinds[0]
    langs, lang_weights = list(ARTICLE_LANG_WEIGHTS), list(ARTICLE_LANG_WEIGHTS.values())
    plan: list[_Planned] = []
    articles: list[int] = []
    near_copies: list[int] = []
    clusters = {"exact_duplicate": 0, "near_duplicate": 0}
    for index, kind in enumerate(kinds):
        entry = _Planned(kind, None, rng.random() < REQUEST_RATE, rng.random() < METADATA_RATE)
        if kind == "article":
            entry.lang = rng.choices(langs, lang_weights)[0]
            articles.append(index)
        elif kind in clusters:
            chained = kind == "near_duplicate" and near_copies and rng.random() < CHAIN_RATE
            entry.source = rng.choice(near_copies[-DUP_WINDOW:] if chained else articles[-DUP_WINDOW:])
            entry.other_site = kind == "exact_duplicate" and rng.random() < OTHER_SITE_RATE
            if kind == "near_duplicate":
                near_copies.append(index)
            original = plan[entry.source]
            entry.lang = original.lang
            field = "dup_cluster" if kind == "exact_duplicate" else "near_dup_cluster"
            if getattr(original, field) is None:
                setattr(original, field, clusters[kind])
                clusters[kind] += 1
            setattr(entry, field, getattr(original, field))
        plan.append(entry)
    return plan


_ARTICLE_KINDS = ("article", "exact_duplicate", "near_duplicate")


class _Generator:
    """Turns plan entries into HTTP payloads plus their truth fields."""

    def __init__(self, plan: list[_Planned], rng: random.Random):
        self.plan = plan
        self.rng = rng
        self.sites = {lang: build_sites(load_bank(lang), rng) for lang in ARTICLE_LANGS}
        self.id_base = rng.randint(1_000_000, 8_000_000)
        self.last_use = {entry.source: index for index, entry in enumerate(plan) if entry.source is not None}
        # plan index -> (article, HTML bytes, site, record id) of records still to be copied
        self.originals: dict[int, tuple[Article, bytes, Site, str]] = {}

    def _site(self, lang: str | None = None) -> Site:
        return self.rng.choice(self.sites[lang or self.rng.choice(FULL_LANGS)])

    def response(self, index: int, moment: datetime, response_id: str) -> tuple[Payload, dict]:
        """The payload of plan entry `index` and its truth fields (besides record id and URL)."""
        entry = self.plan[index]
        doc_id = self.id_base + index
        article, jaccard, source_id = None, None, None
        if entry.kind in _ARTICLE_KINDS:
            payload, article, jaccard, source_id = self._article(index, entry, doc_id, moment, response_id)
        elif entry.kind == "bad_charset":
            article = build_article(load_bank("vi"), self.rng, with_pii=False, with_toxic=False)
            payload = broken.bad_charset(self._site("vi"), article, self.rng, doc_id, moment)
        elif entry.kind in lowq.PAGES:
            url, html = lowq.PAGES[entry.kind](self._site(), self.rng, doc_id, moment)
            payload = _html_payload(url, html.encode("utf-8"))
        elif entry.kind == "non_html":
            site = self._site()
            payload = broken.non_html(site, self.rng, doc_id, self.rng.choice(site.related)[0])
        elif entry.kind == "http_error":
            payload = broken.http_error(self._site(), self.rng, doc_id, moment)
        else:
            payload = broken.empty(self._site(), self.rng, doc_id, moment)
        return payload, _truth(entry, payload, article, jaccard, source_id)

    def _article(
        self, index: int, entry: _Planned, doc_id: int, moment: datetime, response_id: str
    ) -> tuple[Payload, Article, float | None, str | None]:
        """An article page: an exact duplicate re-serves its original's HTML bytes under a new URL, or re-renders
        the same article on another site; a near duplicate edits its source; an article may carry site boilerplate."""
        site = self._site(entry.lang)
        source_id = None
        if entry.kind == "exact_duplicate":
            article, body, source_site, source_id = self._original(index, entry)
            if not entry.other_site:
                return _html_payload(site.url(article.title, doc_id, moment), body), article, None, source_id
            site = self.rng.choice([s for s in self.sites[entry.lang] if s is not source_site])
            jaccard = None
        elif entry.kind == "near_duplicate":
            source, _, _, source_id = self._original(index, entry)
            article, jaccard = near_duplicate(source, load_bank(entry.lang), self.rng)
        else:
            full = entry.lang in FULL_LANGS
            with_pii, with_toxic = full and self.rng.random() < PII_RATE, full and self.rng.random() < TOXIC_RATE
            article, jaccard = build_article(load_bank(entry.lang), self.rng, with_pii, with_toxic), None
            if site.boilerplate and self.rng.random() < BOILERPLATE_RATE:
                article = paste_boilerplate(article, site.boilerplate, self.rng)
        body = article_page(site, article, moment, self.rng).encode("utf-8")
        if index in self.last_use:
            self.originals[index] = (article, body, site, response_id)
        return _html_payload(site.url(article.title, doc_id, moment), body), article, jaccard, source_id

    def _original(self, index: int, entry: _Planned) -> tuple[Article, bytes, Site, str]:
        """The original a copy is made from; dropped after its last copy, so memory stays bounded."""
        original = self.originals[entry.source]
        if self.last_use[entry.source] == index:
            del self.originals[entry.source]
        return original


def _html_payload(url: str, body: bytes) -> Payload:
    return Payload(url, 200, "text/html; charset=utf-8", body, "utf-8")


def _truth(
    entry: _Planned, payload: Payload, article: Article | None, jaccard: float | None, source_id: str | None
) -> dict:
    """Truth fields of one response record; text fields stay empty for pages without planted article text.

    dup_source / near_dup_source: record id of the record copied; near_dup_jaccard is measured against that source.
    """
    exact = entry.kind == "exact_duplicate"
    truth = {
        "kind": entry.kind,
        "lang": None,
        "topic": None,
        "body_text": None,
        "boilerplate": [],
        "dup_cluster": entry.dup_cluster,
        "dup_source": source_id if exact else None,
        "dup_render": ("other_site" if entry.other_site else "same_bytes") if exact else None,
        "near_dup_cluster": entry.near_dup_cluster,
        "near_dup_jaccard": jaccard,
        "near_dup_source": source_id if entry.kind == "near_duplicate" else None,
        "pii": [],
        "toxic": False,
        "toxic_passages": [],
        "http_status": payload.status,
        "content_type": payload.content_type,
        "encoding": payload.encoding,
    }
    if article is not None:
        truth.update(
            lang=article.lang,
            topic=article.topic,
            body_text=article.body_text,
            boilerplate=article.boilerplate,
            pii=article.pii,
            toxic=bool(article.toxic_passages),
            toxic_passages=article.toxic_passages,
        )
    return truth


def _write_records(
    plan: list[_Planned], rng: random.Random, seed: int, warc: BinaryIO, truth: TextIO, pairs: PairLog
) -> None:
    """Stream the warcinfo record, then request?/response/metadata? per plan entry, and the truth records in WARC order."""
    writer = WarcWriter(warc)
    generator = _Generator(plan, rng)
    info_id = record_id(rng)
    info = f"software: sieve-synth\r\nformat: WARC File Format 1.0\r\ndescription: synthetic corpus, seed {seed}, {len(plan)} documents\r\n"
    writer.write(
        "warcinfo",
        info_id,
        CRAWL_START,
        "application/warc-fields",
        info.encode("utf-8"),
        [("WARC-Filename", "corpus.warc.gz")],
    )
    for index, entry in enumerate(plan):
        moment = CRAWL_START + timedelta(seconds=3 * index + rng.randint(0, 2))
        response_id = record_id(rng)
        payload, fields = generator.response(index, moment, response_id)
        target = [("WARC-Target-URI", payload.url), ("WARC-Warcinfo-ID", info_id)]
        response_headers = [*target, ("WARC-Payload-Digest", sha1_digest(payload.body))]
        if entry.request:
            request_id = record_id(rng)
            url = urlsplit(payload.url)
            path = url.path + (f"?{url.query}" if url.query else "")
            writer.write(
                "request",
                request_id,
                moment,
                "application/http; msgtype=request",
                http_request(url.netloc, path),
                target,
            )
            response_headers.append(("WARC-Concurrent-To", request_id))
        http_headers = [("Server", rng.choice(_SERVERS))]
        if payload.content_type is not None:
            http_headers.append(("Content-Type", payload.content_type))
        block = http_response(payload.status, http_headers, payload.body, moment)
        writer.write("response", response_id, moment, "application/http; msgtype=response", block, response_headers)
        if entry.metadata:
            fetch = f"fetchTimeMs: {rng.randint(40, 3000)}\r\n".encode("ascii")
            metadata_headers = [*target, ("WARC-Concurrent-To", response_id)]
            writer.write("metadata", record_id(rng), moment, "application/warc-fields", fetch, metadata_headers)
        record = {"record_id": response_id, "url": payload.url, **fields}
        pairs.add(index, payload.url, fields)
        truth.write(("" if index == 0 else ",\n") + json.dumps(record, sort_keys=True, ensure_ascii=False))


def write_reference_text(output_dir: Path, docs: int, seed: int = 0) -> dict[str, Path]:
    """Write output_dir/reference/<lang>.txt for en and vi: `docs` clean articles each, blank-line separated.

    Same generator as the corpus's articles, on its own random stream, so a language model trained on them
    (`sieve lm train`) has not seen the corpus's own documents. No PII or toxic passages: this is the clean side.
    """
    rng = random.Random(f"reference-{seed}")
    folder = Path(output_dir) / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for lang in FULL_LANGS:
        bank = load_bank(lang)
        articles = [build_article(bank, rng, with_pii=False, with_toxic=False).body_text for _ in range(docs)]
        written[lang] = folder / f"{lang}.txt"
        written[lang].write_text("\n\n".join(articles) + "\n", encoding="utf-8")
    return written


@dataclass(frozen=True)
class CorpusSummary:
    """What write_synthetic_corpus wrote: records per kind, the labelled pairs file and how alike distinct articles are."""

    counts: dict[str, int]
    pairs_path: Path
    pairs: int
    distinct_pairs_jaccard: dict  # {sampled, median, p99, max} word-5-gram Jaccard of distinct same-topic articles


def _pair_log(plan: list[_Planned], seed: int) -> PairLog:
    """A PairLog told where each duplicate cluster ends and how many near-duplicate pairs there will be."""
    ends: dict[tuple[str, int], int] = {}
    sizes: dict[int, int] = {}
    for index, entry in enumerate(plan):
        if entry.dup_cluster is not None:
            ends["exact", entry.dup_cluster] = index
        if entry.near_dup_cluster is not None:
            ends["near", entry.near_dup_cluster] = index
            sizes[entry.near_dup_cluster] = sizes.get(entry.near_dup_cluster, 0) + 1
    near_pairs = sum(n * (n - 1) // 2 for n in sizes.values())
    return PairLog(ends, near_pairs, sum(entry.kind == "article" for entry in plan), seed)


def write_synthetic_corpus(output_dir: Path, docs: int, seed: int = 0) -> CorpusSummary:
    """Write output_dir/corpus.warc.gz, truth.json and dedup_pairs.jsonl (labelled exact/near/distinct pairs).

    Output is a pure function of (docs, seed): byte-identical across runs on the same Python/zlib.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    plan = _plan(docs, rng)
    counts = _kind_counts(docs)
    non_response = {
        "metadata": sum(entry.metadata for entry in plan),
        "request": sum(entry.request for entry in plan),
        "warcinfo": 1,
    }
    pairs = _pair_log(plan, seed)
    pairs_path = output_dir / "dedup_pairs.jsonl"
    # truth.json is streamed: sorted head keys, the records, then the keys known only at the end.
    with (
        (output_dir / "corpus.warc.gz").open("wb") as warc,
        (output_dir / "truth.json").open("w", encoding="utf-8") as truth,
    ):
        head = {"counts": counts, "docs": docs, "non_response_records": non_response}
        truth.write(json.dumps(head, sort_keys=True)[:-1] + ', "records": [\n')
        _write_records(plan, rng, seed, warc, truth, pairs)
        distinct = pairs.write(pairs_path)
        truth.write(
            f'\n], "distinct_pairs_jaccard": {json.dumps(distinct, sort_keys=True)}, "seed": {json.dumps(seed)}}}\n'
        )
    return CorpusSummary(counts, pairs_path, len(pairs.pairs) + min(pairs.in_file, len(pairs.distinct)), distinct)
