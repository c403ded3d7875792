"""Exponential moving average of the generator's weights (Karras et al.), half-life in images,
with stylegan2-ada's ramp-up: early on the half-life is `rampup` times the images seen, so a
short run's EMA generator follows G instead of averaging in its first, noisy weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class Ema:
    def __init__(self, generator: nn.Module, half_life_images: int, batch_size: int,
                 rampup: float = 0.0):
        self.half_life = half_life_images
        self.batch_size = batch_size
        self.rampup = rampup
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        # On the model's device, updated in place: a captured CUDA graph of the step replays it.
        device = next(generator.parameters()).device
        self.images_seen = torch.zeros((), dtype=torch.float64, device=device)

    def half_life_now(self) -> torch.Tensor:
        """The half-life in images for the next update: min(half_life, rampup * images seen)."""
        if not self.rampup:
            return torch.full_like(self.images_seen, self.half_life)
        return (self.images_seen * self.rampup).clamp(min=1e-8, max=self.half_life)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """ema = lerp(ema, current, 1 - beta), beta = 0.5 ** (batch / half-life); buffers
        (BatchNorm statistics) are copied. The weight stays on the device, one per parameter:
        given one tensor weight, `_foreach_lerp_` would read it on the host (a sync, which a
        captured CUDA graph forbids)."""
        ema_parameters = list(self.model.parameters())
        weight = (1 - 0.5 ** (self.batch_size / self.half_life_now())).to(ema_parameters[0].dtype)
        torch._foreach_lerp_(ema_parameters, list(generator.parameters()),
                             [weight] * len(ema_parameters))
        ema_buffers = list(self.model.buffers())
        if ema_buffers:  # (a G without BatchNorm has none)
            torch._foreach_copy_(ema_buffers, list(generator.buffers()))
        self.images_seen.add_(self.batch_size)
