"""Stacked MNIST (1,000 modes) as papers measure it: train presets at an equal budget over seeds,
count the modes covered and the KL to uniform on 26,000 samples, and print the table beside the
published one.

    python benchmarks/stacked_mnist.py --presets stacked-r3gan stacked-dcgan --minutes 20 --seeds 0 1 2
    python benchmarks/stacked_mnist.py --presets stacked-r3gan --set loss.name=bce --images 500000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ganforge as ganforge_api

# Modes of 1,000 / KL, as published.
PUBLISHED = [
    ("DCGAN (PacGAN Table 2, VEEGAN's set-up)", "99.0", "3.40"),
    ("DCGAN, PacGAN's own run of that set-up (carpedm20's code)", "78.9", "4.50"),
    ("ALI", "16.0", "5.40"),
    ("Unrolled GAN", "48.7", "4.32"),
    ("VEEGAN", "150.0", "2.95"),
    ("PacDCGAN2", "1000", "0.06"),
    ("R3GAN loss study: GAN + R1 + R2", "693", "0.927"),
    ("R3GAN loss study: RpGAN + R1 + R2", "1000", "0.078"),
]


def ganforge(*args: str, capture: bool = False) -> str:
    result = subprocess.run([sys.executable, "-m", "ganforge", *args], check=True, text=True,
                            stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return result.stdout if capture else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["stacked-r3gan", "stacked-dcgan"])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="equal wall time per run (default 20)")
    budget.add_argument("--images", type=int, help="equal training images per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=26_000, help="samples the modes are counted on")
    parser.add_argument("--out", type=Path, default=Path("runs/stacked-mnist"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="applied to every run (a loss study: --set loss.name=bce)")
    args = parser.parse_args()
    minutes = args.minutes or 20
    budget_words = f"{args.images:,d} images" if args.images else f"{minutes:g} minutes"
    overrides = [flag for pair in args.set for flag in ("--set", pair)]
    print(f"Stacked MNIST, {budget_words} a run, modes on {args.n:,d} samples"
          f"{' with ' + ' '.join(args.set) if args.set else ''}\n")
    print("| preset | seed | modes (of 1,000) | KL | FID | images | minutes |")
    print("|---|---|---|---|---|---|---|")
    summary: dict[str, list[tuple[int, float]]] = {}
    for preset in args.presets:
        for seed in args.seeds:
            run = args.out / f"{preset}-seed{seed}"
            batch = ganforge_api.make_config(preset, overrides=args.set).train.batch_size
            limit = ["--max-steps", str(-(-args.images // batch))] if args.images else \
                ["--max-minutes", str(minutes)]
            started = time.perf_counter()
            ganforge("train", "--preset", preset, "--seed", str(seed), "--out", str(run), *limit,
                     "--epochs", "1000", "--set", "train.eval_every=0", *overrides)
            minutes = (time.perf_counter() - started) / 60
            scores = json.loads(ganforge("evaluate", str(run), "--n", str(args.n), "--metrics",
                                         "modes,fid", "--json", capture=True))
            epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                      if '"event": "epoch"' in line]
            images = epochs[-1]["step"] * batch if epochs else 0
            summary.setdefault(preset, []).append((scores["modes"], scores["modes_kl"]))
            print(f"| `{preset}` | {seed} | {scores['modes']} | {scores['modes_kl']:.3f} | "
                  f"{scores['fid']:.2f} | {images:,d} | {minutes:.1f} |", flush=True)
    print("\n| | modes (of 1,000) | KL |\n|---|---|---|")
    for preset, values in summary.items():
        modes, kls = zip(*values)
        spread = f" ± {statistics.stdev(modes):.0f}" if len(modes) > 1 else ""
        print(f"| ganforge `{preset}` (mean of {len(modes)} seeds) | {statistics.mean(modes):.0f}{spread} | "
              f"{statistics.mean(kls):.3f} |")
    for name, modes, kl in PUBLISHED:
        print(f"| {name} | {modes} | {kl} |")


if __name__ == "__main__":
    main()
