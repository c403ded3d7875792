"""Train every preset for a few epochs and score it: the numbers in docs/presets.md.

    python benchmarks/preset_fids.py --epochs 5 --device cuda --out runs/preset-fids [--preset NAME ...]

Prints one Markdown table row per preset: epochs, wall time, FID, precision, recall, classes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ganforge.config import load_config, preset_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/preset-fids"))
    parser.add_argument("--preset", action="append", help="default: every preset")
    parser.add_argument("--n", type=int, default=10_000, help="samples per evaluation")
    args = parser.parse_args()
    print("| preset | epochs | minutes | FID | precision | recall | classes |")
    print("|---|---|---|---|---|---|---|")
    for preset in args.preset or preset_names():
        epochs = min(args.epochs, load_config(preset).train.epochs)
        run = args.out / preset
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", preset,
                        "--epochs", str(epochs), "--device", args.device, "--out", str(run)],
                       check=True, stdout=subprocess.DEVNULL)
        minutes = (time.perf_counter() - started) / 60
        scores = json.loads(subprocess.run(
            [sys.executable, "-m", "ganforge", "evaluate", str(run), "--n", str(args.n), "--json",
             "--metrics", "fid,pr,classes"], check=True, capture_output=True, text=True).stdout)
        print(f"| `{preset}` | {epochs} | {minutes:.1f} | {scores['fid']:.2f} | "
              f"{scores['precision']:.3f} | {scores['recall']:.3f} | {scores['classes_covered']} |",
              flush=True)


if __name__ == "__main__":
    main()
