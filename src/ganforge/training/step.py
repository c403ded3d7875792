"""One GAN training step, as the canonical DCGAN loop writes it: a D block, then a G block. The
only code that touches the optimizers. Speed work is behind `ops` calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ganforge import ops
from ganforge.losses import clip_weights, gradient_penalty, mode_seeking_penalty, r1_penalty
from ganforge.ops.cuda_graph import state_tensors
from ganforge.training.ema import Ema
from ganforge.training.options import StepOptions

# What a step reports, in this order; the trainer averages them per log interval and per epoch.
# Gradient norms are of the whole model's gradient (L2, before the optimizer step); G's is 0
# on critic-only steps. d_fake is D's score of the fakes before its update, d_fake_after the
# updated D's score of those G then learns from (the experiments report prints both).
STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_d",
              "grad_norm_g", "d_fake_after")


@dataclass(kw_only=True)
class Gan:
    """The two networks, their optimizers and what the step does with them."""

    generator: nn.Module
    discriminator: nn.Module
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    options: StepOptions
    ema: Ema | None = None
    # Several processes: average a model's gradients over them before its optimizer steps.
    sync_gradients: Callable[[nn.Module], None] | None = None


def _descend(gan: Gan, module: nn.Module, optimizer: torch.optim.Optimizer,
             loss: torch.Tensor) -> torch.Tensor:
    """Backward, average gradients over processes (if several), one optimizer step; returns the
    gradient norm it stepped with."""
    optimizer.zero_grad(set_to_none=True)
    loss.sum().backward()  # (a stack of runs: their losses are independent, the sum trains each)
    if gan.sync_gradients is not None:
        gan.sync_gradients(module)
    norm = ops.gradient_norm(module)
    optimizer.step()
    return norm


def _update_generator(gan: Gan, fake_images: torch.Tensor, real_images: torch.Tensor,
                      z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """One G update on `fake_images` (= G(z)) against the current D; returns G's loss, D's logits
    of the fakes and G's gradient norm."""
    options, loss, discriminator = gan.options, gan.options.loss, gan.discriminator
    with options.forward_precision(real_images.device):
        fake_logits = discriminator(options.discriminator_input(fake_images), labels).float()
        if loss.relativistic:  # each fake against its paired real, scored by the updated D
            real_logits = discriminator(options.discriminator_input(real_images), labels).float()
    loss_g = loss.generator(fake_logits, real_logits) if loss.relativistic else loss.generator(fake_logits)
    if options.mode_seeking:  # and make different z give different images (MSGAN)
        loss_g = loss_g + options.mode_seeking * mode_seeking_penalty(fake_images.float(), z, labels)
    return loss_g, fake_logits, _descend(gan, gan.generator, gan.optimizer_g, loss_g)


def train_step(gan: Gan, real_images: torch.Tensor, z: torch.Tensor,
               labels: torch.Tensor | None = None, generator_step: bool = True,
               regularize: bool = True, *, fresh_z: torch.Tensor | None = None) -> torch.Tensor:
    """A D step on real and detached fake images, then (if `generator_step`) a G step of
    `options.g_steps` updates on the same z (each scored by the updated D); returns
    STAT_NAMES as a tensor (STAT_NAMES x N for a stack of N runs). `labels` go to conditional
    models (fakes get the real batch's labels). `regularize`: this D step adds the R1 and R2
    penalties (if the options have them). `fresh_z`: the G step's own noise, where the options
    ask for fresh noise (without it, drawn here from the global stream).

    G runs forward once and its output serves the D step and the first G update. The stats stay
    on the device: reading them every step would make the host wait for the device.
    """
    generator, discriminator, options = gan.generator, gan.discriminator, gan.options
    loss, precision = options.loss, options.forward_precision(real_images.device)
    # G's graph is kept only when its G step will backpropagate through these fakes.
    with precision, torch.set_grad_enabled(generator_step and not options.fresh_noise):
        fake_images = generator(z, labels)

    # (1) Update D: score the real batch high and the fake one low (fakes detached: no gradient
    # reaches G), plus the loss's penalties.
    discriminator.requires_grad_(True)
    real_input = options.discriminator_input(real_images)
    fake_input = options.discriminator_input(fake_images.detach())
    r1, r2 = options.r1_weight and regularize, options.r2_weight and regularize
    if r1:
        real_input = real_input.detach().requires_grad_(True)
    if r2:
        fake_input = fake_input.detach().requires_grad_(True)
    with precision:
        real_logits, fake_logits = ops.discriminate_pair(discriminator, real_input, fake_input,
                                                         labels, joint=options.joint_discriminator)
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    loss_d = loss.discriminator(real_logits, fake_logits, options.real_label, options.fake_label)
    if options.d_loss_mean:
        loss_d = loss_d / 2
    if loss.gradient_penalty:
        loss_d = loss_d + options.gp_weight * gradient_penalty(discriminator, real_input, fake_input,
                                                               labels)
    if r1:  # lazily, every r1_every-th step, weighted as many times
        loss_d = loss_d + options.r1_weight * options.r1_every / 2 * r1_penalty(real_logits, real_input)
    if r2:  # the same on the fakes (R3GAN)
        loss_d = loss_d + options.r2_weight * options.r1_every / 2 * r1_penalty(fake_logits, fake_input)
    if options.reconstruction:  # and make D's features describe the real images (FastGAN)
        loss_d = loss_d + options.reconstruction * discriminator.reconstruction_loss(real_input)
    grad_norm_d = _descend(gan, discriminator, gan.optimizer_d, loss_d)
    if options.weight_clip:  # (the original WGAN)
        clip_weights(discriminator, options.weight_clip)

    # (2) Update G: make D score the same fakes (or, with fresh noise, new ones) as real. D's
    # weights need no gradients for it; skipping them saves a third of D's backward.
    if generator_step:
        discriminator.requires_grad_(False)
        if options.fresh_noise:
            z = fresh_z if fresh_z is not None else torch.randn_like(z)
        for update in range(options.g_steps):
            if options.fresh_noise or update:  # the D step's fakes are stale (or not G's graph)
                with precision:
                    fake_images = generator(z, labels)
            loss_g, fake_logits_for_g, grad_norm_g = _update_generator(gan, fake_images, real_images,
                                                                       z, labels)
        if gan.ema is not None:
            gan.ema.update(generator)
    else:  # a critic-only step: report G's loss against the D it just faced
        loss_g = loss.generator(fake_logits.detach(), real_logits.detach()) if loss.relativistic \
            else loss.generator(fake_logits.detach())
        grad_norm_g = torch.zeros_like(grad_norm_d)
        fake_logits_for_g = fake_logits

    with torch.no_grad():
        real_score, fake_score = loss.realness(real_logits), loss.realness(fake_logits)
        return torch.stack([
            loss_d.detach(), loss_g.detach(), real_score.mean(-1), fake_score.mean(-1),
            (real_score > 0.5).float().mean(-1), (fake_score <= 0.5).float().mean(-1),
            grad_norm_d, grad_norm_g, loss.realness(fake_logits_for_g.detach()).mean(-1),
        ])


def gan_state(gan: Gan) -> list[torch.Tensor]:
    """Every tensor a step changes (what a CUDA graph of the step must restore after warm-up)."""
    tensors = state_tensors([gan.generator, gan.discriminator] + ([gan.ema.model] if gan.ema else []),
                            [gan.optimizer_g, gan.optimizer_d])
    return tensors + ([gan.ema.images_seen] if gan.ema else [])
