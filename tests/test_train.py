import math

import pytest
import torch

from gradconf.data import ArrayDataset
from gradconf.models import MLPConfig, build_model
from gradconf.synthetic import sphere_teacher
from gradconf.train import MeasureConfig, TrainConfig, augment_images, lr_at_epoch, train


def _sphere(n=256, d=10, seed=0):
    ds = sphere_teacher(n, d, generator=torch.Generator().manual_seed(seed), labels="sign")
    return ArrayDataset(ds.x, (ds.y > 0).long(), "sphere")


def test_paper_schedule_decays_at_epochs_80_and_160():
    cfg = TrainConfig(epochs=200, lr=0.1)
    lrs = [lr_at_epoch(cfg, e) for e in range(200)]
    assert lrs[79] == 0.1 and math.isclose(lrs[80], 0.01) and math.isclose(lrs[159], 0.01)
    assert math.isclose(lrs[160], 0.001) and math.isclose(lrs[199], 0.001)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "lr must be"), ({"momentum": 1.0}, "momentum"), ({"lr_decay_at": (0.8, 0.4)}, "increasing"),
    ({"epochs": 0}, "epochs"), ({"loss": "l1"}, "unknown loss"),
])
def test_bad_train_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_bad_measure_config():
    with pytest.raises(ValueError, match="bn_mode"):
        MeasureConfig(bn_mode="frozen")


def test_training_learns_records_and_measures():
    full = _sphere(n=384)  # one teacher for train and test
    data = ArrayDataset(full.x[:256], full.y[:256], "train")
    test = ArrayDataset(full.x[256:], full.y[256:], "test")
    model = build_model(MLPConfig(input_dim=10, width=32, depth=2, output_dim=2), seed=0)
    res = train(model, data, test, TrainConfig(epochs=6, batch_size=32, lr=0.2),
                MeasureConfig(n_pairs=3, batch_size=16, probe_size=20), seed=0, progress=False)
    assert res.status == "ok" and [r["epoch"] for r in res.epochs] == list(range(7))
    assert res.epochs[-1]["train_loss"] < res.epochs[1]["train_loss"]
    assert res.epochs[-1]["test_acc"] > 0.7
    assert len(res.epochs[3]["cosines"]) == 3 and -1 <= res.epochs[3]["cos_min"] <= 1
    assert res.probe["n"] == 20 and res.probe["eta"] >= 0


def test_measurement_does_not_change_the_training_trajectory():
    def run(n_pairs):
        model = build_model(MLPConfig(input_dim=10, width=16, depth=1, output_dim=2), seed=3)
        res = train(model, _sphere(), None, TrainConfig(epochs=3, batch_size=32, lr=0.1),
                    MeasureConfig(n_pairs=n_pairs, batch_size=16), seed=5, progress=False)
        return [r["train_loss"] for r in res.epochs]
    assert run(1) == run(6)


def test_divergence_is_recorded_and_stops_the_run():
    model = build_model(MLPConfig(input_dim=10, width=32, depth=3, output_dim=2), seed=0)
    res = train(model, _sphere(), None, TrainConfig(epochs=50, batch_size=32, lr=1e6),
                MeasureConfig(n_pairs=0), seed=0, progress=False)
    assert res.status == "diverged"
    assert len(res.epochs) < 51 and math.isnan(res.epochs[-1]["train_loss"])


def test_augmentation_flips_and_crops_deterministically():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    a = augment_images(x, torch.Generator().manual_seed(0), pad=2)
    b = augment_images(x, torch.Generator().manual_seed(0), pad=2)
    assert a.shape == x.shape and torch.equal(a, b)
    # Every output row is a (possibly flipped, shifted) window of reflect-padded input values.
    assert set(a[0].unique().tolist()) <= set(x[0].unique().tolist())


def test_the_probe_gram_is_computed_under_the_device_lock(monkeypatch):
    """Runs sharing a GPU take turns at the probe Gram (gradconf.device_share); on CPU the key is None."""
    import contextlib

    import gradconf.device_share as device_share
    import gradconf.train as train_module

    inside, held = [], []

    @contextlib.contextmanager
    def recording(key):
        held.append(key)
        inside.append(True)
        yield
        inside.append(False)

    real = train_module.probe_summary

    def probe(*args, **kwargs):
        assert inside and inside[-1], "the probe Gram ran outside the device lock"
        return real(*args, **kwargs)

    monkeypatch.setattr(device_share, "exclusive", recording)
    monkeypatch.setattr(train_module, "probe_summary", probe)
    data = _sphere(n=128)
    model = build_model(MLPConfig(input_dim=10, width=16, depth=1, output_dim=2), seed=0)
    res = train(model, data, None, TrainConfig(epochs=2, batch_size=32, lr=0.1),
                MeasureConfig(n_pairs=2, batch_size=16, probe_size=16), seed=0, progress=False)
    assert res.probe["n"] == 16 and held == [None] * len(held) and len(held) >= 2
