"""Building what a Trainer holds from a config: the device, the batches, the accelerated networks,
and the speed switches that depend on them (CUDA graphs, torch.compile)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganforge import ops
from ganforge.config import Config
from ganforge.data.loader import DeviceBatches
from ganforge.data.sources import data_shape, load_data
from ganforge.errors import ConfigError, GanforgeError
from ganforge.models import build
from ganforge.training.distributed import ONE_PROCESS, Ranks
from ganforge.training.options import StepOptions
from ganforge.training.step import Gan

# What torch.compile lowers to; tests use "aot_eager" (the same graph capture and autograd
# tracing, without inductor's C++ build, which takes minutes on a 2-core CPU).
COMPILE_BACKEND = "inductor"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise GanforgeError(f"device {name!r} is not available here; use --device cpu or auto")
    return torch.device(name)


def uses_cuda_graphs(config: Config, device: torch.device, ranks: Ranks = ONE_PROCESS) -> bool:
    """Graphs bake in the learning rate, so only constant schedules use them; not with several
    processes (their gradient all-reduce runs outside the graph)."""
    return (device.type == "cuda" and config.train.cuda_graphs and config.train.lr_schedule == "constant"
            and not ranks.active and config.train.compile == "off")


def compile_models(gan: Gan, mode: str) -> None:
    """torch.compile G's and D's forward in place: parameters, state-dict keys and checkpoints
    stay those of the plain modules."""
    options = {} if mode == "default" else {"mode": mode}
    for module in (gan.generator, gan.discriminator):
        module.compile(backend=COMPILE_BACKEND, **options)


def device_batches(config: Config, device: torch.device, ranks: Ranks) -> DeviceBatches:
    """The training images, found and verified, as seeded device batches."""
    data, train = config.data, config.train
    images, labels = load_data(data, "train")
    if data.limit:
        images, labels = images[: data.limit], labels[: data.limit]
    if len(images) < train.batch_size * ranks.world_size:
        raise ConfigError(
            f"train.batch_size {train.batch_size} x {ranks.world_size} process(es) is more than the "
            f"{len(images)} training images; lower it or raise data.limit")
    # A memory-mapped folder cache (bigger than the memory budget) stays on disk; batches are
    # gathered from it and moved to the device one at a time.
    resident = not isinstance(images, np.memmap)
    return DeviceBatches(torch.from_numpy(images).to(device) if resident else torch.from_numpy(images),
                         torch.from_numpy(labels).to(device), train.batch_size, train.seed,
                         data.rotation_degrees, data.hflip, data.vflip, unit=data.scale == "unit",
                         device=device, rank=ranks.rank, world_size=ranks.world_size)


# Fewer held-out images than this measure nothing; a folder that small trains without evaluations.
MIN_REFERENCE_IMAGES = 50


def evaluation_interval(config: Config) -> tuple[int, str | None]:
    """Epochs between evaluations, and (when the config asked for them but there can be none)
    the line that says why. The reference images are found and verified here, before any write."""
    every = config.train.eval_every
    if not every:
        return 0, None
    held_out = len(load_data(config.data, "test")[0])
    if held_out < MIN_REFERENCE_IMAGES:
        return 0, (f"ganforge: no evaluation during training: data.holdout={config.data.holdout:g} "
                   f"keeps {held_out} of the folder's images for it, fewer than "
                   f"{MIN_REFERENCE_IMAGES}; raise data.holdout or add images")
    return every, None


def networks(config: Config, device: torch.device, ranks: Ranks, options: StepOptions
              ) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    """G and D built, placed and accelerated, and G's spec (to rebuild it from checkpoints)."""
    train = config.train
    built = build(config.model, data_shape(config.data))
    generator, discriminator = built.generator.to(device), built.discriminator.to(device)
    if train.sync_batch_norm and ranks.active and device.type == "cuda":
        # BatchNorm statistics over the global batch; same parameters and state-dict keys.
        generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
        discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
    if train.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    fusable = train.compile == "off"  # torch.compile cannot trace the fused kernels
    ops.accelerate(generator, device, fuse_batch_norm=fusable)
    ops.accelerate(discriminator, device, fuse_batch_norm=fusable and not options.differentiates_d_twice)
    return generator, discriminator, built.generator_spec
