"""The sampler's bookkeeping done once for many rows equals the per-row work it replaced."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import pipeline
from pipeline.errors import ConfigError
from pipeline.models.neurons import Neuron
from pipeline.models.priors import Prior
from pipeline.models.readout import Readout
from pipeline.sampler import Problem, SamplerConfig, sample_problems
from pipeline.sampler.batch import evaluate_batch, row_bands
from pipeline.sampler.diagnostics import autocorrelation
from pipeline.sampler.draws import DrawnCodes, Draws, settle
from pipeline.sampler.job import JobState
from pipeline.sampler.kernel import Kernel
from pipeline.sampler.lagrangian import ChainLagrangian, in_band
from pipeline.sampler.sampleset import Collector
from pipeline.sampler.slice import SliceKernel
from pipeline.sampler.traces import Traces
from tests.models_for_tests import logistic_unit, pixel_generator, small_cnn


@pytest.fixture(scope="module")
def unit():
    model, _, _ = logistic_unit()
    return pixel_generator((64,)), pipeline.neuron(model, "2", 0)


def test_collector_takes_a_label_per_row_and_chains_as_a_list() -> None:
    collector = Collector()
    collector.add(torch.zeros(1, 3, requires_grad=True), torch.zeros(1, 2, dtype=torch.float64),
                  "seed", 0, torch.tensor([4]))
    collector.add(torch.ones(3, 3), torch.ones(3, 2), ["prior", "ess", "prior"], 7, [2, 0, 5])
    out = collector.tensors(10, 3, (2,))
    assert out["phase"] == ["seed", "prior", "ess", "prior"]
    assert out["chain"].tolist() == [4, 2, 0, 5] and out["step"].tolist() == [0, 7, 7, 7]
    assert out["codes"].shape == (4, 3) and float(out["codes"][1:].min()) == 1.0
    assert not out["codes"].requires_grad and out["inputs"].dtype == torch.float32


@pytest.mark.parametrize("n", [5, 7, 13])
def test_kept_rows_keep_their_own_code_and_input_and_stop_at_n(unit, n) -> None:
    """Kept states are gathered once per iteration: each stored input is G of its stored
    code, and a job whose n is reached in the middle of an iteration keeps exactly n."""
    G, f = unit
    cfg = SamplerConfig(k=4)
    result = sample_problems(G, None, [Problem([(f, 0.3, 0.7)], n=n, seed=3)], cfg)[0]
    assert len(result) == n
    assert torch.equal(G(result.codes), result.inputs)
    assert set(result.phase) <= {"prior", "ess"} and "prior" in result.phase
    assert 0 <= int(result.chain.min()) and int(result.chain.max()) < cfg.k
    steps = result.step.tolist()
    assert steps == sorted(steps)


def per_chain_autocorrelation(chains: list[torch.Tensor], max_lag: int | None) -> torch.Tensor:
    """The pooled autocorrelation accumulated one chain at a time (the former code)."""
    chains = [c.double() for c in chains if c.shape[0] >= 4]
    longest = max(c.shape[0] for c in chains)
    lags = min(max_lag or longest, longest)
    mean = torch.cat(chains).mean(dim=0)
    num = torch.zeros(lags, chains[0].shape[1], dtype=torch.float64)
    pairs = torch.zeros(lags, 1, dtype=torch.float64)
    for chain in chains:
        x = chain - mean
        size = 1 << (2 * x.shape[0] - 1).bit_length()
        spec = torch.fft.rfft(x, n=size, dim=0)
        cov = torch.fft.irfft(spec * spec.conj(), n=size, dim=0)[: x.shape[0]]
        used = min(lags, x.shape[0])
        num[:used] += cov[:used]
        pairs[:used, 0] += torch.arange(x.shape[0], x.shape[0] - used, -1, dtype=torch.float64)
    cov = num / pairs.clamp(min=1)
    return cov / cov[:1].clamp(min=1e-300)


def test_pooled_autocorrelation_equals_the_per_chain_sums_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(1)
    for case in range(150):
        count, series = (int(v) for v in torch.randint(1, 12, (2,), generator=gen))
        lengths = torch.randint(1, 200, (count,), generator=gen).tolist()
        if max(lengths) < 4:
            continue
        chains = [torch.randn(n, series, generator=gen).cumsum(0) for n in lengths]
        max_lag = None if case % 3 else int(torch.randint(1, 50, (1,), generator=gen))
        assert torch.equal(autocorrelation(chains, max_lag),
                           per_chain_autocorrelation(chains, max_lag))


def test_slice_kernel_observed_from_host_lists_equals_the_mask_path() -> None:
    """The slice kernel's ``observed`` (rows and flags as host lists) moves the kernel as the
    shared mask path (``Kernel.observed`` over ``observe``) does."""
    prior = Prior("normal", 1.0)
    kernels = []
    for _ in range(2):
        kernel = SliceKernel(prior, 6, 5, torch.Generator().manual_seed(4), torch.device("cpu"))
        kernel.start(torch.arange(6), torch.randn(6, 5, generator=torch.Generator().manual_seed(5)))
        kernels.append(kernel)
    gen = torch.Generator().manual_seed(6)
    for _ in range(20):
        rows = sorted(set(torch.randint(0, 6, (4,), generator=gen).tolist()))
        ok = torch.rand(6, generator=gen) < 0.3
        mask = torch.zeros(6, dtype=torch.bool)
        mask[rows] = True
        view = SimpleNamespace(ok=ok)
        bands = torch.zeros(1), torch.ones(1)
        ended, moved = Kernel.observed(kernels[0], rows, view, ok.tolist(), *bands, [0] * 6)
        assert ended == moved == set(torch.tensor(rows)[ok[rows]].tolist())
        assert kernels[1].observed(rows, view, ok.tolist(), *bands, [0] * 6) == (ended, moved)
        for name in ("lo", "hi", "t"):
            assert torch.equal(getattr(kernels[0], name), getattr(kernels[1], name))


def test_traces_read_again_equal_the_rows_stacked_at_once() -> None:
    """Reads between appends stack only the new rows; each read equals a full stack."""
    traces, rows = Traces(3), [[], [], []]
    gen = torch.Generator().manual_seed(7)
    for step in range(60):
        chain = int(torch.randint(0, 3, (1,), generator=gen))
        row = torch.randn(4, generator=gen)
        traces.append(chain, row)
        rows[chain].append(row)
        if step % 7 == 0:
            want = [torch.stack(r) for r in rows if len(r) >= 4]
            got = traces.chains(min_length=4)
            assert len(got) == len(want) and all(map(torch.equal, got, want))
    assert traces.total() == 60 and torch.equal(traces.last(chain), row)
    assert all(map(torch.equal, traces.chains(), [torch.stack(r) for r in rows if r]))


class Fixed:
    """A stand-in phase: fixed codes, forward passes only."""

    wants_normals = False

    def __init__(self, codes: torch.Tensor) -> None:
        self.codes = codes

    def grad_rows(self) -> torch.Tensor:
        return torch.zeros(self.codes.shape[0], dtype=torch.bool)


def test_band_check_once_per_batch_equals_each_jobs_own(unit) -> None:
    """Jobs with 1, 3 and 2 constraints and 5, 2 and 4 rows (one row not finite): each row's
    flag from the batch's one check is its own job's band check."""
    G, f = unit
    gen = torch.Generator().manual_seed(8)
    limits = [[(0.2, 0.6)], [(0.1, 0.9), (0.3, 0.5), (0.0, 0.45)], [(0.4, 1.0), (0.0, 0.5)]]
    batch, start = [], 0
    for bands, rows in zip(limits, (5, 2, 4), strict=True):
        job = JobState(Problem([(f, *band) for band in bands], n=1, seed=0), SamplerConfig(),
                       torch.device("cpu"), 64, G.prior)
        job.phase = Fixed(torch.rand(rows, 64, generator=gen) * 2 - 0.5)
        batch.append((job, slice(start, start + len(bands))))
        start += len(bands)
    batch[2][0].phase.codes[1, 3] = float("nan")
    readout = Readout([f] * start, None)
    views = evaluate_batch(G, readout, batch, False, None)
    assert not all(views[2].finite_rows) and any(any(view.hits) for view in views)
    for (job, _), view in zip(batch, views, strict=True):
        own = in_band(view.acts, job.lo, job.hi) & view.finite
        assert torch.equal(view.ok, own) and view.hits == own.tolist()
        assert view.finite_rows == view.finite.tolist()
    cached = evaluate_batch(G, readout, batch, False, None, row_bands(batch, (5, 2, 4)))
    assert [view.hits for view in cached] == [view.hits for view in views]


class Holder(DrawnCodes):
    """A stand-in phase with waiting draws (as ``ExplorePhase``)."""

    def __init__(self, job: JobState, rows: int) -> None:
        self.drawn, self.codes = Draws(job), torch.full((rows, job.code_dim), -9.0)


@pytest.mark.parametrize("kind", ["normal", "truncated", "uniform"])
def test_draws_mapped_for_the_whole_batch_equal_each_jobs_own(kind) -> None:
    """Jobs (two priors, one of them ``kind``) draw for some rows, some twice; mapped at
    once, each job's rows get exactly what its own ``prior_draws`` gives for the same seed,
    and the other rows are left alone."""
    priors = [Prior(kind, 1.5, -2.0, 2.0), Prior("truncated", 1.0, -1.0, 3.0)]
    plans = [[[1, 3], [0]], [[2]], [[0, 1, 2, 3]], [[3], [1, 2]]]

    def job(i: int) -> JobState:
        problem = Problem([(lambda x: x, 0.0, 1.0)], n=1, seed=10 + i)
        return JobState(problem, SamplerConfig(), torch.device("cpu"), 37, priors[i % 2])

    phases = [Holder(job(i), 4) for i in range(len(plans))]
    for phase, plan in zip(phases, plans, strict=True):
        for rows in plan:
            phase.drawn.add(rows)
    lone = phases.pop()
    assert float(lone.codes[1:].min()) > -9.0 and not lone.drawn  # read first: mapped alone
    settle([*phases, object()])
    phases.append(lone)
    for i, (phase, plan) in enumerate(zip(phases, plans, strict=True)):
        twin = job(i)
        want = torch.full((4, 37), -9.0)
        for rows in plan:
            want[rows] = twin.prior_draws(len(rows))
        assert torch.equal(phase.codes, want) and not phase.drawn


def test_a_phase_read_before_the_batch_maps_its_own_draws() -> None:
    problem = Problem([(lambda x: x, 0.0, 1.0)], n=1, seed=4)
    jobs = [JobState(problem, SamplerConfig(), torch.device("cpu"), 5, Prior("uniform", 1.0,
                                                                             -1.0, 1.0))
            for _ in range(2)]
    drawn, codes = Draws(jobs[0]), torch.zeros(3, 5)
    drawn.add([2, 0])
    drawn.settle(codes)
    assert torch.equal(codes[[2, 0]], jobs[1].prior_draws(2)) and not drawn
    assert torch.equal(codes[1], torch.zeros(5))


def test_readout_reads_a_dense_layers_neurons_with_one_index() -> None:
    """Neurons of dense layers (any order, repeated), conv neurons, a plain callable and an
    encoder: each column equals the probe read alone, bit for bit, gradients agree, and a
    unit out of range still says so."""
    model = small_cnn()
    dense = [pipeline.neuron(model, "6", u) for u in (3, 0, 3, 4)]
    conv = [pipeline.neuron(model, "2", 1), pipeline.neuron(model, "2", 4, spatial="mean")]
    probes = [dense[0], conv[0], dense[1], (lambda x: x.sum(dim=(1, 2, 3))), dense[2],
              conv[1], dense[3]]
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    encoder = pipeline.encoder(model, "4")
    acts, feats = Readout(probes, encoder)(x)
    assert acts.shape == (4, len(probes)) and torch.equal(feats, encoder(x).reshape(4, -1))
    for j, probe in enumerate(probes):
        assert torch.equal(acts[:, j], probe(x))
    x.requires_grad_(True)
    weights = torch.arange(1.0, len(probes) + 1)
    (grad,) = torch.autograd.grad((Readout(probes)(x)[0] * weights).sum(), x)
    (alone,) = torch.autograd.grad(sum(w * p(x).sum() for w, p in zip(weights, probes,
                                                                     strict=True)), x)
    assert torch.allclose(grad, alone, atol=1e-6)
    with pytest.raises(ConfigError, match="unit 12 is out of range"):
        Readout([dense[1], Neuron(model, "6", 12)])(x)


def test_chain_lagrangian_penalty_depends_only_on_lambda_and_mu() -> None:
    """The penalty of a Lagrangian after multiplier steps and restarts of some rows equals
    that of a fresh one given the same lambda and mu."""
    lo, hi = torch.tensor([0.2, -1.0]), torch.tensor([0.5, 1.0])
    kept = ChainLagrangian(lo, hi, 5, 0.5, 2.0)
    gen = torch.Generator().manual_seed(11)
    for step in range(12):
        acts = torch.randn(5, 2, generator=gen)
        rows = torch.rand(5, generator=gen) < 0.6
        fresh = ChainLagrangian(lo, hi, 5, 0.5, 2.0)
        fresh.lam, fresh.mu = kept.lam.clone(), kept.mu.clone()
        assert torch.equal(kept.penalty_rows(acts, rows), fresh.penalty_rows(acts, rows))
        if step % 3 == 0:
            kept.update_rows(acts, rows, 1.5, 50.0)
        if step % 4 == 1:
            kept.reset(torch.tensor([1, 3]))
    assert float(kept.mu.max()) > 2.0 and bool((kept.lam != 0).any())
