"""Gradient size against gradient confusion at a stationary point (paper §3 remark; checklist item 5).

At a stationary point w* of F = (1/n) Σ f_i the per-example gradients sum to zero. With
η = max(0, −min_{i≠j} ⟨g_i, g_j⟩), G² = max_i ‖g_i‖² and σ² = (1/n) Σ ‖g_i‖² (the variance, since ḡ = 0):

    η ≤ G² ≤ (n − 1) η          and          σ² / (n − 1) ≤ η ≤ n σ² / 2.

η ≤ G² is Cauchy–Schwarz; ‖g_i‖² = −Σ_{j≠i} ⟨g_i, g_j⟩ ≤ (n − 1) η because g_i = −Σ_{j≠i} g_j; summing that over
i gives σ² ≤ (n − 1) η; and ‖g_i‖² + ‖g_j‖² ≤ n σ² gives η ≤ n σ² / 2. So a small bound on the gradients
forces small confusion (η ≤ G²), while small confusion allows gradients n − 1 times larger: the regular
simplex (:func:`simplex_gradients`) attains G² = σ² = (n − 1) η, and an antipodal pair g, −g with all other
gradients zero attains η = n σ² / 2.
"""
from __future__ import annotations

import math

import torch

from .measure import confusion_summary


def gradient_variance(gram: torch.Tensor) -> float:
    """tr Σ = (1/n) Σ ‖g_i‖² − ‖ḡ‖², the total variance of the n per-example gradients, from their Gram."""
    g = gram.detach().to(torch.float64)
    n = g.shape[0]
    return float(g.diagonal().sum() / n - g.sum() / n ** 2)


def simplex_gradients(n: int, norm: float = 1.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n vectors of length ``norm`` summing to zero with every pairwise inner product −norm²/(n − 1): the
    vertices of a regular simplex centred at 0 (rows; the gradients of f_i(w) = ½‖w − a_i‖² at w* = 0)."""
    if n < 2:
        raise ValueError(f"a simplex needs n >= 2 vertices, got {n}")
    centred = torch.eye(n, dtype=dtype) - 1.0 / n
    return norm * centred / centred[0].norm()


def random_stationary_gradients(n: int, dim: int, *, generator: torch.Generator, spread: float = 1.0) -> torch.Tensor:
    """n Gaussian vectors in R^dim with per-vector scales log-uniform over ``spread`` decades, centred so that
    they sum to zero (the per-example gradients at a stationary point of their mean)."""
    scales = 10.0 ** (spread * torch.rand(n, 1, generator=generator, dtype=torch.float64))
    g = scales * torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return g - g.mean(dim=0)


def antipodal_gradients(n: int, dim: int = 2, norm: float = 1.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """g_1 = −g_2 of length ``norm``, every other gradient zero: attains η = nσ²/2 (and η = G²)."""
    if n < 2:
        raise ValueError(f"need n >= 2 gradients, got {n}")
    g = torch.zeros(n, dim, dtype=dtype)
    g[0, 0], g[1, 0] = norm, -norm
    return g


def stationary_check(g: torch.Tensor) -> dict[str, float]:
    """η, G² = max ‖g_i‖², σ² = (1/n) Σ‖g_i‖² − ‖ḡ‖² and ‖ḡ‖ for gradients ``g`` (rows; the bounds in the module
    docstring hold when they sum to zero)."""
    gram = g.detach().to(torch.float64) @ g.detach().to(torch.float64).T
    n = g.shape[0]
    summary = confusion_summary(gram)
    return {"n": n, "eta": summary["eta"], "max_sq": float(gram.diagonal().max()),
            "variance": gradient_variance(gram), "mean_norm": float(g.sum(dim=0).norm() / n)}


def bounds_hold(row: dict[str, float], rtol: float = 1e-9) -> bool:
    """Whether η ≤ G² ≤ (n − 1)η and σ²/(n − 1) ≤ η ≤ nσ²/2 all hold for one :func:`stationary_check`, up to
    relative rounding ``rtol`` of the largest quantity."""
    n, eta, g2, var = row["n"], row["eta"], row["max_sq"], row["variance"]
    slack = rtol * max(g2, n * var, 1e-300)
    return (math.isfinite(eta) and eta <= g2 + slack and g2 <= (n - 1) * eta + slack
            and var / (n - 1) <= eta + slack and eta <= n * var / 2 + slack)
