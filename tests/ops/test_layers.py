"""The fast paths compute the same function as PyTorch's own layers (speed never changes results)."""

import copy
import platform
import sys

import pytest
import torch
from torch import nn

from ganforge import ops
from ganforge.config import resolve
from ganforge.losses import gradient_penalty, r1_penalty
from ganforge.models import build, build_discriminator
from ganforge.ops import host_memory
from ganforge.ops.cpu import kernels, winograd
from ganforge.ops.cpu.layers import Conv2d, ConvTranspose2d
from ganforge.training import setup
from ganforge.training import trainer as trainer_module
from ganforge.training.step import STAT_NAMES, train_step
from helpers import CPU, assert_same_function, make_gan, small_trainer, three_batches


# The generators' and discriminators' shapes, plus odd ones (stride > kernel leaves gaps; a
# stride that does not divide the input leaves pixels no patch reads). Between them they take
# every pass's two ways: oneDNN's kernel, or a matrix product (1x1 sides, image-like outputs), and
# the Winograd path.
@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, size, bias", [
    (64, 256, 3, 2, 1, False), (256, 128, 4, 1, 3, False), (128, 64, 3, 2, 6, False),
    (64, 1, 4, 2, 13, True), (8, 3, 5, 3, 4, True), (4, 2, 2, 3, 1, False),
    (6, 5, 2, 1, 4, True), (5, 7, 3, 1, 2, False), (4, 2, 2, 3, 3, False),
])
def test_cpu_conv_transpose_matches_pytorch(in_channels, out_channels, kernel, stride, size, bias):
    torch.manual_seed(0)
    assert_same_function(ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=bias),
                         nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=bias),
                         torch.randn(5, in_channels, size, size))


def test_winograd_path_takes_the_course_layer_and_non_square_inputs():
    assert winograd.applies(3, 3, 4) and not winograd.applies(1, 1, 4) and not winograd.applies(6, 6, 3)
    torch.manual_seed(0)
    assert_same_function(ConvTranspose2d(6, 4, 3, 1), nn.ConvTranspose2d(6, 4, 3, 1),
                         torch.randn(3, 6, 3, 2))


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, size, bias", [
    (1, 16, 3, 2, 28, False), (16, 32, 5, 2, 13, False), (32, 64, 5, 2, 5, False),
    (3, 8, 4, 3, 11, True), (2, 4, 1, 1, 3, True), (32, 8, 3, 2, 7, False), (8, 6, 3, 2, 8, False),
    (33, 64, 5, 2, 13, False),  # a minibatch-std channel: 5*5*33 input-gradient columns, not 8k
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cpu_conv_matches_pytorch(in_channels, out_channels, kernel, stride, size, bias,
                                   channels_last):
    torch.manual_seed(0)
    images = torch.randn(5, in_channels, size, size)
    if channels_last:
        images = images.to(memory_format=torch.channels_last)
    assert_same_function(Conv2d(in_channels, out_channels, kernel, stride, bias=bias),
                         nn.Conv2d(in_channels, out_channels, kernel, stride, bias=bias), images)


def test_non_square_images_with_unread_pixels_on_one_axis():
    torch.manual_seed(0)
    images = torch.randn(3, 8, 9, 12).to(memory_format=torch.channels_last)
    assert_same_function(Conv2d(8, 6, 3, 2), nn.Conv2d(8, 6, 3, 2), images)
    assert_same_function(ConvTranspose2d(8, 6, 3, 2), nn.ConvTranspose2d(8, 6, 3, 2), images)
    # An RGB image: its patches are copied tap by tap (the few-channel im2col).
    assert_same_function(Conv2d(3, 6, 3, 2), nn.Conv2d(3, 6, 3, 2), images[:, :3])


@pytest.mark.parametrize("penalty", ["gradient_penalty", "r1"])
def test_penalties_differentiate_through_the_fast_layers_twice(penalty):
    """Gradient penalties take the gradient of D's input gradient: the fast layers' backward
    passes must themselves be differentiable in D's weights (float64: exact up to rounding)."""
    torch.manual_seed(0)
    fast = ops.accelerate(build_discriminator("dcgan28", channels=1, image_size=28).double(), CPU,
                          fuse_batch_norm=False)  # as set up under a penalty
    plain = ops.plain(copy.deepcopy(fast))
    real_images, fake_images = (torch.randn(6, 1, 28, 28, dtype=torch.float64) for _ in range(2))
    for discriminator in (fast, plain):
        torch.manual_seed(1)  # the penalty's random interpolation
        if penalty == "r1":
            images = real_images.clone().requires_grad_(True)
            value = r1_penalty(discriminator(images), images)
        else:
            value = gradient_penalty(discriminator, real_images, fake_images)
        value.backward()
    for fast_param, plain_param in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(fast_param.grad, plain_param.grad, atol=1e-10, rtol=1e-8)


def test_winograd_refuses_a_second_derivative():
    torch.manual_seed(0)
    layer, images = ConvTranspose2d(6, 4, 3, 1), torch.randn(2, 6, 3, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(images).square().sum(), images, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|twice"):
        grad.sum().backward()


def test_layers_without_a_gemm_path_fall_back_to_pytorch():
    torch.manual_seed(0)
    assert_same_function(Conv2d(3, 4, 4, 2, padding=1), nn.Conv2d(3, 4, 4, 2, padding=1),
                         torch.randn(2, 3, 8, 8))
    assert_same_function(ConvTranspose2d(3, 4, 4, 2, padding=1),
                         nn.ConvTranspose2d(3, 4, 4, 2, padding=1), torch.randn(2, 3, 4, 4))


def test_optimised_step_matches_plain_reference_step_in_float64():
    """Exact arithmetic up to float64 rounding: the same losses, scores and gradients.

    In float64 the paths' rounding (~1e-15) cannot move a pre-activation across ReLU's kink;
    in float32 it can (the transforms' ~1e-6 become ~1e-5 after BatchNorm), and one flipped
    ReLU changes a layer's gradient by ~1 %, which is noise, not a different function.
    """
    reference = make_gan(plain=True, channels_last=False, dtype=torch.float64)
    optimised = make_gan(plain=False, channels_last=True, dtype=torch.float64)
    for network in (reference.generator, reference.discriminator):
        assert not any(isinstance(m, (Conv2d, ConvTranspose2d)) for m in network.modules())
    assert any(isinstance(m, Conv2d) for m in optimised.discriminator.modules())
    for real_images, z in three_batches(torch.float64):
        expected = train_step(reference, real_images, z)
        actual = train_step(optimised, real_images, z)
        torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-8)
        for network in ("generator", "discriminator"):
            for plain_param, fast_param in zip(getattr(reference, network).parameters(),
                                               getattr(optimised, network).parameters()):
                torch.testing.assert_close(fast_param.grad, plain_param.grad, atol=1e-10, rtol=1e-7)
                torch.testing.assert_close(fast_param, plain_param, atol=1e-10, rtol=1e-8)


def test_optimised_step_matches_plain_reference_step_in_float32():
    """The production precision: the first step's losses and scores agree to 1e-4; later steps
    drift a little (Adam's first updates are +-lr whatever a gradient's size, so last-bit
    differences in near-zero gradients move weights by 2e-4), to within 0.5 %. Gradient norms
    take a flipped ReLU (see above) at full weight: within 3 %."""
    reference, optimised = make_gan(), make_gan(plain=False, channels_last=True)
    norms = [STAT_NAMES.index("grad_norm_d"), STAT_NAMES.index("grad_norm_g")]
    scores = [position for position in range(len(STAT_NAMES)) if position not in norms]
    for index, (real_images, z) in enumerate(three_batches(torch.float32)):
        expected = train_step(reference, real_images, z)
        actual = train_step(optimised, real_images, z)
        tolerance = 1e-4 if index == 0 else 5e-3
        torch.testing.assert_close(actual[scores], expected[scores], atol=tolerance, rtol=tolerance)
        torch.testing.assert_close(actual[norms], expected[norms], atol=1e-4, rtol=3e-2)


def test_accelerate_and_plain_swap_layers_in_place_and_keep_spectral_norm():
    """The swaps keep every parameter and buffer, and a spectral-norm D keeps its parametrization
    (its fast convolutions see the normalised weight), both ways."""
    torch.manual_seed(0)
    built = build(resolve("mnist-hinge-sn").model, (1, 28, 10))
    discriminator = built.discriminator.eval()
    images = torch.randn(4, 1, 28, 28)
    before = {key: value.clone() for key, value in discriminator.state_dict().items()}
    expected = discriminator(images)
    ops.accelerate(discriminator, CPU)
    assert any(isinstance(m, Conv2d) and torch.nn.utils.parametrize.is_parametrized(m)
               for m in discriminator.modules())
    torch.testing.assert_close(discriminator(images), expected, atol=1e-5, rtol=1e-5)
    ops.plain(discriminator)
    assert not any(isinstance(m, (Conv2d, ConvTranspose2d)) for m in discriminator.modules())
    torch.testing.assert_close(discriminator(images), expected, atol=1e-6, rtol=1e-6)
    assert all(torch.equal(before[key], value) for key, value in discriminator.state_dict().items()
               if "_u" not in key)  # spectral norm's power-iteration vectors step in training only


def three_steps(trainer) -> torch.Tensor:
    """The stats of the first three training steps of a small dcgan28 trainer."""
    batches = trainer.batches.epoch(0)
    return torch.stack([train_step(trainer.gan, next(batches)[0], trainer.noise(step))
                        for step in range(3)])


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_cpu_sessions_keep_freed_memory_for_the_next_step(monkeypatch):
    """glibc takes the thresholds (it refuses values out of range), and a CPU trainer sets them
    before its first step."""
    assert host_memory.keep_freed_memory()
    calls = []
    monkeypatch.setattr(trainer_module, "keep_freed_memory", lambda: calls.append(True))
    small_trainer([])
    assert calls == [True]


@pytest.mark.slow
def test_compiled_models_train_as_the_eager_ones(monkeypatch):
    """train.compile wraps G and D in torch.compile (graph capture of the fast layers' autograd
    functions included), leaves their state dicts plain, and the steps compute what the eager
    ones do (up to rounding, which Adam's first updates amplify to a few per mille in the
    gradient norms on some CPUs)."""
    monkeypatch.setattr(setup, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    trainer = small_trainer([("train.compile", "default")])
    assert "_compiled_call_impl" in vars(trainer.gan.generator)
    assert not any(key.startswith("_orig_mod") for key in trainer.gan.generator.state_dict())
    torch.testing.assert_close(three_steps(trainer), three_steps(small_trainer([])),
                               atol=1e-4, rtol=1e-2)


def test_bf16_autocast_trains_close_to_fp32():
    """train.precision=bf16 runs the forward passes in bfloat16 (8-bit mantissa): the first
    step's scores agree with fp32 to a few per cent, and training stays finite."""
    bf16 = three_steps(small_trainer([("train.precision", "bf16")]))
    fp32 = three_steps(small_trainer([]))
    assert torch.isfinite(bf16).all()
    torch.testing.assert_close(bf16[0, :4], fp32[0, :4], atol=0.03, rtol=0.05)
    assert not torch.equal(bf16, fp32)


# No biases: adding one would copy the output and hide a view.
@pytest.mark.parametrize("fast, plain, size", [
    (Conv2d(4, 8, 3, 2, bias=False), nn.Conv2d(4, 8, 3, 2, bias=False), 9),
    (Conv2d(4, 8, 3, 2, bias=False), nn.Conv2d(4, 8, 3, 2, bias=False), 3),  # 1x1: the product
    (ConvTranspose2d(4, 8, 3, 2, bias=False), nn.ConvTranspose2d(4, 8, 3, 2, bias=False), 3),
    (ConvTranspose2d(4, 2, 3, 2, bias=False), nn.ConvTranspose2d(4, 2, 3, 2, bias=False), 3),
    (ConvTranspose2d(4, 8, 4, 1, bias=False), nn.ConvTranspose2d(4, 8, 4, 1, bias=False), 3),  # Winograd
])
def test_fast_layer_outputs_take_in_place_activations(fast, plain, size):
    """A discriminator without BatchNorm feeds a convolution straight into LeakyReLU(inplace):
    the fast layers' outputs must be tensors of their own, not views autograd forbids to modify."""
    torch.manual_seed(0)
    assert_same_function(nn.Sequential(fast, nn.LeakyReLU(0.2, inplace=True)),
                         nn.Sequential(plain, nn.LeakyReLU(0.2, inplace=True)),
                         torch.randn(2, 4, size, size))


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, size", [
    (128, 64, 3, 2, 6), (64, 1, 4, 2, 13), (256, 128, 4, 1, 3),
])
def test_layers_without_the_kernels_compute_the_same(monkeypatch, in_channels, out_channels,
                                                      kernel, stride, size):
    """Where the kernels cannot be built, oneDNN, col2im and the transforms in PyTorch serve."""
    monkeypatch.setattr(kernels, "available", lambda: False)
    torch.manual_seed(0)
    assert_same_function(ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=False),
                         nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=False),
                         torch.randn(4, in_channels, size, size).to(memory_format=torch.channels_last))
