"""transforms/beam_cache.py: the DoFn specs and option views it keeps are what Beam computes, and jobs still run."""

from __future__ import annotations

import pickle
import weakref

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate

import sieve.transforms.pipeline  # noqa: F401  (installs the cache, as every sieve job does)
from sieve.transforms import beam_cache
from sieve.transforms.pipeline import pipeline_options


class CountPerKey(beam.DoFn):
    """A stateful DoFn: the running count of each key's elements."""

    SEEN = userstate.ReadModifyWriteStateSpec("seen", VarIntCoder())

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):  # noqa: B008 (how Beam declares state)
        key, _ = element
        count = (seen.read() or 0) + 1
        seen.write(count)
        yield key, count


def test_specs_are_beams_and_computed_once_per_dofn(monkeypatch):
    assert userstate.get_dofn_specs is beam_cache.get_dofn_specs
    monkeypatch.setattr(beam_cache, "_specs", weakref.WeakKeyDictionary())  # what earlier tests' jobs left
    calls = []
    uncached = beam_cache._uncached_specs
    monkeypatch.setattr(beam_cache, "_uncached_specs", lambda dofn: calls.append(dofn) or uncached(dofn))
    stateful, plain = CountPerKey(), beam.Map(str).dofn
    for _ in range(3):
        assert userstate.get_dofn_specs(stateful) == uncached(stateful) == ({CountPerKey.SEEN}, set())
        assert userstate.is_stateful_dofn(stateful) and not userstate.is_stateful_dofn(plain)
    assert sorted(map(id, calls)) == sorted([id(stateful), id(plain)])  # once each, however often Beam asks


def test_specs_are_kept_per_class_where_every_method_is_the_class_s(monkeypatch):
    # a worker unpickles new DoFn objects for every bundle: they share their class's answer
    monkeypatch.setattr(beam_cache, "_specs", weakref.WeakKeyDictionary())
    calls = []
    uncached = beam_cache._uncached_specs
    monkeypatch.setattr(beam_cache, "_uncached_specs", lambda dofn: calls.append(dofn) or uncached(dofn))
    copies = [pickle.loads(pickle.dumps(CountPerKey())) for _ in range(3)]
    assert all(userstate.get_dofn_specs(c) == ({CountPerKey.SEEN}, set()) for c in copies) and len(calls) == 1
    # a method of another object set on an instance has its own specs, whatever the class's are
    borrowed = beam.DoFn()
    borrowed.process = CountPerKey().process
    assert userstate.get_dofn_specs(beam.DoFn()) == (set(), set())
    assert userstate.get_dofn_specs(borrowed) == ({CountPerKey.SEEN}, set())
    assert userstate.get_dofn_specs(beam.DoFn()) == (set(), set())


def test_a_stateful_dofn_keeps_its_state_in_a_job():
    with beam.Pipeline(options=pipeline_options("DirectRunner", 1, [])) as p:
        counts = p | beam.Create([("a", 1), ("b", 1), ("a", 1)]) | beam.ParDo(CountPerKey())
        assert_that(counts, equal_to([("a", 1), ("a", 2), ("b", 1)]))


def test_one_view_per_options_and_class_sharing_the_options_values():
    assert PipelineOptions.view_as is beam_cache.view_as
    options = pipeline_options("DirectRunner", 2, [])
    standard = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is standard and standard.runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    standard.streaming = True  # a write through one view is seen by a new one and by the options, as in Beam
    assert options.view_as(StandardOptions).streaming and options.get_all_options()["streaming"]
    other = pipeline_options("DirectRunner", 1, [])
    assert other.view_as(StandardOptions) is not standard and not other.view_as(StandardOptions).streaming
