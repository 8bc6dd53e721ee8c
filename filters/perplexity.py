"""CCNet perplexity: each document scored by its language's SentencePiece + KenLM model (trained by `sieve lm train`)."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sieve.filters.base import PerLanguage
from sieve.filters.collocation import gains, load_table
from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

LM_INFO = "lm.json"
# quality.perplexity.models value naming the reference model shipped with sieve (filters/data/lm/<lang>/, built by
# infra/build_reference_lm.py from openly licensed Debian documentation), so the default config scores en and vi.
SHIPPED = "shipped"
SHIPPED_DIR = Path(__file__).with_name("data") / "lm"

# CCNet's text_normalizer: Unicode punctuation -> its ASCII form, so "，" and "," are one token for the model.
_PUNCT = str.maketrans(
    {
        "，": ",",
        "。": ".",
        "、": ",",
        "„": '"',
        "”": '"',
        "“": '"',
        "«": '"',
        "»": '"',
        "１": '"',
        "」": '"',
        "「": '"',
        "《": '"',
        "》": '"',
        "´": "'",
        "∶": ":",
        "：": ":",
        "？": "?",
        "！": "!",
        "（": "(",
        "）": ")",
        "；": ";",
        "–": "-",
        "—": " - ",
        "．": ". ",
        "～": "~",
        "’": "'",
        "…": "...",
        "━": "-",
        "〈": "<",
        "〉": ">",
        "【": "[",
        "】": "]",
        "％": "%",
        "►": "-",
    }
)
SPACE_MARK = "\u2581"  # SentencePiece's mark for the space before a word
_WORD_START = " " + SPACE_MARK  # a piece that starts a word, after the one before it
_DIGIT = re.compile(r"\d")
_NON_PRINTING = re.compile("[\x00-\x1f\x7f-\x9f]")


def normalize_line(line: str) -> str:
    """One line as CCNet normalizes it before tokenizing: stripped, lowercased, digits -> 0, Unicode punctuation
    -> ASCII, control characters removed. Unlike CCNet's default, accents stay: Vietnamese tone marks tell words
    apart (ma, má, mà, mả, mã, mạ are six words), and stripping them would merge what the model must separate."""
    line = unicodedata.normalize("NFC", line.strip()).lower()
    return _NON_PRINTING.sub("", _DIGIT.sub("0", line).translate(_PUNCT))


def model_paths(model_dir: str | Path, lang: str) -> tuple[Path, Path]:
    """The SentencePiece model and KenLM binary that `sieve lm train` writes for a language into model_dir
    (model_dir "shipped": the reference model sieve ships for the language)."""
    model_dir = SHIPPED_DIR / lang if str(model_dir) == SHIPPED else Path(model_dir)
    return model_dir / f"{lang}.sp.model", model_dir / f"{lang}.arpa.bin"


class LanguageModel:
    """One language's SentencePiece tokenizer and KenLM model, scoring text the CCNet way."""

    def __init__(self, model_dir: str | Path, lang: str) -> None:
        import kenlm
        import sentencepiece

        sp_path, lm_path = model_paths(model_dir, lang)
        for path in (sp_path, lm_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: train the model with "
                    f"`sieve lm train --input TEXT --lang {lang} --output {model_dir}`"
                )
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
        self.lm = kenlm.Model(str(lm_path))

    def tokenize(self, line: str) -> str:
        """A normalized line's SentencePiece pieces joined by spaces: what KenLM trains on and scores."""
        return " ".join(self.sp.encode(line, out_type=str))

    def log_score(self, text: str) -> tuple[float, int]:
        """(sum of log10 probabilities, tokens + sentence ends) over the text's non-empty lines."""
        total, length = 0.0, 0
        for line in text.splitlines():
            line = normalize_line(line)
            if line:
                pieces = self.tokenize(line)
                total += self.lm.score(pieces)  # with <s> and </s>, as CCNet scores
                length += len(pieces.split()) + 1
        return total, length

    def perplexity(self, text: str) -> float | None:
        """CCNet document perplexity 10 ** (-sum log10 p / (tokens + lines)); None for text without a line to score."""
        total, length = self.log_score(text)
        return _perplexity(total, length) if length else None

    def scores(self, text: str) -> tuple[float | None, float | None]:
        """(perplexity, word order gain) of a text; (None, None) without a line to score. The gain is how much the
        text's word order lowers its perplexity: the perplexity of the same words shuffled within each line (a fixed
        shuffle) over the text's own. About 1 for word salad, whatever the model's domain; fluent text measures well
        above, because the model's n-grams fit it in order only (docs/quality-thresholds.md).

        Each line is tokenized once: SentencePiece cuts no piece across a space, so the shuffled line's pieces are its
        words' pieces in the shuffled order. A line whose words normalization joins or splits (a control character
        between two, a dash turned into " - ") is normalized and tokenized again, shuffled."""
        getrandbits = random.Random(0).getrandbits  # a fixed shuffle: the same text always measures the same
        total = shuffled_total = 0.0
        length = shuffled_length = 0
        for line in text.splitlines():
            words = line.split()
            order = _shuffled_order(len(words), getrandbits)  # drawn for every line, as shuffling its words would
            normal = normalize_line(line)
            if not normal:
                continue
            pieces = self.sp.encode(normal, out_type=str)
            joined = " ".join(pieces)
            total += self.lm.score(joined)  # with <s> and </s>, as CCNet scores
            length += len(pieces) + 1
            # each word's pieces, joined: a word's first piece starts with the space mark
            groups = joined.replace(_WORD_START, "\0" + SPACE_MARK).split("\0")
            if len(groups) == len(words):
                shuffled = " ".join([groups[i] for i in order])
                shuffled_length += len(pieces) + 1
            else:
                again = self.sp.encode(normalize_line(" ".join(words[i] for i in order)), out_type=str)
                shuffled = " ".join(again)
                shuffled_length += len(again) + 1
            shuffled_total += self.lm.score(shuffled)
        if not length:
            return None, None
        perplexity = _perplexity(total, length)
        return perplexity, round(_perplexity(shuffled_total, shuffled_length) / perplexity, 3)


def _perplexity(total: float, length: int) -> float:
    """CCNet's perplexity from a sum of log10 probabilities over tokens + sentence ends, to 0.1."""
    return round(10.0 ** (-total / length), 1)


def _shuffled_order(n: int, getrandbits: Callable[[int], int]) -> list[int]:
    """range(n) in the order random.Random.shuffle leaves it, from the same draws (CPython 3.11's shuffle and
    _randbelow, inlined: 2.2x faster, and a page shuffles every line; tests/test_perplexity.py checks it equal)."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        bits = (i + 1).bit_length()
        j = getrandbits(bits)
        while j > i:
            j = getrandbits(bits)
        order[i], order[j] = order[j], order[i]
    return order


@cache
def load_model(model_dir: str, lang: str) -> LanguageModel:
    """Each model once per process: a worker scores thousands of documents with it."""
    return LanguageModel(model_dir, lang)


class Perplexity:
    """Annotates the CCNet perplexity of the document's language model, its word order gain, its pair gain and its
    repeat gain (filters/collocation.py); drops above an absolute perplexity, below a word order gain (word salad;
    where salad_max_pair_gain is set, only with a pair gain under it too), or where the word order gain is low and so
    is the pair gain, or on a long page the repeat gain and a weaker pair gain (spun text), per language."""

    stage = "perplexity"

    def __init__(self, cfg: Config) -> None:
        self.thresholds = PerLanguage(cfg, "perplexity")
        self.models = dict(cfg.quality.perplexity.models)
        for lang, model_dir in self.models.items():  # a wrong path fails when the stages are built, not mid-run
            for path in model_paths(model_dir, lang):
                if not path.is_file():
                    raise FileNotFoundError(
                        f"quality.perplexity.models.{lang}: {path} not found (train it with "
                        f"`sieve lm train --input TEXT --lang {lang} --output {model_dir}`)"
                    )

    def annotate(self, doc: Document) -> dict[str, Any]:
        pair_gain, repeats = gains(doc.text or "", load_table(doc.language or ""))
        unscored = {"perplexity": None, "word_order_gain": None, "pair_gain": pair_gain, "repeat_gain": repeats}
        model_dir = self.models.get(doc.language or "")
        if model_dir is None:
            return unscored | {"perplexity_missing": "no_model"}
        perplexity, gain = load_model(model_dir, doc.language).scores(doc.text or "")
        if perplexity is None:
            return unscored | {"perplexity_missing": "no_text"}
        return {
            "perplexity": perplexity,
            "word_order_gain": gain,
            "pair_gain": pair_gain,
            "repeat_gain": repeats,
            "perplexity_missing": None,
        }

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        thresholds = self.thresholds(doc.language)
        perplexity, gain = signals["perplexity"], signals.get("word_order_gain")  # rows written before it have none
        if thresholds.max_perplexity is not None and perplexity is not None and perplexity > thresholds.max_perplexity:
            return Drop(self.stage, "max_perplexity", f"{perplexity:.0f} > {thresholds.max_perplexity:g}")
        pair_gain, salad_pair = signals.get("pair_gain"), thresholds.salad_max_pair_gain
        unpaired = None in (salad_pair, pair_gain)  # no pair cut, or no pair gain measured: the word order decides
        if (
            thresholds.min_word_order_gain is not None
            and gain is not None
            and gain < thresholds.min_word_order_gain
            and (unpaired or pair_gain < salad_pair)  # a salad keeps no everyday pair either
        ):
            pairs = "" if unpaired else f", pair gain {pair_gain:.3f} < {salad_pair:g}"
            return Drop(self.stage, "min_word_order_gain", f"{gain:.3f} < {thresholds.min_word_order_gain:g}{pairs}")
        max_pair, max_gain = thresholds.spun_max_pair_gain, thresholds.spun_max_word_order_gain
        if None in (gain, max_gain) or gain >= max_gain:
            return None
        if None not in (pair_gain, max_pair) and pair_gain < max_pair:
            return Drop(
                self.stage,
                "spun",
                f"pair gain {pair_gain:.3f} < {max_pair:g}, word order gain {gain:.3f} < {max_gain:g}",
            )
        # a long page: few repeated phrases let a weaker pair gain count as spun
        repeats, max_repeats = signals.get("repeat_gain"), thresholds.spun_max_repeat_gain
        max_pair_long = thresholds.spun_repeat_max_pair_gain
        if (
            None not in (repeats, max_repeats, pair_gain, max_pair_long)
            and repeats < max_repeats
            and pair_gain < max_pair_long
        ):
            return Drop(
                self.stage,
                "spun",
                f"repeat gain {repeats:.3f} < {max_repeats:g}, pair gain {pair_gain:.3f} < {max_pair_long:g}, "
                f"word order gain {gain:.3f} < {max_gain:g}",
            )
        return None
