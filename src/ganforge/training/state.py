"""What a checkpoint of a training run holds, and loading one back into the GAN and the run's
counters (the file format itself, atomic and weights-only, is `ganforge.runs.checkpoint`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.errors import CheckpointError
from ganforge.runs import checkpoint
from ganforge.training.rng import restore_rng, rng_state, seed_everything
from ganforge.training.step import STAT_NAMES, Gan
from ganforge.version import __version__


@dataclass
class Counters:
    """Where a run is, besides its networks: what the loop advances and a checkpoint keeps."""

    step: int = 0
    # Running sums of the step statistics (STAT_NAMES) over the current epoch, on the device.
    epoch_stats: torch.Tensor = field(default_factory=lambda: torch.zeros(len(STAT_NAMES)))
    best_fid: float = math.inf
    rollbacks: int = 0  # NaN rollbacks so far; each halves the learning rates

# How a process runs its optimizer, not what it learnt: kept from this process on load.
IMPLEMENTATION_FLAGS = ("fused", "capturable", "foreach")


def _portable(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimizer's state dict with its learning rates as numbers: a rate held in a device
    tensor (CUDA graphs) would load only where that device exists."""
    saved = optimizer.state_dict()
    return {**saved, "param_groups": [{**group, "lr": float(group["lr"])}
                                      for group in saved["param_groups"]]}


def checkpoint_state(*, gan: Gan, generator_spec: dict[str, Any], config: Any, counters: Counters,
                     steps_per_epoch: int) -> dict[str, Any]:
    """Unwrapped modules, both optimizers, every RNG, the counters and G's constructor arguments."""
    return {
        "format": checkpoint.FORMAT,
        "ganforge_version": __version__,
        "config": config.to_dict(),
        "step": counters.step,
        "steps_per_epoch": steps_per_epoch,  # differs when the process count does
        "epoch_stats": counters.epoch_stats.cpu(),
        "generator": {**generator_spec, "state_dict": gan.generator.state_dict()},
        "discriminator": {"state_dict": gan.discriminator.state_dict()},
        **({"generator_ema": {"state_dict": gan.ema.model.state_dict(),
                              "images_seen": gan.ema.images_seen.item()}} if gan.ema else {}),
        "optimizer_g": _portable(gan.optimizer_g),
        "optimizer_d": _portable(gan.optimizer_d),
        "rng": rng_state(),
        "best_fid": counters.best_fid,
        "rollbacks": counters.rollbacks,
    }


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Load an optimizer's state but keep how this process runs it (fused, capturable, a rate
    held in a device tensor that a CUDA graph reads; its value is set after loading): a
    checkpoint written on a GPU resumes on a CPU, and back."""
    flags = [{key: group[key] for key in IMPLEMENTATION_FLAGS if key in group}
             | ({"lr": group["lr"]} if isinstance(group["lr"], torch.Tensor) else {})
             for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, kept in zip(optimizer.param_groups, flags):
        group.update(kept)


def _load_weights(gan: Gan, generator_spec: dict[str, Any], saved: dict[str, Any], source: str) -> None:
    if saved["generator"]["name"] != generator_spec["name"]:
        raise CheckpointError(
            f"{source} holds model {saved['generator']['name']!r} but the config builds "
            f"{generator_spec['name']!r}; resume with the run's own config")
    try:
        gan.generator.load_state_dict(saved["generator"]["state_dict"])
        gan.discriminator.load_state_dict(saved["discriminator"]["state_dict"])
        _load_optimizer(gan.optimizer_g, saved["optimizer_g"])
        _load_optimizer(gan.optimizer_d, saved["optimizer_d"])
        if gan.ema is not None:
            gan.ema.model.load_state_dict(saved["generator_ema"]["state_dict"])
            # (a checkpoint written before the ramp-up: its G steps' images)
            gan.ema.images_seen.fill_(saved["generator_ema"].get(
                "images_seen", saved["step"] * gan.ema.batch_size))
    except (RuntimeError, ValueError, KeyError) as error:
        first_line = (str(error).strip().splitlines() or [repr(error)])[0]
        raise CheckpointError(f"{source} does not fit the configured model ({first_line}); "
                              "resume with the run's own config") from None


def restore(saved: dict[str, Any], *, gan: Gan, generator_spec: dict[str, Any], source: str,
            steps_per_epoch: int, device: torch.device, reseed: int | None = None) -> Counters:
    """Load a checkpoint into `gan` and the RNGs; returns the counters to continue from.
    `reseed`: this process's seed offset under torchrun (rank > 0), applied at the saved step.
    Learning rates are the caller's to set."""
    _load_weights(gan, generator_spec, saved, source)
    restore_rng(saved["rng"])
    if reseed is not None:
        seed_everything(reseed + saved["step"])
    step, epoch_stats = saved["step"], saved["epoch_stats"].to(device)
    saved_steps_per_epoch = saved.get("steps_per_epoch", steps_per_epoch)
    if epoch_stats.shape != (len(STAT_NAMES),):  # from a version that logged fewer stats
        epoch_stats = torch.zeros(len(STAT_NAMES), device=device)
    if saved_steps_per_epoch != steps_per_epoch:
        # Saved by another number of processes: continue from its last complete epoch.
        step = step // saved_steps_per_epoch * steps_per_epoch
        epoch_stats = torch.zeros_like(epoch_stats)
    return Counters(step, epoch_stats, saved["best_fid"], saved["rollbacks"])
