"""Gradient-confusion quantities: the paper's minibatch protocol and summaries of exact Grams.

- :func:`minibatch_cosines`: paper §7's protocol: cosines between the gradients of random pairs of
  minibatches (100 pairs of 128 in the paper), each gradient one ordinary backward pass.
- :func:`confusion_summary`: eta of Definition 2.1 (eq. 3), cosine statistics, gradient diversity
  (Yin et al. 2018) and m-coherence (Chatterjee & Zielinski 2020), all from one per-example Gram
  (:func:`gradconf.gram.gradient_gram`).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .gram import GRAM_METHODS, gradient_gram, trainable_parameters  # noqa: F401  (re-exported)
from .losses import check_loss, per_example_loss

BN_MODES: tuple[str, ...] = ("train", "eval")


@dataclass(frozen=True)
class MinibatchPairs:
    """Gradients of ``n_pairs`` minibatch pairs (a, b): inner products, norms and cosines, float64."""

    inner: torch.Tensor
    norm_a: torch.Tensor
    norm_b: torch.Tensor

    @property
    def cosines(self) -> torch.Tensor:
        return self.inner / (self.norm_a * self.norm_b)


@contextmanager
def _bn_mode(model: nn.Module, bn_mode: str | None) -> Iterator[None]:
    """Put BatchNorm layers in ``bn_mode`` and restore modes and running statistics afterwards."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if bns and bn_mode not in BN_MODES:
        raise ValueError(
            "the model has BatchNorm layers: state bn_mode='train' (batch statistics, as in a training step; "
            "the paper's setting is not specified) or bn_mode='eval' (running statistics)"
        )
    modes = [m.training for m in bns]
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in bns]
    try:
        for m in bns:
            m.train(bn_mode == "train")
        yield
    finally:
        with torch.no_grad():
            for m, mode, buffers in zip(bns, modes, saved):
                m.train(mode)
                for k, v in buffers.items():
                    getattr(m, k).copy_(v)


def _flat_gradient(model: nn.Module, params: list[nn.Parameter], x: torch.Tensor, y: torch.Tensor, loss: str,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """The minibatch-mean loss gradient as one float64 vector, written into ``out`` when given.

    Reusing ``out`` across minibatches matters: a fresh vector of millions of float64 is a fresh mapping
    whose pages the kernel zero-fills on first touch (measured on the 6M-parameter MLP at batch 128 in a
    fresh process: the copy costs 0.05x a forward+backward into a reused buffer, 0.45x into a fresh one;
    less after the process has churned through large allocations). The values are the same either way:
    each float32 gradient entry converted to float64.
    """
    with torch.enable_grad():
        value = per_example_loss(model(x), y, loss).mean()
        grads = torch.autograd.grad(value, params, allow_unused=True)
    if out is None:
        out = torch.empty(sum(p.numel() for p in params), dtype=torch.float64, device=x.device)
    start = 0
    for p, g in zip(params, grads):
        part = out[start:start + p.numel()]
        if g is None:
            part.zero_()
        else:
            part.copy_(g.reshape(-1))
        start += p.numel()
    return out


def _check_pair_request(loss: str, n_pairs: int, batch_size: int) -> None:
    """The argument checks both pair estimators share, before any compute."""
    check_loss(loss)
    if n_pairs < 1 or batch_size < 1:
        raise ValueError(f"n_pairs and batch_size must be >= 1, got {n_pairs} and {batch_size}")


def minibatch_gradient_pairs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_pairs: int = 100,
    batch_size: int = 128,
    *,
    generator: torch.Generator,
    loss: str = "cross_entropy",
    bn_mode: str | None = None,
) -> MinibatchPairs:
    """Gradients of random minibatch pairs, as in paper §7 ("100 pairs of minibatches of size 128").

    Each pair is two disjoint minibatches drawn without replacement from ``(x, y)``; pairs are drawn
    independently. Each minibatch gradient is the gradient of the mean loss from one ordinary
    backward pass, so BatchNorm may be in train mode (``bn_mode``; required when the model has BN).
    Running statistics and module modes are restored afterwards; no ``.grad`` is written.
    """
    _check_pair_request(loss, n_pairs, batch_size)
    n = x.shape[0]
    if n < 2 * batch_size:
        raise ValueError(f"need at least 2 * batch_size = {2 * batch_size} examples for a disjoint pair, got {n}")
    params = [p for _, p in trainable_parameters(model)]
    size = sum(p.numel() for p in params)
    buffer_a = torch.empty(size, dtype=torch.float64, device=x.device)
    buffer_b = torch.empty(size, dtype=torch.float64, device=x.device)
    inner, norm_a, norm_b = [], [], []
    with _bn_mode(model, bn_mode):
        for _ in range(n_pairs):
            idx = torch.randperm(n, generator=generator)[: 2 * batch_size].to(x.device)
            ga = _flat_gradient(model, params, x[idx[:batch_size]], y[idx[:batch_size]], loss, buffer_a)
            gb = _flat_gradient(model, params, x[idx[batch_size:]], y[idx[batch_size:]], loss, buffer_b)
            inner.append(ga @ gb)
            norm_a.append(ga.norm())
            norm_b.append(gb.norm())
    return MinibatchPairs(torch.stack(inner).cpu(), torch.stack(norm_a).cpu(), torch.stack(norm_b).cpu())


def minibatch_cosines(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_pairs: int = 100,
    batch_size: int = 128,
    *,
    generator: torch.Generator,
    loss: str = "cross_entropy",
    bn_mode: str | None = None,
) -> torch.Tensor:
    """Cosine similarities of ``n_pairs`` random minibatch-gradient pairs (paper §7, Figs. 2-4)."""
    return minibatch_gradient_pairs(
        model, x, y, n_pairs, batch_size, generator=generator, loss=loss, bn_mode=bn_mode
    ).cosines


def pairs_from_gram(gram: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> MinibatchPairs:
    """Minibatch-mean gradient pairs read off a per-example Gram: ⟨ḡ_A, ḡ_B⟩ = (1/|A||B|) Σ_{i∈A, j∈B} G_ij and
    ‖ḡ_A‖² = (1/|A|²) Σ_{i,j∈A} G_ij, for each (A, B) of index tensors into the Gram's examples. Exact for models
    without BatchNorm in train mode (whose minibatch gradient is not a mean of per-example ones)."""
    g = gram.detach().to(torch.float64)
    inner, norm_a, norm_b = [], [], []
    for a, b in pairs:
        inner.append(g[a][:, b].sum() / (len(a) * len(b)))
        norm_a.append(g[a][:, a].sum().clamp_min(0).sqrt() / len(a))
        norm_b.append(g[b][:, b].sum().clamp_min(0).sqrt() / len(b))
    return MinibatchPairs(torch.stack(inner).cpu(), torch.stack(norm_a).cpu(), torch.stack(norm_b).cpu())


def pool_gradient_pairs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_pairs: int = 100,
    batch_size: int = 128,
    pool_size: int = 1024,
    *,
    generator: torch.Generator,
    loss: str = "cross_entropy",
    bn_mode: str | None = None,
) -> MinibatchPairs:
    """A cheaper estimator of the paper's measurement (issue 17, item 5): one exact per-example Gram of a random
    pool of ``pool_size`` examples, then ``n_pairs`` pairs of disjoint size-``batch_size`` minibatches drawn
    from the pool, each pair's inner product and norms read off the Gram (:func:`pairs_from_gram`).

    Each pair's cosine is exact for its two minibatches, but all pairs share one pool, so the statistics of a
    set of pairs differ from the direct protocol's (:func:`minibatch_gradient_pairs`): the measurement
    chapter shows the bias and spread of the minimum, median and std against the pool size. BatchNorm in
    train mode has no per-example gradients: such a model is refused (``bn_mode="eval"`` is allowed)."""
    _check_pair_request(loss, n_pairs, batch_size)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if has_bn and bn_mode != "eval":
        raise ValueError("the pool measurement reads minibatch gradients off a per-example Gram, which BatchNorm in "
                         "train mode does not have: use the direct protocol, or bn_mode='eval'")
    n = x.shape[0]
    if not 2 * batch_size <= pool_size <= n:
        raise ValueError(f"pool_size must lie between 2 * batch_size = {2 * batch_size} and the {n} examples, "
                         f"got {pool_size}")
    pool = torch.randperm(n, generator=generator)[:pool_size].to(x.device)
    with _bn_mode(model, bn_mode if has_bn else None):
        gram = gradient_gram(model, x[pool], y[pool], loss=loss)
    pairs = []
    for _ in range(n_pairs):
        idx = torch.randperm(pool_size, generator=generator)[: 2 * batch_size]
        pairs.append((idx[:batch_size], idx[batch_size:]))
    return pairs_from_gram(gram, pairs)


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The entries above the diagonal (each unordered pair i < j once)."""
    i, j = torch.triu_indices(matrix.shape[0], matrix.shape[1], offset=1)
    return matrix[i, j]


#: |cosine| above 1 + this breaks Cauchy–Schwarz by more than rounding: the Gram's entries are unreliable.
CAUCHY_SCHWARZ_TOLERANCE = 1e-3


def degenerate_examples(gram: torch.Tensor, norms: torch.Tensor, cosines: torch.Tensor) -> torch.Tensor:
    """Which examples' cosines are undefined: a zero gradient, or one whose Gram entries break Cauchy–Schwarz.

    A well-fitted example's gradient can be so small that its squared norm underflows in float32 (to 0 or a
    subnormal) while its inner products with larger gradients do not, giving cosines of ±inf or beyond ±1.
    Of each pair whose cosine is not finite or exceeds 1 + :data:`CAUCHY_SCHWARZ_TOLERANCE` in magnitude,
    the example with the smaller norm is blamed."""
    bad = ~torch.isfinite(cosines) | (cosines.abs() > 1 + CAUCHY_SCHWARZ_TOLERANCE)
    bad.fill_diagonal_(False)
    i, j = bad.nonzero(as_tuple=True)
    degenerate = norms == 0
    degenerate[torch.where(norms[i] <= norms[j], i, j)] = True
    return degenerate


def gram_cosines(gram: torch.Tensor) -> torch.Tensor:
    """Cosine matrix G[i, j] / sqrt(G[i, i] G[j, j]); NaN in the rows and columns of
    :func:`degenerate_examples` (zero gradients and gradients too small for the Gram's precision)."""
    norms = gram.diagonal().clamp_min(0).sqrt()
    cosines = gram / (norms[:, None] * norms[None, :])
    degenerate = degenerate_examples(gram, norms, cosines)
    if bool(degenerate.any()):
        cosines = cosines.clone()
        cosines[degenerate, :] = math.nan
        cosines[:, degenerate] = math.nan
    return cosines


def cosine_summary(cosines: torch.Tensor) -> dict[str, float]:
    """Min, 5/50/95 % quantiles, mean, std and fraction negative of a set of cosines (NaNs excluded)."""
    c = torch.as_tensor(cosines, dtype=torch.float64).reshape(-1)
    defined = c[~torch.isnan(c)]
    if defined.numel() == 0:
        if c.numel() == 0:
            raise ValueError("no cosine to summarise (empty input)")
        raise ValueError(f"every cosine is undefined ({c.numel()} of {c.numel()} are NaN): the gradients are "
                         "zero or not finite (check the parameters and the loss for inf/NaN)")
    q = torch.quantile(defined, torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64))
    return {
        "min": defined.min().item(),
        "q05": q[0].item(),
        "median": q[1].item(),
        "q95": q[2].item(),
        "mean": defined.mean().item(),
        "std": defined.std(unbiased=False).item(),
        "frac_negative": (defined < 0).double().mean().item(),
        "count": int(defined.numel()),
        "undefined": int(c.numel() - defined.numel()),
    }


def confusion_summary(gram: torch.Tensor) -> dict[str, float]:
    """Gradient-confusion statistics of one per-example (or per-minibatch) Gram matrix.

    - ``eta`` = max(0, -min_{i != j} G[i, j]): the confusion bound of Definition 2.1, eq. 3 (raw scale).
    - ``min_inner``, ``mean_inner``: off-diagonal inner products.
    - ``cos_*``: :func:`cosine_summary` of the off-diagonal cosines (the normalised confusion).
    - ``gradient_diversity`` = sum_i ||g_i||^2 / ||sum_i g_i||^2 (Yin et al. 2018).
    - ``m_coherence`` = ||sum_i g_i||^2 / sum_i ||g_i||^2 = 1 / diversity (Chatterjee & Zielinski 2020).
    - ``sign_stiffness`` = mean_{i != j} sign <g_i, g_j> (Fort et al. 2019); cosine stiffness is ``cos_mean``.
    - ``mean_sq_norm``: mean ||g_i||^2, the scale that relates raw and normalised confusion.
    - ``noise_scale`` = tr(Sigma) / ||g_bar||^2 (McCandlish et al. 2018's B_simple, from the same Gram).
    """
    g = gram.detach().to(torch.float64).cpu()
    if g.dim() != 2 or g.shape[0] != g.shape[1] or g.shape[0] < 2:
        raise ValueError(f"need a square Gram of at least 2 x 2, got shape {tuple(g.shape)}")
    bad = int((~torch.isfinite(g)).sum())
    if bad:
        # a NaN would otherwise become a plausible number (max(0, -nan) is 0)
        raise ValueError(f"the Gram has {bad} non-finite entries of {g.numel()}: its statistics are undefined "
                         "(non-finite parameters, inputs or gradients)")
    inner = off_diagonal(g)
    trace = g.diagonal().sum().item()
    total = g.sum().item()
    summary = {
        "n": int(g.shape[0]),
        "eta": max(0.0, -inner.min().item()),
        "min_inner": inner.min().item(),
        "mean_inner": inner.mean().item(),
        "mean_sq_norm": trace / g.shape[0],
        "gradient_diversity": trace / total if total > 0 else math.inf,
        "m_coherence": total / trace if trace > 0 else math.nan,
        "sign_stiffness": torch.sign(inner).mean().item(),
        "noise_scale": simple_noise_scale(g),
    }
    summary.update({f"cos_{k}": v for k, v in cosine_summary(off_diagonal(gram_cosines(g))).items()})
    return summary


def simple_noise_scale(gram: torch.Tensor) -> float:
    """B_simple = tr(Sigma) / ||g_bar||^2 from a per-example Gram (McCandlish et al. 2018).

    ||g_bar||^2 = (1/n^2) sum_ij G_ij and tr(Sigma) = (1/n) tr G - ||g_bar||^2 (population covariance of
    the n per-example gradients). Infinite when the mean gradient is zero.
    """
    g = gram.detach().to(torch.float64)
    n = g.shape[0]
    mean_sq = g.sum().item() / n ** 2
    trace_sigma = g.diagonal().sum().item() / n - mean_sq
    return trace_sigma / mean_sq if mean_sq > 0 else math.inf


def predicted_minibatch_cosine(noise_scale: float, batch_size: int | float, population: int | None = None) -> float:
    """Typical cosine of two independent size-B minibatch gradients: E<g_a, g_b> / E||g_S||^2.

    With replacement (``population=None``): E<g_a, g_b> = ||G||^2 and E||g_S||^2 = ||G||^2 + tr(Sigma)/B,
    so the ratio is 1 / (1 + B_simple / B). For two *disjoint* batches drawn without replacement from
    ``population`` = n examples (the paper's protocol, and ours), E<g_a, g_b> = ||G||^2 - tr(Sigma)/(n-1)
    and E||g_S||^2 = ||G||^2 + tr(Sigma)(n-B)/(B(n-1)). The paper's minimum cosine is the tail of this law.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    if population is None:
        return 1.0 / (1.0 + noise_scale / batch_size)
    if not 2 * batch_size <= population:
        raise ValueError(f"two disjoint batches of {batch_size} need population >= {2 * batch_size}, got {population}")
    n, b = population, batch_size
    return (1.0 - noise_scale / (n - 1)) / (1.0 + noise_scale * (n - b) / (b * (n - 1)))
