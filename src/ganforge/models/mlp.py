"""The exercise's fully connected GAN: BatchNorm+ReLU generator, LeakyReLU+Dropout discriminator."""

from torch import nn


class Generator(nn.Module):
    """z -> 256 -> 512 -> 1024 -> C*H*W, Tanh."""

    def __init__(self, z_dim: int = 128, channels: int = 1, image_size: int = 28):
        super().__init__()
        self.z_dim = z_dim
        self.image_shape = (channels, image_size, image_size)
        layers: list[nn.Module] = []
        width = z_dim
        for hidden in (256, 512, 1024):
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            width = hidden
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z).view(len(z), *self.image_shape)


class Discriminator(nn.Module):
    """C*H*W -> 1024 -> 512 -> 256 -> one logit."""

    def __init__(self, channels: int = 1, image_size: int = 28, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = channels * image_size * image_size
        for hidden in (1024, 512, 256):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images):
        return self.net(images).squeeze(1)
