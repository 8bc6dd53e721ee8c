"""Two answers Beam 2.77 recomputes many times while it builds, translates and runs a pipeline, kept instead.

- A DoFn's state and timer specs: Beam asks userstate.get_dofn_specs about nine times per ParDo (is_stateful_dofn,
  validate_stateful_dofn, to_runner_api, the runner's checks, each bundle processor), and every call takes
  inspect.signature of every method of the DoFn: 32,000 signatures for the 113 ParDos of a small run's seven corpus
  jobs, a third of their time. The specs are default values of the DoFn's methods' parameters, fixed once it exists,
  and the same for every object of a class whose methods are all the class's.
- An options object's views: PipelineOptions.view_as builds a new argparse parser for every view (each transform
  applied asks for several), 13% of the corpus passes of 678 real pages. A view holds nothing of its own (its values
  live in the options' shared dict), so one view per options object and class is the same answer.

cache_beam_answers() installs both (transforms/pipeline.py, which every Beam job of sieve imports, calls it).
"""

from __future__ import annotations

import types
import weakref
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate

_uncached_specs = userstate.get_dofn_specs
_uncached_view_as = PipelineOptions.view_as
_specs: weakref.WeakKeyDictionary[Any, tuple[frozenset, frozenset]] = weakref.WeakKeyDictionary()
_views: weakref.WeakKeyDictionary[PipelineOptions, dict[type, PipelineOptions]] = weakref.WeakKeyDictionary()


def get_dofn_specs(dofn: Any) -> tuple[set, set]:
    """userstate.get_dofn_specs(dofn), computed once per DoFn object, or once per DoFn class where every method of
    the object is its class's (fresh sets each call, as Beam's are)."""
    try:
        states, timers = _specs[dofn]
    except KeyError:
        cls = type(dofn) if _class_methods_only(dofn) else None
        if cls is None or (answer := _specs.get(cls)) is None:
            answer = tuple(map(frozenset, _uncached_specs(dofn)))
            if cls is not None:
                _specs[cls] = answer
        _specs[dofn] = states, timers = answer
    except TypeError:  # not weakly referable or not hashable: no cache
        return _uncached_specs(dofn)
    return set(states), set(timers)


def _class_methods_only(dofn: Any) -> bool:
    """Whether every method Beam inspects on dofn (its bound methods) is a function of its class: then its specs
    are the class's. Each bundle a worker runs unpickles new DoFn objects (and a function wrapped by Map or FlatMap
    is an attribute, not a method), so a cache per object alone missed in every bundle."""
    cls = type(dofn)
    for name in dir(dofn):
        method = getattr(dofn, name, None)
        if not isinstance(method, types.MethodType) or method.__self__ is cls:  # not inspected, or a classmethod
            continue
        if method.__self__ is not dofn or getattr(cls, name, None) is not method.__func__:
            return False
    return True


def view_as(options: PipelineOptions, cls: type[PipelineOptions]) -> PipelineOptions:
    """options.view_as(cls), built once per options object and class while it reads the same flags and values."""
    views = _views.setdefault(options, {})
    view = views.get(cls)
    if view is None or view._flags is not options._flags or view._all_options is not options._all_options:
        view = views[cls] = _uncached_view_as(options, cls)
    return view


def cache_beam_answers() -> None:
    """Make Beam use the two functions above (its callers look both up on every call)."""
    userstate.get_dofn_specs = get_dofn_specs
    PipelineOptions.view_as = view_as
