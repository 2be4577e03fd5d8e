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
teacher_noises = None  # label noise of the teacher-target check (targets y = w·x + noise)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from gradconf.book import notebook_parameters
from gradconf.linear_sgd import least_squares_sgd
from gradconf.report import describe_seeds, glue_figure, glue_number, glue_text, record_verdicts, setup
from gradconf.verdicts import judge_difference, judge_signs
from gradconf.synthetic import gaussian_regression

P = notebook_parameters("figure1_linear_regression", preset, n=n, dims=dims, lr=lr, iterations=iterations,
                        record_every=record_every, seeds=seeds, teacher_noises=teacher_noises)
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
# Linear regression, N = {glue:text}`n_samples` Gaussian samples, d = {glue:text}`dims_text`, batch-1 SGD
# with step size {glue:text}`step:.2f` for {glue:text}`iters` iterations. Preset {glue:text}`preset`,
# {glue:text}`seeds` (each seed draws its own data set as well as its SGD order); lines are the mean and
# bands the std over seeds. Differences from the paper:
# the step size (not stated there), the random targets (the paper does not say how its targets were made),
# the inputs' scale x ~ N(0, I_d/d), and the "gradient norm" read as the full-batch ‖∇F(w_k)‖ (neither is
# stated there).
# ```

# %% tags=["hide-input"]
last = curves[curves.iteration == curves.iteration.max()]
final = last.groupby("d").agg(grad_norm=("grad_norm", "mean"), mean_cos=("mean_cos", "mean"),
                              mean_cos_std=("mean_cos", "std"), min_cos=("min_cos", "mean"),
                              sum_ratio=("sum_ratio", "mean"))
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
half = curves[curves.iteration == curves.iteration[curves.iteration >= P["iterations"] // 2].min()]
late_fall = (np.log10(half.set_index(["d", "seed"]).grad_norm)
             - np.log10(last.set_index(["d", "seed"]).grad_norm))  # decades lost over the second half
glue_number("fall_over", late_fall.loc[over].mean())
glue_number("fall_under", late_fall.loc[under].mean())
glue_text("fall_under_text", f"falls by {late_fall.loc[under].mean():.2f} decades" if late_fall.loc[under].mean() >= 0
          else f"rises by {-late_fall.loc[under].mean():.2f} decades")
glue_text("dims_text", " and ".join(str(v) for v in sorted(P["dims"])))
glue_text("over", str(over))
glue_text("under", str(under))
ratio_over, ratio_under = final.loc[over, "sum_ratio"], final.loc[under, "sum_ratio"]
glue_text("ratio_reading", "both are below 1, so the sum over pairs is negative in both models"
          if max(ratio_over, ratio_under) < 1 else
          "both are above 1, so the sum over pairs is positive in both models" if min(ratio_over, ratio_under) > 1
          else f"the sum over pairs is negative only for d = {over if ratio_over < 1 else under}")
glue_number("stationary_cos", -1 / (P["n"] - 1))
glue_text("sum_ratios", f"{final.loc[over, 'sum_ratio']:.3g} for d = {over} and {final.loc[under, 'sum_ratio']:.3g} "
          f"for d = {under}")
glue_text("cos_sign_over", "positive" if positive_over else "negative")
glue_text("cos_sign_under", "positive" if not negative_under else "negative")
final_cos = last.set_index(["d", "seed"]).mean_cos
verdicts = {
    "fig1_rate": judge_difference(
        "fig1_rate", late_fall.loc[over], late_fall.loc[under],
        evidence=f"over the second half of {P['iterations']:,} steps the full gradient norm falls by "
                 f"{late_fall.loc[over].mean():.2f} decades for d = {over} (to {final.loc[over, 'grad_norm']:.1e}) "
                 f"and by {late_fall.loc[under].mean():.2f} for d = {under} (to {final.loc[under, 'grad_norm']:.1e})."),
    "fig1_cos_sign": judge_signs(
        "fig1_cos_sign", {f"d = {over}": (final_cos.loc[over], +1.0), f"d = {under}": (final_cos.loc[under], -1.0)},
        evidence=f"final average cosine over {len(P['seeds'])} seeds, 95 % t intervals:"),
}
record_verdicts("figure1_linear_regression", verdicts, "no network: linear regression run to its floor or to "
                "interpolation")
glue_text("rate_reading", {
    "reproduced": "The over-parameterised model keeps converging where the other has stalled, by more than the "
                  "test's one-decade margin.",
    "contradicted": "The under-parameterised model falls at least as fast here: against the paper's figure.",
}.get(verdicts["fig1_rate"].label, ("The difference points the paper's way but does not clear the test's "
                                     if late_fall.loc[over].mean() > late_fall.loc[under].mean() else
                                     "The difference does not point the paper's way clearly enough to clear the "
                                     "test's ") +
                                    "one-decade margin at this preset, so the rate half of the figure is not "
                                    "established by these runs (the over-parameterised model's own fall over "
                                    f"that half is {late_fall.loc[over].mean():.1f} decades)."))
glue_text("cos_sign_reading", {
    "contradicted": "The interval over seeds lies wholly on the side opposite to the paper's for at least one "
                    "model; the identity below shows what sets the sign.",
    "reproduced": "Our runs agree with the paper here, although the identity below predicts the opposite sign "
                  "once the full gradient is small; the full gradient must still be large in these runs.",
}.get(verdicts["fig1_cos_sign"].label, "Our runs do not settle the sign at this preset; the identity below "
                                        "predicts a negative one."))
final.round(6)

# %% [markdown]
# ## What we find
#
# After {glue:text}`iters` iterations the over-parameterised model's gradient norm is
# {glue:text}`gn_over:.1e`, against {glue:text}`gn_under:.1e` for the under-parameterised one. Over the
# second half of the run the first loses {glue:text}`fall_over:.1f` decades, while the second's
# {glue:text}`fall_under_text`. **The convergence half of the figure: {glue:text}`label_fig1_rate`.**
# {glue:text}`rate_reading` The paper's d = 80 curve levels off near 0.4–0.5 (read off its plot), far
# above ours: the level of SGD's floor scales with the step size, with the scale of the inputs (ours are
# $x \sim \mathcal N(0, I_d/d)$) and with the targets' residual at the least-squares fit, and the paper states
# none of them.
#
# The final average cosine is {glue:text}`cos_over:.4f` ± {glue:text}`cos_over_std:.4f` ({glue:text}`cos_sign_over`)
# for d = {glue:text}`over` and {glue:text}`cos_under:.4f` ± {glue:text}`cos_under_std:.4f` ({glue:text}`cos_sign_under`)
# for d = {glue:text}`under`. The paper reads roughly +0.001 to +0.002 and −0.002 to −0.003 off its plot. **The sign
# pattern of the average cosine: {glue:text}`label_fig1_cos_sign`.** {glue:text}`cos_sign_reading` Write $g_i$ for the per-sample gradients and $G = \frac1N\sum_i g_i$.
# Then $\sum_{i \ne j}\langle g_i, g_j\rangle = N^2\|G\|^2 - \sum_i \|g_i\|^2$. Wherever SGD has driven the
# full gradient well below the per-sample ones ($N^2\|G\|^2 < \sum_i \|g_i\|^2$), the sum over pairs is
# negative; with equal norms the average cosine is then about $-1/(N-1)$ = {glue:text}`stationary_cos:.4f`.
# At the last iterate the ratio $N^2\|G\|^2/\sum_i\|g_i\|^2$ is {glue:text}`sum_ratios` (mean over
# seeds): {glue:text}`ratio_reading`. The average *cosine* has an exact form of its own: with
# $g_i = r_ix_i$ ($r$ the residual), $\cos(g_i, g_j) = s_is_j\cos(x_i, x_j)$ for the signs $s_i$ of the
# residuals, so the average over pairs is $(s^\top\hat X\hat X^\top s/N - 1)/(N-1)$, with $\hat X$ the inputs
# scaled to unit length. It is negative exactly when the Rayleigh quotient of $\hat X\hat X^\top$ at the sign
# vector is below 1, the average of that matrix's eigenvalues. Why the sign vector should sit there is a
# heuristic, not a proof: the ratio above is about $r^\top XX^\top r/\|r\|^2$ (for $\|x_i\| \approx 1$), and
# SGD removes the residual's components along the large eigenvalues of $XX^\top$ first, which leaves the
# residual, and plausibly its signs, on the small ones. Near an interpolating solution every $g_i$ tends to
# zero, but the ratio does not tend to zero: their sum shrinks at the same geometric rate. A positive
# average needs the signs of the residuals to lean on the large-eigenvalue directions. Theorem 3.1 does not speak to
# that sign either: its rate ρ does not involve η at all, and confusion enters only the size of the
# neighbourhood, αη/(1 − ρ). At an interpolating solution every residual, and so every per-sample
# gradient, is zero, hence η = 0 there and the neighbourhood vanishes.
#
# **Do the targets decide the sign?** The paper does not say how its targets were made. The same runs
# with targets from a linear teacher, $y = w_\text{teacher}^\top x$ plus Gaussian label noise (standard
# deviation {glue:text}`teacher_noises`), give these final average cosines (mean ± std over the same seeds,
# each seed its own data and teacher); descriptive, not judged:

# %% tags=["hide-input"]
teacher_rows = []
for noise in P["teacher_noises"]:
    for dim in P["dims"]:
        for seed in P["seeds"]:
            data = gaussian_regression(P["n"], dim, generator=torch.Generator().manual_seed(seed), targets="teacher",
                                       noise=noise, dtype=torch.float64)
            trace = least_squares_sgd(data.x.numpy(), data.y.numpy()[:, 0], P["lr"], P["iterations"], seed,
                                      P["iterations"])  # the start and the last iterate only
            teacher_rows.append({"label noise": noise, "d": dim, "seed": seed, "mean_cos": trace["mean_cos"][-1],
                                 "grad_norm": trace["grad_norm"][-1]})
teacher = pd.DataFrame(teacher_rows)
teacher_table = (teacher.groupby(["label noise", "d"])
                 .agg(mean_cos=("mean_cos", "mean"), mean_cos_std=("mean_cos", "std"), grad_norm=("grad_norm", "mean"))
                 .reset_index())
signs = {"negative" if v < 0 else "positive" for v in teacher_table.mean_cos}
glue_text("teacher_noises", " and ".join(f"{v:g}" for v in P["teacher_noises"]))
glue_text("teacher_reading", f"The mean is {signs.pop()} in every case, as with random targets: the sign "
          "does not come from random versus teacher targets." if len(signs) == 1 else
          "The sign depends on the targets here, so how the paper made its targets may explain the difference.")
noiseless_under = teacher_table[(teacher_table["label noise"] == 0) & (teacher_table.d == under)]
glue_text("teacher_floor", f"Without label noise the d = {under} model interpolates too (final gradient norm "
          f"{noiseless_under.grad_norm.iloc[0]:.1e}): its floor comes from targets it cannot fit."
          if len(noiseless_under) else "")
teacher_table.assign(mean_cos=teacher_table.mean_cos.round(4), mean_cos_std=teacher_table.mean_cos_std.round(4),
                     grad_norm=teacher_table.grad_norm.map(lambda v: f"{v:.1e}"))

# %% [markdown]
# {glue:text}`teacher_reading` {glue:text}`teacher_floor`

# %% [markdown]
# ```{admonition} Verdict (computed above)
# :class: important
#
# - {glue:text}`verdict_fig1_rate`
# - {glue:text}`verdict_fig1_cos_sign`
#
# {glue:text}`verdict_rules`
# ```

# %% tags=["nbval-check-output", "hide-input"]
print("over-parameterised gradient norm falls by > 1000x:", bool(linear_over))
print("under-parameterised stalls (final norm > 1e-3):", bool(final.loc[under, "grad_norm"] > 1e-3))
