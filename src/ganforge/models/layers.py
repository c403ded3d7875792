"""Building blocks shared by the models."""

from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al.): conv weights N(0, 0.02), BatchNorm N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
