"""Constant-step SGD with step decay and per-epoch gradient-confusion measurements (paper §7 protocol).

Per epoch the loop records train loss/accuracy (averaged over the epoch's steps); at measured epochs
also test loss/accuracy, the cosines of ``n_pairs`` minibatch-gradient pairs on the (un-augmented)
training set, and, with a probe, the exact per-example Gram summary of a fixed probe set. The
measurement draws from its own random stream, so changing how much is measured never changes the
training trajectory. A non-finite loss ends the run with status ``diverged`` (at the end of the epoch,
recording the first non-finite step).

The loop is the same on CPU and GPU and never synchronises with the host inside an epoch: the data
live on the run's device, losses and accuracies accumulate there (in float64, so the numbers equal a
host-side sum), batch orders come from a CPU generator (the same on every device) and augmentation
draws from a generator on the device. On CUDA, convolutional models run channels_last and ``tf32``
allows TF32 matmuls for training only; measurements always run in full float32. Runs sharing one GPU
compute their probe Grams one at a time (:mod:`gradconf.device_share`).

With a :class:`gradconf.checkpoint.Checkpointer`, the whole training state is saved at an epoch's end
every ``every_s`` seconds, and a run that finds its checkpoint resumes after that epoch: the same
numbers as a run never stopped (bitwise on a CPU), since every random stream is part of the state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import Checkpointer
from .data import ArrayDataset
from .device_share import memory_peak
from .losses import check_loss, per_example_loss
from .measure import (BN_MODES, confusion_summary, cosine_summary, gradient_gram, minibatch_gradient_pairs,
                      pool_gradient_pairs)


@dataclass(frozen=True)
class TrainConfig:
    """Plain SGD (the paper: no momentum, batch 128, LR / 10 at 40 % and 80 % of 200 epochs)."""

    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.0
    lr_decay_at: tuple[float, ...] = (0.4, 0.8)
    lr_decay_factor: float = 0.1
    augment: bool = False
    loss: str = "cross_entropy"
    tf32: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_decay_at", tuple(self.lr_decay_at))
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if any(not 0 < f < 1 for f in self.lr_decay_at) or list(self.lr_decay_at) != sorted(self.lr_decay_at):
            raise ValueError(f"lr_decay_at must be increasing fractions in (0, 1), got {self.lr_decay_at!r}")
        if not 0 < self.lr_decay_factor <= 1:
            raise ValueError(f"lr_decay_factor must be in (0, 1], got {self.lr_decay_factor!r}")
        check_loss(self.loss)


@dataclass(frozen=True)
class MeasureConfig:
    """What to measure: paper §7 uses 100 pairs of size-128 minibatches at the end of every epoch.

    ``every`` = k measures (cosines, test metrics, probe) at epochs k, 2k, ..., at every epoch after
    the fraction ``dense_after`` of training, and always at the last epoch (and at initialisation
    when ``at_init``); the paper's k is 1. Training loss and accuracy are recorded at every epoch
    regardless. ``probe_size`` > 0 adds, at each measured epoch, the exact per-example Gram (eval-mode
    BN) of a fixed random probe set, summarised by :func:`gradconf.measure.confusion_summary`
    (``probe_*`` keys of the epoch; the last one is also the run's ``probe``). ``pool_size`` > 0 replaces the
    paper's direct protocol by :func:`gradconf.measure.pool_gradient_pairs` (pairs read off one Gram of a
    pool of that many examples): a different, cheaper estimator that no preset uses unless its chapter
    states the difference.
    """

    n_pairs: int = 100
    batch_size: int = 128
    bn_mode: str = "train"
    at_init: bool = True
    probe_size: int = 0
    every: int = 1
    dense_after: float = 1.0
    pool_size: int = 0

    #: Fields added after records were stored, with the value that reproduces the older behaviour: a
    #: config leaves them out of its key while they hold it, so adding them orphaned no record.
    KEY_NEUTRAL: ClassVar[dict[str, object]] = {"pool_size": 0}

    def __post_init__(self) -> None:
        for name in ("n_pairs", "batch_size", "probe_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.n_pairs < 0 or self.batch_size < 1 or self.probe_size < 0:
            raise ValueError("n_pairs and probe_size must be >= 0 and batch_size >= 1")
        if not isinstance(self.dense_after, (int, float)) or not 0 <= self.dense_after <= 1:
            raise ValueError(f"dense_after must be a fraction of training in [0, 1], got {self.dense_after!r}")
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be a positive integer (measure every k-th epoch), got {self.every!r}")
        if self.probe_size == 1:
            raise ValueError("probe_size must be 0 (off) or >= 2")
        if not isinstance(self.pool_size, int) or isinstance(self.pool_size, bool) or self.pool_size < 0:
            raise ValueError(f"pool_size must be 0 (the direct protocol) or a positive integer, got {self.pool_size!r}")
        if self.pool_size and self.pool_size < 2 * self.batch_size:
            raise ValueError(f"pool_size {self.pool_size} is smaller than one pair of minibatches ({2 * self.batch_size})")
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"unknown bn_mode {self.bn_mode!r}; allowed: {', '.join(BN_MODES)}")


@dataclass
class TrainResult:
    """Per-epoch records, status and last probe summary. With a checkpoint: ``segments``, the provenance
    of each process that trained the run (its checkpointer's ``segment`` and the first epoch it trained),
    ``resumed_after`` the epochs after which it was resumed, and ``earlier_wall_s`` the seconds spent
    before the last resumption (provenance: they never change a number)."""

    epochs: list[dict] = field(default_factory=list)
    status: str = "ok"
    probe: dict | None = None
    segments: list[dict] = field(default_factory=list)
    earlier_wall_s: float = 0.0

    @property
    def resumed_after(self) -> list[int]:
        return [int(s["from_epoch"]) - 1 for s in self.segments[1:]]


def lr_at_epoch(config: TrainConfig, epoch: int) -> float:
    """Step decay: the LR for (0-based) ``epoch``, divided by 1/factor at each fraction of training."""
    drops = sum(epoch >= round(f * config.epochs) for f in config.lr_decay_at)
    return config.lr * config.lr_decay_factor ** drops


def is_measured(epoch: int, config: TrainConfig, measure: MeasureConfig) -> bool:
    """Whether ``epoch`` (0 = initialisation) is measured (see :class:`MeasureConfig`)."""
    if epoch == 0:
        return measure.at_init
    return (epoch % measure.every == 0 or epoch == config.epochs
            or epoch > measure.dense_after * config.epochs)


def augment_images(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop from a reflect-padded image (WRN/CIFAR preprocessing).

    The draws come from ``generator``, which must live on ``x``'s device (no host round trip)."""
    n, c, h, w = x.shape
    dev = x.device
    if generator.device.type != dev.type:
        raise ValueError(f"augmentation generator is on {generator.device}, images on {dev}")
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    top = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    left = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    rows = (top[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows, cols]


@torch.no_grad()
def evaluate(model: nn.Module, data: ArrayDataset, loss: str, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (eval mode) on ``data``."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=data.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.x.device)
    for start in range(0, len(data), batch_size):
        xb, yb = data.x[start:start + batch_size], data.y[start:start + batch_size]
        out = model(xb)
        total += per_example_loss(out, yb, loss).sum().to(torch.float64)
        correct += _correct(out, yb, loss)
    model.train(was_training)
    return total.item() / len(data), correct.item() / len(data)


def _correct(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Number of correct predictions, as a 0-d tensor on the device (no host sync)."""
    if loss == "cross_entropy":
        return (out.argmax(dim=1) == y).sum()
    if loss == "logistic":
        return (torch.sign(out.reshape(-1)) == y.reshape(-1)).sum()
    return torch.zeros((), dtype=torch.int64, device=out.device)


def _measure(model: nn.Module, data: ArrayDataset, measure: MeasureConfig, loss: str, gen: torch.Generator) -> dict:
    if measure.n_pairs == 0:
        return {}
    if measure.pool_size:
        pairs = pool_gradient_pairs(model, data.x, data.y, measure.n_pairs, measure.batch_size,
                                    min(measure.pool_size, len(data)), generator=gen, loss=loss, bn_mode=measure.bn_mode)
    else:
        pairs = minibatch_gradient_pairs(model, data.x, data.y, measure.n_pairs, measure.batch_size, generator=gen,
                                         loss=loss, bn_mode=measure.bn_mode)
    cosines = pairs.cosines
    norms = torch.cat([pairs.norm_a, pairs.norm_b])
    if not bool(torch.isfinite(norms).all()) or bool(torch.isnan(cosines).all()):
        # recorded as such: no cosine statistic made of NaN or inf
        return {"cos_status": f"undefined: {int((~torch.isfinite(norms)).sum())} of {len(norms)} minibatch "
                              "gradient norms are not finite" if not bool(torch.isfinite(norms).all())
                else "undefined: every minibatch gradient is zero"}
    return {
        "cosines": [float(c) for c in cosines],
        "grad_norm_mean": float(norms.mean()),
        **{f"cos_{k}": v for k, v in cosine_summary(cosines).items() if k not in ("count", "undefined")},
    }


def probe_summary(model: nn.Module, probe: ArrayDataset, loss: str) -> dict:
    """:func:`confusion_summary` of the exact per-example Gram of ``probe`` (eval mode), or, when the
    Gram is not finite, ``{"status": ...}`` saying which quantity failed: never a number made of NaN."""
    was_training = model.training
    model.eval()
    try:
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            return {"status": "non-finite parameters", "n": len(probe)}
        gram = gradient_gram(model, probe.x, probe.y, loss=loss)
        bad = int((~torch.isfinite(gram)).sum())
        if bad:
            return {"status": f"non-finite gram ({bad} of {gram.numel()} entries)", "n": len(probe)}
        return {"status": "ok", **confusion_summary(gram)}
    finally:
        model.train(was_training)


def train(
    model: nn.Module,
    train_set: ArrayDataset,
    test_set: ArrayDataset | None,
    config: TrainConfig,
    measure: MeasureConfig = MeasureConfig(),
    *,
    seed: int,
    progress: bool = True,
    description: str = "",
    checkpoint: Checkpointer | None = None,
) -> TrainResult:
    """Train ``model`` in place with SGD; return per-epoch records (epoch 0 = at initialisation).

    ``checkpoint``: resume from its state when it has one, and save the state there at the end of an
    epoch once ``checkpoint.every_s`` seconds have passed since the last save (or the start)."""
    from tqdm import tqdm

    started = time.perf_counter()

    if len(train_set) < config.batch_size:
        raise ValueError(f"training set ({len(train_set)}) is smaller than one batch ({config.batch_size})")
    if measure.n_pairs and len(train_set) < 2 * measure.batch_size:
        raise ValueError(f"measuring needs >= {2 * measure.batch_size} training examples, have {len(train_set)}")
    if measure.probe_size > len(train_set):
        raise ValueError(f"probe_size {measure.probe_size} exceeds the training set ({len(train_set)})")
    dev = train_set.x.device
    train_gen = torch.Generator().manual_seed(seed)
    augment_gen = torch.Generator(device=dev).manual_seed(seed + 3_000_017)
    measure_gen = torch.Generator().manual_seed(seed + 1_000_003)
    probe = (train_set.subset(measure.probe_size, torch.Generator().manual_seed(seed + 2_000_003))
             if measure.probe_size else None)
    if dev.type == "cuda" and train_set.x.dim() == 4:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    result = TrainResult()
    steps_per_epoch = len(train_set) // config.batch_size  # drop the ragged last batch

    def record(epoch: int, lr: float, train_loss: float, train_acc: float) -> dict:
        rec = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": train_acc}
        if is_measured(epoch, config, measure):
            with _tf32(False):
                if test_set is not None:
                    rec["test_loss"], rec["test_acc"] = evaluate(model, test_set, config.loss)
                rec.update(_measure(model, train_set, measure, config.loss, measure_gen))
                if probe is not None:
                    with memory_peak(dev):  # the probe Gram is a run's memory peak by far: take turns at it
                        result.probe = probe_summary(model, probe, config.loss)
                    rec.update({f"probe_{k}": v for k, v in result.probe.items()})
        result.epochs.append(rec)
        return rec

    generators = {"train": train_gen, "augment": augment_gen, "measure": measure_gen}

    def snapshot(epoch: int) -> dict:
        return {"epoch": epoch, "device_type": dev.type, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generators": {name: g.get_state() for name, g in generators.items()},
                "epochs": result.epochs, "probe": result.probe, "segments": result.segments,
                "wall_s": result.earlier_wall_s + time.perf_counter() - started}

    state = checkpoint.load(dev) if checkpoint is not None else None
    model.train()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for name, g in generators.items():
            g.set_state(state["generators"][name].cpu())
        result.epochs, result.probe = list(state["epochs"]), state["probe"]
        result.segments = list(state["segments"])
        result.earlier_wall_s = float(state["wall_s"])
        first_epoch = int(state["epoch"]) + 1
        del state  # its tensors were copied into the model and optimiser: free them for the run
    else:
        first_epoch = 1
        if measure.at_init:
            with _tf32(False):  # the initial loss is a measurement, in float32 like every later measurement
                initial = evaluate(model, train_set, config.loss)
            record(0, config.lr, *initial)
            model.train()
    if checkpoint is not None:
        result.segments.append({"from_epoch": first_epoch, **checkpoint.segment})
    last_save = time.perf_counter()
    bar = tqdm(range(first_epoch, config.epochs + 1), desc=description or "train", disable=not progress,
               leave=False, initial=first_epoch - 1, total=config.epochs)
    for epoch in bar:
        lr = lr_at_epoch(config, epoch - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(len(train_set), generator=train_gen).to(dev, non_blocking=True)
        losses = torch.empty(steps_per_epoch, dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        with _tf32(config.tf32):
            for step in range(steps_per_epoch):
                idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                xb, yb = train_set.x[idx], train_set.y[idx]
                if config.augment:
                    xb = augment_images(xb, augment_gen)
                if dev.type == "cuda" and xb.dim() == 4:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                out = model(xb)
                batch_loss = per_example_loss(out, yb, config.loss).mean()
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                optimizer.step()
                losses[step] = batch_loss.detach()
                correct += _correct(out.detach(), yb, config.loss)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):  # the one host sync of an epoch
            result.status = "diverged"
            first = int((~finite).nonzero()[0, 0])
            result.epochs.append({"epoch": epoch, "lr": lr, "train_loss": math.nan, "train_acc": math.nan,
                                  "diverged_at_step": first})
            return result
        seen = steps_per_epoch * config.batch_size
        # sum of per-batch means times batch size, in float64: the same number as a host-side sum
        train_loss = float((losses * config.batch_size).sum()) / seen
        rec = record(epoch, lr, train_loss, int(correct) / seen)
        model.train()
        if checkpoint is not None and epoch < config.epochs and time.perf_counter() - last_save >= checkpoint.every_s:
            checkpoint.save(snapshot(epoch))
            last_save = time.perf_counter()
        bar.set_postfix(loss=f"{rec['train_loss']:.3f}", min_cos=f"{rec.get('cos_min', math.nan):.3f}")
    return result


class _tf32:
    """Context: allow TF32 matmuls/convolutions on CUDA (training only); a no-op on CPU."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self) -> None:
        self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = self.enabled
        torch.backends.cudnn.allow_tf32 = self.enabled

    def __exit__(self, *exc: object) -> None:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved
