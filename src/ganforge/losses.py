"""GAN losses on discriminator logits, found by name.

A loss is a discriminator objective, a generator objective and a `realness` map from D's output
to a score in [0, 1] (for the D(x), D(G(z)) and accuracy logs). Adding one is two functions and
one `LOSSES.register` line.

Losses and penalties average over the batch, the last dimension of the logits: N runs trained as
one stack (`training.together`) pass logits of shape (N, batch) and get N losses, and their
targets (label smoothing) as (N, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Tensor = torch.Tensor


def _bce(logits: Tensor, target: float) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against a constant target.

    softplus(l) - t*l is BCE-with-logits written out; it needs no target tensor per step.
    """
    return F.softplus(logits).mean(-1) - (target * logits).mean(-1)


def bce_discriminator(real_logits: Tensor, fake_logits: Tensor,
                      real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return _bce(real_logits, real_label) + _bce(fake_logits, fake_label)


def bce_generator(fake_logits: Tensor) -> Tensor:
    """Non-saturating: G maximises log D(G(z)). The target stays 1 even with label smoothing."""
    return _bce(fake_logits, 1.0)


def lsgan_discriminator(real_logits: Tensor, fake_logits: Tensor,
                        real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return (real_logits - real_label).square().mean(-1) + (fake_logits - fake_label).square().mean(-1)


def lsgan_generator(fake_logits: Tensor) -> Tensor:
    return (fake_logits - 1.0).square().mean(-1)


def bce_minimax_generator(fake_logits: Tensor) -> Tensor:
    """The original minimax objective: G minimises log(1 - D(G(z))) = -softplus(logit)."""
    return -F.softplus(fake_logits).mean(-1)


def hinge_discriminator(real_logits: Tensor, fake_logits: Tensor,
                        real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return F.relu(1 - real_logits).mean(-1) + F.relu(1 + fake_logits).mean(-1)


def critic_generator(fake_logits: Tensor) -> Tensor:
    """Hinge and Wasserstein generators both raise the critic's score of fakes."""
    return -fake_logits.mean(-1)


def rpgan_discriminator(real_logits: Tensor, fake_logits: Tensor,
                        real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    """Relativistic pairing (RpGAN; Jolicoeur-Martineau 2019, R3GAN): each real scored above
    its paired fake, softplus(-(D(x) - D(G(z)))) over the pairs of the batch."""
    return F.softplus(fake_logits - real_logits).mean(-1)


def rpgan_generator(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """G raises each fake above its paired real: softplus(-(D(G(z)) - D(x)))."""
    return F.softplus(real_logits - fake_logits).mean(-1)


def wasserstein_discriminator(real_logits: Tensor, fake_logits: Tensor,
                              real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    return fake_logits.mean(-1) - real_logits.mean(-1)


@torch.no_grad()
def clip_weights(module: torch.nn.Module, limit: float) -> None:
    """The original WGAN's (Arjovsky et al. 2017) crude Lipschitz bound: every weight of the
    critic clipped to [-limit, limit] after its update."""
    parameters = list(module.parameters())
    torch._foreach_clamp_min_(parameters, -limit)
    torch._foreach_clamp_max_(parameters, limit)


def gradient_penalty(discriminator: Callable[..., Tensor], real_images: Tensor, fake_images: Tensor,
                     labels: Tensor | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (|grad D(x_hat)| - 1)^2 at per-sample interpolations."""
    alpha = torch.rand(len(real_images), 1, 1, 1, device=real_images.device)
    mixed = (alpha * real_images.detach() + (1 - alpha) * fake_images.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed, labels).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): squared gradient norm of D at real images (they need grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.flatten(real_logits.dim()).square().sum(-1).mean(-1)  # (per image, then the mean)


def mode_seeking_penalty(images: Tensor, z: Tensor, labels: Tensor | None = None,
                         eps: float = 1e-5) -> Tensor:
    """MSGAN (Mao et al. 2019): 1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + eps), large when two
    latents give alike images. The pairs come from the batch itself (no extra forward pass): its
    two halves, or for a conditional G neighbours of one label once sorted by label (pairs of two
    labels weigh 0, so shapes stay fixed for CUDA graphs)."""
    if labels is None:
        half = len(z) // 2
        first = torch.arange(half, device=z.device)
        second = first + half
        weights = torch.ones(len(first), device=z.device)
    else:
        order = torch.argsort(labels, stable=True)
        first, second = order[0:len(order) // 2 * 2:2], order[1::2]
        weights = (labels[first] == labels[second]).float()
    image_distance = (images[first] - images[second]).abs().flatten(1).mean(1)
    latent_distance = (z[first] - z[second]).abs().mean(1)
    total = weights.sum().clamp_min(1)
    ratio = (image_distance * weights).sum() / total / ((latent_distance * weights).sum() / total + eps)
    return 1 / (ratio + eps)


@dataclass(frozen=True)
class GanLoss:
    discriminator: Callable[..., Tensor]
    generator: Callable[..., Tensor]
    realness: Callable[[Tensor], Tensor]
    gradient_penalty: bool = False  # add loss.gp_weight * gradient_penalty to D's loss
    # G's loss also reads D's logits of the real batch (relativistic losses): generator(fake, real)
    relativistic: bool = False


LOSSES: Registry[GanLoss] = Registry("loss")
LOSSES.register("bce", GanLoss(bce_discriminator, bce_generator, torch.sigmoid))
LOSSES.register("bce-minimax", GanLoss(bce_discriminator, bce_minimax_generator, torch.sigmoid))
LOSSES.register("lsgan", GanLoss(lsgan_discriminator, lsgan_generator,
                                 lambda outputs: outputs.clamp(0, 1)))
LOSSES.register("hinge", GanLoss(hinge_discriminator, critic_generator, torch.sigmoid))
LOSSES.register("wgan", GanLoss(wasserstein_discriminator, critic_generator, torch.sigmoid))
LOSSES.register("rpgan", GanLoss(rpgan_discriminator, rpgan_generator, torch.sigmoid,
                                 relativistic=True))
LOSSES.register("wgan-gp", GanLoss(wasserstein_discriminator, critic_generator, torch.sigmoid,
                                   gradient_penalty=True))
