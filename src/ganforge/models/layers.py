"""Building blocks shared by the models."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm2d, nn.BatchNorm1d)


def _normal_init(norm_mean: float) -> Callable[[nn.Module], None]:
    """Conv weights N(0, 0.02), BatchNorm weights N(`norm_mean`, 0.02) and biases 0."""
    def init(module: nn.Module) -> None:
        if isinstance(module, CONVOLUTIONS):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, NORMS) and module.affine:
            nn.init.normal_(module.weight, norm_mean, 0.02)
            nn.init.zeros_(module.bias)
    return init


dcgan_init = _normal_init(1.0)  # DCGAN's (Radford et al.)
course_init = _normal_init(0.0)  # the course notebook's weights_init: BatchNorm weights around 0


def pytorch_init(module: nn.Module) -> None:
    """PyTorch's own initialisation of each layer (Kaiming-uniform weights; BatchNorm 1 and 0)."""
    if isinstance(module, (*CONVOLUTIONS, nn.Linear, *NORMS, nn.Embedding)):
        module.reset_parameters()


def _weight_init(fill: Callable[[torch.Tensor], object]) -> Callable[[nn.Module], None]:
    """An initialisation that fills conv and linear weights with `fill`, zeroes their biases and
    sets BatchNorm to 1 and 0."""
    def init(module: nn.Module) -> None:
        if isinstance(module, (*CONVOLUTIONS, nn.Linear)):
            fill(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, NORMS) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return init


# model.init: how G's and D's weights start (the experiments report compares them); unset, each
# model keeps its own (DCGAN's for the conv models, PyTorch's for mlp).
INITS = {"dcgan": dcgan_init, "course": course_init, "pytorch": pytorch_init,
         "xavier": _weight_init(nn.init.xavier_normal_),
         "kaiming": _weight_init(lambda weight: nn.init.kaiming_normal_(weight, a=0.2,
                                                                        nonlinearity="leaky_relu")),
         "orthogonal": _weight_init(nn.init.orthogonal_)}


def initialize(model: nn.Module, name: str) -> nn.Module:
    """Re-initialise every layer of `model` by INITS[name], in module order."""
    model.apply(INITS[name])
    return model


CONDITIONINGS = ("cbn", "input")


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each row scaled to a mean square of 1 (as stylegan2-ada does to z and the label
    embedding), so that neither outweighs the other where they meet."""
    return x * x.square().mean(dim=1, keepdim=True).add(eps).rsqrt()


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain (1 + W_g c) and bias (W_b c) come from a condition vector c (BigGAN):
    every block of G then hears the label and its own part of z."""

    def __init__(self, features: int, condition_dim: int, spatial_dims: int = 2):
        super().__init__()
        self.norm = (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm1d)(features, affine=False)
        self.gain = nn.Linear(condition_dim, features, bias=False)
        self.bias = nn.Linear(condition_dim, features, bias=False)
        self.shape = (-1, features) + (1,) * spatial_dims  # -1: traceable batch
        for linear in (self.gain, self.bias):  # gain and bias start about 1 +- 0.2 and 0 +- 0.2
            nn.init.normal_(linear.weight, 0.0, 0.2 / math.sqrt(condition_dim))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + self.gain(condition)).view(self.shape) \
            + self.bias(condition).view(self.shape)


class ConditionedSequential(nn.Sequential):
    """nn.Sequential whose ConditionalBatchNorm layers also take a condition vector each, in order
    (the same state-dict keys as nn.Sequential; without such layers, it is one)."""

    def forward(self, x: torch.Tensor, conditions: list[torch.Tensor] = ()) -> torch.Tensor:
        remaining = iter(conditions)
        for module in self:
            x = module(x, next(remaining)) if isinstance(module, ConditionalBatchNorm) else module(x)
        return x


class LabelConditioning(nn.Module):
    """How z and the label reach G.

    - unconditional: z at the input.
    - "input" (the classic cGAN, kept for checkpoints made before "cbn"): z and a label
      embedding concatenated at the input only, which later layers are free to ignore z.
    - "cbn" (BigGAN): z split into one chunk for the input and one per BatchNorm block; the input
      takes chunk 0 with the embedding, block i's ConditionalBatchNorm chunk i with it. z and the
      embedding are normalised to the same second moment first.
    `norm(block, features)` gives block `block`'s normalisation layer for this choice.
    """

    def __init__(self, num_classes: int, z_dim: int, blocks: int, conditioning: str = "input"):
        super().__init__()
        self.mode = conditioning if num_classes else "none"
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        if self.mode == "cbn":
            base, extra = divmod(z_dim, blocks + 1)
            self.chunks = [base + (index < extra) for index in range(blocks + 1)]
            self.out_dim = self.chunks[0] + z_dim
        else:
            self.chunks = [z_dim]
            self.out_dim = z_dim * 2 if num_classes else z_dim

    def norm(self, block: int, features: int, spatial_dims: int = 2) -> nn.Module:
        if self.mode != "cbn":
            return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm1d)(features)
        return ConditionalBatchNorm(features, self.chunks[block + 1] + self.embed.embedding_dim,
                                    spatial_dims)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(G's input vector, the condition vector of each ConditionalBatchNorm block)."""
        if self.embed is None:
            return z, []
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        if self.mode == "input":
            return torch.cat([z, self.embed(labels)], dim=1), []
        embedding = normalize_2nd_moment(self.embed(labels))
        parts = normalize_2nd_moment(z).split(self.chunks, dim=1)
        return torch.cat([parts[0], embedding], 1), [torch.cat([part, embedding], 1) for part in parts[1:]]


class MinibatchStd(nn.Module):
    """One more feature map (or feature): the standard deviation of every feature across a group
    of `group` consecutive samples, averaged (ProGAN, stylegan2-ada's MinibatchStdLayer). A batch
    of look-alikes shows in it, so D can punish G for one. Groups of consecutive samples keep the
    halves of a stacked real + fake batch apart."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = len(x)
        group = math.gcd(self.group, count)
        grouped = x.reshape(count // group, group, *x.shape[1:])
        # (by hand: torch's CPU var over a short middle dimension is several times slower)
        centered = grouped - grouped.mean(dim=1, keepdim=True)
        spread = centered.square().mean(dim=1).add(1e-8).sqrt()
        spread = spread.flatten(1).mean(dim=1).repeat_interleave(group)
        # A map in x's own memory layout (ones_like keeps it), so the concatenation keeps it too.
        spread_map = torch.ones_like(x[:, :1]) * spread.view(count, 1, *(1,) * (x.dim() - 2))
        return torch.cat([x, spread_map], 1)


class Projection(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018): logit + <embed(y), features>."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:  # unit length: the class term is heard from the first step
            nn.init.normal_(self.embed.weight, 0.0, features ** -0.5)

    def forward(self, logits: torch.Tensor, features: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return logits
        if labels is None:
            raise ValueError("a conditional discriminator needs labels")
        return logits + (self.embed(labels) * features).sum(dim=1)


# model.g_activation: G's hidden-layer activation (the write-ups vary it)
ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(0.2, inplace=True),
               "tanh": nn.Tanh}


def leaky_relu(dropout: float) -> list[nn.Module]:
    """LeakyReLU(0.2), followed by dropout when asked (the exercise's D regulariser)."""
    return [nn.LeakyReLU(0.2, inplace=True)] + ([nn.Dropout(dropout)] if dropout else [])


def without_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in `module` by Identity (the 'BatchNorm off in D' option)."""
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(module, name, nn.Identity())
        else:
            without_batch_norm(child)
    return module


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every convolution and linear layer."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


def balanced_labels(count: int, num_classes: int, device=None) -> torch.Tensor | None:
    """0, 1, ..., k-1, 0, 1, ... for a conditional generator; None for an unconditional one."""
    return torch.arange(count, device=device) % num_classes if num_classes else None
