"""Per-sample gradient confusion of MLPs at random initialisation, over many draws (paper Thm 4.1, v5).

Each draw takes fresh unit-sphere data with Lipschitz teacher labels (the theorem's data model) and a
fresh Strategy 4.1 initialisation (W_0 ~ N(0, 1/d), W_p ~ N(0, 1/(κ ℓ_{p−1})), see
:mod:`gradconf.init`), then the exact per-sample Gram with :func:`gradconf.gram.gradient_gram`.
The result is a tidy frame, one row per (width, depth, draw), with both the **raw** confusion
(η = −min_{i≠j} <g_i, g_j>, the theorem's quantity) and the **normalised** one (cosines).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import pandas as pd
import torch

from .gram import gradient_gram
from .init import InitConfig
from .measure import confusion_summary
from .models import MLPConfig, build_model
from .synthetic import sphere_teacher
from .verdicts import binomial_interval

SUMMARY_COLUMNS: tuple[str, ...] = ("eta", "min_inner", "mean_inner", "mean_sq_norm", "cos_min", "cos_std",
                                    "cos_mean", "cos_frac_negative", "gradient_diversity")


def init_confusion_draws(
    widths: Sequence[int], depths: Sequence[int], *, n: int, d: int, draws: int, activation: str = "tanh",
    kappa: float = 1.0, loss: str = "mse", seed: int = 0, progress: bool = False, init: InitConfig | None = None,
    bias: bool = True,
) -> pd.DataFrame:
    """One row per (width, depth, draw): confusion statistics of the per-sample Gram at initialisation.

    ``depth`` is the number of hidden layers, so the net has depth + 1 weight matrices W_0 … W_depth,
    the scalar read-out included: β = depth in the paper's eq. 4, as in :class:`gradconf.models.MLPConfig`.
    Draw ``k`` uses the same data for every (width, depth), so the sweep compares architectures on
    shared samples; ``inputs_cos_min`` is that draw's most negative cosine between two inputs. ``init`` replaces Strategy 4.1 (e.g. orthogonal weights for Thm 6.1). ``bias=False`` gives
    the paper's network of eq. 4, which has no biases (their gradients would otherwise enter every Gram).
    """
    from tqdm import tqdm

    if draws < 1 or n < 2:
        raise ValueError(f"need draws >= 1 and n >= 2, got draws={draws}, n={n}")
    if loss not in ("mse", "logistic"):
        raise ValueError(f"loss must be mse or logistic (scalar output, paper §4), got {loss!r}")
    labels = "regression" if loss == "mse" else "sign"
    datasets = [sphere_teacher(n, d, generator=torch.Generator().manual_seed(seed * 1_000_003 + draw), labels=labels)
                for draw in range(draws)]
    # each draw's most negative pair of inputs: the confusion a wide net inherits from its data
    inputs_cos_min = []
    for data in datasets:
        x = torch.nn.functional.normalize(data.x.double(), dim=1)
        inputs_cos_min.append(float((x @ x.T + 2 * torch.eye(len(x), dtype=x.dtype)).min()))  # diagonal lifted out
    rows = []
    grid = list(itertools.product(widths, depths, range(draws)))
    for width, depth, draw in tqdm(grid, desc="init draws", disable=not progress):
        data = datasets[draw]
        config = MLPConfig(input_dim=d, width=width, depth=depth, output_dim=1, activation=activation, bias=bias)
        model = build_model(config, init or InitConfig(scheme="gaussian", kappa=kappa),
                            seed=seed * 1_000_003 + 7919 * draw + 31 * width + depth)
        y = data.y if loss == "mse" else data.y.reshape(-1)
        summary = confusion_summary(gradient_gram(model, data.x, y, loss=loss, method="ghost"))
        rows.append({"width": width, "depth": depth, "draw": draw,
                     **{k: summary[k] for k in SUMMARY_COLUMNS}, "inputs_cos_min": inputs_cos_min[draw]})
    return pd.DataFrame(rows)


def strategy_operator_norms(widths: Sequence[int], *, d: int, kappa: float = 1.0, draws: int = 3,
                            seed: int = 0) -> pd.DataFrame:
    """Operator norms of Strategy 4.1 weights (paper Thm 4.1: W_0 ~ N(0, 1/d), W_p ~ N(0, 1/(κℓ))), one
    row per (width, draw): ``first`` = ‖W_0‖ (ℓ × d) and ``hidden`` = ‖W_1‖ (ℓ × ℓ). The theorem's proof
    step bounds every such norm by 1 with high probability; random-matrix theory gives about
    1 + √(ℓ/d) and 2/√κ, which this measures on the weights :func:`init_confusion_draws` uses."""
    if draws < 1:
        raise ValueError(f"need draws >= 1, got {draws}")
    rows = []
    for width, draw in itertools.product(widths, range(draws)):
        config = MLPConfig(input_dim=d, width=width, depth=2, output_dim=1, activation="identity", bias=False)
        model = build_model(config, InitConfig(scheme="gaussian", kappa=kappa), seed=seed * 1_000_003 + 7919 * draw + width)
        weights = [m.weight.detach() for m in model.modules() if isinstance(m, torch.nn.Linear)]
        rows.append({"width": width, "draw": draw, "first": float(torch.linalg.matrix_norm(weights[0], ord=2)),
                     "hidden": float(torch.linalg.matrix_norm(weights[1], ord=2))})
    return pd.DataFrame(rows)


def violation_probability(frame: pd.DataFrame, eta: float, by: Sequence[str] = ("width", "depth"),
                          column: str = "min_inner", level: float = 0.95) -> pd.DataFrame:
    """P(min_{i≠j} <g_i, g_j> < −η) per group (Thm 4.1's event), with the number of draws that violate it
    and its Clopper–Pearson interval at ``level`` (``ci_low``, ``ci_high``; not empty where every draw or none
    violates).

    ``column="cos_min"`` gives the same for the normalised confusion (min cosine < −η).
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    grouped = frame.groupby(list(by))[column]
    out = grouped.apply(lambda s: int((s < -eta).sum())).rename("violations").to_frame()
    out["draws"] = grouped.size()
    out["p_violation"] = out.violations / out.draws
    bounds = [binomial_interval(int(k), int(n), level) for k, n in zip(out.violations, out.draws)]
    out["ci_low"] = [lo for lo, _ in bounds]
    out["ci_high"] = [hi for _, hi in bounds]
    return out.reset_index()


def init_scheme_draws(
    schemes: dict[str, InitConfig], depths: Sequence[int], *, width: int, n: int, d: int, draws: int,
    bias: bool, activation: str = "identity", loss: str = "mse", seed: int = 0,
) -> pd.DataFrame:
    """:func:`init_confusion_draws` at one width for several initialisations, with an ``init`` column
    (paper Thm 6.1: orthogonal against Gaussian weights in deep linear nets). Every scheme sees the
    same data draws. ``bias`` is required: the theorem's network (eq. 4) has none, and with biases the
    per-sample Gram gains a term in every layer."""
    frames = [init_confusion_draws([width], depths, n=n, d=d, draws=draws, activation=activation, loss=loss,
                                   seed=seed, init=config, bias=bias).assign(init=name)
              for name, config in schemes.items()]
    return pd.concat(frames, ignore_index=True)
