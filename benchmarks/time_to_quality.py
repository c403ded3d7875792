"""Wall-clock time until FID falls below a threshold, for the default preset and the notebook.

    python benchmarks/time_to_quality.py [--threshold 5] [--max-minutes 10] [--device cpu]

Each preset trains with an FID evaluation (5,000 samples) after every epoch; the time reported
is training time up to the first evaluation at or below the threshold (evaluation time is
excluded, since it is measurement, not training).

Why FID 5: with ganforge's digit features the real-vs-real floor is 0.023, which no generator
reaches in minutes; at FID 5 or below all ten digits appear, clean, in every grid we looked at
(classifier score above 4), so it marks "good digits".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from ganforge.runs import RunDir


def minutes_to_threshold(preset: str, threshold: float, max_minutes: float, device: str,
                         folder: Path) -> tuple[float | None, float]:
    run = folder / preset
    subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", preset, "--out", str(run),
                    "--max-minutes", str(max_minutes), "--device", device,
                    "--set", "train.eval_every=1", "--set", "train.eval_samples=5000"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds, best = 0.0, float("inf")
    for record in RunDir(run).read_metrics():
        if record["event"] == "epoch":
            seconds += record["seconds"]
        elif record["event"] == "eval":
            best = min(best, record["fid"])
            if record["fid"] <= threshold:
                return seconds / 60, best
    return None, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=5.0)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", action="append", help="default: mnist-dcgan and mnist-course")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.preset or ["mnist-dcgan", "mnist-course"]:
            minutes, best = minutes_to_threshold(preset, args.threshold, args.max_minutes,
                                                 args.device, Path(folder))
            reached = f"{minutes:.1f} min" if minutes is not None else \
                f"not within {args.max_minutes:g} min"
            print(f"{preset:14s} FID <= {args.threshold:g}: {reached} (best FID {best:.2f})",
                  flush=True)


if __name__ == "__main__":
    main()
