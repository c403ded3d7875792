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

from ganforge.ops.cpu import kernels
from ganforge.ops.cpu.conv import new_image, nhwc

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


def _axis_transforms(size: int, kernel: int) -> tuple[torch.Tensor, ...]:
    """Along one axis: the input (P x size), kernel (P x kernel) and inverse (P x P) transforms."""
    points = size + kernel - 1
    return (_evaluation(points, size), _evaluation(points, kernel),
            torch.linalg.inv(_evaluation(points, points)))


@functools.lru_cache(maxsize=16)
def layer_transforms(height: int, width: int, kernel: int, device: torch.device,
                     dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """The input transforms along rows and columns, the kernel's transform (P_rows*P_columns x
    k*k: the Kronecker product of its two axis transforms), the inverse transforms along rows
    and columns."""
    to_rows, kernel_rows, inverse_rows = _axis_transforms(height, kernel)
    to_columns, kernel_columns, inverse_columns = _axis_transforms(width, kernel)
    matrices = (to_rows, to_columns, torch.kron(kernel_rows, kernel_columns), inverse_rows,
                inverse_columns)
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


def _to_points(row_matrix: torch.Tensor, column_matrix: torch.Tensor,
               images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images -> (P*Q, N, C) at the points: the fused kernel reads channels_last
    memory in place (the planes copy and two products otherwise)."""
    if kernels.serves(images) and images.is_contiguous(memory_format=torch.channels_last):
        return torch.ops.ganforge.to_points(images, row_matrix, column_matrix)
    points = _transform(row_matrix, column_matrix, _planes(images))
    return points.view(len(row_matrix) * len(column_matrix), images.shape[0], -1)


def _from_points(row_matrix: torch.Tensor, column_matrix: torch.Tensor,
                 points: torch.Tensor) -> torch.Tensor:
    """(P*Q, N, C) at the points -> (N, C, H, W) channels_last images."""
    if kernels.serves(points):
        return torch.ops.ganforge.from_points(points, row_matrix, column_matrix)
    planes = points.view(row_matrix.shape[1], column_matrix.shape[1], -1)
    return _images(_transform(row_matrix, column_matrix, planes), points.shape[1])


def _kernel_at_points(kernel_transform: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The weight (C_in, C_out, k, k) at the P*P points, (P*P, C_in, C_out): one product with the
    Kronecker product of the two axis transforms per input channel, read in the weight's
    channels_last memory (no copy) and left strided (the products read it in place). Two thin
    products instead cost a copy into planes first (slower: docs/performance.md)."""
    in_channels, out_channels = weight.shape[:2]
    by_tap = weight.permute(0, 2, 3, 1).reshape(in_channels, -1, out_channels)
    return torch.matmul(kernel_transform, by_tap).transpose(0, 1)


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
        height, width = images.shape[2:]
        kernel = weight.shape[2]
        transforms = layer_transforms(height, width, kernel, images.device, images.dtype)
        to_rows, to_columns, kernel_transform, inverse_rows, inverse_columns = transforms
        images_at_points = _to_points(to_rows, to_columns, images)
        weight_at_points = _kernel_at_points(kernel_transform, weight)
        products = torch.bmm(images_at_points, weight_at_points)  # (P*P, N, C_out)
        ctx.save_for_backward(images_at_points, weight_at_points)
        ctx.transforms, ctx.kernel = transforms, kernel
        return _from_points(inverse_rows, inverse_columns, products)

    @staticmethod
    @once_differentiable  # works on transformed copies of the weight: a second derivative raises
    def backward(ctx, grad_out):
        images_at_points, weight_at_points = ctx.saved_tensors
        to_rows, to_columns, kernel_transform, inverse_rows, inverse_columns = ctx.transforms
        in_channels = images_at_points.shape[2]
        grad_products = _to_points(inverse_rows.t(), inverse_columns.t(), grad_out)
        grad_images = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_at_points = torch.bmm(grad_products, weight_at_points.transpose(1, 2))
            grad_images = _from_points(to_rows.t(), to_columns.t(), grad_at_points)
        if ctx.needs_input_grad[1]:
            grad_at_points = torch.bmm(images_at_points.transpose(1, 2), grad_products)
            # (C_in, k*k, C_out) -> (C_in, C_out, k, k) in channels_last memory, the parameter's own.
            grad_weight = torch.matmul(kernel_transform.t(), grad_at_points.transpose(0, 1))
            grad_weight = grad_weight.view(in_channels, ctx.kernel, ctx.kernel, -1).permute(0, 3, 1, 2)
        return grad_images, grad_weight
