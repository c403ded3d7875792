"""Building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al.): conv weights N(0, 0.02), BatchNorm N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class LabelEmbedding(nn.Module):
    """Conditional generators see z concatenated with a learned embedding of the label."""

    def __init__(self, num_classes: int, z_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.out_dim = z_dim * 2 if num_classes else z_dim

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        return torch.cat([z, self.embed(labels)], dim=1)


class Projection(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018): logit + <embed(y), features>."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:  # small, so the class term starts as a nudge, not the logit
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, logits: torch.Tensor, features: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return logits
        if labels is None:
            raise ValueError("a conditional discriminator needs labels")
        return logits + (self.embed(labels) * features).sum(dim=1)


def leaky_relu(dropout: float) -> list[nn.Module]:
    """LeakyReLU(0.2), followed by dropout when asked (the exercise's D regulariser)."""
    return [nn.LeakyReLU(0.2, inplace=True)] + ([nn.Dropout(dropout)] if dropout else [])


def without_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in `module` by Identity (the 'BatchNorm off in D' option)."""
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(module, name, nn.Identity())
        else:
            without_batch_norm(child)
    return module


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every convolution and linear layer."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


def balanced_labels(count: int, num_classes: int, device=None) -> torch.Tensor | None:
    """0, 1, ..., k-1, 0, 1, ... for a conditional generator; None for an unconditional one."""
    return torch.arange(count, device=device) % num_classes if num_classes else None
