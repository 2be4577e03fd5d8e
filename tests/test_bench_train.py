"""The training-throughput benchmark (issue 17) runs end to end on CPU and prints its table and targets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_train_quick_prints_table_and_targets():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--device", "cpu", "--quick",
                           "--threads", "1"], cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bench_train: torch ") and "device cpu" in lines[0], proc.stdout
    for row in ("eager loop (main), k=1", "project loop (gradconf.train), k=1", "k=2 concurrent runs, aggregate",
                "minibatch pairs of 128", "exact Gram of 16", "ratio to main's eager loop"):
        assert any(line.startswith(row) or row in line for line in lines), (row, proc.stdout)
    targets = [line for line in lines if line.startswith("target: ")]
    assert [t.split(":")[1].strip() for t in targets] == [
        "aggregate ≥ 5× eager", "paper-protocol run ≤ 5 GPU-min", "Gram of 1,024 ≤ 10 % of an epoch"], proc.stdout
    for t in targets:
        assert ": MET (" in t or ": NOT MET (" in t, t
        assert t.endswith("(GPU targets; informative on CPU)"), t
