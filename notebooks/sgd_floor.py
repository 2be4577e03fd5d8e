# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The SGD noise floor against confusion (Theorem 3.1)
#
# Under L-smoothness, a Polyak–Łojasiewicz condition on every $f_i$, and confusion bound η along the
# path, constant-step SGD satisfies (paper Thm 3.1)
#
# $$\mathbb E[F(w_T) - F^*] \le \rho^T(F(w_0) - F^*) + \frac{\alpha\eta}{1-\rho},\qquad
# \rho = 1 - \tfrac{2\mu}{N}\left(\alpha - \tfrac{NL\alpha^2}{2}\right),\ \alpha < \tfrac{2}{NL}.$$
#
# The paper reads the floor term as **linear in αη**: smaller confusion lets SGD get closer at the same
# step size. Taken literally, the term is not linear in α: $1-\rho = \tfrac{2\mu\alpha}{N}(1 -
# \tfrac{NL\alpha}{2})$, so $\alpha\eta/(1-\rho) = N\eta/(2\mu(1 - NL\alpha/2))$, nearly independent of α
# for small steps. We test the paper's reading (floor ∝ α at fixed η, and ∝ η at fixed α) and check
# the bound itself. The non-convex Theorem 3.2 (floor ρη on $\min_k\mathbb E\|\nabla F\|^2$, with
# $\rho = 2N/(2 - NL\alpha)$, again free of α) is not checked here. The floor is measured in a
# least-squares family whose confusion we control.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
n = None
d = None
correlations = None
dims = None
lrs = None
iterations = None
data_draws = None
seeds = None
record_every = None

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from gradconf.book import notebook_parameters
from gradconf.linear_sgd import (correlated_sphere_regression, least_squares_gradients, pairwise_statistics,
                                 pl_theorem_floor, sgd_floor)
from gradconf.report import describe_seeds, glue_figure, glue_number, glue_text, record_verdicts, setup
from gradconf.verdicts import judge_interval, judge_signs, judge_tolerance, mean_interval

P = notebook_parameters("sgd_floor", preset, n=n, d=d, correlations=correlations, dims=dims, lrs=lrs,
                        iterations=iterations, data_draws=data_draws, seeds=seeds, record_every=record_every)
setup()
glue_text("preset", preset)
glue_text("seeds", describe_seeds(P["seeds"]))
glue_text("draws", f"{P['data_draws']} data draws")
theorem_lr = 2 / P["n"]  # α < 2/(NL) with L = 1
glue_text("theorem_range", f"α < 2/(NL) = {theorem_lr:g}")
glue_text("lrs_outside", ", ".join(f"{lr:g}" for lr in P["lrs"] if lr >= theorem_lr) or "none")
P

# %% [markdown]
# **The family.** $N$ unit inputs $x_i \propto \sqrt{1-c}\,z_i + \sqrt c\,s_i u$, with $z_i$ uniform on the
# sphere, one shared direction $u$, random signs $s_i$, and random targets $y_i\sim\mathcal N(0,1)$
# (`correlated_sphere_regression`). Pairs with opposite signs have $\langle x_i,x_j\rangle \approx -c$, so
# $c$ raises the confusion at the solution. A second family varies the dimension $d$ at $c = 0$.
# With $d < N$ neither family can interpolate, so SGD has a floor. For unit inputs each
# $f_i = \frac12(x_i^\top w-y_i)^2$ is 1-smooth and 1-PL (μ = L = 1).
#
# Each family member is drawn {glue:text}`draws` times (inputs, direction, signs and targets); the data
# draw is the unit of every verdict, and the SGD seeds within a draw are averaged.
#
# **The measurement.** Batch-1 SGD starts at $w^* + \mathcal N(0, 0.1^2 I)$, so what we see is the floor and not
# the approach to it. The floor is the mean of $F(w_k) - F^*$ over the second half of the run. η is the
# largest $-\min_{i\ne j}\langle\nabla f_i(w_k),\nabla f_j(w_k)\rangle$ seen there, which is the bound
# the theorem assumes along the path. All step sizes and seeds run together in one vectorised loop.

# %% tags=["hide-input"]
def family(name: str, values: list, make) -> pd.DataFrame:
    frames = []
    for v in values:
        for draw in range(P["data_draws"]):
            x, y = make(v, draw)
            out = sgd_floor(x, y, np.array(P["lrs"]), P["iterations"], P["seeds"], record_every=P["record_every"],
                            seed=draw)
            w_star = np.linalg.lstsq(x, y, rcond=None)[0]
            g = least_squares_gradients(x, y, w_star)
            frames.append(pd.DataFrame(out).assign(
                family=name, value=v, draw=draw, eta_star=pairwise_statistics(g)["eta"],
                variance_star=float((g * g).sum(axis=1).mean())))
    return pd.concat(frames, ignore_index=True)


floors = pd.concat([
    family("correlation c", P["correlations"],
           lambda c, draw: correlated_sphere_regression(P["n"], P["d"], c, seed=draw)),
    family("dimension d", P["dims"], lambda dim, draw: correlated_sphere_regression(P["n"], dim, 0.0, seed=draw)),
], ignore_index=True)
floors["alpha_eta"] = floors.lr * floors.eta_path
floors["floor_per_alpha"] = floors.floor / floors.lr
floors["bound"] = pl_theorem_floor(floors.lr, floors.eta_path, P["n"], smoothness=1.0, pl=1.0)
floors["label"] = floors.family.str[-1] + " = " + floors.value.astype(str)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for ax, (name, sub) in zip(axes[:2], floors.groupby("family", sort=False)):
    sns.lineplot(data=sub, x="lr", y="floor", hue="label", marker="o", errorbar="sd", ax=ax, palette="viridis")
    ref = np.array([min(P["lrs"]), max(P["lrs"])])
    ax.plot(ref, sub.floor.median() * ref / np.median(P["lrs"]), color="grey", ls="--", lw=1, label="slope 1")
    ax.set(xscale="log", yscale="log", xlabel="step size α", ylabel="floor E[F(w) − F*]", title=f"varying {name}")
    ax.legend(fontsize=7)
valid = floors.dropna(subset=["bound"])
axes[2].scatter(valid.bound, valid.floor, s=12, c=np.log10(valid.lr), cmap="viridis")
lim = np.array([valid[["bound", "floor"]].min().min(), valid[["bound", "floor"]].max().max()])
axes[2].plot(lim, lim, color="grey", ls="--", lw=1, label="floor = bound")
axes[2].set(xscale="log", yscale="log", xlabel="Thm 3.1 bound αη/(1−ρ)", ylabel="measured floor",
            title="measured floor vs the bound (α < 2/(NL))")
axes[2].legend(fontsize=7)
fig.tight_layout()
glue_figure("fig_floor", fig)

# %% [markdown]
# ```{glue:figure} fig_floor
# :name: fig-floor
#
# Synthetic least squares, N = {glue:text}`n_samples`, batch-1 SGD for {glue:text}`iters` iterations
# per step size, d = {glue:text}`dim_corr` in the correlation family. Preset {glue:text}`preset`,
# {glue:text}`draws` per family member with {glue:text}`seeds` of SGD each; points are means, bands the std
# over all runs. The left and middle panels show the floor against α, with a slope-1 reference (the
# paper's reading, floor linear in αη; also the classical variance analysis). Step sizes
# {glue:text}`lrs_outside` lie outside the theorem's range {glue:text}`theorem_range`. The right panel
# shows the measured floor against the theorem's neighbourhood term, only for the step sizes the theorem
# covers. The paper has no such experiment; the family and the protocol are ours.
# ```

# %% tags=["hide-input"]
# the dimension family's d = P["d"] at c = 0 is the correlation family's c = 0 problem (same data): count it once
distinct = floors[~((floors.family == "dimension d") & (floors.value == P["d"]) & (0.0 in P["correlations"]))]
slopes = (distinct.groupby(["family", "value", "draw", "seed"])
          .apply(lambda s: np.polyfit(np.log(s.lr), np.log(s.floor), 1)[0], include_groups=False)
          .groupby(["family", "value", "draw"]).mean())  # one slope per (problem, data draw)
inside = distinct[distinct.lr < theorem_lr]
slopes_inside = (inside.groupby(["family", "value", "draw", "seed"])
                 .apply(lambda s: np.polyfit(np.log(s.lr), np.log(s.floor), 1)[0], include_groups=False)
                 if inside.lr.nunique() >= 2 else pd.Series(dtype=float))
by_value = floors.groupby(["family", "value"]).agg(eta_path=("eta_path", "mean"), eta_star=("eta_star", "mean"),
                                                  floor_per_alpha=("floor_per_alpha", "mean"),
                                                  variance_star=("variance_star", "mean")).reset_index()
corr = by_value[by_value.family == "correlation c"]
dims_ = by_value[by_value.family == "dimension d"]
eta_ratio = corr.eta_path.max() / corr.eta_path.min()
floor_ratio = corr.floor_per_alpha.max() / corr.floor_per_alpha.min()
rank = corr[["eta_path", "floor_per_alpha"]].corr(method="spearman").iloc[0, 1]
bound_holds = bool((valid.floor <= valid.bound).all())
glue_number("n_samples", P["n"])
glue_number("iters", P["iterations"])
glue_number("slope_mean", slopes.mean())
glue_number("slope_min", slopes.min())
glue_number("slope_max", slopes.max())
glue_number("eta_ratio", eta_ratio)
glue_number("floor_ratio", floor_ratio)
glue_number("rank_corr", rank)
glue_number("bound_gap", float((valid.bound / valid.floor).min()))
dims_ = dims_.sort_values("value")
dim_floor_ratio = dims_.floor_per_alpha.iloc[-1] / dims_.floor_per_alpha.iloc[0]
dim_eta_ratio = dims_.eta_path.iloc[-1] / dims_.eta_path.iloc[0]
glue_number("dim_floor_ratio", dim_floor_ratio)
glue_text("dim_corr", str(P["d"]))
glue_text("slope_inside", f"{slopes_inside.mean():.2f} over the {inside.lr.nunique()} step sizes inside it"
          if len(slopes_inside) else "not measurable: fewer than two step sizes lie inside it")
glue_number("dim_eta_ratio", dim_eta_ratio)
glue_text("dim_direction", "the same direction" if (dim_floor_ratio - 1) * (dim_eta_ratio - 1) > 0
          else "opposite directions: the floor does not follow η here either")
elasticity = np.log(floor_ratio) / np.log(eta_ratio)  # 1 if the floor were proportional to η
glue_number("elasticity", elasticity)
# the unit is the data draw: at each step size inside the theorem's range, the elasticity of the floor
# (mean over SGD seeds) with respect to η along the path, from the smallest to the largest c
per_draw = (inside[inside.family == "correlation c"].groupby(["draw", "lr", "value"])[["floor", "eta_path"]].mean()
            .unstack("value"))
c_lo, c_hi = min(P["correlations"]), max(P["correlations"])
draw_elasticity = (np.log(per_draw["floor"][c_hi] / per_draw["floor"][c_lo])
                   / np.log(per_draw["eta_path"][c_hi] / per_draw["eta_path"][c_lo])).groupby("draw").mean()
eta_evidence = (f"from c = {c_lo:g} to {c_hi:g}, η along the path rises {eta_ratio:.2f}× and floor/α changes "
                f"{floor_ratio:.2f}× (means over draws, seeds and step sizes); per-draw elasticity at step sizes "
                f"{', '.join(f'{lr:g}' for lr in sorted(inside.lr.unique()))} ({len(draw_elasticity)} data draws, "
                f"{P['seeds']} SGD seeds each): {draw_elasticity.mean():.2f} ± {draw_elasticity.std(ddof=1):.2f}.")
verdicts = {
    "floor_alpha": judge_interval(
        "floor_alpha", mean_interval(slopes),
        evidence=f"log–log slopes of the floor against α at step sizes {', '.join(f'{lr:g}' for lr in P['lrs'])} "
                 f"over {len(slopes)} (problem, data draw) pairs: mean {slopes.mean():.2f}, range "
                 f"{slopes.min():.2f}–{slopes.max():.2f}."),
    "floor_bound": judge_tolerance(
        "floor_bound", bound_holds,
        f"the bound holds in {'every' if bound_holds else 'not every'} run with α < 2/(NL); it exceeds the measured "
        f"floor by at least {float((valid.bound / valid.floor).min()):.0f}×."),
    "floor_eta": judge_signs("floor_eta", {"elasticity": (draw_elasticity, +1.0)}, evidence=eta_evidence,
                             unit="data draw"),
    "floor_eta_linear": judge_interval("floor_eta_linear", mean_interval(draw_elasticity), evidence=eta_evidence),
}
record_verdicts("sgd_floor", verdicts, "no network: least squares at SGD's noise floor")
glue_text("eta_reading", {
    "contradicted": "Here the floor falls as η rises.",
    "reproduced": "Here the floor does grow with η.",
}.get(verdicts["floor_eta"].label, "Our runs cannot tell at this preset whether the floor grows with η."))
glue_text("linear_reading", {
    "contradicted": "The floor is far from proportional to η: the paper's reading of the floor term as linear "
                    "in αη does not describe this family.",
    "reproduced": "The floor is proportional to η within the margin, as the paper's reading says.",
}.get(verdicts["floor_eta_linear"].label, "Whether the floor is proportional to η is not settled at this preset."))
glue_text("floor_conclusion", "So Theorem 3.1 is an upper bound that holds here but does not explain the floor: η is "
          "a worst-case pair statistic, while the floor is an average over pairs."
          if verdicts["floor_eta_linear"].label == "contradicted" and bound_holds else
          "Whether η explains the floor is not settled by these runs; η is a worst-case pair statistic, while the "
          "floor is an average over pairs.")
by_value.round(4)

# %% [markdown]
# ## What we find
#
# - **Floor ∝ α: {glue:text}`label_floor_alpha`.** The log–log slope of the floor against α is
#   {glue:text}`slope_mean:.2f` on average (range {glue:text}`slope_min:.2f` to {glue:text}`slope_max:.2f`;
#   inside the theorem's range {glue:text}`theorem_range`: {glue:text}`slope_inside`), where the paper's
#   reading predicts 1. So does the classical analysis, in which the floor is proportional to
#   α·E‖∇f_i(w*)‖² (Moulines and Bach; Needell et al.), so agreement here does not favour the paper's
#   account over the classical one; and the bound as printed is nearly independent of α (next item).
# - **The bound: {glue:text}`label_floor_bound`** (a sanity check), but it is loose: it exceeds the measured floor by at
#   least a factor of {glue:text}`bound_gap:.0f`. Its $1/(1-\rho) \approx N/(2\mu\alpha)$ cancels α and
#   leaves roughly $N\eta/2$.
# - **The floor grows with η: {glue:text}`label_floor_eta`; it is proportional to η:
#   {glue:text}`label_floor_eta_linear`.** {glue:text}`eta_reading` {glue:text}`linear_reading` Raising $c$
#   multiplies η along the path by {glue:text}`eta_ratio:.2f`, while floor/α changes by a factor of
#   {glue:text}`floor_ratio:.2f` (over all step sizes: Spearman correlation of the means over draws
#   {glue:text}`rank_corr:.2f`, a ranking of four points and no test; elasticity d log floor / d log η of
#   those means = {glue:text}`elasticity:.2f`, where proportionality would give 1). In this family the
#   floor barely moves, and neither does the per-sample gradient variance at $w^*$ (table above), while
#   the worst pair's η rises. Across dimensions, from the smallest to the largest d, η along the
#   path changes by a factor of {glue:text}`dim_eta_ratio:.2f` and floor/α by {glue:text}`dim_floor_ratio:.2f`
#   ({glue:text}`dim_direction`).
#
# {glue:text}`floor_conclusion` This matters for the rest of the book. The
# paper's CNN experiments report the *minimum* cosine, which is the tail that η describes. What speeds
# up SGD in this family is the typical pair.

# %% [markdown]
# ```{admonition} Verdict (computed above)
# :class: important
#
# - {glue:text}`verdict_floor_alpha`
# - {glue:text}`verdict_floor_bound`
# - {glue:text}`verdict_floor_eta`
# - {glue:text}`verdict_floor_eta_linear`
#
# {glue:text}`verdict_rules`
# ```

# %% tags=["nbval-check-output", "hide-input"]
print(f"floor-vs-alpha slope: {slopes.mean():.1f}")
print(f"data draws per family member: {floors.draw.nunique()}")
print("bound holds in every run:", bound_holds)
