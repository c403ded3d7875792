"""Issue 25's MNIST-64 target: a folder preset on MNIST as 64 px PNGs against the default at 28 px.

    ganforge export-dataset mnist --out mnist64 --size 64
    python benchmarks/mnist64_target.py --folder mnist64 --minutes 10

Trains the default `mnist-dcgan` on MNIST and `--preset` (default folder-dcgan64-cpu) on the folder
(grayscale, no flips: the digit features know unmirrored digits), each for `--minutes` of
training, periodic evaluation off, one after the other. Both are scored in the digit features on
`--n` samples against the MNIST test set, the folder run's samples area-downscaled to 28 px.
Prints a Markdown row per run and the ratio the issue bounds (at most 3).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import ganforge
from random_features_calibration import digit_fid  # a sibling: benchmarks/ is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True, help="MNIST as PNGs (export-dataset)")
    parser.add_argument("--data-dir", default="data/mnist", help="MNIST's IDX files, for the default")
    parser.add_argument("--preset", default="folder-dcgan64-cpu")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/mnist64-target"))
    parser.add_argument("--n", type=int, default=10_000, help="samples per score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for the folder preset (repeatable)")
    args = parser.parse_args()
    runs = {
        "mnist-dcgan": [f"data.path={args.data_dir}"],
        args.preset: [f"data.path={args.folder}", "data.channels=1", "data.hflip=false", *args.set],
    }
    print("| preset | images seen | images/s (seen / budget) | digit FID (28 px) |")
    print("|---|---|---|---|")
    fids = []
    for preset, overrides in runs.items():
        run = ganforge.train(preset, out=args.out / f"{preset}-seed{args.seed}", seed=args.seed,
                             max_minutes=args.minutes, progress=False,
                             overrides=[*overrides, "train.eval_every=0"])
        with torch.no_grad():
            fids.append(digit_fid(run.root / "checkpoints" / "last.pt", args.n, args.seed))
        images = run.step * run.config.train.batch_size
        print(f"| `{preset}` | {images:,d} | {images / (args.minutes * 60):.0f} | {fids[-1]:.3f} |",
              flush=True)
    ratio = fids[1] / fids[0]
    print(f"\nfolder / default: {ratio:.2f} ({'meets' if ratio <= 3 else 'misses'} the 3x target)")


if __name__ == "__main__":
    main()
