"""One iteration of the engine: G, the neurons f and the encoder E on every active chain.

Rows whose phase asks for gradients (:meth:`Phase.grad_rows`) get a forward and a backward
pass; the others (exploration by slice sampling) a forward pass under ``torch.no_grad``.
Each job counts the passes its rows took. Random transforms, if any, apply only to the
gradient rows (they make optimisation robust; acceptance always reads the stored input).
With ``precision="bf16-seeds"`` the gradient pass runs under bf16 autocast when all its
rows are seed steps; the band checks then read a float32 forward pass of the same codes.
On a GPU every pass runs at one of a few row counts (:mod:`pipeline.models.rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.models.readout import Readout
from pipeline.models.rows import padded_call
from pipeline.models.transforms import RandomTransforms
from pipeline.sampler.job import Evaluation, JobState
from pipeline.sampler.seeds import SeedPhase

Batch = list[tuple[JobState, slice]]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels in the forward pass; the gradient passes straight through."""
    stored = (x.clamp(0, 1) * 255).round() / 255
    return x + (stored - x).detach()


def row_slices(sizes: Sequence[int]) -> list[slice]:
    """Consecutive slices of the given sizes (rows of each job, or its constraint columns)."""
    out, start = [], 0
    for size in sizes:
        out.append(slice(start, start + size))
        start += size
    return out


@dataclass
class Bands:
    """Each batch row's own band columns in the readout's activations, ``index`` (n, p), and
    their limits ``lo``, ``hi`` (n, p); a job with fewer than p constraints repeats its last."""

    index: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor


def row_bands(batch: Batch, sizes: Sequence[int]) -> Bands:
    """The :class:`Bands` of ``batch`` (jobs with ``sizes`` rows and their column slices)."""
    width = max(job.lo.shape[0] for job, _ in batch)
    index, lo, hi = [], [], []
    for (job, cols), size in zip(batch, sizes, strict=True):
        own = [min(j, job.lo.shape[0] - 1) for j in range(width)]
        index.append(torch.arange(cols.start, cols.stop)[own].expand(size, -1))
        lo.append(job.lo[own].expand(size, -1))
        hi.append(job.hi[own].expand(size, -1))
    return Bands(torch.cat(index).to(lo[0].device), torch.cat(lo), torch.cat(hi))


@dataclass
class _Pass:
    """Stored inputs, activations and features of some rows (features: E, or the inputs)."""

    stored: torch.Tensor
    acts: torch.Tensor
    feats: torch.Tensor


def _read(readout: Readout, stored: torch.Tensor, seen: torch.Tensor | None = None) -> _Pass:
    acts, feats = padded_call(readout, stored if seen is None else seen)
    return _Pass(
        stored, acts, (stored if seen is None else seen).flatten(1) if feats is None else feats
    )


def _store(generator: nn.Module, codes: torch.Tensor, quantise: bool) -> torch.Tensor:
    stored = padded_call(generator, codes)
    return quantize(stored) if quantise else stored


def _merge(n: int, parts: list[tuple[torch.Tensor, _Pass | None]], name: str) -> torch.Tensor:
    """Field ``name`` of several passes ``(row index, pass)`` put back in batch order
    (differentiably); ``None`` passes cover no rows."""
    present = [(index, getattr(p, name)) for index, p in parts if p is not None]
    like = present[0][1]
    if len(present) == 1 and like.shape[0] == n:  # one pass of every row, in order
        return like
    out = like.new_zeros(n, *like.shape[1:])
    for index, value in present:
        out = out.index_put((index,), value.to(out.dtype))
    return out


def _plain(
    generator: nn.Module, readout: Readout, codes: torch.Tensor, quantise: bool
) -> _Pass | None:
    """The forward-only rows, under ``torch.no_grad`` (None if there are none)."""
    if not codes.shape[0]:
        return None
    with torch.no_grad():
        return _read(readout, _store(generator, codes, quantise))


def evaluate_batch(
    generator: nn.Module,
    readout: Readout,
    batch: Batch,
    quantise: bool,
    transform: RandomTransforms | None,
    bands: Bands | None = None,
) -> list[Evaluation]:
    """Evaluate the current codes of every job in ``batch``; one :class:`Evaluation` per job.
    The band check (every row against its own job's bands) and its one read to the host are
    done once for the whole batch (``bands``: :func:`row_bands` of it, if kept)."""
    sizes = [job.phase.codes.shape[0] for job, _ in batch]
    rows = row_slices(sizes)
    codes = torch.cat([job.phase.codes for job, _ in batch]).detach()
    need = torch.cat([job.phase.grad_rows() for job, _ in batch]).to(codes.device)
    needs = need.tolist()
    for (job, _), r in zip(batch, rows, strict=True):
        job.count(r.stop - r.start, backward=False)
        job.counts["evals_backward"] += sum(needs[r])
    index = ((~need).nonzero().flatten(), need.nonzero().flatten())
    plain = _plain(generator, readout, codes[index[0]], quantise)
    grads, seen = [torch.zeros_like(codes)], None
    if len(index[1]):
        wanting = [(job, cols, r) for (job, cols), r in zip(batch, rows, strict=True)
                   if any(needs[r])]
        grads, seen = _backward(
            generator, readout, batch, rows, wanting, codes, index, plain, quantise, transform
        )
    parts = [(index[0], plain), (index[1], seen)]
    n = codes.shape[0]
    stored, acts, feats = (_merge(n, parts, name).detach() for name in ("stored", "acts", "feats"))
    finite = torch.isfinite(acts).all(dim=1) & torch.isfinite(feats).all(dim=1)
    for grad in grads:
        finite &= torch.isfinite(grad).all(dim=1)
    bands = bands or row_bands(batch, sizes)
    own = acts.gather(1, bands.index)  # a non-finite row is not ok, whatever it compares to
    ok = ((own >= bands.lo) & (own <= bands.hi)).all(dim=1) & finite
    hits, finite_rows = torch.stack((ok, finite)).tolist()  # the batch's one read to the host
    if not all(finite_rows):
        acts = torch.where(finite[:, None], acts, torch.zeros_like(acts))
        feats = torch.where(finite[:, None], feats, torch.zeros_like(feats))
        grads = [torch.where(finite[:, None], g, torch.zeros_like(g)) for g in grads]
    parts = [(grads[0], feats, stored, finite, ok)]
    if len(batch) > 1:
        parts = list(zip(*(t.split(sizes) for t in parts[0]), strict=True))
    return [
        Evaluation(
            grad=grad,
            normals=[g[r] for g in grads[1 : 1 + len(job.problem.bands)]]
            if job.phase.wants_normals
            else [],
            acts=acts[r, cols],
            feats=feat,
            inputs=inputs,
            finite=fine,
            ok=good,
            hits=hits[r],
            finite_rows=finite_rows[r],
        )
        for (job, cols), r, (grad, feat, inputs, fine, good) in zip(batch, rows, parts, strict=True)
    ]


def _backward(
    generator: nn.Module,
    readout: Readout,
    batch: Batch,
    rows: list[slice],
    wanting: list[tuple[JobState, slice, slice]],
    codes: torch.Tensor,
    index: tuple[torch.Tensor, torch.Tensor],
    plain: _Pass | None,
    quantise: bool,
    transform: RandomTransforms | None,
) -> tuple[list[torch.Tensor], _Pass]:
    """Forward and backward over the gradient rows: gradients of the losses of the jobs
    ``wanting`` them (job, its columns, its rows) and of their constraints, for phases that
    want normals, scattered back to batch rows, and the gradient rows' stored inputs with
    the activations acceptance reads."""
    n, grad_idx = codes.shape[0], index[1]
    leaf = codes[grad_idx].clone().requires_grad_(True)
    low = _bf16(wanting)
    with torch.autocast(leaf.device.type, dtype=torch.bfloat16, enabled=low):
        stored = _store(generator, leaf, quantise)
        seen = stored
        if transform is not None:
            seen = _transformed(stored, grad_idx, batch, rows, transform)
        loss_pass = _read(readout, stored, seen)
    if low:
        loss_pass.acts, loss_pass.feats = loss_pass.acts.float(), loss_pass.feats.float()
    parts = [(index[0], plain), (grad_idx, loss_pass)]
    acts, feats = _merge(n, parts, "acts"), _merge(n, parts, "feats")
    full_codes = codes.index_put((grad_idx,), leaf)
    clean = torch.isfinite(acts).all(dim=1, keepdim=True) & torch.isfinite(feats).all(
        dim=1, keepdim=True
    )
    acts, feats = torch.where(clean, acts, 0.0), torch.where(clean, feats, 0.0)
    total = sum(job.phase.loss(full_codes[r], acts[r, cols], feats[r]) for job, cols, r in wanting)
    outputs = [total] + _constraint_sums(acts, wanting)
    grads = []
    for i, out in enumerate(outputs):
        grad = None
        if isinstance(out, torch.Tensor) and out.requires_grad:
            keep = i < len(outputs) - 1
            grad = torch.autograd.grad(out, leaf, retain_graph=keep, allow_unused=True)[0]
        full = torch.zeros_like(codes)
        if grad is not None:
            full[grad_idx] = grad
        grads.append(full)
    if low:  # the band checks read float32: G, f and E again, without autocast
        return grads, _plain(generator, readout, leaf.detach(), quantise)
    if transform is not None:
        with torch.no_grad():
            return grads, _read(readout, stored.detach())
    return grads, _Pass(stored, loss_pass.acts, loss_pass.feats)


def _bf16(wanting: list) -> bool:
    """Whether the gradient pass runs under bf16 autocast: when every job wanting gradients
    is in its seed phase with ``precision="bf16-seeds"`` (other phases stay float32)."""
    return bool(wanting) and all(
        isinstance(job.phase, SeedPhase) and job.config.precision == "bf16-seeds"
        for job, _, _ in wanting
    )


def _transformed(
    stored: torch.Tensor,
    grad_idx: torch.Tensor,
    batch: Batch,
    rows: list[slice],
    transform: RandomTransforms,
) -> torch.Tensor:
    """Each job's gradient rows through the random transforms, from the job's own stream."""
    pieces, start = [], 0
    for job, _ in batch:
        r = rows[len(pieces)]
        count = int(((grad_idx >= r.start) & (grad_idx < r.stop)).sum())
        x = stored[start : start + count]
        pieces.append(transform(x, job.rng) if count else x)
        start += count
    return torch.cat(pieces)


def _constraint_sums(acts: torch.Tensor, wanting: list) -> list[torch.Tensor]:
    """Per constraint j, the sum of f_j over the chains of jobs that want normals."""
    normal_jobs = [(job, cols, r) for job, cols, r in wanting if job.phase.wants_normals]
    count = max((len(job.problem.bands) for job, _, _ in normal_jobs), default=0)
    return [
        sum(acts[r, cols][:, j].sum() for job, cols, r in normal_jobs if j < len(job.problem.bands))
        for j in range(count)
    ]
