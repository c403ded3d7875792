"""Does FID in the random embedding rank checkpoints as FID in the digit features does?

    python benchmarks/random_features_calibration.py --folder mnist64 --out runs/calibration

MNIST written as a folder of 64 px PNGs (`ganforge export-dataset mnist --out mnist64 --size
64`) has a known truth: one folder run is trained in segments and its checkpoint after each is
kept (a ladder of quality); every rung is scored twice, by `--features random` against the
folder's held-out share and by the digit classifier on its samples downscaled to 28 px against
the MNIST test set. Prints a Markdown table and the Spearman rank correlation of the two FIDs
(issue 25 asks for at least 0.9 over at least 6 checkpoints). The default ladder (each rung 1.6x
the last) starts where the samples are digit-shaped: before that the digit features score blobs
in no order. `--repeats R` scores every rung on R sample sets, so a disagreement can be told
from the scores' own noise.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

import ganforge
from ganforge.generation import load
from ganforge.metrics import evaluate
from ganforge.models.layers import balanced_labels
from ganforge.sampling import generate_chunks


def digit_fid(checkpoint: Path, count: int, seed: int) -> float:
    """FID of the checkpoint's samples, area-downscaled to 28 px, in the digit features."""
    generator = load(checkpoint).module
    chunks = (F.interpolate(chunk, size=28, mode="area")
              for chunk in generate_chunks(generator, count, seed=seed,
                                           labels=balanced_labels(count, generator.num_classes)))
    return evaluate(chunks, "mnist", ("fid",), features="digits")["fid"]


def random_fid(checkpoint: Path, count: int, seed: int) -> float:
    loaded = load(checkpoint)
    return evaluate(generate_chunks(loaded.module, count, seed=seed), "folder", ("fid",),
                    features="random", data=loaded.data)["fid"]


def scored(score, checkpoint: Path, count: int, repeats: int) -> tuple[float, str]:
    """The mean of `repeats` scores on different sample sets, and its text (mean ± spread)."""
    values = [score(checkpoint, count, seed) for seed in range(repeats)]
    mean = statistics.fmean(values)
    return mean, f"{mean:.3f}" + (f" ± {statistics.stdev(values):.3f}" if repeats > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True, help="MNIST as PNGs (export-dataset)")
    parser.add_argument("--out", type=Path, default=Path("runs/calibration"))
    parser.add_argument("--preset", default="folder-dcgan64")
    parser.add_argument("--steps", type=int, nargs="+", default=[250, 400, 640, 1000, 1600, 2560])
    parser.add_argument("--n", type=int, default=5000, help="samples per score")
    parser.add_argument("--repeats", type=int, default=1,
                        help="score each rung on this many sample sets (mean ± standard deviation)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    # No flips: the truth the digit features know is unmirrored digits.
    overrides = [f"data.path={args.folder}", "data.channels=1", "data.hflip=false",
                 "train.eval_every=0", *args.set]
    ladder = args.out / "ladder"
    ladder.mkdir(parents=True, exist_ok=True)
    run, started, minutes = None, time.perf_counter(), []
    for steps in args.steps:
        run = ganforge.train(args.preset, out=args.out / "run", max_steps=steps, overrides=overrides,
                             progress=False) if run is None else run.resume(max_steps=steps, progress=False)
        shutil.copy(run.root / "checkpoints" / "last.pt", ladder / f"step-{steps:06d}.pt")
        minutes.append((time.perf_counter() - started) / 60)
    print("| step | minutes (with start-ups) | FID, random embedding (folder holdout) | "
          "FID, digit features (28 px, MNIST test) |")
    print("|---|---|---|---|")
    random_fids, digit_fids = [], []
    for steps, spent in zip(args.steps, minutes):
        checkpoint = ladder / f"step-{steps:06d}.pt"
        with torch.no_grad():
            random_mean, random_text = scored(random_fid, checkpoint, args.n, args.repeats)
            digit_mean, digit_text = scored(digit_fid, checkpoint, args.n, args.repeats)
        random_fids.append(random_mean)
        digit_fids.append(digit_mean)
        print(f"| {steps} | {spent:.1f} | {random_text} | {digit_text} |", flush=True)
    rho = spearmanr(random_fids, digit_fids).statistic
    print(f"\nSpearman rank correlation over {len(args.steps)} checkpoints: {rho:.3f} "
          f"({'meets' if rho >= 0.9 else 'misses'} the 0.9 target)")


if __name__ == "__main__":
    main()
