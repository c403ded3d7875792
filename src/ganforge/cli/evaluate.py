"""`ganforge evaluate` (quality of a run, checkpoint, array or folder) and
`ganforge train-classifier` (the feature networks it uses)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.common import DEVICES
from ganforge.errors import ConfigError


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="measure quality: FID, KID, precision/recall...")
    evaluate.add_argument("source", type=Path, nargs="?",
                          help="a run folder, checkpoint, .npy/.npz array or folder of PNGs")
    evaluate.add_argument("--n", type=int, default=10_000, help="samples to draw (default 10000)")
    evaluate.add_argument("--ref", choices=["test", "train"], default="test",
                          help="real split to compare with (default test)")
    evaluate.add_argument("--metrics", help="comma-separated, default fid,kid,pr,dc,cs,classes; "
                          "also memorization")
    evaluate.add_argument("--dataset", choices=["mnist", "fashion-mnist", "cifar10"],
                          help="for arrays and folders (default mnist); runs know their own")
    evaluate.add_argument("--real", action="store_true",
                          help="score a real train subset: the floor every number is read against")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--features", choices=["digits", "inception"], default="digits",
                          help="feature network: ganforge's digit classifier (default) or "
                               "Inception-v3 (extra [inception], weights already on disk)")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=cmd_evaluate)

    classifier = commands.add_parser(
        "train-classifier", help="train the digit classifier behind the offline metrics")
    classifier.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    classifier.add_argument("--epochs", type=int, default=6)
    classifier.add_argument("--seed", type=int, default=0)
    classifier.add_argument("--device", choices=DEVICES, default="auto")
    classifier.add_argument("--data-dir")
    classifier.add_argument("--out", type=Path, required=True)
    classifier.set_defaults(handler=cmd_train_classifier)


def _images_to_score(args: argparse.Namespace) -> tuple:
    """(images in [-1, 1], dataset name, run folder or None) for `evaluate`."""
    from ganforge.generation import sample_checkpoint
    from ganforge.metrics.images import load_array, load_folder
    from ganforge.runs import RunDir

    source: Path = args.source
    if source.suffix in (".npy", ".npz"):
        return load_array(source), args.dataset or "mnist", None
    if source.is_dir() and not RunDir(source).exists():
        return load_folder(source), args.dataset or "mnist", None
    images, dataset = sample_checkpoint(source, args.n, args.seed)
    return images, args.dataset or dataset, RunDir(source) if source.is_dir() else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ganforge.metrics import DEFAULT_METRICS, evaluate, real_images

    metrics = tuple(name.strip() for name in args.metrics.split(",")) if args.metrics \
        else DEFAULT_METRICS
    if args.n < 2:
        raise ConfigError(f"--n must be at least 2, got {args.n}")
    if args.real:
        dataset, run_dir = args.dataset or "mnist", None
        images = real_images(dataset, "train", args.n, args.data_dir)
        label = f"real {dataset} train subset vs {args.ref}"
    elif args.source is None:
        raise ConfigError("evaluate needs a SOURCE (run folder, checkpoint, .npy/.npz, folder of "
                          "PNGs) or --real")
    else:
        images, dataset, run_dir = _images_to_score(args)
        label = str(args.source)
    results = evaluate(images, dataset, metrics, ref=args.ref, seed=args.seed,
                       data_dir=args.data_dir, features=args.features)
    if run_dir is not None:
        run_dir.record_evaluation(results, args.ref)
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{label}: {results['samples']} samples against {dataset} {args.ref}")
        for name, value in results.items():
            if name != "samples":
                shown = f"{value:.5g}" if isinstance(value, float) else value
                print(f"  {name:16s} {shown}")
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    import torch

    from ganforge.data.sources import load_split
    from ganforge.metrics.classifier import accuracy, fit
    from ganforge.metrics.features import file_sha256
    from ganforge.runs.checkpoint import save
    from ganforge.training.setup import resolve_device

    device = resolve_device(args.device)
    splits = {split: [torch.from_numpy(part).to(device)
                      for part in load_split(args.dataset, args.data_dir, split)]
              for split in ("train", "test")}
    model = fit(*splits["train"], epochs=args.epochs, seed=args.seed)
    test_accuracy = accuracy(model, *splits["test"])
    save({name: tensor.cpu() for name, tensor in model.state_dict().items()}, args.out)
    print(f"ganforge: {args.dataset} classifier: test accuracy {test_accuracy:.4%}; "
          f"wrote {args.out} (sha256 {file_sha256(args.out)})")
    return 0
