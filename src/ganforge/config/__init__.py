"""Typed configuration: presets and files (YAML) merged with dotted overrides, validated up front.

    config = resolve("mnist-dcgan", {"train.lr_d": 4e-4})   # the one resolver
    config.train.lr_d, dump_yaml(config)
"""

from ganforge.config.schema import (
    COMPILE_MODES,
    DEVICES,
    RESUMABLE_KEYS,
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    dump_yaml,
)
from ganforge.config.sources import (
    DEFAULT_PRESET,
    Overrides,
    apply_overrides,
    changed_keys,
    config_from_dict,
    flatten,
    is_config_file,
    override_pairs,
    parse_override,
    preset_names,
    preset_values,
    read_yaml,
    resolve,
)
from ganforge.config.validate import validate

__all__ = [
    "COMPILE_MODES", "DEFAULT_PRESET", "DEVICES", "RESUMABLE_KEYS", "Config", "DataConfig",
    "LossConfig", "ModelConfig", "Overrides", "TrainConfig", "apply_overrides", "changed_keys",
    "config_from_dict", "dump_yaml", "flatten", "is_config_file", "override_pairs",
    "parse_override", "preset_names", "preset_values", "read_yaml", "resolve", "validate",
]
