"""Training throughput: ganforge's step against a faithful reimplementation of the notebook loop.

    python benchmarks/throughput.py [--preset mnist-course] [--steps 30] [--rounds 5] [--device cpu]

Both sides train the same model at the same batch size on the same device, after warm-up, in
one process. The ratio moves with the machine (the notebook's loop gains more from some CPUs than
ganforge's step does), so the script also prints ganforge's arithmetic rate against this
machine's own float32 matrix-product peak, measured in the same run: a short best-of timing in
every round, between the two sides, so the peak is read at the speed the VM had for them.

ganforge's side is the step `ganforge train` runs (`Trainer.train_step`: one CUDA graph per step
on a GPU). On a GPU the script also measures TF32 and bf16 matrix-product peaks (tensor cores)
and states the step's share of each beside the float32 one.

The notebook side is the course notebook's loop as written: a torchvision DataLoader applying
PIL RandomRotation + ToTensor image by image, G run forward twice per iteration, a D step on the
non-detached fake (so G's graph is backpropagated twice), PyTorch's default Adam, and `.item()`
every step.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ganforge import ops
from ganforge.config import resolve
from ganforge.data.catalog import data_shape
from ganforge.models import build
from ganforge.models.layers import balanced_labels
from ganforge.summary import summarize
from ganforge.training.step import STAT_NAMES
from ganforge.training.trainer import Trainer


class PilMnist(Dataset):
    """MNIST as PIL images through a per-image transform, as torchvision's MNIST class serves it."""

    def __init__(self, images: torch.Tensor, rotation: float):
        self.images = images[:, 0].cpu().numpy()
        self.transform = transforms.Compose([transforms.RandomRotation(rotation),
                                             transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index], mode="L")), 0


def notebook_steps(trainer):
    """One iteration of the notebook's loop, as a function; PyTorch's own layers throughout."""
    config, gan = trainer.config, trainer.gan
    generator, discriminator = ops.plain(gan.generator), ops.plain(gan.discriminator)
    discriminator.requires_grad_(True)
    # The notebook's optimizers: PyTorch's default Adam (on the CPU, one parameter at a time).
    train = config.train
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=train.lr_g, betas=train.betas_g)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=train.lr_d, betas=train.betas_d)
    loader = DataLoader(PilMnist(trainer.batches.images, config.data.rotation_degrees),
                        batch_size=config.train.batch_size, shuffle=True, drop_last=True)
    batches = (batch for _ in itertools.count() for batch in loader)  # epoch after epoch

    def one_step():
        real, _ = next(batches)
        real = real.to(trainer.device)
        batch = len(real)
        noise = torch.randn(batch, config.model.z_dim, device=trainer.device)
        fake = generator(noise)
        fake_logits, real_logits = discriminator(fake), discriminator(real)
        loss_d = (F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
                  + F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))) / 2
        optimizer_d.zero_grad()
        loss_d.backward(retain_graph=True)
        optimizer_d.step()
        optimizer_g.zero_grad()
        fake = generator(torch.randn(batch, config.model.z_dim, device=trainer.device))
        fake_logits = discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        loss_g.backward()
        optimizer_g.step()
        return loss_d.item(), loss_g.item()

    return one_step


def ganforge_steps(trainer):
    """The step `ganforge train` runs, batch after batch, its stats summed on the device."""
    batches = (batch for epoch in itertools.count() for batch in trainer.batches.epoch(epoch))
    stats = torch.zeros(len(STAT_NAMES), device=trainer.device)
    steps = itertools.count()

    def one_step():
        real_images, labels = next(batches)
        stats.add_(trainer.train_step(next(steps), real_images, labels))

    return one_step


def images_per_second(one_step, steps: int, batch: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, tf32: bool = False,
                size: int = 2048, seconds: float = 0.5) -> float:
    """FLOP/s of a size x size matrix product in `dtype` (`tf32`: float32 on tensor cores): the
    best of repeated one-product timings over `seconds`, after one warm-up product."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    allowed = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        torch.mm(a, b)
        best, deadline = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            torch.mm(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = max(best, 2 * size**3 / (time.perf_counter() - started))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    return best


def peaks(device: torch.device) -> dict[str, float]:
    """Matrix-product peaks in FLOP/s: float32, and on a GPU TF32 and bf16 (tensor cores; at
    4096, a size that fills them)."""
    if device.type != "cuda":
        return {"float32": matmul_peak(device)}
    return {"float32": matmul_peak(device, size=4096), "tf32": matmul_peak(device, tf32=True, size=4096),
            "bf16": matmul_peak(device, torch.bfloat16, size=4096)}


def step_flops_per_image(config) -> float:
    """Arithmetic of one ganforge training step per image, as direct convolutions count it
    (2 FLOPs a multiply-accumulate; a backward pass costs two forwards: weights and inputs).
    G forward + backward (3 G); D forward and backward on real and fake (2 x 3 D); D forward on
    the fake again and backward to its input only, its weights frozen (2 D)."""
    built = build(config.model, data_shape(config.data))
    generator, discriminator = built.generator, built.discriminator
    labels = balanced_labels(1, generator.num_classes)
    z = torch.zeros(1, config.model.z_dim)
    macs_g = sum(row.macs for row in summarize(generator, z, labels))
    image = generator.eval()(z, labels)
    macs_d = sum(row.macs for row in summarize(discriminator, image, labels))
    return 2 * (3 * macs_g + 8 * macs_d)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append",
                        help="default: mnist-course (course DCGAN, batch 128, rotation 20), mnist-mlp")
    parser.add_argument("--steps", type=int, default=30, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds per side; the median is reported")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", help="where the MNIST files are (default: searched)")
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N images (a quick check; 0: all)")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{torch.cuda.get_device_name() if args.device == 'cuda' else cpu_model()}")
    for preset in args.preset or ["mnist-course", "mnist-mlp"]:
        common = [("train.device", args.device), ("data.limit", args.limit),
                  *([("data.path", args.data_dir)] if args.data_dir else [])]
        # The notebook used PyTorch's default (contiguous) memory format.
        reference_trainer = Trainer.from_config(resolve(preset, overrides=[
            *common, ("train.channels_last", False)]))
        trainer = Trainer.from_config(resolve(preset, overrides=common))
        batch = trainer.config.train.batch_size
        sides = {"notebook": notebook_steps(reference_trainer), "ganforge": ganforge_steps(trainer)}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        measured: list[dict[str, float]] = []
        for one_step in sides.values():
            for _ in range(args.warmup):
                one_step()
        for _ in range(args.rounds):
            for name, one_step in sides.items():
                rates[name].append(images_per_second(one_step, args.steps, batch, trainer.device))
            measured.append(peaks(trainer.device))
        reference, ours = statistics.median(rates["notebook"]), statistics.median(rates["ganforge"])
        graphed = " (one CUDA graph a step)" if trainer.graphed is not None else ""
        print(f"{preset:14s} batch {batch:4d}  notebook loop {reference:8.0f} img/s  "
              f"ganforge{graphed} {ours:8.0f} img/s  ratio {ours / reference:5.2f}x  "
              f"(medians of {args.rounds} alternating rounds of {args.steps} steps)")
        achieved = ours * step_flops_per_image(trainer.config)
        shares = ", ".join(
            f"{achieved / peak:.1%} of {kind} {peak / 1e12:.1f} TFLOP/s"
            for kind, peak in ((kind, statistics.median(m[kind] for m in measured)) for kind in measured[0]))
        print(f"{'':14s} ganforge {achieved / 1e9:.1f} GFLOP/s = {shares} (this device's matrix-product "
              "peaks, medians over the rounds of a 0.5 s best; direct-convolution FLOPs: Toom-Cook "
              "layers do less arithmetic)")


if __name__ == "__main__":
    main()
