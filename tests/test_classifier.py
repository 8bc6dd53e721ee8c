"""The quality classifier: `sieve quality train` from text files, WARC files and run folders, and the classifier stage."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sieve.filters.classifier import QualityClassifier
from sieve.flows.cli import main
from sieve.flows.models.classifier import INFO, train
from sieve.flows.synth.banks import load_bank
from sieve.flows.synth.lowq import keyword_stuffing, link_list
from sieve.flows.synth.pages import build_sites
from sieve.flows.synth.text import Slots, build_article
from sieve.flows.synth.warc import WarcWriter, http_response, record_id
from sieve.schemas.config import load_config
from sieve.schemas.document import Document, Drop
from sieve.schemas.errors import UsageError
from sieve.schemas.tables import KEPT
from sieve.transforms.parquet import write_rows
from sieve.transforms.stages import build_filters
from tests.conftest import DATA, write_config

MOMENT = datetime(2024, 5, 20, tzinfo=UTC)
# Written by hand: prose a reference corpus would hold, and the navigation/spam text random crawl is full of.
HAND_CLEAN = {
    "en": "The city council approved the new budget on Tuesday after a long debate about school funding. "
    "Members agreed to spend more on teachers and repairs, and the mayor said the plan would be reviewed "
    "again in the spring when the final tax figures are known.",
    "vi": "Hội đồng thành phố đã thông qua ngân sách mới vào thứ Ba sau một cuộc tranh luận dài về kinh phí cho "
    "trường học. Các thành viên đồng ý chi nhiều hơn cho giáo viên và việc sửa chữa, và thị trưởng cho biết "
    "kế hoạch sẽ được xem xét lại vào mùa xuân khi có số liệu thuế cuối cùng.",
}


def articles(lang: str, n: int, seed: int) -> list[str]:
    """Clean synthetic articles (the positive side), one text each."""
    rng = random.Random(seed)
    return [build_article(load_bank(lang), rng, with_pii=False, with_toxic=False).body_text for _ in range(n)]


def junk(lang: str, n: int, seed: int) -> list[str]:
    """Low-quality text in the language: keyword-stuffed spam and lists of headlines (tag/sitemap pages)."""
    rng, bank = random.Random(seed), load_bank(lang)
    docs = []
    for i in range(n):
        if i % 2:
            keywords = rng.sample(bank.slots["kw"], 3)
            docs.append(" ".join(rng.choice(keywords) for _ in range(rng.randint(30, 60))))
        else:
            titles = [Slots(bank, rng).fill(rng.choice(bank.titles[rng.choice(bank.topics)])) for _ in range(30)]
            docs.append("\n".join(titles))
    return docs


def write_text(path: Path, docs: list[str]) -> str:
    """A text source: documents separated by blank lines."""
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return str(path)


def write_junk_warc(path: Path, lang: str, n: int, seed: int) -> str:
    """A crawl of low-quality pages (link lists, keyword stuffing) made by the synthetic generator's own page makers."""
    rng = random.Random(seed)
    sites = build_sites(load_bank(lang), rng)
    with path.open("wb") as f:
        writer = WarcWriter(f)
        for i in range(n):
            url, html = (link_list if i % 2 else keyword_stuffing)(rng.choice(sites), rng, 1000 + i, MOMENT)
            block = http_response(200, [("Content-Type", "text/html; charset=utf-8")], html.encode("utf-8"), MOMENT)
            writer.write(
                "response",
                record_id(rng),
                MOMENT,
                "application/http; msgtype=response",
                block,
                [("WARC-Target-URI", url)],
            )
    return str(path)


def write_run_dir(run: Path, docs: dict[str, list[str]]) -> str:
    """A sieve run folder with one kept shard holding the given documents per language."""
    rows = [
        Document(warc_file="crawl.warc.gz", warc_offset=i, text=text, language=lang, language_score=0.99).kept_row()
        for lang, texts in docs.items()
        for i, text in enumerate(texts)
    ]
    pii = load_config().pii.model_copy(update={"enabled": False})  # PII is not what these tests are about
    write_rows(rows, KEPT, str(run / "kept" / "crawl-0000.parquet"), pii)
    return str(run)


def scores(model_path: str, lang: str, texts: list[str]) -> list[float]:
    stage = QualityClassifier(_with_models(load_config(), {lang: model_path}))
    return [
        stage.annotate(Document(warc_file="x", warc_offset=0, text=t, language=lang))["quality_score"] for t in texts
    ]


def _with_models(cfg, models: dict[str, str]):
    classifier = cfg.quality.classifier.model_copy(update={"enabled": True, "models": models})
    return cfg.model_copy(update={"quality": cfg.quality.model_copy(update={"classifier": classifier})})


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    """Positive and negative sources of each kind, en and vi."""
    d = tmp_path_factory.mktemp("sources")
    out = {}
    for lang, seed in (("en", 1), ("vi", 2)):
        out[f"{lang}/clean.txt"] = write_text(d / f"{lang}-clean.txt", articles(lang, 120, seed))
        out[f"{lang}/junk.txt"] = write_text(d / f"{lang}-junk.txt", junk(lang, 120, seed))
        out[f"{lang}/junk.warc.gz"] = write_junk_warc(d / f"{lang}-junk.warc.gz", lang, 120, seed)
    # One run folder with kept rows in three languages: only --lang's rows may be read.
    out["run"] = write_run_dir(
        d / "runs" / "abc", {lang: articles(lang, 120, seed + 10) for lang, seed in (("en", 1), ("vi", 2), ("de", 3))}
    )
    return out


# (positive sources, negative sources) per source kind; en negatives also hold the real crawl's pages.
KINDS = {
    "text": (["{lang}/clean.txt"], ["{lang}/junk.txt"]),
    "warc": (["{lang}/clean.txt"], ["{lang}/junk.warc.gz"]),
    "run_dir": (["run"], ["{lang}/junk.txt"]),
}


@pytest.fixture(scope="module")
def models(sources, tmp_path_factory) -> dict[tuple[str, str], dict]:
    """One model per (source kind, language), trained once for the tests below."""
    trained = {}
    for kind, (pos, neg) in KINDS.items():
        for lang in ("en", "vi"):
            out = tmp_path_factory.mktemp(f"model-{kind}-{lang}")
            negatives = [sources[s.format(lang=lang)] for s in neg]
            if kind == "warc" and lang == "en":
                negatives.append(str(DATA / "warcfile.warc.gz"))
            info = train([sources[s.format(lang=lang)] for s in pos], negatives, lang, str(out), seed=0)
            trained[kind, lang] = {"info": info, "dir": out, "path": str(out / f"{lang}.bin")}
    return trained


@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_held_out_clean_text_scores_higher_than_junk(models, kind, lang):
    model = models[kind, lang]
    info = model["info"]
    assert info["held_out_metrics"]["accuracy"] >= 0.9, info["held_out_metrics"]
    assert json.loads((model["dir"] / INFO).read_text())[lang] == info
    clean = scores(model["path"], lang, articles(lang, 30, seed=99))  # articles no model has seen
    spam = scores(model["path"], lang, junk(lang, 30, seed=99))
    assert statistics.median(clean) > 0.5 > statistics.median(spam), (statistics.median(clean), statistics.median(spam))
    assert min(clean) > statistics.median(spam)


def test_each_source_kind_reads_only_documents_in_the_language(models):
    """The WARC is extracted and language-identified as a run does: 1 of the real crawl's 16 pages is English (a
    Chinese page whose precise extraction was an English copyright line is extracted as its Chinese text now), and
    keyword spam that language id scores below languages.en.min_language_score is left out; the run folder's kept
    rows are filtered by language; the text files are read whole."""
    (spam_read, spam_en), real = [
        (s["documents_read"], s["documents_in_language"]) for s in models["warc", "en"]["info"]["negative_sources"]
    ]
    assert spam_read == 120 and 40 < spam_en < 120 and real == (16, 1)
    for lang in ("en", "vi"):
        run = models["run_dir", lang]["info"]["positive_sources"][0]
        assert (run["documents_read"], run["documents_in_language"]) == (120, 120)  # not the other languages' 240
        assert models["text", lang]["info"]["documents"]["positive"] == 120


def test_same_inputs_and_seed_give_the_same_model_bytes(sources, models, tmp_path):
    first = models["text", "vi"]
    train([sources["vi/clean.txt"]], [sources["vi/junk.txt"]], "vi", str(tmp_path), seed=0)
    assert (tmp_path / "vi.bin").read_bytes() == Path(first["path"]).read_bytes()
    assert json.loads((tmp_path / INFO).read_text())["vi"] == first["info"]


def test_cli_trains_with_max_docs_and_records_both_languages_in_one_folder(sources, tmp_path, capsys):
    for lang in ("en", "vi"):
        assert (
            main(
                [
                    "quality",
                    "train",
                    "--positive",
                    sources[f"{lang}/clean.txt"],
                    "--negative",
                    sources[f"{lang}/junk.txt"],
                    "--lang",
                    lang,
                    "--output",
                    str(tmp_path),
                    "--max-docs",
                    "40",
                ]
            )
            == 0
        )
    info = json.loads((tmp_path / INFO).read_text())
    assert sorted(info) == ["en", "vi"] and (tmp_path / "en.bin").is_file() and (tmp_path / "vi.bin").is_file()
    assert info["vi"]["documents"] == {"positive": 40, "negative": 40, "train": 72, "held_out": 8}
    assert f"quality.classifier.models.vi: {tmp_path / 'vi.bin'}" in capsys.readouterr().out


def test_language_without_a_model_is_annotated_not_scored(models):
    cfg = _with_models(load_config(), {"en": models["text", "en"]["path"]})
    stage = QualityClassifier(cfg)
    doc = Document(warc_file="x", warc_offset=0, text=HAND_CLEAN["vi"], language="vi")
    signals = stage.annotate(doc)
    assert signals == {"quality_score": None, "classifier_missing": "no_model"}
    assert stage.decide(doc, signals) is None


def test_min_score_drops_junk_with_reason_and_keeps_clean_text(models, tmp_path):
    path = models["text", "en"]["path"]
    cfg = load_config(
        write_config(
            tmp_path / "c.yaml",
            (
                f"quality:\n  classifier:\n    enabled: true\n    models: {{en: {path}}}\n"
                "languages:\n  en:\n    classifier:\n      min_score: 0.5\n"
            ),
        )
    )
    stage = build_filters(cfg)[-1]
    assert isinstance(stage, QualityClassifier)
    spam = Document(warc_file="x", warc_offset=0, text=junk("en", 1, seed=5)[0], language="en")
    clean = Document(warc_file="x", warc_offset=1, text=articles("en", 1, seed=5)[0], language="en")
    drop = stage.decide(spam, stage.annotate(spam))
    assert isinstance(drop, Drop) and (drop.stage, drop.reason) == ("classifier", "min_score")
    assert drop.details.startswith("quality_score 0.") and drop.details.endswith("< 0.5")
    assert stage.decide(clean, stage.annotate(clean)) is None
    assert load_config().language("vi").classifier.min_score is None  # by default the stage only annotates


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: str(d / "nope.txt"), "not found"),
        (lambda d: write_text(d / "empty.txt", []), "no documents in it"),
        (
            lambda d: write_text(
                d / "de.txt",
                [
                    "Der Stadtrat hat am Dienstag nach einer langen Debatte über die Finanzierung "
                    "der Schulen den neuen Haushalt beschlossen."
                ]
                * 3,
            ),
            "none of its 3 documents is vi text (languages found: de 3)",
        ),
        (lambda d: str(DATA / "warcfile.warc.gz"), "none of its 16 documents is vi text"),
        (lambda d: write_run_dir(d / "run", {"en": ["Only English rows here."]}), "no kept vi rows in it"),
    ],
)
def test_bad_sources_name_the_source_and_the_problem(sources, tmp_path, make, message):
    bad = make(tmp_path)
    with pytest.raises(UsageError, match="--negative") as e:
        train([sources["vi/clean.txt"]], [bad], "vi", str(tmp_path / "out"))
    assert bad in str(e.value) and message in str(e.value)


def test_cli_reports_a_bad_source_as_one_line(sources, tmp_path, capsys):
    assert (
        main(
            [
                "quality",
                "train",
                "--positive",
                str(tmp_path / "missing.txt"),
                "--negative",
                sources["en/junk.txt"],
                "--lang",
                "en",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("sieve: error: --positive ") and "missing.txt: not found" in err


def test_a_configured_model_that_is_missing_fails_when_the_stages_are_built(tmp_path):
    cfg = _with_models(load_config(), {"vi": str(tmp_path / "vi.bin")})
    with pytest.raises(FileNotFoundError, match="quality.classifier.models.vi"):
        QualityClassifier(cfg)
