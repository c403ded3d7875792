"""GAN losses on discriminator logits, found by name.

A loss is a discriminator objective, a generator objective and a `realness` map from D's output
to a score in [0, 1] (for the D(x), D(G(z)) and accuracy logs). Adding one is two functions and
one `LOSSES.register` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Tensor = torch.Tensor


def _bce(logits: Tensor, target: float) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against a constant target.

    softplus(l) - t*l is BCE-with-logits written out; it needs no target tensor per step.
    """
    return F.softplus(logits).mean() - target * logits.mean()


def bce_discriminator(real_logits: Tensor, fake_logits: Tensor,
                      real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return _bce(real_logits, real_label) + _bce(fake_logits, fake_label)


def bce_generator(fake_logits: Tensor) -> Tensor:
    """Non-saturating: G maximises log D(G(z)). The target stays 1 even with label smoothing."""
    return _bce(fake_logits, 1.0)


def lsgan_discriminator(real_logits: Tensor, fake_logits: Tensor,
                        real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return (real_logits - real_label).square().mean() + (fake_logits - fake_label).square().mean()


def lsgan_generator(fake_logits: Tensor) -> Tensor:
    return (fake_logits - 1.0).square().mean()


@dataclass(frozen=True)
class GanLoss:
    discriminator: Callable[..., Tensor]
    generator: Callable[..., Tensor]
    realness: Callable[[Tensor], Tensor]


LOSSES: Registry[GanLoss] = Registry("loss")
LOSSES.register("bce", GanLoss(bce_discriminator, bce_generator, torch.sigmoid))
LOSSES.register("lsgan", GanLoss(lsgan_discriminator, lsgan_generator,
                                 lambda outputs: outputs.clamp(0, 1)))
