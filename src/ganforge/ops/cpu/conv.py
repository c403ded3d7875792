"""CPU convolutions that choose, pass by pass, between oneDNN's direct kernels and matrix products.

Every pass of a strided convolution is one of two operations: *correlating* (Conv2d forward,
ConvTranspose2d's input gradient) or *spreading* (ConvTranspose2d forward, Conv2d's input
gradient), plus the weight gradient. oneDNN's direct kernels (`F.conv2d`, `F.conv_transpose2d`)
do both well when both sides have many pixels and channels, but run the degenerate DCGAN shapes
slower than one matrix product in NHWC, which therefore runs:
- a side of 1x1 pixels (the layer is a matrix product: the first G layer, the last D layer);
- spreading into an image of <= 4 channels: a matrix product and col2im of a few channels;
- every weight gradient: im2col(input)^T @ output gradient; with many channels, by
  `kernels.weight_gradient` (8 images' im2col rows at a time, multiplied while in cache);
- with the fused kernels (`kernels.spread`: the product 8 images at a time, col2im from the
  cache), every spread.
Each choice was timed pass by pass on the project's CPU: docs/performance.md, "Per-pass
choices". im2col (a strided view, copied once) and col2im (k row and k column additions) are
each other's adjoints.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganforge.ops.cpu import kernels

# Spreading into at most this many channels (grey, RGB, RGBA images) runs as a matrix product.
IMAGE_CHANNELS = 4


def im2col(nhwc: torch.Tensor, kernel: int, stride: int, height: int, width: int) -> torch.Tensor:
    """(N*height*width, k*k*C) rows: row (n, i, j) holds the k x k patch of `nhwc` at (i*s, j*s).

    The patches are a strided view of the input; `reshape` copies them once (or not at all when
    they do not overlap and lie in order, as for a 1x1 output). An image of a few channels is
    copied tap by tap into a (k*k*C, N*height*width) matrix whose transpose is returned: runs of
    `width` pixels instead of `k*C` values (faster for grey and RGB images: docs/performance.md).
    """
    batch, _, _, channels = nhwc.shape
    n_step, h_step, w_step, c_step = nhwc.stride()
    if channels <= IMAGE_CHANNELS:
        taps = nhwc.as_strided((kernel, kernel, channels, batch, height, width),
                               (h_step, w_step, c_step, n_step, stride * h_step, stride * w_step))
        return taps.reshape(kernel * kernel * channels, -1).t()
    patches = nhwc.as_strided((batch, height, width, kernel, kernel, channels),
                              (n_step, stride * h_step, stride * w_step, h_step, w_step, c_step))
    return patches.reshape(batch * height * width, kernel * kernel * channels)


def new_image(like: torch.Tensor, batch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """An (N, C, H, W) channels_last tensor of its own, not a view: a layer's output must be one,
    for the next layer may be an in-place activation."""
    return torch.empty((batch, channels, height, width), dtype=like.dtype, device=like.device,
                       memory_format=torch.channels_last)


def nhwc(images: torch.Tensor) -> torch.Tensor:
    """The NHWC view of an NCHW-shaped tensor (contiguous when it is channels_last)."""
    return images.permute(0, 2, 3, 1)


def col2im(columns: torch.Tensor, batch: int, height: int, width: int, kernel: int, stride: int,
           out_height: int, out_width: int) -> torch.Tensor:
    """The adjoint of im2col: every (n, i, j, ki, kj) entry of `columns` (N*h*w, k*k*C) added into
    pixel (i*s+ki, j*s+kj) of an (N, C, out_height, out_width) channels_last image, by k
    additions along the rows, then k along the columns (k*k slice additions cost 1.3-2x more).
    The first `stride` taps of an axis reach disjoint pixels, so they are copied, not added, and
    only the pixels they miss are zeroed (faster than adding into zeros)."""
    channels = columns.shape[1] // (kernel * kernel)
    image = new_image(columns, batch, channels, out_height, out_width)
    out = nhwc(image)
    if height == width == 1 and out_height == out_width == kernel:  # the patches tile the output
        out.copy_(columns.view(batch, kernel, kernel, channels))
        return image
    patches = columns.view(batch, height, width, kernel, kernel, channels)
    rows_done = columns.new_empty(batch, out_height, width, kernel, channels)
    _gather(rows_done, lambda ki: patches[:, :, :, ki], 1, kernel, stride, height)
    _gather(out, lambda kj: rows_done[:, :, :, kj], 2, kernel, stride, width)
    return image


def _gather(target: torch.Tensor, tap: Callable[[int], torch.Tensor], axis: int, kernel: int,
            stride: int, size: int) -> None:
    """target[..., k + s*i, ...] (along `axis`) = sum over taps k of tap(k)[..., i, ...]."""
    first, span = min(stride, kernel), (size - 1) * stride + 1
    if stride > kernel:  # gaps between the patches
        target.zero_()
    else:  # only pixels past the last patch (a stride that does not divide the image)
        target.narrow(axis, span - 1 + first, target.shape[axis] - span + 1 - first).zero_()
    for k in range(kernel):
        reached = target.narrow(axis, k, span)[(slice(None),) * axis + (slice(None, None, stride),)]
        if k < first:
            reached.copy_(tap(k))
        else:
            reached.add_(tap(k))


def _conv_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A correlation's weight (C_out, C_in, k, k) as the (k*k*C_in, C_out) matrix im2col rows
    multiply."""
    return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0])


def _correlate(images: torch.Tensor, weight: torch.Tensor, stride: int, out_height: int,
               out_width: int) -> torch.Tensor:
    """Unpadded strided correlation of `images` with `weight` (C_out, C_in, k, k): a Conv2d's
    forward, a ConvTranspose2d's input gradient. A matrix product when the output is 1x1."""
    if out_height * out_width > 1:
        return F.conv2d(images, weight, stride=stride)
    product = im2col(nhwc(images), weight.shape[2], stride, out_height, out_width) @ _conv_matrix(weight)
    # Cloned: an output must not be a view (the next layer may be an in-place activation).
    return product.view(images.shape[0], out_height, out_width, -1).permute(0, 3, 1, 2).clone(
        memory_format=torch.channels_last)


def _spread(images: torch.Tensor, weight: torch.Tensor, stride: int, out_height: int,
            out_width: int) -> torch.Tensor:
    """The adjoint of `_correlate`, with `weight` (C_in, C_out, k, k): each input pixel's
    kernel-weighted patch added into the output. A ConvTranspose2d's forward, a Conv2d's input
    gradient. A matrix product and col2im for a 1x1 input or an image-like output."""
    batch, _, height, width = images.shape
    kernel, out_channels = weight.shape[2], weight.shape[1]
    # The fused col2im is not differentiable: a gradient penalty's double backward (grad mode
    # on) takes the PyTorch operations.
    fused = not torch.is_grad_enabled() and kernels.serves(images) \
        and kernels.spreads(out_channels, kernel)
    if height * width > 1 and out_channels > IMAGE_CHANNELS and not fused:
        # Pixels no patch reaches (a stride that does not divide the image) are output padding.
        extra = (out_height - (height - 1) * stride - kernel, out_width - (width - 1) * stride - kernel)
        return F.conv_transpose2d(images, weight, stride=stride, output_padding=extra)
    rows, matrix = nhwc(images).reshape(batch * height * width, -1), _conv_matrix(weight)
    if fused:
        return kernels.spread(rows, matrix, batch, height, width, kernel, stride, out_height,
                                  out_width)
    # MKL runs a tall product whose width is not a multiple of 8 (one AVX register) up to 3x
    # slower than its transpose (D's first layer's 9 columns); col2im reads
    # either layout.
    columns = rows @ matrix.t() if matrix.shape[0] % 8 == 0 else (matrix @ rows.t()).t()
    return col2im(columns, batch, height, width, kernel, stride, out_height, out_width)


def _weight_gradient(rows: torch.Tensor, smaller: torch.Tensor, kernel: int) -> torch.Tensor:
    """rows^T @ smaller: the weight gradient of a correlation from the larger side (whose im2col
    `rows` are) to `smaller`."""
    return _weight_layout(rows.t() @ nhwc(smaller).reshape(-1, smaller.shape[1]), kernel)


def _weight_layout(product: torch.Tensor, kernel: int) -> torch.Tensor:
    """A (k*k*C_larger, C_smaller) weight-gradient matrix in the (C_smaller, C_larger, k, k)
    layout that is both a Conv2d's and a ConvTranspose2d's own."""
    return product.view(kernel, kernel, -1, product.shape[1]).permute(3, 2, 0, 1)


def _fused_weight_gradient(larger: torch.Tensor, smaller: torch.Tensor) -> bool:
    """Whether `kernels.weight_gradient` takes this pass: many channels on the larger side
    (few are copied tap by tap, see im2col), patches that overlap or miss pixels (a 1x1 smaller
    side's patches are a view), both channels_last, and not differentiated again (grad mode
    off)."""
    return (larger.shape[1] > IMAGE_CHANNELS and smaller.shape[2] * smaller.shape[3] > 1
            and not torch.is_grad_enabled() and kernels.serves(larger)
            and kernels.rows_of(larger) and kernels.rows_of(smaller))


class Convolution(torch.autograd.Function):
    """Unpadded, bias-free Conv2d, or ConvTranspose2d when `transposed`: a correlation and a
    spread, each the other's input gradient. Both are correlations between a larger side (a
    Conv2d's input, a ConvTranspose2d's output) and a smaller one, whose weight gradient is
    im2col(larger)^T @ smaller.

    The backward pass is built from differentiable operations and the weight itself (not a copy
    made in forward), so gradient penalties can differentiate through it again.
    """

    @staticmethod
    def forward(ctx, images, weight, stride, transposed):
        ctx.save_for_backward(images, weight)
        ctx.stride, ctx.transposed = stride, transposed
        kernel = weight.shape[2]
        if transposed:
            return _spread(images, weight, stride,
                           *((size - 1) * stride + kernel for size in images.shape[2:]))
        return _correlate(images, weight, stride,
                          *((size - kernel) // stride + 1 for size in images.shape[2:]))

    @staticmethod
    def backward(ctx, grad_out):
        images, weight = ctx.saved_tensors
        stride, kernel = ctx.stride, weight.shape[2]
        larger, smaller = (grad_out, images) if ctx.transposed else (images, grad_out)
        rows = grad_weight = None
        if ctx.needs_input_grad[1] and _fused_weight_gradient(larger, smaller):
            grad_weight = _weight_layout(
                kernels.weight_gradient(larger, smaller, kernel, stride), kernel)
        elif ctx.needs_input_grad[1]:
            rows = im2col(nhwc(larger), kernel, stride, *smaller.shape[2:])
        grad_images = None
        if ctx.needs_input_grad[0] and not ctx.transposed:
            grad_images = _spread(grad_out, weight, stride, *images.shape[2:])
        elif ctx.needs_input_grad[0] and rows is not None and grad_out.shape[1] <= IMAGE_CHANNELS:
            # An image-like output: the weight gradient's rows of it serve the input gradient
            # too, one matrix product instead of a oneDNN pass (faster on G's last layer).
            batch, _, height, width = images.shape
            grad_images = (rows @ _conv_matrix(weight)).view(batch, height, width, -1).permute(
                0, 3, 1, 2)
        elif ctx.needs_input_grad[0]:
            grad_images = _correlate(grad_out, weight, stride, *images.shape[2:])
        if rows is not None:
            grad_weight = _weight_gradient(rows, smaller, kernel)
        return grad_images, grad_weight, None, None
