"""No planted PII value reaches any file a real `sieve run` writes: kept and dropped Parquet, manifest, report, logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session

_JOINED = re.compile(r"(?<=\d)[\W_]+(?=\d)")  # "0912 345 678", "(212) 555-0199", "0912_345–678" -> digits side by side


def _strings(path: Path) -> list[str]:
    """Every string a written file holds: all string cells of a Parquet file (nested ones too), else its text."""
    if path.suffix != ".parquet":
        return [path.read_bytes().decode("utf-8", errors="replace")]
    table = pq.read_table(path)
    while any(pa.types.is_struct(c.type) for c in table.columns):
        table = table.flatten()
    out = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out += [v for v in column.to_pylist() if v]
    return out


def test_no_planted_value_survives_in_any_output(synth_corpus, tmp_path):
    truth = json.loads((synth_corpus / "truth.json").read_text(encoding="utf-8"))
    planted = {p["value"] for r in truth["records"] for p in r.get("pii", [])}
    planted_vi = {p["value"] for r in truth["records"] if r.get("lang") == "vi" for p in r.get("pii", [])}
    assert len(planted) >= 30 and planted_vi  # enough to mean something, on pages in both languages
    # Only English is kept, so the Vietnamese pages and their PII end in dropped/, whose text is kept scrubbed (the
    # language gate is off: it would drop them before extraction, with no text to leak).
    config = write_config(tmp_path / "c.yaml", "language_id:\n  keep: [en]\nlanguage_gate:\n  enabled: false\n")
    out = tmp_path / "out"
    cmd = [
        str(Path(sys.executable).parent / "sieve"),
        "run",
        "--input",
        str(synth_corpus / "corpus.warc.gz"),
        "--output",
        str(out),
        "--config",
        config,
        "--workers",
        "1",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    (out / "run.log").write_text(result.stdout + result.stderr, encoding="utf-8")

    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.match("*/dropped/*.parquet") for p in files) and (out / "manifest.json").exists()
    digit_forms = {v: "".join(c for c in v if c.isdigit()) for v in planted}
    leaks, scrubbed_vi_rows = [], 0
    for path in files:
        for s in _strings(path):
            joined = _JOINED.sub("", s)
            leaks += [
                (path.name, v)
                for v, d in digit_forms.items()
                if v in s or (len(d) >= 9 and "@" not in v and d in joined)
            ]
            scrubbed_vi_rows += path.match("*/dropped/*.parquet") and ("<PHONE>" in s or "<ID>" in s)
    assert leaks == []
    assert scrubbed_vi_rows > 0  # the dropped Vietnamese pages kept their text, with placeholders
