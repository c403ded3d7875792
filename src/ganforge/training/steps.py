"""One GAN training step: the only code that touches the optimizers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganforge.losses import GanLoss

# What a step reports, in this order; sums over steps are averaged per epoch by the loop.
STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake")


@dataclass
class Gan:
    generator: nn.Module
    discriminator: nn.Module
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    loss: GanLoss
    real_label: float = 1.0
    fake_label: float = 0.0


def train_step(gan: Gan, real_images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """A D step on real and detached fake images, then a G step; returns STAT_NAMES as a tensor.

    G runs forward once and its output serves both steps. The stats stay on the device: reading
    them every step would make the host wait for the device.
    """
    generator, discriminator, loss = gan.generator, gan.discriminator, gan.loss
    fake_images = generator(z)

    discriminator.requires_grad_(True)
    real_logits = discriminator(real_images)
    fake_logits = discriminator(fake_images.detach())
    loss_d = loss.discriminator(real_logits, fake_logits, gan.real_label, gan.fake_label)
    gan.optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    gan.optimizer_d.step()

    # D's weights need no gradients for G's step; skipping them saves a third of its backward.
    discriminator.requires_grad_(False)
    loss_g = loss.generator(discriminator(fake_images))
    gan.optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    gan.optimizer_g.step()

    with torch.no_grad():
        real_score, fake_score = loss.realness(real_logits), loss.realness(fake_logits)
        return torch.stack([
            loss_d, loss_g, real_score.mean(), fake_score.mean(),
            (real_score > 0.5).float().mean(), (fake_score <= 0.5).float().mean(),
        ]).detach()
