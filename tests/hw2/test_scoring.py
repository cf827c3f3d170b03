"""Does the reference evaluator of hw2 (dgm_utils.scoring) score honestly and catch cheats?

Small hand-made models only; no notebook. MNIST is needed only where the default scoring subset
is used (``mnist_dir`` fixture).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dgm_utils.scoring import (
    CausalityError,
    CheckpointError,
    ModelContractError,
    check_causal,
    check_samples,
    load_checkpoint,
    _image_nll,
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
        (lambda self, n, prefix=None: torch.bernoulli(torch.full((n, 1, 28, 28), 0.5)), "parameters zeroed"),
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
