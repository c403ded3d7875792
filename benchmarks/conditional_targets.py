"""A conditional preset against issue 24's targets, on several seeds: the table in docs/presets.md.

    python benchmarks/conditional_targets.py --preset mnist-cgan --max-minutes 4 --seeds 0 1 2

Each seed: `ganforge train --preset P --max-minutes M --seed S`, then `ganforge evaluate RUN
--n 10000`. Prints one Markdown row per seed (label accuracy, intra-class FID, mean per-class
recall, the lowest class spread, FID, epochs) and whether the targets hold: label accuracy >=
0.97, every class spread >= 0.85 of its real class, mean class recall >= 0.3, intra-class FID at
most `--fid-bound` (3x the default preset's FID after the same minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ganforge.runs import checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-cgan")
    parser.add_argument("--max-minutes", type=float, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fid-bound", type=float, default=3 * 0.84,
                        help="the intra-class FID target (default 3x mnist-dcgan's 4-minute FID)")
    parser.add_argument("--out", type=Path, default=Path("runs/conditional-targets"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = [flag for pair in args.set for flag in ("--set", pair)]
    print("| seed | epochs | label accuracy | intra-class FID | mean class recall | "
          "lowest class spread | FID | targets |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        run = args.out / f"{args.preset}-seed{seed}"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", args.preset,
                        "--max-minutes", str(args.max_minutes), "--seed", str(seed),
                        "--out", str(run), *overrides], check=True, stdout=subprocess.DEVNULL)
        minutes = (time.perf_counter() - started) / 60
        scores = json.loads(subprocess.run(
            [sys.executable, "-m", "ganforge", "evaluate", str(run), "--n", "10000", "--json"],
            check=True, capture_output=True, text=True).stdout)
        state = checkpoint.load(run / "checkpoints" / "last.pt")
        held = (scores["label_accuracy"] >= 0.97 and scores["min_class_spread"] >= 0.85
                and scores["mean_class_recall"] >= 0.3 and scores["intra_fid"] <= args.fid_bound)
        print(f"| {seed} | {state['step'] / state['steps_per_epoch']:.1f} ({minutes:.1f} min) | "
              f"{scores['label_accuracy']:.4f} | {scores['intra_fid']:.2f} | "
              f"{scores['mean_class_recall']:.3f} | {scores['min_class_spread']:.3f} | "
              f"{scores['fid']:.2f} | {'hold' if held else 'miss'} |", flush=True)


if __name__ == "__main__":
    main()
