"""Trained-network studies: LR selection, seed summaries, dataset fallback, scale; verdicts on a real study."""
import math
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from gradconf import experiment
from gradconf.data import ArrayDataset, DataNotFoundError
from gradconf.experiment import ResultStore, RunConfig
from gradconf.models import MLPConfig, WRNConfig, build_model
from gradconf.studies import image_dataset, model_table, pilot_table, run_study, scale_description, seed_summary
from gradconf.verdicts import study_verdicts
from gradconf.train import MeasureConfig, TrainConfig, train


def test_seed_summary_uses_sample_std():
    frame = pd.DataFrame({"depth": [1, 1, 2, 2], "seed": [0, 1, 0, 1], "m": [1.0, 3.0, 2.0, 2.0]})
    s = seed_summary(frame, ["depth"], ["m"]).set_index("depth")
    assert s.loc[1, "m_mean"] == 2.0 and s.loc[1, "m_std"] == pytest.approx(math.sqrt(2)) and s.loc[1, "seeds"] == 2


def test_downsample_pools_images():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    d = ArrayDataset(x, torch.zeros(2, dtype=torch.long), "toy").downsample(2)
    assert d.x.shape == (2, 3, 2, 2)
    assert d.x[0, 0, 0, 0] == x[0, 0, :2, :2].mean()
    assert ArrayDataset(x, torch.zeros(2), "toy").downsample(1).x is x
    with pytest.raises(ValueError, match="cannot pool"):
        ArrayDataset(x, torch.zeros(2), "toy").downsample(3)
    with pytest.raises(ValueError, match="positive integer"):
        RunConfig(dataset="cifar10", model=WRNConfig(), downsample=0)


def test_base_channels_scales_every_stage():
    slim, paper = build_model(WRNConfig(depth=10, width=2, base_channels=8)), build_model(WRNConfig(depth=10, width=2))
    convs = [m.out_channels for m in slim.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0] == 8 and max(convs) == 4 * 8 * 2
    assert max(m.out_channels for m in paper.modules() if isinstance(m, torch.nn.Conv2d)) == 128
    assert WRNConfig(base_channels=8).name == "CNN-16-2/b8" and WRNConfig().name == "CNN-16-2"
    with pytest.raises(ValueError, match="base_channels"):
        WRNConfig(base_channels=0)


def test_measure_every_k_epochs_and_the_last():
    gen = torch.Generator().manual_seed(0)
    data = ArrayDataset(torch.randn(128, 8, generator=gen), torch.randint(0, 3, (128,), generator=gen), "toy")
    model = build_model(MLPConfig(input_dim=8, width=16, depth=1, output_dim=3))
    result = train(model, data, data, TrainConfig(epochs=5, batch_size=32, lr=0.1),
                   MeasureConfig(n_pairs=2, batch_size=16, every=2), seed=0, progress=False)
    measured = [ep["epoch"] for ep in result.epochs if "cosines" in ep]
    tested = [ep["epoch"] for ep in result.epochs if "test_acc" in ep]
    assert measured == tested == [0, 2, 4, 5]
    assert [ep["epoch"] for ep in result.epochs] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="every"):
        MeasureConfig(every=0)


def test_run_key_depends_on_the_compute_version_not_on_code_edits(monkeypatch):
    cfg = RunConfig(dataset="mnist", model=MLPConfig())
    before = cfg.key
    monkeypatch.setattr(experiment, "compute_digest", lambda: "0" * 16)
    assert cfg.key == before  # editing train.py must not orphan stored records
    monkeypatch.setattr(experiment, "COMPUTE_VERSION", experiment.COMPUTE_VERSION + 1)
    assert cfg.key != before


def test_image_dataset_falls_back_to_mnist(tmp_path, real_data_root):
    with pytest.raises(DataNotFoundError, match="neither"):
        image_dataset(tmp_path)
    assert image_dataset(real_data_root) == "cifar10"
    (tmp_path / "MNIST").symlink_to(Path(real_data_root) / "MNIST")
    assert image_dataset(tmp_path) == "mnist"


def test_run_study_selects_lr_reuses_runs_and_judges(tmp_path, real_data_root):
    store = ResultStore(tmp_path / "store")
    kw = dict(store=store, data_root=real_data_root, progress=False,
              grid={"model.depth": [1, 2], "seed": [0, 1], "train.lr": [0.01, 0.1]},
              overrides={"n_train": 256, "train.epochs": 1, "measure.n_pairs": 2})
    study = run_study("mlp_depth", "smoke", "model.depth", **kw)
    assert study.ran == 8 and len(study.runs) == 8 and len(study.chosen) == 4
    # the selected LR of each depth has the lowest mean final training loss over seeds
    mean = study.runs.groupby(["model.depth", "train.lr"])["final_train_loss"].mean()
    for depth, group in study.chosen.groupby("model.depth"):
        assert group["train.lr"].nunique() == 1
        assert group["train.lr"].iloc[0] == mean.loc[depth].idxmin()
    assert set(study.cosines["epoch"]) == {1} and len(study.cosines) == 4 * 2
    assert study.compute_s > 0 and study.seeds == [0, 1] and study.values == [1, 2]
    again = run_study("mlp_depth", "smoke", "model.depth", **kw)
    assert again.ran == 0 and again.chosen["key"].tolist() == study.chosen["key"].tolist()
    assert set(study.chosen["lr_rule"]) == {"judged seeds"} and study.chosen["initial_train_loss"].gt(0).all()
    verdicts = study_verdicts(study, ["depth_loss", "depth_min_cos", "depth_probe_cos"], x_label="depth")
    # the LR was chosen on the judged seeds here (no pilot in this grid), so nothing may be judged
    assert {(v.label, v.reason) for v in verdicts.values()} == {("not tested", "LR selected on the judged seeds")}
    table = model_table(study)
    assert len(table) == 2 and table["parameters"].str.replace(",", "").astype(int).gt(0).all()
    text = scale_description(study)
    assert "MNIST (256 training" in text and "2 seeds (0, 1)" in text and "{0.01, 0.1}" in text
    assert "on the judged seeds themselves" in text
    with pytest.raises(ValueError, match="unknown claim"):
        study_verdicts(study, ["nope"], x_label="depth")
    with pytest.raises(ValueError, match="not a dependence along an axis"):
        study_verdicts(study, ["bn_skip_best_loss"], x_label="depth")


def test_diverged_models_and_model_table_count_failed_runs():
    from gradconf.studies import Study, diverged_models, partly_diverged_models

    chosen = pd.DataFrame({
        "model.depth": [2, 2, 8, 8], "init.scheme": ["he"] * 4, "model_name": ["MLP-2", "MLP-2", "MLP-8", "MLP-8"],
        "n_params": [10, 10, 20, 20], "train.lr": [0.1, 0.1, 0.05, 0.05], "seed": [0, 1, 0, 1],
        "status": ["ok", "ok", "diverged", "diverged"], "final_train_loss": [0.5, 0.7, float("nan"), float("nan")],
        "final_test_acc": [0.9, 0.8, float("nan"), float("nan")], "final_cos_min": [-0.1, -0.2, float("nan"), float("nan")],
    })
    empty = pd.DataFrame()
    study = Study("toy", "smoke", "model.depth", chosen, chosen, empty, empty, 1.0, 0)
    assert diverged_models(study) == ["MLP-8 at every LR tried (LR 0.05)"]
    table = model_table(study, by=("init.scheme",))
    assert list(table.columns[:3]) == ["model", "scheme", "parameters"] and table["scheme"].tolist() == ["he", "he"]
    assert diverged_models(study, ("init.scheme",)) == ["MLP-8 (he) at every LR tried (LR 0.05)"]
    ok = Study("toy", "smoke", "model.depth", chosen.iloc[:2], chosen.iloc[:2], empty, empty, 1.0, 0)
    assert diverged_models(ok) == [] and partly_diverged_models(ok) == []
    # the pilot tried more LRs: one that trained means the selected LR, not every LR, failed
    pilot = chosen.iloc[2:].assign(seed=100, status=["diverged", "ok"], **{"train.lr": [0.025, 0.0125]})
    wider = Study("toy", "smoke", "model.depth", pd.concat([chosen, pilot]), chosen, empty, empty, 1.0, 0)
    assert diverged_models(wider) == ["MLP-8 at its selected LR 0.05"]
    failed = pilot.assign(status="diverged")
    wider = Study("toy", "smoke", "model.depth", pd.concat([chosen, failed]), chosen, empty, empty, 1.0, 0)
    assert diverged_models(wider) == ["MLP-8 at every LR tried (3 LRs, 0.0125–0.05)"]
    partly = chosen.assign(status=["ok", "diverged", "diverged", "diverged"])
    mixed = Study("toy", "smoke", "model.depth", partly, partly, empty, empty, 1.0, 0)
    assert partly_diverged_models(mixed) == ["MLP-2: 1 of 2 seeds at LR 0.1"]
    table = model_table(study)
    assert table["diverged"].tolist() == [0, 2] and table["final train loss"].iloc[0] == "0.6 ± 0.14"
    from gradconf.studies import compute_description

    assert compute_description(study, ok) == "0.0 min for 6 runs"
    assert compute_description(Study("toy", "smoke", "model.depth", chosen, chosen, empty, empty, 90.0, 0)) == (
        "1.5 min for 4 runs")


def test_pilot_table_shows_each_lr_tried_on_the_pilot_seed_and_the_choice():
    from gradconf.studies import Study, pilot_table

    runs = pd.DataFrame({
        "model.depth": [16, 16, 16, 40, 40, 40, 40, 16, 40],
        "model_name": ["CNN-16-2"] * 3 + ["CNN-40-2"] * 4 + ["CNN-16-2", "CNN-40-2"],
        "seed": [100] * 7 + [0, 0], "train.lr": [0.025, 0.05, 0.1, 0.0125, 0.025, 0.05, 0.1, 0.05, 0.0125],
        "status": ["ok", "ok", "ok", "ok", "ok", "ok", "diverged", "ok", "ok"],
        "final_train_loss": [0.05, 0.004, 0.02, 0.3, 0.5, 2.3, float("nan"), 0.01, 0.4],
    })
    chosen = runs[runs["seed"] == 0].assign(lr_at_edge=[False, True], lr_rule="pilot seed 100")
    empty = pd.DataFrame()
    table = pilot_table(Study("toy", "book", "model.depth", runs, chosen, empty, empty, 1.0, 0))
    assert list(table.columns) == ["model", "model.depth", "LR 0.0125", "LR 0.025", "LR 0.05", "LR 0.1",
                                   "selected LR"]
    assert table.iloc[0].tolist() == ["CNN-16-2", 16, "", "0.05", "0.004 *", "0.02", "0.05"]
    assert table.iloc[1].tolist() == ["CNN-40-2", 40, "0.3 *", "0.5", "2.3", "diverged", "0.0125 (grid edge)"]
    fixed = chosen.assign(lr_rule="fixed")
    assert pilot_table(Study("toy", "book", "model.depth", runs, fixed, empty, empty, 1.0, 0)) is None


def test_probe_gradient_norm_and_matched_loss_view():
    from gradconf.measure import confusion_summary
    from gradconf.studies import Study, fit_frame, matched_loss_frame, probe_gradient_norm

    g = torch.randn(12, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.3
    summary = {f"probe_{k}": v for k, v in confusion_summary(g @ g.T).items()}
    norm = probe_gradient_norm(pd.DataFrame([summary]))[0]
    assert norm == pytest.approx(g.mean(0).norm().item(), rel=1e-9)
    epochs = pd.DataFrame({"key": ["a"] * 4 + ["b"] * 4, "model.depth": [1] * 4 + [2] * 4, "seed": 0,
                           "epoch": [0, 1, 2, 3] * 2, "train_loss": [2.0, 0.5, 0.09, 0.05, 2.0, 0.8, 0.3, 0.2],
                           "cos_min": [-0.1, -0.2, None, -0.4, -0.1, -0.3, -0.35, -0.5], **{k: v for k, v in summary.items()}})
    study = Study("toy", "smoke", "model.depth", epochs, epochs, epochs, pd.DataFrame(), 0.0, 0)
    assert len(fit_frame(study)) == 7 and "probe_grad_norm" in fit_frame(study)
    matched = matched_loss_frame(study, 0.1)
    # run a is first *measured* below 0.1 at epoch 3 (epoch 2 was not measured); run b never gets there
    assert matched["key"].tolist() == ["a"] and matched["epoch"].tolist() == [3]


def test_a_one_lr_grid_under_a_pilot_is_labelled_fixed(tmp_path, real_data_root):
    store = ResultStore(tmp_path / "store")
    kw = dict(store=store, data_root=real_data_root, progress=False,
              overrides={"n_train": 256, "n_test": 64, "train.epochs": 1, "measure.n_pairs": 2,
                         "measure.probe_size": 0})
    one = run_study("mlp_depth", "book", "model.depth", grid={"model.depth": [1], "seed": [0], "train.lr": [0.05]},
                    **kw)
    assert set(one.chosen["lr_rule"]) == {"fixed"} and pilot_table(one) is None
    two = run_study("mlp_depth", "book", "model.depth",
                    grid={"model.depth": [1], "seed": [0], "train.lr": [0.05, 0.1]}, **kw)
    assert set(two.chosen["lr_rule"]) == {"pilot seed 100"} and pilot_table(two) is not None
    assert (two.runs["seed"] == 100).sum() >= 2 and set(two.chosen["seed"]) == {0}


@pytest.mark.parametrize("every, dense_after", [(1, 1.0), (10, 1.0), (10, 0.9), (4, 0.75), (5, 0.0)])
def test_the_measurement_schedule_in_words_matches_the_measured_epochs(every, dense_after):
    from gradconf.studies import measure_schedule_text
    from gradconf.train import MeasureConfig, TrainConfig, is_measured

    train, measure = TrainConfig(epochs=60), MeasureConfig(every=every, dense_after=dense_after)
    measured = [e for e in range(1, 61) if is_measured(e, train, measure)]
    text = measure_schedule_text(every, dense_after)
    if text == "every epoch":
        assert measured == list(range(1, 61))
    elif text.endswith("and at the last"):
        assert measured == sorted({*range(every, 61, every), 60})
    else:
        after = int(dense_after * 60)
        assert measured == sorted({*range(every, 61, every), *range(after + 1, 61)})
        assert f"after {100 * dense_after:g} %" in text


def test_protocol_differences_compare_a_preset_with_the_paper_preset():
    from gradconf.experiment import flatten_config
    from gradconf.studies import Study, protocol_differences, protocol_text
    from gradconf.sweeps import sweep_configs

    def study_at(preset):
        frame = pd.DataFrame([flatten_config(c.to_dict()) for c in sweep_configs("cnn_depth", preset)])
        empty = pd.DataFrame()
        return Study("cnn_depth", preset, "model.depth", frame, frame, empty, empty, 0.0, 0)

    assert protocol_differences(study_at("paper")) == []
    assert protocol_text(study_at("paper")).startswith("At preset paper the runs follow the paper's protocol")
    book = protocol_differences(study_at("book"))
    assert "epochs: 60 (paper: 200)" in book and "image side: 16 (paper: 32)" in book
    assert "training images: 2,048 (paper: all)" in book and "flip/crop augmentation: no (paper: yes)" in book
    gpu = protocol_differences(study_at("gpu"))  # full data at 32 x 32 with augmentation, 60 epochs
    assert "epochs: 60 (paper: 200)" in gpu and not any(d.startswith(("training images", "image side")) for d in gpu)
