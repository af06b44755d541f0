"""Re-evaluate a finished job's stored inputs and build its :class:`SampleSet`.

Every returned sample is evaluated again, in eval mode and without gradients, on the
exact input that is stored (8-bit if the sampler quantises), in batches of
``verify_batch``: a forward of the network (and E) only, not of G; the rows verified are
``stats["evals_verify"]``. Inverse-set methods drop any sample that then falls outside a
band; the baselines keep their misses and mark them in ``in_band``.
"""

from __future__ import annotations

import torch

from pipeline.models.readout import Probe, Readout
from pipeline.models.rows import padded_call
from pipeline.sampler.job import JobState
from pipeline.sampler.lagrangian import in_band
from pipeline.sampler.metrics import quality
from pipeline.sampler.sampleset import SampleSet

FILTERED = ("fast", "joint", "ess")


@torch.no_grad()
def evaluate(
    readout: Readout, inputs: torch.Tensor, columns: slice, device: torch.device, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations (n, p) and features (n, m) of ``inputs``, computed in batches, on the CPU."""
    acts, feats = [], []
    for chunk in inputs.split(batch):
        chunk = chunk.to(device)
        a, f = padded_call(readout, chunk)
        acts.append(a[:, columns].cpu())
        feats.append((chunk.flatten(1) if f is None else f).cpu())
    return torch.cat(acts), torch.cat(feats)


def finalize(
    job: JobState, encoder: Probe | None, input_shape: tuple[int, ...]
) -> SampleSet:
    """Verify the job's samples and assemble the result with its statistics."""
    cfg, problem = job.config, job.problem
    data = job.collector.tensors(problem.n, job.code_dim, input_shape)
    p = len(problem.bands)
    readout = Readout([c[0] for c in problem.constraints], encoder)
    verified = int(data["codes"].shape[0])  # rows through the network (G is not run again)
    if verified:
        acts, feats = evaluate(readout, data["inputs"], slice(None), job.device, cfg.verify_batch)
    else:
        acts, feats = torch.zeros(0, p), torch.zeros(0, 0)
    inside = in_band(acts, job.lo.cpu(), job.hi.cpu())
    result = SampleSet(
        codes=data["codes"],
        inputs=data["inputs"],
        activations=acts,
        features=feats,
        phase=data["phase"],
        step=data["step"],
        chain=data["chain"],
        in_band=inside,
        bands=list(problem.bands),
        feasible=job.status != "infeasible" and acts.shape[0] > 0,
        name=problem.name,
    )
    dropped = int((~inside).sum()) if cfg.method in FILTERED else 0
    if dropped:
        result = result.select(inside)
    n = len(result)
    status = "partial" if job.status == "done" and n < problem.n else job.status
    sampled = sum(1 for ph in result.phase if ph != "seed")
    evals = job.counts["evals_forward"] + 2 * job.counts["evals_backward"]
    result.stats = {
        "method": cfg.method,
        "prior": job.prior.describe(),
        "status": status,
        **job.counts,
        **job.multipliers,
        **job.diagnostics,
        "evals_per_sample": evals / n if n else None,
        "evals_verify": verified,
        "wall_seconds": job.wall_seconds,
        "n_requested": problem.n,
        "n_returned": n,
        "dropped_on_verify": dropped,
        "acceptance": sampled / job.counts["tried"] if job.counts["tried"] else None,
        "best_activations": job.best_acts,
        **quality(result.activations, problem.bands, result.features, result.inputs,
                  result.in_band),
    }
    return result
