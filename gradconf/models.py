"""Networks of the study, built from validated, frozen config dataclasses.

- :class:`MLPConfig`: fully connected nets (paper eq. 4; identity activation = deep linear net, Thm 6.1).
- :class:`WRNConfig`: CNN-beta-l / WRN-beta-l of paper §7 (Figs. 2-4): a wide residual network of depth
  beta = 6n + 4 and width factor l, whose ``bn`` and ``skip`` switches give the four variants of Fig. 4
  (CNN-beta-l is the WRN without BatchNorm and skip connections).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar, Union

import torch
from torch import nn

from .init import InitConfig, initialize

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "identity": nn.Identity}


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class MLPConfig:
    """Fully connected net: ``depth`` hidden layers of ``width`` units, then a linear read-out.

    With ``depth`` hidden layers the net has ``depth + 1`` weight matrices W_0..W_depth (paper eq. 4 with
    beta = depth). Inputs of any shape are flattened first.
    """

    input_dim: int = 784
    width: int = 256
    depth: int = 2
    output_dim: int = 10
    activation: str = "relu"
    bias: bool = True
    kind: ClassVar[str] = "mlp"

    def __post_init__(self) -> None:
        for field in ("input_dim", "width", "depth", "output_dim"):
            _positive_int(field, getattr(self, field))
        _activation(self.activation)

    @property
    def name(self) -> str:
        return f"MLP-{self.depth}x{self.width}-{self.activation}"


@dataclass(frozen=True)
class WRNConfig:
    """WRN-beta-l with switches: depth beta = 6n + 4 (n blocks per stage), stages of 16l, 32l, 64l channels.

    ``bn=False, skip=False`` is the paper's CNN-beta-l; ``bn=True, skip=True`` is the standard
    (pre-activation) wide ResNet. Convolutions have no bias, as in the WRN reference code.
    ``base_channels`` = 16 is the paper's; a smaller value (stages of b, 2b, 4b times l channels) is a
    CPU-scale deviation that the book states wherever it is used.
    """

    depth: int = 16
    width: int = 2
    base_channels: int = 16
    bn: bool = False
    skip: bool = False
    num_classes: int = 10
    in_channels: int = 3
    activation: str = "relu"
    kind: ClassVar[str] = "wrn"

    def __post_init__(self) -> None:
        _positive_int("depth", self.depth)
        _positive_int("width", self.width)
        _positive_int("num_classes", self.num_classes)
        _positive_int("in_channels", self.in_channels)
        _positive_int("base_channels", self.base_channels)
        if self.depth < 10 or (self.depth - 4) % 6:
            raise ValueError(
                f"WRN/CNN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, 40, 52, 76, 100, ...), got {self.depth}"
            )
        _activation(self.activation)

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 4) // 6

    @property
    def name(self) -> str:
        base = "WRN" if (self.bn and self.skip) else "CNN"
        extras = "" if base == "WRN" or not (self.bn or self.skip) else ("+BN" if self.bn else "+skip")
        slim = "" if self.base_channels == 16 else f"/b{self.base_channels}"
        return f"{base}-{self.depth}-{self.width}{extras}{slim}"


ModelConfig = Union[MLPConfig, WRNConfig]
MODEL_CONFIGS: dict[str, type] = {"mlp": MLPConfig, "wrn": WRNConfig}


def model_config_from_dict(d: dict) -> ModelConfig:
    """Rebuild a model config from ``{"kind": ..., **fields}`` (the form stored in run records)."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in MODEL_CONFIGS:
        raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(MODEL_CONFIGS)}")
    known = {f.name for f in fields(MODEL_CONFIGS[kind])}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {kind} model fields {unknown}; allowed: {sorted(known)}")
    return MODEL_CONFIGS[kind](**d)


def model_config_to_dict(config: ModelConfig) -> dict:
    return {"kind": config.kind, **asdict(config)}


class MLP(nn.Sequential):
    def __init__(self, config: MLPConfig):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = config.input_dim
        for _ in range(config.depth):
            layers += [nn.Linear(fan_in, config.width, bias=config.bias), ACTIVATIONS[config.activation]()]
            fan_in = config.width
        layers.append(nn.Linear(fan_in, config.output_dim, bias=config.bias))
        super().__init__(*layers)
        self.config = config


class _Block(nn.Module):
    """Pre-activation basic block: [BN] act conv3x3 [BN] act conv3x3 (+ shortcut if ``skip``)."""

    def __init__(self, c_in: int, c_out: int, stride: int, config: WRNConfig):
        super().__init__()
        act = ACTIVATIONS[config.activation]
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in) if config.bn else nn.Identity(), act())
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out) if config.bn else nn.Identity(),
            act(),
            nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False),
        )
        self.skip = config.skip
        self.shortcut: nn.Module | None = None
        if config.skip and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre(x)
        out = self.body(h)
        if not self.skip:
            return out
        # As in the WRN reference code, a projection shortcut sees the pre-activated input.
        return out + (x if self.shortcut is None else self.shortcut(h))


class WRN(nn.Module):
    def __init__(self, config: WRNConfig):
        super().__init__()
        self.config = config
        widths = [config.base_channels, config.base_channels * config.width, 2 * config.base_channels * config.width, 4 * config.base_channels * config.width]
        self.stem = nn.Conv2d(config.in_channels, widths[0], 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        for stage, stride in zip(range(3), (1, 2, 2)):
            for i in range(config.blocks_per_stage):
                c_in = widths[stage] if i == 0 else widths[stage + 1]
                blocks.append(_Block(c_in, widths[stage + 1], stride if i == 0 else 1, config))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.BatchNorm2d(widths[3]) if config.bn else nn.Identity(),
            ACTIVATIONS[config.activation](),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(widths[3], config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def gram_segments(self) -> list[nn.Module]:
        """Modules whose composition is :meth:`forward` (read by :func:`gradconf.gram.gram_segments`)."""
        return [self.stem, *self.blocks, *self.head]


def build_model(config: ModelConfig, init: InitConfig | None = None, seed: int = 0) -> nn.Module:
    """Build and initialise the network described by ``config`` (deterministic given ``seed``)."""
    if isinstance(config, MLPConfig):
        model: nn.Module = MLP(config)
    elif isinstance(config, WRNConfig):
        model = WRN(config)
    else:
        raise TypeError(f"expected MLPConfig or WRNConfig, got {type(config).__name__}")
    initialize(model, init or InitConfig(), depth=config.depth, seed=seed)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (paper App. A.3 reports them to show every net is overparameterised)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
