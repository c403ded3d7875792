"""Time `evaluate`: sampling N images from a run and scoring them against cached test statistics.

    python benchmarks/eval_speed.py RUN_DIR [--n 10000] [--metrics fid]

The first call fills the real-feature cache; the timings reported are of a second, warm call.
"""

import argparse
import time
from pathlib import Path

import torch

from ganforge.generation import load_generator
from ganforge.metrics import evaluate
from ganforge.sampling import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--metrics", default="fid")
    args = parser.parse_args()
    metrics = tuple(args.metrics.split(","))
    generator = load_generator(args.run)
    evaluate(generate(generator, 100), "mnist", metrics)  # warm-up, fills the cache
    started = time.perf_counter()
    images = generate(generator, args.n)
    sampled = time.perf_counter()
    results = evaluate(images, "mnist", metrics)
    finished = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"sampling {args.n}: {sampled - started:.2f} s; scoring ({args.metrics}): "
          f"{finished - sampled:.2f} s; total {finished - started:.2f} s")
    print({k: v for k, v in results.items() if k != "class_histogram"})


if __name__ == "__main__":
    main()
