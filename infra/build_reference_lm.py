"""Builds the reference perplexity models shipped in filters/data/lm/<lang>/ from openly licensed Debian documentation.

The default config scores every en and vi document with these models, so word salad and spun text are caught without
the user training a model first. Reproducible: exact package versions, one extraction, `sieve lm train` with fixed
settings. Needs apt-get (Debian bookworm), dpkg-deb, and KenLM's lmplz/build_binary (`make install`).

    .venv/bin/python infra/build_reference_lm.py [--work build/reference-lm] [--output filters/data/lm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

from resiliparse.extract.html2text import extract_plain_text

from sieve.filters.language import identify
from sieve.flows.models.kenlm import train

ROOT = Path(__file__).resolve().parents[1]
# Package -> (version, license, folder of its HTML inside the package). All in Debian 12 (bookworm) main.
PACKAGES = {
    "debian-handbook": ("11.20220922", "GPL-2.0+ or CC-BY-SA-3.0", "usr/share/doc/debian-handbook/html"),
    "libreoffice-help-en-us": ("4:7.4.7-1+deb12u14", "MPL-2.0", "usr/share/libreoffice/help/en-US"),
    "libreoffice-help-vi": ("4:7.4.7-1+deb12u14", "MPL-2.0", "usr/share/libreoffice/help/vi"),
    "maint-guide": ("1.2.53", "GPL-2.0+", "usr/share/doc/maint-guide/html"),
    "maint-guide-vi": ("1.2.53", "GPL-2.0+", "usr/share/doc/maint-guide-vi/html"),
}
# Language -> (package, sub-folder of its HTML folder) read for that language's reference text.
SOURCES = {
    "en": [("debian-handbook", "en-US"), ("libreoffice-help-en-us", ""), ("maint-guide", "")],
    "vi": [("debian-handbook", "vi-VN"), ("libreoffice-help-vi", ""), ("maint-guide-vi", "")],
}
MIN_LINE_WORDS = 4  # shorter lines are menu items, headings and table cells, not sentences
MIN_LINE_LANGUAGE_SCORE = 0.5  # untranslated English lines in the Vietnamese packages, commands and code go
# lmplz --prune per order: 3-, 4- and 5-grams seen once are left out (keeps each language's files near 5 MB).
PRUNE = (0, 0, 1, 1, 1)
VOCAB_SIZE = 16000


def unpack(package: str, work: Path) -> Path:
    """The package's exact version downloaded with apt-get and unpacked; returns the unpacked folder."""
    version = PACKAGES[package][0]
    folder = work / "unpacked" / package
    if not folder.is_dir():
        (work / "debs").mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work / "debs", check=True)
        deb = next((work / "debs").glob(f"{package}_*.deb"))
        folder.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    return folder


def deb_sha256(package: str, work: Path) -> str:
    return hashlib.sha256(next((work / "debs").glob(f"{package}_*.deb")).read_bytes()).hexdigest()


def page_lines(html: str, lang: str) -> Iterator[str]:
    """The lines of an HTML page that are sentences in lang: at least MIN_LINE_WORDS words, identified as lang."""
    text = extract_plain_text(html, main_content=False, alt_texts=False, links=False, list_bullets=False)
    for line in text.splitlines():
        line = " ".join(line.split())
        if len(line.split()) >= MIN_LINE_WORDS:
            found, score = identify(line)
            if found == lang and score >= MIN_LINE_LANGUAGE_SCORE:
                yield line


def reference_text(lang: str, work: Path) -> tuple[Path, dict[str, int]]:
    """work/<lang>.txt: one document per HTML page (blank-line separated), each line once in the whole text (page
    titles and navigation repeat on every page); returns the path and the words taken from each package."""
    seen: set[str] = set()
    words: dict[str, int] = {}
    out = work / f"{lang}.txt"
    with out.open("w", encoding="utf-8") as f:
        for package, sub in SOURCES[lang]:
            html_root = unpack(package, work) / PACKAGES[package][2] / sub
            words[package] = 0
            for page in sorted(html_root.rglob("*.html")):
                lines = [
                    line
                    for line in page_lines(page.read_text(encoding="utf-8", errors="replace"), lang)
                    if not (line in seen or seen.add(line))
                ]
                if lines:
                    f.write("\n".join(lines) + "\n\n")
                    words[package] += sum(len(line.split()) for line in lines)
    return out, words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="build/reference-lm", help="download and text folder (default: %(default)s)")
    ap.add_argument("--output", default="filters/data/lm", help="model folder (default: %(default)s)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sources = {}
    for lang in SOURCES:
        text, words = reference_text(lang, work)
        info = train(
            str(text), lang, str(Path(args.output) / lang), order=5, vocab_size=VOCAB_SIZE, prune=PRUNE, compact=True
        )
        sources[lang] = {
            package: {
                "version": PACKAGES[package][0],
                "license": PACKAGES[package][1],
                "deb_sha256": deb_sha256(package, work),
                "words": n,
            }
            for package, n in words.items()
        }
        print(
            f"{lang}: {sum(words.values())} words from {', '.join(words)}; {info['vocab_size']} pieces, "
            f"{info['training_tokens']} tokens, training-text perplexity p50 {info['perplexity_percentiles']['50']}"
        )
    (Path(args.output) / "sources.json").write_text(json.dumps(sources, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
