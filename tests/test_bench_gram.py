"""The Gram benchmark (issue 18) runs end to end on CPU: every column it times agrees with ghost's Gram."""
from __future__ import annotations

import re


def test_bench_gram_quick_prints_ratios_for_every_method(run_benchmark):
    lines = run_benchmark("bench_gram.py", "--quick", "--threads", "1", "--repeats", "2", timeout=300)
    stdout = "\n".join(lines)
    assert "allocator: freed memory kept for reuse" in lines[0] or "allocator: system defaults" in lines[0], lines[0]
    header = next(line for line in lines if line.startswith("model"))
    columns = header.split()[4:]
    assert columns[:3] == ["ghost", "vmap", "torch.func"], header
    rows = [line for line in lines if line.startswith(("MLP", "CNN"))]
    assert len(rows) == 2, stdout
    for row in rows:
        cells = row.split()[-len(columns):]
        # gradconf's methods and the torch.func baseline always run, and agree with ghost (else "wrong ...")
        assert all(re.fullmatch(r"\d+\.\d\dx", c) for c in cells[:3]), row
        assert "wrong" not in row, row
    assert any(line.startswith("data preparation, 1,024-image CIFAR-10 run") for line in lines), stdout
    # the minibatch protocol's line (its cosines were checked against the former path before timing)
    assert any(re.match(r"minibatch protocol, .* gradconf \d+\.\d\dx, former fresh concatenation \d+\.\d\dx", line)
               for line in lines), stdout
