"""Building what a Trainer holds from a config: the device, the batches, the accelerated networks,
and the speed switches that depend on them (CUDA graphs, torch.compile)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganforge import ops
from ganforge.config import Config
from ganforge.data.catalog import data_shape
from ganforge.data.loader import DeviceBatches
from ganforge.data.sources import load_data
from ganforge.errors import ConfigError, GanforgeError
from ganforge.models import build
from ganforge.training.distributed import ONE_PROCESS, Ranks
from ganforge.training.ema import Ema
from ganforge.training.optim import optimizers
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


# torch.compile modes that capture CUDA graphs of their own (inside the whole-step graph they
# cannot): with these the step runs eagerly around the compiled models.
COMPILE_MODES_WITH_GRAPHS = ("reduce-overhead", "max-autotune")


@dataclass(frozen=True, kw_only=True)
class Speed:
    """The speed switches of a run, decided once from the config, the device type and the process
    count. `Speed.plan(config, "cuda")` on a CPU builds CUDA's choices there: how the tests trace
    the step a GPU captures, without a GPU."""

    cuda_graphs: bool  # replay the whole step (both updates, EMA) as one CUDA graph
    compile: str  # torch.compile mode for G's and D's forward, or "off"
    cpu_kernels: bool  # ops.accelerate's CPU layer swaps (fused BatchNorm only without compile)

    @property
    def lr_tensors(self) -> bool:
        """Learning rates in device tensors, filled before each replay: a schedule under graphs."""
        return self.cuda_graphs

    @classmethod
    def plan(cls, config: Config, device_type: str, ranks: Ranks = ONE_PROCESS) -> Speed:
        """Graphs on CUDA unless turned off, under several processes (their gradient all-reduce
        runs outside the graph) or with a compile mode that makes graphs of its own."""
        train = config.train
        graphs = (device_type == "cuda" and train.cuda_graphs and not ranks.active
                  and train.compile not in COMPILE_MODES_WITH_GRAPHS)
        return cls(cuda_graphs=graphs, compile=train.compile, cpu_kernels=device_type == "cpu")


def tune_backends(device: torch.device) -> None:
    """On CUDA: cuDNN picks the fastest convolution for the step's fixed shapes, and float32
    matrix products use TF32 tensor cores (as cuDNN convolutions already do by default)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True


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
    return batches_of(config, images, labels, device, ranks)


def batches_of(config: Config, images: np.ndarray, labels: np.ndarray, device: torch.device,
               ranks: Ranks = ONE_PROCESS) -> DeviceBatches:
    """uint8 images (N, C, H, W) and their labels as the run's device batches."""
    data, train = config.data, config.train
    # A memory-mapped folder cache (bigger than the memory budget) stays on disk; batches are
    # gathered from it and moved to the device one at a time.
    resident = not isinstance(images, np.memmap)
    return DeviceBatches(torch.from_numpy(images).to(device) if resident else torch.from_numpy(images),
                         torch.from_numpy(labels).to(device), train.batch_size, train.seed,
                         data.rotation_degrees, data.hflip, data.vflip, unit=data.scale == "unit",
                         device=device, rank=ranks.rank, world_size=ranks.world_size,
                         channels_last=train.channels_last)


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


def example_inputs(config: Config, device: torch.device, generator: bool
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A small batch of what G (z) or D (images) takes, with labels for a conditional model."""
    channels, size, _ = data_shape(config.data)
    batch = 8  # a multiple of any minibatch-std group
    first = torch.zeros(batch, config.model.z_dim, device=device) if generator else \
        torch.zeros(batch, channels, size, size, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device) if config.model.conditional else None
    return first, labels


def networks(config: Config, device: torch.device, ranks: Ranks, options: StepOptions, speed: Speed
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
        for model, is_generator in ((generator, True), (discriminator, False)):
            ops.to_channels_last(model, *example_inputs(config, device, is_generator))
    if speed.cpu_kernels:
        fusable = speed.compile == "off"  # torch.compile cannot trace the fused kernels
        ops.accelerate(generator, device, fuse_batch_norm=fusable)
        ops.accelerate(discriminator, device,
                       fuse_batch_norm=fusable and not options.differentiates_d_twice)
    return generator, discriminator, built.generator_spec


def build_gan(config: Config, device: torch.device, speed: Speed, ranks: Ranks = ONE_PROCESS
              ) -> tuple[Gan, dict[str, Any]]:
    """The networks, optimizers, EMA and step options a run trains with, as `speed` plans them,
    and G's spec."""
    train = config.train
    options = StepOptions.from_config(config)
    generator, discriminator, generator_spec = networks(config, device, ranks, options, speed)
    optimizer_g, optimizer_d = optimizers(config, generator, discriminator, lr_tensors=speed.lr_tensors)
    # One D call on real and fake stacked: fewer, larger kernels on the CPU.
    joint = speed.cpu_kernels and speed.compile == "off" and ops.joins_batches(discriminator)
    gan = Gan(generator=generator, discriminator=discriminator, optimizer_g=optimizer_g,
              optimizer_d=optimizer_d,
              options=dataclasses.replace(options, joint_discriminator=joint),
              ema=Ema(generator, train.ema_half_life, train.batch_size * ranks.world_size,
                      rampup=train.ema_rampup) if train.ema_half_life else None,
              sync_gradients=ranks.average_gradients if ranks.active else None)
    if speed.compile != "off":
        compile_models(gan, speed.compile)
    return gan, generator_spec
