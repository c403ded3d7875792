"""`ganforge export`: the generator as TorchScript, ONNX or safetensors, with its sidecar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge import api
from ganforge.cli.common import at_least


def register(commands) -> None:
    export = commands.add_parser("export", help="the generator as TorchScript, ONNX or safetensors")
    export.add_argument("source", type=Path, help="a run folder or checkpoint file")
    export.add_argument("--format", choices=["torchscript", "onnx", "safetensors"], required=True)
    export.add_argument("--out", type=Path,
                        help="file to write, any name (default RUN/export/generator.ts, .onnx or "
                             ".safetensors)")
    export.add_argument("--no-ema", action="store_true", help="export G's raw weights, not its EMA")
    export.set_defaults(handler=cmd_export)

    dataset = commands.add_parser("export-dataset",
                                  help="a dataset split as a folder of PNGs (folder runs on known data)")
    dataset.add_argument("dataset", choices=api.SPLIT_DATASETS)
    dataset.add_argument("--out", type=Path, required=True, help="a new folder")
    dataset.add_argument("--size", type=at_least(8), help="resize to SIZE px (default: as stored)")
    dataset.add_argument("--split", choices=["train", "test"], default="train")
    dataset.add_argument("--limit", type=at_least(1), help="the first N images only")
    dataset.add_argument("--data-dir")
    dataset.set_defaults(handler=cmd_export_dataset)


def cmd_export(args: argparse.Namespace) -> int:
    out = api.export(args.source, args.format, out=args.out, ema=not args.no_ema)
    sidecar = json.loads(Path(f"{out}.json").read_text())
    fid = "" if sidecar["fid"] is None else f", FID {sidecar['fid']:.3f}"
    print(f"ganforge: wrote {args.format} {out} ({'EMA' if sidecar['ema'] else 'raw'} weights, "
          f"z {sidecar['z_dim']}, images {tuple(sidecar['image_shape'])}{fid}) and {out}.json")
    return 0


def cmd_export_dataset(args: argparse.Namespace) -> int:
    print("ganforge: " + api.export_dataset(args.dataset, args.out, size=args.size, split=args.split,
                                            limit=args.limit or 0, data_dir=args.data_dir))
    return 0
