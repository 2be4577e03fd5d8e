"""Level sets of a mean statistic over a (width, depth) grid, their exponent, and that exponent test's error
rates (the v2 phase diagram's ℓ/β² ≳ 1/√d condition, paper.md §2.5; checklist item 10).

A frame of draws (one row per width, depth and draw, as :func:`gradconf.init_confusion.init_confusion_draws`
returns) becomes an array ``values[draw, width, depth]``. Everything below works on such arrays, many
bootstrap resamples at once, so that a simulation of the whole test (thousands of bootstrapped estimates)
costs seconds.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .verdicts import Interval, claim_center_margin, interval_label, level


def level_widths(means: pd.DataFrame, level: float, metric: str = "cos_min") -> pd.Series:
    """Per depth, the width ℓ*(β) at which the mean ``metric`` (a frame indexed by width and depth) first
    rises through ``level``, by linear interpolation in log2 width (NaN where it does not cross)."""
    out = {}
    for depth, sub in means[metric].groupby(level="depth"):
        s = sub.droplevel("depth").sort_index()
        x, y = np.log2(s.index.to_numpy(dtype=float)), s.to_numpy(dtype=float)
        crossing = np.nan
        for k in range(len(y) - 1):
            if y[k] < level <= y[k + 1]:
                crossing = 2 ** (x[k] + (level - y[k]) * (x[k + 1] - x[k]) / (y[k + 1] - y[k]))
                break
        out[depth] = crossing
    return pd.Series(out, name="level_width").rename_axis("depth")


def grid_array(frame: pd.DataFrame, metric: str = "cos_min") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(widths, depths, values)`` with ``values[draw, width, depth]``, draws in sorted order. Refuses a
    frame with a repeated (draw, width, depth) or a missing cell: the estimator needs every draw everywhere."""
    keyed = frame.set_index(["draw", "width", "depth"])[metric]
    if keyed.index.has_duplicates:
        raise ValueError("the frame repeats a (draw, width, depth) cell; pass one value per cell (e.g. one d)")
    draws = np.sort(frame["draw"].unique())
    widths = np.sort(frame["width"].unique())
    depths = np.sort(frame["depth"].unique())
    full = pd.MultiIndex.from_product([draws, widths, depths], names=["draw", "width", "depth"])
    values = keyed.reindex(full).to_numpy(dtype=float).reshape(len(draws), len(widths), len(depths))
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} (draw, width, depth) cells are missing or NaN")
    return widths, depths, values


def _crossings(means: np.ndarray, levels: np.ndarray, log_widths: np.ndarray) -> np.ndarray:
    """log2 ℓ* per (resample, depth): the first interval of ``means[b, :, depth]`` that rises through
    ``levels[b]``, interpolated linearly in log2 width (as :func:`level_widths`); NaN where none does."""
    lv = levels[:, None, None]
    low, high = means[:, :-1, :], means[:, 1:, :]
    hit = (low < lv) & (lv <= high)
    first = hit.argmax(axis=1)

    def at(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, first[:, None, :], axis=1)[:, 0, :]

    y0, y1 = at(low), at(high)
    x0, x1 = log_widths[first], log_widths[first + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = x0 + (levels[:, None] - y0) * (x1 - x0) / (y1 - y0)
    return np.where(hit.any(axis=1), x, np.nan)


def _slopes(x: np.ndarray, y: np.ndarray, minimum: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of each row of ``y`` (NaN = missing) on ``x``, and how many points it used;
    NaN where fewer than ``minimum`` points are left."""
    used = np.isfinite(y)
    count = used.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = np.where(used, x, 0.0).sum(axis=1) / count
        ybar = np.where(used, y, 0.0).sum(axis=1) / count
        dx = np.where(used, x[None, :] - xbar[:, None], 0.0)
        dy = np.where(used, y - ybar[:, None], 0.0)
        slope = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
    return np.where(count >= minimum, slope, np.nan), count


def _estimates(means: np.ndarray, fraction: float, log_widths: np.ndarray,
               log_depths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample (first axis of ``means``): the level at ``fraction`` of the way from the lowest to the
    highest cell mean, the exponent of its level set and the number of depths where it is crossed."""
    lo, hi = means.min(axis=(1, 2)), means.max(axis=(1, 2))
    levels = lo + fraction * (hi - lo)
    slope, count = _slopes(log_depths, _crossings(means, levels, log_widths))
    return slope, count, levels


def _bootstrap(values: np.ndarray, fraction: float, log_widths: np.ndarray, log_depths: np.ndarray,
               picks: np.ndarray, chunk: int = 500) -> np.ndarray:
    """Exponents of the resamples ``values[picks[b]]`` (draw indices), each recomputing level and crossings
    (in chunks of ``chunk`` resamples, to bound memory)."""
    return np.concatenate([_estimates(values[picks[i:i + chunk]].mean(axis=1), fraction, log_widths, log_depths)[0]
                           for i in range(0, len(picks), chunk)] or [np.zeros(0)])


def level_set_slope(frame: pd.DataFrame, fraction: float, *, metric: str = "cos_min", boot: int = 200,
                    seed: int = 0) -> dict[str, float]:
    """The exponent k of a level set ℓ*(β) ∝ β^k of the mean ``metric`` over a (width, depth) grid of draws.

    The level sits at ``fraction`` of the way from the lowest to the highest cell mean (a rule fixed before
    the data, whatever their range); k is the least-squares slope of log2 ℓ* on log2 β over the depths where
    the level is crossed. Its standard error comes from ``boot`` resamples of the draws, each recomputing the
    level, the crossings and the slope, over the resamples whose level set still crosses three depths or more
    (``boot_finite`` of ``boot``; so the s.e. is conditional on that). The paper's v2 condition
    ℓ/β² ≳ 1/√d would be tight if k = 2 (paper.md §2.5)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    widths, depths, values = grid_array(frame, metric)
    lw, ld = np.log2(widths.astype(float)), np.log2(depths.astype(float))
    means = values.mean(axis=0)
    slope, count, levels = _estimates(means[None], fraction, lw, ld)
    crossed = np.isfinite(_crossings(means[None], levels, lw)[0])
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    picks = np.stack([rng.choice(n, size=n, replace=True) for _ in range(boot)]) if boot else np.zeros((0, n), int)
    samples = _bootstrap(values, fraction, lw, ld, picks)
    finite = samples[np.isfinite(samples)]
    return {"slope": float(slope[0]), "depths": int(count[0]), "level": float(levels[0]),
            "crossed_depths": [int(v) for v in depths[crossed]],
            "se": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
            "boot_finite": int(len(finite)), "boot": boot}


def sheared(values: np.ndarray, log_widths: np.ndarray, log_depths: np.ndarray, shear: float,
            pivot: float | None = None) -> np.ndarray:
    """``values[..., width, depth]`` moved along log2 width by ``shear`` × (log2 β − ``pivot``, default the
    grid's mean log2 β): v'(log2 ℓ, log2 β) = v(log2 ℓ − shear (log2 β − pivot), log2 β), interpolated
    linearly in log2 width and held at the grid's edge values beyond it. A level set log2 ℓ*(log2 β) of
    ``values`` moves to about log2 ℓ* + shear (log2 β − pivot), so its slope rises by about ``shear``: not
    exactly, since re-interpolating a piecewise-linear column at shifted points bends it where the shift
    crosses a grid width, and the edge values can change the grid's range and with it the level
    (:func:`null_shear` therefore solves for the shear). Everything else about the grid (the shape of its
    level sets, the noise of each draw at each point of the surface) moves with it."""
    out = np.empty_like(values, dtype=float)
    index = np.arange(len(log_widths), dtype=float)
    centre = log_depths.mean() if pivot is None else pivot
    for j, offset in enumerate(log_depths - centre):
        position = np.interp(log_widths - shear * offset, log_widths, index)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, len(log_widths) - 1)
        frac = position - low
        out[..., j] = values[..., low, j] * (1 - frac) + values[..., high, j] * frac
    return out


def shear_pivots(means: np.ndarray, fraction: float, log_widths: np.ndarray, log_depths: np.ndarray) -> list[float]:
    """Where a null grid may turn our level set, in order of preference: the mean log2 β of the depths where
    the level set of ``means[width, depth]`` is crossed (its least-squares line turns about its own centroid,
    so the level set keeps its place), then the grid's mean log2 β, then each depth of the grid from the
    centroid outwards."""
    lo, hi = means.min(), means.max()
    crossed = np.isfinite(_crossings(means[None], np.array([lo + fraction * (hi - lo)]), log_widths)[0])
    centroid = float(log_depths[crossed].mean()) if crossed.any() else float(log_depths.mean())
    rest = sorted((float(v) for v in log_depths), key=lambda v: (abs(v - centroid), v))
    return list(dict.fromkeys([centroid, float(log_depths.mean()), *rest]))


def null_grid(means: np.ndarray, fraction: float, log_widths: np.ndarray, log_depths: np.ndarray,
              target: float) -> tuple[float, float]:
    """``(shear, pivot)`` of the first pivot of :func:`shear_pivots` about which a shear gives the cell means a
    level-set exponent of ``target`` (:func:`null_shear`); ``(NaN, NaN)`` when none does: no sheared copy of
    our grid holds a level set of that exponent across three depths or more."""
    for pivot in shear_pivots(means, fraction, log_widths, log_depths):
        shear = null_shear(means, fraction, log_widths, log_depths, target, pivot=pivot)
        if np.isfinite(shear):
            return shear, pivot
    return math.nan, math.nan


def null_shear(means: np.ndarray, fraction: float, log_widths: np.ndarray, log_depths: np.ndarray,
               target: float, *, pivot: float | None = None, tolerance: float = 1e-6) -> float:
    """The shear (:func:`sheared` about ``pivot``) that gives the cell means ``means[width, depth]`` a
    level-set exponent of ``target`` as the estimator measures it: the root nearest target − ours of
    (exponent after the shear) − target, bracketed on a grid of shears within ±2 of that guess and solved by
    Brent's method; NaN when our own level set crosses fewer than three depths, or when no shear reaches the
    target within ``tolerance`` (the level set leaves the grid first)."""
    from scipy.optimize import brentq

    ours = _estimates(means[None], fraction, log_widths, log_depths)[0][0]
    if not np.isfinite(ours):
        return math.nan

    def miss(shear: float) -> float:
        return float(_estimates(sheared(means, log_widths, log_depths, shear, pivot)[None], fraction, log_widths,
                                log_depths)[0][0] - target)

    start = target - ours
    shears = start + np.linspace(-2.0, 2.0, 401)
    diff = _estimates(np.stack([sheared(means, log_widths, log_depths, v, pivot) for v in shears]), fraction,
                      log_widths, log_depths)[0] - target
    brackets = [i for i in range(len(shears) - 1)
                if np.isfinite(diff[i]) and np.isfinite(diff[i + 1]) and diff[i] * diff[i + 1] <= 0]
    for i in sorted(brackets, key=lambda i: abs(shears[i] - start)):
        if diff[i] == 0:
            return float(shears[i])
        try:
            root = brentq(miss, shears[i], shears[i + 1], xtol=1e-12)
        except ValueError:  # the exponent is undefined somewhere inside this bracket
            continue
        if abs(miss(root)) <= tolerance:
            return float(root)
    return math.nan


def exponent_test_error_rates(frame: pd.DataFrame, fraction: float, *, cid: str, grids: int = 400,
                              boot: int = 2000, seed: int = 0, metric: str = "cos_min") -> pd.DataFrame:
    """How often the phase-diagram test (the exponent of :func:`level_set_slope` ± t·s.e. on draws − 1 df,
    judged by claim ``cid``'s TOST) gives each label when the true exponent is known, on grids made from
    ours: its false-label rates and its power here.

    True exponents: both ends of the claim's margin and its center. For each, every observed draw's whole
    grid is sheared (:func:`sheared`) by the amount that gives the mean grid that exponent, about the first
    pivot that allows it (:func:`null_grid`: preferably the middle of our level set's crossed depths, so its
    least-squares line turns about its own centroid); the null keeps our level set's shape and our draws'
    noise where it sits on the surface; ``grids`` grids are drawn from those sheared draws by resampling draws, and each is judged as the
    chapter judges ours, with ``boot`` bootstrap resamples. At an end of the margin *reproduced* and
    *contradicted* are both false labels; at the center *contradicted* is false and *reproduced* the power.
    One row per true exponent: the shear, its pivot depth and the exponent it gives the mean grid (``null
    exponent``; the true exponent up to the root finder); the share of grids given each label; the same among the grids
    that got a label (``tested``), which is what a label that was issued carries; the Monte-Carlo standard
    error of those shares; and the median bootstrap s.e. beside the spread of the estimates over grids
    (the s.e. is calibrated when the two agree). A row that cannot be simulated has NaN shares and a
    ``reason``. Two rules of the chapter are not applied to the simulated grids: the not-tested rule for an
    s.e. of zero (never met with two or more resamples of distinct draws) and the check that a sheared copy
    can hold the claimed exponent (it would need a root search per grid)."""
    if grids < 2 or boot < 2:
        raise ValueError(f"need grids >= 2 and boot >= 2, got grids={grids}, boot={boot}")
    center, margin = claim_center_margin(cid)
    widths, depths, values = grid_array(frame, metric)
    lw, ld = np.log2(widths.astype(float)), np.log2(depths.astype(float))
    n, means = values.shape[0], values.mean(axis=0)
    rng = np.random.default_rng(seed)
    names = ("reproduced", "contradicted", "inconclusive", "not tested")
    rows = []
    ours = _estimates(means[None], fraction, lw, ld)[0][0]
    for k in (center - margin, center, center + margin):
        shear, pivot = null_grid(means, fraction, lw, ld, k)
        row: dict[str, float | str] = {"true_slope": float(k), "shear": shear, "pivot depth": 2 ** pivot,
                                       "grids": grids, "reason": ""}
        if not np.isfinite(shear):
            row["reason"] = ("our level set crosses fewer than three depths" if not np.isfinite(ours) else
                             "no sheared copy of our grid holds a level set of this exponent")
            rows.append(row)
            continue
        moved = sheared(values, lw, ld, shear, pivot)
        row["null exponent"] = float(_estimates(moved.mean(axis=0)[None], fraction, lw, ld)[0][0])
        labels, estimates, errors = [], [], []
        for _ in range(grids):
            grid = moved[rng.integers(0, n, size=n)]
            estimate = _estimates(grid.mean(axis=0)[None], fraction, lw, ld)[0][0]
            samples = _bootstrap(grid, fraction, lw, ld, rng.integers(0, n, size=(boot, n)))
            samples = samples[np.isfinite(samples)]
            if not np.isfinite(estimate) or len(samples) < 2:
                labels.append("not tested")
                continue
            se = float(samples.std(ddof=1))
            labels.append(interval_label(cid, Interval(float(estimate), se, n - 1, level())))
            estimates.append(float(estimate))
            errors.append(se)
        counts = pd.Series(labels).value_counts()
        tested = len(estimates)
        row.update({name: counts.get(name, 0) / grids for name in names})
        row["tested"] = tested / grids
        for name in ("reproduced", "contradicted"):
            share = counts.get(name, 0) / tested if tested else math.nan
            row[f"{name} | tested"] = share
            row[f"{name} | tested, MC s.e."] = math.sqrt(share * (1 - share) / tested) if tested else math.nan
        row["median s.e."] = float(np.median(errors)) if tested else math.nan
        row["sd of estimates"] = float(np.std(estimates, ddof=1)) if tested > 1 else math.nan
        row["mean estimate"] = float(np.mean(estimates)) if tested else math.nan
        rows.append(row)
    columns = ["true_slope", "shear", "pivot depth", "null exponent", "reason", "grids", *names, "tested",
               *(f"{name} | tested{tail}" for name in ("reproduced", "contradicted") for tail in ("", ", MC s.e.")),
               "median s.e.", "sd of estimates", "mean estimate"]
    return pd.DataFrame(rows).reindex(columns=columns)
