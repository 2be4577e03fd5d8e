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
# # Figure 1: over- versus under-parameterised linear regression
#
# The paper's first figure fits least squares, $f_i(w) = \frac12(x_i^\top w - y_i)^2$, to N = 100
# Gaussian samples with batch-1 SGD. It compares d = 80 features (under-parameterised, no
# interpolation) with d = 120 (over-parameterised, an exact fit exists). The paper's message is that
# the over-parameterised model converges linearly and has a positive average pairwise gradient cosine,
# while the under-parameterised one stalls at a noise floor with a negative average cosine.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
n = None
dims = None
lr = None
iterations = None
record_every = None
seeds = None

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from gradconf.book import notebook_parameters
from gradconf.linear_sgd import least_squares_sgd
from gradconf.report import describe_seeds, glue_figure, glue_number, glue_text, record_verdicts, setup
from gradconf.studies import claim_verdict
from gradconf.synthetic import gaussian_regression

P = notebook_parameters("figure1_linear_regression", preset, n=n, dims=dims, lr=lr, iterations=iterations,
                        record_every=record_every, seeds=seeds)
setup()
glue_text("preset", preset)
glue_text("seeds", describe_seeds(P["seeds"]))
P

# %% [markdown]
# Data: $x_i \sim \mathcal N(0, I_d/d)$, so $\|x_i\| \approx 1$, and random targets $y_i \sim \mathcal N(0,1)$
# (`gradconf.synthetic.gaussian_regression`). The data and the SGD draws are seeded together. SGD starts
# at $w = 0$ with a constant step size; the paper does not state its step size. Every few iterations
# we record the full-gradient norm $\|\nabla F(w_k)\|$ and the mean and minimum cosine over all
# $N(N-1)/2$ pairs of per-sample gradients.

# %% tags=["hide-input"]
frames = []
for dim in P["dims"]:
    for seed in P["seeds"]:
        data = gaussian_regression(P["n"], dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        trace = least_squares_sgd(data.x.numpy(), data.y.numpy()[:, 0], P["lr"], P["iterations"], seed,
                                  P["record_every"])
        frames.append(pd.DataFrame(trace).assign(d=dim, seed=seed))
curves = pd.concat(frames, ignore_index=True)
curves["model"] = curves.d.map(lambda v: f"d = {v} ({'over' if v > P['n'] else 'under'}-parameterised)")

fig, axes = plt.subplots(1, 2)
sns.lineplot(data=curves, x="iteration", y="grad_norm", hue="model", errorbar="sd", ax=axes[0])
axes[0].set(yscale="log", ylabel=r"$\|\nabla F(w_k)\|$", title="full-gradient norm")
sns.lineplot(data=curves, x="iteration", y="mean_cos", hue="model", errorbar="sd", ax=axes[1], legend=False)
axes[1].axhline(0, color="grey", lw=1)
axes[1].set(ylabel="mean pairwise cosine", title="average per-sample gradient cosine")
fig.tight_layout()
glue_figure("fig_figure1", fig)

# %% [markdown]
# ```{glue:figure} fig_figure1
# :name: fig-figure1
#
# Linear regression, N = {glue:text}`n_samples` Gaussian samples, batch-1 SGD with step size
# {glue:text}`step:.2f` for {glue:text}`iters` iterations. Preset {glue:text}`preset`,
# {glue:text}`seeds`; lines are the mean and bands the std over seeds. Differences from the paper:
# the step size (not stated there) and the random targets (the paper does not say how its targets were made).
# ```

# %% tags=["hide-input"]
last = curves[curves.iteration == curves.iteration.max()]
final = last.groupby("d").agg(grad_norm=("grad_norm", "mean"), mean_cos=("mean_cos", "mean"),
                              mean_cos_std=("mean_cos", "std"), min_cos=("min_cos", "mean"))
first_k = curves[curves.iteration == curves.iteration[curves.iteration > 0].min()].groupby("d").grad_norm.mean()
over, under = max(P["dims"]), min(P["dims"])
glue_number("n_samples", P["n"])
glue_number("step", P["lr"])
glue_number("iters", P["iterations"])
glue_number("gn_over", final.loc[over, "grad_norm"])
glue_number("gn_under", final.loc[under, "grad_norm"])
glue_number("cos_over", final.loc[over, "mean_cos"])
glue_number("cos_under", final.loc[under, "mean_cos"])
glue_number("cos_over_std", final.loc[over, "mean_cos_std"])
glue_number("cos_under_std", final.loc[under, "mean_cos_std"])
positive_over = final.loc[over, "mean_cos"] > 0
negative_under = final.loc[under, "mean_cos"] < 0
linear_over = final.loc[over, "grad_norm"] < 1e-3 * curves[curves.iteration == 0].grad_norm.mean()
glue_text("verdict_rate", "reproduced" if linear_over else "not reproduced at this scale")
glue_text("verdict_cos", "reproduced" if (positive_over and negative_under) else "not reproduced")
glue_text("cos_sign_over", "positive" if positive_over else "negative")
glue_text("cos_sign_under", "positive" if not negative_under else "negative")
record_verdicts("figure1_linear_regression", {
    "fig1_rate": claim_verdict(
        "fig1_rate", "reproduced" if linear_over else "not reproduced at this scale",
        f"after {P['iterations']:,} steps the full gradient norm is {final.loc[over, 'grad_norm']:.1e} for d = 120 "
        f"and {final.loc[under, 'grad_norm']:.1e} for d = 80 (reproduced when d = 120 falls below 1e-3 of its start)."),
    "fig1_cos_sign": claim_verdict(
        "fig1_cos_sign", "reproduced" if (positive_over and negative_under) else "not reproduced at this scale",
        f"final average cosine {final.loc[over, 'mean_cos']:+.4f} ± {final.loc[over, 'mean_cos_std']:.4f} (d = 120) "
        f"and {final.loc[under, 'mean_cos']:+.4f} ± {final.loc[under, 'mean_cos_std']:.4f} (d = 80), "
        f"mean ± std over {len(P['seeds'])} seeds."),
})
final.round(6)

# %% [markdown]
# ## What we find
#
# After {glue:text}`iters` iterations the over-parameterised model's gradient norm is
# {glue:text}`gn_over:.1e`, against {glue:text}`gn_under:.1e` for the under-parameterised one. The
# first falls geometrically, the second stalls at SGD's noise floor. **The convergence half of the
# figure is {glue:text}`verdict_rate`.**
#
# The final average cosine is {glue:text}`cos_over:.4f` ± {glue:text}`cos_over_std:.4f` ({glue:text}`cos_sign_over`)
# for d = 120 and {glue:text}`cos_under:.4f` ± {glue:text}`cos_under_std:.4f` ({glue:text}`cos_sign_under`)
# for d = 80. The paper reads roughly +0.001 to +0.002 and −0.002 to −0.003 off its plot. **The sign
# pattern of the average cosine is {glue:text}`verdict_cos`** in our runs. Both averages are within
# about 0.01 of zero, the spread of a mean over 4,950 nearly orthogonal pairs. Their sign depends on the
# step size and the seed, so we do not read a sign difference as evidence either way. The robust
# difference between the models is the rate, which is what Theorem 3.1 links to confusion: at an
# interpolating solution every residual, and so every per-sample gradient, is zero, hence η = 0.

# %% tags=["nbval-check-output", "hide-input"]
print("over-parameterised gradient norm falls by > 1000x:", bool(linear_over))
print("under-parameterised stalls (final norm > 1e-3):", bool(final.loc[under, "grad_norm"] > 1e-3))
