import math

import pytest
import torch

from ganforge.losses import LOSSES

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
