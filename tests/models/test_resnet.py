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


def _conv_widths(network: nn.Module, inputs: torch.Tensor) -> dict[int, int]:
    """The widest convolution output at each side length, from one forward pass."""
    widths: dict[int, int] = {}

    def record(module, args, output):
        widths[output.shape[-1]] = max(widths.get(output.shape[-1], 0), output.shape[1])

    for conv in (module for module in network.modules() if isinstance(module, nn.Conv2d)):
        conv.register_forward_hook(record)
    network(inputs)
    return dict(sorted(widths.items()))


@pytest.mark.parametrize("size", [28, 64])
def test_width_changes_at_the_lower_resolution(size):
    """G narrows before each doubling and D widens after each halving, so the full-size
    convolutions stay ngf/ndf wide (changing width at the full size cost 2.5-3 times the
    arithmetic there)."""
    generator = build_generator("resnet", z_dim=16, channels=3, image_size=size, ngf=8)
    discriminator = build_discriminator("resnet", channels=3, image_size=size, ndf=8)
    assert _conv_widths(generator, torch.randn(2, 16))[size] == 8
    widths = _conv_widths(discriminator, torch.randn(2, 3, size, size))
    # (D from the lowest resolution: 4 ndf, 2 ndf, then ndf up to the full size)
    assert list(widths.values()) == [8 * max(1, 4 >> index) for index in range(len(widths))]
    assert list(widths)[-1] == size
