"""DCGAN (Radford et al. 2016) with width parameters, for 28, 32, 64 and 128 px.

The layer plan comes from the resolution: 28 px follows the experiments report's layout
(1 -> 4 -> 7 -> 14 -> 28); powers of two start at 4x4 and double up to the image size.
"""

from __future__ import annotations

from torch import nn

from ganforge.models.layers import (
    ACTIVATIONS,
    ConditionedSequential,
    LabelConditioning,
    MinibatchStd,
    Projection,
    dcgan_init,
    leaky_relu,
)

# (kernel, stride, padding[, output_padding]) of each generator layer (the last makes the
# image), of each discriminator layer before its head, and of the head.
PLANS = {
    28: {"g": [(4, 1, 0), (3, 2, 1), (4, 2, 1), (4, 2, 1)],
         "d": [(4, 2, 1), (4, 2, 1), (3, 2, 0)], "d_out": (3, 1, 0)},
}
for size, blocks in ((32, 3), (64, 4), (128, 5)):
    PLANS[size] = {"g": [(4, 1, 0)] + [(4, 2, 1)] * blocks, "d": [(4, 2, 1)] * blocks,
                   "d_out": (4, 1, 0)}
SIZES = tuple(sorted(PLANS))
# model.layout: the experiments report's other layer plans at 28 px, each replacing G's or D's.
LAYOUTS = {
    "d-kernel4": {"d": [(4, 2, 1), (4, 2, 1), (4, 2, 1)]},  # exp 5: D's third conv 4/2/1 (7 -> 3)
    # exps 6-7: five transposed convolutions, a stride-1 one at 7x7 added
    "g-five": {"g": [(4, 1, 0), (3, 2, 1), (3, 1, 1), (4, 2, 1), (4, 2, 1)]},
    # carpedm20's DCGAN-tensorflow, which PacGAN's Stacked MNIST DCGAN runs: 5x5 kernels, "same"
    # padding, G 2 -> 4 -> 7 -> 14 -> 28 and D 28 -> 14 -> 7 -> 4 -> 2, a linear head on 2x2
    "carpedm20": {"g": [(2, 1, 0), (5, 2, 2, 1), (5, 2, 2, 0), (5, 2, 2, 1), (5, 2, 2, 1)],
                  "d": [(5, 2, 2)] * 4, "d_out": (2, 1, 0)},
}


def plan(size: int, layout: str | None) -> dict:
    return {**PLANS[size], **(LAYOUTS[layout] if layout else {})}


def depths(size: int, layout: str | None) -> tuple[int, int]:
    """How many widths G's and D's plans take (G's hidden layers, D's layers before its head)."""
    layers = plan(size, layout)
    return len(layers["g"]) - 1, len(layers["d"])


def _widths(layers: int, base: int) -> list[int]:
    """Channel widths from the small end to the image end: base * 2^(layers-1) ... base."""
    return [base * 2 ** (layers - 1 - index) for index in range(layers)]


class Generator(nn.Module):
    """z -> 4x4 (3x3) -> ... -> the image; `widths` (from the small end) replaces ngf's doubling,
    `activation` G's ReLU."""

    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28, ngf: int = 64,
                 num_classes: int = 0, conditioning: str = "input", layout: str | None = None,
                 widths: list[int] | None = None, activation: str = "relu"):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        layers_plan = plan(image_size, layout)["g"]
        widths = widths or _widths(len(layers_plan) - 1, ngf)
        self.condition = condition = LabelConditioning(num_classes, z_dim, len(widths), conditioning)
        layers: list[nn.Module] = []
        in_channels = condition.out_dim
        for block, (layer, width) in enumerate(zip(layers_plan, widths)):
            layers += [nn.ConvTranspose2d(in_channels, width, *layer, bias=False),
                       condition.norm(block, width), ACTIVATIONS[activation]()]
            in_channels = width
        layers += [nn.ConvTranspose2d(in_channels, channels, *layers_plan[-1]), nn.Tanh()]
        self.net = ConditionedSequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z, labels=None):
        inputs, conditions = self.condition(z, labels)
        return self.net(inputs[:, :, None, None], conditions)


class Discriminator(nn.Module):
    """The image -> ... -> 4x4 (3x3) features -> one logit; `widths` (from the image end)
    replaces ndf's doubling."""

    def __init__(self, channels: int = 1, image_size: int = 28, ndf: int = 64, num_classes: int = 0,
                 dropout: float = 0.0, minibatch_std: int = 0, layout: str | None = None,
                 image_batch_norm: bool = False, widths: list[int] | None = None):
        super().__init__()
        layers_plan = plan(image_size, layout)
        widths = widths or list(reversed(_widths(len(layers_plan["d"]), ndf)))
        layers: list[nn.Module] = []
        in_channels = channels
        for index, ((kernel, stride, padding), width) in enumerate(zip(layers_plan["d"], widths)):
            # No BatchNorm on the image layer, as in DCGAN, unless asked (the experiments report's
            # exp 1 has one after every convolution).
            normed = bool(index) or image_batch_norm
            layers.append(nn.Conv2d(in_channels, width, kernel, stride, padding, bias=not normed))
            if normed:
                layers.append(nn.BatchNorm2d(width))
            layers += leaky_relu(dropout)
            in_channels = width
        self.body = nn.Sequential(*layers)
        # The minibatch standard deviation (when asked) joins the features the head reads.
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Conv2d(in_channels + bool(minibatch_std), 1, *layers_plan["d_out"])
        self.projection = Projection(num_classes, in_channels)
        self.apply(dcgan_init)

    def forward(self, images, labels=None):
        features = self.body(images)
        logits = self.head(self.minibatch_std(features)).flatten(1).sum(1)
        return self.projection(logits, features.sum(dim=(2, 3)), labels)
