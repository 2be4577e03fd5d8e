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
from gradconf.report import glue_figure, glue_text, setup
from gradconf.studies import metric_correlations, mlp_studies, scale_description

P = notebook_parameters("related_metrics", preset, depths=depths, widths=widths, seeds=seeds, lrs=lrs, epochs=epochs,
                        n_train=n_train)
setup()
depth, width = mlp_studies(preset, **P)
glue_text("preset", preset)
glue_text("scale", scale_description(depth))
glue_figure("fig_related", related_metrics_figure({"depth": depth, "width": width}))

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(f"{pd.concat([depth.chosen, width.chosen]).key.nunique()} distinct runs at their selected LR")

# %% [markdown]
# ```{glue:figure} fig_related
# :name: fig-related
#
# Related metrics at the end of training against depth (top) and width (bottom), MNIST MLPs of
# {doc}`mlp_sweeps`, preset {glue:text}`preset`: {glue:text}`scale`. All but the first column come from
# the exact per-example Gram of the probe set. Mean ± std over seeds.
# ```

# %% tags=["hide-input"]
# the depth-4, width-256 model is in both sweeps: count each run once
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
# learning rate, so they describe this sweep and say nothing causal. The paper does not test a link
# to generalisation, and neither do we.
