"""The course notebook's DCGAN for 28x28 images, layer for layer."""

from torch import nn

from ganforge.models.layers import ConvTranspose2d, dcgan_init


def _up(in_channels: int, out_channels: int, kernel: int, stride: int) -> list[nn.Module]:
    return [ConvTranspose2d(in_channels, out_channels, kernel, stride, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def _down(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, 2, bias=False),
            nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True)]


class Generator(nn.Module):
    """z (N, z_dim) -> 1x1 -> 3x3 -> 6x6 -> 13x13 -> 28x28 images, Tanh."""

    def __init__(self, z_dim: int = 64, channels: int = 1, image_size: int = 28):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            *_up(z_dim, 256, 3, 2),
            *_up(256, 128, 4, 1),
            *_up(128, 64, 3, 2),
            ConvTranspose2d(64, channels, 4, 2),
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z):
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """28x28 -> 13x13 -> 5x5 -> 1x1 features -> one logit."""

    def __init__(self, channels: int = 1, image_size: int = 28):
        super().__init__()
        self.net = nn.Sequential(
            *_down(channels, 16, 3),
            *_down(16, 32, 5),
            *_down(32, 64, 5),
            nn.Flatten(),
            nn.Linear(64, 1),
        )
        self.apply(dcgan_init)

    def forward(self, images):
        return self.net(images).squeeze(1)
