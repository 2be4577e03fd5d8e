"""Constant-step SGD with step decay and per-epoch gradient-confusion measurements (paper §7 protocol).

Per epoch the loop records train loss/accuracy (averaged over the epoch's steps), test loss/accuracy,
and the cosines of ``n_pairs`` minibatch-gradient pairs on the (un-augmented) training set. The
measurement draws from its own random stream, so changing how much is measured never changes the
training trajectory. A non-finite loss ends the run with status ``diverged``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .data import ArrayDataset
from .losses import check_loss, per_example_loss
from .measure import BN_MODES, confusion_summary, cosine_summary, gradient_gram, minibatch_gradient_pairs


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_decay_at", tuple(self.lr_decay_at))
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
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

    ``every`` = k measures (cosines and test metrics) at epochs k, 2k, ... and always at the last
    epoch (and at initialisation when ``at_init``); the paper's k is 1. Training loss and accuracy are
    recorded at every epoch regardless. ``probe_size`` > 0 adds the exact per-example Gram (eval-mode
    BN) of a fixed random probe set at the end of training, summarised by
    :func:`gradconf.measure.confusion_summary`.
    """

    n_pairs: int = 100
    batch_size: int = 128
    bn_mode: str = "train"
    at_init: bool = True
    probe_size: int = 0
    every: int = 1

    def __post_init__(self) -> None:
        if self.n_pairs < 0 or self.batch_size < 1 or self.probe_size < 0:
            raise ValueError("n_pairs and probe_size must be >= 0 and batch_size >= 1")
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be a positive integer (measure every k-th epoch), got {self.every!r}")
        if self.probe_size == 1:
            raise ValueError("probe_size must be 0 (off) or >= 2")
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"unknown bn_mode {self.bn_mode!r}; allowed: {', '.join(BN_MODES)}")


@dataclass
class TrainResult:
    epochs: list[dict] = field(default_factory=list)
    status: str = "ok"
    probe: dict | None = None


def lr_at_epoch(config: TrainConfig, epoch: int) -> float:
    """Step decay: the LR for (0-based) ``epoch``, divided by 1/factor at each fraction of training."""
    drops = sum(epoch >= round(f * config.epochs) for f in config.lr_decay_at)
    return config.lr * config.lr_decay_factor ** drops


def augment_images(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop from a reflect-padded image (WRN/CIFAR preprocessing)."""
    n, c, h, w = x.shape
    dev = x.device  # random draws stay on the (CPU) generator, so a GPU run sees the same augmentations
    flip = (torch.rand(n, generator=generator) < 0.5).to(dev)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    top = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    left = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    rows = (top[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows, cols]


@torch.no_grad()
def evaluate(model: nn.Module, data: ArrayDataset, loss: str, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (eval mode) on ``data``."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        xb, yb = data.x[start:start + batch_size], data.y[start:start + batch_size]
        out = model(xb)
        total += per_example_loss(out, yb, loss).sum().item()
        correct += _correct(out, yb, loss)
    model.train(was_training)
    return total / len(data), correct / len(data)


def _correct(out: torch.Tensor, y: torch.Tensor, loss: str) -> int:
    if loss == "cross_entropy":
        return int((out.argmax(dim=1) == y).sum().item())
    if loss == "logistic":
        return int((torch.sign(out.reshape(-1)) == y.reshape(-1)).sum().item())
    return 0


def _measure(model: nn.Module, data: ArrayDataset, measure: MeasureConfig, loss: str, gen: torch.Generator) -> dict:
    if measure.n_pairs == 0:
        return {}
    pairs = minibatch_gradient_pairs(
        model, data.x, data.y, measure.n_pairs, measure.batch_size, generator=gen, loss=loss, bn_mode=measure.bn_mode
    )
    cosines = pairs.cosines
    return {
        "cosines": [float(c) for c in cosines],
        "grad_norm_mean": float(torch.cat([pairs.norm_a, pairs.norm_b]).mean()),
        **{f"cos_{k}": v for k, v in cosine_summary(cosines).items() if k not in ("count", "undefined")},
    }


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
) -> TrainResult:
    """Train ``model`` in place with SGD; return per-epoch records (epoch 0 = at initialisation)."""
    from tqdm import tqdm

    if len(train_set) < config.batch_size:
        raise ValueError(f"training set ({len(train_set)}) is smaller than one batch ({config.batch_size})")
    if measure.n_pairs and len(train_set) < 2 * measure.batch_size:
        raise ValueError(f"measuring needs >= {2 * measure.batch_size} training examples, have {len(train_set)}")
    train_gen = torch.Generator().manual_seed(seed)
    measure_gen = torch.Generator().manual_seed(seed + 1_000_003)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    result = TrainResult()
    steps_per_epoch = len(train_set) // config.batch_size  # drop the ragged last batch

    def record(epoch: int, lr: float, train_loss: float, train_acc: float) -> dict:
        rec = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": train_acc}
        if epoch % measure.every == 0 or epoch == config.epochs:
            if test_set is not None:
                rec["test_loss"], rec["test_acc"] = evaluate(model, test_set, config.loss)
            rec.update(_measure(model, train_set, measure, config.loss, measure_gen))
        result.epochs.append(rec)
        return rec

    model.train()
    if measure.at_init:
        record(0, config.lr, *evaluate(model, train_set, config.loss))
        model.train()
    bar = tqdm(range(1, config.epochs + 1), desc=description or "train", disable=not progress, leave=False)
    for epoch in bar:
        lr = lr_at_epoch(config, epoch - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(len(train_set), generator=train_gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size].to(train_set.x.device)
            xb, yb = train_set.x[idx], train_set.y[idx]
            if config.augment:
                xb = augment_images(xb, train_gen)
            out = model(xb)
            batch_loss = per_example_loss(out, yb, config.loss).mean()
            if not torch.isfinite(batch_loss):
                result.status = "diverged"
                result.epochs.append({"epoch": epoch, "lr": lr, "train_loss": math.nan, "train_acc": math.nan, "diverged_at_step": step})
                return result
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            loss_sum += batch_loss.item() * len(idx)
            correct += _correct(out.detach(), yb, config.loss)
            seen += len(idx)
        rec = record(epoch, lr, loss_sum / seen, correct / seen)
        model.train()
        bar.set_postfix(loss=f"{rec['train_loss']:.3f}", min_cos=f"{rec.get('cos_min', math.nan):.3f}")
    if measure.probe_size:
        probe_gen = torch.Generator().manual_seed(seed + 2_000_003)
        probe = train_set.subset(measure.probe_size, probe_gen)
        model.eval()
        result.probe = confusion_summary(gradient_gram(model, probe.x, probe.y, loss=config.loss))
        model.train()
    return result
