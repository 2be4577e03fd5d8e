"""Verdicts on the paper's claims: a stated test per claim kind, four labels, a trained-regime gate.

Every claim of ``claims.yaml`` names its kind, and each kind has one test with a known error rate. Every
interval is two-sided 95 %, so each wrong label has a nominal rate of at most 2.5 %; with 3 seeds the
Welch–Satterthwaite approximation adds a little, and ``tests/test_verdicts.py`` checks by simulation, at
the seed counts the book uses, that each stays below 5 %:

- ``trend``: the metric moves in the claimed direction along a swept axis. The statistic is the
  least-squares slope of the per-value means on log2 of the axis (the change per doubling), a linear
  contrast whose standard error and degrees of freedom follow Welch–Satterthwaite, so each value of
  the axis keeps its own variance and seeds are the unit. Two-sided 95 % interval: *reproduced* when
  it lies on the claimed side of 0, *contradicted* when on the other (each at most 2.5 % under no effect).
- ``flat`` ("does not depend on"): the same slope, judged by two one-sided tests (TOST) against a
  stated margin: *reproduced* when the 95 % interval lies inside (−margin, margin) (at most 2.5 % when
  the true slope is at the margin), *contradicted* when it lies entirely beyond one side.
- ``bound`` ("does not grow"): one-sided: *reproduced* when the 95 % interval's upper end is below the
  margin, *contradicted* when its lower end is above it (each at most 2.5 %).
- ``best`` (group ``target`` has the best metric): Welch differences between the target and every other
  group. *Reproduced* when the target beats each of them at one-sided 2.5 % (an intersection–union test,
  at most 2.5 % overall); *contradicted* when some group beats the target at one-sided 2.5 %/(k−1)
  (Bonferroni over the k−1 rivals).
- ``difference`` (group a above group b by more than a margin) and ``sign`` (a mean on the claimed side of
  a value): Welch or one-sample t intervals, 95 % two-sided, labelled as for ``trend``.
- ``tolerance``: a deterministic check (identities, bounds): *reproduced* within the tolerance,
  *contradicted* outside it. Such claims are sanity checks, not evidence, and are counted apart.

A claim is *not tested*, with its reason, when fewer than ``min_seeds`` runs back a value, when no two
values of the axis are left after dropping diverged models, when a claim about trained networks has
fewer than two models in the trained regime (final training loss ≤ ``trained_loss_fraction`` of the
loss at initialisation, capped at ln K for a classifier, in every seed), or when the learning rate of a model that takes part (one not
excluded as diverged or untrained) sits on the edge of its grid.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

LABELS: tuple[str, ...] = ("reproduced", "contradicted", "inconclusive", "not tested")
REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED = LABELS
ROLES: dict[str, str] = {
    "paper": "claims of the paper",
    "sanity": "sanity checks (identities, lemmas and bounds that hold by construction)",
    "own": "the book's own claims",
}
KINDS = ("trend", "flat", "bound", "best", "difference", "sign", "tolerance")
RECORD_COLUMNS = ["id", "checklist", "paper", "chapter", "role", "kind", "claim", "evidence", "test", "label",
                  "reason", "regime"]
VERDICT_RECORDS = "verdict_records"


# ----------------------------------------------------------------------------------------------
# claims as data
# ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _claims_file() -> dict[str, Any]:
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("gradconf").joinpath("claims.yaml").read_text())


def settings() -> dict[str, Any]:
    """The shared test settings of ``claims.yaml``: ``alpha``, ``min_seeds``, ``trained_loss_fraction``."""
    return dict(_claims_file()["settings"])


def load_claims() -> dict[str, dict[str, Any]]:
    """Claim id → its row of ``claims.yaml`` (checklist item, paper reference, role, kind, test parameters)."""
    return {k: dict(v) for k, v in _claims_file()["claims"].items()}


def claim(cid: str) -> dict[str, Any]:
    """One claim of ``claims.yaml``; the id may carry a ``__suffix`` (one claim judged per group)."""
    claims = load_claims()
    base = cid.split("__")[0]
    if base not in claims:
        raise ValueError(f"unknown claim {cid!r}; known: {', '.join(claims)}")
    return claims[base]


def with_group(cid: str, verdict: "Verdict") -> "Verdict":
    """``verdict`` with its claim text opened by the group of ``cid`` in parentheses (``bounded_depth__gaussian``
    → "(gaussian) ..."), so that one claim judged per group can be told apart wherever it is listed."""
    from dataclasses import replace

    group = cid.partition("__")[2].replace("_", " ")
    if not group or verdict.claim.startswith(f"({group}) ") or claim(cid).get("group_in_evidence"):
        return verdict
    return replace(verdict, claim=f"({group}) {verdict.claim}")


# ----------------------------------------------------------------------------------------------
# verdicts
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """A claim of the paper, what our runs show, the test that decided, and one of :data:`LABELS`.

    ``reason`` says why a claim was not tested (required then, and only then). ``estimate`` is the tested
    statistic with its interval, as the evidence states it, where the judge has one to quote (e.g. ``slope
    per doubling +0.053, 95 % CI [...] (df 2.5)``), so that prose can cite it without parsing the evidence."""

    claim: str
    label: str
    evidence: str
    test: str
    reason: str = ""
    estimate: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; allowed: {', '.join(LABELS)}")
        if (self.label == NOT_TESTED) != bool(self.reason):
            raise ValueError("a reason is given exactly when a claim is not tested")

    @property
    def title(self) -> str:
        """The label, with its reason when not tested (``not tested: regime not reached``)."""
        return f"{self.label}: {self.reason}" if self.reason else self.label

    def markdown(self, role: str = "paper") -> str:
        """The verdict as one markdown paragraph; ``role`` (``claims.yaml``) names whose claim it is."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        whose, result = {"paper": ("Paper", "Ours"), "sanity": ("Check", "Result"),
                         "own": ("The book's claim", "Result")}[role]
        test = f" *Test:* {self.test}" if self.test else ""
        return f"**{self.title[0].upper() + self.title[1:]}.** {whose}: {self.claim} {result}: {self.evidence}{test}"


def not_tested(cid: str, reason: str, evidence: str) -> Verdict:
    """Claim ``cid`` left untested, with ``reason`` (e.g. ``"regime not reached"``)."""
    return Verdict(claim=claim(cid)["claim"], label=NOT_TESTED, evidence=evidence, test=describe_test(cid),
                   reason=reason)


# ----------------------------------------------------------------------------------------------
# intervals
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """An estimate with its standard error, degrees of freedom and a two-sided interval at ``level``."""

    estimate: float
    se: float
    df: float
    level: float

    def _half(self) -> float:
        from scipy import stats

        if self.se == 0:
            return 0.0
        return float(stats.t.ppf(0.5 + self.level / 2, self.df)) * self.se

    @property
    def lo(self) -> float:
        return self.estimate - self._half()

    @property
    def hi(self) -> float:
        return self.estimate + self._half()

    def at(self, level: float) -> "Interval":
        return Interval(self.estimate, self.se, self.df, level)

    def text(self, digits: int = 3) -> str:
        return (f"{self.estimate:+.{digits}f}, {100 * self.level:.0f} % CI [{self.lo:+.{digits}f}, "
                f"{self.hi:+.{digits}f}] (df {self.df:.1f})")


def _clean(values: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(values), dtype=float)
    return a[np.isfinite(a)]


def _satterthwaite(parts: np.ndarray, counts: np.ndarray) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent variance terms ``parts``."""
    denom = float(np.sum(parts ** 2 / (counts - 1)))
    return float(np.sum(parts) ** 2 / denom) if denom > 0 else math.inf


def contrast_interval(groups: Sequence[tuple[float, Iterable[float]]], level: float = 0.95, *,
                      log2_x: bool = True) -> Interval:
    """Slope of the group means on log2 x (change per doubling of x), by a Welch linear contrast.

    ``groups``: (x, values) with ≥ 2 finite values each and ≥ 2 distinct x. The slope is the least-squares
    slope through the group means, Σ c_k m_k with c_k = (u_k − ū)/Σ(u_j − ū)²; its variance Σ c_k² s_k²/n_k
    keeps each group's own variance (so a noisier deep model does not borrow a shallow one's precision)."""
    xs = np.array([float(x) for x, _ in groups])
    values = [_clean(v) for _, v in groups]
    if len(set(xs)) < 2:
        raise ValueError(f"a slope needs at least two distinct values, got {sorted(set(xs))}")
    if min(len(v) for v in values) < 2:
        raise ValueError("every value needs at least two finite runs for a standard error")
    if log2_x and (xs <= 0).any():
        raise ValueError(f"a slope per doubling needs positive values of x, got {sorted(set(xs))}")
    u = np.log2(xs) if log2_x else xs
    c = (u - u.mean()) / np.sum((u - u.mean()) ** 2)
    means = np.array([v.mean() for v in values])
    counts = np.array([len(v) for v in values], dtype=float)
    parts = c ** 2 * np.array([v.var(ddof=1) for v in values]) / counts
    return Interval(float(c @ means), float(math.sqrt(parts.sum())), _satterthwaite(parts, counts), level)


def welch_interval(a: Iterable[float], b: Iterable[float], level: float = 0.95) -> Interval:
    """mean(a) − mean(b) with Welch's standard error and degrees of freedom."""
    a, b = _clean(a), _clean(b)
    if min(len(a), len(b)) < 2:
        raise ValueError("Welch's test needs at least two finite values per group")
    parts = np.array([a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)])
    return Interval(float(a.mean() - b.mean()), float(math.sqrt(parts.sum())),
                    _satterthwaite(parts, np.array([len(a), len(b)], dtype=float)), level)


def mean_interval(values: Iterable[float], level: float = 0.95) -> Interval:
    """One-sample t interval of the mean."""
    v = _clean(values)
    if len(v) < 2:
        raise ValueError("a t interval needs at least two finite values")
    return Interval(float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))), float(len(v) - 1), level)


def binomial_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson (exact) two-sided interval for a binomial probability: each end misses with
    probability at most (1 − level)/2, and the interval is not empty at 0 or ``trials`` successes, where a
    binomial standard error would be 0."""
    from scipy import stats

    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    tail = (1 - level) / 2
    lo = 0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(stats.beta.ppf(1 - tail, successes + 1, trials - successes))
    return lo, hi


# ----------------------------------------------------------------------------------------------
# decisions (each with the error rate the module docstring states)
# ----------------------------------------------------------------------------------------------

def directional_label(interval: Interval, sign: float) -> str:
    """Two-sided interval on the claimed side of 0 → reproduced, on the other side → contradicted."""
    lo, hi = sign * interval.lo, sign * interval.hi
    lo, hi = min(lo, hi), max(lo, hi)
    return REPRODUCED if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE


def equivalence_label(interval: Interval, margin: float) -> str:
    """TOST: interval inside (−margin, margin) → reproduced; entirely beyond ±margin → contradicted."""
    if -margin < interval.lo and interval.hi < margin:
        return REPRODUCED
    return CONTRADICTED if interval.lo > margin or interval.hi < -margin else INCONCLUSIVE


def bound_label(interval: Interval, margin: float, sign: float) -> str:
    """"sign·estimate does not exceed margin": upper end below → reproduced, lower end above → contradicted."""
    lo, hi = sorted((sign * interval.lo, sign * interval.hi))
    return REPRODUCED if hi < margin else CONTRADICTED if lo > margin else INCONCLUSIVE


def best_group_label(target: Iterable[float], others: dict[str, Iterable[float]], higher_is_better: bool,
                     alpha: float) -> tuple[str, dict[str, Interval]]:
    """Intersection–union test that ``target`` beats every group of ``others`` (see the module docstring).

    Returns the label and, per rival, the interval of (target − rival) in the better direction."""
    sign = 1.0 if higher_is_better else -1.0
    target = _clean(target)
    diffs = {name: welch_interval(sign * target, sign * _clean(v), level=1 - 2 * alpha) for name, v in others.items()}
    # IUT: the target must beat every rival at one-sided alpha; a rival beating it needs alpha/(k-1)
    if all(d.lo > 0 for d in diffs.values()):
        return REPRODUCED, diffs
    strict = 1 - 2 * alpha / max(1, len(diffs))
    if any(d.at(strict).hi < 0 for d in diffs.values()):
        return CONTRADICTED, diffs
    return INCONCLUSIVE, diffs


def level() -> float:
    """The two-sided level of every interval, 1 − 2·alpha (alpha is one-sided, in claims.yaml)."""
    return 1 - 2 * float(settings()["alpha"])


EXPECT = {"trend": ("increase", "decrease"), "bound": ("no increase", "no decrease")}


def describe_test(cid: str, x_label: str = "x", unit: str = "seed") -> str:
    """The test that decides claim ``cid``, in words, with its parameters and its ``unit`` of replication
    (seeds, or draws at initialisation; shown on every verdict)."""
    c = claim(cid)
    kind = c.get("kind", "trend")
    if kind not in KINDS:
        raise ValueError(f"claim {cid!r} has unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    if kind in EXPECT and c.get("expect") not in EXPECT[kind]:
        raise ValueError(f"claim {cid!r} ({kind}) must expect one of {EXPECT[kind]}, got {c.get('expect')!r}")
    if c.get("test"):
        return c["test"] + (" A deterministic check: reproduced within the tolerance, contradicted outside it."
                            if kind == "tolerance" and c.get("deterministic", True) else "")
    on = f"log {c['what']}" if c.get("scale") == "log" else c["what"]
    per = f"the least-squares slope of {on} per doubling of {x_label} through the per-value means (Welch " \
          f"linear contrast, {unit}s as the unit, Satterthwaite df)"
    if kind == "trend" and c.get("across"):
        return (f"{per}, at every {c['across']} separately; reproduced when its 95 % interval lies on the claimed "
                f"side of 0 at every {c['across']} (intersection–union, nominal 2.5 %), contradicted when it lies on the "
                f"opposite side at some {c['across']} at 95 % with a Bonferroni split over the {c['across']}s "
                "(nominal 2.5 %).")
    if kind == "trend":
        return (f"{per}; reproduced / contradicted when its 95 % interval excludes 0 on the claimed / opposite "
                "side (each nominal 2.5 % under no effect).")
    if kind == "flat":
        return (f"{per}; TOST with margin ±{c['margin']:g} per doubling: reproduced when the 95 % interval lies "
                "inside the margin, contradicted when it lies beyond it (each nominal 2.5 %).")
    if kind == "bound":
        grow = "growth" if c["expect"] == "no increase" else "fall"
        return (f"{per}; one-sided against a {grow} of {c['margin']:g} per doubling: reproduced when the 95 % "
                f"interval's far end stays within it, contradicted when its near end exceeds it (each nominal 2.5 %).")
    if kind == "best":
        a = 100 * float(settings()["alpha"])
        return (f"Welch differences of {on} between {c['target']} and every other group that took part: "
                f"reproduced when it beats each at one-sided {a:g} % (intersection–union), contradicted when a "
                f"rival beats it at one-sided {a:g} %/(k−1) (Bonferroni).")
    raise ValueError(f"claim {cid!r} ({kind}) needs a `test` text in claims.yaml")


# ----------------------------------------------------------------------------------------------
# judging runs: gates, then the claim's test
# ----------------------------------------------------------------------------------------------

def _capital(text: str) -> str:
    """``text`` with its first letter upper-case (it starts a sentence after the gate's notes)."""
    return text[:1].upper() + text[1:]


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def regime_reference_loss(frame: pd.DataFrame) -> pd.Series:
    """Per run: the loss the trained-regime threshold is a fraction of. The training loss at initialisation,
    but for a cross-entropy run (``train.loss``) never more than ln K (``model.num_classes`` or
    ``model.output_dim``), the loss of guessing uniformly: a BatchNorm or skip net measured in eval mode
    can start at hundreds, and a quarter of that is reached without learning anything. Frames without a ``train.loss`` column (synthetic ones,
    regression) use the initial loss as it is."""
    initial = frame["initial_train_loss"].astype(float)
    if "train.loss" not in frame:
        return initial
    classifier = frame["train.loss"] == "cross_entropy"
    if not classifier.any():
        return initial
    # the class count is model.num_classes for the CNNs and model.output_dim for the MLPs
    columns = [c for c in ("model.num_classes", "model.output_dim") if c in frame]
    classes = frame[columns].bfill(axis=1).iloc[:, 0].astype(float) if columns else pd.Series(np.nan, frame.index)
    if classes[classifier].isna().any():
        raise ValueError("cross-entropy runs need a model.num_classes or model.output_dim column for the "
                         "trained-regime reference")
    return initial.where(~classifier, np.minimum(initial, np.log(classes)))


def regime_rule_text(fraction: float | None = None) -> str:
    """The trained-regime rule in words (:func:`reached_regime`), for verdict notes and chapter prose."""
    pct = 100 * (settings()["trained_loss_fraction"] if fraction is None else fraction)
    return (f"final training loss ≤ {pct:g} % of its initial value or, for a classifier of K classes, of ln K "
            f"– the loss of uniform guessing – whichever is smaller")


def reached_regime(frame: pd.DataFrame, fraction: float | None = None) -> pd.Series:
    """Per run: finished without diverging and ended with training loss ≤ ``fraction`` × its reference
    loss (:func:`regime_reference_loss`: the loss at initialisation, capped at ln K for a classifier;
    ``claims.yaml`` settings.trained_loss_fraction)."""
    fraction = settings()["trained_loss_fraction"] if fraction is None else fraction
    ok = frame["status"] == "ok"
    return ok & (frame["final_train_loss"] <= fraction * regime_reference_loss(frame))


@dataclass(frozen=True)
class Gated:
    """The runs a claim is judged on, or why it cannot be: ``reason`` is empty when judged."""

    frame: pd.DataFrame
    notes: str
    reason: str = ""
    evidence: str = ""


def gate(frame: pd.DataFrame, group: str, cid: str, *, label: str, unit: str = "seed",
         metric: str | None = None) -> Gated:
    """Apply the not-tested rules of the module docstring to the runs of claim ``cid``, one group per value
    of ``group``; ``label`` names the group in prose (e.g. ``"β"``). A group is kept only when every run of
    it is usable (finite metric; trained regime for claims with ``regime: trained``)."""
    c, s = claim(cid), settings()
    metric = metric or c["metric"]
    if "lr_rule" in frame and (frame["lr_rule"] == "judged seeds").any():
        return Gated(frame, "", "LR selected on the judged seeds",
                     "the learning rate was chosen on the same seeds that would be judged (no pilot seed).")
    if frame.duplicated([group, "seed"]).any():
        raise ValueError(f"claim {cid!r}: several runs share a ({group}, seed); seeds must be the unit")
    if c.get("kind") == "best" and c["target"] not in set(frame[group]):
        raise ValueError(f"claim {cid!r}: no runs of its target {c['target']!r} among {sorted(set(frame[group]))}")
    counts = frame.groupby(group)["seed"].nunique()
    if counts.min() < s["min_seeds"]:
        few = ", ".join(f"{_fmt(k)} ({n})" for k, n in counts.items() if n < s["min_seeds"])
        return Gated(frame, "", f"fewer than {s['min_seeds']} {unit}s",
                     f"a verdict needs ≥ {s['min_seeds']} {unit}s per value; {label} = {few} has fewer.")
    usable = frame[metric].notna() & np.isfinite(frame[metric].astype(float))
    if "status" in frame:
        usable &= frame["status"] == "ok"
    diverged = [_fmt(v) for v in sorted(set(frame.loc[~usable, group]))]
    trained = pd.Series(True, index=frame.index)
    if c.get("regime") == "trained":
        trained = reached_regime(frame, s["trained_loss_fraction"])
    # a value already excluded as diverged is not listed again as untrained
    untrained = [_fmt(v) for v in sorted(set(frame.loc[usable & ~trained, group])) if _fmt(v) not in diverged]
    good = (usable & trained).groupby(frame[group]).all()
    kept = frame[frame[group].isin(good[good].index)]
    notes = []
    if diverged:
        notes.append(f"{label} = {', '.join(diverged)} excluded: a run diverged or gave no finite value")
    if untrained:
        notes.append(f"{label} = {', '.join(untrained)} excluded: regime not reached in some {unit} "
                     f"({regime_rule_text(s['trained_loss_fraction'])})")
    kind = c.get("kind", "trend")
    left = sorted(set(kept[group]))
    if notes and len(left) >= 2:  # exclusions depend on the outcome: say what the verdict covers
        notes.append(f"the verdict covers {label} = {', '.join(_fmt(v) for v in left)} only, not all "
                     f"{len(counts)} values")
    note = "; ".join(notes) + ". " if notes else ""
    def enough(values: list[Any]) -> bool:
        return len(values) >= 2 and (kind != "best" or c["target"] in values)

    if not enough(left):
        # the reason is divergence when divergence alone leaves too little; else the regime gate did it
        stable = usable.groupby(frame[group]).all()
        reason = "diverged" if not enough(sorted(stable[stable].index)) else "regime not reached"
        left_text = f"only {', '.join(_fmt(v) for v in left)} is left" if len(left) == 1 else "none is left"
        why = (f"the target {c['target']} is not among those left ({', '.join(_fmt(v) for v in left)})"
               if kind == "best" and len(left) >= 2 else f"fewer than 2 values of {label} remain to compare: {left_text}")
        return Gated(kept, note, reason, note + _capital(why) + ".")
    # a model excluded above (diverged, untrained) takes no part, so where its LR sits cannot matter
    if "lr_at_edge" in kept and kept["lr_at_edge"].fillna(False).astype(bool).any():
        edge = [_fmt(v) for v in sorted(set(kept.loc[kept["lr_at_edge"].fillna(False).astype(bool), group]))]
        return Gated(kept, note, "LR at grid edge",
                     note + f"The selected learning rate is on the edge of the extended grid at {label} = "
                     f"{', '.join(edge)}, so a better one may lie outside it.")
    return Gated(kept, note)


def _groups(frame: pd.DataFrame, group: str, metric: str, log: bool) -> list[tuple[Any, np.ndarray]]:
    out = []
    for key, sub in frame.groupby(group, sort=True):
        values = sub[metric].astype(float).to_numpy()
        out.append((key, np.log(values) if log else values))
    return out


def significant_digits(values: Iterable[float], digits: int = 3, significant: int = 2) -> int:
    """Decimals that show every nonzero value in ``values`` with at least ``significant`` significant
    digits, and never fewer than ``digits`` (so a loss at its floor, 0.0008, is not printed as 0.000)."""
    v = np.abs(_clean(values))
    v = v[v > 0]
    if not len(v):
        return digits
    return max(digits, int(-math.floor(math.log10(float(v.min())))) + significant - 1)


def _pm(values: np.ndarray, digits: int) -> str:
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def judge_axis(frame: pd.DataFrame, x: str, cid: str, *, x_label: str, unit: str = "seed",
               digits: int = 3) -> Verdict:
    """Judge a ``trend``, ``flat`` or ``bound`` claim from runs (one row per run: ``x``, ``seed``, the claim's
    metric, and optionally ``status``, ``final_train_loss``, ``initial_train_loss``, ``lr_at_edge``)."""
    c = claim(cid)
    kind = c.get("kind", "trend")
    if kind not in ("trend", "flat", "bound"):
        raise ValueError(f"claim {cid!r} is of kind {kind!r}, not a dependence along an axis")
    test = describe_test(cid, x_label, unit)
    g = gate(frame, x, cid, label=x_label, unit=unit)
    if g.reason:
        return Verdict(c["claim"], NOT_TESTED, g.evidence, test, g.reason)
    log = c.get("scale") == "log"
    groups = _groups(g.frame, x, c["metric"], log=False)
    if log and any((v <= 0).any() for _, v in groups):
        return Verdict(c["claim"], NOT_TESTED, f"{g.notes}{c['what']} has values ≤ 0, which its log scale cannot take.",
                       test, "metric not positive")
    shown = contrast_interval(_groups(g.frame, x, c["metric"], log), level())
    if shown.se <= 1e-12 * max(1.0, abs(shown.estimate)):  # identical seeds up to rounding
        return Verdict(c["claim"], NOT_TESTED, f"{g.notes}every {unit} gives the same value at each {x_label}, so the "
                       "interval has no width.", test, f"no variation across {unit}s")
    if kind == "trend":
        label = directional_label(shown, 1.0 if c["expect"] == "increase" else -1.0)
    elif kind == "flat":
        label = equivalence_label(shown, float(c["margin"]))
    else:
        label = bound_label(shown, float(c["margin"]), 1.0 if c["expect"] == "no increase" else -1.0)
    (x0, v0), (x1, v1) = groups[0], groups[-1]
    # small values (a loss at its floor) get the decimals to show them, up to 6
    digits = min(6, significant_digits([v0.mean(), v1.mean(), (shown.hi - shown.lo) / 2], digits))
    n = sorted({len(v) for _, v in groups})
    n_text = f"{n[0]}" if len(n) == 1 else f"{n[0]}–{n[-1]}"
    estimate = f"slope per doubling{' of the log' if log else ''} {shown.text(digits)}"
    evidence = (f"{g.notes}{_capital(c['what'])} goes from {_pm(v0, digits)} at {x_label} = {_fmt(x0)} to {_pm(v1, digits)} at "
                f"{x_label} = {_fmt(x1)} (mean ± std over {n_text} {unit}s, {len(groups)} values); {estimate}.")
    return Verdict(c["claim"], label, evidence, test, estimate=estimate)


def judge_axis_slices(frame: pd.DataFrame, x: str, cid: str, *, x_label: str, unit: str = "seed",
                      digits: int = 3) -> Verdict:
    """Judge a ``trend`` claim with ``across: <column>`` at every value of that column (e.g. the width trend
    at each depth): reproduced when reproduced in every slice, contradicted when some slice's slope is on the
    opposite side of 0 at a Bonferroni-split level (see :func:`describe_test`)."""
    c = claim(cid)
    across = c["across"]
    sign = 1.0 if c["expect"] == "increase" else -1.0
    test = describe_test(cid, x_label, unit)
    log = c.get("scale") == "log"
    labels, parts, strict = [], [], 1 - 2 * float(settings()["alpha"]) / frame[across].nunique()
    for value, sub in frame.groupby(across, sort=True):
        g = gate(sub, x, cid, label=x_label, unit=unit)
        if g.reason:
            return Verdict(c["claim"], NOT_TESTED, f"at {across} {_fmt(value)}: {g.evidence}", test, g.reason)
        if log and (g.frame[c["metric"]].astype(float) <= 0).any():
            return Verdict(c["claim"], NOT_TESTED, f"at {across} {_fmt(value)}: {c['what']} has values ≤ 0, which its "
                           "log scale cannot take.", test, "metric not positive")
        ci = contrast_interval(_groups(g.frame, x, c["metric"], log=log), level())
        if g.notes:
            parts.append(f"at {across} {_fmt(value)}: {g.notes.strip()}")
        label = directional_label(ci, sign)
        if label != REPRODUCED and directional_label(ci.at(strict), sign) != CONTRADICTED:
            label = INCONCLUSIVE
        labels.append(label)
        parts.append(f"{across} {_fmt(value)}: {ci.estimate:+.{digits}f} [{ci.lo:+.{digits}f}, {ci.hi:+.{digits}f}]")
    label = (REPRODUCED if all(v == REPRODUCED for v in labels) else CONTRADICTED if CONTRADICTED in labels
             else INCONCLUSIVE)
    n = frame.groupby([across, x])["seed"].nunique()
    evidence = (f"slope of {'log ' if log else ''}{c['what']} per doubling of {x_label} (95 % CI), over {n.min()} "
                f"{unit}s per point: "
                f"{'; '.join(parts)}.")
    return Verdict(c["claim"], label, evidence, test)


def judge_best(frame: pd.DataFrame, group: str, cid: str, *, where: str, unit: str = "seed",
               digits: int = 3) -> Verdict:
    """Judge a ``best`` claim: does group ``target`` have the best metric (one row per run)?"""
    c, s = claim(cid), settings()
    test = describe_test(cid)
    g = gate(frame, group, cid, label=group if group != "variant" else "variant", unit=unit)
    if g.reason:
        return Verdict(c["claim"], NOT_TESTED, g.evidence, test, g.reason)
    log = c.get("scale") == "log"
    values = {k: v for k, v in _groups(g.frame, group, c["metric"], log=False)}
    if log and any((v <= 0).any() for v in values.values()):
        return Verdict(c["claim"], NOT_TESTED, f"{g.notes}{c['what']} has values ≤ 0, which its log scale cannot take.",
                       test, "metric not positive")
    judged = {k: np.log(v) if log else v for k, v in values.items()}
    target = values.pop(c["target"])
    label, diffs = best_group_label(judged.pop(c["target"]), judged, bool(c["higher_is_better"]), s["alpha"])
    others = "; ".join(f"{k} {_pm(v, digits)}" for k, v in values.items())
    # every rival's margin: the test needs all of them, and the decisive one is the weakest bound, not
    # the smallest estimate (a noisy rival can be far behind and still not significantly so)
    margins = "; ".join(f"vs {k} {diffs[k].text(digits)}" for k in sorted(diffs, key=lambda k: diffs[k].lo))
    evidence = (f"{g.notes}{_capital(c['what'])} ({where}) is {_pm(target, digits)} for {c['target']}; {others} (mean ± std "
                f"over {unit}s). Margins in the claimed direction{' (differences of the mean log)' if log else ''}, "
                f"weakest lower bound first: {margins}.")
    return Verdict(c["claim"], label, evidence, test)


def judge_difference(cid: str, a: Iterable[float], b: Iterable[float], *, evidence: str, unit: str = "seed",
                     digits: int = 3) -> Verdict:
    """A ``difference`` claim, "mean(a) − mean(b) > margin" (``margin`` in claims.yaml, default 0): Welch
    interval above the margin → reproduced, below 0 → contradicted."""
    c = claim(cid)
    margin = float(c.get("margin", 0.0))
    if min(len(_clean(a)), len(_clean(b))) < settings()["min_seeds"]:
        return Verdict(c["claim"], NOT_TESTED, evidence, describe_test(cid),
                       f"fewer than {settings()['min_seeds']} {unit}s")
    ci = welch_interval(a, b, level())
    label = REPRODUCED if ci.lo > margin else CONTRADICTED if ci.hi < 0 else INCONCLUSIVE
    return Verdict(c["claim"], label, f"{evidence} Difference {ci.text(digits)}.", describe_test(cid))


def judge_signs(cid: str, samples: dict[str, tuple[Iterable[float], float]], *, evidence: str,
                unit: str = "seed", digits: int = 4) -> Verdict:
    """A ``sign`` claim: each named sample's mean lies on the side ``sign`` (+1 or −1) of 0. Reproduced when
    every 95 % t interval is on its claimed side, contradicted when any is wholly on the other side
    (each sample is tested at 2.5 % per side)."""
    c = claim(cid)
    if min(len(_clean(v)) for v, _ in samples.values()) < settings()["min_seeds"]:
        return Verdict(c["claim"], NOT_TESTED, evidence, describe_test(cid),
                       f"fewer than {settings()['min_seeds']} {unit}s")
    labels, parts = [], []
    strict = 1 - 2 * float(settings()["alpha"]) / len(samples)  # contradicted by any one: Bonferroni over them
    for name, (values, sign) in samples.items():
        ci = mean_interval(values, level())
        label = directional_label(ci, sign)
        if label == CONTRADICTED and directional_label(ci.at(strict), sign) != CONTRADICTED:
            label = INCONCLUSIVE
        labels.append(label)
        parts.append(f"{name}: {ci.text(digits)}")
    label = (CONTRADICTED if CONTRADICTED in labels else REPRODUCED if all(x == REPRODUCED for x in labels)
             else INCONCLUSIVE)
    return Verdict(c["claim"], label, f"{evidence} {'; '.join(parts)}.", describe_test(cid))


def judge_tolerance(cid: str, holds: bool, evidence: str) -> Verdict:
    """A ``tolerance`` claim (a deterministic check): reproduced when ``holds``, contradicted otherwise."""
    c = claim(cid)
    if c.get("kind") != "tolerance":
        raise ValueError(f"claim {cid!r} is of kind {c.get('kind', 'trend')!r}, not a tolerance check")
    return Verdict(c["claim"], REPRODUCED if holds else CONTRADICTED, evidence, describe_test(cid))


def claim_center_margin(cid: str) -> tuple[float, float]:
    """``(center, margin)`` of a claim with a margin in claims.yaml (flat claims, and checks that state one;
    center 0 unless stated)."""
    c = claim(cid)
    return float(c.get("center", 0.0)), float(c["margin"])


def interval_label(cid: str, interval: Interval) -> str:
    """The label of a ``flat`` claim's TOST on ``interval``: the claim's margin around its ``center``
    (default 0), at the verdicts' level (what :func:`judge_interval` decides, without the prose)."""
    center, margin = claim_center_margin(cid)
    return equivalence_label(Interval(interval.estimate - center, interval.se, interval.df, level()), margin)


def judge_interval(cid: str, interval: Interval, *, evidence: str, digits: int = 3) -> Verdict:
    """A ``flat`` claim judged on a chapter's own interval (e.g. a slope over draws), by TOST against the
    claim's margin around its ``center`` (default 0)."""
    c = claim(cid)
    label = interval_label(cid, interval)
    shown = Interval(interval.estimate, interval.se, interval.df, level())
    if interval.se <= 1e-12 * max(1.0, abs(interval.estimate)):
        return Verdict(c["claim"], NOT_TESTED, f"{evidence} No variation across runs.", describe_test(cid),
                       "no variation across seeds")
    return Verdict(c["claim"], label, f"{evidence} Estimate {shown.text(digits)}.", describe_test(cid))


# ----------------------------------------------------------------------------------------------
# the regime a chapter ran in, records for the summary
# ----------------------------------------------------------------------------------------------

def rules_text(trained: bool = True) -> str:
    """The labels and the trained-regime rule in one paragraph, for every chapter's verdict box; with
    ``trained=False`` (a chapter none of whose claims is about trained networks) the units are named
    generally and the trained-regime rule is said not to apply."""
    labels = ("Labels: *reproduced* (significant in the claimed direction), *contradicted* (significant against "
              "it), *inconclusive* (neither), *not tested* (with the reason). ")
    if not trained:
        return (labels + f"Each verdict states its test and its unit (training seeds, data draws or draws at "
                f"initialisation); every interval is 95 %, on ≥ {settings()['min_seeds']} units per value, and a "
                "deterministic check is reproduced when it holds. No claim here is about the state of trained "
                "networks, so the trained-regime rule of the trained chapters does not apply.")
    return (labels + f"Each verdict states its test; every "
            f"interval is 95 %, on ≥ {settings()['min_seeds']} seeds per value. Claims about the state of trained "
            f"networks are judged only on models that reached the trained regime in every seed: "
            f"{regime_rule_text()}.")


def lr_rule_description(rule: str) -> str:
    """How a study chose each model's LR, from its ``lr_rule`` (``fixed``, ``judged seeds``, ``pilot seed N``)."""
    if rule == "fixed":
        return "one fixed LR"
    if rule == "judged seeds":
        return "LR per model by lowest mean final loss of the judged seeds themselves"
    if rule.startswith("pilot seed "):
        return f"LR per model chosen on {rule} (never judged)"
    raise ValueError(f"unknown LR rule {rule!r}")


def regime_description(frame: pd.DataFrame, model: str = "model_name", by: tuple[str, ...] = ()) -> str:
    """How many models of a trained study reached the trained regime in every seed, naming those that did
    not (with how many of their seeds diverged, where any did), and (when ``frame`` has an ``lr_rule`` column) how their LRs were chosen. A model is one value of
    ``model`` and of every column in ``by`` (e.g. ``init.scheme`` where several initialisations share a
    model name); a frame in which two runs share a model and a seed is refused, since counting them as
    one model would mix them."""
    s = settings()
    keys = [model, *by]
    if "seed" in frame and frame.duplicated(keys + ["seed"]).any():
        dup = frame[frame.duplicated(keys + ["seed"], keep=False)]
        varying = [c for c in frame.columns if c.startswith(("model.", "init.", "train.")) or c in ("n_train",)]
        varying = [c for c in varying if dup.groupby(keys)[c].nunique(dropna=False).max() > 1]
        raise ValueError(f"several runs per model and seed when grouping by {keys}; pass by= with the columns "
                         f"that tell them apart (varying: {varying or 'unknown'})")
    def label(row: pd.Series) -> str:
        # a numeric column (e.g. train.epochs) is named beside its value; a string one (init.scheme) says itself
        extra = [str(v) if isinstance(v, str) else f"{col.split('.')[-1]} {_fmt(v)}" for col, v in row.iloc[1:].items()]
        return str(row.iloc[0]) + (f" ({', '.join(extra)})" if extra else "")

    names = frame[keys].apply(label, axis=1) if len(frame) else pd.Series([], dtype=str)
    reached = reached_regime(frame, s["trained_loss_fraction"]).groupby(names).all()
    # a diverged seed also fails the rule; say so, since "not reached" alone reads as "trained too little"
    diverged = ((frame["status"] != "ok") if "status" in frame else pd.Series(False, index=frame.index)).groupby(names)
    lost, seeds = diverged.sum(), diverged.size()
    missing = [f"{m} ({int(lost[m])} of {int(seeds[m])} seeds diverged)" if lost[m] else str(m)
               for m, ok in reached.items() if not ok]
    head = (f"trained regime ({regime_rule_text(s['trained_loss_fraction'])}, in every seed) reached by "
            f"{int(reached.sum())} of {len(reached)} models")
    rules = sorted(set(frame["lr_rule"])) if "lr_rule" in frame else []
    return (head + (f"; not reached: {', '.join(missing)}" if missing else "")
            + (f"; {', '.join(lr_rule_description(r) for r in rules)}" if rules else ""))


def verdict_records(chapter: str, verdicts: dict[str, Verdict], regime: str) -> list[dict[str, Any]]:
    """Rows for the summary chapter (:data:`RECORD_COLUMNS`); ``regime`` says what the chapter's runs
    reached (:func:`regime_description`, or e.g. ``"no training: at initialisation"``)."""
    rows = []
    for key, v in verdicts.items():
        v = with_group(key, v)
        c = claim(key)
        # a claim judged in another setting than the paper's figure (e.g. the depth trend on the MNIST MLPs
        # of App. A) names that setting's checklist item and paper reference (``in_chapter`` of claims.yaml)
        c.update(c.get("in_chapter", {}).get(chapter, {}))
        rows.append({"id": key, "checklist": int(c["checklist"]), "paper": c["paper"], "chapter": chapter,
                     "role": c.get("role", "paper"), "kind": c.get("kind", "trend"), "claim": v.claim,
                     "evidence": v.evidence, "test": v.test, "label": v.label, "reason": v.reason,
                     "regime": regime})
    return rows


def glued_texts(notebook: str | os.PathLike) -> dict[str, str]:
    """Every value an executed notebook glued (``glue_text``/``glue_number``), by name, as its plain text."""
    out = {}
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = o["data"].get("application/papermill.record/text/plain", "")
    return out


def collect_verdicts(folder: str | os.PathLike) -> pd.DataFrame:
    """Every chapter's verdict records from the executed notebooks in ``folder`` (one preset's
    executions), ordered by the paper.md §7 checklist item."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        if path.name.endswith((".failed.ipynb", ".tmp.ipynb")):
            continue
        records = glued_texts(path).get(VERDICT_RECORDS)
        if records is not None:
            rows.extend(json.loads(records))
    frame = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return frame.sort_values(["checklist", "chapter", "id"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# the chapters' studies
# ----------------------------------------------------------------------------------------------

def study_verdicts(study: Any, ids: list[str], *, x_label: str, frame: pd.DataFrame | None = None) -> dict[str, Verdict]:
    """:func:`judge_axis` for each claim id along ``study.axis``, on the judged runs at the selected LRs
    (``frame``: a subset of ``study.chosen``, e.g. one variant)."""
    frame = study.chosen if frame is None else frame
    for cid in ids:
        metric = claim(cid)["metric"]
        if metric not in frame:
            raise ValueError(f"claim {cid!r} needs column {metric!r}, which the study lacks "
                             "(is the probe Gram or the measurement off?)")
    return {cid: judge_axis(frame, study.axis, cid, x_label=x_label) for cid in ids}


def verdict_table(protocols: dict[str, dict[str, Verdict]]) -> pd.DataFrame:
    """The same claims judged under several protocols side by side (e.g. per-model LRs against one
    fixed LR): one row per claim id, its claim text, and each protocol's label (with the reason when
    not tested). Every protocol must judge the same claim ids."""
    if not protocols:
        raise ValueError("verdict_table needs at least one protocol")
    names = list(protocols)
    ids = list(protocols[names[0]])
    for name in names[1:]:
        if set(protocols[name]) != set(ids):
            raise ValueError(f"protocol {name!r} judges {sorted(protocols[name])}, "
                             f"{names[0]!r} judges {sorted(ids)}: compare the same claims")
    return pd.DataFrame([{"claim": protocols[names[0]][cid].claim,
                          **{name: protocols[name][cid].title for name in names}} for cid in ids],
                        index=pd.Index(ids, name="id"))


def changed_verdicts_text(table: pd.DataFrame) -> str:
    """One sentence on a two-protocol :func:`verdict_table`: which claims changed label from the second
    protocol (the earlier one) to the first, or that none did."""
    if table.shape[1] != 3:
        raise ValueError(f"expected a claim column and two protocols, got columns {list(table.columns)}")
    now, before = table.columns[1], table.columns[2]
    changed = table[table[now] != table[before]]
    if changed.empty:
        return f"No claim changed its label between {before} and {now}."
    parts = "; ".join(f"{cid}: {row[before]} → {row[now]}" for cid, row in changed.iterrows())
    return f"{len(changed)} of {len(table)} claims changed label from {before} to {now}: {parts}."


def replication_table(first: dict[str, Verdict], second: dict[str, Verdict], names: tuple[str, str]) -> pd.DataFrame:
    """The same claims judged on two disjoint sets of seeds (e.g. the judged seeds, and fresh seeds run
    afterwards to replicate them): per claim id, each set's label and the statistic it was decided on."""
    if set(first) != set(second):
        raise ValueError(f"a replication judges the same claims: {sorted(first)} against {sorted(second)}")
    rows = []
    for cid in first:
        row = {"claim": first[cid].claim}
        for name, verdicts in zip(names, (first, second)):
            row[name] = verdicts[cid].title
            row[f"{name}: estimate"] = verdicts[cid].estimate
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(list(first), name="id"))


def replication_text(first: dict[str, Verdict], second: dict[str, Verdict], names: tuple[str, str]) -> str:
    """One sentence on a replication: how many labels agree, and what became of each definite label
    (reproduced or contradicted) of ``first`` on the second set of seeds."""
    agree = [cid for cid in first if first[cid].label == second[cid].label]
    definite = [cid for cid in first if first[cid].label in (REPRODUCED, CONTRADICTED)]
    held = [cid for cid in definite if second[cid].label == first[cid].label]
    opposite = {REPRODUCED: CONTRADICTED, CONTRADICTED: REPRODUCED}
    reversed_ = [cid for cid in definite if second[cid].label == opposite[first[cid].label]]
    text = f"{len(agree)} of {len(first)} claims get the same label on {names[1]} as on {names[0]}"
    if definite:
        text += (f"; of the {len(definite)} definite labels on {names[0]}, {len(held)} "
                 f"{'is' if len(held) == 1 else 'are'} found again")
        text += (f" ({', '.join(held)})" if held else "")
        text += (f", {len(reversed_)} reversed ({', '.join(reversed_)})" if reversed_ else "")
        rest = [cid for cid in definite if cid not in held and cid not in reversed_]
        text += (f", and {len(rest)} not decided there ({', '.join(f'{c}: {second[c].title}' for c in rest)})"
                 if rest else "")
    return text + "."


VARIANTS: dict[tuple[bool, bool], str] = {(False, False): "plain", (False, True): "+skip", (True, False): "+BN",
                                          (True, True): "+skip+BN"}


def variant_name(bn: bool, skip: bool) -> str:
    """The Fig. 4 variant of a CNN-β-ℓ with BatchNorm ``bn`` and skip connections ``skip``."""
    return VARIANTS[(bool(bn), bool(skip))]


def with_variants(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``variant`` column naming each run's Fig. 4 variant."""
    return frame.assign(variant=[variant_name(b, s) for b, s in zip(frame["model.bn"], frame["model.skip"])])


def variant_verdicts(study: Any) -> dict[str, Verdict]:
    """The Fig. 4 claims (``bn_skip_*``): depth trends of the plain, +skip and +BN variants, no trend for
    +skip+BN, and +skip+BN against the other variants at the largest depth."""
    frame = with_variants(study.chosen)
    verdicts: dict[str, Verdict] = {}
    for cid, variant in (("bn_skip_plain_min_cos", "plain"), ("bn_skip_skip_min_cos", "+skip"),
                         ("bn_skip_bn_min_cos", "+BN"), ("bn_skip_both_flat", "+skip+BN")):
        verdicts[cid] = judge_axis(frame[frame["variant"] == variant], study.axis, cid, x_label="β")
    depth = frame[study.axis].max()
    deepest = frame[frame[study.axis] == depth]
    for cid in ("bn_skip_best_loss", "bn_skip_best_min_cos", "bn_skip_best_test_acc"):
        verdicts[cid] = judge_best(deepest, "variant", cid, where=f"β = {depth}")
    return verdicts


def initialisation_verdicts(at_init: pd.DataFrame, linear: Any, mnist: Any | None = None) -> dict[str, Verdict]:
    """Thm 6.1 claims (``orth_*``/``gauss_*``) from three sources.

    ``at_init``: :func:`gradconf.init_confusion.init_scheme_draws` with inits ``orthogonal`` and ``gaussian``
    (draws are the unit); ``linear``: the ``init_linear`` study (deep linear nets trained briefly);
    ``mnist``: the ``init_mnist`` study, judged per activation at the largest depth."""
    draws = at_init.rename(columns={"draw": "seed"})
    orthogonal, gaussian = draws[draws["init"] == "orthogonal"], draws[draws["init"] == "gaussian"]
    verdicts = {
        "orth_init_cos_flat": judge_axis(orthogonal, "depth", "orth_init_cos_flat", x_label="depth", unit="draw"),
        "orth_init_eta_bound": judge_axis(orthogonal, "depth", "orth_init_eta_bound", x_label="depth", unit="draw"),
        "gauss_init_cos_depth": judge_axis(gaussian, "depth", "gauss_init_cos_depth", x_label="depth", unit="draw"),
    }
    chosen = linear.chosen
    verdicts["orth_train_loss_flat"] = judge_axis(chosen[chosen["init.scheme"] == "orthogonal"], linear.axis,
                                                  "orth_train_loss_flat", x_label="depth")
    verdicts["gauss_train_loss_depth"] = judge_axis(chosen[chosen["init.scheme"] == "gaussian"], linear.axis,
                                                    "gauss_train_loss_depth", x_label="depth")
    if mnist is not None:
        deepest = mnist.chosen[mnist.chosen[mnist.axis] == mnist.chosen[mnist.axis].max()]
        for activation, group in deepest.groupby("model.activation"):
            verdicts[f"orth_mnist_best_loss__{activation}"] = judge_best(
                group, "init.scheme", "orth_mnist_best_loss",
                where=f"{activation}, depth {group[mnist.axis].iloc[0]}")
    return verdicts
