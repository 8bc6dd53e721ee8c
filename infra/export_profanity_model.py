"""Exports alt-profanity-check's English model (MIT) to filters/data/toxicity/profanity-en.npz for filters/profanity.py.

The package's model is a scikit-learn TF-IDF vectorizer and five sigmoid-calibrated linear SVMs. Loading it imports
scikit-learn and SciPy (1.3 s of every range worker's start); the same arithmetic on the exported arrays needs numpy
only. tests/test_toxicity.py checks that both give the same probabilities.

    .venv/bin/python infra/export_profanity_model.py [--output filters/data/toxicity/profanity-en.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parents[1] / "filters" / "data" / "toxicity" / "profanity-en.npz"


def export(output: Path) -> None:
    """Write the vocabulary (in column order), idf, and per calibrated classifier coef, intercept and sigmoid a, b."""
    from importlib.metadata import version

    from profanity_check import profanity_check as pc

    vec, model = pc.vectorizer, pc.model
    assert vec.ngram_range == (1, 1) and vec.lowercase and vec.norm == "l2" and vec.use_idf and not vec.sublinear_tf
    assert model.method == "sigmoid" and list(model.classes_) == [0, 1]
    words = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
    fits = model.calibrated_classifiers_
    np.savez_compressed(
        output,
        words=np.array(words),
        idf=vec.idf_,
        coef=np.stack([c.estimator.coef_[0] for c in fits]),
        intercept=np.array([c.estimator.intercept_[0] for c in fits]),
        a=np.array([c.calibrators[0].a_ for c in fits]),
        b=np.array([c.calibrators[0].b_ for c in fits]),
        token_pattern=np.array(vec.token_pattern),
        source=np.array(f"alt-profanity-check {version('alt-profanity-check')} (MIT)"),
    )
    print(f"wrote {output}: {len(words)} words, {len(fits)} calibrated classifiers")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=OUTPUT)
    export(ap.parse_args().output)
