import pytest
import torch
from torch import nn

from ganforge.config import resolve
from ganforge.data.catalog import data_shape
from ganforge.errors import ConfigError
from ganforge.models import MODELS, build, build_discriminator, build_generator


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


@pytest.mark.parametrize("overrides, generator_widths, discriminator_widths", [
    ({"model.name": "mlp", "model.g_widths": [32, 48], "model.d_widths": [40, 24]}, [32, 48, 784], [40, 24]),
    ({"model.name": "dcgan", "model.g_widths": [24, 16, 8], "model.d_widths": [8, 16, 24]},
     [24, 16, 8, 1], [8, 16, 24]),
    ({"model.name": "dcgan", "model.layout": "g-five"}, [512, 256, 128, 64, 1], [64, 128, 256]),
])
def test_layer_widths_and_depth_are_settings(overrides, generator_widths, discriminator_widths):
    """The write-ups vary widths and depth: each network's layers follow the config."""
    config = resolve("mnist-dcgan", overrides=list(overrides.items()))
    built = build(config.model, data_shape(config.data))
    layers = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    widths = [getattr(m, "out_features", getattr(m, "out_channels", None))
              for m in built.generator.modules() if isinstance(m, layers)]
    assert widths == generator_widths
    body = [getattr(m, "out_features", getattr(m, "out_channels", None))
            for m in built.discriminator.body.modules() if isinstance(m, layers)]
    assert body == discriminator_widths
    assert built.generator(torch.randn(2, config.model.z_dim)).shape == (2, 1, 28, 28)


def test_the_carpedm20_layout_is_pacgans_five_by_five_dcgan():
    """PacGAN's Stacked MNIST DCGAN: G 2 -> 4 -> 7 -> 14 -> 28, D 28 -> 14 -> 7 -> 4 -> 2, 5x5."""
    config = resolve("stacked-dcgan")
    assert config.model.layout == "carpedm20" and config.train.g_steps == 2
    built = build(config.model, data_shape(config.data))
    sizes = {"g": [], "d": []}
    for name, network in (("g", built.generator), ("d", built.discriminator.body)):
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                assert module.kernel_size == ((2, 2) if module.stride == (1, 1) else (5, 5))
                module.register_forward_hook(lambda m, i, out, key=name: sizes[key].append(out.shape[1:]))
    images = built.generator(torch.randn(2, 100))
    built.discriminator(images)
    assert sizes["g"] == [(512, 2, 2), (256, 4, 4), (128, 7, 7), (64, 14, 14), (3, 28, 28)]
    assert sizes["d"] == [(64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 2, 2)]
    assert built.discriminator.head.kernel_size == (2, 2)


def test_a_width_list_that_does_not_fit_the_plan_is_one_line():
    with pytest.raises(ConfigError, match="takes 3 widths, got 2"):
        resolve("mnist-z100", overrides=[("model.g_widths", [64, 32])])


@pytest.mark.parametrize("init, norm_weight_mean", [("dcgan", 1.0), ("course", 0.0), ("pytorch", 1.0)])
def test_model_init_sets_how_the_weights_start(init, norm_weight_mean):
    config = resolve("mnist-z100", overrides=[("model.init", init)])
    generator = build(config.model, data_shape(config.data)).generator
    norms = torch.cat([m.weight.detach() for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(float(norms.mean()) - norm_weight_mean) < 0.01
    assert (float(norms.std()) == 0.0) == (init == "pytorch")  # PyTorch's: exactly 1


def test_dropout_after_the_first_hidden_layers_only():
    config = resolve("mnist-mlp")
    body = build(config.model, data_shape(config.data)).discriminator.body
    kinds = [type(m).__name__ for m in body]
    assert kinds == ["Flatten", "Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU", "Dropout",
                     "Linear", "LeakyReLU"]
