"""The heuristic quality stages on whole corpora: planted low-quality pages of the synthetic corpus leave with a
reason from the right family, clean English and Vietnamese articles stay, and so do the real English articles."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sieve.filters.base import run_filters
from sieve.schemas.config import load_config
from sieve.transforms.stages import build_filters
from sieve.transforms.warc import read_warc

# The stages allowed to drop each planted kind: the heuristic family that targets it, plus the earlier stages
# that legitimately see it first: the language stages for pages in no language or too little prose to tell
# (language_gate before extraction, language_id after), the URL filter for spam slugs.
_LANGUAGE = {"language_gate", "language_id"}
_HEURISTIC = {"gopher_quality", "c4", "fineweb", "gopher_repetition"}
EXPECTED = {
    "link_list": _HEURISTIC | _LANGUAGE,
    "keyword_stuffing": {"gopher_repetition", "gopher_quality", "url"},
    "lorem_ipsum": {"c4"} | _LANGUAGE,
    "code": {"c4", "gopher_quality"} | _LANGUAGE,
    "gibberish": {"gopher_quality", "c4"} | _LANGUAGE,
    "short": {"gopher_quality", "c4", "fineweb"},
}


def _verdicts(path, cfg) -> dict[str, tuple[str | None, str | None, str | None]]:
    """record id -> (stage, reason, language), stage and reason None when kept; the real stages, in-process."""
    stages = build_filters(cfg)
    out = {}
    for item in read_warc(str(path), cfg.read.max_payload_bytes):
        if item.doc is None:
            continue
        drop = item.drop or run_filters(item.doc, stages)
        verdict = (drop.stage, drop.reason) if drop else (None, None)
        out[item.doc.warc_record_id] = (*verdict, item.doc.language)
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from sieve.flows.synth import write_synthetic_corpus

    out = tmp_path_factory.mktemp("quality-synth")
    write_synthetic_corpus(out, docs=600, seed=11)
    truth = {r["record_id"]: r for r in json.loads((out / "truth.json").read_text(encoding="utf-8"))["records"]}
    return truth, _verdicts(out / "corpus.warc.gz", load_config())


def test_planted_low_quality_pages_are_dropped_by_the_right_family(synthetic):
    truth, verdicts = synthetic
    planted = [(truth[rid]["kind"], verdict) for rid, verdict in verdicts.items() if truth[rid]["kind"] in EXPECTED]
    right = [kind for kind, (stage, _, _) in planted if stage in EXPECTED[kind]]
    wrong = Counter(f"{kind}: {stage}/{reason}" for kind, (stage, reason, _) in planted if stage not in EXPECTED[kind])
    assert len(planted) >= 50
    assert len(right) >= 0.95 * len(planted), wrong
    # Whatever the language stages let through, the heuristic stages drop (none of it is kept).
    assert not [kind for kind, (stage, _, _) in planted if stage is None]


def test_clean_english_and_vietnamese_articles_are_kept(synthetic):
    truth, verdicts = synthetic
    for lang in ("en", "vi"):
        articles = [v for rid, v in verdicts.items() if truth[rid]["kind"] == "article" and truth[rid]["lang"] == lang]
        dropped = Counter(f"{stage}/{reason}" for stage, reason, _ in articles if stage is not None)
        assert len(articles) >= 100
        assert sum(dropped.values()) <= 0.05 * len(articles), (lang, dropped)


def test_real_english_articles_are_kept(data_dir):
    verdicts = _verdicts(data_dir / "articles-sample.warc.gz", load_config())
    english = {rid: (stage, reason) for rid, (stage, reason, lang) in verdicts.items() if lang == "en"}
    assert len(english) >= 8
    assert all(stage is None for stage, _ in english.values()), english
