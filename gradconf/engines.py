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
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

#: What an engine yields per run: its config and its record, or the exception it raised.
Outcome = tuple[Any, "dict[str, Any] | BaseException"]


#: Where local runs keep their checkpoints and how often they save them: (folder, seconds), or None.
Checkpoints = tuple[str, float] | None


def _checkpoint_args(checkpoints: Checkpoints) -> dict[str, Any]:
    if checkpoints is None:
        return {}
    folder, every_s = checkpoints
    return {"checkpoint_dir": folder, "checkpoint_every_s": every_s}


def _run_record(config: Any, data_root: str | None, device: str | None,
                checkpoints: Checkpoints = None) -> dict[str, Any]:
    from .allocator import keep_freed_memory
    from .experiment import run_one

    keep_freed_memory()  # a worker process is the runner's: reuse freed memory (see gradconf.allocator)
    return run_one(config, data_root=data_root, progress=False, device=device, **_checkpoint_args(checkpoints))


def _die_with_parent(parent: int) -> None:
    """Worker initializer: exit when the driver is gone (a SIGKILLed driver cannot stop its pool, and an
    orphan would go on computing, and holding GPU memory, for nobody)."""
    import threading
    import time

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()


def _past(deadline: float | None) -> bool:
    import time

    return deadline is not None and time.perf_counter() >= deadline


def run_serial(configs: Sequence[Any], data_root: str | os.PathLike | None, progress: bool,
               device: str | None = None, *, deadline: float | None = None,
               checkpoints: Checkpoints = None) -> Iterator[Outcome]:
    """Runs one after the other in this process; stops starting runs at ``deadline`` (perf_counter)."""
    from .experiment import run_one

    for config in configs:
        if _past(deadline):
            return
        try:
            record: dict | BaseException = run_one(config, data_root=data_root, progress=progress, device=device,
                                                   **_checkpoint_args(checkpoints))
        except Exception as err:  # one run's failure must not stop the sweep or lose the others
            record = err
        yield config, record


def run_local_processes(configs: Sequence[Any], data_root: str | os.PathLike | None, workers: int,
                        device: str | None = None, *, deadline: float | None = None,
                        checkpoints: Checkpoints = None) -> Iterator[Outcome]:
    """Runs in ``workers`` fresh (spawned) processes; outcomes come back in completion order. The
    workers exit with the driver, also when it is killed or interrupted."""
    root = None if data_root is None else str(data_root)
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if _main_thread() else None
    try:
        queue = list(configs)
        running: dict[Any, Any] = {}
        while queue or running:
            while queue and len(running) < workers and not _past(deadline):
                config = queue.pop(0)
                running[pool.submit(_run_record, config, root, device, checkpoints)] = config
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                config = running.pop(future)
                error = future.exception()
                yield config, (error if error is not None else future.result())
    finally:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_dask(configs: Sequence[Any], data_root: str | os.PathLike | None, scheduler: Any,
             device: str | None = None) -> Iterator[Outcome]:
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
        futures = {client.submit(_run_record, c, root, device, key=f"gradconf-run-{c.key}", pure=False): c
                   for c in configs}
        for future in dask_completed(list(futures)):
            config = futures.pop(future)
            try:
                record: dict | BaseException = future.result()
            except Exception as err:  # one run's failure must not lose the others
                record = err
            future.release()  # a saved record needs no future: a lost worker must not recompute it
            yield config, record
    finally:
        if own_client:
            client.close()
