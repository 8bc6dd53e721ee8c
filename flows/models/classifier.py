"""`sieve quality train`: a fastText classifier of reference text (positive) against random crawl (negative) for one
language, as DCLM trained its quality filter; filters/classifier.py scores documents with it."""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sieve.filters.base import Filter, run_filters
from sieve.filters.classifier import NEGATIVE, POSITIVE, model_input, positive_probability
from sieve.flows.models.kenlm import read_documents
from sieve.flows.plan import WARC_SUFFIXES
from sieve.schemas.config import Config, load_config
from sieve.schemas.document import Document
from sieve.schemas.errors import UsageError
from sieve.transforms import storage
from sieve.transforms.storage import StorageError
from sieve.transforms.warc import read_warc

INFO = "classifier.json"
HOLDOUT_FRACTION = 0.1
MIN_DOCUMENTS = 10  # per class after balancing: fewer leaves no held-out set worth a number
# DCLM's recipe (fastText supervised, word bigrams) with the NeMo Curator Vietnamese variant's dim 100 and 5 epochs.
# thread=1 makes training deterministic: the same inputs and seed give the same model bytes (checked).
# bucket: hashed word-bigram rows. fastText's default 2,000,000 makes every model file 800 MB at dim 100; 200,000
# keeps it at 82 MB. Not quantized: fastText's product quantization took 70 s for a model trained in 2 s.
# lr 0.5 (fastText's default 0.1 moved scores by < 0.01 from 0.5 in 28 epochs on 730 synthetic English documents;
# 0.5 gave held-out accuracy 0.65 vs 0.61, keyword-stuffing pages 0.01, articles 0.48).
TRAIN_PARAMS: dict[str, Any] = {
    "dim": 100,
    "wordNgrams": 2,
    "lr": 0.5,
    "minCount": 1,
    "bucket": 200_000,
    "loss": "softmax",
    "thread": 1,
}
MIN_EPOCHS = 5
# Five epochs suit DCLM's 100k+ documents; a small training set gets more epochs, at least this many document
# updates in all (28 epochs for 730 documents): at 5 epochs every score stayed within 0.001 of 0.5.
MIN_UPDATES = 20_000


def source_stages(cfg: Config, lang: str, warc: bool) -> list[Filter]:
    """The pipeline's own stages up to normalization, keeping only `lang`: a WARC source is read as a run reads it
    (response check, extraction), text as a run cleans it, so the model trains on what it will score."""
    from sieve.filters.extract import Extraction
    from sieve.filters.language import LanguageId
    from sieve.filters.normalize import CleanText, Normalize
    from sieve.filters.response import ResponseCheck

    cfg = cfg.model_copy(update={"language_id": cfg.language_id.model_copy(update={"keep": [lang]})})
    front: list[Filter] = [ResponseCheck(cfg), Extraction(cfg)] if warc else []
    return [*front, CleanText(cfg), LanguageId(cfg), Normalize(cfg)]


def _documents(flag: str, source: str, lang: str, max_payload_bytes: int) -> Iterator[Document]:
    """Every document of a source: the HTTP responses of a WARC file, else the documents of a text file (blocks
    separated by blank lines, or one per line) or the kept rows in `lang` of a sieve output or run folder."""
    if storage.is_file(source) and source.endswith(WARC_SUFFIXES):
        for item in read_warc(source, max_payload_bytes):
            if item.doc is not None and item.drop is None:
                yield item.doc
        return
    if not storage.is_file(source) and not storage.is_dir(source):
        raise UsageError(f"{flag} {source}: not found (give a text file, a WARC file or a sieve output/run folder)")
    try:
        for i, text in enumerate(read_documents(source, lang)):
            yield Document(warc_file=source, warc_offset=i, text=text)
    except UnicodeDecodeError:
        raise UsageError(
            f"{flag} {source}: not UTF-8 text (give a UTF-8 text file, a WARC file or a run folder)"
        ) from None


def read_source(flag: str, source: str, lang: str, cfg: Config, limit: int | None = None) -> tuple[list[str], int]:
    """(distinct texts in `lang` from one source, at most `limit`, in source order; documents read)."""
    warc = source.endswith(WARC_SUFFIXES)
    stages = source_stages(cfg, lang, warc)
    texts: dict[str, None] = {}
    others: Counter[str] = Counter()
    read = 0
    try:
        for doc in _documents(flag, source, lang, cfg.read.max_payload_bytes):
            if limit is not None and len(texts) >= limit:
                break
            read += 1
            if run_filters(doc, stages) is None:
                texts[doc.text] = None
            elif doc.language:
                others[doc.language] += 1
    except StorageError as e:
        raise UsageError(f"{flag} {source}: {e}") from None
    if read == 0:
        empty = (
            "no HTML response records" if warc else f"no kept {lang} rows" if storage.is_dir(source) else "no documents"
        )
        raise UsageError(f"{flag} {source}: {empty} in it")
    if not texts:
        found = ", ".join(f"{language} {n}" for language, n in others.most_common(5)) or "none identified"
        raise UsageError(f"{flag} {source}: none of its {read} documents is {lang} text (languages found: {found})")
    return list(texts), read


def _read_class(
    flag: str, sources: list[str], lang: str, cfg: Config, limit: int | None
) -> tuple[list[str], list[dict]]:
    """Distinct texts of one class from all its sources, at most `limit` in all; and what each source gave."""
    texts: dict[str, None] = {}
    report = []
    for source in sources:
        start = time.perf_counter()
        found, read = read_source(flag, source, lang, cfg, None if limit is None else limit - len(texts))
        texts.update(dict.fromkeys(found))
        report.append({"source": source, "documents_read": read, "documents_in_language": len(found)})
        print(f"{flag} {source}: {len(found)} {lang} documents of {read} read in {time.perf_counter() - start:.1f} s")
        if limit is not None and len(texts) >= limit:
            break
    return list(texts), report


def split(positive: list[str], negative: list[str], seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held-out) lists of (label, text): both classes downsampled to the smaller one (seeded), HOLDOUT_FRACTION
    of each held out, training lines shuffled (SGD must not see one class after the other)."""
    rng = random.Random(seed)
    n = min(len(positive), len(negative))
    held = max(1, round(n * HOLDOUT_FRACTION))
    train: list[tuple[str, str]] = []
    holdout: list[tuple[str, str]] = []
    for label, texts in ((POSITIVE, positive), (NEGATIVE, negative)):
        chosen = rng.sample(texts, n)
        holdout += [(label, t) for t in chosen[:held]]
        train += [(label, t) for t in chosen[held:]]
    rng.shuffle(train)
    return train, holdout


def evaluate(model: Any, holdout: list[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall (of the positive class) and accuracy on held-out documents, positive when score >= 0.5."""
    predicted = [(label == POSITIVE, positive_probability(model, text) >= 0.5) for label, text in holdout]
    tp = sum(truth and guess for truth, guess in predicted)
    fp = sum(guess and not truth for truth, guess in predicted)
    fn = sum(truth and not guess for truth, guess in predicted)
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "accuracy": round(sum(truth == guess for truth, guess in predicted) / len(predicted), 4),
    }


def train(
    positive: list[str],
    negative: list[str],
    lang: str,
    output: str,
    max_docs: int | None = None,
    seed: int = 0,
    cfg: Config | None = None,
) -> dict[str, Any]:
    """Train DIR/<lang>.bin from the sources' texts in `lang` (at most max_docs per class, read in source order) and
    record the run under `lang` in DIR/classifier.json; return that record."""
    import fasttext

    if max_docs is not None and max_docs < MIN_DOCUMENTS:
        raise UsageError(f"--max-docs must be at least {MIN_DOCUMENTS}, got {max_docs}")
    if storage.is_remote(output):
        raise UsageError(f"--output {output}: must be a local folder (fastText loads its model from local disk)")
    cfg = cfg or load_config()
    pos, pos_report = _read_class("--positive", positive, lang, cfg, max_docs)
    neg, neg_report = _read_class("--negative", negative, lang, cfg, max_docs)
    both = set(pos) & set(neg)  # a text in both classes teaches nothing and would leak into the held-out set
    neg = [t for t in neg if t not in both]
    if min(len(pos), len(neg)) < MIN_DOCUMENTS:
        raise UsageError(
            f"too few {lang} documents to train on: {len(pos)} positive, {len(neg)} negative "
            f"(at least {MIN_DOCUMENTS} of each); add sources or check --lang"
        )
    train_set, holdout = split(pos, neg, seed)
    epochs = max(MIN_EPOCHS, -(-MIN_UPDATES // len(train_set)))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".quality-train-", dir=out) as tmp:
        lines = Path(tmp) / "train.txt"
        lines.write_text("".join(f"{label} {model_input(text)}\n" for label, text in train_set), encoding="utf-8")
        model = fasttext.train_supervised(input=str(lines), seed=seed, verbose=0, epoch=epochs, **TRAIN_PARAMS)
        model.save_model(str(Path(tmp) / f"{lang}.bin"))
        (Path(tmp) / f"{lang}.bin").replace(out / f"{lang}.bin")
    seconds = time.perf_counter() - start
    info = {
        "lang": lang,
        "model": f"{lang}.bin",
        "positive_sources": pos_report,
        "negative_sources": neg_report,
        "documents": {"positive": len(pos), "negative": len(neg), "train": len(train_set), "held_out": len(holdout)},
        "held_out_metrics": evaluate(model, holdout),
        "params": {
            **TRAIN_PARAMS,
            "epoch": epochs,
            "seed": seed,
            "max_docs": max_docs,
            "holdout_fraction": HOLDOUT_FRACTION,
            "labels": [POSITIVE, NEGATIVE],
            "input": "filters/classifier.py model_input",
        },
    }
    written = json.loads((out / INFO).read_text(encoding="utf-8")) if (out / INFO).is_file() else {}
    written[lang] = info  # one folder can hold every language's model
    (out / INFO).write_text(json.dumps(written, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"trained {out / f'{lang}.bin'} in {seconds:.1f} s on {len(train_set)} documents; held out {len(holdout)}: "
        + ", ".join(f"{k} {v}" for k, v in info["held_out_metrics"].items())
    )
    return info
