"""Model registry: each entry is a generator class and a discriminator class that go together.

Generators take (z_dim, channels, image_size) and map z of shape (N, z_dim) to images in [-1, 1];
discriminators take (channels, image_size) and return one logit per image, shape (N,).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ganforge.models import dcgan28, mlp
from ganforge.registry import Registry


@dataclass(frozen=True)
class ModelFamily:
    generator: type[nn.Module]
    discriminator: type[nn.Module]
    image_sizes: tuple[int, ...]
    description: str


MODELS: Registry[ModelFamily] = Registry("model")
MODELS.register("dcgan28", ModelFamily(dcgan28.Generator, dcgan28.Discriminator, (28,),
                                       "the course notebook's small DCGAN for 28 px"))
MODELS.register("mlp", ModelFamily(mlp.Generator, mlp.Discriminator, (28, 32, 64),
                                   "the exercise's fully connected GAN"))


def build_generator(name: str, **kwargs) -> nn.Module:
    return MODELS.get(name).generator(**kwargs)


def build_discriminator(name: str, **kwargs) -> nn.Module:
    return MODELS.get(name).discriminator(**kwargs)
