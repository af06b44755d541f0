"""Transformation robustness in the seed phase (the legible imagenet settings) at toy sizes:
transforms move the gradient, never the band checks; bad transform settings fail in one line."""

from __future__ import annotations

import pytest
import torch

import pipeline
from pipeline import zoo
from pipeline.errors import ConfigError
from pipeline.models.generators import random_codes
from pipeline.models.readout import Readout
from pipeline.sampler.batch import evaluate_batch
from pipeline.sampler.config import Problem, SamplerConfig
from pipeline.sampler.job import GradientPhase, JobState
from pipeline.sweep import compose, expand
from tests.models_for_tests import small_cnn

MOVES = {"jitter": 3, "scales": (0.9, 1.0, 1.1), "rotate": 10.0}


class Climb(GradientPhase):
    """A stand-in seed phase: every chain takes a gradient step on -f."""

    wants_normals = False

    def __init__(self, codes: torch.Tensor) -> None:
        self.codes = codes

    def loss(self, codes: torch.Tensor, acts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return -acts.sum()


def one_step(transform: pipeline.RandomTransforms | None, seed: int):
    """Evaluate 3 fixed Fourier codes (32 px) once, as a seed-phase iteration does."""
    torch.manual_seed(0)
    generator = pipeline.FourierGenerator(32)
    f = pipeline.neuron(small_cnn(), "6", 2)
    codes = torch.randn(3, generator.code_dim) * 0.5
    job = JobState(Problem([(f, 0.0, 1.0)], n=3, seed=seed), SamplerConfig(k=3),
                   torch.device("cpu"), generator.code_dim, generator.prior)
    job.phase = Climb(codes)
    [view] = evaluate_batch(generator, Readout([f], None), [(job, slice(0, 1))], False, transform)
    with torch.no_grad():
        direct = f(generator(codes))
    return view, direct


def test_transforms_move_the_seed_gradient_but_not_the_band_check() -> None:
    plain, direct = one_step(None, seed=0)
    moves = pipeline.RandomTransforms(**MOVES)
    first, _ = one_step(moves, seed=0)
    again, _ = one_step(moves, seed=0)
    other, _ = one_step(moves, seed=1)
    # the activation every band check reads is f(G(c)), the same with or without transforms
    for view in (plain, first, again, other):
        assert torch.allclose(view.acts[:, 0], direct, atol=1e-6, rtol=0)
        assert torch.equal(view.inputs, plain.inputs)
    # the gradient is that of f on a moved G(c): different, and reproducible from the seed
    assert not torch.allclose(first.grad, plain.grad, rtol=0.05, atol=0)
    assert not torch.allclose(first.grad, other.grad, rtol=0.05, atol=0)
    assert torch.equal(first.grad, again.grad)


def test_rotation_is_seeded_and_keeps_the_shape() -> None:
    images = torch.rand(4, 3, 32, 32)
    turn = pipeline.RandomTransforms(jitter=0, rotate=20.0)
    a = turn(images, torch.Generator().manual_seed(0))
    b = turn(images, torch.Generator().manual_seed(0))
    assert a.shape == images.shape and torch.equal(a, b)
    assert (a - images).abs().mean() > 0.05
    still = pipeline.RandomTransforms(jitter=0, rotate=0.0)
    assert torch.equal(still(images, torch.Generator().manual_seed(0)), images)


def test_sampling_with_transforms_verifies_every_sample_on_the_plain_image() -> None:
    torch.manual_seed(0)
    generator = pipeline.FourierGenerator(32)
    f = pipeline.neuron(small_cnn(), "6", 2)
    with torch.no_grad():
        seen = f(generator(torch.randn(64, generator.code_dim) * 0.5))
    lo, hi = torch.quantile(seen, torch.tensor([0.9, 0.99])).tolist()  # rare: seeds needed
    sampler = pipeline.InverseSetSampler(
        generator, None, [(f, lo, hi)], k=3, init_std=0.5, thin=1, burn_in=2,
        transform=pipeline.RandomTransforms(**MOVES),
    )
    result = sampler.sample(6, seed=0)
    assert len(result) == 6
    with torch.no_grad():
        values = f(result.inputs)
    assert torch.allclose(values, result.activations[:, 0], atol=1e-6, rtol=0)
    assert ((values >= lo) & (values <= hi)).all()


@pytest.mark.parametrize(
    ("settings", "word"),
    [
        ({"jitter": -1}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
        ({"scales": ()}, "scales"),
        ({"scales": (1.0, 0.0)}, "scales"),
        ({"rotate": -5.0}, "rotate"),
        ({"rotate": 400.0}, "rotate"),
    ],
)
def test_bad_transform_settings_fail_in_one_line(settings: dict, word: str) -> None:
    with pytest.raises(ConfigError, match=word) as err:
        pipeline.RandomTransforms(**settings)
    assert "\n" not in str(err.value)


def test_a_sweep_refuses_a_bad_rotation_and_takes_a_good_one() -> None:
    select = "neurons.select=[{layer: null, units: [0]}]"
    with pytest.raises(ConfigError, match="rotate must be in") as err:
        expand(compose(["preset=toy", select, "sampler.transform={rotate: -5}"]))
    assert "\n" not in str(err.value)
    jobs = expand(compose(["preset=toy", select, "sampler.transform={jitter: 2, rotate: 5}"]))
    assert jobs and jobs[0].sampler["transform"] == {"jitter": 2, "rotate": 5}


def test_the_legible_config_sets_224_px_a_natural_contrast_prior_and_seed_transforms() -> None:
    jobs = expand(compose(config_name="legible"))
    assert len(jobs) == 6000 and all(job.n == 500 for job in jobs)
    options = jobs[0].model["preset"]["options"]
    assert options == {"size": 224, "prior_std": 1.0}
    assert jobs[0].sampler["transform"]["rotate"] == 10.0
    night = expand(compose(config_name="overnight"))[0]
    assert night.model["preset"]["options"] == {"size": 128}
    assert night.sampler["transform"] is None


def test_fourier_prior_scale_sets_grey_or_natural_contrast_draws() -> None:
    grey, natural = pipeline.FourierGenerator(32), pipeline.FourierGenerator(32, prior_std=1.0)
    assert grey.prior.scale == 0.01 and natural.prior.scale == 1.0
    with torch.no_grad():
        flat = grey(random_codes(grey, 8, 0)).flatten(1).std(dim=1)
        busy = natural(random_codes(natural, 8, 0)).flatten(1).std(dim=1)
    assert (flat < 0.02).all() and (busy > 0.1).all()


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_bad_prior_scale_fails_in_one_line_before_any_weight_is_read(tmp_path, value) -> None:
    with pytest.raises(ConfigError, match="prior scale must be a positive number") as err:
        zoo.load("imagenet", cache_dir=tmp_path, size=32, prior_std=value)
    assert "\n" not in str(err.value) and not any(tmp_path.iterdir())


def test_the_legible_bench_table_weights_each_class_by_its_samples() -> None:
    from bench.legible import table

    def row(cls: str, returned: int, top5: float) -> dict:
        return {"setting": "s", "class": cls, "band": "20-25", "returned": returned,
                "evals": 10.0, "top5": top5, "top1": top5, "moved": top5, "grey": 1 - top5}

    nan = float("nan")
    text = table([row("a", 2, 1.0), row("b", 6, 0.0), row("c", 0, nan)])
    assert "| **s** | all | 20-25 | 8 | **0.25** | 0.25 | **0.25** | **0.75** | |" in text
    assert "| s | c | 20-25 | 0 | nan |" in text


def test_the_legible_grid_has_one_row_per_class_and_blanks_for_missing_samples(tmp_path) -> None:
    from PIL import Image

    from bench.legible import grid

    low, high = (0.0, 5.0), (20.0, 25.0)
    samples = {("a", low): torch.rand(5, 3, 40, 40), ("a", high): torch.rand(1, 3, 40, 40),
               ("b", low): torch.zeros(0, 3, 40, 40), ("b", high): torch.rand(4, 3, 40, 40)}
    path = grid(samples, tmp_path / "g.png", per_band=4, tile=16)
    width, height = Image.open(path).size
    assert (width, height) == (8 * 17 + 1, 2 * 17 + 1)


def test_the_legible_bench_reads_bands_and_refuses_bad_ones_in_one_line() -> None:
    from bench.legible import parse_bands

    assert parse_bands("0-5,20-25") == ((0.0, 5.0), (20.0, 25.0))
    with pytest.raises(ConfigError, match="--bands must look like") as err:
        parse_bands("0-5,high")
    assert "\n" not in str(err.value)
