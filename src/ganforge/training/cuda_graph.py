"""The whole training step as one captured CUDA graph.

A DCGAN step at batch 64-128 is a few hundred small kernels; on a GPU their launch cost, not
their arithmetic, sets the speed. Capturing the step once (G and D forward and backward, both
optimizer steps, the EMA update) and replaying it per batch removes that cost. Inputs are
copied into static buffers, the graph is replayed, and the statistics come back in a static
buffer.
"""

from __future__ import annotations

import contextlib

import torch

from ganforge.training.steps import Gan, train_step

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as CUDA graphs require


def _state_tensors(gan: Gan) -> list[torch.Tensor]:
    """Every tensor a step changes: parameters, buffers, optimizer state."""
    modules = [gan.generator, gan.discriminator] + ([gan.ema.model] if gan.ema else [])
    tensors = [t for module in modules for t in (*module.parameters(), *module.buffers())]
    for optimizer in (gan.optimizer_g, gan.optimizer_d):
        for state in optimizer.state.values():
            tensors += [value for value in state.values() if isinstance(value, torch.Tensor)]
    return tensors


def _undo_warmup(gan: Gan, saved: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Put every tensor back as it was before the warm-up, in place (the graph holds their
    addresses). Optimizer state the warm-up created starts at zero, as a fresh optimizer's
    does (Adam's step and moments; SGD's momentum then equals its first gradient)."""
    with torch.no_grad():
        for tensor in _state_tensors(gan):
            if id(tensor) in saved:
                tensor.copy_(saved[id(tensor)][1])
            else:
                tensor.zero_()


class GraphedStep:
    """Drop-in for `train_step(gan, real_images, z, labels, generator_step)`.

    `capture=False` runs the same static-buffer path eagerly: how the CPU tests cover it.
    The warm-up steps are undone (weights, statistics and optimizer state restored), so
    training is the same as without the graph.
    """

    def __init__(self, gan: Gan, capture: bool = True):
        self.gan, self.capture = gan, capture
        self.graphs: dict[bool, tuple] = {}

    def invalidate(self) -> None:
        """Forget captured graphs (after a rollback replaced optimizer state tensors)."""
        self.graphs.clear()

    def _build(self, real_images, z, labels, generator_step: bool):
        gan = self.gan
        static = (real_images.clone(), z.clone(), None if labels is None else labels.clone())
        saved = {id(tensor): (tensor, tensor.detach().clone()) for tensor in _state_tensors(gan)}
        # Capture needs the warm-up on a side stream; the eager path (CPU tests) runs it in place.
        stream = torch.cuda.Stream() if self.capture else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            for _ in range(WARMUP_STEPS):
                train_step(gan, *static, generator_step=generator_step)
        graph = stats = None
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                stats = train_step(gan, *static, generator_step=generator_step)
        _undo_warmup(gan, saved)
        return static, graph, stats

    def __call__(self, gan: Gan, real_images: torch.Tensor, z: torch.Tensor,
                 labels: torch.Tensor | None = None, generator_step: bool = True) -> torch.Tensor:
        if generator_step not in self.graphs:
            self.graphs[generator_step] = self._build(real_images, z, labels, generator_step)
        (static_real, static_z, static_labels), graph, stats = self.graphs[generator_step]
        static_real.copy_(real_images)
        static_z.copy_(z)
        if static_labels is not None:
            static_labels.copy_(labels)
        if graph is None:
            return train_step(gan, static_real, static_z, static_labels, generator_step)
        graph.replay()
        return stats
