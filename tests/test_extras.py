"""Thm 5.1 / Cor 5.1 helpers, variance vs confusion, the phase-diagram level sets, late-training ordering,
the CNN schedule helpers and the clipped cosine bands."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from gradconf.bounded_weights import bounded_sweeps, single_entry_gram, worst_in_ball
from gradconf.init import InitConfig
from gradconf.level_sets import exponent_test_error_rates, grid_array, level_set_slope, level_widths
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


def _single_index_grid(k: float, draws: int = 20, noise: float = 0.02, seed: int = 0) -> pd.DataFrame:
    """cos_min = logistic(log2 width − k log2 depth) + a shared per-draw shift + cell noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for draw in range(draws):
        shift = rng.normal(0, noise / 2)
        for w in (4, 8, 16, 32, 64, 128, 256, 512):
            for b in (1, 2, 4, 8):
                u = math.log2(w) - k * math.log2(b)
                rows.append({"width": w, "depth": b, "draw": draw,
                             "cos_min": -0.9 + 0.6 / (1 + math.exp(-(u - 4))) + shift + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_level_set_slope_is_the_slope_through_the_per_depth_crossings():
    # the vectorised estimator against the plain one: crossings per depth (level_widths), then a polyfit
    frame = _single_index_grid(1.3, draws=5, seed=3)
    means = frame.groupby(["width", "depth"])[["cos_min"]].mean()
    lo, hi = float(means["cos_min"].min()), float(means["cos_min"].max())
    for fraction in (0.3, 0.6):
        crossings = level_widths(means, lo + fraction * (hi - lo)).dropna()
        expected = np.polyfit(np.log2(crossings.index.to_numpy(dtype=float)), np.log2(crossings.to_numpy()), 1)[0]
        res = level_set_slope(frame, fraction, boot=30, seed=1)
        assert res["slope"] == pytest.approx(expected, abs=1e-12) and res["depths"] == len(crossings)
        assert 0 < res["se"] < 1 and res["boot_finite"] == 30


def test_grid_array_refuses_missing_and_repeated_cells():
    frame = _single_index_grid(1.0, draws=3)
    widths, depths, values = grid_array(frame)
    assert values.shape == (3, len(widths), len(depths))
    with pytest.raises(ValueError, match="missing"):
        grid_array(frame.iloc[1:])
    with pytest.raises(ValueError, match="repeats"):
        grid_array(pd.concat([frame, frame.iloc[:1]]))


def test_every_bootstrap_resample_is_judged_at_its_own_level():
    # each row of _bootstrap must equal the plain estimator on that resample: crossings at the resample's own
    # level (recomputed from its own cell means), then a polyfit
    from gradconf.level_sets import _bootstrap

    frame = _single_index_grid(1.2, draws=8, noise=0.05, seed=5)
    widths, depths, values = grid_array(frame)
    lw, ld = np.log2(widths.astype(float)), np.log2(depths.astype(float))
    picks = np.random.default_rng(0).integers(0, len(values), size=(25, len(values)))
    got = _bootstrap(values, 0.4, lw, ld, picks, chunk=7)
    for row, pick in zip(got, picks):
        means = values[pick].mean(axis=0)
        level_value = means.min() + 0.4 * (means.max() - means.min())
        frame_means = pd.DataFrame({"cos_min": means.ravel()},
                                   index=pd.MultiIndex.from_product([widths, depths], names=["width", "depth"]))
        crossings = level_widths(frame_means, level_value).dropna()
        if len(crossings) < 3:
            assert np.isnan(row)
        else:
            expected = np.polyfit(np.log2(crossings.index.to_numpy(dtype=float)), np.log2(crossings.to_numpy()), 1)[0]
            assert row == pytest.approx(expected, abs=1e-12)


def test_a_shear_tilts_the_level_sets_by_exactly_its_amount():
    from gradconf.level_sets import _crossings, _estimates, null_grid, null_shear, shear_pivots, sheared

    frame = _single_index_grid(1.0, draws=4, noise=0.0)
    widths, depths, values = grid_array(frame)
    lw, ld = np.log2(widths.astype(float)), np.log2(depths.astype(float))
    means = values.mean(axis=0)
    base = _estimates(means[None], 0.5, lw, ld)[0][0]
    for shear in (-0.5, 0.4, 1.0):
        tilted = _estimates(sheared(means, lw, ld, shear)[None], 0.5, lw, ld)[0][0]
        assert tilted - base == pytest.approx(shear, abs=1e-9)
    # sheared draws average to the sheared mean (the null keeps each draw's noise where it sits)
    assert sheared(values, lw, ld, 0.7).mean(axis=0) == pytest.approx(sheared(means, lw, ld, 0.7))
    assert null_shear(means, 0.5, lw, ld, base + 0.6) == pytest.approx(0.6, abs=0.01)
    # a level set of exponent 4 over four octaves of depth needs 12 octaves of width: it leaves this grid
    assert np.isnan(null_shear(means, 0.5, lw, ld, 4.0))
    assert all(np.isnan(v) for v in null_grid(means, 0.5, lw, ld, 4.0))
    # the preferred pivot is the middle of the crossed depths, then the grid's mean depth, then every depth
    crossed = np.isfinite(_crossings(means[None], np.array([means.min() + 0.5 * np.ptp(means)]), lw)[0])
    pivots = shear_pivots(means, 0.5, lw, ld)
    assert pivots[0] == pytest.approx(ld[crossed].mean()) and set(ld) <= set(pivots)
    shear, pivot = null_grid(means, 0.5, lw, ld, base + 0.3)
    assert pivot == pivots[0] and shear == pytest.approx(0.3, abs=1e-9)
    # off the symmetric case re-interpolation bends the level set a little, so the shear is solved for: it
    # must still reach its target
    bent = grid_array(_single_index_grid(1.3, draws=3, noise=0.0))[2].mean(axis=0)
    for fraction, target in ((0.3, 1.8), (0.6, 1.0)):
        shear = null_shear(bent, fraction, lw, ld, target)
        assert _estimates(sheared(bent, lw, ld, shear)[None], fraction, lw, ld)[0][0] == pytest.approx(target, abs=1e-6)


def test_exponent_test_error_rates_on_a_grid_where_one_exponent_holds():
    """On a grid whose level sets are straight, the phase-diagram test should keep its false labels near
    the nominal 2.5 % at the margin's ends, reproduce at the center, and its bootstrap s.e. should match
    the spread of its estimates over simulated grids."""
    rates = exponent_test_error_rates(_single_index_grid(2.0), 0.5, cid="phase_diagram", grids=400, boot=100,
                                      seed=0).set_index("true_slope")
    assert list(rates.index) == [1.5, 2.0, 2.5]
    shares = rates[["reproduced", "contradicted", "inconclusive", "not tested"]]
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert rates.loc[2.0, "shear"] == pytest.approx(0.0, abs=0.05)
    assert rates.loc[2.0, "reproduced | tested"] >= 0.9 and rates.loc[2.0, "contradicted"] == 0.0
    # the book's bar for a wrong label checked by simulation is 5 %; 400 grids add about 2 s.e. of slack
    for end in (1.5, 2.5):
        assert rates.loc[end, "contradicted | tested"] <= 0.075 and rates.loc[end, "reproduced | tested"] <= 0.075
    # the null grids sit where they should, and the s.e. is neither too small nor too large
    assert np.allclose(rates["mean estimate"], rates.index, atol=0.05)
    assert ((rates["median s.e."] / rates["sd of estimates"]).between(0.75, 1.33)).all(), rates


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
    # one row per run, seeds apart and in order (the schedules are run on a second seed as a check)
    assert table["seed"].tolist() == sorted(study.chosen["seed"].tolist())


def test_fit_figure_keeps_a_fixed_colour_per_value_and_drops_early_epochs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.colors import to_hex

    from gradconf.figures import fit_figure

    study = _toy_study([1, 4], [(0.1, 0.0), (0.1, 0.0), (0.1, 0.0)])
    study.epochs["probe_grad_norm"] = 1.0 + study.epochs["epoch"]
    study.epochs["probe_noise_scale"] = 2.0
    fig = fit_figure(study, "depth", palette="colorblind", order=[4, 2, 1], from_epoch=1)
    panel_d = fig.axes[3].get_lines()
    colours = sns.color_palette("colorblind", 3)
    # value 1 is third in the order, so it keeps the third colour although value 2 is absent
    assert {to_hex(line.get_color()) for line in panel_d} == {to_hex(colours[0]), to_hex(colours[2])}
    # the loss is 2/(1 + epoch·v): 2.0 at epoch 0, which from_epoch=1 leaves out
    assert all(max(line.get_xdata()) < 2.0 for line in panel_d)
    assert max(max(line.get_xdata()) for line in fit_figure(study, "depth").axes[3].get_lines()) == 2.0
    plt.close("all")


def test_cosine_band_is_clipped_to_the_unit_interval():
    from gradconf.figures import cosine_sd, spread

    lo, hi = cosine_sd(np.array([-0.99, -0.2, -0.95]))
    assert lo == -1.0 and hi < 1.0
    assert spread("cos_min") is cosine_sd and spread("final_train_loss") == "sd"


def test_band_of_a_quantity_that_cannot_be_negative_stays_positive():
    from gradconf.figures import positive_sd, spread

    values = np.array([0.01, 0.02, 3.0])  # one large draw: mean − std is negative
    lo, hi = positive_sd(values)
    assert lo == 0.01 and np.isclose(hi, values.mean() + values.std(ddof=1))
    assert positive_sd(np.array([1.0, 1.3, 1.2, 1.25]))[0] > 1.0  # a narrow band keeps its std
    assert spread("probe_eta") is positive_sd and spread("eta") is positive_sd and spread("mean_sq_norm") is positive_sd


def test_interval_error_bars_reach_the_interval_ends():
    import pandas as pd

    from gradconf.figures import interval_yerr

    frame = pd.DataFrame({"p_violation": [0.0, 0.5], "ci_low": [0.0, 0.3], "ci_high": [0.09, 0.6]})
    below, above = interval_yerr(frame)
    assert list(frame.p_violation - below) == [0.0, 0.3] and list(frame.p_violation + above) == [0.09, 0.6]
    assert (below >= 0).all() and (above >= 0).all()


def test_log_y_follows_the_data_not_the_padded_axis_limits():
    import matplotlib.pyplot as plt

    from gradconf.figures import log_y

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.04, 5.0, 60.0])  # three decades, all positive: the linear margin dips below 0
    assert ax.get_ylim()[0] < 0
    log_y(ax)
    assert ax.get_yscale() == "log"
    fig2, ax2 = plt.subplots()
    ax2.plot([1, 2], [-0.1, 5.0])  # a non-positive value keeps the axis linear
    log_y(ax2)
    assert ax2.get_yscale() == "linear"
    plt.close("all")
