"""Experiment runner: frozen run configs, sweeps as grids, an atomic per-run result store, tidy frames.

A run is a :class:`RunConfig`. Its key is a hash of the config and the gradconf version, and its
finished record is written atomically to ``<store>/runs/<key>.json``. A sweep skips every run whose
record exists, so re-running a sweep reuses finished runs and an interrupted sweep resumes with
nothing lost. Records hold a deterministic ``result`` part (bitwise-identical for the same config on
one machine) and a separate ``provenance`` part (wall time, host, versions).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import __version__
from .data import ArrayDataset, load_dataset
from .init import InitConfig
from .models import ModelConfig, build_model, count_parameters, model_config_from_dict, model_config_to_dict
from .synthetic import sphere_teacher
from .train import MeasureConfig, TrainConfig, train

RUN_DATASETS: tuple[str, ...] = ("mnist", "cifar10", "sphere")


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

    def __post_init__(self) -> None:
        if self.dataset not in RUN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; allowed: {', '.join(RUN_DATASETS)}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not isinstance(self.downsample, int) or self.downsample < 1:
            raise ValueError(f"downsample must be a positive integer (1 = native images), got {self.downsample!r}")
        if self.downsample > 1 and self.dataset == "sphere":
            raise ValueError("downsample applies to image datasets, not to sphere")
        if self.dataset == "sphere" and (self.n_train is None or self.n_test is None):
            raise ValueError("the sphere dataset is synthetic: set n_train and n_test")
        if self.dataset == "sphere" and getattr(self.model, "kind", None) != "mlp":
            raise ValueError("the sphere dataset (unit-sphere inputs) needs an MLP model")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": model_config_to_dict(self.model),
            "init": dataclasses.asdict(self.init),
            "train": {**dataclasses.asdict(self.train), "lr_decay_at": list(self.train.lr_decay_at)},
            "measure": dataclasses.asdict(self.measure),
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "downsample": self.downsample,
            "threads": self.threads,
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
        """Hash of the config, the gradconf version and :func:`compute_digest`: the run's identity in a
        result store, so a change to the code that computes runs never reuses an old record."""
        blob = json.dumps({"config": self.to_dict(), "gradconf": __version__, "code": compute_digest()},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


COMPUTE_MODULES: tuple[str, ...] = (
    "data", "experiment", "gram", "init", "losses", "measure", "models", "synthetic", "train",
)


@functools.lru_cache(maxsize=1)
def compute_digest() -> str:
    """SHA-256 (first 16 hex digits) of the modules that compute a run's result.

    Plotting, reporting and book code are not included, so re-rendering a chapter reuses its runs.
    """
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in COMPUTE_MODULES:
        h.update(name.encode())
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


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
    train_set = load_dataset(config.dataset, "train", root).subset(config.n_train, gen)
    test_set = load_dataset(config.dataset, "test", root).subset(config.n_test, gen)
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
    return dev


def run_one(config: RunConfig, *, data_root: str | os.PathLike | None = None, progress: bool = False,
            device: str | torch.device | None = None) -> dict[str, Any]:
    """Execute one run and return its record (``result`` is deterministic; ``provenance`` is not)."""
    start = time.perf_counter()
    dev = resolve_device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        train_set, test_set = load_run_data(config, data_root)
        train_set, test_set = train_set.to(dev), test_set.to(dev)
        model = build_model(config.model, config.init, seed=config.seed).to(dev)
        torch.manual_seed(config.seed)  # anything left to torch's global stream is seeded too
        outcome = train(
            model, train_set, test_set, config.train, config.measure,
            seed=config.seed, progress=progress, description=config.model.name,
        )
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "key": config.key,
        "config": config.to_dict(),
        "result": {
            "status": outcome.status,
            "model_name": config.model.name,
            "n_params": count_parameters(model),
            "epochs": outcome.epochs,
            "probe": outcome.probe,
        },
        "provenance": {
            "gradconf": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "host": platform.node(),
            "pid": os.getpid(),
            "device": str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})",
            "threads": config.threads,
            "wall_s": round(time.perf_counter() - start, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }


# ----------------------------------------------------------------------------------------------
# the result store
# ----------------------------------------------------------------------------------------------

class ResultStore:
    """One JSON file per finished run, written atomically (temp file + fsync + rename)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.runs = self.path / "runs"

    def file(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.file(key).is_file()

    def load(self, key: str) -> dict[str, Any]:
        with open(self.file(key)) as f:
            return json.load(f)

    def save(self, record: dict[str, Any]) -> Path:
        self.runs.mkdir(parents=True, exist_ok=True)
        dest = self.file(record["key"])
        fd, tmp = tempfile.mkstemp(dir=self.runs, prefix=f".{record['key']}.", suffix=".part")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dest

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.runs.glob("*.json")) if self.runs.is_dir() else []:
            with open(path) as f:
                yield json.load(f)

    def records(self, configs: Iterable[RunConfig]) -> list[dict[str, Any]]:
        """The stored records of ``configs``, in order; raises KeyError naming any not yet run."""
        configs = list(configs)
        missing = [c.key for c in configs if not self.has(c.key)]
        if missing:
            raise KeyError(f"{len(missing)} of {len(configs)} runs are not in {self.path} (first: {missing[0]})")
        return [self.load(c.key) for c in configs]


@dataclass
class SweepReport:
    ran: int = 0
    reused: int = 0
    wall_s: float = 0.0


def run_sweep(
    configs: Iterable[RunConfig],
    store: ResultStore | str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int = 1,
    scheduler: Any = None,
    device: str | None = None,
) -> SweepReport:
    """Run every config whose record is not in ``store`` yet, saving each as soon as it finishes.

    Engines (see :mod:`gradconf.engines`): this process (``workers=1``, the default), ``workers``
    local processes, or a Dask distributed cluster (``scheduler``: its address or a Client). The
    store lives with the caller in every case, so re-running the same call after an interruption,
    or on another engine, completes the sweep without recomputing finished runs. ``device``: see
    :func:`resolve_device`.
    """
    from tqdm import tqdm

    from . import engines

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is not None and workers != 1:
        raise ValueError("give either workers (local processes) or scheduler (Dask cluster), not both")
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    configs = _unique(configs)
    todo = [c for c in configs if not store.has(c.key)]
    report = SweepReport(reused=len(configs) - len(todo))
    start = time.perf_counter()
    if scheduler is not None:
        records = engines.run_dask(todo, data_root, scheduler, device)
    elif workers > 1:
        records = engines.run_local_processes(todo, data_root, workers, device)
    else:
        resolve_device(device)  # fail before the first run, not inside it
        records = engines.run_serial(todo, data_root, progress, device)
    with tqdm(total=len(todo), desc=f"runs ({report.reused} reused)", disable=not progress) as bar:
        for record in records:
            store.save(record)
            report.ran += 1
            bar.set_postfix_str(f"{record['result']['model_name']} seed={record['config']['seed']}")
            bar.update()
    report.wall_s = time.perf_counter() - start
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
    """One row per run: config columns and the last epoch's metrics (``final_*``), plus probe stats."""
    rows = []
    for record in records:
        last = record["result"]["epochs"][-1]
        row = {**_run_columns(record), **{f"final_{k}": v for k, v in last.items() if k != "cosines"}}
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
