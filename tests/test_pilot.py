"""The LR pilot: the learning rate is chosen on a seed that is never judged, edges extend the grid."""
from __future__ import annotations

import json

import pytest

from gradconf.experiment import run_sweep
from gradconf.store import ResultStore
from gradconf.sweeps import LRPilot, choose_lrs, judged_configs, model_id, pilot_round, sweep_stages


def sweeps_file(tmp_path, lrs, seeds=(0, 1, 2), extend=2):
    path = tmp_path / "sweeps.yaml"
    path.write_text(json.dumps({
        "presets": {"p": {"set": {"n_train": 128, "n_test": 32, "threads": 1, "train.epochs": 2,
                                  "train.batch_size": 32, "measure.n_pairs": 0},
                          "grid": {"seed": list(seeds), "train.lr": lrs},
                          "lr_pilot": {"seed": 9, "extend": extend}}},
        "sweeps": {"s": {"base": {"dataset": "sphere", "model": {"kind": "mlp", "input_dim": 8, "width": 16,
                                                                 "depth": 1, "output_dim": 2}},
                         "grid": {"model.width": [8, 16]}}}}))
    return path


def run_stages(path, store, stage="all"):
    seen = []
    for name, configs in sweep_stages("s", "p", store, sweeps_file=path, stage=stage):
        seen.append((name, configs))
        run_sweep(configs, store, progress=False)
    return seen


def test_pilot_extends_an_edge_choice_and_judges_other_seeds(tmp_path):
    store = ResultStore(tmp_path / "store")
    # tiny steps: the largest LR wins, so the grid must grow upwards (x2 per extension)
    stages = run_stages(sweeps_file(tmp_path, [0.0005, 0.001]), store)
    names = [n for n, _ in stages]
    assert names[0].startswith("LR pilot on seed 9, round 1") and names[-1] == "judged seeds"
    pilots = [c for n, cs in stages[:-1] for c in cs]
    assert {c.seed for c in pilots} == {9}
    assert sorted({c.train.lr for c in pilots}) == [0.0005, 0.001, 0.002, 0.004]  # two extensions, then stop
    choices = choose_lrs(stages[0][1], store, LRPilot(seed=9, extend=2))
    assert all(ch.lr == 0.004 and ch.at_edge for ch in choices.values())  # still on the edge: flagged
    judged = stages[-1][1]
    assert sorted({c.seed for c in judged}) == [0, 1, 2] and {c.train.lr for c in judged} == {0.004}
    assert len(judged) == 2 * 3 and all(store.has(c.key) for c in judged)


def test_interior_choice_needs_no_extension(tmp_path):
    store = ResultStore(tmp_path / "store")
    path = sweeps_file(tmp_path, [0.05, 0.5, 1e6], extend=1)  # 1e6 diverges, 0.05 is slow
    stages = run_stages(path, store)
    assert len(stages) == 2  # one pilot round, no extension
    choices = choose_lrs(stages[0][1], store, LRPilot(seed=9, extend=1))
    assert all(ch.lr == 0.5 and not ch.at_edge for ch in choices.values())
    assert all(ch.losses[2] > ch.losses[1] for ch in choices.values())


def test_a_diverged_pilot_run_counts_as_infinite_loss():
    from gradconf.sweeps import _final_loss

    assert _final_loss({"result": {"status": "diverged", "epochs": [{"train_loss": 0.1}]}}) == float("inf")
    assert _final_loss({"result": {"status": "ok", "epochs": [{"train_loss": float("nan")}]}}) == float("inf")
    assert _final_loss({"result": {"status": "ok", "epochs": [{"train_loss": 0.25}]}}) == 0.25


def test_judged_seeds_wait_for_the_pilot_and_never_include_it(tmp_path):
    store = ResultStore(tmp_path / "store")
    path = sweeps_file(tmp_path, [0.1, 0.2])
    with pytest.raises(ValueError, match="pilot is incomplete"):
        run_stages(path, store, stage="seeds")
    with pytest.raises(ValueError, match="also a judged seed"):
        list(sweep_stages("s", "p", store, sweeps_file=sweeps_file(tmp_path, [0.1], seeds=(0, 9))))


def test_model_id_ignores_seed_and_lr_only(tmp_path):
    store = ResultStore(tmp_path / "store")
    configs = [c for _, cs in sweep_stages("s", "p", store, sweeps_file=sweeps_file(tmp_path, [0.1]),
                                           stage="pilot") for c in cs]
    assert len({model_id(c) for c in configs}) == 2  # two widths
    needed = pilot_round(configs, store, LRPilot(seed=9))  # nothing stored yet: just the grid at the pilot seed
    assert {c.key for c in needed} == {c.key for c in configs} and {c.seed for c in needed} == {9}



class OutcomeStore:
    """A store whose runs "finish" by a rule on the LR: diverged above ``unstable``, else loss 1 / lr (larger
    stable steps train further)."""

    def __init__(self, unstable: float):
        self.unstable, self.records = unstable, {}

    def run(self, configs):
        for c in configs:
            status = "diverged" if c.train.lr > self.unstable else "ok"
            self.records[c.key] = {"result": {"status": status, "epochs": [{"train_loss": 1 / c.train.lr}]}}

    def has(self, key):
        return key in self.records

    def load(self, key):
        return self.records[key]


@pytest.mark.parametrize("unstable, chosen, at_edge", [(0.02, 0.0125, False), (1e-9, 0.003125, True)])
def test_a_model_that_diverges_at_every_lr_extends_the_grid_downward(tmp_path, unstable, chosen, at_edge):
    from gradconf.sweeps import pilot_grid, sweep_configs

    configs = sweep_configs("s", "p", sweeps_file=sweeps_file(tmp_path, [0.025, 0.05, 0.1]))
    pilot = LRPilot(seed=9, extend=3)
    store = OutcomeStore(unstable)
    for _ in range(pilot.extend + 1):
        store.run(pilot_round(configs, store, pilot))
    for ch in choose_lrs(pilot_grid(configs, pilot), store, pilot).values():
        # every grid LR diverged: the grid grew downward (x1/2 per step) until the choice was interior (0.0125
        # trains, 0.00625 trains less far) or the 3 steps were spent with every LR diverged
        assert ch.lr == chosen and ch.at_edge is at_edge
        assert min(ch.grid) == (0.00625 if not at_edge else 0.003125) and max(ch.grid) == 0.1
