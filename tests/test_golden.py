"""Golden records: the exact stored ``result`` of tiny fixed runs (CPU, float32 and float64).

While these pass, the code computes the same numbers it did when the records were pinned, so every
record in ``results/`` stays valid although run keys no longer hash the code. A change that alters a
number fails here; then bump ``gradconf.experiment.COMPUTE_VERSION`` (every stored record becomes stale
on purpose) and regenerate with ``python tests/test_golden.py --regenerate``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gradconf import experiment
from gradconf.experiment import RunConfig, run_one
from gradconf.models import MLPConfig
from gradconf.train import MeasureConfig, TrainConfig

GOLDEN = Path(__file__).parent / "golden"


def golden_configs() -> dict[str, RunConfig]:
    """Two epochs of a small MLP on the synthetic sphere data, with every measurement switched on."""
    def config(dtype: str) -> RunConfig:
        return RunConfig(dataset="sphere", model=MLPConfig(input_dim=8, width=16, depth=2, output_dim=2),
                         train=TrainConfig(epochs=3, batch_size=32, lr=0.1, lr_decay_at=(0.5,)),
                         measure=MeasureConfig(n_pairs=3, batch_size=16, probe_size=24, every=2, dense_after=0.9),
                         n_train=128, n_test=64, threads=1, seed=3, dtype=dtype)
    return {dtype: config(dtype) for dtype in ("float32", "float64")}


def golden_path(dtype: str) -> Path:
    return GOLDEN / f"record_{dtype}.json"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_golden_record_is_unchanged(dtype):
    pinned = json.loads(golden_path(dtype).read_text())
    config = golden_configs()[dtype]
    assert pinned["compute_version"] == experiment.COMPUTE_VERSION, (
        "COMPUTE_VERSION changed: regenerate the golden records (python tests/test_golden.py --regenerate)")
    assert pinned["key"] == config.key
    record = run_one(config)
    assert json.loads(json.dumps(record["result"])) == pinned["result"], (
        "the code now computes different numbers: bump gradconf.experiment.COMPUTE_VERSION (stored records "
        "become stale on purpose) and regenerate with python tests/test_golden.py --regenerate")


def test_golden_records_measure_something():
    """The pinned records cover what stored runs hold: cosines, test metrics and a probe Gram."""
    for dtype in ("float32", "float64"):
        result = json.loads(golden_path(dtype).read_text())["result"]
        measured = [ep for ep in result["epochs"] if "cosines" in ep]
        assert [ep["epoch"] for ep in measured] == [0, 2, 3]
        assert all(ep["probe_status"] == "ok" and "test_acc" in ep for ep in measured)
        assert result["probe"]["n"] == 24 and result["status"] == "ok"


def regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for dtype, config in golden_configs().items():
        record = run_one(config)
        pinned = {"compute_version": experiment.COMPUTE_VERSION, "key": config.key, "config": record["config"],
                  "result": record["result"]}
        golden_path(dtype).write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
        print(f"wrote {golden_path(dtype)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        raise SystemExit("usage: python tests/test_golden.py --regenerate")
    regenerate()
