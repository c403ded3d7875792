"""Optimizers and their learning rates: built from the config, the rate a pure function of the step."""

from __future__ import annotations

import math

import torch

from ganforge.config import Config


def make_optimizer(module: torch.nn.Module, *, kind: str, lr: float, betas: tuple[float, float],
                   momentum: float, capturable: bool = False) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    # On the CPU, the fused kernel updates all parameters in one pass (foreach: ~10 passes).
    on_cpu = next(module.parameters()).device.type == "cpu"
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, capturable=capturable,
                            fused=on_cpu or None)


def optimizers(config: Config, generator: torch.nn.Module, discriminator: torch.nn.Module,
               capturable: bool) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """G's and D's optimizers as `train.*` configures them (TTUR: each its own kind and rate)."""
    train = config.train
    return (make_optimizer(generator, kind=train.optimizer_g, lr=train.lr_g, betas=train.betas_g,
                           momentum=train.sgd_momentum, capturable=capturable),
            make_optimizer(discriminator, kind=train.optimizer_d, lr=train.lr_d,
                           betas=train.betas_d, momentum=train.sgd_momentum, capturable=capturable))


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


def set_learning_rates(config: Config, optimizer_g: torch.optim.Optimizer,
                       optimizer_d: torch.optim.Optimizer, *, step: int, steps_per_epoch: int,
                       rollbacks: int) -> None:
    """The one place learning rates are set: config rate x schedule at `step` x 0.5 per NaN
    rollback."""
    factor = schedule_factor(config, step, steps_per_epoch) * 0.5 ** rollbacks
    for optimizer, lr in ((optimizer_g, config.train.lr_g), (optimizer_d, config.train.lr_d)):
        for group in optimizer.param_groups:
            group["lr"] = lr * factor
