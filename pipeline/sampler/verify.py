"""Re-evaluate a finished job's stored inputs and build its :class:`SampleSet`.

Every returned sample is evaluated again, in eval mode and without gradients, on the
exact input that is stored (8-bit if the sampler quantises), in batches of
``verify_batch``. Inverse-set methods drop any sample that then falls outside a band;
the baselines keep their misses and mark them in ``in_band``.
"""

from __future__ import annotations

import torch

from pipeline.models.readout import Readout
from pipeline.sampler.job import Job
from pipeline.sampler.lagrangian import in_band
from pipeline.sampler.metrics import quality
from pipeline.sampler.sampleset import SampleSet

FILTERED = ("fast", "joint")


@torch.no_grad()
def evaluate(
    readout: Readout, inputs: torch.Tensor, columns: slice, device: torch.device, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations (n, p) and features (n, m) of ``inputs``, computed in batches, on the CPU."""
    acts, feats = [], []
    for chunk in inputs.split(batch):
        chunk = chunk.to(device)
        a, f = readout(chunk)
        acts.append(a[:, columns].cpu())
        feats.append((chunk.flatten(1) if f is None else f).cpu())
    return torch.cat(acts), torch.cat(feats)


def finalize(job: Job, readout: Readout, columns: slice, input_shape: tuple[int, ...]) -> SampleSet:
    """Verify the job's samples and assemble the result with its statistics."""
    cfg, problem = job.config, job.problem
    data = job.collector.tensors(problem.n, job.code_dim, input_shape)
    p = len(problem.bands)
    if data["codes"].shape[0]:
        acts, feats = evaluate(readout, data["inputs"], columns, job.device, cfg.verify_batch)
    else:
        acts, feats = torch.zeros(0, p), torch.zeros(0, 0)
    lo, hi = job.lo.cpu(), job.hi.cpu()
    inside = in_band(acts, lo, hi)
    dropped = 0
    if cfg.method in FILTERED:
        dropped = int((~inside).sum())
        keep = inside
        data = {
            k: (
                [v for v, m in zip(data[k], keep.tolist(), strict=True) if m]
                if k == "phase"
                else data[k][keep]
            )
            for k in data
        }
        acts, feats, inside = acts[keep], feats[keep], inside[keep]
    n = data["codes"].shape[0]
    sampled = sum(1 for ph in data["phase"] if ph != "seed")
    stats = {
        "method": cfg.method,
        "status": job.status,
        **job.counts,
        **job.multipliers,
        "wall_seconds": job.wall_seconds,
        "n_requested": problem.n,
        "n_returned": n,
        "dropped_on_verify": dropped,
        "acceptance": sampled / job.counts["tried"] if job.counts["tried"] else None,
        "best_activations": job.best_acts,
        **quality(acts, problem.bands, feats, data["inputs"], inside),
    }
    return SampleSet(
        codes=data["codes"],
        inputs=data["inputs"],
        activations=acts,
        features=feats,
        phase=data["phase"],
        step=data["step"],
        chain=data["chain"],
        in_band=inside,
        bands=list(problem.bands),
        feasible=job.status == "done" and n > 0,
        stats=stats,
        name=problem.name,
    )
