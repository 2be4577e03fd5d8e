"""Trained-network studies (paper Figs. 2-4, App. A): run a named sweep at a preset, select each
model's learning rate as the paper does, and reduce the runs to tidy frames and computed verdicts.

A :class:`Study` holds every frame a chapter plots; :func:`trend_verdict` turns a summary over seeds
into the chapter's verdict (the paper's claim, our numbers, and whether they agree).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import DataNotFoundError, available
from .experiment import ResultStore, best_lr, cosines_frame, epochs_frame, run_sweep, runs_frame
from .sweeps import choose_lrs, judged_configs, lr_pilot, model_id, pilot_grid, sweep_stages

RESULTS_ENV = "GRADCONF_RESULTS"

#: Run-config fields that move a CNN sweep from CIFAR-10 to MNIST (one input channel).
IMAGE_DATASETS: dict[str, dict[str, Any]] = {
    "cifar10": {"dataset": "cifar10", "model.in_channels": 3},
    "mnist": {"dataset": "mnist", "model.in_channels": 1},
}

VERDICTS: tuple[str, ...] = ("reproduced", "partly reproduced", "not reproduced at this scale")


def results_store(preset: str) -> ResultStore:
    """The result store of a preset: ``$GRADCONF_RESULTS/<preset>``, else ``~/.cache/gradconf/results``.

    Runs are keyed by their config and by the code that computes them, so a store is never stale;
    ``python -m gradconf book`` points it at ``results/`` in the project.
    """
    root = os.environ.get(RESULTS_ENV) or Path.home() / ".cache" / "gradconf" / "results"
    return ResultStore(Path(root) / preset)


def image_dataset(root: str | os.PathLike | None = None, preferred: str = "cifar10") -> str:
    """``preferred`` when its verified files are under the data root, else MNIST, else an error.

    The paper's CNN experiments use CIFAR-10; MNIST is the stated fallback when CIFAR-10 is absent.
    """
    for name in dict.fromkeys((preferred, "mnist")):
        if available(name, root):
            return name
    raise DataNotFoundError(
        f"neither {preferred} nor mnist is available under the data root; set GRADCONF_DATA or run "
        "`python -m gradconf download mnist`"
    )


@dataclass
class Study:
    """A finished sweep: every run, the runs at each model's selected LR, and their tidy frames."""

    sweep: str
    preset: str
    axis: str
    runs: pd.DataFrame      # one row per run, every LR of the grid
    chosen: pd.DataFrame    # one row per run at its model's selected LR
    epochs: pd.DataFrame    # one row per (chosen run, epoch)
    cosines: pd.DataFrame   # one row per cosine measured at the last epoch of a chosen run
    compute_s: float        # summed wall time of the runs, as recorded when they ran
    ran: int                # runs computed by this call (the others came from the store)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.chosen["seed"].unique().tolist())

    @property
    def values(self) -> list[Any]:
        return sorted(self.chosen[self.axis].unique().tolist())

    def subset(self, **equals: Any) -> "Study":
        """The same study restricted to runs whose config columns equal the given values
        (dotted names with ``__`` for ``.``, e.g. ``model__bn=True``)."""
        columns = {k.replace("__", "."): v for k, v in equals.items()}

        def keep(frame: pd.DataFrame) -> pd.DataFrame:
            mask = pd.Series(True, index=frame.index)
            for column, value in columns.items():
                mask &= frame[column] == value
            return frame[mask]

        return Study(self.sweep, self.preset, self.axis, keep(self.runs), keep(self.chosen), keep(self.epochs),
                     keep(self.cosines), self.compute_s, self.ran)

    def config_value(self, column: str) -> Any:
        """The value of a config column that every run shares (raises if they differ)."""
        values = self.runs[column].dropna().unique()
        if len(values) != 1:
            raise ValueError(f"{column} is not constant across the study: {list(values)}")
        return values[0]


def run_study(
    sweep: str,
    preset: str,
    axis: str,
    *,
    overrides: dict[str, Any] | None = None,
    grid: dict[str, list] | None = None,
    store: ResultStore | None = None,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    by: tuple[str, ...] = (),
) -> Study:
    """Run sweep ``sweep`` at ``preset`` (reusing stored runs) and select each model's learning rate.

    ``axis`` is the swept model field (e.g. ``"model.depth"``); ``by`` names further columns that
    distinguish models (e.g. the BN/skip switches). The LR of each model is the one with the lowest
    final training loss averaged over seeds (paper §7); diverged runs count as +inf.
    """
    grid = {k: v for k, v in (grid or {}).items() if v is not None}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    store = store or results_store(preset)
    configs, ran = [], 0
    for _, stage in sweep_stages(sweep, preset, store, overrides=overrides, grid=grid):
        ran += run_sweep(stage, store, data_root=data_root, progress=progress).ran
        configs += stage
    records = store.records(configs)
    runs = runs_frame(records)
    if axis not in runs:
        raise ValueError(f"axis {axis!r} is not a config column; have {sorted(c for c in runs if '.' in c)}")
    models = [axis, *by]
    pilot = lr_pilot(sweep, preset)
    if pilot is None:  # the LR with the lowest mean final loss over the judged seeds themselves
        chosen = best_lr(runs, models).assign(lr_at_edge=False)
    else:  # the pilot seed chose each model's LR; only the judged seeds are kept
        judged = judged_configs(configs, store, pilot)
        edge = {mid: ch.at_edge for mid, ch in choose_lrs(pilot_grid(configs, pilot), store, pilot).items()}
        at_edge = {c.key: edge[model_id(c)] for c in judged}
        chosen = runs[runs["key"].isin(at_edge)].assign(lr_at_edge=lambda f: f["key"].map(at_edge))
    keys = set(chosen["key"])
    chosen_records = [r for r in records if r["key"] in keys]
    return Study(
        sweep=sweep, preset=preset, axis=axis, runs=runs, chosen=chosen,
        epochs=epochs_frame(chosen_records), cosines=cosines_frame(chosen_records),
        compute_s=float(sum(r["provenance"]["wall_s"] for r in records)), ran=ran,
    )


def image_study(sweep: str, preset: str, axis: str, *, values: list | None, seeds: list | None, lrs: list | None,
                epochs: int | None, n_train: int | None, by: tuple[str, ...] = ()) -> Study:
    """The CNN chapters' study (paper Figs. 2-4): :func:`run_study` on :func:`image_dataset` (CIFAR-10,
    else MNIST), ``axis`` swept over ``values``; ``None`` keeps the preset's value."""
    dataset = image_dataset()
    return run_study(sweep, preset, axis, by=by, progress=False,
                     overrides={**IMAGE_DATASETS[dataset], "train.epochs": epochs, "n_train": n_train},
                     grid={axis: values, "seed": seeds, "train.lr": lrs})


def mlp_studies(preset: str, *, depths: list | None, widths: list | None, seeds: list | None, lrs: list | None,
                epochs: int | None, n_train: int | None) -> tuple[Study, Study]:
    """The MNIST MLP depth and width studies (paper App. A) that :doc:`mlp_sweeps` and
    :doc:`related_metrics` share; ``None`` keeps the preset's value."""
    common = dict(overrides={"train.epochs": epochs, "n_train": n_train}, progress=False)
    runs_grid = {"seed": seeds, "train.lr": lrs}
    depth = run_study("mlp_depth", preset, "model.depth", grid={"model.depth": depths, **runs_grid}, **common)
    width = run_study("mlp_width", preset, "model.width", grid={"model.width": widths, **runs_grid}, **common)
    return depth, width


def compute_description(*studies: Study) -> str:
    """Summed recorded wall time and run count of ``studies``, for a chapter's scale line."""
    minutes = sum(s.compute_s for s in studies) / 60
    return f"{minutes:.1f} min for {sum(len(s.runs) for s in studies)} runs"


def seed_summary(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof 1) and count of each metric per group: ``<m>_mean``, ``<m>_std``, ``<m>_n`` (runs
    with a finite value; a diverged run has none), and ``seeds`` (runs in the group)."""
    grouped = frame.groupby(by, dropna=False)
    out = grouped[metrics].agg(["mean", "std", "count"])
    out.columns = [f"{m}_{'n' if stat == 'count' else stat}" for m, stat in out.columns]
    out["seeds"] = grouped["seed"].nunique()
    return out.reset_index()


def _finite_counts(rows: pd.DataFrame | pd.Series, metric: str) -> Any:
    """Runs with a finite ``metric`` per summary row (``seeds`` for a summary without counts)."""
    return rows[f"{metric}_n"] if f"{metric}_n" in rows else rows["seeds"]


def model_table(study: Study, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per model: parameters, selected LR, final training loss, test accuracy and min cosine
    (mean ± std over seeds); paper App. A.3 reports parameter counts and test accuracy."""
    keys = [study.axis, *by]
    summary = seed_summary(study.chosen, keys + ["model_name", "n_params", "train.lr"],
                           ["final_train_loss", "final_test_acc", "final_cos_min"])

    def pm(col: str, digits: int) -> pd.Series:
        return summary.apply(lambda r: f"{r[col + '_mean']:.{digits}f} ± {r[col + '_std']:.{digits}f}", axis=1)

    failed = (study.chosen.assign(_failed=study.chosen["status"] != "ok")
              .groupby(keys + ["model_name", "n_params", "train.lr"], dropna=False)["_failed"].sum()
              .reset_index(drop=True))
    return pd.DataFrame({
        "model": summary["model_name"],
        "parameters": summary["n_params"].map(lambda n: f"{n:,}"),
        "selected LR": summary["train.lr"],
        "final train loss": pm("final_train_loss", 3),
        "test accuracy": pm("final_test_acc", 3),
        "min cosine (last epoch)": pm("final_cos_min", 3),
        "seeds": summary["seeds"],
        "diverged": failed.astype(int).to_numpy(),
    })


def diverged_models(study: Study, by: tuple[str, ...] = ()) -> list[str]:
    """The models whose every run diverged, at every learning rate of the grid (the selected LR of a
    model is only a diverged one when no LR trained), as ``model_name (values of by)``."""
    keys = [study.axis, *by, "model_name"]
    failed = study.chosen.groupby(keys, sort=True)["status"].agg(lambda s: bool((s != "ok").all()))
    names = []
    for key, all_failed in failed.items():
        if all_failed:
            extra = ", ".join(str(v) for v in key[1:-1])
            names.append(f"{key[-1]} ({extra})" if extra else str(key[-1]))
    return names


# ----------------------------------------------------------------------------------------------
# verdicts
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """A claim of the paper, what our runs show, and whether they agree (one of :data:`VERDICTS`)."""

    claim: str
    evidence: str
    verdict: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; allowed: {', '.join(VERDICTS)}")

    def markdown(self) -> str:
        return f"**{self.verdict.capitalize()}.** Paper: {self.claim} Ours: {self.evidence}"


def _pm(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _against(stderr: float, digits: int) -> str:
    if math.isnan(stderr):
        return "with no standard error (one seed)"
    return f"against twice its standard error {2 * stderr:.{digits}f}"


def rank_correlation(x: Any, y: Any) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant."""
    rx = pd.Series(np.asarray(x, dtype=float)).rank().to_numpy()
    ry = pd.Series(np.asarray(y, dtype=float)).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def trend_verdict(
    summary: pd.DataFrame,
    x: str,
    metric: str,
    expect: str,
    *,
    claim: str,
    what: str,
    x_label: str | None = None,
    digits: int = 3,
    unit: str = "seed",
) -> Verdict:
    """Judge the claim "``metric`` moves in direction ``expect`` as ``x`` grows" from a seed summary.

    ``summary`` comes from :func:`seed_summary` (one row per value of ``x``). Reproduced: the rank
    correlation has the claimed sign and |rho| >= 0.9, and the change from the smallest to the largest
    ``x`` has the claimed sign and exceeds twice its standard error over seeds. Partly reproduced:
    the change and the rank correlation have the claimed sign but not both tests pass. Otherwise
    not reproduced at this scale. ``expect="flat"`` (no dependence on ``x``): reproduced when the
    end-to-end change is within twice its standard error, not reproduced when it is beyond. ``unit``
    names what the ``seeds`` column counts (e.g. ``"draw"`` for draws at initialisation).
    """
    if expect not in ("increase", "decrease", "flat"):
        raise ValueError(f"expect must be 'increase', 'decrease' or 'flat', got {expect!r}")
    rows = summary.sort_values(x)
    if len(rows) < 2:
        raise ValueError(f"a trend needs at least two values of {x}, got {len(rows)}")
    label = x_label or x
    undefined = rows[rows[f"{metric}_mean"].isna()]
    rows = rows[rows[f"{metric}_mean"].notna()]
    note = ""
    if len(undefined):
        values = ", ".join(str(v) for v in undefined[x])
        note = f"{what} is undefined at {label} = {values}: no run there gave a finite value (all diverged). "
        if len(rows) < 2:
            return Verdict(claim=claim, verdict=VERDICTS[2],
                           evidence=note + f"No trend can be judged from the {len(rows)} value left.")
        note += "Judged on the other values only: "
    mean, std = rows[f"{metric}_mean"].to_numpy(), rows[f"{metric}_std"].to_numpy()
    seeds = _finite_counts(rows, metric).to_numpy()
    sign = 1.0 if expect == "increase" else -1.0
    rho = rank_correlation(rows[x], mean)
    change = float(mean[-1] - mean[0])
    stderr = float(math.sqrt(std[0] ** 2 / seeds[0] + std[-1] ** 2 / seeds[-1])) if min(seeds) > 1 else math.nan
    direction = change * sign > 0 and (rho * sign > 0 if not math.isnan(rho) else False)
    significant = not math.isnan(stderr) and abs(change) > 2 * stderr
    monotone = not math.isnan(rho) and rho * sign >= 0.9
    if expect == "flat":
        verdict = VERDICTS[1] if math.isnan(stderr) else VERDICTS[2] if significant else VERDICTS[0]
    else:
        verdict = VERDICTS[0] if direction and significant and monotone else VERDICTS[1] if direction else VERDICTS[2]
    lo, hi = int(min(seeds)), int(max(seeds))
    seeds_text = f"{lo} {unit}{'s' if lo != 1 else ''}" if lo == hi else f"{lo}–{hi} {unit}s"
    evidence = note + (
        f"{what} goes from {_pm(mean[0], std[0], digits)} at {label} = {rows[x].iloc[0]} to "
        f"{_pm(mean[-1], std[-1], digits)} at {label} = {rows[x].iloc[-1]} (mean ± std over {seeds_text}); "
        f"change {change:+.{digits}f} {_against(stderr, digits)}; Spearman ρ = {rho:+.2f} over {len(rows)} values."
    )
    return Verdict(claim=claim, evidence=evidence, verdict=verdict)


def best_group_verdict(
    summary: pd.DataFrame,
    group: str,
    target: Any,
    metric: str,
    higher_is_better: bool,
    *,
    claim: str,
    what: str,
    digits: int = 3,
) -> Verdict:
    """Judge "group ``target`` has the best ``metric``" from a seed summary with one row per group.

    Reproduced: the target's mean is the best and beats the runner-up by more than twice the standard
    error of the difference. Partly: best, but not by that margin. Otherwise not reproduced.
    """
    rows = summary.set_index(group)
    if target not in rows.index or len(rows) < 2:
        raise ValueError(f"need {target!r} and at least one other {group} in the summary, have {list(rows.index)}")
    undefined = [str(g) for g in rows.index[rows[f"{metric}_mean"].isna()]]
    note = f" Undefined for {', '.join(undefined)}: no run gave a finite value (all diverged)." if undefined else ""
    mine = rows.loc[target]
    if math.isnan(float(mine[f"{metric}_mean"])):
        return Verdict(claim=claim, verdict=VERDICTS[2], evidence=f"{what} is undefined for {target}.{note}")
    sign = 1.0 if higher_is_better else -1.0
    ranked = rows.assign(_score=sign * rows[f"{metric}_mean"]).sort_values("_score", ascending=False)
    other = ranked.drop(index=target).iloc[0]
    margin = sign * float(mine[f"{metric}_mean"] - other[f"{metric}_mean"])
    n_mine, n_other = (float(_finite_counts(r, metric)) for r in (mine, other))
    stderr = (math.sqrt(mine[f"{metric}_std"] ** 2 / n_mine + other[f"{metric}_std"] ** 2 / n_other)
              if min(n_mine, n_other) > 1 else math.nan)
    best = ranked.index[0] == target
    verdict = (VERDICTS[0] if best and not math.isnan(stderr) and margin > 2 * stderr
               else VERDICTS[1] if best else VERDICTS[2])
    evidence = (
        f"{what} is {_pm(mine[f'{metric}_mean'], mine[f'{metric}_std'], digits)} for {target}; the best other is "
        f"{ranked.drop(index=target).index[0]} with {_pm(other[f'{metric}_mean'], other[f'{metric}_std'], digits)} "
        f"(margin {margin:+.{digits}f} in the claimed direction, {_against(stderr, digits)}).{note}"
    )
    return Verdict(claim=claim, evidence=evidence, verdict=verdict)


def verdict_frame(verdicts: dict[str, Verdict]) -> pd.DataFrame:
    """One row per verdict (for summary tables)."""
    return pd.DataFrame([{"claim id": k, "claim": v.claim, "evidence": v.evidence, "verdict": v.verdict}
                         for k, v in verdicts.items()])


# ----------------------------------------------------------------------------------------------
# describing the scale of a study (every figure states it)
# ----------------------------------------------------------------------------------------------

DATASET_NAMES = {"cifar10": ("CIFAR-10", 32), "mnist": ("MNIST", 28), "sphere": ("unit-sphere data", None)}


def _fmt_count(value: Any, full: str) -> str:
    return full if value is None or (isinstance(value, float) and math.isnan(value)) else f"{int(value):,}"


def scale_description(study: Study) -> str:
    """One sentence with the dataset, its size, the schedule, LR grid, seeds and measurement of a study."""
    c = study.config_value
    name, side = DATASET_NAMES[c("dataset")]
    pooled = ""
    if side and c("downsample") > 1:
        s = side // c("downsample")
        pooled = f", average-pooled to {s} × {s}"
    lrs = ", ".join(f"{v:g}" for v in sorted(study.runs["train.lr"].unique()))
    decay = " and ".join(f"{100 * f:g} %" for f in c("train.lr_decay_at"))
    every = c("measure.every")
    when = "every epoch" if every == 1 else f"every {every} epochs and at the last"
    seeds = study.seeds
    return (
        f"{name} ({_fmt_count(c('n_train'), 'all')} training and {_fmt_count(c('n_test'), 'all')} test "
        f"images{pooled}); {c('train.epochs')} epochs of plain SGD with batch {c('train.batch_size')}"
        f"{'' if not c('train.augment') else ' and flip/crop augmentation'}, LR ÷ 10 after {decay} of "
        f"training; initial LR selected per model from {{{lrs}}} by final training loss; "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}); "
        f"{c('measure.n_pairs')} pairs of size-{c('measure.batch_size')} minibatch gradients measured {when}"
    )


def channel_description(study: Study) -> str:
    """The stage widths of a CNN study relative to the paper's 16ℓ/32ℓ/64ℓ."""
    b = int(study.config_value("model.base_channels"))
    widths = f"{b}ℓ/{2 * b}ℓ/{4 * b}ℓ"
    return f"stage widths {widths} (the paper's)" if b == 16 else f"stage widths {widths} (paper: 16ℓ/32ℓ/64ℓ)"


def load_claims() -> dict[str, dict[str, Any]]:
    """The claims table (``claims.yaml``): id → checklist item, paper figure, claim, metric, direction."""
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("gradconf").joinpath("claims.yaml").read_text())


VARIANTS: dict[tuple[bool, bool], str] = {(False, False): "plain", (False, True): "+skip", (True, False): "+BN",
                                          (True, True): "+skip+BN"}


def variant_name(bn: bool, skip: bool) -> str:
    """The Fig. 4 variant of a CNN-β-ℓ with BatchNorm ``bn`` and skip connections ``skip``."""
    return VARIANTS[(bool(bn), bool(skip))]


def claim_verdicts(study: Study, ids: list[str], *, x_label: str | None = None) -> dict[str, Verdict]:
    """:func:`trend_verdict` for each claim id, along the study's swept axis at the selected LRs."""
    claims = load_claims()
    unknown = [i for i in ids if i not in claims]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; known: {', '.join(claims)}")
    not_trends = [i for i in ids if claims[i].get("kind")]
    if not_trends:
        raise ValueError(f"claims {not_trends} are not trends along an axis (kind: best or computed)")
    metrics = sorted({claims[i]["metric"] for i in ids})
    missing = [m for m in metrics if m not in study.chosen]
    if missing:
        raise ValueError(f"the study has no column {missing} (is the probe Gram or the measurement off?)")
    summary = seed_summary(study.chosen, [study.axis], metrics)
    return {
        i: trend_verdict(summary, study.axis, claims[i]["metric"], claims[i]["expect"], claim=claims[i]["claim"],
                         what=claims[i]["what"], x_label=x_label)
        for i in ids
    }


def variant_verdicts(study: Study) -> dict[str, Verdict]:
    """The Fig. 4 claims (``bn_skip_*`` in claims.yaml) for a study of the four BN/skip variants:
    depth trends of the plain, +skip and +BN variants, and +skip+BN against the others at the largest depth."""
    claims = load_claims()
    frame = study.chosen.assign(variant=[variant_name(b, s) for b, s in zip(study.chosen["model.bn"],
                                                                           study.chosen["model.skip"])])
    verdicts: dict[str, Verdict] = {}
    for cid, variant in (("bn_skip_plain_min_cos", "plain"), ("bn_skip_skip_min_cos", "+skip"),
                         ("bn_skip_bn_min_cos", "+BN")):
        c = claims[cid]
        summary = seed_summary(frame[frame["variant"] == variant], [study.axis], [c["metric"]])
        verdicts[cid] = trend_verdict(summary, study.axis, c["metric"], c["expect"], claim=c["claim"],
                                      what=c["what"], x_label="β")
    deepest = frame[frame[study.axis] == frame[study.axis].max()]
    for cid in ("bn_skip_best_loss", "bn_skip_best_min_cos", "bn_skip_best_test_acc"):
        c = claims[cid]
        summary = seed_summary(deepest, ["variant"], [c["metric"]])
        verdicts[cid] = best_group_verdict(summary, "variant", c["target"], c["metric"], c["higher_is_better"],
                                           claim=c["claim"], what=f"{c['what']} (β = {deepest[study.axis].iloc[0]})")
    return verdicts


def _claim_trend(frame: pd.DataFrame, x: str, cid: str, x_label: str, unit: str = "seed") -> Verdict:
    c = load_claims()[cid]
    summary = seed_summary(frame, [x], [c["metric"]])
    return trend_verdict(summary, x, c["metric"], c["expect"], claim=c["claim"], what=c["what"], x_label=x_label,
                         unit=unit)


def initialisation_verdicts(at_init: pd.DataFrame, linear: Study, mnist: Study | None = None) -> dict[str, Verdict]:
    """Thm 6.1 claims (``orth_*``/``gauss_*`` in claims.yaml) from three sources.

    ``at_init``: :func:`gradconf.init_confusion.init_scheme_draws` with inits named ``orthogonal`` and
    ``gaussian`` (draws play the role of seeds); ``linear``: the ``init_linear`` study (deep linear nets
    trained briefly); ``mnist``: the ``init_mnist`` study, judged per activation at the largest depth.
    """
    draws = at_init.rename(columns={"draw": "seed"})
    orthogonal, gaussian = draws[draws["init"] == "orthogonal"], draws[draws["init"] == "gaussian"]
    verdicts = {
        "orth_init_cos_flat": _claim_trend(orthogonal, "depth", "orth_init_cos_flat", "depth", unit="draw"),
        "orth_init_eta_flat": _claim_trend(orthogonal, "depth", "orth_init_eta_flat", "depth", unit="draw"),
        "gauss_init_cos_depth": _claim_trend(gaussian, "depth", "gauss_init_cos_depth", "depth", unit="draw"),
    }
    chosen = linear.chosen
    verdicts["orth_train_loss_flat"] = _claim_trend(chosen[chosen["init.scheme"] == "orthogonal"], linear.axis,
                                                    "orth_train_loss_flat", "depth")
    verdicts["gauss_train_loss_depth"] = _claim_trend(chosen[chosen["init.scheme"] == "gaussian"], linear.axis,
                                                      "gauss_train_loss_depth", "depth")
    if mnist is not None:
        c = load_claims()["orth_mnist_best_loss"]
        deepest = mnist.chosen[mnist.chosen[mnist.axis] == mnist.chosen[mnist.axis].max()]
        for activation, group in deepest.groupby("model.activation"):
            summary = seed_summary(group, ["init.scheme"], [c["metric"]])
            verdicts[f"orth_mnist_best_loss__{activation}"] = best_group_verdict(
                summary, "init.scheme", c["target"], c["metric"], c["higher_is_better"], claim=c["claim"],
                what=f"{c['what']} ({activation}, depth {group[mnist.axis].iloc[0]})")
    return verdicts


def claim_verdict(cid: str, verdict: str, evidence: str) -> Verdict:
    """A verdict on claim ``cid`` of claims.yaml, judged by a chapter's own computation."""
    claims = load_claims()
    if cid not in claims:
        raise ValueError(f"unknown claim {cid!r}; known: {', '.join(claims)}")
    if claims[cid].get("kind") != "computed":
        raise ValueError(f"claim {cid!r} is judged from a study's results, not by a chapter's own computation")
    return Verdict(claim=claims[cid]["claim"], evidence=evidence, verdict=verdict)


VERDICT_RECORDS = "verdict_records"


def verdict_records(chapter: str, verdicts: dict[str, Verdict]) -> list[dict[str, Any]]:
    """Rows for the summary chapter: claim id (a key of claims.yaml, optionally with a suffix after
    ``__``), checklist item, paper reference, chapter, claim, evidence and verdict."""
    claims = load_claims()
    rows = []
    for key, v in verdicts.items():
        cid = key.split("__")[0]
        base = claims.get(cid)
        if base is None:
            raise ValueError(f"verdict {key!r} names no claim of claims.yaml")
        rows.append({"id": key, "checklist": int(base["checklist"]), "paper": base["paper"], "chapter": chapter,
                     "claim": v.claim, "evidence": v.evidence, "verdict": v.verdict})
    return rows


def collect_verdicts(folder: str | os.PathLike) -> pd.DataFrame:
    """Every chapter's verdict records from the executed notebooks in ``folder`` (one preset's
    executions), ordered by the paper.md §7 checklist item."""
    import json

    rows: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        if path.name.endswith((".failed.ipynb", ".tmp.ipynb")):
            continue
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                if out.get("metadata", {}).get("scrapbook", {}).get("name") == VERDICT_RECORDS:
                    rows.extend(json.loads(out["data"]["application/papermill.record/text/plain"]))
    frame = pd.DataFrame(rows, columns=["id", "checklist", "paper", "chapter", "claim", "evidence", "verdict"])
    return frame.sort_values(["checklist", "chapter", "id"], kind="stable").reset_index(drop=True)


def metric_correlations(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Spearman rank correlations between ``metrics`` across the rows of ``frame`` (one per run)."""
    ranks = frame[metrics].rank()
    return ranks.corr()
