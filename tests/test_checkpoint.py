"""Mid-run checkpoints (gradconf.checkpoint): a run stopped between epochs and resumed computes the same
numbers as a run never stopped, and a checkpoint that does not belong to the run is refused."""
from __future__ import annotations

import json
import tarfile

import pytest
import torch

from gradconf.checkpoint import CHECKPOINT_FORMAT, CheckpointError, Checkpointer
from gradconf.data import ArrayDataset
from gradconf.experiment import RunConfig, run_one, run_sweep
from gradconf.models import MLPConfig, WRNConfig, build_model
from gradconf.store import ResultStore
from gradconf.train import MeasureConfig, TrainConfig, train

EVERY_EPOCH = 1e-9  # seconds: a checkpoint at every epoch's end


class Stop(Exception):
    """Stands for the machine going away right after a checkpoint was written."""


class StopAfter(Checkpointer):
    """A checkpointer that stops the run right after saving the state of epoch ``stop_after``."""

    stop_after: int = 0

    def save(self, state):
        super().save(state)
        if state["epoch"] == self.stop_after:
            raise Stop


def stop_after(path, key, epoch):
    c = StopAfter(path, key, EVERY_EPOCH)
    object.__setattr__(c, "stop_after", epoch)
    return c


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return ArrayDataset(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g), "noise")


#: BN (buffers), momentum (optimiser state), augmentation, minibatch pairs and a probe: every stream and
#: every piece of state a resumed run must restore
CNN = WRNConfig(depth=10, width=1, base_channels=4, bn=True, skip=True)
TRAIN = TrainConfig(epochs=5, batch_size=16, lr=0.05, momentum=0.9, augment=True)
MEASURE = MeasureConfig(n_pairs=2, batch_size=16, probe_size=8, every=2)


def fit(checkpoint=None, seed_model=0):
    model = build_model(CNN, seed=seed_model)
    result = train(model, images(64, 1), images(32, 2), TRAIN, MEASURE, seed=5, progress=False,
                   checkpoint=checkpoint)
    return model, result


@pytest.mark.parametrize("stop_epoch", [1, 3])
def test_a_resumed_run_equals_one_never_stopped(tmp_path, stop_epoch):
    model_a, a = fit()
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        fit(stop_after(path, "k", stop_epoch))
    assert path.is_file()
    # other initial weights: the resumed run must take every weight from the checkpoint
    model_b, b = fit(Checkpointer(path, "k", EVERY_EPOCH), seed_model=1)
    assert b.epochs == a.epochs
    assert b.probe == a.probe
    for (name, pa), pb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert b.resumed_after == [stop_epoch]
    assert a.resumed_after == [] and a.earlier_wall_s == 0.0


def test_a_run_resumed_twice_lists_both_resumptions(tmp_path):
    _, a = fit()
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        fit(stop_after(path, "k", 1))
    with pytest.raises(Stop):
        fit(stop_after(path, "k", 3))
    _, b = fit(Checkpointer(path, "k", EVERY_EPOCH))
    assert b.epochs == a.epochs
    assert b.resumed_after == [1, 3]
    assert b.earlier_wall_s > 0


def test_no_checkpoint_is_written_before_its_interval(tmp_path):
    path = tmp_path / "run.pt"
    fit(Checkpointer(path, "k", every_s=3600))
    assert not path.exists()


def test_no_checkpoint_of_the_last_epoch(tmp_path):
    saved = []

    class Spy(Checkpointer):
        def save(self, state):
            saved.append(state["epoch"])

    fit(Spy(tmp_path / "run.pt", "k", EVERY_EPOCH))
    assert saved == list(range(1, TRAIN.epochs))  # the record, not a checkpoint, keeps the last epoch


def saved_state(path, **changes):
    state = {"format": CHECKPOINT_FORMAT, "key": "k", "device_type": "cpu", "epoch": 1, **changes}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"key": "other"}, "holds run 'other'"),
    ({"device_type": "cuda"}, "saved on cuda"),
    ({"format": CHECKPOINT_FORMAT + 1}, "not a checkpoint of format"),
])
def test_a_checkpoint_of_another_run_device_or_format_is_refused(tmp_path, changes, message):
    path = saved_state(tmp_path / "run.pt", **changes)
    with pytest.raises(CheckpointError, match=message):
        Checkpointer(path, "k").load(torch.device("cpu"))


def test_a_truncated_checkpoint_is_refused_with_its_path(tmp_path):
    path = saved_state(tmp_path / "run.pt")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Checkpointer(path, "k").load(torch.device("cpu"))


def test_no_file_means_a_fresh_start_and_bad_intervals_are_refused(tmp_path):
    assert Checkpointer(tmp_path / "none.pt", "k").load(torch.device("cpu")) is None
    with pytest.raises(ValueError, match="every_s"):
        Checkpointer(tmp_path / "x.pt", "k", every_s=0)


def sphere_config():
    return RunConfig(dataset="sphere", model=MLPConfig(input_dim=8, width=16, depth=2, output_dim=2),
                     train=TrainConfig(epochs=4, batch_size=32, lr=0.1),
                     measure=MeasureConfig(n_pairs=2, batch_size=16, probe_size=16, every=1),
                     n_train=128, n_test=64, threads=1, seed=3)


def interrupted(store, stops):
    """Unfinished runs in ``store``: config seed -> the epoch after which its run stopped."""
    configs = {}
    plain_save = Checkpointer.save
    for seed, epoch in stops.items():
        config = RunConfig.from_dict({**sphere_config().to_dict(), "seed": seed})

        def save_then_die(self, state, epoch=epoch):
            plain_save(self, state)
            if state["epoch"] == epoch:
                raise Stop

        Checkpointer.save = save_then_die
        try:
            with pytest.raises(Exception, match="Stop"):
                run_sweep([config], store, progress=False, checkpoint_every_s=EVERY_EPOCH)
        finally:
            Checkpointer.save = plain_save
        configs[seed] = config
    return configs


def test_a_sweep_resumes_an_interrupted_run_and_then_drops_its_checkpoint(tmp_path):
    store = ResultStore(tmp_path / "store")
    config = interrupted(store, {3: 2})[3]
    expected = run_one(config)
    assert not store.has(config.key)
    assert store.checkpoints() == [store.checkpoint_file(config.key)]
    report = run_sweep([config], store, progress=False, checkpoint_every_s=EVERY_EPOCH)
    assert report.ran == 1
    record = store.load(config.key)
    assert record["result"] == expected["result"]
    assert record["provenance"]["resumed_after_epochs"] == [2]
    assert not store.checkpoint_file(config.key).exists()
    assert store.checkpoints() == []


def test_without_checkpoints_a_sweep_writes_none(tmp_path):
    store = ResultStore(tmp_path / "store")
    run_sweep([sphere_config()], store, progress=False, checkpoint_every_s=None)
    assert not store.partial.exists()
    with pytest.raises(ValueError, match="checkpoint_every_s"):
        run_sweep([sphere_config()], store, progress=False, checkpoint_every_s=-1)


def test_a_finished_runs_leftover_checkpoint_is_not_listed(tmp_path):
    config = sphere_config()
    store = ResultStore(tmp_path / "store")
    store.save(run_one(config))
    store.partial.mkdir(parents=True)
    store.checkpoint_file(config.key).write_bytes(b"x")
    store.checkpoint_file("0" * 20).write_bytes(b"x")
    assert [p.stem for p in store.checkpoints()] == ["0" * 20]
    assert json.loads(store.file(config.key).read_text())["key"] == config.key


def test_worker_processes_resume_from_the_stores_checkpoints(tmp_path):
    store = ResultStore(tmp_path / "store")
    config = interrupted(store, {3: 1})[3]
    expected = run_one(config)
    other = RunConfig.from_dict({**config.to_dict(), "seed": 4})
    run_sweep([config, other], store, progress=False, workers=2, checkpoint_every_s=3600)
    record = store.load(config.key)
    assert record["result"] == expected["result"]
    assert record["provenance"]["resumed_after_epochs"] == [1]
    assert store.load(other.key)["provenance"]["resumed_after_epochs"] == []
    assert store.checkpoints() == [] and not store.checkpoint_file(config.key).exists()


# --- checkpoints travel: export in parts, merge home ---------------------------------------------------

def test_checkpoints_travel_in_parts_and_merge_byte_for_byte(tmp_path):
    from gradconf.store import checkpoint_parts, merge_archives

    there = ResultStore(tmp_path / "there")
    configs = interrupted(there, {1: 1, 2: 3, 3: 2})
    size = there.checkpoint_file(configs[1].key).stat().st_size
    packed, left = there.export_checkpoints(tmp_path / "out" / "partial.tar", budget_bytes=10 * size,
                                            part_bytes=size // 2)
    assert packed == [configs[2].key, configs[3].key, configs[1].key] and left == []  # most advanced first
    parts = checkpoint_parts(tmp_path / "out" / "partial.tar")
    assert len(parts) >= 6 and all(p.stat().st_size <= size // 2 for p in parts)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left

    home = ResultStore(tmp_path / "home")
    report = merge_archives(parts, home)
    assert sorted(report.checkpoints_added) == sorted(packed) and not report.rejected
    for config in configs.values():
        assert home.checkpoint_file(config.key).read_bytes() == there.checkpoint_file(config.key).read_bytes()
    again = merge_archives(parts, home)  # the same epochs again: kept out
    assert again.checkpoints_added == [] and len(again.checkpoints_kept_out) == 3
    # and a resumed run at home finishes with the numbers of one never stopped
    run_sweep([configs[2]], home, progress=False)
    assert home.load(configs[2].key)["result"] == run_one(configs[2])["result"]
    assert home.load(configs[2].key)["provenance"]["resumed_after_epochs"] == [3]


def test_a_missing_part_merges_no_checkpoint_and_says_so(tmp_path):
    from gradconf.store import checkpoint_parts, merge_archives

    there = ResultStore(tmp_path / "there")
    configs = interrupted(there, {1: 1, 2: 2})
    size = there.checkpoint_file(configs[1].key).stat().st_size
    there.export_checkpoints(tmp_path / "p.tar", budget_bytes=10 * size, part_bytes=size // 2)
    parts = checkpoint_parts(tmp_path / "p.tar")
    # a gap, or a lost last part (a tar cut at a member's boundary would read as complete without the count)
    for gone in (parts[1], parts[-1]):
        home = ResultStore(tmp_path / f"home-{gone.name}")
        report = merge_archives([p for p in parts if p != gone], home)
        assert report.checkpoints_added == [] and len(report.rejected) == 1, report
        assert "not one complete set" in report.rejected[0]
        assert not home.partial.exists() or not list(home.partial.iterdir())


def test_the_budget_keeps_the_most_advanced_runs_and_names_the_rest(tmp_path):
    there = ResultStore(tmp_path / "there")
    configs = interrupted(there, {1: 1, 2: 3, 3: 2})
    size = there.checkpoint_file(configs[1].key).stat().st_size
    two = sum(there.checkpoint_file(configs[s].key).stat().st_size for s in (2, 3)) + 4 * 512 + tarfile.RECORDSIZE
    packed, left = there.export_checkpoints(tmp_path / "p.tar", budget_bytes=two)
    assert packed == [configs[2].key, configs[3].key] and left == [configs[1].key]
    from gradconf.store import checkpoint_parts
    assert sum(p.stat().st_size for p in checkpoint_parts(tmp_path / "p.tar")) <= two
    # an export with nothing to pack removes the parts of the previous one
    for config in configs.values():
        there.checkpoint_file(config.key).unlink()
    assert there.export_checkpoints(tmp_path / "p.tar", budget_bytes=10 * size) == ([], [])
    from gradconf.store import checkpoint_parts
    assert checkpoint_parts(tmp_path / "p.tar") == []


def test_merge_keeps_a_later_checkpoint_and_drops_those_of_finished_runs(tmp_path):
    from gradconf.store import merge_archives

    early, late = ResultStore(tmp_path / "early"), ResultStore(tmp_path / "late")
    config = interrupted(early, {1: 1})[1]
    interrupted(late, {1: 3})
    report = merge_archives([early.path], late)  # a store folder's partial/ merges too
    assert report.checkpoints_kept_out == [config.key]
    assert Checkpointer(late.checkpoint_file(config.key), config.key).load(torch.device("cpu"))["epoch"] == 3
    report = merge_archives([late.path], early)
    assert report.checkpoints_added == [config.key]
    finished = ResultStore(tmp_path / "finished")
    finished.save(run_one(config))
    report = merge_archives([late.path], finished)
    assert report.checkpoints_kept_out == [config.key] and not finished.checkpoint_file(config.key).exists()
    (early.partial / f"{'0' * 20}.pt").write_bytes(b"not a checkpoint")
    report = merge_archives([early.path], ResultStore(tmp_path / "x"))
    assert any("not a readable checkpoint" in r for r in report.rejected)


def test_a_save_killed_mid_write_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    keeper = Checkpointer(path, "k", EVERY_EPOCH)
    keeper.save({"epoch": 1, "device_type": "cpu"})
    before = path.read_bytes()
    real_save = torch.save

    def dies_half_way(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk gone")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk gone"):
        keeper.save({"epoch": 2, "device_type": "cpu"})
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before and not list(tmp_path.glob(".*.part"))
    (tmp_path / ".run.abc.part").write_bytes(b"left by a process killed outright")
    assert keeper.load(torch.device("cpu"))["epoch"] == 1
    assert not list(tmp_path.glob(".*.part"))  # cleaned at the next load


def test_each_segment_of_a_resumed_run_keeps_its_provenance(tmp_path):
    store = ResultStore(tmp_path / "store")
    config = interrupted(store, {3: 2})[3]
    from gradconf.checkpoint import stale_reason

    assert stale_reason(store.checkpoint_file(config.key)) is None
    run_sweep([config], store, progress=False)
    prov = store.load(config.key)["provenance"]
    assert [s["from_epoch"] for s in prov["segments"]] == [1, 3] and prov["resumed_after_epochs"] == [2]
    assert all(s["device"] == "cpu" and s["code_digest"] == prov["code_digest"] for s in prov["segments"])


def test_a_checkpoint_of_an_older_compute_version_is_stale(tmp_path, monkeypatch):
    from gradconf import experiment
    from gradconf.checkpoint import stale_reason

    store = ResultStore(tmp_path / "store")
    config = interrupted(store, {3: 1})[3]
    path = store.checkpoint_file(config.key)
    monkeypatch.setattr(experiment, "COMPUTE_VERSION", experiment.COMPUTE_VERSION + 1)
    assert "compute version changed" in stale_reason(path)
    state = torch.load(path, weights_only=True)
    torch.save({**state, "config": None}, path)
    assert "holds no run config" in stale_reason(path)


def test_merging_a_record_deletes_the_runs_checkpoint(tmp_path):
    from gradconf.store import merge_archives

    store = ResultStore(tmp_path / "store")
    config = interrupted(store, {3: 1})[3]
    done = ResultStore(tmp_path / "done")
    done.save(run_one(config))
    report = merge_archives([done.path], store)
    assert report.added == [config.key] and not store.checkpoint_file(config.key).exists()


def test_checkpoints_no_newer_than_the_baselines_stay_behind(tmp_path):
    from gradconf.store import merge_archives

    window, committed = ResultStore(tmp_path / "window"), ResultStore(tmp_path / "committed")
    configs = interrupted(committed, {1: 2, 2: 1})
    merge_archives([committed.path], window)  # what the driver seeds: both checkpoints, unchanged
    interrupted(window, {2: 3})  # seed 2 runs on in the window, from epoch 1 to 3; seed 1 does not
    packed, left = window.export_checkpoints(tmp_path / "p.tar", budget_bytes=2**24, baseline=committed)
    assert packed == [configs[2].key] and left == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_run_resumes_on_cuda(tmp_path):
    """Only where a GPU is (never in CI): the augmentation generator lives on the device, the model is
    channels_last; a resumed run must carry on (GPU kernels are not bitwise reproducible, so the numbers
    are compared loosely)."""
    dev = torch.device("cuda")

    def fit_cuda(checkpoint=None):
        model = build_model(CNN, seed=0).to(dev)
        return train(model, images(64, 1).to(dev), images(32, 2).to(dev), TRAIN, MEASURE, seed=5, progress=False,
                     checkpoint=checkpoint)

    a = fit_cuda()
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        fit_cuda(stop_after(path, "k", 2))
    b = fit_cuda(Checkpointer(path, "k", EVERY_EPOCH))
    assert b.resumed_after == [2] and len(b.epochs) == len(a.epochs)
    assert [e["epoch"] for e in b.epochs] == [e["epoch"] for e in a.epochs]
    assert b.epochs[-1]["train_loss"] == pytest.approx(a.epochs[-1]["train_loss"], rel=1e-2)
