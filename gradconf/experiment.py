"""Experiment runner: frozen run configs, sweeps as grids, the result store, tidy frames.

A run is a :class:`RunConfig`. Its key is a hash of the config and :data:`COMPUTE_VERSION`, and its
finished record is written atomically to ``<store>/runs/<key>.json`` (:mod:`gradconf.store`). A sweep
skips every run whose valid record exists, so re-running a sweep reuses finished runs and an interrupted
sweep resumes with nothing lost. Records hold a deterministic ``result`` part (identical for the same
config and device; floats rounded to 6 significant digits) and a separate ``provenance`` part (wall
time, device, versions, git commit, and the digest of the code that computed it).

Staleness without orphaning: editing the code does not change run keys. The golden-record test
(``tests/test_golden.py``) pins the exact record of tiny fixed configurations; while it passes, the
code computes the same numbers and stored records stay valid. A change that alters numbers fails it
and must bump :data:`COMPUTE_VERSION`, which makes every older record stale on purpose.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import __version__
from .checkpoint import DEFAULT_EVERY_S, Checkpointer
from .data import ArrayDataset, load_dataset
from .store import ResultStore, round_floats
from .init import InitConfig
from .models import ModelConfig, build_model, count_parameters, model_config_from_dict, model_config_to_dict
from .synthetic import sphere_teacher
from .train import MeasureConfig, TrainConfig, train

RUN_DATASETS: tuple[str, ...] = ("mnist", "cifar10", "sphere")
RUN_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

#: Version of the numbers a run computes. Bump it (and regenerate the golden records with
#: ``python tests/test_golden.py --regenerate``) whenever a change alters any stored number.
COMPUTE_VERSION = 2


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (and nothing that does not)."""

    dataset: str
    model: ModelConfig
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    downsample: int = 1
    threads: int = 2
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dataset not in RUN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; allowed: {', '.join(RUN_DATASETS)}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or null (all), got {value!r}")
        if self.dtype not in RUN_DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; allowed: {', '.join(RUN_DTYPES)}")
        if self.measure.probe_size and self.n_train is not None and self.measure.probe_size > self.n_train:
            raise ValueError(f"measure.probe_size {self.measure.probe_size} exceeds n_train {self.n_train}")
        if self.n_train is not None and self.n_train < self.train.batch_size:
            raise ValueError(f"n_train {self.n_train} is smaller than one batch ({self.train.batch_size})")
        if not isinstance(self.downsample, int) or self.downsample < 1:
            raise ValueError(f"downsample must be a positive integer (1 = native images), got {self.downsample!r}")
        if self.downsample > 1 and self.dataset == "sphere":
            raise ValueError("downsample applies to image datasets, not to sphere")
        if self.dataset == "sphere" and (self.n_train is None or self.n_test is None):
            raise ValueError("the sphere dataset is synthetic: set n_train and n_test")
        if self.dataset == "sphere" and getattr(self.model, "kind", None) != "mlp":
            raise ValueError("the sphere dataset (unit-sphere inputs) needs an MLP model")
        self._check_model_fits_dataset()

    def _check_model_fits_dataset(self) -> None:
        """The model's input size against the dataset's (after ``downsample``), before any compute."""
        shapes = {"mnist": (1, 28), "cifar10": (3, 32)}
        if self.dataset not in shapes:
            return
        channels, side = shapes[self.dataset]
        if side % self.downsample:
            raise ValueError(f"downsample {self.downsample} does not divide {self.dataset}'s {side}-pixel side")
        side //= self.downsample
        kind = getattr(self.model, "kind", None)
        if kind == "mlp" and self.model.input_dim != channels * side * side:
            raise ValueError(f"model.input_dim {self.model.input_dim} does not match {self.dataset} "
                             f"({channels} x {side} x {side} = {channels * side * side} inputs)")
        if kind == "wrn" and self.model.in_channels != channels:
            raise ValueError(f"model.in_channels {self.model.in_channels} does not match {self.dataset} "
                             f"({channels} channel{'s' if channels > 1 else ''})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": model_config_to_dict(self.model),
            "init": dataclasses.asdict(self.init),
            "train": {**dataclasses.asdict(self.train), "lr_decay_at": list(self.train.lr_decay_at)},
            "measure": {k: v for k, v in dataclasses.asdict(self.measure).items()
                        if not (k in MeasureConfig.KEY_NEUTRAL and v == MeasureConfig.KEY_NEUTRAL[k])},
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "downsample": self.downsample,
            "threads": self.threads,
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown run-config fields {sorted(unknown)}; allowed: {sorted(known)}")
        d = dict(d)
        if "model" not in d or "dataset" not in d:
            raise ValueError("a run config needs at least 'dataset' and 'model'")
        d["model"] = model_config_from_dict(d["model"])
        for name, typ in (("init", InitConfig), ("train", TrainConfig), ("measure", MeasureConfig)):
            if name in d:
                d[name] = _build(typ, d[name], name)
        return cls(**d)

    @property
    def key(self) -> str:
        """Hash of the config and :data:`COMPUTE_VERSION`: the run's identity in a result store. Code
        edits that keep the golden records leave keys (and stored runs) valid."""
        blob = json.dumps({"config": self.to_dict(), "compute_version": COMPUTE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


COMPUTE_MODULES: tuple[str, ...] = (
    "data", "experiment", "gram", "init", "losses", "measure", "models", "synthetic", "train",
)


@functools.lru_cache(maxsize=1)
def compute_digest() -> str:
    """SHA-256 (first 16 hex digits) of the modules that compute a run's result, recorded in each
    record's provenance (what computed it); not part of the key (see :data:`COMPUTE_VERSION`)."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in COMPUTE_MODULES:
        h.update(name.encode())
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


#: where a tree without .git (a GPU window) is told the commit it was sent from
GIT_COMMIT_ENV = "GRADCONF_GIT_COMMIT"


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The git commit of the checkout the package runs from (``+dirty`` with uncommitted changes to
    the package). Outside a git checkout (a tree sent to a borrowed GPU travels without ``.git``), the
    value of ``$GRADCONF_GIT_COMMIT`` as given there (``python -m gradconf window stage`` prints it), else
    ``unknown``; ``code_digest`` identifies the code either way."""
    import subprocess

    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get(GIT_COMMIT_ENV) or "unknown"
    return commit + ("+dirty" if dirty else "")


def _build(typ: type, values: dict, what: str):
    known = {f.name for f in dataclasses.fields(typ)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {what} fields {sorted(unknown)}; allowed: {sorted(known)}")
    return typ(**values)


# ----------------------------------------------------------------------------------------------
# running one configuration
# ----------------------------------------------------------------------------------------------

def load_run_data(config: RunConfig, root: str | os.PathLike | None = None) -> tuple[ArrayDataset, ArrayDataset]:
    """Train and test sets of a run, subsampled deterministically (seeded by the run's seed)."""
    if config.dataset == "sphere":
        gen = torch.Generator().manual_seed(config.seed + 7)
        full = sphere_teacher(config.n_train + config.n_test, config.model.input_dim, generator=gen, labels="sign")
        y = (full.y > 0).long()
        x = full.x
        return (ArrayDataset(x[:config.n_train], y[:config.n_train], "sphere-train", ("-", "+")),
                ArrayDataset(x[config.n_train:], y[config.n_train:], "sphere-test", ("-", "+")))
    gen = torch.Generator().manual_seed(config.seed + 11)
    # the subset is taken before the conversion to float (same examples as ArrayDataset.subset)
    train_set = load_dataset(config.dataset, "train", root, n=config.n_train, generator=gen)
    test_set = load_dataset(config.dataset, "test", root, n=config.n_test, generator=gen)
    return train_set.downsample(config.downsample), test_set.downsample(config.downsample)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/"cpu" → CPU; "auto" → the first CUDA device when there is one; anything else as given.

    The device is how a run executes, not what it is, so it is not part of the run's key; it is recorded
    in the run's provenance. Results on a GPU are reproducible there but not bitwise equal to the CPU's.
    """
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch {torch.__version__} sees no CUDA device")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return dev


def _device_name(dev: torch.device) -> str:
    return str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})"


def run_one(config: RunConfig, *, data_root: str | os.PathLike | None = None, progress: bool = False,
            device: str | torch.device | None = None, checkpoint_dir: str | os.PathLike | None = None,
            checkpoint_every_s: float = DEFAULT_EVERY_S) -> dict[str, Any]:
    """Execute one run and return its record (``result`` is deterministic; ``provenance`` is not).

    ``checkpoint_dir``: resume from ``<dir>/<key>.pt`` when it is there, and save the training state
    there every ``checkpoint_every_s`` seconds (:mod:`gradconf.checkpoint`); the caller deletes it once
    the record is saved."""
    start = time.perf_counter()
    dev = resolve_device(device)
    # who computes this run (or this segment of it): in its provenance and in each checkpoint it saves
    segment = {"device": _device_name(dev), "host": platform.node(), "code_digest": compute_digest(),
               "git_commit": git_commit()}
    dtype = RUN_DTYPES[config.dtype]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        train_set, test_set = load_run_data(config, data_root)
        train_set, test_set = train_set.to(dev, dtype), test_set.to(dev, dtype)
        model = build_model(config.model, config.init, seed=config.seed).to(device=dev, dtype=dtype)
        torch.manual_seed(config.seed)  # anything left to torch's global stream is seeded too
        outcome = train(
            model, train_set, test_set, config.train, config.measure,
            seed=config.seed, progress=progress, description=config.model.name,
            checkpoint=None if checkpoint_dir is None else Checkpointer(
                Path(checkpoint_dir) / f"{config.key}.pt", config.key, checkpoint_every_s, config.to_dict(), segment),
        )
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "key": config.key,
        "config": config.to_dict(),
        "result": round_floats({
            "status": outcome.status,
            "model_name": config.model.name,
            "n_params": count_parameters(model),
            "epochs": outcome.epochs,
            "probe": outcome.probe,
        }),
        "provenance": {
            "compute_version": COMPUTE_VERSION,
            **segment,  # code_digest, git_commit, host, device
            "gradconf": __version__,
            "torch": torch.__version__,
            "cuda": torch.version.cuda if dev.type == "cuda" else None,
            "python": platform.python_version(),
            "pid": os.getpid(),
            "tf32": bool(config.train.tf32 and dev.type == "cuda"),
            "threads": config.threads,
            "wall_s": round(outcome.earlier_wall_s + time.perf_counter() - start, 3),
            "resumed_after_epochs": outcome.resumed_after,
            **({"segments": outcome.segments} if outcome.resumed_after else {}),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }


# ----------------------------------------------------------------------------------------------
# the result store
# ----------------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What :func:`run_sweep` did: runs computed, reused, held by another driver, failed (with why)."""

    ran: int = 0
    reused: int = 0
    claimed_elsewhere: int = 0
    invalid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class SweepFailed(RuntimeError):
    """Some runs of a sweep raised; every run that finished was saved before this is raised."""

    def __init__(self, report: SweepReport):
        self.report = report
        super().__init__(f"{len(report.failed)} run(s) failed ({report.ran} finished and saved): "
                         + "; ".join(report.failed[:3]) + (" ..." if len(report.failed) > 3 else ""))


def run_sweep(
    configs: Iterable[RunConfig],
    store: ResultStore | str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int = 1,
    scheduler: Any = None,
    device: str | None = None,
    deadline_s: float | None = None,
    checkpoint_every_s: float | None = DEFAULT_EVERY_S,
) -> SweepReport:
    """Run every config whose valid record is not in ``store`` yet, saving each as soon as it finishes.

    Engines (see :mod:`gradconf.engines`): this process (``workers=1``, the default), ``workers``
    local processes, or a Dask distributed cluster (``scheduler``: its address or a Client). The
    store lives with the caller in every case, so re-running the same call after an interruption,
    or on another engine, completes the sweep without recomputing finished runs. A run another live
    driver has claimed on this store is left to it. A run that raises does not stop the others: the
    sweep finishes and saves everything it can, then raises :class:`SweepFailed` naming the failures.
    ``deadline_s``: start no run after this many seconds (a GPU window); runs under way finish.
    ``device``: see :func:`resolve_device`.
    ``checkpoint_every_s``: local runs save their training state to ``<store>/partial`` at the first epoch
    end after that many seconds and resume from it (:mod:`gradconf.checkpoint`), so a run cut off loses at
    most that much and one epoch; None turns it off. Runs on a Dask cluster are not checkpointed (its workers share no folder with the store).
    """
    from tqdm import tqdm

    from . import engines

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is not None and workers != 1:
        raise ValueError("give either workers (local processes) or scheduler (Dask cluster), not both")
    if checkpoint_every_s is not None and not checkpoint_every_s > 0:
        raise ValueError(f"checkpoint_every_s must be > 0 seconds or None (off), got {checkpoint_every_s!r}")
    resolve_device(device)  # fail before the first run, not inside it
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    store.check_writable()
    configs = _unique(configs)
    report = SweepReport()
    pending = []
    for c in configs:
        if store.has(c.key):
            report.reused += 1
            continue
        reason = store.invalid_reason(c.key)
        if reason:
            report.invalid.append(reason)
            print(f"gradconf: {reason}; recomputing it", flush=True)
        pending.append(c)
    todo = [c for c in pending if store.claim(c.key)]
    report.claimed_elsewhere = len(pending) - len(todo)
    start = time.perf_counter()
    deadline = None if deadline_s is None else start + deadline_s
    resumable = None if checkpoint_every_s is None else (str(store.partial), checkpoint_every_s)
    try:
        if scheduler is not None:
            outcomes = engines.run_dask(todo, data_root, scheduler, device)
        elif workers > 1:
            outcomes = engines.run_local_processes(todo, data_root, workers, device, deadline=deadline,
                                                   checkpoints=resumable)
        else:
            outcomes = engines.run_serial(todo, data_root, progress, device, deadline=deadline,
                                          checkpoints=resumable)
        desc = f"runs ({report.reused} reused" + (f", {report.claimed_elsewhere} elsewhere)" if
                                                   report.claimed_elsewhere else ")")
        with tqdm(total=len(todo), desc=desc, disable=not progress) as bar:
            for config, record in outcomes:
                if isinstance(record, BaseException):
                    report.failed.append(f"{config.model.name} seed={config.seed} lr={config.train.lr} "
                                         f"({config.key}): {type(record).__name__}: {record}")
                else:
                    store.save(record)
                    store.checkpoint_file(config.key).unlink(missing_ok=True)  # the record supersedes it
                    report.ran += 1
                    bar.set_postfix_str(f"{record['result']['model_name']} seed={record['config']['seed']}")
                store.release(config.key)
                bar.update()
    finally:
        for c in todo:
            store.release(c.key)
    report.wall_s = time.perf_counter() - start
    if report.failed:
        raise SweepFailed(report)
    return report


def _unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    seen: dict[str, RunConfig] = {}
    for c in configs:
        seen.setdefault(c.key, c)
    return list(seen.values())


# ----------------------------------------------------------------------------------------------
# tidy frames
# ----------------------------------------------------------------------------------------------

def flatten_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"depth": 16}}`` -> ``{"model.depth": 16}`` (tuples/lists kept as tuples)."""
    flat: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten_config(v, name + "."))
        else:
            flat[name] = tuple(v) if isinstance(v, list) else v
    return flat


def _run_columns(record: dict[str, Any]) -> dict[str, Any]:
    r = record["result"]
    return {"key": record["key"], **flatten_config(record["config"]), "model_name": r["model_name"],
            "n_params": r["n_params"], "status": r["status"]}


def epochs_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, epoch): config columns, train/test metrics and cosine statistics."""
    rows = []
    for record in records:
        base = _run_columns(record)
        for ep in record["result"]["epochs"]:
            rows.append({**base, **{k: v for k, v in ep.items() if k != "cosines"}})
    return pd.DataFrame(rows)


def runs_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: config columns, the last epoch's metrics (``final_*``), the training loss at
    initialisation (``initial_train_loss``), plus probe stats."""
    rows = []
    for record in records:
        first, last = record["result"]["epochs"][0], record["result"]["epochs"][-1]
        row = {**_run_columns(record), **{f"final_{k}": v for k, v in last.items() if k != "cosines"}}
        # the loss before the first step (epoch 0), for the trained-regime gate of gradconf.verdicts
        row["initial_train_loss"] = first.get("train_loss", math.nan) if first.get("epoch") == 0 else math.nan
        for k, v in (record["result"].get("probe") or {}).items():
            row[f"probe_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def cosines_frame(records: Iterable[dict[str, Any]], epoch: int | str = "last") -> pd.DataFrame:
    """One row per measured cosine at ``epoch`` (an epoch number, or ``"last"``), for KDEs."""
    rows = []
    for record in records:
        base = _run_columns(record)
        measured = [ep for ep in record["result"]["epochs"] if "cosines" in ep]
        chosen = measured[-1:] if epoch == "last" else [ep for ep in measured if ep["epoch"] == epoch]
        for ep in chosen:
            rows.extend({**base, "epoch": ep["epoch"], "cosine": c} for c in ep["cosines"])
    return pd.DataFrame(rows)


def best_lr(runs: pd.DataFrame, by: list[str], metric: str = "final_train_loss") -> pd.DataFrame:
    """Keep, for each group in ``by``, the runs of the learning rate with the lowest mean ``metric``
    over seeds (paper §7: "initial LR tuned per model on a log grid by lowest training loss").
    Diverged runs count as +inf."""
    if runs.empty:
        return runs
    scored = runs.assign(_score=runs[metric].where(runs["status"] == "ok", float("inf")).fillna(float("inf")))
    mean = scored.groupby(by + ["train.lr"], dropna=False)["_score"].mean().reset_index()
    chosen = mean.loc[mean.groupby(by, dropna=False)["_score"].idxmin(), by + ["train.lr"]]
    return scored.merge(chosen, on=by + ["train.lr"]).drop(columns="_score")
