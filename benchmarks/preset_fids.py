"""Train every measurable preset for a fixed budget and score it: the tables in docs/presets.md.

    python benchmarks/preset_fids.py --max-minutes 4 --out runs/preset-fids   # this CPU
    python benchmarks/preset_fids.py --epochs 3 --device cuda                 # a GPU
    python benchmarks/preset_fids.py --preset mnist-dcgan --preset mnist-mlp  # some of them

Prints one Markdown table row per preset: epochs trained, wall minutes of the whole training
command, FID, precision, recall and classes covered on --n samples against the test set, with
ganforge's shipped feature network. Presets whose dataset no shipped network knows (CIFAR-10,
folders) are listed as skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ganforge.config import preset_names, resolve
from ganforge.metrics.features import default_features
from ganforge.runs import checkpoint


def epochs_trained(run: Path) -> float:
    """Epochs the run's last checkpoint has trained, a stopped epoch counted by its share."""
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    return state["step"] / state["steps_per_epoch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="train this many epochs (at most the preset's)")
    budget.add_argument("--max-minutes", type=float, help="train this long (default 4)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/preset-fids"))
    parser.add_argument("--preset", action="append", help="default: every measurable preset")
    parser.add_argument("--n", type=int, default=10_000, help="samples per evaluation")
    args = parser.parse_args()
    print("| preset | epochs | minutes | FID | precision | recall | classes |")
    print("|---|---|---|---|---|---|---|")
    for preset in args.preset or preset_names():
        config = resolve(preset)
        if default_features(config.data.name) != "digits":  # no classes to count, another table
            print(f"| `{preset}` | skipped: {config.data.name} is scored in the random embedding "
                  "(benchmarks/folder_targets.py) | | | | | |")
            continue
        if args.epochs:
            limit = ["--epochs", str(min(args.epochs, config.train.epochs))]
        else:
            limit = ["--max-minutes", str(args.max_minutes or 4)]
        run = args.out / preset
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", preset, *limit,
                        "--seed", str(args.seed), "--device", args.device, "--out", str(run)],
                       check=True, stdout=subprocess.DEVNULL)
        minutes = (time.perf_counter() - started) / 60
        scores = json.loads(subprocess.run(
            [sys.executable, "-m", "ganforge", "evaluate", str(run), "--n", str(args.n), "--json",
             "--metrics", "fid,pr,classes"], check=True, capture_output=True, text=True).stdout)
        print(f"| `{preset}` | {epochs_trained(run):.1f} | {minutes:.1f} | {scores['fid']:.2f} | "
              f"{scores['precision']:.3f} | {scores['recall']:.3f} | {scores['classes_covered']} |",
              flush=True)


if __name__ == "__main__":
    main()
