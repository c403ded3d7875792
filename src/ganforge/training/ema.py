"""Exponential moving average of the generator's weights (Karras et al.), half-life in images."""

from __future__ import annotations

import copy

import torch
from torch import nn


class Ema:
    def __init__(self, generator: nn.Module, half_life_images: int, batch_size: int):
        # After half_life_images images the old weights' share has halved.
        self.beta = 0.5 ** (batch_size / half_life_images)
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """ema = beta * ema + (1 - beta) * current; buffers (BatchNorm statistics) are copied."""
        torch._foreach_lerp_(list(self.model.parameters()), list(generator.parameters()),
                             1 - self.beta)
        for ema_buffer, buffer in zip(self.model.buffers(), generator.buffers()):
            ema_buffer.copy_(buffer)
