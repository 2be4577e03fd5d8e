"""Training throughput of CNN-16-2 (paper §7) on 32x32 inputs at batch 128, and what measuring costs (issue 17).

Prints, for one device: images/s of main's eager loop and of the project's loop (``gradconf.train.train``
itself) side by side, aggregate images/s of k concurrent runs (separate processes started together
behind a barrier), achieved TFLOP/s against the device's dense peak, the cost of the paper's per-epoch
measurement (100 pairs of 128) and of an exact per-example Gram of 1,024 examples as fractions of a
full CIFAR-10 epoch, GPU-minute estimates for the paper and ``gpu`` presets, and the issue's targets.
Data are synthetic (seeded random tensors of CIFAR-10's shape): the benchmark needs no dataset.

"main's eager loop" is the loop ``gradconf.train.train`` had before commit 2917636, reimplemented here
(:func:`eager_run`): batch order and augmentation draws from a CPU generator, copied to the device at
every step (flip + reflect-pad-4 random crop applied on the device), a host-synchronising
``torch.isfinite(loss)`` check and ``.item()`` on the loss and on the accuracy at every step, no
channels_last, and torch's default TF32 flags (main never set them: cuDNN convolutions may use TF32,
matmuls do not).

Usage: python benchmarks/bench_train.py [--device cpu|cuda] [--threads 2] [--steps N] [--concurrency 1 2 4 8]
       [--pairs 100] [--gram-n 1024] [--quick]        (``make bench-train``)
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue as queue_module
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's gradconf, even when not installed

from gradconf.allocator import keep_freed_memory  # noqa: E402
from gradconf.data import ArrayDataset  # noqa: E402
from gradconf.gram import gradient_gram  # noqa: E402
from gradconf.losses import per_example_loss  # noqa: E402
from gradconf.measure import minibatch_gradient_pairs  # noqa: E402
from gradconf.models import WRNConfig, build_model  # noqa: E402
from gradconf.train import MeasureConfig, TrainConfig, _tf32, evaluate, is_measured, train  # noqa: E402

BATCH = 128
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
EPOCH_STEPS = CIFAR_TRAIN // BATCH  # 390: train() drops the ragged last batch
MODEL = WRNConfig(depth=16, width=2)  # the paper's CNN-16-2: no BatchNorm, no skip connections
LR = 0.01  # small, so that the loss on random labels stays finite over a window
# Nothing measured: no pairs, no probe, no record at initialisation; test_set=None skips test metrics.
NO_MEASURE = MeasureConfig(n_pairs=0, at_init=False, probe_size=0)
# Dense (no sparsity) peaks in TFLOP/s from NVIDIA's data sheets, matched on the device name in order.
_SXM = {"tf32": 494.7, "bf16": 989.4, "fp32": 66.9}
PEAKS: list[tuple[str, dict[str, float]]] = [
    ("H100 PCIe", {"tf32": 378.0, "bf16": 756.0, "fp32": 51.2}), ("H100", _SXM), ("H200", _SXM),
    ("A100", {"tf32": 156.0, "bf16": 312.0, "fp32": 19.5}),
]


def sync(dev: torch.device) -> None:
    """Wait for queued CUDA work, so that a wall-clock reading covers it."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def synthetic(n: int, dev: torch.device, seed: int) -> ArrayDataset:
    """n seeded random images of CIFAR-10's shape with 10 random labels, on ``dev``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    return ArrayDataset(x, torch.randint(0, 10, (n,), generator=gen), "synthetic-CIFAR").to(dev)


def window(steps: int) -> tuple[int, int]:
    """(epochs, steps per epoch) of a timed window of about ``steps`` steps: two epochs when there is
    room, so the window includes train()'s once-per-epoch work (batch order, the one host sync)."""
    epochs = 2 if steps >= 4 else 1
    return epochs, max(1, steps // epochs)


def warm_steps(dev: torch.device, steps: int, quick: bool) -> int:
    """Untimed steps before a window: the first ones pay for allocation and cuDNN setup."""
    return 0 if quick else min(window(steps)[1], 10 if dev.type == "cuda" else 1)


def project_run(dev: torch.device, steps: int, tf32: bool, seed: int, warm: int,
                barrier=None) -> tuple[float, float, int, nn.Module]:
    """Time ``gradconf.train.train`` after a one-epoch warm-up of ``warm`` steps: (start, end, images, model)."""
    epochs, per_epoch = window(steps)
    data = synthetic(per_epoch * BATCH, dev, seed)
    model = build_model(MODEL, seed=seed).to(dev)
    config = TrainConfig(epochs=epochs, lr=LR, augment=True, tf32=tf32)
    if warm:
        warm_set = ArrayDataset(data.x[:warm * BATCH], data.y[:warm * BATCH], data.name)
        train(model, warm_set, None, replace(config, epochs=1), NO_MEASURE, seed=seed, progress=False)
    sync(dev)
    if barrier is not None:
        barrier.wait(timeout=600)
    start = time.monotonic()  # system-wide clock on Linux: comparable across the concurrent processes
    train(model, data, None, config, NO_MEASURE, seed=seed, progress=False)
    sync(dev)
    return start, time.monotonic(), epochs * per_epoch * BATCH, model


def _eager_augment(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """main's augmentation: draws on the CPU generator, copied to the device, images cropped there."""
    n, c, h, w = x.shape
    dev = x.device
    flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    top = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
    left = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(dev)
    rows = (top[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows, cols]


def eager_run(dev: torch.device, steps: int, seed: int, warm: int) -> float:
    """Images/s of main's eager loop (module docstring) over the same window as :func:`project_run`."""
    epochs, per_epoch = window(steps)
    data = synthetic(per_epoch * BATCH, dev, seed)
    model = build_model(MODEL, seed=seed).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)

    def epoch(n_steps: int) -> int:
        order = torch.randperm(n_steps * BATCH, generator=gen)
        loss_sum, correct = 0.0, 0
        for step in range(n_steps):
            idx = order[step * BATCH:(step + 1) * BATCH].to(dev)
            xb, yb = _eager_augment(data.x[idx], gen), data.y[idx]
            out = model(xb)
            loss = per_example_loss(out, yb, "cross_entropy").mean()
            if not torch.isfinite(loss):  # host sync at every step; main stopped the run here
                return step
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * BATCH
            correct += int((out.detach().argmax(dim=1) == yb).sum().item())
        return n_steps

    if warm:
        epoch(warm)  # as for the project's loop
    sync(dev)
    start = time.monotonic()
    done = sum(epoch(per_epoch) for _ in range(epochs))
    sync(dev)
    return done * BATCH / (time.monotonic() - start)


def _worker(rank: int, device: str, steps: int, tf32: bool, threads: int, warm: int, barrier, results) -> None:
    """One of k concurrent runs; reports (rank, start, end, images, error) and breaks the barrier on failure."""
    torch.set_num_threads(threads)
    keep_freed_memory()  # as a gradconf run worker does
    try:
        start, end, images, _ = project_run(torch.device(device), steps, tf32, rank, warm, barrier)
        results.put((rank, start, end, images, None))
    except BaseException:
        barrier.abort()  # the others stop waiting instead of hanging
        results.put((rank, math.nan, math.nan, 0, traceback.format_exc()))


def concurrent(k: int, dev: torch.device, steps: int, tf32: bool, threads: int, warm: int) -> float:
    """Aggregate images/s of k project-loop processes: total images / (slowest finish - common start)."""
    ctx = mp.get_context("spawn")  # fork would copy this process's CUDA state
    barrier, results = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, str(dev), steps, tf32, max(1, threads // k), warm, barrier, results))
             for r in range(k)]
    for p in procs:
        p.start()
    got: list[tuple] = []
    while len(got) < k:
        try:
            got.append(results.get(timeout=5))
        except queue_module.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a k={k} worker died without reporting (exit codes {[p.exitcode for p in procs]})")
    for p in procs:
        p.join()
    errors = [r[4] for r in got if r[4]]
    if errors:
        raise RuntimeError(f"a k={k} worker failed:\n{errors[0]}")
    return sum(r[3] for r in got) / (max(r[2] for r in got) - min(r[1] for r in got))


def model_flops(config: WRNConfig = MODEL, batch: int = BATCH) -> float:
    """FLOPs of one forward+backward of ``config`` on a batch of 32x32 images with cross-entropy,
    counted on the meta device (no compute)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(config).to("meta")
    x = torch.empty(batch, 3, 32, 32, device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter:
        per_example_loss(model(x), y, "cross_entropy").mean().backward()
    return float(counter.get_total_flops())


def step_flops() -> float | None:
    """FLOPs of one forward+backward of CNN-16-2 at batch 128 (:func:`model_flops`), or None."""
    try:
        return model_flops()
    except Exception:  # an old torch, or an op the counter cannot run on meta
        return None


def sweep_run_equivalents(preset: str = "gpu", sweeps: tuple[str, ...] = ("cnn_depth", "cnn_width", "bn_skip")
                          ) -> dict[str, float]:
    """Each sweep's training cost at ``preset`` in CNN-16-2 runs: the sum over its models of their
    forward+backward FLOPs (counted on the meta device) relative to CNN-16-2's, times that model's runs
    (with an LR pilot: its pilot LRs + its judged seeds, before edge extensions; without: every
    seed x LR). A model that an earlier sweep in ``sweeps`` already runs counts there only."""
    from gradconf.sweeps import lr_pilot, sweep_configs

    unit, seen, out = model_flops(), set(), {}
    for sweep in sweeps:
        pilot = lr_pilot(sweep, preset)
        models: dict[str, list] = {}
        for c in sweep_configs(sweep, preset):  # a model: its config with seed and LR fixed (its key names it)
            models.setdefault(replace(c, seed=0, train=replace(c.train, lr=1.0)).key, []).append(c)
        total = 0.0
        for key, configs in models.items():
            if key in seen:
                continue
            runs = (len({c.train.lr for c in configs}) + len({c.seed for c in configs})) if pilot else len(configs)
            total += model_flops(configs[0].model) / unit * runs
        out[sweep] = total
        seen |= set(models)
    return out


def timed(fn, dev: torch.device, warm: bool) -> float:
    """Seconds of one ``fn()`` call (after an untimed one when ``warm``), synchronised on CUDA."""
    if warm:
        fn()
    sync(dev)
    start = time.perf_counter()
    fn()
    sync(dev)
    return time.perf_counter() - start


def measurement_seconds(model: nn.Module, dev: torch.device, pairs: int,
                        gram_n: int) -> tuple[float, float, float, int, float | None]:
    """Seconds of ``pairs`` minibatch pairs, of the exact Gram of ``gram_n`` examples and of test metrics on
    ``n_eval`` examples, in full float32 as train() measures, and the Gram's peak CUDA memory in GiB above
    what was allocated before it (None off CUDA); returns (pairs, gram, eval, n_eval, gram_peak_gib)."""
    # On CUDA the pairs are drawn from 50,000 examples as in the paper (train() draws on the CPU per pair).
    data = synthetic(CIFAR_TRAIN if dev.type == "cuda" else max(2 * BATCH, gram_n), dev, seed=1)
    n_eval = CIFAR_TEST if dev.type == "cuda" else BATCH  # scaled to 10,000 on CPU
    gen = torch.Generator().manual_seed(0)
    warm = dev.type == "cuda"  # on CPU a warm-up would double the cost for little change
    with _tf32(False):  # train() measures under gradconf.train._tf32(False): the same flags here
        model.train()
        t_pairs = timed(lambda: minibatch_gradient_pairs(model, data.x, data.y, pairs, BATCH, generator=gen,
                                                         loss="cross_entropy", bn_mode="train"), dev, warm)
        model.eval()  # as probe_summary does
        if dev.type == "cuda":  # the probe Gram is a run's memory peak: what concurrent runs must leave room for
            sync(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            before = torch.cuda.memory_allocated(dev)
        t_gram = timed(lambda: gradient_gram(model, data.x[:gram_n], data.y[:gram_n], loss="cross_entropy"), dev, warm)
        gram_peak = (torch.cuda.max_memory_allocated(dev) - before) / 2**30 if dev.type == "cuda" else None
        t_eval = timed(lambda: evaluate(model, ArrayDataset(data.x[:n_eval], data.y[:n_eval], data.name),
                                        "cross_entropy"), dev, warm)
    model.train()
    return t_pairs, t_gram, t_eval, n_eval, gram_peak


def row(label: str, value: str, rest: str = "") -> None:
    """One table row: label, value, comment."""
    print(f"{label:<40} {value:>16}  {rest}".rstrip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, help="training steps per timed window (default 200 on CUDA, 6 on CPU)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="k values (default 1 2 4 8 on CUDA, 1 2 on CPU)")
    parser.add_argument("--pairs", type=int, help="minibatch pairs timed (default 100 on CUDA, 4 on CPU)")
    parser.add_argument("--gram-n", type=int, help="examples of the timed Gram (default 1024 on CUDA, 128 on CPU)")
    parser.add_argument("--quick", action="store_true", help="tiniest sizes (the test)")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    default = (2, [2], 1, 16) if args.quick else (200, [1, 2, 4, 8], 100, 1024) if cuda else (6, [1, 2], 4, 128)
    steps = args.steps or default[0]
    ks = args.concurrency or default[1]
    pairs, gram_n = args.pairs or default[2], args.gram_n or default[3]
    if cuda and not torch.cuda.is_available():
        parser.error(f"--device cuda, but torch {torch.__version__} sees no CUDA device")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # the ≥/≤ of the target lines never crash a C locale
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # the allocator setting of gradconf run (gradconf.allocator)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    print(f"bench_train: torch {torch.__version__}, device {name}, {args.threads} threads; CNN-16-2 on synthetic "
          f"3x32x32, batch {BATCH}, windows of {math.prod(window(steps))} steps", flush=True)

    warm = warm_steps(dev, steps, args.quick)
    eager = eager_run(dev, steps, 0, warm)  # side by side with the project's loop, same sizes, same process
    row("eager loop (main), k=1", f"{eager:.1f} img/s")
    start, end, images, model = project_run(dev, steps, cuda, 0, warm)
    single = images / (end - start)
    row("project loop (gradconf.train), k=1", f"{single:.1f} img/s", f"{single / eager:.2f}x eager")
    aggregate: dict[int, float] = {}
    for k in ks:
        aggregate[k] = concurrent(k, dev, steps, cuda, args.threads, warm)
        row(f"k={k} concurrent runs, aggregate", f"{aggregate[k]:.1f} img/s",
            f"{aggregate[k] / aggregate[ks[0]]:.2f}x k={ks[0]}, {aggregate[k] / eager:.2f}x eager")
    best_k = max(aggregate, key=aggregate.get)
    best = aggregate[best_k]
    # Gain of k concurrent runs over one run launched the same way (a worker process) when k=1 was timed.
    gain = best / aggregate.get(1, single)

    flops = step_flops()
    table = next((p for key, p in PEAKS if key in name), None) if cuda and "NVL" not in name else None
    for label, ips in (("k=1", single), (f"best, k={best_k}", best)):
        tflops = None if flops is None else flops * ips / BATCH / 1e12
        row(f"achieved ({label})", "n/a" if tflops is None else f"{tflops:.2f} TFLOP/s",
            f"{100 * tflops / table['tf32']:.1f} % of the TF32 dense peak {table['tf32']} TFLOP/s"
            if table and tflops is not None else "peak n/a")

    epoch_s = EPOCH_STEPS * BATCH / single  # a full CIFAR-10 epoch (390 steps) of the project's loop at k = 1
    t_pairs, t_gram, t_eval, n_eval, gram_peak = measurement_seconds(model, dev, pairs, gram_n)
    row("one epoch of 50,000 (from k=1)", f"{epoch_s:.2f} s")
    for label, t in ((f"{pairs} minibatch pairs of {BATCH}", t_pairs), (f"exact Gram of {gram_n} (auto)", t_gram),
                     (f"test metrics on {n_eval}", t_eval)):
        row(label, f"{t:.3f} s", f"{t / epoch_s:.4f} of an epoch")
    row(f"peak memory of the Gram of {gram_n}", "n/a" if gram_peak is None else f"{gram_peak:.2f} GiB",
        "CUDA only" if gram_peak is None else
        f"{MODEL.name}; deeper and wider models hold more "
        "(gradconf.device_share lets runs sharing a GPU take turns at it)")

    from gradconf.sweeps import sweep_configs  # imported late: the workers need not import pandas

    gram_1024 = t_gram * (1024 / gram_n) ** 2  # when fewer were timed: ∝ n², the n x n Gram (an upper estimate)
    test_s = t_eval * CIFAR_TEST / n_eval
    minutes = {}
    for preset in ("paper", "gpu"):
        cfg = sweep_configs("cnn_depth", preset)[0]
        measured = sum(is_measured(e, cfg.train, cfg.measure) for e in range(cfg.train.epochs + 1))
        per_measure = t_pairs * cfg.measure.n_pairs / pairs + test_s + (
            gram_1024 * (cfg.measure.probe_size / 1024) ** 2 if cfg.measure.probe_size else 0.0)
        minutes[preset] = (cfg.train.epochs * epoch_s + measured * per_measure) / 60
        # k runs sharing the device: measurement assumed to gain as much as training does
        row(f"{preset} preset: {cfg.train.epochs} epochs, {measured} measured", f"{minutes[preset]:.1f} min",
            f"at k=1; {minutes[preset] / gain:.1f} min per run at k={best_k}")
    try:
        equivalents = sweep_run_equivalents()
    except (ImportError, NotImplementedError, RuntimeError) as err:  # an old torch, or an op the counter cannot run
        equivalents = {}
        row("gpu preset, sweep costs", "n/a", f"the FLOP count failed: {type(err).__name__}: {err}")
    for sweep, runs in equivalents.items():
        row(f"gpu preset, {sweep}: {runs:.0f} CNN-16-2 runs", f"{runs * minutes['gpu'] / gain:.0f} GPU-min",
            f"at k={best_k} (training FLOPs relative to CNN-16-2; runs shared with an earlier sweep counted once)")
    if pairs != 100 or gram_n != 1024:
        print(f"(timed {pairs} pairs and a Gram of {gram_n}: scaled to 100 pairs linearly, to 1,024 examples ∝ n²)")
    if cuda:
        print("(training timed with TF32 as the gpu preset trains; the paper preset trains in float32)")
    print(f"ratio to main's eager loop: k=1 {single / eager:.2f}x, best (k={best_k}) {best / eager:.2f}x")

    note = "" if cuda else "  (GPU targets; informative on CPU)"
    met = {True: "MET", False: "NOT MET"}
    paper_run = minutes["paper"] / gain
    print(f"target: aggregate ≥ 5× eager: {met[best / eager >= 5]} (ratio {best / eager:.2f}x){note}")
    print(f"target: paper-protocol run ≤ 5 GPU-min: {met[paper_run <= 5]} ({paper_run:.1f} min per run at "
          f"k={best_k}){note}")
    print(f"target: Gram of 1,024 ≤ 10 % of an epoch: {met[gram_1024 <= 0.1 * epoch_s]} "
          f"({100 * gram_1024 / epoch_s:.1f} %){note}")

if __name__ == "__main__":
    main()
