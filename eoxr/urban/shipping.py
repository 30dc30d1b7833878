"""A city model on the Dask workers: one copy per worker, installed once per client, found by name.

A city is megabytes (DSM, classes and cached radiative fields). Pickled into every graph it would travel with
every call. Scattered as a Dask future to every worker, it does not stay there: the scheduler's active memory
manager (``ReduceReplicas``) drops the copies that no waiting task needs, so the next call's feature tasks
all queue on the one worker that kept it while the others idle. A worker plugin holds its copy outside Dask's
data management, on every worker present and future (adaptive clusters get it too); tasks reach it through a
small :class:`CityRef`. The scheduler keeps each installed city too (pickled, for workers that join later),
so at most :data:`MAX_CITIES` cities stay installed per client.
"""
from __future__ import annotations

import contextlib
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from distributed import WorkerPlugin

from ..errors import ClusterError

MAX_CITIES = 2  # installed per client; another one uninstalls the least recently used

_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # city -> its identifier
_INSTALLED: dict[str, OrderedDict] = {}  # client id -> {(city identifier, cached fields): plugin name}


class CityPlugin(WorkerPlugin):
    """Holds a city on a worker for :class:`CityRef`."""

    def __init__(self, city):
        self.city = city


@dataclass(frozen=True)
class CityRef:
    """A city installed on the workers by :func:`city_for_graph`: what a task resolves to the worker's copy."""

    name: str

    def resolve(self):
        from distributed import get_worker

        try:
            return get_worker().plugins[self.name].city
        except (ValueError, KeyError):
            raise ClusterError(f"the city model {self.name} is not installed on this worker: the graph was built "
                               f"for another client, or more than {MAX_CITIES} other cities were installed since; "
                               "build it again (call invert again) with the client that computes it") from None


def copies_where(ref: CityRef, test) -> tuple[list[str], int]:
    """The addresses of the workers whose copy of the city behind ``ref`` passes ``test(copy)``, and the number of
    workers (a small query to the workers, no data moved)."""
    from distributed import default_client

    found = default_client().run(_test_copy, ref.name, test)
    return [addr for addr, ok in found.items() if ok], len(found)


def _test_copy(name, test, dask_worker=None):
    plugin = dask_worker.plugins.get(name)
    return plugin is not None and bool(test(plugin.city))


def resolve(city):
    """The city a task was given: itself, or the worker's copy behind a :class:`CityRef`."""
    return city.resolve() if isinstance(city, CityRef) else city


def city_for_graph(city):
    """What the inversion's tasks take for ``city``. With a distributed client: a :class:`CityRef` to a copy
    installed on every worker once per client and state of the city's cache (a copy made earlier lacks the fields
    cached since; the older copy is uninstalled). Without one, or with an asynchronous client (installing would
    need an await): a delayed literal, shipped with the graph."""
    import dask

    from distributed import default_client

    try:
        client = default_client()
    except ValueError:  # no client running
        client = None
    if client is None or client.asynchronous:
        return dask.delayed(city, pure=False)
    uid = _IDS.setdefault(city, uuid.uuid4().hex)
    installed = _INSTALLED.setdefault(client.id, OrderedDict())
    key = (uid, city.shipped_cache)
    if key not in installed:
        stale = [k for k in installed if k[0] == uid]
        while stale or len(installed) >= MAX_CITIES:
            name = installed.pop(stale.pop() if stale else next(iter(installed)))
            with contextlib.suppress(ValueError):  # already gone (e.g. the cluster was replaced)
                client.unregister_worker_plugin(name)
        name = f"eoxr-city-{uuid.uuid4().hex}"
        client.register_plugin(CityPlugin(city), name=name)
        installed[key] = name
    installed.move_to_end(key)
    return CityRef(installed[key])
