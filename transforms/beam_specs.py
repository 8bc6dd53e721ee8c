"""Beam's state and timer specs of a DoFn, looked up once per DoFn object instead of about nine times.

Beam 2.77 asks userstate.get_dofn_specs for every ParDo several times while a pipeline is built, translated and run
(is_stateful_dofn, validate_stateful_dofn, to_runner_api, the runner's checks, each bundle processor), and every call
takes inspect.signature of every method of the DoFn: 32,000 signatures for the 113 ParDos of a small run's seven
corpus jobs, a third of their time. The specs are fixed once a DoFn exists (they are default values of its methods'
parameters), so the answer is kept per DoFn object for its lifetime: cache_dofn_specs() installs that (pipeline.py, which
every Beam job of sieve imports, calls it).
"""

from __future__ import annotations

import weakref
from typing import Any

from apache_beam.transforms import userstate

_uncached = userstate.get_dofn_specs
_specs: weakref.WeakKeyDictionary[Any, tuple[frozenset, frozenset]] = weakref.WeakKeyDictionary()


def get_dofn_specs(dofn: Any) -> tuple[set, set]:
    """userstate.get_dofn_specs(dofn), computed once per DoFn object (fresh sets each call, as Beam's are)."""
    try:
        states, timers = _specs[dofn]
    except KeyError:
        states, timers = map(frozenset, _uncached(dofn))
        _specs[dofn] = states, timers
    except TypeError:  # not weakly referable or not hashable: no cache
        return _uncached(dofn)
    return set(states), set(timers)


def cache_dofn_specs() -> None:
    """Make Beam use get_dofn_specs above (its callers look it up in userstate on every call)."""
    userstate.get_dofn_specs = get_dofn_specs
