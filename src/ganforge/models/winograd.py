"""A stride-1 transposed convolution of a small input by Toom-Cook (Winograd) transforms.

An unpadded stride-1 transposed convolution is the full 2-D linear convolution of each input
plane (h x w) with each kernel (k x k): per axis, the product of a degree h-1 and a degree k-1
polynomial. Evaluating both at P = h+k-1 points, multiplying pointwise and interpolating gives
it exactly, so the channel mixing becomes P*P matrix products of (N x C_in) by (C_in x C_out)
instead of h*w*k*k. For the course DCGAN's 3x3 -> 6x6 layer (k=4) that is 36 instead of 144
products: 4x less arithmetic on the layer that costs most. The transforms are small matrix
products too; the rounding they add is ~1e-5 relative (tested against PyTorch's kernel).
"""

from __future__ import annotations

import functools

import torch

# Evaluation points, in the order they are taken; None is the point at infinity (the leading
# coefficient). Small magnitudes keep the interpolation well conditioned in float32.
POINTS = (0.0, 1.0, -1.0, 0.5, -2.0)
MAX_POINTS = len(POINTS) + 1


def applies(height: int, width: int, kernel: int) -> bool:
    """Whether this path takes a stride-1 layer of this geometry (and pays off: h, w >= 2)."""
    return (kernel >= 2 and height >= 2 and width >= 2
            and height + kernel - 1 <= MAX_POINTS and width + kernel - 1 <= MAX_POINTS)


def _evaluation(count: int, degree_plus_one: int) -> torch.Tensor:
    """(count x degree+1): row p evaluates a polynomial's coefficients at point p."""
    finite = [[point ** power for power in range(degree_plus_one)] for point in POINTS[:count - 1]]
    infinity = [0.0] * (degree_plus_one - 1) + [1.0]
    return torch.tensor(finite + [infinity], dtype=torch.float64)


@functools.lru_cache(maxsize=16)
def transforms(height: int, width: int, kernel: int, device: torch.device, dtype: torch.dtype):
    """Input, kernel and inverse (interpolation) transforms over flattened 2-D planes."""
    rows, columns = height + kernel - 1, width + kernel - 1
    inputs = torch.kron(_evaluation(rows, height), _evaluation(columns, width))
    kernels = torch.kron(_evaluation(rows, kernel), _evaluation(columns, kernel))
    inverse = torch.kron(torch.linalg.inv(_evaluation(rows, rows)),
                         torch.linalg.inv(_evaluation(columns, columns)))
    return tuple(matrix.to(device, dtype) for matrix in (inputs, kernels, inverse))


def _planes_first(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (H*W, N*C): one row per pixel position."""
    batch, channels, height, width = images.shape
    return images.permute(2, 3, 0, 1).reshape(height * width, batch * channels)


def _images(planes: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """(H*W, N*C) -> (N, C, H, W) in channels_last memory."""
    nhwc = planes.view(height, width, batch, -1).permute(2, 0, 1, 3).contiguous()
    return nhwc.permute(0, 3, 1, 2)


class ConvTransposeWinograd(torch.autograd.Function):
    """Unpadded, bias-free, stride-1 ConvTranspose2d by Toom-Cook transforms."""

    @staticmethod
    def forward(ctx, images, weight):
        batch, in_channels, height, width = images.shape
        _, out_channels, kernel, _ = weight.shape
        to_points, kernel_to_points, from_points = transforms(height, width, kernel, images.device,
                                                              images.dtype)
        points = to_points.shape[0]
        images_at_points = (to_points @ _planes_first(images)).view(points, batch, in_channels)
        weight_at_points = (kernel_to_points @ _planes_first(weight)).view(points, in_channels,
                                                                          out_channels)
        products = torch.bmm(images_at_points, weight_at_points)  # (P*P, N, C_out)
        ctx.save_for_backward(images_at_points, weight_at_points)
        ctx.geometry = (batch, height, width, kernel)
        return _images(from_points @ products.view(points, -1), batch, height + kernel - 1,
                       width + kernel - 1)

    @staticmethod
    def backward(ctx, grad_out):
        images_at_points, weight_at_points = ctx.saved_tensors
        batch, height, width, kernel = ctx.geometry
        to_points, kernel_to_points, from_points = transforms(height, width, kernel, grad_out.device,
                                                                  grad_out.dtype)
        points, _, in_channels = images_at_points.shape
        grad_products = (from_points.t() @ _planes_first(grad_out)).view(points, batch, -1)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_at_points = torch.bmm(grad_products, weight_at_points.transpose(1, 2))
            grad_images = _images(to_points.t() @ grad_at_points.view(points, -1), batch, height, width)
        if ctx.needs_input_grad[1]:
            grad_at_points = torch.bmm(images_at_points.transpose(1, 2), grad_products)
            grad_weight = (kernel_to_points.t() @ grad_at_points.view(points, -1))
            grad_weight = grad_weight.view(kernel, kernel, in_channels, -1).permute(2, 3, 0, 1)
        return grad_images, grad_weight
