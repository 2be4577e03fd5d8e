"""One memory peak at a time on a shared GPU.

The runs of a sweep share one GPU as separate processes (``gradconf run --workers K``). Training holds a
small, steady footprint; the exact probe Gram (:func:`gradconf.train.probe_summary`) holds every layer's
inputs and output gradients for the whole probe set at once (estimated from CPU measurements at 1,024
examples: about 4 GiB for CNN-16-2, 12 GiB for CNN-40-2, 50 GiB for WRN-100-2). K runs that reach a
measured epoch together would ask for K such peaks. An exclusive lock per physical device, held across
processes of the host, lets one run at a time hold its peak while the others keep training.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

#: folder of the lock files (default: a folder of this user's own in the system's temporary folder, since
#: a file another user created in a shared /tmp cannot be opened for writing)
LOCK_DIR_ENV = "GRADCONF_LOCK_DIR"


def lock_folder() -> Path:
    """``$GRADCONF_LOCK_DIR``, else ``<tmp>/gradconf-locks-<uid>``; created (mode 0700) if missing."""
    folder = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"gradconf-locks-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def device_key(dev: torch.device) -> str | None:
    """A name for the physical GPU behind ``dev`` (its UUID where torch reports one, so that processes
    with different ``CUDA_VISIBLE_DEVICES`` agree), or ``None`` off CUDA, where nothing is shared."""
    if dev.type != "cuda":
        return None
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return f"cuda-{uuid}" if uuid is not None else f"cuda{index}"


@contextmanager
def memory_peak(dev: torch.device) -> Iterator[None]:
    """Hold this device's turn at a memory peak while inside: free this process's idle CUDA cache, wait for
    the device's lock (:func:`exclusive`), and free the cache again after, so that the device needs room for
    one peak at a time, not one per run. Off CUDA nothing is shared and nothing waits."""
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    with exclusive(device_key(dev)):
        try:
            yield
        finally:
            if dev.type == "cuda":
                torch.cuda.empty_cache()


@contextmanager
def exclusive(key: str | None, folder: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold the host-wide exclusive lock named ``key`` while inside (waiting for it first); ``None``: no
    lock. The lock is an ``flock`` on a file, so it is released if its holder dies."""
    if key is None:
        yield
        return
    folder = Path(folder) if folder is not None else lock_folder()
    path = folder / f"gradconf-peak-{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
