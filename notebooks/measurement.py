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
# # How we measure
#
# The paper measures confusion on **minibatch** gradients. At the end of every epoch it samples 100
# pairs of size-128 minibatches, computes the two gradients of each pair, and reports the minimum
# and a KDE of the 100 cosines. The theory is about **per-sample** gradients. This chapter compares
# the two views on one model, explains how they are related, and gives what each costs in gradconf.
#
# - **Minibatch protocol** (`gradconf.measure.minibatch_cosines`): each pair is two disjoint batches
#   drawn without replacement, pairs are independent, and each gradient is one ordinary backward pass.
#   BatchNorm models must state whether the measurement uses batch or running statistics.
# - **Exact per-sample Gram** (`gradconf.gram.gradient_gram`): all $\langle g_i, g_j\rangle$ for $n$
#   examples. The `ghost` method never forms a per-example gradient. For a linear layer with bias, whose
#   input for example $i$ is $a_i$ and whose backpropagated output gradient is $\delta_i$, the layer's share
#   of $\langle g_i,g_j\rangle$ is $(a_i^\top a_j + 1)(\delta_i^\top\delta_j)$ (without a bias, the $+1$
#   drops); summing over layers gives the Gram. Convolutions use a grouped-convolution backward. `vmap` and
#   `loop` form every per-example gradient.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
d = None
n_train = None
width = None
depth = None
lr = None
probe = None
n_pairs = None
epochs = None
batch_sizes = None
timing_repeats = None
pool_sizes = None
pool_repeats = None

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from gradconf.book import notebook_parameters
from gradconf.data import ArrayDataset
from gradconf.figures import log_axis
from gradconf.gram import gradient_gram
from gradconf.init import InitConfig
from gradconf.measure import (confusion_summary, cosine_summary, minibatch_gradient_pairs, pool_gradient_pairs,
                              predicted_minibatch_cosine)
from gradconf.models import MLPConfig, build_model, count_parameters
from gradconf.report import glue_figure, glue_number, glue_text, record_verdicts, setup
from gradconf.synthetic import sphere_teacher
from gradconf.timing import fastest_seconds, forward_backward
from gradconf.train import MeasureConfig, TrainConfig, train
from gradconf.verdicts import (CONTRADICTED, INCONCLUSIVE, NOT_TESTED, REPRODUCED, Interval, Verdict, claim,
                               claim_center_margin, describe_test, mean_interval, regime_rule_text, settings, welch_interval)

P = notebook_parameters("measurement", preset, d=d, n_train=n_train, width=width, depth=depth, lr=lr, probe=probe,
                        n_pairs=n_pairs, epochs=epochs, batch_sizes=batch_sizes, timing_repeats=timing_repeats,
                        pool_sizes=pool_sizes, pool_repeats=pool_repeats)
setup()
glue_text("preset", preset)
P

# %% [markdown]
# **The model.** A ReLU MLP (He initialisation, 2-way softmax, cross-entropy) on points uniform on the
# unit sphere, labelled by the sign of a tanh teacher. It is small enough that the exact Gram of the
# whole training set is cheap. We look at it twice: at initialisation, and after training with plain
# SGD (batch 128, the paper's step-decay schedule compressed to the epochs given).

# %% tags=["hide-input"]
gen = torch.Generator().manual_seed(0)
raw = sphere_teacher(P["n_train"], P["d"], generator=gen, labels="sign")
data = ArrayDataset(raw.x, (raw.y > 0).long(), "sphere-teacher")
model = build_model(MLPConfig(input_dim=P["d"], width=P["width"], depth=P["depth"], output_dim=2),
                    InitConfig(scheme="he"), seed=0)
states = {}


def snapshot(state: str) -> dict:
    """The exact Gram's summary, the training loss and the minibatch cosines (every pair's) at each B."""
    model.eval()
    gram = gradient_gram(model, data.x, data.y, loss="cross_entropy", method="ghost")
    summary = confusion_summary(gram)
    # B_simple = tr Σ/‖G‖² and mean ‖g_i‖² = tr Σ + ‖G‖² give the full gradient and the spread
    summary["full_sq_norm"] = summary["mean_sq_norm"] / (1 + summary["noise_scale"])
    summary["trace_sigma"] = summary["mean_sq_norm"] - summary["full_sq_norm"]
    with torch.no_grad():
        summary["loss"] = float(torch.nn.functional.cross_entropy(model(data.x), data.y))
    rows, cosines = [], {}
    for b in P["batch_sizes"]:
        pairs = minibatch_gradient_pairs(model, data.x, data.y, P["n_pairs"], b,
                                         generator=torch.Generator().manual_seed(b), loss="cross_entropy")
        cosines[b] = pairs.cosines.numpy()
        cs = cosine_summary(pairs.cosines)
        rows.append({"state": state, "B": b, "mean_cos": cs["mean"], "min_cos": cs["min"], "std_cos": cs["std"],
                     "predicted": predicted_minibatch_cosine(summary["noise_scale"], b, population=len(data))})
    return {"summary": summary, "minibatch": pd.DataFrame(rows), "cosines": cosines}


states["initialisation"] = snapshot("initialisation")
outcome = train(model, data, None, TrainConfig(epochs=P["epochs"], batch_size=128, lr=P["lr"]),
                MeasureConfig(n_pairs=0, at_init=False), seed=0, progress=False)
states["trained"] = snapshot("trained")
minibatch = pd.concat([s["minibatch"] for s in states.values()], ignore_index=True)
init_s, trained_s = states["initialisation"]["summary"], states["trained"]["summary"]
glue_number("final_loss", trained_s["loss"])
glue_number("n_params", count_parameters(model))

fig, axes = plt.subplots(1, 2, sharey=True)
for ax, (state, sub) in zip(axes, minibatch.groupby("state", sort=False)):
    ax.errorbar(sub.B, sub.mean_cos, yerr=sub.std_cos, marker="o", capsize=2, label="measured mean ± std over pairs")
    ax.plot(sub.B, sub.min_cos, marker="v", ls=":", label=f"measured min of {P['n_pairs']}")
    ax.plot(sub.B, sub.predicted, color="black", ls="--", label="predicted from the exact Gram")
    ax.axhline(0, color="grey", lw=1)
    ax.set(xscale="log", xlabel="minibatch size B", title=state)
axes[0].set_ylabel("cosine of two minibatch gradients")
axes[0].legend(fontsize=7)
fig.tight_layout()
glue_figure("fig_batch", fig)

# %% [markdown]
# ## Minibatch cosines are set by the noise scale
#
# Write $G = \frac1n\sum_i g_i$ for the full-batch gradient of the $n$ training examples and
# $\Sigma = \frac1n\sum_i (g_i - G)(g_i - G)^\top$ for the covariance of the per-sample gradients, divided by
# $n$ (the population covariance of the training set, not the sample estimate divided by $n - 1$). With that
# $\Sigma$, two disjoint batches of size $B$ drawn without replacement from the $n$ examples satisfy, exactly,
# $\mathbb E\langle g_a, g_b\rangle = \|G\|^2 - \operatorname{tr}\Sigma/(n-1)$ and
# $\mathbb E\|g_a\|^2 = \|G\|^2 + \operatorname{tr}\Sigma\,(n-B)/(B(n-1))$. Their ratio, the dashed line of
# the figure, is our prediction of the mean cosine; for $B \ll n$ it is about $1/(1 + B_\text{simple}/B)$,
# where $B_\text{simple} = \operatorname{tr}\Sigma/\|G\|^2$ is the gradient noise scale of McCandlish et al.
# (2018). Both $\|G\|^2$ and $\operatorname{tr}\Sigma$ are read off the exact per-sample Gram. A ratio of
# expectations predicts the mean cosine only: the minimum, which the paper reports, is a tail of the
# distribution of the cosines and is not predicted.
#
# ```{glue:figure} fig_batch
# :name: fig-batch
#
# Cosine of two disjoint minibatch gradients against B: {glue:text}`pairs` pairs per B, one model (ReLU MLP
# {glue:text}`arch`, {glue:text}`n_params` parameters) on {glue:text}`n_examples` sphere-teacher points,
# at initialisation and after {glue:text}`epochs_count` epochs of SGD (training loss
# {glue:text}`final_loss:.3f` on the whole training set). Dots and error bars: the mean cosine ± the std of
# the {glue:text}`pairs` cosines over the pairs at that B (the spread of single pairs, not the error of
# the mean); triangles: their minimum, the paper's statistic. The dashed line is the prediction from the
# exact Gram, not a fit. Preset {glue:text}`preset`, one model, one seed (0): this page compares measurements on
# one model, and makes no claim that needs a spread over seeds. The paper measures 100 pairs of size 128
# at the end of every epoch on CIFAR-10 and MNIST networks; the sphere-teacher MLP and the sweep over B are
# ours.
# ```

# %% tags=["hide-input"]
# the test's numbers, from claims.yaml: predictions below THRESHOLD are left out, and the ratio of the
# measured mean cosine to the prediction must lie within CENTER ± MARGIN
CENTER, MARGIN = claim_center_margin("minibatch_noise_scale")
THRESHOLD = float(claim("minibatch_noise_scale")["threshold"])
alpha = float(settings()["alpha"])
judged = minibatch[minibatch.predicted >= THRESHOLD]
left_out = minibatch[minibatch.predicted < THRESHOLD]
ratios = {}
for state, b, predicted in zip(judged.state, judged.B, judged.predicted):
    ci = mean_interval(states[state]["cosines"][b], level=1 - 2 * alpha)  # t interval over the pairs
    ratios[(state, b)] = Interval(ci.estimate / predicted, ci.se / predicted, ci.df, ci.level)
strict = 1 - 2 * alpha / max(1, len(ratios))  # Bonferroni split over the judged (state, B)
inside = {k: CENTER - MARGIN < r.lo and r.hi < CENTER + MARGIN for k, r in ratios.items()}
outside = {k: r.at(strict).lo > CENTER + MARGIN or r.at(strict).hi < CENTER - MARGIN for k, r in ratios.items()}


def b_list(frame: pd.DataFrame) -> str:
    """The B's of ``frame`` per state, one list when both states have the same."""
    per_state = {state: ", ".join(map(str, sub.B)) for state, sub in frame.groupby("state", sort=False)}
    if len(set(per_state.values())) == 1 and len(per_state) == len(states):
        return f"B = {next(iter(per_state.values()))} in both states"
    return "; ".join(f"B = {bs} ({state})" for state, bs in per_state.items()) or "none"


ratio_text = "; ".join(f"{state} B = {b}: {r.estimate:.2f} [{r.lo:.2f}, {r.hi:.2f}]"
                       for (state, b), r in ratios.items())
pair_se = float((minibatch.std_cos / np.sqrt(P["n_pairs"] - 1)).median())
if not ratios:
    label, reason = NOT_TESTED, f"no (state, B) has a predicted cosine ≥ {THRESHOLD:g}"
    evidence = (f"every predicted cosine is below {THRESHOLD:g} ({b_list(left_out)}), too close to 0 to be told "
                f"apart from it with {P['n_pairs']} pairs.")
else:
    label = (REPRODUCED if all(inside.values()) else CONTRADICTED if any(outside.values()) else INCONCLUSIVE)
    reason = ""
    evidence = (f"ratio of the mean cosine over {P['n_pairs']} pairs to the prediction, with its 95 % t interval "
                f"over the pairs: {ratio_text}. Left out by the {THRESHOLD:g} rule (predicted cosine below "
                f"{THRESHOLD:g}): {b_list(left_out)}. One model, one seed.")
noise_verdict = Verdict(claim("minibatch_noise_scale")["claim"], label, evidence,
                        describe_test("minibatch_noise_scale"), reason)
record_verdicts("measurement", {"minibatch_noise_scale": noise_verdict},
                f"one MLP at initialisation and after {P['epochs']} epochs of SGD")
glue_text("judged_bs", b_list(judged))
glue_text("left_out_bs", b_list(left_out))
glue_text("ratio_text", ratio_text or "none")
glue_number("threshold", THRESHOLD)
glue_number("margin", MARGIN)
glue_number("pair_se", pair_se)
glue_text("ratio_reading",
          "no (state, B) is left to judge" if not ratios else
          f"every 95 % interval lies within {CENTER:g} ± {MARGIN:g}" if all(inside.values()) else
          ("the interval at " if sum(not ok for ok in inside.values()) == 1 else "the intervals at ")
          + ", ".join(f"{s} B = {b}" for (s, b), ok in inside.items() if not ok)
          + (" reaches" if sum(not ok for ok in inside.values()) == 1 else " reach") + f" outside {CENTER:g} ± {MARGIN:g}"
          + (", and at least one lies wholly outside it at the Bonferroni-split level" if any(outside.values())
             else ", though no interval lies wholly outside it"))

at_bmax = minibatch[minibatch.B == max(P["batch_sizes"])].set_index("state")
glue_number("bs_init", init_s["noise_scale"])
glue_number("bs_trained", trained_s["noise_scale"])
glue_text("bs_direction", "rose, so the predicted cosines fell" if trained_s["noise_scale"] > init_s["noise_scale"]
          else "fell: this training run grew ‖G‖² by a larger factor than tr Σ, so the predicted cosines rose")
glue_number("bmax", max(P["batch_sizes"]))
glue_number("min_bmax_init", at_bmax.loc["initialisation", "min_cos"])
glue_number("min_bmax_trained", at_bmax.loc["trained", "min_cos"])
glue_number("pairs", P["n_pairs"])
glue_number("mean_bmax_init", at_bmax.loc["initialisation", "mean_cos"])
glue_number("mean_bmax_trained", at_bmax.loc["trained", "mean_cos"])
glue_number("n_examples", len(data))
glue_number("epochs_count", P["epochs"])
glue_text("arch", f"{P['d']}-{P['width']}×{P['depth']}-2")
glue_text("final_fraction", f"{trained_s['loss'] / np.log(2):.0%}")
# the trained-regime rule of the verdicts (claims.yaml): loss ≤ fraction × min(initial loss, ln 2)
reference = min(init_s["loss"], np.log(2))
reached = trained_s["loss"] <= settings()["trained_loss_fraction"] * reference
glue_text("regime_reading",
          f"a model in the trained regime that the book's verdicts ask for ({regime_rule_text()})" if reached else
          f"a model part of the way to fitting its data, short of the trained regime that the book's verdicts ask "
          f"for ({regime_rule_text()})")


def moved(before: float, after: float, digits: int = 3) -> str:
    """'rose from a to b' or 'fell from a to b'."""
    verb = "rose" if after > before else "fell" if after < before else "stayed at"
    return f"{verb} from {before:.{digits}f} to {after:.{digits}f}" if verb != "stayed at" else f"stayed at {after:.{digits}f}"


fit_better = trained_s["loss"] < init_s["loss"]
smaller_g = trained_s["full_sq_norm"] < init_s["full_sq_norm"]
glue_text("fit_vs_g",
          f"In this run the training loss {moved(init_s['loss'], trained_s['loss'])} while ‖G‖² "
          f"{moved(init_s['full_sq_norm'], trained_s['full_sq_norm'])} and tr Σ "
          f"{moved(init_s['trace_sigma'], trained_s['trace_sigma'], 1)}"
          + (": the better fit came with a larger full gradient, not a smaller one." if fit_better and not smaller_g
             else ": here the better fit did come with a smaller full gradient." if fit_better and smaller_g
             else "."))

# %% [markdown]
# Where the prediction is at least {glue:text}`threshold` ({glue:text}`judged_bs`), the ratio of the
# measured mean cosine to it, with its 95 % t interval over the {glue:text}`pairs` pairs, is
# {glue:text}`ratio_text`: {glue:text}`ratio_reading` (verdict: {glue:text}`label_minibatch_noise_scale`). Smaller predictions ({glue:text}`left_out_bs`) are
# left out of the test: with {glue:text}`pairs` pairs the standard error of a mean cosine is about
# {glue:text}`pair_se:.3f` (median over B and states), so a predicted cosine below {glue:text}`threshold`
# cannot be told from 0, and a ratio to it would be noise.
#
# The noise scale is {glue:text}`bs_init:.1f` at initialisation and {glue:text}`bs_trained:.1f`
# after training. Because $B_\text{simple} = \operatorname{tr}\Sigma/\|G\|^2$, anything that shrinks
# the full gradient relative to the per-sample spread raises it and pushes minibatch cosines towards 0 at
# every B. In this run it {glue:text}`bs_direction`. At B = {glue:text}`bmax` the minimum of the
# {glue:text}`pairs` cosines moves from {glue:text}`min_bmax_init:.3f` to {glue:text}`min_bmax_trained:.3f`,
# and the mean from {glue:text}`mean_bmax_init:.3f` to {glue:text}`mean_bmax_trained:.3f`. "Trained" here
# means after {glue:text}`epochs_count` epochs, at training loss {glue:text}`final_loss:.3f`,
# {glue:text}`final_fraction` of ln 2 (the loss of uniform guessing on two classes): {glue:text}`regime_reading`.
#
# **What this means for reading the paper's figures.** A minibatch minimum cosine mixes two things:
# the per-sample geometry that the theory is about, and $\|G\|^2$ against the spread
# $\operatorname{tr}\Sigma$, which changes with training progress and with $B$. When two models are compared
# at the end of training, if one has the smaller $\|G\|$ at equal per-sample spread, then it has the larger
# $B_\text{simple}$ and so the lower minibatch cosines. Fitting better does not by itself mean a smaller
# $\|G\|$. {glue:text}`fit_vs_g` The per-sample view separates the two.
#
# ## Related metrics on the same Gram
#
# From one per-sample Gram we read the paper's confusion (raw η and minimum cosine) and several metrics
# from related work. Gradient diversity (Yin et al. 2018) is $\sum\|g_i\|^2/\|\sum g_i\|^2$. m-coherence
# (Chatterjee & Zielinski 2020) is its reciprocal. Stiffness (Fort et al. 2019) is the mean sign, or
# the mean cosine, of the off-diagonal pairs.

# %% tags=["hide-input"]
metric_names = {"eta": "confusion η (raw)", "cos_min": "min per-sample cosine", "cos_mean": "cosine stiffness",
                "sign_stiffness": "sign stiffness", "gradient_diversity": "gradient diversity",
                "m_coherence": "m-coherence", "noise_scale": "noise scale B_simple", "mean_sq_norm": "mean ‖g_i‖²",
                "full_sq_norm": "‖G‖² (full gradient)", "trace_sigma": "tr Σ", "loss": "training loss"}
metrics = pd.DataFrame({state: {label: s["summary"][k] for k, label in metric_names.items()}
                        for state, s in states.items()})
metrics.loc[f"min minibatch cosine (B={max(P['batch_sizes'])})"] = at_bmax.min_cos
metrics.round(4)

# %% [markdown]
# ## What each measurement costs
#
# Times are ratios to one plain batched forward+backward on the same examples, measured in this
# execution (fastest of {glue:text}`repeats` calls, since interference on a shared machine only adds time;
# absolute times depend on the machine, the ratios much less; vmap and the protocols: one call each).
# They are for this page's MLP only.

# %% tags=["hide-input"]
x, y = data.x[:P["probe"]], data.y[:P["probe"]]
base = fastest_seconds(lambda: forward_backward(model, x, y, "cross_entropy"), P["timing_repeats"])
costs = {
    f"exact Gram, ghost (n={P['probe']})": fastest_seconds(
        lambda: gradient_gram(model, x, y, loss="cross_entropy", method="ghost"), P["timing_repeats"]),
    f"exact Gram, vmap (n={P['probe']})": fastest_seconds(
        lambda: gradient_gram(model, x, y, loss="cross_entropy", method="vmap"), 1),
    f"minibatch protocol ({P['n_pairs']} pairs of {min(128, P['probe'] // 2)})": fastest_seconds(
        lambda: minibatch_gradient_pairs(model, x, y, P["n_pairs"], min(128, P["probe"] // 2),
                                         generator=torch.Generator().manual_seed(0)), 1, warmup=False),
}
cost_table = pd.DataFrame({"× forward+backward": {k: v / base for k, v in costs.items()}})
ghost_ratio = cost_table.iloc[0, 0]
vmap_over_ghost = cost_table.iloc[1, 0] / ghost_ratio
glue_number("ghost_ratio", ghost_ratio)
glue_text("vmap_vs_ghost", f"{vmap_over_ghost:.0f}× less than" if vmap_over_ghost >= 1 else
          f"{1 / vmap_over_ghost:.1f}× more than")
glue_number("repeats", P["timing_repeats"])
glue_number("n_probe", P["probe"])
cost_table.round(1)

# %% [markdown]
# The exact Gram of {glue:text}`n_probe` examples costs {glue:text}`ghost_ratio:.1f`× a forward+backward
# with `ghost`, {glue:text}`vmap_vs_ghost` forming per-example gradients with `vmap`. That
# is cheap enough for the book's experiments to report a per-sample view next to the paper's minibatch view.

# %% [markdown]
# ## A cheaper estimator: pairs read off one pool Gram
#
# Without BatchNorm in train mode, a minibatch-mean gradient is the mean of per-example ones, so the inner
# product of the gradients of two batches S and S′ of size B is the mean of a block of per-example inner
# products: ⟨ḡ_S, ḡ_S′⟩ = (1/B²) Σ_{i∈S, j∈S′} ⟨g_i, g_j⟩.
# One exact Gram of a random pool of examples then yields any number of pairs (`pool_gradient_pairs`;
# `measure.pool_size` in a run config). Each pair's cosine is exact (a test checks it against the direct
# computation to 1e-10 in float64), but every pair shares the pool, so a set of pairs is a different
# estimator. Below, at the trained model, the minimum, median and std of {glue:text}`pool_pairs` pairs of
# {glue:text}`pool_batch` from {glue:text}`pool_reps` independent pools of each size, beside
# {glue:text}`pool_reps` independent repeats of the direct protocol on all {glue:text}`pool_n` training
# examples.

# %% tags=["hide-input"]
pool_batch = min(128, min(P["pool_sizes"]) // 2)
rows = []
for rep in range(P["pool_repeats"]):
    direct = minibatch_gradient_pairs(model, data.x, data.y, P["n_pairs"], pool_batch,
                                      generator=torch.Generator().manual_seed(10_000 + rep)).cosines
    rows.append({"protocol": "direct", "pool": len(data), "rep": rep, **cosine_summary(direct)})
    for size in P["pool_sizes"]:
        pooled = pool_gradient_pairs(model, data.x, data.y, P["n_pairs"], pool_batch, size,
                                     generator=torch.Generator().manual_seed(20_000 + 97 * rep + size)).cosines
        rows.append({"protocol": "pool", "pool": size, "rep": rep, **cosine_summary(pooled)})
pool_frame = pd.DataFrame(rows)
fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
direct_rows = pool_frame[pool_frame["protocol"] == "direct"]
for a, stat in zip(ax, ("min", "median", "std")):
    sub = pool_frame[pool_frame["protocol"] == "pool"]
    sns.lineplot(data=sub, x="pool", y=stat, marker="o", errorbar="sd", color="k", ax=a, label="pool Gram")
    mean, sd = direct_rows[stat].mean(), direct_rows[stat].std()
    a.axhline(mean, color="tab:red", lw=1.5, label="direct protocol")
    a.axhspan(mean - sd, mean + sd, color="tab:red", alpha=0.15, lw=0)
    log_axis(a, P["pool_sizes"])  # a tick at each pool size, in plain numbers
    a.set(xlabel="pool size", ylabel="", title=f"{stat} of the cosines")
    a.legend(fontsize=7, frameon=False)
fig.tight_layout()
glue_figure("fig_pool", fig)
pool_stats = pool_frame.groupby(["protocol", "pool"])[["min", "median", "std"]].agg(["mean", "std"])
largest = max(P["pool_sizes"])
glue_number("pool_pairs", P["n_pairs"])
glue_number("pool_batch", pool_batch)
glue_number("pool_reps", P["pool_repeats"])
glue_number("pool_n", len(data))


def bias_text(size: int) -> str:
    """The pool's minimum minus the direct protocol's: Welch 95 % interval over the repeats."""
    pooled_min = pool_frame[(pool_frame["protocol"] == "pool") & (pool_frame["pool"] == size)]["min"]
    ci = welch_interval(pooled_min, direct_rows["min"])
    detectable = "" if ci.lo > 0 or ci.hi < 0 else ", no detectable bias"
    whole = " (the whole training set, so the same distribution as the direct protocol)" if size >= len(data) else ""
    return f"{ci.estimate:+.3f}, 95 % CI [{ci.lo:+.3f}, {ci.hi:+.3f}]{detectable}, at a pool of {size:,}{whole}"


glue_text("pool_bias", "; ".join(bias_text(size) for size in (min(P["pool_sizes"]), largest)))
glue_number("pool_median_spread", pool_stats.loc[("pool", min(P["pool_sizes"])), ("median", "std")]
            / direct_rows["median"].std())
glue_number("pool_smallest", min(P["pool_sizes"]))
glue_number("pool_largest", largest)
timing_gen = torch.Generator().manual_seed(0)
t_direct = fastest_seconds(lambda: minibatch_gradient_pairs(model, data.x, data.y, P["n_pairs"], pool_batch,
                                                           generator=timing_gen), 1, warmup=False)
t_pool = fastest_seconds(lambda: pool_gradient_pairs(model, data.x, data.y, P["n_pairs"], pool_batch, largest,
                                                    generator=timing_gen), 1, warmup=False)
glue_text("pool_speed", f"{t_direct / t_pool:.1f}× faster than" if t_direct >= t_pool else
          f"{t_pool / t_direct:.1f}× slower than")
pool_stats.round(3)

# %% [markdown]
# ```{glue:figure} fig_pool
# :name: fig-pool
#
# The pool estimator against the direct protocol at the trained model of this chapter (ReLU MLP
# {glue:text}`arch` on {glue:text}`n_examples` sphere-teacher points, one model, one seed (0), preset
# {glue:text}`preset`): minimum, median and std of {glue:text}`pool_pairs` cosines of
# size-{glue:text}`pool_batch` minibatch pairs, mean ± std over {glue:text}`pool_reps` repeats (black: a
# fresh pool of each size per repeat; red line and band: the direct protocol, whose pairs are drawn from the
# whole training set). The paper uses the direct protocol only (100 pairs of size 128).
# ```
#
# The pool's minimum minus the direct protocol's (mean over {glue:text}`pool_reps` repeats each, Welch
# interval): {glue:text}`pool_bias`. The median of a small pool varies
# {glue:text}`pool_median_spread:.1f` times as much as the direct protocol's from repeat to repeat. Here the
# pool of {glue:text}`pool_largest` is {glue:text}`pool_speed` the direct protocol
# (one timing). So it is a different estimator, not a free speed-up: no preset uses it. The `gpu` preset
# keeps the paper's direct protocol, because on a GPU its cost is a small fraction of an epoch
# (`benchmarks/bench_train.py` measures it) and the chapters compare with the paper's numbers.

# %% [markdown]
# ```{admonition} Verdict (computed above)
# :class: important
#
# - {glue:text}`verdict_minibatch_noise_scale`
#
# {glue:text}`verdict_rules`
# ```

# %% tags=["nbval-check-output", "hide-input"]
print(f"(state, B) judged: {len(ratios)}; every 95 % ratio interval within {CENTER:g} ± {MARGIN:g}:",
      bool(ratios) and all(inside.values()))
print(f"mean minibatch cosine at B = {max(P['batch_sizes'])}, initialisation → after training:",
      f"{at_bmax.loc['initialisation', 'mean_cos']:.2f} → {at_bmax.loc['trained', 'mean_cos']:.2f}")
