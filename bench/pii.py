"""PII and toxicity benchmark: speed, recall on planted PII, false positives on real pages, toxicity figures.

Prints tables and writes JSON to bench/results/pii.json. Texts (all on one core, in this process):
  synthetic   --docs articles from sieve's synthetic banks (flows/synth), en and vi, 15% with planted PII and
              5% with a planted toxic passage, as `sieve synth` makes them (truth: the planted values);
  real        the extracted, cleaned text of the real pages of ../shared/data/warc/articles.warc.gz (181 pages,
              mostly English) and tests/data/warcfile.warc.gz (multilingual), as the pipeline extracts them;
  vi real     with --vi-text, a VLSP 2013 test file (`word<TAB>tag` lines, as shipped in the underthesea wheel),
              cut into documents of 20 sentences: real Vietnamese prose;
  traps       tests/data/traps/toxicity.json: hand-written ordinary pages whose words are on the toxicity lists in
              everyday meanings (trap en/vi: each drop is a false drop) and abusive pages (toxic hand en/vi: each
              keep is a miss);
  held-out    tests/data/heldout*/<lang>/: rounds of pages written apart from sieve's code: contact pages with
              their values listed (leaks per round), ordinary and abusive pages (toxicity false drops and misses);
  contacts    tests/data/pii/contacts.tsv: hand-written contact lines in real-page style, each value that must go
              (by format class) and negatives that must stay unchanged (dates, prices, versions, hotlines...).
PII rows: docs/s of sieve's scrubber with the prefilter on and off, and of presidio's default pattern recognizers
alone (AnalyzerEngine with its predefined English recognizers on a blank spaCy tokenizer, analyze only; timed on
the first 1000 texts of a set, it is slow).
End to end: the Beam job (run_files, 2 workers) on a synthetic WARC with the toxicity stage and PII scrub off, then on.

    python bench/pii.py [--docs 10000] [--e2e-docs 400] [--vi-text PATH] [--skip e2e]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from sieve.filters.base import run_filters
from sieve.filters.normalize import as_scrubbed
from sieve.filters.pii import Scrubber, _offline_tldextract
from sieve.flows.synth.banks import load_bank
from sieve.flows.synth.text import build_article
from sieve.schemas.config import load_config
from sieve.schemas.document import Document
from sieve.transforms.stages import build_filters, toxicity_stage
from sieve.transforms.warc import read_warc

ROOT = Path(__file__).resolve().parents[1]
REAL = [ROOT.parent / "shared" / "data" / "warc" / "articles.warc.gz", ROOT / "tests" / "data" / "warcfile.warc.gz"]
TRAPS = ROOT / "tests" / "data" / "traps" / "toxicity.json"


def synthetic(docs: int, seed: int = 7) -> list[tuple[str, str, list[dict], bool]]:
    """(language, body text, planted PII, toxic) of docs synthetic articles, 70% en and 30% vi."""
    rng = random.Random(seed)
    banks = {lang: load_bank(lang) for lang in ("en", "vi")}
    out = []
    for _ in range(docs):
        lang = "en" if rng.random() < 0.7 else "vi"
        article = build_article(banks[lang], rng, with_pii=rng.random() < 0.15, with_toxic=rng.random() < 0.05)
        pii = list(article.pii)
        out.append((lang, article.body_text, pii, bool(article.toxic_passages)))
    return out


def real_pages(cfg) -> list[tuple[str, str]]:
    """(language, cleaned text) of every real page that reaches language id, as the pipeline extracts it."""
    stages = [
        f for f in build_filters(cfg) if f.stage in ("response", "extract", "clean_text", "language_id", "normalize")
    ]
    out = []
    for path in REAL:
        for item in read_warc(str(path), cfg.read.max_payload_bytes):
            if item.doc is not None and item.drop is None:
                doc: Document = item.doc
                if run_filters(doc, stages[:3]) is None and doc.text:
                    stages[3].annotate(doc)
                    out.append((doc.language, doc.text))
    return out


def vi_real(path: Path) -> list[str]:
    """VLSP 2013 `word<TAB>tag` lines -> documents of 20 sentences (words joined by spaces, punctuation attached)."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sentences.append(" ".join(words).replace(" ,", ",").replace(" .", ".").replace(" :", ":"))
            words = []
        else:
            words.append(line.split("\t")[0].replace("_", " "))
    return [" ".join(sentences[i : i + 20]) for i in range(0, len(sentences), 20)]


def rate(fn, texts: list[tuple[str, str]]) -> float:
    """Documents per second of fn over texts, after a warm-up on the first 50 (lazy loads are not counted)."""
    for lang, text in texts[:50]:
        fn(text, lang)
    start = time.perf_counter()
    for lang, text in texts:
        fn(text, lang)
    return len(texts) / (time.perf_counter() - start)


def presidio_default():
    """presidio's predefined English pattern recognizers alone, on a blank spaCy tokenizer (no NER, no download)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class Blank(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    _offline_tldextract()
    engine = Blank(models=[{"lang_code": "en", "model_name": "blank_en"}])
    engine.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("SpacyRecognizer")
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine)
    return lambda text, lang: analyzer.analyze(text, "en")


def recall(scrubber: Scrubber, docs) -> dict[str, dict]:
    """Per planted type: values planted, values gone from the scrubbed text (digits-only forms checked too)."""
    stats: dict[str, dict] = {}
    clean_touched = clean = 0
    for lang, text, pii, _ in docs:
        scrubbed, counts = scrubber.scrub(text, lang)
        if not pii:
            clean += 1
            clean_touched += bool(counts)
        digits = "".join(c for c in scrubbed if c.isdigit())
        for p in pii:
            s = stats.setdefault(p["type"], {"planted": 0, "removed": 0})
            s["planted"] += 1
            value_digits = "".join(c for c in p["value"] if c.isdigit())
            s["removed"] += p["value"] not in scrubbed and (p["type"] == "email" or value_digits not in digits)
    for s in stats.values():
        s["recall"] = round(s["removed"] / s["planted"], 4)
    return {"per_type": stats, "clean_docs": clean, "clean_docs_touched": clean_touched}


def contacts(scrubber: Scrubber) -> dict[str, dict]:
    """Per format class of tests/data/pii/contacts.tsv: lines, values that survived scrubbing (the value, or its
    digits joined across separators), and negatives that were changed."""
    stats: dict[str, dict] = {}
    for line in (ROOT / "tests" / "data" / "pii" / "contacts.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        expect, lang, cls, value, text = line.split("\t")
        out = scrubber.scrub(text, lang)[0]
        s = stats.setdefault(("" if expect == "gone" else "negative: ") + cls, {"lines": 0, "wrong": 0})
        s["lines"] += 1
        digits = "".join(c for c in value if c.isdigit())
        s["wrong"] += (
            value in out or (len(digits) >= 7 and digits in re.sub(r"(?<=\d)\W+(?=\d)", "", out))
            if expect == "gone"
            else out != text
        )
    return stats


HELD_OUT = sorted((ROOT / "tests" / "data").glob("heldout*"))  # heldout, heldout2, ...: the rounds in order


def held_out_contacts(scrubber: Scrubber) -> dict[str, dict]:
    """Per held-out round and language (tests/data/heldout*/<lang>/pii, written apart from the recognizers): values
    listed beside the pages (names and birth dates aside: they need an NER model) and those left in the scrubbed text;
    pages and values cleaned first, as the pipeline scrubs text."""
    cfg, out = load_config(), {}
    for root in HELD_OUT:
        for lang in ("en", "vi"):
            listed, leaked = 0, []
            for page in sorted((root / lang / "pii").glob("*.txt")):
                text = scrubber.scrub(as_scrubbed(page.read_text(encoding="utf-8"), lang, cfg), lang)[0]
                for value in json.loads(page.with_suffix(".json").read_text(encoding="utf-8")):
                    if value["kind"] not in ("person", "date_of_birth"):
                        listed += 1
                        leaked += [value["value"]] if as_scrubbed(value["value"], lang, cfg) in text else []
            out[f"{root.name} {lang}"] = {"values": listed, "leaked": len(leaked), "leaked_values": leaked}
    return out


def held_out_pages(lang: str, group: str) -> list[tuple[str, str]]:
    return [(lang, p.read_text(encoding="utf-8")) for r in HELD_OUT for p in sorted((r / lang / group).glob("*.txt"))]


def table(headers: list[str], rows: list[list]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for r in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()


def toxicity_figures(cfg, texts: dict[str, tuple[bool, list[tuple[str, str]]]]) -> dict:
    """Per text set (name -> (toxic or not, texts)): docs/s, drops, the wrong decisions (false drops of ordinary
    text, misses of toxic text), and toxicity/toxic_words/profanity medians and maxima."""
    stage = toxicity_stage(cfg)
    out = {}
    for name, (toxic, items) in texts.items():
        if not items:
            continue
        signals, drops = [], 0
        start = time.perf_counter()
        for lang, text in items:
            doc = Document(warc_file="b", warc_offset=0, text=text, language=lang)
            s = stage.annotate(doc)
            drops += stage.decide(doc, s) is not None
            signals.append(s)
        seconds = time.perf_counter() - start
        prof = [s["profanity"] for s in signals if s["profanity"] is not None]
        wrong = len(items) - drops if toxic else drops
        out[name] = {
            "docs": len(items),
            "docs_per_s": round(len(items) / seconds, 1),
            "dropped": drops,
            "expected": "drop" if toxic else "keep",
            "wrong": wrong,
            "wrong_share": round(wrong / len(items), 4),
            "toxicity_median": round(statistics.median(s["toxicity"] for s in signals), 5),
            "toxicity_max": round(max(s["toxicity"] for s in signals), 5),
            "toxic_words_max": max(s["toxic_words"] for s in signals),
            "toxic_words_min": min(s["toxic_words"] for s in signals),
            "profanity_median": round(statistics.median(prof), 4) if prof else None,
            "profanity_max": round(max(prof), 4) if prof else None,
            "bias_flagged": sum(s["bias"] for s in signals),
        }
    return out


def end_to_end(docs: int) -> dict:
    """The Beam job's docs/s on one synthetic WARC, with toxicity and PII off, then on (defaults)."""
    from sieve.flows.jobs import run_files
    from sieve.flows.synth import write_synthetic_corpus
    from sieve.schemas.config import Config

    tmp = Path(tempfile.mkdtemp(prefix="sieve-bench-pii-"))
    write_synthetic_corpus(tmp / "synth", docs=docs, seed=11)
    base = load_config().as_dict()
    off = json.loads(json.dumps(base))
    off["quality"]["toxicity"]["enabled"] = False
    off["pii"]["enabled"] = False
    out = {}
    for name, cfg in (("without", Config(**off)), ("with", Config(**base))):
        start = time.perf_counter()
        counters, _ = run_files([str(tmp / "synth" / "corpus.warc.gz")], cfg, str(tmp / name), workers=2)
        seconds = time.perf_counter() - start
        out[name] = {"seconds": round(seconds, 1), "docs_per_s": round(docs / seconds, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--e2e-docs", type=int, default=400)
    ap.add_argument("--vi-text", type=Path, default=None)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    cfg = load_config()
    synth = synthetic(args.docs)
    real = real_pages(cfg)
    vi_docs = [("vi", t) for t in vi_real(args.vi_text)] if args.vi_text else []
    on = Scrubber(cfg.pii)
    off = Scrubber(cfg.pii.model_copy(update={"prefilter": False}))
    default = presidio_default()
    synth_texts = [(lang, text) for lang, text, _, _ in synth]
    entities = cfg.pii.entities["default"]
    result: dict = {"docs": {"synthetic": len(synth), "real": len(real), "vi_real": len(vi_docs)}, "pii_docs_per_s": {}}
    for name, texts in (("synthetic", synth_texts), ("real", real), ("vi_real", vi_docs)):
        if texts:
            result["pii_docs_per_s"][name] = {
                "prefilter_on": round(rate(on.scrub, texts), 1),
                "prefilter_off": round(rate(off.scrub, texts), 1),
                "presidio_default": round(rate(default, texts[:1000]), 1),
                "share_passing_prefilter": round(
                    sum(bool(on.candidates(t, entities)) for _, t in texts) / len(texts), 3
                ),
            }
    table(
        ["PII docs/s, one core", "prefilter on", "prefilter off", "presidio default", "share with a candidate"],
        [
            [k, v["prefilter_on"], v["prefilter_off"], v["presidio_default"], v["share_passing_prefilter"]]
            for k, v in result["pii_docs_per_s"].items()
        ],
    )
    result["contacts"] = contacts(on)
    table(
        ["contacts.tsv class", "lines", "leaked / changed"],
        [[k, v["lines"], v["wrong"]] for k, v in result["contacts"].items()],
    )
    result["held_out_contacts"] = held_out_contacts(on)
    table(
        ["held-out contact pages", "values", "leaked", "which"],
        [[k, v["values"], v["leaked"], "; ".join(v["leaked_values"])] for k, v in result["held_out_contacts"].items()],
    )
    result["recall"] = recall(on, synth)
    table(
        ["planted type", "planted", "removed", "recall"],
        [[k, v["planted"], v["removed"], v["recall"]] for k, v in sorted(result["recall"]["per_type"].items())],
    )
    print(
        f"clean synthetic docs touched: {result['recall']['clean_docs_touched']} of {result['recall']['clean_docs']}\n"
    )
    fp: dict[str, dict] = {}
    for name, texts in (("real", real), ("vi_real", vi_docs)):
        hits = [on.scrub(t, lang)[1] for lang, t in texts]
        fp[name] = {
            "docs": len(texts),
            "docs_touched": sum(bool(h) for h in hits),
            "by_type": {k: sum(h.get(k, 0) for h in hits) for k in sorted({k for h in hits for k in h})},
        }
    result["real_pages_detections"] = fp
    table(
        ["real text", "docs", "docs with a detection", "detections by type"],
        [[k, v["docs"], v["docs_touched"], json.dumps(v["by_type"])] for k, v in fp.items()],
    )
    traps = json.loads(TRAPS.read_text(encoding="utf-8"))
    tox_sets = {
        **{f"trap {lang}": (False, [(lang, p["text"]) for p in traps[lang]["ordinary"]]) for lang in traps},
        **{f"toxic hand {lang}": (True, [(lang, p["text"]) for p in traps[lang]["toxic"]]) for lang in traps},
        # circular: the generator wrote these passages (and the clean text) from the lists' vocabulary
        **{
            f"synthetic toxic {lang}": (True, [(lg, t) for lg, t, _, toxic in synth if toxic and lg == lang])
            for lang in ("en", "vi")
        },
        **{f"held-out ordinary {lang}": (False, held_out_pages(lang, "ordinary")) for lang in ("en", "vi")},
        **{f"held-out abusive {lang}": (True, held_out_pages(lang, "toxic")) for lang in ("en", "vi")},
        "synthetic clean": (False, [(lang, t) for lang, t, _, toxic in synth if not toxic]),
        "real pages": (False, real),
        "vi real (VLSP)": (False, vi_docs),
    }
    result["toxicity"] = toxicity_figures(cfg, tox_sets)
    table(
        [
            "toxicity",
            "docs",
            "should be",
            "dropped",
            "false drops / misses",
            "share",
            "docs/s",
            "tox median",
            "tox max",
            "terms min",
            "terms max",
            "prof median",
            "prof max",
            "bias",
        ],
        [
            [
                k,
                v["docs"],
                "dropped" if v["expected"] == "drop" else "kept",
                v["dropped"],
                v["wrong"],
                v["wrong_share"],
                v["docs_per_s"],
                v["toxicity_median"],
                v["toxicity_max"],
                v["toxic_words_min"],
                v["toxic_words_max"],
                v["profanity_median"],
                v["profanity_max"],
                v["bias_flagged"],
            ]
            for k, v in result["toxicity"].items()
        ],
    )
    if "e2e" not in args.skip:
        result["end_to_end"] = end_to_end(args.e2e_docs)
        table(
            ["end to end (Beam, 2 workers)", "seconds", "docs/s"],
            [[k, v["seconds"], v["docs_per_s"]] for k, v in result["end_to_end"].items()],
        )
    out = ROOT / "bench" / "results" / "pii.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
