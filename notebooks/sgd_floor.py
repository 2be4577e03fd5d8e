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
# # The SGD noise floor against confusion (Theorems 3.1 and 3.2)
#
# Under L-smoothness, a Polyak–Łojasiewicz condition on every $f_i$, and confusion bound η along the
# path, constant-step SGD satisfies (paper Thm 3.1)
#
# $$\mathbb E[F(w_T) - F^*] \le \rho^T(F(w_0) - F^*) + \frac{\alpha\eta}{1-\rho},\qquad
# \rho = 1 - \tfrac{2\mu}{N}\left(\alpha - \tfrac{NL\alpha^2}{2}\right),\ \alpha < \tfrac{2}{NL}.$$
#
# The floor term is **linear in αη**: smaller confusion lets SGD get closer at the same step size. The
# non-convex Theorem 3.2 has the same structure, with a floor of ρη on $\min_k\mathbb E\|\nabla F\|^2$.
# Here we measure the floor in a least-squares family whose confusion we control, and set it beside
# α·η and beside the bound itself.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
n = None
d = None
correlations = None
dims = None
lrs = None
iterations = None
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
                        iterations=iterations, seeds=seeds, record_every=record_every)
setup()
glue_text("preset", preset)
glue_text("seeds", describe_seeds(P["seeds"]))
P

# %% [markdown]
# **The family.** $N$ unit inputs $x_i \propto \sqrt{1-c}\,z_i + \sqrt c\,s_i u$, with $z_i$ uniform on the
# sphere, one shared direction $u$, random signs $s_i$, and random targets $y_i\sim\mathcal N(0,1)$
# (`correlated_sphere_regression`). Pairs with opposite signs have $\langle x_i,x_j\rangle \approx -c$, so
# $c$ raises the confusion at the solution. A second family varies the dimension $d$ at $c = 0$.
# With $d < N$ neither family can interpolate, so SGD has a floor. For unit inputs each
# $f_i = \frac12(x_i^\top w-y_i)^2$ is 1-smooth and 1-PL (μ = L = 1).
#
# **The measurement.** Batch-1 SGD starts at $w^* + \mathcal N(0, 0.1^2 I)$, so what we see is the floor and not
# the approach to it. The floor is the mean of $F(w_k) - F^*$ over the second half of the run. η is the
# largest $-\min_{i\ne j}\langle\nabla f_i(w_k),\nabla f_j(w_k)\rangle$ seen there, which is the bound
# the theorem assumes along the path. All step sizes and seeds run together in one vectorised loop.

# %% tags=["hide-input"]
def family(name: str, values: list, make) -> pd.DataFrame:
    frames = []
    for v in values:
        x, y = make(v)
        out = sgd_floor(x, y, np.array(P["lrs"]), P["iterations"], P["seeds"], record_every=P["record_every"])
        w_star = np.linalg.lstsq(x, y, rcond=None)[0]
        g = least_squares_gradients(x, y, w_star)
        frames.append(pd.DataFrame(out).assign(
            family=name, value=v, eta_star=pairwise_statistics(g)["eta"],
            variance_star=float((g * g).sum(axis=1).mean())))
    return pd.concat(frames, ignore_index=True)


floors = pd.concat([
    family("correlation c", P["correlations"], lambda c: correlated_sphere_regression(P["n"], P["d"], c, seed=0)),
    family("dimension d", P["dims"], lambda dim: correlated_sphere_regression(P["n"], dim, 0.0, seed=0)),
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
# per step size. Preset {glue:text}`preset`, {glue:text}`seeds` for the SGD draws (one data draw per
# family member); points are means, bands the std over seeds. The left and middle panels show the floor
# against α, with a slope-1 reference (the theorem's linear dependence on α). The right panel shows the
# measured floor against the theorem's neighbourhood term, only for the step sizes the theorem covers. The
# paper has no such experiment; the family and the protocol are ours.
# ```

# %% tags=["hide-input"]
slopes = (floors.groupby(["family", "value", "seed"])
          .apply(lambda s: np.polyfit(np.log(s.lr), np.log(s.floor), 1)[0], include_groups=False))
by_value = floors.groupby(["family", "value"]).agg(eta_path=("eta_path", "mean"), eta_star=("eta_star", "first"),
                                                  floor_per_alpha=("floor_per_alpha", "mean"),
                                                  variance_star=("variance_star", "first")).reset_index()
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
glue_number("dim_eta_ratio", dim_eta_ratio)
glue_text("dim_direction", "the same direction" if (dim_floor_ratio - 1) * (dim_eta_ratio - 1) > 0
          else "opposite directions: the floor does not follow η here either")
elasticity = np.log(floor_ratio) / np.log(eta_ratio)  # 1 if the floor were proportional to η
glue_number("elasticity", elasticity)
per_seed = (floors[floors.family == "correlation c"].groupby(["seed", "value"])[["floor_per_alpha", "eta_path"]].mean()
            .unstack("value"))
c_lo, c_hi = min(P["correlations"]), max(P["correlations"])
seed_elasticity = (np.log(per_seed["floor_per_alpha"][c_hi] / per_seed["floor_per_alpha"][c_lo])
                   / np.log(per_seed["eta_path"][c_hi] / per_seed["eta_path"][c_lo]))
verdicts = {
    "floor_alpha": judge_interval(
        "floor_alpha", mean_interval(slopes),
        evidence=f"log–log slopes of the floor against α over {len(slopes)} (problem, seed) pairs: mean "
                 f"{slopes.mean():.2f}, range {slopes.min():.2f}–{slopes.max():.2f}."),
    "floor_bound": judge_tolerance(
        "floor_bound", bound_holds,
        f"the bound holds in {'every' if bound_holds else 'not every'} run with α < 2/(NL); it exceeds the measured "
        f"floor by at least {float((valid.bound / valid.floor).min()):.0f}×."),
    "floor_eta": judge_signs(
        "floor_eta", {"elasticity − 0.5": (seed_elasticity - 0.5, +1.0)},
        evidence=f"from c = {c_lo:g} to {c_hi:g}, η along the path rises {eta_ratio:.2f}× and floor/α changes "
                 f"{floor_ratio:.2f}× (one data draw per c, {len(seed_elasticity)} SGD seeds); per-seed elasticity "
                 f"{seed_elasticity.mean():.2f} ± {seed_elasticity.std(ddof=1):.2f}, tested against 0.5:"),
}
record_verdicts("sgd_floor", verdicts, "no network: least squares at SGD's noise floor")
glue_text("eta_reading", {
    "contradicted": "This is a robust disagreement with the paper's reading of the theorem, not noise.",
    "reproduced": "Here the floor does grow with η.",
}.get(verdicts["floor_eta"].label, "Our runs cannot tell at this preset whether the floor grows with η."))
glue_text("floor_conclusion", "So Theorem 3.1 is an upper bound that holds here but does not explain the floor: η is "
          "a worst-case pair statistic, while the floor is an average over pairs."
          if verdicts["floor_eta"].label == "contradicted" and bound_holds else
          "Whether η explains the floor is not settled by these runs; η is a worst-case pair statistic, while the "
          "floor is an average over pairs.")
by_value.round(4)

# %% [markdown]
# ## What we find
#
# - **Floor ∝ α: {glue:text}`label_floor_alpha`.** The log–log slope of the floor against α is
#   {glue:text}`slope_mean:.2f` on average (range {glue:text}`slope_min:.2f` to {glue:text}`slope_max:.2f`),
#   where the αη term (and the classical analysis) predicts 1.
# - **The bound: {glue:text}`label_floor_bound`** (a sanity check), but it is loose: it exceeds the measured floor by at
#   least a factor of {glue:text}`bound_gap:.0f`. Its $1/(1-\rho) \approx N/(2\mu\alpha)$ cancels α and
#   leaves roughly $N\eta/2$.
# - **The floor grows with η: {glue:text}`label_floor_eta`.** {glue:text}`eta_reading` Raising $c$ multiplies
#   η along the path by {glue:text}`eta_ratio:.2f`, while floor/α changes by a factor of
#   {glue:text}`floor_ratio:.2f` (Spearman correlation {glue:text}`rank_corr:.2f`; elasticity
#   d log floor / d log η = {glue:text}`elasticity:.2f`, where proportionality would give 1). The floor follows
#   the per-sample gradient variance at $w^*$, which the correlation knob leaves almost unchanged (table
#   above), and not the worst pair. Across dimensions, from the smallest to the largest d, η along the
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
#
# {glue:text}`verdict_rules`
# ```

# %% tags=["nbval-check-output", "hide-input"]
print(f"floor-vs-alpha slope: {slopes.mean():.1f}")
print("bound holds in every run:", bound_holds)
