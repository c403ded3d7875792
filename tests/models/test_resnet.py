"""The normalisation-free resnet: shapes and gradients at every size, no normalisation layer,
and residual branches that start at zero."""

import pytest
import torch
from torch import nn

from ganforge.models import build_discriminator, build_generator
from ganforge.models.resnet import ResidualBlock


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_gradients(size, num_classes):
    torch.manual_seed(0)
    generator = build_generator("resnet", z_dim=16, channels=3, image_size=size, num_classes=num_classes,
                                ngf=8)
    discriminator = build_discriminator("resnet", channels=3, image_size=size, num_classes=num_classes,
                                        ndf=8, minibatch_std=2)
    labels = torch.arange(4) % 10 if num_classes else None
    images = generator(torch.randn(4, 16), labels)
    assert images.shape == (4, 3, size, size) and images.abs().max() <= 1
    logits = discriminator(images, labels)
    assert logits.shape == (4,)
    logits.sum().backward()
    for network in (generator, discriminator):
        assert all(parameter.grad is not None for parameter in network.parameters())
        assert not any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in network.modules())


def test_residual_branches_start_at_zero():
    generator = build_generator("resnet", z_dim=16, channels=3, image_size=28, ngf=8)
    blocks = [module for module in generator.modules() if isinstance(module, ResidualBlock)]
    assert blocks and all(not block.branch[-1].weight.any() for block in blocks)
    block = ResidualBlock(8, 8)
    x = torch.randn(2, 8, 7, 7)
    assert torch.equal(block(x), x)  # the identity until it learns
