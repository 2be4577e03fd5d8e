import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradconf.experiment import (ResultStore, RunConfig, best_lr, cosines_frame, epochs_frame, run_one,
                                 run_sweep, runs_frame)
from gradconf.models import MLPConfig, WRNConfig
from gradconf.sweeps import sweep_configs
from gradconf.train import MeasureConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def sphere_config(**kw):
    base = dict(dataset="sphere", model=MLPConfig(input_dim=8, width=16, depth=2, output_dim=2),
                train=TrainConfig(epochs=2, batch_size=32, lr=0.1), measure=MeasureConfig(n_pairs=2, batch_size=16),
                n_train=128, n_test=64, threads=1)
    base.update(kw)
    return RunConfig(**base)


def test_same_config_gives_bitwise_same_result():
    a, b = run_one(sphere_config()), run_one(sphere_config())
    assert json.dumps(a["result"], sort_keys=True) == json.dumps(b["result"], sort_keys=True)
    assert a["key"] == b["key"]
    c = run_one(sphere_config(seed=1))
    assert c["key"] != a["key"] and c["result"]["epochs"] != a["result"]["epochs"]


def test_config_round_trip_and_validation():
    cfg = sphere_config()
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).key == cfg.key
    with pytest.raises(ValueError, match="allowed: mnist, cifar10, sphere"):
        sphere_config(dataset="imagenet")
    with pytest.raises(ValueError, match="unknown train fields"):
        RunConfig.from_dict({**cfg.to_dict(), "train": {"epochs": 2, "nesterov": True}})


def test_sweep_reuses_finished_runs_and_frames_are_tidy(tmp_path):
    configs = [sphere_config(train=TrainConfig(epochs=2, batch_size=32, lr=lr), seed=s)
               for lr in (0.05, 0.5) for s in (0, 1)]
    store = ResultStore(tmp_path)
    first = run_sweep(configs, store, progress=False)
    assert (first.ran, first.reused) == (4, 0)
    mtimes = {p: p.stat().st_mtime_ns for p in store.runs.glob("*.json")}
    second = run_sweep(configs, store, progress=False)
    assert (second.ran, second.reused) == (0, 4)
    assert mtimes == {p: p.stat().st_mtime_ns for p in store.runs.glob("*.json")}
    records = store.records(configs)
    ep = epochs_frame(records)
    assert len(ep) == 4 * 3 and {"train.lr", "seed", "model.width", "train_loss", "cos_min"} <= set(ep.columns)
    runs = runs_frame(records)
    assert len(runs) == 4 and "final_train_loss" in runs
    assert len(cosines_frame(records)) == 4 * 2
    chosen = best_lr(runs, by=["model.width"])
    mean_loss = runs.groupby("train.lr")["final_train_loss"].mean()
    assert set(chosen["train.lr"]) == {mean_loss.idxmin()} and len(chosen) == 2


def test_sweep_presets_and_overrides():
    smoke = sweep_configs("cnn_depth", "smoke")
    assert [c.model.depth for c in smoke] == [10, 16]
    paper = sweep_configs("cnn_depth", "paper")
    assert {c.model.depth for c in paper} == {16, 22, 28, 34, 40} and {c.seed for c in paper} == set(range(5))
    assert all(c.train.epochs == 200 and c.measure.n_pairs == 100 and c.n_train is None for c in paper)
    variants = {(c.model.bn, c.model.skip) for c in sweep_configs("bn_skip", "smoke")}
    assert len(variants) == 4
    custom = sweep_configs("mlp_width", "smoke", overrides={"train.epochs": 3}, grid={"seed": [0, 1]})
    assert len(custom) == 4 and all(c.train.epochs == 3 for c in custom)
    with pytest.raises(ValueError, match="allowed: smoke, book, paper"):
        sweep_configs("cnn_depth", "huge")
    with pytest.raises(ValueError, match="unknown sweep"):
        sweep_configs("nope", "smoke")


SWEEPS_YAML = """
presets:
  tiny: {set: {n_train: 2048, n_test: 64, threads: 1, train.epochs: 3, train.batch_size: 16,
               measure.n_pairs: 10, measure.batch_size: 16}, grid: {seed: [0]}}
sweeps:
  three:
    base: {dataset: sphere, model: {kind: mlp, input_dim: 32, width: 256, depth: 3, output_dim: 2}}
    grid: {train.lr: [0.01, 0.02, 0.03]}
"""


def _cli(store, sweeps, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [sys.executable, "-m", "gradconf", "run", "three", "--preset", "tiny", "--store", str(store),
            "--sweeps-file", str(sweeps), "--quiet", *extra], env


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    sweeps = tmp_path / "sweeps.yaml"
    sweeps.write_text(SWEEPS_YAML)
    store = tmp_path / "store"
    cmd, env = _cli(store, sweeps)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and not list((store / "runs").glob("*.json")):
        time.sleep(0.05)
    finished = {p.name: p.read_bytes() for p in (store / "runs").glob("*.json")}
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(finished) < 3, "the kill must land mid-sweep"
    # Whatever was finished is intact JSON; nothing half-written is visible as a result.
    for path in (store / "runs").glob("*.json"):
        json.loads(path.read_text())
    before = {p.name for p in (store / "runs").glob("*.json")}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert f"ran {3 - len(before)}, reused {len(before)}" in out
    after = {p.name: p.read_bytes() for p in (store / "runs").glob("*.json")}
    assert len(after) == 3
    assert all(after[name] == blob for name, blob in finished.items())


def test_cli_reports_bad_preset(tmp_path):
    sweeps = tmp_path / "sweeps.yaml"
    sweeps.write_text(SWEEPS_YAML)
    cmd, env = _cli(tmp_path / "s", sweeps)
    cmd[cmd.index("tiny")] = "huge"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown preset 'huge'; allowed: tiny" in proc.stderr


def test_model_must_fit_the_dataset_before_any_compute():
    with pytest.raises(ValueError, match="input_dim 100 does not match mnist"):
        RunConfig(dataset="mnist", model=MLPConfig(input_dim=100))
    with pytest.raises(ValueError, match="in_channels 3 does not match mnist"):
        RunConfig(dataset="mnist", model=WRNConfig(depth=10, in_channels=3))
    assert RunConfig(dataset="mnist", model=MLPConfig(input_dim=196), downsample=2).model.input_dim == 196
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        RunConfig.from_dict({"dataset": "mnist", "model": {"kind": "mlp"}, "train": {"epochs": 1.5}})


def test_papermill_refuses_unknown_parameters(tmp_path):
    """papermill only warns about a -p name the notebook lacks; the notebook itself must refuse it."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        'from gradconf.book import notebook_parameters\nP = notebook_parameters("width_depth_init", preset)')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    papermill.execute_notebook(str(src), str(tmp_path / "ok.ipynb"), parameters={"draws": 2}, kernel_name="python3",
                               progress_bar=False)
    with pytest.raises(papermill.PapermillExecutionError, match=r"unknown parameters \['drwas'\]"):
        papermill.execute_notebook(str(src), str(tmp_path / "bad.ipynb"), parameters={"drwas": 2},
                                   kernel_name="python3", progress_bar=False)


def test_notebook_parameters_read_papermill_text_as_yaml():
    from gradconf.book import notebook_parameters

    p = notebook_parameters("width_depth_init", "smoke", widths="[32, 512]", draws=5, activation="relu")
    assert p["widths"] == [32, 512] and p["draws"] == 5 and p["activation"] == "relu"
    assert notebook_parameters("cnn_depth", "smoke", depths="[10, 16]")["depths"] == [10, 16]
    with pytest.raises(ValueError, match="parameter widths: cannot read"):
        notebook_parameters("width_depth_init", "smoke", widths="[32, 512")
    with pytest.raises(ValueError, match="parameter widths takes a list"):
        notebook_parameters("width_depth_init", "smoke", widths="32")
    with pytest.raises(ValueError, match="parameter draws takes a number"):
        notebook_parameters("width_depth_init", "smoke", draws="[5]")
