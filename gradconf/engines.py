"""Where a sweep's runs execute: this process, local worker processes, or a Dask distributed cluster.

Every engine yields finished run records as they complete; :func:`gradconf.experiment.run_sweep`
writes each one to the driver's result store at once. Workers never touch the store, so a cluster
needs no shared filesystem, and a worker that dies loses at most the runs it had not finished.

Dask was chosen over Ray: it is pure Python with small wheels (an optional extra, ``gradconf[dask]``),
its futures API matches ``concurrent.futures``, it reschedules the tasks of a lost worker on its own,
and dask-jobqueue starts workers on SLURM/PBS/SGE clusters where most paper-scale GPU hours live.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any


def _run_record(config: Any, data_root: str | None, device: str | None) -> dict[str, Any]:
    from .experiment import run_one

    return run_one(config, data_root=data_root, progress=False, device=device)


def run_serial(configs: Sequence[Any], data_root: str | os.PathLike | None, progress: bool,
               device: str | None = None) -> Iterator[dict]:
    from .experiment import run_one

    for config in configs:
        yield run_one(config, data_root=data_root, progress=progress, device=device)


def run_local_processes(configs: Sequence[Any], data_root: str | os.PathLike | None, workers: int,
                        device: str | None = None) -> Iterator[dict]:
    """Runs in ``workers`` fresh (spawned) processes; records come back in completion order."""
    root = None if data_root is None else str(data_root)
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_run_record, c, root, device) for c in configs]
        for future in as_completed(futures):
            yield future.result()


def run_dask(configs: Sequence[Any], data_root: str | os.PathLike | None, scheduler: Any,
             device: str | None = None) -> Iterator[dict]:
    """Runs as Dask tasks on the cluster at ``scheduler`` (an address such as ``tcp://host:8786``,
    or a ``distributed.Client``). ``device`` is resolved on each worker ("auto": its GPU if it has one).
    Each task is keyed by its run's hash, so submitting a run that is
    already queued or running on the cluster does not start a second copy."""
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("running on a Dask cluster needs the optional extra: pip install 'gradconf[dask]'") from err
    root = None if data_root is None else str(data_root)
    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if own_client else scheduler
    try:
        futures = [client.submit(_run_record, c, root, device, key=f"gradconf-run-{c.key}", pure=False) for c in configs]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        if own_client:
            client.close()
