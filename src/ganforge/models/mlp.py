"""The exercise's fully connected GAN: BatchNorm+ReLU generator, LeakyReLU+Dropout discriminator.
Widths, G's BatchNorm, activation and dropout are settings: the write-ups vary them."""

from torch import nn

from ganforge.models.layers import (
    ACTIVATIONS,
    ConditionedSequential,
    LabelConditioning,
    MinibatchStd,
    Projection,
    leaky_relu,
)


class Generator(nn.Module):
    """z -> 256 -> 512 -> 1024 -> C*H*W (or `widths`), Tanh; each hidden layer BatchNorm (or not)
    and `activation`, then dropout when asked."""

    def __init__(self, z_dim: int = 128, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 conditioning: str = "input", widths: tuple[int, ...] = (256, 512, 1024),
                 batch_norm: bool = True, activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.image_shape = (channels, image_size, image_size)
        self.condition = condition = LabelConditioning(num_classes, z_dim, len(widths), conditioning)
        layers: list[nn.Module] = []
        width = condition.out_dim
        for block, hidden in enumerate(widths):
            layers += [nn.Linear(width, hidden),
                       *([condition.norm(block, hidden, spatial_dims=0)] if batch_norm else []),
                       ACTIVATIONS[activation](), *([nn.Dropout(dropout)] if dropout else [])]
            width = hidden
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.net = ConditionedSequential(*layers)

    def forward(self, z, labels=None):
        inputs, conditions = self.condition(z, labels)
        return self.net(inputs, conditions).view(-1, *self.image_shape)  # -1: traceable batch


class Discriminator(nn.Module):
    """C*H*W -> 1024 -> 512 -> 256 (or `widths`) -> one logit; LeakyReLU(0.2), dropout after the
    first `dropout_layers` hidden layers (None: all)."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 0,
                 dropout: float = 0.3, minibatch_std: int = 0, widths: tuple[int, ...] = (1024, 512, 256),
                 dropout_layers: int | None = None):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = channels * image_size * image_size
        for index, hidden in enumerate(widths):
            dropped = dropout_layers is None or index < dropout_layers
            layers += [nn.Linear(width, hidden), *leaky_relu(dropout if dropped else 0.0)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Linear(width + bool(minibatch_std), 1)
        self.projection = Projection(num_classes, width)

    def forward(self, images, labels=None):
        features = self.body(images)
        return self.projection(self.head(self.minibatch_std(features)).squeeze(1), features, labels)
