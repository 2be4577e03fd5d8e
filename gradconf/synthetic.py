"""Synthetic data for the theory chapters.

- :func:`sphere_teacher`: x_i i.i.d. uniform on the unit sphere of R^d, labels from a Lipschitz
  teacher C(x) = tanh(v . x) with ||v|| = 1, so |C| <= 1 and ||grad C|| <= 1 (paper §4, the data
  model of Thms 4.1, 5.1 and 6.1).
- :func:`gaussian_regression`: Gaussian linear-regression data (paper Fig. 1: N = 100, d = 80 vs 120).
- :func:`orthogonal_inputs`: exactly orthogonal inputs (paper §2 worked example: zero confusion).
"""
from __future__ import annotations

import torch

from .data import ArrayDataset


def unit_sphere(n: int, d: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n points uniform on the unit sphere S^{d-1} (normalised standard Gaussians)."""
    if n < 1 or d < 1:
        raise ValueError(f"n and d must be >= 1, got n={n}, d={d}")
    g = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return (g / g.norm(dim=1, keepdim=True)).to(dtype)


def sphere_teacher(
    n: int, d: int, *, generator: torch.Generator, labels: str = "regression", dtype: torch.dtype = torch.float32,
) -> ArrayDataset:
    """Unit-sphere inputs with teacher labels C(x) = tanh(v . x), ||v|| = 1.

    ``labels="regression"`` returns C(x) as an (n, 1) float target (square loss);
    ``labels="sign"`` returns sign(C(x)) in {-1, +1} (logistic loss).
    """
    if labels not in ("regression", "sign"):
        raise ValueError(f"unknown labels {labels!r}; allowed: regression, sign")
    x = unit_sphere(n, d, generator=generator, dtype=torch.float64)
    v = unit_sphere(1, d, generator=generator, dtype=torch.float64)[0]
    c = torch.tanh(x @ v)
    y = c[:, None] if labels == "regression" else torch.where(c >= 0, 1.0, -1.0).to(torch.float64)
    return ArrayDataset(x.to(dtype), y.to(dtype), f"sphere-teacher-d{d}")


def gaussian_regression(
    n: int, d: int, *, generator: torch.Generator, targets: str = "random", noise: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> ArrayDataset:
    """x_i ~ N(0, I_d / d) (so ||x_i|| ~ 1) with targets that are either ``random`` (y ~ N(0, 1),
    interpolable only when d >= n) or a linear ``teacher`` y = w*.x + noise."""
    if targets not in ("random", "teacher"):
        raise ValueError(f"unknown targets {targets!r}; allowed: random, teacher")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    x = torch.randn(n, d, generator=generator, dtype=torch.float64) / d ** 0.5
    if targets == "random":
        y = torch.randn(n, generator=generator, dtype=torch.float64)
    else:
        w = torch.randn(d, generator=generator, dtype=torch.float64)
        y = x @ w + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return ArrayDataset(x.to(dtype), y[:, None].to(dtype), f"gaussian-regression-n{n}-d{d}")


def orthogonal_inputs(n: int, d: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n mutually orthogonal unit vectors in R^d (requires n <= d)."""
    if n > d:
        raise ValueError(f"at most d = {d} orthogonal vectors exist in R^{d}, asked for {n}")
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=generator, dtype=torch.float64))
    return q.T.contiguous().to(dtype)
