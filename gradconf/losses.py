"""Per-example losses f_i (paper eq. 1: F(w) = 1/N sum_i f_i(w)).

Every measurement and the training loop use this single definition, so a "per-example gradient"
always means the gradient of exactly the loss that SGD minimises.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

LossName = Literal["cross_entropy", "mse", "logistic"]
LOSSES: tuple[str, ...] = ("cross_entropy", "mse", "logistic")


def check_loss(loss: str) -> None:
    """Raise a ValueError naming the allowed losses if ``loss`` is unknown."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")


def per_example_loss(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Vector of per-example losses f_i, shape ``(n,)``.

    - ``cross_entropy``: softmax cross-entropy, integer class targets.
    - ``mse``: f_i = 1/2 ||g(x_i) - y_i||^2 (the square loss of paper §4, eq. 4's setting).
    - ``logistic``: f_i = log(1 + exp(-y_i g(x_i))) with labels y_i in [-1, 1] (paper §2 worked example).
    """
    check_loss(loss)
    n = output.shape[0]
    if loss == "cross_entropy":
        return F.cross_entropy(output, target, reduction="none")
    if loss == "mse":
        diff = output.reshape(n, -1) - target.reshape(n, -1).to(output.dtype)
        return 0.5 * diff.pow(2).sum(dim=1)
    margin = target.reshape(n).to(output.dtype) * output.reshape(n)
    return F.softplus(-margin)
