"""Torn and stale files in a run folder, injected into real files: a range part cut short, gone or rewritten, a range
marker cut short, a committed shard cut short, gone or rewritten, a commit marker cut short, a published shard cut
short, an input file replaced under its name. Each is caught where a rerun would reuse it, so its work is done again
(or, for the changed input, the run is refused in one line), never merged or published. The markers are checked in
this process, on a run folder made with no stage (rows kept as read); tests/test_signals.py resumes a real stopped run
past torn files end to end."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from sieve.flows.cli import main
from sieve.flows.plan import InputFile, plan_inputs
from sieve.flows.publish import (
    check_unchanged,
    commit,
    committed,
    config_identity,
    finished_ranges,
    manifest_for,
    run_folder,
    up_to_date,
)
from sieve.schemas.config import Config, load_config
from sieve.schemas.errors import UsageError
from sieve.transforms.parquet import finished_range, merge_file
from sieve.transforms.ranges import process_range
from sieve.transforms.stages import build_filters
from sieve.transforms.summary import summarize
from sieve.transforms.warc import split_warc
from tests.conftest import LIGHT_CONFIG, write_config

COMMITTED, UNFINISHED = "articles-sample.warc.gz", "warcfile.warc.gz"


@dataclass
class Staged:
    """A run folder as an interrupted run leaves it: COMMITTED merged into its shards with its commit marker written,
    UNFINISHED with every range finished (parts and markers) and none merged."""

    crawl: Path
    out: Path
    config: str
    cfg: Config
    run_dir: str
    files: list[InputFile]
    sources: dict[str, dict]  # name -> the input as its range markers record it
    ranges: list[tuple[int, int]]  # UNFINISHED's

    def marker(self, start: int) -> Path:
        return next(Path(self.run_dir, "ranges").glob(f"warcfile-*-{start:015d}-*.json"))

    def part(self, start: int) -> Path:
        return Path(self.run_dir, json.loads(self.marker(start).read_text())["parts"]["kept"]["path"])

    def shard(self) -> Path:
        """COMMITTED's kept shard."""
        return Path(self.run_dir, committed(self.run_dir, self.files)[COMMITTED]["shards"]["kept"]["path"])


@pytest.fixture
def staged(data_dir, tmp_path) -> Staged:
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    for name in (COMMITTED, UNFINISHED):
        shutil.copy(data_dir / name, crawl / name)
    config = write_config(tmp_path / "torn.yaml", LIGHT_CONFIG)
    cfg, out = load_config(config), tmp_path / "out"
    run_dir, files, stages = run_folder(str(out), config_identity(cfg)), plan_inputs([str(crawl)]), build_filters(cfg)
    sources, results = {}, {}
    for f in files:
        cut, sha256 = split_warc(f.uri, cfg.read.records_per_split)
        sources[f.name] = {**f.as_dict(), "sha256": sha256}
        results[f.name] = [process_range(cfg, stages, run_dir, sources[f.name], *r, given_up={}) for r in cut]
    merge_file(run_dir, cfg.output, results[COMMITTED])
    ranges = [(r["start"], r["end"]) for r in results[UNFINISHED]]
    return Staged(crawl, out, config, cfg, run_dir, files, sources, ranges)


def flip_a_byte(path: Path) -> None:
    """Change one byte in the middle of a file: same size, other content (a bad disk, a replaced copy)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_finished_range_is_reused_only_while_its_marker_and_every_part_are_as_written(staged, caplog):
    source = staged.sources[UNFINISHED]
    (first, _), (second, _), (third, _), (fourth, _), (fifth, _) = staged.ranges
    assert all(finished_range(staged.run_dir, source, *r) is not None for r in staged.ranges)

    part = staged.part(first)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    staged.part(second).unlink()
    flip_a_byte(staged.part(third))
    staged.marker(fourth).write_text(staged.marker(fourth).read_text()[:50])
    other_version = {**source, "size": source["size"] + 1}
    with caplog.at_level(logging.WARNING, logger="sieve"):
        reused = {start: finished_range(staged.run_dir, source, start, end) for start, end in staged.ranges[:4]}
        assert finished_range(staged.run_dir, other_version, *staged.ranges[4]) is None
    assert reused == dict.fromkeys((first, second, third, fourth))
    said = [r.getMessage() for r in caplog.records]
    starts = (first, second, third, fourth, fifth)
    assert len(said) == 5 and all(f"@{start}: reading this record range again" in m for start, m in zip(starts, said))
    assert "where its marker records" in said[0] and "is gone" in said[1] and "another SHA-256" in said[2]
    assert "cannot be read" in said[3] and "another version of the input file" in said[4]

    redone = process_range(
        staged.cfg, build_filters(staged.cfg), staged.run_dir, source, *staged.ranges[0], given_up={}
    )
    assert finished_range(staged.run_dir, source, *staged.ranges[0]) == redone

    # a temp file that a killed write left beside the markers is no marker
    (Path(staged.run_dir, "ranges") / f".{staged.marker(fifth).name}.tmp-4242").write_text('{"source"')
    assert len(finished_ranges(staged.run_dir, staged.files)) == len(
        list(Path(staged.run_dir, "ranges").glob("*.json"))
    )


def test_a_committed_file_whose_shard_or_marker_is_torn_or_replaced_is_done_again(staged, caplog):
    shard = staged.shard()
    written = shard.read_bytes()
    flip_a_byte(shard)
    assert COMMITTED in committed(staged.run_dir, staged.files)  # the sizes alone (publish, the passes) cannot tell
    with caplog.at_level(logging.WARNING, logger="sieve"):
        assert COMMITTED not in committed(staged.run_dir, staged.files, checksums=True)  # a resume reads it back
        shard.write_bytes(written[:-100])
        assert COMMITTED not in committed(staged.run_dir, staged.files)
        shard.unlink()
        assert COMMITTED not in committed(staged.run_dir, staged.files)
        shard.write_bytes(written)
        assert COMMITTED in committed(staged.run_dir, staged.files, checksums=True)
        done = next(Path(staged.run_dir, "done").glob("*.json"))
        done.write_text(done.read_text()[:100])
        assert committed(staged.run_dir, staged.files) == {}
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 4 and all(m.startswith(f"{COMMITTED}: doing this file again: ") for m in said)
    assert "another SHA-256" in said[0] and "where its marker records" in said[1]
    assert "is gone" in said[2] and "commit marker is torn" in said[3]


def test_a_published_output_with_a_torn_shard_is_not_up_to_date(staged, caplog):
    files = [f for f in staged.files if f.name == COMMITTED]
    markers = committed(staged.run_dir, files)
    identity = config_identity(staged.cfg)
    manifest = manifest_for(summarize(staged.run_dir, files, markers), files, markers, {}, identity, {}, {})
    commit(str(staged.out), manifest)
    assert up_to_date(str(staged.out), files, identity) == manifest
    shard = staged.out / manifest["shards"]["kept"][0]["path"]
    shard.write_bytes(shard.read_bytes()[:-1])
    with caplog.at_level(logging.WARNING, logger="sieve"):
        assert up_to_date(str(staged.out), files, identity) is None  # the run goes on: that file is done again
    assert "is not as its manifest lists it" in caplog.records[-1].getMessage()


def test_an_input_replaced_under_its_name_is_refused_in_one_line_unless_forced(staged, data_dir, capsys):
    shutil.copy(data_dir / "clipped.warc.gz", staged.crawl / UNFINISHED)  # its finished ranges read another file
    (staged.crawl / COMMITTED).touch()  # committed, then modified: even unchanged bytes are not trusted
    command = ["run", "--input", str(staged.crawl), "--output", str(staged.out), "--config", staged.config]
    assert main([*command, "--workers", "1"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"sieve: error: input {COMMITTED} (modified ") and " and 1 more changed since " in line
    assert line.endswith("run again with --force to start over in a fresh run folder")
    files = plan_inputs([str(staged.crawl)])
    with pytest.raises(UsageError, match=rf"input {UNFINISHED} \(size 135896 -> 18184 bytes, modified .*\) changed"):
        check_unchanged(staged.run_dir, [f for f in files if f.name == UNFINISHED])
    forced = run_folder(str(staged.out), config_identity(staged.cfg), force=True)
    assert forced != staged.run_dir
    check_unchanged(forced, files)  # --force starts a fresh run folder, where nothing is recorded yet
