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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from gradconf.book import notebook_parameters
from gradconf.figures import RELATED_LOG_METRICS, RELATED_METRICS, correlation_figure, related_metrics_figure
from gradconf.report import glue_figure, glue_text, record_verdicts, setup
from gradconf.studies import metric_correlations, mlp_studies, probe_gradient_norm, scale_description
from gradconf.variance import (antipodal_gradients, bounds_hold, random_stationary_gradients, simplex_gradients,
                               stationary_check)
from gradconf.verdicts import contrast_interval, judge_tolerance

P = notebook_parameters("related_metrics", preset, depths=depths, widths=widths, seeds=seeds, lrs=lrs, epochs=epochs,
                        n_train=n_train)
setup()
depth, width = mlp_studies(preset, **P)
glue_text("preset", preset)
glue_text("scale", scale_description(depth))
glue_text("scale_width", scale_description(width))
# the depth-4, width-256 model is in both sweeps: a run they share counts once (at `book` the width sweep
# trains longer, so there the two sweeps' runs of that model are distinct runs)
runs = pd.concat([depth.chosen, width.chosen], ignore_index=True).drop_duplicates("key")
probe_ns = sorted(runs["probe_n"].astype(int).unique())
n_probe = probe_ns[0]
glue_text("fixed_width", ", ".join(map(str, sorted(depth.chosen["model.width"].unique()))))
glue_text("fixed_depth", ", ".join(map(str, sorted(width.chosen["model.depth"].unique()))))
glue_text("probe_size", " or ".join(f"{n:,}" for n in probe_ns))
glue_text("n_seeds", str(runs["seed"].nunique()))

# the panels, and what a probe drawn from the training set gives at an exact minimiser of the training loss
metrics_shown = [m for m in RELATED_METRICS if not m.startswith("final_t")]
fig = related_metrics_figure({"depth": depth, "width": width})
references = {"probe_gradient_diversity": 1.0, "probe_m_coherence": 1.0, "probe_noise_scale": n_probe - 1}
for row in range(2):
    for metric, level in references.items():
        fig.axes[row * len(metrics_shown) + metrics_shown.index(metric)].axhline(level, color="0.5", ls="--", lw=1)
glue_figure("fig_related", fig)

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(f"{pd.concat([depth.chosen, width.chosen]).key.nunique()} distinct runs at their selected LR")

# %% [markdown]
# ```{glue:figure} fig_related
# :name: fig-related
#
# Related metrics at the end of training against depth (top, width {glue:text}`fixed_width`) and width
# (bottom, depth {glue:text}`fixed_depth`), ReLU MLPs with He initialisation on MNIST (the runs of
# {doc}`mlp_sweeps`), preset {glue:text}`preset`. Depth sweep: {glue:text}`scale`. Width sweep:
# {glue:text}`scale_width`. All but the first column come from the exact per-example Gram of a probe of
# {glue:text}`probe_size` training images drawn at random. Lines: mean over {glue:text}`n_seeds` seeds;
# bands: ± std over seeds, clipped to [−1, 1] for cosines and stiffness and, for the positive metrics (η,
# diversity, m-coherence, B_simple), at the smallest seed's value, so that their log axes are kept.
# Dashed: gradient diversity 1, m-coherence 1 and B_simple = n − 1, the values a probe of n examples drawn
# from the training set is expected to show at an exact minimiser of the training loss (see below). The
# paper shows only the minimum minibatch cosine for its MLPs (App. A); the grids, epochs, LR selection and
# the probe are ours.
# ```
#
# **Do they tell the same story?** For each metric and sweep, the least-squares slope per doubling of depth or
# width through the per-model means (on the log of the positive metrics), with a 95 % Welch interval over
# seeds: a metric "rises" or "falls" when the interval excludes 0. These {glue:text}`n_intervals` intervals
# describe the figure; they are not corrected for their number and no verdict rests on them.
# {glue:text}`story_answer`
#
# - **Depth** (width {glue:text}`fixed_width`): {glue:text}`story_depth`
# - **Width** (depth {glue:text}`fixed_depth`): {glue:text}`story_width`

# %% tags=["hide-input"]
# +1: a higher value means less confusion (more aligned gradients); −1: more confusion
ORIENTATION = {"final_cos_min": 1, "probe_cos_min": 1, "probe_eta": -1, "probe_cos_mean": 1,
               "probe_sign_stiffness": 1, "probe_gradient_diversity": -1, "probe_m_coherence": 1,
               "probe_noise_scale": -1}


def directions(study) -> dict[str, tuple[str, int]]:
    """Per metric: 'rises' / 'falls' / 'no clear direction' along the study's axis, and +1 / −1 / 0 for towards
    less / more confusion (0: no clear direction)."""
    out = {}
    for metric in metrics_shown:
        values = study.chosen[metric].astype(float)
        groups = [(x, np.log(v) if metric in RELATED_LOG_METRICS else v)
                  for x, v in values.groupby(study.chosen[study.axis])]
        try:
            ci = contrast_interval(groups)
        except ValueError:  # fewer than two finite runs at some value: no interval
            out[metric] = ("no interval", 0)
            continue
        sign = 1 if ci.lo > 0 else -1 if ci.hi < 0 else 0
        out[metric] = ({1: "rises", -1: "falls", 0: "no clear direction"}[sign], sign * ORIENTATION[metric])
    return out


def metric_name(metric: str) -> str:
    return "the paper's min minibatch cosine" if metric == "final_cos_min" else RELATED_METRICS[metric]


def story(found: dict[str, tuple[str, int]]) -> str:
    def names(side: int) -> str:
        picked = [metric_name(m) + (f" ({verb})" if side else "") for m, (verb, s) in found.items()
                  if s == side and verb != "no interval"]
        return ", ".join(picked) or "none"
    missing = [metric_name(m) for m, (verb, _) in found.items() if verb == "no interval"]
    return (f"towards less confusion: {names(1)}; towards more confusion: {names(-1)}; no clear direction: "
            f"{names(0)}" + (f"; no interval (fewer than two finite runs at some value): {', '.join(missing)}"
                              if missing else "") + ".")


found = {"depth": directions(depth), "width": directions(width)}
glue_text("n_intervals", str(sum(verb != "no interval" for f in found.values() for verb, _ in f.values())))
glue_text("story_depth", story(found["depth"]))
glue_text("story_width", story(found["width"]))
sides = {sweep: {s for verb, s in f.values() if verb != "no interval"} for sweep, f in found.items()}
opposed = [sweep for sweep, s in sides.items() if {1, -1} <= s]
if not all(sides.values()):
    answer = "This preset has too few runs per model to say: some sweep has no interval at all."
elif all(len(s) == 1 for s in sides.values()):
    answer = "Yes: within each sweep every metric points the same way."
elif opposed:
    answer = (f"No. Along {' and '.join(opposed)} some metrics point towards less confusion and others towards "
              "more, and in each sweep some show no clear direction.")
else:
    answer = ("Only in part: no two metrics point opposite ways in either sweep, but they differ in which trends "
              "they detect, some moving clearly where others show no clear direction.")
one_number = ("probe_gradient_diversity", "probe_m_coherence", "probe_noise_scale")
moving = [f"{metric_name(m)} along {sweep}" for sweep, f in found.items() for m in one_number if f[m][1] != 0]
unknown = any(f[m][0] == "no interval" for f in found.values() for m in one_number)
glue_text("story_answer", answer + (" Gradient diversity, m-coherence and B_simple, one number with three names "
                                    "(below), show no clear direction in either sweep."
                                    if not moving and not unknown else ""))

to_acc_cols = list(RELATED_METRICS)
correlations = metric_correlations(runs, to_acc_cols)
glue_figure("fig_correlations", correlation_figure(correlations))
to_acc = correlations["final_test_acc"].drop("final_test_acc")
strongest = to_acc.abs().idxmax()
glue_text("strongest", f"{RELATED_METRICS[strongest]} (Spearman ρ = {to_acc[strongest]:+.2f})")
glue_text("mincos_acc", f"{to_acc['final_cos_min']:+.2f}")
glue_text("probe_acc", f"{to_acc['probe_cos_min']:+.2f}")
glue_text("n_runs", str(len(runs)))
glue_text("n_metrics", str(len(to_acc)))
glue_text("div_coh", f"{correlations.loc['probe_gradient_diversity', 'probe_m_coherence']:+.2f}")
glue_text("div_bs", f"{correlations.loc['probe_gradient_diversity', 'probe_noise_scale']:+.2f}")
# B_simple = nΔ − 1 for a probe of n examples with gradient diversity Δ (an identity; rounding of the stored values)
identity_gap = float((runs["probe_noise_scale"] - (runs["probe_n"] * runs["probe_gradient_diversity"] - 1)).abs().max())
glue_text("identity_gap", f"{identity_gap:.2g}")
glue_text("same_probe", f"every run has the same probe size, n = {n_probe:,}, so B_simple is an increasing "
          "function of diversity and ranks the runs identically" if len(probe_ns) == 1 else
          f"the runs have probes of {', '.join(map(str, probe_ns))} examples, so B_simple ranks them differently "
          "from diversity across probe sizes")


def span(values: pd.Series, digits: int = 2) -> str:
    return f"{values.min():.{digits}f} to {values.max():.{digits}f}"


glue_text("range_div", span(runs["probe_gradient_diversity"]))
glue_text("range_coh", span(runs["probe_m_coherence"]))
glue_text("range_bs", span(runs["probe_noise_scale"] / (runs["probe_n"] - 1)))
ratios = [runs["probe_gradient_diversity"], runs["probe_m_coherence"], runs["probe_noise_scale"] / (runs["probe_n"] - 1)]
glue_text("near_one", "all within a factor of 2 of 1, which is what a probe drawn from the training set gives at an "
          "exact minimiser of the training loss (see the last section), so on the probe that number says little "
          "about the network" if all(r.between(0.5, 2).all() for r in ratios) else
          "not all within a factor of 2 of 1, the value a probe drawn from the training set gives at an exact "
          "minimiser of the training loss (see the last section)")
by_model = runs.groupby(["model_name", "train.epochs"])["probe_m_coherence"]
seed_sd = by_model.std().median()
glue_text("seed_spread", f"The seeds of one model (each with its own probe) differ by a median std of {seed_sd:.2f} in "
          f"m-coherence, and the {by_model.ngroups} models' means, from {span(by_model.mean())}, by a std of "
          f"{by_model.mean().std():.2f}." if np.isfinite(seed_sd) else
          f"Each model has one seed here, so the spread between seeds is not measured; the {by_model.ngroups} models "
          f"range from {span(by_model.mean())} in m-coherence.")
glue_text("runs_note", f"the {len(runs)} runs are {by_model.ngroups} models with several seeds each, so they are not "
          "independent, and" if len(runs) > by_model.ngroups else
          f"the {len(runs)} runs are {len(runs)} models, one seed each, and")
glue_text("noise_reading",
          "With no clear direction along either sweep, those three panels show mostly the spread of a "
          f"{n_probe:,}-image probe around the value a minimiser gives, not a property of depth or width, and so "
          "do their correlations in the heatmap." if not moving and not unknown else
          "Too few runs per model back an interval here to tell that spread from a trend." if not moving else
          f"Yet {', '.join(moving)} moves clearly, so there the panels show more than the probe's spread.")
glue_text("dataset_arch", f"MNIST, ReLU MLPs of the depth sweep (width {', '.join(map(str, sorted(depth.chosen['model.width'].unique())))}) "
          f"and the width sweep (depth {', '.join(map(str, sorted(width.chosen['model.depth'].unique())))})")

# %% [markdown]
# ```{glue:figure} fig_correlations
# :name: fig-correlations
#
# Spearman rank correlations between the metrics across the {glue:text}`n_runs` runs of both sweeps
# ({glue:text}`dataset_arch`; each model at its selected learning rate, every seed, the model both sweeps
# share counted once per training length; {glue:text}`n_seeds` seeds per model). Preset {glue:text}`preset`.
# Each cell is one Spearman ρ over those runs, without an interval: the seeds of one model and the models
# of one sweep are not independent, so the map is descriptive. The paper computes none of these
# correlations.
# ```
#
# **Reading.** Gradient diversity Δ, m-coherence and the noise scale are one number with three names: over one
# sample m-coherence is 1/Δ (rank correlation {glue:text}`div_coh`), and for a probe of n examples
# B_simple = nΔ − 1 (largest deviation in the stored values {glue:text}`identity_gap`, from rounding);
# {glue:text}`same_probe` (rank correlation {glue:text}`div_bs`). Across the {glue:text}`n_runs` runs, Δ is
# {glue:text}`range_div`, m-coherence {glue:text}`range_coh` and B_simple/(n − 1) {glue:text}`range_bs`:
# {glue:text}`near_one`. {glue:text}`seed_spread` {glue:text}`noise_reading` Across these runs the metric that ranks most
# closely with test accuracy is {glue:text}`strongest`. The paper's minimum minibatch cosine has
# ρ = {glue:text}`mincos_acc` with test accuracy, and the minimum per-example cosine ρ =
# {glue:text}`probe_acc`. These are rank correlations across models that differ in width, depth and
# learning rate, so they describe this sweep and say nothing causal. They are not tests either:
# {glue:text}`runs_note` the strongest of {glue:text}`n_metrics` metrics was picked after the fact, so its ρ
# is optimistic; no interval is given and no verdict rests on them. The paper does not test a link
# to generalisation, and neither do we.

# %% [markdown]
# ## Gradient size against confusion (checklist item 5)
#
# The paper contrasts confusion with the usual assumption of bounded gradients (or bounded variance): small
# gradients at a minimiser imply small confusion there, but not the reverse. At a stationary point the
# per-example gradients sum to zero, and with G² = max‖g_i‖², σ² = (1/n)Σ‖g_i‖² and η = −min⟨g_i, g_j⟩,
# short arguments (in `gradconf.variance`) give **η ≤ G² ≤ (n − 1)η** and **σ²/(n − 1) ≤ η ≤ nσ²/2**.
#
# - **The largest gradient G².** Small gradients force small confusion (η ≤ G²), while small confusion
#   allows gradients n − 1 times larger, and the **regular simplex**, the gradients of
#   f_i(w) = ½‖w − a_i‖² at w* = 0 for simplex vertices a_i, attains G² = (n − 1)η. Here the paper's
#   remark holds as the asymmetry it states.
# - **The variance σ².** Both directions lose a factor of order n: the simplex also attains σ² = (n − 1)η
#   (small confusion, variance n − 1 times larger), and an antipodal pair attains η = nσ²/2 (small variance,
#   confusion n/2 times larger). Small variance does not force small confusion any more than the reverse,
#   so in the variance form, which the paper names beside the bounded-gradient one, its asymmetry does not
#   hold. This is a disagreement with the paper's wording, not with a result it proves.
#
# The check below is a sanity check of these proved inequalities, not a test of the paper: all four on
# random stationary gradient sets (scales spread over two decades), and both extremes built exactly.

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
# tr Σ = (1/n)Σ‖g_i‖² − ‖ḡ‖² at the end of training. The bounds above need the n gradients to sum to zero,
# and on the probe they never do, however well the run has fitted. Write G_pop for the mean gradient over the
# whole training set and Σ_pop for the covariance of its per-example gradients. For a probe of n examples
# drawn at random from a much larger training set, n‖ḡ‖² ≈ n‖G_pop‖² + tr Σ_pop and
# mean‖g_i‖² ≈ ‖G_pop‖² + tr Σ_pop, so the ratio
# ‖Σg_i‖²/Σ‖g_i‖² = n‖ḡ‖²/mean‖g_i‖² (the term the zero-sum argument drops, and the probe's m-coherence)
# is about 1 + n‖G_pop‖²/tr Σ_pop. It is about 1 at an exact minimiser of the training loss, not 0: the probe
# is never near its own stationary point, and a ratio near 1 cannot show how far a run is from stationary on
# the training set.

# %% tags=["hide-input"]
final = runs.assign(
    variance=runs["probe_mean_sq_norm"] - probe_gradient_norm(runs) ** 2,
    # ‖Σ g_i‖² = n²‖ḡ‖² against Σ‖g_i‖² = n · mean ‖g_i‖²: the term the zero-sum argument drops
    stationarity=runs["probe_n"] * probe_gradient_norm(runs) ** 2 / runs["probe_mean_sq_norm"],
    sweep=np.where(runs["key"].isin(depth.chosen["key"]), "depth", "width"))
fig, ax = plt.subplots(figsize=(5.5, 4.2))
sns.scatterplot(data=final, x="variance", y="probe_eta", hue="sweep", style="sweep", ax=ax)
grid = np.geomspace(final["variance"].min(), final["variance"].max(), 20)
ax.plot(grid, grid / (n_probe - 1), color="0.4", ls="--", lw=1, label="η = σ²/(n − 1) (simplex)")
ax.set(xscale="log", yscale="log", xlabel="tr Σ of the probe gradients", ylabel="raw η on the probe")
ax.legend(fontsize=8, frameon=False)
fig.tight_layout()
glue_figure("fig_variance_eta", fig)
rho = final[["variance", "probe_eta"]].rank().corr().iloc[0, 1]
glue_text("variance_rho", f"{rho:+.2f}")
glue_text("probe_setup", f"the {n_probe:,}-image probe (drawn from the training set) at the end of training, "
          f"every run of the MNIST ReLU MLP sweeps (depth sweep at width "
          f"{', '.join(map(str, sorted(depth.chosen['model.width'].unique())))}, width sweep at depth "
          f"{', '.join(map(str, sorted(width.chosen['model.depth'].unique())))}; "
          f"{final['seed'].nunique()} seeds each, one point per run)")
glue_text("stationarity", span(final["stationarity"]))
glue_text("eta_over_var", f"{(final['probe_eta'] / final['variance']).min():.2g} to "
                          f"{(final['probe_eta'] / final['variance']).max():.2g}")
glue_text("stationarity_reading",
          "every run lies within a factor of 2 of the value of about 1 that an exact minimiser of the training "
          "loss gives" if final["stationarity"].between(0.5, 2).all() else
          "some runs lie more than a factor of 2 from the value of about 1 that an exact minimiser of the training "
          "loss gives, so there n‖G_pop‖² is not small against tr Σ_pop")

# %% [markdown]
# ```{glue:figure} fig_variance_eta
# :name: fig-variance-eta
#
# Raw confusion η against the total gradient variance on {glue:text}`probe_setup`, each model at its
# selected LR, preset {glue:text}`preset` (the runs of {doc}`mlp_sweeps`). Dashed: η = σ²/(n − 1) for the probe's n, the least confusion
# that n gradients summing to zero can have with that variance; the probe's gradients do not sum to zero, so
# it is a reference, not a bound. The paper has no such figure.
# ```
#
# Across these runs the Spearman rank correlation of η and tr Σ is {glue:text}`variance_rho`, and η is
# {glue:text}`eta_over_var` times the variance, against the zero-sum floor of 1/(n − 1) times. The ratio
# n‖ḡ‖²/mean‖g_i‖² is {glue:text}`stationarity` across the runs: {glue:text}`stationarity_reading`.
