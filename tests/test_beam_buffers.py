"""transforms/beam_buffers.py: every SDK worker of a real multi-process DirectRunner job bounds its data-plane
buffers, and elements larger than a message still arrive whole."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import apache_beam as beam
import pytest

from sieve.transforms import beam_buffers
from sieve.transforms.pipeline import pipeline_options


def _worker_buffers(_: int) -> tuple[int, tuple]:
    """(pid, the data plane's sizes) as the worker running this sees them."""
    from apache_beam.runners.worker import data_plane

    stream = data_plane.SizeBasedBufferingClosableOutputStream.__init__.__defaults__
    sizes = (
        data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD,
        data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES,
        data_plane._DEFAULT_RECEIVE_QUEUE_MAX_ELEMENTS,
        stream[2],
    )
    return os.getpid(), sizes


def _blob(i: int) -> tuple[int, bytes]:
    """Element i: a few bytes, or 3 MiB (three messages' worth) for every fourth."""
    return i % 3, hashlib.sha256(str(i).encode()).digest() * ((3 << 20) // 32 if i % 4 == 0 else 1)


def _write(item: tuple[int, list[bytes]], folder: str) -> None:
    key, blobs = item
    digests = sorted(hashlib.sha256(b).hexdigest() for b in blobs)
    Path(folder, f"{key}.json").write_text(json.dumps({"sizes": sorted(map(len, blobs)), "digests": digests}))


def test_every_sdk_worker_of_a_two_process_job_bounds_its_buffers_and_big_elements_arrive_whole(tmp_path):
    seen, out = tmp_path / "seen", tmp_path / "out"
    seen.mkdir()
    out.mkdir()
    with beam.Pipeline(options=pipeline_options("DirectRunner", 2, [])) as p:
        numbers = p | beam.Create(range(40)) | "Spread" >> beam.Reshuffle()
        (
            numbers
            | "Buffers" >> beam.Map(_worker_buffers)
            | "Record" >> beam.Map(lambda r, d: Path(d, f"{r[0]}.json").write_text(json.dumps(r[1])), str(seen))
        )
        numbers | "Blobs" >> beam.Map(_blob) | beam.GroupByKey() | "Write" >> beam.Map(_write, str(out))

    workers = {int(f.stem): json.loads(f.read_text()) for f in seen.iterdir()}
    assert workers and os.getpid() not in workers  # SDK worker processes, not this one
    expected = [beam_buffers.MESSAGE_BYTES, beam_buffers.QUEUED_BYTES, beam_buffers.RECEIVED_MESSAGES]
    assert all(sizes == [*expected, beam_buffers.MESSAGE_BYTES] for sizes in workers.values())

    for key in range(3):
        blobs = [_blob(i)[1] for i in range(40) if i % 3 == key]
        got = json.loads((out / f"{key}.json").read_text())
        assert got["sizes"] == sorted(map(len, blobs))
        assert got["digests"] == sorted(hashlib.sha256(b).hexdigest() for b in blobs)


def test_a_renamed_beam_parameter_is_an_error_naming_this_module():
    def stream(close_callback=None, flush_size=10):
        return close_callback, flush_size

    with pytest.raises(KeyError, match="beam_buffers"):
        beam_buffers._set_default(stream, "size_flush_threshold", 1)
    beam_buffers._set_default(stream, "flush_size", 1)
    assert stream() == (None, 1)
