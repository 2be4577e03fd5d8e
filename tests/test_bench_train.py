"""The training-throughput benchmark (issue 17) runs end to end on CPU and prints its table and targets."""
from __future__ import annotations


def test_bench_train_quick_prints_table_and_targets(run_benchmark):
    lines = run_benchmark("bench_train.py", "--device", "cpu", "--quick", "--threads", "1", timeout=180)
    stdout = "\n".join(lines)
    assert lines[0].startswith("bench_train: torch ") and "device cpu" in lines[0], stdout
    for row in ("eager loop (main), k=1", "project loop (gradconf.train), k=1", "k=2 concurrent runs, aggregate",
                "minibatch pairs of 128", "exact Gram of 16", "peak memory of the Gram of 16", "ratio to main's eager loop",
                "gpu preset, cnn_depth: ", "gpu preset, cnn_width: ", "gpu preset, bn_skip: "):
        assert any(line.startswith(row) or row in line for line in lines), (row, stdout)
    # the Gram's memory peak is what runs sharing a GPU must leave room for: measured on CUDA only
    assert any(line.startswith("peak memory of the Gram of 16") and "n/a" in line and "CUDA only" in line
               for line in lines), stdout
    targets = [line for line in lines if line.startswith("target: ")]
    assert [t.split(":")[1].strip() for t in targets] == [
        "aggregate ≥ 5× eager", "paper-protocol run ≤ 5 GPU-min", "Gram of 1,024 ≤ 10 % of an epoch"], stdout
    for t in targets:
        assert ": MET (" in t or ": NOT MET (" in t, t
        assert t.endswith("(GPU targets; informative on CPU)"), t


def test_sweep_costs_count_each_model_by_its_flops_and_shared_runs_once():
    """The GPU-minute plan of a window: cnn_depth's 5 models are each at least CNN-16-2 (7 runs each: 4
    pilot LRs + 3 seeds), its CNN-16-2 is cnn_width's first model (counted once), and bn_skip's 32 models
    reach depth 100."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_train import sweep_run_equivalents

    got = sweep_run_equivalents()
    assert 5 * 7 < got["cnn_depth"] < 5 * 7 * 3.5  # depth 40 costs < 3.5 x depth 16
    alone = sweep_run_equivalents(sweeps=("cnn_width",))["cnn_width"]
    assert abs(alone - got["cnn_width"] - 7) < 1e-6  # CNN-16-2's 7 runs were counted by cnn_depth
    assert got["bn_skip"] > 3 * (got["cnn_depth"] + got["cnn_width"])
