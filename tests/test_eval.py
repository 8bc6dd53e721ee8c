"""`sieve eval` (flows/tools/truth_eval.py) on the session's synthetic run, published as an output folder: every check's counts
are compared with counts made here straight from truth.json and the shards, and a truth with wrong labels moves
precision and recall as it must."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sieve.flows.cli import main
from sieve.flows.synth.lowq import PAGES
from sieve.flows.tools.evaluate import shingle_f1
from sieve.flows.tools.truth_eval import evaluate
from sieve.schemas.config import load_config
from sieve.schemas.errors import UsageError
from sieve.transforms.stages import stage_names
from tests.browser import Chromium
from tests.test_card import publish_card

pytestmark = pytest.mark.slow  # reads the session's synthetic Beam run (conftest synth_run)

QUALITY = {"gopher_quality", "c4", "fineweb", "gopher_repetition", "perplexity", "classifier"}


@pytest.fixture(scope="module")
def synth_output(synth_corpus, synth_run, tmp_path_factory) -> tuple[str, dict, Path]:
    """(output folder, manifest, truth.json): the synthetic run published as `sieve run` would (how the run was made:
    conftest's run_beam, DirectRunner with 2 workers, one Beam job)."""
    out = tmp_path_factory.mktemp("eval") / "out"
    manifest = publish_card(synth_corpus, synth_run, out)
    manifest["run"] = {
        "runner": "DirectRunner",
        "workers": 2,
        "seconds": 1.0,
        "files_resumed": 0,
        "batches": [{"files": 1}],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return str(out), manifest, synth_corpus / "truth.json"


def shard_rows(out: str, manifest: dict) -> dict[str, dict]:
    """WARC-Record-ID -> its row (kept rows get stage "kept")."""
    rows = {}
    for kind in ("kept", "dropped"):
        for shard in manifest["shards"][kind]:
            for row in pq.read_table(f"{out}/{shard['path']}").to_pylist():
                rows[row["warc_record_id"]] = {"stage": "kept", "reason": None, **row}
    return rows


def by_name(result: dict) -> dict[str, dict]:
    return {c["check"]: c for c in result["checks"]}


def counted_drops(records: list[dict], rows: dict, stages: set[str], label) -> dict[str, int]:
    """planted, reached, flagged, correct and removed of the stages' drops against label, counted directly."""
    before = set(["read", *stage_names(load_config())][: min(stage_names(load_config()).index(s) for s in stages) + 1])
    planted = [r for r in records if label(r)]
    flagged = [r for r in records if rows[r["record_id"]]["stage"] in stages and label(r) is not None]
    return {
        "planted": len(planted),
        "reached": sum(rows[r["record_id"]]["stage"] not in before for r in planted),
        "flagged": len(flagged),
        "correct": sum(bool(label(r)) for r in flagged),
        "removed": sum(rows[r["record_id"]]["stage"] != "kept" for r in planted),
    }


def counted_duplicates(records: list[dict], rows: dict, cluster: str, reason: str, grey: set[str]) -> dict[str, int]:
    """Per truth cluster id (the truth's own grouping): copies to remove among the members that reached dedup (one
    stays), and the rows dedup removed for the reason; grey copies (below the threshold) are neither."""
    groups: dict[int, list[str]] = {}
    for r in records:
        if r[cluster] is not None:
            groups.setdefault(r[cluster], []).append(r["record_id"])
    removed = {rid for rid, row in rows.items() if row["stage"] == "dedup" and row["reason"] == reason}
    removed &= {r["record_id"] for r in records}
    grouped = {rid for members in groups.values() for rid in members}
    reached = correct = 0
    for members in groups.values():
        scored = [m for m in members if m not in grey]
        should_go = max(sum(rows[m]["stage"] in ("kept", "dedup") for m in scored) - 1, 0)
        reached += should_go
        correct += min(len(removed.intersection(scored)), should_go)
    unscored = len(removed & grey)
    assert removed - grey <= grouped  # in this run dedup removed no document the truth calls distinct
    return {"reached": reached, "flagged": len(removed) - unscored, "correct": correct, "unscored": unscored}


def test_every_check_matches_counts_made_from_the_truth_and_the_shards(synth_output):
    out, manifest, truth_path = synth_output
    cfg = load_config()
    records = json.loads(truth_path.read_text())["records"]
    rows = shard_rows(out, manifest)
    result = evaluate(out, manifest, cfg, str(truth_path))
    checks = by_name(result)
    assert result["records"] == {"truth": 300, "in_run": 300}

    keep = set(cfg.language_id.keep)
    expected = {
        "language filter": counted_drops(
            records,
            rows,
            {"language_gate", "language_id"},
            lambda r: None if r["lang"] is None else r["lang"] not in keep,
        ),
        "low quality": counted_drops(records, rows, QUALITY & set(stage_names(cfg)), lambda r: r["kind"] in PAGES),
        "toxicity": counted_drops(records, rows, {"toxicity"}, lambda r: r["toxic"]),
    }
    for name, counts in expected.items():
        assert {k: checks[name][k] for k in counts} == counts, name
        assert checks[name]["precision"] == round(counts["correct"] / counts["flagged"], 4)
        assert checks[name]["recall"] == round(counts["correct"] / counts["reached"], 4)
    assert checks["low quality"]["reached"] < checks["low quality"]["planted"]  # language id takes some first
    assert checks["language filter"]["unscored"] == sum(
        rows[r["record_id"]]["stage"] in ("language_gate", "language_id") for r in records if r["lang"] is None
    )

    given = {
        rid: row["language"] or (row["signals"]["language_gate"] or {}).get("language") for rid, row in rows.items()
    }
    truth_lang = [r for r in records if r["lang"] and given[r["record_id"]]]
    for lang in ("en", "vi", "fr"):
        c = checks[f"language id: {lang}"]
        assert c["planted"] == sum(r["lang"] == lang for r in truth_lang)
        assert c["flagged"] == sum(given[r["record_id"]] == lang for r in truth_lang)
        assert c["correct"] == sum(r["lang"] == lang == given[r["record_id"]] for r in truth_lang)

    threshold = cfg.dedup.near.threshold
    grey = {r["record_id"] for r in records if r["kind"] == "near_duplicate" and r["near_dup_jaccard"] < threshold}
    for name, cluster, reason, kind in (
        ("exact duplicates", "dup_cluster", "exact_duplicate", "exact_duplicate"),
        ("near duplicates", "near_dup_cluster", "near_duplicate", "near_duplicate"),
    ):
        counts = counted_duplicates(records, rows, cluster, reason, grey)
        assert {k: checks[name][k] for k in counts} == counts, name
        assert checks[name]["planted"] == sum(r["kind"] == kind and r["record_id"] not in grey for r in records)
        assert counts["reached"] > 0 and checks[name]["recall"] == round(counts["correct"] / counts["reached"], 4)

    planted: dict[str, list[bool]] = {}
    replaced: dict[str, int] = {}
    for r in records:
        for entity, n in rows[r["record_id"]]["pii_counts"]:
            replaced[entity] = replaced.get(entity, 0) + n
        text = rows[r["record_id"]]["text"]
        if text is None:
            continue
        digits = "".join(ch for ch in text if ch.isdigit())
        for p in r["pii"]:
            value_digits = "".join(ch for ch in p["value"] if ch.isdigit())
            left = p["value"] in text or (p["type"] != "email" and value_digits in digits)
            entity = {"email": "EMAIL_ADDRESS", "ipv4": "IP_ADDRESS", "credit_card": "CREDIT_CARD"}.get(
                p["type"], "PHONE_NUMBER" if p["type"].startswith("phone") else p["type"].upper()
            )
            planted.setdefault(entity, []).append(not left)
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "VN_CCCD", "IP_ADDRESS"} <= set(planted)
    assert {c["check"] for c in checks.values() if c["stage"] == "pii"} == {f"PII: {e}" for e in {*planted, *replaced}}
    for entity, gone in planted.items():
        c = checks[f"PII: {entity}"]
        assert (c["planted"], c["correct"], c["flagged"]) == (len(gone), sum(gone), replaced.get(entity, 0)), entity

    kept_articles = [
        (rows[r["record_id"]]["text"], r) for r in records if r["body_text"] and rows[r["record_id"]]["stage"] == "kept"
    ]
    scores = [
        shingle_f1(text, "\n".join(x for x in r["body_text"].splitlines() if x not in r["boilerplate"]))
        for text, r in kept_articles
    ]
    text = checks["article text"]
    assert text["planted"] == len(kept_articles) == manifest["counts"]["kept"]
    assert text["precision"] == round(sum(s[0] for s in scores) / len(scores), 4) and 0.9 < text["precision"] <= 1


def test_wrong_labels_in_the_truth_lower_precision_and_recall(synth_output, tmp_path):
    out, manifest, truth_path = synth_output
    truth = json.loads(truth_path.read_text())
    rows = shard_rows(out, manifest)
    records = truth["records"]
    kept_en = [
        r for r in records if r["kind"] == "article" and r["lang"] == "en" and rows[r["record_id"]]["stage"] == "kept"
    ]
    toxic = [r for r in records if r["toxic"]]
    for r in kept_en[:3]:  # called toxic: three misses of the toxicity stage
        r["toxic"] = True
    toxic[0]["toxic"] = False  # called clean: a wrong drop
    a, b = kept_en[3], kept_en[4]  # two distinct articles called exact copies: one copy dedup should have removed
    b.update(kind="exact_duplicate", dup_source=a["record_id"])
    wrong = tmp_path / "truth.json"
    wrong.write_text(json.dumps(truth))

    checks = by_name(evaluate(out, manifest, load_config(), str(wrong)))
    honest = by_name(evaluate(out, manifest, load_config(), str(truth_path)))
    tox = checks["toxicity"]
    assert (tox["planted"], tox["flagged"], tox["correct"], tox["removed"]) == (
        len(toxic) + 2,
        len(toxic),
        len(toxic) - 1,
        len(toxic) - 1,
    )
    assert tox["precision"] == round((len(toxic) - 1) / len(toxic), 4)
    assert tox["recall"] == round((len(toxic) - 1) / (len(toxic) + 2), 4)
    exact, before = checks["exact duplicates"], honest["exact duplicates"]
    assert exact["planted"] == before["planted"] + 1 and exact["reached"] == before["reached"] + 1
    assert exact["correct"] == before["correct"] and exact["recall"] < before["recall"]


def test_sieve_eval_prints_the_table_and_writes_eval_json_and_a_report_section(synth_output, capsys):
    out, manifest, truth_path = synth_output
    assert main(["eval", out, "--truth", str(truth_path)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(Path(out, "eval.json").read_text())
    assert written == evaluate(out, manifest, load_config(), str(truth_path))
    for c in written["checks"]:
        assert f"| {c['check']} " in printed
    page = Path(out, "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="truth">') :].split("</section>", 1)[0]
    assert section.count("<tr>") == len(written["checks"]) + 1  # the header and one row per check
    scored = [c for c in written["checks"] if c["precision"] is not None or c["recall"] is not None]
    chart = section.split('<figure class="chart"', 1)[1].split("</figure>", 1)[0]
    assert chart.count("<rect ") >= 2 * len(scored)  # a precision and a recall bar per scored check, and the frame
    with Chromium() as browser:
        browser.load(Path(out, "report.html").as_uri())
        assert browser.errors() == []
        assert browser.evaluate("document.querySelector('#truth figure.chart svg').getBoundingClientRect().width") > 100
        assert browser.evaluate("document.querySelectorAll('#truth tbody tr').length") == len(written["checks"])


def test_a_truth_file_that_is_not_this_corpus_s_is_one_clear_error(synth_output, tmp_path, capsys):
    out, manifest, truth_path = synth_output
    other = tmp_path / "other.json"
    truth = json.loads(truth_path.read_text())
    for r in truth["records"]:
        r["record_id"] = r["record_id"].replace("urn:uuid:", "urn:uuid:0")
    other.write_text(json.dumps(truth))
    with pytest.raises(UsageError, match="none of its 300 records is in"):
        evaluate(out, manifest, load_config(), str(other))
    broken = tmp_path / "broken.json"
    broken.write_text('{"records": [{"url": "x"}]}')
    assert main(["eval", out, "--truth", str(broken)]) == 2
    assert f"sieve: error: {broken}: not a truth.json of `sieve synth`" in capsys.readouterr().err
