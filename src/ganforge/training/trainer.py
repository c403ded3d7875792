"""The Trainer: set up from a config, then train, log, sample, measure and checkpoint every epoch.

    trainer = Trainer.from_config(config)   # every check before anything is written
    trainer.start(run_dir)                  # the run folder and its resolved config
    outcome = trainer.fit(run_dir)          # or trainer.restore(checkpoint) first, to resume
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm  # a widget in Jupyter, text in a terminal

from ganforge.config import Config, dump_yaml
from ganforge.data.augment import to_model_range
from ganforge.data.loader import DeviceBatches
from ganforge.errors import GanforgeError, TrainingDiverged
from ganforge.metrics import evaluate, training_metrics
from ganforge.metrics.features import default_features
from ganforge.models.layers import balanced_labels
from ganforge.ops.cuda_graph import GraphedStep
from ganforge.ops.host_memory import keep_freed_memory
from ganforge.runs import RunDir, checkpoint
from ganforge.runs.records import epoch_line, eval_record, interval_line, scalars
from ganforge.sampling import generate
from ganforge.training import state
from ganforge.training.distributed import ONE_PROCESS, Ranks
from ganforge.training.distributed import start as start_ranks
from ganforge.training.health import HealthMonitor
from ganforge.training.optim import learning_rates, set_learning_rates
from ganforge.training.rng import seed_everything
from ganforge.training.setup import (
    Speed,
    build_gan,
    device_batches,
    evaluation_interval,
    resolve_device,
    tune_backends,
)
from ganforge.training.signals import StopRequests
from ganforge.training.state import Counters
from ganforge.training.step import STAT_NAMES, Gan, gan_state, train_step

# Why the loop ended: every step done, train.max_minutes reached, or a signal (SIGINT/SIGTERM,
# here or in another process of the run).
STOP_REASONS = ("finished", "time limit", "signal")


@dataclass
class Outcome:
    step: int
    stop: str  # one of STOP_REASONS
    signal_number: int | None = None  # set when SIGINT/SIGTERM stopped the run early


@dataclass
class Loop:
    """The training loop's state between epochs."""

    deadline: float  # time.monotonic() at which train.max_minutes runs out (inf: none)
    interval_stats: torch.Tensor  # sums since the last interval record (it spans epoch ends)
    stop: str | None = None  # set when the loop is to end: one of STOP_REASONS


@dataclass(frozen=True)
class StepRequest:
    """What one training step needs: its inputs and which variant of the step it is."""

    real_images: torch.Tensor
    z: torch.Tensor
    labels: torch.Tensor | None
    fresh_z: torch.Tensor | None  # the G step's own noise (train.g_fresh_noise)
    variant: tuple[bool, bool]  # (a G step too, the R1/R2 penalties too)


# A run's training session: it yields each step's request and is sent that step's stats back; it
# returns how it ended. `Trainer.fit` computes the steps itself; `together` computes many runs'
# steps at once.
Session = Generator[StepRequest, torch.Tensor, "Outcome"]


def drive(session: Session, run_step: Callable[[StepRequest], torch.Tensor]) -> Outcome:
    """Run a session to its end, computing each requested step with `run_step`."""
    try:
        request = next(session)
        while True:
            request = session.send(run_step(request))
    except StopIteration as done:
        return done.value


def budget_steps(images: int, batches: DeviceBatches) -> int | float:
    """Steps that train `images` images in whole global batches (inf: no budget)."""
    return -(-images // batches.global_batch) if images else math.inf


def with_image_budget(config: Config, batches: DeviceBatches) -> Config:
    """train.max_images set: train.epochs becomes the epochs that hold it (the resolved config
    says so, and a learning-rate schedule spans them)."""
    if not config.train.max_images:
        return config
    epochs = -(-budget_steps(config.train.max_images, batches) // batches.steps_per_epoch)
    return dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))


def _finite(stats: torch.Tensor) -> bool:
    return bool(torch.isfinite(stats).all())


class Trainer:
    """Everything a run needs in memory, built before anything is written, and the loop."""

    def __init__(self, *, config: Config, device: torch.device, batches: DeviceBatches, gan: Gan,
                 speed: Speed, generator_spec: dict[str, Any], fixed_noise: torch.Tensor,
                 ranks: Ranks = ONE_PROCESS, health: HealthMonitor | None = None,
                 eval_every: int = 0, no_evaluation_reason: str | None = None):
        self.config, self.device, self.batches, self.gan, self.speed = config, device, batches, gan, speed
        self.eval_every, self.no_evaluation_reason = eval_every, no_evaluation_reason
        self.generator_spec = generator_spec  # name + constructor arguments: rebuilds G alone
        self.fixed_noise, self.ranks, self.health = fixed_noise, ranks, health
        self.counters = Counters(epoch_stats=torch.zeros(len(STAT_NAMES), device=device))
        self._noise_rng = torch.Generator(device=device)
        # The step as one CUDA graph per variant, captured on first use.
        self.graphed = GraphedStep(self._graphable_step, state=lambda: gan_state(self.gan)) \
            if speed.cuda_graphs else None
        # Called after a checkpoint is loaded into the GAN (its optimizers then hold new state
        # tensors): whatever replays or stacks the step lets go of the old ones.
        self.restore_hooks: list[Callable[[], None]] = [self.graphed.invalidate] if self.graphed else []

    @classmethod
    def from_config(cls, config: Config, ranks: Ranks = ONE_PROCESS) -> Trainer:
        """Find and verify the data, build models and optimizers: every check before the first
        write. Under torchrun (`ranks`), this also joins the process group."""
        train = config.train
        device = resolve_device(train.device)
        if device.type == "cuda" and ranks.active:
            device = torch.device("cuda", ranks.local_rank)
        start_ranks(ranks, device.type)
        if device.type == "cpu":
            keep_freed_memory()
        seed_everything(train.seed)
        batches = device_batches(config, device, ranks)
        config = with_image_budget(config, batches)
        eval_every, no_evaluation_reason = evaluation_interval(config)
        speed = Speed.plan(config, device.type, ranks)
        tune_backends(device)
        gan, generator_spec = build_gan(config, device, speed, ranks)
        if ranks.rank:  # per-rank augmentation and dropout streams, derived from the base seed
            seed_everything(train.seed + 1009 * ranks.rank)
        # Its own generator: the grid's noise is the same however the run is split or resumed.
        noise_rng = torch.Generator().manual_seed(train.seed)
        fixed_noise = torch.randn(train.num_samples, config.model.z_dim, generator=noise_rng).to(device)
        return cls(config=config, device=device, batches=batches, gan=gan, speed=speed,
                   generator_spec=generator_spec, fixed_noise=fixed_noise, ranks=ranks,
                   health=HealthMonitor(config) if train.health else None,
                   eval_every=eval_every, no_evaluation_reason=no_evaluation_reason)

    def _graphable_step(self, real_images: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None,
                        fresh_z: torch.Tensor | None, variant: tuple[bool, bool]) -> torch.Tensor:
        """train_step as GraphedStep calls it: one graph per (generator step, R1) variant."""
        return train_step(self.gan, real_images, z, labels, *variant, fresh_z=fresh_z)

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """What `sample` and `evaluate` will use: the EMA generator when there is one."""
        return self.gan.ema.model if self.gan.ema is not None else self.gan.generator

    @property
    def total_steps(self) -> int:
        train = self.config.train
        limits = [train.epochs * self.batches.steps_per_epoch,
                  train.max_steps or math.inf, budget_steps(train.max_images, self.batches)]
        return min(limits)

    def noise(self, step: int, draw: int = 0) -> torch.Tensor:
        """This rank's z for `step` (draw 0: the D step's; 1: the G step's own, with fresh
        noise): its slice of a global batch drawn from (seed, step) alone, so resume needs no
        RNG state for it and N processes draw what one process would."""
        batch_size, rank = self.config.train.batch_size, self.ranks.rank
        self._noise_rng.manual_seed(self.config.train.seed * 1_000_003 + step)
        for _ in range(draw + 1):
            z = torch.randn(batch_size * self.ranks.world_size, self.config.model.z_dim,
                            generator=self._noise_rng, device=self.device)
        return z[rank * batch_size:(rank + 1) * batch_size]

    def train_step(self, step: int, real_images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training step `step` on a batch (graphed where the plan says); returns its stats."""
        return self.run_step(self.step_request(step, real_images, labels))

    def run_step(self, request: StepRequest) -> torch.Tensor:
        inputs = (request.real_images, request.z, request.labels)
        if self.graphed is None:
            return train_step(self.gan, *inputs, *request.variant, fresh_z=request.fresh_z)
        return self.graphed(*inputs, request.fresh_z, variant=request.variant)

    def step_request(self, step: int, real_images: torch.Tensor, labels: torch.Tensor) -> StepRequest:
        """Step `step`'s inputs (its noise, the labels a conditional model takes) and variant;
        the learning rates are set for it."""
        if self.config.train.lr_schedule != "constant":
            self.set_learning_rates(step)
        if not self.gan.generator.num_classes:
            labels = None
        elif self.config.model.d_minibatch_std:
            # One class per minibatch-std group (fakes get these labels too), so D can see a
            # class drawn one way; the order of a batch changes nothing else.
            order = labels.argsort(stable=True)
            real_images, labels = real_images[order], labels[order]
        variant = ((step + 1) % self.config.train.d_steps == 0, self.gan.options.regularizes(step))
        fresh_z = self.noise(step, draw=1) if self.gan.options.fresh_noise else None
        return StepRequest(real_images, self.noise(step), labels, fresh_z, variant)

    def set_learning_rates(self, step: int) -> None:
        set_learning_rates(self.config, self.gan.optimizer_g, self.gan.optimizer_d, step=step,
                           steps_per_epoch=self.batches.steps_per_epoch,
                           rollbacks=self.counters.rollbacks)

    def start(self, run_dir: RunDir) -> None:
        """Create the run folder and write the resolved config before the first step."""
        run_dir.create()
        run_dir.write_config(dump_yaml(self.config))
        # Real images as D sees them (unaugmented: drawing an augmentation would move the RNG).
        first = self.batches.images[: self.config.train.num_samples]
        run_dir.log_real_grid(to_model_range(first, unit=self.batches.unit))

    def restore(self, saved: dict[str, Any], source: str) -> int:
        """Load a checkpoint into the trainer; returns the step `fit` will continue from."""
        ranks = self.ranks
        self.counters = state.restore(
            saved, gan=self.gan, generator_spec=self.generator_spec, source=source,
            steps_per_epoch=self.batches.steps_per_epoch, device=self.device,
            reseed=self.config.train.seed + 1009 * ranks.rank if ranks.rank else None)
        self.set_learning_rates(self.counters.step)
        for hook in self.restore_hooks:
            hook()
        return self.counters.step

    def fit(self, run_dir: RunDir, log: Callable[[str], None] = tqdm.write,
            progress: bool = True) -> Outcome:
        """Train from the counters' step (0, or where `restore` left off) until done, out of
        time or stopped by a signal; every way out leaves a complete checkpoint. `log` takes the
        epoch lines; `progress=False` hides the progress bar.

        Under torchrun every rank runs this loop in step; only rank 0 prints and writes, and the
        numbers it logs are averaged over the ranks."""
        with StopRequests() as requests:
            return drive(self.session(run_dir, log, progress, requests), self.run_step)

    def session(self, run_dir: RunDir, log: Callable[[str], None], progress: bool,
                requests: StopRequests) -> Session:
        """`fit`'s loop as a session: it yields every step's request instead of computing it.
        `requests`: the signals that stop it (one for many sessions trained together)."""
        log = log if self.ranks.main else (lambda _line: None)
        if self.counters.step >= self.total_steps:
            log(f"{run_dir.root} has already finished its {self.total_steps} steps; nothing to do "
                "(raise --epochs or --max-steps to train further)")
            return Outcome(self.counters.step, "finished")
        if self.no_evaluation_reason:
            log(self.no_evaluation_reason)
        minutes = self.config.train.max_minutes
        loop = Loop(deadline=time.monotonic() + 60 * minutes if minutes else math.inf,
                    interval_stats=torch.zeros_like(self.counters.epoch_stats))
        self.gan.generator.train()
        self.gan.discriminator.train()
        while loop.stop is None:
            yield from self._epoch(run_dir, loop, requests, log, progress)
        run_dir.close()
        self.ranks.barrier()  # no rank exits (and makes torchrun stop the others) before rank 0 wrote
        # A rank stopped because another one was signalled reports SIGTERM, so all exit alike.
        signal_number = requests.signal_number or (signal.SIGTERM if loop.stop == "signal" else None)
        return Outcome(self.counters.step, loop.stop, signal_number)

    def _stop_wanted(self, loop: Loop, requests: StopRequests) -> str | None:
        if requests.signal_number is not None:
            return "signal"
        return "time limit" if time.monotonic() >= loop.deadline else None

    def _epoch(self, run_dir: RunDir, loop: Loop, requests: StopRequests,
               log: Callable[[str], None], progress: bool) -> Generator[StepRequest, torch.Tensor, None]:
        """Train the rest of one epoch, or until the loop is to stop."""
        train, batches, ranks, counters = self.config.train, self.batches, self.ranks, self.counters
        steps_per_epoch = batches.steps_per_epoch
        epoch, start = divmod(counters.step, steps_per_epoch)
        first_step, started = counters.step, time.perf_counter()
        # Checking for NaN reads the stats back from the device: free on the CPU, so every step
        # there; once per log interval on accelerators and across processes (it is collective).
        check_every = 1 if self.device.type == "cpu" and not ranks.active else train.log_every
        bar = tqdm(total=steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}", leave=False,
                   dynamic_ncols=True, disable=None if ranks.main and progress else True)
        for real_images, labels in batches.epoch(epoch, start):
            step_stats = yield self.step_request(counters.step, real_images, labels)
            counters.epoch_stats += step_stats
            loop.interval_stats += step_stats
            counters.step += 1
            step = counters.step
            bar.update()
            if step % check_every == 0 and not _finite(ranks.mean(counters.epoch_stats)):
                bar.close()
                self._diverged(run_dir, step, exact=check_every == 1, log=log)
                return
            if step % train.log_every == 0:
                record = self._interval(run_dir, loop.interval_stats, epoch, step, log)
                bar.set_postfix_str(f"loss D {record['loss_d']:.3f}  loss G {record['loss_g']:.3f}")
            if (train.checkpoint_every and step % train.checkpoint_every == 0
                    and step % steps_per_epoch and ranks.main and _finite(counters.epoch_stats)):
                self._save(run_dir)
            # Several processes decide together (at log intervals), so all stop at one step.
            if not ranks.active or step % train.log_every == 0:
                wanted = self._stop_wanted(loop, requests)
                if ranks.any(wanted is not None, self.device):
                    loop.stop = wanted or "signal"  # (or another process was signalled)
            if step >= self.total_steps or loop.stop:
                break
        bar.close()
        if counters.step >= self.total_steps:
            loop.stop = "finished"
        record = self._epoch_record(epoch, counters.step, first_step, started, counters.epoch_stats)
        if record["complete"]:
            counters.epoch_stats.zero_()
        if ranks.main:
            self._end_of_segment(run_dir, record, log)

    def _epoch_record(self, epoch: int, step: int, first_step: int, started: float,
                      epoch_stats: torch.Tensor) -> dict[str, Any]:
        seconds = time.perf_counter() - started
        steps_in_epoch = step - epoch * self.batches.steps_per_epoch
        averages = (self.ranks.mean(epoch_stats) / steps_in_epoch).tolist()
        lr_g, lr_d = learning_rates(self.config, step=step - 1, rollbacks=self.counters.rollbacks,
                                    steps_per_epoch=self.batches.steps_per_epoch)
        return {"event": "epoch", "epoch": epoch + 1, "step": step,
                "complete": steps_in_epoch == self.batches.steps_per_epoch,
                **dict(zip(STAT_NAMES, averages)), "lr_g": lr_g, "lr_d": lr_d,
                "images_per_s": (step - first_step) * self.batches.global_batch / seconds,
                "seconds": seconds}

    def _interval(self, run_dir: RunDir, interval_stats: torch.Tensor, epoch: int, step: int,
                  log: Callable[[str], None]) -> dict[str, Any]:
        """Averages over the last log interval, with the learning rates, to metrics.jsonl,
        TensorBoard and the health monitor; `interval_stats` is reset."""
        averages = (self.ranks.mean(interval_stats) / self.config.train.log_every).tolist()
        interval_stats.zero_()
        if not self.ranks.main:
            return dict(zip(STAT_NAMES, averages))
        lr_g, lr_d = learning_rates(self.config, step=step - 1, rollbacks=self.counters.rollbacks,
                                    steps_per_epoch=self.batches.steps_per_epoch)
        record = {"event": "interval", "epoch": epoch + 1, "step": step,
                  **dict(zip(STAT_NAMES, averages)), "lr_g": lr_g, "lr_d": lr_d}
        run_dir.append_metrics(record)
        run_dir.log_scalars({f"interval/{key}": value for key, value in record.items()
                             if key not in ("event", "epoch", "step")}, step)
        if self.config.train.log_lines:
            log(interval_line(record))
        self._check_health(run_dir, record, log)
        return record

    def _check_health(self, run_dir: RunDir, record: dict[str, Any], log: Callable[[str], None]) -> None:
        if self.health is None:
            return
        for warning in self.health.observe(record):
            log(warning.text())
            run_dir.append_metrics(warning.record())

    def _draw(self, count: int, **kwargs) -> torch.Tensor:
        """Images from the generator `sample` will use, in eval mode; training mode is restored."""
        generator = self.sampling_generator
        generator.eval()
        try:
            return generate(generator, count, **kwargs)
        finally:
            generator.train(generator is self.gan.generator)

    def _end_of_segment(self, run_dir: RunDir, record: dict[str, Any],
                        log: Callable[[str], None]) -> None:
        """Metrics, grid, evaluation, checkpoint and the epoch line: what every epoch end (or
        early stop) leaves."""
        samples = self._draw(len(self.fixed_noise), z=self.fixed_noise)
        try:
            run_dir.append_metrics(record)
            run_dir.log_scalars(record, record["step"])
            run_dir.save_grid(samples, record["epoch"], record["step"])
        except OSError as error:
            raise GanforgeError(
                f"cannot write to {run_dir.root} ({error.strerror}); the last good checkpoint is "
                f"kept; free space and continue with: ganforge train --resume {run_dir.root}") from None
        eval_every, evaluation = self.eval_every, None
        if eval_every and record["complete"] and (record["epoch"] % eval_every == 0
                                                  or record["step"] == self.total_steps):
            evaluation = self._evaluate(run_dir, record)
        self._save(run_dir)  # after the evaluation: it records the best FID
        log(epoch_line(record, self.config.train.epochs, evaluation))
        if evaluation is not None:
            self._check_health(run_dir, evaluation, log)

    def _evaluate(self, run_dir: RunDir, record: dict[str, Any]) -> dict[str, Any]:
        """The training metrics (FID, classes covered, feature spread, precision and recall,
        which the health monitor reads) of fresh samples; the best generator so far is kept as
        checkpoints/best.pt. Returns the "eval" record it logged."""
        config, started = self.config, time.perf_counter()
        labels = balanced_labels(config.train.eval_samples, self.gan.generator.num_classes)
        images = self._draw(config.train.eval_samples, seed=config.train.seed + 1, labels=labels)
        features = default_features(config.data.name)
        # Training's random stream must not depend on whether (or in which process) the feature
        # network was first built: its construction draws initial weights.
        with torch.random.fork_rng(devices=[]):
            results = evaluate(images, config.data.name, training_metrics(features),
                               data_dir=config.data.path, labels=labels, data=config.data)
        improved = results["fid"] < self.counters.best_fid
        if improved:
            self.counters.best_fid = results["fid"]
            self._save(run_dir, "best.pt")
        record = eval_record(epoch=record["epoch"], step=record["step"], results=results,
                             features=features, best=improved, seconds=time.perf_counter() - started)
        run_dir.append_metrics(record)
        run_dir.log_scalars({f"eval/{key}": value for key, value in scalars(record).items()},
                            record["step"])
        return record

    def _save(self, run_dir: RunDir, name: str = "last.pt") -> None:
        """Write checkpoints/NAME; a full disk or unwritable folder stops the run, keeping the old
        file."""
        saved = state.checkpoint_state(gan=self.gan, generator_spec=self.generator_spec,
                                       config=self.config, counters=self.counters,
                                       steps_per_epoch=self.batches.steps_per_epoch)
        try:
            checkpoint.save(saved, run_dir.checkpoints / name)
        except OSError as error:
            raise GanforgeError(
                f"cannot write checkpoint in {run_dir.checkpoints} ({error.strerror}); the last good "
                f"checkpoint is kept; free space and continue with: ganforge train --resume "
                f"{run_dir.root}") from None

    def _diverged(self, run_dir: RunDir, bad_step: int, exact: bool, log: Callable[[str], None]) -> None:
        """A NaN/Inf loss: roll back (train.on_nan=rollback, while allowed) or stop, exit code 3."""
        train = self.config.train
        if (train.on_nan == "rollback" and run_dir.last_checkpoint.is_file()
                and self.counters.rollbacks < train.max_rollbacks):
            self._rollback(run_dir, bad_step, log)
            return
        if self.ranks.main:
            run_dir.append_metrics({"event": "diverged", "step": bad_step})
        kept = f"checkpoint {run_dir.last_checkpoint} is kept" if run_dir.last_checkpoint.is_file() \
            else "no checkpoint was written yet"
        raise TrainingDiverged(
            f"loss became NaN/Inf {'at' if exact else 'by'} step {bad_step}; the last good {kept}; "
            "lower the learning rates (--set train.lr_d=...) or set train.on_nan=rollback")

    def _rollback(self, run_dir: RunDir, bad_step: int, log: Callable[[str], None]) -> None:
        """Reload the last checkpoint with the learning rates halved once more."""
        rollbacks = self.counters.rollbacks + 1
        step = self.restore(checkpoint.load(run_dir.last_checkpoint), str(run_dir.last_checkpoint))
        self.counters.rollbacks = rollbacks
        self.set_learning_rates(step)
        if self.ranks.main:
            run_dir.append_metrics({"event": "rollback", "step": bad_step, "to_step": step,
                                    "lr_scale": 0.5 ** rollbacks})
        log(f"ganforge: loss became NaN/Inf at step {bad_step}; rolled back to step {step} with "
            f"learning rates x{0.5 ** rollbacks:g} (rollback {rollbacks} of "
            f"{self.config.train.max_rollbacks})")
