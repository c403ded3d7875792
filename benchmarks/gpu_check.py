"""The in-process parts of the GPU acceptance check (benchmarks/gpu_check.sh runs them), one
section a call, each printing one summary line per result:

    python benchmarks/gpu_check.py ceilings             versions; float32 / TF32 / bf16 matmul peaks
    python benchmarks/gpu_check.py sync                 every preset's captured step under CUDA's
                                                        sync debug mode ("error"): no host read
    python benchmarks/gpu_check.py agreement            the default, graphed against eager, 200 steps
    python benchmarks/gpu_check.py steps                step time at batch 64-512, fp32 and bf16
    python benchmarks/gpu_check.py presets --out DIR    every preset, 2 epochs, graphs on

`--device cpu --quick` runs each on the CPU at toy sizes (no capture, no sync mode): how the
test suite checks that the script works before a GPU is lent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge import api
from ganforge.config import preset_names, resolve
from ganforge.data.catalog import data_shape
from ganforge.ops.cuda_graph import GraphedStep
from ganforge.training.setup import Speed, batches_of, build_gan, tune_backends
from ganforge.training.step import STAT_NAMES, gan_state, train_step
from ganforge.training.trainer import Trainer
from throughput import peaks

MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ceilings(args) -> None:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}, ganforge {ganforge.__version__}")
    print("matmul peaks: " + ", ".join(f"{kind} {value / 1e12:.1f} TFLOP/s"
                                       for kind, value in peaks(device).items()))


def sync(args) -> None:
    """Each preset's step, built as the trainer builds it for CUDA on random batches, captured,
    then replayed (and run eagerly) with any host synchronisation raising."""
    device = torch.device(args.device)
    tune_backends(device)
    for preset in args.presets or preset_names():
        config = resolve(preset, overrides=[("train.batch_size", 8 if args.quick else 64),
                                                ("data.path", str(args.out))])
        speed = Speed.plan(config, device.type)
        gan, _ = build_gan(config, device, speed)
        channels, size, classes = data_shape(config.data)
        images = np.random.default_rng(0).integers(0, 256, (256, channels, size, size), dtype=np.uint8)
        labels = np.arange(256, dtype=np.int64) % max(classes, 1)
        batches = batches_of(config, images, labels, device)
        graphed = GraphedStep(
            lambda images, z, labels, variant, gan=gan: train_step(gan, images, z, labels, *variant),
            state=lambda gan=gan: gan_state(gan), capture=speed.cuda_graphs)
        stream = (batch for epoch in itertools.count() for batch in batches.epoch(epoch))
        outcome = "ok"
        try:
            for index in range(4):
                real_images, labels = next(stream)
                z = torch.randn(len(real_images), config.model.z_dim, device=device)
                inputs = (real_images, z, labels if config.model.conditional else None)
                if index == 1 and device.type == "cuda":  # once captured (capture synchronises)
                    torch.cuda.set_sync_debug_mode("error")
                stats = graphed(*inputs, variant=(True, config.loss.r1_weight > 0))
                train_step(gan, *inputs)
            if not torch.isfinite(stats).all():
                outcome = "non-finite stats"
        except RuntimeError as error:
            outcome = f"FAILED: {str(error).strip().splitlines()[0]}"
        finally:
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode("default")
        print(f"sync {preset}: {outcome} (graphs {'on' if speed.cuda_graphs else 'off'})")


def trainer(args, **overrides) -> Trainer:
    values = {"train.device": args.device, "data.path": str(MNIST), **overrides}
    if args.quick:
        values.setdefault("data.limit", 512)
    return Trainer.from_config(resolve("mnist-dcgan", overrides=list(values.items())))


def run_steps(run: Trainer, steps: int) -> torch.Tensor:
    batches = (batch for epoch in itertools.count() for batch in run.batches.epoch(epoch))
    total = torch.zeros(len(STAT_NAMES), device=run.device)
    for step, (real_images, labels) in zip(range(steps), batches):
        total += run.train_step(step, real_images, labels)
    return total


def agreement(args) -> None:
    """The same seed trained with the whole-step graph and eagerly: weights, EMA weights and
    BatchNorm statistics after `steps` steps."""
    steps = 10 if args.quick else 200
    graphed, eager = trainer(args), trainer(args, **{"train.cuda_graphs": False})
    run_steps(graphed, steps), run_steps(eager, steps)
    worst = {}
    for name, left, right in (("G", graphed.gan.generator, eager.gan.generator),
                              ("D", graphed.gan.discriminator, eager.gan.discriminator),
                              ("EMA", graphed.gan.ema.model, eager.gan.ema.model)):
        right_state = right.state_dict()
        worst[name] = max((value.float() - right_state[key].float()).abs().max().item()
                          for key, value in left.state_dict().items())
    verdict = "within 1e-4" if max(worst.values()) <= 1e-4 else "OVER 1e-4"
    print(f"graphed vs eager after {steps} steps: max |difference| "
          + ", ".join(f"{name} {value:.2e}" for name, value in worst.items()) + f": {verdict}")


def steps_table(args) -> None:
    sizes = (64,) if args.quick else (64, 128, 256, 512)
    for precision, batch_size in itertools.product(("fp32", "bf16"), sizes):
        run = trainer(args, **{"train.batch_size": batch_size, "train.precision": precision})
        count = 5 if args.quick else 200
        run_steps(run, 10)  # capture and cuDNN's algorithm search
        synchronize(run.device)
        started = time.perf_counter()
        run_steps(run, count)
        synchronize(run.device)
        seconds = (time.perf_counter() - started) / count
        print(f"step {precision} batch {batch_size}: {seconds * 1e3:.2f} ms, "
              f"{batch_size / seconds:,.0f} img/s")


def presets(args) -> None:
    """Every preset for 2 epochs (graphs on where the plan allows), in this process; folder
    presets on MNIST written as a folder at their size; datasets not on this machine skipped."""
    out = Path(args.out)
    for preset in args.presets or preset_names():
        config = resolve(preset, overrides=[("data.path", str(out))])
        overrides = {"train.eval_samples": 500} if args.quick else {}
        data_dir = None
        if config.data.name == "folder":
            _, size, _ = data_shape(config.data)
            data_dir = out / f"mnist{size}"
            if not data_dir.exists():
                api.export_dataset("mnist", data_dir, size=size, limit=2000, data_dir=MNIST)
        elif config.data.name == "mnist":
            data_dir = MNIST
        if args.quick:
            overrides["data.limit"] = 256
        started = time.perf_counter()
        try:
            run = ganforge.train(preset, out=out / preset, epochs=2, device=args.device, data_dir=data_dir,
                                 overrides=overrides, progress=False)
        except ganforge.GanforgeError as error:
            print(f"preset {preset}: skipped ({error})")
            continue
        records = [json.loads(line) for line in (run.root / "metrics.jsonl").open()]
        epochs = [r for r in records if r["event"] == "epoch"]
        evals = [r for r in records if r["event"] == "eval"]
        fid = f", FID {evals[-1]['fid']:.2f}" if evals else ""
        print(f"preset {preset}: {len(epochs)} epochs in {time.perf_counter() - started:.1f} s, "
              f"last epoch {epochs[-1]['images_per_s']:,.0f} img/s{fid}")


SECTIONS = {"ceilings": ceilings, "sync": sync, "agreement": agreement, "steps": steps_table,
            "presets": presets}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=sorted(SECTIONS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default="runs/gpu-check", help="where runs and folders go")
    parser.add_argument("--presets", nargs="*", help="default: every preset")
    parser.add_argument("--quick", action="store_true", help="toy sizes (the CPU test)")
    args = parser.parse_args(argv)
    SECTIONS[args.section](args)


if __name__ == "__main__":
    main()
