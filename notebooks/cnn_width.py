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
# # Width: CNN-16-ℓ (paper Fig. 3)
#
# The paper trains CNN-16-ℓ (a wide residual network of depth 16 without BatchNorm and skip connections)
# at width factors ℓ ∈ {2, 3, 4, 5, 6} on CIFAR-10. It reports that wider networks train faster, have a
# **higher (less negative) minimum cosine** between minibatch gradients at the end of training, and
# cosines that **concentrate around 0** ("SGD decouples across the training samples"). This is the
# experimental side of Theorem 4.1, whose confusion bound improves with width at Gaussian
# initialisation. The protocol is paper §7: plain SGD without momentum, LR ÷ 10 at 40 % and
# 80 % of training, initial LR tuned per model by lowest final training loss, He initialisation, and
# at the end of each epoch the cosines of minibatch-gradient pairs.

# %% tags=["parameters", "hide-input"]
preset = "smoke"
widths = None
seeds = None
lrs = None
epochs = None
n_train = None
matched_loss = None
plateau_loss = None
fixed_lr = None
scale_preset = None

# %% tags=["hide-input"]
import numpy as np
from IPython.display import Markdown, display

from gradconf.book import notebook_parameters
from gradconf.figures import fit_figure, matched_loss_figure, plateau_figure, sweep_figure
from gradconf.report import (glue_figure, glue_text, record_fixed_lr_comparison, record_lr_choice, record_verdicts,
                             setup)
from gradconf.verdicts import regime_description, study_verdicts
from gradconf.studies import (DATASET_NAMES, channel_description, compute_description, image_study,
                              model_table, protocol_text, scale_description, trained_alike_text)

P = notebook_parameters("cnn_width", preset, widths=widths, seeds=seeds, lrs=lrs, epochs=epochs, n_train=n_train,
                        matched_loss=matched_loss, plateau_loss=plateau_loss, fixed_lr=fixed_lr,
                        scale_preset=scale_preset)
setup()
study = image_study("cnn_width", preset, "model.width", values=P["widths"], seeds=P["seeds"], lrs=P["lrs"],
                    epochs=P["epochs"], n_train=P["n_train"])
dataset = study.config_value("dataset")
glue_text("preset", preset)
glue_text("dataset", DATASET_NAMES[dataset][0])
glue_text("scale", scale_description(study))
glue_text("channels", channel_description(study))
glue_text("compute", compute_description(study))
glue_text("protocol", protocol_text(study))
glue_text("seed_list", ", ".join(map(str, study.seeds)))
glue_text("scale_overlap", trained_alike_text(study, P["scale_preset"], "ℓ"))
narrow = min(study.values)
narrow_losses = study.chosen[study.chosen[study.axis] == narrow].sort_values("seed")["final_train_loss"]
wider_max = study.chosen[study.chosen[study.axis] > narrow]["final_train_loss"].max()
glue_text("loss_reading", f"At ℓ = {narrow} the judged seeds end at training losses "
          f"{', '.join(f'{v:.4f}' for v in narrow_losses)}; every seed of the wider networks ends at or below "
          f"{wider_max:.4f}." + (" The loss claim's wide interval comes mostly from the seeds of the narrowest "
                                 "width, not from the wider ones." if narrow_losses.max() > 3 * wider_max else ""))
probe = int(study.config_value("measure.probe_size") or 0)
glue_text("probe", f"the exact per-example Gram of a {probe:,}-image probe set at each measured epoch" if probe
          else "no probe Gram at this preset")
lr_pilot, selected_lrs = record_lr_choice(study, "width", "ℓ")

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(f"dataset: {DATASET_NAMES[dataset][0]}; widths {study.values}; seeds {study.seeds}")

# %% [markdown]
# **Data and scale (preset {glue:text}`preset`).** {glue:text}`scale`; {glue:text}`channels`;
# {glue:text}`probe`.
# Summed compute: {glue:text}`compute` (recorded wall time, runs sharing 2 CPU cores). Regime:
# {glue:text}`regime`. The schedule is the CPU scale chosen in {doc}`cnn_depth`, the cheapest one tried
# in which CNN-16-2 trains (that chapter shows the schedules on a second seed as a check).
# {glue:text}`scale_overlap` The paper's protocol is the `paper` preset, and the `gpu` preset runs it at
# 60 epochs on a GPU ({doc}`differences`).

# %% tags=["hide-input"]
fig = sweep_figure(study, "width ℓ", palette="magma")
glue_figure("fig_width", fig)
glue_figure("fig_width_fit", fit_figure(study, "width ℓ", palette="magma"))
glue_figure("fig_width_matched", matched_loss_figure({"width ℓ": study}, P["matched_loss"]))
glue_figure("fig_width_plateau", plateau_figure(study, "width ℓ", P["plateau_loss"]))
glue_text("matched_loss", f"{P['matched_loss']:g}")
glue_text("plateau_loss", f"{P['plateau_loss']:g}")

# %% [markdown]
# ```{glue:figure} fig_width
# :name: fig-cnn-width
#
# CNN-16-ℓ on {glue:text}`dataset`, preset {glue:text}`preset`: {glue:text}`scale`. Each width is shown
# at its selected learning rate ({glue:text}`lr_choice`), seeds {glue:text}`seed_list`; {glue:text}`channels`. (a) training loss per epoch (epoch mean, from epoch 1), mean ± std over
# seeds; (b) minimum cosine at the last epoch, mean ± std (black) and single seeds (red); (c) KDE of the
# last epoch's cosines pooled over seeds (Gaussian kernel, Scott's bandwidth); (d) minimum cosine at each
# measured epoch, mean ± std over seeds. The paper shows (a)–(c). {glue:text}`protocol`
# ```
#
# ```{glue:figure} fig_width_fit
# :name: fig-cnn-width-fit
#
# The fit beside the confusion, same runs as {ref}`the width figure <fig-cnn-width>` ({glue:text}`dataset`,
# preset {glue:text}`preset`), per measured epoch (mean ± std over seeds): (a) training loss, (b) and (c)
# the probe set's ‖G‖ and gradient noise scale from its exact per-example Gram, (d) minimum minibatch
# cosine against training loss (seed means, no band), so that models are compared at matched fit by
# reading vertically. The paper reports neither ‖G‖ nor the noise scale.
# ```
#
# ```{glue:figure} fig_width_matched
# :name: fig-cnn-width-matched
#
# CNN-16-ℓ on {glue:text}`dataset`, preset {glue:text}`preset`, compared at matched fit: the minimum
# minibatch cosine (top) and the minimum per-example cosine
# on the probe set (bottom) of each run at its first measured epoch with training loss ≤
# {glue:text}`matched_loss`, against width (mean ± std over seeds, dots are seeds; a width with one seed
# there has no band). Runs that never got there are absent and counted in the title. Same runs as
# {ref}`the width figure <fig-cnn-width>`; descriptive, not judged (the paper compares at the end of
# training).
# ```
#
# ```{glue:figure} fig_width_plateau
# :name: fig-cnn-width-plateau
#
# CNN-16-ℓ on {glue:text}`dataset`, preset {glue:text}`preset`: how long each width sits on its initial
# plateau, the first epoch with training loss ≤
# {glue:text}`plateau_loss` ({glue:text}`lr_choice`), same runs as {ref}`the width figure
# <fig-cnn-width>`: mean ± std over the seeds that got there (black), single seeds (red). Descriptive, not
# judged; the paper does not report it.
# ```
#
# Parameter counts, selected learning rates, and final metrics (mean ± std over seeds):

# %% tags=["hide-input"]
display(model_table(study))

# %% [markdown]
# How each width's learning rate was chosen ({glue:text}`lr_choice`): where the preset has an LR
# pilot, the final training loss of the pilot seed at every LR tried, the selected one marked `*`, by
# the rule of {doc}`cnn_depth` (the grid extended while the choice sits on its edge; a choice still on
# the edge is flagged, and a claim in which that model takes part is then not tested). The pilot
# seed's loss at its selected LR is the best of several draws, so it is optimistic; the table above
# reports the judged seeds.

# %% tags=["hide-input"]
display(lr_pilot if lr_pilot is not None else Markdown("*No LR pilot at this preset: one fixed LR.*"))

# %% tags=["hide-input"]
claims = ["width_loss", "width_min_cos", "width_spread"]
verdicts = study_verdicts(study, claims, x_label="ℓ")
record_verdicts("cnn_width", verdicts, regime_description(study.chosen))
if P["fixed_lr"] is not None:  # the same stored runs as before the pilot existed: nothing is computed
    fixed = image_study("cnn_width", preset, "model.width", values=P["widths"], seeds=P["seeds"],
                        lrs=[P["fixed_lr"]], epochs=P["epochs"], n_train=P["n_train"])
    comparison = record_fixed_lr_comparison(verdicts, study_verdicts(fixed, claims, x_label="ℓ"), P["fixed_lr"],
                                            regime_description(fixed.chosen), models="width")
    moved = [f"ℓ = {w}" for w, lr in selected_lrs.items() if not np.isclose(lr, P["fixed_lr"])]
    glue_text("lr_moved", f"The pilot moved {', '.join(moved)} away from {P['fixed_lr']:g}." if moved else
              f"The pilot chose {P['fixed_lr']:g} for every width, so the judged runs, and with them the "
              "verdicts, are those of the fixed-LR protocol. With one pilot seed per LR this says only that no "
              "other LR of the grid beat it on that seed.")
    glue_text("lr_change", "The learning rate changed after we saw results." if moved else
              "The LR rule changed after we saw results; the learning rates did not.")
else:
    comparison = record_fixed_lr_comparison(verdicts)
    glue_text("lr_moved", "")
    glue_text("lr_change", "The LR rule of this chapter was changed after results had been seen at preset book.")
    moved = []

# %% [markdown]
# ```{admonition} Verdict (computed from the runs above)
# :class: important
#
# - {glue:text}`verdict_width_loss`
# - {glue:text}`verdict_width_min_cos`
# - {glue:text}`verdict_width_spread`
#
# Regime of these runs: {glue:text}`regime`. {glue:text}`verdict_rules`
# ```
#
# **Reading the loss verdict.** {glue:text}`loss_reading`
#
# **{glue:text}`lr_change`** (as in {doc}`cnn_depth`). {glue:text}`fixed_lr_text`

# %% tags=["hide-input"]
if comparison is not None:
    display(comparison)

# %% [markdown]
# {glue:text}`verdicts_changed` {glue:text}`lr_moved` The verdict box above, and the summary, use the
# per-model LRs; this table shows what that change did.
#
# ## How this differs from the paper
#
# - **Protocol.** {glue:text}`protocol` The regime line above says which widths fit their training
#   set, as the paper's networks fit theirs; on a small training set that means memorising it, and test
#   accuracy (table) falls far below the paper's.
# - **Measurement.** Where the pairs are fewer or the minibatches smaller than the paper's (above), the
#   minimum over fewer pairs is a less extreme statistic, and smaller batches give noisier gradients and
#   lower cosines ({doc}`measurement`), so our minima are comparable across widths but not in value with
#   the paper's. Pairs are disjoint minibatches of training images.
# - **LR.** LRs tried: {glue:text}`lr_grid`; {glue:text}`lr_choice` (selected: {glue:text}`lr_selected`).
#   The paper tunes the initial LR per model on a logarithmic grid it does not state, keeping the run
#   with the lowest training loss; we choose on a pilot seed that is never judged, so that the choice
#   cannot flatter the judged seeds (for the CPU scale itself, see above). The pilot was added to this chapter after its fixed-LR results had
#   been seen; the previous section shows both.
