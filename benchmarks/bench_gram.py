"""Cost of each Gram method as a ratio to one plain batched forward+backward (same n, same process).

Targets (issue 2): ghost <= 1.5x on the MLPs at n=512 and >= 100x faster than vmap there; on conv nets
ghost <= 1.5x and never slower than vmap. Prints a table; the numbers are for the machine it runs on.
Usage: python benchmarks/bench_gram.py [--threads 2] [--repeats 3] [--full]

The default (``make bench``) skips vmap and loop at n = 512 and caps their per-example gradients at 3 GiB
(peak memory under 4 GB). ``--full`` (``make bench-full``) times them too, holding all n × P per-example
gradients as the reference measurements did: 12.5 GB for the n = 512 MLP, so it needs about 16 GB free.
"""
from __future__ import annotations

import argparse

import torch

from gradconf.gram import gradient_gram
from gradconf.models import MLPConfig, WRNConfig, build_model
from gradconf.timing import forward_backward as _forward_backward
from gradconf.timing import median_seconds as median_time


def forward_backward(model, x, y):
    _forward_backward(model, x, y, "cross_entropy")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="also time vmap/loop at n=512 with a 13 GiB budget (needs ~16 GB and several minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [
        ("MLP 784-1024x6-10", MLPConfig(784, 1024, 6, 10), (784,), 128),
        ("MLP 784-1024x6-10", MLPConfig(784, 1024, 6, 10), (784,), 512),
        ("CNN-16-2 (CIFAR)", WRNConfig(16, 2), (3, 32, 32), 128),
    ]
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    print(f"{'model':<20} {'n':>4} {'fwd+bwd s':>10} {'ghost':>8} {'vmap':>8} {'loop':>8} {'vmap/ghost':>11}")
    for name, cfg, shape, n in cases:
        gen = torch.Generator().manual_seed(0)
        model = build_model(cfg, seed=0)
        x = torch.randn(n, *shape, generator=gen)
        y = torch.randint(0, 10, (n,), generator=gen)
        base = median_time(lambda: forward_backward(model, x, y), args.repeats)
        ratios = {}
        for method in ("ghost", "vmap", "loop"):
            if not args.full and method != "ghost" and n > 128:
                ratios[method] = float("nan")
                continue
            reps = args.repeats if method == "ghost" else 1
            # --full: vmap/loop hold all n x P per-example gradients (12.5 GB for the n=512 MLP), as the reference
            # measurements did; the default 3 GiB holds the n=128 cases whole and keeps the peak under 4 GB.
            budget = (13 << 30) if args.full else (3 << 30)
            ratios[method] = median_time(
                lambda: gradient_gram(model, x, y, method=method, memory_budget=budget), reps) / base
        print(f"{name:<20} {n:>4} {base:>10.3f} {ratios['ghost']:>7.2f}x {ratios['vmap']:>7.1f}x "
              f"{ratios['loop']:>7.1f}x {ratios['vmap'] / ratios['ghost']:>10.1f}x", flush=True)


if __name__ == "__main__":
    main()
