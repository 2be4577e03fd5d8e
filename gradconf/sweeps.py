"""Named sweeps at a scale preset, read from data (``sweeps.yaml``), expanded into run configs.

A sweep at a preset may have an LR pilot (``lr_pilot: {seed: S, extend: K}``): the learning rate of
each model is chosen on a pilot seed S that is never judged, then the judged seeds run at that LR
only (paper §7 tunes the LR per model; choosing it on the judged seeds would bias their verdicts).
The choice is the grid LR with the lowest final training loss of the pilot run (a diverged run counts
as +inf). When it lies on the grid's edge, the grid is extended by one step (the ratio of its first
two values) in that direction, up to K times; a choice still on the edge is flagged ``at_edge``. A
model that diverged at every LR counts as on the lower edge (its "choice" is the smallest LR), so its
grid is extended downward until some LR trains or the K steps are spent.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .experiment import RunConfig

PRESETS: tuple[str, ...] = ("smoke", "book", "paper", "gpu")


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


def _layers(name: str, preset: str, sweeps_file: str | os.PathLike | None) -> tuple[dict, dict, dict]:
    spec = load_sweep_definitions(sweeps_file)
    if preset not in spec["presets"]:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(spec['presets'])}")
    if name not in spec["sweeps"]:
        raise ValueError(f"unknown sweep {name!r}; allowed: {', '.join(spec['sweeps'])}")
    sweep, scale = spec["sweeps"][name], spec["presets"][preset]
    if "sweeps" in scale and name not in scale["sweeps"]:
        raise ValueError(f"preset {preset!r} is defined for the sweeps {', '.join(scale['sweeps'])} only")
    return sweep, scale, (sweep.get("presets") or {}).get(preset) or {}


def sweep_axes(name: str, preset: str, *, sweeps_file: str | os.PathLike | None = None) -> dict[str, list]:
    """The axes of sweep ``name`` at ``preset`` (axis name -> values), after every layer."""
    sweep, scale, local = _layers(name, preset, sweeps_file)
    axes: dict[str, list] = {}
    for layer in (sweep.get("grid"), scale.get("grid"), local.get("grid")):
        axes.update(layer or {})
    return axes


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
    sweep, scale, local = _layers(name, preset, sweeps_file)
    base = copy.deepcopy(sweep["base"])
    for layer in (scale.get("set"), local.get("set"), overrides):
        _apply(base, layer or {})
    axes = {**sweep_axes(name, preset, sweeps_file=sweeps_file), **(grid or {})}
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


# ----------------------------------------------------------------------------------------------
# the LR pilot
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LRPilot:
    """The pilot of a sweep at a preset: the seed it runs on and how often an edge choice extends the grid."""

    seed: int
    extend: int = 2


@dataclass(frozen=True)
class LRChoice:
    """A model's learning rate chosen on the pilot seed, the grid it was chosen from, and whether it is
    on that grid's edge (``None`` while the pilot is incomplete)."""

    lr: float | None
    grid: tuple[float, ...]
    at_edge: bool
    losses: tuple[float, ...]


def lr_pilot(name: str, preset: str, *, sweeps_file: str | os.PathLike | None = None) -> LRPilot | None:
    """The LR pilot of sweep ``name`` at ``preset`` (``lr_pilot`` in the preset or the sweep's preset)."""
    _, scale, local = _layers(name, preset, sweeps_file)
    spec = local.get("lr_pilot", scale.get("lr_pilot"))
    return None if not spec else LRPilot(**spec)


def model_id(config: RunConfig) -> str:
    """What identifies a model across seeds and learning rates: its config without those two."""
    d = config.to_dict()
    d.pop("seed")
    d["train"] = {k: v for k, v in d["train"].items() if k != "lr"}
    return json.dumps(d, sort_keys=True)


def _final_loss(record: dict[str, Any]) -> float:
    if record["result"]["status"] != "ok":
        return math.inf
    loss = record["result"]["epochs"][-1].get("train_loss")
    return math.inf if loss is None or not math.isfinite(loss) else float(loss)


def _extended(grid: list[float], lr: float) -> float:
    ratio = grid[1] / grid[0] if len(grid) > 1 else 2.0
    return float(f"{(lr / ratio if lr == grid[0] else lr * ratio):.6g}")


def choose_lrs(pilot_configs: list[RunConfig], store: Any, pilot: LRPilot) -> dict[str, LRChoice]:
    """Per model: the pilot LR with the lowest final training loss among the stored pilot runs of
    ``pilot_configs`` and of the edge extensions the rule adds (see the module docstring)."""
    by_model: dict[str, list[RunConfig]] = {}
    for c in pilot_configs:
        by_model.setdefault(model_id(c), []).append(c)
    choices = {}
    for mid, configs in by_model.items():
        grid = sorted({c.train.lr for c in configs})
        template = configs[0]
        for _ in range(pilot.extend + 1):
            runs = [replace_lr(template, lr) for lr in grid]
            if not all(store.has(c.key) for c in runs):
                choices[mid] = LRChoice(None, tuple(grid), False, ())
                break
            losses = [_final_loss(store.load(c.key)) for c in runs]
            best = grid[min(range(len(grid)), key=lambda i: (losses[i], grid[i]))]
            # every LR diverged: the smallest is "best" and on the edge, so the grid grows downward
            at_edge = len(grid) > 1 and best in (grid[0], grid[-1])
            choices[mid] = LRChoice(best, tuple(grid), at_edge, tuple(losses))
            if not at_edge or len(grid) - len({c.train.lr for c in configs}) >= pilot.extend:
                break
            grid = sorted({*grid, _extended(grid, best)})
    return choices


def replace_lr(config: RunConfig, lr: float, seed: int | None = None) -> RunConfig:
    """``config`` at learning rate ``lr`` (and ``seed``, when given)."""
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, lr=lr),
                               seed=config.seed if seed is None else seed)


def pilot_grid(configs: list[RunConfig], pilot: LRPilot) -> list[RunConfig]:
    """The sweep's LR grid of every model at the pilot seed (before any edge extension)."""
    return list({replace_lr(c, c.train.lr, pilot.seed).key: replace_lr(c, c.train.lr, pilot.seed)
                 for c in configs}.values())


def pilot_round(configs: list[RunConfig], store: Any, pilot: LRPilot) -> list[RunConfig]:
    """The pilot runs needed now: the grid at the pilot seed, plus each edge extension chosen so far."""
    pilots = pilot_grid(configs, pilot)
    needed = {c.key: c for c in pilots}
    template = {model_id(c): c for c in pilots}
    for mid, choice in choose_lrs(pilots, store, pilot).items():
        for lr in choice.grid:
            c = replace_lr(template[mid], lr)
            needed.setdefault(c.key, c)
    return list(needed.values())


def sweep_stages(
    name: str,
    preset: str,
    store: Any,
    *,
    overrides: dict[str, Any] | None = None,
    grid: dict[str, list] | None = None,
    sweeps_file: str | os.PathLike | None = None,
    stage: str = "all",
) -> Iterator[tuple[str, list[RunConfig]]]:
    """The stages of a sweep, each to run before the next is asked for: ``("all runs", configs)``
    without a pilot; with one, pilot rounds (each after the previous one is stored) then ``"seeds"``,
    the judged seeds at each model's chosen LR."""
    if stage not in ("all", "pilot", "seeds"):
        raise ValueError(f"stage must be all, pilot or seeds, got {stage!r}")
    configs = sweep_configs(name, preset, overrides=overrides, grid=grid, sweeps_file=sweeps_file)
    pilot = lr_pilot(name, preset, sweeps_file=sweeps_file)
    if pilot is None:
        yield "all runs", configs
        return
    if pilot.seed in {c.seed for c in configs}:
        raise ValueError(f"the LR pilot seed {pilot.seed} is also a judged seed; choose seeds without it")
    if stage in ("all", "pilot"):
        done: set[str] = set()
        for round_ in range(pilot.extend + 1):
            needed = pilot_round(configs, store, pilot)
            if round_ and {c.key for c in needed} <= done:
                break
            done |= {c.key for c in needed}
            yield f"LR pilot on seed {pilot.seed}, round {round_ + 1}", needed
    if stage in ("all", "seeds"):
        yield "judged seeds", judged_configs(configs, store, pilot)


def judged_configs(configs: list[RunConfig], store: Any, pilot: LRPilot) -> list[RunConfig]:
    """The judged runs: each config's seed at its model's pilot-chosen LR (error while the pilot is
    incomplete, naming how many pilot runs are missing)."""
    pilots = pilot_round(configs, store, pilot)
    missing = [c for c in pilots if not store.has(c.key)]
    if missing:
        raise ValueError(f"the LR pilot is incomplete ({len(missing)} of {len(pilots)} pilot runs missing); "
                         "run the pilot stage first")
    choices = choose_lrs(pilot_grid(configs, pilot), store, pilot)
    out = {}
    for c in configs:
        c = replace_lr(c, choices[model_id(c)].lr)
        out.setdefault(c.key, c)
    return list(out.values())


def describe(sweeps_file: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per (sweep, preset): description and number of runs (``None`` with the reason in
    ``description`` where the preset does not apply to the sweep, e.g. ``gpu`` for synthetic data)."""
    spec = load_sweep_definitions(sweeps_file)
    rows = []
    for s in spec["sweeps"]:
        for p in spec["presets"]:
            try:
                configs = sweep_configs(s, p, sweeps_file=sweeps_file)
                runs: int | None = len(configs)
                description = spec["sweeps"][s].get("description", "")
                pilot = lr_pilot(s, p, sweeps_file=sweeps_file)
                if pilot:
                    models = len({model_id(c) for c in configs})
                    lrs, seeds = len({c.train.lr for c in configs}), len({c.seed for c in configs})
                    runs = models * (lrs + seeds)
                    description += (f" [{models} models x ({lrs} LRs on pilot seed {pilot.seed} + {seeds} judged "
                                    f"seeds), before any edge extension]")
            except ValueError as err:
                runs, description = None, f"not defined at this preset: {err}"
            rows.append({"sweep": s, "preset": p, "runs": runs, "description": description})
    return rows
