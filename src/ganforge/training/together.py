"""Many runs trained at once in one process, each still a normal run folder.

    outcomes = train_together([RunTogether(trainer, run_dir, random_state), ...], mode="auto")

Every run keeps its own Trainer and session (`Trainer.session`): its own data order, noise,
BatchNorm statistics, optimizer state, evaluations, grids, checkpoints and resume. Only the steps
are computed together, one step of every run per round:

- **stack**: runs whose steps compute the same shapes and operations (they differ in seed,
  learning rates, optimizers, label smoothing, EMA half-life, augmentation, or anything outside
  the step: epochs, evaluations...) become one stack. Their G and D are one module each over
  parameters stacked along a new first dimension (`StackedModule`: on a GPU called through
  `torch.func.vmap`, whose batching rules turn the N convolutions into grouped ones); the N
  losses are summed, so one backward pass gives each run its own gradients, and each run's own
  optimizer steps its slice. Each run's modules are views into the stack, so its grids,
  evaluations and checkpoints read the current weights.
- **turns**: every other run (and every run under mode "turns") takes its step in turn; on CUDA
  each run works on its own stream, so the GPU overlaps them.

A run trained in a stack equals the run trained alone, up to float rounding
(tests/training/test_together.py). Runs whose step draws random numbers (dropout in D, instance
noise, DiffAugment, WGAN-GP's interpolations), mode seeking or FastGAN's reconstruction take
turns: a stack would draw other numbers than each run alone does.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ganforge import ops
from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.runs import RunDir
from ganforge.training.rng import restore_rng, rng_state
from ganforge.training.signals import StopRequests
from ganforge.training.step import Gan, train_step
from ganforge.training.trainer import Outcome, StepRequest, Trainer

MODES = ("auto", "stack", "turns")

# Keys a stack's runs may differ in: each run's own hyper-parameters (tensors in the stacked
# step) or data (each run draws its own batches).
PER_RUN_KEYS = {"train.seed", "train.lr_g", "train.lr_d", "train.betas_g", "train.betas_d",
                "train.optimizer_g", "train.optimizer_d", "train.sgd_momentum",
                "loss.real_label", "loss.fake_label", "train.ema_half_life", "data.rotation_degrees",
                "data.hflip", "data.vflip", "data.limit", "data.path"}
# Keys of the loop around the step, not of the step (each run's own session handles them).
LOOP_KEYS = {"description", "train.epochs", "train.max_steps", "train.max_minutes", "train.max_images",
             "train.eval_every", "train.eval_samples", "train.num_samples", "train.log_every",
             "train.log_lines", "train.health", "train.health_window", "train.checkpoint_every",
             "train.on_nan", "train.max_rollbacks", "train.lr_schedule", "train.lr_step_epochs",
             "train.lr_gamma", "train.cuda_graphs"}


def unstackable_reason(trainer: Trainer) -> str | None:
    """Why a run's step cannot join a stack (None: it can)."""
    options, train = trainer.gan.options, trainer.config.train
    reasons = {
        "dropout in a network": any(isinstance(module, nn.Dropout) and module.p > 0
                                    for network in (trainer.gan.generator, trainer.gan.discriminator)
                                    for module in network.modules()),
        "instance noise": options.instance_noise > 0,
        "DiffAugment": bool(options.diffaugment),
        "a gradient penalty at random interpolations": options.loss.gradient_penalty,
        "mode seeking": options.mode_seeking > 0,
        "D's reconstruction loss": options.reconstruction > 0,
        "torch.compile": train.compile != "off",
        "bf16": train.precision != "fp32",
    }
    return next((reason for reason, present in reasons.items() if present), None)


def stack_key(config: Config) -> str:
    """What must be equal for runs to stack: the config without PER_RUN_KEYS and LOOP_KEYS (and
    whether an EMA is kept at all)."""
    values = config.to_dict()
    for dotted in PER_RUN_KEYS | LOOP_KEYS:
        section, key = dotted.split(".") if "." in dotted else (None, dotted)
        (values[section] if section else values).pop(key, None)
    values["ema"] = bool(config.train.ema_half_life)
    return json.dumps(values, sort_keys=True)


def stacking(mode: str, device: torch.device) -> bool:
    """Whether `mode` stacks runs on `device`. "auto" stacks on CUDA only: a CPU gains nothing
    from larger kernels, and runs in turns there are a little faster than a stack
    (docs/performance.md)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode == "stack" or (mode == "auto" and device.type == "cuda")


def plan(trainers: list[Trainer], mode: str = "auto") -> list[list[int]]:
    """The runs' indices in groups, stacks first: a group of several is a stack, a group of one
    takes turns."""
    stacks = bool(trainers) and stacking(mode, trainers[0].device)
    groups: dict[str, list[int]] = {}
    for index, trainer in enumerate(trainers):
        # (runs resumed at different steps would disagree on the step's variant)
        key = stack_key(trainer.config) + str(trainer.counters.step) \
            if stacks and unstackable_reason(trainer) is None else f"turns {index}"
        groups.setdefault(key, []).append(index)
    return sorted(groups.values(), key=len, reverse=True)


class StackedModule(nn.Module):
    """N modules of one architecture as one: parameters and buffers stacked along a new first
    dimension, each run's own module turned into views of its slices. Inputs and outputs carry
    the run dimension first: (N, batch, ...). The forward pass is vmapped over the runs (PyTorch's
    batching rules turn N convolutions into grouped ones: fewer, larger kernels for a GPU), or,
    not `vectorized` (the default on a CPU, whose cores one run's kernels already keep busy),
    the runs' slices go through the architecture one after another with ganforge's CPU kernels,
    which vmap cannot batch."""

    def __init__(self, modules: list[nn.Module], vectorized: bool | None = None):
        super().__init__()
        self.runs = len(modules)  # (ops.gradient_norm gives one norm per run)
        self.parameter_names = [name for name, _ in modules[0].named_parameters()]
        self.buffer_names = [name for name, _ in modules[0].named_buffers()]
        device = next(iter(modules[0].parameters())).device
        self.vectorized = device.type == "cuda" if vectorized is None else vectorized
        # The architecture alone, on the meta device: functional_call supplies every tensor.
        architecture = copy.deepcopy(modules[0])
        self._architecture = [(ops.plain(architecture) if self.vectorized else architecture).to("meta")]
        # (contiguous: a run's NHWC weights stacked stay NHWC, beside vmap's NCHW 1x1 inputs)
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([module.get_parameter(name).detach() for module in modules])
                         .contiguous())
            for name in self.parameter_names)
        self.stacked_buffers = [torch.stack([module.get_buffer(name) for module in modules])
                                for name in self.buffer_names]
        self.modules_of_runs = modules
        self.link()

    def link(self) -> None:
        """Make every run's parameters and buffers views of its slice of the stack."""
        for run, module in enumerate(self.modules_of_runs):
            for name, stacked in zip(self.parameter_names, self.stacked):
                module.get_parameter(name).data = stacked.data[run]
            for name, stacked in zip(self.buffer_names, self.stacked_buffers):
                module.get_buffer(name).data = stacked[run]

    @property
    def architecture(self) -> nn.Module:
        """The runs' architecture, on the meta device (a list holds it: not a submodule)."""
        return self._architecture[0]

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        template = self.architecture.train(self.training)

        def one_run(parameters, buffers, inputs, *labels):
            return torch.func.functional_call(template, (parameters, buffers), (inputs, *labels))

        extra = () if labels is None else (labels,)
        if self.vectorized:
            parameters = dict(zip(self.parameter_names, self.stacked))
            buffers = dict(zip(self.buffer_names, self.stacked_buffers))
            return torch.func.vmap(one_run, randomness="error")(parameters, buffers, inputs, *extra)
        # (unbind: its backward stacks the N gradients with one copy; indexing would fill N zeros)
        parameters = zip(*(stacked.unbind(0) for stacked in self.stacked))
        buffers = zip(*(stacked.unbind(0) for stacked in self.stacked_buffers)) if self.buffer_names \
            else [()] * self.runs
        arguments = zip(*(tensor.unbind(0) for tensor in (inputs, *extra)))
        return torch.stack([one_run(dict(zip(self.parameter_names, run_parameters)),
                                    dict(zip(self.buffer_names, run_buffers)), *run_arguments)
                            for run_parameters, run_buffers, run_arguments
                            in zip(parameters, buffers, arguments)])


def _per_run(values: list[float], like: torch.Tensor) -> torch.Tensor:
    """Per-run numbers as a tensor of shape (N, 1, ...) that broadcasts against `like`."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *[1] * (like.dim() - 1))


class StackedOptimizer:
    """The runs' own optimizers stepping a StackedModule. Before the step every run's parameters
    (views of its slices) take views of its slices of the stacked gradients; each run's optimizer
    then updates its own slice with its own state and hyper-parameters, exactly as alone: a
    schedule, a NaN rollback, a checkpoint's state are all the run's own, untouched by the stack."""

    def __init__(self, stacked: StackedModule, optimizers: list[torch.optim.Optimizer]):
        self.stacked, self.optimizers = stacked, optimizers
        self.parameters_of_runs = [[module.get_parameter(name) for name in stacked.parameter_names]
                                   for module in stacked.modules_of_runs]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for parameter in self.stacked.stacked:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for run, (optimizer, parameters) in enumerate(zip(self.optimizers, self.parameters_of_runs)):
            for run_parameter, stacked in zip(parameters, self.stacked.stacked):
                run_parameter.grad = None if stacked.grad is None else stacked.grad[run]
            optimizer.step()
            for run_parameter in parameters:
                run_parameter.grad = None


class StackedEma:
    """Each run's generator EMA (`training.ema.Ema`) over the stack: every run its own half-life
    and images seen, its EMA model's tensors views of the stacked average."""

    def __init__(self, generator: StackedModule, emas: list[Any]):
        self.emas = emas
        self.model = StackedModule([ema.model for ema in emas], generator.vectorized)
        self.model.requires_grad_(False)
        self.images_seen = torch.stack([ema.images_seen for ema in emas])
        for run, ema in enumerate(emas):
            ema.images_seen.data = self.images_seen[run]
        self.batch_size, self.rampup = emas[0].batch_size, emas[0].rampup
        self.half_lives = torch.tensor([float(ema.half_life) for ema in emas], dtype=torch.float64,
                                       device=self.images_seen.device)

    @torch.no_grad()
    def update(self, generator: StackedModule) -> None:
        half_life = self.half_lives
        if self.rampup:
            half_life = torch.minimum((self.images_seen * self.rampup).clamp(min=1e-8), half_life)
        weight = 1 - 0.5 ** (self.batch_size / half_life)
        for average, current in zip(self.model.stacked, generator.stacked):
            average.lerp_(current, weight.to(average.dtype).view(-1, *[1] * (average.dim() - 1)))
        for average, current in zip(self.model.stacked_buffers, generator.stacked_buffers):
            average.copy_(current)
        self.images_seen.add_(self.batch_size)


class Stack:
    """Several runs' GANs as one: the stacked networks, optimizers, EMA and step options."""

    def __init__(self, trainers: list[Trainer], vectorized: bool | None = None):
        self.trainers = trainers
        gans = [trainer.gan for trainer in trainers]
        generator = StackedModule([gan.generator for gan in gans], vectorized)
        discriminator = StackedModule([gan.discriminator for gan in gans], vectorized)
        self.optimizers = (StackedOptimizer(generator, [gan.optimizer_g for gan in gans]),
                           StackedOptimizer(discriminator, [gan.optimizer_d for gan in gans]))
        ema = StackedEma(generator, [gan.ema for gan in gans]) if gans[0].ema else None
        labels = [_per_run([getattr(gan.options, name) for gan in gans], torch.zeros(1, 1))
                  .to(trainers[0].device) for name in ("real_label", "fake_label")]
        # (one D call on real and fake: each run's fused BatchNorms keep the halves apart, but
        # PyTorch's, which vmap batches, would not)
        joint = gans[0].options.joint_discriminator and not discriminator.vectorized
        options = dataclasses.replace(gans[0].options, real_label=labels[0], fake_label=labels[1],
                                      joint_discriminator=joint)
        self.gan = Gan(generator=generator, discriminator=discriminator, optimizer_g=self.optimizers[0],
                       optimizer_d=self.optimizers[1], options=options, ema=ema)

    def step(self, requests: list[StepRequest]) -> list[torch.Tensor]:
        """One step of every run from their requests (which agree on the variant); each run's stats."""
        def stacked(name: str) -> torch.Tensor | None:
            values = [getattr(request, name) for request in requests]
            return None if values[0] is None else torch.stack(values)

        stats = train_step(self.gan, stacked("real_images"), stacked("z"), stacked("labels"),
                           *requests[0].variant, fresh_z=stacked("fresh_z"))
        return list(stats.unbind(1))


class _Group:
    """Runs computed together: one stack, or one run on its own; on CUDA with its own stream."""

    def __init__(self, indices: list[int], trainers: list[Trainer], vectorized: bool | None):
        self.indices = indices
        members = [trainers[index] for index in indices]
        self.stack = Stack(members, vectorized) if len(members) > 1 else None
        device = members[0].device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def context(self) -> contextlib.AbstractContextManager:
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()


class _Randomness:
    """Each run's global random streams, swapped in while its session or step runs: whatever a
    run draws from them (dropout, a checkpoint's saved state), it draws as it would alone."""

    def __init__(self, states: list[dict[str, Any]]):
        self.states = states

    @contextlib.contextmanager
    def of(self, run: int):
        outside = rng_state()
        restore_rng(self.states[run])
        try:
            yield
        finally:
            self.states[run] = rng_state()
            restore_rng(outside)


@dataclasses.dataclass
class RunTogether:
    """One run of a together session: its trainer (started or restored), its folder, and the
    global random streams as building (or restoring) it left them: what it would train on alone."""

    trainer: Trainer
    run_dir: RunDir
    random_state: dict[str, Any]


def train_together(runs: list[RunTogether], *, mode: str = "auto", vectorized: bool | None = None,
                   log: Callable[[str], None] = tqdm.write,
                   progress: bool = True) -> list[Outcome | GanforgeError]:
    """Train the runs until each ends, one step of every run per round; returns each run's
    Outcome, or the error that ended it (a diverged run stops alone; the others go on).
    `vectorized`: how stacks compute (`StackedModule`; None: vmapped on CUDA, looped on a CPU)."""
    trainers = [run.trainer for run in runs]
    randomness = _Randomness([run.random_state for run in runs])
    groups = [_Group(indices, trainers, vectorized) for indices in plan(trainers, mode)]
    total = max(trainer.total_steps - trainer.counters.step for trainer in trainers)
    bar = tqdm(total=total, desc=f"{len(runs)} runs together", dynamic_ncols=True,
               disable=None if progress else True)
    outcomes: list[Outcome | GanforgeError | None] = [None] * len(runs)
    pending: dict[int, StepRequest] = {}
    with StopRequests() as stop:
        sessions = [run.trainer.session(run.run_dir, _prefixed(log, run.run_dir.root.name), False, stop)
                    for run in runs]

        def advance(run: int, stats: torch.Tensor | None) -> None:
            """Run `run`'s session up to its next step request (or its end)."""
            with randomness.of(run):
                try:
                    pending[run] = next(sessions[run]) if stats is None else sessions[run].send(stats)
                except StopIteration as done:
                    pending.pop(run, None)
                    outcomes[run] = done.value
                except GanforgeError as error:
                    pending.pop(run, None)
                    outcomes[run] = error
                    log(f"[{runs[run].run_dir.root.name}] ganforge: {error}")

        for group in groups:
            with group.context():
                for run in group.indices:
                    advance(run, None)
        while pending:
            for group in groups:
                live = [run for run in group.indices if run in pending]
                if not live:
                    continue
                with group.context():
                    if group.stack is not None:
                        # A finished run's slice steps on a live run's inputs (its folder is
                        # written and its results are dropped); every live run's request is its own.
                        requests = [pending.get(run) or pending[live[0]] for run in group.indices]
                        results = dict(zip(group.indices, group.stack.step(requests)))
                    else:
                        with randomness.of(live[0]):
                            results = {live[0]: trainers[live[0]].run_step(pending[live[0]])}
                    for run in live:
                        advance(run, results[run])
            bar.update()
    bar.close()
    return outcomes


def _prefixed(log: Callable[[str], None], name: str) -> Callable[[str], None]:
    return lambda line: log(f"[{name}] {line}")
