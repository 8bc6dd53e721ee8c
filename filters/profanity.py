"""alt-profanity-check's English model (MIT), scored with numpy alone: TF-IDF of a sentence's words, five linear SVMs,
each sigmoid-calibrated, averaged. The arrays are exported from the package by infra/export_profanity_model.py; the
package itself needs scikit-learn and SciPy, 1.3 s of every range worker's start for the same arithmetic."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL = Path(__file__).with_name("data") / "toxicity" / "profanity-en.npz"


class ProfanityModel:
    """predict_prob(sentences) -> the probability that each sentence is profane, as profanity_check.predict_prob."""

    def __init__(self, path: Path = MODEL) -> None:
        with np.load(path) as z:
            self.index = {str(w): i for i, w in enumerate(z["words"])}
            self.idf, self.coef, self.intercept = z["idf"], z["coef"], z["intercept"]
            self.a, self.b = z["a"], z["b"]
            self.token = re.compile(str(z["token_pattern"]))

    def predict_prob(self, sentences: list[str]) -> list[float]:
        """All sentences at once: one sparse row per sentence, as the package's vectorizer builds them."""
        rows, ids = [], []
        for row, sentence in enumerate(sentences):
            found = sorted(i for w in self.token.findall(sentence.lower()) if (i := self.index.get(w)) is not None)
            rows += [row] * len(found)
            ids += found
        n = len(sentences)
        scores = np.tile(self.intercept[:, None], n)
        if ids:
            # each (row, word) cell as one number, row-major: a flat unique is 5x faster than one along an axis
            width = len(self.idf)
            keys, counts = np.unique(np.array(rows, np.int64) * width + np.array(ids, np.int64), return_counts=True)
            cells = np.stack([keys // width, keys % width])
            x = counts * self.idf[cells[1]]
            x /= np.sqrt(np.bincount(cells[0], x * x, n))[cells[0]]
            for k, coef in enumerate(self.coef):
                scores[k] += np.bincount(cells[0], coef[cells[1]] * x, n)
        calibrated = np.minimum(1.0 / (1.0 + np.exp(self.a[:, None] * scores + self.b[:, None])), 1.0)
        return [float(p) for p in calibrated.mean(axis=0)]


@lru_cache(maxsize=1)
def profanity_model() -> ProfanityModel:
    """The shipped model, loaded once per process (about 30 ms)."""
    return ProfanityModel()
