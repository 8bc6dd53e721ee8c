"""DCLM-style quality classifier: each document scored by its language's fastText model (trained by `sieve quality train`)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop

POSITIVE = "__label__positive"  # reference text (clean, explanatory)
NEGATIVE = "__label__negative"  # random crawl text
_TOKEN = re.compile(r"\w+|[^\w\s]")


def model_input(text: str) -> str:
    """The one line fastText reads for a document, in training and scoring alike: lowercase words and punctuation
    marks as separate tokens, so "Hà Nội." and "hà nội" share their word features (fastText splits on spaces only)."""
    return " ".join(_TOKEN.findall(text.lower()))


@cache
def load_model(path: str) -> Any:
    """A quality model, once per process and path: a worker scores thousands of documents with it."""
    import fasttext

    model = fasttext.load_model(path)
    labels = model.get_labels()
    if POSITIVE not in labels:
        raise ValueError(
            f"{path} is not a sieve quality model (labels {labels[:4]}): train one with `sieve quality train`"
        )
    return model


def positive_probability(model: Any, text: str) -> float:
    """Probability of the positive (reference) label for a text."""
    # The low-level predict avoids fastText's numpy-2 incompatibility; k=-1 returns every label.
    for probability, label in model.f.predict(model_input(text) + "\n", -1, 0.0, "strict"):
        if label == POSITIVE:
            return min(float(probability), 1.0)
    return 0.0


class QualityClassifier:
    """Annotates quality_score, the probability that the document reads like the reference text; drops only below
    its language's min_score (null by default: annotate only, so a cutoff can be chosen from the scores later)."""

    stage = "classifier"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.models = {}
        for lang, path in cfg.quality.classifier.models.items():  # a wrong path fails when the stages are built
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"quality.classifier.models.{lang}: {path} not found (train it with "
                    f"`sieve quality train --positive ... --negative ... --lang {lang} --output DIR`)"
                )
            self.models[lang] = load_model(path)

    def annotate(self, doc: Document) -> dict[str, Any]:
        model = self.models.get(doc.language or "")
        if model is None:
            return {"quality_score": None, "classifier_missing": "no_model"}
        return {"quality_score": positive_probability(model, doc.text or ""), "classifier_missing": None}

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        threshold = self.cfg.language(doc.language).classifier.min_score
        score = signals["quality_score"]
        if threshold is not None and score is not None and score < threshold:
            return Drop(self.stage, "min_score", f"quality_score {score:.4f} < {threshold:g}")
        return None
