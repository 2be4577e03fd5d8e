"""Wall-clock cost of gradient measurements, as ratios to one plain batched forward+backward.

Ratios, not seconds, are what transfer between machines; :mod:`benchmarks.bench_gram` and the
"How we measure" chapter both use these helpers.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from .losses import per_example_loss


def call_seconds(fn: Callable[[], object], repeats: int, warmup: bool = True) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn()`` (after one untimed warm-up call)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (after one untimed warm-up call)."""
    return statistics.median(call_seconds(fn, repeats, warmup))


def fastest_seconds(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` calls (after one untimed warm-up call): the estimate of
    a computation's own cost on a shared machine, where interference only ever adds time (medians of
    ratios moved by +-10 % between identical runs of the benchmark on the 2-core machine)."""
    return min(call_seconds(fn, repeats, warmup))


def forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> None:
    """One plain batched forward+backward of the mean loss: the unit every ratio is measured in."""
    model.zero_grad(set_to_none=True)
    per_example_loss(model(x), y, loss).mean().backward()
    model.zero_grad(set_to_none=True)
