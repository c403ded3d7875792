"""The fused CPU kernels compute what PyTorch's operations do, and the layers fall back to those
operations where the kernels cannot run."""

import copy
import dataclasses

import pytest
import torch
from torch import nn

from ganforge import ops
from ganforge.models import build_discriminator, build_generator
from ganforge.ops.cpu import conv as cpu_conv
from ganforge.ops.cpu import kernels as cpu_kernels
from ganforge.ops.cpu import winograd
from ganforge.ops.cpu.layers import BatchNorm2dActivation, fuse_batch_norm_activations
from ganforge.training.step import train_step
from helpers import CPU, assert_same_function, small_trainer

pytestmark = pytest.mark.skipif(not cpu_kernels.available(),
                                reason="no C++ compiler or ninja: the kernels cannot be built")


def norm_and_activation(norm: nn.Module, activation: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    nn.init.uniform_(norm.weight, 0.5, 1.5)
    nn.init.normal_(norm.bias, 0.0, 0.1)
    return nn.Sequential(norm, activation)


@pytest.mark.parametrize("norm, activation, shape", [
    (nn.BatchNorm2d(16), nn.ReLU(inplace=True), (8, 16, 5, 5)),
    (nn.BatchNorm2d(12, momentum=None), nn.LeakyReLU(0.2, inplace=True), (6, 12, 3, 4)),
])
def test_fused_batch_norm_activation_trains_as_pytorch(norm, activation, shape):
    """Outputs, input and parameter gradients, running statistics and the batch count after two
    training calls; then evaluation (running statistics) agrees too."""
    plain = norm_and_activation(norm, activation)
    fused = fuse_batch_norm_activations(copy.deepcopy(plain))
    assert isinstance(fused[0], BatchNorm2dActivation)
    assert isinstance(fused[1], nn.Identity)
    for call in range(2):
        torch.manual_seed(call)
        images = (torch.randn(shape) * 2 + 0.5).contiguous(memory_format=torch.channels_last)
        assert_same_function(fused, plain, images)
        for module in (fused, plain):
            module.zero_grad()
    for name, buffer in plain[0].named_buffers():
        torch.testing.assert_close(getattr(fused[0], name), buffer, atol=1e-6, rtol=1e-5)
    fused.eval()
    plain.eval()
    torch.testing.assert_close(fused(images), plain(images), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels, kernel, stride, size", [
    (64, 3, 2, 6), (16, 5, 2, 5), (8, 2, 3, 3), (1, 4, 2, 13), (3, 3, 1, 4), (2, 2, 3, 1),
])
def test_fused_spread_matches_the_product_and_col2im(channels, kernel, stride, size):
    """Many channels (gathered per output pixel) and few (scattered per image, from transposed
    columns where k*k*C is not a multiple of 8), strides larger than the kernel (gaps), and a batch
    that the kernel's blocks of images do not divide."""
    torch.manual_seed(0)
    batch, out_size = cpu_kernels.BLOCK_IMAGES + 3, (size - 1) * stride + kernel
    rows, matrix = torch.randn(batch * size * size, 5), torch.randn(kernel * kernel * channels, 5)
    expected = cpu_conv.col2im(rows @ matrix.t(), batch, size, size, kernel, stride, out_size,
                               out_size)
    actual = cpu_kernels.spread(rows, matrix, batch, size, size, kernel, stride, out_size, out_size)
    assert actual.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels, kernel, stride, size", [(64, 3, 2, 13), (16, 5, 2, 13), (8, 2, 3, 9)])
def test_fused_weight_gradient_matches_im2col_and_a_product(channels, kernel, stride, size):
    """Overlapping patches, gaps between them (stride > kernel), a batch the kernel's blocks of
    images do not divide."""
    torch.manual_seed(0)
    batch, small = cpu_kernels.BLOCK_IMAGES + 3, (size - kernel) // stride + 1
    larger = torch.randn(batch, channels, size, size).contiguous(memory_format=torch.channels_last)
    smaller = torch.randn(batch, 6, small, small).contiguous(memory_format=torch.channels_last)
    rows = cpu_conv.im2col(cpu_conv.nhwc(larger), kernel, stride, small, small)
    expected = rows.t() @ cpu_conv.nhwc(smaller).reshape(-1, 6)
    actual = cpu_kernels.weight_gradient(larger, smaller, kernel, stride)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-5)


def test_fused_toom_cook_transforms_match_the_products():
    torch.manual_seed(0)
    images = torch.randn(4, 6, 3, 3).contiguous(memory_format=torch.channels_last)
    to_rows, to_columns, _, from_rows, from_columns = winograd.layer_transforms(
        3, 3, 4, images.device, images.dtype)
    points = torch.ops.ganforge.to_points(images, to_rows, to_columns)
    expected = winograd._transform(to_rows, to_columns, winograd._planes(images)).view(36, 4, 6)
    torch.testing.assert_close(points, expected, atol=1e-6, rtol=1e-5)
    back = torch.ops.ganforge.from_points(points, from_rows, from_columns)
    planes = winograd._transform(from_rows, from_columns, expected.view(6, 6, -1))
    torch.testing.assert_close(back, winograd._images(planes, 4), atol=1e-5, rtol=1e-5)


def test_fusing_keeps_the_state_dict_and_plain_layers_undo_it():
    generator = build_generator("dcgan28", z_dim=8, channels=1, image_size=28)
    discriminator = build_discriminator("dcgan28", channels=1, image_size=28, dropout=0.3)
    for model in (generator, discriminator):
        before = copy.deepcopy(model)
        ops.accelerate(model, CPU)
        assert any(isinstance(m, BatchNorm2dActivation) for m in model.modules())
        state, original = model.state_dict(), before.state_dict()
        assert state.keys() == original.keys()
        assert all(torch.equal(state[key], original[key]) for key in state)
        ops.plain(model)
        assert [type(m) for m in model.modules()] == [type(m) for m in before.modules()]
        assert repr(model) == repr(before)


def test_cpu_sessions_fuse_batch_norm_but_not_under_a_gradient_penalty():
    fused = small_trainer([])
    assert any(isinstance(m, BatchNorm2dActivation) for m in fused.gan.generator.modules())
    assert any(isinstance(m, BatchNorm2dActivation) for m in fused.gan.discriminator.modules())
    penalised = small_trainer([("loss.name", "wgan-gp")])
    assert any(isinstance(m, BatchNorm2dActivation) for m in penalised.gan.generator.modules())
    assert not any(isinstance(m, BatchNorm2dActivation)
                   for m in penalised.gan.discriminator.modules())


def test_total_norm_is_the_norm_of_every_element():
    """Plain and channels_last tensors alike, to float64's answer within float32 rounding."""
    torch.manual_seed(0)
    tensors = [torch.randn(64, 32, 3, 3).contiguous(memory_format=torch.channels_last),
               torch.randn(5000), torch.randn(3, 7)]
    assert cpu_kernels.takes_norm(tensors)
    expected = torch.cat([t.reshape(-1) for t in tensors]).double().norm()
    torch.testing.assert_close(torch.ops.ganforge.total_norm(tensors).double(), expected,
                               atol=0, rtol=1e-6)
    assert not cpu_kernels.takes_norm([tensors[0][:, :, :2]])  # not dense: PyTorch's norm


@pytest.mark.parametrize("preset, kernels", [("mnist-course", True), ("mnist-dcgan", True),
                                             ("mnist-course", False)])
def test_one_discriminator_pass_over_real_and_fake_is_two_passes(monkeypatch, preset, kernels):
    """D's real and fake batches in one call, BatchNorm statistics per batch (the fused kernel's
    groups, or PyTorch's BatchNorm block by block where the kernels cannot be built): a step's
    losses, scores and gradient norms, every gradient and the running statistics are those of two
    calls (joint statistics would move the BatchNorm buffers by whole per cents)."""
    if not kernels:
        monkeypatch.setattr(cpu_kernels, "available", lambda: False)
    joint, apart = (small_trainer([], preset) for _ in range(2))
    assert joint.gan.options.joint_discriminator
    apart.gan.options = dataclasses.replace(apart.gan.options, joint_discriminator=False)
    real_images = next(joint.batches.epoch(0))[0]
    torch.manual_seed(0)  # (mnist-course's G step draws fresh noise)
    joint_stats = train_step(joint.gan, real_images, joint.noise(0))
    torch.manual_seed(0)
    torch.testing.assert_close(joint_stats, train_step(apart.gan, real_images, apart.noise(0)),
                               atol=1e-5, rtol=1e-5)
    for network in ("generator", "discriminator"):
        joint_net, apart_net = getattr(joint.gan, network), getattr(apart.gan, network)
        for joint_buffer, apart_buffer in zip(joint_net.buffers(), apart_net.buffers()):
            torch.testing.assert_close(joint_buffer, apart_buffer, atol=1e-6, rtol=1e-5)
        for joint_param, apart_param in zip(joint_net.parameters(), apart_net.parameters()):
            torch.testing.assert_close(joint_param.grad, apart_param.grad, atol=1e-5, rtol=1e-3)
