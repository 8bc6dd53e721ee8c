"""Builds the word pair tables shipped in filters/data/pairs/<lang>.npy from openly licensed lists on PyPI.

en: the 243,342 most frequent English word bigrams of Google Books (symspellpy's bigram dictionary, MIT); vi: the
adjacent syllable pairs inside the 73,901 words of the Viet74K dictionary (underthesea, Apache-2.0). Each table is
the sorted 64-bit keys of its pairs (filters/collocation.py); no text is shipped. Reproducible: exact wheel
versions, checked by SHA-256 in sources.json.

    .venv/bin/python infra/build_pair_tables.py [--work build/pair-tables] [--output filters/data/pairs]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from sieve.filters.collocation import pair_keys, word_hash, words

ROOT = Path(__file__).resolve().parents[1]
# Language -> (wheel, version, licence, file inside the wheel, how its lines give word pairs).
SOURCES = {
    "en": ("symspellpy", "6.10.1", "MIT", "symspellpy/frequency_bigramdictionary_en_243_342.txt", "bigram"),
    "vi": ("underthesea", "9.5.0", "Apache-2.0", "underthesea/corpus/data/Viet74K.txt", "word"),
}


def wheel(package: str, version: str, work: Path) -> Path:
    """The exact wheel downloaded from PyPI (no dependencies, nothing installed)."""
    found = list(work.glob(f"{package}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(work), f"{package}=={version}"],
            check=True,
        )
        found = list(work.glob(f"{package}-{version}-*.whl"))
    return found[0]


def pairs(lines: list[str], kind: str) -> set[tuple[str, str]]:
    """Word pairs of a bigram list ("a b count" lines) or of a word list (pairs inside multi-syllable words)."""
    out = set()
    for line in lines:
        if kind == "bigram":  # "first second count": kept when both words are letter runs
            tokens = words(" ".join(line.split()[:2]))
            if len(tokens) == 2:
                out.add((tokens[0], tokens[1]))
        else:  # one word of one or more syllables: its adjacent syllables
            tokens = words(line)
            out.update(zip(tokens, tokens[1:]))
    return out


def table(word_pairs: set[tuple[str, str]]) -> np.ndarray:
    """The sorted, unique keys of the pairs."""
    first = np.array([word_hash(a) for a, _ in word_pairs], dtype=np.uint64)
    second = np.array([word_hash(b) for _, b in word_pairs], dtype=np.uint64)
    return np.unique(pair_keys(first, second))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "pair-tables")
    ap.add_argument("--output", type=Path, default=ROOT / "filters" / "data" / "pairs")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    sources = {}
    for lang, (package, version, licence, member, kind) in SOURCES.items():
        path = wheel(package, version, args.work)
        with zipfile.ZipFile(path) as z:
            lines = z.read(member).decode("utf-8").splitlines()
        keys = table(pairs(lines, kind))
        np.save(args.output / f"{lang}.npy", keys)
        sources[lang] = {
            "package": f"{package}=={version}",
            "licence": licence,
            "file": member,
            "wheel_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "pairs": len(keys),
        }
        print(f"{lang}: {len(keys):,} pairs from {package} {version} ({member})")
    (args.output / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")


if __name__ == "__main__":
    main()
