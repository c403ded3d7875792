"""The step a GPU captures as one CUDA graph, traced on the CPU for what would break or freeze it.

CI has no GPU, so every preset's step is built as the trainer builds it for CUDA (PyTorch's
layers, fused Adam, learning rates in tensors, EMA with ramp-up, channels_last) and run here
under a TorchDispatchMode that fails on
  (a) a host read: a tensor's value brought to Python (`.item()`, `bool()`, `nonzero`, ...) or
      copied to the host (`.cpu()`, `.tolist()`, `.numpy()`): a sync, forbidden while capturing;
  (b) two steps of one variant whose op sequences or non-tensor arguments differ: a host value
      that changes per step (a learning rate, an EMA weight read as a number) that a captured
      graph would freeze at its first value;
  (c) a state tensor (weight, statistic, optimizer state) that moves to new storage: the graph
      would keep updating the old one;
  (d) a convolution given NHWC weights and an input not laid out NHWC (converted every step),
      or a 1x1 input whose strides PyTorch reads as NCHW (the mix whose weight gradient
      torch.compile's fake kernel predicted in the wrong layout).
"""

from __future__ import annotations

import importlib
import itertools
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch._prims_common import suggest_memory_format
from torch.utils._python_dispatch import TorchDispatchMode

from ganforge.config import preset_names, resolve
from ganforge.data.catalog import data_shape
from ganforge.ops.cpu import kernels
from ganforge.training import setup
from ganforge.training.optim import set_learning_rates
from ganforge.training.setup import Speed, batches_of, build_gan
from ganforge.training.step import gan_state, train_step

aten = torch.ops.aten
# Ops whose result depends on a tensor's values on the host.
HOST_READS = {aten._local_scalar_dense, aten.nonzero, aten.equal, aten.masked_select, aten.unique_dim,
              aten._unique, aten._unique2, aten.unique_consecutive}
CONVOLUTIONS = {aten.convolution, aten.convolution_backward}
# Tensor methods that copy values to the host without an op the dispatch mode sees on a CPU.
HOST_COPIES = ("cpu", "tolist", "numpy", "__array__")
TORCH = str(Path(torch.__file__).parent)
TRACE_FRAMES = ("where", "__torch_dispatch__", "refuse")


def where() -> str:
    """The innermost line on the stack that is not PyTorch's or this trace's own."""
    frames = [frame for frame in traceback.extract_stack()
              if TORCH not in frame.filename and frame.name not in TRACE_FRAMES]
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} ({frame.line})"


def reads_nhwc(tensor: torch.Tensor) -> bool:
    """Whether PyTorch reads `tensor`'s strides as NHWC (what cuDNN and the fake kernels go by)."""
    return suggest_memory_format(tensor) == torch.channels_last


def signature(value):
    """What a captured graph bakes in: tensors by dtype, shape and layout, other values as they are
    (a tensor made from a Python number, `lift_fresh`, by its value too)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, tuple(value.shape), value.stride())
    if isinstance(value, (list, tuple)):
        return tuple(signature(item) for item in value)
    if isinstance(value, dict):
        return tuple((key, signature(item)) for key, item in sorted(value.items()))
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device,
                                           torch.memory_format, torch.layout)):
        return value
    return type(value).__name__  # (the profiler's record handles)


class StepTrace(TorchDispatchMode):
    """Records every op of a step with its non-tensor arguments, and the problems (a), (d)."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple] = []
        self.problems: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        if packet in HOST_READS:
            self.problems.append(f"host read {func} at {where()}")
        # (Convolutions that autograd issues for a double backward take the layouts it chose.)
        if packet in CONVOLUTIONS and not (packet is aten.convolution
                                           and torch._C._current_autograd_node() is not None):
            # convolution_backward(grad_out, input, weight, ...); convolution(input, weight, ...)
            images, weight = args[1:3] if packet is aten.convolution_backward else args[:2]
            if reads_nhwc(weight) and (not images.is_contiguous(memory_format=torch.channels_last)
                                       or images.shape[-2:] == (1, 1) and not reads_nhwc(images)):
                self.problems.append(f"{func} of NHWC weights {tuple(weight.shape)} and an NCHW "
                                     f"input {tuple(images.shape)} at {where()}")
        values = [torch._C.TensorBase.tolist(args[0])] if packet is aten.lift_fresh else []
        self.ops.append((str(func), signature(args), signature(kwargs), values))
        return func(*args, **kwargs)


def refusing(name: str, original, trace: StepTrace):
    """Tensor.NAME that records a host copy in `trace`, then does it."""
    def refuse(tensor, *args, **kwargs):
        trace.problems.append(f"host copy Tensor.{name}() at {where()}")
        return original(tensor, *args, **kwargs)
    return refuse


@contextmanager
def traced(monkeypatch):
    """A StepTrace, with the host-copying tensor methods made to fail while it runs."""
    trace = StepTrace()
    with monkeypatch.context() as patch:
        for name in HOST_COPIES:
            patch.setattr(torch.Tensor, name, refusing(name, getattr(torch.Tensor, name), trace))
        with trace:
            yield trace


def cuda_built(preset: str, tmp_path: Path, **overrides):
    """`preset` at batch 8, with EMA (ramp-up on) and a linear learning-rate schedule, built as
    the trainer builds it for CUDA, on the CPU; and its batches from random images."""
    config = resolve(preset, overrides=[
        ("train.batch_size", 8), ("train.device", "cpu"), ("data.path", str(tmp_path)),
        ("train.lr_schedule", "linear"), ("train.epochs", 1), *overrides.items()])
    if not config.train.ema_half_life:
        config.train.ema_half_life = 500
    speed = Speed.plan(config, "cuda")
    assert speed.cuda_graphs and speed.lr_tensors and not speed.cpu_kernels
    torch.manual_seed(0)
    gan, _ = build_gan(config, torch.device("cpu"), speed)
    channels, size, classes = data_shape(config.data)
    images = np.random.default_rng(0).integers(0, 256, (32, channels, size, size), dtype=np.uint8)
    labels = np.arange(32, dtype=np.int64) % max(classes, 1)
    return config, gan, batches_of(config, images, labels, torch.device("cpu"))


def variants(config) -> list[tuple[bool, bool]]:
    """The (generator step, R1) variants a run of `config` replays, each its own graph."""
    found = [(True, False)] + ([(False, False)] if config.train.d_steps > 1 else [])
    if config.loss.r1_weight:
        found += [(generator_step, True) for generator_step, _ in found]
    return found


def trace_steps(config, gan, batches, monkeypatch) -> list[str]:
    """Per variant: one warm-up step, then two traced ones; the problems found, (a) to (d)."""
    problems = []
    stream = (batch for epoch in itertools.count() for batch in batches.epoch(epoch))
    monkeypatch.setattr(kernels, "serves", lambda tensor: False)  # CUDA takes PyTorch's own ops
    # RMSprop keeps a tensor rate on the device only when `capturable`, which it allows on
    # accelerators alone: allowed on the CPU here, as the trace stands in for CUDA.
    monkeypatch.setattr(importlib.import_module("torch.optim.rmsprop"), "_get_capturable_supported_devices",
                        lambda supports_xla=True: ["cuda", "cpu"])
    step = 0
    for variant in variants(config):
        recorded = []
        for repeat in range(3):
            real_images, labels = next(stream)
            z = torch.randn(len(real_images), config.model.z_dim)
            labels = labels if config.model.conditional else None
            set_learning_rates(config, gan.optimizer_g, gan.optimizer_d, step=step, steps_per_epoch=8,
                               rollbacks=0)
            step += 1
            if not repeat:  # the warm-up creates the optimizer state
                train_step(gan, real_images, z, labels, *variant)
                continue
            storages = [tensor.untyped_storage().data_ptr() for tensor in gan_state(gan)]
            with traced(monkeypatch) as trace:
                train_step(gan, real_images, z, labels, *variant)
            problems += [f"{variant}: {problem}" for problem in trace.problems]
            if [tensor.untyped_storage().data_ptr() for tensor in gan_state(gan)] != storages:
                problems.append(f"{variant}: a state tensor moved to new storage")
            recorded.append(trace.ops)
        first, second = recorded
        if first != second:
            index = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b),
                         min(len(first), len(second)))
            problems.append(f"{variant}: the two steps differ at op {index}: "
                            f"{first[index] if index < len(first) else 'end'} then "
                            f"{second[index] if index < len(second) else 'end'}")
    return problems


@pytest.mark.parametrize("preset", preset_names())
def test_the_step_cuda_captures_reads_nothing_on_the_host(preset, tmp_path, monkeypatch):
    config, gan, batches = cuda_built(preset, tmp_path)
    assert trace_steps(config, gan, batches, monkeypatch) == []


@pytest.mark.parametrize("overrides", [
    {"train.d_steps": 2, "loss.r1_weight": 1.0, "loss.r1_every": 2},  # critic-only and lazy R1 steps
    {"train.precision": "bf16", "train.diffaugment": "color,translation,cutout"},
    {"train.optimizer_d": "sgd", "train.sgd_momentum": 0.9},
    # the original WGAN: RMSprop, weight clipping, 5 critic steps
    {"loss.name": "wgan", "loss.weight_clip": 0.01, "train.optimizer_d": "rmsprop",
     "train.optimizer_g": "rmsprop", "train.d_steps": 5},
    {"train.g_fresh_noise": True, "loss.d_loss_mean": True, "model.init": "course"},
    {"train.g_steps": 2, "train.ema_half_life": 1000},  # carpedm20's two G updates a step
], ids=["critic-r1", "bf16-diffaugment", "sgd", "wgan-rmsprop-clip", "course-notebook", "g-twice"])
def test_every_step_variant_reads_nothing_on_the_host(overrides, tmp_path, monkeypatch):
    config, gan, batches = cuda_built("mnist-cgan", tmp_path, **overrides)
    assert trace_steps(config, gan, batches, monkeypatch) == []


def test_the_trace_names_the_line_of_a_host_read(tmp_path, monkeypatch):
    """The EMA as it was (`torch._foreach_lerp_` given one 0-dim tensor weight, which PyTorch binds
    as a Scalar and reads on the host) fails, and the message names the line."""
    config, gan, batches = cuda_built("mnist-dcgan", tmp_path)
    ema = gan.ema

    def old_update(generator):
        beta = 0.5 ** (ema.batch_size / ema.half_life_now())
        parameters = list(ema.model.parameters())
        torch._foreach_lerp_(parameters, list(generator.parameters()), (1 - beta).to(parameters[0].dtype))
        ema.images_seen.add_(ema.batch_size)

    monkeypatch.setattr(ema, "update", old_update)
    problems = trace_steps(config, gan, batches, monkeypatch)
    host_reads = [problem for problem in problems if "host read" in problem]
    assert host_reads and all("aten._local_scalar_dense" in problem and "test_step_trace.py" in problem
                              and "torch._foreach_lerp_(parameters" in problem
                              for problem in host_reads), problems
    # and the weight, read as a number, differs every step: a graph would freeze the first one
    assert any("differ" in problem and "_foreach_lerp_" in problem for problem in problems), problems


def test_the_trace_catches_a_host_copy_a_frozen_number_a_moved_tensor_and_mixed_layouts(
        tmp_path, monkeypatch):
    """Checks (a) for copies, (b), (c) and (d) each fail on a step that breaks them."""
    config, gan, batches = cuda_built("mnist-dcgan", tmp_path)
    update = gan.ema.update
    monkeypatch.setattr(gan.ema, "update", lambda generator: (update(generator),
                                                              gan.ema.images_seen.cpu()))
    assert any("host copy Tensor.cpu()" in problem
               for problem in trace_steps(config, gan, batches, monkeypatch))

    config, gan, batches = cuda_built("mnist-dcgan", tmp_path)
    for group in gan.optimizer_g.param_groups:
        group["lr"] = float(group["lr"])  # a number: the scheduled rate differs every step
    assert any("differ" in problem for problem in trace_steps(config, gan, batches, monkeypatch))

    config, gan, batches = cuda_built("mnist-dcgan", tmp_path)
    monkeypatch.setattr(gan.ema, "update", lambda generator: gan.ema.model.load_state_dict(
        {key: value.clone() for key, value in generator.state_dict().items()}, assign=True))
    assert any("new storage" in problem for problem in trace_steps(config, gan, batches, monkeypatch))

    config, gan, batches = cuda_built("mnist-dcgan", tmp_path)
    gan.generator.net[0]._forward_pre_hooks.clear()  # G's first layer takes z's 1x1 as it comes
    problems = trace_steps(config, gan, batches, monkeypatch)
    assert problems and all("NHWC weights (64, 256, 3, 3)" in problem for problem in problems), problems


@pytest.mark.slow
def test_the_compiled_step_reads_nothing_on_the_host(tmp_path, monkeypatch):
    """train.compile with the whole-step graph (as CUDA plans it): the compiled forward passes,
    their autograd and the rest of the step pass the same checks. aot_eager stands in for
    inductor (the same capture and autograd tracing, no C++ build)."""
    monkeypatch.setattr(setup, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    config, gan, batches = cuda_built("mnist-dcgan", tmp_path, **{"train.compile": "default"})
    assert Speed.plan(config, "cuda").cuda_graphs
    assert "_compiled_call_impl" in vars(gan.generator)
    assert trace_steps(config, gan, batches, monkeypatch) == []
