"""Generators that run without ganforge: TorchScript, ONNX and safetensors files, each with a
JSON sidecar (`PATH.json`) saying what goes in and what comes out.

    TorchScript  torch.jit.load(path)(z[, labels]) -> images in [-1, 1], shape (N, C, H, W)
    ONNX         onnxruntime: inputs "z" (N, z_dim) float32 [and "labels" (N,) int64]
    safetensors  the generator's weights; metadata "ganforge" = JSON of the constructor spec

All three load back through `load_exported`, which `sample` uses. The format is what the
sidecar says, so any file name works (`.pt` is PyTorch's own name for TorchScript files).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge import ops
from ganforge.atomic import write_text_atomic, written_atomically
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.models import MODELS, build_generator
from ganforge.models.layers import balanced_labels
from ganforge.version import __version__

FORMATS = {"torchscript": ".ts", "onnx": ".onnx", "safetensors": ".safetensors"}
SUFFIXES = {suffix: name for name, suffix in FORMATS.items()}


class _Unconditional(nn.Module):
    """What the exported graph computes: z -> images (and z, labels -> images below)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


class _Conditional(_Unconditional):
    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(z, labels)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def export(generator: nn.Module, spec: dict[str, Any], fmt: str, out: Path,
           card: dict[str, Any]) -> dict[str, Any]:
    """Write `generator` (built from `spec`, in eval mode) as `fmt` to `out`, plus its sidecar;
    returns the sidecar. `card` adds what the run knows: source, ema, FID, epochs..."""
    if out.suffix in SUFFIXES and SUFFIXES[out.suffix] != fmt:
        warnings.warn(f"{out} ends in {out.suffix}, the {SUFFIXES[out.suffix]} suffix, but holds "
                      f"{fmt}; the sidecar {sidecar_path(out).name} says which", stacklevel=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    generator = ops.plain(generator).eval()  # PyTorch's own kernels trace and export
    z_dim, num_classes = generator.z_dim, generator.num_classes
    example_z = torch.randn(2, z_dim)
    example_labels = balanced_labels(2, num_classes)
    with torch.no_grad():
        image_shape = list(generator(example_z, example_labels).shape[1:])
    with written_atomically(out) as partial:
        if fmt == "safetensors":
            from safetensors.torch import save_file

            metadata = {"ganforge": json.dumps({"spec": spec, "ganforge_version": __version__})}
            save_file({name: tensor.contiguous() for name, tensor in generator.state_dict().items()},
                      str(partial), metadata=metadata)
        else:
            wrapper = _Conditional(generator) if num_classes else _Unconditional(generator)
            inputs = (example_z, example_labels) if num_classes else (example_z,)
            input_names = input_names_for(num_classes)
            with warnings.catch_warnings(), torch.no_grad():
                # TorchScript is deprecated upstream but is still what loads without Python
                # packages beyond torch; the warning would only confuse a user here.
                warnings.simplefilter("ignore")
                if fmt == "torchscript":
                    torch.jit.save(torch.jit.trace(wrapper, inputs), str(partial))
                else:
                    batch = {0: "batch"}
                    torch.onnx.export(wrapper, inputs, str(partial), input_names=input_names,
                                      output_names=["images"], dynamo=False,
                                      dynamic_axes={**{name: batch for name in input_names},
                                                    "images": batch})
    sidecar = {
        "format": fmt, "file": out.name, "inputs": input_names_for(num_classes),
        "z_dim": z_dim, "num_classes": num_classes,
        "labels": list(range(num_classes)) if num_classes else None,
        "image_shape": image_shape, "value_range": [-1, 1], "output": "images (N, C, H, W)",
        "ganforge_version": __version__, **card, "constructor": spec,
    }
    write_text_atomic(sidecar_path(out), json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def input_names_for(num_classes: int) -> list[str]:
    return ["z", "labels"] if num_classes else ["z"]


class ExportedGenerator(nn.Module):
    """A TorchScript or ONNX generator with the attributes `sampling.generate` reads."""

    def __init__(self, run: Any, z_dim: int, num_classes: int):
        super().__init__()
        self.run, self.z_dim, self.num_classes = run, z_dim, num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        inputs = (z, labels) if self.num_classes else (z,)
        if isinstance(self.run, nn.Module):
            return self.run(*inputs)
        feeds = dict(zip(input_names_for(self.num_classes),
                         (part.cpu().numpy() for part in inputs)))
        return torch.from_numpy(self.run.run(None, feeds)[0])


def read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise CheckpointError(f"{path} has no sidecar {sidecar.name}; export it again with "
                              "ganforge export")
    return json.loads(sidecar.read_text())


def is_exported(path: Path) -> bool:
    """An exported generator: a known export suffix, or any file with an export sidecar."""
    return path.suffix in SUFFIXES or (path.is_file() and sidecar_path(path).is_file())


def exported_format(path: Path) -> str:
    """The sidecar's word for the format, else the suffix's."""
    if sidecar_path(path).is_file():
        fmt = read_sidecar(path).get("format")
        if fmt in FORMATS:
            return fmt
    if path.suffix in SUFFIXES:
        return SUFFIXES[path.suffix]
    raise CheckpointError(f"{path}: its sidecar names no export format; export it again with "
                          "ganforge export")


def load_exported(path: Path) -> nn.Module:
    """A generator from an exported file (format from its sidecar or suffix), in eval mode, on
    the CPU."""
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    fmt = exported_format(path)
    if fmt == "safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as file:
            spec = json.loads((file.metadata() or {}).get("ganforge", "{}")).get("spec")
            if not spec or spec.get("name") not in MODELS:
                raise CheckpointError(f"{path} carries no ganforge generator spec in its metadata")
            weights = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
        generator = build_generator(spec["name"], **spec["kwargs"])
        generator.load_state_dict(weights)
        return ops.accelerate(generator, torch.device("cpu"), fuse_batch_norm=False).eval()
    sidecar = read_sidecar(path)
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice, as in export()
            run = torch.jit.load(str(path), map_location="cpu").eval()
    else:
        try:
            import onnxruntime
        except ImportError:
            raise GanforgeError("sampling an ONNX file needs onnxruntime: pip install "
                                "'ganforge[onnx]'") from None
        run = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return ExportedGenerator(run, sidecar["z_dim"], sidecar["num_classes"]).eval()
