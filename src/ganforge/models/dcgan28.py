"""The course notebook's DCGAN for 28x28 images, layer for layer."""

from torch import nn

from ganforge.models.layers import (
    ConditionedSequential,
    LabelConditioning,
    MinibatchStd,
    Projection,
    dcgan_init,
    leaky_relu,
)


def _up(in_channels: int, out_channels: int, kernel: int, stride: int, norm: nn.Module) -> list[nn.Module]:
    return [nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=False), norm,
            nn.ReLU(inplace=True)]


def _down(in_channels: int, out_channels: int, kernel: int, dropout: float,
          batch_norm: bool = True) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, 2, bias=False),
            *([nn.BatchNorm2d(out_channels)] if batch_norm else []), *leaky_relu(dropout)]


class Generator(nn.Module):
    """z (N, z_dim) -> 1x1 -> 3x3 -> 6x6 -> 13x13 -> 28x28 images, Tanh. A conditional one hears
    the label as `conditioning` says (layers.LabelConditioning)."""

    def __init__(self, z_dim: int = 64, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 conditioning: str = "input"):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.condition = condition = LabelConditioning(num_classes, z_dim, 3, conditioning)
        self.net = ConditionedSequential(
            *_up(condition.out_dim, 256, 3, 2, condition.norm(0, 256)),
            *_up(256, 128, 4, 1, condition.norm(1, 128)),
            *_up(128, 64, 3, 2, condition.norm(2, 64)),
            nn.ConvTranspose2d(64, channels, 4, 2),
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z, labels=None):
        inputs, conditions = self.condition(z, labels)
        return self.net(inputs[:, :, None, None], conditions)


class Discriminator(nn.Module):
    """28x28 -> 13x13 -> 5x5 -> 1x1 features -> one logit.

    `image_batch_norm=False` leaves BatchNorm out after the image layer, as the DCGAN paper does:
    D sees real and fake batches apart, and BatchNorm there subtracts whatever all fakes of a
    batch share (a grey or textured background), so D cannot tell G to remove it.
    `minibatch_std=k` adds a minibatch standard-deviation feature over groups of k before the
    last convolution.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 dropout: float = 0.0, image_batch_norm: bool = True, minibatch_std: int = 0):
        super().__init__()
        self.body = nn.Sequential(
            *_down(channels, 16, 3, dropout, image_batch_norm),
            *_down(16, 32, 5, dropout),
            *([MinibatchStd(minibatch_std)] if minibatch_std else []),
            *_down(32 + bool(minibatch_std), 64, 5, dropout),
            nn.Flatten(),
        )
        self.head = nn.Linear(64, 1)
        self.projection = Projection(num_classes, 64)
        self.apply(dcgan_init)

    def forward(self, images, labels=None):
        features = self.body(images)
        return self.projection(self.head(features).squeeze(1), features, labels)
