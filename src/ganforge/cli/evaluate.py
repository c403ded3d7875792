"""`ganforge evaluate` (quality of a run, checkpoint, array or folder) and
`ganforge train-classifier` (the feature networks it uses)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge import api
from ganforge.cli.common import DEVICES, at_least


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="measure quality: FID, KID, precision/recall...")
    evaluate.add_argument("source", type=Path, nargs="?",
                          help="a run folder, checkpoint, .npy/.npz array or folder of PNGs")
    evaluate.add_argument("--n", type=at_least(2),
                          help="samples to draw (default 10000; stacked-mnist 26000, as papers count modes)")
    evaluate.add_argument("--ref", choices=["test", "train"], default="test",
                          help="real split to compare with (default test)")
    evaluate.add_argument("--metrics", help="comma-separated metric names (default: the features' "
                          "defaults); 'ganforge metrics' lists them all")
    evaluate.add_argument("--dataset", choices=api.DATASETS.names(),
                          help="for arrays and folders of samples (default mnist; folder: the "
                               "folder dataset at --data-dir); runs know their own")
    evaluate.add_argument("--real", action="store_true",
                          help="score a real train subset: the floor every number is read against")
    evaluate.add_argument("--conditional", action="store_true",
                          help="with --real: the conditional metrics' floor (label accuracy, "
                               "intra-class FID, per-class recall and spread)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--features", choices=api.FEATURE_NETWORKS,
                          help="feature network: ganforge's digit classifier (the default where it "
                               "knows the dataset), a fixed random embedding (the default "
                               "elsewhere; nothing to download) or Inception-v3 (extra "
                               "[inception], weights already on disk)")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=cmd_evaluate)

    classifier = commands.add_parser(
        "train-classifier", help="train the digit classifier behind the offline metrics")
    classifier.add_argument("--dataset", choices=api.IDX_DATASETS, default="mnist")
    classifier.add_argument("--epochs", type=int, default=6)
    classifier.add_argument("--seed", type=int, default=0)
    classifier.add_argument("--device", choices=DEVICES, default="auto")
    classifier.add_argument("--data-dir")
    classifier.add_argument("--out", type=Path, required=True)
    classifier.set_defaults(handler=cmd_train_classifier)


def cmd_evaluate(args: argparse.Namespace) -> int:
    metrics = [name.strip() for name in args.metrics.split(",")] if args.metrics else None
    results = api.evaluate(args.source, dataset=args.dataset, metrics=metrics, n=args.n, ref=args.ref,
                           seed=args.seed, features=args.features, data_dir=args.data_dir,
                           real=args.real, conditional=args.conditional)
    if args.json:
        print(json.dumps(results))
        return 0
    label = f"real {args.dataset or 'mnist'} train subset" if args.real else str(args.source)
    print(f"{label}: {results['samples']} samples against {results['dataset']} {args.ref}")
    for name, value in results.items():
        if name not in ("samples", "dataset"):
            shown = f"{value:.5g}" if isinstance(value, float) else \
                " ".join(f"{item:.3g}" for item in value) if isinstance(value, list) else value
            print(f"  {name:16s} {shown}")
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    print("ganforge: " + api.train_classifier(args.dataset, args.out, epochs=args.epochs,
                                              seed=args.seed, device=args.device,
                                              data_dir=args.data_dir))
    return 0
