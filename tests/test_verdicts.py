"""The verdict module: its calibration (error rates and power at the book's seed counts), its gates and its labels.

The calibration tests simulate metric tables with no effect and with an effect of stated size and count
the labels. Nominal rates: ≤ 2.5 % per side for trends, ≤ 5 % for TOST, bound and best-of-group tests; the
tests allow 5 %: every interval is 95 %, nominally 2.5 % per wrong label, and the Welch–Satterthwaite
approximation with 3 seeds adds up to about 1.5 % (Monte Carlo error with 3,000 draws is about 0.3 %). They fail on a rule that rewards
noise: see ``test_calibration_fails_a_rule_that_rewards_noise``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gradconf import verdicts as V

DRAWS = 3000
SEEDS = 3  # the book's judged seeds (claims.yaml settings.min_seeds)


def _trend_rates(rule, n_values: int, slope: float, *, seeds: int = SEEDS, noisy_last: float = 1.0,
                 draws: int = DRAWS, seed: int = 0) -> dict[str, float]:
    """Label rates of ``rule(groups) -> label`` on simulated (x, values) tables: x = 1, 2, 4, ..., a true slope
    of ``slope`` noise sds per doubling, the largest x ``noisy_last`` times noisier."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(V.LABELS, 0)
    for _ in range(draws):
        groups = [(2.0 ** k, rng.normal(slope * k, noisy_last if k == n_values - 1 else 1.0, seeds))
                  for k in range(n_values)]
        counts[rule(groups)] += 1
    return {k: v / draws for k, v in counts.items()}


def _trend_rule(groups) -> str:
    return V.directional_label(V.contrast_interval(groups, 0.95), +1.0)


@pytest.mark.parametrize("n_values", [2, 5, 6])
@pytest.mark.parametrize("noisy_last", [1.0, 4.0])
def test_trend_test_has_at_most_5_percent_false_labels_under_no_effect(n_values, noisy_last):
    rates = _trend_rates(_trend_rule, n_values, 0.0, noisy_last=noisy_last)
    assert rates["reproduced"] <= 0.05, rates
    assert rates["contradicted"] <= 0.05, rates


def test_trend_test_power_at_the_book_seed_counts():
    # Stated in the verdict chapter: 5 values x 3 seeds (the MNIST depth sweep) detect a slope of one noise sd
    # per doubling at least 95 % of the time, half an sd about half of the time; 6 values (the width sweep)
    # detect half an sd at least 75 % of the time.
    assert _trend_rates(_trend_rule, 5, 1.0, draws=1000)["reproduced"] >= 0.95
    assert 0.4 <= _trend_rates(_trend_rule, 5, 0.5, draws=1000)["reproduced"] <= 0.7
    assert _trend_rates(_trend_rule, 6, 0.5, draws=1000)["reproduced"] >= 0.75
    # an effect against the claim is called contradicted, never reproduced
    against = _trend_rates(_trend_rule, 5, -1.0, draws=1000)
    assert against["contradicted"] >= 0.95 and against["reproduced"] == 0.0


def test_calibration_fails_a_rule_that_rewards_noise():
    # the kind of rule the book used before: "the end-to-end change has the claimed sign"
    def sign_only(groups) -> str:
        return V.REPRODUCED if groups[-1][1].mean() > groups[0][1].mean() else V.INCONCLUSIVE
    assert _trend_rates(sign_only, 5, 0.0, draws=500)["reproduced"] > 0.05


@pytest.mark.parametrize("true_slope,label", [(0.5, "reproduced"), (-0.5, "reproduced"), (0.0, "contradicted")])
def test_equivalence_test_error_rates(true_slope, label):
    """TOST with margin 0.5 sd per doubling: at the margin (the null of "depends"), false reproduced ≤ 5 %;
    at no effect, false contradicted ≤ 5 %."""
    rates = _trend_rates(lambda g: V.equivalence_label(V.contrast_interval(g, 0.95), 0.5), 6, true_slope, seeds=10)
    assert rates[label] <= 0.05, rates


def test_equivalence_test_power():
    # no effect, 6 values x 10 draws, margin 0.5 sd per doubling: flatness is shown nearly always
    rates = _trend_rates(lambda g: V.equivalence_label(V.contrast_interval(g, 0.95), 0.5), 6, 0.0, seeds=10,
                         draws=500)
    assert rates["reproduced"] >= 0.9


@pytest.mark.parametrize("true_slope,label", [(0.5, "reproduced"), (0.5, "contradicted")])
def test_bound_test_error_rates_at_the_margin(true_slope, label):
    rates = _trend_rates(lambda g: V.bound_label(V.contrast_interval(g, 0.95), 0.5, +1.0), 8, true_slope, seeds=10)
    assert rates[label] <= 0.05, rates
    assert rates["reproduced"] + rates["contradicted"] > 0  # the test can reach a decision


def _best_rates(shift: float, rivals: int = 3, draws: int = DRAWS) -> dict[str, float]:
    """Target's mean ``shift`` sds above the best of ``rivals`` equal groups (higher is better)."""
    rng = np.random.default_rng(3)
    counts = dict.fromkeys(V.LABELS, 0)
    for _ in range(draws):
        others = {f"g{i}": rng.normal(0.0, 1.0, SEEDS) for i in range(rivals)}
        label, _ = V.best_group_label(rng.normal(shift, 1.0, SEEDS), others, True, 0.025)
        counts[label] += 1
    return {k: v / draws for k, v in counts.items()}


def test_best_group_test_error_rates_and_power():
    null = _best_rates(0.0)
    assert null["reproduced"] <= 0.05 and null["contradicted"] <= 0.05, null
    # power with 3 seeds against 3 equal rivals: a lead of 4 noise sds is found at least 70 % of the time,
    # 3 sds about 45 % (three seeds give Welch tests few degrees of freedom)
    strong = _best_rates(4.0, draws=1000)
    assert strong["reproduced"] >= 0.7 and strong["contradicted"] == 0.0, strong


def test_the_old_float_bug_cannot_flip_a_label():
    # a slope computed in two orders of summation is the same label; decisions use strict interval ends only
    groups = [(32.0, np.array([0.1, 0.2, 0.3])), (64.0, np.array([0.4, 0.5, 0.6])), (128.0, np.array([0.7, 0.8, 0.9]))]
    assert _trend_rule(groups) == _trend_rule(groups[::-1]) == "reproduced"


# ----------------------------------------------------------------------------------------------
# gates and labels on run frames
# ----------------------------------------------------------------------------------------------

def _runs(values_by_x: dict, *, loss=0.1, initial=2.3, status="ok", edge=False, rule="pilot seed 100") -> pd.DataFrame:
    rows = []
    for x, values in values_by_x.items():
        for seed, v in enumerate(values):
            rows.append({"model.depth": x, "seed": seed, "final_cos_min": v, "final_train_loss": loss,
                         "initial_train_loss": initial, "status": status, "lr_at_edge": edge, "lr_rule": rule,
                         "model_name": f"MLP-{x}"})
    return pd.DataFrame(rows)


FALLING = {1: [-0.10, -0.11, -0.12], 4: [-0.30, -0.31, -0.29], 16: [-0.50, -0.52, -0.49]}


def test_trend_labels_reproduced_contradicted_inconclusive():
    assert V.judge_axis(_runs(FALLING), "model.depth", "depth_min_cos", x_label="depth").label == "reproduced"
    rising = {x: [-v for v in vs] for x, vs in FALLING.items()}
    assert V.judge_axis(_runs(rising), "model.depth", "depth_min_cos", x_label="depth").label == "contradicted"
    noise = {1: [-0.1, -0.5, -0.3], 4: [-0.2, -0.6, -0.1], 16: [-0.4, -0.1, -0.3]}
    v = V.judge_axis(_runs(noise), "model.depth", "depth_min_cos", x_label="depth")
    assert v.label == "inconclusive"
    assert "95 % CI" in v.evidence and "Welch" in v.test


def test_trained_regime_gate_excludes_models_and_says_which():
    frame = _runs(FALLING)
    untrained = frame["model.depth"] == 16
    frame.loc[untrained, "final_train_loss"] = 2.2  # stuck near its initial 2.3
    v = V.judge_axis(frame, "model.depth", "depth_min_cos", x_label="depth")
    assert v.label == "reproduced" and "depth = 16 excluded: regime not reached" in v.evidence
    frame.loc[frame["model.depth"] == 4, "final_train_loss"] = 2.2
    v = V.judge_axis(frame, "model.depth", "depth_min_cos", x_label="depth")
    assert (v.label, v.reason) == ("not tested", "regime not reached")
    assert v.title == "not tested: regime not reached" and v.markdown().startswith("**Not tested: regime not reached.**")
    # a loss claim (how fast a net trains) carries no regime gate
    assert V.claim("depth_loss").get("regime") is None


def test_not_tested_reasons():
    assert V.judge_axis(_runs(FALLING, edge=True), "model.depth", "depth_min_cos", x_label="depth").reason == (
        "LR at grid edge")
    assert V.judge_axis(_runs(FALLING, rule="judged seeds"), "model.depth", "depth_min_cos",
                        x_label="depth").reason == "LR selected on the judged seeds"
    two_seeds = {x: vs[:2] for x, vs in FALLING.items()}
    assert V.judge_axis(_runs(two_seeds), "model.depth", "depth_min_cos", x_label="depth").reason == (
        "fewer than 3 seeds")
    frame = _runs(FALLING)
    frame.loc[frame["model.depth"] >= 4, ["status", "final_cos_min"]] = ["diverged", math.nan]
    v = V.judge_axis(frame, "model.depth", "depth_min_cos", x_label="depth")
    assert v.reason == "diverged" and "4, 16 excluded" in v.evidence


def test_best_group_and_slices_and_other_kinds():
    rows = []
    for variant, mean in (("plain", 2.0), ("+skip", 1.5), ("+BN", 1.2), ("+skip+BN", 0.5)):
        for seed in range(3):
            rows.append({"variant": variant, "seed": seed, "final_train_loss": mean + 0.01 * seed, "status": "ok",
                         "initial_train_loss": 2.3})
    frame = pd.DataFrame(rows)
    assert V.judge_best(frame, "variant", "bn_skip_best_loss", where="β = 52").label == "reproduced"
    frame.loc[frame.variant == "+skip+BN", "final_train_loss"] += 1.5
    assert V.judge_best(frame, "variant", "bn_skip_best_loss", where="β = 52").label == "contradicted"
    draws = pd.DataFrame([{"width": w, "depth": d, "seed": s, "cos_min": -1 / np.log2(2 * w) + 0.01 * s}
                          for w in (16, 64, 256) for d in (1, 4) for s in range(3)])
    assert V.judge_axis_slices(draws, "width", "init_width", x_label="width", unit="draw").label == "reproduced"
    assert V.judge_difference("fig1_rate", [1.0, 1.1, 0.9], [-4.0, -4.1, -3.9], evidence="e", margin=3).label == (
        "reproduced")
    signs = V.judge_signs("fig1_cos_sign", {"d = 120": ([-0.01, -0.012, -0.011], +1), "d = 80": ([-0.01, -0.02, -0.015], -1)},
                          evidence="e")
    assert signs.label == "contradicted"
    assert V.judge_tolerance("floor_bound", True, "e").label == "reproduced"
    with pytest.raises(ValueError, match="not a tolerance"):
        V.judge_tolerance("floor_eta", True, "e")


def test_verdict_validation_and_claims_table():
    with pytest.raises(ValueError, match="unknown label"):
        V.Verdict("c", "partly reproduced", "e", "t")
    with pytest.raises(ValueError, match="reason"):
        V.Verdict("c", "not tested", "e", "t")
    with pytest.raises(ValueError, match="unknown claim"):
        V.claim("no_such_claim")
    for cid, c in V.load_claims().items():
        assert c.get("role", "paper") in V.ROLES, cid
        assert c.get("kind", "trend") in V.KINDS, cid
        assert V.describe_test(cid), cid
        if c.get("kind") in ("flat", "bound"):
            assert float(c["margin"]) > 0, cid
    assert set(V.settings()) >= {"alpha", "min_seeds", "trained_loss_fraction"}
