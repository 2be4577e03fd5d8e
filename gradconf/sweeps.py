"""Named sweeps at a scale preset, read from data (``sweeps.yaml``), expanded into run configs."""
from __future__ import annotations

import copy
import itertools
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .experiment import RunConfig

PRESETS: tuple[str, ...] = ("smoke", "book", "paper")


def load_sweep_definitions(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The presets and sweeps defined in ``path`` (default: the packaged ``sweeps.yaml``)."""
    text = Path(path).read_text() if path else resources.files("gradconf").joinpath("sweeps.yaml").read_text()
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict) or "presets" not in spec or "sweeps" not in spec:
        raise ValueError(f"{path or 'sweeps.yaml'} must define 'presets' and 'sweeps'")
    return spec


def set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``d["a"]["b"] = value`` for ``dotted = "a.b"``, creating levels as needed."""
    *parents, leaf = dotted.split(".")
    for p in parents:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ValueError(f"cannot set {dotted!r}: {p!r} is not a section")
    d[leaf] = value


def _apply(config: dict[str, Any], values: Any) -> None:
    for k, v in values.items():
        set_dotted(config, k, v)


def sweep_configs(
    name: str,
    preset: str,
    *,
    overrides: dict[str, Any] | None = None,
    grid: dict[str, list] | None = None,
    sweeps_file: str | os.PathLike | None = None,
) -> list[RunConfig]:
    """Expand sweep ``name`` at ``preset`` into run configs (the product of its axes, in file order).

    ``overrides`` sets dotted fields on every run after the preset (e.g. ``{"train.epochs": 3}``);
    ``grid`` replaces or adds axes (e.g. ``{"seed": [0, 1, 2]}``).
    """
    spec = load_sweep_definitions(sweeps_file)
    if preset not in spec["presets"]:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(spec['presets'])}")
    if name not in spec["sweeps"]:
        raise ValueError(f"unknown sweep {name!r}; allowed: {', '.join(spec['sweeps'])}")
    sweep, scale = spec["sweeps"][name], spec["presets"][preset]
    local = (sweep.get("presets") or {}).get(preset) or {}
    base = copy.deepcopy(sweep["base"])
    for layer in (scale.get("set"), local.get("set"), overrides):
        _apply(base, layer or {})
    axes: dict[str, list] = {}
    for layer in (sweep.get("grid"), scale.get("grid"), local.get("grid"), grid):
        axes.update(layer or {})
    for axis, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"axis {axis!r} of sweep {name!r} must be a non-empty list, got {values!r}")
    configs = []
    for combo in itertools.product(*axes.values()):
        cfg = copy.deepcopy(base)
        for axis, value in zip(axes, combo):
            if isinstance(value, dict):
                _apply(cfg, value)
            else:
                set_dotted(cfg, axis, value)
        configs.append(RunConfig.from_dict(cfg))
    return configs


def describe(sweeps_file: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per (sweep, preset): description and number of runs."""
    spec = load_sweep_definitions(sweeps_file)
    return [
        {"sweep": s, "preset": p, "runs": len(sweep_configs(s, p, sweeps_file=sweeps_file)),
         "description": spec["sweeps"][s].get("description", "")}
        for s in spec["sweeps"] for p in spec["presets"]
    ]
