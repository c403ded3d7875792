"""The training loop: set up from a config, train, log, sample and checkpoint every epoch."""

from __future__ import annotations

import math
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import ganforge
from ganforge.config import Config, dump_yaml, measurable
from ganforge.data.loader import DeviceBatches
from ganforge.data.sources import data_shape, load_data, load_split
from ganforge.errors import CheckpointError, ConfigError, GanforgeError, TrainingDiverged
from ganforge.losses import LOSSES
from ganforge.metrics import evaluate
from ganforge.metrics.features import CLASSIFIERS
from ganforge.models import MODELS, build_discriminator, build_generator
from ganforge.models.fast_layers import fuse_batch_norm_activations, joins_batches
from ganforge.sampling import generate
from ganforge.training import checkpoint
from ganforge.training.cuda_graph import GraphedStep
from ganforge.training.distributed import ONE_PROCESS, Ranks
from ganforge.training.distributed import start as start_ranks
from ganforge.training.ema import Ema
from ganforge.training.health import HealthMonitor
from ganforge.training.host_memory import keep_freed_memory
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import StopRequests
from ganforge.training.steps import STAT_NAMES, Gan, train_step


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG, in types that load with weights_only=True."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["position"], numpy_state["has_gauss"],
                         numpy_state["cached_gaussian"]))
    random.setstate(state["python"])


@dataclass
class Session:
    """Everything a run needs in memory; built before anything is written."""

    config: Config
    device: torch.device
    batches: DeviceBatches
    gan: Gan
    generator_spec: dict[str, Any]  # name + constructor arguments: enough to rebuild G alone
    fixed_noise: torch.Tensor
    ranks: Ranks = ONE_PROCESS
    health: HealthMonitor | None = None
    best_fid: float = math.inf
    rollbacks: int = 0  # NaN rollbacks so far; each halves the learning rates

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """What `sample` and `evaluate` will use: the EMA generator when there is one."""
        return self.gan.ema.model if self.gan.ema is not None else self.gan.generator

    def noise(self, step: int) -> torch.Tensor:
        """This rank's z for `step`: its slice of a global batch drawn from (seed, step) alone,
        so resume needs no RNG state for it and N processes draw what one process would."""
        batch_size, rank = self.config.train.batch_size, self.ranks.rank
        self._noise_rng.manual_seed(self.config.train.seed * 1_000_003 + step)
        z = torch.randn(batch_size * self.ranks.world_size, self.config.model.z_dim,
                        generator=self._noise_rng, device=self.device)
        return z[rank * batch_size:(rank + 1) * batch_size]

    def __post_init__(self) -> None:
        self._noise_rng = torch.Generator(device=self.device)

    @property
    def total_steps(self) -> int:
        steps = self.config.train.epochs * self.batches.steps_per_epoch
        return min(steps, self.config.train.max_steps) if self.config.train.max_steps else steps


def model_arguments(config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """The generator's spec (name + constructor arguments, stored in checkpoints) and the
    discriminator's constructor arguments, from the config and the dataset."""
    model = config.model
    channels, image_size, num_classes = data_shape(config.data)
    options = MODELS.get(model.name).options
    shared = {"channels": channels, "image_size": image_size,
              "num_classes": num_classes if model.conditional else 0}
    generator_kwargs = {"z_dim": model.z_dim, **shared, **({"ngf": model.ngf} if "ngf" in options else {})}
    discriminator_kwargs = {**shared, **({"ndf": model.ndf} if "ndf" in options else {}),
                            **({"dropout": model.d_dropout} if model.d_dropout is not None else {}),
                            **({"image_batch_norm": model.d_image_batch_norm}
                               if model.d_image_batch_norm is not None
                               and "d_image_batch_norm" in options else {}),
                            "spectral_norm": model.d_spectral_norm, "batch_norm": model.d_batch_norm}
    return {"name": model.name, "kwargs": generator_kwargs}, discriminator_kwargs


def make_optimizer(module: torch.nn.Module, kind: str, lr: float, betas: tuple[float, float],
                   momentum: float, capturable: bool = False) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    # On the CPU, the fused kernel updates all parameters in one pass (foreach: ~10 passes).
    on_cpu = next(module.parameters()).device.type == "cpu"
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, capturable=capturable,
                            fused=on_cpu or None)


def uses_cuda_graphs(config: Config, device: torch.device, ranks: Ranks = ONE_PROCESS) -> bool:
    """Graphs bake in the learning rate, so only constant schedules use them; not with several
    processes (their gradient all-reduce runs outside the graph)."""
    return (device.type == "cuda" and config.train.cuda_graphs and config.train.lr_schedule == "constant"
            and not ranks.active and config.train.compile == "off")


# What torch.compile lowers to; tests use "aot_eager" (the same graph capture and autograd
# tracing, without inductor's C++ build, which takes minutes on a 2-core CPU).
COMPILE_BACKEND = "inductor"


def compile_models(gan: Gan, mode: str) -> None:
    """torch.compile G's and D's forward in place: parameters, state-dict keys and checkpoints
    stay those of the plain modules."""
    options = {} if mode == "default" else {"mode": mode}
    for module in (gan.generator, gan.discriminator):
        module.compile(backend=COMPILE_BACKEND, **options)


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


def prepare(config: Config, ranks: Ranks = ONE_PROCESS) -> Session:
    """Find and verify the data, build models and optimizers: every check before the first write.
    Under torchrun (`ranks`), this also joins the process group."""
    data, model, train = config.data, config.model, config.train
    device = resolve_device(train.device)
    if device.type == "cuda" and ranks.active:
        device = torch.device("cuda", ranks.local_rank)
    start_ranks(ranks, device.type)
    if device.type == "cpu":
        keep_freed_memory()
    seed_everything(train.seed)
    images, labels = load_data(data, "train")
    if train.eval_every:  # the evaluations' reference images, found and verified before any write
        load_split(data.name, data.path, "test")
    if data.limit:
        images, labels = images[: data.limit], labels[: data.limit]
    if len(images) < train.batch_size * ranks.world_size:
        raise ConfigError(
            f"train.batch_size {train.batch_size} x {ranks.world_size} process(es) is more than the "
            f"{len(images)} training images; lower it or raise data.limit"
        )
    # A memory-mapped folder cache (bigger than the memory budget) stays on disk; batches are
    # gathered from it and moved to the device one at a time.
    resident = not isinstance(images, np.memmap)
    batches = DeviceBatches(torch.from_numpy(images).to(device) if resident else torch.from_numpy(images),
                            torch.from_numpy(labels).to(device), train.batch_size, train.seed,
                            data.rotation_degrees, data.hflip, data.vflip, unit=data.scale == "unit",
                            device=device, rank=ranks.rank, world_size=ranks.world_size)
    generator_spec, discriminator_kwargs = model_arguments(config)
    generator = build_generator(model.name, **generator_spec["kwargs"]).to(device)
    discriminator = build_discriminator(model.name, **discriminator_kwargs).to(device)
    if train.sync_batch_norm and ranks.active and device.type == "cuda":
        # BatchNorm statistics over the global batch; same parameters and state-dict keys.
        generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
        discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
    if train.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    loss, capturable = config.loss, uses_cuda_graphs(config, device, ranks)
    if device.type == "cpu" and train.compile == "off":
        fuse_batch_norm_activations(generator)
        if not (LOSSES.get(loss.name).gradient_penalty or loss.r1_weight):
            fuse_batch_norm_activations(discriminator)
    gan = Gan(
        generator, discriminator,
        make_optimizer(generator, train.optimizer_g, train.lr_g, train.betas_g, train.sgd_momentum,
                       capturable),
        make_optimizer(discriminator, train.optimizer_d, train.lr_d, train.betas_d,
                       train.sgd_momentum, capturable),
        LOSSES.get(loss.name), loss.real_label, loss.fake_label, loss.gp_weight, loss.r1_weight,
        loss.instance_noise, train.diffaugment,
        Ema(generator, train.ema_half_life, train.batch_size * ranks.world_size)
        if train.ema_half_life else None,
        ranks.average_gradients if ranks.active else None,
        torch.bfloat16 if train.precision == "bf16" else None,
        joint_discriminator=device.type == "cpu" and train.compile == "off"
        and joins_batches(discriminator),
    )
    if train.compile != "off":
        compile_models(gan, train.compile)
    if ranks.rank:  # per-rank augmentation and dropout streams, derived from the base seed
        seed_everything(train.seed + 1009 * ranks.rank)
    # Its own generator: the grid's noise is the same however the run is split or resumed.
    noise_rng = torch.Generator().manual_seed(train.seed)
    fixed_noise = torch.randn(train.num_samples, model.z_dim, generator=noise_rng).to(device)
    return Session(config, device, batches, gan, generator_spec, fixed_noise, ranks,
                   HealthMonitor(config) if train.health else None)


def checkpoint_state(session: Session, step: int, epoch_stats: torch.Tensor) -> dict[str, Any]:
    gan = session.gan
    return {
        "format": checkpoint.FORMAT,
        "ganforge_version": ganforge.__version__,
        "config": session.config.to_dict(),
        "step": step,
        "steps_per_epoch": session.batches.steps_per_epoch,  # differs when the process count does
        "epoch_stats": epoch_stats.cpu(),
        "generator": {**session.generator_spec, "state_dict": gan.generator.state_dict()},
        "discriminator": {"state_dict": gan.discriminator.state_dict()},
        **({"generator_ema": {"state_dict": gan.ema.model.state_dict()}} if gan.ema else {}),
        "optimizer_g": gan.optimizer_g.state_dict(),
        "optimizer_d": gan.optimizer_d.state_dict(),
        "rng": rng_state(),
        "best_fid": session.best_fid,
        "rollbacks": session.rollbacks,
    }


IMPLEMENTATION_FLAGS = ("fused", "capturable", "foreach")


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an optimizer's state but keep how this process runs it (fused on a CPU, capturable
    for CUDA graphs): a checkpoint written on a GPU resumes on a CPU, and back."""
    flags = [{key: group[key] for key in IMPLEMENTATION_FLAGS if key in group}
             for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, kept in zip(optimizer.param_groups, flags):
        group.update(kept)


def restore(session: Session, state: dict[str, Any], source: str) -> tuple[int, torch.Tensor]:
    """Load a checkpoint into the session; returns (step, epoch_stats)."""
    gan = session.gan
    if state["generator"]["name"] != session.generator_spec["name"]:
        raise CheckpointError(
            f"{source} holds model {state['generator']['name']!r} but the config builds "
            f"{session.generator_spec['name']!r}; resume with the run's own config"
        )
    try:
        gan.generator.load_state_dict(state["generator"]["state_dict"])
        gan.discriminator.load_state_dict(state["discriminator"]["state_dict"])
        _load_optimizer(gan.optimizer_g, state["optimizer_g"])
        _load_optimizer(gan.optimizer_d, state["optimizer_d"])
        if gan.ema is not None:
            gan.ema.model.load_state_dict(state["generator_ema"]["state_dict"])
    except (RuntimeError, ValueError, KeyError) as error:
        first_line = (str(error).strip().splitlines() or [repr(error)])[0]
        raise CheckpointError(
            f"{source} does not fit the configured model ({first_line}); "
            "resume with the run's own config"
        ) from None
    restore_rng(state["rng"])
    if session.ranks.rank:
        seed_everything(session.config.train.seed + 1009 * session.ranks.rank + state["step"])
    session.best_fid = state["best_fid"]
    session.rollbacks = state["rollbacks"]
    step, epoch_stats = state["step"], state["epoch_stats"].to(session.device)
    saved_steps_per_epoch = state.get("steps_per_epoch", session.batches.steps_per_epoch)
    if epoch_stats.shape != (len(STAT_NAMES),):  # from a version that logged fewer stats
        epoch_stats = torch.zeros(len(STAT_NAMES), device=session.device)
    if saved_steps_per_epoch != session.batches.steps_per_epoch:
        # Saved by another number of processes: continue from its last complete epoch.
        step = step // saved_steps_per_epoch * session.batches.steps_per_epoch
        epoch_stats = torch.zeros_like(epoch_stats)
    set_learning_rates(session, step)
    return step, epoch_stats


def _epoch_line(record: dict[str, Any], epochs: int, evaluation: dict[str, Any] | None) -> str:
    marker = "" if record["complete"] else " (stopped mid-epoch)"
    quality = "" if evaluation is None else \
        f"  FID {evaluation['fid']:.2f}{' (best)' if evaluation['best'] else ''}"
    return (
        f"epoch {record['epoch']}/{epochs}  loss D {record['loss_d']:.3f}  "
        f"loss G {record['loss_g']:.3f}  D(x) {record['d_real']:.3f}  "
        f"D(G(z)) {record['d_fake']:.3f}  acc real {record['acc_real']:.0%} "
        f"fake {record['acc_fake']:.0%}  {record['images_per_s']:.0f} img/s  "
        f"{record['seconds']:.1f} s{quality}{marker}"
    )


@dataclass
class Outcome:
    step: int
    signal_number: int | None = None  # set when SIGINT/SIGTERM stopped the run early


def _finite(stats: torch.Tensor) -> bool:
    return bool(torch.isfinite(stats).all())


def _save(session: Session, run_dir: RunDir, step: int, epoch_stats: torch.Tensor,
          name: str = "last.pt") -> None:
    """Write checkpoints/NAME; a full disk or unwritable folder stops the run, keeping the old
    file."""
    try:
        checkpoint.save(checkpoint_state(session, step, epoch_stats), run_dir.checkpoints / name)
    except OSError as error:
        raise GanforgeError(
            f"cannot write checkpoint in {run_dir.checkpoints} ({error.strerror}); the last good "
            f"checkpoint is kept; free space and continue with: ganforge train --resume {run_dir.root}"
        ) from None


def _diverged(session: Session, run_dir: RunDir, bad_step: int, exact: bool,
              log) -> tuple[int, torch.Tensor]:
    """A NaN/Inf loss: roll back (train.on_nan=rollback, while allowed) or stop, exit code 3."""
    train = session.config.train
    if (train.on_nan == "rollback" and run_dir.last_checkpoint.is_file()
            and session.rollbacks < train.max_rollbacks):
        return _rollback(session, run_dir, bad_step, log)
    if session.ranks.main:
        run_dir.append_metrics({"event": "diverged", "step": bad_step})
    kept = f"checkpoint {run_dir.last_checkpoint} is kept" if run_dir.last_checkpoint.is_file() \
        else "no checkpoint was written yet"
    raise TrainingDiverged(
        f"loss became NaN/Inf {'at' if exact else 'by'} step {bad_step}; the last good {kept}; "
        "lower the learning rates (--set train.lr_d=...) or set train.on_nan=rollback")


def _rollback(session: Session, run_dir: RunDir, bad_step: int, log) -> tuple[int, torch.Tensor]:
    """Reload the last checkpoint with the learning rates halved once more."""
    state = checkpoint.load(run_dir.last_checkpoint)
    rollbacks = session.rollbacks + 1
    step, epoch_stats = restore(session, state, str(run_dir.last_checkpoint))
    session.rollbacks = rollbacks
    set_learning_rates(session, step)
    if session.ranks.main:
        run_dir.append_metrics({"event": "rollback", "step": bad_step, "to_step": step,
                                "lr_scale": 0.5 ** rollbacks})
    log(f"ganforge: loss became NaN/Inf at step {bad_step}; rolled back to step {step} with "
        f"learning rates x{0.5 ** rollbacks:g} (rollback {rollbacks} of "
        f"{session.config.train.max_rollbacks})")
    return step, epoch_stats


def set_learning_rates(session: Session, step: int) -> None:
    """Config rate x schedule at `step` x 0.5 per NaN rollback."""
    train = session.config.train
    factor = schedule_factor(session.config, step, session.batches.steps_per_epoch) \
        * 0.5 ** session.rollbacks
    for optimizer, lr in ((session.gan.optimizer_g, train.lr_g), (session.gan.optimizer_d, train.lr_d)):
        for group in optimizer.param_groups:
            group["lr"] = lr * factor


def train(session: Session, run_dir: RunDir, step: int = 0,
          epoch_stats: torch.Tensor | None = None, log: Callable[[str], None] = tqdm.write) -> Outcome:
    """Train from `step` (0, or where `restore` left the session) until done, out of time or
    stopped by a signal; every way out leaves a complete checkpoint.

    Under torchrun every rank runs this loop in step; only rank 0 prints and writes, and the
    numbers it logs are averaged over the ranks."""
    config, gan, batches, ranks = session.config, session.gan, session.batches, session.ranks
    train_config = config.train
    steps_per_epoch, total_steps = batches.steps_per_epoch, session.total_steps
    if not ranks.main:
        def log(_line: str) -> None:
            return None
    if epoch_stats is None:
        epoch_stats = torch.zeros(len(STAT_NAMES), device=session.device)
    interval_stats = torch.zeros_like(epoch_stats)
    if step >= total_steps:
        log(f"{run_dir.root} has already finished its {total_steps} steps; nothing to do "
            "(raise --epochs or --max-steps to train further)")
        return Outcome(step)

    deadline = time.monotonic() + 60 * train_config.max_minutes if train_config.max_minutes \
        else math.inf
    # Checking for NaN reads the stats back from the device: free on the CPU, so every step
    # there; once per log interval on accelerators and across processes (it is collective).
    check_every = 1 if session.device.type == "cpu" and not ranks.active else train_config.log_every
    gan.generator.train()
    gan.discriminator.train()
    if not train_config.eval_every and not measurable(config.data.name):
        log(f"ganforge: no FID during training: the shipped feature networks know only "
            f"{' and '.join(CLASSIFIERS.names())}; measure this run afterwards with "
            f"ganforge evaluate {run_dir.root} --features inception")
    conditional, scheduled = config.model.conditional, train_config.lr_schedule != "constant"
    step_function = GraphedStep(gan) if uses_cuda_graphs(config, session.device, ranks) else train_step
    stopping = False
    with StopRequests() as stop:
        while step < total_steps and not stopping:
            epoch, start = divmod(step, steps_per_epoch)
            segment_start_step, started = step, time.perf_counter()
            bar = tqdm(total=steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}",
                       leave=False, dynamic_ncols=True, disable=None if ranks.main else True)
            rolled_back = False
            for real_images, labels in batches.epoch(epoch, start):
                if scheduled:
                    set_learning_rates(session, step)
                step_stats = step_function(gan, real_images, session.noise(step),
                                           labels if conditional else None,
                                           generator_step=(step + 1) % train_config.d_steps == 0)
                epoch_stats += step_stats
                interval_stats += step_stats
                step += 1
                bar.update()
                if step % check_every == 0 and not _finite(ranks.mean(epoch_stats)):
                    step, epoch_stats = _diverged(session, run_dir, step, exact=check_every == 1,
                                                  log=log)
                    if isinstance(step_function, GraphedStep):
                        step_function.invalidate()  # the optimizers hold new state tensors
                    rolled_back = True
                    break
                if step % train_config.log_every == 0:
                    record = _interval_record(session, run_dir, interval_stats, epoch, step, log)
                    bar.set_postfix_str(f"loss D {record['loss_d']:.3f}  loss G {record['loss_g']:.3f}")
                if (train_config.checkpoint_every and step % train_config.checkpoint_every == 0
                        and step % steps_per_epoch and ranks.main and _finite(epoch_stats)):
                    _save(session, run_dir, step, epoch_stats)
                # Several processes decide together (at log intervals), so all stop at one step.
                wants_stop = time.monotonic() >= deadline or stop.signal_number is not None
                if not ranks.active or step % train_config.log_every == 0:
                    stopping = ranks.any(wants_stop, session.device)
                if step >= total_steps or stopping:
                    break
            bar.close()
            if rolled_back:
                continue
            seconds = time.perf_counter() - started
            steps_in_epoch = step - epoch * steps_per_epoch
            averages = (ranks.mean(epoch_stats) / steps_in_epoch).tolist()
            record = {
                "event": "epoch", "epoch": epoch + 1, "step": step,
                "complete": steps_in_epoch == steps_per_epoch,
                **dict(zip(STAT_NAMES, averages)),
                "images_per_s": (step - segment_start_step) * batches.global_batch / seconds,
                "seconds": seconds,
            }
            if record["complete"]:
                epoch_stats.zero_()
            if ranks.main:
                _end_of_segment(session, run_dir, record, step, epoch_stats, log)
    run_dir.close()
    ranks.barrier()  # no rank exits (and makes torchrun stop the others) before rank 0 has written
    # A rank stopped because another one was signalled reports SIGTERM, so all exit alike.
    signal_number = stop.signal_number or (signal.SIGTERM if stopping and step < total_steps
                                           and time.monotonic() < deadline else None)
    return Outcome(step, signal_number)


def _interval_record(session: Session, run_dir: RunDir, interval_stats: torch.Tensor, epoch: int,
                     step: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Averages over the last log interval, with the learning rates, to metrics.jsonl,
    TensorBoard and the health monitor; `interval_stats` is reset."""
    averages = (session.ranks.mean(interval_stats) / session.config.train.log_every).tolist()
    interval_stats.zero_()
    if not session.ranks.main:
        return dict(zip(STAT_NAMES, averages))
    record = {"event": "interval", "epoch": epoch + 1, "step": step, **dict(zip(STAT_NAMES, averages)),
              "lr_g": session.gan.optimizer_g.param_groups[0]["lr"],
              "lr_d": session.gan.optimizer_d.param_groups[0]["lr"]}
    run_dir.append_metrics(record)
    run_dir.log_scalars({f"interval/{key}": value for key, value in record.items()
                         if key not in ("event", "epoch", "step")}, step)
    _check_health(session, run_dir, record, log)
    return record


def _check_health(session: Session, run_dir: RunDir, record: dict[str, Any],
                  log: Callable[[str], None]) -> None:
    if session.health is None:
        return
    for warning in session.health.observe(record):
        log(warning.text())
        run_dir.append_metrics(warning.record())


def _draw(session: Session, count: int, **kwargs) -> torch.Tensor:
    """Images from the generator `sample` will use, in eval mode; training mode is restored."""
    generator = session.sampling_generator
    generator.eval()
    try:
        return generate(generator, count, **kwargs)
    finally:
        generator.train(generator is session.gan.generator)


def _end_of_segment(session: Session, run_dir: RunDir, record: dict[str, Any], step: int,
                    epoch_stats: torch.Tensor, log: Callable[[str], None]) -> None:
    """Metrics, grid, evaluation, checkpoint and the epoch line: what every epoch end (or early
    stop) leaves."""
    samples = _draw(session, len(session.fixed_noise), z=session.fixed_noise)
    try:
        run_dir.append_metrics(record)
        run_dir.log_scalars(record, step)
        run_dir.save_grid(samples, record["epoch"], step)
    except OSError as error:
        raise GanforgeError(
            f"cannot write to {run_dir.root} ({error.strerror}); the last good checkpoint is kept; "
            f"free space and continue with: ganforge train --resume {run_dir.root}") from None
    eval_every = session.config.train.eval_every
    evaluation = None
    if eval_every and record["complete"] and (record["epoch"] % eval_every == 0
                                              or step == session.total_steps):
        evaluation = _evaluate(session, run_dir, record, step, epoch_stats)
    _save(session, run_dir, step, epoch_stats)  # after the evaluation: it records the best FID
    log(_epoch_line(record, session.config.train.epochs, evaluation))
    if evaluation is not None:
        _check_health(session, run_dir, evaluation, log)


def _evaluate(session: Session, run_dir: RunDir, record: dict[str, Any], step: int,
              epoch_stats: torch.Tensor) -> dict[str, Any]:
    """FID (plus class coverage, feature spread, precision and recall, which the health monitor
    reads) of fresh samples; the best generator so far is kept as checkpoints/best.pt. Returns
    the "eval" record it logged."""
    config, started = session.config, time.perf_counter()
    images = _draw(session, config.train.eval_samples, seed=config.train.seed + 1)
    # Training's random stream must not depend on whether (or in which process) the feature
    # network was first built: its construction draws initial weights.
    with torch.random.fork_rng(devices=[]):
        results = evaluate(images, config.data.name, ("fid", "classes", "spread", "pr"),
                           data_dir=config.data.path)
    fid = results["fid"]
    improved = fid < session.best_fid
    if improved:
        session.best_fid = fid
        _save(session, run_dir, step, epoch_stats, "best.pt")
    eval_record = {"event": "eval", "epoch": record["epoch"], "step": step, "fid": fid,
                   "samples": config.train.eval_samples,
                   "classes_covered": results["classes_covered"],
                   "feature_spread": results["feature_spread"], "precision": results["precision"],
                   "recall": results["recall"], "best": improved,
                   "seconds": time.perf_counter() - started}
    run_dir.append_metrics(eval_record)
    run_dir.log_scalars({"eval/fid": fid, "eval/feature_spread": results["feature_spread"],
                         "eval/precision": results["precision"], "eval/recall": results["recall"]},
                        step)
    return eval_record


def start(session: Session, run_dir: RunDir) -> None:
    """Create the run folder and write the resolved config before the first step."""
    run_dir.create()
    run_dir.write_config(dump_yaml(session.config))
