"""Experiment (issue 22 item 5): a reference-free junk signal from n-gram models trained across folds of the run.

Measurement only; nothing in sieve uses it. The "run" is every page of bench/quality.py's junk sets (clean and
junk together) that the default chain keeps, as a real run's kept text would be. Its pages are split into k folds
by a hash of the text; for each fold a KenLM model is trained on the other folds' text (tokenized with the shipped
SentencePiece model of filters/data/lm/<lang>/, normalized as filters/perplexity.py does) and scores the fold's
pages. Signals per page: perplexity and word order gain under the fold model, and both over the same figures under
the shipped model (the default chain's perplexity stage); the share of tokens a model finds less likely in context
than alone (fold and shipped model). Per set: min/p5/p50/p95; per signal and language: the cutoff at which no clean
set of 40+ pages loses more than 3% of the pages that reach the pass, and the junk it keeps (over all the set's pages).
By default the run is deduplicated first (a stand-in for sieve's dedup passes, which run before corpus passes: a page
half of whose word 5-grams are in pages before it is left out), since a fold model that has seen a copy of a page
scores it as fluent whatever it is.

Two ways to build the run:
  as-built    bench/quality.py's sets as they are. Its junk is made from the clean real pages that are in the run too
              (mixed pages are verbatim sentences of them; spun pages keep 2/3 of their words), and VLSP's
              20-sentence documents and 5-sentence pages share their sentences: a fold model has seen much of a page
              it scores, which a deduplicated run of independent pages would not give it.
  disjoint    the real sources (articles, VLSP documents) split in two by a hash: junk made (with bench/quality.py's
              generator) from one half only, the clean set from the other; VLSP only as 5-sentence pages.

    python bench/fold_lm.py [--variant as-built,disjoint] [--no-dedup] [--out /tmp/foldlm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import kenlm  # noqa: E402
import quality  # noqa: E402  (bench/quality.py: the set builders)

from sieve.filters.perplexity import SHIPPED, LanguageModel, normalize_line  # noqa: E402
from sieve.schemas.config import load_config  # noqa: E402

BIN = Path(sys.executable).parent
MIN_SET = 40  # clean sets this large bound the cutoff; smaller ones (hand-written) are reported, not bound on
MAX_LOST = 0.03
SHINGLE = 5  # word n-grams compared by the stand-in for the run's deduplication
MAX_SEEN = 0.5  # a page with at least this share of its shingles in pages before it is left out as a duplicate
SIGNALS = {  # name -> True where junk is expected low (dropped below the cutoff), False where high
    "fold_gain": True,
    "fold_ppl": False,
    "fold_ppl/shipped_ppl": False,
    "fold_gain/shipped_gain": True,
    "shipped_gain": True,
    "fold_ctx_worse": False,
    "shipped_ctx_worse": False,
}
# (k, share of the other folds' text trained on, order, prune): the main grid, then order and pruning at k=4.
CONFIGS = [
    (2, 1.0, 5, ()),
    (4, 1.0, 5, ()),
    (4, 0.5, 5, ()),
    (4, 0.25, 5, ()),
    (4, 1.0, 3, ()),
    (4, 1.0, 5, (0, 0, 1)),
]


def digest(text: str, salt: str = "") -> int:
    return int.from_bytes(hashlib.sha1((salt + text).encode()).digest()[:8], "big")


# --- the run ---------------------------------------------------------------------------------------------------


def build_sets(variant: str) -> dict[str, dict[tuple[str, str], list[str]]]:
    """lang -> (group, kind) -> texts, as bench/quality.py's junk_figures builds them (as-built), or with the junk's
    sources kept out of the run (disjoint)."""
    cfg = load_config()
    rng = random.Random(0)
    articles = quality.real_english_articles(cfg)
    vlsp = quality.vlsp_documents(quality.VLSP)
    sets: dict[str, dict[tuple[str, str], list[str]]] = {"en": {}, "vi": {}}
    if variant == "as-built":
        sets["en"][("clean", "real articles")] = articles
        sets["vi"][("clean", "real VLSP 2013")] = vlsp
        junk = {lang: quality.generated_junk(src, rng) for lang, src in (("en", articles), ("vi", vlsp))}
        sets["vi"][("clean", "VLSP 5-sentence pages")] = quality.vlsp_short_pages(quality.VLSP)
    else:
        half = {lang: [digest(t, "half") % 2 for t in src] for lang, src in (("en", articles), ("vi", vlsp))}
        source = {"en": [t for t, h in zip(articles, half["en"]) if h == 0], "vi": []}
        source["vi"] = [t for t, h in zip(vlsp, half["vi"]) if h == 0]
        junk = {lang: quality.generated_junk(src, rng) for lang, src in source.items()}
        sets["en"][("clean", "real articles (other half)")] = [t for t, h in zip(articles, half["en"]) if h == 1]
        sentences = [s for t, h in zip(vlsp, half["vi"]) if h == 1 for s in quality.SENTENCE_SPLIT.split(t)]
        sets["vi"][("clean", "VLSP 5-sentence pages (other half)")] = [
            "\n".join(" ".join(sentences[i + j : i + j + 2]) for j in range(0, 5, 2))
            for i in range(0, len(sentences) - 5, 5)
        ]
    for lang in quality.LANGS:
        sets[lang][("clean", "hand-written")] = quality.hand_pages(lang, "clean")
        for kind, texts in junk[lang].items():
            sets[lang][("junk", kind)] = texts
        sets[lang][("junk", "hand-written")] = quality.hand_pages(lang, "junk")
    for (lang, name), source in quality.HELD_OUT.items():
        docs = quality.held_out_documents(*source, cfg)
        sets[lang][("clean", f"held-out {name}")] = quality.pages(docs, random.Random(name))
    return sets


def the_run(variant: str, out: Path) -> dict:
    """Every page of the sets with the default chain's verdict and shipped-model signals (cached in out)."""
    cache = out / f"run-{variant}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    stages = quality.chain_after_extraction(load_config())
    run: dict = {}
    for lang, sets in build_sets(variant).items():
        run[lang] = []
        for (group, kind), texts in sets.items():
            for text in texts:
                stage, ppl, gain, *_ = quality.verdict(stages, text)
                run[lang].append({"group": group, "kind": kind, "text": text, "kept": stage is None, "ppl": ppl})
                run[lang][-1]["gain"] = gain
        print(f"{variant} {lang}: {sum(p['kept'] for p in run[lang])} of {len(run[lang])} pages kept", flush=True)
    cache.write_text(json.dumps(run))
    return run


def deduplicated(pages: list[dict]) -> list[dict]:
    """The pages a deduplicated run would hold (a stand-in for sieve's dedup passes, which run before any corpus
    pass): in hash order, a page is left out when MAX_SEEN of its word SHINGLE-grams were in the pages before it."""
    seen: set[int] = set()
    out = []
    for p in sorted(pages, key=lambda p: digest(p["text"], "order")):
        words = p["text"].lower().split()
        grams = {hash(tuple(words[i : i + SHINGLE])) for i in range(max(len(words) - SHINGLE + 1, 1))}
        if len(grams & seen) < MAX_SEEN * len(grams):
            out.append(p)
        seen |= grams
    return out


# --- fold models -----------------------------------------------------------------------------------------------


def token_lines(model: LanguageModel, text: str) -> list[str]:
    """The text's normalized non-empty lines as SentencePiece pieces, what KenLM trains on and scores."""
    return [model.tokenize(line) for line in map(normalize_line, text.splitlines()) if line]


def shuffled(text: str) -> str:
    """The text's words shuffled within each line, the same shuffle as LanguageModel.word_order_gain."""
    rng = random.Random(0)
    lines = []
    for line in text.splitlines():
        words = line.split()
        rng.shuffle(words)
        lines.append(" ".join(words))
    return "\n".join(lines)


def perplexity(lm: kenlm.Model, lines: list[str]) -> float:
    """CCNet document perplexity of tokenized lines (as LanguageModel.perplexity)."""
    total = sum(lm.score(line) for line in lines)
    return 10.0 ** (-total / sum(len(line.split()) + 1 for line in lines))


def context_worse(lm: kenlm.Model, lines: list[str]) -> float:
    """Share of tokens the model finds less likely in their context than alone (its unigram probability): a word
    swapped in at random (spun text) fits its context worse than its own frequency predicts."""
    worse = total = 0
    for line in lines:
        for token, (score, _, _) in zip(line.split(), lm.full_scores(line)):
            worse += score < lm.score(token, bos=False, eos=False)
            total += 1
    return worse / total


def train(lines: list[str], order: int, prune: tuple[int, ...], work: Path) -> kenlm.Model:
    """A KenLM model of the tokenized lines (lmplz with 20% of memory, discount fallback for small text)."""
    text, arpa, binary = work / "train.txt", work / "model.arpa", work / "model.bin"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prune_args = ["--prune", *map(str, prune)] if prune else []
    cmd = [str(BIN / "lmplz"), "-o", str(order), "-S", "20%", "-T", str(work), "--discount_fallback", *prune_args]
    subprocess.run([*cmd, "--text", str(text), "--arpa", str(arpa)], check=True, capture_output=True)
    subprocess.run([str(BIN / "build_binary"), str(arpa), str(binary)], check=True, capture_output=True)
    return kenlm.Model(str(binary))


def fold_signals(pages: list[dict], k: int, share: float, order: int, prune: tuple[int, ...], work: Path) -> dict:
    """Each page's perplexity and word order gain under the model of the other folds (share of their pages)."""
    fold = [digest(p["text"]) % k for p in pages]
    sample = [digest(p["text"], "sample") / 2**64 < share for p in pages]
    ppl, gain, worse = [0.0] * len(pages), [0.0] * len(pages), [0.0] * len(pages)
    tokens = 0
    for f in range(k):
        lines = [line for p, g, s in zip(pages, fold, sample) if g != f and s for line in p["tokens"]]
        tokens += sum(len(line.split()) for line in lines)
        lm = train(lines, order, prune, work)
        for i, p in enumerate(pages):
            if fold[i] == f:
                ppl[i] = perplexity(lm, p["tokens"])
                gain[i] = perplexity(lm, p["shuffled_tokens"]) / ppl[i]
                worse[i] = context_worse(lm, p["tokens"])
    return {"ppl": ppl, "gain": gain, "ctx_worse": worse, "training_tokens_per_fold": tokens // k}


# --- figures ---------------------------------------------------------------------------------------------------


def quantiles(values: list[float]) -> str:
    v = sorted(values)
    return "/".join(f"{v[int(q * (len(v) - 1))]:.3g}" for q in (0, 0.05, 0.5, 0.95)) if v else "-"


def best_cutoff(pages: list[dict], values: list[float], low_is_junk: bool, set_docs: dict) -> dict:
    """The cutoff at which every clean set of MIN_SET+ pages that reach the pass loses at most MAX_LOST of them; the
    junk kept per kind at it (over the set's pages, the chain's drops included) and each clean set's loss."""
    by_set: dict[tuple[str, str], list[float]] = {}
    for p, v in zip(pages, values):
        by_set.setdefault((p["group"], p["kind"]), []).append(v if low_is_junk else -v)
    cut = min(
        sorted(vs)[int(MAX_LOST * len(vs))]  # a set loses the values strictly below its cut: at most 3% of them
        for (group, _), vs in by_set.items()
        if group == "clean" and len(vs) >= MIN_SET
    )
    out = {"cutoff": round(cut if low_is_junk else -cut, 4), "drops": "below" if low_is_junk else "above"}
    for (group, kind), vs in sorted(by_set.items()):
        passed = sum(v >= cut for v in vs)
        out[f"{group}: {kind}"] = (
            f"{passed / set_docs[(group, kind)]:.1%} kept"
            if group == "junk"
            else f"{(len(vs) - passed) / len(vs):.1%} lost ({len(vs) - passed}/{len(vs)})"
        )
    junk = [k for k in by_set if k[0] == "junk"]
    out["junk kept, all kinds"] = (
        f"{sum(sum(v >= cut for v in by_set[k]) for k in junk) / sum(set_docs[k] for k in junk):.1%}"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="as-built,disjoint")
    ap.add_argument("--out", default="/tmp/foldlm")
    ap.add_argument("--dedup", action=argparse.BooleanOptionalAction, default=True, help="deduplicate the run first")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for variant in args.variant.split(","):
        run = the_run(variant, out)
        for lang in quality.LANGS:
            model = LanguageModel(SHIPPED, lang)
            set_docs: dict[tuple[str, str], int] = {}
            for p in run[lang]:
                set_docs[(p["group"], p["kind"])] = set_docs.get((p["group"], p["kind"]), 0) + 1
            kept = [p for p in run[lang] if p["kept"]]
            pages = deduplicated(kept) if args.dedup else kept
            print(f"{variant} {lang}: {len(pages)} of {len(kept)} kept pages left after deduplication", flush=True)
            for p in pages:
                p["tokens"] = token_lines(model, p["text"])
                p["shuffled_tokens"] = token_lines(model, shuffled(p["text"]))
                p["shipped_ctx_worse"] = context_worse(model.lm, p["tokens"])
            for k, share, order, prune in CONFIGS:
                name = f"{variant}{' dedup' if args.dedup else ''} {lang} k={k} share={share} order={order} prune={list(prune)}"
                work = out / "work"
                work.mkdir(exist_ok=True)
                fs = fold_signals(pages, k, share, order, prune, work)
                values = {
                    "fold_gain": fs["gain"],
                    "fold_ppl": fs["ppl"],
                    "fold_ppl/shipped_ppl": [v / p["ppl"] for v, p in zip(fs["ppl"], pages)],
                    "fold_gain/shipped_gain": [v / p["gain"] for v, p in zip(fs["gain"], pages)],
                    "shipped_gain": [p["gain"] for p in pages],
                    "fold_ctx_worse": fs["ctx_worse"],
                    "shipped_ctx_worse": [p["shipped_ctx_worse"] for p in pages],
                }
                per_set = {}
                for signal, vs in values.items():
                    groups: dict[str, list[float]] = {}
                    for p, v in zip(pages, vs):
                        groups.setdefault(f"{p['group']}: {p['kind']}", []).append(v)
                    per_set[signal] = {g: f"{quantiles(v)} (n={len(v)})" for g, v in sorted(groups.items())}
                cutoffs = {s: best_cutoff(pages, values[s], low, set_docs) for s, low in SIGNALS.items()}
                results[name] = {
                    "training_tokens_per_fold": fs["training_tokens_per_fold"],
                    "min/p5/p50/p95": per_set,
                    "cutoffs": cutoffs,
                }
                print(f"\n== {name}: {fs['training_tokens_per_fold']} training tokens per fold", flush=True)
                for signal, row in cutoffs.items():
                    print(f"  {signal}: {json.dumps(row)}", flush=True)
        (out / f"results{'-dedup' if args.dedup else ''}.json").write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
