"""Layer tables for G and D: output shapes, parameters and multiply-accumulates per image.

Counted with forward hooks on the leaf modules of one forward pass of a single image; MACs
cover convolutions, transposed convolutions and linear layers (what dominates the cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    macs: int
    has_bias: bool = False


def layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-accumulates of one leaf module for the given (single-image) input."""
    if isinstance(module, nn.ConvTranspose2d):  # every input pixel meets C_out * k * k weights
        return inputs.numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1] \
            // module.groups
    if isinstance(module, nn.Conv2d):  # every output pixel sums C_in * k * k products
        return output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1] \
            // module.groups
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def summarize(model: nn.Module, *example_inputs) -> list[LayerRow]:
    """One row per leaf module, in execution order, for a batch of one."""
    rows: list[LayerRow] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module, inputs, output):
        # A pass-through (the label conditioning of an unconditional G hands z on as it came).
        if not isinstance(output, torch.Tensor) or output is inputs[0]:
            return
        rows.append(LayerRow(names[module], type(module).__name__, tuple(output.shape[1:]),
                             sum(p.numel() for p in module.parameters(recurse=False)),
                             layer_macs(module, inputs[0][0], output[0]),
                             getattr(module, "bias", None) is not None))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [leaf.register_forward_hook(hook) for leaf in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*example_inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


WEIGHTED_KINDS = ("Conv2d", "ConvTranspose2d", "Linear")


def biases_left_out(rows: list[LayerRow]) -> int:
    """Parameters a bias would add to each weighted layer that feeds a BatchNorm: PyTorch's
    layers have one by default (torchsummary counts it); ganforge leaves it out because the
    BatchNorm subtracts it again, so it gets zero gradient and the function is the same."""
    return sum(row.output_shape[0] for row, following in zip(rows, rows[1:])
               if row.kind in WEIGHTED_KINDS and not row.has_bias
               and following.kind.startswith("BatchNorm"))


def bias_note(rows_g: list[LayerRow], rows_d: list[LayerRow]) -> str | None:
    """The line under the tables that squares their totals with torchsummary's."""
    counts = {"G": (rows_g, biases_left_out(rows_g)), "D": (rows_d, biases_left_out(rows_d))}
    if not any(count for _, count in counts.values()):
        return None
    with_biases = " and ".join(f"{name} {sum(row.parameters for row in rows) + count:,d}"
                               for name, (rows, count) in counts.items())
    return ("note: layers feeding a BatchNorm have no bias (BatchNorm subtracts it again: zero "
            "gradient, the same function); counted with them, as torchsummary counts PyTorch's "
            f"default layers: {with_biases}")


def training_step_bytes(rows_g: list[LayerRow], rows_d: list[LayerRow], parameters: int,
                        batch_size: int) -> int:
    """Rough float32 memory of a training step: weights, gradients and two Adam moments, plus
    every activation kept for backward and its gradient (D runs three times a step)."""
    activations_g = sum(torch.Size(r.output_shape).numel() for r in rows_g)
    activations_d = sum(torch.Size(r.output_shape).numel() for r in rows_d)
    return 4 * (4 * parameters + 2 * batch_size * (activations_g + 3 * activations_d))


def format_table(title: str, rows: list[LayerRow]) -> str:
    lines = [title, f"  {'layer':28s} {'kind':18s} {'output':>16s} {'params':>10s} {'MACs':>12s}"]
    for row in rows:
        shape = "x".join(map(str, row.output_shape))
        lines.append(f"  {row.name:28s} {row.kind:18s} {shape:>16s} {row.parameters:>10,d} "
                     f"{row.macs:>12,d}")
    lines.append(f"  {'total':28s} {'':18s} {'':>16s} {sum(r.parameters for r in rows):>10,d} "
                 f"{sum(r.macs for r in rows):>12,d}")
    return "\n".join(lines)


def model_summary(config) -> str:
    """The G and D tables of `summary` (and of `train --dry-run`) for a Config."""
    from ganforge.data.catalog import data_shape
    from ganforge.models import build
    from ganforge.models.layers import balanced_labels

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
