import pytest
import torch
from torch import nn

from ganforge.models import MODELS, build_discriminator, build_generator


@pytest.mark.parametrize("name", MODELS.names())
def test_output_shapes_and_range(name):
    torch.manual_seed(0)
    size = MODELS.get(name).image_sizes[0]
    generator = build_generator(name, z_dim=16, channels=1, image_size=size)
    discriminator = build_discriminator(name, channels=1, image_size=size)
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (5,)


def layer_shapes(model: nn.Module, kind: type) -> list[tuple]:
    return [(layer.in_channels, layer.out_channels, layer.kernel_size[0], layer.stride[0])
            for layer in model.modules() if isinstance(layer, kind)]


def test_dcgan28_is_the_course_layout():
    generator = build_generator("dcgan28", z_dim=64, channels=1, image_size=28)
    discriminator = build_discriminator("dcgan28", channels=1, image_size=28)
    assert layer_shapes(generator, nn.ConvTranspose2d) == [
        (64, 256, 3, 2), (256, 128, 4, 1), (128, 64, 3, 2), (64, 1, 4, 2)]
    assert layer_shapes(discriminator, nn.Conv2d) == [(1, 16, 3, 2), (16, 32, 5, 2), (32, 64, 5, 2)]
    linear = [m for m in discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(64, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 3
    conv_weights = torch.cat([m.weight.flatten() for m in generator.modules()
                              if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv_weights.std().item() - 0.02) < 0.002


def test_d_without_image_batch_norm_sees_what_all_fakes_share():
    """D sees real and fake batches apart; BatchNorm after its image layer subtracts whatever all
    images of a batch share (here a grey offset), so D could not tell G to remove it."""
    torch.manual_seed(0)
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    for image_batch_norm in (True, False):
        discriminator = build_discriminator("dcgan28", channels=1, image_size=28,
                                            image_batch_norm=image_batch_norm)
        blind = torch.allclose(discriminator(images), discriminator(images + 0.5), atol=1e-5)
        assert blind == image_batch_norm
        norms = sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
        assert norms == 2 + image_batch_norm


def test_mlp_is_the_exercise_layout():
    generator = build_generator("mlp", z_dim=128, channels=1, image_size=28)
    discriminator = build_discriminator("mlp", channels=1, image_size=28)
    widths = [(m.in_features, m.out_features) for m in generator.modules() if isinstance(m, nn.Linear)]
    assert widths == [(128, 256), (256, 512), (512, 1024), (1024, 784)]
    widths = [(m.in_features, m.out_features) for m in discriminator.modules()
              if isinstance(m, nn.Linear)]
    assert widths == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    assert [m.p for m in discriminator.modules() if isinstance(m, nn.Dropout)] == [0.3] * 3
