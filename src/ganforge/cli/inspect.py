"""Looking before and after training: `summary`, `show-data`, `presets`, `info`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.common import add_config_source, config_from_args
from ganforge.errors import ConfigError, GanforgeError


def register(commands) -> None:
    summary = commands.add_parser("summary", help="layer tables of G and D: shapes, params, MACs")
    add_config_source(summary)
    summary.set_defaults(handler=cmd_summary)

    show = commands.add_parser("show-data", help="a grid of a real batch as training sees it")
    add_config_source(show)
    show.add_argument("--data-dir")
    show.add_argument("--out", type=Path, required=True, help="a .png file")
    show.add_argument("--n", type=int, default=64)
    show.add_argument("--compare", type=Path, metavar="RUN",
                      help="a run folder or checkpoint: its samples beside the real ones")
    show.set_defaults(handler=cmd_show_data)

    presets = commands.add_parser("presets", help="list presets")
    presets.set_defaults(handler=cmd_presets)

    info = commands.add_parser("info", help="show a run's config and last metrics")
    info.add_argument("run", type=Path)
    info.set_defaults(handler=cmd_info)


def model_summary(config) -> str:
    """The G and D tables of `summary` (and of `train --dry-run`)."""
    import torch

    from ganforge.data.sources import data_shape
    from ganforge.models import build
    from ganforge.models.layers import balanced_labels
    from ganforge.summary import bias_note, format_table, summarize, training_step_bytes

    built = build(config.model, data_shape(config.data))
    generator, discriminator = built.generator, built.discriminator
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
    print(model_summary(config_from_args(args)))
    return 0


def cmd_show_data(args: argparse.Namespace) -> int:
    """A real batch exactly as training sees it (scaled, augmented); with --compare, generated
    images of a run beside it."""
    import torch

    from ganforge.generation import generate, load_generator
    from ganforge.runs.images import save_grid_png
    from ganforge.training.trainer import Trainer

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    config = config_from_args(args)
    trainer = Trainer.from_config(config)
    torch.manual_seed(config.train.seed)  # the same augmentation draw every time
    real_images, _ = next(trainer.batches.epoch(0))
    real_images = real_images[: args.n].cpu()
    if config.data.scale == "unit":  # show [0, 1] reals as they look, on the grid's [-1, 1] scale
        real_images = real_images * 2 - 1
    if args.compare is not None:
        import numpy as np
        from PIL import Image

        from ganforge.runs.images import image_grid

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
    from ganforge.runs import RunDir

    run_dir = RunDir(args.run)
    if not run_dir.exists():
        raise GanforgeError(f"{args.run} is not a ganforge run folder (no config.yaml)")
    print(run_dir.config_path.read_text().rstrip())
    records = run_dir.read_metrics()
    print("last metrics:", json.dumps(records[-1]) if records else "none yet")
    return 0
