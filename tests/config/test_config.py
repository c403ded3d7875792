import pytest

from ganforge.config import (
    changed_keys,
    config_from_dict,
    parse_override,
    preset_names,
    preset_values,
    resolve,
)
from ganforge.data.catalog import data_shape
from ganforge.errors import ConfigError
from ganforge.models import model_arguments


def test_presets_resolve_and_describe_themselves():
    assert {"mnist-dcgan", "mnist-mlp"} <= set(preset_names())
    for name in preset_names():
        assert preset_values(name)["description"]
        # Folder presets name no folder: the user brings one.
        overrides = [("data.path", "some/folder")] if name.startswith("folder-") else []
        assert resolve(name, overrides=overrides).data.name == preset_values(name)["data"]["name"]


def test_course_preset_is_the_notebook_recipe():
    config = resolve("mnist-course")
    assert (config.model.name, config.model.z_dim, config.train.batch_size) == ("dcgan28", 64, 128)
    assert config.train.lr_g == config.train.lr_d == 2e-4
    assert config.train.betas_g == config.train.betas_d == (0.5, 0.99)
    assert config.data.rotation_degrees == 20 and config.data.scale == "unit"
    assert config.train.epochs == 25


def test_default_is_the_tuned_course_model():
    config = resolve()
    assert config.model.name == "dcgan28" and config.data.rotation_degrees == 0
    assert config.train.ema_half_life > 0
    assert config.model.d_image_batch_norm is False  # D must see the fakes' shared background


def test_image_batch_norm_needs_a_model_that_has_one():
    with pytest.raises(ConfigError, match="model.d_image_batch_norm=true needs dcgan28's or dcgan's"):
        resolve("mnist-mlp", overrides=[parse_override("model.d_image_batch_norm=true")])
    # false holds for every model: mlp's D has no BatchNorm there anyway, dcgan's by default
    mlp = resolve("mnist-dcgan", overrides=[parse_override("model.name=mlp")])
    assert "image_batch_norm" not in model_arguments(mlp.model, data_shape(mlp.data))[1]
    dcgan = resolve("mnist-dcgan", overrides=[parse_override("model.name=dcgan")])
    assert model_arguments(dcgan.model, data_shape(dcgan.data))[1]["image_batch_norm"] is False
    default = resolve("mnist-dcgan")
    assert model_arguments(default.model, data_shape(default.data))[1]["image_batch_norm"] is False


def test_overrides_are_typed():
    config = resolve("mnist-dcgan", overrides=[
        parse_override("train.lr_g=1e-4"), parse_override("train.betas_d=[0.0, 0.9]"),
        parse_override("data.hflip=true"), ("train.epochs", 3)])
    assert config.train.lr_g == 1e-4 and config.train.betas_d == (0.0, 0.9)
    assert config.data.hflip is True and config.train.epochs == 3


@pytest.mark.parametrize("override, message", [
    ("train.lr=1e-4", r"unknown config key 'train.lr' \(did you mean 'train.lr_g'\?\)"),
    ("trian.epochs=3", r"unknown config key 'trian' \(did you mean 'train'\?\)"),
    ("train.epochs=three", "train.epochs: expected a whole number, got 'three'"),
    ("train.epochs=2.5", "train.epochs: expected a whole number"),
    ("train.lr_g=-1", r"train.lr_g must be a learning rate in \(0, 1\)"),
    ("train.batch_size=0", "train.batch_size must be >= 1"),
    ("train.g_steps=0", "train.g_steps must be >= 1, got 0"),
    ("data.rotation_degrees=200", "data.rotation_degrees must be between 0 and 180"),
    ("train.betas_g=[0.5]", "train.betas_g: expected a list of 2 numbers"),
    ("data.hflip=maybe", "data.hflip: expected true or false"),
    ("model.name=dcgn", r"unknown model 'dcgn' \(did you mean 'dcgan'\?\)"),
    ("loss.name=hinges", r"unknown loss 'hinges' \(did you mean 'hinge'\?\)"),
    ("train.optimizer_d=lion", "train.optimizer_d must be adam, sgd or rmsprop"),
    ("train.diffaugment=colour",
     "train.diffaugment takes a comma-separated list of color, translation, cutout, got 'colour'"),
    ("train.lr_schedule=exp", "train.lr_schedule must be constant, linear, cosine or step"),
    ("loss.real_label=0.0", "loss.fake_label .* must be below loss.real_label"),
    ("train.device=tpu", "train.device must be one of"),
])
def test_bad_values_fail_with_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve("mnist-dcgan", overrides=[parse_override(override)])
    assert "\n" not in str(error.value)


def test_override_needs_key_and_value():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.epochs")


def test_changed_keys_names_only_differences():
    old = resolve()
    new = config_from_dict({**old.to_dict(), "train": {**old.to_dict()["train"], "seed": 5}})
    assert changed_keys(old, new) == ["train.seed"]
    assert changed_keys(old, old) == []
