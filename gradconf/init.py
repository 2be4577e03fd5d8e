"""Weight initialisations compared in the study.

- ``gaussian``: paper Strategy 4.1 (Thm 4.1): W_0 ~ N(0, 1/d), later W_p ~ N(0, 1/(kappa * fan_in)).
- ``he``: He/MSRA normal, std = gain * sqrt(2 / fan) (the paper's CNN initialisation, §7).
- ``glorot``: Glorot/Xavier normal, std = gain * sqrt(2 / (fan_in + fan_out)).
- ``spectral``: Gaussian matrices rescaled to operator norm exactly ``gain`` (paper Assumption 1 with
  ``gain`` = 1: ‖W_p‖_op ≤ 1, the setting of Thm 5.1 / Cor 5.1).
- ``orthogonal``: (semi-)orthogonal matrices times ``gain`` (paper Thm 6.1, deep linear nets). The
  read-out layer is further scaled by (2 * depth) ** -depth_exponent; ``depth_exponent=0.5`` gives the
  gamma = 1/sqrt(2 beta) rescaling reported for Thm 6.1, whose exact place in v5 is not verified.

Biases start at zero; BatchNorm at weight 1, bias 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

INIT_SCHEMES: tuple[str, ...] = ("gaussian", "he", "glorot", "orthogonal", "spectral")
FAN_MODES: tuple[str, ...] = ("fan_in", "fan_out")


@dataclass(frozen=True)
class InitConfig:
    """How to initialise a network's weights; see the module docstring for each scheme."""

    scheme: str = "he"
    kappa: float = 1.0
    gain: float = 1.0
    fan_mode: str = "fan_in"
    depth_exponent: float = 0.0

    def __post_init__(self) -> None:
        if self.scheme not in INIT_SCHEMES:
            raise ValueError(f"unknown init scheme {self.scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")
        if self.fan_mode not in FAN_MODES:
            raise ValueError(f"unknown fan_mode {self.fan_mode!r}; allowed: {', '.join(FAN_MODES)}")
        if not (self.kappa > 0 and math.isfinite(self.kappa)):
            raise ValueError(f"kappa must be a positive finite number, got {self.kappa!r}")
        if not (self.gain > 0 and math.isfinite(self.gain)):
            raise ValueError(f"gain must be a positive finite number, got {self.gain!r}")
        if not math.isfinite(self.depth_exponent):
            raise ValueError(f"depth_exponent must be finite, got {self.depth_exponent!r}")


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def initialize(model: nn.Module, config: InitConfig, depth: int, seed: int) -> nn.Module:
    """Initialise ``model``'s Linear/Conv2d/BatchNorm layers in place, deterministically from ``seed``.

    ``depth`` is the network depth beta, used only by the orthogonal depth scaling.
    """
    gen = torch.Generator().manual_seed(seed)
    weighted = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for index, m in enumerate(weighted):
        w = m.weight
        fan_in, fan_out = _fans(w)
        if config.scheme == "orthogonal":
            gain = config.gain
            if index == len(weighted) - 1:
                gain *= (2 * depth) ** -config.depth_exponent
            # Generate on CPU in float64 so the matrix is the same whatever the model's dtype/device.
            q = torch.empty(w.shape, dtype=torch.float64)
            nn.init.orthogonal_(q, gain=gain, generator=gen)
            w.copy_(q)
        elif config.scheme == "spectral":
            g = torch.empty(w.shape, dtype=torch.float64).normal_(0.0, 1.0, generator=gen)
            w.copy_(config.gain * g / torch.linalg.matrix_norm(g.reshape(g.shape[0], -1), ord=2))
        else:
            if config.scheme == "gaussian":
                std = 1.0 / math.sqrt(fan_in if index == 0 else config.kappa * fan_in)
            elif config.scheme == "he":
                std = config.gain * math.sqrt(2.0 / (fan_in if config.fan_mode == "fan_in" else fan_out))
            else:
                std = config.gain * math.sqrt(2.0 / (fan_in + fan_out))
            w.copy_(torch.empty(w.shape, dtype=torch.float64).normal_(0.0, std, generator=gen))
        if m.bias is not None:
            m.bias.zero_()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()
    return model
