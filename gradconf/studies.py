"""Trained-network studies (paper Figs. 2-4, App. A): run a named sweep at a preset, select each
model's learning rate as the paper does, and reduce the runs to tidy frames.

A :class:`Study` holds every frame a chapter plots; :mod:`gradconf.verdicts` judges the paper's claims on it.
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
from .sweeps import choose_lrs, judged_configs, lr_pilot, model_id, pilot_grid, sweep_configs, sweep_stages

RESULTS_ENV = "GRADCONF_RESULTS"

#: Run-config fields that move a CNN sweep from CIFAR-10 to MNIST (one input channel).
IMAGE_DATASETS: dict[str, dict[str, Any]] = {
    "cifar10": {"dataset": "cifar10", "model.in_channels": 3},
    "mnist": {"dataset": "mnist", "model.in_channels": 1},
}

def results_store(preset: str) -> ResultStore:
    """The result store of a preset: ``$GRADCONF_RESULTS/<preset>``, else ``~/.cache/gradconf/results``.

    Runs are keyed by their config and the compute version (``experiment.COMPUTE_VERSION``);
    ``python -m gradconf book`` points it at ``results/`` in the project, the committed store.
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
        """The value of a config column that every run shares (raises if they differ); ``None`` when it is
        unset in every run (e.g. ``n_train`` for the full training set)."""
        if self.runs[column].isna().all():
            return None
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
        rule = "fixed" if runs["train.lr"].nunique() == 1 else "judged seeds"
        chosen = best_lr(runs, models).assign(lr_at_edge=False, lr_rule=rule)
    else:  # the pilot seed chose each model's LR; only the judged seeds are kept
        # the sweep's own grid, not the union of its stages: the judged runs' (extended) LRs are not grid points
        base = sweep_configs(sweep, preset, overrides=overrides, grid=grid)
        judged = judged_configs(base, store, pilot)
        edge = {mid: ch.at_edge for mid, ch in choose_lrs(pilot_grid(base, pilot), store, pilot).items()}
        at_edge = {c.key: edge[model_id(c)] for c in judged}
        # a one-LR grid leaves the pilot nothing to choose: say so rather than credit it with a choice
        rule = "fixed" if len({c.train.lr for c in base}) == 1 else f"pilot seed {pilot.seed}"
        chosen = runs[runs["key"].isin(at_edge)].assign(lr_at_edge=lambda f: f["key"].map(at_edge), lr_rule=rule)
    keys = set(chosen["key"])
    chosen_records = [r for r in records if r["key"] in keys]
    return Study(
        sweep=sweep, preset=preset, axis=axis, runs=runs, chosen=chosen,
        epochs=epochs_frame(chosen_records), cosines=cosines_frame(chosen_records),
        compute_s=float(sum(r["provenance"]["wall_s"] for r in records)), ran=ran,
    )


def sweep_overrides(sweep: str, preset: str) -> dict[str, Any]:
    """The overrides the chapters apply to ``sweep``: a CIFAR-10 sweep runs on :func:`image_dataset`."""
    first = sweep_configs(sweep, preset)[0]
    return dict(IMAGE_DATASETS[image_dataset()]) if first.dataset == "cifar10" else {}


def pending_sweep_runs(sweep: str, preset: str, store: ResultStore) -> tuple[int, bool]:
    """How many runs of ``sweep`` at ``preset`` (as the chapters run it) ``store`` lacks, and whether that count
    is final (an incomplete LR pilot hides the stages after it)."""
    for name, stage in sweep_stages(sweep, preset, store, overrides=sweep_overrides(sweep, preset)):
        absent = sum(not store.has(c.key) for c in stage)
        if absent:
            return absent, name in ("all runs", "judged seeds")
    return 0, True


def image_study(sweep: str, preset: str, axis: str, *, values: list | None, seeds: list | None, lrs: list | None,
                epochs: int | None, n_train: int | None, by: tuple[str, ...] = ()) -> Study:
    """The CNN chapters' study (paper Figs. 2-4): :func:`run_study` on :func:`image_dataset` (CIFAR-10,
    else MNIST), ``axis`` swept over ``values``; ``None`` keeps the preset's value."""
    # the same overrides pending_sweep_runs counts with, so `make book` and the chapter agree on the run keys
    return run_study(sweep, preset, axis, by=by, progress=False,
                     overrides={**sweep_overrides(sweep, preset), "train.epochs": epochs, "n_train": n_train},
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


def probe_gradient_norm(frame: pd.DataFrame) -> pd.Series:
    """‖G‖, the norm of the probe set's mean gradient, from its exact Gram's summary columns:
    ‖G‖² = (mean ‖g_i‖² + (n − 1) · mean_{i≠j} ⟨g_i, g_j⟩) / n."""
    n = frame["probe_n"].astype(float)
    sq = (frame["probe_mean_sq_norm"] + (n - 1) * frame["probe_mean_inner"]) / n
    return np.sqrt(sq.clip(lower=0))


def fit_frame(study: Study) -> pd.DataFrame:
    """One row per (chosen run, measured epoch): training loss, the minibatch and probe confusion, and the fit
    beside it: ‖G‖ of the probe set and the gradient noise scale B_simple (paper §8; :doc:`measurement`)."""
    e = study.epochs
    measured = e[e["cos_min"].notna()].copy()
    if "probe_mean_inner" in measured:
        measured["probe_grad_norm"] = probe_gradient_norm(measured)
    return measured.reset_index(drop=True)


def matched_loss_frame(study: Study, loss: float) -> pd.DataFrame:
    """Each chosen run at the first measured epoch whose training loss is ≤ ``loss`` (runs that never get
    there are left out): compares models at matched fit instead of at the last epoch."""
    fit = fit_frame(study)
    reached = fit[fit["train_loss"] <= loss].sort_values("epoch")
    return reached.groupby("key", sort=False).head(1).reset_index(drop=True)


def epochs_to_loss(study: Study, loss: float) -> pd.DataFrame:
    """Per chosen run, the first epoch (≥ 1) whose epoch-mean training loss is ≤ ``loss``: how long a model
    takes to leave its initial plateau (paper Fig. 2(a): deeper plain nets train more slowly). Runs that
    never get there have ``epochs_to_loss`` NaN and ``reached`` False."""
    e = study.epochs[(study.epochs["epoch"] >= 1) & (study.epochs["train_loss"] <= loss)]
    first = e.groupby("key")["epoch"].min()
    out = study.chosen.copy()
    out["epochs_to_loss"] = out["key"].map(first).astype(float)
    out["reached"] = out["epochs_to_loss"].notna()
    return out.reset_index(drop=True)


def schedule_study(sweep: str, preset: str) -> Study:
    """Every run of a schedule sweep (``cnn_scale``: one model under candidate data sizes, batches, epochs
    and LRs), each its own schedule: no LR is selected, so ``chosen`` holds every run. Runs on
    :func:`image_dataset`, reusing the store like :func:`run_study`."""
    store = results_store(preset)
    configs = sweep_configs(sweep, preset, overrides=sweep_overrides(sweep, preset))
    ran = run_sweep(configs, store, progress=False).ran
    records = store.records(configs)
    runs = runs_frame(records)
    return Study(sweep=sweep, preset=preset, axis="n_train", runs=runs,
                 chosen=runs.assign(lr_at_edge=False, lr_rule="fixed"), epochs=epochs_frame(records),
                 cosines=cosines_frame(records), compute_s=float(sum(r["provenance"]["wall_s"] for r in records)),
                 ran=ran)


def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and \
            (b is None or (isinstance(b, float) and math.isnan(b)))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and \
            all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def runs_trained_alike(study: Study, sweep: str, preset: str) -> pd.DataFrame:
    """The judged runs of ``study`` (rows of ``study.chosen``) whose training is that of a run of ``sweep`` at
    ``preset``: the same config in everything but what is measured (``measure.*``), hence the same training
    trajectory. E.g. the chapter runs that the ``cnn_scale`` schedule search also trained, so that the scale
    was chosen partly on them. Computes nothing."""
    from .experiment import flatten_config

    wanted = [{k: v for k, v in flatten_config(c.to_dict()).items() if not k.startswith("measure.")}
              for c in sweep_configs(sweep, preset, overrides=sweep_overrides(sweep, preset))]
    rows = study.chosen.to_dict("records")
    hit = [any(all(_same_value(row.get(k), v) for k, v in flat.items()) for flat in wanted) for row in rows]
    return study.chosen[hit]


def trained_alike_text(study: Study, preset: str, symbol: str, sweep: str = "cnn_scale") -> str:
    """One sentence for a CNN chapter: which of its judged runs (:func:`runs_trained_alike`) the schedule
    search ``sweep`` at ``preset`` also trained, so that the CPU scale is not independent of them;
    ``symbol`` names the study's axis (β, ℓ)."""
    shared = runs_trained_alike(study, sweep, preset)
    if not len(shared):
        return "No judged run of this chapter trained as a run of the schedule search did."
    return ("Some judged runs of this chapter trained exactly as runs of the schedule search did (the same config "
            "but for what is measured, hence the same training): "
            + "; ".join(f"{symbol} = {int(r[study.axis])}, seed {int(r['seed'])}, LR {r['train.lr']:g}"
                        for _, r in shared.iterrows())
            + ". The scale was chosen partly on them, so it is not independent of those judged runs; the other runs "
              "played no part in choosing it.")


def schedule_table(study: Study) -> pd.DataFrame:
    """One row per run of a schedule study (the ``cnn_scale`` sweep): seed, training-set size, batch, epochs, SGD
    steps and example passes (the cost, independent of the machine), LR, loss at initialisation and at the
    end, the final loss over the regime's reference (:func:`gradconf.verdicts.regime_reference_loss`) and
    whether the run reached the trained regime (:func:`gradconf.verdicts.reached_regime`)."""
    from .verdicts import reached_regime, regime_reference_loss, settings

    r = study.chosen.sort_values(["seed", "train.batch_size", "n_train", "train.lr"]).reset_index(drop=True)
    n = r["n_train"].astype(int)
    steps = (n // r["train.batch_size"]) * r["train.epochs"]
    pct = 100 * settings()["trained_loss_fraction"]
    return pd.DataFrame({
        "seed": r["seed"].astype(int),
        "training images": n.map(lambda v: f"{v:,}"),
        "batch": r["train.batch_size"].astype(int),
        "epochs": r["train.epochs"].astype(int),
        "SGD steps": steps.map(lambda v: f"{v:,}"),
        "example passes": (steps * r["train.batch_size"]).map(lambda v: f"{v:,}"),
        "LR": r["train.lr"],
        "initial loss": r["initial_train_loss"].round(3),
        "final loss": r["final_train_loss"].round(3),
        "final / min(initial, ln K)": (r["final_train_loss"] / regime_reference_loss(r)).round(3),
        f"reached (≤ {pct:g} %)": reached_regime(r).map({True: "yes", False: "no"}),
    })


def ordering_by_epoch(study: Study, metric: str = "cos_min") -> pd.DataFrame:
    """How strongly ``metric`` is ordered along the swept axis at each measured epoch, per seed: the
    least-squares slope of ``metric`` on log2 of the swept value across the models of one seed (one row
    per (seed, epoch), with whether the LR has decayed by then). Paper checklist item 16: the ordering by
    width and depth should appear or sharpen late in training, near the noise floor."""
    e = study.epochs.dropna(subset=[metric])
    rows = []
    for (seed, epoch), sub in e.groupby(["seed", "epoch"]):
        x = np.log2(sub[study.axis].astype(float).to_numpy())
        if len(np.unique(x)) < 2:
            continue
        slope = float(np.polyfit(x, sub[metric].astype(float).to_numpy(), 1)[0])
        # every model decays at the same fractions of training, whatever its initial LR
        decayed = bool((sub["lr"] < sub["train.lr"]).all())
        rows.append({"seed": seed, "epoch": epoch, "decayed": decayed, "slope": slope, "models": len(sub)})
    return pd.DataFrame(rows)


def late_sharpening(ordering: pd.DataFrame, sign: float, late_fraction: float = 0.75) -> dict[str, Any]:
    """Per seed, the oriented slope (``sign`` × slope; ``sign`` = +1 where the metric should rise along the
    axis) averaged over the measured epochs before the first LR decay (``early``) and over those in the last
    ``1 − late_fraction`` of training (``late``), and their difference (``change``: positive when the ordering
    sharpened late). Also the epochs each average covers."""
    last = int(ordering["epoch"].max())
    early_epochs = sorted(ordering.loc[~ordering["decayed"] & (ordering["epoch"] >= 1), "epoch"].unique())
    late_epochs = sorted(ordering.loc[ordering["epoch"] > late_fraction * last, "epoch"].unique())
    pivot = ordering.pivot(index="seed", columns="epoch", values="slope") * sign
    early, late = pivot[early_epochs].mean(axis=1), pivot[late_epochs].mean(axis=1)
    return {"early": early, "late": late, "change": late - early, "early_epochs": [int(e) for e in early_epochs],
            "late_epochs": [int(e) for e in late_epochs]}


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
    """Per model (one value of the study's axis and of each column in ``by``, which the table shows after
    the model's name): parameters, selected LR, final training loss, test accuracy and min cosine (mean ±
    std over seeds); paper App. A.3 reports parameter counts and test accuracy."""
    keys = [study.axis, *by]
    summary = seed_summary(study.chosen, keys + ["model_name", "n_params", "train.lr"],
                           ["final_train_loss", "final_test_acc", "final_cos_min"])

    def pm(col: str, digits: int) -> pd.Series:
        return summary.apply(lambda r: f"{r[col + '_mean']:.{digits}f} ± {r[col + '_std']:.{digits}f}", axis=1)

    def pm_significant(col: str) -> pd.Series:
        # losses span decades across models (1e-4 to 2): significant figures, not decimals
        return summary.apply(lambda r: f"{r[col + '_mean']:.3g} ± {r[col + '_std']:.2g}", axis=1)

    failed = (study.chosen.assign(_failed=study.chosen["status"] != "ok")
              .groupby(keys + ["model_name", "n_params", "train.lr"], dropna=False)["_failed"].sum()
              .reset_index(drop=True))
    return pd.DataFrame({
        "model": summary["model_name"],
        **{column.split(".")[-1]: summary[column].to_numpy() for column in by},
        "parameters": summary["n_params"].map(lambda n: f"{n:,}"),
        "selected LR": summary["train.lr"].map(lambda lr: f"{lr:g}"),
        "final train loss": pm_significant("final_train_loss"),
        "test accuracy": pm("final_test_acc", 3),
        "min cosine (last epoch)": pm("final_cos_min", 3),
        "seeds": summary["seeds"],
        "diverged": failed.astype(int).to_numpy(),
    })


def pilot_table(study: Study, by: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """Per model, the final training loss at each LR tried on the pilot seed ("diverged" where the run
    diverged; blank where that LR was not tried), the selected LR marked ``*`` and flagged when it lies
    on the edge of the (extended) grid; None when the study has no LR pilot. The paper tunes the LR per
    model by lowest final training loss (§7); this shows how much that choice mattered."""
    rule = str(study.chosen["lr_rule"].iloc[0]) if "lr_rule" in study.chosen and len(study.chosen) else ""
    if not rule.startswith("pilot seed "):
        return None
    pilot = study.runs[study.runs["seed"] == int(rule.removeprefix("pilot seed "))]
    keys = [study.axis, *by, "model_name"]
    selected = study.chosen.groupby(keys).agg(lr=("train.lr", "first"), edge=("lr_at_edge", "first"))
    lrs = sorted(pilot["train.lr"].unique())
    rows = []
    for model, runs in pilot.groupby(keys, sort=True):
        lr, edge = selected.loc[model, "lr"], bool(selected.loc[model, "edge"])
        row = {"model": model[-1], **dict(zip(keys[:-1], model[:-1]))}
        row.update({f"LR {v:g}": "" for v in lrs})
        for r in runs.to_dict("records"):
            cell = "diverged" if r["status"] != "ok" else f"{r['final_train_loss']:.3g}"
            row[f"LR {r['train.lr']:g}"] = cell + (" *" if r["train.lr"] == lr else "")
        row["selected LR"] = f"{lr:g}" + (" (grid edge)" if edge else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _lr_span(lrs: list[float]) -> str:
    lrs = sorted(set(lrs))
    return f"LR {lrs[0]:g}" if len(lrs) == 1 else f"{len(lrs)} LRs, {lrs[0]:g}–{lrs[-1]:g}"


def diverged_models(study: Study, by: tuple[str, ...] = ()) -> list[str]:
    """The models whose every judged run diverged at the selected LR, as ``model_name (values of by)``
    followed by the LRs tried: "at every LR tried (…)" when every run of the model in ``study.runs``
    (the pilot's included) diverged, else "at its selected LR …" (another LR trained on some seed)."""
    keys = [study.axis, *by, "model_name"]
    failed = study.chosen.groupby(keys, sort=True)["status"].agg(lambda s: bool((s != "ok").all()))
    tried = study.runs.groupby(keys, sort=True)
    names = []
    for key, all_failed in failed.items():
        if all_failed:
            extra = ", ".join(str(v) for v in key[1:-1])
            name = f"{key[-1]} ({extra})" if extra else str(key[-1])
            runs = tried.get_group(key)
            if (runs["status"] != "ok").all():
                names.append(f"{name} at every LR tried ({_lr_span(runs['train.lr'].tolist())})")
            else:
                selected = study.chosen.set_index(keys).loc[[key], "train.lr"].iloc[0]
                names.append(f"{name} at its selected LR {selected:g}")
    return names


def partly_diverged_models(study: Study, by: tuple[str, ...] = ()) -> list[str]:
    """The models of which some but not all judged runs diverged at the selected LR, as ``model_name (values
    of by): k of n seeds at LR x``. Their metrics are means over the seeds that did not diverge."""
    keys = [study.axis, *by, "model_name"]
    out = []
    for key, runs in study.chosen.groupby(keys, sort=True):
        bad = int((runs["status"] != "ok").sum())
        if 0 < bad < len(runs):
            extra = ", ".join(str(v) for v in key[1:-1])
            name = f"{key[-1]} ({extra})" if extra else str(key[-1])
            out.append(f"{name}: {bad} of {len(runs)} seeds at LR {runs['train.lr'].iloc[0]:g}")
    return out


# ----------------------------------------------------------------------------------------------
# describing the scale of a study (every figure states it)
# ----------------------------------------------------------------------------------------------

DATASET_NAMES = {"cifar10": ("CIFAR-10", 32), "mnist": ("MNIST", 28), "sphere": ("unit-sphere data", None)}


def _fmt_count(value: Any, full: str) -> str:
    return full if value is None or (isinstance(value, float) and math.isnan(value)) else f"{int(value):,}"


def _lr_rule(study: Study) -> str:
    rule = study.chosen["lr_rule"].iloc[0] if "lr_rule" in study.chosen and len(study.chosen) else ""
    return {"fixed": " (one LR: fixed)", "judged seeds": " on the judged seeds themselves"}.get(
        rule, f" on {rule}, then run on the judged seeds" if rule else "")


def measure_schedule_text(every: int, dense_after: float) -> str:
    """When the cosines are measured (:func:`gradconf.train.is_measured`), in words."""
    if every == 1 or dense_after == 0:
        return "every epoch"
    if dense_after >= 1:
        return f"every {every} epochs and at the last"
    return f"every {every} epochs and at every epoch after {100 * dense_after:g} % of training"


# the protocol fields in which a preset may differ from the paper's, in the order a reader compares them
PROTOCOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("n_train", "training images"), ("downsample", "image side"), ("model.base_channels", "first-stage channels per ℓ"),
    ("train.epochs", "epochs"), ("train.batch_size", "batch"), ("train.augment", "flip/crop augmentation"),
    ("measure.n_pairs", "minibatch pairs per measurement"), ("measure.batch_size", "size of each minibatch"),
    ("schedule", "measured"), ("seeds", "judged seeds"),
)


def _protocol(values: dict[str, Any], dataset: str) -> dict[str, str]:
    side = DATASET_NAMES[dataset][1]
    n = values["n_train"]
    return {
        "n_train": "all" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(n):,}",
        "downsample": f"{side // int(values['downsample'])}" if side else "—",
        "model.base_channels": f"{int(values['model.base_channels'])}",
        "train.epochs": f"{int(values['train.epochs'])}",
        "train.batch_size": f"{int(values['train.batch_size'])}",
        "train.augment": "yes" if bool(values["train.augment"]) else "no",
        "measure.n_pairs": f"{int(values['measure.n_pairs'])}",
        "measure.batch_size": f"{int(values['measure.batch_size'])}",
        "schedule": measure_schedule_text(int(values["measure.every"]), float(values["measure.dense_after"])),
        "seeds": f"{int(values['seeds'])}",
    }


def protocol_differences(study: Study) -> list[str]:
    """How the protocol of ``study`` differs from its sweep's ``paper`` preset (the paper's protocol as far
    as it is known, sweeps.yaml), one ``"<field>: <ours> (paper: <theirs>)"`` per field of
    :data:`PROTOCOL_FIELDS` that differs. The learning rate is left out: each chapter states its rule."""
    from .experiment import flatten_config

    paper = [flatten_config(c.to_dict()) for c in sweep_configs(study.sweep, "paper")]
    theirs = {**paper[0], "seeds": len({c["seed"] for c in paper})}
    ours = {f: study.config_value(f) for f, _ in PROTOCOL_FIELDS if f not in ("schedule", "seeds")}
    ours.update({"measure.every": study.config_value("measure.every"),
                 "measure.dense_after": study.config_value("measure.dense_after"), "seeds": len(study.seeds)})
    dataset = study.config_value("dataset")
    a, b = _protocol(ours, dataset), _protocol(theirs, theirs["dataset"])
    return [f"{label}: {a[f]} (paper: {b[f]})" for f, label in PROTOCOL_FIELDS if a[f] != b[f]]


def protocol_text(study: Study) -> str:
    """:func:`protocol_differences` as one sentence for a chapter's "How this differs" section."""
    diffs = protocol_differences(study)
    if not diffs:
        return f"At preset {study.preset} the runs follow the paper's protocol as far as it is known."
    return f"At preset {study.preset}, against the paper's protocol as far as it is known: {'; '.join(diffs)}."


def scale_description(study: Study) -> str:
    """One sentence with the dataset, its size, the schedule, LR grid, seeds and measurement of a study."""
    c = study.config_value
    name, side = DATASET_NAMES[c("dataset")]
    pooled = ""
    if side and c("downsample") > 1:
        s = side // c("downsample")
        pooled = f", average-pooled to {s} × {s}"
    lrs = ", ".join(f"{v:g}" for v in sorted(study.runs["train.lr"].unique()))
    fixed = "lr_rule" in study.chosen and len(study.chosen) and study.chosen["lr_rule"].iloc[0] == "fixed"
    lr_text = (f"one initial LR, {lrs}, for every model" if fixed and study.runs["train.lr"].nunique() == 1 else
               f"initial LR selected per model by final training loss{_lr_rule(study)} (LRs tried, over all "
               f"models: {{{lrs}}})")
    decay = " and ".join(f"{100 * f:g} %" for f in c("train.lr_decay_at"))
    when = measure_schedule_text(int(c("measure.every")), float(c("measure.dense_after")))
    seeds = study.seeds
    return (
        f"{name} ({_fmt_count(c('n_train'), 'all')} training and {_fmt_count(c('n_test'), 'all')} test "
        f"images{pooled}); {c('train.epochs')} epochs of plain SGD with batch {c('train.batch_size')}"
        f"{'' if not c('train.augment') else ' and flip/crop augmentation'}, LR ÷ 10 after {decay} of "
        f"training; {lr_text}; "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}); "
        f"{c('measure.n_pairs')} pairs of size-{c('measure.batch_size')} minibatch gradients measured {when}"
    )


def channel_description(study: Study) -> str:
    """The stage widths of a CNN study relative to the paper's 16ℓ/32ℓ/64ℓ."""
    b = int(study.config_value("model.base_channels"))
    widths = f"{b}ℓ/{2 * b}ℓ/{4 * b}ℓ"
    return (f"stage widths {widths} (the paper's)" if b == 16
            else f"stage widths {widths} (paper: 16ℓ/32ℓ/64ℓ; the suffix /b{b} of the model names)")


def metric_correlations(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Spearman rank correlations between ``metrics`` across the rows of ``frame`` (one per run)."""
    ranks = frame[metrics].rank()
    return ranks.corr()
