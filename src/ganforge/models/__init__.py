"""Model registry: each entry is a generator class and a discriminator class that go together.

Generators take (z_dim, channels, image_size, num_classes, ...) and map z (N, z_dim) [and
labels (N,)] to images in [-1, 1]; discriminators take (channels, image_size, num_classes,
dropout, ...) and return one logit per image, shape (N,). num_classes > 0 makes both
conditional: a label embedding into G, a projection discriminator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ganforge.models import dcgan, dcgan28, mlp
from ganforge.models.layers import with_spectral_norm, without_batch_norm
from ganforge.registry import Registry


@dataclass(frozen=True)
class ModelFamily:
    generator: type[nn.Module]
    discriminator: type[nn.Module]
    image_sizes: tuple[int, ...]
    description: str
    # model.* keys the family takes beyond the shared ones: "ngf", "ndf", "d_image_batch_norm"
    options: tuple[str, ...] = field(default=())


MODELS: Registry[ModelFamily] = Registry("model")
MODELS.register("dcgan28", ModelFamily(dcgan28.Generator, dcgan28.Discriminator, (28,),
                                       "the course notebook's small DCGAN for 28 px",
                                       ("d_image_batch_norm",)))
MODELS.register("mlp", ModelFamily(mlp.Generator, mlp.Discriminator, (28, 32, 64),
                                   "the exercise's fully connected GAN"))
MODELS.register("dcgan", ModelFamily(dcgan.Generator, dcgan.Discriminator, dcgan.SIZES,
                                     "DCGAN with ngf/ndf widths for 28-128 px", ("ngf", "ndf")))
MODELS.register("mlp-dcgan", ModelFamily(mlp.Generator, dcgan28.Discriminator, (28,),
                                         "the journey's start: MLP generator, conv discriminator",
                                         ("d_image_batch_norm",)))


def build_generator(name: str, **kwargs) -> nn.Module:
    return MODELS.get(name).generator(**kwargs)


def build_discriminator(name: str, spectral_norm: bool = False, batch_norm: bool = True,
                        **kwargs) -> nn.Module:
    discriminator = MODELS.get(name).discriminator(**kwargs)
    if not batch_norm:
        without_batch_norm(discriminator)
    if spectral_norm:
        with_spectral_norm(discriminator)
    return discriminator
