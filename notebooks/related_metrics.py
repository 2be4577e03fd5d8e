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
# # Gradient confusion beside related metrics
#
# Several quantities built from the same per-example gradients compete with gradient confusion (our notes
# on the paper, §6): **gradient diversity** Σ‖g_i‖²/‖Σg_i‖² (Yin et al. 2018), **m-coherence**, which
# over a sample is 1/diversity (Chatterjee & Zielinski 2020), **stiffness** as the mean cosine or the mean
# sign of ⟨g_i, g_j⟩ (Fort et al. 2019), and the **gradient noise scale** B_simple = tr Σ/‖ḡ‖²
# (McCandlish et al. 2018). Here all of them are computed from one exact per-example Gram per run: the
# probe Gram of the MNIST MLPs in {doc}`mlp_sweeps`, on the same runs. Do they tell the same story about
# width and depth, and does any of them track test accuracy (checklist item 19, which the paper raises
# but does not test)?

# %% tags=["parameters", "hide-input"]
preset = "smoke"
depths = None
widths = None
seeds = None
lrs = None
epochs = None
n_train = None

# %% tags=["hide-input"]
import pandas as pd

from gradconf.book import notebook_parameters
from gradconf.figures import RELATED_METRICS, correlation_figure, related_metrics_figure
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from gradconf.report import glue_figure, glue_text, record_verdicts, setup
from gradconf.studies import metric_correlations, mlp_studies, probe_gradient_norm, scale_description
from gradconf.variance import (antipodal_gradients, bounds_hold, random_stationary_gradients, simplex_gradients,
                               stationary_check)
from gradconf.verdicts import judge_tolerance

P = notebook_parameters("related_metrics", preset, depths=depths, widths=widths, seeds=seeds, lrs=lrs, epochs=epochs,
                        n_train=n_train)
setup()
depth, width = mlp_studies(preset, **P)
glue_text("preset", preset)
glue_text("scale", scale_description(depth))
glue_text("scale_width", scale_description(width))
glue_figure("fig_related", related_metrics_figure({"depth": depth, "width": width}))

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(f"{pd.concat([depth.chosen, width.chosen]).key.nunique()} distinct runs at their selected LR")

# %% [markdown]
# ```{glue:figure} fig_related
# :name: fig-related
#
# Related metrics at the end of training against depth (top) and width (bottom), MNIST MLPs of
# {doc}`mlp_sweeps`, preset {glue:text}`preset`. Depth sweep: {glue:text}`scale`. Width sweep:
# {glue:text}`scale_width`. All but the first column come from
# the exact per-example Gram of the probe set. Mean ± std over seeds.
# ```

# %% tags=["hide-input"]
# the depth-4, width-256 model is in both sweeps: a run they share counts once (at `book` the width sweep
# trains longer, so there the two sweeps' runs of that model are distinct runs)
runs = pd.concat([depth.chosen, width.chosen], ignore_index=True).drop_duplicates("key")
metrics = list(RELATED_METRICS)
correlations = metric_correlations(runs, metrics)
glue_figure("fig_correlations", correlation_figure(correlations))
to_acc = correlations["final_test_acc"].drop("final_test_acc")
strongest = to_acc.abs().idxmax()
glue_text("strongest", f"{RELATED_METRICS[strongest]} (Spearman ρ = {to_acc[strongest]:+.2f})")
glue_text("mincos_acc", f"{to_acc['final_cos_min']:+.2f}")
glue_text("probe_acc", f"{to_acc['probe_cos_min']:+.2f}")
glue_text("n_runs", str(len(runs)))
glue_text("n_models", str(runs.groupby(["model_name", "train.epochs"]).ngroups))
glue_text("n_metrics", str(len(to_acc)))
glue_text("div_coh", f"{correlations.loc['probe_gradient_diversity', 'probe_m_coherence']:+.2f}")

# %% [markdown]
# ```{glue:figure} fig_correlations
# :name: fig-correlations
#
# Spearman rank correlations between the metrics across the {glue:text}`n_runs` runs of both sweeps
# (each at its selected learning rate, every seed). Preset {glue:text}`preset`.
# ```
#
# **Reading.** Gradient diversity and m-coherence are exact reciprocals over one sample, so their rank
# correlation is {glue:text}`div_coh`: one number, two names. Across these runs the metric that ranks
# most closely with test accuracy is {glue:text}`strongest`. The paper's minimum minibatch cosine has
# ρ = {glue:text}`mincos_acc` with test accuracy, and the minimum per-example cosine ρ =
# {glue:text}`probe_acc`. These are rank correlations across models that differ in width, depth and
# learning rate, so they describe this sweep and say nothing causal. They are not tests either: the
# {glue:text}`n_runs` runs are {glue:text}`n_models` models with several seeds each, so they are not
# independent, and the strongest of {glue:text}`n_metrics` metrics was picked after the fact, so its ρ
# is optimistic; no interval is given and no verdict rests on them. The paper does not test a link
# to generalisation, and neither do we.

# %% [markdown]
# ## Gradient size against confusion (checklist item 5)
#
# The paper contrasts confusion with the usual assumption of bounded gradients (or bounded variance): small
# gradients at a minimiser imply small confusion there, but not the reverse. At a stationary point the
# per-example gradients sum to zero, and with G² = max‖g_i‖², σ² = (1/n)Σ‖g_i‖² and η = −min⟨g_i, g_j⟩,
# short arguments (in `gradconf.variance`) give **η ≤ G² ≤ (n − 1)η** and σ²/(n − 1) ≤ η ≤ nσ²/2. Small
# gradients force small confusion (η ≤ G²); small confusion allows gradients n − 1 times larger. The
# **regular simplex**, the gradients of f_i(w) = ½‖w − a_i‖² at w* = 0 for simplex vertices a_i, attains
# G² = σ² = (n − 1)η, and an antipodal pair attains η = nσ²/2: with the mean σ² both directions lose a
# factor of order n, so the asymmetry is a statement about the largest gradient. We check all four
# inequalities on random stationary gradient sets (scales spread over two decades) and build both extremes.

# %% tags=["hide-input"]
gen = torch.Generator().manual_seed(0)
stationary = [stationary_check(random_stationary_gradients(n, dim, generator=gen, spread=2.0))
              for n in (2, 8, 64) for dim in (4, 256) for _ in range(25)]
random_ok = all(bounds_hold(row) for row in stationary)
simplex = pd.DataFrame([stationary_check(simplex_gradients(n)) for n in (2, 8, 64, 512)])
antipodal = pd.DataFrame([stationary_check(antipodal_gradients(n)) for n in (2, 8, 64, 512)])
simplex_ok = bool(np.allclose(simplex["max_sq"], (simplex["n"] - 1) * simplex["eta"], rtol=1e-9, atol=0))
antipodal_ok = bool(np.allclose(antipodal["eta"], antipodal["n"] * antipodal["variance"] / 2, rtol=1e-9, atol=0))
verdict = judge_tolerance(
    "variance_vs_confusion", random_ok and simplex_ok and antipodal_ok,
    f"η ≤ G² ≤ (n − 1)η and σ²/(n − 1) ≤ η ≤ nσ²/2 held in {sum(bounds_hold(r) for r in stationary)} of "
    f"{len(stationary)} random stationary sets; the unit simplex (G² = 1) has η = "
    f"{', '.join(f'{e:.4g}' for e in simplex['eta'])} at n = {', '.join(map(str, simplex['n']))}, i.e. "
    f"G² = (n − 1)η: {simplex_ok}; the antipodal pair has η = nσ²/2: {antipodal_ok}.")
record_verdicts("related_metrics", {"variance_vs_confusion": verdict},
                "identities on constructed gradients; the trained MNIST MLPs of mlp_sweeps are shown, not judged")
simplex.assign(ratio=simplex["max_sq"] / simplex["eta"])[["n", "max_sq", "variance", "eta", "ratio"]].round(6)

# %% tags=["nbval-check-output", "hide-input"]
print(f"bounds hold on every random stationary set: {random_ok}; the simplex attains G² = (n − 1)η: {simplex_ok}")

# %% [markdown]
# ```{admonition} Verdict (computed above)
# :class: important
#
# - {glue:text}`verdict_variance_vs_confusion`
#
# {glue:text}`verdict_rules`
# ```
#
# **On the trained MLPs.** The probe Gram of each run gives η and the total variance
# tr Σ = (1/n)Σ‖g_i‖² − ‖ḡ‖² at the end of training. The runs stop near, not at, a minimiser of the probe
# loss, so the bounds above are not guaranteed there. How far from stationary the probe is: the ratio
# ‖Σg_i‖²/Σ‖g_i‖² = n‖ḡ‖²/mean‖g_i‖², the term the zero-sum argument drops, is 0 at a stationary point and
# 1 when that term is as large as the gradients' total size (given below).

# %% tags=["hide-input"]
final = runs.assign(
    variance=runs["probe_mean_sq_norm"] - probe_gradient_norm(runs) ** 2,
    # ‖Σ g_i‖² = n²‖ḡ‖² against Σ‖g_i‖² = n · mean ‖g_i‖²: the term the zero-sum argument drops
    stationarity=runs["probe_n"] * probe_gradient_norm(runs) ** 2 / runs["probe_mean_sq_norm"],
    sweep=np.where(runs["key"].isin(depth.chosen["key"]), "depth", "width"))
fig, ax = plt.subplots(figsize=(5.5, 4.2))
sns.scatterplot(data=final, x="variance", y="probe_eta", hue="sweep", style="sweep", ax=ax)
span = np.geomspace(final["variance"].min(), final["variance"].max(), 20)
n_probe = int(final["probe_n"].iloc[0])
ax.plot(span, span / (n_probe - 1), color="0.4", ls="--", lw=1, label="η = σ²/(n − 1) (simplex)")
ax.set(xscale="log", yscale="log", xlabel="tr Σ of the probe gradients", ylabel="raw η on the probe")
ax.legend(fontsize=8, frameon=False)
fig.tight_layout()
glue_figure("fig_variance_eta", fig)
rho = final[["variance", "probe_eta"]].rank().corr().iloc[0, 1]
glue_text("variance_rho", f"{rho:+.2f}")
glue_text("probe_setup", f"the {n_probe:,}-image probe set at the end of training, every run of the MNIST MLP "
          f"sweeps ({final['seed'].nunique()} seeds each)")
glue_text("stationarity", f"{final['stationarity'].min():.2g} to {final['stationarity'].max():.2g}")
glue_text("eta_over_var", f"{(final['probe_eta'] / final['variance']).min():.2g} to "
                          f"{(final['probe_eta'] / final['variance']).max():.2g}")

# %% [markdown]
# ```{glue:figure} fig_variance_eta
# :name: fig-variance-eta
#
# Raw confusion η against the total gradient variance on {glue:text}`probe_setup`, at its selected LR,
# preset {glue:text}`preset` (the runs of {doc}`mlp_sweeps`).
# Dashed: η = σ²/(n − 1) for the probe's n, the least confusion a stationary point with that variance can
# have.
# ```
#
# Across these runs the Spearman rank correlation of η and tr Σ is {glue:text}`variance_rho`, and η is
# {glue:text}`eta_over_var` times the variance, against a stationary floor of 1/(n − 1) times. The ratio
# n‖ḡ‖²/mean‖g_i‖² is {glue:text}`stationarity` across the runs: where it is not small the probe is not near a
# stationary point, and the floor is a reference, not a bound.
