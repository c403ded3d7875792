"""The exercise's fully connected GAN: BatchNorm+ReLU generator, LeakyReLU+Dropout discriminator."""

from torch import nn

from ganforge.models.layers import (
    ConditionedSequential,
    LabelConditioning,
    MinibatchStd,
    Projection,
    leaky_relu,
)


class Generator(nn.Module):
    """z -> 256 -> 512 -> 1024 -> C*H*W, Tanh."""

    def __init__(self, z_dim: int = 128, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 conditioning: str = "input"):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.image_shape = (channels, image_size, image_size)
        self.condition = condition = LabelConditioning(num_classes, z_dim, 3, conditioning)
        layers: list[nn.Module] = []
        width = condition.out_dim
        for block, hidden in enumerate((256, 512, 1024)):
            layers += [nn.Linear(width, hidden), condition.norm(block, hidden, spatial_dims=0),
                       nn.ReLU(inplace=True)]
            width = hidden
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.net = ConditionedSequential(*layers)

    def forward(self, z, labels=None):
        inputs, conditions = self.condition(z, labels)
        return self.net(inputs, conditions).view(-1, *self.image_shape)  # -1: traceable batch


class Discriminator(nn.Module):
    """C*H*W -> 1024 -> 512 -> 256 -> one logit."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 dropout: float = 0.3, minibatch_std: int = 0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = channels * image_size * image_size
        for hidden in (1024, 512, 256):
            layers += [nn.Linear(width, hidden), *leaky_relu(dropout)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Linear(width + bool(minibatch_std), 1)
        self.projection = Projection(num_classes, width)

    def forward(self, images, labels=None):
        features = self.body(images)
        return self.projection(self.head(self.minibatch_std(features)).squeeze(1), features, labels)
