"""Many runs trained together against the same runs one after another: images per second in all.

    python benchmarks/together.py [--preset mnist-dcgan] [--runs 4] [--steps 60] [--rounds 3] [--device cpu]

Every round trains `runs` seeds of the preset for `steps` steps three ways, the order rotating
from round to round: one after another (each run's own `Trainer.fit`, the whole machine to
itself), together as one stack (`train_together(mode="stack")`) and together in turns. Building
the trainers is not timed; the epoch end (a grid and a checkpoint per run) is, as in training.
Evaluation is off. The ratios to "one after another" are the numbers to read: this machine's
speed moves from run to run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganforge.config import resolve
from ganforge.runs import RunDir
from ganforge.training.rng import rng_state
from ganforge.training.together import RunTogether, train_together
from ganforge.training.trainer import Trainer


def trainers(args, folder: Path) -> list[RunTogether]:
    built = []
    for seed in range(args.runs):
        config = resolve(args.preset, [("train.seed", seed), ("train.device", args.device),
                                       ("train.eval_every", 0), ("train.max_steps", args.steps),
                                       ("train.epochs", 1), ("train.health", False)])
        batch = config.train.batch_size
        config.data.limit = args.steps * batch  # (one epoch: its end is the last step)
        trainer = Trainer.from_config(config)
        run_dir = RunDir(folder / f"seed{seed}")
        trainer.start(run_dir)
        built.append(RunTogether(trainer, run_dir, rng_state()))
    return built


def timed(args, way: str) -> float:
    """Images per second in all, training the runs `way`."""
    with tempfile.TemporaryDirectory() as folder:
        runs = trainers(args, Path(folder))
        images = sum(run.trainer.total_steps * run.trainer.config.train.batch_size for run in runs)
        quiet = lambda line: None  # noqa: E731
        started = time.perf_counter()
        if way == "one after another":
            for run in runs:
                run.trainer.fit(run.run_dir, log=quiet, progress=False)
        else:
            train_together(runs, mode=way.split()[-1], log=quiet, progress=False)
        if runs[0].trainer.device.type == "cuda":
            torch.cuda.synchronize()
        return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ways = ["one after another", "together: stack", "together: turns"]
    rates: dict[str, list[float]] = {way: [] for way in ways}
    for round_index in range(args.rounds):
        order = ways[round_index % 3:] + ways[:round_index % 3]
        for way in order:
            rates[way].append(timed(args, way))
        print(f"round {round_index + 1}: " + ", ".join(f"{way} {rates[way][-1]:,.0f} img/s" for way in ways),
              flush=True)
    base = statistics.median(rates[ways[0]])
    print(f"\n{args.runs} seeds of {args.preset}, {args.steps} steps each, on {args.device} "
          f"(median of {args.rounds} rounds):")
    print("| way | images/s in all | ratio to one after another |\n|---|---|---|")
    for way in ways:
        median = statistics.median(rates[way])
        print(f"| {way} | {median:,.0f} | {median / base:.2f}x |")
    print(f"together: {args.runs} seeds of {args.preset} on {args.device}: " + ", ".join(
        f"{way.split()[-1]} {statistics.median(rates[way]):,.0f} img/s" for way in ways))


if __name__ == "__main__":
    main()
