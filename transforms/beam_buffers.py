"""Smaller data-plane buffers for Beam's SDK workers, so that a worker's memory does not follow the size of a run.

Beam 2.77's SDK harness sends its output in messages of up to 10 MB (`_DEFAULT_SIZE_FLUSH_THRESHOLD`), queues up to
100 MB of them (`_DEFAULT_SEND_QUEUE_MAX_BYTES`), and holds up to 5 received messages per bundle
(`_DEFAULT_RECEIVE_QUEUE_MAX_ELEMENTS`, each up to the runner's 10 MB). On the local DirectRunner a worker gets half of
a stage's input as one bundle, so these buffers are empty on a small run and full on a large one: the corpus passes'
Beam worker peaked at 403 MiB on 20,000 synthetic documents and 518 MiB on 100,000 (1.29x). With 1 MiB messages, 4 MiB
queued and 2 received messages: 416 and 462 MiB (1.11x), the passes' wall time the same (34.1 / 34.0 s and 106.2 /
105.6 s; docs/scale.md). A message still carries many elements (a document table's hashes are ~100 KB), and one larger
element is sent whole, as before.

Beam imports this module in every SDK worker before it opens its data channels (`--beam_plugins`, which
pipeline_options sets for every runner); runners without an SDK harness (Dask) ignore it.
"""

from __future__ import annotations

import inspect
from typing import Any

from apache_beam.runners.worker import data_plane

MESSAGE_BYTES = 1 << 20  # a message's size before it is sent (Beam: 10 MB)
QUEUED_BYTES = 4 << 20  # messages waiting to be sent; received bytes per bundle (Beam: 100 MB)
RECEIVED_MESSAGES = 2  # received messages waiting per bundle (Beam: 5)


def _set_default(function: Any, name: str, value: Any) -> None:
    """Replace the default value of the positional parameter name of function (a KeyError names a renamed one)."""
    with_defaults = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.default is not p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    if name not in with_defaults:
        raise KeyError(f"{function.__qualname__} has no parameter {name} with a default: Beam changed, see {__name__}")
    defaults = list(function.__defaults__)
    defaults[with_defaults.index(name)] = value
    function.__defaults__ = tuple(defaults)


def bound_buffers() -> None:
    """Set the data plane's buffer sizes (module constants read when a channel or bundle queue is made; the output
    streams' flush size is a default argument, bound when Beam defined them)."""
    data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD = MESSAGE_BYTES
    data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = QUEUED_BYTES
    data_plane._DEFAULT_RECEIVE_QUEUE_MAX_ELEMENTS = RECEIVED_MESSAGES
    for stream in (
        data_plane.SizeBasedBufferingClosableOutputStream,
        data_plane.TimeBasedBufferingClosableOutputStream,
    ):
        _set_default(stream.__init__, "size_flush_threshold", MESSAGE_BYTES)


bound_buffers()  # on import: the worker imports this module as a Beam plugin
