"""Thm 5.1 / Cor 5.1 helpers, variance vs confusion, the phase-diagram level sets, late-training ordering,
the CNN schedule helpers and the clipped cosine bands."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from gradconf.bounded_weights import bounded_sweeps, single_entry_gram, worst_in_ball
from gradconf.init import InitConfig
from gradconf.init_confusion import level_set_slope, level_widths
from gradconf.models import MLPConfig, build_model
from gradconf.studies import Study, epochs_to_loss, late_sharpening, ordering_by_epoch, schedule_table
from gradconf.synthetic import sphere_teacher
from gradconf.variance import (antipodal_gradients, bounds_hold, gradient_variance, random_stationary_gradients,
                               simplex_gradients, stationary_check)


def test_spectral_init_has_unit_operator_norm_and_gain():
    model = build_model(MLPConfig(16, 40, 3, 1, "tanh"), InitConfig(scheme="spectral", gain=0.5), seed=3)
    norms = [torch.linalg.matrix_norm(p.detach().double(), ord=2).item() for p in model.parameters() if p.dim() == 2]
    assert norms == pytest.approx([0.5] * 4, rel=1e-6)


def test_single_entry_gram_is_width_independent_but_a_gaussian_net_is_not():
    data = sphere_teacher(12, 6, generator=torch.Generator().manual_seed(1))
    narrow, wide = (single_entry_gram(data.x, data.y, width=w, depth=3) for w in (2, 64))
    assert torch.equal(narrow, wide) and narrow.abs().max() > 0


def test_bounded_sweeps_shape_and_ball_search_never_beats_the_centre_upwards():
    frame = bounded_sweeps(width=8, depth=2, d=6, widths=[4, 8], depths=[1, 2], dims=[4, 6], n=6, draws=2)
    assert set(frame["sweep"]) == {"depth", "width", "d"} and len(frame) == 2 * 2 * (2 + 2 + 2)
    assert set(frame["weights"]) == {"Gaussian, rescaled", "orthogonal"}
    data = sphere_teacher(6, 5, generator=torch.Generator().manual_seed(0))
    with_bias = build_model(MLPConfig(5, 8, 2, 1, "tanh"), InitConfig(scheme="spectral"), seed=0)
    with pytest.raises(ValueError, match="without biases"):
        worst_in_ball(with_bias, data.x, data.y, 0.1, directions=1, steps=1, generator=torch.Generator())
    model = build_model(MLPConfig(5, 8, 2, 1, "tanh", bias=False), InitConfig(scheme="orthogonal"), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    centre = worst_in_ball(model, data.x, data.y, 0.0, directions=3, steps=3, generator=torch.Generator())
    ball = worst_in_ball(model, data.x, data.y, 0.5, directions=3, steps=3,
                         generator=torch.Generator().manual_seed(0))
    assert ball["worst_min_inner"] <= centre["worst_min_inner"]  # the centre counts
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # model restored
    with pytest.raises(ValueError):
        worst_in_ball(model, data.x, data.y, -1.0, directions=1, steps=1, generator=torch.Generator())
    # the search at r > 0 keeps the centre, so it finds at least the centre's confusion
    from gradconf.bounded_weights import ball_draws
    rows = ball_draws(depths=[1], radii=[0.0, 0.2], width=6, d=4, n=5, draws=1, directions=2, steps=2)
    assert rows.set_index("radius")["worst_min_inner"][0.2] <= rows.set_index("radius")["worst_min_inner"][0.0]


def test_variance_bounds_and_the_simplex_attains_the_lower_one():
    g = simplex_gradients(10, norm=3.0)
    assert g.sum(0).abs().max() < 1e-12 and gradient_variance(g @ g.T) == pytest.approx(9.0)
    row = stationary_check(g)
    assert row["max_sq"] == pytest.approx(9 * row["eta"]) and bounds_hold(row)  # G² = (n − 1)η
    pair = stationary_check(antipodal_gradients(10, norm=2.0))
    assert pair["eta"] == pytest.approx(10 * pair["variance"] / 2) and bounds_hold(pair)
    gen = torch.Generator().manual_seed(0)
    assert all(bounds_hold(stationary_check(random_stationary_gradients(7, 20, generator=gen, spread=2.0)))
               for _ in range(20))
    # a set that is not stationary can break the left side: the check must be able to fail
    not_stationary = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
    assert not bounds_hold(stationary_check(not_stationary))


def test_level_set_slope_recovers_a_known_exponent():
    # cos_min = f(log2 width - k log2 depth): level sets follow width ∝ depth^k
    rows = []
    for k_true in (1.0,):
        for draw in range(6):
            for w in (4, 8, 16, 32, 64, 128, 256):
                for b in (1, 2, 4, 8):
                    value = math.tanh(0.3 * (math.log2(w) - k_true * math.log2(b) - 4)) + 0.01 * (draw - 2.5)
                    rows.append({"width": w, "depth": b, "draw": draw, "cos_min": value})
    frame = pd.DataFrame(rows)
    widths = level_widths(frame.groupby(["width", "depth"])[["cos_min"]].mean(), 0.0)
    assert np.log2(widths.to_numpy()) == pytest.approx([4.0, 5.0, 6.0, 7.0], abs=0.2)
    lo, hi = frame.groupby(["width", "depth"])["cos_min"].mean().agg(["min", "max"])
    res = level_set_slope(frame, (0.0 - lo) / (hi - lo), boot=20)
    assert res["slope"] == pytest.approx(1.0, abs=0.05) and res["depths"] == 4 and res["level"] == pytest.approx(0.0)


def _toy_study(axis_values, slopes_by_epoch, seeds=(0, 1, 2)):
    rows = []
    for seed in seeds:
        for epoch, (lr, slope) in enumerate(slopes_by_epoch):
            for v in axis_values:
                rows.append({"key": f"{v}-{seed}", "seed": seed, "epoch": epoch, "model.depth": v, "lr": lr,
                             "train.lr": slopes_by_epoch[0][0], "cos_min": slope * math.log2(v) + 0.01 * seed,
                             "train_loss": 2.0 / (1 + epoch * v), "status": "ok"})
    e = pd.DataFrame(rows)
    chosen = e[e["epoch"] == e["epoch"].max()].assign(
        n_train=256, **{"train.batch_size": 32, "train.epochs": len(slopes_by_epoch) - 1},
        initial_train_loss=2.0, final_train_loss=lambda f: f["train_loss"])
    return Study("toy", "smoke", "model.depth", chosen, chosen, e, pd.DataFrame(), 0.0, 0)


def test_ordering_by_epoch_and_late_sharpening():
    study = _toy_study([1, 2, 4, 8], [(0.1, 0.0), (0.1, -0.01), (0.01, -0.05), (0.001, -0.08)])
    ordering = ordering_by_epoch(study)
    assert ordering.groupby("epoch")["slope"].mean().round(6).tolist() == [0.0, -0.01, -0.05, -0.08]
    result = late_sharpening(ordering, -1.0)  # depth: the paper expects a negative slope
    assert result["early_epochs"] == [1] and result["late_epochs"] == [3]
    assert result["late"].to_numpy() == pytest.approx([0.08] * 3)
    assert result["change"].to_numpy() == pytest.approx([0.07] * 3)


def test_epochs_to_loss_and_schedule_table():
    study = _toy_study([1, 4], [(0.1, 0.0), (0.1, 0.0), (0.1, 0.0)])
    reached = epochs_to_loss(study, 0.5)
    # loss 2 / (1 + epoch * v): v = 4 reaches 0.5 at epoch 1 (0.4); v = 1 reaches it at epoch 2 (0.667 > 0.5: never)
    assert reached.set_index("model.depth")["epochs_to_loss"].groupby(level=0).first().to_dict() == pytest.approx(
        {1: math.nan, 4: 1.0}, nan_ok=True)
    table = schedule_table(study)
    assert set(table["reached (≤ 25 %)"]) == {"yes", "no"} and table["SGD steps"].iloc[0] == "16"


def test_cosine_band_is_clipped_to_the_unit_interval():
    from gradconf.figures import cosine_sd, spread

    lo, hi = cosine_sd(np.array([-0.99, -0.2, -0.95]))
    assert lo == -1.0 and hi < 1.0
    assert spread("cos_min") is cosine_sd and spread("probe_eta") == "sd"
