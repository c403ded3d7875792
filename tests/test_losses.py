import math

import pytest
import torch

from ganforge.losses import LOSSES, r1_penalty

LOGITS_REAL = torch.tensor([2.0, -1.0])
LOGITS_FAKE = torch.tensor([0.5, -3.0])


def bce(logit: float, target: float) -> float:
    probability = 1 / (1 + math.exp(-logit))
    return -(target * math.log(probability) + (1 - target) * math.log(1 - probability))


def test_bce_matches_hand_computation():
    loss = LOSSES.get("bce")
    expected_d = (bce(2, 1) + bce(-1, 1)) / 2 + (bce(0.5, 0) + bce(-3, 0)) / 2
    assert loss.discriminator(LOGITS_REAL, LOGITS_FAKE).item() == pytest.approx(expected_d, 1e-6)
    expected_g = (bce(0.5, 1) + bce(-3, 1)) / 2
    assert loss.generator(LOGITS_FAKE).item() == pytest.approx(expected_g, 1e-6)


def test_bce_label_smoothing_targets():
    loss = LOSSES.get("bce")
    expected = (bce(2, 0.9) + bce(-1, 0.9)) / 2 + (bce(0.5, 0.1) + bce(-3, 0.1)) / 2
    smoothed = loss.discriminator(LOGITS_REAL, LOGITS_FAKE, 0.9, 0.1).item()
    assert smoothed == pytest.approx(expected, 1e-6)
    assert smoothed != pytest.approx(loss.discriminator(LOGITS_REAL, LOGITS_FAKE).item(), 1e-3)


def test_lsgan_matches_hand_computation():
    loss = LOSSES.get("lsgan")
    expected_d = ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (0.5 ** 2 + 3.0 ** 2) / 2
    assert loss.discriminator(LOGITS_REAL, LOGITS_FAKE).item() == pytest.approx(expected_d)
    assert loss.generator(LOGITS_FAKE).item() == pytest.approx(((0.5 - 1) ** 2 + 16) / 2)


def test_realness_maps_to_unit_interval():
    assert LOSSES.get("bce").realness(torch.tensor([0.0])).item() == pytest.approx(0.5)
    assert LOSSES.get("lsgan").realness(torch.tensor([-2.0, 0.3, 4.0])).tolist() == \
        pytest.approx([0.0, 0.3, 1.0])


def test_rpgan_matches_hand_computation():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])
    # softplus(-(D(x) - D(G(z)))) per pair: log(1 + e^-1.5), log(1 + e^2)
    expected_d = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(2.0))) / 2
    expected_g = (math.log1p(math.exp(1.5)) + math.log1p(math.exp(-2.0))) / 2
    rpgan = LOSSES.get("rpgan")
    assert rpgan.relativistic and not LOSSES.get("bce").relativistic
    assert math.isclose(rpgan.discriminator(real, fake).item(), expected_d, rel_tol=1e-6)
    assert math.isclose(rpgan.generator(fake, real).item(), expected_g, rel_tol=1e-6)


def test_r2_is_r1_on_the_fakes_and_the_step_adds_it():
    """The zero-centred penalty at fake images: for D(x) = sum(w * x), |w|^2 per image."""
    from ganforge.training.options import StepOptions
    from ganforge.training.step import Gan, train_step

    weights = torch.tensor([[3.0, 4.0]])
    fake = torch.randn(5, 2, requires_grad=True)
    assert r1_penalty((fake * weights).sum(1), fake).item() == 25.0

    class Linear(torch.nn.Module):  # D(x) = <w, x>: every penalty is |w|^2 = 25
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(weights.clone())

        def forward(self, images, labels=None):
            return (images.flatten(1) * self.weight).sum(1)

    class Constant(torch.nn.Module):
        num_classes = 0

        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(2))

        def forward(self, z, labels=None):
            return z[:, :2] + self.bias

    def loss_d(r1: float, r2: float) -> float:
        discriminator, generator = Linear(), Constant()
        gan = Gan(generator=generator, discriminator=discriminator,
                  optimizer_g=torch.optim.SGD(generator.parameters(), lr=0.0),
                  optimizer_d=torch.optim.SGD(discriminator.parameters(), lr=0.0),
                  options=StepOptions(loss=LOSSES.get("rpgan"), r1_weight=r1, r2_weight=r2))
        torch.manual_seed(0)
        return train_step(gan, torch.randn(4, 2), torch.randn(4, 3))[0].item()

    plain = loss_d(0.0, 0.0)
    assert math.isclose(loss_d(0.0, 2.0) - plain, 2.0 / 2 * 25, rel_tol=1e-5)  # gamma/2 |grad|^2
    assert math.isclose(loss_d(2.0, 2.0) - plain, 2 * 2.0 / 2 * 25, rel_tol=1e-5)
