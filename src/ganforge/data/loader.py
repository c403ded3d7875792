"""A dataset resident on the training device, served as seeded shuffled batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ganforge.data.augment import to_model_range


class DeviceBatches:
    """Every epoch is a fresh permutation drawn from (seed, epoch) alone, and every batch's
    augmentation from (seed, epoch, rank, batch) alone, so any step of any epoch can be
    reproduced on resume without replaying the ones before it, and runs trained together in one
    process draw what each would draw alone."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int,
                 rotation_degrees: float = 0.0, hflip: bool = False, vflip: bool = False,
                 unit: bool = False, device: torch.device | None = None, rank: int = 0,
                 world_size: int = 1, channels_last: bool = False):
        if len(images) < batch_size:
            raise ValueError(f"{len(images)} images cannot fill one batch of {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch_size, seed
        self.rotation_degrees, self.hflip, self.vflip, self.unit = rotation_degrees, hflip, vflip, unit
        # Batches in the models' memory format: a convolution with NHWC weights and an NCHW
        # input converts it every step.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.device = device or images.device  # images may stay on the CPU (a memory map)
        # Several processes: each step takes a global batch of batch_size x world_size from the
        # permutation, and this rank trains on its slice of it.
        self.rank, self.global_batch = rank, batch_size * world_size
        # The last partial batch is dropped: a fixed batch shape keeps BatchNorm statistics
        # comparable and lets every step run the same kernels.
        self.steps_per_epoch = len(images) // self.global_batch
        self.augments = rotation_degrees > 0 or hflip or vflip
        self._augment_rng = torch.Generator(device=self.device)

    def permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=generator).to(self.labels.device)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches `start`, `start + 1`, ... of `epoch`: scaled, augmented images and labels."""
        order = self.permutation(epoch)
        for index in range(start, self.steps_per_epoch):
            first = index * self.global_batch + self.rank * self.batch_size
            chosen = order[first:first + self.batch_size]
            batch = self.images[chosen.to(self.images.device)].to(self.device, non_blocking=True)
            if self.augments:  # (Python's hash of integers is the same in every process)
                self._augment_rng.manual_seed(hash((self.seed, epoch, self.rank, index)) & (2 ** 63 - 1))
            images = to_model_range(batch, self.rotation_degrees, self.hflip, self.unit, self.vflip,
                                    generator=self._augment_rng)
            yield (images.contiguous(memory_format=self.memory_format),
                   self.labels[chosen.to(self.labels.device)])
