"""Per-sample confusion of MLPs whose weights have operator norm ≤ 1 (paper Thm 5.1 and Cor 5.1, v5).

The setting is the theorems' (paper §4(a), Assumption 1): data uniform on the unit sphere of R^d with
Lipschitz teacher labels C(x) = tanh(vᵀx) (:func:`gradconf.synthetic.sphere_teacher`), an MLP without
biases (eq. 4) with a bounded activation (tanh), and every weight matrix of operator norm exactly 1, from
one of two families (:data:`NORM_ONE`): Gaussian matrices rescaled to norm 1 (``spectral``, which shrink
a typical vector by about half per layer) and (semi-)orthogonal ones (which preserve it). Thm 5.1 bounds P(min_{i≠j}⟨∇f_i, ∇f_j⟩ ≥ −η) from below by
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

#: Assumption 1 at its boundary: every weight matrix of operator norm exactly 1, two ways.
NORM_ONE: dict[str, InitConfig] = {
    "Gaussian, rescaled": InitConfig(scheme="spectral", gain=1.0),
    "orthogonal": InitConfig(scheme="orthogonal", gain=1.0),
}


def bounded_sweeps(*, width: int, depth: int, d: int, widths: Sequence[int], depths: Sequence[int],
                   dims: Sequence[int], n: int, draws: int, activation: str = "tanh", loss: str = "mse",
                   seed: int = 0) -> pd.DataFrame:
    """Confusion at ‖W_p‖_op = 1 along three one-at-a-time sweeps around (``width``, ``depth``, ``d``), for each
    weight family of :data:`NORM_ONE`: one row per (weights, sweep, value, draw) with the columns of
    :func:`gradconf.init_confusion.init_confusion_draws` plus ``d``, ``sweep`` ("depth", "width" or "d") and
    ``weights``. Nets have no biases (eq. 4). Draw k's data are shared across the values of a sweep."""
    frames = []
    for name, init in NORM_ONE.items():
        common = dict(n=n, draws=draws, activation=activation, loss=loss, seed=seed, init=init, bias=False)
        family = [init_confusion_draws([width], depths, d=d, **common).assign(d=d, sweep="depth"),
                  init_confusion_draws(widths, [depth], d=d, **common).assign(d=d, sweep="width")]
        family += [init_confusion_draws([width], [depth], d=dim, **common).assign(d=dim, sweep="d") for dim in dims]
        frames.append(pd.concat(family, ignore_index=True).assign(weights=name))
    return pd.concat(frames, ignore_index=True)


def single_entry_model(d: int, width: int, depth: int, activation: str = "tanh") -> torch.nn.Module:
    """The paper's width-independence example: every weight matrix has a single entry 1 (at [0, 0]), so each
    has operator norm 1, and no biases. The net computes σ(…σ(x_0)) whatever its width (float64)."""
    model = build_model(MLPConfig(input_dim=d, width=width, depth=depth, output_dim=1, activation=activation,
                                  bias=False), InitConfig(scheme="gaussian"), seed=0).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
                m.weight[0, 0] = 1.0
    return model


def single_entry_gram(x: torch.Tensor, y: torch.Tensor, *, width: int, depth: int, loss: str = "mse",
                      activation: str = "tanh") -> torch.Tensor:
    """The exact per-sample Gram of :func:`single_entry_model` on (x, y), in float64."""
    model = single_entry_model(x.shape[1], width, depth, activation)
    return gradient_gram(model, x.double(), y.double(), loss=loss)


def worst_in_ball(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float, *, directions: int,
                  steps: int, loss: str = "mse", generator: torch.Generator) -> dict[str, float]:
    """The most confused weights found in the ball {W′ : ‖W′_p − W_p‖_op ≤ ``radius`` for every weight matrix}
    around the model's weights (paper Cor 5.1; a per-matrix operator-norm ball keeps ‖W′_p‖ ≤ 1 + r at every
    depth): the lowest min_{i≠j}⟨g_i, g_j⟩ (``worst_min_inner``) and the lowest min cosine (``worst_cos_min``).

    The search, stated because a ball cannot be searched exhaustively: ``directions`` random points on its
    boundary (each matrix moved by r times a Gaussian matrix of operator norm 1), then from the one with the
    lowest min inner product, ``steps`` steps of projected gradient descent on the inner product of the
    currently most negative pair (each matrix moved by r/4 along its normalised gradient, then its
    perturbation's singular values clipped to r). The centre itself counts. The budget does not grow with
    the number of parameters. ``model`` is left unchanged; it must have no biases.
    """
    if radius < 0 or directions < 0 or steps < 0:
        raise ValueError(f"radius, directions and steps must be >= 0, got {radius}, {directions}, {steps}")
    names = [k for k, _ in model.named_parameters()]
    if any(p.dim() != 2 for p in model.parameters()):
        raise ValueError("worst_in_ball searches a ball of weight matrices: build the net without biases")
    centre = {k: v.detach().clone() for k, v in model.named_parameters()}

    def load(params: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(params[k])

    def gram_at(params: dict[str, torch.Tensor]) -> torch.Tensor:
        load(params)
        return gradient_gram(model, x, y, loss=loss, method="ghost")

    def project(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for k in names:
            u, sv, vh = torch.linalg.svd(params[k] - centre[k], full_matrices=False)
            out[k] = centre[k] + (u * sv.clamp(max=radius)) @ vh
        return out

    def unit(matrix: torch.Tensor) -> torch.Tensor:
        top = torch.linalg.matrix_norm(matrix, ord=2)
        return matrix / top if float(top) > 0 else matrix

    try:
        start_gram = gram_at(centre)
        best = confusion_summary(start_gram)
        worst_inner, worst_cos = best["min_inner"], best["cos_min"]
        start, start_inner = centre, best["min_inner"]
        if radius > 0:
            for _ in range(directions):
                point = {k: centre[k] + radius * unit(torch.randn(v.shape, generator=generator, dtype=v.dtype))
                         for k, v in centre.items()}
                gram = gram_at(point)
                s = confusion_summary(gram)
                worst_inner, worst_cos = min(worst_inner, s["min_inner"]), min(worst_cos, s["cos_min"])
                if s["min_inner"] < start_inner:
                    start, start_inner, start_gram = point, s["min_inner"], gram

            def example_loss(params: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
                out = functional_call(model, params, (xi[None],))
                return per_example_loss(out, yi[None], loss).sum()

            def pair_inner(params: dict[str, torch.Tensor], i: int, j: int) -> torch.Tensor:
                gi, gj = grad(example_loss)(params, x[i], y[i]), grad(example_loss)(params, x[j], y[j])
                return sum((gi[k] * gj[k]).sum() for k in names)

            point, gram = start, start_gram  # each point's Gram is computed once: it scores and steers
            for _ in range(steps):
                g = gram.double()
                off = g + torch.diag(torch.full((len(g),), math.inf, dtype=g.dtype))
                i, j = divmod(int(off.argmin()), len(g))
                direction = grad(pair_inner)(point, i, j)
                point = project({k: point[k] - (radius / 4) * unit(direction[k]) for k in names})
                gram = gram_at(point)
                s = confusion_summary(gram)
                worst_inner, worst_cos = min(worst_inner, s["min_inner"]), min(worst_cos, s["cos_min"])
        return {"worst_min_inner": worst_inner, "worst_cos_min": worst_cos}
    finally:
        load(centre)


def ball_draws(*, depths: Sequence[int], radii: Sequence[float], width: int, d: int, n: int, draws: int,
               directions: int, steps: int, activation: str = "tanh", loss: str = "mse", seed: int = 0,
               init: InitConfig = NORM_ONE["orthogonal"], progress: bool = False) -> pd.DataFrame:
    """One row per (depth, radius, draw): :func:`worst_in_ball` around fresh ‖W_p‖_op = 1 weights (``init``, no
    biases) on fresh sphere-teacher data (draw k shares its data across depths and radii)."""
    from tqdm import tqdm

    rows = []
    for draw in tqdm(range(draws), desc="ball draws", disable=not progress):
        data = sphere_teacher(n, d, generator=torch.Generator().manual_seed(seed * 1_000_003 + draw))
        for depth in depths:
            model = build_model(MLPConfig(input_dim=d, width=width, depth=depth, output_dim=1, activation=activation,
                                          bias=False), init, seed=seed * 1_000_003 + 7919 * draw + 31 * width + depth)
            for radius in radii:
                gen = torch.Generator().manual_seed(seed * 1_000_003 + 104_729 * draw + depth)
                worst = worst_in_ball(model, data.x, data.y, radius, directions=directions, steps=steps, loss=loss,
                                      generator=gen)
                rows.append({"depth": depth, "radius": radius, "draw": draw, **worst})
    return pd.DataFrame(rows)
