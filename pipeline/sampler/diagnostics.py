"""MCMC diagnostics over several chains: autocorrelation, ESS, split-R-hat.

Each input is a list of chains, one ``(T_c, S)`` tensor per chain: S scalar series (the
activations and a few fixed random projections of the E-features) along that chain.
Chains may have different lengths.

- Autocorrelation is pooled over chains around the overall mean (so disagreement between
  chains shows up as correlation), weighted by the number of lag pairs each chain has.
- The integrated autocorrelation time tau = 1 + 2 sum_t rho_t uses Geyer's initial
  positive sequence (sums of adjacent lag pairs, stopped at the first non-positive one);
  ESS = (total length) / tau (Geyer 1992; Vehtari et al. 2021 for the multi-chain form).
- Split-R-hat (Gelman et al., BDA3 section 11.4; Vehtari et al. 2021): every chain cut in
  two halves, then sqrt(((m-1)/m W + B/m) / W) with m the mean half length.
"""

from __future__ import annotations

import math

import torch

MIN_LENGTH = 4


def _usable(chains: list[torch.Tensor]) -> list[torch.Tensor]:
    return [c.double() for c in chains if c.shape[0] >= MIN_LENGTH]


def autocorrelation(chains: list[torch.Tensor], max_lag: int | None = None) -> torch.Tensor:
    """``(L, S)``: pooled autocorrelation of every series at lags 0..L-1 (rho_0 = 1)."""
    chains = [c for c in chains if c.shape[0] >= MIN_LENGTH]
    if not chains:
        return torch.ones(1, 0, dtype=torch.float64)
    lengths = [c.shape[0] for c in chains]
    lags = min(max_lag or max(lengths), max(lengths))
    every = torch.cat(chains).double()  # (one conversion for all chains: exact, as each's)
    centred = (every - every.mean(dim=0)).split(lengths)
    num = every.new_zeros(lags, every.shape[1])
    for cov in _lagged(centred, lengths, lags).unbind(0):  # chain by chain: the same sums
        num = num + cov
    lag = torch.arange(lags, dtype=torch.float64)
    pairs = (torch.tensor(lengths, dtype=torch.float64)[:, None] - lag).clamp(min=0).sum(dim=0)
    cov = num / pairs[:, None].clamp(min=1)
    return cov / cov[:1].clamp(min=1e-300)


def _lagged(centred: tuple[torch.Tensor, ...], lengths: list[int], lags: int) -> torch.Tensor:
    """``(C, L, S)``: each chain's lagged products summed over its length (FFT, zero padded
    to twice its length), at lags 0..L-1, zero beyond its length. One transform per chain,
    as its own: a batched transform can round differently (MKL, one case in 400)."""
    out = centred[0].new_zeros(len(lengths), lags, centred[0].shape[1])
    for j, x in enumerate(centred):
        size = 1 << (2 * x.shape[0] - 1).bit_length()
        spec = torch.fft.rfft(x, n=size, dim=0)
        used = min(lags, x.shape[0])
        out[j, :used] = torch.fft.irfft(spec * spec.conj(), n=size, dim=0)[:used]
    return out


def integrated_time(chains: list[torch.Tensor]) -> torch.Tensor:
    """``(S,)``: integrated autocorrelation time of each series (>= 1; 1 = independent)."""
    rho = autocorrelation(chains)
    if rho.shape[1] == 0:
        return torch.ones(0, dtype=torch.float64)
    taus = []
    for series in rho.T.tolist():  # Python floats: the same float64 sums, without a tensor op each
        total = 0.0
        for k in range(0, len(series) - 1, 2):
            pair = series[k] + series[k + 1]
            if pair <= 0:
                break
            total += pair
        taus.append(max(1.0, 2 * total - 1))
    return torch.tensor(taus, dtype=torch.float64)


def effective_size(chains: list[torch.Tensor]) -> torch.Tensor:
    """``(S,)``: effective sample size of each series over all chains."""
    return _effective_size(chains, integrated_time(chains))


def _effective_size(chains: list[torch.Tensor], tau: torch.Tensor) -> torch.Tensor:
    return sum(c.shape[0] for c in _usable(chains)) / tau


def split_rhat(chains: list[torch.Tensor]) -> torch.Tensor:
    """``(S,)``: split-R-hat of each series (NaN with fewer than two usable halves)."""
    halves = []
    for chain in _usable(chains):
        half = chain.shape[0] // 2
        halves += [chain[:half], chain[chain.shape[0] - half :]]
    if len(halves) < 2:
        width = chains[0].shape[1] if chains else 0
        return torch.full((width,), float("nan"), dtype=torch.float64)
    m = sum(h.shape[0] for h in halves) / len(halves)
    means = torch.stack([h.mean(dim=0) for h in halves])
    within = torch.stack([h.var(dim=0) for h in halves]).mean(dim=0)
    between_over_m = means.var(dim=0)
    var_plus = (m - 1) / m * within + between_over_m
    return torch.sqrt(var_plus / within.clamp(min=1e-300))


def summary(chains: list[torch.Tensor]) -> dict[str, float | None]:
    """The worst series: smallest ESS, largest integrated time and split-R-hat."""
    if not _usable(chains):
        return {"ess": None, "iat": None, "rhat": None}
    tau = integrated_time(chains)
    ess = _effective_size(chains, tau)
    rhat = split_rhat(chains)
    worst_rhat = float(rhat.max()) if not bool(rhat.isnan().all()) else None
    return {
        "ess": float(ess.min()),
        "iat": float(tau.max()),
        "rhat": None if worst_rhat is None or math.isnan(worst_rhat) else worst_rhat,
    }
