"""One GAN training step: the only code that touches the optimizers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ganforge.data.augment import diff_augment
from ganforge.losses import GanLoss, gradient_penalty, r1_penalty
from ganforge.models import cpu_kernels
from ganforge.models.fast_layers import batch_norm_groups
from ganforge.training.ema import Ema

# What a step reports, in this order; the loop averages them per log interval and per epoch.
# Gradient norms are of the whole model's gradient (L2, before the optimizer step); G's is 0
# on critic-only steps.
STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_d",
              "grad_norm_g")


def _gradient_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if cpu_kernels.takes_norm(grads):
        return torch.ops.ganforge.total_norm(grads)
    return torch.nn.utils.get_total_norm(grads)


@dataclass
class Gan:
    generator: nn.Module
    discriminator: nn.Module
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    loss: GanLoss
    real_label: float = 1.0
    fake_label: float = 0.0
    gp_weight: float = 10.0
    r1_weight: float = 0.0
    instance_noise: float = 0.0
    diffaugment: str = ""  # DiffAugment policy, applied to real and fake D inputs alike
    ema: Ema | None = None
    # Several processes: average a model's gradients over them before its optimizer steps.
    sync_gradients: Callable[[nn.Module], None] | None = None
    autocast_dtype: torch.dtype | None = None  # bf16: forward passes under autocast
    # D takes real and fake images in one call (fast_layers.joins_batches); the same function.
    joint_discriminator: bool = False

    def forward_precision(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Autocast for a forward pass when a reduced precision is asked (losses stay fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    def discriminator_input(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees: DiffAugment and instance noise hit real and fake images the same way, so
        the distribution G learns is unchanged."""
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment)
        if self.instance_noise:
            images = images + self.instance_noise * torch.randn_like(images)
        return images


def _descend(gan: Gan, module: nn.Module, optimizer: torch.optim.Optimizer,
             loss: torch.Tensor) -> torch.Tensor:
    """Backward, average gradients over processes (if several), one optimizer step; returns the
    gradient norm it stepped with."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if gan.sync_gradients is not None:
        gan.sync_gradients(module)
    norm = _gradient_norm(module)
    optimizer.step()
    return norm


def train_step(gan: Gan, real_images: torch.Tensor, z: torch.Tensor,
               labels: torch.Tensor | None = None, generator_step: bool = True) -> torch.Tensor:
    """A D step on real and detached fake images, then (if `generator_step`) a G step; returns
    STAT_NAMES as a tensor. `labels` go to conditional models (fakes get the real batch's labels).

    G runs forward once and its output serves both steps. The stats stay on the device: reading
    them every step would make the host wait for the device.
    """
    generator, discriminator, loss = gan.generator, gan.discriminator, gan.loss
    precision = gan.forward_precision(real_images.device)
    with precision:
        fake_images = generator(z, labels)

    discriminator.requires_grad_(True)
    real_input = gan.discriminator_input(real_images)
    fake_input = gan.discriminator_input(fake_images.detach())
    if gan.r1_weight:
        real_input = real_input.detach().requires_grad_(True)
    if gan.joint_discriminator and real_input.shape == fake_input.shape:  # fewer, larger kernels
        both_labels = None if labels is None else torch.cat([labels, labels])
        with precision, batch_norm_groups(discriminator, 2):
            both = discriminator(torch.cat([real_input, fake_input]), both_labels).float()
        real_logits, fake_logits = both.chunk(2)
    else:
        with precision:
            real_logits = discriminator(real_input, labels).float()
            fake_logits = discriminator(fake_input, labels).float()
    loss_d = loss.discriminator(real_logits, fake_logits, gan.real_label, gan.fake_label)
    if loss.gradient_penalty:
        loss_d = loss_d + gan.gp_weight * gradient_penalty(discriminator, real_input, fake_input, labels)
    if gan.r1_weight:
        loss_d = loss_d + gan.r1_weight / 2 * r1_penalty(real_logits, real_input)
    grad_norm_d = _descend(gan, discriminator, gan.optimizer_d, loss_d)

    if generator_step:
        # D's weights need no gradients for G's step; skipping them saves a third of its backward.
        discriminator.requires_grad_(False)
        with precision:
            fake_logits_for_g = discriminator(gan.discriminator_input(fake_images), labels).float()
        loss_g = loss.generator(fake_logits_for_g)
        grad_norm_g = _descend(gan, generator, gan.optimizer_g, loss_g)
        if gan.ema is not None:
            gan.ema.update(generator)
    else:  # a critic-only step: report G's loss against the D it just faced
        loss_g = loss.generator(fake_logits.detach())
        grad_norm_g = torch.zeros_like(grad_norm_d)

    with torch.no_grad():
        real_score, fake_score = loss.realness(real_logits), loss.realness(fake_logits)
        return torch.stack([
            loss_d.detach(), loss_g.detach(), real_score.mean(), fake_score.mean(),
            (real_score > 0.5).float().mean(), (fake_score <= 0.5).float().mean(),
            grad_norm_d, grad_norm_g,
        ])
