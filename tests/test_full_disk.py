"""A local output whose disk fills up part way, for real: small tmpfs filesystems mounted for the test (root is needed;
without it the tests are skipped). The disk fills once in the Beam job's shard writes and once while publishing; each
time `sieve run` ends with one line that names the location, says the disk is full and to free space and run again,
exits non-zero, lists no half-written file in any marker and publishes no manifest. Once space is freed the same
command resumes from the finished work and publishes the shards that a run with room publishes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sieve.flows.cli import main
from sieve.flows.publish import config_identity, run_folder
from sieve.schemas.config import load_config
from sieve.transforms.parquet import part_path
from sieve.transforms.storage import DISK_FULL, error_line
from sieve.transforms.supervise import RangeSupervisor
from sieve.transforms.warc import split_warc
from tests.conftest import LIGHT_CONFIG, SIEVE, published_shards, write_config

INPUT = "warcfile.warc.gz"  # 50 records: 5 ranges of 10, one kept shard of about 48 KiB, report.html about 20 KiB
# Disk sizes in KiB (tmpfs counts whole 4 KiB pages). The output folder's own disk holds the lease records and
# report.md, not report.html; the kept shards' disk not one kept shard; a disk with room holds the whole run.
OUTPUT_KIB, KEPT_KIB, ROOM_KIB = 24, 16, 4096

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]  # one Prefect server for the session


class Disks:
    """tmpfs filesystems mounted for one test, unmounted (innermost first) when it ends."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def mount(self, where: Path, kib: int) -> None:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(where)], capture_output=True, text=True
        )
        if done.returncode != 0 and not self.mounted:
            pytest.skip(f"mounting a tmpfs is not permitted here (needs root): {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr
        self.mounted.append(where)

    def resize(self, where: Path, kib: int) -> None:
        """Free space: the same filesystem, with its files, made bigger."""
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(where)], check=True)

    def unmount_all(self) -> None:
        for where in reversed(self.mounted):
            subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def disks() -> Iterator[Disks]:
    mounted = Disks()
    try:
        yield mounted
    finally:
        mounted.unmount_all()


@pytest.fixture
def crawl(data_dir, tmp_path) -> Path:
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    shutil.copy(data_dir / INPUT, crawl / INPUT)
    return crawl


def run_args(crawl: Path, out: Path, config: str) -> list[str]:
    return ["run", "--input", str(crawl), "--output", str(out), "--workers", "1", "--config", config]


def one_error_line(code: int, stderr: str) -> str:
    """The line a run that ended on a full disk printed last, checked to be its only error line: exit code 1, no
    traceback once the flow ended (Beam and Prefect log the failure with its traceback as it passes them)."""
    said = stderr.strip().splitlines()
    assert code == 1 and [line for line in said if line.startswith("sieve: error: ")] == said[-1:], stderr[-3000:]
    assert "Traceback" not in stderr.split("Finished in state Failed")[-1], stderr[-3000:]
    assert said[-1].endswith(f": {DISK_FULL}")
    return said[-1]


def assert_listed_files_whole(run_dir: Path) -> None:
    """Every file that a commit marker, or the range marker of a file not yet committed, lists is there with the size
    and SHA-256 it records: the write the full disk cut short is listed nowhere. (A temp file that a write leaves beside
    markers is not one; a committed file's parts are gone, its range markers stay until the run's commit.)"""
    done = list(run_dir.glob("done/[!.]*.json"))
    ranges = [m for m in run_dir.glob("ranges/[!.]*.json") if m.name.rsplit("-", 2)[0] not in {d.stem for d in done}]
    markers = ranges + done
    assert markers
    for marker in markers:
        recorded = json.loads(marker.read_text())
        listed = [*recorded.get("parts", {}).values(), *recorded.get("shards", {}).values()]
        for entry in listed + ([recorded["unedited"]] if "unedited" in recorded else []):
            data = (run_dir / entry["path"]).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"]), entry


def test_a_full_disk_ends_the_run_in_one_line_and_the_same_command_resumes_once_space_is_freed(
    crawl, disks, tmp_path, capfd
):
    config = write_config(tmp_path / "full-disk.yaml", LIGHT_CONFIG)
    reference = tmp_path / "reference"
    assert main(run_args(crawl, reference, config)) == 0  # the same command on a disk with room

    out = tmp_path / "out"
    run_dir = Path(run_folder(str(out), config_identity(load_config(config))))
    disks.mount(out, OUTPUT_KIB)
    disks.mount(out / "runs", ROOM_KIB)
    disks.mount(run_dir / "kept", KEPT_KIB)

    # 1. The disk of the kept shards is full: the merge of the finished ranges cannot write the kept shard. (Run in
    # this process: it releases its lease, its output's disk has room.)
    capfd.readouterr()
    line = one_error_line(main(run_args(crawl, out, config)), capfd.readouterr().err)
    assert line.startswith(f"sieve: error: cannot write {run_dir}/kept/warcfile-")
    assert not (out / "manifest.json").exists() and not list(run_dir.glob("done/*.json"))
    assert_listed_files_whole(run_dir)
    finished = {p: p.read_bytes() for p in run_dir.glob("ranges/[!.]*.json")}
    assert len(finished) == 5

    # 2. Space freed there; now the output folder's disk is full: publishing cannot write the report. (The command as
    # a user types it: the lease it cannot release names a process that is gone, which the next run takes over.)
    disks.resize(run_dir / "kept", ROOM_KIB)
    done = subprocess.run([SIEVE, *run_args(crawl, out, config)], capture_output=True, text=True, timeout=300)
    line = one_error_line(done.returncode, done.stderr)
    assert line.startswith(f"sieve: error: cannot write {out}/report")
    assert f"reusing {len(finished)} finished record ranges" in done.stderr
    assert {p: p.read_bytes() for p in run_dir.glob("ranges/[!.]*.json")} == finished  # none read again
    assert not (out / "manifest.json").exists()
    assert_listed_files_whole(run_dir)

    # 3. Space freed: the same command publishes, reading nothing again, what the run with room published.
    disks.resize(out, ROOM_KIB)
    assert main(run_args(crawl, out, config)) == 0
    manifest, shards = published_shards(out)
    expected, expected_shards = published_shards(reference)
    assert manifest["run"]["files_resumed"] == 1 and manifest["run"]["batches"] == []
    assert manifest["counts"] == expected["counts"] and manifest["files"] == expected["files"]
    assert shards == expected_shards and len(shards) == 2  # its kept and dropped shard
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # the writes the disk cut short left no temp file


def test_a_full_disk_under_a_range_worker_reaches_the_command_as_its_line(crawl, disks, tmp_path):
    """A range runs in a child process (the per-document time guard), which hands its error on as text: the line
    the command prints is still found in it whole."""
    cfg = load_config(write_config(tmp_path / "full-disk.yaml", LIGHT_CONFIG))
    run_dir = tmp_path / "run"
    disks.mount(run_dir, KEPT_KIB)  # smaller than the range's kept part
    source = {"uri": str(crawl / INPUT), "name": INPUT}
    (first, end), *_ = split_warc(source["uri"], cfg.read.records_per_split)[0]
    supervisor = RangeSupervisor(cfg, str(run_dir))
    try:
        with pytest.raises(RuntimeError, match="range worker failed") as failed:
            supervisor.run(source, first, end)
    finally:
        supervisor.close()
    assert error_line(failed.value) == f"cannot write {part_path(str(run_dir), 'kept', INPUT, first, end)}: {DISK_FULL}"
