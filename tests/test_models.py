import math

import pytest
import torch
from torch import nn

from gradconf.init import InitConfig
from gradconf.models import MLPConfig, WRNConfig, build_model, count_parameters, model_config_from_dict


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 15}, "6n \\+ 4"),
    ({"depth": 4}, "6n \\+ 4"),
    ({"width": 0}, "positive integer"),
    ({"activation": "gelu"}, "allowed: relu, tanh, identity"),
])
def test_bad_wrn_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WRNConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"width": -3}, "positive integer"),
    ({"depth": 0}, "positive integer"),
    ({"activation": "swish"}, "allowed"),
])
def test_bad_mlp_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"scheme": "lecun"}, "allowed: gaussian, he, glorot, orthogonal"),
    ({"kappa": 0.0}, "kappa"),
    ({"fan_mode": "avg"}, "fan_in, fan_out"),
])
def test_bad_init_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InitConfig(**kwargs)


def test_unknown_model_kind():
    with pytest.raises(ValueError, match="allowed: mlp, wrn"):
        model_config_from_dict({"kind": "vit"})


def test_wrn_variants_structure_and_names():
    n_convs = lambda m: sum(isinstance(x, nn.Conv2d) for x in m.modules())
    plain = build_model(WRNConfig(depth=16, width=2))
    assert WRNConfig(depth=16, width=2).name == "CNN-16-2"
    assert n_convs(plain) == 1 + 6 * 2  # stem + two convs per block, no shortcuts
    assert not any(isinstance(x, nn.BatchNorm2d) for x in plain.modules())
    wrn = build_model(WRNConfig(depth=16, width=2, bn=True, skip=True))
    assert WRNConfig(depth=16, width=2, bn=True, skip=True).name == "WRN-16-2"
    assert n_convs(wrn) == 1 + 12 + 3  # three projection shortcuts (16->32, 32->64, 64->128)
    # The standard WRN-16-2 has about 0.69 M parameters.
    assert 0.6e6 < count_parameters(wrn) < 0.75e6
    assert WRNConfig(bn=True).name == "CNN-16-2+BN" and WRNConfig(skip=True).name == "CNN-16-2+skip"
    out = wrn(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_build_is_deterministic_and_seed_dependent():
    cfg = MLPConfig(input_dim=10, width=20, depth=2)
    a, b, c = build_model(cfg, seed=1), build_model(cfg, seed=1), build_model(cfg, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[1].weight, c[1].weight)


def test_gaussian_strategy_4_1_scales():
    """Paper Strategy 4.1: W_0 ~ N(0, 1/d), W_p ~ N(0, 1/(kappa * fan_in))."""
    cfg = MLPConfig(input_dim=400, width=500, depth=2, output_dim=300)
    m = build_model(cfg, InitConfig("gaussian", kappa=4.0), seed=0)
    w0, w1 = m[1].weight, m[3].weight
    assert abs(w0.std().item() - 1 / math.sqrt(400)) < 0.02 / math.sqrt(400) * 5
    assert abs(w1.std().item() - 1 / math.sqrt(4 * 500)) < 0.02 / math.sqrt(2000) * 5
    he = build_model(cfg, InitConfig("he"), seed=0)
    assert abs(he[3].weight.std().item() - math.sqrt(2 / 500)) < 0.01


def test_orthogonal_init_and_depth_scaling():
    cfg = MLPConfig(input_dim=16, width=16, depth=4, output_dim=16, activation="identity")
    m = build_model(cfg, InitConfig("orthogonal"), seed=0)
    w = m[3].weight.double()
    assert torch.allclose(w @ w.T, torch.eye(16, dtype=torch.float64), atol=1e-5)
    scaled = build_model(cfg, InitConfig("orthogonal", depth_exponent=0.5), seed=0)
    last = scaled[-1].weight.double()
    assert torch.allclose(last @ last.T, torch.eye(16, dtype=torch.float64) / (2 * 4), atol=1e-5)
    # For a deep linear net with orthogonal layers, norms are preserved up to the read-out scale.
    x = torch.randn(5, 16)
    assert torch.allclose(scaled(x).norm(dim=1), x.norm(dim=1) / math.sqrt(8), atol=1e-4)
