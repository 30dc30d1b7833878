"""Running a delayed cube write, with an optional progress bar, on the local or a distributed scheduler."""
from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor


def _distributed_client(collection=None):
    """The distributed Client that dask would compute ``collection`` with now, or None for local schedulers."""
    import dask

    scheduler = dask.base.get_scheduler(collections=[collection] if collection is not None else None)
    owner = getattr(scheduler, "__self__", None)
    if owner is None:
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    return owner if isinstance(owner, Client) else None


def _compute(delayed, progress: bool) -> None:
    """Compute a delayed write; when it fails, return (raise) only once no task of it is still writing.

    Dask's schedulers raise the first task error at once while other tasks go on writing chunks; cleaning up
    a temporary cube or rolling back an append before they stop would let late chunks land afterwards.
    """
    import dask
    import dask.threaded

    client = _distributed_client(delayed)
    if client is not None:
        _compute_distributed(client, delayed, progress)
        return
    if progress:
        from dask.diagnostics import ProgressBar

        bar = ProgressBar()
    else:
        bar = contextlib.nullcontext()
    with bar:
        if dask.base.get_scheduler(collections=[delayed]) is dask.threaded.get:
            pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or os.cpu_count() or 1)
            try:
                delayed.compute(scheduler="threads", pool=pool)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # queued tasks dropped, running ones finish
        else:
            delayed.compute()


def _compute_distributed(client, delayed, progress: bool, settle_s: float = 600.0) -> None:
    future = client.compute(delayed)
    try:
        if progress:
            from distributed import progress as distributed_progress

            distributed_progress(future)
        future.result()
    except BaseException:
        # Keep the future (so the scheduler keeps tracking its tasks) until none of them is running.
        keys = set(delayed.__dask_graph__().keys())
        deadline, idle_checks = time.monotonic() + settle_s, 0
        while idle_checks < 2 and time.monotonic() < deadline:
            running = any(k in keys for ks in client.processing().values() for k in ks)
            idle_checks = 0 if running else idle_checks + 1
            time.sleep(0.05)
        raise
    finally:
        future.release()
