"""Model registry: each entry is a generator class and a discriminator class that go together.

Generators take (z_dim, channels, image_size, num_classes, ...) and map z (N, z_dim) [and
labels (N,)] to images in [-1, 1]; discriminators take (channels, image_size, num_classes,
dropout, minibatch_std, ...) and return one logit per image, shape (N,). num_classes > 0
makes both conditional: the label into G (`conditioning`: conditional BatchNorm in every block
with z in chunks, or at the input only), a projection discriminator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ganforge.models import dcgan, dcgan28, fastgan, mlp, resnet
from ganforge.models.layers import initialize, with_spectral_norm, without_batch_norm
from ganforge.registry import Registry


@dataclass(frozen=True)
class ModelFamily:
    generator: type[nn.Module]
    discriminator: type[nn.Module]
    image_sizes: tuple[int, ...]
    description: str
    # model.* keys the family takes beyond the shared ones: "ngf", "ndf", "d_image_batch_norm"
    options: tuple[str, ...] = field(default=())
    conditional: bool = True  # takes labels (model.conditional)
    self_supervised: bool = False  # D has decoders: reconstruction_loss(real images)


MODELS: Registry[ModelFamily] = Registry("model")
MODELS.register("dcgan28", ModelFamily(dcgan28.Generator, dcgan28.Discriminator, (28,),
                                       "the course notebook's small DCGAN for 28 px",
                                       ("d_image_batch_norm",)))
MLP_G_OPTIONS = ("g_widths", "g_batch_norm", "g_activation", "g_dropout")
MODELS.register("mlp", ModelFamily(mlp.Generator, mlp.Discriminator, (28, 32, 64),
                                   "the exercise's fully connected GAN",
                                   (*MLP_G_OPTIONS, "d_widths", "d_dropout_layers")))
MODELS.register("dcgan", ModelFamily(dcgan.Generator, dcgan.Discriminator, dcgan.SIZES,
                                     "DCGAN with ngf/ndf widths for 28-128 px",
                                     ("ngf", "ndf", "layout", "d_image_batch_norm", "g_widths",
                                      "d_widths", "g_activation")))
MODELS.register("fastgan", ModelFamily(fastgan.Generator, fastgan.Discriminator, fastgan.SIZES,
                                       "FastGAN for few-shot folders at 64-256 px: skip-layer "
                                       "excitation, a self-supervised D", ("ngf", "ndf"),
                                       conditional=False, self_supervised=True))
MODELS.register("resnet", ModelFamily(resnet.Generator, resnet.Discriminator, resnet.SIZES,
                                      "a normalisation-free residual GAN for 28-64 px (R3GAN's "
                                      "spirit): zero-started residual branches, bilinear resampling",
                                      ("ngf", "ndf")))
MODELS.register("mlp-dcgan", ModelFamily(mlp.Generator, dcgan28.Discriminator, (28,),
                                         "the journey's start: MLP generator, conv discriminator",
                                         ("d_image_batch_norm", *MLP_G_OPTIONS)))

# model.* keys that go to one network's constructor, for the families that list them in
# `options`, only when set: key -> (network, argument).
NETWORK_OPTIONS = {"g_widths": ("g", "widths"), "g_batch_norm": ("g", "batch_norm"),
                   "g_activation": ("g", "activation"), "g_dropout": ("g", "dropout"),
                   "d_widths": ("d", "widths"), "d_dropout_layers": ("d", "dropout_layers"),
                   "d_image_batch_norm": ("d", "image_batch_norm")}
# (layout reaches both networks: see model_arguments)


def build_generator(name: str, **kwargs) -> nn.Module:
    return MODELS.get(name).generator(**kwargs)


def build_discriminator(name: str, spectral_norm: bool = False, batch_norm: bool = True,
                        init: str | None = None, **kwargs) -> nn.Module:
    discriminator = MODELS.get(name).discriminator(**kwargs)
    if not batch_norm:
        without_batch_norm(discriminator)
    if init:  # (before spectral norm, which makes the weights it normalises computed)
        initialize(discriminator, init)
    if spectral_norm:
        with_spectral_norm(discriminator)
    return discriminator


def model_arguments(model, shape: tuple[int, int, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The generator's spec (name + constructor arguments, stored in checkpoints) and the
    discriminator's constructor arguments, from a model config (`config.model`) and the data's
    (channels, image size, classes)."""
    channels, image_size, num_classes = shape
    options = MODELS.get(model.name).options
    shared = {"channels": channels, "image_size": image_size,
              "num_classes": num_classes if model.conditional else 0}
    generator_kwargs = {"z_dim": model.z_dim, **shared, **({"ngf": model.ngf} if "ngf" in options else {}),
                        **({"conditioning": model.conditioning} if shared["num_classes"] else {})}
    discriminator_kwargs = {**shared, **({"ndf": model.ndf} if "ndf" in options else {}),
                            **({"minibatch_std": model.d_minibatch_std} if model.d_minibatch_std else {}),
                            **({"dropout": model.d_dropout} if model.d_dropout is not None else {}),
                            "spectral_norm": model.d_spectral_norm, "batch_norm": model.d_batch_norm}
    if model.layout is not None and "layout" in options:
        generator_kwargs["layout"] = discriminator_kwargs["layout"] = model.layout
    for key, (network, argument) in NETWORK_OPTIONS.items():
        value = getattr(model, key)
        if value is not None and key in options:
            (generator_kwargs if network == "g" else discriminator_kwargs)[argument] = \
                list(value) if isinstance(value, tuple) else value
    return {"name": model.name, "kwargs": generator_kwargs}, discriminator_kwargs


@dataclass(frozen=True)
class Built:
    generator: nn.Module
    discriminator: nn.Module
    generator_spec: dict[str, Any]  # name + constructor arguments: enough to rebuild G alone


def build(model, shape: tuple[int, int, int]) -> Built:
    """G and D of a model config (`config.model`) for data of shape (channels, size, classes)."""
    generator_spec, discriminator_kwargs = model_arguments(model, shape)
    generator = build_generator(model.name, **generator_spec["kwargs"])
    if model.init:
        initialize(generator, model.init)
    return Built(generator, build_discriminator(model.name, init=model.init, **discriminator_kwargs),
                 generator_spec)
