"""Per-sample confusion of MLPs whose weights have operator norm ≤ 1 (paper Thm 5.1 and Cor 5.1, v5).

The setting is the theorems' (paper §4(a), Assumption 1): data uniform on the unit sphere of R^d with
Lipschitz teacher labels C(x) = tanh(vᵀx) (:func:`gradconf.synthetic.sphere_teacher`), an MLP with a
bounded activation (tanh) and every weight matrix drawn Gaussian, then rescaled to operator norm exactly 1
(init scheme ``spectral``). Thm 5.1 bounds P(min_{i≠j}⟨∇f_i, ∇f_j⟩ ≥ −η) from below by
1 − N² exp(−c d η² / (16 ζ_0⁴ (β + 2)⁴)): a bound that weakens with depth β, strengthens with
dimension d and does not involve the width ℓ. Cor 5.1 extends it uniformly to a ball of radius r
around the weights.

- :func:`bounded_sweeps`: one-at-a-time sweeps of depth, width and d around a centre point, many draws.
- :func:`single_entry_gram`: the paper's example of width independence (one entry 1 per matrix).
- :func:`worst_in_ball`: the worst confusion found within a ball around given weights (Cor 5.1).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch.func import functional_call, grad

from .gram import gradient_gram
from .init import InitConfig
from .init_confusion import init_confusion_draws
from .losses import per_example_loss
from .measure import confusion_summary
from .models import MLPConfig, build_model
from .synthetic import sphere_teacher

#: Assumption 1: every weight matrix has operator norm 1 (the largest the assumption allows).
UNIT_NORM = InitConfig(scheme="spectral", gain=1.0)


def bounded_sweeps(*, width: int, depth: int, d: int, widths: Sequence[int], depths: Sequence[int],
                   dims: Sequence[int], n: int, draws: int, activation: str = "tanh", loss: str = "mse",
                   seed: int = 0) -> pd.DataFrame:
    """Confusion at ‖W_p‖_op = 1 along three one-at-a-time sweeps around (``width``, ``depth``, ``d``):
    one row per (sweep, value, draw) with the columns of :func:`gradconf.init_confusion.init_confusion_draws`
    plus ``d`` and ``sweep`` ("depth", "width" or "d"). Every draw k has its own data and weights."""
    frames = [
        init_confusion_draws([width], depths, n=n, d=d, draws=draws, activation=activation, loss=loss, seed=seed,
                             init=UNIT_NORM).assign(d=d, sweep="depth"),
        init_confusion_draws(widths, [depth], n=n, d=d, draws=draws, activation=activation, loss=loss, seed=seed,
                             init=UNIT_NORM).assign(d=d, sweep="width"),
    ]
    for dim in dims:
        frames.append(init_confusion_draws([width], [depth], n=n, d=dim, draws=draws, activation=activation,
                                           loss=loss, seed=seed, init=UNIT_NORM).assign(d=dim, sweep="d"))
    return pd.concat(frames, ignore_index=True)


def single_entry_model(d: int, width: int, depth: int, activation: str = "tanh") -> torch.nn.Module:
    """The paper's width-independence example: every weight matrix has a single entry 1 (at [0, 0]), so each
    has operator norm 1, and zero biases. The net computes σ(…σ(x_0)) whatever its width (float64)."""
    model = build_model(MLPConfig(input_dim=d, width=width, depth=depth, output_dim=1, activation=activation),
                        InitConfig(scheme="gaussian"), seed=0).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
                m.weight[0, 0] = 1.0
                if m.bias is not None:
                    m.bias.zero_()
    return model


def single_entry_gram(x: torch.Tensor, y: torch.Tensor, *, width: int, depth: int, loss: str = "mse",
                      activation: str = "tanh") -> torch.Tensor:
    """The exact per-sample Gram of :func:`single_entry_model` on (x, y), in float64."""
    model = single_entry_model(x.shape[1], width, depth, activation)
    return gradient_gram(model, x.double(), y.double(), loss=loss)


def _gram_summary(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> dict[str, float]:
    return confusion_summary(gradient_gram(model, x, y, loss=loss, method="ghost"))


def worst_in_ball(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float, *, directions: int,
                  steps: int, loss: str = "mse", generator: torch.Generator) -> dict[str, float]:
    """The most confused weights found in the ball ‖W′ − W‖ ≤ ``radius`` (all parameters as one vector; paper
    Cor 5.1): the lowest min_{i≠j}⟨g_i, g_j⟩ (``worst_min_inner``) and the lowest min cosine (``worst_cos_min``).

    The search, stated because a ball cannot be searched exhaustively: ``directions`` random points on the
    ball's surface (Gaussian directions), then from the one with the lowest min inner product, ``steps``
    steps of projected gradient descent (step radius / 4, normalised) on the inner product of the currently
    most negative pair. The centre itself counts. ``model`` is left unchanged.
    """
    if radius < 0 or directions < 0 or steps < 0:
        raise ValueError(f"radius, directions and steps must be >= 0, got {radius}, {directions}, {steps}")
    names = [k for k, _ in model.named_parameters()]
    centre = {k: v.detach().clone() for k, v in model.named_parameters()}

    def load(params: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(params[k])

    def summary_at(params: dict[str, torch.Tensor]) -> dict[str, float]:
        load(params)
        return _gram_summary(model, x, y, loss)

    def project(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        delta = torch.sqrt(sum(((params[k] - centre[k]) ** 2).sum() for k in names))
        scale = min(1.0, radius / float(delta)) if float(delta) > 0 else 1.0
        return {k: centre[k] + scale * (params[k] - centre[k]) for k in names}

    try:
        best = summary_at(centre)
        worst_inner, worst_cos = best["min_inner"], best["cos_min"]
        start, start_inner = centre, best["min_inner"]
        if radius > 0:
            for _ in range(directions):
                u = {k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in centre.items()}
                norm = torch.sqrt(sum((t ** 2).sum() for t in u.values()))
                point = {k: centre[k] + radius * u[k] / norm for k in names}
                s = summary_at(point)
                worst_inner, worst_cos = min(worst_inner, s["min_inner"]), min(worst_cos, s["cos_min"])
                if s["min_inner"] < start_inner:
                    start, start_inner = point, s["min_inner"]

            def example_loss(params: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
                out = functional_call(model, params, (xi[None],))
                return per_example_loss(out, yi[None], loss).sum()

            def pair_inner(params: dict[str, torch.Tensor], i: int, j: int) -> torch.Tensor:
                gi, gj = grad(example_loss)(params, x[i], y[i]), grad(example_loss)(params, x[j], y[j])
                return sum((gi[k] * gj[k]).sum() for k in names)

            point = start
            for _ in range(steps):
                load(point)
                gram = gradient_gram(model, x, y, loss=loss, method="ghost").double()
                off = gram + torch.diag(torch.full((len(gram),), math.inf, dtype=gram.dtype))
                i, j = divmod(int(off.argmin()), len(gram))
                direction = grad(pair_inner)(point, i, j)
                size = torch.sqrt(sum((t ** 2).sum() for t in direction.values()))
                if float(size) == 0:
                    break
                point = project({k: point[k] - (radius / 4) * direction[k] / size for k in names})
                s = summary_at(point)
                worst_inner, worst_cos = min(worst_inner, s["min_inner"]), min(worst_cos, s["cos_min"])
        return {"worst_min_inner": worst_inner, "worst_cos_min": worst_cos}
    finally:
        load(centre)


def ball_draws(*, depths: Sequence[int], radii: Sequence[float], width: int, d: int, n: int, draws: int,
               directions: int, steps: int, activation: str = "tanh", loss: str = "mse", seed: int = 0,
               progress: bool = False) -> pd.DataFrame:
    """One row per (depth, radius, draw): :func:`worst_in_ball` around fresh ‖W_p‖_op = 1 weights on fresh
    sphere-teacher data (draw k shares its data across depths and radii, as in Cor 5.1's fixed data)."""
    from tqdm import tqdm

    rows = []
    for draw in tqdm(range(draws), desc="ball draws", disable=not progress):
        data = sphere_teacher(n, d, generator=torch.Generator().manual_seed(seed * 1_000_003 + draw))
        for depth in depths:
            model = build_model(MLPConfig(input_dim=d, width=width, depth=depth, output_dim=1, activation=activation),
                                UNIT_NORM, seed=seed * 1_000_003 + 7919 * draw + 31 * width + depth)
            for radius in radii:
                gen = torch.Generator().manual_seed(seed * 1_000_003 + 104_729 * draw + depth)
                worst = worst_in_ball(model, data.x, data.y, radius, directions=directions, steps=steps, loss=loss,
                                      generator=gen)
                rows.append({"depth": depth, "radius": radius, "draw": draw, **worst})
    return pd.DataFrame(rows)
