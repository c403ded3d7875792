"""The digit classifier behind ganforge's offline metrics, and its deterministic training recipe.

Inception features (what FID usually means) need downloaded weights and fit 28x28 grayscale
poorly, so each small-image dataset gets a small CNN trained by ganforge itself; its
penultimate layer gives the features and its softmax the class probabilities.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 128


def _block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    """28x28 -> 14x14 -> 7x7 -> 5x5 -> global average -> 128 features -> classes."""

    def __init__(self, channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            *_block(channels, 32), *_block(32, 32), nn.MaxPool2d(2),
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),
            nn.Conv2d(64, FEATURE_DIM, 3, bias=False), nn.BatchNorm2d(FEATURE_DIM),
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (features (N, 128), logits (N, classes))."""
        features = self.features(images)
        return features, self.head(features)


def shift(images: torch.Tensor, max_pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to `max_pixels`, the same for the whole batch (cheap, batched)."""
    dx, dy = torch.randint(-max_pixels, max_pixels + 1, (2,), generator=generator).tolist()
    padded = F.pad(images, (max_pixels,) * 4, value=-1.0)
    size = images.shape[-1]
    return padded[..., max_pixels + dy:max_pixels + dy + size, max_pixels + dx:max_pixels + dx + size]


def fit(train_images: torch.Tensor, train_labels: torch.Tensor, epochs: int, seed: int = 0,
        batch_size: int = 128, lr: float = 3e-3,
        log: Callable[[str], None] = print) -> Classifier:
    """Train on uint8 images (N, 1, 28, 28): AdamW, one-cycle schedule, small shifts."""
    torch.manual_seed(seed)
    device = train_images.device
    model = Classifier().to(device)
    steps_per_epoch = len(train_images) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps_per_epoch)
    order_rng = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_images), generator=order_rng).to(device)
        total = torch.zeros((), device=device)
        for index in range(steps_per_epoch):
            chosen = order[index * batch_size:(index + 1) * batch_size]
            images = shift(train_images[chosen].float() / 127.5 - 1, 2, order_rng)
            loss = F.cross_entropy(model(images)[1], train_labels[chosen], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach()
        log(f"classifier epoch {epoch + 1}/{epochs}  loss {total.item() / steps_per_epoch:.4f}  "
            f"{time.perf_counter() - started:.0f} s")
    return model.eval()


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    correct = 0
    for start in range(0, len(images), 1000):
        logits = model(images[start:start + 1000].float() / 127.5 - 1)[1]
        correct += int((logits.argmax(1) == labels[start:start + 1000]).sum())
    return correct / len(images)


def train_on_dataset(dataset: str, *, epochs: int, seed: int, device: torch.device,
                     data_dir: str | None = None) -> tuple[dict[str, torch.Tensor], float]:
    """The recipe on a dataset's training split: the weights (on the CPU) and the test accuracy."""
    from ganforge.data.sources import load_split

    splits = {split: [torch.from_numpy(part).to(device) for part in load_split(dataset, data_dir, split)]
              for split in ("train", "test")}
    model = fit(*splits["train"], epochs=epochs, seed=seed)
    weights = {name: tensor.cpu() for name, tensor in model.state_dict().items()}
    return weights, accuracy(model, *splits["test"])
