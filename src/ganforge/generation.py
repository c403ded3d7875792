"""A generator rebuilt from a run folder, checkpoint or export alone (no training config), with
what is known of it, all read once: the file it came from, its constructor spec, its model card
and the data it trained on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge import ops
from ganforge.config import DataConfig
from ganforge.errors import CheckpointError, ConfigError
from ganforge.export import FORMATS, export, is_exported, load_exported, read_sidecar, sidecar_path
from ganforge.models import MODELS, build_generator
from ganforge.runs import RunDir, checkpoint

CARD_KEYS = ("description", "dataset", "model", "conditional", "step", "epoch", "ema", "fid",
             "fid_from", "ganforge_version")


def checkpoint_path(source: Path) -> Path:
    """A run folder means its last checkpoint; anything else is taken as a checkpoint file."""
    if source.is_dir():
        path = RunDir(source).last_checkpoint
        if not path.is_file():
            raise CheckpointError(f"{source} has no checkpoint yet ({path} is missing)")
        return path
    return source


def run_folder_of(checkpoint_file: Path) -> Path:
    """The run folder a checkpoint belongs to (RUN/checkpoints/last.pt -> RUN), else its folder."""
    parent = checkpoint_file.parent
    return parent.parent if parent.name == "checkpoints" else parent


@dataclass(frozen=True)
class LoadedGenerator:
    module: nn.Module  # in eval mode: g(z, labels) -> images in [-1, 1]
    source: Path
    spec: dict[str, Any] | None  # {"name", "kwargs"}: rebuilds it (None for an export)
    card: dict[str, Any]  # where it came from, how long it trained, how good it measured
    data: DataConfig | None  # what it trained on (None for an export)


def load(source: Path, device: str | torch.device = "cpu", ema: bool = True,
         data_dir: str | None = None) -> LoadedGenerator:
    """The generator of a run folder, checkpoint or exported file, in eval mode; its EMA weights
    when the run kept them (and `ema`). `data_dir` names where its training data is now."""
    if is_exported(source):
        sidecar = read_sidecar(source) if sidecar_path(source).is_file() else {}
        card = {key: sidecar.get(key) for key in CARD_KEYS} | {"source": str(source)}
        return LoadedGenerator(load_exported(source), source, None, card, None)
    path = checkpoint_path(source)
    state = checkpoint.load(path)
    spec = {"name": state["generator"].get("name"), "kwargs": state["generator"].get("kwargs")}
    return LoadedGenerator(_build(state, path, device, ema), source, spec,
                           _card(state, path, source, ema), _data(state["config"], data_dir))


def load_generator(source: Path, device: str | torch.device = "cpu", ema: bool = True) -> nn.Module:
    """`load(...).module`, without reading the run's records for a model card."""
    if is_exported(source):
        return load_exported(source)
    path = checkpoint_path(source)
    return _build(checkpoint.load(path), path, device, ema)


def _build(state: dict[str, Any], path: Path, device: str | torch.device, ema: bool) -> nn.Module:
    spec = state["generator"]
    if spec.get("name") not in MODELS:
        raise CheckpointError(f"{path} holds an unknown model {spec.get('name')!r}")
    generator = build_generator(spec["name"], **spec["kwargs"])
    weights = state["generator_ema"] if ema and "generator_ema" in state else spec
    try:
        generator.load_state_dict(weights["state_dict"])
    except RuntimeError:
        raise CheckpointError(f"{path}: the generator weights do not fit model {spec['name']!r}") \
            from None
    # NHWC memory and the fast convolutions, as in training (docs/performance.md: sampling).
    generator.to(device, memory_format=torch.channels_last)
    return ops.accelerate(generator, torch.device(device), fuse_batch_norm=False).eval()


def _card(state: dict[str, Any], path: Path, source: Path, ema: bool) -> dict[str, Any]:
    config = state["config"]
    fid, fid_from = RunDir(run_folder_of(path)).fid()
    return {
        "source": str(source), "description": config.get("description", ""),
        "dataset": config["data"]["name"], "model": state["generator"]["name"],
        "conditional": bool(state["generator"]["kwargs"].get("num_classes")),
        # epochs trained, a stopped one counted by its share (the epoch counter would round up)
        "step": state["step"], "epoch": round(state["step"] / state["steps_per_epoch"], 1),
        "ema": ema and "generator_ema" in state, "fid": fid, "fid_from": fid_from,
        "ganforge_version": state["ganforge_version"],
    }


def _data(config: dict[str, Any], data_dir: str | None) -> DataConfig:
    known = {field.name for field in dataclasses.fields(DataConfig)}
    data = DataConfig(**{key: value for key, value in config["data"].items() if key in known})
    return dataclasses.replace(data, path=data_dir) if data_dir else data


def export_generator(source: Path, fmt: str, out: Path | None = None, ema: bool = True) -> Path:
    """Write a run's (checkpoint's) generator as `fmt` with its model card beside it; returns
    the file (default RUN/export/generator.ts|.onnx|.safetensors)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    loaded = load(source, ema=ema)
    if loaded.spec is None:
        raise CheckpointError(f"{source} is an export already; export from its run folder or "
                              "checkpoint")
    out = out or run_folder_of(checkpoint_path(source)) / "export" / f"generator{FORMATS[fmt]}"
    export(loaded.module, loaded.spec, fmt, out, loaded.card)
    return out
