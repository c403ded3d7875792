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
from torch.autograd.function import once_differentiable

from ganforge.models.cpu_conv import new_image, nhwc

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
def axis_transforms(size: int, kernel: int, device: torch.device, dtype: torch.dtype):
    """Along one axis: the input (P x size), kernel (P x kernel) and inverse (P x P) transforms."""
    points = size + kernel - 1
    matrices = (_evaluation(points, size), _evaluation(points, kernel),
                torch.linalg.inv(_evaluation(points, points)))
    return tuple(matrix.to(device, dtype) for matrix in matrices)


def _transform(row_matrix: torch.Tensor, column_matrix: torch.Tensor,
               planes: torch.Tensor) -> torch.Tensor:
    """`row_matrix` along axis 0 and `column_matrix` along axis 1 of `planes` (H, W, ...): two
    thin products, 3x less arithmetic than one product with their Kronecker product."""
    height, width = planes.shape[:2]
    along_rows = (row_matrix @ planes.reshape(height, -1)).view(row_matrix.shape[0], width, -1)
    return column_matrix @ along_rows


def _planes(images: torch.Tensor) -> torch.Tensor:
    """(A, B, H, W) -> (H, W, A*B)."""
    return images.permute(2, 3, 0, 1).reshape(images.shape[2], images.shape[3], -1)


def _images(planes: torch.Tensor, batch: int) -> torch.Tensor:
    """(H, W, N*C) -> (N, C, H, W) in channels_last memory, a tensor of its own."""
    height, width = planes.shape[:2]
    by_pixel = planes.view(height, width, batch, -1)
    images = new_image(planes, batch, by_pixel.shape[3], height, width)
    nhwc(images).copy_(by_pixel.permute(2, 0, 1, 3))
    return images


class ConvTransposeWinograd(torch.autograd.Function):
    """Unpadded, bias-free, stride-1 ConvTranspose2d by Toom-Cook transforms."""

    @staticmethod
    def forward(ctx, images, weight):
        batch, in_channels, height, width = images.shape
        _, out_channels, kernel, _ = weight.shape
        rows = axis_transforms(height, kernel, images.device, images.dtype)
        columns = axis_transforms(width, kernel, images.device, images.dtype)
        points = rows[0].shape[0] * columns[0].shape[0]
        images_at_points = _transform(rows[0], columns[0], _planes(images)).view(points, batch, -1)
        weight_at_points = _transform(rows[1], columns[1], _planes(weight))
        weight_at_points = weight_at_points.view(points, in_channels, out_channels)
        products = torch.bmm(images_at_points, weight_at_points)  # (P*P, N, C_out)
        ctx.save_for_backward(images_at_points, weight_at_points)
        ctx.transforms = (rows, columns)
        planes = products.view(rows[0].shape[0], columns[0].shape[0], -1)
        return _images(_transform(rows[2], columns[2], planes), batch)

    @staticmethod
    @once_differentiable  # works on transformed copies of the weight: a second derivative raises
    def backward(ctx, grad_out):
        images_at_points, weight_at_points = ctx.saved_tensors
        (to_rows, kernel_rows, inverse_rows), (to_columns, kernel_columns, inverse_columns) = \
            ctx.transforms
        points, batch, in_channels = images_at_points.shape
        grad_products = _transform(inverse_rows.t(), inverse_columns.t(), _planes(grad_out))
        grad_products = grad_products.view(points, batch, -1)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_at_points = torch.bmm(grad_products, weight_at_points.transpose(1, 2))
            grad_at_points = grad_at_points.view(to_rows.shape[0], to_columns.shape[0], -1)
            grad_images = _images(_transform(to_rows.t(), to_columns.t(), grad_at_points), batch)
        if ctx.needs_input_grad[1]:
            grad_at_points = torch.bmm(images_at_points.transpose(1, 2), grad_products)
            grad_at_points = grad_at_points.view(kernel_rows.shape[0], kernel_columns.shape[0], -1)
            grad_weight = _transform(kernel_rows.t(), kernel_columns.t(), grad_at_points)
            kernel = kernel_rows.shape[1]
            grad_weight = grad_weight.view(kernel, kernel, in_channels, -1).permute(2, 3, 0, 1)
        return grad_images, grad_weight
