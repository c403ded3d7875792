"""The `ganforge` command: parse arguments, build a validated config, call one function."""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
import warnings
from pathlib import Path

import ganforge
from ganforge.errors import ConfigError, GanforgeError

# Train flags that are shorthands for config keys.
TRAIN_FLAGS = {
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "max_minutes": "train.max_minutes",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.device",
    "data_dir": "data.path",
    "checkpoint_every": "train.checkpoint_every",
}


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (it normally prints the usage first)."""

    def error(self, message: str):
        self.exit(2, f"ganforge: error: {message} (see '{self.prog} --help')\n")


def _overrides(args: argparse.Namespace) -> list:
    from ganforge.config import parse_override

    overrides = [parse_override(text) for text in args.set]
    overrides += [(key, getattr(args, flag)) for flag, key in TRAIN_FLAGS.items()
                  if getattr(args, flag) is not None]
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from ganforge.training.distributed import ranks_from_environment, stop

    ranks = ranks_from_environment()
    try:
        return _resume(args, ranks) if args.resume else _train(args, ranks)
    finally:
        stop()


def _train(args: argparse.Namespace, ranks) -> int:
    from ganforge.config import load_config
    from ganforge.training.loop import prepare, start, train
    from ganforge.training.run_dir import RunDir

    config = load_config(args.preset, args.config, _overrides(args))
    session = prepare(config, ranks)
    if args.dry_run:
        return _dry_run(session)
    name = args.preset or (args.config.stem if args.config else "mnist-dcgan")
    # Every rank must agree on the folder, and only rank 0 writes it.
    run_dir = RunDir(ranks.broadcast(args.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"))
    if ranks.main:
        start(session, run_dir)
        print(f"ganforge: training {config.model.name} on {config.data.name} "
              f"({session.total_steps} steps on {session.device}); run folder {run_dir.root}", flush=True)
        _say_distributed(session)
    return _finish(train(session, run_dir), run_dir, ranks)


def _say_distributed(session) -> None:
    ranks, train = session.ranks, session.config.train
    if ranks.active:
        print(f"ganforge: {ranks.world_size} processes ({'nccl' if session.device.type == 'cuda' else 'gloo'}"
              f"), batch {train.batch_size} per process = {train.batch_size * ranks.world_size} per step; "
              "learning rates as configured (not scaled); gradients averaged over processes"
              f"{'; SyncBatchNorm' if train.sync_batch_norm and session.device.type == 'cuda' else ''}",
              flush=True)


def _dry_run(session) -> int:
    """Everything up to the first step, plus one step on a small batch; nothing is written."""
    import torch

    from ganforge.config import dump_yaml
    from ganforge.training.steps import train_step

    config = session.config
    real_images, labels = next(session.batches.epoch(0))
    count = min(8, len(real_images))
    z = torch.randn(count, config.model.z_dim, device=session.device)
    stats = train_step(session.gan, real_images[:count], z,
                       labels[:count] if config.model.conditional else None)
    if not torch.isfinite(stats).all():
        raise GanforgeError("dry run: the first step produced NaN/Inf; check the learning rates")
    print(dump_yaml(config).rstrip())
    print(_model_summary(config))
    print(f"ganforge: dry run passed on {session.device} (data verified, models built, one "
          "forward/backward step); nothing was written")
    return 0


def _finish(outcome, run_dir, ranks) -> int:
    """The closing line of a training command, and its exit code (128 + signal when stopped)."""
    if outcome.signal_number is not None:
        name = signal.Signals(outcome.signal_number).name
        if ranks.main:
            print(f"ganforge: stopped by {name} at step {outcome.step} with a checkpoint; continue "
                  f"with: ganforge train --resume {run_dir.root}", file=sys.stderr)
        return 128 + outcome.signal_number
    if ranks.main:
        print(f"ganforge: done; samples in {run_dir.samples}, checkpoint {run_dir.last_checkpoint}")
    return 0


def _resume(args: argparse.Namespace, ranks) -> int:
    from ganforge.config import (
        RESUMABLE_KEYS,
        apply_overrides,
        changed_keys,
        config_from_dict,
        dump_yaml,
        read_yaml,
    )
    from ganforge.training import checkpoint
    from ganforge.training.loop import prepare, restore, train
    from ganforge.training.run_dir import RunDir

    if args.preset or args.config or args.out:
        raise ConfigError("--resume continues a run with its own config and folder; "
                          "drop --preset, --config and --out (use --set to change keys)")
    run_dir = RunDir(args.resume)
    if not run_dir.exists():
        raise GanforgeError(f"{run_dir.root} is not a ganforge run folder (no config.yaml); "
                            "pass the folder a 'ganforge train' run created")
    saved = config_from_dict(read_yaml(run_dir.config_path))
    config = config_from_dict(apply_overrides(saved.to_dict(), _overrides(args)))
    changed = [key for key in changed_keys(saved, config) if key not in RESUMABLE_KEYS]
    if changed and not args.force:
        raise ConfigError(f"resuming with a different config ({', '.join(changed)} changed) would "
                          "mix two experiments; drop those overrides, or pass --force")
    session = prepare(config, ranks)
    step, epoch_stats = 0, None
    if run_dir.last_checkpoint.is_file():  # a run killed before its first checkpoint restarts
        state = checkpoint.load(run_dir.last_checkpoint)
        step, epoch_stats = restore(session, state, str(run_dir.last_checkpoint))
    if ranks.main:
        run_dir.make_folders()
        if config != saved:
            run_dir.write_config(dump_yaml(config))
        print(f"ganforge: resuming {run_dir.root} at step {step} of {session.total_steps}", flush=True)
        _say_distributed(session)
    return _finish(train(session, run_dir, step, epoch_stats), run_dir, ranks)


def _labels_for(generator, args: argparse.Namespace, count: int):
    """--label k for every image, or None (every class in turn) for a conditional generator."""
    import torch

    if args.label is None:
        return None
    if not generator.num_classes:
        raise ConfigError("--label needs a conditional model (this generator ignores labels)")
    if not 0 <= args.label < generator.num_classes:
        raise ConfigError(f"--label must be in 0..{generator.num_classes - 1}, got {args.label}")
    return torch.full((count,), args.label)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from ganforge.sampling import generate, generate_chunks, load_generator, write_images, write_samples

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    generator = load_generator(args.source, ema=not args.no_ema)
    if args.grid_by_class:
        if not generator.num_classes:
            raise ConfigError("--grid-by-class needs a conditional model")
        per_class = 10
        labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
        images = generate(generator, len(labels), args.seed, labels=labels)
        print(f"ganforge: {write_images(images, args.out, columns=per_class)}")
        return 0
    chunks = generate_chunks(generator, args.n, args.seed, labels=_labels_for(generator, args, args.n))
    print(f"ganforge: {write_samples(chunks, args.n, args.out)}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from ganforge.sampling import generate, load_generator, slerp, write_images

    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {args.steps}")
    if args.out.suffix not in (".png", ".gif"):
        raise ConfigError(f"--out must end in .png or .gif, got {args.out}")
    generator = load_generator(args.source, ema=not args.no_ema)
    ends = [torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(seed))
            for seed in (args.seed, args.seed2)]
    z = slerp(*ends, torch.linspace(0, 1, args.steps)[:, None])
    labels = _labels_for(generator, args, args.steps)
    if labels is None and generator.num_classes:
        labels = torch.zeros(args.steps, dtype=torch.long)  # hold the class fixed along the walk
    images = generate(generator, args.steps, labels=labels, z=z)
    print(f"ganforge: {write_images(images, args.out, columns=args.steps)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ganforge.export import FORMATS, export
    from ganforge.sampling import checkpoint_path, load_generator, model_card, run_folder_of
    from ganforge.training import checkpoint

    path = checkpoint_path(args.source)
    spec = checkpoint.load(path)["generator"]
    out = args.out or run_folder_of(path) / "export" / f"generator{FORMATS[args.format]}"
    generator = load_generator(args.source, ema=not args.no_ema)
    sidecar = export(generator, {"name": spec["name"], "kwargs": spec["kwargs"]}, args.format, out,
                     model_card(args.source, ema=not args.no_ema))
    fid = "" if sidecar["fid"] is None else f", FID {sidecar['fid']:.3f}"
    print(f"ganforge: wrote {args.format} {out} ({'EMA' if sidecar['ema'] else 'raw'} weights, "
          f"z {sidecar['z_dim']}, images {tuple(sidecar['image_shape'])}{fid}) and {out}.json")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ganforge.serve import make_server

    server = make_server(args.source, args.host, args.port, ema=not args.no_ema)
    host, port = server.server_address[:2]
    print(f"ganforge: serving {args.source} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("ganforge: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ganforge.config import parse_override
    from ganforge.report import comparison_report
    from ganforge.sweep import load_spec, run_grid, run_search

    spec = load_spec(args.spec)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    out = args.out or Path("sweeps-out") / f"{args.spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    extra = [parse_override(text) for text in args.set]
    if args.search == "optuna":
        if args.trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {args.trials}")
        run_search(spec, out, args.trials, args.storage, args.study, args.device, args.data_dir, extra,
                   args.seed)
    else:
        run_grid(spec, out, args.jobs, args.device, args.data_dir, extra)
    page = comparison_report([out], out / "report.html")
    print(f"ganforge: results in {out / 'results.md'} and {page}")
    print((out / "results.md").read_text())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ganforge.report import comparison_report, run_report
    from ganforge.training.run_dir import RunDir

    if len(args.runs) == 1 and RunDir(args.runs[0]).config_path.is_file():
        print(f"ganforge: wrote {run_report(args.runs[0])}")
        return 0
    for path in args.runs:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder; give run or sweep folders")
    out = args.out or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("comparison.html"))
    print(f"ganforge: wrote {comparison_report(args.runs, out)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ganforge.report import compare_table

    print(compare_table(args.runs))
    return 0


def _images_to_score(args: argparse.Namespace) -> tuple:
    """(images in [-1, 1], dataset name, run folder or None) for `evaluate`."""
    from ganforge.metrics.images import load_array, load_folder
    from ganforge.sampling import sample_checkpoint
    from ganforge.training.run_dir import RunDir

    source: Path = args.source
    if source.suffix in (".npy", ".npz"):
        return load_array(source), args.dataset or "mnist", None
    if source.is_dir() and not RunDir(source).exists():
        return load_folder(source), args.dataset or "mnist", None
    images, dataset = sample_checkpoint(source, args.n, args.seed)
    return images, args.dataset or dataset, RunDir(source) if source.is_dir() else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ganforge.metrics import DEFAULT_METRICS, evaluate, real_images
    from ganforge.sampling import record_evaluation

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
        record_evaluation(run_dir, results, args.ref)
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{label}: {results['samples']} samples against {dataset} {args.ref}")
        for name, value in results.items():
            if name != "samples":
                shown = f"{value:.5g}" if isinstance(value, float) else value
                print(f"  {name:16s} {shown}")
    return 0


def _model_summary(config) -> str:
    """The G and D tables of `summary` (and of `train --dry-run`)."""
    import torch

    from ganforge.models import build_discriminator, build_generator
    from ganforge.models.layers import balanced_labels
    from ganforge.summary import bias_note, format_table, summarize, training_step_bytes
    from ganforge.training.loop import model_arguments

    generator_spec, discriminator_kwargs = model_arguments(config)
    generator = build_generator(config.model.name, **generator_spec["kwargs"])
    discriminator = build_discriminator(config.model.name, **discriminator_kwargs)
    labels = balanced_labels(1, generator.num_classes)
    rows_g = summarize(generator, torch.zeros(1, config.model.z_dim), labels)
    image = generator.eval()(torch.zeros(1, config.model.z_dim), labels)
    rows_d = summarize(discriminator, image, labels)
    parameters = sum(p.numel() for module in (generator, discriminator) for p in module.parameters())
    step_bytes = training_step_bytes(rows_g, rows_d, parameters, config.train.batch_size)
    tables = [format_table(f"generator ({config.model.name}), per image", rows_g),
              format_table(f"discriminator ({config.model.name}), per image", rows_d)]
    note = bias_note(rows_g, rows_d)
    return "\n".join([
        *tables, *([note] if note else []),
        f"parameters: {parameters:,d}; a training step at batch {config.train.batch_size} needs "
        f"about {step_bytes / 2**20:,.0f} MiB (float32 weights, gradients, Adam moments, "
        "activations)",
    ])


def cmd_summary(args: argparse.Namespace) -> int:
    from ganforge.config import load_config

    print(_model_summary(load_config(args.preset, args.config, _overrides(args))))
    return 0


def cmd_show_data(args: argparse.Namespace) -> int:
    """A real batch exactly as training sees it (scaled, augmented); with --compare, generated
    images of a run beside it."""
    import torch

    from ganforge.config import load_config
    from ganforge.sampling import generate, load_generator
    from ganforge.training.loop import prepare
    from ganforge.training.run_dir import save_grid_png

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    config = load_config(args.preset, args.config, _overrides(args))
    session = prepare(config)
    torch.manual_seed(config.train.seed)  # the same augmentation draw every time
    real_images, _ = next(session.batches.epoch(0))
    real_images = real_images[: args.n].cpu()
    if config.data.scale == "unit":  # show [0, 1] reals as they look, on the grid's [-1, 1] scale
        real_images = real_images * 2 - 1
    if args.compare is not None:
        import numpy as np
        from PIL import Image

        from ganforge.training.run_dir import image_grid

        generated = generate(load_generator(args.compare), len(real_images), seed=config.train.seed)
        left, right = image_grid(real_images), image_grid(generated)
        spacer = np.full((left.shape[0], 8, 3), 255, dtype=np.uint8)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate([left, spacer, right], axis=1)).save(args.out)
        print(f"ganforge: wrote real (left) and generated (right) images to {args.out}")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_grid_png(real_images, args.out)
    print(f"ganforge: wrote {len(real_images)} training images, as the model sees them, to {args.out}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from ganforge.config import preset_names, preset_values

    for name in preset_names():
        print(f"{name:20s} {preset_values(name).get('description', '')}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ganforge.training.run_dir import RunDir

    run_dir = RunDir(args.run)
    if not run_dir.exists():
        raise GanforgeError(f"{args.run} is not a ganforge run folder (no config.yaml)")
    print(run_dir.config_path.read_text().rstrip())
    records = run_dir.read_metrics()
    print("last metrics:", json.dumps(records[-1]) if records else "none yet")
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    import torch

    from ganforge.data.sources import load_split
    from ganforge.metrics.classifier import accuracy, fit
    from ganforge.metrics.features import file_sha256
    from ganforge.training.checkpoint import save
    from ganforge.training.loop import resolve_device

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


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, measure, compare and sample GANs.")
    parser.add_argument("--version", action="version", version=f"ganforge {ganforge.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a GAN (new run, or --resume RUN_DIR)")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a preset name (default mnist-dcgan); see 'presets'")
    source.add_argument("--config", type=Path, help="a YAML config file")
    train.add_argument("--out", type=Path, help="run folder (default runs/NAME-TIMESTAMP)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-minutes", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--data-dir", help="the folder holding the dataset files (must exist)")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="also checkpoint every N steps inside an epoch (train.checkpoint_every)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run")
    train.add_argument("--dry-run", action="store_true",
                       help="validate everything and run one step on a small batch; write nothing")
    train.add_argument("--force", action="store_true",
                       help="with --resume: accept config changes beyond epochs/steps/minutes")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set train.lr_g=1e-4 (repeatable)")
    train.set_defaults(handler=cmd_train)

    sample = commands.add_parser("sample", help="draw images from a run or checkpoint")
    sample.add_argument("source", type=Path,
                        help="a run folder, checkpoint file or exported .ts/.onnx/.safetensors")
    sample.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    sample.add_argument("--out", type=Path, required=True,
                        help="FILE.png (a grid), FILE.npy (uint8 N,C,H,W) or a folder of PNGs")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int, help="class to draw (conditional models)")
    sample.add_argument("--grid-by-class", action="store_true",
                        help="a 10x10 grid, one row per class (conditional models)")
    sample.add_argument("--no-ema", action="store_true", help="use G's raw weights, not its EMA")
    sample.set_defaults(handler=cmd_sample)

    interpolate = commands.add_parser("interpolate", help="walk the latent space between two seeds")
    interpolate.add_argument("source", type=Path, help="a run folder or checkpoint file")
    interpolate.add_argument("--steps", type=int, default=10)
    interpolate.add_argument("--out", type=Path, required=True, help="FILE.png (a row) or FILE.gif")
    interpolate.add_argument("--seed", type=int, default=0, help="seed of the start point")
    interpolate.add_argument("--seed2", type=int, default=1, help="seed of the end point")
    interpolate.add_argument("--label", type=int, help="class held along the walk (default 0)")
    interpolate.add_argument("--no-ema", action="store_true")
    interpolate.set_defaults(handler=cmd_interpolate)

    summary = commands.add_parser("summary", help="layer tables of G and D: shapes, params, MACs")
    summary_source = summary.add_mutually_exclusive_group()
    summary_source.add_argument("--preset")
    summary_source.add_argument("--config", type=Path)
    summary.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    summary.set_defaults(handler=cmd_summary, **{flag: None for flag in TRAIN_FLAGS})

    show = commands.add_parser("show-data", help="a grid of a real batch as training sees it")
    show_source = show.add_mutually_exclusive_group()
    show_source.add_argument("--preset")
    show_source.add_argument("--config", type=Path)
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    show.add_argument("--data-dir")
    show.add_argument("--out", type=Path, required=True, help="a .png file")
    show.add_argument("--n", type=int, default=64)
    show.add_argument("--compare", type=Path, metavar="RUN",
                      help="a run folder or checkpoint: its samples beside the real ones")
    show.set_defaults(handler=cmd_show_data,
                      **{flag: None for flag in TRAIN_FLAGS if flag != "data_dir"})

    presets = commands.add_parser("presets", help="list presets")
    presets.set_defaults(handler=cmd_presets)

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
    classifier.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    classifier.add_argument("--data-dir")
    classifier.add_argument("--out", type=Path, required=True)
    classifier.set_defaults(handler=cmd_train_classifier)

    export = commands.add_parser("export", help="the generator as TorchScript, ONNX or safetensors")
    export.add_argument("source", type=Path, help="a run folder or checkpoint file")
    export.add_argument("--format", choices=["torchscript", "onnx", "safetensors"], required=True)
    export.add_argument("--out", type=Path,
                        help="file to write, any name (default RUN/export/generator.ts, .onnx or "
                             ".safetensors)")
    export.add_argument("--no-ema", action="store_true", help="export G's raw weights, not its EMA")
    export.set_defaults(handler=cmd_export)

    serve = commands.add_parser("serve", help="a local web page that draws samples on demand")
    serve.add_argument("source", type=Path, help="a run folder, checkpoint or exported file")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--no-ema", action="store_true")
    serve.set_defaults(handler=cmd_serve)

    sweep = commands.add_parser("sweep", help="train a grid, list or Optuna search of configs")
    sweep.add_argument("spec", type=Path, help="a sweep spec (YAML), e.g. sweeps/course-hparams.yaml")
    sweep.add_argument("--out", type=Path, help="sweep folder (default sweeps-out/SPEC-TIMESTAMP)")
    sweep.add_argument("--jobs", type=int, default=1, help="trials trained at once (grid and list)")
    sweep.add_argument("--search", choices=["optuna"], help="search the spec's 'search:' ranges")
    sweep.add_argument("--trials", type=int, default=20, help="with --search: trials in all")
    sweep.add_argument("--storage", help="with --search: an Optuna RDB URL, e.g. postgresql://"
                       "user@host/db (default: SQLite file in the sweep folder)")
    sweep.add_argument("--study", help="with --search: study name (default: the sweep folder's)")
    sweep.add_argument("--seed", type=int, default=0, help="with --search: the sampler's seed")
    sweep.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sweep.add_argument("--data-dir")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key in every trial (repeatable)")
    sweep.set_defaults(handler=cmd_sweep)

    report = commands.add_parser("report", help="an HTML report of a run, or comparing runs/sweeps")
    report.add_argument("runs", type=Path, nargs="+", help="a run folder, a sweep folder, or several")
    report.add_argument("--out", type=Path, help="for comparisons: the page to write")
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser("compare", help="the comparison table of runs, in the terminal")
    compare.add_argument("runs", type=Path, nargs="+", help="run or sweep folders")
    compare.set_defaults(handler=cmd_compare)

    info = commands.add_parser("info", help="show a run's config and last metrics")
    info.add_argument("run", type=Path)
    info.set_defaults(handler=cmd_info)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"ganforge: warning: {message}\n"


def _stdout_closed() -> bool:
    """Whether standard output's reader is gone (not some other pipe or socket): the write end
    of a pipe whose read end closed polls as an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured), no poll
        return False


def _quiet_closed_pipe() -> int:
    """Output into a closed pipe (`ganforge presets | head -1`) ends quietly, as a Unix tool's:
    stdout goes to /dev/null so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # a warning is for the user: no file and line
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        return _quiet_closed_pipe()
    except GanforgeError as error:
        print(f"ganforge: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
