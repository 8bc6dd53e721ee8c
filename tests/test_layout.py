"""The output layout (transforms/layout.py) finds a real run's shards and run folder from its output folder (through
the manifest) and from the run folder itself, the same files either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from sieve.transforms import layout

pytestmark = pytest.mark.slow  # reads the session's `sieve run` (conftest crawl_run)


@pytest.mark.parametrize("kind", ["kept", "dropped"])
def test_an_output_and_its_run_folder_list_the_same_shards(crawl_run, kind):
    out, manifest, _ = crawl_run
    run = layout.run_dir(str(out))
    assert run == str(out / manifest["run_dir"]) and Path(run).parent.name == layout.RUNS

    from_output = layout.shards(str(out), kind)
    assert from_output == [str(out / s["path"]) for s in manifest["shards"][kind]] and from_output
    assert sorted(layout.shards(run, kind)) == sorted(from_output) == sorted(str(p) for p in Path(run, kind).iterdir())


def test_a_folder_without_manifest_or_shards_is_neither(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    assert layout.shards(str(tmp_path)) is None and layout.run_dir(str(tmp_path)) is None
    assert layout.read_manifest(str(tmp_path)) is None
