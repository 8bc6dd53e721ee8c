"""Quality benchmark: what each document stage costs, and sieve against datatrove on the same real WARC files.

Prints tables and writes JSON to bench/results/quality.json. Three parts:
  stages     every stage build_filters(cfg) returns, timed in this process over the same documents: the CPU time
             of each stage's annotate + decide (between run_filters' on_stage calls), on the 181 real article
             pages and on a synthetic corpus. Reading is not counted. Per stage: documents that reach it, those it
             drops, ms per document that reaches it, documents/s per core, and its share of the total. The
             annotation chain (every stage after extraction) is set against extraction, which it must cost less
             than. Models for perplexity and classifier are trained first with `sieve lm train` and
             `sieve quality train` on the synthetic reference text (<synth>/reference/<lang>.txt) against the
             synthetic crawl.
  junk       junk kept and clean pages lost per language by the default chain after extraction (clean_text on),
             with the perplexity stage off (before: as with no model) and on (after: the shipped models and cutoffs).
             Clean: the real article pages identified as English, VLSP 2013 test documents (read from an
             underthesea==9.5.0 wheel, fetched from PyPI into bench/results; measurement only) and the
             hand-written pages of tests/data/junk/<lang>/clean-*.txt and tests/data/heldout* (written apart
             from sieve's code; their junk pages too), VLSP cut into 5-sentence pages, and held-out
             real text the shipped models never saw (HELD_OUT: Debian 12 documentation packages fetched with apt-get,
             cut into pages of 40-700 words). Junk, made here from the real texts (never by
             flows/synth), JUNK_PER_KIND per kind: word salad, words sampled by frequency, spun (every 2nd-4th word
             swapped for a random word of the same frequency band), mixed sentences of three documents, keyword
             stuffing; plus tests/data/junk/<lang>/junk-*.txt. Also the perplexity stage's CPU ms per document.
  datatrove  datatrove 0.10.1 (in its own venv, bench/.venv-datatrove, made on first use) running
             WarcReader -> Trafilatura -> GopherRepetitionFilter -> GopherQualityFilter -> JsonlWriter on its
             LocalPipelineExecutor (tasks = files, 2 workers), against sieve's Beam job (run_files, 2 workers,
             default config, language gate on and off), each a whole command (imports and start-up included),
             --repeat times in turn; medians, and sieve's docs/s over datatrove's (datatrove wall / sieve wall of
             each round's pair, then the median). Both sides' kept documents are counted, and the share of pages
             the language gate dropped in sieve's first gate-on run (datatrove has no language filter, so every
             page it reads goes through extraction and both Gopher filters). Beside it, where sieve's seconds go
             (flows/phases.py, as a run's manifest records them): start-up, the Beam job with each worker's warm-up,
             steady ranges and idle tail, the corpus passes and the summary job.
             Captures (a request, its response and its metadata, copied as whole gzip members, one per record):
             ../shared/data/warc/articles.warc.gz (181 real article pages, about 90% English),
             tests/data/warcfile.warc.gz (16 real multilingual pages) and tests/data/clueweb-quirk.warc.gz (29
             real Japanese pages). Each capture's page carries the language sieve's full path gives it (decode,
             trafilatura, lid.176 on the extracted text, default config; computed once and cached). Three inputs,
             each cut into --files gzip WARC files of about equal size:
               real pages as they are     every capture once per copy, --copies times;
               CommonCrawl language mix   the same number of responses, of which about 55% are the captures whose
                                          page is in a language other than en and vi, repeated in turn, and the
                                          rest the other captures in turn. English is about 43-46% of the pages
                                          of recent CommonCrawl crawls and Vietnamese about 1%
                                          (https://commoncrawl.github.io/cc-crawl-statistics/plots/languages), so
                                          with keep [en, vi] a bit over half of a crawl's pages are in other
                                          languages.
               English pages only         the same number of responses, all captures whose page is English, in
                                          turn: the language gate saves nothing and extraction dominates.
             Responses that lack CommonCrawl's WARC-Identified-Payload-Type header, or have it empty (ClueWeb), get
             it from their HTTP Content-Type (see with_payload_type). docs/s counts the response records in the
             input, the same figure for both sides.
  traps      the hand-written code traps of tests/data/traps/code-*.txt (tutorials with a snippet in prose, which
             must be kept; code dumps and raw templates, which must be dropped) through cleanup and the heuristic
             chain: pages kept or dropped as their file name flags them, and C4's code share per set.

    python bench/quality.py [--docs 10000] [--copies 3] [--repeat 3] [--skip stages,junk,datatrove]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pyarrow.parquet as pq
import yaml
from fastwarc.warc import ArchiveIterator
from tables import table  # bench/tables.py, beside this script

from sieve.filters.base import run_filters
from sieve.filters.c4 import code_lines
from sieve.filters.extract import decode_html, extract_text
from sieve.filters.language import identify
from sieve.schemas.config import Config, load_config
from sieve.schemas.document import Document
from sieve.transforms.stages import build_filters
from sieve.transforms.warc import read_warc

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
REAL = ROOT.parent / "shared" / "data" / "warc" / "articles.warc.gz"
CRAWL = ROOT / "tests" / "data" / "warcfile.warc.gz"
CLUEWEB = ROOT / "tests" / "data" / "clueweb-quirk.warc.gz"
SIEVE = str(Path(sys.executable).parent / "sieve")
LANGS = ("en", "vi")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
# Share of the responses in languages other than en and vi in the "CommonCrawl language mix" input (see above).
OTHER_SHARE = 0.55

DATATROVE_VENV = ROOT / "bench" / ".venv-datatrove"
# Two installs: datatrove and trafilatura 2.x asked for together make pip fall back to datatrove 0.2.0.
# The second brings the same trafilatura as sieve's and the reader's undeclared dependencies.
DATATROVE_INSTALL = (
    ["datatrove[processing]==0.10.1"],
    [
        "trafilatura==2.3.1",
        "lxml_html_clean==0.4.6",
        "warcio==1.8.1",
        "spacy==3.8.18",
        "orjson==3.13.0",
        "faust-cchardet==2.1.19",
        "python-magic==0.4.27",
        "pyarrow==25.0.1",
    ],
)  # its Parquet reader and writer (bench/dedup_datatrove.py)
# Trafilatura as sieve runs it (favor_precision, no deduplication) and datatrove's per-document timeout set to
# sieve's guard (10 s); Gopher filters with their defaults, the reference values.
DATATROVE_JOB = """
import sys
from pathlib import Path
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import JsonlWriter

src, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
LocalPipelineExecutor(
    pipeline=[WarcReader(src, glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True, deduplicate=False, timeout=10),
              GopherRepetitionFilter(), GopherQualityFilter(), JsonlWriter(f"{out}/kept")],
    tasks=len(list(Path(src).glob("*.warc.gz"))), workers=workers, logging_dir=f"{out}/logs",
).run()
kept = sum(1 for part in Path(out, "kept").glob("*.jsonl.gz") for _ in __import__("gzip").open(part))
print("KEPT", kept)
"""
SIEVE_JOB = """
import json, sys
from sieve.flows import phases
phases.mark_process_start()  # the interpreter's start and the imports count as start-up
from sieve.flows.jobs import run_files
from sieve.schemas.config import load_config

_, summary = run_files([sys.argv[1]], load_config(sys.argv[3]), sys.argv[2], workers=int(sys.argv[4]))
print("KEPT", summary["counts"]["kept"])
print("PHASES", json.dumps(summary["phases"]))
"""
# Where a sieve command's time goes (flows/phases.py), medians over the rounds: start-up (interpreter, imports), the
# Beam job and inside it each worker's warm-up, steady ranges and idle tail, the corpus passes and the summary job.
PHASE_COLUMNS = ("launcher", "beam_job", "warmup_max", "steady_per_worker", "tail", "passes", "summary", "total")


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")


# --- inputs ------------------------------------------------------------------------------------------------


def synthetic_corpus(docs: int) -> Path:
    """The synthetic corpus folder (corpus.warc.gz, truth.json, reference/<lang>.txt), written once and cached."""
    out = RESULTS / f"synth-{docs}"
    if not ((out / "corpus.warc.gz").exists() and (out / "reference").is_dir()):
        run([SIEVE, "synth", "--output", str(out), "--docs", str(docs), "--seed", "0"])
    return out


def with_payload_type(member: bytes, mime: str) -> bytes:
    """A response record (one gzip member) with the WARC-Identified-Payload-Type header CommonCrawl writes.

    datatrove's reader trusts that header; without it, it guesses with libmagic and skips 106 of the 181 real
    article pages as "application/javascript", and with it empty (ClueWeb) it skips the page, which would leave it
    less work than sieve."""
    head, block = gzip.decompress(member).split(b"\r\n\r\n", 1)
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"warc-identified-payload-type:")]
    return gzip.compress(b"\r\n".join([*lines, f"WARC-Identified-Payload-Type: {mime}".encode()]) + b"\r\n\r\n" + block)


def page_languages() -> dict[str, str]:
    """The language sieve's full path gives each response page of the captures, keyed "<file name>@<offset>"
    ("" for a page with no text), computed once with the default config and cached."""
    cache = RESULTS / "page-languages.json"
    if not cache.exists():
        cfg = load_config()
        languages = {}
        for path in (REAL, CRAWL, CLUEWEB):
            for item in read_warc(str(path), cfg.read.max_payload_bytes):
                if item.doc is not None and item.drop is None:
                    text = extract_text(cfg.extract, decode_html(item.doc.payload or b"", item.doc.http_charset))
                    languages[f"{path.name}@{item.doc.warc_offset}"] = identify(text)[0] if text else ""
        cache.write_text(json.dumps(languages, indent=1))
    return json.loads(cache.read_text())


def captures(path: Path, languages: dict[str, str]) -> list[tuple[bytes, str | None]]:
    """The file's records as (gzip member bytes, its page's language), a request and metadata kept with their
    response; the language is None for a capture without a response (warcinfo)."""
    data = path.read_bytes()
    records = []
    for r in ArchiveIterator(str(path), parse_http=True, quirks_mode=True):
        kind = str(r.record_type).rsplit(".", 1)[-1]
        untyped = kind == "response" and r.http_headers and not r.headers.get("WARC-Identified-Payload-Type")
        records.append((kind, r.stream_pos, (r.http_content_type or "").split(";")[0].strip() if untyped else ""))
    ends = [pos for _, pos, _ in records[1:]] + [len(data)]
    groups: list[tuple[bytes, str | None]] = []
    previous = None
    for (kind, start, mime), end in zip(records, ends):
        member = with_payload_type(data[start:end], mime) if mime else data[start:end]
        language = languages.get(f"{path.name}@{start}", "") if kind == "response" else None
        if (previous, kind) in {("request", "response"), ("response", "metadata")}:
            groups[-1] = (groups[-1][0] + member, groups[-1][1] if language is None else language)
        else:
            groups.append((member, language))
        previous = kind
    return groups


def cycled(groups: list[tuple[bytes, str | None]], responses: int) -> list[tuple[bytes, str | None]]:
    """groups taken in turn, from the first again after the last, until they hold responses responses."""
    out, taken = [], 0
    for group in itertools.cycle(groups):
        if taken == responses:
            return out
        out.append(group)
        taken += group[1] is not None


def inputs(copies: int) -> dict[str, list[tuple[bytes, str | None]]]:
    """The captures of the three side-by-side inputs, by name, with the same number of responses."""
    languages = page_languages()
    groups = [g for path in (REAL, CRAWL, CLUEWEB) for g in captures(path, languages)]
    as_is = groups * copies
    responses = sum(language is not None for _, language in as_is)
    other = [g for g in groups if g[1] and g[1] not in LANGS]
    rest = [g for g in groups if not (g[1] and g[1] not in LANGS)]
    other_responses = round(OTHER_SHARE * responses)
    return {
        "real pages as they are": as_is,
        "CommonCrawl language mix": cycled(rest, responses - other_responses) + cycled(other, other_responses),
        "English pages only": cycled([g for g in groups if g[1] == "en"], responses),
    }


def write_input(groups: list[tuple[bytes, str | None]], folder: Path, files: int) -> None:
    """groups cut into files gzip WARC files of about equal size in folder, unless the folder is there already."""
    if folder.exists():
        return
    parts: list[list[bytes]] = [[] for _ in range(files)]
    sizes = [0] * files
    for member, _ in groups:
        i = sizes.index(min(sizes))  # the smallest file so far takes the next capture
        parts[i].append(member)
        sizes[i] += len(member)
    folder.mkdir(parents=True)
    for i, part in enumerate(parts):
        (folder / f"part-{i:02d}.warc.gz").write_bytes(b"".join(part))


# --- part 1: stage costs -----------------------------------------------------------------------------------


def train_models(reference: Path, crawl: Path) -> dict:
    """Perplexity and classifier models trained on the reference text against the crawl; the config overrides."""
    models = RESULTS / "models"
    lm, classifier = {}, {}
    for lang in LANGS:  # trained anew each run (seconds), so the models match the trainer in the tree
        text = reference / f"{lang}.txt"
        lm[lang] = str(models / f"lm-{lang}")
        run([SIEVE, "lm", "train", "--input", str(text), "--lang", lang, "--output", lm[lang]])
        # The negatives are extracted from the crawl, so a sample of it bounds the training time.
        folder = models / f"classifier-{lang}"
        run(
            [
                SIEVE,
                "quality",
                "train",
                "--positive",
                str(text),
                "--negative",
                str(crawl),
                "--lang",
                lang,
                "--output",
                str(folder),
                "--max-docs",
                "1000",
            ]
        )
        classifier[lang] = str(folder / f"{lang}.bin")
    return {
        "quality": {
            "perplexity": {"enabled": True, "models": lm},
            "classifier": {"enabled": True, "models": classifier},
        }
    }


def stage_config(overrides: dict) -> Config:
    """Defaults plus the trained models."""
    path = RESULTS / "quality-stages.yaml"
    path.write_text(yaml.safe_dump(overrides))
    return load_config(path)


def stage_costs(path: Path, cfg: Config) -> tuple[list[dict], dict]:
    """CPU time of each stage over every response record of path; (table rows, chain-vs-extraction summary)."""
    filters = build_filters(cfg)
    cpu = [0.0] * len(filters)
    reached, dropped = [0] * len(filters), [0] * len(filters)
    docs = 0
    for item in read_warc(str(path), cfg.read.max_payload_bytes):
        if item.doc is None or item.drop is not None:
            continue  # not a document the stages see
        docs += 1
        marks: list[float] = []
        drop = run_filters(item.doc, filters, lambda _: marks.append(time.process_time()))  # noqa: B023 (called now)
        marks.append(time.process_time())
        for i in range(len(marks) - 1):
            cpu[i] += marks[i + 1] - marks[i]
            reached[i] += 1
        dropped[len(marks) - 2] += drop is not None
    total = sum(cpu)
    rows = [
        {
            "stage": f.stage,
            "docs_in": reached[i],
            "dropped": dropped[i],
            "ms_per_doc": round(1000 * cpu[i] / max(reached[i], 1), 3),
            "docs_per_s_per_core": round(reached[i] / cpu[i]) if cpu[i] else "-",
            "cpu_s": round(cpu[i], 3),
            "share": f"{cpu[i] / total:.1%}",
        }
        for i, f in enumerate(filters)
    ]
    stages = [f.stage for f in filters]
    x = stages.index("extract")
    chain = range(x + 1, len(filters))
    summary = {
        "docs": docs,
        "extract_cpu_s": round(cpu[x], 3),
        "chain_cpu_s": round(sum(cpu[i] for i in chain), 3),
        "chain_vs_extract": round(sum(cpu[i] for i in chain) / cpu[x], 3),
        "extract_ms_per_doc_in": rows[x]["ms_per_doc"],
        "chain_ms_per_doc_in": round(sum(rows[i]["ms_per_doc"] for i in chain), 3),
        "chain": [stages[i] for i in chain],
    }
    return rows, summary


# --- part 2: junk and clean pages through the default chain, perplexity stage off and on --------------------

JUNK_DATA = ROOT / "tests" / "data" / "junk"
# VLSP 2013's POS test file, as the underthesea 9.5.0 wheel on PyPI ships it (fetched once by vlsp_file).
VLSP_MEMBER = "underthesea/pipeline/pos_tag/models/pos_crf_vlsp2013_20230303/test_output.txt"
JUNK_PER_KIND = 40  # generated junk pages per kind and language
# Real text the shipped models were not trained on (filters/data/lm/README.md names what they were), to check the
# cutoffs' margins on unseen real pages: (language, set) -> (Debian 12 package, version, its files, reader). Measurement
# only: downloaded with apt-get into HELD_OUT_DEBS, nothing of it is committed.
HELD_OUT = {
    ("en", "Python 3.11 tutorial + HOWTOs"): (
        "python3.11-doc",
        "3.11.2-6+deb12u9",
        "usr/share/doc/python3.11/html/[th][uo]*/*.html",
        "html",
    ),
    ("en", "GNOME help"): ("gnome-user-docs", "43.0-2", "usr/share/help/C/gnome-help/*.page", "mallard"),
    ("en", "Debian Reference"): ("debian-reference-en", "2.100", "usr/share/debian-reference/*.en.html", "html"),
    ("en", "Debian FAQ"): ("debian-faq", "11.1", "usr/share/doc/debian/FAQ/*.html", "html"),
    ("en", "Developer's Reference"): ("developers-reference", "12.18", "usr/share/developers-reference/*.html", "html"),
    ("vi", "GNOME help"): ("gnome-user-docs", "43.0-2", "usr/share/help/vi/gnome-help/*.page", "mallard"),
    ("vi", "manpages-vi"): ("manpages-vi", "4.18.1-1", "usr/share/man/vi/*/*.gz", "man"),
}
HELD_OUT_DEBS = Path(tempfile.gettempdir()) / "sieve-bench-debs"
PAGE_WORDS = (40, 70, 100, 150, 250, 400, 700)  # held-out documents are cut into pages of these sizes, half short


def hand_pages(lang: str, group: str) -> list[str]:
    """The hand-written pages of tests/data/junk/<lang>/: group "clean" or "junk", one page per file."""
    return [path.read_text(encoding="utf-8") for path in sorted((JUNK_DATA / lang).glob(f"{group}-*.txt"))]


def heldout_pages(lang: str, *groups: str) -> list[str]:
    """The pages of tests/data/heldout*/<lang>/<group>/ (the rounds written apart from sieve's code), one per file."""
    rounds = [folder / lang for folder in sorted(JUNK_DATA.parent.glob("heldout*"))]
    return [p.read_text(encoding="utf-8") for r in rounds for g in groups for p in sorted((r / g).glob("*.txt"))]


def vlsp_file() -> Path:
    """The VLSP 2013 test file from the underthesea wheel, downloaded with pip and unpacked once under RESULTS."""
    folder = RESULTS / "underthesea"
    if not (folder / VLSP_MEMBER).exists():
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "underthesea==9.5.0", "-d", str(folder)])
        with zipfile.ZipFile(next(folder.glob("underthesea-9.5.0-*.whl"))) as wheel:
            wheel.extract(VLSP_MEMBER, folder)
    return folder / VLSP_MEMBER


def vlsp_documents(path: Path) -> list[str]:
    """VLSP 2013 `word<TAB>tag` lines -> documents of 20 sentences, 4 sentences per line (bench/pii.py's reader,
    with line breaks, as extracted pages have them)."""
    from pii import vi_real  # bench/pii.py, beside this script

    return [
        "\n".join(" ".join(sentences[i : i + 4]) for i in range(0, 20, 4))
        for sentences in (SENTENCE_SPLIT.split(doc) for doc in vi_real(path))
    ]


def vlsp_short_pages(path: Path) -> list[str]:
    """VLSP 2013 cut into pages of 5 sentences (~100 words), 2 sentences per line: short pages measure noisier."""
    from pii import vi_real

    sentences = [s for doc in vi_real(path) for s in SENTENCE_SPLIT.split(doc)]
    return [
        "\n".join(" ".join(sentences[i + j : i + j + 2]) for j in range(0, 5, 2))
        for i in range(0, len(sentences) - 5, 5)
    ][:300]


def held_out_documents(package: str, version: str, files: str, reader: str, cfg: Config) -> list[str]:
    """The texts of a Debian package's documentation files: HTML through sieve's extractor, Mallard help pages' text
    elements, man pages as man(1) renders them."""
    folder = HELD_OUT_DEBS / f"{package}_{version}"
    if not folder.is_dir():
        HELD_OUT_DEBS.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["apt-get", "download", f"{package}={version}"], cwd=HELD_OUT_DEBS, capture_output=True, check=True
            )
        except subprocess.CalledProcessError:  # the mirror moved on: its documentation text barely changes
            print(f"{package}={version} is no longer offered; measuring the version apt offers", file=sys.stderr)
            subprocess.run(["apt-get", "download", package], cwd=HELD_OUT_DEBS, capture_output=True, check=True)
        run(["dpkg-deb", "-x", str(next(HELD_OUT_DEBS.glob(f"{package}_*.deb"))), str(folder)])
    texts = []
    for path in sorted(folder.glob(files)):
        if reader == "html":
            texts.append(extract_text(cfg.extract, path.read_text(encoding="utf-8", errors="replace")))
        elif reader == "mallard":
            texts.append(
                "\n".join(
                    " ".join("".join(el.itertext()).split())
                    for el in ElementTree.parse(path).iter()
                    if el.tag.rsplit("}", 1)[-1] in ("title", "p", "item") and el.text
                )
            )
        else:  # man page: rendered without line wrapping, overstrikes removed, the header and footer lines left out
            shown = subprocess.run(
                ["man", "-E", "UTF-8", "-l", str(path)],
                capture_output=True,
                env=dict(os.environ, MANWIDTH="100000"),
                check=True,
            ).stdout
            lines = subprocess.run(["col", "-b"], input=shown, capture_output=True, check=True).stdout.decode()
            texts.append("\n".join(" ".join(line.split()) for line in lines.splitlines()[1:-1]))
    return texts


def pages(texts: list[str], rng: random.Random) -> list[str]:
    """Documents cut at line ends into pages of PAGE_WORDS words (random in turn), as web pages vary in length."""
    out, lines, target = [], [], rng.choice(PAGE_WORDS)
    for text in texts:
        for line in filter(None, (line.strip() for line in text.splitlines())):
            lines.append(line)
            if sum(len(x.split()) for x in lines) >= target:
                out.append("\n".join(lines))
                lines, target = [], rng.choice(PAGE_WORDS)
    return out


def chain_after_extraction(cfg: Config) -> list:
    """The default chain's stages from clean_text on: what a page's extracted text goes through."""
    filters = build_filters(cfg)
    return filters[[f.stage for f in filters].index("clean_text") :]


def verdict(stages: list, text: str) -> tuple[str | None, float | None, float | None, float | None, float | None]:
    """(drop stage or None, perplexity, word order gain, pair gain, repeat gain) of a text run through the stages as
    an extracted page."""
    doc = Document(warc_file="bench", warc_offset=0, text=text)
    drop = run_filters(doc, stages)
    signals = doc.signals.get("perplexity", {})
    return (
        drop.stage if drop else None,
        signals.get("perplexity"),
        signals.get("word_order_gain"),
        signals.get("pair_gain"),
        signals.get("repeat_gain"),
    )


def real_english_articles(cfg: Config) -> list[str]:
    """Texts of the real article pages the whole default chain identifies as English (perplexity stage off), as
    they leave the chain: the clean English set, and the real text the generated junk is made from."""
    filters = build_filters(cfg)
    out = []
    for item in read_warc(str(REAL), cfg.read.max_payload_bytes):
        if item.doc is not None and item.drop is None:
            run_filters(item.doc, filters)
            if item.doc.language == "en" and item.doc.text:
                out.append(item.doc.text)
    return out


def frequency_bands(docs: list[str]) -> tuple[list[str], list[int], dict[str, int], list[list[str]]]:
    """The corpus's words by frequency, their counts, each word's band (log2 of its rank) and the words per band."""
    counts = collections.Counter(w for d in docs for w in d.split())
    words = [w for w, _ in counts.most_common()]
    band = {w: (i + 1).bit_length() for i, w in enumerate(words)}
    bands: list[list[str]] = [[] for _ in range(max(band.values()) + 1)]
    for w in words:
        bands[band[w]].append(w)
    return words, [counts[w] for w in words], band, bands


def generated_junk(docs: list[str], rng: random.Random) -> dict[str, list[str]]:
    """Junk made from real documents, JUNK_PER_KIND of each kind; every page keeps a real page's line lengths."""
    words, weights, band, bands = frequency_bands(docs)
    picks = [rng.choice(docs) for _ in range(JUNK_PER_KIND)]

    def reshape(lines: list[str], tokens: list[str]) -> str:  # tokens laid out in the lines' word counts
        out, i = [], 0
        for line in lines:
            n = len(line.split())
            out.append(" ".join(tokens[i : i + n]))
            i += n
        return "\n".join(out)

    def salad(doc: str) -> str:  # the document's own words shuffled
        tokens = doc.split()
        rng.shuffle(tokens)
        return reshape(doc.splitlines(), tokens)

    def sampled(doc: str) -> str:  # words drawn from the corpus vocabulary by frequency
        return reshape(doc.splitlines(), rng.choices(words, weights, k=len(doc.split())))

    def spun(doc: str) -> str:  # every 2nd-4th word swapped for a random word of the same frequency band
        tokens, i = doc.split(), 0
        while (i := i + rng.randint(2, 4)) < len(tokens):
            tokens[i] = rng.choice(bands[band[tokens[i]]])
        return reshape(doc.splitlines(), tokens)

    def mixed(_: str) -> str:  # sentences of three real documents shuffled together, three to a line
        sentences = [s for d in rng.sample(docs, 3) for s in SENTENCE_SPLIT.split(" ".join(d.split())) if s]
        rng.shuffle(sentences)
        sentences = sentences[:30]
        return "\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))

    def stuffing(doc: str) -> str:  # three phrases of the page repeated with a few of its words between them
        tokens = doc.split()
        phrases = [" ".join(tokens[j : j + rng.randint(2, 3)]) for j in rng.sample(range(len(tokens) - 3), 3)]
        return "\n".join(
            " ".join(rng.choice(phrases) if rng.random() < 0.6 else rng.choice(tokens) for _ in range(12)) + "."
            for _ in range(8)
        )

    kinds = {
        "word salad": salad,
        "frequency-sampled words": sampled,
        "spun": spun,
        "mixed sentences": mixed,
        "keyword stuffing": stuffing,
    }
    return {kind: [make(doc) for doc in picks] for kind, make in kinds.items()}


def junk_figures() -> dict:
    """Junk kept and clean lost per language under the default chain, perplexity off (before) and on (after)."""
    after = load_config()
    off = RESULTS / "perplexity-off.yaml"
    off.write_text("quality: {perplexity: {enabled: false}}\n")
    before = load_config(off)
    rng = random.Random(0)
    vlsp = vlsp_file()
    clean = {"en": {"real articles": real_english_articles(before)}, "vi": {"real VLSP 2013": vlsp_documents(vlsp)}}
    junk = {lang: generated_junk(next(iter(sets.values())), rng) for lang, sets in clean.items()}
    clean["vi"]["real VLSP 2013, 5-sentence pages"] = vlsp_short_pages(vlsp)
    for lang in LANGS:
        clean[lang]["hand-written"] = hand_pages(lang, "clean")
        junk[lang]["hand-written"] = hand_pages(lang, "junk")
        clean[lang]["held-out pages (ordinary, contact)"] = heldout_pages(lang, "ordinary", "pii")
        junk[lang]["held-out pages"] = heldout_pages(lang, "junk")
    for (lang, name), source in HELD_OUT.items():
        clean[lang][f"held-out {name}"] = pages(held_out_documents(*source, after), random.Random(name))
    results: dict = {}
    for name, cfg in (("before", before), ("after", after)):
        stages = chain_after_extraction(cfg)
        for lang in LANGS:
            for group, sets in (("clean", clean[lang]), ("junk", junk[lang])):
                for kind, texts in sets.items():
                    start = time.process_time()
                    verdicts = [verdict(stages, t) for t in texts]
                    results.setdefault((lang, group, kind), {})[name] = {
                        "docs": len(texts),
                        "kept": sum(stage is None for stage, *_ in verdicts),
                        "dropped_by": dict(collections.Counter(stage for stage, *_ in verdicts if stage)),
                        "kept_without_perplexity": sum(stage is None and p is None for stage, p, *_ in verdicts),
                        "perplexity": [p for _, p, *_ in verdicts],
                        "word_order_gain": [
                            g for stage, _, g, *_ in verdicts if g is not None and stage in (None, "perplexity")
                        ],
                        "pair_gain": [
                            g for stage, *_, g, _ in verdicts if g is not None and stage in (None, "perplexity")
                        ],
                        "repeat_gain": [
                            g for stage, *_, g in verdicts if g is not None and stage in (None, "perplexity")
                        ],
                        "ms_per_doc": round(1000 * (time.process_time() - start) / len(texts), 2),
                    }
    rows = []
    for (lang, group, kind), r in results.items():
        b, a = r["before"], r["after"]
        share = (lambda x: x["kept"] / x["docs"]) if group == "junk" else (lambda x: 1 - x["kept"] / x["docs"])
        pp = sorted(p for p in a["perplexity"] if p is not None)
        gains = sorted(a["word_order_gain"])  # of the pages that reach the perplexity stage
        pair_gains, repeat_gains = sorted(a["pair_gain"]), sorted(a["repeat_gain"])
        rows.append(
            {
                "lang": lang,
                "set": group,
                "kind": kind,
                "docs": b["docs"],
                "junk kept / clean lost, before": f"{share(b):.1%}",
                "after": f"{share(a):.1%}",
                "dropped by the perplexity stage (after)": a["dropped_by"].get("perplexity", 0),
                "kept without perplexity (after)": a["kept_without_perplexity"],
                "perplexity p10/p50/p90": "/".join(f"{pp[int(q * (len(pp) - 1))]:.0f}" for q in (0.1, 0.5, 0.9))
                if pp
                else "-",
                "gain min/p5/p50": "/".join(f"{gains[int(q * (len(gains) - 1))]:.2f}" for q in (0, 0.05, 0.5))
                if gains
                else "-",
                "pair gain min/p5/p50": "/".join(
                    f"{pair_gains[int(q * (len(pair_gains) - 1))]:.3f}" for q in (0, 0.05, 0.5)
                )
                if pair_gains
                else "-",
                "repeat gain min/p5/p50 (250+ pairs)": "/".join(
                    f"{repeat_gains[int(q * (len(repeat_gains) - 1))]:.3f}" for q in (0, 0.05, 0.5)
                )
                if repeat_gains
                else "-",
            }
        )
    totals = []
    for lang in LANGS:
        for group in ("clean", "junk"):
            for name in ("before", "after"):
                parts = [r[name] for (language, g, _), r in results.items() if language == lang and g == group]
                docs, kept = sum(p["docs"] for p in parts), sum(p["kept"] for p in parts)
                totals.append(
                    {
                        "lang": lang,
                        "set": group,
                        "config": name,
                        "docs": docs,
                        "kept": kept,
                        "share": f"{(kept if group == 'junk' else docs - kept) / docs:.1%} "
                        + ("junk kept" if group == "junk" else "clean lost"),
                    }
                )
    stage_ms = _perplexity_ms(after, [t for sets in clean.values() for texts in sets.values() for t in texts])
    return {
        "rows": rows,
        "totals": totals,
        "perplexity_ms_per_doc": stage_ms,
        "raw": {
            " / ".join(k): {
                n: {
                    x: y for x, y in v.items() if x not in ("perplexity", "word_order_gain", "pair_gain", "repeat_gain")
                }
                for n, v in r.items()
            }
            for k, r in results.items()
        },
    }


def _perplexity_ms(cfg: Config, texts: list[str]) -> float:
    """CPU ms per document of the perplexity stage's annotate on already identified clean pages (models loaded)."""
    stages = chain_after_extraction(cfg)
    perplexity = stages[[s.stage for s in stages].index("perplexity")]
    docs = []
    for text in texts:
        doc = Document(warc_file="bench", warc_offset=0, text=text)
        run_filters(doc, stages[: stages.index(perplexity)])
        docs.append(doc)
    perplexity.annotate(docs[0])  # loads the model
    start = time.process_time()
    for doc in docs:
        perplexity.annotate(doc)
    return round(1000 * (time.process_time() - start) / len(docs), 3)


# --- part 4: hand-written code traps through the heuristic chain ---------------------------------------------

TRAPS = ROOT / "tests" / "data" / "traps"


def trap_figures(cfg: Config) -> list[dict]:
    """The code traps, tests/data/traps/code-<keep|drop>-<lang>-<topic>.txt (tutorials with a snippet inside prose,
    pages that are mostly code or templates), through cleanup, normalization and the heuristic chain as
    build_filters makes them, in the file name's language; one row per flag and language, with the pages whose
    outcome is not their flag named, and the code share C4 measures on every page (also those dropped earlier)."""
    wanted = ("clean_text", "normalize", "gopher_quality", "c4", "fineweb", "gopher_repetition")
    stages = [f for f in build_filters(cfg) if f.stage in wanted]
    groups: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
    for path in sorted(TRAPS.glob("code-*.txt")):
        _, flag, lang, topic = path.stem.split("-", 3)
        text = path.read_text(encoding="utf-8")
        drop = run_filters(Document(warc_file="bench", warc_offset=0, text=text, language=lang), stages)
        outcome = "keep" if drop is None else f"{drop.stage}/{drop.reason}"
        groups.setdefault((flag, lang), []).append((topic, outcome, code_lines(text)["code_char_frac"]))
    rows = []
    for (flag, lang), pages in sorted(groups.items()):
        fracs = [f for _, _, f in pages]
        wrong = [topic for topic, outcome, _ in pages if (outcome == "keep") != (flag == "keep")]
        rows.append(
            {
                "set": "code traps",
                "flag": flag,
                "lang": lang,
                "docs": len(pages),
                "as flagged": len(pages) - len(wrong),
                "wrong": ", ".join(wrong) or "-",
                "code_char_frac min-max": f"{min(fracs):.3f}-{max(fracs):.3f}",
                "dropped by": ", ".join(
                    f"{k} {v}"
                    for k, v in sorted(
                        collections.Counter(outcome for _, outcome, _ in pages if outcome != "keep").items()
                    )
                )
                or "-",
            }
        )
    return rows


# --- part 3: sieve vs datatrove ------------------------------------------------------------------------------


def datatrove_python() -> Path:
    """The datatrove venv's python, made and filled on first use (a stamp file records what was installed)."""
    python, stamp = DATATROVE_VENV / "bin" / "python", DATATROVE_VENV / ".installed"
    wanted = json.dumps(DATATROVE_INSTALL)
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing datatrove into {DATATROVE_VENV} (about a minute) ...", file=sys.stderr, flush=True)
    if not python.exists():
        run([str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", str(DATATROVE_VENV)])
    for packages in DATATROVE_INSTALL:
        run([str(python), "-m", "pip", "install", "--quiet", *packages])
    stamp.write_text(wanted)
    return python


def timed(cmd: list[str]) -> tuple[float, int, dict | None]:
    """Wall seconds of a whole command, the kept-document count it prints and its phases (sieve's only)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} ... failed:\n{done.stderr[-3000:]}")
    kept = [line for line in done.stdout.splitlines() if line.startswith("KEPT ")]
    phases = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("PHASES ")]
    return seconds, int(kept[-1].split()[1]), phases[-1] if phases else None


def phase_row(command: str, runs: list[dict]) -> dict:
    """The median over rounds of each of PHASE_COLUMNS, in seconds."""
    flat = [
        p
        | {
            "warmup_max": max((w["warmup"] for w in p["workers"].values()), default=0.0),
            "steady_per_worker": statistics.mean(w["steady"] for w in p["workers"].values()) if p["workers"] else 0.0,
        }
        for p in runs
    ]
    return {"command": command} | {c: round(statistics.median(p.get(c, 0.0) for p in flat), 2) for c in PHASE_COLUMNS}


def gate_dropped(run_dir: Path) -> int:
    """Documents the language gate dropped in a sieve run (its dropped shards' rows with stage language_gate)."""
    return sum(
        pq.read_table(shard, columns=["stage"]).column("stage").to_pylist().count("language_gate")
        for shard in (run_dir / "dropped").glob("*.parquet")
    )


def side_by_side(folder: Path, responses: int, workers: int, repeat: int, work: Path) -> dict:
    """Each command --repeat times, in turn; medians per command, per-round ratios against datatrove, and the
    documents the language gate dropped in the first gate-on run."""
    configs = {"sieve gate on": {}, "sieve gate off": {"language_gate": {"enabled": False}}}
    commands = {"datatrove": [str(datatrove_python()), "-c", DATATROVE_JOB, str(folder), "{out}", str(workers)]}
    for name, overrides in configs.items():
        cfg_path = work / f"{name.replace(' ', '-')}.yaml"
        cfg_path.write_text(yaml.safe_dump(overrides))
        commands[name] = [sys.executable, "-c", SIEVE_JOB, str(folder), "{out}", str(cfg_path), str(workers)]
    runs: dict[str, list[tuple[float, int, dict | None]]] = {name: [] for name in commands}
    for i in range(repeat):
        for name, cmd in commands.items():
            out = work / f"{name.replace(' ', '-')}-{i}"
            runs[name].append(timed([str(out) if a == "{out}" else a for a in cmd]))
            print(f"round {i + 1}: {name:15} {runs[name][-1][0]:6.1f} s, {runs[name][-1][1]} kept", file=sys.stderr)
    rows = []
    for name, results in runs.items():
        wall = statistics.median(s for s, _, _ in results)
        ratios = [d / s for (d, _, _), (s, _, _) in zip(runs["datatrove"], results)]
        rows.append(
            {
                "command": name,
                "files": len(list(folder.glob("*.warc.gz"))),
                "workers": workers,
                # one figure per distinct count: the tree can change between rounds while others edit it
                "docs": responses,
                "kept": "/".join(str(k) for k in sorted({k for _, k, _ in results})),
                "wall_s_median": round(wall, 2),
                "wall_s_min_max": f"{min(s for s, _, _ in results):.1f}-{max(s for s, _, _ in results):.1f}",
                "docs_per_s": round(responses / wall, 1),
                "docs_per_s_per_worker": round(responses / wall / workers, 1),
                "docs_per_s_vs_datatrove": round(statistics.median(ratios), 3),
            }
        )
    return {
        "rows": rows,
        "phases": [
            phase_row(name, [p for _, _, p in results]) for name, results in runs.items() if name != "datatrove"
        ],
        "runs": {k: [{"wall_s": round(s, 2), "kept": n} for s, n, _ in v] for k, v in runs.items()},
        "gate_dropped": gate_dropped(work / "sieve-gate-on-0"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10000, help="synthetic corpus size for the stage costs")
    ap.add_argument("--copies", type=int, default=3, help="copies of the real captures in the side-by-side inputs")
    ap.add_argument("--files", type=int, default=24, help="WARC files each side-by-side input is cut into")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the side-by-side commands")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: stages, junk, traps, datatrove")
    ap.add_argument("--json", default=str(RESULTS / "quality.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict = {"cpu_count": os.cpu_count(), "load_average_1min_start": round(os.getloadavg()[0], 2)}

    if "stages" not in skip:
        synth = synthetic_corpus(args.docs)
        cfg = stage_config(train_models(synth / "reference", synth / "corpus.warc.gz"))
        results["stages"] = {}
        for name, path in {"real articles (181)": REAL, f"synthetic ({args.docs})": synth / "corpus.warc.gz"}.items():
            rows, summary = stage_costs(path, cfg)
            results["stages"][name] = {"rows": rows, "summary": summary}
            print(f"\nstage costs, {name}: CPU time per stage in one process\n{table(rows)}")
            print(
                f"annotation chain ({' + '.join(summary['chain'])}): {summary['chain_cpu_s']} s against extraction "
                f"{summary['extract_cpu_s']} s = {summary['chain_vs_extract']}x (target < 1); per document that "
                f"reaches them: {summary['chain_ms_per_doc_in']} ms against {summary['extract_ms_per_doc_in']} ms",
                flush=True,
            )

    if "junk" not in skip:
        junk = junk_figures()
        results["junk"] = junk
        print(
            f"\njunk kept and clean lost, default chain after extraction, perplexity stage off (before) and on "
            f"(after)\n{table(junk['rows'])}\n\n{table(junk['totals'])}\nperplexity stage: "
            f"{junk['perplexity_ms_per_doc']} ms per clean document (CPU, models loaded)",
            flush=True,
        )

    if "traps" not in skip:
        results["traps"] = trap_figures(load_config())
        print(
            f"\ncode traps (tests/data/traps/code-*.txt), cleanup + heuristic chain, default config: pages kept "
            f"or dropped as flagged\n{table(results['traps'])}",
            flush=True,
        )

    if "datatrove" not in skip:
        results["datatrove"] = {}
        for name, groups in inputs(args.copies).items():
            folder = RESULTS / f"{name.lower().replace(' ', '-')}-x{args.copies}-{args.files}files"
            write_input(groups, folder, args.files)
            responses = sum(language is not None for _, language in groups)
            other = sum(bool(language) and language not in LANGS for _, language in groups)
            with tempfile.TemporaryDirectory(dir=RESULTS) as work:
                result = side_by_side(folder, responses, args.workers, args.repeat, Path(work))
            results["datatrove"][name] = {
                "input": str(folder.relative_to(ROOT)),
                "responses": responses,
                "other_languages": other,
                **result,
            }
            print(
                f"\nsieve vs datatrove, {name}: {responses} real pages ({other / responses:.1%} in languages other "
                f"than {' and '.join(LANGS)}) in {args.files} files, whole commands, median of {args.repeat}\n"
                f"{table(result['rows'])}\n"
                f"where sieve's seconds go (medians; beam_job holds each worker's warm-up, steady ranges and tail):\n"
                f"{table(result['phases'])}"
            )
            print(
                f"language gate, first 'sieve gate on' run: dropped {result['gate_dropped']} of {responses} pages "
                f"({result['gate_dropped'] / responses:.1%})",
                flush=True,
            )

    results["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
