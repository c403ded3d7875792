"""Convolutions as one matrix product in NHWC: the CPU fast path of the DCGAN layers.

oneDNN runs these small DCGAN shapes at 5-60 % of this CPU's matrix-product speed. A
convolution is im2col (a strided view of the input, copied once) times the weight matrix; a
transposed convolution is the input times the weight matrix followed by col2im (one
`index_add_`). im2col and col2im are each other's adjoints, so each layer's backward uses the
other's forward.
"""

from __future__ import annotations

import functools

import torch


def im2col(nhwc: torch.Tensor, kernel: int, stride: int, height: int, width: int) -> torch.Tensor:
    """(N*height*width, k*k*C) rows: row (n, i, j) holds the k x k patch of `nhwc` at (i*s, j*s).

    The patches are a strided view of the input; `reshape` copies them once (or not at all when
    they do not overlap and lie in order, as for a 1x1 input).
    """
    batch, _, _, channels = nhwc.shape
    n_step, h_step, w_step, c_step = nhwc.stride()
    patches = nhwc.as_strided((batch, height, width, kernel, kernel, channels),
                              (n_step, stride * h_step, stride * w_step, h_step, w_step, c_step))
    return patches.reshape(batch * height * width, kernel * kernel * channels)


@functools.lru_cache(maxsize=32)
def _pixel_index(batch: int, height: int, width: int, kernel: int, stride: int, out_height: int,
                 out_width: int, device: torch.device) -> torch.Tensor:
    """For each (n, i, j, ki, kj), the flat index of pixel (n, i*s+ki, j*s+kj) in the output."""
    def axis(count: int, dims: int, position: int) -> torch.Tensor:
        shape = [1] * dims
        shape[position] = count
        return torch.arange(count, device=device).view(shape)

    rows = axis(height, 5, 1) * stride + axis(kernel, 5, 3)
    columns = axis(width, 5, 2) * stride + axis(kernel, 5, 4)
    return ((axis(batch, 5, 0) * out_height + rows) * out_width + columns).reshape(-1)


def new_image(like: torch.Tensor, batch: int, channels: int, height: int, width: int,
              zeros: bool = False) -> torch.Tensor:
    """An (N, C, H, W) channels_last tensor of its own, not a view: a layer's output must be one,
    for the next layer may be an in-place activation."""
    image = torch.empty((batch, channels, height, width), dtype=like.dtype, device=like.device,
                        memory_format=torch.channels_last)
    return image.zero_() if zeros else image


def nhwc(images: torch.Tensor) -> torch.Tensor:
    """The NHWC view of an NCHW-shaped tensor (contiguous when it is channels_last)."""
    return images.permute(0, 2, 3, 1)


def col2im(columns: torch.Tensor, batch: int, height: int, width: int, kernel: int, stride: int,
           out_height: int, out_width: int) -> torch.Tensor:
    """The adjoint of im2col: every (n, i, j, ki, kj) entry of `columns` (N*h*w, k*k*C) added into
    pixel (i*s+ki, j*s+kj) of an (N, C, out_height, out_width) channels_last image.

    Wide rows (C >= 32) go through one `index_add_` (a serial, hence deterministic, loop over
    C-wide rows): 1.5-4x faster than k*k slice additions. Narrow rows make that loop's per-row
    cost dominate; for them, k additions along the rows and k along the columns are 1.3-2x
    faster than it (measured on the DCGAN shapes).
    """
    channels = columns.shape[1] // (kernel * kernel)
    image = new_image(columns, batch, channels, out_height, out_width, zeros=True)
    out = nhwc(image)
    if height == width == 1 and out_height == out_width == kernel:  # the patches tile the output
        out.copy_(columns.view(batch, kernel, kernel, channels))
    elif channels >= 32:
        index = _pixel_index(batch, height, width, kernel, stride, out_height, out_width,
                             columns.device)
        out.view(-1, channels).index_add_(0, index, columns.reshape(-1, channels))
    else:
        patches = columns.view(batch, height, width, kernel, kernel, channels)
        row_span, column_span = (height - 1) * stride + 1, (width - 1) * stride + 1
        rows_done = columns.new_zeros(batch, out_height, width, kernel, channels)
        for ki in range(kernel):
            rows_done[:, ki:ki + row_span:stride] += patches[:, :, :, ki]
        for kj in range(kernel):
            out[:, :, kj:kj + column_span:stride] += rows_done[:, :, :, kj]
    return image


class ConvGemm(torch.autograd.Function):
    """Unpadded, bias-free Conv2d: im2col(input) @ weight matrix."""

    @staticmethod
    def forward(ctx, images, weight, stride):
        batch, in_channels, height, width = images.shape
        out_channels, _, kernel, _ = weight.shape
        out_height, out_width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        rows = im2col(nhwc(images), kernel, stride, out_height, out_width)
        matrix = weight.permute(2, 3, 1, 0).reshape(kernel * kernel * in_channels, out_channels)
        out = new_image(images, batch, out_channels, out_height, out_width)
        torch.mm(rows, matrix, out=nhwc(out).view(-1, out_channels))
        # D's step on G's fakes needs no weight gradient: keep no rows for it.
        ctx.save_for_backward(rows if ctx.needs_input_grad[1] else None, matrix)
        ctx.geometry = (batch, in_channels, height, width, out_height, out_width, kernel, stride)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        rows, matrix = ctx.saved_tensors
        batch, in_channels, height, width, out_height, out_width, kernel, stride = ctx.geometry
        grad_rows = nhwc(grad_out).reshape(batch * out_height * out_width, -1)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_images = col2im(grad_rows @ matrix.t(), batch, out_height, out_width, kernel,
                                 stride, height, width)
        if ctx.needs_input_grad[1]:
            grad_weight = (rows.t() @ grad_rows).view(kernel, kernel, in_channels, -1)
            grad_weight = grad_weight.permute(3, 2, 0, 1)
        return grad_images, grad_weight, None


class ConvTransposeGemm(torch.autograd.Function):
    """Unpadded, bias-free ConvTranspose2d: col2im(input @ weight matrix)."""

    @staticmethod
    def forward(ctx, images, weight, stride):
        batch, in_channels, height, width = images.shape
        _, out_channels, kernel, _ = weight.shape
        out_height, out_width = (height - 1) * stride + kernel, (width - 1) * stride + kernel
        rows = nhwc(images).reshape(batch * height * width, in_channels)
        matrix = weight.permute(0, 2, 3, 1).reshape(in_channels, kernel * kernel * out_channels)
        ctx.save_for_backward(rows if ctx.needs_input_grad[1] else None, matrix)
        ctx.geometry = (batch, in_channels, height, width, kernel, stride)
        return col2im(rows @ matrix, batch, height, width, kernel, stride, out_height, out_width)

    @staticmethod
    def backward(ctx, grad_out):
        rows, matrix = ctx.saved_tensors
        batch, in_channels, height, width, kernel, stride = ctx.geometry
        grad_columns = im2col(nhwc(grad_out), kernel, stride, height, width)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_images = new_image(grad_out, batch, in_channels, height, width)
            torch.mm(grad_columns, matrix.t(), out=nhwc(grad_images).view(-1, in_channels))
        if ctx.needs_input_grad[1]:
            grad_weight = (rows.t() @ grad_columns).view(in_channels, kernel, kernel, -1)
            grad_weight = grad_weight.permute(0, 3, 1, 2)
        return grad_images, grad_weight, None
