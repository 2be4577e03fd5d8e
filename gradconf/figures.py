"""Figures shared by the trained-network chapters (paper Figs. 2-4): one function per panel layout."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import (FixedLocator, FormatStrFormatter, LogLocator, NullFormatter, NullLocator,
                               ScalarFormatter)

from .studies import Study


def log_axis(ax: Any, values: Any) -> None:
    """A base-2 log x axis with a plain tick at each swept value (widths and depths double)."""
    ticks = sorted({float(v) for v in values})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    if len(ticks) > 4 and ticks[-1] >= 100:
        ax.tick_params(axis="x", labelrotation=45)


def log_y(ax: Any) -> None:
    """A log y axis in plain numbers when the plotted range spans a decade or more (a shorter range
    stays linear, where a log axis would show crowded minor labels or none). The range is the data's (lines
    and bands), not the axis limits, whose linear margins can dip below 0 under positive data."""
    lo, hi = ax.dataLim.intervaly
    if lo <= 0 or hi / lo < 10:
        return
    ax.set_yscale("log")
    # ticks at 1, 2 and 5 of each decade, so that a range of one or two decades carries several labels;
    # one per decade beyond three decades, where 1-2-5 labels would collide
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if hi / lo < 1e3 else (1.0,)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))


def cosine_sd(values: Any) -> tuple[float, float]:
    """Mean ± std of cosines, clipped to [−1, 1] (a band past ±1 would show impossible values):
    the ``errorbar`` of every cosine panel."""
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return max(mean - sd, -1.0), min(mean + sd, 1.0)


def positive_sd(values: Any) -> tuple[float, float]:
    """Mean ± std of a quantity that cannot be negative (η, noise scales, diversity, squared norms), the lower end clipped at
    the smallest value seen: a band below 0 would show impossible values and force a linear axis."""
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return max(mean - sd, float(np.min(values))), mean + sd


def interval_yerr(frame: Any, value: str = "p_violation", low: str = "ci_low", high: str = "ci_high") -> list[Any]:
    """``errorbar``'s asymmetric ``yerr`` (distances below and above ``value``) of an interval given by its
    ends, e.g. the Clopper–Pearson interval of :func:`gradconf.init_confusion.violation_probability`."""
    return [frame[value] - frame[low], frame[high] - frame[value]]


POSITIVE_METRICS = ("eta", "diversity", "noise_scale", "coherence", "sq_norm")


def spread(metric: str) -> Any:
    """The ``errorbar`` of a panel of ``metric``: :func:`cosine_sd` for cosines and stiffness (bounded by ±1),
    :func:`positive_sd` for quantities that cannot be negative, the plain std otherwise."""
    if "cos" in metric or "stiffness" in metric:
        return cosine_sd
    return positive_sd if any(name in metric for name in POSITIVE_METRICS) else "sd"


def sweep_figure(study: Study, label: str, *, palette: str = "viridis") -> Any:
    """The four panels of paper Figs. 2/3 for one sweep, lines keyed by the swept value.

    (a) training loss per epoch (from epoch 1), (b) minimum minibatch-pair cosine at the last epoch against the swept
    value, (c) KDE of the last epoch's cosines pooled over seeds (Scott's bandwidth), (d) minimum
    cosine per measured epoch. Lines are means over seeds, bands and bars the std over seeds; dots in
    (b) are single seeds.
    """
    axis = study.axis
    epochs = study.epochs.rename(columns={axis: label})
    chosen = study.chosen.rename(columns={axis: label})
    cosines = study.cosines.rename(columns={axis: label})
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.8))
    values = sorted(chosen[label].unique())
    # one distinct colour per swept value (a numeric hue would blend neighbours such as depths 1 and 2)
    colours = dict(zip(values, sns.color_palette(palette, len(values))))
    kw = dict(hue=label, hue_order=values, palette=colours, errorbar="sd")
    # epoch 0 is a full-set evaluation at initialisation, whose spread would flatten the curves
    sns.lineplot(data=epochs[epochs["epoch"] >= 1], x="epoch", y="train_loss", ax=ax[0], **kw)
    ax[0].set(title="(a) training loss", ylabel="loss (epoch mean)")
    sns.pointplot(data=chosen, x=label, y="final_cos_min", errorbar=cosine_sd, capsize=0.15, color="k", ax=ax[1],
                  native_scale=True)
    sns.stripplot(data=chosen, x=label, y="final_cos_min", color="tab:red", size=4, alpha=0.6, ax=ax[1],
                  native_scale=True)
    ax[1].set(title="(b) min cosine, last epoch", ylabel="min cosine")
    if min(values) > 0 and max(values) / min(values) >= 4:
        log_axis(ax[1], values)
    if cosines["cosine"].nunique() > 1:
        sns.kdeplot(data=cosines, x="cosine", hue=label, hue_order=values, palette=colours, common_norm=False, ax=ax[2],
                    warn_singular=False, clip=(-1, 1))
    ax[2].set(title="(c) cosines, last epoch (pooled)", ylabel="density")
    measured = epochs.dropna(subset=["cos_min"])
    sns.lineplot(data=measured, x="epoch", y="cos_min", marker="o", ax=ax[3], legend=False,
                 **{**kw, "errorbar": cosine_sd})
    ax[3].set(title="(d) min cosine per measured epoch", ylabel="min cosine")
    fig.tight_layout()
    return fig


def fit_figure(study: Study, label: str, *, palette: str = "viridis", order: Sequence[Any] | None = None,
               from_epoch: int = 0) -> Any:
    """The fit beside the confusion, per measured epoch, lines keyed by the swept value (mean over seeds):
    (a) training loss, (b) ‖G‖ of the probe set, (c) gradient noise scale B_simple of the probe set,
    (d) minimum minibatch cosine against training loss — models compared at matched fit read vertically.
    ``order`` fixes the colour of each value (the values present, in that order; default sorted), so that a
    chapter's figures share colours; ``from_epoch`` drops earlier epochs (e.g. epoch 0 of BatchNorm nets,
    evaluated in eval mode where fresh BatchNorm is the identity)."""
    from .studies import fit_frame

    fit = fit_frame(study).rename(columns={study.axis: label})
    fit = fit[fit["epoch"] >= from_epoch]
    present = set(fit[label].unique())
    values = [v for v in order if v in present] if order is not None else sorted(present)
    palette_order = list(order) if order is not None else values
    colours = dict(zip(palette_order, sns.color_palette(palette, len(palette_order))))
    kw = dict(hue=label, hue_order=values, palette=colours, errorbar="sd", marker="o", markersize=4)
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.8))
    panels = (("train_loss", "(a) training loss", "loss (epoch mean)"),
              ("probe_grad_norm", "(b) ‖G‖ on the probe set", "‖G‖"),
              ("probe_noise_scale", "(c) noise scale B_simple", "tr Σ / ‖G‖²"))
    for a, (metric, title, ylabel) in zip(ax, panels):
        if metric in fit and fit[metric].notna().any():
            sns.lineplot(data=fit, x="epoch", y=metric, ax=a, legend=a is ax[0], **kw)
            a.set_yscale("log")
        else:
            a.text(0.5, 0.5, "no probe Gram\nat this preset", ha="center", va="center", transform=a.transAxes)
        a.set(title=title, ylabel=ylabel)
    mean = fit.groupby([label, "epoch"], as_index=False)[["train_loss", "cos_min"]].mean()
    for value, sub in mean.groupby(label):
        ax[3].plot(sub["train_loss"], sub["cos_min"], marker="o", ms=4, color=colours[value])
    ax[3].set(xscale="log", title="(d) min cosine vs training loss", xlabel="training loss (seed mean)",
              ylabel="min cosine (seed mean)")
    ax[3].invert_xaxis()  # training moves left to right
    fig.tight_layout()
    return fig


def matched_loss_figure(studies: dict[str, Study], loss: float) -> Any:
    """Minimum minibatch cosine and minimum per-example (probe) cosine of each run at the first measured epoch
    whose training loss is ≤ ``loss``, against the swept value, one column per study (mean ± std over seeds,
    dots are seeds). Runs that never reach ``loss`` are absent; the title counts them."""
    from .studies import matched_loss_frame

    rows = (("cos_min", "min minibatch cosine"), ("probe_cos_min", "min per-example cosine"))
    fig, ax = plt.subplots(len(rows), len(studies), figsize=(4.5 * len(studies), 5.5), squeeze=False)
    for col, (label, study) in enumerate(studies.items()):
        frame = matched_loss_frame(study, loss).rename(columns={study.axis: label})
        missing = len(study.chosen) - len(frame)
        for row, (metric, title) in enumerate(rows):
            a = ax[row, col]
            if len(frame) and metric in frame:
                sns.lineplot(data=frame, x=label, y=metric, errorbar=cosine_sd, marker="o", color="k", ax=a)
                sns.scatterplot(data=frame, x=label, y=metric, color="tab:red", alpha=0.6, s=18, ax=a)
                log_axis(a, study.chosen[study.axis])
            else:
                a.text(0.5, 0.5, f"no run reached loss ≤ {loss:g}", ha="center", va="center", transform=a.transAxes)
            a.set(ylabel=title if col == 0 else "", xlabel=label if row == len(rows) - 1 else "")
        ax[0, col].set_title(f"{label}: at loss ≤ {loss:g}" + (f" ({missing} runs never got there)" if missing else ""))
    fig.tight_layout()
    return fig


def probe_figure(studies: dict[str, Study], *, palette: str = "colorblind") -> Any:
    """Exact per-example confusion on the fixed probe set at the end of training, one column per study.

    Rows: minimum per-example cosine, raw η = −min⟨g_i, g_j⟩ (Definition 2.1) and the std of the
    cosines, each against the swept value (mean ± std over seeds, single seeds as dots).
    """
    rows = (("probe_cos_min", "min cosine"), ("probe_eta", "raw η"), ("probe_cos_std", "std of cosines"))
    fig, ax = plt.subplots(len(rows), len(studies), figsize=(4.5 * len(studies), 7.5), squeeze=False)
    for col, (label, study) in enumerate(studies.items()):
        frame = study.chosen.rename(columns={study.axis: label})
        for row, (metric, title) in enumerate(rows):
            a = ax[row, col]
            sns.lineplot(data=frame, x=label, y=metric, errorbar=spread(metric), marker="o", color="k", ax=a)
            sns.scatterplot(data=frame, x=label, y=metric, color="tab:red", alpha=0.6, s=18, ax=a)
            log_axis(a, frame[label])
            a.set(ylabel=title if col == 0 else "", xlabel=label if row == len(rows) - 1 else "")
            if metric == "probe_eta":
                log_y(a)
    fig.tight_layout()
    return fig


def variant_figure(study: Study) -> Any:
    """Paper Fig. 4: final training loss, minimum cosine and test accuracy against depth for the four
    BN/skip variants (mean ± std over seeds), plus the training-loss curves at the largest depth.

    One fixed colour and marker per variant in every panel; a variant whose every run at a depth diverged
    has no point there, and the figure names it below the panels; the legend sits outside the data."""
    from .verdicts import VARIANTS, with_variants

    order = list(VARIANTS.values())
    colours = dict(zip(order, sns.color_palette("colorblind", len(order))))
    chosen, epochs = with_variants(study.chosen), with_variants(study.epochs)
    fig, ax = plt.subplots(1, 4, figsize=(16, 4.4))
    panels = (("final_train_loss", "(a) final training loss"), ("final_cos_min", "(b) min cosine, last epoch"),
              ("final_test_acc", "(c) test accuracy"))
    kw = dict(hue="variant", hue_order=order, palette=colours, style="variant", style_order=order, markers=True,
              dashes=False, errorbar="sd")
    for a, (metric, title) in zip(ax, panels):
        sns.lineplot(data=chosen, x=study.axis, y=metric, ax=a, legend=False, **{**kw, "errorbar": spread(metric)})
        a.set(title=title, xlabel="depth β", ylabel="")
    # epoch 0 is evaluated in eval mode, where fresh BatchNorm is the identity: leave it out, as in Fig. 2
    deepest = epochs[(epochs[study.axis] == epochs[study.axis].max()) & (epochs["epoch"] >= 1)]
    sns.lineplot(data=deepest, x="epoch", y="train_loss", hue="variant", hue_order=order, palette=colours,
                 errorbar="sd", ax=ax[3], legend=False)
    ax[3].set(title=f"(d) training loss, β = {epochs[study.axis].max()}", ylabel="")
    handles = [plt.Line2D([], [], color=colours[v], marker="o", label=v) for v in order]
    failed = chosen.groupby(["variant", study.axis])["status"].agg(lambda s: bool((s != "ok").all()))
    gone = [f"{v} at β = {d}" for (v, d), all_failed in failed.items() if all_failed]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 0.0))
    if gone:
        fig.text(0.99, 0.01, "diverged at every run (no point): " + "; ".join(gone), ha="right", va="bottom",
                 fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def init_depth_figure(draws: Any) -> Any:
    """Per-sample confusion at initialisation against depth, one line per initialisation (Thm 6.1):
    minimum cosine, raw η (log scale) and the std of the cosines; mean ± std over draws."""
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    for a, (metric, title, unit) in zip(ax, (("cos_min", "(a) min cosine", "min cos(g_i, g_j)"),
                                             ("eta", "(b) raw η = −min⟨g_i, g_j⟩", "raw η"),
                                             ("cos_std", "(c) std of cosines", "std of cosines"))):
        sns.lineplot(data=draws, x="depth", y=metric, hue="init", style="init", markers=True, dashes=False,
                     errorbar=spread(metric), ax=a, legend=a is ax[0])
        log_axis(a, draws["depth"])
        a.set(title=title, ylabel=unit)
        if metric == "eta":
            log_y(a)
    fig.tight_layout()
    return fig


def init_training_figure(study: Study, facet: str = "init.scheme") -> Any:
    """Training-loss curves of a depth sweep, one panel per initialisation, lines keyed by depth
    (mean ± std over seeds), and the final training loss against depth per initialisation. Runs that
    diverged are left out of the curves (a chapter lists them), since their losses swamp the axis."""
    schemes = list(dict.fromkeys(study.chosen[facet]))
    fig, ax = plt.subplots(1, len(schemes) + 1, figsize=(4 * (len(schemes) + 1), 3.6))
    epochs = study.epochs[study.epochs["status"] == "ok"].rename(columns={study.axis: "depth"})
    depths = sorted(study.chosen[study.axis].unique())
    palette = dict(zip(depths, sns.color_palette("viridis", len(depths))))
    for a, scheme in zip(ax, schemes):
        sns.lineplot(data=epochs[epochs[facet] == scheme], x="epoch", y="train_loss", hue="depth", hue_order=depths,
                     palette=palette, errorbar="sd", ax=a, legend=a is ax[0])
        a.set(title=f"{scheme}: training loss", ylabel="")
    sns.lineplot(data=study.chosen.rename(columns={study.axis: "depth"}), x="depth", y="final_train_loss", hue=facet,
                 style=facet, markers=True, dashes=False, errorbar="sd", ax=ax[-1])
    log_axis(ax[-1], depths)
    ax[-1].set(title="final training loss", ylabel="")
    fig.tight_layout()
    return fig


def init_mnist_figure(study: Study) -> Any:
    """Final training loss and minimum cosine against depth per initialisation, one column per activation;
    × marks a model that did not reach the trained regime in every seed (:func:`gradconf.verdicts.reached_regime`)."""
    from .verdicts import reached_regime

    activations = sorted(study.chosen["model.activation"].unique())
    fig, ax = plt.subplots(2, len(activations), figsize=(5 * len(activations), 6.4), squeeze=False)
    frame = study.chosen.rename(columns={study.axis: "depth", "init.scheme": "init"})
    frame = frame.assign(_reached=reached_regime(study.chosen).to_numpy())
    for col, activation in enumerate(activations):
        sub = frame[frame["model.activation"] == activation]
        for row, (metric, title) in enumerate((("final_train_loss", "final training loss"),
                                               ("final_cos_min", "min cosine, last epoch"))):
            sns.lineplot(data=sub, x="depth", y=metric, hue="init", style="init", markers=True, dashes=False,
                         errorbar=spread(metric), ax=ax[row, col], legend=row == 0)
            means = sub.groupby(["init", "depth"]).agg(value=(metric, "mean"), reached=("_reached", "all"))
            untrained = means[~means["reached"]].reset_index()
            if len(untrained):
                ax[row, col].scatter(untrained["depth"], untrained["value"], marker="x", s=70, color="k", zorder=5,
                                     label="not trained in every seed" if row == 0 else None)
            if row == 0:
                ax[row, col].legend(fontsize=8)
            log_axis(ax[row, col], sub["depth"])
            ax[row, col].set(title=f"{activation}: {title}", ylabel="")
    fig.tight_layout()
    return fig


VERDICT_COLOURS = {"reproduced": "#1b9e77", "contradicted": "#d95f02", "inconclusive": "#e6ab02",
                   "not tested": "#999999"}


def verdict_figure(table: Any) -> Any:
    """Labels of the paper's claims per chapter (a stacked horizontal bar per chapter), from
    :func:`gradconf.verdicts.collect_verdicts`; sanity checks and the book's own claims are left out."""
    paper = table[table["role"] == "paper"]
    counts = paper.groupby(["chapter", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(VERDICT_COLOURS), fill_value=0)
    order = paper.drop_duplicates("chapter").sort_values("checklist")["chapter"]
    counts = counts.loc[list(order)[::-1]]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(counts) + 1.4))
    left = None
    for label, colour in VERDICT_COLOURS.items():
        ax.barh(counts.index, counts[label], left=left, color=colour, label=label)
        left = counts[label] if left is None else left + counts[label]
    ax.set(xlabel="claims of the paper judged", ylabel="")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


RELATED_METRICS: dict[str, str] = {
    "final_cos_min": "min minibatch cosine (paper)",
    "probe_cos_min": "min per-example cosine",
    "probe_eta": "raw η",
    "probe_cos_mean": "cosine stiffness",
    "probe_sign_stiffness": "sign stiffness",
    "probe_gradient_diversity": "gradient diversity",
    "probe_m_coherence": "m-coherence",
    "probe_noise_scale": "noise scale B_simple",
    "final_train_loss": "training loss",
    "final_test_acc": "test accuracy",
}
# the related metrics that span decades: shown on a log axis, and compared on the log scale
RELATED_LOG_METRICS: tuple[str, ...] = ("probe_eta", "probe_gradient_diversity", "probe_m_coherence", "probe_noise_scale")


def related_metrics_figure(studies: dict[str, Study]) -> Any:
    """Every related metric (paper.md §6) against the swept value, one row per study (mean ± std over
    seeds, log scale where a metric spans decades)."""
    metrics = [m for m in RELATED_METRICS if not m.startswith("final_t")]
    fig, ax = plt.subplots(len(studies), len(metrics), figsize=(2.4 * len(metrics), 2.6 * len(studies)),
                           squeeze=False)
    for row, (label, study) in enumerate(studies.items()):
        frame = study.chosen.rename(columns={study.axis: label})
        for col, metric in enumerate(metrics):
            a = ax[row, col]
            sns.lineplot(data=frame, x=label, y=metric, marker="o", errorbar=spread(metric), color="k", ax=a)
            log_axis(a, frame[label])
            a.set(ylabel="", title=RELATED_METRICS[metric] if row == 0 else "")
            if metric in RELATED_LOG_METRICS:
                log_y(a)
    fig.tight_layout()
    return fig


def correlation_figure(correlations: Any) -> Any:
    """A heatmap of Spearman correlations between metrics across runs."""
    labels = [RELATED_METRICS.get(c, c) for c in correlations.columns]
    fig, ax = plt.subplots(figsize=(7.5, 6.2))
    sns.heatmap(correlations.to_numpy(), xticklabels=labels, yticklabels=labels, vmin=-1, vmax=1, cmap="vlag",
                annot=True, fmt=".2f", annot_kws={"size": 7}, ax=ax)
    fig.tight_layout()
    return fig


def schedule_label(row: Any) -> str:
    """A schedule of the ``cnn_scale`` sweep in a few words."""
    return (f"{int(row['n_train']):,} images, batch {int(row['train.batch_size'])}, "
            f"{int(row['train.epochs'])} epochs, LR {row['train.lr']:g}")


def schedule_figure(study: Study) -> Any:
    """Training loss of one model under several candidate schedules, against epochs and against SGD steps,
    with the trained-regime threshold (``trained_loss_fraction`` of the reference loss,
    :func:`gradconf.verdicts.regime_reference_loss`); one line style per seed (solid: the first)."""
    from .verdicts import regime_reference_loss, settings

    e = study.epochs[study.epochs["epoch"] >= 1].copy()
    e["schedule"] = e.apply(schedule_label, axis=1)
    e["SGD steps"] = e["epoch"] * (e["n_train"] // e["train.batch_size"])
    order = list(dict.fromkeys(schedule_label(r) for _, r in study.chosen.sort_values(
        ["train.batch_size", "n_train", "train.lr"]).iterrows()))
    seeds = sorted(int(v) for v in e["seed"].unique())
    e["seed"] = e["seed"].astype(int)
    colours = dict(zip(order, sns.color_palette("tab10", len(order))))
    threshold = settings()["trained_loss_fraction"] * float(regime_reference_loss(study.chosen).mean())
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.2))
    for a, x in zip(ax, ("epoch", "SGD steps")):
        sns.lineplot(data=e, x=x, y="train_loss", hue="schedule", hue_order=order, palette=colours, ax=a,
                     style="seed" if len(seeds) > 1 else None, style_order=seeds if len(seeds) > 1 else None,
                     legend=a is ax[1], errorbar=None)
        a.axhline(threshold, color="0.3", ls="--", lw=1)
        a.set(ylabel="training loss (epoch mean)", yscale="log")
    ax[0].set_title("(a) against epochs")
    ax[1].set_title("(b) against SGD steps; dashed: the trained-regime threshold")
    sns.move_legend(ax[1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8, title="")
    fig.tight_layout()
    return fig


def plateau_figure(study: Study, label: str, loss: float) -> Any:
    """Epochs each run takes to first reach an epoch-mean training loss ≤ ``loss`` (leaving the initial
    plateau), against the swept value: mean ± std over the seeds that got there (black), single seeds (red);
    seeds that never got there are drawn as open markers at the last epoch + 1 and counted in the title."""
    from .studies import epochs_to_loss

    frame = epochs_to_loss(study, loss).rename(columns={study.axis: label})
    fig, ax = plt.subplots(figsize=(5, 3.6))
    reached = frame[frame["reached"]]
    if len(reached):
        sns.lineplot(data=reached, x=label, y="epochs_to_loss", errorbar="sd", marker="o", color="k", ax=ax)
        sns.scatterplot(data=reached, x=label, y="epochs_to_loss", color="tab:red", alpha=0.6, s=22, ax=ax)
    never = frame[~frame["reached"]]
    if len(never):
        ax.scatter(never[label], never["train.epochs"] + 1, facecolors="none", edgecolors="tab:red", s=40,
                   label="never (drawn at last epoch + 1)")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    log_axis(ax, frame[label])
    ax.set(xlabel=label, ylabel="epochs", title=f"epochs to training loss ≤ {loss:g}"
           + (f" ({len(never)} of {len(frame)} runs never)" if len(never) else ""))
    fig.tight_layout()
    return fig


def ordering_figure(orderings: dict[str, tuple[Any, float]]) -> Any:
    """Per measured epoch, the oriented slope of the minimum cosine on log2 of the swept value (positive: the
    paper's ordering), one panel per sweep: seeds as thin lines, their mean thick; shading from the first
    LR decay on. ``orderings``: label → (:func:`gradconf.studies.ordering_by_epoch` frame, orientation sign)."""
    fig, ax = plt.subplots(1, len(orderings), figsize=(5.5 * len(orderings), 3.6), squeeze=False)
    for a, (label, (frame, sign)) in zip(ax[0], orderings.items()):
        f = frame.assign(oriented=sign * frame["slope"])
        for _, sub in f.groupby("seed"):
            a.plot(sub["epoch"], sub["oriented"], color="0.6", lw=0.8, marker=".", ms=3)
        mean = f.groupby("epoch")["oriented"].mean()
        a.plot(mean.index, mean.to_numpy(), color="k", lw=2, marker="o", ms=4)
        if f["decayed"].any():  # shade from the last epoch at the initial LR: the decay comes right after it
            last_initial = f.loc[~f["decayed"], "epoch"].max()
            a.axvspan(last_initial + 0.5, f["epoch"].max() + 0.5, color="tab:blue", alpha=0.08, lw=0)
        a.axhline(0, color="0.3", lw=0.8, ls="--")
        a.set(title=f"{label}: oriented slope of min cosine", xlabel="epoch",
              ylabel="per doubling (positive: paper's order)")
    fig.tight_layout()
    return fig
