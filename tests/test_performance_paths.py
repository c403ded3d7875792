"""The fast paths compute the same function as PyTorch's own layers (speed never changes results)."""

import copy

import pytest
import torch
from torch import nn

from ganforge.losses import LOSSES
from ganforge.models import build_discriminator, build_generator
from ganforge.models.layers import ConvTranspose2d, with_plain_layers
from ganforge.training.steps import STAT_NAMES, Gan, train_step


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, size, bias", [
    (64, 256, 3, 2, 1, False), (256, 128, 4, 1, 3, False), (128, 64, 3, 2, 6, False),
    (64, 1, 4, 2, 13, True), (8, 3, 5, 3, 4, True),
])
def test_gemm_conv_transpose_matches_pytorch(in_channels, out_channels, kernel, stride, size, bias):
    torch.manual_seed(0)
    fast = ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=bias)
    plain = nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=bias)
    plain.load_state_dict(fast.state_dict())
    images = torch.randn(5, in_channels, size, size)
    fast_in, plain_in = images.clone().requires_grad_(), images.clone().requires_grad_()
    fast_out, plain_out = fast(fast_in), plain(plain_in)
    torch.testing.assert_close(fast_out, plain_out, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(plain_out)
    fast_out.backward(grad)
    plain_out.backward(grad)
    torch.testing.assert_close(fast_in.grad, plain_in.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, atol=1e-4, rtol=1e-4)
    if bias:
        torch.testing.assert_close(fast.bias.grad, plain.bias.grad, atol=1e-4, rtol=1e-4)


def make_gan(plain: bool, channels_last: bool) -> Gan:
    torch.manual_seed(0)
    generator = build_generator("dcgan28", z_dim=16, channels=1, image_size=28)
    discriminator = build_discriminator("dcgan28", channels=1, image_size=28)
    if plain:
        with_plain_layers(generator)
    if channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    return Gan(generator, discriminator,
               torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.99)),
               torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.99)),
               LOSSES.get("bce"))


def test_optimised_step_matches_plain_reference_step():
    reference, optimised = make_gan(plain=True, channels_last=False), make_gan(False, True)
    assert all(isinstance(m, nn.ConvTranspose2d) and not isinstance(m, ConvTranspose2d)
               for m in reference.generator.modules() if isinstance(m, nn.ConvTranspose2d))
    torch.manual_seed(1)
    batches = [(torch.rand(32, 1, 28, 28) * 2 - 1, torch.randn(32, 16)) for _ in range(3)]
    for index, (real_images, z) in enumerate(batches):
        expected = train_step(reference, real_images, z)
        actual = train_step(optimised, real_images, z)
        norms = [STAT_NAMES.index("grad_norm_d"), STAT_NAMES.index("grad_norm_g")]
        scores = [position for position in range(len(STAT_NAMES)) if position not in norms]
        torch.testing.assert_close(actual[scores], expected[scores], atol=1e-4, rtol=1e-4)
        # A gradient norm is the most sensitive number here: after an Adam step or two, the
        # paths' last-bit differences in tiny gradients move it by up to ~0.5 %.
        torch.testing.assert_close(actual[norms], expected[norms], atol=1e-4, rtol=1e-2)
        if index == 0:  # same weights so far: the gradients of both networks must agree
            for network in ("generator", "discriminator"):
                for plain_param, fast_param in zip(getattr(reference, network).parameters(),
                                                   getattr(optimised, network).parameters()):
                    torch.testing.assert_close(fast_param.grad, plain_param.grad,
                                               atol=1e-5, rtol=1e-3)


def test_plain_copy_shares_the_state_dict():
    generator = build_generator("dcgan28", z_dim=8, channels=1, image_size=28)
    before = copy.deepcopy(generator.state_dict())
    with_plain_layers(generator)
    assert generator.state_dict().keys() == before.keys()
