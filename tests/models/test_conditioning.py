"""How a conditional G hears z and the label, and the D options that let D see diversity."""

import pytest
import torch
from torch import nn

from ganforge import ops
from ganforge.losses import mode_seeking_penalty
from ganforge.models import build_discriminator, build_generator
from ganforge.models.layers import ConditionalBatchNorm, MinibatchStd, normalize_2nd_moment

GENERATORS = [("dcgan28", 28, {}), ("dcgan", 28, {"ngf": 8}), ("dcgan", 32, {"ngf": 8}),
              ("dcgan", 64, {"ngf": 8}), ("mlp", 28, {})]


def conditional_generator(name, size, widths, conditioning="cbn"):
    torch.manual_seed(0)
    return build_generator(name, z_dim=32, channels=1, image_size=size, num_classes=10,
                           conditioning=conditioning, **widths)


@pytest.mark.parametrize("name, size, widths", GENERATORS)
def test_z_reaches_every_block(name, size, widths):
    """Each chunk of z feeds its own block: its gradient is non-zero, and changing it alone
    changes the image."""
    generator = conditional_generator(name, size, widths)
    blocks = sum(isinstance(module, ConditionalBatchNorm) for module in generator.modules())
    chunks = generator.condition.chunks
    assert len(chunks) == blocks + 1 and sum(chunks) == 32
    z = torch.randn(6, 32, requires_grad=True)
    labels = torch.arange(6)
    generator(z, labels).square().mean().backward()
    for index, gradient in enumerate(z.grad.split(chunks, dim=1)):
        assert gradient.abs().sum() > 0, f"chunk {index} gets no gradient"
    generator.eval()
    with torch.no_grad():
        base = generator(z, labels)
        for index, start in enumerate(torch.tensor([0, *chunks]).cumsum(0)[:-1].tolist()):
            moved = z.detach().clone()
            moved[:, start:start + chunks[index]] += 1
            assert (generator(moved, labels) - base).abs().max() > 1e-3, f"chunk {index} is ignored"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit's deprecation notice
@pytest.mark.parametrize("name, size, widths", GENERATORS)
def test_conditional_generators_run_accelerated_and_traced(name, size, widths):
    """The same images with the fast layers, and a trace (as TorchScript/ONNX export make)
    that takes any batch size."""
    generator = conditional_generator(name, size, widths)
    z, labels = torch.randn(4, 32), torch.arange(4)
    generator.eval()
    expected = generator(z, labels)
    ops.accelerate(generator, torch.device("cpu"), fuse_batch_norm=False)
    torch.testing.assert_close(generator(z, labels), expected, atol=1e-5, rtol=1e-5)
    traced = torch.jit.trace(ops.plain(generator), (z, labels))
    assert traced(torch.randn(7, 32), torch.arange(7)).shape == (7, 1, size, size)


def test_input_conditioning_keeps_the_old_layout():
    """Checkpoints made before `cbn` (z and the label at the input only) still load."""
    generator = build_generator("dcgan", z_dim=64, channels=1, image_size=28, ngf=32, num_classes=10)
    keys = list(generator.state_dict())
    assert keys[:4] == ["condition.embed.weight", "net.0.weight", "net.1.weight", "net.1.bias"]
    assert generator.net[0].in_channels == 128
    assert not any(isinstance(module, ConditionalBatchNorm) for module in generator.modules())


def test_normalize_2nd_moment():
    x = torch.randn(5, 12) * torch.tensor([[0.1], [1], [3], [10], [100]])
    assert torch.allclose(normalize_2nd_moment(x).square().mean(dim=1), torch.ones(5), atol=1e-5)


def test_conditional_batch_norm_is_the_formula():
    torch.manual_seed(0)
    layer = ConditionalBatchNorm(3, 5)
    x, condition = torch.randn(8, 3, 4, 4), torch.randn(8, 5)
    normalised = nn.functional.batch_norm(x, None, None, training=True)
    expected = normalised * (1 + condition @ layer.gain.weight.T)[:, :, None, None] \
        + (condition @ layer.bias.weight.T)[:, :, None, None]
    torch.testing.assert_close(layer(x, condition), expected, atol=1e-5, rtol=1e-5)


def test_minibatch_std_sees_look_alikes():
    layer = MinibatchStd(4)
    varied = torch.randn(8, 3, 5, 5)
    same = varied[:1].expand(8, 3, 5, 5)
    assert layer(varied).shape == (8, 4, 5, 5)
    assert layer(same)[:, 3].max() < 1e-3 < layer(varied)[:, 3].min()
    # Groups are consecutive samples: a stacked batch's halves never share one.
    torch.testing.assert_close(layer(torch.cat([varied, same])), torch.cat([layer(varied), layer(same)]))
    assert layer(torch.randn(6, 7)).shape == (6, 8)  # flat features; 6 = groups of 2
    # The feature is the group's population std of each value, averaged: ProGAN's definition.
    expected = varied.reshape(2, 4, 75).std(dim=1, unbiased=False).mean(dim=1).repeat_interleave(4)
    torch.testing.assert_close(layer(varied)[:, 3, 0, 0], expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name, size, widths", [("dcgan28", 28, {}), ("dcgan", 32, {"ndf": 8}),
                                                ("mlp", 28, {})])
def test_minibatch_std_lets_d_compare_samples(name, size, widths):
    """With the option, D's score of an image depends on the others in its group."""
    torch.manual_seed(0)
    images = torch.randn(4, 1, size, size)
    changed = images.clone()
    changed[1] = torch.randn(1, size, size)
    for group, depends in ((0, False), (4, True)):
        discriminator = build_discriminator(name, channels=1, image_size=size, minibatch_std=group,
                                            batch_norm=False, dropout=0.0, **widths).eval()
        with torch.no_grad():
            moved = (discriminator(images)[0] - discriminator(changed)[0]).abs()
        assert (moved > 1e-6) == depends, (name, group)


def test_mode_seeking_penalty():
    z = torch.randn(8, 16)
    varied = torch.randn(8, 1, 6, 6)
    alike = varied[:1].expand(8, 1, 6, 6)
    assert mode_seeking_penalty(alike, z) > 1000 * mode_seeking_penalty(varied, z)
    # Conditional: pairs of one label only (0 with 0, 1 with 1, ...)
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 3, 4])
    per_label = varied.clone()
    per_label[labels == 0] = varied[0]  # the two 0s alike
    assert mode_seeking_penalty(per_label, z, labels) > mode_seeking_penalty(varied, z, labels)
    images = varied.clone().requires_grad_()
    mode_seeking_penalty(images, z).backward()
    assert images.grad.abs().sum() > 0
