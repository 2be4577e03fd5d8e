"""Every Gram method equals a per-example loop in float64 (paper eq. 3's inner products)."""
import copy
import pytest
import torch
from torch import nn

from gradconf.gram import GhostUnsupportedError, ghost_unsupported_reason, gradient_gram
from gradconf.init import InitConfig
from gradconf.models import MLPConfig, WRNConfig, build_model



@pytest.fixture(autouse=True)
def float64_default():
    """Exactness is tested in float64 (fp32 batched vs single-example passes can flip a ReLU)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def reference_gram(model, x, y, loss):
    """Per-example gradients by brute force, one backward each, independent of the engine."""
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad()
        out = model(x[i:i + 1])
        if loss == "cross_entropy":
            f = nn.functional.cross_entropy(out, y[i:i + 1])
        elif loss == "mse":
            f = 0.5 * ((out.reshape(-1) - y[i].reshape(-1)) ** 2).sum()
        else:
            f = nn.functional.softplus(-y[i] * out.reshape(()))
        f.backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.requires_grad]))
    model.zero_grad()
    g = torch.stack(rows)
    return g @ g.T


def assert_close(actual, expected):
    scale = expected.abs().max()
    assert scale > 0
    assert ((actual - expected).abs().max() / scale).item() <= 1e-10


def _data(n, shape, classes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    return x, y


def _eval_bn_resnet():
    model = build_model(WRNConfig(depth=10, width=1, bn=True, skip=True, in_channels=3), seed=1).double()
    # Non-trivial running statistics and affine parameters, so every BN term matters.
    gen = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.3, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
            m.weight.data.normal_(1, 0.2, generator=gen)
            m.bias.data.normal_(0, 0.2, generator=gen)
    return model.eval()


CASES = {
    "mlp_relu": (lambda: build_model(MLPConfig(input_dim=7, width=9, depth=3, output_dim=4), seed=0).double(), (7,), 4, "cross_entropy"),
    "mlp_tanh_mse": (lambda: build_model(MLPConfig(input_dim=5, width=11, depth=2, output_dim=3, activation="tanh"), seed=1).double(), (5,), 3, "mse"),
    "deep_linear_logistic": (lambda: build_model(MLPConfig(input_dim=6, width=8, depth=5, output_dim=1, activation="identity"), InitConfig("orthogonal"), seed=2).double(), (6,), None, "logistic"),
    "cnn_plain": (lambda: build_model(WRNConfig(depth=10, width=1, in_channels=2, num_classes=5), seed=3).double(), (2, 9, 7), 5, "cross_entropy"),
    "resnet_eval_bn": (_eval_bn_resnet, (3, 8, 8), 10, "cross_entropy"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["ghost", "vmap", "loop", "auto"])
def test_methods_match_per_example_loop(case, method):
    make, shape, classes, loss = CASES[case]
    model = make()
    n = 13  # odd, so nothing relies on even sizes
    if classes is None:
        x, _ = _data(n, shape, 2)
        y = torch.where(torch.rand(n, generator=torch.Generator().manual_seed(9)) > 0.5, 1.0, -1.0)
    elif loss == "mse":
        x, _ = _data(n, shape, 2)
        y = torch.randn(n, classes, generator=torch.Generator().manual_seed(9))
    else:
        x, y = _data(n, shape, classes)
    expected = reference_gram(model, x, y, loss)
    actual = gradient_gram(model, x, y, loss=loss, method=method)
    assert actual.shape == (n, n)
    assert_close(actual, expected)
    assert all(p.grad is None for p in model.parameters()), "the engine must not write .grad"


def test_conv_ghost_route_used_when_positions_are_few():
    """A conv applied at few positions takes the pairwise-positions route; it must be exact too."""
    # 5x5 input, 3x3 kernel, stride 2 -> T = 4 positions; n^2 T^2 (D + C) < n T C D + n^2 C D here.
    n, t, d, c = 9, 4, 27, 64
    assert n * n * t * t * (d + c) < n * t * c * d + n * n * c * d
    model = nn.Sequential(nn.Conv2d(3, c, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(c * t, 3)).double()
    x, y = _data(n, (3, 5, 5), 3)
    assert_close(gradient_gram(model, x, y, method="ghost"), reference_gram(model, x, y, "cross_entropy"))


def test_sequence_linear_and_frozen_parameters():
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Flatten(), nn.Linear(18, 2)).double()
    model[0].bias.requires_grad_(False)
    x = torch.randn(7, 3, 4)
    y = torch.randint(0, 2, (7,))
    assert_close(gradient_gram(model, x, y, method="ghost"), reference_gram(model, x, y, "cross_entropy"))


def test_blocked_assembly_under_small_memory_budget():
    model = build_model(MLPConfig(input_dim=5, width=6, depth=2, output_dim=3), seed=0).double()
    x, y = _data(11, (5,), 3)
    for method in ("vmap", "loop"):
        assert_close(gradient_gram(model, x, y, method=method, memory_budget=800), reference_gram(model, x, y, "cross_entropy"))


def test_orthogonal_inputs_give_zero_confusion():
    """Paper §2 worked example: logistic regression on orthogonal inputs has <g_i, g_j> = 0."""
    d = 6
    model = nn.Linear(d, 1, bias=False).double()
    x = torch.eye(d)[:5] * torch.arange(1.0, 6.0)[:, None]
    y = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0])
    gram = gradient_gram(model, x, y, loss="logistic", method="ghost")
    off = gram - torch.diag(gram.diagonal())
    assert off.abs().max().item() == 0.0
    assert (gram.diagonal() > 0).all()


def test_train_mode_batchnorm_is_refused_by_every_method():
    model = build_model(WRNConfig(depth=10, width=1, bn=True, skip=True), seed=0).double().train()
    x, y = _data(4, (3, 8, 8), 10)
    for method in ("ghost", "vmap", "loop", "auto"):
        with pytest.raises(ValueError, match="batch statistics"):
            gradient_gram(model, x, y, method=method)


def test_unsupported_layers_auto_falls_back_and_ghost_explains():
    model = nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.Linear(5, 3)).double()
    x, y = _data(6, (4,), 3)
    assert "LayerNorm" in ghost_unsupported_reason(model)
    with pytest.raises(GhostUnsupportedError, match="LayerNorm"):
        gradient_gram(model, x, y, method="ghost")
    assert_close(gradient_gram(model, x, y, method="auto"), reference_gram(model, x, y, "cross_entropy"))


def test_inplace_activation_is_detected():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 3)).double()
    x, y = _data(6, (4,), 3)
    with pytest.raises(GhostUnsupportedError, match="in place"):
        gradient_gram(model, x, y, method="ghost")
    assert_close(gradient_gram(model, x, y, method="auto"), reference_gram(model, x, y, "cross_entropy"))


def test_shared_weights_are_not_ghosted():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.Tanh(), lin, nn.Linear(4, 2)).double()
    x, y = _data(5, (4,), 2)
    with pytest.raises(GhostUnsupportedError):
        gradient_gram(model, x, y, method="ghost")
    assert_close(gradient_gram(model, x, y, method="auto"), reference_gram(model, x, y, "cross_entropy"))


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "fast"}, "unknown method"),
    ({"loss": "hinge"}, "unknown loss"),
])
def test_bad_arguments(kwargs, match):
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=match):
        gradient_gram(model, torch.randn(2, 3), torch.tensor([0, 1]), **kwargs)


def test_ghost_gram_does_not_overflow_float32_on_a_finite_model():
    """Activations ~1e21 (weights blown up by a large step) make A A^T overflow float32 although every
    parameter is finite: the ghost Gram must equal the exact float64 Gram, not hold inf/NaN."""
    from gradconf.measure import confusion_summary

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[0].weight.mul_(1e21)
        model[0].bias.mul_(1e21)
        model[2].weight.mul_(1e-21)
    x, y = torch.randn(12, 8), torch.randint(0, 3, (12,))
    ghost = gradient_gram(model, x, y, method="auto")
    exact = gradient_gram(copy.deepcopy(model).double(), x.double(), y, method="loop")
    assert torch.isfinite(ghost).all() and ghost.dtype == torch.float64
    torch.testing.assert_close(ghost, exact, rtol=1e-5, atol=0)
    assert confusion_summary(ghost)["eta"] == pytest.approx(confusion_summary(exact)["eta"], rel=1e-5)


def test_non_finite_grams_and_cosines_are_errors_or_statuses_never_numbers():
    from gradconf.measure import confusion_summary, cosine_summary
    from gradconf.train import probe_summary
    from gradconf.data import ArrayDataset

    gram = torch.eye(4)
    gram[0, 1] = gram[1, 0] = float("nan")
    with pytest.raises(ValueError, match="2 non-finite entries"):
        confusion_summary(gram)  # main turned max(0, -nan) into eta 0.0
    with pytest.raises(ValueError, match="zero or not finite"):
        cosine_summary(torch.full((5,), float("nan")))
    model = nn.Sequential(nn.Linear(4, 3))
    data = ArrayDataset(torch.randn(6, 4), torch.randint(0, 3, (6,)), "t")
    data.x[2, 0] = float("nan")  # one NaN example
    assert probe_summary(model, data, "cross_entropy")["status"].startswith("non-finite gram")
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    assert probe_summary(model, data, "cross_entropy") == {"status": "non-finite parameters", "n": 6}


@pytest.mark.parametrize("case", ["mlp_relu", "cnn_plain", "resnet_eval_bn"])
def test_vmap_folds_segment_by_segment_over_the_budget(case):
    """Over the budget, vmap backpropagates one segment at a time; the Gram stays exact, and a budget
    smaller than one segment falls back to recomputing blocks of examples within that segment."""
    from gradconf.gram import gram_segments
    build, shape, classes, loss = CASES[case]
    model = build()
    assert gram_segments(model) is not None and len(gram_segments(model)) > 2
    x, y = _data(9, shape, classes)
    ref = reference_gram(model, x, y, loss)
    n_params = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in seg.parameters()) for seg in gram_segments(model))
    # segmented with whole segments; blocks of 3 examples in the largest segment; one example at a time
    for budget in (3 * 9 * 8 * n_params - 8, 3 * 8 * 3 * largest, 8 * largest):
        assert_close(gradient_gram(model, x, y, loss, method="vmap", memory_budget=budget), ref)


def test_vmap_over_the_budget_takes_the_segmented_path(monkeypatch):
    import gradconf.gram as gram_module

    def refuse(*args, **kwargs):
        raise AssertionError("the whole-model path ran")

    monkeypatch.setattr(gram_module, "_vmap_whole", refuse)
    build, shape, classes, loss = CASES["resnet_eval_bn"]
    model = build()
    x, y = _data(5, shape, classes)
    assert_close(gradient_gram(model, x, y, loss, method="vmap", memory_budget=64),
                 reference_gram(model, x, y, loss))


class _Residual(nn.Sequential):
    """A Sequential whose forward is not the composition of its children."""

    def forward(self, x):
        return super().forward(x) + x[:, :3]


class _NoSegments(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 5), nn.Linear(5, 3)
        self.segments = nn.Sequential(nn.Tanh())  # an attribute that happens to share the old name

    def forward(self, x):
        return self.b(self.segments(self.a(x)))


@pytest.mark.parametrize("build", [
    lambda: _Residual(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)),
    lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 3)),
    _NoSegments,
])
def test_vmap_over_the_budget_is_exact_where_segments_do_not_apply(build):
    """Overridden forward, in-place ops, no segments: whole-model blocks, never a wrong Gram."""
    model = build().double()
    x, y = _data(7, (4,), 3)
    ref = reference_gram(model, x, y, "cross_entropy")
    for budget in (1, 200):
        assert_close(gradient_gram(model, x, y, method="vmap", memory_budget=budget), ref)


def test_vmap_refuses_random_modules_rather_than_mixing_masks():
    model = nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.5), nn.Linear(5, 3)).double().train()
    x, y = _data(7, (4,), 3)
    for budget in (1, 10**9):
        with pytest.raises(RuntimeError):
            gradient_gram(model, x, y, method="vmap", memory_budget=budget)


def test_gram_segments_refuse_shared_and_outside_parameters():
    from gradconf.gram import gram_segments
    shared = nn.Linear(4, 4)
    assert gram_segments(nn.Sequential(shared, nn.Tanh(), shared)) is None

    class Outside(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(3, 2)
            self.scale = nn.Parameter(torch.ones(2))

        def gram_segments(self):
            return [self.body]

        def forward(self, x):
            return self.body(x) * self.scale

    assert gram_segments(Outside()) is None
    assert gram_segments(nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 2)))) is not None
    assert len(gram_segments(nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 2))))) == 3


@pytest.mark.parametrize("threshold,min_in_channels", [(0, 8), (10**12, 0), (10**12, 8)])
def test_conv_per_example_routes_are_exact(monkeypatch, threshold, min_in_channels):
    """Both materialising routes of a conv layer (strided slices + bmm, grouped convolution), alone and mixed,
    give the exact Gram."""
    import gradconf.gram as gram_module
    monkeypatch.setattr(gram_module, "_SLICED_MIN_WEIGHT_PER_POSITION", threshold)
    monkeypatch.setattr(gram_module, "_GROUPED_MIN_IN_CHANNELS", min_in_channels)
    build, shape, classes, loss = CASES["resnet_eval_bn"]
    model = build()
    x, y = _data(6, (3, 12, 12), classes)
    assert_close(gradient_gram(model, x, y, loss, method="ghost"), reference_gram(model, x, y, loss))


@pytest.mark.parametrize("group,block", [(1, 1 << 26), (300, 1 << 26), (10**6, 1 << 26), (1, 40)])
def test_sliced_conv_route_is_exact_for_any_geometry(monkeypatch, group, block):
    """The slicing route against the per-example loop: stride, dilation, asymmetric kernel and padding, one
    kernel offset per product or all of them, output channels in blocks."""
    import gradconf.gram as gram_module
    monkeypatch.setattr(gram_module, "_SLICED_MIN_WEIGHT_PER_POSITION", 0)
    monkeypatch.setattr(gram_module, "_SLICED_GROUP_ELEMENTS", group)
    monkeypatch.setattr(gram_module, "_BLOCK_ELEMENTS", block)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 5, (3, 2), stride=(2, 1), dilation=(1, 2), padding=(1, 2)), nn.Tanh(),
        nn.Conv2d(5, 4, 3, stride=2, padding=0, bias=False), nn.Flatten(), nn.Linear(4 * 2 * 5, 3),
    ).double()
    x, y = _data(7, (3, 11, 9), 3)
    x = x.double()
    assert_close(gradient_gram(model, x, y, "cross_entropy", method="ghost"),
                 reference_gram(model, x, y, "cross_entropy"))


@pytest.mark.parametrize("n,k", [(64, 8192), (100, 8193), (255, 8209), (300, 8192)])
def test_self_gram_half_route_equals_the_full_product(n, k):
    """The half-Gram over column chunks (64-255 rows, wide), with chunk counts 8, 3 and 1 (8209 is prime);
    300 rows take the block-triangle route instead."""
    from gradconf.gram import self_gram
    m = torch.randn(n, k, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    assert torch.allclose(self_gram(m), m @ m.T, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_self_gram_keeps_one_product_in_half_precision(dtype):
    """No chunked half-Gram in half precision (each chunk's sum would be rounded before adding them)."""
    from gradconf.gram import self_gram
    m = torch.randn(64, 8192, generator=torch.Generator().manual_seed(0)).to(dtype)
    assert torch.equal(self_gram(m), m @ m.T)


def test_ghost_refuses_layers_with_an_overridden_forward():
    """A Conv2d or Linear subclass whose forward is not the layer's own breaks the ghost rule (here a crop,
    which the slicing route would otherwise clamp silently); auto measures it with vmap, exactly."""
    class CroppedConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x)[:, :, 1:, 1:]

    class ScaledLinear(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    for model in (nn.Sequential(CroppedConv(2, 3, 3), nn.Flatten(), nn.Linear(3 * 5 * 5, 2)),
                  nn.Sequential(nn.Flatten(), ScaledLinear(2 * 8 * 8, 2))):
        assert "overrides" in ghost_unsupported_reason(model)
        x, y = _data(4, (2, 8, 8), 2)
        with pytest.raises(GhostUnsupportedError, match="overrides"):
            gradient_gram(model, x, y, method="ghost")
        assert_close(gradient_gram(model, x, y), reference_gram(model, x, y, "cross_entropy"))


@pytest.mark.parametrize("n", [5, 255, 256, 300, 1031])
def test_self_gram_equals_the_full_product(n):
    from gradconf.gram import self_gram
    m = torch.randn(n, 7, generator=torch.Generator().manual_seed(n))
    g = self_gram(m)
    assert torch.allclose(g, m @ m.T, rtol=1e-12, atol=1e-12)


def test_ghost_is_exact_where_the_gram_is_built_by_blocks():
    """n >= 256: the ghost Gram's symmetric block products against the per-example loop."""
    model = build_model(MLPConfig(input_dim=5, width=6, depth=2, output_dim=3), seed=0).double()
    x, y = _data(300, (5,), 3)
    assert_close(gradient_gram(model, x, y, method="ghost"), reference_gram(model, x, y, "cross_entropy"))
