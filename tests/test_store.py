"""The committed result store: valid records only, claims, merge/export of archives, resume after a
deadline, and sweeps that keep every finished run when another run fails."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from gradconf.cli import main, parse_value
from gradconf.experiment import RunConfig, SweepFailed, run_sweep
from gradconf.models import MLPConfig
from gradconf.store import InvalidRecordError, ResultStore, merge_archives, round_floats
from gradconf.train import MeasureConfig, TrainConfig


def tiny(seed: int = 0, lr: float = 0.1, dataset: str = "sphere") -> RunConfig:
    sphere = dataset == "sphere"
    return RunConfig(dataset=dataset, model=MLPConfig(input_dim=8 if sphere else 784, width=8, depth=1,
                                                      output_dim=2 if sphere else 10),
                     train=TrainConfig(epochs=1, batch_size=32, lr=lr), measure=MeasureConfig(n_pairs=2, batch_size=16),
                     n_train=64, n_test=32, threads=1, seed=seed)


def test_round_floats_keeps_six_digits_and_non_finite_values():
    assert round_floats({"a": [1.23456789, float("nan")], "b": 3, "c": float("inf")})["a"][0] == 1.23457
    out = round_floats([float("nan"), float("-inf"), 2])
    assert out[0] != out[0] and out[1] == float("-inf") and out[2] == 2


@pytest.mark.parametrize("content, why", [(b"", "not valid JSON"), (b'{"key": "x"', "not valid JSON"),
                                          (b"[1, 2]", "not a run record"), (b'{"key": 1}', "missing")])
def test_invalid_record_files_are_not_finished_runs_and_are_recomputed(tmp_path, content, why, capsys):
    store = ResultStore(tmp_path)
    config = tiny()
    store.runs.mkdir(parents=True)
    store.file(config.key).write_bytes(content)
    assert not store.has(config.key)
    assert why in store.invalid_reason(config.key) and str(store.file(config.key)) in store.invalid_reason(config.key)
    with pytest.raises(InvalidRecordError, match=str(store.file(config.key))):
        store.load(config.key)
    report = run_sweep([config], store, progress=False)
    assert report.ran == 1 and len(report.invalid) == 1 and store.has(config.key)
    assert "recomputing" in capsys.readouterr().out


def test_a_record_under_another_key_is_invalid(tmp_path):
    store = ResultStore(tmp_path)
    a, b = tiny(0), tiny(1)
    run_sweep([a], store, progress=False)
    store.file(b.key).write_bytes(store.file(a.key).read_bytes())
    assert not store.has(b.key) and "does not match" in store.invalid_reason(b.key)


def test_records_are_world_readable_and_store_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = ResultStore("~/store")
    assert store.path == tmp_path / "store"
    run_sweep([tiny()], store, progress=False)
    mode = stat.S_IMODE(os.stat(store.file(tiny().key)).st_mode)
    assert mode == 0o644
    assert not list(store.runs.glob("*.claim")) and not list(store.runs.glob("*.part"))


def test_unwritable_or_file_store_fails_before_any_compute(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        run_sweep([tiny()], target, progress=False)


def test_claims_keep_two_drivers_from_computing_the_same_run(tmp_path):
    store = ResultStore(tmp_path)
    config = tiny()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.runs.mkdir(parents=True)
        (store.runs / f"{config.key}.claim").write_text(json.dumps({"pid": other.pid, "host": os.uname().nodename}))
        report = run_sweep([config], store, progress=False)
        assert report.ran == 0 and report.claimed_elsewhere == 1 and not store.has(config.key)
    finally:
        other.kill()
        other.wait()
    report = run_sweep([config], store, progress=False)  # its holder is gone: the claim is taken over
    assert report.ran == 1 and store.has(config.key)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_run_loses_no_finished_run(tmp_path, workers):
    store = ResultStore(tmp_path / "store")
    good = [tiny(seed) for seed in range(3)]
    bad = tiny(0, dataset="mnist")  # no MNIST under the empty data root: fails at run time
    with pytest.raises(SweepFailed, match="1 run\\(s\\) failed") as info:
        run_sweep([good[0], bad, *good[1:]], store, data_root=tmp_path / "empty", progress=False, workers=workers)
    assert info.value.report.ran == 3 and all(store.has(c.key) for c in good)
    assert "DataNotFoundError" in info.value.report.failed[0]


def test_deadline_stops_starting_runs_and_the_sweep_resumes(tmp_path):
    store = ResultStore(tmp_path)
    configs = [tiny(seed) for seed in range(3)]
    report = run_sweep(configs, store, progress=False, deadline_s=0.0)
    assert report.ran == 0
    assert run_sweep(configs[:1], store, progress=False).ran == 1
    again = run_sweep(configs, store, progress=False)
    assert again.ran == 2 and again.reused == 1


def test_export_and_merge_archives(tmp_path):
    a, b = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    run_sweep([tiny(0), tiny(1)], a, progress=False)
    run_sweep([tiny(1)], b, progress=False)
    archive = tmp_path / "new.tar.gz"
    assert a.export(archive) == 2
    # a broken member travels along: it is rejected with its reason, the rest merges
    with tarfile.open(tmp_path / "broken.tar.gz", "w:gz") as tar:
        bad = tmp_path / "bad.json"
        bad.write_text('{"key": "trunc')
        tar.add(bad, arcname="runs/bad.json")
    before = b.file(tiny(1).key).read_bytes()
    report = merge_archives([archive, tmp_path / "broken.tar.gz"], b)
    assert report.added == [tiny(0).key] and report.present == [tiny(1).key]
    assert len(report.rejected) == 1 and "broken.tar.gz:runs/bad.json" in report.rejected[0]
    assert b.file(tiny(1).key).read_bytes() == before and b.has(tiny(0).key)


def test_cli_run_exports_new_runs_and_merge_adds_them(tmp_path, capsys):
    sweeps = tmp_path / "sweeps.yaml"
    sweeps.write_text(json.dumps({
        "presets": {"p": {"set": {"n_train": 64, "n_test": 32, "threads": 1, "train.epochs": 1,
                                  "train.batch_size": 32, "measure.n_pairs": 2, "measure.batch_size": 16},
                          "grid": {"seed": [0, 1], "train.lr": [0.1]}}},
        "sweeps": {"s": {"base": {"dataset": "sphere", "model": {"kind": "mlp", "input_dim": 8, "width": 8,
                                                                 "depth": 1, "output_dim": 2}}, "grid": {}}}}))
    gpu_side, home = tmp_path / "window", tmp_path / "results"
    common = ["s", "--preset", "p", "--sweeps-file", str(sweeps), "--quiet"]
    assert main(["run", *common, "--store", str(gpu_side), "--export", str(tmp_path / "w1.tar.gz")]) == 0
    assert main(["merge", str(tmp_path / "w1.tar.gz"), "--into", str(home)]) == 0
    assert "added 2" in capsys.readouterr().out
    assert main(["run", *common, "--store", str(home)]) == 0
    assert "ran 0, reused 2" in capsys.readouterr().out


def test_cli_refuses_set_on_a_sweep_axis_and_bad_values_in_one_line(tmp_path, capsys):
    store = str(tmp_path / "x")
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--set", "train.lr=0.2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--set train.lr: a sweep axis" in err
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--set", "model.width=-5"]) == 2
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--set", "train.epochs=abc"]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--set", "train.epochs=true"]) == 2
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--set", "model.foo=1"]) == 2
    assert "unknown" in capsys.readouterr().err
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store, "--grid", "seed"]) == 2
    assert "--grid takes KEY=VALUE" in capsys.readouterr().err
    assert main(["run", "mlp_width", "--preset", "smoke", "--store", store,
                 "--set", "measure.probe_size=100000"]) == 2
    assert "probe_size" in capsys.readouterr().err
    assert not (tmp_path / "x" / "runs").exists() or not list((tmp_path / "x" / "runs").glob("*.json"))


def test_cli_values_read_exponent_floats_as_numbers():
    assert parse_value("[1e-3, 1e+3, 1.0e30]") == [0.001, 1000.0, 1e30]
    assert parse_value("0.05") == 0.05 and parse_value("abc") == "abc" and parse_value("true") is True
