"""The whole training step as one captured CUDA graph.

A DCGAN step at batch 64-128 is a few hundred small kernels; on a GPU their launch cost, not
their arithmetic, sets the speed. Capturing the step once (G and D forward and backward, both
optimizer steps, the EMA update) and replaying it per batch removes that cost. Inputs are
copied into static buffers, the graph is replayed, and the statistics come back in a static
buffer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable

import torch
from torch import nn

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as CUDA graphs require


def state_tensors(modules: list[nn.Module], optimizers: list[torch.optim.Optimizer]
                  ) -> list[torch.Tensor]:
    """Every tensor a training step changes: parameters, buffers, optimizer state."""
    tensors = [t for module in modules for t in (*module.parameters(), *module.buffers())]
    for optimizer in optimizers:
        for state in optimizer.state.values():
            tensors += [value for value in state.values() if isinstance(value, torch.Tensor)]
    return tensors


def _undo_warmup(tensors: list[torch.Tensor], saved: dict[int, tuple[torch.Tensor, torch.Tensor]]
                 ) -> None:
    """Put every tensor back as it was before the warm-up, in place (the graph holds their
    addresses). Optimizer state the warm-up created starts at zero, as a fresh optimizer's
    does (Adam's step and moments; SGD's momentum then equals its first gradient)."""
    with torch.no_grad():
        for tensor in tensors:
            if id(tensor) in saved:
                tensor.copy_(saved[id(tensor)][1])
            else:
                tensor.zero_()


class GraphedStep:
    """Drop-in for a training step `step(*inputs, variant)` (tensors, or None) that changes the
    tensors `state()` lists and returns a tensor of statistics; one graph per `variant`.

    `capture=False` runs the same static-buffer path eagerly: how the CPU tests cover it.
    The warm-up steps are undone (weights, statistics and optimizer state restored), so
    training is the same as without the graph.
    """

    def __init__(self, step: Callable[..., torch.Tensor], state: Callable[[], list[torch.Tensor]],
                 capture: bool = True):
        self.step, self.state, self.capture = step, state, capture
        self.graphs: dict[Hashable, tuple] = {}

    def invalidate(self) -> None:
        """Forget captured graphs (after a rollback replaced optimizer state tensors)."""
        self.graphs.clear()

    def _build(self, inputs: tuple[torch.Tensor | None, ...], variant: Hashable):
        static = tuple(None if tensor is None else tensor.clone() for tensor in inputs)
        saved = {id(tensor): (tensor, tensor.detach().clone()) for tensor in self.state()}
        # Capture needs the warm-up on a side stream; the eager path (CPU tests) runs it in place.
        stream = torch.cuda.Stream() if self.capture else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            for _ in range(WARMUP_STEPS):
                self.step(*static, variant)
        graph = stats = None
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                stats = self.step(*static, variant)
        _undo_warmup(self.state(), saved)
        return static, graph, stats

    def __call__(self, *inputs: torch.Tensor | None, variant: Hashable = None) -> torch.Tensor:
        if variant not in self.graphs:
            self.graphs[variant] = self._build(inputs, variant)
        static, graph, stats = self.graphs[variant]
        for buffer, tensor in zip(static, inputs):
            if buffer is not None:
                buffer.copy_(tensor)
        if graph is None:
            return self.step(*static, variant)
        graph.replay()
        return stats
