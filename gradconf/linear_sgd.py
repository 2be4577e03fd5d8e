"""Constant-step SGD on linear models, with per-sample gradient confusion tracked along the path.

These are the paper's §2–3 settings, small enough to run exactly in float64 NumPy:

- :func:`orthogonal_decoupling`: logistic regression on orthogonal inputs (paper §2 worked example).
  Confusion is exactly 0, so SGD decouples into independent GD on each example; the function returns
  how far SGD is from that decoupled prediction.
- :func:`least_squares_sgd`: least squares with batch-1 SGD (paper Fig. 1). Records the full-gradient
  norm and the mean and minimum pairwise per-sample gradient cosine.
- :func:`correlated_sphere_regression` and :func:`sgd_floor`: a least-squares family whose confusion is
  set by a correlation knob c, and the SGD noise floor E[F(w) - F*] for each step size (Thm 3.1), measured
  from SGD's exact stationary second moment (:func:`sgd_stationary_covariance`), which it also returns.

Several runs advance together in one vectorised loop (one row of ``W`` per run), so a sweep costs
about as much as one run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def least_squares_gradients(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-sample gradients (n, d) of f_i(w) = ½ (x_i·w − y_i)²."""
    return (x @ w - y)[:, None] * x


def logistic_gradients(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-sample gradients (n, d) of f_i(w) = log(1 + exp(−y_i x_i·w)), y_i ∈ {−1, +1}."""
    return (-y * _sigmoid(-y * (x @ w)))[:, None] * x


def pairwise_statistics(grads: np.ndarray) -> dict[str, float]:
    """Off-diagonal inner products and cosines of per-sample gradients: min/mean inner, η, min/mean cosine."""
    gram = grads @ grads.T
    i, j = np.triu_indices(len(grads), k=1)
    inner = gram[i, j]
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = inner / (norms[i] * norms[j])
    cos = cos[np.isfinite(cos)]
    return {
        "min_inner": float(inner.min()), "mean_inner": float(inner.mean()), "eta": float(max(0.0, -inner.min())),
        "min_cos": float(cos.min()) if cos.size else np.nan, "mean_cos": float(cos.mean()) if cos.size else np.nan,
    }


# ----------------------------------------------------------------------------------------------
# §2 worked example: orthogonal inputs decouple SGD
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecouplingResult:
    draws: np.ndarray            # (steps,) index drawn at each SGD step
    sgd_margins: np.ndarray      # (n,) y_i x_i·w after SGD
    decoupled_margins: np.ndarray  # (n,) the same margins if each example ran GD alone, once per draw
    max_gap: float               # max_i |sgd − decoupled|
    max_abs_inner: float         # largest |<∇f_i, ∇f_j>| (i≠j) seen along the SGD path


def orthogonal_decoupling(x: np.ndarray, y: np.ndarray, lr: float, steps: int, seed: int) -> DecouplingResult:
    """SGD on logistic regression versus the decoupled per-example GD prediction (paper §2).

    With orthogonal x_i, ∇f_i = ζ_i x_i only moves w along x_i, so the margin m_i = y_i x_i·w follows
    m ← m + lr ‖x_i‖² σ(−m) each time i is drawn and is untouched otherwise. ``max_gap`` measures how far
    SGD is from that; it is rounding error for orthogonal inputs and grows with their correlation.
    """
    if lr <= 0 or steps < 1:
        raise ValueError(f"need lr > 0 and steps >= 1, got lr={lr}, steps={steps}")
    rng = np.random.default_rng(seed)
    n, d = x.shape
    w = np.zeros(d)
    draws = rng.integers(0, n, size=steps)
    max_abs_inner = 0.0
    for step, i in enumerate(draws):
        if step % max(1, steps // 20) == 0:
            g = logistic_gradients(x, y, w)
            gram = g @ g.T
            np.fill_diagonal(gram, 0.0)
            max_abs_inner = max(max_abs_inner, float(np.abs(gram).max()))
        margin = y[i] * (x[i] @ w)
        w = w + lr * y[i] * _sigmoid(-margin) * x[i]
    decoupled = np.zeros(n)
    sq_norms = (x * x).sum(axis=1)
    for i in draws:
        decoupled[i] += lr * sq_norms[i] * _sigmoid(-decoupled[i])
    sgd_margins = y * (x @ w)
    return DecouplingResult(draws, sgd_margins, decoupled, float(np.abs(sgd_margins - decoupled).max()), max_abs_inner)


def correlated_orthogonal_inputs(n: int, d: int, correlation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit inputs x_i = √(1−c) q_i + √c s_i u with orthonormal q_1..q_n, u ⟂ all q_i and signs s_i = ±1,
    so <x_i, x_j> = c s_i s_j exactly: c = 0 is the paper's orthogonal example, c > 0 adds confusion.
    Labels y_i = ±1 at random. Needs n < d."""
    if n >= d:
        raise ValueError(f"need n < d for n orthogonal directions plus a shared one, got n={n}, d={d}")
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, n + 1)))
    s = rng.choice([-1.0, 1.0], size=n)
    x = np.sqrt(1 - correlation) * q[:, :n].T + np.sqrt(correlation) * s[:, None] * q[:, n]
    return x, rng.choice([-1.0, 1.0], size=n)


def max_abs_cosine(n: int, d: int, seed: int) -> float:
    """max_{i≠j} |cos(x_i, x_j)| for n points uniform on the sphere of R^d (paper Lemma B.1: O(1/√d))."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = x @ x.T
    np.fill_diagonal(c, 0.0)
    return float(np.abs(c).max())


# ----------------------------------------------------------------------------------------------
# Fig. 1: batch-1 SGD on least squares
# ----------------------------------------------------------------------------------------------

def least_squares_sgd(x: np.ndarray, y: np.ndarray, lr: float, iterations: int, seed: int,
                      record_every: int) -> dict[str, np.ndarray]:
    """Batch-1 SGD from w = 0 on F(w) = (1/N) Σ ½(x_i·w − y_i)² (paper Fig. 1).

    Returns, at iterations 0, ``record_every``, ...: the full-gradient norm ‖∇F(w)‖, F(w) − F*, the
    mean and minimum cosine over all pairs of per-sample gradients, and ``sum_ratio`` = N²‖G‖² / Σ‖g_i‖²
    (G the mean gradient): Σ_{i≠j}⟨g_i, g_j⟩ = N²‖G‖² − Σ‖g_i‖², so the pairs' inner products sum to a
    negative number exactly when the ratio is below 1.
    """
    if lr <= 0 or iterations < 1 or record_every < 1:
        raise ValueError("need lr > 0, iterations >= 1 and record_every >= 1")
    rng = np.random.default_rng(seed)
    n, d = x.shape
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]
    f_star = 0.5 * np.mean((x @ w_star - y) ** 2)
    w = np.zeros(d)
    draws = rng.integers(0, n, size=iterations)
    rows: dict[str, list] = {"iteration": [], "grad_norm": [], "suboptimality": [], "mean_cos": [], "min_cos": [],
                             "sum_ratio": []}

    def record(it: int) -> None:
        g = least_squares_gradients(x, y, w)
        stats = pairwise_statistics(g)
        rows["iteration"].append(it)
        rows["grad_norm"].append(float(np.linalg.norm(g.mean(axis=0))))
        rows["suboptimality"].append(float(0.5 * np.mean((x @ w - y) ** 2) - f_star))
        rows["mean_cos"].append(stats["mean_cos"])
        rows["min_cos"].append(stats["min_cos"])
        total = float((g * g).sum())
        rows["sum_ratio"].append(float(n ** 2 * np.sum(g.mean(axis=0) ** 2) / total) if total > 0 else np.nan)

    record(0)
    for it, i in enumerate(draws, 1):
        w = w - lr * (x[i] @ w - y[i]) * x[i]
        if it % record_every == 0:
            record(it)
    return {k: np.asarray(v) for k, v in rows.items()}


# ----------------------------------------------------------------------------------------------
# Thm 3.1: the SGD noise floor against α·η
# ----------------------------------------------------------------------------------------------

def correlated_sphere_regression(n: int, d: int, correlation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit inputs x_i ∝ √(1−c) z_i + √c s_i u (z_i on the sphere, s_i = ±1, u a fixed unit vector) and
    random targets y_i ~ N(0, 1). Pairs with s_i ≠ s_j have <x_i, x_j> ≈ −c, so c sets the confusion."""
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    s = rng.choice([-1.0, 1.0], size=n)
    x = np.sqrt(1 - correlation) * z + np.sqrt(correlation) * s[:, None] * u
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, rng.standard_normal(n)


def sgd_stationary_covariance(x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
    """Exact stationary covariance Σ of w − w* under batch-1 SGD with uniform sampling on
    F(w) = (1/2N) Σ_i (x_i·w − y_i)² (the setting of Thm 3.1's floor), for a full-rank X (d < N).

    With e = w − w* and r_i = x_i·w* − y_i, one step is e' = (I − α x_i x_iᵀ) e − α r_i x_i. Since
    Σ_i r_i x_i = 0, E[e] stays 0 if it starts at 0, and the second moment then obeys a closed linear
    recursion, Σ' = Σ − α(HΣ + ΣH) + α² (1/N) Σ_i (x_iᵀΣx_i) x_i x_iᵀ + α² C with H = XᵀX/N and
    C = (1/N) Σ_i r_i² x_i x_iᵀ (the covariance of the per-sample gradients at w*). Its fixed point solves
    HΣ + ΣH − (α/N) Σ_i (x_iᵀΣx_i) x_i x_iᵀ = αC; in H's eigenbasis the first part is diagonal and the
    rank-N part is inverted by Woodbury. For unit inputs the trace of that equation closes: the floor
    ½ tr(HΣ) is exactly α E_i‖∇f_i(w*)‖²/(2(2 − α)). Raises if no stationary covariance exists at this
    step size."""
    n, d = x.shape
    if lr <= 0:
        raise ValueError(f"the step size must be positive, got {lr}")
    h = x.T @ x / n
    lam, q = np.linalg.eigh(h)
    if lam[0] <= 1e-12 * lam[-1]:
        raise ValueError(f"XᵀX is singular (d = {d}, N = {n}): the stationary covariance needs d < N and full rank")
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]
    r = x @ w_star - y
    xt = x @ q                                            # inputs in H's eigenbasis
    c = (xt * (r ** 2)[:, None]).T @ xt / n
    diag = (lam[:, None] + lam[None, :]).ravel()          # the Lyapunov operator, diagonal here
    v = np.einsum("ia,ib->abi", xt, xt).reshape(d * d, n)  # columns vec(x_i x_iᵀ)
    b = lr * c.ravel()
    d_inv_b = b / diag
    d_inv_u = (lr / n) * v / diag[:, None]
    small = np.eye(n) - v.T @ d_inv_u                     # Woodbury's N × N capacitance matrix
    try:
        sol = d_inv_b + d_inv_u @ np.linalg.solve(small, v.T @ d_inv_b)
    except np.linalg.LinAlgError:  # singular exactly at the edge of stability
        raise ValueError(f"no stationary covariance at step size {lr}: SGD's second moment diverges there") from None
    sigma_t = sol.reshape(d, d)
    sigma_t = 0.5 * (sigma_t + sigma_t.T)
    sigma = q @ sigma_t @ q.T
    # Σ − T(Σ) = α²C for the positive map T(Σ) = E_i[(I − α x_i x_iᵀ) Σ (I − α x_i x_iᵀ)]; with C ≻ 0, a
    # positive-definite solution certifies that T's spectral radius is below 1, i.e. that the recursion
    # converges to this Σ from any start
    if np.linalg.eigvalsh(c)[0] <= 1e-12 * np.abs(c).max():
        raise ValueError("the per-sample gradients at w* do not span the space (C is singular): "
                         "stationarity cannot be certified")
    eig = np.linalg.eigvalsh(sigma)
    if eig[0] <= 1e-12 * max(eig[-1], 1e-300):
        raise ValueError(f"no stationary covariance at step size {lr}: SGD's second moment diverges there")
    return sigma


def sgd_stationary_floor(x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Exact E[F(w) − F*] of batch-1 SGD at stationarity, ½ tr(HΣ) (:func:`sgd_stationary_covariance`)."""
    h = x.T @ x / len(x)
    return float(0.5 * np.sum(h * sgd_stationary_covariance(x, y, lr)))


def sgd_floor(x: np.ndarray, y: np.ndarray, lrs: np.ndarray, iterations: int, seeds: int,
              burn_in: float = 0.5, record_every: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """Batch-1 SGD at its stationary second moment for every step size in ``lrs`` and ``seeds`` seeds
    (all vectorised), for Thm 3.1's floor.

    Each run starts at w* + e with e Gaussian of mean 0 and the exact stationary covariance of its step
    size (:func:`sgd_stationary_covariance`). The second moment of w − w* then stays stationary at every
    step, so the expected F(w_k) − F* equals the floor from the first step: no transient, however slowly
    the flattest direction of F mixes at a small step. Returns per (lr, seed): the floor = mean of
    F(w_k) − F* over the iterations after ``burn_in``; the exact stationary floor ``floor_exact`` (the
    measured one estimates it); and η_path = max over the same iterations of −min_{i≠j} <∇f_i(w_k), ∇f_j(w_k)>
    (the confusion bound the theorem assumes along the path).
    """
    if not 0.0 <= burn_in < 1.0:
        raise ValueError(f"burn_in must be in [0, 1), got {burn_in}")
    lrs = np.asarray(lrs, dtype=float)
    n, d = x.shape
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]
    f_star = 0.5 * np.mean((x @ w_star - y) ** 2)
    runs_lr = np.repeat(lrs, seeds)
    runs_seed = np.tile(np.arange(seeds), len(lrs))
    h = x.T @ x / n
    roots, exact = [], []
    for lr in lrs:
        sigma = sgd_stationary_covariance(x, y, float(lr))
        eig, vec = np.linalg.eigh(sigma)
        roots.append(vec * np.sqrt(np.clip(eig, 0.0, None)))
        exact.append(0.5 * float(np.sum(h * sigma)))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((len(runs_lr), d))
    w = w_star + np.einsum("rij,rj->ri", np.repeat(np.stack(roots), seeds, axis=0), noise)
    floor_sum = np.zeros(len(runs_lr))
    eta = np.zeros(len(runs_lr))
    count = 0
    start = int(burn_in * iterations)
    draws = rng.integers(0, n, size=(iterations, len(runs_lr)))
    input_gram = x @ x.T
    diagonal = np.arange(n)
    for it in range(1, iterations + 1):
        xi = x[draws[it - 1]]
        r = np.einsum("rd,rd->r", xi, w) - y[draws[it - 1]]
        w -= (runs_lr * r)[:, None] * xi
        if it > start and it % record_every == 0:
            resid = w @ x.T - y                                  # (runs, n)
            floor_sum += 0.5 * np.mean(resid ** 2, axis=1) - f_star
            inner = resid[:, :, None] * resid[:, None, :] * input_gram[None]
            inner[:, diagonal, diagonal] = np.inf
            eta = np.maximum(eta, -inner.reshape(len(runs_lr), -1).min(axis=1))
            count += 1
    if count == 0:
        raise ValueError("no iteration was recorded: raise iterations or lower record_every/burn_in")
    return {"lr": runs_lr, "seed": runs_seed, "floor": floor_sum / count,
            "floor_exact": np.repeat(np.array(exact), seeds), "eta_path": np.maximum(eta, 0.0)}


def pl_theorem_floor(lr: np.ndarray, eta: np.ndarray, n: int, smoothness: float, pl: float) -> np.ndarray:
    """Thm 3.1's neighbourhood α η / (1 − ρ), ρ = 1 − (2μ/N)(α − N L α²/2); NaN where α ≥ 2/(N L)."""
    lr = np.asarray(lr, dtype=float)
    one_minus_rho = (2 * pl / n) * (lr - n * smoothness * lr ** 2 / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = lr * np.asarray(eta) / one_minus_rho
    return np.where(lr < 2 / (n * smoothness), out, np.nan)
