"""Sweeps on other engines: local processes and a Dask distributed cluster (issue 6)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gradconf.experiment import ResultStore, RunConfig, run_sweep
from gradconf.models import MLPConfig
from gradconf.train import MeasureConfig, TrainConfig


def sweep(n_seeds: int, epochs: int = 2) -> list[RunConfig]:
    return [RunConfig(dataset="sphere", model=MLPConfig(input_dim=8, width=16, depth=2, output_dim=2),
                      train=TrainConfig(epochs=epochs, batch_size=32, lr=lr),
                      measure=MeasureConfig(n_pairs=2, batch_size=16),
                      n_train=128, n_test=64, threads=1, seed=seed)
            for lr in (0.05, 0.2) for seed in range(n_seeds)]


def results(store: ResultStore, configs: list[RunConfig]) -> dict[str, str]:
    return {r["key"]: json.dumps(r["result"], sort_keys=True) for r in store.records(configs)}


def test_workers_and_scheduler_are_exclusive_and_validated(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        run_sweep(sweep(1), tmp_path, workers=2, scheduler="tcp://127.0.0.1:1", progress=False)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_sweep(sweep(1), tmp_path, workers=0, progress=False)


def test_local_processes_match_serial(tmp_path):
    configs = sweep(2)
    serial, parallel = ResultStore(tmp_path / "serial"), ResultStore(tmp_path / "procs")
    run_sweep(configs, serial, progress=False)
    report = run_sweep(configs, parallel, workers=2, progress=False)
    assert report.ran == len(configs)
    assert results(parallel, configs) == results(serial, configs)


@pytest.fixture
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_cluster_runs_distributed_and_matches_serial(tmp_path, dask_cluster):
    configs = sweep(2)
    serial, on_dask = ResultStore(tmp_path / "serial"), ResultStore(tmp_path / "dask")
    run_sweep(configs, serial, progress=False)
    # by address, as a user would, so the engine opens (and closes) its own client
    report = run_sweep(configs, on_dask, scheduler=dask_cluster.scheduler.address, progress=False)
    assert report.ran == len(configs)
    assert results(on_dask, configs) == results(serial, configs)
    hosts = {json.loads(p.read_text())["provenance"]["pid"] for p in on_dask.runs.glob("*.json")}
    assert len(hosts) == 2, "both workers should have run something"
    assert os.getpid() not in hosts


def test_dask_worker_killed_mid_sweep_loses_no_finished_run(tmp_path, dask_cluster):
    """A worker is SIGKILLed with runs in flight, then the driver itself is interrupted: every record
    written before either event survives byte for byte, and re-submitting computes only the rest."""
    configs = sweep(4, epochs=6)
    store = ResultStore(tmp_path)
    worker_pids = list(dask_cluster.run(os.getpid).values())
    finished: dict[str, bytes] = {}
    original_save = store.save

    def save_kill_interrupt(record):
        path = original_save(record)
        finished[record["key"]] = path.read_bytes()
        if len(finished) == 2:
            os.kill(worker_pids[0], signal.SIGKILL)  # a worker dies while other runs are in flight
        if len(finished) == 5:
            raise KeyboardInterrupt  # then the driver is stopped (Ctrl-C, a cancelled job)
        return path

    store.save = save_kill_interrupt
    with pytest.raises(KeyboardInterrupt):
        run_sweep(configs, store, scheduler=dask_cluster, progress=False)
    assert len(finished) == 5 and len(list(store.runs.glob("*.json"))) == 5
    for key, content in finished.items():
        assert store.file(key).read_bytes() == content
    again = run_sweep(configs, ResultStore(tmp_path), scheduler=dask_cluster, progress=False)
    assert (again.ran, again.reused) == (3, 5)
    for key, content in finished.items():  # re-submission did not touch finished runs
        assert store.file(key).read_bytes() == content
    serial = ResultStore(tmp_path / "serial")
    run_sweep(configs, serial, progress=False)
    assert results(ResultStore(tmp_path), configs) == results(serial, configs)


def test_device_is_validated_and_recorded(tmp_path):
    import torch

    from gradconf.experiment import resolve_device, run_one
    assert resolve_device(None) == resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA device"):
            run_sweep(sweep(1), tmp_path, device="cuda", progress=False)
    record = run_one(sweep(1)[0], device="cpu")
    assert record["provenance"]["device"] == "cpu"


def test_dask_releases_each_future_once_its_record_is_out(dask_cluster):
    """A saved run must not stay pinned on the cluster: a lost worker would otherwise recompute it."""
    from gradconf import engines

    configs = sweep(2)
    outcomes = engines.run_dask(configs, None, dask_cluster)
    config, record = next(outcomes)
    assert not isinstance(record, BaseException)
    deadline = time.time() + 10  # a release is a message to the client's event loop
    while time.time() < deadline and f"gradconf-run-{config.key}" in dask_cluster.futures:
        time.sleep(0.1)
    assert f"gradconf-run-{config.key}" not in dask_cluster.futures
    rest = list(outcomes)
    deadline = time.time() + 10
    while time.time() < deadline and any(k.startswith("gradconf-run-") for k in dask_cluster.futures):
        time.sleep(0.1)
    assert len(rest) == len(configs) - 1 and not any(k.startswith("gradconf-run-") for k in dask_cluster.futures)


def test_killed_driver_takes_its_worker_processes_with_it(tmp_path):
    """SIGKILL cannot be caught: the workers notice their parent is gone and exit (no orphan computing)."""
    script = tmp_path / "driver.py"
    script.write_text(
        "import sys\n"
        "from gradconf.experiment import RunConfig, run_sweep\n"
        "from gradconf.models import MLPConfig\n"
        "from gradconf.train import MeasureConfig, TrainConfig\n"
        "configs = [RunConfig(dataset='sphere', model=MLPConfig(input_dim=8, width=64, depth=4, output_dim=2),\n"
        "           train=TrainConfig(epochs=2000, batch_size=32, lr=0.01), measure=MeasureConfig(n_pairs=0),\n"
        "           n_train=512, n_test=32, threads=1, seed=s) for s in range(2)]\n"
        "run_sweep(configs, sys.argv[1], workers=2, progress=False)\n")
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store")])
    try:
        deadline = time.time() + 60
        children: list[int] = []
        while time.time() < deadline and len(children) < 2:
            time.sleep(0.5)
            out = subprocess.run(["pgrep", "-P", str(driver.pid)], capture_output=True, text=True).stdout.split()
            children = [int(p) for p in out]
        assert len(children) >= 2, "the pool never started"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(p) for p in children):
            time.sleep(0.5)
        assert not any(_alive(p) for p in children), "worker processes outlived the killed driver"
    finally:
        if driver.poll() is None:
            driver.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
