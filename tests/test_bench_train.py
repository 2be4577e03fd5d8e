"""The training-throughput benchmark (issue 17) runs end to end on CPU and prints its table and targets."""
from __future__ import annotations


def test_bench_train_quick_prints_table_and_targets(run_benchmark):
    lines = run_benchmark("bench_train.py", "--device", "cpu", "--quick", "--threads", "1", timeout=180)
    stdout = "\n".join(lines)
    assert lines[0].startswith("bench_train: torch ") and "device cpu" in lines[0], stdout
    for row in ("eager loop (main), k=1", "project loop (gradconf.train), k=1", "k=2 concurrent runs, aggregate",
                "minibatch pairs of 128", "exact Gram of 16", "ratio to main's eager loop"):
        assert any(line.startswith(row) or row in line for line in lines), (row, stdout)
    targets = [line for line in lines if line.startswith("target: ")]
    assert [t.split(":")[1].strip() for t in targets] == [
        "aggregate ≥ 5× eager", "paper-protocol run ≤ 5 GPU-min", "Gram of 1,024 ≤ 10 % of an epoch"], stdout
    for t in targets:
        assert ": MET (" in t or ": NOT MET (" in t, t
        assert t.endswith("(GPU targets; informative on CPU)"), t
