"""`ganforge export`: the generator as TorchScript, ONNX or safetensors, with its sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    export = commands.add_parser("export", help="the generator as TorchScript, ONNX or safetensors")
    export.add_argument("source", type=Path, help="a run folder or checkpoint file")
    export.add_argument("--format", choices=["torchscript", "onnx", "safetensors"], required=True)
    export.add_argument("--out", type=Path,
                        help="file to write, any name (default RUN/export/generator.ts, .onnx or "
                             ".safetensors)")
    export.add_argument("--no-ema", action="store_true", help="export G's raw weights, not its EMA")
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ganforge.export import FORMATS, export
    from ganforge.generation import checkpoint_path, load_generator, model_card, run_folder_of
    from ganforge.runs import checkpoint

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
