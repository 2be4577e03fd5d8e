"""Exact per-example gradient Gram matrices, G[i, j] = <grad f_i(w), grad f_j(w)> (paper eq. 3).

Three interchangeable methods (all exact; they differ only in cost):

- ``ghost``: one forward pass with hooks that keep each layer's input A, then one ``autograd.grad``
  of the summed loss with respect to each layer's *output* (B). Weight gradients are never formed:
  per-example weight gradients of a dense layer are outer products b_i a_i^T, so
  <b_i a_i^T, b_j a_j^T> = (a_i . a_j)(b_i . b_j). For layers applied at T positions (convolutions,
  sequence inputs) each layer picks the cheaper of that identity summed over position pairs and
  materialising only that layer's per-example weight gradients (Bu et al. 2022, "mixed ghost").
  Supports Linear, Conv2d (groups=1, zero padding) and eval-mode BatchNorm, with any parameter-free
  modules in between (activations, pooling, skip connections).
- ``vmap``: ``torch.func.vmap(grad(...))`` over examples, folded into the Gram parameter by parameter;
  over the memory budget, segment by segment (one segment's per-example gradients at a time).
- ``loop``: one backward per example; the reference implementation.

Train-mode BatchNorm couples the examples of a batch, so a per-example gradient is not defined; every
method refuses it rather than approximating (see ``minibatch_cosines`` for the paper's protocol).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, grad, vjp, vmap

from .losses import check_loss, per_example_loss

log = logging.getLogger(__name__)

GramMethod = Literal["auto", "ghost", "vmap", "loop"]
GRAM_METHODS: tuple[str, ...] = ("auto", "ghost", "vmap", "loop")

#: Largest number of tensor elements a single temporary of the engine may hold.
_BLOCK_ELEMENTS = 1 << 26
#: A conv layer whose weight has at least this many elements per output position gets its per-example
#: weight gradients from strided slices of its input + batched matmul (:func:`_sliced_conv_gram`), a
#: smaller one from one grouped convolution backward. Measured per layer on CPU (n = 128, CNN-16-2 at
#: 32 x 32 and 16 x 16 inputs): slicing 1.2-1.7x faster at 1,152-2,304 elements per position, even at
#: 576, the grouped convolution 1.3-3x faster at 4-144.
_SLICED_MIN_WEIGHT_PER_POSITION = 512
#: A conv layer with fewer input channels than this (an image input) also gets its per-example weight
#: gradients from strided slices + batched matmul: the grouped convolution has too few channels per group
#: to vectorise (measured on CPU, n = 128, 3 -> 16 channels at 32 x 32: 2.4x slower than slicing).
_GROUPED_MIN_IN_CHANNELS = 8
#: The slicing route groups kernel offsets into one batched matmul while the group's per-example gradients
#: (n x offsets x C_in x C_out) stay within this many elements: small layers get products large enough
#: for BLAS (a 3-channel input: all 9 offsets at once), large ones stay in cache (one offset of a
#: 128-channel layer at n = 128). Measured on CPU, n = 128, two runs: 1.2-1.5x faster than one offset at a
#: time on a 3-channel input and on the book CNN's 64-channel 4 x 4 layers; on 128-channel 8 x 8 layers as
#: fast as one offset, where all 9 at once are 1.3-1.65x slower (and 2^23 already 1.1-1.3x slower).
_SLICED_GROUP_ELEMENTS = 1 << 21
#: From this many rows on, :func:`self_gram` computes only the upper block triangle.
_SELF_GRAM_MIN_ROWS = 256
#: From this many rows and columns on (and below _SELF_GRAM_MIN_ROWS rows), :func:`self_gram` computes the
#: upper half as batched products over column chunks.
_HALF_GRAM_MIN_ROWS = 64
_HALF_GRAM_MIN_COLUMNS = 8192
#: Per-example gradients up to this many bytes are kept whole by ``vmap``/``loop``; above it the
#: Gram is assembled block by block, recomputing gradients instead of storing n x P floats.
DEFAULT_MEMORY_BUDGET = 3 << 30


def self_gram(m: torch.Tensor) -> torch.Tensor:
    """m @ m.T for rows m (n, k), computing only the upper block triangle for large n and mirroring it.

    A Gram is symmetric, so about half its products are redundant; BLAS has no symmetric product in
    torch, so blocks of rows do it. Measured on CPU: 1.3-1.8x faster than ``m @ m.T`` at n = 512-2,048;
    at n = 128 with >= 16,384 columns the half-Gram over column chunks is 1.1-1.35x faster (1-2 threads).
    """
    n, k = m.shape
    if n < _SELF_GRAM_MIN_ROWS:
        # float32/64 only: a half-precision product would round each chunk's sum before adding them
        if n >= _HALF_GRAM_MIN_ROWS and k >= _HALF_GRAM_MIN_COLUMNS and m.dtype in (torch.float32, torch.float64):
            return _half_gram(m)
        return m @ m.T
    step = -(-n // min(8, n // 128))
    gram = m.new_empty(n, n)
    for i in range(0, n, step):
        gram[i:i + step, i:] = m[i:i + step] @ m[i:].T
    for i in range(0, n, step):
        gram[i + step:, i:i + step] = gram[i:i + step, i + step:].T
    return gram


def _half_gram(m: torch.Tensor) -> torch.Tensor:
    """m @ m.T from its upper half, [top rows against all] and [bottom against bottom]: 3/4 of the products.

    Each product is a batch over column chunks, summed: a 64-row matrix product alone leaves threads idle.
    """
    n, k = m.shape
    chunks = next(c for c in range(8, 0, -1) if k % c == 0)
    stacked = m.reshape(n, chunks, k // chunks).transpose(0, 1)  # (chunks, n, k / chunks)
    h = n // 2
    top = torch.bmm(stacked[:, :h], stacked.transpose(1, 2)).sum(0)
    bottom = torch.bmm(stacked[:, h:], stacked[:, h:].transpose(1, 2)).sum(0)
    gram = m.new_empty(n, n)
    gram[:h] = top
    gram[h:, :h] = top[:, h:].T
    gram[h:, h:] = bottom
    return gram


class GhostUnsupportedError(ValueError):
    """The ghost method cannot compute this model's Gram exactly; the message says why."""


def _batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def refuse_coupled_batchnorm(model: nn.Module) -> None:
    """Raise if a BatchNorm layer would use batch statistics (train mode or no running stats)."""
    for name, bn in _batchnorm_layers(model):
        if bn.training or not bn.track_running_stats:
            raise ValueError(
                f"BatchNorm layer {name!r} normalises with batch statistics "
                f"({'train mode' if bn.training else 'track_running_stats=False'}), so examples interact "
                "and a per-example gradient is not defined. Call model.eval() to measure with running "
                "statistics, or use gradconf.measure.minibatch_cosines, which measures gradients of whole "
                "minibatches in the BatchNorm mode you choose (the paper's protocol)."
            )


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Named parameters with ``requires_grad``: the coordinates of every gradient gradconf measures."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def ghost_unsupported_reason(model: nn.Module) -> str | None:
    """Why ``ghost`` would not be exact for ``model`` (None when it is)."""
    owners: dict[int, str] = {}
    for mod_name, module in model.named_modules(remove_duplicate=False):
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        label = mod_name or type(module).__name__
        for p in own:
            if id(p) in owners and owners[id(p)] != label:
                return f"parameter shared between {owners[id(p)]!r} and {label!r}"
            owners[id(p)] = label
        for base in (nn.Linear, nn.Conv2d, nn.modules.batchnorm._BatchNorm):
            if isinstance(module, base) and type(module).forward is not base.forward:
                return f"{label!r}: {type(module).__name__} overrides {base.__name__}.forward"
        if isinstance(module, nn.Linear):
            continue
        if isinstance(module, nn.Conv2d):
            if type(module)._conv_forward is not nn.Conv2d._conv_forward:
                return f"{label!r}: {type(module).__name__} overrides Conv2d._conv_forward"
            if module.groups != 1:
                return f"{label!r}: grouped convolution (groups={module.groups})"
            if module.padding_mode != "zeros" or isinstance(module.padding, str):
                return f"{label!r}: padding {module.padding!r} with mode {module.padding_mode!r}"
            continue
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue  # modes are checked by refuse_coupled_batchnorm
        return f"{label!r}: layer type {type(module).__name__} has no ghost rule"
    return None


# ----------------------------------------------------------------------------------------------
# ghost
# ----------------------------------------------------------------------------------------------

def _positions_gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Gram of per-example gradients sum_t b_it a_it^T for a layer applied at T positions.

    ``a``: (n, T, D) layer inputs, ``b``: (n, T, C) output gradients. Picks the cheaper exact route.
    """
    n, t, d = a.shape
    c = b.shape[2]
    if t == 1:
        a0, b0 = a[:, 0], b[:, 0]
        return self_gram(a0) * self_gram(b0)
    ghost_flops = n * n * t * t * (d + c)
    materialise_flops = n * t * c * d + n * n * c * d
    if ghost_flops < materialise_flops:
        gram = a.new_zeros(n, n)
        rows = max(1, _BLOCK_ELEMENTS // (n * t * t))
        for start in range(0, n, rows):
            sl = slice(start, start + rows)
            aa = torch.einsum("itd,jsd->ijts", a[sl], a)
            bb = torch.einsum("itc,jsc->ijts", b[sl], b)
            gram[sl] = (aa * bb).sum(dim=(2, 3))
        return gram
    return _add_materialised_gram(a.new_zeros(n, n), a.transpose(1, 2), b)


def _add_materialised_gram(gram: torch.Tensor, cols: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """Add to ``gram`` the Gram of per-example weight gradients cols_i grad_out_i, materialised a group of
    output channels at a time so that the temporary stays below _BLOCK_ELEMENTS whatever the layer's size.

    ``cols``: (n, D, T) layer inputs per position, ``grad_out``: (n, T, C) output gradients.
    """
    n, d = cols.shape[:2]
    channels = max(1, _BLOCK_ELEMENTS // (n * d))
    for start in range(0, grad_out.shape[2], channels):
        per_example = torch.bmm(cols, grad_out[:, :, start:start + channels])
        gram += self_gram(per_example.reshape(n, -1))
    return gram


def _linear_contribution(m: nn.Linear, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = a.shape[0]
    a = a.reshape(n, -1, a.shape[-1])
    b = b.reshape(n, -1, b.shape[-1])
    with_bias = m.bias is not None and m.bias.requires_grad
    if m.weight.requires_grad and with_bias and a.shape[1] == 1:
        # weight and bias together: (A A^T + 1) o (B B^T), one B B^T instead of two
        a0, b0 = a[:, 0], b[:, 0]
        return (self_gram(a0) + 1) * self_gram(b0)
    gram = a.new_zeros(n, n)
    if m.weight.requires_grad:
        gram += _positions_gram(a, b)
    if with_bias:
        s = b.sum(dim=1)
        gram += self_gram(s)
    return gram


def _conv2d_weight_gram(m: nn.Conv2d, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n, c_in = a.shape[:2]
    c_out, positions = b.shape[1], b.shape[2] * b.shape[3]
    d = c_in * m.kernel_size[0] * m.kernel_size[1]
    ghost_cheaper = n * n * positions * positions * (d + c_out) < n * positions * c_out * d + n * n * c_out * d
    if ghost_cheaper:
        cols = nn.functional.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)
        return _positions_gram(cols.transpose(1, 2), b.reshape(n, c_out, -1).transpose(1, 2))
    if c_out * d >= _SLICED_MIN_WEIGHT_PER_POSITION * positions or c_in < _GROUPED_MIN_IN_CHANNELS:
        return _sliced_conv_gram(m, a, b)
    # Per-example weight gradients of this layer only, from one grouped convolution backward
    # (the batch as groups): several times faster than unfold + bmm on CPU.
    _, per_example, _ = torch.ops.aten.convolution_backward(
        b.reshape(1, n * c_out, *b.shape[2:]), a.reshape(1, n * c_in, *a.shape[2:]),
        # The weight is read for its shape only (a weight gradient needs the input and the output gradient):
        # an uninitialised tensor, since a zero-stride view would be copied to n x its size.
        a.new_empty(n * c_out, *m.weight.shape[1:]), None,
        m.stride, m.padding, m.dilation, False, [0, 0], n,
        [False, True, False],
    )
    per_example = per_example.reshape(n, -1)
    return self_gram(per_example)


def _sliced_conv_gram(m: nn.Conv2d, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Gram of a conv layer's per-example weight gradients, a group of kernel offsets at a time.

    For kernel offset (p, q) the per-example gradient W[:, :, p, q] is (strided slice of the zero-padded
    input) x (output gradient) summed over positions: one batched matmul per group of offsets, whose Gram
    is added at once. It holds the columns of a group of offsets only (all of unfold's n x (C_in k k) x T
    for a small layer, bounded by _BLOCK_ELEMENTS), and each product is large enough for BLAS (measured on
    CPU, n = 128, 128 channels at 8 x 8: 1.3-1.5x faster than unfold).
    """
    n, c_in = a.shape[:2]
    c_out, (h_out, w_out) = b.shape[1], b.shape[2:]
    (sh, sw), (dh, dw), (ph, pw) = m.stride, m.dilation, m.padding
    padded = nn.functional.pad(a, (pw, pw, ph, ph))
    offsets = [(p * dh, q * dw) for p in range(m.kernel_size[0]) for q in range(m.kernel_size[1])]
    positions = h_out * w_out
    per_group = max(1, min(len(offsets), _SLICED_GROUP_ELEMENTS // (n * c_in * c_out),
                           _BLOCK_ELEMENTS // (n * c_in * positions)))
    grad_out = b.reshape(n, c_out, positions).transpose(1, 2)  # (n, T, C_out)
    gram = a.new_zeros(n, n)
    for start in range(0, len(offsets), per_group):
        views = [padded[:, :, p:p + sh * (h_out - 1) + 1:sh, q:q + sw * (w_out - 1) + 1:sw]
                 for p, q in offsets[start:start + per_group]]
        if views[-1].shape[2:] != (h_out, w_out):  # slicing clamps where a convolution would raise
            raise GhostUnsupportedError(f"Conv2d output {tuple(b.shape[2:])} does not follow from its input "
                                        f"{tuple(a.shape[2:])} and geometry; use method='vmap'")
        inputs = (views[0] if len(views) == 1 else torch.cat(views, dim=1)).reshape(n, -1, positions)
        _add_materialised_gram(gram, inputs, grad_out)
    return gram


def _conv2d_contribution(m: nn.Conv2d, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = a.shape[0]
    gram = a.new_zeros(n, n)
    if m.weight.requires_grad:
        gram += _conv2d_weight_gram(m, a, b)
    if m.bias is not None and m.bias.requires_grad:
        s = b.reshape(n, b.shape[1], -1).sum(dim=2)
        gram += self_gram(s)
    return gram


def _batchnorm_contribution(m: nn.modules.batchnorm._BatchNorm, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n, c = a.shape[:2]
    shape = (1, c) + (1,) * (a.dim() - 2)
    gram = a.new_zeros(n, n)
    b = b.reshape(n, c, -1)
    if m.weight is not None and m.weight.requires_grad:
        normalised = (a - m.running_mean.reshape(shape)) / torch.sqrt(m.running_var.reshape(shape) + m.eps)
        g = (b * normalised.reshape(n, c, -1)).sum(dim=2)
        gram += self_gram(g)
    if m.bias is not None and m.bias.requires_grad:
        g = b.sum(dim=2)
        gram += self_gram(g)
    return gram


def _layer_contribution(module: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Linear):
        return _linear_contribution(module, a, b)
    if isinstance(module, nn.Conv2d):
        return _conv2d_contribution(module, a, b)
    return _batchnorm_contribution(module, a, b)


def _ghost_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    reason = ghost_unsupported_reason(model)
    if reason is not None:
        raise GhostUnsupportedError(f"ghost Gram is not exact for this model: {reason}; use method='vmap' or 'auto'")
    records: list[tuple[nn.Module, torch.Tensor, torch.Tensor, int, int]] = []

    def keep(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        records.append((module, inputs[0], output, inputs[0]._version, output._version))

    handles = [
        m.register_forward_hook(keep)
        for m in model.modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
    ]
    try:
        with torch.enable_grad():
            out = model(x)
            total = per_example_loss(out, y, loss).sum()
    finally:
        for h in handles:
            h.remove()
    seen = [id(r[0]) for r in records]
    if len(seen) != len(set(seen)):
        raise GhostUnsupportedError("a layer is called more than once per forward (weight sharing); use method='vmap'")
    for module, a, o, va, vo in records:
        if a._version != va or o._version != vo:
            raise GhostUnsupportedError(
                f"the input or output of {type(module).__name__} was modified in place after the layer ran "
                "(e.g. ReLU(inplace=True)); the stored activations would be wrong. Use method='vmap'."
            )
    outputs = [r[2] for r in records]
    out_grads = torch.autograd.grad(total, outputs, allow_unused=True)
    n = x.shape[0]
    # a layer whose output does not influence the loss (gradient None) contributes zero
    layers = [(module, a.detach(), b) for (module, a, _, _, _), b in zip(records, out_grads) if b is not None]
    gram = torch.zeros(n, n, dtype=out.dtype, device=out.device)
    for module, a, b in layers:
        gram += _layer_contribution(module, a, b)
    if bool(torch.isfinite(gram).all()):  # one check for the whole Gram; layer by layer only when it fails
        return gram
    gram = torch.zeros(n, n, dtype=out.dtype, device=out.device)
    for module, a, b in layers:
        part = _layer_contribution(module, a, b)
        if not bool(torch.isfinite(part).all()) and bool(torch.isfinite(a).all() & torch.isfinite(b).all()):
            # Finite activations whose float32 products overflow (e.g. A A^T of activations ~1e20, weights
            # blown up by a large step): the exact Gram needs a wider accumulator, so this layer is
            # recomputed in float64 and the Gram is returned in float64. Never a silent inf/NaN.
            log.info("gradient_gram(ghost): %s overflows %s; computing it in float64", type(module).__name__,
                     a.dtype)
            part = _layer_contribution(module, a.double(), b.double())
            gram = gram.double()
        gram = gram + part.to(gram.dtype)
    return gram


# ----------------------------------------------------------------------------------------------
# vmap: per-example gradients from torch.func, folded into the Gram without a flat copy
# ----------------------------------------------------------------------------------------------

def _fold(grads: tuple[torch.Tensor, ...], other: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """sum_p g_p g_p'^T over parameter tensors (rows = examples): the Gram without concatenating."""
    out = None
    for k, g in enumerate(grads):
        g = g.reshape(g.shape[0], -1)
        part = self_gram(g) if other is None else g @ other[k].reshape(other[k].shape[0], -1).T
        out = part if out is None else out + part
    return out


def _gram_from_rows(
    rows: Callable[[slice], torch.Tensor], n: int, n_params: int, dtype: torch.dtype, device: torch.device,
    memory_budget: int,
) -> torch.Tensor:
    itemsize = torch.empty((), dtype=dtype).element_size()
    if n * n_params * itemsize <= memory_budget:
        block = max(1, min(n, _BLOCK_ELEMENTS // max(1, n_params)))
        flat = torch.empty(n, n_params, dtype=dtype, device=device)  # filled in place: one copy only
        for s in range(0, n, block):
            flat[s:s + block] = rows(slice(s, s + block))
        return flat @ flat.T
    # Too many floats to hold every per-example gradient: recompute blocks pairwise instead.
    block = max(1, memory_budget // (2 * n_params * itemsize))
    return _blocked_fold(lambda sl: (rows(sl),), n, block, torch.empty(0, dtype=dtype, device=device))


#: Measured on the MLP 784-1024x6 (CPU): folding one block of per-example gradients raises the peak by
#: about 1.1 times the block's bytes, a blocked fold (two blocks alive) by about 2.4 times. A block is
#: therefore at most a third of the memory budget, which keeps the peak within the budget.
_VMAP_PEAK_FACTOR = 3


def _vmap_block(n: int, bytes_per_example: int, memory_budget: int) -> int:
    """Examples per torch.func call so that the call's peak memory stays within ``memory_budget``."""
    return max(1, min(n, memory_budget // (_VMAP_PEAK_FACTOR * bytes_per_example)))


def _fold_within_budget(grads_of: Callable[[slice], tuple[torch.Tensor, ...]], n: int,
                        values: tuple[torch.Tensor, ...], memory_budget: int) -> torch.Tensor:
    """The Gram of the per-example gradients (w.r.t. ``values``) that ``grads_of`` yields for a slice of
    examples: all n in one call where the budget allows, else blocks recomputed pairwise."""
    block = _vmap_block(n, sum(v.numel() for v in values) * values[0].element_size(), memory_budget)
    return _fold(grads_of(slice(0, n))) if block >= n else _blocked_fold(grads_of, n, block, values[0])


def _blocked_fold(grads_of: Callable[[slice], tuple[torch.Tensor, ...]], n: int, block: int,
                  like: torch.Tensor) -> torch.Tensor:
    """Gram from per-example gradients computed ``block`` examples at a time, cross blocks recomputed."""
    gram = like.new_zeros(n, n)
    starts = list(range(0, n, block))
    for i, si in enumerate(starts):
        gi = grads_of(slice(si, si + block))
        gram[si:si + block, si:si + block] = _fold(gi)
        for sj in starts[i + 1:]:
            cross = _fold(gi, grads_of(slice(sj, sj + block)))
            gram[si:si + block, sj:sj + block] = cross
            gram[sj:sj + block, si:si + block] = cross.T
    return gram


@contextmanager
def _parameters_restored(model: nn.Module) -> Iterator[None]:
    """Put every module's Parameter objects back afterwards.

    torch.func.functional_call (torch 2.13) leaves a plain tensor in place of a Parameter when a module
    is registered under two names (shared weights), detaching it from the model for later training.
    """
    saved = [(m, dict(m._parameters)) for m in model.modules()]
    try:
        yield
    finally:
        for m, params in saved:
            m._parameters.update(params)


def _plain_sequential(module: nn.Module) -> bool:
    """An nn.Sequential whose forward is the composition of its children (not overridden, no hooks)."""
    return (isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward
            and not module._forward_hooks and not module._forward_pre_hooks)


def gram_segments(model: nn.Module) -> list[nn.Module] | None:
    """Modules whose composition, in order, is ``model``'s forward, or None when none is known.

    A plain ``nn.Sequential`` is its (flattened) children; any other model may declare a method
    ``gram_segments()`` (gradconf's WRN does). ``vmap`` uses the segments to fold the Gram one segment at
    a time, holding one segment's per-example gradients instead of the whole model's, and checks once
    that their composition reproduces the model's output. None when a trainable parameter is shared
    between segments or lies outside every segment (its per-example gradient would be split).
    """
    declared = getattr(type(model), "gram_segments", None)
    if _plain_sequential(model):
        segments: list[nn.Module] = []
        for child in model:
            inner = gram_segments(child) if _plain_sequential(child) else None
            segments.extend(inner if inner is not None else [child])
    elif callable(declared) and not isinstance(declared, nn.Module):
        segments = list(model.gram_segments())
        if model._forward_hooks or model._forward_pre_hooks:
            return None
    else:
        return None
    owner: dict[int, int] = {}
    for k, seg in enumerate(segments):
        for p in seg.parameters():
            if p.requires_grad:
                if owner.setdefault(id(p), k) != k:
                    return None
    if set(owner) != {id(p) for _, p in trainable_parameters(model)}:
        return None
    return segments


class _SegmentsDisagree(RuntimeError):
    """The segments' composition did not reproduce the model (overridden forward, randomness, in-place)."""


def _split_state(module: nn.Module) -> tuple[list[str], tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
    trainable = trainable_parameters(module)
    names = [n for n, _ in trainable]
    values = tuple(p.detach() for _, p in trainable)
    fixed = {n: p.detach() for n, p in module.named_parameters() if not p.requires_grad}
    fixed.update(dict(module.named_buffers()))
    return names, values, fixed


def _vmap_whole(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, chunk_size: int | None,
                memory_budget: int) -> torch.Tensor:
    """Per-example gradients of the whole model in one torch.func call (blocks when over budget)."""
    names, values, fixed = _split_state(model)

    def loss_one(params: tuple[torch.Tensor, ...], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, {**fixed, **dict(zip(names, params))}, (xi.unsqueeze(0),))
        return per_example_loss(out, yi.unsqueeze(0), loss).sum()

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0), chunk_size=chunk_size)

    def grads_of(sl: slice) -> tuple[torch.Tensor, ...]:
        with _parameters_restored(model):
            return per_example(values, x[sl], y[sl])

    return _fold_within_budget(grads_of, x.shape[0], values, memory_budget)


def _vmap_segmented(segments: list[nn.Module], model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str,
                    chunk_size: int | None, memory_budget: int) -> torch.Tensor:
    """Backpropagate segment by segment, folding each segment's per-example gradients into the Gram
    as they are produced: one segment's n x P_k floats at a time, never the whole model's n x P."""
    with torch.no_grad():
        inputs = [x]
        for seg in segments[:-1]:
            version = inputs[-1]._version
            inputs.append(seg(inputs[-1]))
            if inputs[-2]._version != version:  # an in-place op overwrote the stored input
                raise _SegmentsDisagree(f"{type(seg).__name__} modifies its input in place")
        reference = model(x)
    with torch.enable_grad():
        h = inputs[-1].detach().requires_grad_(True)
        out = segments[-1](h.clone())
        if not torch.equal(out.detach(), reference):
            # an overridden forward, random modules (dropout) or a stale segment list: never a wrong Gram
            raise _SegmentsDisagree("the composition of the segments does not reproduce the model's output")
        total = per_example_loss(out, y, loss).sum()
        # examples are independent (BatchNorm in eval mode), so this is every example's own cotangent
        out_grad = torch.autograd.grad(total, out)[0].detach()
    n = x.shape[0]
    gram = None
    cotangent = out_grad
    first_trainable = min(k for k, seg in enumerate(segments) if trainable_parameters(seg))
    for k in range(len(segments) - 1, first_trainable - 1, -1):
        seg, h_in = segments[k], inputs[k]
        names, values, fixed = _split_state(seg)
        need_input = k > first_trainable
        if not values:
            with torch.enable_grad():
                hk = h_in.detach().requires_grad_(True)
                cotangent = torch.autograd.grad(seg(hk.clone()), hk, cotangent)[0]
            continue

        def seg_vjp(params, hi, ci, seg=seg, names=names, fixed=fixed, need_input=need_input):
            def f(p, h_):
                return functional_call(seg, {**fixed, **dict(zip(names, p))}, (h_.unsqueeze(0),)).squeeze(0)
            if need_input:
                _, back = vjp(f, params, hi)
                return back(ci)
            _, back = vjp(lambda p: f(p, hi), params)
            return back(ci)  # (parameter cotangents,): the first segment's input needs none

        per_example = vmap(seg_vjp, in_dims=(None, 0, 0), chunk_size=chunk_size)
        next_cot = torch.empty_like(h_in) if need_input else None

        def grads_of(sl: slice, seg=seg, values=values, per_example=per_example, cot=cotangent,
                     h_in=h_in, next_cot=next_cot) -> tuple[torch.Tensor, ...]:
            with _parameters_restored(seg):
                result = per_example(values, h_in[sl], cot[sl])
            if next_cot is not None:
                next_cot[sl] = result[1]  # the same values whenever a block is recomputed
            return result[0]

        part = _fold_within_budget(grads_of, n, values, memory_budget)
        gram = part if gram is None else gram + part
        cotangent = next_cot
    return gram


def _loop_rows(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str):
    params = [p for _, p in trainable_parameters(model)]

    def rows(sl: slice) -> torch.Tensor:
        out_rows = []
        for i in range(*sl.indices(x.shape[0])):
            with torch.enable_grad():
                f_i = per_example_loss(model(x[i:i + 1]), y[i:i + 1], loss).sum()
                grads = torch.autograd.grad(f_i, params, allow_unused=True)
            out_rows.append(torch.cat([
                (torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)
            ]))
        return torch.stack(out_rows)

    return rows


def gradient_gram(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "cross_entropy",
    method: str = "auto",
    *,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> torch.Tensor:
    """Exact Gram of per-example loss gradients, G[i, j] = <grad f_i(w), grad f_j(w)>, shape (n, n).

    The gradient-confusion bound of paper Definition 2.1 (eq. 3) is eta = max(0, -min_{i != j} G[i, j]).
    Gradients are taken w.r.t. every parameter with ``requires_grad``; the model is not modified and
    no ``.grad`` is written.

    Args:
        model: the network; BatchNorm layers must be in eval mode (running statistics).
        x, y: n inputs and targets, batched along dim 0.
        loss: per-example loss, see :func:`gradconf.losses.per_example_loss`.
        method: ``ghost``, ``vmap``, ``loop`` or ``auto`` (ghost where it is exact, else vmap, else loop;
            the choice and its reason are logged at INFO level).
        chunk_size: examples per vmapped call inside torch.func (None: all of a block at once, fastest).
        memory_budget: bytes of per-example gradients ``vmap``/``loop`` may hold at once (activations and
            temporaries of the forward and backward passes are not counted). Over it, ``vmap``
            folds the Gram segment by segment (see :func:`gram_segments`), holding one segment's
            per-example gradients; only a model without segments, or a segment alone over the budget,
            recomputes blocks of examples pairwise.
    """
    check_loss(loss)
    if method not in GRAM_METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(GRAM_METHODS)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    if x.shape[0] < 1:
        raise ValueError("need at least one example")
    refuse_coupled_batchnorm(model)
    trainable = trainable_parameters(model)
    if not trainable:
        raise ValueError("the model has no parameter with requires_grad=True")
    if method == "auto":
        reason = ghost_unsupported_reason(model)
        if reason is None:
            try:
                return _ghost_gram(model, x, y, loss)
            except GhostUnsupportedError as err:
                reason = str(err)
        log.info("gradient_gram(auto): using vmap because %s", reason)
        try:
            return gradient_gram(model, x, y, loss, "vmap", chunk_size=chunk_size, memory_budget=memory_budget)
        except RuntimeError as err:  # functorch cannot trace some models (in-place ops, .item())
            log.info("gradient_gram(auto): using loop because vmap failed: %s", err)
            method = "loop"
    if method == "ghost":
        return _ghost_gram(model, x, y, loss)
    n_params = sum(p.numel() for _, p in trainable)
    p0 = trainable[0][1]
    if method == "vmap":
        if _vmap_block(x.shape[0], n_params * p0.element_size(), memory_budget) < x.shape[0]:
            segments = gram_segments(model)
            if segments is not None and len(segments) > 1:
                try:
                    return _vmap_segmented(segments, model, x, y, loss, chunk_size, memory_budget)
                except _SegmentsDisagree as err:
                    log.info("gradient_gram(vmap): whole-model blocks instead of segments: %s", err)
        return _vmap_whole(model, x, y, loss, chunk_size, memory_budget)
    return _gram_from_rows(_loop_rows(model, x, y, loss), x.shape[0], n_params, p0.dtype, p0.device, memory_budget)
