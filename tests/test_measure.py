import math

import pytest
import torch
from torch import nn

from gradconf.gram import gradient_gram
from gradconf.measure import (confusion_summary, cosine_summary, gram_cosines, minibatch_cosines,
                              minibatch_gradient_pairs, off_diagonal)
from gradconf.models import MLPConfig, WRNConfig, build_model


def test_confusion_summary_on_a_known_gram():
    g = torch.tensor([[4.0, -1.0, 2.0], [-1.0, 1.0, 0.0], [2.0, 0.0, 9.0]], dtype=torch.float64)
    s = confusion_summary(g)
    assert s["eta"] == 1.0 and s["min_inner"] == -1.0
    assert math.isclose(s["mean_inner"], (-1 + 2 + 0) / 3)
    assert math.isclose(s["cos_min"], -0.5)
    assert math.isclose(s["gradient_diversity"], 14 / (14 + 2 * 1.0))
    assert math.isclose(s["m_coherence"] * s["gradient_diversity"], 1.0)
    assert math.isclose(s["cos_frac_negative"], 1 / 3)
    assert confusion_summary(torch.eye(3))["eta"] == 0.0  # orthogonal gradients: no confusion


def test_cosine_summary_excludes_undefined():
    s = cosine_summary(torch.tensor([0.5, float("nan"), -0.25]))
    assert s["count"] == 2 and s["undefined"] == 1 and s["min"] == -0.25
    with pytest.raises(ValueError):
        cosine_summary(torch.tensor([float("nan")]))


def test_minibatch_pairs_match_direct_computation():
    torch.manual_seed(0)
    model = build_model(MLPConfig(input_dim=6, width=8, depth=2, output_dim=3), seed=0).double()
    x, y = torch.randn(40, 6, dtype=torch.float64), torch.randint(0, 3, (40,))
    pairs = minibatch_gradient_pairs(model, x, y, n_pairs=3, batch_size=5, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    for k in range(3):
        idx = torch.randperm(40, generator=gen)[:10]
        grads = []
        for part in (idx[:5], idx[5:]):
            model.zero_grad()
            nn.functional.cross_entropy(model(x[part]), y[part]).backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
        cos = grads[0] @ grads[1] / (grads[0].norm() * grads[1].norm())
        assert abs(pairs.cosines[k].item() - cos.item()) < 1e-12
    # Minibatch gradient = mean of per-example gradients: consistent with the exact Gram.
    idx = torch.randperm(40, generator=torch.Generator().manual_seed(4))[:10]
    g = gradient_gram(model, x[idx], y[idx])
    inner = g[:5, 5:].sum() / 25
    assert abs(inner.item() - pairs.inner[0].item()) < 1e-12


def test_minibatch_pairs_are_bitwise_the_float64_of_each_backward():
    """The reused float64 buffers give exactly what a fresh concatenation per minibatch gives, in float32,
    with a parameter the loss reaches for some minibatches only (when it does not, its gradient is None:
    zeros, never the previous minibatch's gradient left in the buffer)."""
    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = build_model(MLPConfig(input_dim=6, width=8, depth=2, output_dim=3), seed=0)
            self.sometimes = nn.Parameter(torch.ones(3))

        def forward(self, x):
            out = self.body(x)
            return out + self.sometimes * x[:, :1] if x[0, 0] > 0 else out

    model = WithUnused()
    x, y = torch.randn(40, 6, generator=torch.Generator().manual_seed(1)), torch.randint(0, 3, (40,))
    pairs = minibatch_gradient_pairs(model, x, y, n_pairs=4, batch_size=5, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    params = list(model.parameters())
    reached = []
    for k in range(4):
        idx = torch.randperm(40, generator=gen)[:10]
        reached.append((bool(x[idx[0], 0] > 0), bool(x[idx[5], 0] > 0)))
        flat = []
        for part in (idx[:5], idx[5:]):
            grads = torch.autograd.grad(nn.functional.cross_entropy(model(x[part]), y[part]), params,
                                        allow_unused=True)
            flat.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                                   for p, g in zip(params, grads)]).to(torch.float64))
        assert pairs.inner[k].item() == (flat[0] @ flat[1]).item()
        assert pairs.norm_a[k].item() == flat[0].norm().item() and pairs.norm_b[k].item() == flat[1].norm().item()
    # the case this test is about happened: a buffer held a gradient of `sometimes` when the next minibatch
    # written into it had none
    assert any(reached[k][side] and not reached[k + 1][side] for k in range(3) for side in (0, 1)), reached


def test_batchnorm_mode_must_be_stated_and_state_is_restored():
    model = build_model(WRNConfig(depth=10, width=1, bn=True, skip=True), seed=0)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    with pytest.raises(ValueError, match="bn_mode"):
        minibatch_cosines(model, x, y, 2, 4, generator=torch.Generator())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    c = minibatch_cosines(model, x, y, 2, 4, generator=torch.Generator().manual_seed(0), bn_mode="train")
    assert c.shape == (2,) and torch.isfinite(c).all()
    assert not model.training  # mode restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats restored


def test_minibatch_needs_enough_examples():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="at least 2 \\* batch_size"):
        minibatch_cosines(model, torch.randn(5, 3), torch.zeros(5, dtype=torch.long), 1, 3, generator=torch.Generator())


def test_off_diagonal_and_cosines():
    g = torch.tensor([[1.0, 2.0], [2.0, 16.0]])
    assert off_diagonal(g).tolist() == [2.0]
    assert gram_cosines(g)[0, 1].item() == pytest.approx(0.5)


def test_degenerate_gradients_give_undefined_cosines_not_infinities():
    # example 2's squared norm underflowed (float32) to 0 and example 3's to a subnormal, while their inner
    # products with the large gradients did not: their cosines are undefined, the others' are unchanged
    g = torch.tensor([[4.0, 1.0, -1e-20, 3e-20],
                      [1.0, 9.0, 2e-20, -5e-20],
                      [-1e-20, 2e-20, 0.0, 0.0],
                      [3e-20, -5e-20, 0.0, 1e-44]], dtype=torch.float64)
    cos = gram_cosines(g)
    assert torch.isnan(cos[2:, :]).all() and torch.isnan(cos[:, 2:]).all()
    assert cos[0, 1].item() == pytest.approx(1 / 6)
    summary = confusion_summary(g)
    assert summary["cos_min"] == pytest.approx(1 / 6)
    assert (summary["cos_count"], summary["cos_undefined"]) == (1, 5)  # pairs i < j
    assert summary["eta"] == pytest.approx(5e-20)  # the raw confusion bound keeps every pair
    # a healthy Gram is left exactly as it was
    healthy = torch.tensor([[1.0, -0.5], [-0.5, 2.0]], dtype=torch.float64)
    assert torch.equal(gram_cosines(healthy), healthy / torch.outer(healthy.diagonal().sqrt(), healthy.diagonal().sqrt()))


def test_pool_measurement_equals_the_direct_protocol_on_identical_pairs():
    from gradconf.measure import _flat_gradient, pairs_from_gram, pool_gradient_pairs
    from gradconf.gram import gradient_gram, trainable_parameters
    from gradconf.models import MLPConfig, WRNConfig, build_model

    model = build_model(MLPConfig(10, 16, 2, 3), seed=0).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 10, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (48,), generator=gen)
    gram = gradient_gram(model, x, y)
    params = [p for _, p in trainable_parameters(model)]
    sets = [(torch.randperm(48, generator=gen)[:16]) for _ in range(3)]
    pairs = [(s[:8], s[8:]) for s in sets]
    from_gram = pairs_from_gram(gram, pairs)
    direct_inner = [(_flat_gradient(model, params, x[a], y[a], "cross_entropy")
                     @ _flat_gradient(model, params, x[b], y[b], "cross_entropy")).item() for a, b in pairs]
    assert from_gram.inner.tolist() == pytest.approx(direct_inner, rel=1e-10)
    direct_norms = [_flat_gradient(model, params, x[a], y[a], "cross_entropy").norm().item() for a, _ in pairs]
    assert from_gram.norm_a.tolist() == pytest.approx(direct_norms, rel=1e-10)
    pooled = pool_gradient_pairs(model, x, y, 4, 8, 32, generator=torch.Generator().manual_seed(1))
    assert pooled.cosines.shape == (4,) and bool(((pooled.cosines.abs()) <= 1 + 1e-12).all())
    with pytest.raises(ValueError, match="pool_size"):
        pool_gradient_pairs(model, x, y, 4, 8, 8, generator=torch.Generator())
    bn = build_model(WRNConfig(depth=10, width=1, base_channels=2, bn=True), seed=0)
    with pytest.raises(ValueError, match="BatchNorm in train mode"):
        pool_gradient_pairs(bn, torch.randn(8, 3, 8, 8), torch.zeros(8, dtype=torch.long), 1, 2, 8,
                            generator=torch.Generator(), bn_mode="train")


def test_pool_size_is_left_out_of_the_key_at_its_default():
    from gradconf.experiment import RunConfig
    from gradconf.models import MLPConfig
    from gradconf.train import MeasureConfig

    base = RunConfig(dataset="mnist", model=MLPConfig(784, 8, 1, 10))
    assert "pool_size" not in base.to_dict()["measure"]
    pooled = RunConfig(dataset="mnist", model=MLPConfig(784, 8, 1, 10), measure=MeasureConfig(pool_size=512))
    assert pooled.to_dict()["measure"]["pool_size"] == 512 and pooled.key != base.key
    assert RunConfig.from_dict(base.to_dict()).key == base.key
    with pytest.raises(ValueError, match="pool_size"):
        MeasureConfig(pool_size=100, batch_size=128)
