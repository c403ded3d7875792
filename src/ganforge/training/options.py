"""What a training step does besides its networks: the loss and its settings, D's inputs, the
precision of the forward passes. Frozen and built by keyword, so no two settings can swap."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ganforge.config import Config
from ganforge.data.augment import diff_augment
from ganforge.losses import LOSSES, GanLoss
from ganforge.models import MODELS


def reconstruction_weight(config: Config) -> float:
    """loss.reconstruction as set, else 1 for a model whose D has decoders and 0 otherwise."""
    if config.loss.reconstruction is not None:
        return config.loss.reconstruction
    return 1.0 if MODELS.get(config.model.name).self_supervised else 0.0


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    loss: GanLoss
    real_label: float = 1.0  # D's targets; 0.9 / 0.1 is label smoothing
    fake_label: float = 0.0
    gp_weight: float = 10.0  # of the loss's gradient penalty, where it has one (WGAN-GP)
    r1_weight: float = 0.0  # R1 penalty on real images (0: off)
    r2_weight: float = 0.0  # R2 penalty on fake images (0: off), on R1's steps
    r1_every: int = 1  # R1 (and R2) on every Nth D step, weighted N times (lazy regularisation)
    instance_noise: float = 0.0  # std of Gaussian noise on every D input (0: off)
    mode_seeking: float = 0.0  # weight of the mode-seeking term in G's loss (0: off)
    reconstruction: float = 0.0  # weight of D's self-supervised reconstruction loss (0: off)
    d_loss_mean: bool = False  # D's loss: the mean of its real and fake terms, not their sum
    weight_clip: float = 0.0  # clip D's weights to [-c, c] after its step (0: off)
    fresh_noise: bool = False  # the G step draws new z instead of reusing the D step's fakes
    g_steps: int = 1  # generator updates per G step, each on the same z
    diffaugment: str = ""  # DiffAugment policy, applied to real and fake D inputs alike
    autocast_dtype: torch.dtype | None = None  # bf16: forward passes under autocast
    # D takes real and fake images in one call (ops.discriminate_pair); the same function.
    joint_discriminator: bool = False

    @classmethod
    def from_config(cls, config: Config, *, joint_discriminator: bool = False) -> StepOptions:
        loss = config.loss
        return cls(loss=LOSSES.get(loss.name), real_label=loss.real_label,
                   fake_label=loss.fake_label, gp_weight=loss.gp_weight, r1_weight=loss.r1_weight,
                   r2_weight=loss.r2_weight, r1_every=loss.r1_every,
                   instance_noise=loss.instance_noise, mode_seeking=loss.mode_seeking,
                   reconstruction=reconstruction_weight(config), d_loss_mean=loss.d_loss_mean,
                   weight_clip=loss.weight_clip,
                   fresh_noise=config.train.g_fresh_noise, g_steps=config.train.g_steps,
                   diffaugment=config.train.diffaugment,
                   autocast_dtype=torch.bfloat16 if config.train.precision == "bf16" else None,
                   joint_discriminator=joint_discriminator)

    def regularizes(self, step: int) -> bool:
        """Whether step `step` (0-based) adds the R1 (and R2) penalty."""
        return bool(self.r1_weight or self.r2_weight) and step % self.r1_every == 0

    @property
    def differentiates_d_twice(self) -> bool:
        """A penalty on D's input gradient: D's layers must be differentiable twice."""
        return self.loss.gradient_penalty or bool(self.r1_weight or self.r2_weight)

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
