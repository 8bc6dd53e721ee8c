"""Read + extract throughput: the Beam job against a bare single-process loop of the same reader and extractor.

Prints a table and writes JSON. The Beam job runs with language id off so both sides do the same work:
fastwarc reading, charset decoding, trafilatura extraction. It runs twice: as shipped (each page extracted
in a killable child process, the per-document time guard) and with the guard off, to show what it costs.
Per-core figures divide by the workers used; "after start-up" subtracts the job's fixed start-up time.
The real pages (181) are repeated --real-copies times so the run is long enough to measure.

    python bench/read_extract.py [--docs 10000] [--real ../shared/data/warc/articles.warc.gz] [--real-copies 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType
from tables import table  # bench/tables.py, beside this script

from sieve.filters.extract import decode_html, extract_text
from sieve.flows.jobs import run_files
from sieve.flows.tools.evaluate import shingle_f1
from sieve.schemas.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def cpu_seconds() -> float:
    """CPU time of this process plus its finished children (Beam workers and extractor processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bare_loop(path: Path, cfg) -> dict:
    """The baseline: one process, the same reader and extractor, nothing else."""
    start, cpu = time.perf_counter(), cpu_seconds()
    docs = 0
    for record in ArchiveIterator(str(path), parse_http=True, quirks_mode=True):
        if record.record_type != WarcRecordType.response:
            continue
        payload = record.reader.read()
        if (record.http_content_type or "").startswith("text/html") and record.http_headers.status_code == 200:
            html = decode_html(payload, record.http_charset)
            extract_text(cfg.extract, html)
        docs += 1
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds() - cpu, "docs": docs, "workers": 1}


# Extractor settings compared on the real article pages: the default (trafilatura's fallback comparison only where its
# first pass is short), the fallback on every page or on none, and resiliparse. Overrides of the extract section.
ALWAYS = "trafilatura, favor_precision, fallback always"
EXTRACTORS = {
    "trafilatura, favor_precision, fallback when short (default)": {},
    ALWAYS: {"fallback": "always"},
    "trafilatura, favor_precision, no fallback": {"fallback": "never"},
    "trafilatura, no fallback": {"fallback": "never", "favor_precision": False},
    "resiliparse": {"extractor": "resiliparse"},
}
# Other real pages (several languages, forums, listings) on which the default must give the text of ALWAYS.
OTHER_REAL = [ROOT / "tests" / "data" / "clueweb-quirk.warc.gz", ROOT / "tests" / "data" / "warcfile.warc.gz"]
# Pages written by hand as CMSs render them, with the text a reader would copy (tests/data/html_pages/README.md).
HAND_MADE = ROOT / "tests" / "data" / "html_pages"


def hand_made_pages() -> dict[str, list[tuple[str, str]]]:
    """Language -> (decoded page, its reader's text) of every hand-made page; charsets are the pages' own labels."""
    truth = json.loads((HAND_MADE / "truth.json").read_text(encoding="utf-8"))
    pages: dict[str, list[tuple[str, str]]] = {}
    for name, t in sorted(truth.items()):
        html = decode_html((HAND_MADE / "pages" / name).read_bytes(), None)
        pages.setdefault(t["lang"], []).append((html, unicodedata.normalize("NFC", t["article"])))
    return pages


# datatrove's extractor as bench/quality.py runs it, in datatrove's own venv, on the same decoded HTML.
DATATROVE_EXTRACT = """
import json, sys
from datatrove.pipeline.extractors import Trafilatura
extractor = Trafilatura(favour_precision=True, deduplicate=False, timeout=10)
pages = json.load(open(sys.argv[1], encoding="utf-8"))
json.dump([extractor.extract(html) or "" for html in pages], open(sys.argv[2], "w", encoding="utf-8"))
"""


def datatrove_row(pages: list[tuple[str, str]], hand_made: dict[str, list[tuple[str, str]]]) -> dict:
    """The extractor table's row for datatrove 0.10.1's Trafilatura(favour_precision): its text of the real articles
    and the hand-made pages scored as sieve's (NFC first, as sieve's extraction leaves its text)."""
    from quality import datatrove_python  # bench/quality.py: makes datatrove's venv on first use

    htmls = [html for html, _ in pages] + [html for hand in hand_made.values() for html, _ in hand]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "pages.json", Path(tmp) / "texts.json"
        src.write_text(json.dumps(htmls), encoding="utf-8")
        subprocess.run([str(datatrove_python()), "-c", DATATROVE_EXTRACT, str(src), str(out)], check=True)
        texts = iter(unicodedata.normalize("NFC", t) for t in json.loads(out.read_text(encoding="utf-8")))
    articles = [next(texts) for _ in pages]
    hand_texts = {lang: [next(texts) for _ in hand] for lang, hand in hand_made.items()}
    row = {"extractor": "datatrove 0.10.1, Trafilatura(favour_precision)", "pages": len(pages)}
    return (
        row | f1_columns(articles, pages, hand_texts, hand_made) | {"cpu_ms_per_page": None, "differs_from_always": "-"}
    )


def f1_columns(
    articles: list[str],
    pages: list[tuple[str, str]],
    hand_texts: dict[str, list[str]],
    hand_made: dict[str, list[tuple[str, str]]],
) -> dict:
    """An extractor's mean word-4-gram precision, recall and F1 on the real articles (its texts against their bodies)
    and its F1 on the hand-made pages per language."""
    scores = [shingle_f1(text, body) for text, (_, body) in zip(articles, pages)]
    row = {
        key: round(sum(s[i] for s in scores) / len(scores), 3) for i, key in enumerate(("precision", "recall", "f1"))
    }
    for lang, hand in hand_made.items():
        f1 = [shingle_f1(text, want)[2] for text, (_, want) in zip(hand_texts[lang], hand)]
        row[f"hand-made {lang} f1 ({len(hand)})"] = round(sum(f1) / len(f1), 3)
    return row


def extractor_modes(path: Path, truth_path: Path, cfg) -> list[dict]:
    """Per extractor setting: mean word-4-gram precision, recall and F1 against the hand-made article bodies (the
    benchmark's metric) and F1 on the hand-made CMS pages per language, CPU ms per page (decoded once, extraction
    alone, one process; the first pass measures resiliparse's text itself, as it does with the language gate off),
    and on how many of the articles and of the other real pages its text differs from the fallback on every page;
    and datatrove's extractor on the same pages."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    pages = [
        (decode_html(record.reader.read(), record.http_charset), truth[url]["articleBody"])
        for record in ArchiveIterator(str(path), parse_http=True, quirks_mode=True)
        if (url := record.headers.get("WARC-Target-URI")) in truth
    ]
    other = [
        decode_html(record.reader.read(), record.http_charset)
        for f in OTHER_REAL
        for record in ArchiveIterator(str(f), parse_http=True, quirks_mode=True)
        if record.record_type == WarcRecordType.response and (record.http_content_type or "").startswith("text/html")
    ]
    hand_made = hand_made_pages()
    texts, rows = {}, []
    for name, overrides in EXTRACTORS.items():
        settings = cfg.extract.model_copy(update=overrides)
        extract_text(settings, "<html></html>")  # the extractor's import is not a page's time
        cpu = time.process_time()
        texts[name] = [extract_text(settings, html) for html, _ in pages]
        ms = 1000 * (time.process_time() - cpu) / len(pages)
        hand_texts = {lang: [extract_text(settings, html) for html, _ in hand] for lang, hand in hand_made.items()}
        rows.append(
            {"extractor": name, "pages": len(pages)}
            | f1_columns(texts[name], pages, hand_texts, hand_made)
            | {"cpu_ms_per_page": round(ms, 1)}
        )
        texts[name] += [extract_text(settings, html) for html in other]
    for row in rows:
        differ = [a != b for a, b in zip(texts[row["extractor"]], texts[ALWAYS])]
        row["differs_from_always"] = f"{sum(differ[: len(pages)])} + {sum(differ[len(pages) :])} of {len(other)}"
    return rows + [datatrove_row(pages, hand_made)]


def beam_job(path: Path, cfg, workers: int) -> dict:
    with tempfile.TemporaryDirectory(dir=RESULTS) as run_dir:
        start, cpu = time.perf_counter(), cpu_seconds()
        _, summary = run_files([str(path)], cfg, run_dir, workers=workers)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        counts = summary["counts"]
    return {"seconds": seconds, "cpu_seconds": cpu, "docs": counts["kept"] + counts["dropped"], "workers": workers}


def repeated(path: Path, copies: int) -> Path:
    """The WARC file concatenated copies times (gzip members concatenate into a valid multi-member file)."""
    out = RESULTS / f"{path.name.split('.')[0]}-x{copies}.warc.gz"
    if not out.exists():
        out.write_bytes(path.read_bytes() * copies)
    return out


def synthetic_corpus(docs: int) -> Path:
    from sieve.flows.synth import write_synthetic_corpus

    out = RESULTS / f"synth-{docs}"
    if not (out / "corpus.warc.gz").exists():
        write_synthetic_corpus(out, docs=docs, seed=0)
    return out / "corpus.warc.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10000, help="synthetic corpus size (0 skips it)")
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "data" / "warc" / "articles.warc.gz"))
    ap.add_argument("--real-copies", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "read_extract.json"))
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)

    cfg = load_config()
    cfg = cfg.model_copy(update={"language_id": cfg.language_id.model_copy(update={"enabled": False})})
    unguarded = cfg.model_copy(update={"guard": cfg.guard.model_copy(update={"document_timeout_seconds": 0})})
    inputs = {f"synthetic ({args.docs} docs)": synthetic_corpus(args.docs)} if args.docs else {}
    quality = {}
    if Path(args.real).exists():
        inputs[f"real articles x{args.real_copies}"] = repeated(Path(args.real), args.real_copies)
        truth = Path(args.real).with_name("articles.truth.json")
        if truth.exists():
            quality["extractors"] = extractor_modes(Path(args.real), truth, cfg)
            print(f"extraction on {args.real} (word 4-grams vs articleBody, one process):")
            print(table(quality["extractors"]))

    variants = {f"beam {args.workers} workers": cfg, f"beam {args.workers}w no guard": unguarded}
    # Each job's fixed cost (runner, workers, supervised processes), timed on a one-record file.
    startup = {
        label: beam_job(ROOT / "tests" / "data" / "clipped.warc.gz", c, args.workers)["seconds"]
        for label, c in variants.items()
    }
    print(f"start-up: {startup}", file=sys.stderr)
    rows = []
    for name, path in inputs.items():
        mb = path.stat().st_size / 1e6
        runs = {
            "bare loop": bare_loop(path, cfg),
            **{label: beam_job(path, c, args.workers) for label, c in variants.items()},
        }
        base = runs["bare loop"]["docs"] / runs["bare loop"]["seconds"]
        for label, r in runs.items():
            rate = r["docs"] / r["seconds"]
            fixed = startup.get(label, 0.0)
            rows.append(
                {
                    "input": name,
                    "run": label,
                    "docs": r["docs"],
                    "seconds": round(r["seconds"], 2),
                    "docs_per_s": round(rate, 1),
                    "mb_per_s": round(mb / r["seconds"], 3),
                    "docs_per_s_per_core": round(rate / r["workers"], 1),
                    "cores_used": round(r["cpu_seconds"] / r["seconds"], 2),
                    "per_core_vs_bare": round(rate / r["workers"] / base, 3),
                    "per_core_vs_bare_after_startup": round(
                        r["docs"] / (r["seconds"] - fixed) / r["workers"] / base, 3
                    ),
                }
            )
            print(f"{name:28} {label:16} {r['docs']:6d} docs {r['seconds']:7.1f} s", file=sys.stderr)

    print(table(rows))
    Path(args.json).write_text(
        json.dumps(
            {
                "cpu_count": os.cpu_count(),
                "beam_startup_seconds": {k: round(v, 2) for k, v in startup.items()},
                **quality,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
