"""Folder presets against each other at equal wall time, scored in the random embedding.

    python benchmarks/folder_targets.py --minutes 10 --presets folder-dcgan128 folder-fastgan128

Makes (once) the procedurally generated abstract folder the tests use, at `--images` images
(default 2,000; `--folder DIR` scores your own instead), trains each preset for `--minutes` on
it, then scores each run's EMA generator with `--features random` against the folder's held-out
10 %: FID, KID, precision, recall, density, coverage, memorization. Prints one Markdown row per
preset and writes a sample sheet of each beside its run (RUN/sheet.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ganforge
from ganforge.data.synthetic import write_abstract_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["folder-dcgan128", "folder-fastgan128"])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--folder", type=Path, help="images to train on (default: the abstract folder)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("runs/folder-targets"))
    parser.add_argument("--n", type=int, default=2000, help="samples per score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    folder = args.folder or args.out / f"abstract-{args.images}"
    if args.folder is None and not folder.is_dir():
        write_abstract_folder(folder, args.images)
    print("| preset | steps (images) | FID | KID | precision | recall | density | coverage | "
          "memorization |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        run = ganforge.train(preset, out=args.out / f"{preset}-seed{args.seed}",
                             max_minutes=args.minutes, seed=args.seed, progress=False,
                             overrides=[f"data.path={folder}", "train.eval_every=0", *args.set])
        scores = run.evaluate(n=args.n)
        ganforge.api.save_samples(run.root, run.root / "sheet.png", n=64)
        images = run.step * run.config.train.batch_size
        print(f"| {preset} | {run.step} ({images:,d}) | {scores['fid']:.3f} | {scores['kid']:.4f} | "
              f"{scores['precision']:.3f} | {scores['recall']:.3f} | {scores['density']:.3f} | "
              f"{scores['coverage']:.3f} | {scores['memorization']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
