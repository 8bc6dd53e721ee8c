"""`sieve lm train`: a CCNet-style SentencePiece + KenLM model of one language, trained on clean reference text."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sieve.filters.perplexity import LM_INFO, LanguageModel, model_paths, normalize_line
from sieve.schemas.errors import UsageError
from sieve.trainer.tokenizer import scaled_vocab_size
from sieve.transforms import layout, storage
from sieve.transforms.progress import Progress

BUILD_SCRIPT = "infra/build_kenlm.sh"
PERCENTILES = (10, 25, 30, 50, 60, 75, 90)
SCORED_DOCUMENTS = 5000  # a seeded sample for the reference percentiles in lm.json: enough, and fast on big inputs
SP_SAMPLE_LINES = 2_000_000  # SentencePiece trains on at most this many lines (shuffled), bounding its memory


def kenlm_program(name: str) -> str:
    """Path of lmplz or build_binary: the venv's bin folder (where infra/build_kenlm.sh installs them), else PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise UsageError(
            f"KenLM's {name} is not built: run {BUILD_SCRIPT} (or `make install`), which installs "
            f"lmplz and build_binary into {Path(sys.executable).parent}"
        )
    return found


def split_documents(text: str) -> list[str]:
    """Documents of a text file: blocks separated by blank lines; a file without blank lines has one per line."""
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    if len(blocks) == 1:
        blocks = blocks[0].splitlines()
    return [b for b in blocks if b.strip()]


def read_documents(source: str, lang: str) -> Iterator[str]:
    """Documents of a text file, a folder of .txt files, or the kept rows in `lang` of a sieve output/run folder."""
    if storage.is_file(source):
        yield from split_documents(storage.read_text(source))
        return
    if not storage.is_dir(source):
        raise UsageError(
            f"--input {source}: not found (give a text file, a folder of .txt files or a sieve run folder)"
        )
    shards = layout.shards(source)
    if shards is not None:
        for uri in shards:
            table = storage.read_parquet(uri, columns=["text", "language"]).to_pydict()
            yield from (text for text, language in zip(table["text"], table["language"]) if language == lang)
        return
    texts = [f.uri for f in storage.list_files(source) if f.uri.endswith(".txt")]
    if not texts:
        raise UsageError(f"--input {source}: a folder without .txt files, kept/ shards or {layout.MANIFEST}")
    for uri in texts:
        yield from split_documents(storage.read_text(uri))


def train(
    source: str,
    lang: str,
    output: str,
    order: int = 5,
    vocab_size: int = 32000,
    memory: str = "1G",
    prune: tuple[int, ...] = (),
    compact: bool = False,
) -> dict[str, Any]:
    """Train DIR/<lang>.sp.model and DIR/<lang>.arpa.bin from clean text, and write DIR/lm.json; return its contents.

    prune: lmplz's --prune counts per order (n-grams seen at most that often are left out), for a smaller model;
    compact: a quantized trie binary (8-bit probabilities and backoffs), about a third of the default's size."""
    if not 2 <= order <= 6:
        raise UsageError(f"--order must be 2..6 (lmplz is built with KENLM_MAX_ORDER=6), got {order}")
    if vocab_size < 100:
        raise UsageError(f"--vocab-size must be at least 100, got {vocab_size}")
    if storage.is_remote(output):
        raise UsageError(f"--output {output}: must be a local folder (KenLM maps its model from local disk)")
    lmplz, build_binary = kenlm_program("lmplz"), kenlm_program("build_binary")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lm-train-", dir=out) as tmp:
        work = Path(tmp)
        counts, sample = _write_normalized(source, lang, work / "normalized.txt")
        vocab = scaled_vocab_size(vocab_size, counts["distinct_words"], counts["distinct_chars"])
        _train_sentencepiece(work / "normalized.txt", work / f"{lang}.sp.model", vocab)
        tokens = _tokenize(work / "normalized.txt", work / f"{lang}.sp.model", work / "tokens.txt", counts["lines"])
        _run(
            [
                lmplz,
                "-o",
                str(order),
                "-S",
                memory,
                "-T",
                tmp,
                "--discount_fallback",
                *(["--prune", *map(str, prune)] if prune else []),
                "--text",
                str(work / "tokens.txt"),
                "--arpa",
                str(work / "model.arpa"),
            ],
            source,
        )
        _run(
            [
                build_binary,
                *(["-q", "8", "-b", "8", "trie"] if compact else []),
                str(work / "model.arpa"),
                str(work / f"{lang}.arpa.bin"),
            ],
            source,
        )
        for path in model_paths(out, lang):
            os.replace(work / path.name, path)
    model = LanguageModel(out, lang)
    perplexities = sorted(p for p in map(model.perplexity, sample) if p is not None)
    info = {
        "lang": lang,
        "order": order,
        "prune": list(prune),
        "compact": compact,
        "vocab_size": model.sp.get_piece_size(),
        "training_documents": counts["documents"],
        "training_lines": counts["lines"],
        "training_tokens": tokens,
        "scored_documents": len(perplexities),
        "perplexity_percentiles": _percentiles(perplexities),
        "input": source,
    }
    (out / LM_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def _write_normalized(source: str, lang: str, path: Path) -> tuple[dict[str, int], list[str]]:
    """Write every non-empty normalized line; return counts and a seeded sample of documents for lm.json."""
    rng = random.Random(0)
    sample: list[str] = []
    words: set[str] = set()
    chars: set[str] = set()
    documents = lines = 0
    with path.open("w", encoding="utf-8") as f, Progress("reading text") as progress:
        for doc in read_documents(source, lang):
            progress.advance(1)
            normalized = [line for line in map(normalize_line, doc.splitlines()) if line]
            if not normalized:
                continue
            f.write("\n".join(normalized) + "\n")
            for line in normalized:
                words.update(line.split())
                chars.update(line)
            documents += 1
            lines += len(normalized)
            if len(sample) < SCORED_DOCUMENTS:  # reservoir sampling: every document equally likely
                sample.append(doc)
            elif (i := rng.randrange(documents)) < SCORED_DOCUMENTS:
                sample[i] = doc
    if not lines:
        rows = storage.is_dir(source) and layout.shards(source) is not None  # only run folders are read per language
        raise UsageError(f"--input {source}: no text" + (f" in language {lang!r}" if rows else "") + " to train on")
    return {"documents": documents, "lines": lines, "distinct_words": len(words), "distinct_chars": len(chars)}, sample


def _train_sentencepiece(text: Path, model: Path, vocab_size: int) -> None:
    import sentencepiece

    with model.open("wb") as f:
        sentencepiece.SentencePieceTrainer.train(
            input=str(text),
            model_writer=f,
            vocab_size=vocab_size,
            model_type="unigram",
            hard_vocab_limit=False,  # a soft limit: a small input yields fewer pieces instead of an error
            input_sentence_size=SP_SAMPLE_LINES,
            shuffle_input_sentence=True,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )


def _tokenize(text: Path, model: Path, out: Path, lines: int) -> int:
    """Write the SentencePiece pieces of every line (space-separated, as lmplz reads them); return the token count."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model))
    tokens = 0
    with (
        text.open(encoding="utf-8") as src,
        out.open("w", encoding="utf-8") as dst,
        Progress("tokenizing", lines, "lines") as progress,
    ):
        for line in src:
            pieces = sp.encode(line.rstrip("\n"), out_type=str)
            tokens += len(pieces)
            dst.write(" ".join(pieces) + "\n")
            progress.advance(1)
    return tokens


def _run(command: list[str], source: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise UsageError(f"{Path(command[0]).name} failed on the text of {source} (exit {result.returncode}):\n{tail}")


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {str(p): values[0] for p in PERCENTILES} if values else {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {str(p): round(cuts[p - 1], 1) for p in PERCENTILES}
