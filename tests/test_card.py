"""The dataset card (flows/card.py) read by the real Hugging Face `datasets` library, offline, on the session's
synthetic run (English and Vietnamese documents; the crawl_run of tests/data keeps English only). `sieve run`'s own
card is checked on crawl_run in test_flow.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sieve.flows.card import CARD, columns, write_card
from sieve.flows.plan import plan_inputs
from sieve.flows.publish import committed, manifest_for
from sieve.schemas.config import load_config
from sieve.schemas.tables import KEPT
from sieve.transforms.summary import summarize

pytestmark = pytest.mark.slow  # reads the session's synthetic Beam run (conftest synth_run)


def publish_card(synth_corpus: Path, synth_run: Path, out: Path, stale: bool = False) -> dict:
    """The synthetic run as an output folder: its shards linked under runs/synth/ (the shared run is never committed,
    which would clean it), the manifest publish makes of them, and the card; stale adds an unlisted kept shard, as a
    smaller rerun under the same config leaves. Returns the manifest."""
    run = out / "runs" / "synth"
    for folder in ("done", "dropped", "kept", "unedited"):  # every folder a commit marker lists files in
        (run / folder).mkdir(parents=True)
        for path in (synth_run / folder).iterdir():
            (run / folder / path.name).symlink_to(path)
    files = plan_inputs([str(synth_corpus / "corpus.warc.gz")])
    markers = committed(str(run), files)
    cfg = load_config()
    manifest = manifest_for(summarize(str(run), files, markers), files, markers, cfg.as_dict(), cfg.hash, {}, {})
    if stale:
        shutil.copy(next((run / "kept").iterdir()), run / "kept" / "stale.parquet")
    write_card(str(out), manifest, cfg)
    return manifest


def front_matter(out: Path) -> dict:
    return yaml.safe_load((out / CARD).read_text().split("---\n")[1])


def kept_rows(out: Path, manifest: dict) -> pa.Table:
    return pa.concat_tables(
        pq.read_table(out / s["path"], columns=["doc_id", "language"]) for s in manifest["shards"]["kept"]
    )


@pytest.fixture(scope="module")
def synth_output(synth_corpus, synth_run, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("card") / "out"
    return out, publish_card(synth_corpus, synth_run, out)


def test_the_card_loads_every_kept_document_and_each_language_as_a_config(synth_output, hf_datasets, tmp_path):
    out, manifest = synth_output
    rows = kept_rows(out, manifest)
    languages = manifest["kept_by_language"]
    assert set(languages) == {"en", "vi"} and sum(languages.values()) == rows.num_rows == manifest["counts"]["kept"]

    corpus = hf_datasets.load_dataset(str(out), cache_dir=str(tmp_path))["train"]
    assert sorted(corpus["doc_id"]) == sorted(rows["doc_id"].to_pylist())
    # every column but the map, typed as datasets itself reads the kept schema
    assert corpus.column_names == [f.name for f in KEPT if f.name != "pii_counts"]
    assert corpus.features == hf_datasets.Features.from_arrow_schema(pa.schema(columns()))
    for lang, n in languages.items():
        subset = hf_datasets.load_dataset(str(out), lang, cache_dir=str(tmp_path))["train"]
        expected = [d for d, lg in zip(rows["doc_id"].to_pylist(), rows["language"].to_pylist()) if lg == lang]
        assert len(subset) == n and sorted(subset["doc_id"]) == sorted(expected) and set(subset["language"]) == {lang}

    meta = front_matter(out)
    assert meta["license"] == "other" and meta["license_link"] == "https://commoncrawl.org/terms-of-use"
    assert meta["language"] == ["en", "vi"] and [c["config_name"] for c in meta["configs"]] == ["all", "en", "vi"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "runs/synth/kept/*.parquet"}]
    body = (out / CARD).read_text()
    assert f"{manifest['counts']['kept']} documents kept of {manifest['counts']['read']} WARC records" in body
    assert "| dedup " in body and "| language_id " in body  # the funnel's steps


def test_the_shards_load_as_plain_parquet_with_the_cards_columns_and_features(synth_output, hf_datasets, tmp_path):
    out, manifest = synth_output
    card = hf_datasets.load_dataset_builder(str(out), cache_dir=str(tmp_path))
    shards = [str(out / s["path"]) for s in manifest["shards"]["kept"]]
    vi = hf_datasets.load_dataset(
        "parquet",
        data_files=shards,
        columns=card.config.columns,
        features=card.info.features,
        filters=[("language", "==", "vi")],
        cache_dir=str(tmp_path),
    )["train"]
    assert len(vi) == manifest["kept_by_language"]["vi"] and set(vi["language"]) == {"vi"}


def test_unlisted_shards_in_the_run_folder_are_left_out_of_the_card(synth_corpus, synth_run, hf_datasets, tmp_path):
    out = tmp_path / "out"
    manifest = publish_card(synth_corpus, synth_run, out, stale=True)
    assert front_matter(out)["configs"][0]["data_files"][0]["path"] == [s["path"] for s in manifest["shards"]["kept"]]
    corpus = hf_datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    assert len(corpus) == manifest["counts"]["kept"]
