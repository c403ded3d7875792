"""A feature network that needs no download: a small convolutional network with fixed random
weights (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models":
precision, recall, density and coverage in random embeddings stay meaningful off ImageNet).

The weights come from NumPy's legacy RandomState, whose stream NumPy keeps fixed across
versions, so every process on every machine embeds an image the same way (the weights' SHA-256
is pinned in the tests). Images of any size and channel count are resized to 64 x 64 RGB first.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SEED = 0
INPUT_SIZE = 64
# (out channels, stride) of each 3 x 3 convolution, 64 px down to 2; ReLU after each;
# features: the last layer's global average (512).
LAYERS = ((32, 2), (64, 2), (128, 2), (256, 2), (512, 2))


class RandomEmbedding(nn.Module):
    """Images in [-1, 1] (N, 1 or 3, H, W) -> features (N, 512)."""

    def __init__(self, seed: int = SEED):
        super().__init__()
        state = np.random.RandomState(seed)
        layers, channels = [], 3
        for width, stride in LAYERS:
            # (skip_init: torch's own initialisation would draw from, and move, its random stream)
            conv = nn.utils.skip_init(nn.Conv2d, channels, width, 3, stride, 1)
            fan_in = channels * 9
            # He-normal: ReLU activations keep their scale through every random layer.
            weight = state.standard_normal((width, channels, 3, 3)) * np.sqrt(2 / fan_in)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
            channels = width
        self.layers = nn.Sequential(*layers)
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                                   antialias=True, align_corners=False)
        return self.layers(images).mean(dim=(2, 3))


def weights_sha256(network: RandomEmbedding) -> str:
    """Of the architecture and the weights: cached features are keyed by it."""
    digest = hashlib.sha256(repr((LAYERS, INPUT_SIZE)).encode())
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
