"""Mid-run checkpoints: a training run stopped between epochs resumes where it stopped.

A run's record is written only when the run finishes (:mod:`gradconf.store`), so without these a run
cut off by the end of a GPU window or of a session lost all its epochs. Every ``every_s`` seconds, at
the end of an epoch, :func:`gradconf.train.train` saves the whole training state to
``<store>/partial/<key>.pt``: the weights and buffers (BatchNorm statistics), the optimiser, the three
random streams (batch order, augmentation, measurement) and every epoch record so far. Resumed there,
the run computes the same numbers as one never stopped, bitwise on a CPU (``tests/test_checkpoint.py``).

A checkpoint belongs to its run key (the config and :data:`gradconf.experiment.COMPUTE_VERSION`, which
is bumped whenever code changes a number), and it is refused on another kind of device (a run trained
half on a GPU and half on a CPU would be neither). It also holds the run's config, so a checkpoint left
over from an older compute version can be recognised (:func:`stale_reason`), and the provenance of every
segment of the run (device, host, code digest, from which epoch), which the record keeps. The file is
written under a temporary name and renamed, so a process killed while saving leaves the previous
checkpoint (and a ``.part`` file, removed at the next load). It is deleted once the run's record is
saved or merged. Checkpoints are working files, never committed (``.gitignore``); a GPU window carries
them between machines (:mod:`gradconf.window`).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch

#: Layout version of a checkpoint's dict; a file of another version is refused, never half-read.
CHECKPOINT_FORMAT = 1

#: Default seconds between two checkpoints of a run (at the first epoch end after that many).
DEFAULT_EVERY_S = 120.0


class CheckpointError(ValueError):
    """A checkpoint that cannot resume this run; the message names the file and why."""


@dataclass(frozen=True)
class Checkpointer:
    """Where run ``key`` keeps its training state, and how often (``every_s`` seconds, > 0); ``config``
    (the run's config as a dict) and ``segment`` (this process's provenance) are saved with it."""

    path: Path
    key: str
    every_s: float = DEFAULT_EVERY_S
    config: dict[str, Any] | None = None
    segment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not self.every_s > 0:
            raise ValueError(f"every_s must be > 0 seconds, got {self.every_s!r}")

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The saved state (tensors on ``device``), or None when there is none; CheckpointError when the
        file is not a checkpoint of this run on this kind of device."""
        for leftover in self.path.parent.glob(f".{self.path.stem}.*.part"):  # a save that was killed
            leftover.unlink(missing_ok=True)
        if not self.path.is_file():
            return None
        try:
            state = read_checkpoint(self.path, str(self.path), key=self.key, map_location=device)
        except CheckpointError as err:  # never resume from it
            raise CheckpointError(f"{err}; delete it to start the run over") from None
        if state.get("device_type") != device.type:
            raise CheckpointError(f"{self.path} was saved on {state.get('device_type')}, and this run is on "
                                  f"{device.type}: resume it there, or delete the file to start over here")
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (with this run's key, config and the format) atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({**state, "format": CHECKPOINT_FORMAT, "key": self.key, "config": self.config}, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def read_checkpoint(source: str | os.PathLike | BinaryIO, where: str, *, key: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state a checkpoint (a file, or its bytes as a stream) holds; CheckpointError, naming ``where``,
    when it is unreadable (truncated, foreign), of another format or, with ``key``, of another run."""
    try:
        state = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which
        raise CheckpointError(f"{where} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where} is not a checkpoint of format {CHECKPOINT_FORMAT}")
    if key is not None and state.get("key") != key:
        raise CheckpointError(f"{where} holds run {state.get('key')!r}, not {key!r}")
    return state


def checkpoint_epoch(source: str | os.PathLike | BinaryIO) -> int:
    """The last finished epoch a checkpoint (a file, or its bytes as a stream) holds; loads it on the CPU."""
    return int(read_checkpoint(source, str(source))["epoch"])


def stale_reason(path: str | os.PathLike) -> str | None:
    """Why the checkpoint at ``path`` can no longer resume its run (its config no longer hashes to its key,
    e.g. after a :data:`gradconf.experiment.COMPUTE_VERSION` bump, or it holds no config), or None."""
    from .experiment import RunConfig

    path = Path(path)
    try:
        state = read_checkpoint(path, path.name)
    except CheckpointError as err:
        return str(err)
    if not state.get("config"):
        return f"{path.name}: holds no run config"
    try:
        key = RunConfig.from_dict(state["config"]).key
    except (TypeError, ValueError, KeyError) as err:
        return f"{path.name}: its config no longer reads ({type(err).__name__}: {err})"
    if key != path.stem or state.get("key") != path.stem:
        return f"{path.name}: its config now hashes to {key} (the code's compute version changed)"
    return None


__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "Checkpointer", "DEFAULT_EVERY_S", "checkpoint_epoch",
           "read_checkpoint", "stale_reason"]
