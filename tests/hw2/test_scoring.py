"""Does the reference evaluator of hw2 (dgm_utils.scoring) score honestly and catch cheats?

Small hand-made models only; no notebook. MNIST is needed only where the scoring data are used
(``mnist_dir`` fixture). The reference models' statistics are in tests/hw2/test_reference_checks.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dgm_utils.scoring import (
    CALIBRATION_Z_MAX,
    MEMORISATION_MARGIN,
    CausalityError,
    CheckpointError,
    MemorisationError,
    ModelContractError,
    SamplerError,
    calibration,
    check_causal,
    check_samples,
    graded_nll,
    load_checkpoint,
    _image_nll,
    sampler_calibration,
    score_nll,
)


def _binary(n: int, seed: int = 0, p: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 784, generator=g) < p).float()


class Independent(nn.Module):
    """Causal: the same logit at every pixel; samples from its own parameters."""

    def __init__(self, logit: float = -1.0):
        super().__init__()
        self.logit = nn.Parameter(torch.full((784,), logit))

    def conditional_logits(self, x):
        return self.logit.expand(x.shape[0], -1)

    def sample(self, num_samples, prefix=None):
        return torch.bernoulli(torch.sigmoid(self.logit).expand(num_samples, -1)).reshape(num_samples, 1, 28, 28)


class Leaky(nn.Module):
    """Not causal: reads x_i itself, so its NLL is almost 0."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def conditional_logits(self, x):
        return self.scale * (2 * x - 1)


class PreviousPixel(nn.Module):
    """Causal: the logit of pixel i is a linear function of x_{i-1} (off by one done right)."""

    def __init__(self, shift: int = 1):
        super().__init__()
        self.shift = shift
        self.w = nn.Parameter(torch.tensor(4.0))
        self.b = nn.Parameter(torch.tensor(-2.0))

    def conditional_logits(self, x):
        prev = torch.roll(x, self.shift, dims=1)
        prev[:, : max(self.shift, 0)] = 0
        return self.w * prev + self.b


class LeaksAtOnePixel(PreviousPixel):
    """Causal everywhere except pixel 500, whose logit sees x_500."""

    def conditional_logits(self, x):
        logits = super().conditional_logits(x).clone()
        logits[:, 500] = logits[:, 500] + 10 * x[:, 500]
        return logits


def test_leaky_model_is_rejected_however_low_its_nll(mnist_dir):
    """Does a model that sees x_i fail the causality check, although its NLL is near 0 nats/dim?"""
    x = _binary(16)
    leaky = Leaky()
    assert score_nll(leaky, x, check_causality=False) < 1e-3  # what it would score if not checked
    with pytest.raises(CausalityError, match="not causal"):
        check_causal(leaky, x)
    with pytest.raises(CausalityError):
        score_nll(leaky, x)  # default: checked first, so no score at all


def test_a_leak_at_a_single_pixel_is_caught_and_named():
    """Is a leak at one pixel only (x_500 seen by p(x_500 | ...)) caught, naming pixel 500?"""
    with pytest.raises(CausalityError, match="x_500"):
        check_causal(LeaksAtOnePixel(), _binary(1, seed=3))


def test_causal_models_pass_the_check():
    """Do causal models (independent; previous-pixel) pass check_causal?"""
    x = _binary(2, seed=1)
    check_causal(Independent(), x)
    check_causal(PreviousPixel(), x)


def test_a_model_that_sees_the_next_pixel_fails():
    """Does a model reading x_{i+1} (a shift in the wrong direction) fail the check?"""
    with pytest.raises(CausalityError):
        check_causal(PreviousPixel(shift=-1), _binary(1, seed=2))


def test_nll_matches_torch_distributions(mnist_dir):
    """Is score_nll the mean over images of -log p(x) / 784 in nats, as torch.distributions computes it?"""
    x = _binary(10, seed=4)
    model = PreviousPixel()
    logits = model.conditional_logits(x).detach()
    expected = -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1).mean() / 784
    got = score_nll(model, x)
    assert got == pytest.approx(float(expected), rel=1e-5), f"expected {float(expected):.6f} nats/dim, got {got:.6f}"
    assert _image_nll(logits, x).shape == (10,)


def test_independent_closed_form(mnist_dir):
    """Is the NLL of Bernoulli(p) at every pixel the binary cross-entropy in nats/dim, in closed form?"""
    p = 0.25
    x = _binary(50, seed=5, p=0.3)
    ones = float(x.mean())
    expected = -(ones * math.log(p) + (1 - ones) * math.log(1 - p))
    got = score_nll(Independent(math.log(p / (1 - p))), x)
    assert got == pytest.approx(expected, rel=1e-5), f"expected {expected:.6f} nats/dim, got {got:.6f}"


def test_contract_errors_are_clear():
    """Do a missing method, a wrong shape and NaN logits raise ModelContractError with what is expected?"""
    x = _binary(3)
    with pytest.raises(ModelContractError, match="conditional_logits"):
        score_nll(nn.Linear(1, 1), x, check_causality=False)

    class WrongShape(Independent):
        def conditional_logits(self, x):
            return super().conditional_logits(x)[:, :100]

    with pytest.raises(ModelContractError, match=r"\(3, 784\)"):
        score_nll(WrongShape(), x, check_causality=False)

    class NaNs(Independent):
        def conditional_logits(self, x):
            return super().conditional_logits(x) * float("nan")

    with pytest.raises(ModelContractError, match="finite"):
        score_nll(NaNs(), x, check_causality=False)


def test_scoring_puts_the_model_back_in_its_mode():
    """Does scoring run the model in eval mode and restore training mode afterwards?"""
    seen = []

    class Spy(Independent):
        def conditional_logits(self, x):
            seen.append(self.training)
            return super().conditional_logits(x)

    model = Spy().train()
    score_nll(model, _binary(2), check_causality=False)
    assert seen == [False] and model.training


def test_default_scoring_subset_is_fixed(mnist_dir):
    """Is the default scoring set the first 2000 test images at threshold 0.5, in fast mode too?"""
    from dgm_utils.data import load_mnist
    from dgm_utils.scoring import score_test_subset

    x = score_test_subset()
    assert x.shape == (2000, 784)
    assert torch.equal(x, load_mnist("test", binarize="threshold", limit=2000, flatten=True))


# ---------------------------------------------------------------------------- samples


def test_check_samples_accepts_a_model_based_seeded_sampler():
    """Does a sampler that draws from the model with torch's generator pass check_samples?"""
    out = check_samples(Independent(-1.0), num_samples=4)
    assert out.shape == (4, 1, 28, 28)


@pytest.mark.parametrize(
    "sample, message",
    [
        (lambda self, n, prefix=None: torch.bernoulli(torch.full((n, 1, 28, 28), 0.5)), "own conditionals"),
        (lambda self, n, prefix=None: torch.sigmoid(self.logit).expand(n, -1).reshape(n, 1, 28, 28), "binary"),
        (lambda self, n, prefix=None: (torch.sigmoid(self.logit) > 0.5).float().expand(n, -1).reshape(n, 1, 28, 28),
         "identical"),
        (lambda self, n, prefix=None: torch.from_numpy(
            (__import__("numpy").random.rand(n, 1, 28, 28) < 0.3).astype("float32")), "manual_seed"),
        (lambda self, n, prefix=None: torch.bernoulli(torch.sigmoid(self.logit).expand(n, -1)), r"\(4, 1, 28, 28\)"),
    ],
    ids=["ignores-model", "probabilities-not-samples", "argmax", "numpy-rng", "flat-shape"],
)
def test_check_samples_rejects_wrong_samplers(sample, message):
    """Does each wrong sampler fail check_samples with a message that says what is wrong?"""
    model = Independent(-1.0)
    model.sample = sample.__get__(model)
    with pytest.raises(AssertionError, match=message):
        check_samples(model, num_samples=4)


# ---------------------------------------------------------------------------- checkpoints


def test_load_checkpoint_round_trip_and_errors(tmp_path):
    """Does load_checkpoint load a state_dict, and say what to submit when the file is missing/too big/wrong?"""
    model = PreviousPixel()
    with torch.no_grad():
        model.w.fill_(1.5)
    path = tmp_path / "model_state.bin"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(PreviousPixel(), path, max_mb=1)
    assert float(loaded.w.detach()) == 1.5

    with pytest.raises(CheckpointError, match="submit missing_state.bin"):
        load_checkpoint(PreviousPixel(), tmp_path / "missing_state.bin", max_mb=1)
    big = tmp_path / "big_state.bin"
    torch.save({"w": torch.zeros(300_000)}, big)
    with pytest.raises(CheckpointError, match="over the 1 MB limit"):
        load_checkpoint(PreviousPixel(), big, max_mb=1)
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(Independent(), path, max_mb=1)
    garbage = tmp_path / "garbage_state.bin"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(PreviousPixel(), garbage, max_mb=1)


# ---------------------------------------------------------------------------- sampler calibration


class Chain(PreviousPixel):
    """p(x_i | x_<i) = sigmoid(w x_{i-28} + b) (the pixel above), with an exact sampler and the wrong ones
    of the misjudged answers: ``mode`` "window" reads x_{i-29} (off by one), "probabilities" feeds
    p_{i-28} back instead of the drawn bit, "paste" draws a whole image and pastes the prefix over it."""

    def __init__(self, mode: str = "exact", w: float = 4.0, b: float = -2.0):
        super().__init__(shift=28)
        self.mode = mode
        with torch.no_grad():
            self.w.fill_(w)
            self.b.fill_(b)

    @torch.no_grad()
    def sample(self, num_samples, prefix=None):
        k = 0 if prefix is None else prefix.shape[1]
        start = 0 if self.mode == "paste" else k
        lag = 29 if self.mode == "window" else 28
        x = torch.zeros(num_samples, 784)
        fed = torch.zeros(num_samples, 784)  # what the sampler conditions on
        if start:
            x[:, :k] = fed[:, :k] = prefix
        for i in range(start, 784):
            above = fed[:, i - lag] if i >= lag else torch.zeros(num_samples)
            p = torch.sigmoid(self.w * above + self.b)
            x[:, i] = torch.bernoulli(p)
            fed[:, i] = p if self.mode == "probabilities" else x[:, i]
        if k and self.mode == "paste":
            x[:, :k] = prefix
        return x.reshape(num_samples, 1, 28, 28)


def test_calibration_is_standard_normal_for_an_exact_sampler():
    """Are z and z_ll near N(0, 1) over seeds for a sampler that draws from the model's conditionals?"""
    model = Chain()
    values = []
    for seed in range(30):
        torch.manual_seed(seed)
        s = model.sample(32).reshape(32, 784)
        stats = calibration(model.conditional_logits(s).detach(), s)
        values += [stats["z"], stats["z_ll"]]
    v = torch.tensor(values)
    assert abs(float(v.mean())) < 0.5 and 0.6 < float(v.std()) < 1.4, f"mean {v.mean():.2f}, sd {v.std():.2f}"
    assert float(v.abs().max()) < CALIBRATION_Z_MAX - 2, f"largest |statistic| {v.abs().max():.1f}"


def test_calibration_of_a_known_case_by_hand():
    """Is z the standardised sum of s - p, and z_ll that of log p(s) + H(p), computed by hand on 3 pixels?"""
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    s = torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.sigmoid(logits).double()
    z = float((s - p).sum() / (p * (1 - p)).sum().sqrt())
    log_ps = torch.where(s.bool(), p.log(), (1 - p).log())
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    var = p * (1 - p) * logits.double() ** 2
    z_ll = float((log_ps + entropy).sum() / var.sum().sqrt())
    got = calibration(logits, s, stop=3)
    assert got["z"] == pytest.approx(z) and got["z_ll"] == pytest.approx(z_ll) and got["pixels"] == 3


@pytest.mark.parametrize("mode, with_prefix", [("window", False), ("probabilities", False), ("paste", True)])
def test_wrong_samplers_of_a_context_dependent_model_fail_calibration(mode, with_prefix):
    """Do a window off by one, probabilities fed back and a pasted prefix each fail sampler_calibration?"""
    prefix = _binary(64, seed=7, p=0.5)[:, :300] if with_prefix else None
    with pytest.raises(SamplerError, match="own conditionals"):
        sampler_calibration(Chain(mode), 64, prefix=prefix, seed=0)
    stats = sampler_calibration(Chain(), 64, prefix=prefix, seed=0)  # the exact sampler passes the same check
    assert max(abs(v) for v in stats.values()) < CALIBRATION_Z_MAX


def test_sampler_calibration_checks_the_prefix_is_kept():
    """Does sampler_calibration fail a sampler that changes the given prefix?"""
    class Overwrites(Chain):
        def sample(self, num_samples, prefix=None):
            return super().sample(num_samples)  # ignores the prefix altogether

    with pytest.raises(SamplerError, match="keep the given first pixels"):
        sampler_calibration(Overwrites(), 8, prefix=_binary(8, seed=1)[:, :100])


# ---------------------------------------------------------------------------- graded NLL


class LeaksOnLargeBatches(PreviousPixel):
    """Causal on batches of up to 392 images (the old check's size), reads x_i on larger ones."""

    def conditional_logits(self, x):
        logits = super().conditional_logits(x)
        return logits + 10 * (2 * x - 1) if x.shape[0] > 392 else logits


class BatchStatistics(PreviousPixel):
    """Causal per image, but its logits move with the batch's mean (a batch statistic)."""

    def conditional_logits(self, x):
        return super().conditional_logits(x) + x.mean()


class LooksUpTestImages(PreviousPixel):
    """Causal, and memorised: when the first 300 pixels of an image are those of a test image, it
    predicts that image's other pixels with probability 0.99 (it was 'trained' on the test set)."""

    def __init__(self, test_images):
        super().__init__()
        self.table = {bytes(row[:300].to(torch.uint8).tolist()): row for row in test_images}

    def conditional_logits(self, x):
        logits = super().conditional_logits(x).clone()
        for b, row in enumerate(x):
            known = self.table.get(bytes(row[:300].to(torch.uint8).tolist()))
            if known is not None:
                logits[b, 300:] = 4.6 * (2 * known[300:] - 1)
        return logits


def test_graded_nll_scores_a_causal_model_on_fresh_images(mnist_dir):
    """Does graded_nll score a causal model in nats/dim on test and training images drawn with its seed?"""
    from dgm_utils.data import load_mnist

    first = graded_nll(PreviousPixel(), num_images=300, seed=11)
    again = graded_nll(PreviousPixel(), num_images=300, seed=11)
    other = graded_nll(PreviousPixel(), num_images=300, seed=12)
    assert first == again and first.test_nll != other.test_nll, "the seed decides the draw"
    assert 0.1 < first.test_nll < 1.0 and 0.1 < first.train_nll < 1.0, first
    assert first.memorisation_se > 0 and first.memorisation_gap > -MEMORISATION_MARGIN - 5 * first.memorisation_se
    assert max(first.batch_sizes) >= 600, f"one batch should be large: {first.batch_sizes}"
    # the test NLL is the mean over the drawn test images, nothing else
    rng = __import__("numpy").random.default_rng(11)
    idx = torch.from_numpy(rng.choice(10_000, 300, replace=False))
    x = load_mnist("test", binarize="threshold", limit=None, flatten=True)[idx]
    assert first.test_nll == pytest.approx(score_nll(PreviousPixel(), x, check_causality=False), rel=1e-5)


def test_graded_nll_catches_a_leak_on_large_batches(mnist_dir):
    """Is a model causal on small batches but leaky on large ones (the old scoring size) caught?"""
    check_causal(LeaksOnLargeBatches(), _binary(1))  # the old check, batches of 392: passes
    assert score_nll(LeaksOnLargeBatches(), _binary(500), check_causality=False) < 0.01  # and would score ~0
    with pytest.raises(CausalityError, match="not causal"):
        graded_nll(LeaksOnLargeBatches(), num_images=300, seed=3)
    with pytest.raises(CausalityError):
        score_nll(LeaksOnLargeBatches(), _binary(20))  # score_nll checks at its own batch size too


def test_graded_nll_rejects_logits_that_depend_on_the_batch(mnist_dir):
    """Does a model whose logits move with the other images of its batch fail graded_nll?"""
    with pytest.raises((ModelContractError, CausalityError), match="batch|causal"):
        graded_nll(BatchStatistics(), num_images=300, seed=4)


def test_graded_nll_flags_a_model_that_memorised_the_test_set(mnist_dir):
    """Is a causal model that looks up test images flagged for a TA, however low its NLL?"""
    from dgm_utils.data import load_mnist

    test = load_mnist("test", binarize="threshold", limit=None, flatten=True)
    with pytest.raises(MemorisationError, match="TA"):
        graded_nll(LooksUpTestImages(test), num_images=300, seed=5)


# ---------------------------------------------------------------------------- stand-ins (the clean room's library)


def test_mirror_conditionals_by_hand():
    """Is the mirror's p(x_i = 1 | x_<i) p_same where x_{i-offset} = 1, 1 - p_same where it is 0, p_top above?"""
    from dgm_utils.cleanroom import standins

    x = torch.zeros(1, 784)
    x[0, 10] = 1.0
    p = torch.sigmoid(standins.mirror(offset=392, p_same=0.97, p_top=0.4).conditional_logits(x))[0]
    assert float(p[402]) == pytest.approx(0.97) and float(p[403]) == pytest.approx(0.03)
    assert float(p[10]) == pytest.approx(0.4) and float(p[391]) == pytest.approx(0.4)


@pytest.mark.parametrize("offset", [392, 280])
def test_mirror_samples_from_its_own_conditionals(offset):
    """Does the mirror stand-in sample exactly (calibrated, prefix kept), also when x_i copies a drawn pixel?"""
    from dgm_utils.cleanroom import standins

    mirror = standins.mirror(offset=offset, p_same=0.9, p_top=0.3)
    sampler_calibration(mirror, 64, seed=1)
    sampler_calibration(mirror, 64, prefix=_binary(64, seed=2)[:, :392], seed=2)


def test_wrong_completions_of_the_mirror_fail_calibration():
    """Do a greedy completion, a pasted unconditional sample and a model-free one fail on the mirror's conditionals?"""
    from dgm_utils.cleanroom import standins

    mirror = standins.mirror()
    x = _binary(16, seed=3, p=0.15)
    top = x[:, :392]
    torch.manual_seed(0)
    completions = {
        "greedy": torch.cat([top, top], dim=1),  # the most likely bottom copies the top exactly
        "pasted": torch.cat([top, mirror.sample(16).reshape(16, 784)[:, 392:]], dim=1),
        "model-free": torch.cat([top, torch.bernoulli(torch.full((16, 392), 0.15))], dim=1),
        "right": mirror.sample(16, prefix=top).reshape(16, 784),
    }
    for name, flat in completions.items():
        stats = calibration(mirror.conditional_logits(flat), flat, start=392)
        worst = max(abs(stats["z"]), abs(stats["z_ll"]))
        assert (worst < CALIBRATION_Z_MAX) == (name == "right"), f"{name}: {stats}"


def test_stand_ins_cross_the_clean_room_as_models():
    """Does a stand-in cross the wire by name and come back as a model with its methods (not a plain callable)?"""
    from dgm_utils.cleanroom import library, standins, wire

    decoded = wire.loads(wire.encode(standins.mirror(offset=300, p_same=0.9)))
    rebuilt = library.build(decoded.name, decoded.params)
    assert isinstance(rebuilt, standins.Mirror) and (rebuilt.offset, rebuilt.p_same) == (300, 0.9)
    with pytest.raises(ValueError):
        library.build("mirror", {"offset": 900})


def test_layer_calls_counts_recurrent_steps_where_the_model_runs():
    """Does layer_calls record each call of a model's layers, with the time steps of a recurrent one?"""
    from dgm_utils.cleanroom import lib, standins

    model = nn.Sequential(nn.LSTM(4, 8, batch_first=True))
    steps, leaves = standins.layer_calls("recurrent"), standins.layer_calls("leaf")
    model.apply(steps)
    model.apply(leaves)
    model(torch.zeros(3, 17, 4))
    assert [r["steps"] for r in lib.probe_records(steps)] == [17]
    assert [r["layer"] for r in lib.probe_records(leaves)] == ["LSTM"]
