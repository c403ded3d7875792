"""FastGAN: shapes and gradients at every size, skip-layer excitation, the self-supervised D."""

from __future__ import annotations

import pytest
import torch

from ganforge.config import parse_override, resolve
from ganforge.data.augment import color, diff_augment
from ganforge.errors import ConfigError
from ganforge.models import build_discriminator, build_generator
from ganforge.models.fastgan import SkipExcitation
from ganforge.training.options import StepOptions


@pytest.mark.parametrize("size", [64, 128, 256])
def test_shapes_and_gradients_reach_every_layer(size):
    torch.manual_seed(0)
    generator = build_generator("fastgan", z_dim=16, channels=3, image_size=size, ngf=8)
    discriminator = build_discriminator("fastgan", channels=3, image_size=size, ndf=8,
                                        spectral_norm=True)
    z = torch.randn(4, 16, requires_grad=True)
    images = generator(z)
    assert images.shape == (4, 3, size, size) and images.abs().max() <= 1
    # one gate per block from 64 px up, each fed by the block 16x smaller
    assert sorted(map(int, generator.excitations)) == [r for r in (64, 128, 256) if r <= size]
    logits = discriminator(images)
    assert logits.shape == (4,)
    (logits.sum() + discriminator.reconstruction_loss(images)).backward()
    assert z.grad.abs().sum() > 0
    for module in (generator, discriminator):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_skip_excitation_gates_channels_by_the_small_block():
    torch.manual_seed(0)
    excitation = SkipExcitation(low_channels=6, high_channels=5)
    high = torch.randn(2, 5, 32, 32)
    gated = excitation(torch.randn(2, 6, 4, 4), high)
    ratio = gated / high
    # one factor in (0, 1) per image and channel, the same at every pixel
    assert ((ratio > 0) & (ratio < 1)).all()
    torch.testing.assert_close(ratio, ratio[..., :1, :1].expand_as(ratio))
    other = excitation(torch.randn(2, 6, 4, 4), high)
    assert not torch.allclose(gated, other)


def test_reconstruction_loss_falls_on_a_toy():
    """D alone, trained on its reconstruction loss for a fixed batch, learns to describe it."""
    torch.manual_seed(0)
    discriminator = build_discriminator("fastgan", channels=3, image_size=64, ndf=8)
    images = torch.rand(8, 3, 64, 64) * 2 - 1
    images = torch.nn.functional.avg_pool2d(images, 9, 1, 4)  # smooth: something to learn
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = discriminator.reconstruction_loss(images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_color_augmentation():
    torch.manual_seed(0)
    images = torch.rand(16, 3, 8, 8, requires_grad=True) * 2 - 1
    out = color(images)
    assert out.shape == images.shape
    out.sum().backward()
    shift = (out - images).mean(dim=(1, 2, 3))
    assert shift.std() > 0.05  # each image its own draw
    gray = torch.rand(4, 1, 8, 8)
    assert diff_augment(gray, "color,translation,cutout").shape == gray.shape


def test_config_rules():
    config = resolve("folder-fastgan128", overrides=[parse_override("data.path=.")])
    assert StepOptions.from_config(config).reconstruction == 1.0
    assert config.train.diffaugment == "color,translation,cutout" and config.train.ema_rampup > 0
    with pytest.raises(ConfigError, match="model 'fastgan' is unconditional"):
        resolve("mnist-cgan", overrides=[parse_override("model.name=fastgan")])
    with pytest.raises(ConfigError, match="loss.reconstruction needs a discriminator with decoders"):
        resolve("mnist-dcgan", overrides=[parse_override("loss.reconstruction=1")])
    off = resolve("folder-fastgan64", overrides=[parse_override("data.path=."),
                                                     parse_override("loss.reconstruction=0")])
    assert StepOptions.from_config(off).reconstruction == 0
