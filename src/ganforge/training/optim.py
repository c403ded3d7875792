"""Optimizers and their learning rates: built from the config, the rate a pure function of the step."""

from __future__ import annotations

import math

import torch

from ganforge.config import Config


def make_optimizer(module: torch.nn.Module, *, kind: str, lr: float, betas: tuple[float, float],
                   momentum: float, lr_tensor: bool = False) -> torch.optim.Optimizer:
    """Adam or SGD over `module`'s parameters. On a CPU or GPU the fused kernel updates all of them
    in one pass (foreach: ~10 passes); it keeps Adam's step count on the device, so a CUDA graph
    can replay it. `lr_tensor`: the rate is a device tensor that `set_learning_rates` fills (a
    captured graph then follows a schedule; a Python number would be frozen into it)."""
    device = next(module.parameters()).device
    rate = torch.tensor(lr, device=device) if lr_tensor else lr
    fused = device.type in ("cpu", "cuda") or None
    if kind == "sgd":
        # (SGD's foreach path reads a tensor rate on the host; its fused kernel does not.)
        return torch.optim.SGD(module.parameters(), lr=rate, momentum=momentum,
                               fused=True if lr_tensor else None)
    if kind == "rmsprop":  # (no fused kernel; `capturable` keeps a tensor rate on the device)
        return torch.optim.RMSprop(module.parameters(), lr=rate, momentum=momentum,
                                   capturable=lr_tensor, foreach=True if lr_tensor else None)
    return torch.optim.Adam(module.parameters(), lr=rate, betas=betas, fused=fused)


def optimizers(config: Config, generator: torch.nn.Module, discriminator: torch.nn.Module,
               lr_tensors: bool) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """G's and D's optimizers as `train.*` configures them (TTUR: each its own kind and rate)."""
    train = config.train
    return (make_optimizer(generator, kind=train.optimizer_g, lr=train.lr_g, betas=train.betas_g,
                           momentum=train.sgd_momentum, lr_tensor=lr_tensors),
            make_optimizer(discriminator, kind=train.optimizer_d, lr=train.lr_d,
                           betas=train.betas_d, momentum=train.sgd_momentum, lr_tensor=lr_tensors))


def schedule_factor(config: Config, step: int, steps_per_epoch: int) -> float:
    """The learning-rate multiplier at `step`: a pure function of the step (and the planned
    epochs, not --max-steps), so resume needs no scheduler state."""
    train = config.train
    progress = step / (train.epochs * steps_per_epoch)
    if train.lr_schedule == "linear":
        return 1 - progress
    if train.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if train.lr_schedule == "step":
        return train.lr_gamma ** (step // (steps_per_epoch * train.lr_step_epochs))
    return 1.0


def learning_rates(config: Config, *, step: int, steps_per_epoch: int, rollbacks: int
                   ) -> tuple[float, float]:
    """G's and D's rates at `step`: config rate x schedule x 0.5 per NaN rollback."""
    factor = schedule_factor(config, step, steps_per_epoch) * 0.5 ** rollbacks
    return config.train.lr_g * factor, config.train.lr_d * factor


def set_learning_rates(config: Config, optimizer_g: torch.optim.Optimizer,
                       optimizer_d: torch.optim.Optimizer, *, step: int, steps_per_epoch: int,
                       rollbacks: int) -> None:
    """The one place learning rates are set; a rate held in a tensor is filled in place (a
    captured graph reads that tensor)."""
    rates = learning_rates(config, step=step, steps_per_epoch=steps_per_epoch, rollbacks=rollbacks)
    for optimizer, lr in zip((optimizer_g, optimizer_d), rates):
        for group in optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
