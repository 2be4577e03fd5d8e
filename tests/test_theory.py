"""The theory-chapter helpers: linear-model SGD, confusion at initialisation, the noise-scale identity."""
import numpy as np
import pytest
import torch

from gradconf.init_confusion import init_confusion_draws, violation_probability
from gradconf.linear_sgd import (correlated_orthogonal_inputs, correlated_sphere_regression, least_squares_gradients,
                                 least_squares_sgd, logistic_gradients, max_abs_cosine, orthogonal_decoupling,
                                 pairwise_statistics, pl_theorem_floor, sgd_floor,
                                 sgd_stationary_covariance, sgd_stationary_floor)
from gradconf.measure import confusion_summary, minibatch_gradient_pairs, predicted_minibatch_cosine, simple_noise_scale


def test_correlated_orthogonal_inputs_have_the_stated_inner_products():
    x, y = correlated_orthogonal_inputs(10, 16, 0.3, seed=0)
    gram = x @ x.T
    assert np.allclose(np.diag(gram), 1.0)
    off = gram[~np.eye(10, dtype=bool)]
    assert np.allclose(np.abs(off), 0.3) and set(np.unique(y)) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="n < d"):
        correlated_orthogonal_inputs(16, 16, 0.0, seed=0)


def test_orthogonal_inputs_decouple_sgd_and_correlation_breaks_it():
    x, y = correlated_orthogonal_inputs(12, 20, 0.0, seed=1)
    exact = orthogonal_decoupling(x, y, lr=0.5, steps=500, seed=1)
    assert exact.max_gap < 1e-12 and exact.max_abs_inner < 1e-12
    x, y = correlated_orthogonal_inputs(12, 20, 0.4, seed=1)
    coupled = orthogonal_decoupling(x, y, lr=0.5, steps=500, seed=1)
    assert coupled.max_gap > 1e-2 and coupled.max_abs_inner > 1e-3


def test_per_sample_gradients_match_autograd():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 3)), rng.standard_normal(3)
    y_reg, y_sign = rng.standard_normal(5), np.sign(rng.standard_normal(5))
    for fn, loss, y in ((least_squares_gradients, lambda z, t: 0.5 * (z - t) ** 2, y_reg),
                        (logistic_gradients, lambda z, t: torch.nn.functional.softplus(-t * z), y_sign)):
        wt = torch.tensor(w, requires_grad=True)
        rows = [torch.autograd.grad(loss(torch.tensor(x[i]) @ wt, torch.tensor(y[i])), wt)[0].numpy()
                for i in range(5)]
        assert np.allclose(fn(x, y, w), np.stack(rows))
    stats = pairwise_statistics(least_squares_gradients(x, y_reg, w))
    assert stats["eta"] == max(0.0, -stats["min_inner"])


def test_least_squares_sgd_converges_when_it_can_interpolate():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 40)) / np.sqrt(40)
    y = rng.standard_normal(20)
    trace = least_squares_sgd(x, y, lr=0.5, iterations=4000, seed=0, record_every=1000)
    assert trace["iteration"].tolist() == [0, 1000, 2000, 3000, 4000]
    assert trace["grad_norm"][-1] < 1e-3 * trace["grad_norm"][0]
    x_under = rng.standard_normal((40, 20)) / np.sqrt(20)
    stalled = least_squares_sgd(x_under, rng.standard_normal(40), lr=0.5, iterations=4000, seed=0, record_every=1000)
    assert stalled["grad_norm"][-1] > 1e-2 * stalled["grad_norm"][0]
    # sum_ratio = N²‖G‖²/Σ‖g_i‖², recorded at w = 0 first; Σ_{i≠j}⟨g_i, g_j⟩ = N²‖G‖² − Σ‖g_i‖²
    g0 = least_squares_gradients(x_under, stalled_y := rng.standard_normal(40), np.zeros(20))
    again = least_squares_sgd(x_under, stalled_y, lr=0.5, iterations=10, seed=0, record_every=10)
    assert np.isclose(again["sum_ratio"][0], 40 ** 2 * np.sum(g0.mean(axis=0) ** 2) / np.sum(g0 * g0))
    gram = g0 @ g0.T
    assert np.isclose(gram.sum() - np.trace(gram), 40 ** 2 * np.sum(g0.mean(axis=0) ** 2) - np.sum(g0 * g0))


def test_sgd_floor_scales_with_step_size_and_respects_the_bound():
    x, y = correlated_sphere_regression(50, 10, 0.2, seed=0)
    out = sgd_floor(x, y, np.array([0.003, 0.03]), iterations=20000, seeds=2, record_every=50)
    small, large = out["floor"][out["lr"] == 0.003].mean(), out["floor"][out["lr"] == 0.03].mean()
    assert 5 < large / small < 20  # linear in the step size, up to noise
    bound = pl_theorem_floor(out["lr"], out["eta_path"], 50, smoothness=1.0, pl=1.0)
    valid = ~np.isnan(bound)
    assert valid.any() and (out["floor"][valid] <= bound[valid]).all()
    assert np.isnan(pl_theorem_floor(np.array([0.1]), np.array([1.0]), 50, 1.0, 1.0))[0]


def _second_moment_step(x, y, lr, s):
    """One step of the second-moment recursion of batch-1 SGD about w*, written out term by term, and the
    per-sample gradient covariance C at w*."""
    n = len(x)
    h = x.T @ x / n
    r = x @ np.linalg.lstsq(x, y, rcond=None)[0] - y
    c = (x * (r ** 2)[:, None]).T @ x / n
    step = s - lr * (h @ s + s @ h) + lr ** 2 * sum((xi @ s @ xi) * np.outer(xi, xi) for xi in x) / n + lr ** 2 * c
    return step, c


def test_stationary_covariance_is_the_fixed_point_of_sgds_second_moment():
    x, y = correlated_sphere_regression(30, 6, 0.3, seed=1)
    h = x.T @ x / len(x)
    for lr in (0.01, 0.3, 1.5):
        s = sgd_stationary_covariance(x, y, lr)
        one_step, c = _second_moment_step(x, y, lr, s)
        assert np.allclose(one_step, s, rtol=0, atol=1e-12 * np.abs(s).max())
        assert np.isclose(sgd_stationary_floor(x, y, lr), 0.5 * np.sum(h * s))
        # unit inputs: the trace of the fixed-point equation closes, floor = α tr(C)/(2(2 − α))
        assert np.isclose(sgd_stationary_floor(x, y, lr), lr * np.trace(c) / (2 * (2 - lr)), rtol=1e-10)
    # inputs of other norms have no such closed form, and the solver does not assume one
    scaled = x * np.linspace(0.5, 1.5, len(x))[:, None]
    s = sgd_stationary_covariance(scaled, y, 0.1)
    assert np.allclose(_second_moment_step(scaled, y, 0.1, s)[0], s, rtol=0, atol=1e-12 * np.abs(s).max())
    # first order in α: the floor is α E‖∇f_i(w*)‖²/4
    assert np.isclose(sgd_stationary_floor(x, y, 1e-6) / 1e-6, np.trace(c) / 4, rtol=1e-4)
    with pytest.raises(ValueError, match="diverges"):
        sgd_stationary_covariance(x, y, 3.0)
    with pytest.raises(ValueError, match="singular"):
        sgd_stationary_covariance(*correlated_sphere_regression(10, 12, 0.0, seed=0), 0.01)


def test_sgd_floor_has_no_transient_at_a_slow_step():
    # d close to N and a small step: the flattest direction mixes over ~1e5 steps, yet runs started at
    # the stationary second moment average the exact floor from their first steps
    x, y = correlated_sphere_regression(100, 50, 0.0, seed=0)
    out = sgd_floor(x, y, np.array([0.003]), iterations=2000, seeds=100, burn_in=0.0, record_every=20)
    se = out["floor"].std(ddof=1) / np.sqrt(len(out["floor"]))
    assert abs(out["floor"].mean() - out["floor_exact"][0]) < 4 * se
    # several step sizes in one call: each run's exact floor and start belong to its own step size
    x, y = correlated_sphere_regression(40, 10, 0.3, seed=2)
    lrs = np.array([0.002, 0.05, 0.3])
    out = sgd_floor(x, y, lrs, iterations=400, seeds=200, burn_in=0.0, record_every=4)
    for lr in lrs:
        runs = out["lr"] == lr
        assert np.allclose(out["floor_exact"][runs], sgd_stationary_floor(x, y, lr))
        se = out["floor"][runs].std(ddof=1) / np.sqrt(runs.sum())
        assert abs(out["floor"][runs].mean() - sgd_stationary_floor(x, y, lr)) < 4 * se


def test_max_abs_cosine_shrinks_with_dimension():
    assert max_abs_cosine(50, 1024, seed=0) < 0.5 * max_abs_cosine(50, 32, seed=0)


def test_init_confusion_draws_and_violation_probability():
    frame = init_confusion_draws([8, 64], [1, 3], n=16, d=8, draws=3, seed=0)
    assert len(frame) == 2 * 2 * 3 and {"eta", "cos_min", "mean_sq_norm"} <= set(frame.columns)
    again = init_confusion_draws([8, 64], [1, 3], n=16, d=8, draws=3, seed=0)
    assert frame.equals(again)
    # each draw's inputs: one value per draw, the most negative off-diagonal cosine of that draw's data
    from gradconf.synthetic import sphere_teacher

    assert (frame.groupby("draw")["inputs_cos_min"].nunique() == 1).all()
    x = sphere_teacher(16, 8, generator=torch.Generator().manual_seed(1)).x.double()
    x = x / x.norm(dim=1, keepdim=True)
    cos = (x @ x.T).numpy()
    np.fill_diagonal(cos, np.inf)
    assert np.isclose(frame[frame.draw == 1]["inputs_cos_min"].iloc[0], cos.min())
    p = violation_probability(frame, eta=0.0, column="cos_min")
    assert len(p) == 4 and p.p_violation.between(0, 1).all() and (p.draws == 3).all()
    none = violation_probability(frame, eta=1e9)
    assert (none.p_violation == 0).all() and (none.violations == 0).all()
    # no violation in 3 draws still leaves P up to 1 − 0.025^(1/3) at 95 %, not a zero-width bar
    assert np.allclose(none.ci_low, 0) and np.allclose(none.ci_high, 1 - 0.025 ** (1 / 3))
    assert ((p.ci_low <= p.p_violation) & (p.p_violation <= p.ci_high)).all()
    with pytest.raises(ValueError, match="loss"):
        init_confusion_draws([8], [1], n=4, d=3, draws=1, loss="cross_entropy")


def test_noise_scale_and_stiffness_from_a_known_gram():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    gram = g @ g.T
    mean = g.mean(0)
    trace_sigma = ((g - mean) ** 2).sum(1).mean()
    assert simple_noise_scale(gram) == pytest.approx((trace_sigma / mean.pow(2).sum()).item())
    s = confusion_summary(gram)
    assert s["sign_stiffness"] == pytest.approx(2 / 3)  # pairs: 0, +1, +1
    assert predicted_minibatch_cosine(0.0, 8) == 1.0 and predicted_minibatch_cosine(8.0, 8) == 0.5
    with pytest.raises(ValueError, match="population"):
        predicted_minibatch_cosine(1.0, 8, population=10)


def test_predicted_minibatch_cosine_matches_sampling():
    torch.manual_seed(0)
    n, d = 200, 5
    g = torch.randn(n, d, dtype=torch.float64) + 0.3  # per-example "gradients" of a linear model
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(0.0)
    # loss mse with y = -1 gives per-example gradient (0 - (-1)) * x = x, so gradients are the inputs
    x, y = g, -torch.ones(n, 1, dtype=torch.float64)
    pairs = minibatch_gradient_pairs(model, x, y, n_pairs=400, batch_size=10,
                                     generator=torch.Generator().manual_seed(0), loss="mse")
    predicted = predicted_minibatch_cosine(simple_noise_scale(g @ g.T), 10, population=n)
    assert pairs.cosines.mean().item() == pytest.approx(predicted, abs=0.05)


def test_strategy_operator_norms_follow_random_matrix_theory():
    # Thm 4.1's proof bounds every operator norm by 1; Strategy 4.1 weights do not satisfy that at κ = 1:
    # ‖W_0‖ ≈ 1 + √(ℓ/d) (ℓ × d, entries N(0, 1/d)) and ‖W_p‖ ≈ 2/√κ (ℓ × ℓ, entries N(0, 1/(κℓ)))
    from gradconf.init_confusion import strategy_operator_norms

    norms = strategy_operator_norms([256], d=16, kappa=1.0, draws=2).set_index("draw")
    assert np.allclose(norms["first"], 1 + np.sqrt(256 / 16), rtol=0.1)
    assert np.allclose(norms["hidden"], 2.0, rtol=0.1)
    wide_kappa = strategy_operator_norms([256], d=16, kappa=4.0, draws=2)
    assert np.allclose(wide_kappa["hidden"], 1.0, rtol=0.1)
    with pytest.raises(ValueError, match="draws"):
        strategy_operator_norms([16], d=4, draws=0)


def test_orthogonal_linear_net_without_biases_has_the_data_cosines_up_to_residual_signs():
    # the identity of the Thm 6.1 chapter: in a bias-free linear net of orthogonal maps (width ≥ d),
    # <∇f_i, ∇f_j> = (1 + βγ²) r_i r_j <x_i, x_j>, so each cosine is sign(r_i r_j) cos(x_i, x_j) at every depth
    from gradconf.gram import gradient_gram
    from gradconf.init import InitConfig
    from gradconf.init_confusion import init_confusion_draws, init_scheme_draws
    from gradconf.models import MLPConfig, build_model
    from gradconf.synthetic import sphere_teacher

    data = sphere_teacher(12, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for depth in (1, 4):
        model = build_model(MLPConfig(input_dim=8, width=16, depth=depth, output_dim=1, activation="identity",
                                      bias=False), InitConfig(scheme="orthogonal", depth_exponent=0.5), seed=depth)
        model = model.double()
        gram = gradient_gram(model, data.x, data.y, loss="mse", method="ghost").double()
        r = (model(data.x) - data.y).detach().reshape(-1)
        cos = gram / torch.sqrt(torch.outer(gram.diagonal(), gram.diagonal()))
        expected = torch.sign(torch.outer(r, r)) * (data.x @ data.x.T)
        assert torch.allclose(cos, expected, atol=1e-6)
        beta_gamma2 = depth * (2 * depth) ** -1.0
        expected_gram = (1 + beta_gamma2) * torch.outer(r, r) * (data.x @ data.x.T)
        assert (gram - expected_gram).abs().max() < 1e-6 * gram.abs().max()  # float32 weights: 1e-7 relative
    # init_scheme_draws passes its bias on: bias-free draws equal init_confusion_draws' own
    scheme = {"orthogonal": InitConfig(scheme="orthogonal")}
    via_schemes = init_scheme_draws(scheme, [2], width=16, n=8, d=8, draws=2, bias=False)
    direct = init_confusion_draws([16], [2], n=8, d=8, draws=2, activation="identity", init=scheme["orthogonal"],
                                  bias=False)
    assert np.allclose(via_schemes.cos_min, direct.cos_min)
    with_bias = init_scheme_draws(scheme, [2], width=16, n=8, d=8, draws=2, bias=True)
    assert not np.allclose(with_bias.cos_min, direct.cos_min)
