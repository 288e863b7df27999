"""The Dask side of batch work: a client for a cluster, and the model each worker keeps.

Bulk tagging (training/bulk.py) and index builds (training/index.py) send tasks that
name a home and a version, never the model itself: each worker process loads a version
the first time a task asks for it, verified as the server loads it, and keeps it for
the next tasks. The home (and the input and output folders) must be visible to every
worker at the same path: a shared file system on a real cluster.
"""

from __future__ import annotations

import contextlib
import functools
import os

from model.errors import BadOption, TagsimError
from model.extras import require


def require_distributed(scheduler=None):
    """The `distributed` module, or `MissingExtra` saying how to install it.

    A *scheduler* address is checked too, before any work: `BadOption` if it is not one.
    """
    distributed = require("distributed", "scale", "bulk tagging and index builds on Dask")
    if scheduler:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            parse_host_port(parse_address(scheduler)[1])
        except ValueError as exc:
            raise BadOption("--scheduler", f"{exc}; give an address such as tcp://host:8786") \
                from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None):
    """A `distributed.Client`: of the cluster at *scheduler*, else of a new LocalCluster.

    The local cluster has *workers* worker processes (default: one per core) of one
    thread each: tagging holds the GIL, so processes are what scale.
    """
    distributed = require_distributed(scheduler)
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except OSError as exc:
            raise TagsimError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def worker_count(client) -> int:
    """How many workers the client's cluster has now."""
    return max(1, len(client.scheduler_info().get("workers", {})))


@functools.lru_cache(maxsize=2)
def worker_model(home, version, with_index=False, key=None):
    """The `LoadedModel` of *version* in *home* (sealed with *key*), loaded once per worker process."""
    from model.loaded import load_verified

    return load_verified(home, with_index=with_index, version=version, key=key)
