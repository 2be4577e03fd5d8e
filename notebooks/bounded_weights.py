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
# # Bounded weights: depth, width and dimension (Theorem 5.1, Corollary 5.1)
#
# Theorem 5.1 (v5 numbering; Theorem 4.1 at ICLR) is the paper's general depth result. Its data are
# uniform on the unit sphere of $\mathbb R^d$ with Lipschitz labels, its network is an MLP
# $g_W(x) = \sigma(W_\beta\sigma(\cdots\sigma(W_0x)))$ with a bounded activation, and **Assumption 1**
# asks that every weight matrix have operator norm $\|W_p\|_{op} \le 1$. Then the confusion bound holds
# with probability at least
#
# $$1 - N^2\exp\!\Big(-\frac{c\,d\,\eta^2}{16\,\zeta_0^4(\beta+2)^4}\Big),\qquad \zeta_0 \le 2\sqrt\beta,$$
#
# which weakens with the depth β, strengthens with the dimension d and **does not involve the width ℓ**.
# Corollary 5.1 makes the same statement uniformly over a ball of radius r around the weights. The
# constants are not given, so, as in {doc}`width_depth_init`, the theorem predicts directions. We draw
# tanh MLPs without biases (eq. 4) whose weight matrices all have **operator norm exactly 1**, the boundary
# of Assumption 1, in two ways: Gaussian matrices rescaled to norm 1 (init scheme `spectral`), which shrink
# a typical vector by about half per layer, and orthogonal matrices, which preserve it. Scalar output,
# square loss, sphere data labelled by a tanh teacher; the exact per-sample Gram of N points for many
# independent draws.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
n = None
width = None
depth = None
d = None
activation = None
eta_threshold = None
draws = None
widths = None
depths = None
dims = None
ball_depths = None
ball_radii = None
ball_draws = None
directions = None
steps = None

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from gradconf.book import notebook_parameters
from gradconf.bounded_weights import ball_draws as ball_search_draws
from gradconf.bounded_weights import bounded_sweeps, single_entry_gram
from gradconf.figures import cosine_sd, interval_yerr, log_axis, positive_sd
from gradconf.init_confusion import violation_probability
from gradconf.report import glue_figure, glue_number, glue_text, record_verdicts, setup
from gradconf.synthetic import sphere_teacher
from gradconf.verdicts import CONTRADICTED, REPRODUCED, claim, claim_center_margin, contrast_interval, judge_axis, judge_tolerance

P = notebook_parameters("bounded_weights", preset, n=n, width=width, depth=depth, d=d, activation=activation,
                        eta_threshold=eta_threshold, draws=draws, widths=widths, depths=depths, dims=dims,
                        ball_depths=ball_depths, ball_radii=ball_radii, ball_draws=ball_draws,
                        directions=directions, steps=steps)
setup()
glue_text("preset", preset)
for key in ("n", "width", "depth", "d", "draws", "ball_draws", "directions", "steps"):
    glue_number(f"p_{key}", P[key])
glue_number("eta0", P["eta_threshold"])
P

# %% tags=["hide-input"]
frame = bounded_sweeps(width=P["width"], depth=P["depth"], d=P["d"], widths=P["widths"], depths=P["depths"],
                       dims=P["dims"], n=P["n"], draws=P["draws"], activation=P["activation"], loss="mse", seed=0)
families = list(dict.fromkeys(frame["weights"]))
colours = dict(zip(families, ("tab:blue", "tab:orange")))
axes_of = {"depth": ("depth", "depth β"), "width": ("width", "width ℓ"), "d": ("d", "dimension d")}
rows = (("min_inner", "raw min⟨g_i, g_j⟩"), ("cos_min", "min cosine"), ("mean_sq_norm", "mean ‖g_i‖²"))
fig, ax = plt.subplots(len(rows) + 1, 3, figsize=(13, 11))
eta0 = P["eta_threshold"]
for col, (sweep, (column, label)) in enumerate(axes_of.items()):
    sub = frame[frame["sweep"] == sweep]
    for row, (metric, title) in enumerate(rows):
        a = ax[row, col]
        sns.lineplot(data=sub, x=column, y=metric, hue="weights", hue_order=families, palette=colours, marker="o",
                     ax=a, errorbar={"cos_min": cosine_sd, "mean_sq_norm": positive_sd}.get(metric, "sd"),
                     legend=row == 0 and col == 0)
        log_axis(a, sub[column])
        a.set(xlabel="", ylabel=title if col == 0 else "")
        if metric == "mean_sq_norm":
            a.set_yscale("log")
    for family in families:
        p = violation_probability(sub[sub["weights"] == family], eta0, by=[column], column="min_inner")
        ax[-1, col].errorbar(p[column], p["p_violation"], yerr=interval_yerr(p), marker="o", capsize=2,
                             color=colours[family])
    log_axis(ax[-1, col], sub[column])
    ax[-1, col].set(xlabel=label, ylim=(-0.05, 1.05),
                    ylabel=f"P(min⟨g_i, g_j⟩ < −{eta0:g})" if col == 0 else "")
    ax[0, col].set_title(f"{label} swept" + "".join(f", {k} = {P[k]}" for k in ("width", "depth", "d")
                                                     if k != column))
ax[0, 0].legend(fontsize=7, title="‖W_p‖ = 1 weights", title_fontsize=7)
fig.tight_layout()
glue_figure("fig_bounded", fig)

# %% [markdown]
# ```{glue:figure} fig_bounded
# :name: fig-bounded
#
# Per-sample confusion at ‖W_p‖_op = 1 for two families of weights (blue: Gaussian matrices rescaled to norm
# 1; orange: orthogonal), tanh MLPs without biases and with a linear scalar read-out (the paper applies σ
# to the output too), square loss, N = {glue:text}`p_n` points uniform on the sphere with tanh-teacher
# labels, preset {glue:text}`preset`. Each column sweeps one of depth β, width ℓ and dimension d around the
# centre (ℓ, β, d) = ({glue:text}`p_width`, {glue:text}`p_depth`, {glue:text}`p_d`). Rows: the raw minimum
# inner product (the theorem's quantity), the minimum cosine, the mean squared gradient norm, and the
# probability that the raw minimum falls below −{glue:text}`eta0` (95 % Clopper–Pearson intervals; η fixed before
# the runs). Lines are means, bands the std over {glue:text}`p_draws` draws of data and weights (cosine bands
# clipped to [−1, 1], gradient-norm bands at the smallest draw's value). Every value of every sweep draws
# fresh weights. In the depth and width sweeps, draw k's data are shared across the swept values (and the
# two families), which makes the Welch contrasts below conservative where it correlates the values
# positively; in the d sweep each dimension has data of its own, since the data's dimension changes, so
# there the values are independent. The paper has no figure for this theorem; the protocol is ours.
# ```

# %% tags=["hide-input"]
units = frame.rename(columns={"draw": "seed"})
tags = {"Gaussian, rescaled": "gaussian", "orthogonal": "orthogonal"}
checks = (("bounded_depth", "depth", "β"), ("bounded_depth_cos", "depth", "β"), ("bounded_dim", "d", "d"),
          ("bounded_dim_cos", "d", "d"), ("bounded_width_flat", "width", "ℓ"), ("bounded_width_cos_flat", "width", "ℓ"))
verdicts = {}
for family in families:
    for cid, sweep, x_label in checks:
        sub = units[(units["weights"] == family) & (units["sweep"] == sweep)]
        verdicts[f"{cid}__{tags[family]}"] = judge_axis(sub, axes_of[sweep][0], cid, x_label=x_label, unit="draw")
for family in families:
    for sweep, (column, _) in axes_of.items():
        m = frame[(frame["weights"] == family) & (frame["sweep"] == sweep)].groupby(column)[
            ["min_inner", "cos_min", "mean_sq_norm"]].mean()
        lo, hi = m.index.min(), m.index.max()
        tag = f"{tags[family]}_{sweep}"
        if family == families[0]:  # both families share the sweeps' values
            glue_text(f"{sweep}_lo", f"{lo:g}")
            glue_text(f"{sweep}_hi", f"{hi:g}")
        for metric in ("min_inner", "cos_min"):
            glue_number(f"{tag}_{metric}_lo", m.loc[lo, metric])
            glue_number(f"{tag}_{metric}_hi", m.loc[hi, metric])
        glue_number(f"{tag}_norm_ratio", m.loc[hi, "mean_sq_norm"] / m.loc[lo, "mean_sq_norm"])
        norm_up = m.loc[hi, "mean_sq_norm"] > m.loc[lo, "mean_sq_norm"]
        glue_text(f"{tag}_norm_verb", "grow" if norm_up else "shrink")
        glue_text(f"{tag}_norm_verb_s", "grows" if norm_up else "falls")
        cos_up = m.loc[hi, "cos_min"] > m.loc[lo, "cos_min"]
        glue_text(f"{tag}_cos_verb", "rises" if cos_up else "falls")


def slope(family: str, sweep: str, metric: str, log: bool = False):
    """The slope per doubling of the swept value that judge_axis tests (None when a log needs positive values)."""
    sub = frame[(frame["weights"] == family) & (frame["sweep"] == sweep)]
    values = sub[metric].astype(float)
    if log and (values <= 0).any():
        return None
    return contrast_interval([(x, np.log(v) if log else v) for x, v in values.groupby(sub[axes_of[sweep][0]])])


def width_reading(cid: str, family: str) -> tuple[str, bool]:
    """What a width-flat verdict says (flat within the margin, detectable but within it, or beyond it), and
    whether the slope's 95 % interval excludes 0."""
    label = verdicts[f"{cid}__{tags[family]}"].label
    ci = slope(family, "width", claim(cid)["metric"], log=claim(cid).get("scale") == "log")
    _, margin = claim_center_margin(cid)
    if ci is None:
        return f"{label} (some η is 0, so its log and the slope are undefined)", False
    where = f"slope per doubling {ci.estimate:+.3f} [{ci.lo:+.3f}, {ci.hi:+.3f}], margin ±{margin:g}"
    detected = ci.lo > 0 or ci.hi < 0
    if label == REPRODUCED:
        return (f"{label}: a detectable dependence on width, but within the margin ({where})" if detected else
                f"{label}: no detectable dependence on width, and within the margin ({where})"), detected
    if ci.lo > margin or ci.hi < -margin:
        return f"{label}: a dependence on width beyond the margin ({where})", detected
    return f"{label}: neither shown within the margin nor beyond it ({where})", detected


detectable, within = [], []
for cid in ("bounded_width_flat", "bounded_width_cos_flat"):
    for family in families:
        text, detected = width_reading(cid, family)
        glue_text(f"width_{cid}__{tags[family]}", text)
        within.append(detected and verdicts[f"{cid}__{tags[family]}"].label == REPRODUCED)
        if detected:
            detectable.append(f"{tags[family]} ({'raw η' if cid == 'bounded_width_flat' else 'minimum cosine'})")
glue_text("width_summary",
          "No width dependence is detectable on either scale, in either family." if not detectable else
          f"Width shows detectably in {len(detectable)} of 4 cases ({'; '.join(detectable)})"
          + (", also where the verdict finds it within the margin" if any(within) else "")
          + ": the norm bound removes width from the theorem's guarantee, not from the measured confusion.")
# the margins against the depth effect in the same units (log η, and the minimum cosine, per doubling)
depth_eta = {f: slope(f, "depth", "eta", log=True) for f in families}
depth_cos = {f: slope(f, "depth", "cos_min") for f in families}
glue_text("depth_eta_slopes", ", ".join(f"{tags[f]} {ci.estimate:+.2f}" if ci is not None else f"{tags[f]} undefined "
                                        "(some η is 0)" for f, ci in depth_eta.items()))
glue_text("depth_cos_slopes", ", ".join(f"{tags[f]} {ci.estimate:+.3f}" for f, ci in depth_cos.items()))
glue_number("margin_eta", claim_center_margin("bounded_width_flat")[1])
glue_number("margin_cos", claim_center_margin("bounded_width_cos_flat")[1])
largest_eta = max((abs(ci.estimate) for ci in depth_eta.values() if ci is not None), default=np.inf)
largest_cos = max(abs(ci.estimate) for ci in depth_cos.values())
glue_text("margin_vs_depth",
          "both margins are smaller than the larger of the two families' depth effects, so a width effect inside "
          "them is smaller than what depth does" if claim_center_margin("bounded_width_flat")[1] < largest_eta
          and claim_center_margin("bounded_width_cos_flat")[1] < largest_cos else
          "a margin is not smaller than the larger of the two families' depth effects, so a width effect inside it "
          "could be as large as the depth effect")

# which way raw confusion moves with depth in each family, and whether the families agree
depth_labels = {f: verdicts[f"bounded_depth__{tags[f]}"].label for f in families}
depth_signs = {f: (1 if ci.lo > 0 else -1 if ci.hi < 0 else 0)
               for f, ci in ((f, slope(f, "depth", "min_inner")) for f in families)}
if len(set(depth_signs.values())) == 1 and 0 not in depth_signs.values():
    agree = "agree: raw confusion " + ("falls" if depth_signs[families[0]] > 0 else "rises") + " with depth in both"
    glue_text("families_depth", "The two families agree about depth.")
    glue_text("families_depth_short", "which agree about depth here")
    glue_text("depth_moral", f"Both {agree.split(': ')[1]} under Assumption 1 at this preset.")
elif {1, -1} <= set(depth_signs.values()):
    glue_text("families_depth", "The two families disagree about depth: raw confusion rises with depth for one "
              "and falls for the other.")
    glue_text("families_depth_short", "which already disagree about depth")
    glue_text("depth_moral", "Which way the raw confusion moves with depth under Assumption 1 depends on which "
              "norm-1 weights one draws.")
else:
    glue_text("families_depth", "The two families do not clearly agree about depth: in at least one the raw "
              "minimum has no clear direction.")
    glue_text("families_depth_short", "which do not clearly agree about depth")
    glue_text("depth_moral", "Which way raw confusion moves with depth under Assumption 1 is not settled here "
              "for at least one family.")
dim_labels = {f: verdicts[f"bounded_dim__{tags[f]}"].label for f in families}
glue_text("dim_reading", "Raw confusion falls with d for both families, as the theorem says"
          if all(v == REPRODUCED for v in dim_labels.values()) else
          "Raw confusion rises with d for at least one family, against the theorem's direction"
          if CONTRADICTED in dim_labels.values() else
          "Raw confusion is not shown to fall with d in both families")
frame.groupby(["weights", "sweep", "width", "depth", "d"])[["min_inner", "cos_min", "mean_sq_norm"]].mean().round(4)

# %% [markdown]
# ## The paper's example of width independence
#
# The paper's argument that width cannot matter under Assumption 1: a matrix with a single entry equal to 1
# has operator norm 1, and a network built of such matrices propagates the same signal whatever its width.
# We build it (every W_p zero except W_p[0, 0] = 1, zero biases) at every width of the sweep and compare its
# exact per-sample Gram in float64.

# %% tags=["hide-input"]
data = sphere_teacher(P["n"], P["d"], generator=torch.Generator().manual_seed(0))
grams = {w: single_entry_gram(data.x, data.y, width=w, depth=P["depth"]) for w in P["widths"]}
reference = grams[min(P["widths"])]
scale = float(reference.abs().max())
gap = max(float((g - reference).abs().max()) for g in grams.values()) / scale
holds = gap <= 1e-12
verdicts["bounded_single_entry"] = judge_tolerance(
    "bounded_single_entry", holds,
    f"largest relative Gram difference across widths {', '.join(map(str, P['widths']))} at β = {P['depth']}: {gap:.1e}.")
glue_text("single_entry_gap", f"{gap:.1e}")

# %% tags=["nbval-check-output", "hide-input"]
print(f"single-entry Gram identical across widths (relative gap <= 1e-12): {holds}")

# %% [markdown]
# The largest relative difference between the Grams is {glue:text}`single_entry_gap`: the example holds
# exactly, but it says less than it seems. Such a net computes σ(…σ(x_0)) and uses one coordinate of
# its input; it is width-independent because it does not use its width. The two families of the sweep
# above use theirs.
#
# ## Uniformly over a ball (Corollary 5.1)
#
# Corollary 5.1 states the bound for every W′ within distance r of W. We take the ball in which every weight
# matrix moves by at most r in operator norm (so ‖W′_p‖ ≤ 1 + r at every depth), around orthogonal
# weights, and state the search, since a ball cannot be searched exhaustively: {glue:text}`p_directions`
# random points on its boundary, then, from the most confused of them, {glue:text}`p_steps` steps of
# projected gradient descent on the inner product of the currently most negative pair (each matrix moved by
# r/4 along its normalised gradient, its perturbation's singular values clipped to r), keeping the lowest raw
# minimum and the lowest minimum cosine seen (W itself included). What the search finds is a lower bound
# on the true worst-case confusion in the ball (the worst case can only be worse), and the same budget
# searches the larger parameter spaces of deeper nets less well.

# %% tags=["hide-input"]
ball = ball_search_draws(depths=P["ball_depths"], radii=P["ball_radii"], width=P["width"], d=P["d"], n=P["n"],
                         draws=P["ball_draws"], directions=P["directions"], steps=P["steps"],
                         activation=P["activation"], seed=0)
ball["worst_eta"] = (-ball["worst_min_inner"]).clip(lower=0)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
for a, (metric, title) in zip(ax, (("worst_eta", "largest raw η = −min⟨g_i, g_j⟩ found in the ball"),
                                   ("worst_cos_min", "lowest min cosine found in the ball"))):
    sns.lineplot(data=ball, x="radius", y=metric, hue="depth", palette="viridis", marker="o", ax=a,
                 errorbar=cosine_sd if "cos" in metric else "sd", legend=a is ax[0])
    a.set(title=title, xlabel="ball radius r (per matrix, operator norm)", ylabel="")
ax[0].set_yscale("log")
fig.tight_layout()
glue_figure("fig_ball", fig)
r_max = max(P["ball_radii"])
at_rmax = ball[ball["radius"] == r_max].rename(columns={"draw": "seed"})
verdicts["bounded_ball_depth"] = judge_axis(at_rmax, "depth", "bounded_ball_depth", x_label="β", unit="draw")
glue_number("r_max", r_max)
glue_text("ball_depths", ", ".join(map(str, P["ball_depths"])))
glue_text("ball_radii", ", ".join(f"{r:g}" for r in P["ball_radii"]))
deepest = max(P["ball_depths"])
glue_number("ball_deepest", deepest)
glue_number("ball_growth", (1 + r_max) ** (2 * deepest))
mean_eta = ball.groupby(["depth", "radius"])["worst_eta"].mean()
centre_eta = mean_eta.xs(min(P["ball_radii"]), level="radius")
glue_text("ball_ratios", "; ".join(
    f"β = {b}: {mean_eta.loc[(b, r_max)] / centre_eta.loc[b]:.3g} against (1 + r)^(2β) = "
    f"{(1 + r_max) ** (2 * b):.3g}" if centre_eta.loc[b] > 0 else f"β = {b}: the centre has η = 0"
    for b in P["ball_depths"]))
# how much of the growth of the worst η from the shallowest to the deepest net the scale factor accounts for
shallowest = min(P["ball_depths"])
growth = np.log(mean_eta.loc[(deepest, r_max)] / mean_eta.loc[(shallowest, r_max)])
scale_growth = 2 * (deepest - shallowest) * np.log(1 + r_max)
share = scale_growth / growth if growth > 0 else np.nan
glue_text("ball_share",
          f"From β = {shallowest} to {deepest} the worst η found at r = {r_max:g} grows by a factor "
          f"{np.exp(growth):.3g}, of which the scale factor alone accounts for a factor {np.exp(scale_growth):.3g} "
          f"({share:.0%} of the growth on the log scale)" if growth > 0 else
          f"From β = {shallowest} to {deepest} the worst η found at r = {r_max:g} does not grow")
glue_text("ball_share_reading", "most of the growth is the scale factor, so the check could hardly have failed"
          if growth > 0 and share > 0.5 else
          "the scale factor does not account for most of the growth" if growth > 0 else
          "the scale factor's growth does not show")
ball_ci = contrast_interval([(b, np.log(v)) for b, v in at_rmax.groupby("depth")["worst_eta"]]) \
    if (at_rmax["worst_eta"] > 0).all() and at_rmax["depth"].nunique() > 1 else None
glue_text("ball_trend",
          "no clear trend can be computed" if ball_ci is None else
          f"grows with depth, by a factor of about {np.exp(ball_ci.estimate):.3g} per doubling of β"
          if ball_ci.lo > 0 else
          f"falls with depth, by a factor of about {np.exp(ball_ci.estimate):.3g} per doubling of β" if ball_ci.hi < 0
          else "shows no clear direction with depth")
mean_cos = ball.groupby(["depth", "radius"])["worst_cos_min"].mean()
glue_number("ball_cos_centre", mean_cos.loc[(deepest, min(P["ball_radii"]))])
glue_number("ball_cos_rmax", mean_cos.loc[(deepest, r_max)])
glue_number("ball_eta_centre", centre_eta.loc[deepest])
glue_number("ball_eta_rmax", mean_eta.loc[(deepest, r_max)])
record_verdicts("bounded_weights", verdicts, "at initialisation-like weights (‖W_p‖ = 1; no training)")
ball.groupby(["depth", "radius"])[["worst_min_inner", "worst_cos_min"]].mean().round(4)

# %% [markdown]
# ```{glue:figure} fig_ball
# :name: fig-ball
#
# The worst confusion found within the ball of radius r (every weight matrix moved by at most r in operator
# norm) around orthogonal weights, against the radius r (r = {glue:text}`ball_radii`), one line per depth
# (β = {glue:text}`ball_depths`; tanh MLPs of width {glue:text}`p_width`, no biases, a linear scalar
# read-out (the paper applies σ to the output too), square loss, N =
# {glue:text}`p_n` sphere-teacher points in d = {glue:text}`p_d`), preset {glue:text}`preset`. Search budget
# per ball: {glue:text}`p_directions` random boundary points, then {glue:text}`p_steps` projected gradient
# steps of size r/4, whatever the depth. Mean ± std over {glue:text}`p_ball_draws` draws of data and weights
# (log scale on the left; cosine bands clipped to [−1, 1]). Radius 0 is the centre itself. The paper states
# the corollary without experiments; the search and the ball are ours, and give the worst case found, not
# the supremum.
# ```
#
# ```{admonition} Verdict (computed above)
# :class: important
#
# The paper's claims, Gaussian matrices rescaled to norm 1:
# - {glue:text}`verdict_bounded_depth__gaussian`
# - {glue:text}`verdict_bounded_depth_cos__gaussian`
# - {glue:text}`verdict_bounded_dim__gaussian`
# - {glue:text}`verdict_bounded_width_flat__gaussian`
#
# The paper's claims, orthogonal matrices:
# - {glue:text}`verdict_bounded_depth__orthogonal`
# - {glue:text}`verdict_bounded_depth_cos__orthogonal`
# - {glue:text}`verdict_bounded_dim__orthogonal`
# - {glue:text}`verdict_bounded_width_flat__orthogonal`
#
# Sanity check: {glue:text}`verdict_bounded_single_entry`
#
# The book's own readings (normalised scale, and the ball):
# - {glue:text}`verdict_bounded_dim_cos__gaussian`
# - {glue:text}`verdict_bounded_dim_cos__orthogonal`
# - {glue:text}`verdict_bounded_width_cos_flat__gaussian`
# - {glue:text}`verdict_bounded_width_cos_flat__orthogonal`
# - {glue:text}`verdict_bounded_ball_depth` (judged at r = {glue:text}`r_max`)
#
# {glue:text}`verdict_rules`
# ```
#
# **Two families, two verdicts.** Each claim is judged separately on the two weight families, each at
# nominal 2.5 % per side, and no rule combines them. Reading a claim as reproduced when it is reproduced in
# either family would double the false-positive rate (up to 5 %), so the book reports each family on its
# own, and a claim holds under Assumption 1 only as far as it holds for the family named.
#
# ## What we find
#
# - **Depth.** {glue:text}`families_depth` Rescaled Gaussian matrices shrink a typical vector by about half
#   per layer, and their gradients {glue:text}`gaussian_depth_norm_verb` with depth: mean ‖g_i‖² changes by a
#   factor {glue:text}`gaussian_depth_norm_ratio:.1e` from β = {glue:text}`depth_lo` to {glue:text}`depth_hi`,
#   the raw minimum goes from {glue:text}`gaussian_depth_min_inner_lo:.4f` to
#   {glue:text}`gaussian_depth_min_inner_hi:.1e` ({glue:text}`label_bounded_depth__gaussian`), while the
#   minimum cosine {glue:text}`gaussian_depth_cos_verb` from {glue:text}`gaussian_depth_cos_min_lo:.3f` to
#   {glue:text}`gaussian_depth_cos_min_hi:.3f` ({glue:text}`label_bounded_depth_cos__gaussian`). Orthogonal matrices preserve the signal; their raw minimum goes
#   from {glue:text}`orthogonal_depth_min_inner_lo:.3f` to {glue:text}`orthogonal_depth_min_inner_hi:.3f`
#   ({glue:text}`label_bounded_depth__orthogonal`) as the gradient norms {glue:text}`orthogonal_depth_norm_verb`
#   (factor {glue:text}`orthogonal_depth_norm_ratio:.1f`), with the minimum cosine from
#   {glue:text}`orthogonal_depth_cos_min_lo:.3f` to {glue:text}`orthogonal_depth_cos_min_hi:.3f`
#   ({glue:text}`label_bounded_depth_cos__orthogonal`).
#   {glue:text}`depth_moral`
# - **Dimension.** {glue:text}`dim_reading` (Gaussian: {glue:text}`label_bounded_dim__gaussian`; orthogonal:
#   {glue:text}`label_bounded_dim__orthogonal`). Much of the raw scale comes from the labels: the
#   teacher's labels tanh(vᵀx) have variance of order 1/d on the sphere, the residual at these near-zero
#   outputs is about the label, and mean ‖g_i‖² {glue:text}`orthogonal_d_norm_verb_s` with d (orthogonal:
#   factor {glue:text}`orthogonal_d_norm_ratio:.1e` over the sweep). The minimum cosine, which has no such
#   scale, {glue:text}`orthogonal_d_cos_verb` with d for orthogonal weights
#   ({glue:text}`orthogonal_d_cos_min_lo:.3f` to {glue:text}`orthogonal_d_cos_min_hi:.3f`;
#   {glue:text}`label_bounded_dim_cos__orthogonal`) and {glue:text}`gaussian_d_cos_verb` for Gaussian ones
#   ({glue:text}`gaussian_d_cos_min_lo:.3f` to {glue:text}`gaussian_d_cos_min_hi:.3f`;
#   {glue:text}`label_bounded_dim_cos__gaussian`).
# - **Width.** The theorem's bound has no width in it. On the raw scale (log η): Gaussian
#   {glue:text}`width_bounded_width_flat__gaussian`; orthogonal {glue:text}`width_bounded_width_flat__orthogonal`.
#   On the minimum cosine: Gaussian {glue:text}`width_bounded_width_cos_flat__gaussian`
#   ({glue:text}`gaussian_width_cos_min_lo:.3f` at ℓ = {glue:text}`width_lo` to
#   {glue:text}`gaussian_width_cos_min_hi:.3f` at {glue:text}`width_hi`); orthogonal
#   {glue:text}`width_bounded_width_cos_flat__orthogonal` ({glue:text}`orthogonal_width_cos_min_lo:.3f` to
#   {glue:text}`orthogonal_width_cos_min_hi:.3f`). The margins, ±{glue:text}`margin_eta:g` per doubling in
#   log η and ±{glue:text}`margin_cos:g` in the minimum cosine, are set against the depth effect in the same
#   units, the change per doubling of β (log η: {glue:text}`depth_eta_slopes`; minimum cosine:
#   {glue:text}`depth_cos_slopes`): {glue:text}`margin_vs_depth`. {glue:text}`width_summary`
# - **The ball.** The gradient block of each weight matrix is a product over the other β matrices (tanh's
#   slope is at most 1), times the residual. Letting every matrix's norm grow from 1 to 1 + r scales such a
#   block by up to (1 + r)^β through the matrices, and an inner product of two gradients by up to
#   (1 + r)^(2β): {glue:text}`ball_growth:.3g` at β = {glue:text}`ball_deepest` and r = {glue:text}`r_max`.
#   That is a crude reference, not a bound on what the search finds: the residuals grow too where the
#   outputs outgrow the labels, and the search also turns the gradients, so the worst η it finds can grow
#   by more or less than that factor; the worst η found at r = {glue:text}`r_max` over the
#   centre's is {glue:text}`ball_ratios`. The worst η found {glue:text}`ball_trend`
#   ({glue:text}`label_bounded_ball_depth`), the direction of the corollary, whose bound also weakens with
#   depth. {glue:text}`ball_share`: {glue:text}`ball_share_reading`. On the
#   normalised scale, at β = {glue:text}`ball_deepest` the worst minimum cosine found goes from
#   {glue:text}`ball_cos_centre:.3f` at the centre to {glue:text}`ball_cos_rmax:.3f` at r = {glue:text}`r_max`,
#   while the worst η goes from {glue:text}`ball_eta_centre:.3g` to {glue:text}`ball_eta_rmax:.3g`.

# ## How this differs from the paper
#
# - **A bound, tested as a direction.** The theorem gives a lower bound on a probability, with unknown
#   constants; a bound that weakens with depth does not force the probability itself to fall. We judge the
#   direction the paper draws from it (deeper: more confusion; larger d: less; width: no effect) on the
#   raw minimum inner product, the theorem's quantity, and show the violation probability at one stated η.
# - **Which bounded weights.** Assumption 1 admits many weight distributions; we draw two at its boundary
#   (norm exactly 1), {glue:text}`families_depth_short`. Smaller norms shrink gradients faster with depth.
# - **Network.** No biases, as in eq. 4, but a linear read-out (the paper applies σ to the output too).
# - **The ball.** Our search gives the worst case found, not the supremum over the ball.
