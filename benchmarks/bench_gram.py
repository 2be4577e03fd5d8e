"""Cost of each exact Gram method as a ratio to one plain batched forward+backward (same n, same process).

Columns: gradconf's ``ghost`` and ``vmap``; a plain torch.func baseline (``vmap(grad)`` over all n at once,
per-example gradients concatenated, one matmul: what a user would write); Opacus grad samples and BackPACK
BatchGrad where they import (installed with ``pip install --no-deps``, which keeps this torch; skipped
otherwise), each followed by the same concatenation and matmul. Every method's Gram is checked against
ghost's before it is timed. Ratios, not seconds, are the result: they are measured side by side in one run.

Targets (issue 18): gradconf's vmap never slower than the torch.func baseline; ghost never slower than it,
ghost <= 1.5x on CNN-16-2 32x32 at n=128 and on the MLP at n=1,024, <= 1.0x on the MLP at n=512; data
preparation of a 1,024-image CIFAR-10 run <= 0.1 s (when $GRADCONF_DATA holds CIFAR-10). It also prints the
minibatch protocol's cost (item 6) beside the former fresh-concatenation path, after checking both give the
same cosines.

The default (``make bench``) stays under 4 GB: gradconf's vmap gets a 3 GiB budget (over it, it folds the Gram
one segment at a time), and the baselines, which hold all n x P per-example gradients twice (gradients and their
concatenation), are skipped where that exceeds 3 GiB (the 6M-parameter MLP: 6 GiB at n=128, 23 GiB at n=512).
``--full`` (``make bench-full``, about 16 GB free) times them up to 13 GiB.
Every column runs in this one process with the allocator ``gradconf run`` uses: glibc keeps freed memory for
reuse (:mod:`gradconf.allocator`; ``--system-allocator`` leaves its defaults, under which ghost's fresh
temporaries are page-faulted anew on every call).
Usage: python benchmarks/bench_gram.py [--threads 2] [--repeats 5] [--full] [--quick] [--system-allocator]
"""
from __future__ import annotations

import argparse
import copy
import gc
import resource
import time

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from gradconf.allocator import keep_freed_memory
from gradconf.gram import gradient_gram
from gradconf.models import MLPConfig, WRNConfig, build_model
from gradconf.timing import forward_backward as _forward_backward
from gradconf.timing import median_seconds

BUDGET = 3 << 30
FULL_BUDGET = 13 << 30


def forward_backward(model, x, y):
    _forward_backward(model, x, y, "cross_entropy")


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _gram_of_rows(grads) -> torch.Tensor:
    flat = torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)
    return flat @ flat.T


def torch_func_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The plain torch.func recipe: vmap(grad) over every example in one call, concatenate, one matmul."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def loss_one(p, xi, yi):
        out = functional_call(model, {**p, **buffers}, (xi.unsqueeze(0),))
        return nn.functional.cross_entropy(out, yi.unsqueeze(0), reduction="sum")

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
    return _gram_of_rows(list(grads.values()))


def _released(gram: torch.Tensor, module: nn.Module, attribute: str) -> torch.Tensor:
    """Drop the library's per-example gradients now: its hooks form reference cycles that would keep
    n x P floats alive until the next garbage collection (9 GB after two calls on the n=128 MLP)."""
    for p in module.parameters():
        setattr(p, attribute, None)
    gc.collect()
    return gram


def opacus_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from opacus import GradSampleModule
    from opacus.validators import ModuleValidator

    # Opacus records activations only in train mode; without BatchNorm (which it refuses: checked here)
    # train mode is the same function as eval mode
    trained = copy.deepcopy(model).train()
    errors = ModuleValidator.validate(trained, strict=False)
    if errors:
        raise NotImplementedError(f"Opacus does not support this model: {errors[0]}")
    wrapped = GradSampleModule(trained, batch_first=True, loss_reduction="sum")
    nn.functional.cross_entropy(wrapped(x), y, reduction="sum").backward()
    gram = _gram_of_rows([p.grad_sample for p in wrapped.parameters() if p.requires_grad])
    return _released(gram, wrapped, "grad_sample")


def backpack_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from backpack import backpack, extend
    from backpack.extensions import BatchGrad

    ext = extend(copy.deepcopy(model), use_converter=True)
    loss = extend(nn.CrossEntropyLoss(reduction="sum"))
    with backpack(BatchGrad()):
        loss(ext(x), y).backward()
    gram = _gram_of_rows([p.grad_batch for p in ext.parameters() if p.requires_grad])
    return _released(gram, ext, "grad_batch")


def _importable(name: str) -> bool:
    try:
        __import__(name)
        return True
    except Exception:
        return False


def _cases(quick: bool):
    mlp = MLPConfig(784, 1024, 6, 10)
    cases = [
        ("MLP 784-1024x6-10", mlp, (784,), 128, False),
        ("MLP 784-1024x6-10", mlp, (784,), 512, False),
        ("MLP 784-1024x6-10", mlp, (784,), 1024, True),  # ghost only: the n^2 term's regime
        ("CNN-16-2 32x32", WRNConfig(16, 2), (3, 32, 32), 128, False),
        ("CNN-16-2 + BN (eval)", WRNConfig(16, 2, bn=True), (3, 32, 32), 128, False),
        ("WRN-16-2 BN (eval) + skip", WRNConfig(16, 2, bn=True, skip=True), (3, 32, 32), 128, False),
        ("book CNN 16x16", WRNConfig(16, 2, base_channels=8), (3, 16, 16), 128, False),
    ]
    if quick:
        small = MLPConfig(784, 256, 3, 10)
        cases = [("MLP 784-256x3-10", small, (784,), 64, False),
                 ("CNN-10-1 16x16", WRNConfig(10, 1, base_channels=8), (3, 16, 16), 32, False)]
    return cases


def _model(cfg) -> nn.Module:
    model = build_model(cfg, seed=0)
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():  # non-trivial running statistics, so BN (eval) is not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


def _fresh_concatenation_pairs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, pairs: list) -> list[float]:
    """The minibatch protocol as gradconf computed it before issue 18: each minibatch gradient concatenated
    into a fresh float32 vector and converted to a fresh float64 one (same values as the buffers')."""
    params = list(model.parameters())
    out = []
    for a, b in pairs:
        flat = []
        for idx in (a, b):
            value = nn.functional.cross_entropy(model(x[idx]), y[idx])
            grads = torch.autograd.grad(value, params)
            flat.append(torch.cat([g.reshape(-1) for g in grads]).to(torch.float64))
        out.append(float(flat[0] @ flat[1] / (flat[0].norm() * flat[1].norm())))
    return out


def minibatch_protocol_ratios(repeats: int, n_pairs: int = 10, batch: int = 128) -> tuple[float, float]:
    """Issue 18, item 6: ``minibatch_gradient_pairs`` (reused float64 buffers) and the former fresh
    concatenation, each as a ratio to the 2 x n_pairs plain forward+backward passes they contain, on the
    6M-parameter MLP; fastest of ``repeats`` rounds. Both give the same cosines (checked)."""
    from gradconf.measure import minibatch_gradient_pairs

    model = _model(MLPConfig(784, 1024, 6, 10))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4 * batch, 784, generator=gen)
    y = torch.randint(0, 10, (4 * batch,), generator=gen)
    pair_gen = torch.Generator().manual_seed(1)
    pairs = []
    for _ in range(n_pairs):
        idx = torch.randperm(len(x), generator=pair_gen)[:2 * batch]
        pairs.append((idx[:batch], idx[batch:]))

    def gradconf_pairs() -> list[float]:
        got = minibatch_gradient_pairs(model, x, y, n_pairs, batch, generator=torch.Generator().manual_seed(1))
        return [float(c) for c in got.cosines]

    def passes() -> None:
        for a, b in pairs:
            forward_backward(model, x[a], y[a])
            forward_backward(model, x[b], y[b])

    if gradconf_pairs() != _fresh_concatenation_pairs(model, x, y, pairs):
        raise AssertionError("the minibatch protocol's cosines differ from the fresh concatenation's")
    times: dict[str, list[float]] = {"passes": [], "gradconf": [], "fresh": []}
    for _ in range(repeats):
        times["passes"].append(_seconds(passes))
        times["gradconf"].append(_seconds(gradconf_pairs))
        times["fresh"].append(_seconds(lambda: _fresh_concatenation_pairs(model, x, y, pairs)))
    base = min(times["passes"])
    return min(times["gradconf"]) / base, min(times["fresh"]) / base


def data_preparation_seconds(repeats: int) -> float | None:
    """Median seconds of load_run_data for a 1,024-image CIFAR-10 run (warm), None without the data."""
    from gradconf.experiment import load_run_data
    from gradconf.sweeps import sweep_configs

    config = sweep_configs("cnn_depth", "book", overrides={"n_train": 1024})[0]
    try:
        load_run_data(config)
    except (FileNotFoundError, OSError, RuntimeError, ValueError):
        return None
    return median_seconds(lambda: load_run_data(config), repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full", action="store_true",
                        help="also time the all-at-once baselines beyond 3 GiB (needs ~16 GB and several minutes)")
    parser.add_argument("--quick", action="store_true", help="two small models (a smoke test of the script)")
    parser.add_argument("--system-allocator", action="store_true",
                        help="leave glibc's malloc at its defaults (gradconf run keeps freed memory for reuse)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kept = False if args.system_allocator else keep_freed_memory()
    baselines = {"torch.func": torch_func_gram}
    for name, fn in (("Opacus", opacus_gram), ("BackPACK", backpack_gram)):
        if _importable(name.lower()):
            baselines[name] = fn
    missing = sorted({"Opacus", "BackPACK"} - set(baselines))
    print(f"torch {torch.__version__}, {args.threads} threads, fastest of {args.repeats}; ratios to the fastest "
          f"batched forward+backward; allocator: "
          + ("freed memory kept for reuse, as in gradconf run (gradconf.allocator)" if kept else "system defaults")
          + (f"; not installed: {', '.join(missing)}" if missing else ""))
    columns = ["ghost", "vmap", *baselines]
    print(f"{'model':<26} {'n':>5} {'fwd+bwd s':>9} " + " ".join(f"{c:>10}" for c in columns))
    table: dict[tuple[str, int], dict[str, float]] = {}
    for name, cfg, shape, n, ghost_only in _cases(args.quick):
        gen = torch.Generator().manual_seed(0)
        model = _model(cfg)
        x = torch.randn(n, *shape, generator=gen)
        y = torch.randint(0, 10, (n,), generator=gen)
        n_params = sum(p.numel() for p in model.parameters())
        forward_backward(model, x, y)
        reference = gradient_gram(model, x, y, method="ghost")
        cells: dict[str, str] = {}
        timed: dict[str, object] = {}
        slow: set[str] = set()
        for col in columns:
            if ghost_only and col != "ghost":
                cells[col] = "-"
                continue
            # a baseline holds every per-example gradient twice (the gradients and their concatenation)
            need = 2 * n * n_params * 4
            if col in baselines and need > (FULL_BUDGET if args.full else BUDGET):
                cells[col] = f"{need / 2**30:.0f} GiB"
                continue
            if col == "ghost":
                fn = lambda: gradient_gram(model, x, y, method="ghost")  # noqa: E731
            elif col == "vmap":
                fn = lambda: gradient_gram(model, x, y, method="vmap", memory_budget=BUDGET)  # noqa: E731
            else:
                fn = lambda f=baselines[col]: f(model, x, y)  # noqa: E731
            try:  # this call also warms the method up
                start = time.perf_counter()
                gram = fn()
                if time.perf_counter() - start > 10:
                    slow.add(col)
            except Exception as err:  # a library that refuses the model (Opacus and BatchNorm)
                cells[col] = "refuses" if isinstance(err, NotImplementedError) else "fails"
                continue
            err = ((gram - reference).abs().max() / reference.abs().max()).item()
            if not err <= 1e-3:
                cells[col] = f"wrong {err:.0e}"
                continue
            timed[col] = fn
        # Rounds: each times the plain forward+backward and then every method once. A ratio is the fastest
        # call of a method over the fastest forward+backward: on a shared machine interference only ever
        # adds time, so the minimum estimates each computation's own cost (medians of paired ratios moved
        # by +-10 % between identical runs here, enough to flip a target).
        seconds: dict[str, list[float]] = {col: [] for col in timed}
        bases = []
        for r in range(args.repeats):
            bases.append(_seconds(lambda: forward_backward(model, x, y)))
            for col, fn in timed.items():
                if col in slow and r > 0:  # calls of minutes: timed once
                    continue
                seconds[col].append(_seconds(fn))
        base = min(bases)
        row = {col: min(v) / base for col, v in seconds.items()}
        cells.update({col: f"{v:.2f}x" for col, v in row.items()})
        table[(name, n)] = row
        print(f"{name:<26} {n:>5} {base:>9.3f} " + " ".join(f"{cells[c]:>10}" for c in columns), flush=True)
    n_pairs, batch = (2, 16) if args.quick else (10, 128)
    ours, fresh = minibatch_protocol_ratios(args.repeats, n_pairs, batch)
    print(f"minibatch protocol, MLP 784-1024x6-10, {n_pairs} pairs of {batch}, ratio to its {2 * n_pairs} "
          f"forward+backward passes: gradconf {ours:.2f}x, former fresh concatenation {fresh:.2f}x (same cosines)")
    prep = data_preparation_seconds(args.repeats)
    print(f"data preparation, 1,024-image CIFAR-10 run (warm): "
          + ("no CIFAR-10 under $GRADCONF_DATA" if prep is None else f"{prep:.3f} s"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident memory: {peak:.1f} GB")
    if args.quick:
        return
    print("targets:")

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("MET" if ok else "NOT MET")

    def ratio(model: str, n: int, col: str) -> float | None:
        return table.get((model, n), {}).get(col)

    pairs = [(k, r) for k, r in table.items() if "vmap" in r and "torch.func" in r]
    print(f"  vmap <= torch.func on every model measured ({len(pairs)}): "
          + verdict(all(r["vmap"] <= r["torch.func"] for _, r in pairs) if pairs else None))
    pairs = [(k, r) for k, r in table.items() if "ghost" in r and "torch.func" in r]
    print(f"  ghost <= torch.func on every model measured ({len(pairs)}): "
          + verdict(all(r["ghost"] <= r["torch.func"] for _, r in pairs) if pairs else None))
    for model, n, limit in (("CNN-16-2 32x32", 128, 1.5), ("MLP 784-1024x6-10", 1024, 1.5),
                            ("MLP 784-1024x6-10", 512, 1.0)):
        r = ratio(model, n, "ghost")
        print(f"  ghost <= {limit}x on {model}, n={n}: {verdict(None if r is None else r <= limit)}"
              + ("" if r is None else f" ({r:.2f}x)"))
    print(f"  data preparation <= 0.1 s: {verdict(None if prep is None else prep <= 0.1)}")


if __name__ == "__main__":
    main()
